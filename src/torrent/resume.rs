//! Repairing librqbit's fastresume state for files changed while goat was
//! stopped.
//!
//! With fastresume librqbit trusts its saved have-bitfield and re-checks
//! only a sample of pieces (one per file, then a few at random), so a file
//! edited in the middle while the daemon was down can be seeded as if it
//! were intact. goat knows better: it remembers each verified file's size
//! and mtime, re-hashes only the pieces of files that differ, and clears
//! the bits of pieces that fail in librqbit's bitfield file before the
//! session starts. librqbit then fetches exactly those pieces again.
//!
//! This edits a librqbit file directly (`<state>/session/<info-hash>.bitv`:
//! one bit per piece, most significant bit first, as librqbit 9 writes it
//! with `bitvec`'s `Msb0` order). There is no API for it; the format is
//! checked by length before anything is changed, and a mismatch deletes
//! the file so librqbit falls back to a full check.

use super::session_dir;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub fn bitfield_file(state_dir: &Path, info_hash: &crate::goatfile::InfoHash) -> PathBuf {
    session_dir(state_dir).join(format!("{info_hash}.bitv"))
}

/// Clear `pieces` in the saved bitfield of `info_hash` (of `npieces`
/// pieces). Returns false when there is no saved bitfield (librqbit will
/// check everything anyway).
pub fn forget_pieces(state_dir: &Path, info_hash: &crate::goatfile::InfoHash, npieces: u64, pieces: &[u64]) -> Result<bool> {
    let path = bitfield_file(state_dir, info_hash);
    let mut bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    if bytes.len() as u64 != npieces.div_ceil(8) {
        std::fs::remove_file(&path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        return Ok(false);
    }
    for &p in pieces {
        if let Some(b) = bytes.get_mut((p / 8) as usize) {
            *b &= !(0x80u8 >> (p % 8));
        }
    }
    crate::atomic::write_atomic(&path, &bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn clears_msb_first_bits() {
        let dir = tempfile::tempdir().unwrap();
        let h: crate::goatfile::InfoHash = "00".repeat(20).parse().unwrap();
        let f = super::bitfield_file(dir.path(), &h);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, [0xff, 0xff]).unwrap();
        assert!(super::forget_pieces(dir.path(), &h, 12, &[0, 9]).unwrap());
        assert_eq!(std::fs::read(&f).unwrap(), vec![0x7f, 0xbf]);
        let kept: u32 = std::fs::read(&f).unwrap().iter().map(|b| b.count_ones()).sum();
        assert_eq!(kept, 14);
        // A bitfield of the wrong length is dropped, not trusted.
        assert!(!super::forget_pieces(dir.path(), &h, 40, &[0]).unwrap());
        assert!(!f.exists());
    }
}

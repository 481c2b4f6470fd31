//! Which pieces are on the disk for sure: goat's record beside librqbit's
//! fastresume bitfield, for a daemon that must survive a power cut.
//!
//! Why: librqbit saves its have-bitfield (`session/<info-hash>.bitv`,
//! fsynced) every 16 MiB of progress, but never syncs the data it claims;
//! after a power cut the bitfield can claim pieces that are zeros on the
//! disk. goat cannot order librqbit's own writes, so it keeps its own
//! record, `durable/<info-hash>.bitv` in the same format, and writes it
//! only after the data it claims is synced: [`update`] takes librqbit's
//! have-bitfield, `fdatasync`s every file holding a piece the record does
//! not claim yet (batched: the daemon calls it every few seconds of
//! progress, not per piece), then saves the bitfield it took. Every piece
//! in that snapshot was written before librqbit marked it done, so before
//! the snapshot, so before the sync.
//!
//! At start, before librqbit reads its bitfields, [`restrict`] cuts each
//! down to what goat's record claims: what was not synced for sure is
//! fetched again (at most a few seconds of download), and nothing is
//! trusted that a power cut could have lost. A torrent with no record (a
//! state directory from an older goat) loses its bitfield, and librqbit
//! checks its files once.

use crate::error::Result;
use crate::goatfile::InfoHash;
use std::path::{Path, PathBuf};

fn record_file(state_dir: &Path, hash: &InfoHash) -> PathBuf {
    state_dir.join("durable").join(format!("{hash}.bitv"))
}

/// What [`restrict`] did to one torrent's bitfield.
#[derive(Debug, PartialEq, Eq)]
pub enum Restricted {
    /// Pieces librqbit claimed that goat's record does not (fetched again).
    Dropped(u64),
    /// No usable record: the bitfield was removed, librqbit checks the files.
    Removed,
}

/// Cut every saved librqbit bitfield down to goat's record. Returns the
/// torrents changed.
pub fn restrict(state_dir: &Path) -> Vec<(InfoHash, Restricted)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(super::session_dir(state_dir)) else { return out };
    for f in dir.flatten() {
        let path = f.path();
        if path.extension().and_then(|e| e.to_str()) != Some("bitv") {
            continue;
        }
        let Some(hash) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<InfoHash>().ok()) else {
            continue;
        };
        let Ok(mut bits) = std::fs::read(&path) else { continue };
        let record = std::fs::read(record_file(state_dir, &hash)).ok().filter(|r| r.len() == bits.len());
        let Some(record) = record else {
            if std::fs::remove_file(&path).is_ok() {
                out.push((hash, Restricted::Removed));
            }
            continue;
        };
        let mut dropped = 0u64;
        for (b, r) in bits.iter_mut().zip(&record) {
            dropped += (*b & !r).count_ones() as u64;
            *b &= r;
        }
        if dropped > 0 {
            if crate::atomic::write_atomic(&path, &bits).is_err() {
                let _ = std::fs::remove_file(&path);
                out.push((hash, Restricted::Removed));
                continue;
            }
            out.push((hash, Restricted::Dropped(dropped)));
        }
    }
    out
}

/// A torrent's layout as [`update`] needs it.
pub struct Layout {
    /// The torrent's output folder.
    pub output: PathBuf,
    /// Bytes in each piece (the last may be shorter).
    pub piece_length: u64,
    /// (path relative to `output`, offset in the torrent, length), padding
    /// files left out.
    pub files: Vec<(PathBuf, u64, u64)>,
}

/// Sync the files holding pieces of `haves` (librqbit's have-bitfield,
/// taken just now) that the record does not claim, then save `haves` as
/// the record. Blocking (fdatasync): run it off the async threads. Returns
/// how many files were synced.
pub fn update(state_dir: &Path, hash: &InfoHash, layout: &Layout, haves: &[u8]) -> Result<usize> {
    let path = record_file(state_dir, hash);
    let old = std::fs::read(&path).ok().filter(|r| r.len() == haves.len()).unwrap_or_default();
    if old == haves {
        return Ok(0);
    }
    let new_piece = |i: usize| {
        let (byte, bit) = (i / 8, 0x80u8 >> (i % 8));
        haves.get(byte).is_some_and(|b| b & bit != 0) && old.get(byte).is_none_or(|b| b & bit == 0)
    };
    let mut synced = 0;
    for (rel, offset, length) in &layout.files {
        let Some(mut pieces) = super::pieces_touching(*offset, *length, layout.piece_length) else { continue };
        if !pieces.any(|i| new_piece(i as usize)) {
            continue;
        }
        sync_data(&layout.output.join(rel))?;
        synced += 1;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| crate::error::Error::io(format!("creating {}", parent.display()), e))?;
    }
    crate::atomic::write_atomic(&path, haves)?;
    Ok(synced)
}

/// The record of a torrent, if goat has one.
pub fn read(state_dir: &Path, hash: &InfoHash) -> Option<Vec<u8>> {
    std::fs::read(record_file(state_dir, hash)).ok()
}

/// `fdatasync` of the file at `path` (opened read-only: a sync needs no
/// write access; a link, FIFO or device put in its place is not opened).
pub fn sync_data(path: &Path) -> Result<()> {
    crate::safefs::open_file(path)
        .and_then(|f| f.sync_data())
        .map_err(|e| crate::error::Error::io(format!("syncing {}", path.display()), e))
}

/// Pieces found bad: no longer claimed (before the torrent is re-added).
pub fn forget(state_dir: &Path, hash: &InfoHash, pieces: impl IntoIterator<Item = u64>) {
    let path = record_file(state_dir, hash);
    let Ok(mut bits) = std::fs::read(&path) else { return };
    super::resume::clear_pieces(&mut bits, pieces);
    if crate::atomic::write_atomic(&path, &bits).is_err() {
        let _ = std::fs::remove_file(&path);
    }
}

/// A torrent goat no longer keeps: its record goes with librqbit's.
pub fn remove(state_dir: &Path, hash: &InfoHash) {
    let _ = std::fs::remove_file(record_file(state_dir, hash));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_are_cut_to_the_record_and_records_follow_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path();
        let h: InfoHash = "11".repeat(20).parse().unwrap();
        let none: InfoHash = "22".repeat(20).parse().unwrap();
        let session = crate::torrent::session_dir(st);
        std::fs::create_dir_all(&session).unwrap();
        // A 3-file torrent of 12 pieces of 4 bytes: a 0..16, b 16..40, c 40..48.
        let out = st.join("out");
        std::fs::create_dir_all(&out).unwrap();
        for (f, n) in [("a", 16), ("b", 24), ("c", 8)] {
            std::fs::write(out.join(f), vec![1u8; n]).unwrap();
        }
        let layout = Layout {
            output: out.clone(),
            piece_length: 4,
            files: vec![("a".into(), 0, 16), ("b".into(), 16, 24), ("c".into(), 40, 8)],
        };
        // librqbit has pieces 0-3 (file a): one file synced, recorded.
        assert_eq!(update(st, &h, &layout, &[0xf0, 0x00]).unwrap(), 1);
        assert_eq!(update(st, &h, &layout, &[0xf0, 0x00]).unwrap(), 0, "nothing new, nothing synced");
        // Then 4-5 (file b) too: only b is synced.
        assert_eq!(update(st, &h, &layout, &[0xfc, 0x00]).unwrap(), 1);
        // librqbit's bitfield runs ahead (pieces 6-11, never recorded): a
        // power cut here; the restart trusts only the record.
        std::fs::write(session.join(format!("{h}.bitv")), [0xff, 0xf0]).unwrap();
        std::fs::write(session.join(format!("{none}.bitv")), [0xff]).unwrap();
        let mut got = restrict(st);
        got.sort_by_key(|a| a.0);
        assert_eq!(got, vec![(h, Restricted::Dropped(6)), (none, Restricted::Removed)]);
        assert_eq!(std::fs::read(session.join(format!("{h}.bitv"))).unwrap(), vec![0xfc, 0x00]);
        assert!(!session.join(format!("{none}.bitv")).exists(), "no record: librqbit checks the files");
        // A bad piece leaves the record.
        forget(st, &h, [1]);
        assert_eq!(std::fs::read(record_file(st, &h)).unwrap(), vec![0xbc, 0x00]);
        assert!(restrict(st).iter().any(|(x, r)| x == &h && *r == Restricted::Dropped(1)));
    }
}

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

/// Where librqbit saves the have-bitfield of `info_hash`:
/// `<state>/session/<info-hash>.bitv`.
pub fn bitfield_file(state_dir: &Path, info_hash: &crate::goatfile::InfoHash) -> PathBuf {
    session_dir(state_dir).join(format!("{info_hash}.bitv"))
}

/// Clear `pieces` in a bitfield of librqbit's format (one bit per piece,
/// most significant bit first); pieces beyond its end are ignored.
pub fn clear_pieces(bits: &mut [u8], pieces: impl IntoIterator<Item = u64>) {
    for p in pieces {
        if let Some(b) = bits.get_mut((p / 8) as usize) {
            *b &= !(0x80u8 >> (p % 8));
        }
    }
}

/// Clear `pieces` in the saved bitfield of `info_hash` (of `npieces`
/// pieces). Returns false when there is no saved bitfield (librqbit will
/// check everything anyway).
pub fn forget_pieces(
    state_dir: &Path,
    info_hash: &crate::goatfile::InfoHash,
    npieces: u64,
    pieces: &[u64],
) -> Result<bool> {
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
    clear_pieces(&mut bytes, pieces.iter().copied());
    crate::atomic::write_atomic(&path, &bytes)?;
    Ok(true)
}

/// Before a daemon's session starts: librqbit's `session.json` (which
/// torrents, where) and its `<info-hash>.torrent` files are written
/// without fsync, and librqbit either refuses to start at all when
/// `session.json` does not parse (under systemd, a restart loop) or, for
/// an entry whose `.torrent` is empty, restores it as a bare magnet and
/// waits for a peer to send the metadata before the session starts.
/// A damaged `session.json` is moved aside, and an entry whose `.torrent`
/// is missing or does not parse is dropped from it, each with a warning;
/// the daemon adds those torrents again from goat's own records
/// (`seed::restore_from_records`), and their fastresume bitfields, kept
/// by info-hash, still apply.
pub fn repair_session(state_dir: &Path) {
    let dir = session_dir(state_dir);
    let path = dir.join("session.json");
    let Ok(bytes) = std::fs::read(&path) else { return };
    let mut db = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("torrents").is_some_and(|t| t.is_object()) => v,
        parsed => {
            let why = match parsed {
                Ok(_) => "it has no torrent table".to_string(),
                Err(e) => e.to_string(),
            };
            let stamp =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let aside = path.with_file_name(format!("session.json.damaged-{stamp}"));
            match std::fs::rename(&path, &aside) {
                Ok(()) => tracing::warn!(
                    target: "goat",
                    "{} is damaged ({why}): moved aside to {}; the torrents are added again from goat's own records",
                    path.display(),
                    aside.display()
                ),
                Err(e) => {
                    tracing::warn!(target: "goat", "{} is damaged ({why}) and cannot be moved aside ({e})", path.display())
                }
            }
            return;
        }
    };
    let Some(torrents) = db.get_mut("torrents").and_then(|t| t.as_object_mut()) else { return };
    let before = torrents.len();
    let mut moved = false;
    torrents.retain(|id, t| {
        // librqbit's own schema (`session_persistence`): a numeric id, a
        // 40-digit info-hash, trackers, a folder, a paused flag.
        let shaped = id.parse::<usize>().is_ok()
            && t.get("trackers").is_some_and(|v| v.is_array())
            && t.get("output_folder").is_some_and(|v| v.is_string())
            && t.get("is_paused").is_some_and(|v| v.is_boolean());
        let hash = t
            .get("info_hash")
            .and_then(|h| h.as_str())
            .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let (true, Some(hash)) = (shaped, hash) else {
            tracing::warn!(target: "goat", "{}: entry {} is damaged: dropped, added again from goat's own records", path.display(), crate::text::line(id));
            return false;
        };
        let file = dir.join(format!("{hash}.torrent"));
        // goat's own checks too: librqbit restores a saved torrent with no
        // caller to catch its panic on hostile metadata.
        let whole = std::fs::read(&file).ok().is_some_and(|b| super::metadata::check_torrent(&b).is_ok());
        if !whole {
            tracing::warn!(
                target: "goat",
                "{} is missing or damaged: torrent {} is added again from goat's own records",
                file.display(),
                crate::text::line(hash)
            );
        }
        // Folders as their real paths: goat opens its folders with no link
        // in their path (crate::safefs), and an older goat recorded `-o`
        // as typed (through /home -> /var/home, say).
        if let Some(real) = t.get("output_folder").and_then(|f| f.as_str()).and_then(|f| {
            std::fs::canonicalize(f).ok().filter(|r| r.as_os_str() != f).and_then(|r| r.to_str().map(String::from))
        }) {
            t["output_folder"] = serde_json::Value::String(real);
            moved = true;
        }
        whole
    });
    if torrents.len() != before || moved {
        let json = serde_json::to_vec(&db).unwrap_or_default();
        if crate::atomic::write_atomic(&path, &json).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The output folder of every torrent in librqbit's session file, by
/// info-hash (hex): goat's storage opens a restored torrent's files there
/// (librqbit keeps the folder to itself).
pub fn session_folders(state_dir: &Path) -> Vec<(crate::goatfile::InfoHash, PathBuf)> {
    let Ok(bytes) = std::fs::read(session_dir(state_dir).join("session.json")) else { return Vec::new() };
    let Ok(db) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Vec::new() };
    let Some(torrents) = db.get("torrents").and_then(|t| t.as_object()) else { return Vec::new() };
    torrents
        .values()
        .filter_map(|t| {
            let hash = t.get("info_hash")?.as_str()?.parse().ok()?;
            let folder = t.get("output_folder")?.as_str()?;
            Some((hash, PathBuf::from(folder)))
        })
        .collect()
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

    #[test]
    fn a_session_is_repaired_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let session = super::session_dir(dir.path());
        std::fs::create_dir_all(&session).unwrap();
        let good = "aa".repeat(20);
        let made = {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let src = dir.path().join("payload");
            std::fs::write(&src, b"some bytes").unwrap();
            rt.block_on(async {
                let spawner = librqbit::spawn_utils::BlockingSpawner::new(1);
                let opts = librqbit::CreateTorrentOptions { name: None, trackers: vec![], piece_length: Some(16384) };
                librqbit::create_torrent(&src, opts, &spawner).await.unwrap().as_bytes().unwrap().to_vec()
            })
        };
        std::fs::write(session.join(format!("{good}.torrent")), made).unwrap();
        std::fs::write(session.join(format!("{}.torrent", "bb".repeat(20))), b"").unwrap();
        let db = format!(
            r#"{{"torrents":{{"0":{{"info_hash":"{good}","trackers":[],"output_folder":"/x","only_files":null,"is_paused":false}},"1":{{"info_hash":"{}","trackers":[],"output_folder":"/y","only_files":null,"is_paused":false}}}}}}"#,
            "bb".repeat(20)
        );
        std::fs::write(session.join("session.json"), &db).unwrap();
        super::repair_session(dir.path());
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(session.join("session.json")).unwrap()).unwrap();
        let kept = kept["torrents"].as_object().unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept["0"]["info_hash"], good.as_str());
        // Half a file: moved aside, not fatal.
        std::fs::write(session.join("session.json"), &db[..db.len() / 2]).unwrap();
        super::repair_session(dir.path());
        assert!(!session.join("session.json").exists());
        assert!(std::fs::read_dir(&session)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("session.json.damaged-")));
    }
}

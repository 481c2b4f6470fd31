//! Torrents `goat publish` handed to the daemon: the publisher's own files,
//! seeded from where they are (no download, no copy). `publish` appends to
//! `<state-dir>/published.json`; the daemon adds what is new there at start
//! and on every poll.

use crate::error::{Error, Result};
use crate::goatfile::Magnet;
use std::path::{Path, PathBuf};

const FILE: &str = "published.json";

/// One torrent goat made, and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The holder's address (shown in the status).
    pub address: String,
    pub name: String,
    pub magnet: String,
    /// The files' folder (for a single file, its parent).
    pub output: PathBuf,
    /// The `.torrent`, base64.
    pub torrent: String,
    /// Not a publisher's folder but a user's, holding a followed entry
    /// (`goat seed --from`): given up, and the entry downloaded into goat's
    /// folder, when its files change or go; forgotten when the entry is
    /// pruned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
}

impl Published {
    pub fn torrent_and_magnet(&self) -> Result<(bytes::Bytes, Magnet)> {
        let bytes = data_encoding::BASE64
            .decode(self.torrent.as_bytes())
            .map_err(|_| Error::usage(format!("{}: the saved torrent is damaged", self.name)))?;
        let magnet =
            Magnet::parse(&self.magnet).map_err(|e| Error::usage(format!("{}: {e}", self.name)).caused_by(e))?;
        Ok((bytes.into(), magnet))
    }
}

pub fn load(state_dir: &Path) -> Vec<Published> {
    let p = state_dir.join(FILE);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(target: "goat", "{} is damaged ({e}): published torrents there are not served", p.display());
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

/// Forget the records of torrent `hash` (its files stay where they are).
pub fn remove(state_dir: &Path, hash: &crate::goatfile::InfoHash) -> Result<()> {
    let mut all = load(state_dir);
    let before = all.len();
    all.retain(|p| Magnet::parse(&p.magnet).map(|m| &m.info_hash() != hash).unwrap_or(true));
    if all.len() == before {
        return Ok(());
    }
    let json = serde_json::to_vec_pretty(&all).map_err(|e| Error::internal(e.to_string()))?;
    crate::store::write_atomic(&state_dir.join(FILE), &json)
}

/// Forget torrent `hash`'s record if it is a `--from` folder seeded in
/// place (a publisher's own folder stays handed over).
pub fn remove_in_place(state_dir: &Path, hash: &crate::goatfile::InfoHash) -> Result<()> {
    if load(state_dir).iter().any(|p| p.in_place && Magnet::parse(&p.magnet).is_ok_and(|m| &m.info_hash() == hash)) {
        return remove(state_dir, hash);
    }
    Ok(())
}

/// Add `entries` (replacing any with the same magnet).
pub fn add(state_dir: &Path, entries: &[Published]) -> Result<()> {
    std::fs::create_dir_all(state_dir).map_err(|e| Error::io(format!("creating {}", state_dir.display()), e))?;
    let mut all = load(state_dir);
    all.retain(|p| !entries.iter().any(|e| e.magnet == p.magnet));
    all.extend(entries.iter().cloned());
    let json = serde_json::to_vec_pretty(&all).map_err(|e| Error::internal(e.to_string()))?;
    crate::store::write_atomic(&state_dir.join(FILE), &json)
}

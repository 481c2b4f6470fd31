//! goat's own daemon state, beside librqbit's session in the state
//! directory: for every torrent goat has verified, each file's size and
//! mtime at that moment. A restart compares them with the disk to find
//! files changed or removed while goat was stopped (librqbit's fastresume
//! only samples pieces, see `torrent::resume`).

use crate::error::{Error, Result};
use crate::goatfile::InfoHash;
use crate::store::{Layout, Manifest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeedState {
    pub verified: BTreeMap<InfoHash, Verified>,
    /// The newest goatfile followed at each address: a later poll never
    /// goes back before it (`Followed::older_than`).
    #[serde(default)]
    pub followed: BTreeMap<String, Followed>,
}

/// A goatfile the daemon followed: where it was proven, and its sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Followed {
    pub inscription: String,
    /// The holder's signed sequence (None: unsigned, followed by policy).
    pub sequence: Option<u64>,
    /// Its proven block (None: unconfirmed).
    pub height: Option<u32>,
    pub block: Option<String>,
}

impl std::fmt::Display for Followed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.inscription)?;
        match self.sequence {
            Some(n) => write!(f, " (sequence {n})"),
            None => Ok(()),
        }
    }
}

impl Followed {
    /// Whether this goatfile is older than `newest`, by the rule that
    /// chose it: a lower sequence; an unsigned one after a signed one (a
    /// signed goatfile always wins, so an unsigned answer means the signed
    /// one was hidden); between unsigned ones, a lower block.
    pub fn older_than(&self, newest: &Followed) -> bool {
        if self.inscription == newest.inscription {
            return false;
        }
        match (self.sequence, newest.sequence) {
            (Some(a), Some(b)) => a < b,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => matches!((self.height, newest.height), (Some(a), Some(b)) if a < b),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Verified {
    /// The address folder (a `store::Layout` root) and entry name.
    pub root: PathBuf,
    pub entry: String,
    pub files: Vec<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub path: PathBuf,
    pub length: u64,
    /// Nanoseconds since the epoch; None if the filesystem has no mtime.
    pub mtime_ns: Option<u128>,
}

const FILE: &str = "goat-seed.json";

impl SeedState {
    pub fn load(state_dir: &Path) -> Result<SeedState> {
        let p = state_dir.join(FILE);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).or_else(|e| {
                // A damaged state file costs a full re-check, not the daemon.
                tracing::warn!(target: "goat", "{} is damaged ({e}): every torrent will be re-checked", p.display());
                Ok(SeedState::default())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SeedState::default()),
            Err(e) => Err(Error::io(format!("reading {}", p.display()), e)),
        }
    }

    pub fn save(&self, state_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(e.to_string()))?;
        crate::store::write_atomic(&state_dir.join(FILE), &json)
    }
}

fn stamp_of(path: &Path, rel: &Path) -> Option<Stamp> {
    // The entry itself, not what a link there points to.
    let md = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
    let mtime_ns = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos());
    Some(Stamp { path: rel.to_path_buf(), length: md.len(), mtime_ns })
}

/// Stamps of a manifest's (non-padding) files as they are now.
pub fn stamp(layout: &Layout, m: &Manifest) -> Verified {
    let dir = layout.entry_dir(&m.entry);
    let files = m.files.iter().filter(|f| !f.padding).filter_map(|f| stamp_of(&dir.join(&f.path), &f.path)).collect();
    Verified { root: layout.root.clone(), entry: m.entry.clone(), files }
}

/// Sync a proven entry's files to the disk, then stamp them: a stamp
/// never vouches for bytes a power cut could still take back.
pub fn sync_and_stamp(layout: &Layout, m: &Manifest) -> Result<Verified> {
    let dir = layout.entry_dir(&m.entry);
    for f in m.files.iter().filter(|f| !f.padding && f.length > 0) {
        crate::torrent::durable::sync_data(&dir.join(&f.path))?;
    }
    Ok(stamp(layout, m))
}

/// Files whose size or mtime differ from the stamps (or that are gone).
pub fn changed(v: &Verified) -> Vec<PathBuf> {
    let dir = Layout::new(&v.root).entry_dir(&v.entry);
    v.files
        .iter()
        .filter(|s| stamp_of(&dir.join(&s.path), &s.path).as_ref() != Some(*s))
        .map(|s| s.path.clone())
        .collect()
}

/// One daemon per state directory: an exclusive `flock` on `lock`, held
/// for the life of the process (the kernel drops it when we exit, even on
/// kill -9, so a crash never leaves a stale lock).
pub fn lock(state_dir: &Path) -> Result<std::fs::File> {
    let p = state_dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
    // std's try_lock is flock(LOCK_EX | LOCK_NB) on Linux: the lock goes
    // with the process, whatever way it ends.
    if f.try_lock().is_err() {
        return Err(Error::usage(format!(
            "another goat seed is already running with state directory {}: stop it, or pass a different --state-dir",
            state_dir.display()
        )));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ManifestFile;

    #[test]
    fn one_daemon_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let second = lock(dir.path()).unwrap_err();
        assert_eq!(second.kind, crate::Kind::Usage);
        assert!(second.message.contains("already running"), "{}", second.message);
        drop(held);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn notices_changed_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.entry_dir("e")).unwrap();
        std::fs::write(layout.entry_dir("e").join("a"), b"aaaa").unwrap();
        std::fs::write(layout.entry_dir("e").join("b"), b"bbbb").unwrap();
        let f = |p: &str| ManifestFile {
            path: p.into(),
            length: 4,
            offset: 0,
            padding: false,
            sha256: None,
            skipped: false,
        };
        let m = Manifest { entry: "e".into(), info_hash: None, inscription: None, files: vec![f("a"), f("b")] };
        let v = stamp(&layout, &m);
        assert!(changed(&v).is_empty());
        std::fs::write(layout.entry_dir("e").join("a"), b"aaaaa").unwrap();
        std::fs::remove_file(layout.entry_dir("e").join("b")).unwrap();
        assert_eq!(changed(&v), vec![PathBuf::from("a"), PathBuf::from("b")]);
    }

    fn f(id: &str, sequence: Option<u64>, height: Option<u32>) -> Followed {
        Followed { inscription: id.into(), sequence, height, block: None }
    }

    #[test]
    fn older_goatfiles_by_the_rule_that_chose_them() {
        let v2 = f("b", Some(2), Some(10));
        assert!(f("a", Some(1), Some(20)).older_than(&v2), "a lower sequence, wherever it sits");
        assert!(!f("c", Some(3), Some(5)).older_than(&v2), "a higher sequence, wherever it sits");
        assert!(!f("b", Some(2), Some(10)).older_than(&v2), "the same one");
        assert!(!f("d", Some(2), Some(11)).older_than(&v2), "a copy with the same sequence");
        assert!(f("e", None, Some(30)).older_than(&v2), "unsigned after signed");
        let unsigned = f("u", None, Some(10));
        assert!(!f("s", Some(1), Some(5)).older_than(&unsigned), "signed after unsigned");
        assert!(f("u0", None, Some(9)).older_than(&unsigned));
        assert!(!f("u1", None, Some(11)).older_than(&unsigned));
        assert!(!f("m", None, None).older_than(&unsigned), "unconfirmed: not provably older");
    }
}

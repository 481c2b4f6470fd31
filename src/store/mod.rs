//! Stage 5: the output folder.
//!
//! ```text
//! DIR/<entry>/<files…>          what users point their tools at
//! DIR/.goat/goatfile.yaml       the goatfile used, as inscribed
//! DIR/.goat/source.json         where it came from (address, inscription)
//! DIR/.goat/<entry>.torrent     the torrent metadata used
//! DIR/.goat/<entry>.json        the manifest: files, sizes, expected sha256
//! ```
//!
//! `verify` re-checks a folder offline from these files alone.

pub mod dirs;
pub mod published;
pub mod verify;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub use crate::goatfile::META_DIR;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub entry: String,
    /// Set for torrent entries; `.goat/<entry>.torrent` holds the metadata.
    pub info_hash: Option<crate::goatfile::InfoHash>,
    /// Set for inscription entries.
    pub inscription: Option<String>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// Relative to the entry folder.
    pub path: PathBuf,
    pub length: u64,
    /// Offset in the torrent's byte stream (0 for inscription entries).
    pub offset: u64,
    #[serde(default)]
    pub padding: bool,
    /// Expected sha256 (lowercase hex), from the goatfile or computed when
    /// the file was written from the chain.
    pub sha256: Option<String>,
    /// Not chosen (`goat fetch --only ENTRY/PATH` named other files): not
    /// on disk. What it shares with pieces of chosen files is in the
    /// entry's part file (`torrent::files::parts_name`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn meta(&self) -> PathBuf {
        self.root.join(META_DIR)
    }

    /// Entry names are checked relative paths (goatfile::check_relative_path).
    pub fn entry_dir(&self, entry: &str) -> PathBuf {
        self.root.join(entry)
    }

    fn meta_name(entry: &str) -> String {
        entry.replace('%', "%25").replace('/', "%2F")
    }

    pub fn torrent_file(&self, entry: &str) -> PathBuf {
        self.meta().join(format!("{}.torrent", Self::meta_name(entry)))
    }

    pub fn manifest_file(&self, entry: &str) -> PathBuf {
        self.meta().join(format!("{}.json", Self::meta_name(entry)))
    }

    /// [`Layout::entry_dir`], made with no link followed anywhere in its
    /// path (a link planted in the output folder would aim goat's writes at
    /// files it does not own). The root is a path with no link in it (an
    /// anchored `-o`: `crate::safefs::anchor`).
    pub fn make_entry_dir(&self, entry: &str) -> Result<PathBuf> {
        let dir = self.entry_dir(entry);
        crate::safefs::make_real_dir(&dir).map_err(|e| Error::io(format!("in {}", self.root.display()), e))?;
        Ok(dir)
    }

    pub fn create(&self) -> Result<()> {
        crate::safefs::make_real_dir(&self.meta())
            .map(drop)
            .map_err(|e| Error::io(format!("creating {}", self.meta().display()), e))
    }

    /// Write a file below the root atomically, its folders made and opened
    /// without following a link (`crate::safefs`).
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::internal(format!("{} is not a file path", path.display())));
        };
        let fd = crate::safefs::make_real_dir(dir).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        crate::atomic::write_in(&fd, name, bytes, 0o666)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    pub fn save_manifest(&self, m: &Manifest) -> Result<()> {
        let json = serde_json::to_vec_pretty(m).map_err(|e| Error::internal(e.to_string()))?;
        self.write(&self.manifest_file(&m.entry), &json)
    }

    /// The manifest of `entry`, if it is there and parses.
    pub fn load_manifest(&self, entry: &str) -> Option<Manifest> {
        let m: Manifest = self.read(&self.manifest_file(entry)).ok().and_then(|b| serde_json::from_slice(&b).ok())?;
        m.spans_fit().ok().map(|_| m)
    }

    /// One of goat's records in this folder (`crate::safefs::read_file`:
    /// no link, FIFO or device in its place is opened).
    pub fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        crate::safefs::read_file(path, crate::safefs::RECORD_LIMIT)
    }

    /// Every manifest in the folder, sorted by entry name.
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        let dir = self.meta();
        let rd = std::fs::read_dir(&dir).map_err(|e| {
            Error::not_found(format!(
                "{} is not a goat folder ({}: {e}): pass the folder goat fetch wrote",
                self.root.display(),
                dir.display()
            ))
        })?;
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") || p.file_name() == Some("source.json".as_ref()) {
                continue;
            }
            let bytes = self.read(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("{} is damaged ({e}): run goat fetch again", p.display())))?;
            crate::goatfile::check_relative_path(&m.entry)
                .map_err(|e| Error::invalid(format!("{}: entry name {e}", p.display())))?;
            m.spans_fit()
                .map_err(|e| Error::invalid(format!("{} is damaged ({e}): run goat fetch again", p.display())))?;
            out.push(m);
        }
        out.sort_by(|a, b| a.entry.cmp(&b.entry));
        Ok(out)
    }
}

impl Manifest {
    /// Every file's offset and length add up without overflow, within a
    /// torrent's largest size: a manifest is a file in the folder (one
    /// copied from elsewhere, perhaps), and `verify` and `seed` compute
    /// piece spans from it.
    pub fn spans_fit(&self) -> std::result::Result<(), String> {
        for f in &self.files {
            match f.offset.checked_add(f.length) {
                Some(end) if end <= crate::torrent::metadata::MAX_TOTAL => {}
                _ => {
                    return Err(format!(
                        "'{}' ends past {} bytes",
                        crate::text::line(&f.path.to_string_lossy()),
                        crate::torrent::metadata::MAX_TOTAL
                    ))
                }
            }
        }
        Ok(())
    }
}

pub use crate::atomic::write_atomic;

/// Move a file that failed its goatfile sha256 aside (`<name>.sha256-mismatch`)
/// so tools never load it, and say so. Returns the error to report.
pub fn set_aside_sha256_mismatch(entry: &str, rel: &Path, path: &Path, got: &str, want: &str) -> Error {
    let aside = path.with_file_name(format!(
        "{}.sha256-mismatch",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    // In its folder, opened without following links: a folder swapped for
    // a link while the file was hashed does not move another file away.
    if let (Some(dir), Some(from), Some(to)) = (path.parent(), path.file_name(), aside.file_name()) {
        let _ = crate::safefs::open_real_dir(dir).and_then(|d| crate::safefs::rename_in(&d, from, to));
    }
    Error::new(
        crate::error::Kind::Corrupt,
        format!(
            "{entry}/{}: sha256 is {got} but the goatfile says {want}; moved aside to {}: the torrent does not hold what the goatfile promises",
            rel.display(),
            aside.display()
        ),
    )
}

/// Hex sha256 of the file `rel` in `dir`, opened without following a link
/// (`crate::safefs`).
pub fn sha256_under(dir: &Path, rel: &Path) -> std::io::Result<String> {
    crate::hash::sha256_file(&crate::safefs::open_under(dir, rel, crate::safefs::Access::Read)?)
}

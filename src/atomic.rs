//! Writing a file so that a crash, a full disk or a kill never leaves half
//! of it: a temporary file beside it, synced, then a rename. Below every
//! stage (the torrent stage's fastresume edits, the store's manifests, the
//! daemon's state and `publish`'s plan all use it).

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o666)
}

/// `write_atomic` for a file only its owner may read (`mode`, e.g. 0o600,
/// is set when the temporary file is created, so the bytes are never
/// readable by others, not even for a moment).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile_in(&dir, mode)?;
    let res = tmp.1.write_all(bytes).and_then(|_| tmp.1.sync_all());
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp.0);
        return Err(Error::io(format!("writing {}", path.display()), e));
    }
    drop(tmp.1);
    std::fs::rename(&tmp.0, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp.0);
        Error::io(format!("moving into place {}", path.display()), e)
    })?;
    // The rename is durable only once the folder's entry is: without this a
    // power cut can leave the old file (or none) after goat reported the
    // new one written.
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing the folder {}", dir.display()), e))
}

fn tempfile_in(dir: &Path, mode: u32) -> Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    for n in 0..100u32 {
        let p = dir.join(format!(".goat-tmp-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(format!("creating a file in {}", dir.display()), e)),
        }
    }
    Err(Error::internal("could not pick a temporary file name"))
}

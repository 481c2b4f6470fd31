//! Writing a file so that a crash, a full disk or a kill never leaves half
//! of it: a temporary file beside it, synced, then a rename. Below every
//! stage (the torrent stage's fastresume edits, the store's manifests, the
//! daemon's state and `publish`'s plan all use it).
//!
//! Why not tempfile's `persist`: it works on paths, and goat writes in a
//! folder it holds open, found without following links (`crate::safefs`),
//! so the temporary file, the rename and the folder's fsync all go through
//! that handle.

use crate::error::{Error, Result};
use rustix::fd::AsFd;
use rustix::fs::AtFlags;
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o666)
}

/// `write_atomic` for a file only its owner may read (`mode`, e.g. 0o600,
/// is set when the temporary file is created, so the bytes are never
/// readable by others, not even for a moment).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(Error::internal(format!("{} is not a file path", path.display())));
    };
    std::fs::File::open(dir)
        .and_then(|d| write_in(&d, name, bytes, mode))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Write `bytes` to the file `name` in the open folder `dir` atomically:
/// a temporary file made there with `O_EXCL|O_NOFOLLOW` (and `mode`),
/// synced, renamed over `name` (a link in its place is replaced, never
/// followed), then the folder synced. By handle, so a folder opened
/// without following links (`crate::safefs`) is the one written in.
pub fn write_in(dir: impl AsFd, name: &std::ffi::OsStr, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = dir.as_fd();
    let (tmp, fd) = crate::safefs::new_temp_in(dir, ".goat-tmp", mode)?;
    let mut f = std::fs::File::from(fd);
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    let renamed = written.and_then(|_| Ok(rustix::fs::renameat(dir, tmp.as_str(), dir, name)?));
    if let Err(e) = renamed {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        return Err(e);
    }
    // The rename is durable only once the folder's entry is: without this a
    // power cut can leave the old file (or none) after goat reported the
    // new one written.
    Ok(rustix::fs::fsync(dir)?)
}

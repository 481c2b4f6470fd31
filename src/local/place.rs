//! Putting one local copy in place: a reflink, a hard link or a copy of
//! the user's file, made under a temporary name in goat's own folder,
//! hashed there, and renamed to the file's name only when its sha256 is
//! the goatfile's. The user's file is opened to read, never written,
//! moved or removed.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// How a local copy was put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// A copy that shares the original's disk blocks (btrfs, XFS):
    /// no space used, and a write to either stays private.
    Reflink = 0,
    /// The original under a second name: no space used; goat never writes
    /// it (and only links a file no download writes into).
    Hardlink = 1,
    /// A copy of the bytes.
    Copy = 2,
}

impl How {
    pub fn word(self) -> &'static str {
        match self {
            How::Reflink => "reflinked",
            How::Hardlink => "hard-linked",
            How::Copy => "copied",
        }
    }
}

/// Put `src` at `rel` below the folder `root` if it is `size` bytes and its
/// sha256 is `sha256`: reflinked where the filesystem can, else hard-linked
/// when `may_link`, else copied. The error says why it was not used.
pub fn put(root: &OwnedFd, rel: &Path, src: &Path, size: u64, sha256: &str, may_link: bool) -> Result<How, String> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let source = rustix::fs::open(src, flags, Mode::empty()).map_err(|e| format!("cannot open it ({e})"))?;
    let st = rustix::fs::fstat(&source).map_err(|e| e.to_string())?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("it is not a regular file".into());
    }
    if st.st_size as u64 != size {
        return Err(format!("it is {} bytes, not {size}", st.st_size));
    }
    let (parent, name) = crate::safefs::parent_of(root, rel, true).map_err(|e| e.to_string())?;
    let (tmp, how) = make(&parent, &source, src, size, may_link)?;
    let got = match rustix::fs::openat(&parent, tmp.as_str(), flags, Mode::empty()) {
        Ok(fd) if rustix::fs::fstat(&fd).is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::RegularFile) => {
            crate::store::sha256_of(File::from(fd)).map_err(|e| e.to_string())
        }
        Ok(_) => Err("it is not a regular file".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let fail = |why: String| {
        let _ = rustix::fs::unlinkat(&parent, tmp.as_str(), AtFlags::empty());
        Err(why)
    };
    match got {
        Ok(h) if h == sha256 => {}
        Ok(h) => {
            return fail(format!(
                "its sha256 is {h}, the goatfile's is {sha256} (changed since it was named, or another file): downloaded instead"
            ))
        }
        Err(e) => return fail(format!("reading it back: {e}")),
    }
    match rustix::fs::renameat_with(&parent, tmp.as_str(), &parent, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(how),
        Err(e) => fail(format!("cannot name it {} ({e})", rel.display())),
    }
}

/// Put `src` at `rel` below `root` as [`put`] does, without hashing it
/// (the caller hashes the result: `goat publish --hf` makes its torrent
/// from it). A file already there at `size` bytes is kept.
pub fn put_unhashed(root: &OwnedFd, rel: &Path, src: &Path, size: u64) -> Result<How, String> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if let Ok(Some(f)) = crate::safefs::found_in(root, rel) {
        if f.len == size {
            return Ok(How::Hardlink);
        }
        return Err(format!("{} is there already, at another size: move it away", rel.display()));
    }
    // The source may be a link (a hub snapshot's): followed, to a regular file.
    let source = rustix::fs::open(src, flags & !OFlags::NOFOLLOW, Mode::empty()).map_err(|e| format!("cannot open it ({e})"))?;
    let st = rustix::fs::fstat(&source).map_err(|e| e.to_string())?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_size as u64 != size {
        return Err("it is not a regular file of the size it had".into());
    }
    let real = std::fs::canonicalize(src).map_err(|e| e.to_string())?;
    let (parent, name) = crate::safefs::parent_of(root, rel, true).map_err(|e| e.to_string())?;
    let (tmp, how) = make(&parent, &source, &real, size, true)?;
    match rustix::fs::renameat_with(&parent, tmp.as_str(), &parent, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(how),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&parent, tmp.as_str(), AtFlags::empty());
            Err(format!("cannot name it {} ({e})", rel.display()))
        }
    }
}

/// The temporary file in `parent` holding `source`'s bytes, and how.
fn make(parent: &OwnedFd, source: &OwnedFd, src: &Path, size: u64, may_link: bool) -> Result<(String, How), String> {
    let create = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let (tmp, fd) = temp(parent, create)?;
    // A reflink fails at once where the filesystem has none (ext4: EOPNOTSUPP)
    // or the two are on different filesystems (EXDEV).
    if rustix::fs::ioctl_ficlone(&fd, source).is_ok() {
        return Ok((tmp, How::Reflink));
    }
    if may_link {
        let _ = rustix::fs::unlinkat(parent, tmp.as_str(), AtFlags::empty());
        // No AT_SYMLINK_FOLLOW: a link swapped in at `src` since it was
        // opened is linked as a link, which the read-back refuses.
        if rustix::fs::linkat(rustix::fs::CWD, src, parent, tmp.as_str(), AtFlags::empty()).is_ok() {
            return Ok((tmp, How::Hardlink));
        }
        let (tmp2, fd2) = temp(parent, create)?;
        return copy(parent, tmp2, fd2, source, size);
    }
    copy(parent, tmp, fd, source, size)
}

fn copy(parent: &OwnedFd, tmp: String, fd: OwnedFd, source: &OwnedFd, size: u64) -> Result<(String, How), String> {
    let fail = |why: String| {
        let _ = rustix::fs::unlinkat(parent, tmp.as_str(), AtFlags::empty());
        Err(why)
    };
    if let Ok(vfs) = rustix::fs::fstatvfs(parent) {
        let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
        if free < size {
            return fail(format!("no room to copy it ({free} bytes free, {size} needed)"));
        }
    }
    let mut from = File::from(source.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?);
    let mut to = File::from(fd);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = match from.read(&mut buf) {
            Ok(0) => return fail("it is shorter than it was".into()),
            Ok(n) => n.min(left as usize),
            Err(e) => return fail(format!("reading it: {e}")),
        };
        if let Err(e) = to.write_all(&buf[..n]) {
            return fail(format!("copying it: {e}"));
        }
        left -= n as u64;
    }
    Ok((tmp, How::Copy))
}

/// A new file in `parent` under a name no one else uses.
fn temp(parent: &OwnedFd, flags: OFlags) -> Result<(String, OwnedFd), String> {
    for n in 0..100u32 {
        let tmp = format!(".goat-local-{}-{n}", std::process::id());
        match rustix::fs::openat(parent, tmp.as_str(), flags, Mode::from_raw_mode(0o644)) {
            Err(rustix::io::Errno::EXIST) => continue,
            Ok(fd) => return Ok((tmp, fd)),
            Err(e) => return Err(format!("cannot make a file in goat's folder ({e})")),
        }
    }
    Err("cannot make a file in goat's folder".into())
}

//! Putting one local copy in place: a reflink, a hard link or a copy of
//! the user's file, in goat's own folder, named only once its sha256 is
//! the goatfile's. The user's file is opened to read (no link followed),
//! never written, moved or removed.
//!
//! A reflink or copy is made in an unnamed file (`O_TMPFILE`), hashed
//! through its handle and then linked in under the file's name, so a
//! crash leaves nothing behind (where the filesystem has no `O_TMPFILE`,
//! under a temporary name removed on failure); a hard link is made from
//! the very handle that was hashed (`/proc/self/fd`), so a file swapped in
//! at the path meanwhile is not the one linked (without `/proc`, no hard
//! link: a reflink or copy).

use crate::safefs::Stamp;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
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

/// Why a file was not put in place. Its words are for the user (the
/// local-copy warnings, the errors of `--hf`); a failure of the disk keeps
/// its `io::Error`, so a caller tells a full disk from a file that is not
/// the one wanted by type.
#[derive(Debug)]
pub enum NotPlaced {
    /// The file is not the one wanted (its size or sha256), or it changed
    /// while goat read it.
    Other(String),
    /// Something else took the name meanwhile.
    Appeared(std::path::PathBuf),
    /// The disk refused: `doing` what, with the error underneath.
    Io { doing: String, source: std::io::Error },
}

impl std::fmt::Display for NotPlaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotPlaced::Other(why) => f.write_str(why),
            NotPlaced::Appeared(rel) => write!(f, "{} appeared meanwhile", rel.display()),
            NotPlaced::Io { doing, source } => write!(f, "{doing} ({source})"),
        }
    }
}

impl std::error::Error for NotPlaced {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotPlaced::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl NotPlaced {
    /// The error a caller that needed the file in place gives (`what`
    /// names it): an I/O error (exit 6) either way, the disk's with its
    /// advice (a full disk, permissions).
    pub fn error(self, what: impl std::fmt::Display) -> crate::error::Error {
        match self {
            NotPlaced::Io { doing, source } => crate::error::Error::io(format!("{what}: {doing}"), source),
            other => crate::error::Error::new(crate::error::Kind::Io, format!("{what}: {other}")).caused_by(other),
        }
    }
}

/// What the disk did, `doing` what.
fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> NotPlaced {
    let doing = doing.into();
    move |source| NotPlaced::Io { doing, source }
}

/// What the disk did (a system call's error), `doing` what.
fn errno(doing: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> NotPlaced {
    let doing = doing.into();
    move |e| NotPlaced::Io { doing, source: e.into() }
}

/// Free space a copy leaves at least, beyond its own size: the download
/// of the rest, goat's records and everything else on the disk need some.
const COPY_MARGIN: u64 = 1 << 30;

/// The user's file at `src`, opened to read: a regular file (no link
/// followed at its last component) of `size` bytes.
pub fn open_source(src: &Path, size: u64) -> Result<(OwnedFd, rustix::fs::Stat), NotPlaced> {
    let source = OwnedFd::from(crate::safefs::open_file(src).map_err(io("cannot open it"))?);
    let st = rustix::fs::fstat(&source).map_err(errno("reading its size"))?;
    if st.st_size as u64 != size {
        return Err(NotPlaced::Other(format!("it is {} bytes, not {size}", st.st_size)));
    }
    Ok((source, st))
}

/// The stamp of an open file (after it was named: linking changes ctime).
fn stamp(fd: &OwnedFd) -> Result<Stamp, NotPlaced> {
    Ok(Stamp::of(&rustix::fs::fstat(fd).map_err(errno("reading its modification time"))?))
}

/// Hex sha256 of an open file, from its start.
pub fn sha256_fd(fd: impl AsFd) -> Result<String, NotPlaced> {
    let f = File::from(fd.as_fd().try_clone_to_owned().map_err(io("reading it"))?);
    crate::hash::sha256_file(&f).map_err(io("reading it"))
}

/// sha256s already found of the user's files in this placement, by
/// (device, inode, modification time): a file that is not one wanted file
/// is not hashed again for the next want of its size.
pub type Memo = std::sync::Mutex<std::collections::HashMap<(u64, u64, i64, i64), String>>;

fn memo_key(st: &rustix::fs::Stat) -> (u64, u64, i64, i64) {
    (st.st_dev, st.st_ino, st.st_mtime, st.st_mtime_nsec as i64)
}

/// A hard link may stand for a file only when nobody but this user can
/// change it afterwards: theirs, and writable by no group or other.
fn linkable(st: &rustix::fs::Stat) -> bool {
    st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o022 == 0
}

/// Put `src` at `rel` below the folder `root` if it is `size` bytes and its
/// sha256 is `want` (when given): reflinked where the filesystem can, else
/// hard-linked when `may_link` (and the file is the user's own, writable
/// by no one else), else copied. `memo` keeps what each file hashed to.
/// The error says why it was not used.
pub fn put(
    root: &OwnedFd,
    rel: &Path,
    src: &Path,
    size: u64,
    want: Option<&str>,
    may_link: bool,
    memo: &Memo,
) -> Result<(How, Stamp), NotPlaced> {
    let (source, st) = open_source(src, size)?;
    let key = memo_key(&st);
    let known = |got: Option<String>| {
        let mut m = memo.lock().unwrap_or_else(|e| e.into_inner());
        match got {
            Some(h) => m.insert(key, h),
            None => m.get(&key).cloned(),
        }
    };
    // The bytes in `fd` must be the wanted ones; what they hashed to is kept.
    let check = |fd: &OwnedFd| -> Result<(), NotPlaced> {
        let Some(want) = want else { return Ok(()) };
        let got = sha256_fd(fd)?;
        known(Some(got.clone()));
        if got == want {
            Ok(())
        } else {
            Err(mismatch(&got, want))
        }
    };
    if let (Some(want), Some(h)) = (want, known(None)) {
        if h != want {
            return Err(mismatch(&h, want));
        }
    }
    let (parent, name) =
        crate::safefs::parent_of(root, rel, true).map_err(io(format!("making the folder of {}", rel.display())))?;
    // A reflink first: a private copy, no space used.
    let tmp = Temp::new(&parent)?;
    if rustix::fs::ioctl_ficlone(tmp.fd(), &source).is_ok() {
        check(tmp.fd())?;
        return named(tmp, &parent, name, rel, How::Reflink);
    }
    if may_link && linkable(&st) {
        // Hashed from the handle, then that handle's file linked: the
        // bytes named are the bytes hashed (only their owner, this user,
        // can change them after).
        check(&source)?;
        match link_fd(&source, &parent, name) {
            Ok(()) => return Ok((How::Hardlink, stamp(&source)?)),
            Err(rustix::io::Errno::EXIST) => return Err(NotPlaced::Appeared(rel.to_path_buf())),
            // Another filesystem (EXDEV), a link limit, no /proc: a copy.
            Err(_) => {}
        }
    }
    copy(&parent, tmp.fd(), &source, size)?;
    check(tmp.fd())?;
    named(tmp, &parent, name, rel, How::Copy)
}

/// Name the placed bytes `name`; the error says why they could not be.
fn named(tmp: Temp, parent: &OwnedFd, name: &std::ffi::OsStr, rel: &Path, how: How) -> Result<(How, Stamp), NotPlaced> {
    match tmp.name_it(parent, name) {
        Ok(stamp) => Ok((how, stamp)),
        Err(rustix::io::Errno::EXIST) => Err(NotPlaced::Appeared(rel.to_path_buf())),
        Err(e) => Err(errno(format!("cannot name it {}", rel.display()))(e)),
    }
}

fn mismatch(got: &str, want: &str) -> NotPlaced {
    NotPlaced::Other(format!(
        "its sha256 is {got}, the goatfile's is {want} (changed since it was named, or another file): downloaded instead"
    ))
}

/// Put `src` at `rel` below `root` as [`put`] does, without hashing it
/// (the caller hashes the result: `goat publish --hf` makes its torrent
/// from it, and checks each blob against its name). A file already there
/// at `size` bytes is kept (the torrent is made from it, so it is what
/// gets published).
pub fn put_unhashed(root: &OwnedFd, rel: &Path, src: &Path, size: u64) -> Result<(), NotPlaced> {
    if let Ok(Some(f)) = crate::safefs::found_in(root, rel) {
        if f.len == size {
            return Ok(());
        }
        return Err(NotPlaced::Other(format!("{} is there already, at another size: move it away", rel.display())));
    }
    put(root, rel, src, size, None, true, &Memo::default()).map(|_| ())
}

/// Give the open file `fd` the name `name` in `parent` (failing if the
/// name is taken): through `/proc/self/fd`, which links that very file
/// (an `O_TMPFILE` one, or the handle that was hashed) without the
/// privilege `AT_EMPTY_PATH` needs.
fn link_fd(fd: &OwnedFd, parent: &OwnedFd, name: &std::ffi::OsStr) -> Result<(), rustix::io::Errno> {
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::linkat(rustix::fs::CWD, proc.as_str(), parent, name, AtFlags::SYMLINK_FOLLOW)
}

/// A new file in `parent` that has no name yet: an `O_TMPFILE` one where
/// the filesystem and `/proc` allow (nothing is left by a crash), else one
/// under a temporary name (`O_EXCL`), removed unless it is named.
enum Temp {
    Unnamed(OwnedFd),
    Named { fd: OwnedFd, parent: OwnedFd, tmp: String, done: bool },
}

impl Temp {
    fn new(parent: &OwnedFd) -> Result<Temp, NotPlaced> {
        if std::path::Path::new("/proc/self/fd").is_dir() {
            if let Ok(fd) = rustix::fs::openat(
                parent,
                ".",
                OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            ) {
                return Ok(Temp::Unnamed(fd));
            }
        }
        // NFS, SMB, FAT and some FUSE filesystems have no O_TMPFILE.
        let parent = parent.try_clone().map_err(io("cannot make a file in goat's folder"))?;
        let (tmp, fd) = crate::safefs::new_temp_in(&parent, ".goat-local", 0o644)
            .map_err(io("cannot make a file in goat's folder"))?;
        Ok(Temp::Named { fd, parent, tmp, done: false })
    }

    fn fd(&self) -> &OwnedFd {
        match self {
            Temp::Unnamed(fd) | Temp::Named { fd, .. } => fd,
        }
    }

    /// Name it `name` in `parent`, failing if the name is taken; the
    /// named file's stamp, from its handle.
    fn name_it(mut self, parent: &OwnedFd, name: &std::ffi::OsStr) -> Result<Stamp, rustix::io::Errno> {
        match &mut self {
            Temp::Unnamed(fd) => link_fd(fd, parent, name)?,
            Temp::Named { tmp, done, .. } => {
                rustix::fs::renameat_with(parent, tmp.as_str(), parent, name, rustix::fs::RenameFlags::NOREPLACE)?;
                *done = true;
            }
        }
        Ok(Stamp::of(&rustix::fs::fstat(self.fd())?))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Temp::Named { parent, tmp, done: false, .. } = self {
            let _ = rustix::fs::unlinkat(&*parent, tmp.as_str(), AtFlags::empty());
        }
    }
}

fn copy(parent: &OwnedFd, tmp: &OwnedFd, source: &OwnedFd, size: u64) -> Result<(), NotPlaced> {
    if let Ok(vfs) = rustix::fs::fstatvfs(parent) {
        let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
        if free < size.saturating_add(COPY_MARGIN) {
            return Err(NotPlaced::Other(format!(
                "no room to copy it ({free} bytes free, {size} needed and 1 GiB kept free)"
            )));
        }
    }
    let mut from = File::from(source.as_fd().try_clone_to_owned().map_err(io("reading it"))?);
    let mut to = File::from(tmp.as_fd().try_clone_to_owned().map_err(io("copying it"))?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = match from.read(&mut buf) {
            Ok(0) => return Err(NotPlaced::Other("it is shorter than it was".into())),
            Ok(n) => n.min(left as usize),
            Err(e) => return Err(io("reading it")(e)),
        };
        to.write_all(&buf[..n]).map_err(io("copying it"))?;
        left -= n as u64;
    }
    Ok(())
}

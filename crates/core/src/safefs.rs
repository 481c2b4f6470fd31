//! Files under an output folder, opened without following symbolic links.
//!
//! A torrent's file names come from untrusted metadata, and the output
//! folder may be writable by others (a shared machine, a folder a model
//! tool also writes). If goat opened `out/model/f0000.bin` by path, a link
//! planted there (to a file, to a folder, or dangling) would aim goat's
//! writes, truncations and reads at a file it does not own. So:
//! - the folder the user chose (`-o`) is theirs, link or not: it is
//!   resolved once ([`anchor`]);
//! - every folder goat makes below it has a path with no link in it, and
//!   is made and reopened by walking that path from `/` with `O_NOFOLLOW`
//!   ([`make_real_dir`], [`open_real_dir`]), so a link put anywhere in it
//!   since is refused with a message that names it;
//! - files are opened relative to such a folder with `O_NOFOLLOW`, must be
//!   regular files, and are never written while they have another hard
//!   link: such a name is first made a private copy ([`open_in`]); goat's
//!   records are read the same way ([`read_file`]).
//!
//! Below every stage that touches payload files: the torrent stage's
//! storage and preallocation, `store::Layout`, `goat verify`, the fetcher's
//! checks, the daemon's syncs and stamps.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What an open is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only; nothing is created.
    Read,
    /// Read and write; missing folders and the file are created.
    Write,
}

/// The folder the user chose, opened (following a link there: it is
/// theirs).
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// The folder the user named (`-o`), created if missing, as the path with
/// every link resolved: the anchor goat's own folders are made below, each
/// of which then has a path with no link in it ([`open_real_dir`]).
pub fn anchor(dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::canonicalize(dir)
}

/// Open the folder `path`, an absolute path that holds no link (goat's own
/// folders below an [`anchor`]), following none: walked from `/`
/// component by component with `O_NOFOLLOW`, so a link put anywhere in it
/// since (to aim goat's writes elsewhere) is refused, not followed.
pub fn open_real_dir(path: &Path) -> io::Result<OwnedFd> {
    walk_real(path, false)
}

/// [`open_real_dir`], creating the folders that are missing.
pub fn make_real_dir(path: &Path) -> io::Result<OwnedFd> {
    walk_real(path, true)
}

fn walk_real(path: &Path, create: bool) -> io::Result<OwnedFd> {
    if !path.is_absolute() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not an absolute path", shown(path))));
    }
    let root = rustix::fs::open("/", PATH_FLAGS, Mode::empty())?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    walk(root, rel, create, path, DIR_FLAGS)
}

/// A folder goat reads, syncs or writes in.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
/// A folder passed through on the way: `O_PATH` needs only the right to
/// enter it, not to list it (a home folder of mode 0711 above `-o`).
const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Open each component of `rel` below `dir` as a folder, following no
/// link (creating missing ones when `create`); the last one with `last`'s
/// flags, the others with [`PATH_FLAGS`]. Errors name the failing prefix
/// of `shown_as` (the whole path `rel` ends).
fn walk(mut dir: OwnedFd, rel: &Path, create: bool, shown_as: &Path, last: OFlags) -> io::Result<OwnedFd> {
    let full = shown_as.to_string_lossy();
    let mut so_far = PathBuf::from(full.strip_suffix(&*rel.to_string_lossy()).unwrap_or(""));
    let n = rel.components().count();
    for (i, c) in rel.components().enumerate() {
        let Component::Normal(d) = c else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain path", shown(shown_as)),
            ));
        };
        so_far.push(d);
        let flags = if i + 1 == n { last } else { PATH_FLAGS };
        let next = match rustix::fs::openat(&dir, d, flags, Mode::empty()) {
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&dir, d, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rustix::fs::openat(&dir, d, flags, Mode::empty())
            }
            other => other,
        };
        dir = match next {
            Ok(fd) => fd,
            // O_DIRECTORY|O_NOFOLLOW on a link fails with ENOTDIR: say which.
            Err(rustix::io::Errno::NOTDIR)
                if rustix::fs::statat(&dir, d, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink) =>
            {
                return Err(link(&so_far))
            }
            Err(e) => return Err(refused(e, &so_far)),
        };
    }
    Ok(dir)
}

/// Open the regular file at `path` to read: not through a link in its
/// place, and never waiting on a FIFO or opening a device someone put
/// there (goat's own records and synced files, in folders others may
/// write).
pub fn open_file(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| refused(e, path))?;
    if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Err(not_regular(path));
    }
    Ok(File::from(fd))
}

/// The bytes of the regular file at `path` ([`open_file`]), at most
/// `limit` of them (more is an error: a record goat wrote is never that
/// large).
pub fn read_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    open_file(path)?.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", shown(path)),
        ));
    }
    Ok(out)
}

/// The most goat reads of one of its records (a manifest, a saved
/// `.torrent` of a million files, a goatfile).
pub const RECORD_LIMIT: u64 = 256 << 20;

/// Rename `from` to `to`, both in the folder `dir`.
pub fn rename_in(dir: impl AsFd, from: &std::ffi::OsStr, to: &std::ffi::OsStr) -> io::Result<()> {
    Ok(rustix::fs::renameat(dir.as_fd(), from, dir.as_fd(), to)?)
}

/// Open the regular file `rel` under `root`, following no link below
/// `root`. `rel` must be relative and made of normal components (torrent
/// paths are checked before they get here: `torrent::check_components`).
pub fn open_in(root: impl AsFd, rel: &Path, access: Access) -> io::Result<File> {
    let (parent, name) = parent_of(root, rel, access == Access::Write)?;
    let mut flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    flags |= match access {
        Access::Read => OFlags::RDONLY,
        Access::Write => OFlags::RDWR | OFlags::CREATE,
    };
    // NONBLOCK: opening a FIFO planted in the folder must not hang goat;
    // it has no effect on regular files, the only kind accepted below.
    let fd = rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o666)).map_err(|e| refused(e, rel))?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(not_regular(rel));
    }
    // A file with another name elsewhere (a hard link planted in the
    // folder, or a local copy goat linked that must now be repaired) is
    // someone's file too: goat never writes it. Its name here becomes a
    // private copy first; the other names keep their bytes.
    let fd = if access == Access::Write && st.st_nlink > 1 {
        drop(fd);
        unshare(&parent, name, rel)?;
        let fd =
            rustix::fs::openat(&parent, name, flags - OFlags::CREATE, Mode::empty()).map_err(|e| refused(e, rel))?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_nlink > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} changed while goat made it a private copy: run again", shown(rel)),
            ));
        }
        fd
    } else {
        fd
    };
    rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

/// A new file in `dir` under a name no other file has (`prefix`, goat's
/// process id and a number), made with `O_EXCL|O_NOFOLLOW` and `mode`,
/// open to read and write: goat's temporary files, renamed into place or
/// removed by their maker.
pub fn new_temp_in(dir: impl AsFd, prefix: &str, mode: u32) -> io::Result<(String, OwnedFd)> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for n in 0..100u32 {
        let tmp = format!("{prefix}-{}-{n}", std::process::id());
        match rustix::fs::openat(dir.as_fd(), tmp.as_str(), flags, Mode::from_raw_mode(mode)) {
            Err(rustix::io::Errno::EXIST) => continue,
            other => return Ok((tmp, other?)),
        }
    }
    Err(rustix::io::Errno::EXIST.into())
}

/// Replace `name` in `parent` (a file with other hard links) by a private
/// copy of its bytes, under the same name: copied into a new file beside
/// it (the kernel's copy, a reflink where the filesystem has them) and
/// renamed over the name. The file's other names are not touched.
fn unshare(parent: &OwnedFd, name: &std::ffi::OsStr, rel: &Path) -> io::Result<()> {
    let src = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| refused(e, rel))?;
    let st = rustix::fs::fstat(&src)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(not_regular(rel));
    }
    let (tmp, fd) = new_temp_in(parent, ".goat-unshare", 0o644)?;
    let copied = io::copy(&mut File::from(src), &mut File::from(fd))
        .and_then(|n| if n == st.st_size as u64 { Ok(()) } else { Err(io::Error::other("it changed while copied")) })
        .and_then(|_| Ok(rustix::fs::renameat(parent, tmp.as_str(), parent, name)?));
    if let Err(e) = copied {
        let _ = rustix::fs::unlinkat(parent, tmp.as_str(), AtFlags::empty());
        return Err(io::Error::new(e.kind(), format!("making {} a private copy before writing it: {e}", shown(rel))));
    }
    tracing::warn!(
        target: "goat",
        "{} had {} hard links: goat made it a private copy before writing it (the other names keep their bytes)",
        shown(rel),
        st.st_nlink
    );
    Ok(())
}

/// [`open_in`] from a path: opens `root` first.
pub fn open_under(root: &Path, rel: &Path, access: Access) -> io::Result<File> {
    open_in(open_root(root)?, rel, access)
}

/// The length of the regular file `rel` under `root`, or None when it (or
/// a folder above it) does not exist. A link anywhere below `root`, or
/// something that is not a regular file, is an error.
pub fn len_under(root: &Path, rel: &Path) -> io::Result<Option<u64>> {
    Ok(found_in(open_root(root)?, rel)?.map(|f| f.len))
}

/// A regular file found below a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its length in bytes.
    pub len: u64,
    /// Bytes of disk blocks allocated to it.
    pub allocated: u64,
    /// Its hard links (names).
    pub links: u64,
    /// Which file it is, and when its bytes last changed.
    pub stamp: Stamp,
}

/// A file's identity and last change: device, inode, length, mtime and
/// ctime (which no user can set back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The device it is on (`st_dev`).
    pub dev: u64,
    /// Its inode number on that device.
    pub ino: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Last change to its bytes (`st_mtime`): seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Last status change (`st_ctime`): seconds and nanoseconds since the epoch.
    pub ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of the file `st` was read from.
    pub fn of(st: &rustix::fs::Stat) -> Stamp {
        Stamp {
            dev: st.st_dev,
            ino: st.st_ino,
            len: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        }
    }
}

/// [`len_under`] from an open folder, with the blocks allocated.
pub fn found_in(root: impl AsFd, rel: &Path) -> io::Result<Option<Found>> {
    let (parent, name) = match parent_of(root, rel, false) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Ok(Some(Found {
                len: st.st_size as u64,
                allocated: st.st_blocks as u64 * 512,
                links: st.st_nlink,
                stamp: Stamp::of(&st),
            })),
            FileType::Symlink => Err(link(rel)),
            _ => Err(not_regular(rel)),
        },
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Remove the file `rel` under `root` (never through a link).
pub fn remove_in(root: impl AsFd, rel: &Path) -> io::Result<()> {
    let (parent, name) = parent_of(root, rel, false)?;
    Ok(rustix::fs::unlinkat(&parent, name, AtFlags::empty())?)
}

/// Remove the folder `rel` under `root` if it is empty.
pub fn remove_dir_in(root: impl AsFd, rel: &Path) -> io::Result<()> {
    let (parent, name) = parent_of(root, rel, false)?;
    match rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The folder holding `rel`'s last component, opened component by
/// component without following links (created when `create`), and that
/// last component.
pub fn parent_of(root: impl AsFd, rel: &Path, create: bool) -> io::Result<(OwnedFd, &std::ffi::OsStr)> {
    let (Some(name), Some(dirs)) = (rel.file_name(), rel.parent()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain relative path", shown(rel)),
        ));
    };
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain relative path", shown(rel)),
        ));
    }
    let start = rustix::fs::openat(root.as_fd(), ".", PATH_FLAGS, Mode::empty())?;
    Ok((walk(start, dirs, create, dirs, PATH_FLAGS)?, name))
}

/// An open's errno as an error that names the path: ELOOP (and ENOTDIR
/// from `O_DIRECTORY|O_NOFOLLOW` on a link) is a link goat refuses.
fn refused(e: rustix::io::Errno, rel: &Path) -> io::Error {
    match e {
        rustix::io::Errno::LOOP => link(rel),
        rustix::io::Errno::NOTDIR => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a folder (a file or a link is in its place): move it away, goat never writes through it",
                shown(rel)
            ),
        ),
        rustix::io::Errno::MFILE | rustix::io::Errno::NFILE => too_many_open(),
        e => io::Error::from(e),
    }
}

fn link(rel: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link: goat never reads or writes through a link in its output folder; remove the link (or pick another -o) and run again",
            shown(rel)
        ),
    )
}

fn not_regular(rel: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not a regular file: move it away (or pick another -o) and run again", shown(rel)),
    )
}

/// The descriptor limit reached, with the limit: carried inside an
/// `io::Error` so the layers that pass I/O errors through keep it.
#[derive(Debug)]
pub struct TooManyOpen(pub u64);

impl std::fmt::Display for TooManyOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many open files (this process may hold {}): raise the limit (ulimit -n, or LimitNOFILE= in the systemd unit) and run again",
            self.0
        )
    }
}

impl std::error::Error for TooManyOpen {}

/// EMFILE/ENFILE as an error that names the limit and what to do.
pub fn too_many_open() -> io::Error {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(0);
    io::Error::other(TooManyOpen(limit))
}

/// True when `e` (an I/O error anywhere in librqbit's chain) is the
/// descriptor limit: the system's, or goat's own [`TooManyOpen`].
pub fn is_too_many_open(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
        || e.get_ref().is_some_and(|inner| inner.is::<TooManyOpen>())
}

/// Raise this process's soft limit on open files to its hard limit, as
/// most BitTorrent clients do at start: a model of many files, seeded
/// beside many peers, needs more descriptors than the usual soft 1,024.
/// Returns the soft limit now in force.
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            tracing::debug!(target: "goat", "raising the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

fn shown(p: &Path) -> String {
    crate::text::line(&p.to_string_lossy())
}

/// goat's rule for one component of a path someone else wrote (a
/// goatfile's, a torrent's): one that stays a plain name below the folder
/// it is joined to on every OS. Not empty, `.` or `..`; no separator (`/`,
/// `\`) or drive letter (`:`); no control or invisible formatting
/// character. Err says which, for the caller's message.
pub fn check_part(part: &str) -> std::result::Result<(), &'static str> {
    if part.is_empty() || part == "." || part == ".." {
        return Err("has an empty, '.' or '..' component");
    }
    if part.contains(['/', '\\', ':']) {
        return Err("has a separator or drive letter");
    }
    if part.chars().any(crate::text::unsafe_char) {
        return Err("has control or invisible formatting characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_anywhere_below_the_root_are_refused_and_their_targets_untouched() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("out");
        let victim = d.path().join("victim.txt");
        std::fs::create_dir_all(root.join("m")).unwrap();
        std::fs::write(&victim, b"keep me").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("m/f.bin")).unwrap();
        std::os::unix::fs::symlink(d.path(), root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(d.path().join("nowhere"), root.join("m/dangling")).unwrap();
        for (rel, access) in [
            ("m/f.bin", Access::Write),
            ("m/f.bin", Access::Read),
            ("dirlink/victim.txt", Access::Write),
            ("m/dangling", Access::Write),
        ] {
            let e = open_under(&root, Path::new(rel), access).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{rel}: {e}");
        }
        assert!(len_under(&root, Path::new("m/f.bin")).unwrap_err().to_string().contains("symbolic link"));
        assert!(len_under(&root, Path::new("dirlink/victim.txt")).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(!d.path().join("nowhere").exists());
        // Plain files and folders are created and opened as usual.
        let f = open_under(&root, Path::new("a/b/c.bin"), Access::Write).unwrap();
        f.set_len(5).unwrap();
        assert_eq!(len_under(&root, Path::new("a/b/c.bin")).unwrap(), Some(5));
        assert_eq!(len_under(&root, Path::new("a/x/c.bin")).unwrap(), None);
        // A FIFO is refused at once, not waited on.
        let fifo = root.join("m/fifo");
        use rustix::fs::{FileType, Mode, CWD};
        rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert!(open_under(&root, Path::new("m/fifo"), Access::Read).unwrap_err().to_string().contains("regular"));
        // A second name of a file: read as it is, and made a private copy
        // before any write; the other name keeps its bytes.
        std::fs::write(d.path().join("mine.bin"), b"xyz").unwrap();
        std::fs::hard_link(d.path().join("mine.bin"), root.join("m/hard.bin")).unwrap();
        assert!(open_under(&root, Path::new("m/hard.bin"), Access::Read).is_ok());
        let f = open_under(&root, Path::new("m/hard.bin"), Access::Write).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"Q", 0).unwrap();
        assert_eq!(std::fs::read(root.join("m/hard.bin")).unwrap(), b"Qyz");
        assert_eq!(std::fs::read(d.path().join("mine.bin")).unwrap(), b"xyz");
        assert_eq!(std::fs::read_dir(root.join("m")).unwrap().count(), 4, "no temporary file left");
    }

    #[test]
    fn goats_folders_are_reopened_from_the_root_without_links() {
        let d = tempfile::tempdir().unwrap();
        let top = anchor(&d.path().join("out")).unwrap();
        let entry = top.join("addr/org/model");
        make_real_dir(&entry).unwrap();
        let dir = open_real_dir(&entry).unwrap();
        crate::atomic::write_in(&dir, std::ffi::OsStr::new("m.json"), b"{}", 0o666).unwrap();
        assert_eq!(std::fs::read(entry.join("m.json")).unwrap(), b"{}");
        // A part of the path swapped for a link, after the folder was made.
        let victim = d.path().join("victim");
        std::fs::create_dir_all(victim.join("model")).unwrap();
        std::fs::rename(top.join("addr/org"), d.path().join("org.real")).unwrap();
        std::os::unix::fs::symlink(&victim, top.join("addr/org")).unwrap();
        for e in [open_real_dir(&entry).unwrap_err(), make_real_dir(&entry.join("x")).unwrap_err()] {
            assert!(e.to_string().contains("addr/org is a symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_dir(victim.join("model")).unwrap().count(), 0);
        // A link in place of the file itself is replaced, not followed.
        std::fs::write(d.path().join("keep"), b"keep").unwrap();
        let mine = top.join("mine");
        make_real_dir(&mine).unwrap();
        std::os::unix::fs::symlink(d.path().join("keep"), mine.join("f")).unwrap();
        crate::atomic::write_in(open_real_dir(&mine).unwrap(), std::ffi::OsStr::new("f"), b"new", 0o666).unwrap();
        assert_eq!(std::fs::read(d.path().join("keep")).unwrap(), b"keep");
        assert_eq!(std::fs::read(mine.join("f")).unwrap(), b"new");
    }
}

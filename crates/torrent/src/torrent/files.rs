//! goat's own files for librqbit: the torrent's files under its output
//! folder, opened only through [`crate::safefs`] (no link is ever
//! followed), at most a bounded number at once, and never written when the
//! folder is a publisher's.
//!
//! Why not librqbit's `FilesystemStorage`: it opens every file by path
//! (following links planted in the folder), holds every file open for the
//! torrent's life (a 2,000-file model needs 2,000 descriptors, and goat's
//! page-cache hints held a second set), creates and truncates files in a
//! publisher's folder (`ensure_file_length` cuts a file that grew back to
//! the torrent's length), and offers no read-only mode.
//!
//! **Descriptors.** All torrents of a session share one [`Pool`] of open
//! files, as libtorrent's file pool does: a file is opened when it is first
//! read or written and the oldest open file is closed when the pool is
//! full. The pool's size follows the process's open-file limit (a quarter
//! of it, so peers' sockets keep the rest), which `main` raises to the hard
//! limit at start.

use crate::safefs::{self, Access};
use anyhow::Context;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::IoSlice;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Open files shared by every torrent of a session, oldest closed first.
pub struct Pool {
    cap: usize,
    open: Mutex<Open>,
    next_owner: AtomicUsize,
}

#[derive(Default)]
struct Open {
    files: HashMap<(usize, usize), Arc<File>>,
    order: VecDeque<(usize, usize)>,
}

impl Pool {
    /// A pool sized from the open-file limit now in force.
    pub fn for_this_process() -> Arc<Pool> {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1 << 20);
        Pool::with_cap((limit / 4).clamp(8, 1 << 16) as usize)
    }

    /// A pool that keeps at most `cap` files open (at least one).
    pub fn with_cap(cap: usize) -> Arc<Pool> {
        Arc::new(Pool { cap: cap.max(1), open: Mutex::default(), next_owner: AtomicUsize::new(1) })
    }

    /// Files open now (for tests and the status).
    pub fn open_now(&self) -> usize {
        super::storage::lock(&self.open).files.len()
    }

    fn get(&self, key: (usize, usize), open: impl Fn() -> std::io::Result<File>) -> std::io::Result<Arc<File>> {
        if let Some(f) = super::storage::lock(&self.open).files.get(&key) {
            return Ok(f.clone());
        }
        // Opened outside the lock: an open walks the path component by
        // component. Two threads may open the same file at once; the
        // second keeps the first's handle.
        let file = match open() {
            Err(e) if safefs::is_too_many_open(&e) => {
                // Other descriptors (sockets) took the room: give back half
                // of goat's and try once more.
                self.shrink(self.cap / 2);
                open()?
            }
            other => other?,
        };
        let mut o = super::storage::lock(&self.open);
        if let Some(f) = o.files.get(&key) {
            return Ok(f.clone());
        }
        let file = Arc::new(file);
        o.files.insert(key, file.clone());
        o.order.push_back(key);
        let cap = self.cap;
        Self::evict(&mut o, cap);
        Ok(file)
    }

    fn shrink(&self, to: usize) {
        Self::evict(&mut super::storage::lock(&self.open), to);
    }

    fn evict(o: &mut Open, to: usize) {
        while o.files.len() > to {
            let Some(k) = o.order.pop_front() else { break };
            // A handle still in use elsewhere closes when that use ends.
            o.files.remove(&k);
        }
    }

    /// The handle of a file that is open now, without opening it.
    fn peek(&self, key: (usize, usize)) -> Option<Arc<File>> {
        super::storage::lock(&self.open).files.get(&key).cloned()
    }

    fn forget(&self, owner: usize) {
        let mut o = super::storage::lock(&self.open);
        o.files.retain(|k, _| k.0 != owner);
        o.order.retain(|k| k.0 != owner);
    }
}

/// One torrent's files under its output folder.
pub struct Files {
    /// The output folder. Its handle lives in the pool (`dir_io`), so a
    /// model of 4,096 entries does not hold 4,096 more descriptors; when
    /// the pool has closed it, it is opened again from `/` without
    /// following links.
    root: PathBuf,
    /// Per file: its path below the folder and length (None: padding).
    files: Vec<Option<(PathBuf, u64)>>,
    /// A publisher's folder: read, never created, written or resized.
    read_only: bool,
    pool: Arc<Pool>,
    owner: usize,
    /// A download in part: where the files not chosen keep their bytes.
    parts: Option<Parts>,
}

/// The part file of a download in part (`goat fetch --only ENTRY/PATH`),
/// as libtorrent and qBittorrent keep one: a piece that lies across a chosen
/// file and one not chosen must be fetched whole to be checked, and the
/// bytes of the file not chosen go here, never to a file of that name (the
/// user asked for none). Each byte lies at its offset in the torrent, so
/// the file is sparse (holding about two pieces per file not chosen) and
/// needs no index, whatever was chosen before.
struct Parts {
    /// Its name in the output folder ([`parts_name`]).
    name: PathBuf,
    /// Per file: where it starts in the torrent if it was not chosen.
    at: Vec<Option<u64>>,
}

/// The part file's name in a torrent's folder: hidden, and named by the
/// info-hash, as libtorrent names its own (`.<info-hash>.parts`). No
/// torrent can hold a file named by its own info-hash (that hash covers
/// its file names).
pub fn parts_name(hash: &crate::goatfile::InfoHash) -> PathBuf {
    PathBuf::from(format!(".{hash}.parts"))
}

/// The part file's id in place of a file's, and its key in the pool
/// (reading; writing is one less): after every file's two, before the
/// folder's.
const PARTS: usize = usize::MAX - 1;
const PARTS_KEY: usize = usize::MAX - 2;

impl Files {
    /// The files of a torrent under `root`, opened through `pool`; `files` gives
    /// each one's path below `root` and length (None: padding). `root` is created
    /// unless `read_only`, and opened here either way.
    pub fn new(
        root: &Path,
        files: Vec<Option<(PathBuf, u64)>>,
        read_only: bool,
        pool: Arc<Pool>,
    ) -> anyhow::Result<Files> {
        let owner = pool.next_owner.fetch_add(1, Ordering::Relaxed);
        let f = Files { root: root.to_path_buf(), files, read_only, pool, owner, parts: None };
        if !read_only {
            safefs::make_real_dir(root).with_context(|| format!("creating {}", root.display()))?;
        }
        f.dir()?;
        Ok(f)
    }

    /// A download in part: file `i` is not chosen where `at[i]` gives its
    /// offset in the torrent, and its bytes go to the part file `name`.
    pub fn set_parts(&mut self, name: PathBuf, at: Vec<Option<u64>>) {
        self.parts = Some(Parts { name, at });
    }

    /// File `id` is not chosen: its bytes are in the part file, at this
    /// offset plus theirs in the file.
    pub fn in_parts(&self, id: usize) -> Option<u64> {
        self.parts.as_ref().and_then(|p| p.at.get(id).copied().flatten())
    }

    /// Where file `id`'s byte `offset` is read and written: the file, or
    /// the part file for one not chosen.
    fn place(&self, id: usize, offset: u64) -> (usize, u64) {
        match self.in_parts(id) {
            Some(at) => (PARTS, at + offset),
            None => (id, offset),
        }
    }

    /// The output folder, opened. A publisher's folder is theirs, wherever
    /// a link there points; a download's folder is goat's, made below an
    /// anchored `-o` with no link in its path, and a link put anywhere in
    /// that path since is refused.
    fn dir(&self) -> anyhow::Result<Arc<File>> {
        self.dir_io().with_context(|| format!("opening {}", self.root.display()))
    }

    /// The folder's handle is kept in the pool like a file's (so it counts
    /// against the same limit and is closed when the pool needs room):
    /// opening 20,000 files must not walk the folder's path 20,000 times. A
    /// handle kept is safe: it names the folder goat made, and a link put
    /// in that folder's place since is never followed through it.
    fn dir_io(&self) -> std::io::Result<Arc<File>> {
        self.pool.get((self.owner, usize::MAX), || {
            if self.read_only { safefs::open_root(&self.root) } else { safefs::open_real_dir(&self.root) }
                .map(File::from)
        })
    }

    /// File `id`'s path, made safe to print.
    pub fn shown(&self, id: usize) -> String {
        self.path(id).map(|(p, _)| crate::text::line(&self.root.join(p).to_string_lossy())).unwrap_or_default()
    }

    fn path(&self, id: usize) -> anyhow::Result<(&Path, u64)> {
        if id == PARTS {
            let p = self.parts.as_ref().context("no part file")?;
            return Ok((p.name.as_path(), u64::MAX));
        }
        self.files.get(id).and_then(|f| f.as_ref()).map(|(p, l)| (p.as_path(), *l)).context("no such file")
    }

    /// A handle of file `id` to read through (its writing handle if that
    /// is open), opening it if needed. Reads never need more: a complete
    /// file that also has another name (a hard link its owner made) is
    /// read and seeded, only never written.
    pub fn file(&self, id: usize) -> anyhow::Result<Arc<File>> {
        let (id, _) = self.place(id, 0);
        let writing = if id == PARTS { PARTS_KEY - 1 } else { 2 * id + 1 };
        if let Some(f) = self.pool.peek((self.owner, writing)) {
            return Ok(f);
        }
        self.open(id, Access::Read)
    }

    /// A handle of file `id` to write through (`safefs` refuses a file
    /// with other hard links), opened only when a write is needed.
    fn writer(&self, id: usize) -> anyhow::Result<Arc<File>> {
        self.writable()?;
        if id == PARTS && self.pool.peek((self.owner, PARTS_KEY - 1)).is_none() {
            self.unlink_shared_parts()?;
        }
        self.open(id, Access::Write)
    }

    /// A part file with another name (a backup made with hard links, one
    /// planted): `safefs` would make goat's name a private copy first, and
    /// a copy of a sparse file writes out its holes, up to the torrent's
    /// size. Its bytes are only what goat can fetch again, so the name is
    /// removed instead and a new part file begun.
    fn unlink_shared_parts(&self) -> anyhow::Result<()> {
        let Some(p) = &self.parts else { return Ok(()) };
        let dir = self.dir()?;
        if safefs::found_in(&*dir, &p.name)?.is_some_and(|f| f.links > 1) {
            safefs::remove_in(&*dir, &p.name)?;
        }
        Ok(())
    }

    fn open(&self, id: usize, access: Access) -> anyhow::Result<Arc<File>> {
        let (rel, _) = self.path(id)?;
        let key = if id == PARTS {
            (self.owner, PARTS_KEY - usize::from(access == Access::Write))
        } else {
            (self.owner, 2 * id + usize::from(access == Access::Write))
        };
        self.pool
            .get(key, || safefs::open_in(&*self.dir_io()?, rel, access))
            .with_context(|| format!("opening {}", self.root.join(rel).display()))
    }

    /// File `id`'s handle if it is open now (for hints that are not worth
    /// an open).
    pub fn if_open(&self, id: usize) -> Option<Arc<File>> {
        if self.in_parts(id).is_some() {
            return None;
        }
        self.pool.peek((self.owner, 2 * id + 1)).or_else(|| self.pool.peek((self.owner, 2 * id)))
    }

    /// Create every file (an empty one gets no write, yet belongs to the
    /// model), or, for a publisher's folder, check that each is there at its
    /// length: a file that changed size is reported and never touched.
    pub fn init(&self) -> anyhow::Result<()> {
        for (id, f) in self.files.iter().enumerate() {
            let Some((rel, len)) = f else { continue };
            if self.in_parts(id).is_some() {
                continue;
            }
            let found = safefs::found_in(&*self.dir()?, rel)?.map(|f| f.len);
            if self.read_only {
                if found != Some(*len) {
                    anyhow::bail!("{}", size_changed(&self.root.join(rel), *len, found));
                }
            } else if found.is_none() {
                self.writer(id)?;
            }
        }
        Ok(())
    }

    /// Fill `buf` from file `id`, starting at byte `offset`.
    pub fn pread_exact(&self, id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let (_, at) = self.place(id, offset);
        Ok(self.file(id)?.read_exact_at(buf, at)?)
    }

    /// Write all of `buf` to file `id` at byte `offset` (an error for a
    /// publisher's folder).
    pub fn pwrite_all(&self, id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        let (id, offset) = self.place(id, offset);
        Ok(self.writer(id)?.write_all_at(buf, offset)?)
    }

    /// Write both buffers, one after the other, to file `id` at byte `offset`
    /// (an error for a publisher's folder). Returns their total length.
    pub fn pwrite_all_vectored(&self, id: usize, offset: u64, bufs: [IoSlice<'_>; 2]) -> anyhow::Result<usize> {
        let (id, offset) = self.place(id, offset);
        let f = self.writer(id)?;
        let total = bufs[0].len() + bufs[1].len();
        let n = rustix::io::pwritev(&*f, &bufs, offset)?;
        // A short write (rare on regular files): the rest one by one.
        let mut done = n;
        let mut at = offset + n as u64;
        for b in bufs.iter() {
            let b: &[u8] = b;
            if done >= b.len() {
                done -= b.len();
                continue;
            }
            f.write_all_at(&b[done..], at)?;
            at += (b.len() - done) as u64;
            done = 0;
        }
        Ok(total)
    }

    /// Make file `id` `length` bytes long. A publisher's file of another length
    /// is an error and is left as it is.
    pub fn ensure_file_length(&self, id: usize, length: u64) -> anyhow::Result<()> {
        if self.in_parts(id).is_some() {
            return Ok(());
        }
        let f = self.file(id)?;
        let now = f.metadata()?.len();
        if now == length {
            return Ok(());
        }
        if self.read_only {
            let (rel, _) = self.path(id)?;
            anyhow::bail!("{}", size_changed(&self.root.join(rel), length, Some(now)));
        }
        Ok(self.writer(id)?.set_len(length)?)
    }

    /// Remove the file `filename` (relative to the output folder), never
    /// through a link (an error for a publisher's folder).
    pub fn remove_file(&self, filename: &Path) -> anyhow::Result<()> {
        self.writable()?;
        Ok(safefs::remove_in(&*self.dir()?, filename)?)
    }

    /// Remove the folder `path` (relative to the output folder) if it is
    /// empty (an error for a publisher's folder).
    pub fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        self.writable()?;
        Ok(safefs::remove_dir_in(&*self.dir()?, path)?)
    }

    fn writable(&self) -> anyhow::Result<()> {
        if self.read_only {
            anyhow::bail!("{} is a publisher's folder: goat never writes to it", self.root.display());
        }
        Ok(())
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.pool.forget(self.owner);
    }
}

/// A publisher's file whose size is not the torrent's.
pub fn size_changed(path: &Path, want: u64, found: Option<u64>) -> String {
    let found = found.map(|n| format!("{n} bytes")).unwrap_or_else(|| "missing".into());
    format!(
        "the published file {} is {found} but its torrent says {want} bytes: it is not served, and goat changed nothing; put the original file back, or publish again",
        crate::text::line(&path.display().to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_at_most_its_cap_open() {
        let d = tempfile::tempdir().unwrap();
        let pool = Pool::with_cap(3);
        let files: Vec<_> = (0..10).map(|i| Some((PathBuf::from(format!("d/f{i}")), 10))).collect();
        let f = Files::new(d.path(), files, false, pool.clone()).unwrap();
        f.init().unwrap();
        assert!(pool.open_now() <= 3);
        for i in 0..10 {
            f.pwrite_all(i, 0, &[i as u8; 10]).unwrap();
            assert!(pool.open_now() <= 3);
        }
        let mut b = [0u8; 10];
        f.pread_exact(4, 0, &mut b).unwrap();
        assert_eq!(b, [4; 10]);
        drop(f);
        assert_eq!(pool.open_now(), 0);
    }

    #[test]
    fn files_not_chosen_live_in_the_part_file_at_their_torrent_offset() {
        let d = tempfile::tempdir().unwrap();
        let files = vec![Some(("a/x.bin".into(), 100)), None, Some(("b/y.bin".into(), 50))];
        let mut f = Files::new(d.path(), files, false, Pool::with_cap(4)).unwrap();
        let name = PathBuf::from(".parts");
        // y.bin (file 2, at torrent offset 120) is not chosen.
        f.set_parts(name.clone(), vec![None, None, Some(120)]);
        f.init().unwrap();
        assert!(d.path().join("a/x.bin").exists());
        assert!(!d.path().join("b").exists(), "a file not chosen was created");
        f.pwrite_all(2, 3, b"yy").unwrap();
        f.ensure_file_length(2, 50).unwrap();
        assert!(!d.path().join("b").exists());
        let parts = std::fs::read(d.path().join(&name)).unwrap();
        assert_eq!(&parts[123..], b"yy");
        let mut b = [0u8; 2];
        f.pread_exact(2, 3, &mut b).unwrap();
        assert_eq!(&b, b"yy");

        // A part file with another name is begun again, never copied (a
        // copy writes out a sparse file's holes) nor written through.
        drop(f);
        std::fs::hard_link(d.path().join(&name), d.path().join("backup")).unwrap();
        let files = vec![Some(("a/x.bin".into(), 100)), None, Some(("b/y.bin".into(), 50))];
        let mut f = Files::new(d.path(), files, false, Pool::with_cap(4)).unwrap();
        f.set_parts(name.clone(), vec![None, None, Some(120)]);
        f.pwrite_all(2, 0, b"z").unwrap();
        assert_eq!(std::fs::read(d.path().join("backup")).unwrap(), parts, "the other name's bytes changed");
        let now = std::fs::read(d.path().join(&name)).unwrap();
        assert_eq!((now.len(), now[120]), (121, b'z'));
    }

    #[test]
    fn a_publishers_folder_is_never_written_or_resized() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.bin"), vec![1u8; 20]).unwrap();
        let f = Files::new(d.path(), vec![Some(("a.bin".into(), 10))], true, Pool::with_cap(4)).unwrap();
        assert!(f.init().unwrap_err().to_string().contains("is 20 bytes but its torrent says 10"));
        assert!(f.ensure_file_length(0, 10).is_err());
        assert!(f.pwrite_all(0, 0, b"x").is_err());
        assert_eq!(std::fs::read(d.path().join("a.bin")).unwrap(), vec![1u8; 20]);
    }
}

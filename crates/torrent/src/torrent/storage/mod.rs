//! goat's storage under librqbit: librqbit's own filesystem storage, with
//! pieces gathered in memory, written whole, and proven by goat as they
//! complete.
//!
//! **Gathering (off by default, measured slower here).** librqbit writes
//! each 16 KiB block as it arrives. With `--piece-buffer N` (MiB) the
//! blocks of a piece are copied into one buffer instead, librqbit's piece
//! check (`pread_exact` of a piece whose blocks are all here) is answered
//! from that buffer, and `on_piece_completed` writes the piece with one
//! write per file it lies in (one `pwrite` for most pieces, not 256), as
//! libtorrent 2 and aria2 write runs of blocks. All torrents of a session
//! share one [`Budget`] of N MiB; when it is spent, a new piece's blocks go
//! straight to the disk: bounded memory without blocking librqbit's one
//! runtime thread, which would stall the very downloads that free the
//! budget. A buffer untouched for [`STALE`] (its peer went away) is written
//! out to make room. Measured on 2 GiB from one libtorrent seeder, 3
//! interleaved rounds, it was 30 % slower than writing each block as it
//! arrives (docs/benchmarks.md): a block written at once is copied into the
//! page cache while it is still in the CPU's cache, a gathered 4 MiB piece
//! is copied again from memory. So it stays off unless asked for; it may
//! pay on disks where small writes are dear (network filesystems).
//!
//! **Failed writes.** A block whose write fails is kept in memory (the same
//! budget, at least [`DEFAULT_BUDGET`]) and its piece's write is tried again
//! when the piece completes: librqbit would stop the whole torrent at the
//! first failed write.
//!
//! **Proof.** Right after the write, goat reads the piece back from the
//! files (still in the page cache) and hashes it with its own SHA-1
//! against the piece hashes in the metadata. That proves what the disk now
//! holds, independently of librqbit's check of the bytes in memory, without
//! a second pass over the disk: a 4 GiB fetch in a 768 MiB memory group
//! read the whole payload back from the disk for the old end-of-download
//! pass (docs/benchmarks.md).
//!
//! The read-back runs on goat's prover thread, not on librqbit's one
//! runtime thread, which would otherwise stop reading the network while it
//! hashes: measured on 2 GiB, 4 interleaved rounds, a build without the
//! read-back was 12-25 % faster than one with it inline (docs/benchmarks.md
//! has the figures with the thread). While pieces worth more than
//! [`PROVER_QUEUE`] bytes wait for it, a piece is proven inline instead, so
//! a piece is read back while it is still in the page cache even when the
//! prover falls behind. [`Proof::settled`] waits for the queue.
//!
//! A piece whose write fails or whose read-back does not match is recorded
//! as failed. librqbit only logs errors from `on_piece_completed` and has
//! already marked the piece done, so `fetcher::Download` (used by `goat
//! fetch` and `goat seed` alike) takes the record and has the torrent
//! re-added without those pieces (`Swarm::refetch`), which fetches them
//! again; it is never reported done.
//!
//! **Serving.** Every read librqbit makes once a torrent is past its
//! check passes through [`ProvingStorage::gate`]: a piece goat has not
//! hashed in this session (one librqbit's fastresume trusted at a restart,
//! or a full check found) is read back and hashed before its first block
//! goes to a peer, as libtorrent's seed mode does; a piece that failed any
//! of goat's checks is never read for a peer (the read fails, librqbit
//! drops that peer's connection, and the piece is fetched again). So a
//! restart trusts nothing it has not hashed, yet re-reads nothing before it
//! seeds: the cost of a piece's check is paid once, when it is first asked
//! for.

use super::files::{self, Files, Pool};
use crate::filebuf::FileBuf;
use crate::goatfile::InfoHash;
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};
use librqbit_core::lengths::{Lengths, ValidPieceIndex};
use std::collections::{HashMap, HashSet};
use std::io::IoSlice;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What goat knows of one piece in this session (`Proof::pieces`).
mod budget;
mod gather;
mod hooks;
mod proof;
mod prover;
mod shape;

pub use budget::{Budget, DEFAULT_BUDGET};
use gather::Pending;
pub use gather::STALE;
use hooks::Hooks;
use proof::piece;
pub use proof::Proof;
use prover::{Job, Prover};
use shape::{Behind, Shape, Span};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the swarm tells the storage factory about each torrent it adds,
/// by info-hash: librqbit calls the factory with only the torrent's
/// metadata, so this is how goat's own knowledge reaches the storage.
#[derive(Default)]
pub struct Handoff {
    /// What goat's read-back proved of each torrent (the factory makes it,
    /// the swarm reads it).
    pub proofs: HashMap<InfoHash, Arc<Proof>>,
    /// A torrent goat is adding for a download: the files goat has just
    /// allocated that hold nothing yet, relative to its output folder (its
    /// presence also marks a download, whose proven pieces [`Behind`] drops
    /// from the page cache). librqbit's initial check reads every byte of
    /// every file that exists; a file goat preallocated is there at full
    /// length, so that check would read and hash the whole payload's worth
    /// of zeros before the first request (a quarter of goat's CPU time in a
    /// 2 GiB fetch, docs/benchmarks.md). Reads of such a file fail until
    /// something is written to it, as they fail for a file that does not
    /// exist, and librqbit skips it.
    pub fresh: HashMap<InfoHash, HashSet<std::path::PathBuf>>,
    /// Each torrent's output folder: librqbit keeps its own to itself
    /// (`ManagedTorrentShared::options` is private), so goat records the
    /// folder of every torrent it adds, and of every torrent in the session
    /// file before librqbit restores it.
    pub folders: HashMap<InfoHash, std::path::PathBuf>,
    /// Torrents seeded from a publisher's own folder: their files are
    /// opened read-only and never created, resized or written
    /// (`files::Files`).
    pub read_only: HashSet<InfoHash>,
    /// Torrents downloaded in part (`goat fetch --only ENTRY/PATH`): the
    /// indices of the files chosen. librqbit fetches only the pieces that
    /// touch them (its `only_files`, set again at every re-add); the bytes
    /// of files not chosen that share a piece with a chosen one go to the
    /// folder's part file ([`files::parts_name`]), never to a file of
    /// their own.
    pub only: HashMap<InfoHash, Vec<usize>>,
}

/// The [`Handoff`] the swarm and its storage factory share.
pub type Shared = Arc<Mutex<Handoff>>;

/// The storage factory of goat's session: a [`ProvingStorage`] for each
/// torrent librqbit adds, made from what the swarm put in the [`Handoff`].
#[derive(Clone)]
pub struct ProvingFactory {
    shared: Shared,
    write_roots: Arc<Vec<std::path::PathBuf>>,
    pool: Arc<Pool>,
    budget: Arc<Budget>,
    prover: Prover,
}

impl ProvingFactory {
    /// The session's factory. A torrent whose folder is below none of
    /// `write_roots` is opened read-only; every torrent shares one file [`Pool`],
    /// `budget` and the prover thread, which starts here.
    pub fn new(shared: Shared, write_roots: Vec<std::path::PathBuf>, budget: Arc<Budget>) -> ProvingFactory {
        ProvingFactory {
            shared,
            write_roots: Arc::new(write_roots),
            pool: Pool::for_this_process(),
            budget,
            prover: Prover::start(),
        }
    }
}

impl StorageFactory for ProvingFactory {
    type Storage = ProvingStorage;

    fn create(&self, shared: &ManagedTorrentShared, metadata: &TorrentMetadata) -> anyhow::Result<ProvingStorage> {
        let lengths = *metadata.lengths();
        let hashes: Vec<[u8; 20]> =
            metadata.info.info().pieces.as_ref().chunks_exact(20).map(|c| c.try_into().unwrap_or([0; 20])).collect();
        let spans = metadata
            .file_infos
            .iter()
            .map(|f| Span { offset: f.offset_in_torrent, len: f.len, padding: f.attrs.padding })
            .collect();
        let proof = Arc::new(Proof::new(lengths.total_pieces() as usize));
        let hash = InfoHash::from_bytes(&shared.info_hash.0);
        let (fresh_paths, output, read_only, only) = {
            let mut handoff = lock(&self.shared);
            handoff.proofs.insert(hash, proof.clone());
            // Present when goat added the torrent itself for a download
            // (not for one librqbit restored from its session file).
            let fresh_paths = handoff.fresh.remove(&hash);
            let only = handoff.only.get(&hash).cloned();
            (fresh_paths, handoff.folders.get(&hash).cloned(), handoff.read_only.contains(&hash), only)
        };
        let behind = fresh_paths.is_some().then(|| Arc::new(Behind { proven: Mutex::default() }));
        let fresh_paths = fresh_paths.unwrap_or_default();
        let Some(output) = output else {
            anyhow::bail!("goat does not know where torrent {hash}'s files are: it was not added by goat");
        };
        let read_only = read_only || !self.write_roots.iter().any(|r| output.starts_with(r));
        let mut inner = Files::new(
            &output,
            metadata
                .file_infos
                .iter()
                .map(|f| (!f.attrs.padding).then(|| (f.relative_filename.clone(), f.len)))
                .collect(),
            read_only,
            self.pool.clone(),
        )?;
        // A download in part: files not chosen keep what they share with
        // chosen ones in the part file, and pieces that touch no chosen
        // file are not wanted (`Proof::all_proven` leaves them out).
        if let Some(only) = only.filter(|_| !read_only) {
            let only: HashSet<usize> = only.into_iter().collect();
            let chosen = |i: usize| only.contains(&i);
            let chosen_spans = metadata
                .file_infos
                .iter()
                .enumerate()
                .filter(|(i, f)| !f.attrs.padding && chosen(*i))
                .map(|(_, f)| (f.offset_in_torrent, f.len));
            let wanted = super::pieces_wanted(
                chosen_spans,
                lengths.default_piece_length() as u64,
                lengths.total_pieces() as usize,
            );
            proof.leave_out(|i| !wanted.get(i as usize).copied().unwrap_or(true));
            inner.set_parts(
                files::parts_name(&hash),
                metadata
                    .file_infos
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (!f.attrs.padding && !chosen(i)).then_some(f.offset_in_torrent))
                    .collect(),
            );
        }
        let fresh =
            metadata.file_infos.iter().map(|f| AtomicBool::new(fresh_paths.contains(&f.relative_filename))).collect();
        let watch = metadata.file_infos.iter().map(|_| Watch::default()).collect();
        Ok(ProvingStorage {
            fresh: Arc::new(fresh),
            watch: Arc::new(watch),
            inner: Arc::new(inner),
            shape: Arc::new(Shape { lengths, hashes, spans, behind }),
            proof,
            budget: self.budget.clone(),
            pending: Mutex::default(),
            hooks: Hooks::from_env(),
            prover: self.prover.clone(),
            serving: false,
        })
    }

    /// As librqbit's filesystem storage, whose files these are (an output
    /// folder and the torrent's paths): its JSON session persistence, which
    /// accepts only that storage, saves and restores goat's torrents.
    fn is_type_id(&self, type_id: std::any::TypeId) -> bool {
        FilesystemStorageFactory::default().is_type_id(type_id)
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// Catches a file changed behind goat while it seeds: a user's folder
/// seeded in place, a hard-linked local copy whose original was edited, a
/// publisher's folder, any file after a restart. goat hashes a piece once
/// before its first upload; without this, a piece changed after that
/// would go to peers as it now is. Each read for a peer of a file goat has
/// not written in this session compares the file's inode, size, mtime and
/// ctime (one `fstat`) with what they were at its first upload; when they
/// differ, every piece of the file is hashed again before it is next sent.
/// Files goat writes are not watched (their stamps change with every
/// block); they are after a restart.
#[derive(Default)]
struct Watch {
    written: AtomicBool,
    seen: Mutex<Option<crate::safefs::Stamp>>,
}

/// One torrent's storage over its [`Files`]: each piece proven as it is
/// written, and none served that goat has not hashed in this session (the
/// module's doc).
pub struct ProvingStorage {
    inner: Arc<Files>,
    /// Per file: allocated by goat and not written since (see [`Fresh`]).
    fresh: Arc<Vec<AtomicBool>>,
    /// Per file: how it looked when first served, for files goat has not
    /// written in this session ([`Watch`]).
    watch: Arc<Vec<Watch>>,
    shape: Arc<Shape>,
    proof: Arc<Proof>,
    budget: Arc<Budget>,
    pending: Mutex<HashMap<u32, Pending>>,
    hooks: Hooks,
    prover: Prover,
    /// False for the storage librqbit checks the files through when a
    /// torrent is added (no peer is served from it); true for the one
    /// `take` hands to the running torrent, whose reads are gated.
    serving: bool,
}

impl ProvingStorage {
    /// Before librqbit reads `len` bytes at torrent offset `at` of a
    /// running torrent: each piece they touch must be one goat can stand
    /// behind. Pieces being downloaded pass (librqbit is checking what it
    /// wrote); a piece goat has not hashed in this session is read back and
    /// hashed now, before its first block leaves (seed mode); a bad piece
    /// is refused, so no peer ever gets it.
    fn gate(&self, at: u64, len: usize) -> anyhow::Result<()> {
        if !self.serving || len == 0 {
            return Ok(());
        }
        let plen = self.shape.lengths.default_piece_length() as u64;
        for i in super::pieces_touching(at, len as u64, plen).into_iter().flatten() {
            let i = i as u32;
            match self.proof.state(i) {
                piece::PROVEN | piece::WRITTEN | piece::VOUCHED => {}
                piece::BAD => anyhow::bail!("piece {i} failed goat's check and is being fetched again: not served"),
                piece::UNWANTED => anyhow::bail!("piece {i} touches no file chosen for download: not served"),
                // UNKNOWN, or PROVING (asked for before the prover thread
                // reached it): proven here, first.
                _ => {
                    let p = self.piece(i)?;
                    let read_back = self.shape.read_back(&self.inner, p);
                    let ok = read_back.is_ok();
                    self.proof.record(p, read_back.map_err(|e| e.context("hashed before its first upload")));
                    if !ok {
                        anyhow::bail!("piece {i} does not match its hash on disk: not served, fetching it again");
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Watch`]: before file `file_id` is read for a peer, whether it
    /// changed since its first upload; if so, its pieces are hashed again
    /// before they are sent.
    fn watch(&self, file_id: usize) {
        let Some(w) = self.watch.get(file_id) else { return };
        if w.written.load(Ordering::Acquire) {
            return;
        }
        let Ok(f) = self.inner.file(file_id) else { return };
        let Ok(st) = rustix::fs::fstat(&*f) else { return };
        let now = crate::safefs::Stamp::of(&st);
        let mut seen = lock(&w.seen);
        match *seen {
            None => *seen = Some(now),
            Some(was) if was == now => {}
            Some(_) => {
                *seen = Some(now);
                drop(seen);
                let Some(span) = self.shape.spans.get(file_id) else { return };
                let plen = self.shape.lengths.default_piece_length() as u64;
                let Some(pieces) = super::pieces_touching(span.offset, span.len, plen) else { return };
                tracing::warn!(target: "goat", "{} changed while goat seeds it: its pieces are hashed again before they are sent", self.inner.shown(file_id));
                self.proof.forget(pieces);
            }
        }
    }

    /// A block librqbit writes: gathered, or written through. A block whose
    /// write fails is kept in memory instead, and its piece's write is
    /// tried again when the piece completes; librqbit would otherwise stop
    /// the whole torrent at the first failed write.
    fn write_block(
        &self,
        file_id: usize,
        offset: u64,
        bufs: &[&[u8]],
        write: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.written(file_id);
        let piece = self
            .shape
            .spans
            .get(file_id)
            .map(|s| (s.offset + offset) / self.shape.lengths.default_piece_length() as u64);
        if let Some(i) = piece.and_then(|i| u32::try_from(i).ok()) {
            if self.proof.state(i) != piece::BAD {
                self.proof.set(i, piece::WRITTEN);
            }
        }
        self.hooks.fatal_block_write(piece)?;
        if self.gather(file_id, offset, bufs, false) {
            return Ok(());
        }
        let result = self.hooks.fail_block_write(piece).and_then(|()| write());
        match result {
            Ok(()) => Ok(()),
            Err(e) if self.gather(file_id, offset, bufs, true) => {
                tracing::debug!(target: "goat", "a block of piece {piece:?} could not be written ({e:#}); kept in memory until the piece completes");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Something is being written to `file_id`: it is no longer fresh.
    fn written(&self, file_id: usize) {
        if let Some(f) = self.fresh.get(file_id) {
            f.store(false, Ordering::Release);
        }
        if let Some(w) = self.watch.get(file_id) {
            w.written.store(true, Ordering::Release);
        }
    }

    fn piece(&self, index: u32) -> anyhow::Result<ValidPieceIndex> {
        self.shape.lengths.validate_piece_index(index).ok_or_else(|| anyhow::anyhow!("no piece {index}"))
    }

    /// Write the ranges of a gathered piece that have arrived: one write
    /// per file for a whole piece.
    fn write_pending(&self, index: u32, p: &Pending) -> anyhow::Result<()> {
        let start = self.shape.lengths.piece_offset(self.piece(index)?);
        for &(a, b) in &p.have {
            for (id, at, into, n, padding) in self.shape.parts(start + a as u64, (b - a) as u64) {
                if !padding {
                    self.inner.pwrite_all(id, at, &p.data[a + into..a + into + n])?;
                }
            }
        }
        Ok(())
    }

    /// Write out and forget every gathered piece (before the storage is
    /// handed on, or to make room).
    fn write_all_pending(&self, only_stale: bool) -> anyhow::Result<()> {
        let taken: Vec<(u32, Pending)> = {
            let mut g = lock(&self.pending);
            let keys: Vec<u32> =
                g.iter().filter(|(_, p)| !only_stale || p.touched.elapsed() >= STALE).map(|(k, _)| *k).collect();
            keys.into_iter().filter_map(|k| g.remove(&k).map(|p| (k, p))).collect()
        };
        let mut result = Ok(());
        for (k, p) in taken {
            if let Err(e) = self.write_pending(k, &p) {
                result = Err(e);
            }
            self.budget.give(p.data);
        }
        result
    }

    /// Gather a block written at `offset` of file `file_id`. Returns false
    /// when it is not gathered (it spans pieces, or no budget is left) and
    /// must go to the disk as it is.
    fn gather(&self, file_id: usize, offset: u64, bufs: &[&[u8]], rescue: bool) -> bool {
        let Some(span) = self.shape.spans.get(file_id) else {
            return false;
        };
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let at = span.offset + offset;
        let plen = self.shape.lengths.default_piece_length() as u64;
        let index = (at / plen) as u32;
        let Some(piece) = self.shape.lengths.validate_piece_index(index) else {
            return false;
        };
        let from = (at - self.shape.lengths.piece_offset(piece)) as usize;
        let size = self.shape.lengths.piece_length(piece) as usize;
        if from + len > size {
            return false;
        }
        let mut g = lock(&self.pending);
        if !g.contains_key(&index) {
            // Gathering off (the default) and no failed write to keep: one
            // lock per block, no more.
            if !rescue && self.budget.limit == 0 {
                return false;
            }
            drop(g);
            let data = match self.budget.take(size, rescue) {
                Some(d) => d,
                None => {
                    if self.write_all_pending(true).is_err() {
                        return false;
                    }
                    let Some(d) = self.budget.take(size, rescue) else {
                        return false;
                    };
                    d
                }
            };
            g = lock(&self.pending);
            // Another thread may have started this piece meanwhile.
            match g.entry(index) {
                std::collections::hash_map::Entry::Occupied(_) => self.budget.give(data),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Pending { data, have: Vec::new(), touched: Instant::now() });
                }
            }
        }
        let Some(p) = g.get_mut(&index) else {
            return false;
        };
        let mut pos = from;
        for b in bufs {
            p.data[pos..pos + b.len()].copy_from_slice(b);
            pos += b.len();
        }
        p.add(from, from + len);
        true
    }

    /// Lay gathered bytes over `buf`, the range `at..` of the torrent.
    /// Returns true when `buf` was wholly answered from one buffer.
    fn overlay(&self, at: u64, buf: &mut [u8]) -> bool {
        let g = lock(&self.pending);
        if g.is_empty() {
            return false;
        }
        let plen = self.shape.lengths.default_piece_length() as u64;
        let end = at + buf.len() as u64;
        let mut whole = false;
        for index in (at / plen) as u32..=((end - 1) / plen) as u32 {
            let Some(p) = g.get(&index) else { continue };
            let pstart = index as u64 * plen;
            let (from, to) = (at.max(pstart), end.min(pstart + p.data.len() as u64));
            let (pf, pt) = ((from - pstart) as usize, (to - pstart) as usize);
            if from == at && to == end && p.covers(pf, pt) {
                buf.copy_from_slice(&p.data[pf..pt]);
                whole = true;
                break;
            }
            for &(a, b) in &p.have {
                let (x, y) = (a.max(pf), b.min(pt));
                if x < y {
                    let dst = (pstart + x as u64 - at) as usize;
                    buf[dst..dst + (y - x)].copy_from_slice(&p.data[x..y]);
                }
            }
        }
        whole
    }

    /// Flip one byte of `piece` on disk (the test hook).
    #[cfg(feature = "test-hooks")]
    fn corrupt(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        let start = self.shape.lengths.piece_offset(piece);
        if let Some((id, at, _, _, _)) = self.shape.parts(start, 1).find(|p| !p.4) {
            let mut b = [0u8; 1];
            self.inner.pread_exact(id, at, &mut b)?;
            b[0] ^= 0xff;
            self.inner.pwrite_all(id, at, &b)?;
        }
        Ok(())
    }

    /// Write piece `i` if it was gathered, then have it proven from the
    /// disk.
    fn complete(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        let i = piece.get();
        // librqbit has already set the piece's have bit, so a peer may ask
        // for it now. A gathered piece stays readable from its buffer
        // until the write is done (the lock is held across it), and one
        // whose write fails is marked bad before its buffer goes: no read
        // ever falls through to bytes that are not on the disk.
        let mut g = lock(&self.pending);
        if let Some(p) = g.get(&i) {
            let written = self
                .hooks
                .fail_piece_write(i)
                .and_then(|()| self.write_pending(i, p))
                .map_err(|e| e.context("could not be written"));
            let whole = p.have == [(0, p.data.len())];
            if written.is_err() {
                self.proof.set(i, piece::BAD);
            }
            if let Some(p) = g.remove(&i) {
                self.budget.give(p.data);
            }
            drop(g);
            written?;
            if whole {
                self.proof.gathered.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            drop(g);
        }
        // From here a read hashes the piece first, until the prover has.
        self.proof.set(i, piece::PROVING);
        #[cfg(feature = "test-hooks")]
        if self.hooks.corrupt(i) {
            self.corrupt(piece)?;
        }
        self.prover.prove(Job {
            files: self.inner.clone(),
            shape: self.shape.clone(),
            proof: self.proof.clone(),
            piece,
        });
        Ok(())
    }
}

impl TorrentStorage for ProvingStorage {
    fn init(&mut self, _shared: &ManagedTorrentShared, _metadata: &TorrentMetadata) -> anyhow::Result<()> {
        self.inner.init()
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let Some(span) = self.shape.spans.get(file_id) else {
            return self.inner.pread_exact(file_id, offset, buf);
        };
        if self.serving {
            self.watch(file_id);
        }
        self.gate(span.offset + offset, buf.len())?;
        if buf.is_empty() || self.overlay(span.offset + offset, buf) {
            return Ok(());
        }
        if self.fresh.get(file_id).is_some_and(|f| f.load(Ordering::Acquire)) {
            anyhow::bail!("file {file_id} was allocated by goat and nothing is written to it yet");
        }
        // A file not chosen holds only what it shares with chosen ones: the
        // rest is not read (the part file has nothing there, and librqbit's
        // check would hash the holes).
        if self.inner.in_parts(file_id).is_some() {
            let plen = self.shape.lengths.default_piece_length() as u64;
            let pieces = super::pieces_touching(span.offset + offset, buf.len() as u64, plen);
            if pieces.into_iter().flatten().any(|i| self.proof.unwanted(i as u32)) {
                anyhow::bail!("file {file_id} was not chosen for download");
            }
        }
        crate::filebuf::read_into(offset, buf, |pos, into| self.inner.pread_exact(file_id, pos, into))?;
        // Blocks that arrived since are newer than the disk.
        self.overlay(span.offset + offset, buf);
        Ok(())
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        self.write_block(file_id, offset, &[buf], || self.inner.pwrite_all(file_id, offset, buf))
    }

    fn pwrite_all_vectored(&self, file_id: usize, offset: u64, bufs: [IoSlice<'_>; 2]) -> anyhow::Result<usize> {
        let n = bufs[0].len() + bufs[1].len();
        let (a, b) = (&*bufs[0], &*bufs[1]);
        self.write_block(file_id, offset, &[a, b], || {
            self.inner.pwrite_all_vectored(file_id, offset, [IoSlice::new(a), IoSlice::new(b)]).map(|_| ())
        })?;
        Ok(n)
    }

    fn remove_file(&self, _file_id: usize, filename: &Path) -> anyhow::Result<()> {
        self.inner.remove_file(filename)
    }

    fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        self.inner.remove_directory_if_empty(path)
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        self.inner.ensure_file_length(file_id, length)
    }

    /// librqbit hands the storage on when a torrent pauses: gathered blocks
    /// are written first, so nothing that arrived is lost.
    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        self.write_all_pending(false)?;
        Ok(Box::new(ProvingStorage {
            inner: self.inner.clone(),
            fresh: self.fresh.clone(),
            watch: self.watch.clone(),
            shape: self.shape.clone(),
            proof: self.proof.clone(),
            budget: self.budget.clone(),
            pending: Mutex::default(),
            hooks: self.hooks,
            prover: self.prover.clone(),
            serving: true,
        }))
    }

    fn on_piece_completed(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        let i = piece.get();
        self.complete(piece).map_err(|e| {
            let context = format!("piece {i} failed goat's proof");
            self.proof.record(piece, Err(e));
            anyhow::anyhow!(context)
        })
    }
}

impl Drop for ProvingStorage {
    fn drop(&mut self) {
        for (_, p) in lock(&self.pending).drain() {
            self.budget.give(p.data);
        }
    }
}

#[cfg(test)]
mod tests;

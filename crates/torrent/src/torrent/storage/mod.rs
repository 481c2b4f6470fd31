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

use super::files::{Files, Pool};
use crate::filebuf::FileBuf;
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

/// The memory a block whose write failed may be kept in until its piece
/// is written again (the rescue budget), whatever `--piece-buffer` says.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// A buffered piece no block has reached for this long is written out when
/// another piece needs its room.
pub const STALE: Duration = Duration::from_secs(10);

/// Piece buffers, shared by every torrent of a session: at most `limit`
/// bytes of them exist, in use or kept for the next piece. Keeping them
/// matters: a fresh 4 MiB allocation is a fresh mapping whose every page
/// faults on first touch, which cost more system time than the writes it
/// saved (measured: docs/benchmarks.md).
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    /// Bytes of buffers that exist (in use or kept).
    used: AtomicUsize,
    kept: Mutex<Vec<Vec<u8>>>,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { limit, used: AtomicUsize::new(0), kept: Mutex::default() })
    }

    /// The session's budget for gathering: none (gathering off, the
    /// measured default), or `--piece-buffer`.
    pub fn from_mib(mib: usize) -> Arc<Budget> {
        Budget::new(mib.saturating_mul(1 << 20))
    }

    /// A buffer of `size` bytes (contents unspecified), or None when the
    /// budget is spent. A `rescue` (a block whose write failed, kept for
    /// the piece's retry) may use [`DEFAULT_BUDGET`] even when gathering
    /// is off.
    fn take(&self, size: usize, rescue: bool) -> Option<Vec<u8>> {
        let limit = if rescue { self.limit.max(DEFAULT_BUDGET) } else { self.limit };
        let mut kept = lock(&self.kept);
        // What is in use, not what is kept, counts against this take's
        // limit: a buffer kept after a rescue must not start gathering
        // when gathering is off.
        let kept_bytes: usize = kept.iter().map(|b| b.len()).sum();
        if self.used().saturating_sub(kept_bytes) + size > limit {
            return None;
        }
        if let Some(i) = kept.iter().position(|b| b.len() == size) {
            return Some(kept.swap_remove(i));
        }
        loop {
            let grew = self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| (u + size <= limit).then_some(u + size))
                .is_ok();
            if grew {
                return Some(vec![0; size]);
            }
            // Room held by kept buffers of other sizes is given back first.
            let other = kept.pop()?;
            self.used.fetch_sub(other.len(), Ordering::AcqRel);
        }
    }

    fn give(&self, buf: Vec<u8>) {
        lock(&self.kept).push(buf);
    }

    /// Bytes of buffers that exist now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// What goat knows of one piece in this session (`Proof::pieces`).
mod hooks;
use hooks::Hooks;

mod piece {
    /// On disk from before this session, as librqbit's fastresume bitfield
    /// or its check says, or not on disk at all: goat has not hashed it.
    pub const UNKNOWN: u8 = 0;
    /// Blocks of it were written in this session: librqbit checks it when
    /// the last one arrives (its reads of the piece pass untouched).
    pub const WRITTEN: u8 = 1;
    /// Complete; goat's read-back is queued.
    pub const PROVING: u8 = 2;
    /// goat read it back from the files and its hash matched.
    pub const PROVEN: u8 = 3;
    /// A write failed, or a read-back did not match: never served, to be
    /// fetched again.
    pub const BAD: u8 = 4;
    /// On disk from before this torrent was added, wholly inside files
    /// goat hashed whole in this session (local copies, by sha256), and
    /// found by librqbit's check: proven, and not written since.
    pub const VOUCHED: u8 = 5;
}

/// What goat's read-back proved of one torrent in this session.
#[derive(Debug, Default)]
pub struct Proof {
    /// Per piece, one of the `piece` states.
    pieces: Vec<std::sync::atomic::AtomicU8>,
    /// Pieces whose write or read-back failed, not yet fetched again.
    failed: Mutex<Vec<u32>>,
    /// Pieces written with one write per file, from a gathered buffer.
    pub gathered: AtomicUsize,
    /// Pieces handed to the prover thread and not proven yet.
    queued: AtomicUsize,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Proof {
    fn new(pieces: usize) -> Proof {
        Proof {
            pieces: (0..pieces).map(|_| std::sync::atomic::AtomicU8::new(piece::UNKNOWN)).collect(),
            ..Default::default()
        }
    }

    fn state(&self, i: u32) -> u8 {
        self.pieces.get(i as usize).map(|p| p.load(Ordering::Acquire)).unwrap_or(piece::BAD)
    }

    fn set(&self, i: u32, state: u8) {
        if let Some(p) = self.pieces.get(i as usize) {
            p.store(state, Ordering::Release);
        }
    }

    /// Every piece proven in this session (a fresh, uninterrupted download).
    pub fn all_proven(&self) -> bool {
        !self.pieces.is_empty()
            && self.pieces.iter().all(|p| matches!(p.load(Ordering::Acquire), piece::PROVEN | piece::VOUCHED))
    }

    /// Piece `i` is proven by goat's hash of whole files and has not been
    /// written since ([`Proof::vouch`]).
    pub fn is_vouched(&self, i: u32) -> bool {
        self.state(i) == piece::VOUCHED
    }

    /// Wait until the prover thread has read back every piece handed to it.
    pub async fn settled(&self) {
        while self.queued.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Some piece failed and waits to be fetched again.
    pub fn has_failed(&self) -> bool {
        !lock(&self.failed).is_empty()
    }

    /// Pieces librqbit may count as done whose bytes goat has not seen
    /// reach the files yet (being written or checked), or that failed:
    /// not to be recorded as durable (`durable::update`).
    pub fn unsettled(&self) -> Vec<u32> {
        self.pieces_where(|s| matches!(s, piece::WRITTEN | piece::BAD))
    }

    /// Pieces found bad in this session (whether or not taken to be
    /// fetched again).
    pub fn bad(&self) -> Vec<u32> {
        self.pieces_where(|s| s == piece::BAD)
    }

    fn pieces_where(&self, keep: impl Fn(u8) -> bool) -> Vec<u32> {
        (0..self.pieces.len() as u32).filter(|&i| keep(self.state(i))).collect()
    }

    /// Take the failed pieces (to be fetched again).
    pub fn take_failed(&self) -> Vec<u32> {
        std::mem::take(&mut *lock(&self.failed))
    }

    /// Pieces whose bytes goat proved another way in this session (they lie
    /// wholly in files whose sha256 goat hashed: local copies) and that
    /// librqbit's check found: proven, unless found bad meanwhile.
    pub fn vouch(&self, pieces: &[u32]) {
        for &i in pieces {
            if let Some(p) = self.pieces.get(i as usize) {
                let _ = p.compare_exchange(piece::UNKNOWN, piece::VOUCHED, Ordering::AcqRel, Ordering::Acquire);
            }
        }
    }

    /// Pieces whose file changed since goat hashed them: not proven any
    /// more, so each is hashed again before it is next served.
    fn forget(&self, pieces: std::ops::RangeInclusive<u64>) {
        for i in pieces {
            if let Some(p) = self.pieces.get(i as usize) {
                let _ = p.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    matches!(s, piece::PROVEN | piece::VOUCHED).then_some(piece::UNKNOWN)
                });
            }
        }
    }

    /// Pieces found bad by another check (a re-read of the files): never
    /// served from now on, and fetched again like goat's own failures.
    pub fn mark_bad(&self, pieces: &[u32]) {
        for &i in pieces {
            if (i as usize) < self.pieces.len() {
                self.fail(i);
            }
        }
    }

    fn fail(&self, i: u32) {
        self.set(i, piece::BAD);
        let mut failed = lock(&self.failed);
        if !failed.contains(&i) {
            failed.push(i);
        }
    }

    /// The verdict of goat's read-back of `piece`.
    fn record(&self, piece: ValidPieceIndex, read_back: anyhow::Result<()>) {
        let i = piece.get();
        match read_back {
            Ok(()) => {
                // A piece found bad meanwhile stays bad until fetched again.
                if let Some(p) = self.pieces.get(i as usize) {
                    let _ = p.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                        (s != piece::BAD).then_some(piece::PROVEN)
                    });
                }
            }
            Err(e) => {
                tracing::warn!(target: "goat", "piece {i} {e:#}: it will be fetched again, and is not served meanwhile");
                self.fail(i);
            }
        }
    }
}

/// How many bytes of pieces may wait for the prover thread; beyond it a
/// piece is proven inline (bounded, and still in the page cache).
const PROVER_QUEUE: usize = 64 << 20;

/// A piece for the prover thread to read back.
struct Job {
    files: Arc<Files>,
    shape: Arc<Shape>,
    proof: Arc<Proof>,
    piece: ValidPieceIndex,
}

impl Job {
    fn len(&self) -> usize {
        self.shape.lengths.piece_length(self.piece) as usize
    }

    fn run(self) {
        let read_back = self.shape.read_back(&self.files, self.piece);
        if let (Ok(()), Some(b)) = (&read_back, &self.shape.behind) {
            b.proven(&self.shape, &self.files, self.piece);
        }
        self.proof.record(self.piece, read_back);
        self.proof.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// goat's prover thread, shared by every torrent of a session. It ends
/// when the last storage and factory holding it are gone.
#[derive(Clone)]
struct Prover {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Bytes of the pieces queued.
    queued: Arc<AtomicUsize>,
}

impl Prover {
    fn start() -> Prover {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let started = std::thread::Builder::new().name("goat-prover".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                let len = job.len();
                job.run();
                q.fetch_sub(len, Ordering::AcqRel);
            }
        });
        if let Err(e) = started {
            tracing::debug!(target: "goat", "no prover thread ({e}): pieces are proven inline");
        }
        Prover { jobs, queued }
    }

    /// Prove `job`'s piece on the prover thread, or here when the queue is
    /// full or the thread is gone.
    fn prove(&self, job: Job) {
        let len = job.len();
        job.proof.queued.fetch_add(1, Ordering::AcqRel);
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > PROVER_QUEUE {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return job.run();
        }
        if let Err(std::sync::mpsc::SendError(job)) = self.jobs.send(job) {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            job.run();
        }
    }
}

/// Proofs by info-hash (hex), shared between the factory and the swarm.
pub type Proofs = Arc<Mutex<HashMap<String, Arc<Proof>>>>;

/// A torrent goat is adding for a download, by info-hash (hex): the files
/// goat has just allocated that hold nothing yet, relative to its output
/// folder (its presence also marks a download, whose proven pieces
/// [`Behind`] drops from the page cache). librqbit's
/// initial check reads every byte of every file that exists; a file goat
/// preallocated is there at full length, so that check would read and
/// hash the whole payload's worth of zeros before the first request (a
/// quarter of goat's CPU time in a 2 GiB fetch, docs/benchmarks.md). Reads
/// of such a file fail until something is written to it, as they fail for
/// a file that does not exist, and librqbit skips it.
pub type Fresh = Arc<Mutex<HashMap<String, HashSet<std::path::PathBuf>>>>;

/// Each torrent's output folder, by info-hash (hex): librqbit keeps its
/// own to itself (`ManagedTorrentShared::options` is private), so goat
/// records the folder of every torrent it adds, and of every torrent in
/// the session file before librqbit restores it.
pub type Folders = Arc<Mutex<HashMap<String, std::path::PathBuf>>>;

/// Torrents seeded from a publisher's own folder, by info-hash (hex): their
/// files are opened read-only and never created, resized or written
/// (`files::Files`).
pub type ReadOnly = Arc<Mutex<HashSet<String>>>;

#[derive(Clone)]
pub struct ProvingFactory {
    proofs: Proofs,
    fresh: Fresh,
    read_only: ReadOnly,
    folders: Folders,
    write_roots: Arc<Vec<std::path::PathBuf>>,
    pool: Arc<Pool>,
    budget: Arc<Budget>,
    prover: Prover,
}

impl ProvingFactory {
    pub fn new(
        proofs: Proofs,
        fresh: Fresh,
        read_only: ReadOnly,
        folders: Folders,
        write_roots: Vec<std::path::PathBuf>,
        budget: Arc<Budget>,
    ) -> ProvingFactory {
        ProvingFactory {
            proofs,
            fresh,
            read_only,
            folders,
            write_roots: Arc::new(write_roots),
            pool: Pool::for_this_process(),
            budget,
            prover: Prover::start(),
        }
    }
}

/// One file's place in the torrent's byte stream.
#[derive(Clone, Copy)]
struct Span {
    offset: u64,
    len: u64,
    padding: bool,
}

/// The torrent's shape, shared by a storage and the one `take` makes.
struct Shape {
    lengths: Lengths,
    hashes: Vec<[u8; 20]>,
    spans: Vec<Span>,
    behind: Option<Arc<Behind>>,
}

/// How many proven pieces stay in the page cache before goat drops the
/// oldest: enough that its writeback, started when it was proven, is done
/// (a dirty page is not dropped).
const BEHIND: usize = 16;

/// A download's proven pieces, dropped from the page cache behind it.
///
/// Why: once goat has proven a piece from the disk, nothing in a fetch
/// reads it again, and a 13-250 GB model would otherwise fill the page
/// cache, evicting what the rest of the machine was using, and make the
/// kernel find fresh memory for every write. So each proven piece's
/// writeback is started at once (`sync_file_range`), and the piece
/// [`BEHIND`] proofs earlier is dropped (`posix_fadvise(DONTNEED)`): the
/// download writes into the same few pages over and over. Measured on
/// 8 GiB from one libtorrent seeder, 3 interleaved rounds: 283-320 MB/s
/// against 201-250 without, libtorrent 207-268 (docs/benchmarks.md). Uploads
/// of those pieces then read from the disk, as they would once the cache
/// had moved on anyway. Both calls are hints: one that fails costs nothing
/// but the cache.
struct Behind {
    proven: Mutex<std::collections::VecDeque<ValidPieceIndex>>,
}

impl Behind {
    /// `piece` is proven: start its writeback, drop the one [`BEHIND`]
    /// proofs before it.
    fn proven(&self, shape: &Shape, files: &Files, piece: ValidPieceIndex) {
        Self::each_part(shape, files, piece, |file, at, n| crate::sys::start_writeback(file, at, n));
        let old = {
            let mut q = lock(&self.proven);
            q.push_back(piece);
            (q.len() > BEHIND).then(|| q.pop_front()).flatten()
        };
        if let Some(old) = old {
            Self::each_part(shape, files, old, |file, at, n| {
                let _ = rustix::fs::fadvise(file, at, std::num::NonZeroU64::new(n), rustix::fs::Advice::DontNeed);
            });
        }
    }

    /// `f(fd, offset, length)` for each part of `piece` in a file that is
    /// open now (the storage's own handles: a hint is not worth an open).
    fn each_part(shape: &Shape, files: &Files, piece: ValidPieceIndex, f: impl Fn(&std::fs::File, u64, u64)) {
        for (id, at, _, n, padding) in shape.piece_parts(piece) {
            if let (false, Some(file)) = (padding, files.if_open(id)) {
                f(&file, at, n as u64);
            }
        }
    }
}

impl Shape {
    /// The parts of the torrent range `start..start+len` in each file:
    /// (file id, offset in file, offset in the range, length, padding).
    fn parts(&self, start: u64, len: u64) -> impl Iterator<Item = (usize, u64, usize, usize, bool)> + '_ {
        super::geometry::parts(&self.spans, start, len, |s| (s.offset, s.len))
            .map(|p| (p.file, p.at, p.in_range, p.len, self.spans[p.file].padding))
    }

    /// [`Shape::parts`] of the whole of `piece`.
    fn piece_parts(&self, piece: ValidPieceIndex) -> impl Iterator<Item = (usize, u64, usize, usize, bool)> + '_ {
        let start = self.lengths.piece_offset(piece);
        self.parts(start, self.lengths.piece_length(piece) as u64)
    }

    /// goat's proof of `piece`: its SHA-1 as `files` now hold it, against
    /// the piece table. Read back through librqbit's own file handles in
    /// runs of [`crate::filebuf::RUN`] bytes, each hashed while it is still in the
    /// core's cache. The buffer is placed for the file offset
    /// (`crate::filebuf` says why) and kept per thread, so a piece costs no
    /// allocation.
    fn read_back(&self, files: &Files, piece: ValidPieceIndex) -> anyhow::Result<()> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<FileBuf> = std::cell::RefCell::default();
        }
        let mut h = crate::hash::Sha1::default();
        SCRATCH.with_borrow_mut(|buf| {
            for (id, at, _, n, padding) in self.piece_parts(piece) {
                buf.runs(at, n, padding, |pos, into| files.pread_exact(id, pos, into), |run| h.update(run))?;
            }
            anyhow::Ok(())
        })?;
        if self.hashes.get(piece.get() as usize) != Some(&h.finish()) {
            anyhow::bail!("read back from the disk does not match its hash");
        }
        Ok(())
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
        let hash = hex::encode(shared.info_hash.0);
        lock(&self.proofs).insert(hash.clone(), proof.clone());
        // Present when goat added the torrent itself for a download (not
        // for one librqbit restored from its session file).
        let fresh_paths = lock(&self.fresh).remove(&hash);
        let behind = fresh_paths.is_some().then(|| Arc::new(Behind { proven: Mutex::default() }));
        let fresh_paths = fresh_paths.unwrap_or_default();
        let Some(output) = lock(&self.folders).get(&hash).cloned() else {
            anyhow::bail!("goat does not know where torrent {hash}'s files are: it was not added by goat");
        };
        let inner = Files::new(
            &output,
            metadata
                .file_infos
                .iter()
                .map(|f| (!f.attrs.padding).then(|| (f.relative_filename.clone(), f.len)))
                .collect(),
            lock(&self.read_only).contains(&hash) || !self.write_roots.iter().any(|r| output.starts_with(r)),
            self.pool.clone(),
        )?;
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

/// A piece being gathered: its bytes and which ranges of it have arrived.
struct Pending {
    data: Vec<u8>,
    /// Sorted, disjoint, merged (start, end) offsets within the piece.
    have: Vec<(usize, usize)>,
    touched: Instant,
}

impl Pending {
    fn add(&mut self, from: usize, to: usize) {
        self.have.push((from, to));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(a, b) in &self.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.have = merged;
        self.touched = Instant::now();
    }

    fn covers(&self, from: usize, to: usize) -> bool {
        self.have.iter().any(|&(a, b)| a <= from && to <= b)
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
mod tests {
    use super::{Budget, Pending, DEFAULT_BUDGET};

    #[test]
    fn a_kept_rescue_buffer_does_not_turn_gathering_on() {
        let off = Budget::new(0);
        assert!(off.take(1024, false).is_none());
        let rescued = off.take(1024, true).expect("a rescue may use the default budget");
        off.give(rescued);
        assert!(off.take(1024, false).is_none(), "gathering is off: no buffer, kept or new");
        assert!(off.take(1024, true).is_some());
        let on = Budget::new(2048);
        let (a, b) = (on.take(1024, false).unwrap(), on.take(1024, false).unwrap());
        assert!(on.take(1024, false).is_none(), "the budget is spent");
        on.give(a);
        assert!(on.take(1024, false).is_some(), "a kept buffer is reused");
        drop(b);
        assert!(on.take(DEFAULT_BUDGET + 1, true).is_none());
    }
    use std::time::Instant;

    /// Pieces leave the page cache [`BEHIND`] proofs after their own, and
    /// the newest stay. On the repository's own filesystem (tmpfs ignores
    /// the hint).
    #[test]
    fn proven_pieces_are_dropped_from_the_page_cache_behind() {
        use super::{Behind, Shape, Span, BEHIND};
        use librqbit_core::lengths::Lengths;
        const PIECE: usize = 256 << 10;
        let pieces = BEHIND + 4;
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("f");
        // Written as librqbit writes, in 16 KiB blocks (the size of the
        // page-cache folios follows the writes').
        let mut out = std::fs::File::create(&path).unwrap();
        for _ in 0..PIECE * pieces / (16 << 10) {
            std::io::Write::write_all(&mut out, &[7u8; 16 << 10]).unwrap();
        }
        out.sync_all().unwrap();
        let files = super::Files::new(
            dir.path(),
            vec![Some(("f".into(), (PIECE * pieces) as u64))],
            true,
            super::Pool::with_cap(4),
        )
        .unwrap();
        let file = files.file(0).unwrap();
        let lengths = Lengths::new((PIECE * pieces) as u64, PIECE as u32).unwrap();
        let shape = Shape {
            lengths,
            hashes: Vec::new(),
            spans: vec![Span { offset: 0, len: (PIECE * pieces) as u64, padding: false }],
            behind: None,
        };
        let behind = Behind { proven: Default::default() };
        // Pages of piece `i` in the page cache.
        let resident = |i: usize| crate::sys::resident_pages(&file, (i * PIECE) as u64, PIECE).unwrap();
        assert_eq!(resident(0), PIECE / 4096, "the file was just written: cached");
        for i in 0..pieces {
            behind.proven(&shape, &files, lengths.validate_piece_index(i as u32).unwrap());
        }
        for i in 0..pieces - BEHIND {
            assert_eq!(resident(i), 0, "piece {i} is still cached");
        }
        for i in pieces - BEHIND..pieces {
            assert_eq!(resident(i), PIECE / 4096, "piece {i}, among the newest, was dropped");
        }
    }

    #[test]
    fn arrived_ranges_merge_and_cover() {
        let mut p = Pending { data: vec![0; 64], have: vec![], touched: Instant::now() };
        p.add(16, 32);
        p.add(0, 16);
        p.add(48, 64);
        assert_eq!(p.have, vec![(0, 32), (48, 64)]);
        assert!(p.covers(0, 32) && !p.covers(16, 48));
        p.add(32, 48);
        assert_eq!(p.have, vec![(0, 64)]);
    }
}

//! A torrent's shape (its files' spans, piece lengths and hashes), the
//! read-back of one piece, and the page-cache hints behind the proofs.

use super::*;

/// One file's place in the torrent's byte stream.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) padding: bool,
}

/// The torrent's shape, shared by a storage and the one `take` makes.
pub(super) struct Shape {
    pub(super) lengths: Lengths,
    pub(super) hashes: Vec<[u8; 20]>,
    pub(super) spans: Vec<Span>,
    pub(super) behind: Option<Arc<Behind>>,
}

/// How many proven pieces stay in the page cache before goat drops the
/// oldest: enough that its writeback, started when it was proven, is done
/// (a dirty page is not dropped).
pub(super) const BEHIND: usize = 16;

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
pub(super) struct Behind {
    pub(super) proven: Mutex<std::collections::VecDeque<ValidPieceIndex>>,
}

impl Behind {
    /// `piece` is proven: start its writeback, drop the one [`BEHIND`]
    /// proofs before it.
    pub(super) fn proven(&self, shape: &Shape, files: &Files, piece: ValidPieceIndex) {
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
    pub(super) fn each_part(
        shape: &Shape,
        files: &Files,
        piece: ValidPieceIndex,
        f: impl Fn(&std::fs::File, u64, u64),
    ) {
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
    pub(super) fn parts(&self, start: u64, len: u64) -> impl Iterator<Item = (usize, u64, usize, usize, bool)> + '_ {
        crate::torrent::geometry::parts(&self.spans, start, len, |s| (s.offset, s.len))
            .map(|p| (p.file, p.at, p.in_range, p.len, self.spans[p.file].padding))
    }

    /// [`Shape::parts`] of the whole of `piece`.
    pub(super) fn piece_parts(
        &self,
        piece: ValidPieceIndex,
    ) -> impl Iterator<Item = (usize, u64, usize, usize, bool)> + '_ {
        let start = self.lengths.piece_offset(piece);
        self.parts(start, self.lengths.piece_length(piece) as u64)
    }

    /// goat's proof of `piece`: its SHA-1 as `files` now hold it, against
    /// the piece table. Read back through librqbit's own file handles in
    /// runs of [`crate::filebuf::RUN`] bytes, each hashed while it is still in the
    /// core's cache. The buffer is placed for the file offset
    /// (`crate::filebuf` says why) and kept per thread, so a piece costs no
    /// allocation.
    pub(super) fn read_back(&self, files: &Files, piece: ValidPieceIndex) -> anyhow::Result<()> {
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

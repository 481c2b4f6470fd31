//! What goat's read-back proved of one torrent: each piece's state.

use super::*;

pub(super) mod piece {
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
    /// Touches no file chosen for a download in part (`--only`): not
    /// fetched, not proven, and no file of its is read for librqbit's check.
    pub const UNWANTED: u8 = 6;
}

/// What goat's read-back proved of one torrent in this session.
#[derive(Debug, Default)]
pub struct Proof {
    /// Per piece, one of the `piece` states.
    pub(super) pieces: Vec<std::sync::atomic::AtomicU8>,
    /// Pieces whose write or read-back failed, not yet fetched again.
    pub(super) failed: Mutex<Vec<u32>>,
    /// Pieces written with one write per file, from a gathered buffer.
    pub gathered: AtomicUsize,
    /// Pieces handed to the prover thread and not proven yet.
    pub(super) queued: AtomicUsize,
}

impl Proof {
    pub(super) fn new(pieces: usize) -> Proof {
        Proof {
            pieces: (0..pieces).map(|_| std::sync::atomic::AtomicU8::new(piece::UNKNOWN)).collect(),
            ..Default::default()
        }
    }

    pub(super) fn state(&self, i: u32) -> u8 {
        self.pieces.get(i as usize).map(|p| p.load(Ordering::Acquire)).unwrap_or(piece::BAD)
    }

    pub(super) fn set(&self, i: u32, state: u8) {
        if let Some(p) = self.pieces.get(i as usize) {
            p.store(state, Ordering::Release);
        }
    }

    /// Every piece proven in this session (a fresh, uninterrupted
    /// download), but those a download in part does not want.
    pub fn all_proven(&self) -> bool {
        self.pieces.iter().any(|p| p.load(Ordering::Acquire) != piece::UNWANTED)
            && self
                .pieces
                .iter()
                .all(|p| matches!(p.load(Ordering::Acquire), piece::PROVEN | piece::VOUCHED | piece::UNWANTED))
    }

    /// Pieces `unwanted` says touch no chosen file (a download in part).
    pub(super) fn leave_out(&self, unwanted: impl Fn(u32) -> bool) {
        for (i, p) in self.pieces.iter().enumerate() {
            if unwanted(i as u32) {
                p.store(piece::UNWANTED, Ordering::Release);
            }
        }
    }

    /// Piece `i` is left out of a download in part.
    pub(super) fn unwanted(&self, i: u32) -> bool {
        self.state(i) == piece::UNWANTED
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

    pub(super) fn pieces_where(&self, keep: impl Fn(u8) -> bool) -> Vec<u32> {
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
    pub(super) fn forget(&self, pieces: std::ops::RangeInclusive<u64>) {
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

    pub(super) fn fail(&self, i: u32) {
        self.set(i, piece::BAD);
        let mut failed = lock(&self.failed);
        if !failed.contains(&i) {
            failed.push(i);
        }
    }

    /// The verdict of goat's read-back of `piece`.
    pub(super) fn record(&self, piece: ValidPieceIndex, read_back: anyhow::Result<()>) {
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

//! Piece buffers for gathering, shared by every torrent of a session
//! under one memory budget.

use super::*;

/// The memory a block whose write failed may be kept in until its piece
/// is written again (the rescue budget), whatever `--piece-buffer` says.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// Piece buffers, shared by every torrent of a session: at most `limit`
/// bytes of them exist, in use or kept for the next piece. Keeping them
/// matters: a fresh 4 MiB allocation is a fresh mapping whose every page
/// faults on first touch, which cost more system time than the writes it
/// saved (measured: docs/benchmarks.md).
#[derive(Debug)]
pub struct Budget {
    pub(super) limit: usize,
    /// Bytes of buffers that exist (in use or kept).
    pub(super) used: AtomicUsize,
    pub(super) kept: Mutex<Vec<Vec<u8>>>,
}

impl Budget {
    /// A budget of `limit` bytes of piece buffers (0: gathering off).
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
    pub(super) fn take(&self, size: usize, rescue: bool) -> Option<Vec<u8>> {
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

    pub(super) fn give(&self, buf: Vec<u8>) {
        lock(&self.kept).push(buf);
    }

    /// Bytes of buffers that exist now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

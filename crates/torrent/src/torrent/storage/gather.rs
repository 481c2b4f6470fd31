//! A piece being gathered in memory before it is written whole.

use super::*;

/// A buffered piece no block has reached for this long is written out when
/// another piece needs its room.
pub const STALE: Duration = Duration::from_secs(10);

/// A piece being gathered: its bytes and which ranges of it have arrived.
pub(super) struct Pending {
    pub(super) data: Vec<u8>,
    /// Sorted, disjoint, merged (start, end) offsets within the piece.
    pub(super) have: Vec<(usize, usize)>,
    pub(super) touched: Instant,
}

impl Pending {
    pub(super) fn add(&mut self, from: usize, to: usize) {
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

    pub(super) fn covers(&self, from: usize, to: usize) -> bool {
        self.have.iter().any(|&(a, b)| a <= from && to <= b)
    }
}

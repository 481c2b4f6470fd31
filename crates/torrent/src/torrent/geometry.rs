//! Where a torrent's bytes lie: its files laid end to end in one byte
//! stream, cut into pieces. The one home of the arithmetic between pieces
//! and files, for the storage layer, the change watch, local copies,
//! durable syncs, `verify`'s recheck and the web-seed bridge.

use std::ops::RangeInclusive;

/// The pieces that bytes `offset..offset + len` of a torrent touch; None
/// for no bytes (or a piece length of 0).
pub fn pieces_touching(offset: u64, len: u64, piece_length: u64) -> Option<RangeInclusive<u64>> {
    (len > 0 && piece_length > 0).then(|| offset / piece_length..=(offset + len - 1) / piece_length)
}

/// Per piece of a torrent of `pieces` pieces of `piece_length`, whether it
/// touches one of `spans` ((offset, length) in the torrent): the pieces a
/// download in part wants, from its chosen files.
pub fn pieces_wanted(spans: impl IntoIterator<Item = (u64, u64)>, piece_length: u64, pieces: usize) -> Vec<bool> {
    let mut wanted = vec![false; pieces];
    for (offset, len) in spans {
        for p in pieces_touching(offset, len, piece_length).into_iter().flatten() {
            if let Some(w) = wanted.get_mut(p as usize) {
                *w = true;
            }
        }
    }
    wanted
}

/// The part of one file a range of the torrent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The file's index.
    pub file: usize,
    /// Where the part starts in the file.
    pub at: u64,
    /// Where it starts in the range.
    pub in_range: usize,
    /// Bytes in the part.
    pub len: usize,
}

/// The parts of the torrent range `start..start + len` in each file, in
/// order. `files` are in torrent order and `span` gives each one's
/// (offset, length) in the stream. The first file that ends after `start`
/// is found by bisection and the walk stops at the first that begins at
/// or after the range's end: a piece costs the files it touches, not every
/// file of the torrent.
pub fn parts<'a, F>(
    files: &'a [F],
    start: u64,
    len: u64,
    span: impl Fn(&F) -> (u64, u64) + 'a,
) -> impl Iterator<Item = Part> + 'a {
    let end = start + len;
    let first = files.partition_point(|f| {
        let (o, l) = span(f);
        o + l <= start
    });
    let upto = first + files[first..].partition_point(|f| span(f).0 < end);
    files[first..upto].iter().enumerate().filter_map(move |(i, f)| {
        let (o, l) = span(f);
        let (from, to) = (start.max(o), end.min(o + l));
        (from < to).then(|| Part {
            file: first + i,
            at: from - o,
            in_range: (from - start) as usize,
            len: (to - from) as usize,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_cut_at_file_boundaries() {
        // Files of 10, 0, 5 and 20 bytes.
        let files = [(0u64, 10u64), (10, 0), (10, 5), (15, 20)];
        let got: Vec<Part> = parts(&files, 8, 10, |f| *f).collect();
        assert_eq!(
            got,
            vec![
                Part { file: 0, at: 8, in_range: 0, len: 2 },
                Part { file: 2, at: 0, in_range: 2, len: 5 },
                Part { file: 3, at: 0, in_range: 7, len: 3 },
            ]
        );
        assert_eq!(parts(&files, 35, 4, |f| *f).count(), 0);
        assert_eq!(pieces_touching(8, 10, 4), Some(2..=4));
        // Pieces of 4: [2,3) touches piece 0, [9,13) pieces 2 and 3; an
        // empty span none, and one past the end is cut.
        assert_eq!(pieces_wanted([(2, 1), (9, 4), (5, 0), (15, 9)], 4, 5), [true, false, true, true, true]);
        assert_eq!(pieces_touching(8, 0, 4), None);
    }
}

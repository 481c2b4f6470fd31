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
    use super::shape::BEHIND;
    use super::{Behind, Shape, Span};
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

//! Super-seeding (BEP 16) for a torrent goat holds whole: each peer is
//! told of one piece at a time, one that no connected peer holds or is
//! being given (random among them), and of the next once it announces
//! that it has that one. So the origin sends each piece once while its
//! peers stay and trade, and again only when every peer that held it is
//! gone or its taker went quiet; a peer with nothing left to be told gets
//! the rest from the others. A peer that lacks pieces other peers hold and
//! has had none from them for [`IDLE`] (it cannot reach them) is told of
//! the rarest of those, one at a time, so it never waits for good.
//!
//! Why: an origin that announces every piece (librqbit's full bitfield)
//! lets every node of a flash crowd take its first pieces from the origin,
//! the same ones and in parallel: the origin's thin uplink then carries
//! pieces several times over, and blocks of pieces a faster peer finished
//! first are wasted (docs/swarm.md, "A flash crowd": 1.65x the payload at
//! 24 nodes). Told of a different piece each, the nodes take different
//! pieces from the origin and the rest from each other, as BEP 16 intends.
//!
//! How: librqbit 9.1 has no super-seeding and keeps its piece
//! announcements to itself, but every peer connection passes through the
//! gate, decrypted. On librqbit's side of a connection the gate reads the
//! messages it sends (BEP 3 framing), and when librqbit announces the whole
//! torrent (a full BITFIELD, or HAVE ALL) it rewrites that announcement in
//! place into an empty one (zero bits, or HAVE NONE: the same length, so
//! nothing else moves), drops librqbit's own HAVEs, and sends HAVEs of its
//! own choosing at message boundaries. librqbit still answers every request
//! for a piece it has. What the peer announces back is read by `watch.rs`;
//! its HAVE of a piece revealed to it reveals the next. A piece revealed
//! and not announced within [`STALE`] of the last block of it sent (a
//! peer that keeps its HAVEs to itself, or one gone quiet), or within
//! [`GIVEN_AT_MOST`] whatever was sent, counts as not given, so another
//! peer may be told of it: no peer can hold a piece back from the others.
//! librqbit answers a request for a piece it was not told of too (BEP 16
//! leaves that to the seeder; libtorrent refuses them): a peer that ignores
//! the empty bitfield can still take any piece from the origin. A
//! connection on which librqbit announces less than the whole torrent (it
//! is still downloading) is relayed unchanged. Hand-written for the reason
//! `watch.rs` gives: no crate parses a byte stream it does not own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Pieces revealed to a peer and not yet announced back by it, at most.
const AHEAD: usize = 1;
/// A revealed piece not announced back this long after its last block went
/// out lets one more be revealed, and counts as not given.
pub(super) const STALE: Duration = Duration::from_secs(30);
/// A revealed piece not announced back this long after it was revealed
/// counts as not given, however its blocks go (a peer asking for one block
/// now and then must not hold it back from the others).
const GIVEN_AT_MOST: Duration = Duration::from_secs(300);
/// A PIECE message (BEP 3).
const PIECE: u8 = 7;
/// A peer that lacks pieces others hold, and announced none it had from
/// them for this long, is told of those too.
pub(super) const IDLE: Duration = Duration::from_secs(10);

/// The wire format's constants, as `watch.rs` reads them; a message longer
/// than `MAX_MESSAGE` means the stream is not BEP 3, and it is relayed
/// unchanged from there on.
use super::watch::{fill, Bits, BITFIELD, HANDSHAKE, HAVE, HAVE_ALL, HAVE_NONE, MAX_MESSAGE};

/// One connection's part in super-seeding.
#[derive(Debug, Default)]
pub struct Reveal {
    inner: Mutex<Conn>,
    /// Woken when HAVEs wait to be sent.
    pub(super) wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Conn {
    /// librqbit announced the whole torrent on this connection: it is
    /// super-seeded.
    on: bool,
    /// Revealed to the peer and not yet announced back, with when.
    given: Vec<Given>,
    /// Every piece revealed to it (never revealed twice): a bit per piece,
    /// so what a peer can make goat keep is bounded by the torrent's size.
    told: Bits,
    /// HAVEs to send.
    queue: Vec<u32>,
    /// Since when the peer has lacked pieces other peers hold and had none
    /// from them (None: it is getting them, or there are none).
    waiting: Option<Instant>,
}

impl Conn {
    /// Revealed pieces still being taken (see [`Given::fresh`]) that the
    /// peer does not hold yet.
    fn taking(&self, holds: impl Fn(u32) -> bool) -> usize {
        self.given.iter().filter(|g| g.fresh() && !holds(g.piece)).count()
    }
}

/// A piece revealed to a peer and not yet announced back.
#[derive(Debug, Clone, Copy)]
struct Given {
    piece: u32,
    at: Instant,
    /// When its last block went to the peer.
    block: Option<Instant>,
}

impl Given {
    /// Still being taken: told of less than [`STALE`] ago or sent a block
    /// of it since, and told of less than [`GIVEN_AT_MOST`] ago.
    fn fresh(&self) -> bool {
        let last = self.block.map_or(self.at, |b| b.max(self.at));
        last.elapsed() < STALE && self.at.elapsed() < GIVEN_AT_MOST
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Each torrent's super-seeded connections.
#[derive(Debug, Default)]
pub struct SuperSeed {
    torrents: Mutex<HashMap<[u8; 20], Torrent>>,
}

#[derive(Debug, Default)]
struct Torrent {
    conns: Vec<Weak<Reveal>>,
}

impl SuperSeed {
    /// A new connection of torrent `info_hash`.
    pub(super) fn join(&self, info_hash: [u8; 20]) -> Arc<Reveal> {
        let r = Arc::new(Reveal::default());
        let mut t = lock(&self.torrents);
        let e = t.entry(info_hash).or_default();
        e.conns.retain(|w| w.strong_count() > 0);
        e.conns.push(Arc::downgrade(&r));
        r
    }

    /// Reveal to `conn` the piece it should be told of now, if it has no
    /// revealed piece still being taken ([`Given::fresh`]): one that no
    /// connected peer has announced (`avail`, `watch.rs`) nor is being
    /// given, that `conn`'s peer does not hold (`holds`) and was not told
    /// of, random among them. None such: nothing while the peer gets the
    /// pieces the others hold from them; after [`IDLE`] without, the rarest
    /// of those that no one is being given. Returns the piece queued, if
    /// any, and whether it was one others hold.
    pub(super) fn top_up(
        &self,
        info_hash: &[u8; 20],
        conn: &Reveal,
        avail: &[u16],
        holds: impl Fn(u32) -> bool,
        rng: &mut fastrand::Rng,
    ) -> Option<(u32, bool)> {
        let pieces = avail.len();
        let mut t = lock(&self.torrents);
        let tor = t.entry(*info_hash).or_default();
        tor.conns.retain(|w| w.strong_count() > 0);
        {
            let c = lock(&conn.inner);
            if !c.on || c.taking(&holds) >= AHEAD {
                return None;
            }
        }
        // How many connections of the torrent are being given each piece.
        let mut given = vec![0u16; pieces];
        for other in tor.conns.iter().filter_map(Weak::upgrade) {
            let c = lock(&other.inner);
            for g in &c.given {
                if g.fresh() {
                    if let Some(g) = given.get_mut(g.piece as usize) {
                        *g = g.saturating_add(1);
                    }
                }
            }
        }
        let mut c = lock(&conn.inner);
        // Stale ones stay told; they no longer hold a place. Nor do pieces
        // the peer turns out to hold (told of before its bitfield came).
        c.given.retain(|g| g.fresh() && !holds(g.piece));
        let lacks: Vec<u32> = (0..pieces as u32).filter(|&p| !holds(p) && !c.told.has(p)).collect();
        let mut open: Vec<u32> =
            lacks.iter().copied().filter(|&p| avail[p as usize] == 0 && given[p as usize] == 0).collect();
        let strict = !open.is_empty();
        if open.is_empty() {
            let elsewhere: Vec<u32> = lacks.into_iter().filter(|&p| given[p as usize] == 0).collect();
            if elsewhere.is_empty() {
                c.waiting = None;
            } else if c.waiting.get_or_insert_with(Instant::now).elapsed() >= IDLE {
                let least = elsewhere.iter().map(|&p| avail[p as usize]).min().unwrap_or(0);
                open = elsewhere.into_iter().filter(|&p| avail[p as usize] == least).collect();
            }
        }
        if open.is_empty() {
            return None;
        }
        let p = open[rng.usize(0..open.len())];
        c.told.set(p, pieces as u32);
        c.given.push(Given { piece: p, at: Instant::now(), block: None });
        c.queue.push(p);
        Some((p, !strict))
    }
}

impl Reveal {
    /// librqbit announced the whole torrent: super-seed this connection.
    fn start(&self) {
        lock(&self.inner).on = true;
    }

    /// Whether this connection is super-seeded.
    pub(super) fn on(&self) -> bool {
        lock(&self.inner).on
    }

    /// The peer announced `piece` (`watch.rs`): if it was revealed to it, its
    /// place is free for the next. Returns whether it was.
    pub(super) fn announced(&self, piece: u32) -> bool {
        let mut c = lock(&self.inner);
        let before = c.given.len();
        c.given.retain(|g| g.piece != piece);
        if c.given.len() == before {
            // Had from someone else: it reaches the others.
            c.waiting = None;
        }
        c.on && c.given.len() != before
    }

    /// Super-seeded, with no revealed piece still being taken that the
    /// peer does not hold (`holds`): a piece may be due (one whose holders
    /// left since, or whose taker went quiet).
    pub(super) fn idle(&self, holds: impl Fn(u32) -> bool) -> bool {
        let c = lock(&self.inner);
        c.on && c.taking(holds) < AHEAD
    }

    /// A block of `piece` went to the peer.
    fn sent(&self, piece: u32) {
        let mut c = lock(&self.inner);
        if let Some(g) = c.given.iter_mut().find(|g| g.piece == piece) {
            g.block = Some(Instant::now());
        }
    }

    fn take_queue(&self) -> Vec<u32> {
        std::mem::take(&mut lock(&self.inner).queue)
    }
}

/// Where the rewriter is in librqbit's stream.
#[derive(Debug)]
enum State {
    Handshake(usize),
    Length([u8; 4], usize),
    /// The message's length is known; its id is next.
    Id(u32),
    /// The rest of a BITFIELD: `left` bytes, and whether all seen were 0xff
    /// (the last byte's spare bits aside).
    Bitfield {
        left: u32,
        full: bool,
    },
    /// librqbit's own HAVE: dropped (`left` bytes of it still to come).
    Drop(u32),
    /// A PIECE on a super-seeded connection, passed on while its index (the
    /// first 4 of `left` bytes) is read.
    Piece {
        left: u32,
        index: [u8; 4],
        got: usize,
    },
    /// Any other message's remaining bytes, passed on.
    Pass(u32),
    /// Not BEP 3: everything passed on unchanged.
    Off,
}

/// Rewrites librqbit's side of one connection (see the module doc).
pub(super) struct Rewriter {
    state: State,
    pieces: u32,
    reveal: Arc<Reveal>,
    /// A BITFIELD's bytes held until it is known to be full (then written
    /// as zeros) or not (then written as they are).
    held: Vec<u8>,
}

impl Rewriter {
    /// `handshake_sent`: librqbit's handshake already went to the peer (an
    /// outgoing connection: the gate read it to open the link).
    pub(super) fn new(reveal: Arc<Reveal>, pieces: u32, handshake_sent: bool) -> Rewriter {
        let state = if handshake_sent { State::Length([0; 4], 0) } else { State::Handshake(0) };
        Rewriter { state, pieces, reveal, held: Vec::new() }
    }

    /// Between two messages of a stream read as BEP 3: queued HAVEs (or a
    /// keep-alive) may be sent now.
    pub(super) fn at_boundary(&self) -> bool {
        matches!(self.state, State::Length(_, 0))
    }

    /// Queued HAVEs, as messages, appended to `out` (only at a boundary).
    pub(super) fn inject(&mut self, out: &mut Vec<u8>) {
        if !self.at_boundary() {
            return;
        }
        for p in self.reveal.take_queue() {
            out.extend_from_slice(&5u32.to_be_bytes());
            out.push(HAVE);
            out.extend_from_slice(&p.to_be_bytes());
        }
    }

    /// librqbit's bytes `data`, rewritten into `out`. Returns true when
    /// this connection has just become super-seeded (its first reveals
    /// are due).
    pub(super) fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> bool {
        let mut started = false;
        while !data.is_empty() {
            match &mut self.state {
                State::Off => {
                    out.extend_from_slice(data);
                    return started;
                }
                State::Handshake(seen) => {
                    let take = (HANDSHAKE - *seen).min(data.len());
                    out.extend_from_slice(&data[..take]);
                    *seen += take;
                    data = &data[take..];
                    if *seen == HANDSHAKE {
                        self.state = State::Length([0; 4], 0);
                    }
                }
                State::Length(buf, got) => {
                    if fill(buf, got, &mut data).1 {
                        let len = u32::from_be_bytes(*buf);
                        let header = *buf;
                        self.state = match len {
                            0 => {
                                out.extend_from_slice(&header);
                                State::Length([0; 4], 0)
                            }
                            n if n > MAX_MESSAGE => {
                                out.extend_from_slice(&header);
                                State::Off
                            }
                            n => {
                                // The header is written with the id, once
                                // the message's fate is known.
                                self.held.clear();
                                self.held.extend_from_slice(&header);
                                State::Id(n)
                            }
                        };
                    }
                }
                State::Id(len) => {
                    let (id, left) = (data[0], *len - 1);
                    data = &data[1..];
                    let bitfield = self.pieces.div_ceil(8);
                    self.state = match id {
                        BITFIELD if left == bitfield => {
                            self.held.push(id);
                            State::Bitfield { left, full: true }
                        }
                        HAVE_ALL if left == 0 => {
                            self.held.clear();
                            out.extend_from_slice(&1u32.to_be_bytes());
                            out.push(HAVE_NONE);
                            self.reveal.start();
                            started = true;
                            State::Pass(0)
                        }
                        HAVE if left == 4 && self.reveal.on() => State::Drop(4),
                        _ => {
                            out.extend_from_slice(&self.held);
                            out.push(id);
                            if id == PIECE && left >= 4 && self.reveal.on() {
                                State::Piece { left, index: [0; 4], got: 0 }
                            } else {
                                State::Pass(left)
                            }
                        }
                    };
                }
                State::Bitfield { left, full } => {
                    let take = (*left as usize).min(data.len());
                    let total = self.pieces.div_ceil(8);
                    for (k, b) in data[..take].iter().enumerate() {
                        let at = total - *left + k as u32;
                        let want = if at + 1 == total && !self.pieces.is_multiple_of(8) {
                            0xffu8 << (8 - self.pieces % 8)
                        } else {
                            0xff
                        };
                        *full &= *b & want == want;
                    }
                    self.held.extend_from_slice(&data[..take]);
                    *left -= take as u32;
                    data = &data[take..];
                    if *left == 0 {
                        if *full {
                            // The whole torrent: announced as nothing.
                            let header = 5usize;
                            self.held[header..].fill(0);
                            self.reveal.start();
                            started = true;
                        }
                        out.extend_from_slice(&self.held);
                        // A bitfield comes once: its buffer is not kept.
                        self.held = Vec::new();
                        self.state = State::Pass(0);
                    }
                }
                State::Drop(left) => {
                    let take = (*left as usize).min(data.len());
                    *left -= take as u32;
                    data = &data[take..];
                    if *left == 0 {
                        self.held.clear();
                        self.state = State::Pass(0);
                    }
                }
                State::Piece { left, index, got } => {
                    let (taken, full) = fill(index, got, &mut data);
                    out.extend_from_slice(taken);
                    *left -= taken.len() as u32;
                    if full {
                        self.reveal.sent(u32::from_be_bytes(*index));
                        self.state = State::Pass(*left);
                    }
                }
                State::Pass(left) => {
                    let take = (*left as usize).min(data.len());
                    out.extend_from_slice(&data[..take]);
                    *left -= take as u32;
                    data = &data[take..];
                }
            }
            if matches!(self.state, State::Pass(0)) {
                self.state = State::Length([0; 4], 0);
            }
            self.inject(out);
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use super::super::watch::tests::{handshake, msg};
    use super::*;

    /// librqbit as a seeder of 12 pieces: handshake, BEP 10 handshake, a
    /// full bitfield, a HAVE, an UNCHOKE, a PIECE.
    fn seeder_stream(bitfield: &[u8]) -> Vec<u8> {
        let mut s = handshake();
        s.extend(msg(20, b"d1:md11:ut_metadatai1eee"));
        s.extend(msg(BITFIELD, bitfield));
        s.extend(msg(HAVE, &3u32.to_be_bytes()));
        s.extend(0u32.to_be_bytes());
        s.extend(msg(1, &[]));
        s.extend(msg(7, &[7u8; 8 + 300]));
        s
    }

    fn rewrite(stream: &[u8], step: usize, reveal: &Arc<Reveal>) -> (Vec<u8>, bool) {
        let mut r = Rewriter::new(reveal.clone(), 12, false);
        let mut out = Vec::new();
        let mut started = false;
        for c in stream.chunks(step) {
            started |= r.feed(c, &mut out);
        }
        (out, started)
    }

    #[test]
    fn a_full_bitfield_becomes_empty_and_librqbits_haves_are_dropped_in_any_split() {
        let full = [0xff, 0xf0];
        let s = seeder_stream(&full);
        let mut want = handshake();
        want.extend(msg(20, b"d1:md11:ut_metadatai1eee"));
        want.extend(msg(BITFIELD, &[0, 0]));
        want.extend(0u32.to_be_bytes());
        want.extend(msg(1, &[]));
        want.extend(msg(7, &[7u8; 8 + 300]));
        for step in [1, 2, 5, 68, 70, s.len()] {
            let reveal = Arc::new(Reveal::default());
            let (out, started) = rewrite(&s, step, &reveal);
            assert!(started && reveal.on(), "chunks of {step}");
            assert_eq!(out, want, "chunks of {step}");
        }
    }

    #[test]
    fn a_partial_bitfield_passes_unchanged_and_haves_go_through() {
        let s = seeder_stream(&[0xff, 0xe0]); // piece 11 missing: still downloading
        for step in [1, 3, s.len()] {
            let reveal = Arc::new(Reveal::default());
            let (out, started) = rewrite(&s, step, &reveal);
            assert!(!started && !reveal.on());
            assert_eq!(out, s, "chunks of {step}");
        }
    }

    #[test]
    fn have_all_becomes_have_none_and_reveals_go_out_at_message_boundaries() {
        let mut s = handshake();
        s.extend(msg(HAVE_ALL, &[]));
        s.extend(msg(PIECE, &[1u8; 8 + 100]));
        let ss = SuperSeed::default();
        let reveal = ss.join([1; 20]);
        let mut r = Rewriter::new(reveal.clone(), 12, false);
        let mut out = Vec::new();
        // Up to the middle of the PIECE.
        assert!(r.feed(&s[..68 + 5 + 20], &mut out));
        let mut rng = fastrand::Rng::with_seed(1);
        // Pieces 0-9 held by other peers; 10 and 11 by none: only those are
        // revealed.
        let mut avail = vec![1u16; 12];
        avail[10] = 0;
        avail[11] = 0;
        assert!(ss.top_up(&[1; 20], &reveal, &avail, |_| false, &mut rng).is_some());
        assert!(!r.at_boundary());
        r.inject(&mut out); // not now: inside the PIECE
        r.feed(&s[68 + 5 + 20..], &mut out);
        let mut want = handshake();
        want.extend(msg(HAVE_NONE, &[]));
        want.extend(msg(PIECE, &[1u8; 8 + 100]));
        assert_eq!(&out[..want.len()], &want[..]);
        let have = &out[want.len()..];
        assert_eq!(have.len(), 9, "one piece revealed at a time");
        assert_eq!(&have[..5], &[0, 0, 0, 5, HAVE]);
        let first = u32::from_be_bytes(have[5..9].try_into().unwrap());
        assert!(first == 10 || first == 11);
        // None more until the peer announces it.
        assert!(ss.top_up(&[1; 20], &reveal, &avail, |_| false, &mut rng).is_none());
        assert!(!reveal.idle(|_| false));
        assert!(reveal.announced(first));
        assert!(!reveal.announced(first), "announced twice");
        assert!(reveal.idle(|_| false));
        assert!(ss.top_up(&[1; 20], &reveal, &avail, |_| false, &mut rng).is_some());
        let mut more = Vec::new();
        r.inject(&mut more);
        assert_eq!(u32::from_be_bytes(more[5..9].try_into().unwrap()), 21 - first, "the other piece no one holds");
        // Then nothing: every other piece is held by some peer.
        assert!(reveal.announced(21 - first));
        assert!(ss.top_up(&[1; 20], &reveal, &avail, |_| false, &mut rng).is_none());
    }

    #[test]
    fn a_piece_being_given_is_not_revealed_again_until_its_taker_goes_quiet() {
        let ss = SuperSeed::default();
        let (a, b) = (ss.join([2; 20]), ss.join([2; 20]));
        a.start();
        b.start();
        let mut rng = fastrand::Rng::with_seed(3);
        let avail = vec![0u16; 2];
        assert!(ss.top_up(&[2; 20], &a, &avail, |_| false, &mut rng).is_some());
        assert!(ss.top_up(&[2; 20], &b, &avail, |_| false, &mut rng).is_some());
        let (x, y) = (a.take_queue(), b.take_queue());
        assert_ne!(x, y, "each piece given once");
        // A third peer: both pieces are being given, so nothing for it.
        let c = ss.join([2; 20]);
        c.start();
        assert!(ss.top_up(&[2; 20], &c, &avail, |_| false, &mut rng).is_none());
        // a's taker gone quiet: its piece may go to c, never one c holds.
        let past = |d: Duration| Instant::now().checked_sub(d).unwrap_or_else(Instant::now);
        lock(&a.inner).given[0].at = past(STALE);
        assert!(a.idle(|_| false));
        assert!(ss.top_up(&[2; 20], &c, &avail, |_| false, &mut rng).is_some());
        assert_eq!(c.take_queue(), x);
        let d = ss.join([2; 20]);
        d.start();
        lock(&b.inner).given[0].at = past(STALE);
        assert!(ss.top_up(&[2; 20], &d, &avail, |p| p == y[0], &mut rng).is_none());
        // Blocks of it still going out keep a piece given, for a while.
        b.sent(y[0]);
        assert!(!b.idle(|_| false));
        lock(&b.inner).given[0].at = past(GIVEN_AT_MOST);
        assert!(b.idle(|_| false), "held back for good by a block now and then");
    }

    #[test]
    fn a_peer_that_gets_nothing_from_the_others_is_told_of_what_they_hold() {
        let ss = SuperSeed::default();
        let a = ss.join([3; 20]);
        a.start();
        let mut rng = fastrand::Rng::with_seed(5);
        // Every piece held by another peer; piece 1 by one only.
        let avail = [2u16, 1, 2];
        assert!(ss.top_up(&[3; 20], &a, &avail, |p| p == 0, &mut rng).is_none());
        assert!(lock(&a.inner).waiting.is_some());
        // Nothing from the others for IDLE: the rarest piece it lacks.
        lock(&a.inner).waiting = Instant::now().checked_sub(IDLE);
        assert!(ss.top_up(&[3; 20], &a, &avail, |p| p == 0, &mut rng).is_some());
        assert_eq!(a.take_queue(), [1]);
        // Announced: the next at once (it still gets nothing from others).
        assert!(a.announced(1));
        assert!(ss.top_up(&[3; 20], &a, &avail, |p| p <= 1, &mut rng).is_some());
        assert_eq!(a.take_queue(), [2]);
        // A piece from someone else: it reaches them, so it waits again.
        assert!(!a.announced(3));
        assert!(a.announced(2));
        assert!(ss.top_up(&[3; 20], &a, &[2, 1, 2, 1], |p| p <= 2, &mut rng).is_none());
        assert!(lock(&a.inner).waiting.is_some_and(|w| w.elapsed() < IDLE));
    }

    #[test]
    fn only_blocks_of_the_revealed_piece_keep_it_given() {
        let ss = SuperSeed::default();
        let reveal = ss.join([4; 20]);
        let mut r = Rewriter::new(reveal.clone(), 12, true);
        let mut out = Vec::new();
        assert!(r.feed(&msg(HAVE_ALL, &[]), &mut out));
        let avail = [1u16, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1];
        assert_eq!(ss.top_up(&[4; 20], &reveal, &avail, |_| false, &mut fastrand::Rng::new()), Some((3, false)));
        let mut other = 7u32.to_be_bytes().to_vec();
        other.extend([0u8; 4 + 50]);
        let mut mine = 3u32.to_be_bytes().to_vec();
        mine.extend([0u8; 4 + 50]);
        for c in msg(PIECE, &other).chunks(1) {
            r.feed(c, &mut out);
        }
        assert!(lock(&reveal.inner).given[0].block.is_none(), "a block of another piece");
        let (a, b) = (msg(PIECE, &mine), out.len());
        for c in a.chunks(3) {
            r.feed(c, &mut out);
        }
        assert!(lock(&reveal.inner).given[0].block.is_some());
        assert!(out[b..].starts_with(&a), "passed on unchanged");
    }

    #[test]
    fn hostile_lengths_turn_the_rewriter_off_not_over() {
        let mut s = handshake();
        s.extend(u32::MAX.to_be_bytes());
        s.extend([9u8; 40]);
        let reveal = Arc::new(Reveal::default());
        let (out, started) = rewrite(&s, 7, &reveal);
        assert!(!started);
        assert_eq!(out, s);
    }
}

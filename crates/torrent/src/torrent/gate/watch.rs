//! Which pieces each peer has, read from the bytes the gate relays.
//!
//! Why: rarest-first needs the peers' bitfields, and librqbit 9.1 keeps
//! them private (`live.peers` is crate-private; its per-peer stats carry
//! counters only). Every peer connection passes through the gate already,
//! decrypted, so the gate reads the peer's side of the peer wire protocol
//! (BEP 3: a 68-byte handshake, then length-prefixed messages) and keeps
//! what BITFIELD, HAVE, HAVE ALL and HAVE NONE (BEP 6) say. Nothing is
//! changed in the stream; messages of every other kind are skipped by
//! length without being copied. Hand-written because no crate parses a
//! byte stream it does not own: librqbit's parser sits inside its
//! connection task.
//!
//! A peer that sends something else than the protocol (a length beyond any
//! real message, a handshake of another protocol) is simply no longer
//! watched: the relay goes on as before, and librqbit decides what to do
//! with the peer. What a peer can make goat keep is bounded by the
//! torrent's own piece count (a bitfield of another length, or a HAVE
//! beyond the last piece, is ignored); a connection for a torrent whose
//! metadata goat does not have yet (the metadata exchange) is not watched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The BitTorrent handshake: 1 + 19 + 8 + 20 + 20 bytes.
pub(super) const HANDSHAKE: usize = 68;
/// The longest message the watcher accepts as BEP 3: a BITFIELD of 8 Mi
/// pieces (1 MiB), far beyond any real torrent; a PIECE carries 16 KiB
/// (some clients send up to 128 KiB). Longer means the stream is not BEP 3.
pub(super) const MAX_MESSAGE: u32 = (1 << 20) + 1;
/// Message ids (BEP 3, BEP 6).
pub(super) const HAVE: u8 = 4;
pub(super) const BITFIELD: u8 = 5;
pub(super) const HAVE_ALL: u8 = 0x0E;
pub(super) const HAVE_NONE: u8 = 0x0F;

/// The next bytes of `data` into `buf[*got..]`, as many as fit, taken off
/// `data`: a 4-byte field of the wire format (a length prefix, a PIECE's
/// index) that may arrive split across reads. Returns the bytes taken, and
/// whether `buf` is now full.
pub(super) fn fill<'a>(buf: &mut [u8; 4], got: &mut usize, data: &mut &'a [u8]) -> (&'a [u8], bool) {
    let take = (4 - *got).min(data.len());
    let (taken, rest) = data.split_at(take);
    buf[*got..*got + take].copy_from_slice(taken);
    *got += take;
    *data = rest;
    (taken, *got == 4)
}

/// What one peer has said it holds (BEP 3 order: piece 0 is the most
/// significant bit of the first byte).
#[derive(Debug, Default)]
pub struct Bits {
    /// It said it has every piece (HAVE ALL).
    all: bool,
    bits: Vec<u8>,
}

impl Bits {
    /// The peer said it has every piece (HAVE ALL).
    pub fn has_all(&self) -> bool {
        self.all
    }

    /// The peer said it has piece `piece`.
    pub fn has(&self, piece: u32) -> bool {
        self.all || self.bits.get((piece / 8) as usize).is_some_and(|b| b & (0x80 >> (piece % 8)) != 0)
    }

    /// Piece `piece` of a torrent of `pieces`.
    pub(super) fn set(&mut self, piece: u32, pieces: u32) {
        if piece >= pieces {
            return;
        }
        let byte = (piece / 8) as usize;
        if self.bits.len() <= byte {
            self.bits.resize(pieces.div_ceil(8) as usize, 0);
        }
        self.bits[byte] |= 0x80 >> (piece % 8);
    }
}

/// Every watched connection's [`Bits`], by torrent. Connections hold their
/// own; entries of closed connections are pruned when read.
#[derive(Debug, Default)]
pub struct Availability {
    peers: Mutex<Peers>,
}

/// Each torrent's watched connections.
type Peers = HashMap<[u8; 20], Vec<Weak<Mutex<Bits>>>>;

impl Availability {
    /// Start watching a connection of torrent `info_hash`, of `pieces`
    /// pieces (None: its metadata is not known yet; not watched).
    pub(super) fn watch(&self, info_hash: [u8; 20], pieces: Option<u32>) -> Watcher {
        let bits = Arc::new(Mutex::new(Bits::default()));
        let Some(pieces) = pieces.filter(|n| *n > 0) else {
            return Watcher { state: State::Off, bits, pieces: 0, on_have: None };
        };
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let list = peers.entry(info_hash).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&bits));
        Watcher { state: State::Handshake(0), bits, pieces, on_have: None }
    }

    /// For each of `pieces` pieces, how many connected peers have it. The
    /// table lock is held only to collect the live connections; each
    /// peer's bits only while its bytes are added (zero bytes skipped, a
    /// HAVE ALL counted once for every piece).
    pub fn counts(&self, info_hash: &[u8; 20], pieces: u32) -> Vec<u16> {
        let mut out = vec![0u16; pieces as usize];
        let live: Vec<Arc<Mutex<Bits>>> = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            let Some(list) = peers.get_mut(info_hash) else { return out };
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        let mut all = 0u16;
        for bits in live {
            let b = bits.lock().unwrap_or_else(|e| e.into_inner());
            if b.all {
                all = all.saturating_add(1);
                continue;
            }
            for (i, byte) in b.bits.iter().enumerate().filter(|(_, byte)| **byte != 0) {
                for k in 0..8 {
                    if byte & (0x80 >> k) != 0 {
                        if let Some(n) = out.get_mut(i * 8 + k) {
                            *n = n.saturating_add(1);
                        }
                    }
                }
            }
        }
        if all > 0 {
            for n in out.iter_mut() {
                *n = n.saturating_add(all);
            }
        }
        out
    }
}

#[derive(Debug)]
enum State {
    /// Bytes of the handshake seen so far.
    Handshake(usize),
    /// A message's 4-byte length prefix, partly read.
    Length([u8; 4], usize),
    /// The id byte of a message of this length.
    Id(u32),
    /// A HAVE or BITFIELD payload being gathered.
    Keep { id: u8, left: u32, buf: Vec<u8> },
    /// The rest of a message goat does not follow.
    Skip(u32),
    /// Not BEP 3: no longer watched.
    Off,
}

/// The parser of one connection's peer-to-librqbit stream.
#[derive(Debug)]
pub struct Watcher {
    state: State,
    bits: Arc<Mutex<Bits>>,
    /// The torrent's piece count.
    pieces: u32,
    /// Super-seeding this connection (`superseed.rs`): told of each HAVE.
    pub(super) on_have: Option<Arc<super::superseed::Reveal>>,
}

impl Watcher {
    /// What the peer has said it holds, shared.
    pub(super) fn bits(&self) -> Arc<Mutex<Bits>> {
        self.bits.clone()
    }

    /// The torrent's piece count (0: not watched).
    pub(super) fn pieces(&self) -> u32 {
        self.pieces
    }

    /// Between two messages of a stream read as BEP 3 (past the
    /// handshake): a message of the gate's own may go in here.
    pub(super) fn at_boundary(&self) -> bool {
        matches!(self.state, State::Length(_, 0))
    }

    /// Read the next bytes of the stream (decrypted), in order.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Off => return,
                State::Handshake(seen) => {
                    if *seen == 0 && data[0] != 19 {
                        self.state = State::Off;
                        return;
                    }
                    let take = (HANDSHAKE - *seen).min(data.len());
                    *seen += take;
                    data = &data[take..];
                    if *seen == HANDSHAKE {
                        self.state = State::Length([0; 4], 0);
                    }
                }
                State::Length(buf, got) => {
                    if fill(buf, got, &mut data).1 {
                        let len = u32::from_be_bytes(*buf);
                        self.state = match len {
                            0 => State::Length([0; 4], 0), // keep-alive
                            n if n > MAX_MESSAGE => State::Off,
                            n => State::Id(n),
                        };
                    }
                }
                State::Id(len) => {
                    let (id, left) = (data[0], *len - 1);
                    data = &data[1..];
                    let bitfield = self.pieces.div_ceil(8);
                    self.state = match id {
                        HAVE if left == 4 => State::Keep { id, left, buf: Vec::with_capacity(4) },
                        BITFIELD if left == bitfield => {
                            State::Keep { id, left, buf: Vec::with_capacity(bitfield as usize) }
                        }
                        HAVE_ALL | HAVE_NONE => {
                            let mut b = self.bits.lock().unwrap_or_else(|e| e.into_inner());
                            b.all = id == HAVE_ALL;
                            if id == HAVE_NONE {
                                b.bits.clear();
                            }
                            drop(b);
                            State::Skip(left)
                        }
                        _ => State::Skip(left),
                    };
                    self.settle();
                }
                State::Keep { left, buf, .. } => {
                    let take = (*left as usize).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    *left -= take as u32;
                    data = &data[take..];
                    self.settle();
                }
                State::Skip(left) => {
                    let take = (*left as usize).min(data.len());
                    *left -= take as u32;
                    data = &data[take..];
                    self.settle();
                }
            }
        }
    }

    /// A message read to its end: apply it and wait for the next.
    fn settle(&mut self) {
        match &mut self.state {
            State::Skip(0) => self.state = State::Length([0; 4], 0),
            State::Keep { id, left: 0, buf } => {
                let mut b = self.bits.lock().unwrap_or_else(|e| e.into_inner());
                if *id == HAVE && buf.len() == 4 {
                    let piece = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    b.set(piece, self.pieces);
                    if let Some(r) = &self.on_have {
                        if r.announced(piece) {
                            r.wake.notify_one();
                        }
                    }
                } else if *id == BITFIELD {
                    b.bits = std::mem::take(buf);
                    b.all = false;
                    // What it was told of may be what it holds.
                    if let Some(r) = self.on_have.as_ref().filter(|r| r.on()) {
                        r.wake.notify_one();
                    }
                }
                drop(b);
                self.state = State::Length([0; 4], 0);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A BitTorrent handshake (any torrent, any peer).
    pub(in super::super) fn handshake() -> Vec<u8> {
        let mut h = vec![19u8];
        h.extend_from_slice(b"BitTorrent protocol");
        h.extend_from_slice(&[0u8; 48]);
        h
    }

    /// A peer wire message.
    pub(in super::super) fn msg(id: u8, payload: &[u8]) -> Vec<u8> {
        let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(id);
        m.extend_from_slice(payload);
        m
    }

    fn stream() -> Vec<u8> {
        let mut s = handshake();
        s.extend(msg(20, b"d1:md11:ut_metadatai1eee")); // BEP 10 handshake: skipped
        s.extend(0u32.to_be_bytes()); // keep-alive
        s.extend(msg(BITFIELD, &[0b1010_0000, 0b0000_0001])); // pieces 0, 2, 15
        s.extend(msg(7, &[0u8; 8 + 16384])); // a PIECE: skipped
        s.extend(msg(HAVE, &5u32.to_be_bytes()));
        s
    }

    #[test]
    fn bitfield_and_have_are_read_in_any_split() {
        let want = [0u32, 2, 5, 15];
        let s = stream();
        for step in [1, 3, 7, 68, 500, s.len()] {
            let a = Availability::default();
            let mut w = a.watch([1; 20], Some(16));
            for c in s.chunks(step) {
                w.feed(c);
            }
            let counts = a.counts(&[1; 20], 16);
            let have: Vec<u32> = (0..16).filter(|p| counts[*p as usize] == 1).collect();
            assert_eq!(have, want, "chunks of {step}");
            assert_eq!(a.counts(&[2; 20], 16), vec![0; 16], "another torrent");
        }
    }

    #[test]
    fn have_all_counts_every_piece_and_closed_connections_leave() {
        let a = Availability::default();
        let mut seed = a.watch([1; 20], Some(16));
        let mut s = handshake();
        s.extend(msg(HAVE_ALL, &[]));
        seed.feed(&s);
        let mut other = a.watch([1; 20], Some(16));
        other.feed(&stream());
        let c = a.counts(&[1; 20], 8);
        assert_eq!(c, vec![2, 1, 2, 1, 1, 2, 1, 1]);
        drop(seed);
        assert_eq!(a.counts(&[1; 20], 8), vec![1, 0, 1, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn have_none_and_a_later_bitfield_replace_what_was_said() {
        let a = Availability::default();
        let mut w = a.watch([1; 20], Some(16));
        let mut s = handshake();
        s.extend(msg(HAVE_ALL, &[]));
        s.extend(msg(BITFIELD, &[0b0100_0000, 0]));
        w.feed(&s);
        assert_eq!(a.counts(&[1; 20], 4), vec![0, 1, 0, 0], "a BITFIELD after HAVE ALL");
        w.feed(&msg(HAVE_NONE, &[]));
        assert_eq!(a.counts(&[1; 20], 4), vec![0; 4], "HAVE NONE");
        w.feed(&msg(HAVE, &2u32.to_be_bytes()));
        assert_eq!(a.counts(&[1; 20], 4), vec![0, 0, 1, 0]);
    }

    #[test]
    fn the_longest_message_is_skipped_and_one_byte_more_stops_the_watch() {
        let a = Availability::default();
        let mut w = a.watch([1; 20], Some(8));
        let mut s = handshake();
        s.extend(MAX_MESSAGE.to_be_bytes());
        s.push(7);
        s.extend(vec![0u8; MAX_MESSAGE as usize - 1]);
        s.extend(msg(HAVE, &1u32.to_be_bytes()));
        w.feed(&s);
        assert_eq!(a.counts(&[1; 20], 2), vec![0, 1]);
        let mut w = a.watch([2; 20], Some(8));
        let mut s = handshake();
        s.extend((MAX_MESSAGE + 1).to_be_bytes());
        s.push(7);
        s.extend(msg(HAVE, &1u32.to_be_bytes()));
        w.feed(&s);
        assert_eq!(a.counts(&[2; 20], 2), vec![0, 0]);
    }

    #[test]
    fn what_is_not_the_protocol_stops_the_watch_without_harm() {
        let a = Availability::default();
        let mut w = a.watch([1; 20], Some(4));
        w.feed(b"GET / HTTP/1.1\r\n\r\n");
        w.feed(&msg(HAVE, &1u32.to_be_bytes()));
        assert_eq!(a.counts(&[1; 20], 4), vec![0; 4]);
        // A length no message has: the rest is ignored.
        let mut w = a.watch([1; 20], Some(4));
        let mut s = handshake();
        s.extend(u32::MAX.to_be_bytes());
        s.extend(msg(HAVE, &1u32.to_be_bytes()));
        w.feed(&s);
        assert_eq!(a.counts(&[1; 20], 4), vec![0; 4]);
        // A HAVE beyond the torrent's last piece, a bitfield of another
        // length: ignored, and what follows is still read.
        let mut w = a.watch([1; 20], Some(4));
        let mut s = handshake();
        s.extend(msg(HAVE, &u32::MAX.to_be_bytes()));
        s.extend(msg(HAVE, &4u32.to_be_bytes()));
        s.extend(msg(BITFIELD, &[0xff; 4096]));
        s.extend(msg(HAVE, &3u32.to_be_bytes()));
        w.feed(&s);
        assert_eq!(a.counts(&[1; 20], 4), vec![0, 0, 0, 1]);
        assert!(w.bits.lock().unwrap().bits.len() <= 1, "kept no more than the torrent's bitfield");
        // A torrent whose metadata is not known yet: not watched.
        let mut w = a.watch([3; 20], None);
        let mut s = handshake();
        s.extend(msg(HAVE_ALL, &[]));
        w.feed(&s);
        assert_eq!(a.counts(&[3; 20], 2), vec![0, 0]);
    }
}

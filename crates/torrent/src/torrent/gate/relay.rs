//! A connection ready to relay: bytes pumped both ways between the peer
//! and librqbit, decrypted and encrypted as its MSE method says, with a
//! bound on a side that stops reading.

use super::*;

/// A connection ready to relay: the peer's side and librqbit's.
pub(super) struct Link {
    pub(super) peer: Stream,
    pub(super) local: TcpStream,
    pub(super) read: Option<Cipher>,
    pub(super) write: Option<Cipher>,
    /// Already received from the peer (decrypted), for librqbit.
    pub(super) to_local: Vec<u8>,
    /// Counted among the torrent's connections while it lives.
    pub(super) _counted: Counted,
    /// What the peer says it has (`watch.rs`).
    pub(super) watch: Watcher,
    /// The torrent's info-hash.
    pub(super) info_hash: [u8; 20],
    /// librqbit's handshake already went to the peer (an outgoing link).
    pub(super) handshake_sent: bool,
}

impl Link {
    pub(super) async fn run(self, shared: &Shared) {
        let Link { peer, local, read, write, to_local, _counted, mut watch, info_hash, handshake_sent } = self;
        let _ = local.set_nodelay(true);
        let seeding =
            (shared.super_seeding.load(std::sync::atomic::Ordering::Relaxed) && watch.pieces() > 0).then(|| {
                let reveal = shared.superseed.join(info_hash);
                watch.on_have = Some(reveal.clone());
                Seeding {
                    rewriter: super::superseed::Rewriter::new(reveal.clone(), watch.pieces(), handshake_sent),
                    reveal,
                    bits: watch.bits(),
                    info_hash,
                    pieces: watch.pieces(),
                    rng: fastrand::Rng::new(),
                }
            });
        relay(peer, local, read, write, &to_local, &[], Some(watch), seeding, shared).await
    }
}

/// A super-seeded connection's side from librqbit (`superseed.rs`).
pub(super) struct Seeding {
    rewriter: super::superseed::Rewriter,
    reveal: Arc<super::superseed::Reveal>,
    /// What the peer said it holds.
    bits: Arc<Mutex<watch::Bits>>,
    info_hash: [u8; 20],
    pieces: u32,
    rng: fastrand::Rng,
}

impl Seeding {
    /// Reveal what is due now, queued for the rewriter. The peers' counts
    /// (connections x pieces) are read only when a piece may be due.
    fn top_up(&mut self, shared: &Shared) {
        {
            let bits = self.bits.lock().unwrap_or_else(|e| e.into_inner());
            if bits.has_all() || !self.reveal.idle(|p| bits.has(p)) {
                return;
            }
        }
        // Not under this peer's lock: the counts take every connection's.
        let avail = shared.avail.counts(&self.info_hash, self.pieces);
        let bits = self.bits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, others)) =
            shared.superseed.top_up(&self.info_hash, &self.reveal, &avail, |p| bits.has(p), &mut self.rng)
        {
            let why = if others { "one other peers hold: it gets none from them" } else { "no other peer holds it" };
            tracing::debug!(target: "goat", "super-seeding: a peer is told of piece {p} ({why})");
        }
    }
}

/// Relay between a peer and librqbit until either side closes (the peer
/// protocol has no half-close) or the gate is dropped. `to_local` (already
/// received from the peer) goes to librqbit first, then what the peer
/// sends, through `read`; `to_peer` (already received from librqbit) goes
/// to the peer first, then what librqbit sends, through `write`. `watch`
/// reads what the peer sends (its handshake first).
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay(
    peer: Stream,
    local: TcpStream,
    mut read: Option<Cipher>,
    mut write: Option<Cipher>,
    to_local: &[u8],
    to_peer: &[u8],
    mut watch: Option<Watcher>,
    seeding: Option<Seeding>,
    shared: &Shared,
) {
    let mut closed = shared.closed.subscribe();
    let (mut peer_r, mut peer_w) = tokio::io::split(peer);
    let (mut local_r, mut local_w) = local.into_split();
    let keep_alive = seeding.as_ref().map(|s| s.reveal.clone());
    let down = async {
        if let Some(w) = watch.as_mut() {
            w.feed(to_local);
        }
        stalled(local_w.write_all(to_local)).await?;
        pump(&mut peer_r, &mut local_w, read.as_mut(), watch.as_mut(), keep_alive.as_deref()).await
    };
    let up = async {
        stalled(peer_w.write_all(to_peer)).await?;
        match seeding {
            Some(s) => pump_seeding(&mut local_r, &mut peer_w, write.as_mut(), s, shared).await,
            None => pump(&mut local_r, &mut peer_w, write.as_mut(), None, None).await,
        }
    };
    tokio::select! {
        _ = down => {}
        _ = up => {}
        _ = closed.wait_for(|c| *c) => {}
    }
}

/// A write, failed when the other side has not read for `WRITE_STALL`.
pub(super) async fn stalled(write: impl std::future::Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_STALL, write)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the other side stopped reading"))?
}

/// Bytes from `r` to `w`, through `cipher`, read by `watch` on the way; with
/// `keep_alive` (the peer's side of a super-seeded connection), a
/// keep-alive to librqbit after [`QUIET`] of silence.
pub(super) async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    mut cipher: Option<&mut Cipher>,
    mut watch: Option<&mut Watcher>,
    keep_alive: Option<&super::superseed::Reveal>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut tick = tokio::time::interval(QUIET / 2);
    // The last byte from the peer, and the last one from either.
    let mut peer = tokio::time::Instant::now();
    let mut heard = peer;
    loop {
        tokio::select! {
            n = r.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                if keep_alive.is_some() {
                    heard = tokio::time::Instant::now();
                    peer = heard;
                }
                if let Some(c) = cipher.as_deref_mut() {
                    c.apply(&mut buf[..n]);
                }
                if let Some(w) = watch.as_deref_mut() {
                    w.feed(&buf[..n]);
                }
                stalled(w.write_all(&buf[..n])).await?;
            }
            _ = tick.tick(), if keep_alive.is_some() => {
                let between = watch.as_deref().is_some_and(|w| w.at_boundary());
                let on = keep_alive.is_some_and(|r| r.on());
                if heard.elapsed() >= QUIET && peer.elapsed() < SILENT && between && on {
                    stalled(w.write_all(&[0, 0, 0, 0])).await?;
                    heard = tokio::time::Instant::now();
                }
            }
        }
    }
}

/// librqbit drops a peer that sends nothing for 10 s
/// (`PeerConnectionOptions::read_write_timeout`; BEP 3 peers send a
/// keep-alive every 2 minutes), and a super-seeded peer waiting for its next
/// piece, or a goat node waiting on a super-seeding origin, has nothing to
/// send. On a super-seeded connection the gate therefore sends a keep-alive
/// each way after [`QUIET`] of silence, at a message boundary; to librqbit
/// ([`pump`] with `keep_alive`) only while the peer itself sent something
/// in the last [`SILENT`], so a peer that sends nothing at all is still
/// dropped.
const QUIET: Duration = Duration::from_secs(5);
const SILENT: Duration = Duration::from_secs(150);

/// librqbit's side of a super-seeded connection: rewritten, with the
/// HAVEs that reveal pieces sent at message boundaries, when librqbit
/// writes, when the peer announces a revealed piece, and when one goes
/// stale.
async fn pump_seeding<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    mut cipher: Option<&mut Cipher>,
    mut s: Seeding,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + 64);
    let mut tick = tokio::time::interval(super::superseed::IDLE / 4);
    let mut said = tokio::time::Instant::now();
    loop {
        out.clear();
        tokio::select! {
            n = r.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                if s.rewriter.feed(&buf[..n], &mut out) {
                    s.top_up(shared);
                    s.rewriter.inject(&mut out);
                }
            }
            _ = s.reveal.wake.notified() => {
                s.top_up(shared);
                s.rewriter.inject(&mut out);
            }
            _ = tick.tick() => {
                s.top_up(shared);
                s.rewriter.inject(&mut out);
                if out.is_empty() && said.elapsed() >= QUIET && s.rewriter.at_boundary() && s.reveal.on() {
                    out.extend_from_slice(&[0, 0, 0, 0]);
                }
            }
        }
        if out.is_empty() {
            continue;
        }
        said = tokio::time::Instant::now();
        if let Some(c) = cipher.as_deref_mut() {
            c.apply(&mut out);
        }
        stalled(w.write_all(&out)).await?;
    }
}

pub(super) fn refused(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

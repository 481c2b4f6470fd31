//! A web seed seen by librqbit as one more peer.
//!
//! librqbit 9.1 cannot take pieces from anywhere but a peer connection,
//! and has no public call to mark a piece as had. So goat connects to its
//! own session's listener, on loopback, as a peer that has every piece:
//! librqbit requests blocks from it as from any peer, mixed with the real
//! ones (a piece no peer has comes from the web seed, and both share the
//! rest), checks each piece, writes it through goat's storage (which
//! proves it again) and seeds it afterwards. The bridge answers a request
//! by fetching the whole piece over HTTP (`webseed::Seed::piece`), proving
//! it with SHA-1 first: a server's wrong bytes never reach librqbit, and
//! the server that sent them is named and dropped for the run.
//!
//! The wire format is librqbit-peer-protocol's; what is written here is
//! the little a seed that never downloads must do (handshake, bitfield,
//! unchoke, answer requests, keep-alives).

use super::webseed::{Layout, Seed, WebSeeds};
use librqbit::ManagedTorrent;
use librqbit_peer_protocol::{Handshake, Message, Piece, Request};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

/// Bytes of pieces one web seed fetches at once (at least two pieces, at
/// most eight): enough requests in flight to fill a fast server, bounded
/// memory.
const IN_FLIGHT: u64 = 32 << 20;
/// How much of its own speed a web seed is given to do at once: librqbit
/// is told (BEP 10 `reqq`) to keep no more blocks outstanding than the
/// seed fetches in this time, so a slow seed holds few pieces that a
/// fast peer could have sent (librqbit otherwise reserves up to its
/// 512-block window, 8 MiB, for any peer).
const AHEAD: Duration = Duration::from_secs(1);
/// librqbit drops a peer silent for 10 s.
const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// The largest block a request may ask for (librqbit asks for 16 KiB).
const MAX_BLOCK: u32 = 128 << 10;

/// The web seeds bridged into one torrent, alive as long as the torrent
/// is held.
pub struct Bridges {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Bytes handed to librqbit from web seeds.
    pub served: Arc<AtomicU64>,
}

impl Drop for Bridges {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Where the bridge finds goat's session: its listening address and the
/// peer id it answers with (anything else on that port is not goat's).
#[derive(Clone, Copy)]
pub struct Session {
    /// The session's listening address (on loopback).
    pub at: SocketAddr,
    /// The peer id the session answers a handshake with.
    pub peer_id: librqbit::dht::Id20,
}

/// Bridge every web seed in `urls` into `handle`.
pub fn start(
    handle: Arc<ManagedTorrent>,
    session: Session,
    seeds: WebSeeds,
    urls: &[String],
    layout: Arc<Layout>,
) -> Bridges {
    let served = Arc::new(AtomicU64::new(0));
    let info_hash = crate::goatfile::InfoHash::from_bytes(&handle.info_hash().0);
    let tasks = urls
        .iter()
        .filter_map(|url| match Seed::new(url, info_hash, layout.clone()) {
            Ok(seed) => Some(Arc::new(seed)),
            Err(e) => {
                seeds.drop_seed(
                    &info_hash,
                    url,
                    &super::webseed::Failure { why: e.message, transient: false, lied: true },
                );
                None
            }
        })
        .map(|seed| {
            let (handle, seeds, served) = (handle.clone(), seeds.clone(), served.clone());
            tokio::spawn(async move { run(handle, session, seeds, seed, served).await })
        })
        .collect();
    Bridges { tasks, served }
}

/// Keep one web seed connected while the torrent downloads.
async fn run(handle: Arc<ManagedTorrent>, session: Session, seeds: WebSeeds, seed: Arc<Seed>, served: Arc<AtomicU64>) {
    let mut pause = Duration::from_millis(200);
    loop {
        if handle.stats().finished {
            return;
        }
        match seeds.dropped(&seed.info_hash, &seed.url) {
            // it lied: never again in this run
            Some(None) => return,
            // it failed: left alone for a while, then tried again
            Some(Some(_)) => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            None => {}
        }
        // librqbit takes a peer only for a running torrent.
        if handle.live().is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let before = served.load(Ordering::Relaxed);
        if let Err(why) = serve(&handle, session, &seeds, &seed, &served).await {
            tracing::debug!(target: "goat", "web seed {}: connection to the session ended: {why}", seed.url);
        }
        // A connection that handed over nothing is tried again ever more
        // slowly; one that did, soon.
        pause = if served.load(Ordering::Relaxed) > before {
            Duration::from_millis(200)
        } else {
            (pause * 2).min(Duration::from_secs(10))
        };
        tokio::time::sleep(pause).await;
    }
}

/// What a connection hears from librqbit.
enum Heard {
    Request(Request),
    Cancel(Request),
}

/// One connection: handshake, then answer requests until librqbit hangs
/// up, the torrent finishes or the web seed fails.
async fn serve(
    handle: &ManagedTorrent,
    session: Session,
    seeds: &WebSeeds,
    seed: &Arc<Seed>,
    served: &AtomicU64,
) -> Result<(), String> {
    let layout = &seed.layout;
    let stream = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(session.at))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    let (mut rd, mut wr) = stream.into_split();
    // Unique enough to tell bridges apart in librqbit's peer table.
    let mut peer_id = *b"-GW0100-............";
    let stamp = format!("{:?}{}{}", Instant::now(), std::process::id(), seed.url);
    peer_id[8..].copy_from_slice(&crate::hash::sha1(stamp.as_bytes())[..12]);
    // Only the extension protocol (BEP 10), for `reqq`; no extension
    // message is offered, so librqbit sends none.
    let hs =
        Handshake { reserved: EXTENDED, info_hash: handle.info_hash(), peer_id: librqbit::dht::Id20::new(peer_id) };
    let mut buf = [0u8; 68];
    let n = hs.serialize_unchecked_len(&mut buf);
    send(&mut wr, &buf[..n]).await?;
    tokio::time::timeout(Duration::from_secs(10), rd.read_exact(&mut buf))
        .await
        .map_err(|_| "no handshake".to_string())?
        .map_err(|e| e.to_string())?;
    let (theirs, _) = Handshake::deserialize(&buf).map_err(|e| e.to_string())?;
    // Only goat's own session: another program that took the port would
    // otherwise be handed web-seed pieces on request.
    if theirs.info_hash != handle.info_hash() || theirs.peer_id != session.peer_id {
        return Err("something other than goat's session answered on its port".into());
    }
    // Every piece: the bitfield's spare bits stay zero (BEP 3).
    let pieces = layout.pieces();
    let mut bits = vec![0xffu8; pieces.div_ceil(8) as usize];
    if !pieces.is_multiple_of(8) {
        if let Some(last) = bits.last_mut() {
            *last = 0xffu8 << (8 - pieces % 8);
        }
    }
    let parallel = (IN_FLIGHT / layout.piece_length.max(1)).clamp(1, 8) as usize;
    let blocks = layout.piece_length.div_ceil(16 << 10).max(1);
    // Two pieces ahead to start with; then as many as the seed fetches in
    // `AHEAD` (at least one, at most `parallel`).
    let mut ahead = 2usize.min(parallel);
    // librqbit keeps no more requests outstanding than `reqq` (and its own
    // 512): more than this is not librqbit.
    let most_pending = (parallel as u64 * blocks).max(512) as usize * 2;
    let mut out = Vec::with_capacity(bits.len() + 64);
    window(&mut out, ahead as u64 * blocks);
    push(&mut out, &Message::Bitfield(librqbit_bencode::ByteBuf(&bits)));
    push(&mut out, &Message::Unchoke);
    send(&mut wr, &out).await?;

    let (tx, mut heard) = tokio::sync::mpsc::channel(1024);
    let reader = tokio::spawn(async move { listen(rd, tx).await });
    let _stop_reader = Abort(reader);

    let began = Instant::now();
    let mut fetched = 0u64;
    let mut pending: VecDeque<Request> = VecDeque::new();
    let mut ready: HashMap<u32, (bytes::Bytes, u64)> = HashMap::new();
    let mut fetching = tokio::task::JoinSet::new();
    // The fetch under way for each piece, to abort one nobody waits for
    // any more.
    let mut aborts: HashMap<u32, tokio::task::AbortHandle> = HashMap::new();
    let mut last_write = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            h = heard.recv() => match h {
                None => return Ok(()),
                Some(Heard::Cancel(r)) => {
                    pending.retain(|p| !same(p, &r));
                    // librqbit gave the piece to another peer: its HTTP
                    // request is stopped, its slot freed, its bytes let go.
                    if !pending.iter().any(|p| p.index == r.index) {
                        if let Some(a) = aborts.remove(&r.index) {
                            a.abort();
                        }
                        ready.remove(&r.index);
                    }
                }
                Some(Heard::Request(r)) => {
                    if r.index >= pieces || r.length == 0 || r.length > MAX_BLOCK
                        || u64::from(r.begin) + u64::from(r.length) > layout.piece_len(r.index) {
                        return Err(format!("asked for a block outside the torrent ({r:?})"));
                    }
                    if pending.len() >= most_pending {
                        return Err("more requests outstanding than librqbit keeps".into());
                    }
                    pending.push_back(r);
                }
            },
            Some(done) = fetching.join_next_with_id(), if !fetching.is_empty() => {
                let (id, (index, got)): (_, (u32, Result<bytes::Bytes, super::webseed::Failure>)) = match done {
                    Ok(d) => d,
                    // aborted above (its slot already freed)
                    Err(e) if e.is_cancelled() => continue,
                    Err(e) => return Err(e.to_string()),
                };
                // Unless the piece was cancelled and asked for again since,
                // and another fetch of it is under way.
                if aborts.get(&index).is_some_and(|a| a.id() == id) {
                    aborts.remove(&index);
                } else if aborts.contains_key(&index) {
                    continue;
                }
                match got {
                    Ok(piece) => {
                        fetched += piece.len() as u64;
                        ready.insert(index, (piece, 0));
                        let rate = fetched as f64 / began.elapsed().as_secs_f64().max(0.001);
                        let now = ((rate * AHEAD.as_secs_f64() / layout.piece_length as f64).ceil() as usize).clamp(1, parallel);
                        if now != ahead {
                            ahead = now;
                            let mut m = Vec::new();
                            window(&mut m, ahead as u64 * blocks);
                            send(&mut wr, &m).await?;
                        }
                    }
                    Err(f) => {
                        seeds.drop_seed(&seed.info_hash, &seed.url, &f);
                        return Ok(());
                    }
                }
            },
            _ = tick.tick() => {
                if handle.stats().finished {
                    return Ok(());
                }
                if last_write.elapsed() >= KEEP_ALIVE {
                    send(&mut wr, &0u32.to_be_bytes()).await?;
                    last_write = Instant::now();
                }
            },
        }
        // Answer what can be answered, then fetch what is asked for next.
        let answered = answer(&mut wr, &mut pending, &mut ready, layout, served).await?;
        if answered {
            last_write = Instant::now();
        }
        let mut wanted: Vec<u32> = Vec::new();
        for r in &pending {
            if !ready.contains_key(&r.index) && !aborts.contains_key(&r.index) && !wanted.contains(&r.index) {
                wanted.push(r.index);
            }
        }
        for index in wanted {
            if fetching.len() >= parallel {
                break;
            }
            let (seeds, seed) = (seeds.clone(), seed.clone());
            aborts.insert(index, fetching.spawn(async move { (index, seed.piece(&seeds, index).await) }));
        }
        // A piece is kept until all of it is handed over (librqbit asks
        // for a large piece 8 MiB at a time) or cancelled; one fetched and
        // never asked for again is let go beyond `IN_FLIGHT` bytes.
        if ready.values().map(|(p, _)| p.len() as u64).sum::<u64>() > IN_FLIGHT.max(2 * layout.piece_length) {
            let waiting: HashSet<u32> = pending.iter().map(|r| r.index).collect();
            ready.retain(|i, (_, given)| waiting.contains(i) || *given > 0);
        }
    }
}

/// Write every pending block whose piece is here; a piece fully handed
/// over is let go.
async fn answer(
    wr: &mut OwnedWriteHalf,
    pending: &mut VecDeque<Request>,
    ready: &mut HashMap<u32, (bytes::Bytes, u64)>,
    layout: &Layout,
    served: &AtomicU64,
) -> Result<bool, String> {
    let mut out = Vec::new();
    pending.retain(|r| {
        let Some((piece, given)) = ready.get_mut(&r.index) else { return true };
        let (b, n) = (r.begin as usize, r.length as usize);
        push(&mut out, &Message::Piece(Piece::from_data(r.index, r.begin, &piece[b..b + n])));
        *given += n as u64;
        served.fetch_add(n as u64, Ordering::Relaxed);
        if *given >= layout.piece_len(r.index) {
            ready.remove(&r.index);
        }
        false
    });
    if out.is_empty() {
        return Ok(false);
    }
    send(wr, &out).await?;
    Ok(true)
}

/// Write to the session, at most `WRITE_TIMEOUT` (a reader that stops
/// reading must not hold the bridge).
async fn send(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the session stopped reading".into()),
    }
}

const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Read librqbit's messages: requests and cancels are passed on, the rest
/// (interested, have, keep-alive) need nothing from a seed.
async fn listen(mut rd: tokio::net::tcp::OwnedReadHalf, tx: tokio::sync::mpsc::Sender<Heard>) {
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if rd.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        // librqbit's bitfield of a million pieces is 125 KB.
        if n > 1 << 20 {
            return;
        }
        frame.clear();
        frame.extend_from_slice(&len);
        frame.resize(4 + n, 0);
        if rd.read_exact(&mut frame[4..]).await.is_err() {
            return;
        }
        let heard = match Message::deserialize(&frame, &[]) {
            Ok((Message::Request(r), _)) => Heard::Request(r),
            Ok((Message::Cancel(r), _)) => Heard::Cancel(r),
            // Framed by its length, so a message this side need not
            // understand (librqbit's own extended handshake) is passed over.
            _ => continue,
        };
        if tx.send(heard).await.is_err() {
            return;
        }
    }
}

/// The extension-protocol bit of the handshake's reserved bytes.
const EXTENDED: u64 = 1 << 20;

/// A BEP 10 handshake saying how many requests to keep outstanding here
/// (librqbit re-reads it each time one is sent) and that this peer only
/// uploads, with no extension messages (`m` empty). Written out: the
/// crate's `ExtendedHandshake` cannot leave its message ids out.
fn window(out: &mut Vec<u8>, reqq: u64) {
    let body = format!("d1:mde4:reqqi{}e11:upload_onlyi1ee", reqq.min(u64::from(u32::MAX)));
    out.extend_from_slice(&(body.len() as u32 + 2).to_be_bytes());
    out.extend_from_slice(&[20, 0]); // extended message, handshake
    out.extend_from_slice(body.as_bytes());
}

fn push(out: &mut Vec<u8>, m: &Message<'_>) {
    let at = out.len();
    let room = match m {
        Message::Piece(p) => 13 + p.len(),
        Message::Bitfield(b) => 5 + b.as_ref().len(),
        _ => 256,
    };
    out.resize(at + room, 0);
    let n = m.serialize(&mut out[at..], &Default::default).expect("room was made for the message");
    out.truncate(at + n);
}

fn same(a: &Request, b: &Request) -> bool {
    (a.index, a.begin, a.length) == (b.index, b.begin, b.length)
}

struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

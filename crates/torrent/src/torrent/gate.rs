//! The peer gate: every peer connection of goat's session passes through
//! here, so that goat speaks MSE/PE (`mse.rs`) although librqbit 9.1 does
//! not.
//!
//! - **Incoming.** The gate owns the port peers connect to (the one
//!   announced to trackers and the DHT); librqbit listens on loopback
//!   only. The gate reads the first 20 bytes: a plaintext BitTorrent
//!   handshake is passed on as it is (unless encryption is required),
//!   anything else is answered as an MSE handshake. Either way the peer's
//!   BitTorrent handshake is checked (and under MSE its info-hash must be
//!   the one the peer named) before the stream is relayed, decrypted, to
//!   librqbit's listener.
//! - **Outgoing.** librqbit is given the gate as its SOCKS5 proxy (the
//!   one hook it has for outgoing connections). The gate connects to the
//!   peer (directly, or through the user's own proxy), reads librqbit's
//!   handshake to learn the info-hash, and opens the connection in the
//!   mode's order: MSE first and plaintext if the peer drops it, or the
//!   reverse, or MSE only. The retry happens inside the gate, unseen by
//!   librqbit. Anything that does not start with a BitTorrent handshake
//!   (librqbit's HTTP tracker requests also use the proxy) is relayed
//!   untouched.
//!
//! The SOCKS5 server is written here (CONNECT only, RFC 1928/1929): it
//! serves one client, librqbit, which authenticates with a random
//! password so that no other local process can use the gate as a proxy.
//! A crate server would not let goat act between the CONNECT and the
//! relay, which is the point of it.
//!
//! What is bounded, incoming: handshakes in progress (`PENDING` in all,
//! `PER_NETWORK` from one /24 or /48), connections open (`MAX_LINKS` in
//! all, `PER_IP_LINKS` from one address but loopback), each handshake's
//! time (`HANDSHAKE`, and `FIRST_BYTES` for a peer's first 20 bytes);
//! excess connections are closed at once. Outgoing: SOCKS negotiations
//! (`PENDING_SOCKS`, `FIRST_BYTES`; librqbit bounds its own connections
//! after that). Both: a relay's buffers (two of `CHUNK`), a write to a
//! side that stopped reading (`WRITE_STALL`, then the relay ends, so
//! librqbit dropping a peer frees its relay too). A peer that stalls or
//! lies only costs its own task and a few slots of its own network.
//!
//! librqbit sees incoming peers as coming from `INCOMING_FROM`, a loopback
//! address of the gate's own: the gate refuses to dial it, so librqbit's
//! reconnect to an incoming peer's advertised port (which would land on
//! this machine) never leaves the gate.

use super::mse::{self, Cipher, Method};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How goat treats encryption, as qBittorrent and Transmission users know
/// it (docs/fetching.md says why the default is what it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Open plaintext, retry with MSE when a peer drops that; accept both;
    /// answer MSE with plaintext payload when the peer allows it.
    PreferPlaintext,
    /// Open with MSE, retry plaintext when a peer drops that; accept both;
    /// answer MSE with RC4 when the peer allows it.
    #[default]
    PreferEncrypted,
    /// MSE with RC4 only, both ways: plaintext peers are refused.
    Require,
}

impl Encryption {
    /// What goat offers when it opens MSE.
    fn provide(self) -> u32 {
        match self {
            Encryption::Require => mse::RC4,
            _ => mse::RC4 | mse::PLAINTEXT,
        }
    }

    /// What goat selects from a peer's offer, as the responder.
    fn choose(self, provide: u32) -> Option<Method> {
        let rc4 = provide & mse::RC4 != 0;
        let plain = provide & mse::PLAINTEXT != 0;
        match self {
            Encryption::Require => rc4.then_some(Method::Rc4),
            Encryption::PreferEncrypted if rc4 => Some(Method::Rc4),
            Encryption::PreferPlaintext if plain => Some(Method::Plaintext),
            _ if rc4 => Some(Method::Rc4),
            _ if plain => Some(Method::Plaintext),
            _ => None,
        }
    }
}

/// Handshakes in progress at once, incoming and (separately) outgoing.
const PENDING: usize = 256;
/// Incoming handshakes in progress from one network (`network`).
const PER_NETWORK: u32 = 8;
/// Incoming connections open from one address (libtorrent allows one).
const PER_IP_LINKS: u32 = 8;
/// Incoming connections open in all (each holds two sockets).
const MAX_LINKS: usize = 1024;
/// librqbit's SOCKS connections still negotiating.
const PENDING_SOCKS: usize = 256;
/// A handshake's whole time.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A peer's first 20 bytes, and librqbit's SOCKS negotiation.
const FIRST_BYTES: Duration = Duration::from_secs(5);
/// One write to a side that does not read.
const WRITE_STALL: Duration = Duration::from_secs(60);
/// Where incoming peers seem to come from, to librqbit.
const INCOMING_FROM: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 71, 1);
/// One try at MSE or plaintext before the other: librqbit waits 10 s for
/// the peer's handshake, and the second try must fit in that.
const ATTEMPT: Duration = Duration::from_secs(4);
/// Connecting to a peer.
const CONNECT: Duration = Duration::from_secs(10);
/// Relay buffer, one per direction.
const CHUNK: usize = 32 << 10;
const PSTR: &[u8; 20] = b"\x13BitTorrent protocol";
const HANDSHAKE_LEN: usize = 68;

/// Peer connections of one torrent, as a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Open now and opened with MSE (the handshake at least encrypted).
    pub encrypted: u32,
    /// Of those, the ones whose payload is RC4 too.
    pub rc4: u32,
    /// Open now, in plaintext.
    pub plaintext: u32,
    /// Opened in this run, with MSE.
    pub opened_encrypted: u64,
    /// Opened in this run, in plaintext.
    pub opened_plaintext: u64,
}

type Table = Arc<Mutex<HashMap<[u8; 20], Counts>>>;

/// One relayed connection, counted while it lives.
struct Counted {
    table: Table,
    info_hash: [u8; 20],
    method: Option<Method>,
}

impl Counted {
    /// Only for the session's own torrents (the caller checked), so the
    /// table holds one row per torrent whatever peers send.
    fn new(table: &Table, info_hash: [u8; 20], method: Option<Method>) -> Counted {
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        let c = t.entry(info_hash).or_default();
        match method {
            None => c.opened_plaintext += 1,
            Some(_) => c.opened_encrypted += 1,
        }
        Self::change(c, method, |n| *n += 1);
        Counted { table: table.clone(), info_hash, method }
    }

    fn change(c: &mut Counts, method: Option<Method>, f: impl Fn(&mut u32)) {
        match method {
            None => f(&mut c.plaintext),
            Some(m) => {
                f(&mut c.encrypted);
                if m == Method::Rc4 {
                    f(&mut c.rc4);
                }
            }
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = t.get_mut(&self.info_hash) {
            Self::change(c, self.method, |n| *n = n.saturating_sub(1));
        }
    }
}

/// The user's own SOCKS5 proxy, which the gate's connections go through.
#[derive(Clone)]
struct Upstream {
    at: String,
    auth: Option<(String, String)>,
}

impl Upstream {
    fn parse(url: &str) -> Result<Upstream> {
        let u = url::Url::parse(url).map_err(|e| Error::usage(format!("--proxy '{}': {e}", crate::text::line(url))))?;
        let host =
            u.host_str().ok_or_else(|| Error::usage(format!("--proxy '{}' names no host", crate::text::line(url))))?;
        let port =
            u.port().ok_or_else(|| Error::usage(format!("--proxy '{}' names no port", crate::text::line(url))))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let at = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        // As librqbit did: a password means RFC 1929 (a user name alone,
        // as in Tor's stream isolation, does not).
        let dec = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let auth = u.password().map(|p| (dec(u.username()), dec(p)));
        if auth.as_ref().is_some_and(|(user, _)| user.is_empty()) {
            return Err(Error::usage(format!(
                "--proxy '{}': a password needs a user name (socks5://USER:PASS@HOST:PORT)",
                crate::text::line(url)
            )));
        }
        Ok(Upstream { at, auth })
    }
}

/// Where a SOCKS client asked to go.
#[derive(Clone)]
enum Target {
    Addr(SocketAddr),
    Name(String, u16),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(h, p) => write!(f, "{}:{p}", crate::text::line(h)),
        }
    }
}

struct Shared {
    mode: Encryption,
    upstream: Option<Upstream>,
    counts: Table,
    pending: Arc<tokio::sync::Semaphore>,
    pending_socks: Arc<tokio::sync::Semaphore>,
    /// Incoming handshakes in progress, per network.
    handshakes: Arc<Slots>,
    /// Incoming connections open, per address, and in all.
    links: Arc<Slots>,
    open_links: Arc<tokio::sync::Semaphore>,
    /// Set when the gate is dropped: every connection task ends.
    closed: tokio::sync::watch::Sender<bool>,
    /// librqbit's own listener, and the torrents of its session.
    session: std::sync::OnceLock<(SocketAddr, Weak<librqbit::Session>)>,
}

/// The gate of one session; its tasks end when it is dropped.
pub struct Gate {
    shared: Arc<Shared>,
    listen: Option<TcpListener>,
    port: Option<u16>,
    proxy_url: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            t.abort();
        }
        self.shared.closed.send_replace(true);
    }
}

impl Gate {
    /// Bind the gate: `listen` is where peers reach goat (None: nothing
    /// may, as behind a proxy); `upstream` the user's SOCKS5 proxy.
    pub async fn open(mode: Encryption, listen: Option<SocketAddr>, upstream: Option<&str>) -> Result<Gate> {
        let upstream = upstream.map(Upstream::parse).transpose()?;
        let listener = match listen {
            Some(at) => Some(TcpListener::bind(at).await.map_err(|e| {
                Error::usage(format!("cannot listen for peers on {at}: {e}: pick another --listen-port"))
            })?),
            None => None,
        };
        let port = listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port());
        let socks = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| Error::io("starting the peer gate", e))?;
        let socks_at = socks.local_addr().map_err(|e| Error::io("starting the peer gate", e))?;
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        let password = hex::encode(secret);
        let shared = Arc::new(Shared {
            mode,
            upstream,
            counts: Table::default(),
            pending: Arc::new(tokio::sync::Semaphore::new(PENDING)),
            pending_socks: Arc::new(tokio::sync::Semaphore::new(PENDING_SOCKS)),
            handshakes: Slots::new(PER_NETWORK),
            links: Slots::new(PER_IP_LINKS),
            open_links: Arc::new(tokio::sync::Semaphore::new(MAX_LINKS)),
            closed: tokio::sync::watch::channel(false).0,
            session: std::sync::OnceLock::new(),
        });
        let task = tokio::spawn(serve_socks(socks, shared.clone(), password.clone()));
        Ok(Gate {
            shared,
            listen: listener,
            port,
            // socks5h: host names (HTTP trackers) are resolved by the gate,
            // through the user's proxy if there is one.
            proxy_url: format!("socks5h://goat:{password}@{socks_at}"),
            tasks: Mutex::new(vec![task]),
        })
    }

    /// The port peers reach goat on.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The proxy URL librqbit connects out through.
    pub fn proxy_url(&self) -> &str {
        &self.proxy_url
    }

    /// Start passing incoming peers to the session, whose listener is at
    /// `at` (loopback).
    pub fn attach(&mut self, at: SocketAddr, session: &Arc<librqbit::Session>) {
        let _ = self.shared.session.set((at, Arc::downgrade(session)));
        if let Some(l) = self.listen.take() {
            let task = tokio::spawn(serve_incoming(l, self.shared.clone()));
            self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        }
    }

    /// Connections open now for a torrent.
    pub fn counts(&self, info_hash: &[u8; 20]) -> Counts {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).get(info_hash).copied().unwrap_or_default()
    }
}

impl Shared {
    fn local(&self) -> Option<SocketAddr> {
        self.session.get().map(|(at, _)| *at)
    }

    /// The session's torrent whose HASH('req2', ...) this is.
    fn torrent(&self, req2: &[u8; 20]) -> Option<[u8; 20]> {
        self.find(|h| &mse::req2(h) == req2)
    }

    fn find(&self, f: impl Fn(&[u8; 20]) -> bool) -> Option<[u8; 20]> {
        let session = self.session.get()?.1.upgrade()?;
        session.with_torrents(|all| all.map(|(_, t)| t.info_hash().0).find(|h| f(h)))
    }
}

async fn serve_incoming(l: TcpListener, shared: Arc<Shared>) {
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(target: "goat", "accepting a peer: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = shared.pending.clone().try_acquire_owned() else {
            tracing::debug!(target: "goat", "{peer}: dropped, {PENDING} handshakes already in progress");
            continue;
        };
        let Some(slot) = shared.handshakes.take(network(peer.ip())) else {
            tracing::debug!(target: "goat", "{peer}: dropped, {PER_NETWORK} handshakes from its network already in progress");
            continue;
        };
        // Loopback peers (local clients, tests) are not limited per address.
        let link_slot = if peer.ip().is_loopback() {
            None
        } else {
            match shared.links.take(peer.ip()) {
                Some(s) => Some(s),
                None => {
                    tracing::debug!(target: "goat", "{peer}: dropped, {PER_IP_LINKS} connections from its address already open");
                    continue;
                }
            }
        };
        let Ok(link_permit) = shared.open_links.clone().try_acquire_owned() else {
            tracing::debug!(target: "goat", "{peer}: dropped, {MAX_LINKS} incoming connections already open");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let opened = tokio::time::timeout(HANDSHAKE, incoming(sock, &shared)).await;
            drop((permit, slot));
            let _held = (link_slot, link_permit);
            match opened {
                Ok(Ok(link)) => link.run(&shared).await,
                Ok(Err(e)) => tracing::debug!(target: "goat", "incoming peer {peer} dropped: {e}"),
                Err(_) => tracing::debug!(target: "goat", "incoming peer {peer} dropped: handshake over {HANDSHAKE:?}"),
            }
        });
    }
}

/// Connections counted per key (an address, or its network), at most
/// `limit` each.
struct Slots {
    taken: Mutex<HashMap<IpAddr, u32>>,
    limit: u32,
}

impl Slots {
    fn new(limit: u32) -> Arc<Slots> {
        Arc::new(Slots { taken: Mutex::default(), limit })
    }

    fn take(self: &Arc<Self>, key: IpAddr) -> Option<Slot> {
        let mut m = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key).or_default();
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot { slots: self.clone(), key })
    }
}

/// One of a key's slots, given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.slots.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// The network an address is in, for the handshake limit: a /24 (IPv4)
/// or /48 (IPv6), so that a few addresses of one network cannot take
/// every handshake slot.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            IpAddr::from([o[0], o[1], o[2], 0])
        }
        IpAddr::V6(a) => {
            let mut o = a.octets();
            o[6..].fill(0);
            IpAddr::from(o)
        }
    }
}

/// A connection ready to relay: the peer's side and librqbit's.
struct Link {
    peer: TcpStream,
    local: TcpStream,
    read: Option<Cipher>,
    write: Option<Cipher>,
    /// Already received from the peer (decrypted), for librqbit.
    to_local: Vec<u8>,
    /// Counted among the torrent's connections while it lives.
    _counted: Counted,
}

impl Link {
    async fn run(self, shared: &Shared) {
        let Link { peer, local, read, write, to_local, _counted } = self;
        let _ = peer.set_nodelay(true);
        let _ = local.set_nodelay(true);
        relay(peer, local, read, write, &to_local, &[], shared).await
    }
}

/// Relay between a peer and librqbit until either side closes (the peer
/// protocol has no half-close) or the gate is dropped. `to_local` (already
/// received from the peer) goes to librqbit first, then what the peer
/// sends, through `read`; `to_peer` (already received from librqbit) goes
/// to the peer first, then what librqbit sends, through `write`.
async fn relay(
    peer: TcpStream,
    local: TcpStream,
    mut read: Option<Cipher>,
    mut write: Option<Cipher>,
    to_local: &[u8],
    to_peer: &[u8],
    shared: &Shared,
) {
    let mut closed = shared.closed.subscribe();
    let (mut peer_r, mut peer_w) = peer.into_split();
    let (mut local_r, mut local_w) = local.into_split();
    let down = async {
        stalled(local_w.write_all(to_local)).await?;
        pump(&mut peer_r, &mut local_w, read.as_mut()).await
    };
    let up = async {
        stalled(peer_w.write_all(to_peer)).await?;
        pump(&mut local_r, &mut peer_w, write.as_mut()).await
    };
    tokio::select! {
        _ = down => {}
        _ = up => {}
        _ = closed.wait_for(|c| *c) => {}
    }
}

/// A write, failed when the other side has not read for `WRITE_STALL`.
async fn stalled(write: impl std::future::Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_STALL, write)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the other side stopped reading"))?
}

async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    mut cipher: Option<&mut Cipher>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(c) = cipher.as_deref_mut() {
            c.apply(&mut buf[..n]);
        }
        stalled(w.write_all(&buf[..n])).await?;
    }
}

fn refused(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

/// Read the peer's BitTorrent handshake, decrypting, after `pending`.
async fn read_handshake(s: &mut TcpStream, pending: &mut Vec<u8>, cipher: Option<&mut Cipher>) -> std::io::Result<()> {
    let have = pending.len();
    if have < HANDSHAKE_LEN {
        let mut more = vec![0u8; HANDSHAKE_LEN - have];
        s.read_exact(&mut more).await?;
        if let Some(c) = cipher {
            c.apply(&mut more);
        }
        pending.extend_from_slice(&more);
    }
    if &pending[..20] != PSTR {
        return Err(refused("not a BitTorrent handshake"));
    }
    Ok(())
}

fn info_hash_of(handshake: &[u8]) -> [u8; 20] {
    handshake[28..48].try_into().expect("a 68-byte handshake")
}

async fn incoming(mut sock: TcpStream, shared: &Shared) -> std::io::Result<Link> {
    let local_at = shared.local().ok_or_else(|| refused("the session is not listening yet"))?;
    let mut head = vec![0u8; 20];
    tokio::time::timeout(FIRST_BYTES, sock.read_exact(&mut head))
        .await
        .map_err(|_| refused(format!("nothing within {FIRST_BYTES:?}")))??;
    let (mut pending, read, write, method) = if head == PSTR {
        if shared.mode == Encryption::Require {
            return Err(refused("plaintext, and encryption is required"));
        }
        let mut pending = head;
        read_handshake(&mut sock, &mut pending, None).await?;
        // (Under MSE the SKEY was found among the session's torrents.)
        let info_hash = info_hash_of(&pending);
        if shared.find(|h| *h == info_hash).is_none() {
            return Err(refused("the peer asked for a torrent goat does not have"));
        }
        (pending, None, None, None)
    } else {
        let e = mse::respond(&mut sock, head, |r| shared.torrent(r), |p| shared.mode.choose(p)).await?;
        let (skey, method, mut read, write, mut pending) = (e.skey, e.method, e.read, e.write, e.pending);
        read_handshake(&mut sock, &mut pending, read.as_mut()).await?;
        if info_hash_of(&pending) != skey {
            return Err(refused("the handshake names another torrent than the MSE exchange"));
        }
        (pending, read, write, Some(method))
    };
    let info_hash = info_hash_of(&pending);
    let local = to_session(local_at).await?;
    let counted = Counted::new(&shared.counts, info_hash, method);
    Ok(Link { peer: sock, local, read, write, to_local: std::mem::take(&mut pending), _counted: counted })
}

/// A connection to librqbit's listener from `INCOMING_FROM` (from the
/// default loopback address where that one cannot be bound).
async fn to_session(at: SocketAddr) -> std::io::Result<TcpStream> {
    let aliased = async {
        let s = tokio::net::TcpSocket::new_v4()?;
        s.bind(SocketAddr::new(INCOMING_FROM.into(), 0))?;
        s.connect(at).await
    };
    match aliased.await {
        Ok(s) => Ok(s),
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| tracing::debug!(target: "goat", "no loopback alias {INCOMING_FROM} ({e}): incoming peers reach librqbit from 127.0.0.1"));
            TcpStream::connect(at).await
        }
    }
}

async fn serve_socks(l: TcpListener, shared: Arc<Shared>, password: String) {
    loop {
        let Ok((sock, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Taken before anything is read and given back once the client
        // is authenticated: a local process that connects without the
        // password holds at most a slot, for `FIRST_BYTES`.
        let Ok(permit) = shared.pending_socks.clone().try_acquire_owned() else {
            continue;
        };
        let (shared, password) = (shared.clone(), password.clone());
        tokio::spawn(async move {
            if let Err(e) = outgoing(sock, &shared, &password, permit).await {
                tracing::debug!(target: "goat", "outgoing peer connection: {e}");
            }
        });
    }
}

/// RFC 1928 with RFC 1929's password: the client's greeting, its
/// password, its CONNECT request.
async fn socks_request(s: &mut TcpStream, password: &str) -> std::io::Result<Target> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut methods).await?;
    if head[0] != 5 || !methods.contains(&2) {
        s.write_all(&[5, 0xff]).await?;
        return Err(refused("a SOCKS client without the gate's password"));
    }
    s.write_all(&[5, 2]).await?;
    let mut ver = [0u8; 2];
    s.read_exact(&mut ver).await?;
    let mut user = vec![0u8; usize::from(ver[1])];
    s.read_exact(&mut user).await?;
    let mut plen = [0u8; 1];
    s.read_exact(&mut plen).await?;
    let mut pass = vec![0u8; usize::from(plen[0])];
    s.read_exact(&mut pass).await?;
    // Constant-time enough: the length is public, the bytes are compared whole.
    let ok = pass.len() == password.len()
        && pass.iter().zip(password.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !ok {
        s.write_all(&[1, 1]).await?;
        return Err(refused("a SOCKS client with the wrong password"));
    }
    s.write_all(&[1, 0]).await?;
    let mut req = [0u8; 4];
    s.read_exact(&mut req).await?;
    if req[0] != 5 || req[1] != 1 {
        s.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Err(refused("a SOCKS request other than CONNECT"));
    }
    let target = match req[3] {
        1 => {
            let mut a = [0u8; 6];
            s.read_exact(&mut a).await?;
            Target::Addr(SocketAddr::new(IpAddr::from([a[0], a[1], a[2], a[3]]), u16::from_be_bytes([a[4], a[5]])))
        }
        4 => {
            let mut a = [0u8; 18];
            s.read_exact(&mut a).await?;
            let ip: [u8; 16] = a[..16].try_into().expect("16 bytes");
            Target::Addr(SocketAddr::new(IpAddr::from(ip), u16::from_be_bytes([a[16], a[17]])))
        }
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0]) + 2];
            s.read_exact(&mut name).await?;
            let port = u16::from_be_bytes([name[name.len() - 2], name[name.len() - 1]]);
            name.truncate(name.len() - 2);
            Target::Name(String::from_utf8(name).map_err(|_| refused("a SOCKS host name that is not UTF-8"))?, port)
        }
        _ => return Err(refused("a SOCKS address of unknown type")),
    };
    Ok(target)
}

/// A new connection to the target, directly or through the user's proxy.
async fn dial(shared: &Shared, target: &Target) -> std::io::Result<TcpStream> {
    let fut = async {
        match (&shared.upstream, target) {
            (None, Target::Addr(a)) => TcpStream::connect(a).await,
            (None, Target::Name(h, p)) => TcpStream::connect((h.as_str(), *p)).await,
            (Some(up), t) => {
                let to = match t {
                    Target::Addr(a) => (a.ip().to_string(), a.port()),
                    Target::Name(h, p) => (h.clone(), *p),
                };
                let s = match &up.auth {
                    Some((u, p)) => {
                        tokio_socks::tcp::Socks5Stream::connect_with_password(up.at.as_str(), to, u, p).await
                    }
                    None => tokio_socks::tcp::Socks5Stream::connect(up.at.as_str(), to).await,
                };
                s.map(|s| s.into_inner()).map_err(|e| std::io::Error::other(format!("through the proxy: {e}")))
            }
        }
    };
    tokio::time::timeout(CONNECT, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Addresses no peer has: unspecified, multicast, broadcast, link-local
/// (where cloud metadata services answer). librqbit dials whatever
/// address and port a peer's extended handshake names, so these are
/// refused here. Loopback and private networks stay allowed: a client on
/// the same machine or the LAN is a real peer.
fn unroutable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_link_local(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

async fn outgoing(
    mut client: TcpStream,
    shared: &Shared,
    password: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> std::io::Result<()> {
    let target = tokio::time::timeout(FIRST_BYTES, socks_request(&mut client, password))
        .await
        .map_err(|_| refused("a SOCKS client too slow"))??;
    drop(permit);
    if let Target::Addr(a) = &target {
        let why = if unroutable(a.ip()) {
            Some("not an address a peer can have")
        } else if a.ip() == IpAddr::from(INCOMING_FROM) {
            Some("librqbit redialling an incoming peer through its loopback alias")
        } else {
            None
        };
        if let Some(why) = why {
            let _ = client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return Err(refused(format!("{a}: {why}")));
        }
    }
    let peer = match dial(shared, &target).await {
        Ok(p) => p,
        Err(e) => {
            let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return Err(std::io::Error::new(e.kind(), format!("{target}: {e}")));
        }
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;

    // librqbit writes its BitTorrent handshake first; anything else (an
    // HTTP tracker request) is relayed as it is.
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(HANDSHAKE, client.read(&mut first))
        .await
        .map_err(|_| refused("librqbit sent nothing"))??;
    if n == 0 {
        return Ok(());
    }
    if first[0] != PSTR[0] {
        relay(peer, client, None, None, &[], &first, shared).await;
        return Ok(());
    }
    let mut handshake = vec![0u8; HANDSHAKE_LEN];
    handshake[0] = first[0];
    tokio::time::timeout(HANDSHAKE, client.read_exact(&mut handshake[1..]))
        .await
        .map_err(|_| refused("librqbit's handshake is slow"))??;
    if &handshake[..20] != PSTR {
        relay(peer, client, None, None, &[], &handshake, shared).await;
        return Ok(());
    }
    let info_hash = info_hash_of(&handshake);
    let link = match tokio::time::timeout(HANDSHAKE, open(shared, &target, peer, &handshake)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(std::io::Error::new(e.kind(), format!("{target}: {e}"))),
        Err(_) => return Err(refused(format!("{target}: handshake over {HANDSHAKE:?}"))),
    };
    let (peer, read, write, method, from_peer) = link;
    let counted = Counted::new(&shared.counts, info_hash, method);
    Link { peer, local: client, read, write, to_local: from_peer, _counted: counted }.run(shared).await;
    Ok(())
}

type Opened = (TcpStream, Option<Cipher>, Option<Cipher>, Option<Method>, Vec<u8>);

/// Open a BitTorrent connection to `target` in the mode's order.
async fn open(shared: &Shared, target: &Target, peer: TcpStream, handshake: &[u8]) -> std::io::Result<Opened> {
    match shared.mode {
        Encryption::Require => encrypted(shared, peer, handshake).await,
        // Behind a proxy (Tor: slow circuits) a slow answer is not a
        // refusal: MSE gets the whole handshake time and no plaintext retry
        // follows it; only a peer that drops MSE gets plaintext.
        Encryption::PreferEncrypted if shared.upstream.is_some() => match encrypted(shared, peer, handshake).await {
            Ok(o) => Ok(o),
            Err(_) => plaintext(dial(shared, target).await?, handshake).await,
        },
        Encryption::PreferEncrypted => match tokio::time::timeout(ATTEMPT, encrypted(shared, peer, handshake)).await {
            Ok(Ok(o)) => Ok(o),
            _ => plaintext(dial(shared, target).await?, handshake).await,
        },
        Encryption::PreferPlaintext => match tokio::time::timeout(ATTEMPT, plaintext(peer, handshake)).await {
            Ok(Ok(o)) => Ok(o),
            _ => encrypted(shared, dial(shared, target).await?, handshake).await,
        },
    }
}

async fn encrypted(shared: &Shared, peer: TcpStream, handshake: &[u8]) -> std::io::Result<Opened> {
    let info_hash = info_hash_of(handshake);
    let e = mse::initiate(peer, info_hash, shared.mode.provide(), handshake).await?;
    Ok((e.stream, e.read, e.write, Some(e.method), e.pending))
}

/// Send the handshake in the clear and wait for the peer's first bytes:
/// a peer that requires encryption closes instead.
async fn plaintext(mut peer: TcpStream, handshake: &[u8]) -> std::io::Result<Opened> {
    peer.write_all(handshake).await?;
    let mut buf = vec![0u8; 4096];
    let n = peer.read(&mut buf).await?;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the peer closed on a plaintext handshake"));
    }
    buf.truncate(n);
    Ok((peer, None, None, None, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_selects_as_documented() {
        use Encryption::*;
        let both = mse::RC4 | mse::PLAINTEXT;
        assert_eq!(PreferEncrypted.choose(both), Some(Method::Rc4));
        assert_eq!(PreferPlaintext.choose(both), Some(Method::Plaintext));
        assert_eq!(Require.choose(both), Some(Method::Rc4));
        assert_eq!(Require.choose(mse::PLAINTEXT), None);
        assert_eq!(PreferPlaintext.choose(mse::RC4), Some(Method::Rc4));
        assert_eq!(PreferEncrypted.choose(mse::PLAINTEXT), Some(Method::Plaintext));
        assert_eq!(PreferEncrypted.choose(0), None);
        assert_eq!(Require.provide(), mse::RC4);
    }

    #[test]
    fn limits_are_per_network_and_peers_cannot_name_unroutable_addresses() {
        assert_eq!(network("198.51.100.7".parse().unwrap()), "198.51.100.0".parse::<IpAddr>().unwrap());
        assert_eq!(network("2001:db8:1:2::5".parse().unwrap()), "2001:db8:1::".parse::<IpAddr>().unwrap());
        let slots = Slots::new(2);
        let key: IpAddr = "192.0.2.0".parse().unwrap();
        let (a, b) = (slots.take(key).unwrap(), slots.take(key).unwrap());
        assert!(slots.take(key).is_none());
        drop(a);
        assert!(slots.take(key).is_some());
        drop(b);
        for bad in ["0.0.0.0", "169.254.169.254", "224.0.0.1", "255.255.255.255", "::", "fe80::1", "ff02::1"] {
            assert!(unroutable(bad.parse().unwrap()), "{bad}");
        }
        for good in ["127.0.0.1", "192.168.1.20", "198.51.100.7", "::1", "2001:db8::1"] {
            assert!(!unroutable(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn a_user_proxy_is_parsed_with_its_password() {
        let u = Upstream::parse("socks5h://al%20ice:p%40ss@127.0.0.1:9050").unwrap();
        assert_eq!(u.at, "127.0.0.1:9050");
        assert_eq!(u.auth, Some(("al ice".into(), "p@ss".into())));
        assert_eq!(Upstream::parse("socks5://[::1]:1080").unwrap().at, "[::1]:1080");
        // Tor's stream isolation: a user name alone, no login.
        assert!(Upstream::parse("socks5h://isolate@127.0.0.1:9050").unwrap().auth.is_none());
        assert!(Upstream::parse("socks5://:secret@127.0.0.1:9050").is_err());
    }
}

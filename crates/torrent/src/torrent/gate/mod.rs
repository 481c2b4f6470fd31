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
//! - **uTP.** The gate also listens for uTP (BEP 29, librqbit-utp) on the
//!   UDP port of the same number, and treats a uTP stream as it treats a
//!   TCP connection. Outgoing, it falls back to uTP when TCP is refused or
//!   dropped before the peer's first byte: a libtorrent peer with TCP off
//!   still accepts TCP and closes it unanswered, so trying both at once and
//!   keeping the first that connects (librqbit's own `TcpAndUtp`) never
//!   reaches it. Never through a proxy: SOCKS5 carries no uTP.
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
//! - **Availability.** The gate also reads, without changing them, the
//!   BITFIELD and HAVE messages each peer sends (`watch.rs`): librqbit
//!   keeps the peers' bitfields private, and goat's piece steering
//!   (`steer.rs`) picks the rarest pieces from them.
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

mod incoming;
mod outgoing;
mod relay;
pub mod superseed;
pub mod watch;
use incoming::*;
use outgoing::*;
use relay::*;
use watch::{Availability, Watcher};

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
/// Incoming uTP handshakes in progress, apart from TCP's `PENDING`: uTP
/// has no handshake of its own that proves the sender's address, so
/// forged ones must not take TCP's slots.
const PENDING_UTP: usize = 128;
/// uTP streams the socket keeps at once (librqbit-utp's default is 128,
/// which forged connection requests alone could fill).
const UTP_STREAMS: usize = 1024;
/// How long after a uTP stream to a peer ended a new one waits
/// (`Shared::utp_settle`; outgoing.rs says why and how it was measured).
const UTP_SETTLE: Duration = Duration::from_millis(3000);
/// librqbit's SOCKS connections still negotiating.
const PENDING_SOCKS: usize = 256;
/// A handshake's whole time.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A peer's first 20 bytes, and librqbit's SOCKS negotiation.
const FIRST_BYTES: Duration = Duration::from_secs(5);
/// One write to a side that does not read.
const WRITE_STALL: Duration = Duration::from_secs(60);
/// Where incoming peers seem to come from, to librqbit.
pub(super) const INCOMING_FROM: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 71, 1);
/// One try at MSE or plaintext before the other: librqbit waits 10 s for
/// the peer's handshake, and the second try must fit in that.
const ATTEMPT: Duration = Duration::from_secs(4);
/// Connecting to a peer.
const CONNECT: Duration = Duration::from_secs(10);
/// Connecting to a peer over uTP (after TCP failed, inside librqbit's own
/// 10 s for the whole connection).
const UTP_CONNECT: Duration = Duration::from_secs(4);
/// Relay buffer, one per direction.
const CHUNK: usize = 32 << 10;
const PSTR: &[u8; 20] = b"\x13BitTorrent protocol";
const HANDSHAKE_LEN: usize = 68;

/// A peer's byte stream: TCP, or a uTP stream.
pub(super) trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerIo for T {}
pub(super) type Stream = Box<dyn PeerIo>;

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
    /// Open now over uTP (whatever their encryption).
    pub utp: u32,
    /// Opened in this run over uTP.
    pub opened_utp: u64,
}

type Table = Arc<Mutex<HashMap<[u8; 20], Counts>>>;

/// One relayed connection, counted while it lives.
struct Counted {
    table: Table,
    info_hash: [u8; 20],
    method: Option<Method>,
    utp: bool,
}

impl Counted {
    /// Only for the session's own torrents (the caller checked), so the
    /// table holds one row per torrent whatever peers send.
    fn new(table: &Table, info_hash: [u8; 20], method: Option<Method>, utp: bool) -> Counted {
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        let c = t.entry(info_hash).or_default();
        match method {
            None => c.opened_plaintext += 1,
            Some(_) => c.opened_encrypted += 1,
        }
        if utp {
            c.opened_utp += 1;
            c.utp += 1;
        }
        Self::change(c, method, |n| *n += 1);
        Counted { table: table.clone(), info_hash, method, utp }
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
            if self.utp {
                c.utp = c.utp.saturating_sub(1);
            }
        }
    }
}

struct Shared {
    mode: Encryption,
    /// The uTP socket on the announced port (None: uTP off, or behind a
    /// proxy).
    utp: Option<Arc<librqbit_utp::UtpSocketUdp>>,
    upstream: Option<Upstream>,
    counts: Table,
    /// What each relayed peer has said it holds.
    avail: Availability,
    /// Super-seeding (`superseed.rs`), when `--super-seed` turned it on.
    super_seeding: std::sync::atomic::AtomicBool,
    superseed: superseed::SuperSeed,
    pending: Arc<tokio::sync::Semaphore>,
    pending_utp: Arc<tokio::sync::Semaphore>,
    pending_socks: Arc<tokio::sync::Semaphore>,
    /// Incoming handshakes in progress, per network.
    handshakes: Arc<Slots>,
    /// Incoming connections open, per address, and in all.
    links: Arc<Slots>,
    open_links: Arc<tokio::sync::Semaphore>,
    /// Set when the gate is dropped: every connection task ends.
    closed: tokio::sync::watch::Sender<bool>,
    /// When each peer's last outgoing uTP stream ended (recent ones only).
    utp_ended: Mutex<HashMap<SocketAddr, std::time::Instant>>,
    /// librqbit's own listener, and the torrents of its session.
    session: std::sync::OnceLock<(SocketAddr, Weak<librqbit::Session>)>,
}

/// The gate of one session; its tasks end when it is dropped.
pub struct Gate {
    shared: Arc<Shared>,
    listen: Option<TcpListener>,
    /// Whether incoming uTP is served yet (`attach`).
    utp_served: bool,
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
    /// may, as behind a proxy); `upstream` the user's SOCKS5 proxy; `utp`
    /// whether peers are also reached over uTP on the same port number.
    pub async fn open(mode: Encryption, listen: Option<SocketAddr>, upstream: Option<&str>, utp: bool) -> Result<Gate> {
        let upstream = upstream.map(Upstream::parse).transpose()?;
        let utp = utp && upstream.is_none() && listen.is_some();
        let (listener, utp) = match listen {
            Some(at) => {
                let (l, u) = bind(at, utp).await?;
                (Some(l), u)
            }
            None => (None, None),
        };
        let port = listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port());
        let socks = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| Error::io("starting the peer gate", e))?;
        let socks_at = socks.local_addr().map_err(|e| Error::io("starting the peer gate", e))?;
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        let password = hex::encode(secret);
        let shared = Arc::new(Shared {
            mode,
            utp,
            upstream,
            counts: Table::default(),
            avail: Availability::default(),
            super_seeding: std::sync::atomic::AtomicBool::new(false),
            superseed: superseed::SuperSeed::default(),
            pending: Arc::new(tokio::sync::Semaphore::new(PENDING)),
            pending_utp: Arc::new(tokio::sync::Semaphore::new(PENDING_UTP)),
            pending_socks: Arc::new(tokio::sync::Semaphore::new(PENDING_SOCKS)),
            handshakes: Slots::new(PER_NETWORK),
            links: Slots::new(PER_IP_LINKS),
            open_links: Arc::new(tokio::sync::Semaphore::new(MAX_LINKS)),
            closed: tokio::sync::watch::channel(false).0,
            session: std::sync::OnceLock::new(),
            utp_ended: Mutex::default(),
        });
        let task = tokio::spawn(serve_socks(socks, shared.clone(), password.clone()));
        Ok(Gate {
            shared,
            listen: listener,
            utp_served: false,
            port,
            // socks5h: host names (HTTP trackers) are resolved by the gate,
            // through the user's proxy if there is one.
            proxy_url: format!("socks5h://goat:{password}@{socks_at}"),
            tasks: Mutex::new(vec![task]),
        })
    }

    /// Super-seed (BEP 16, `superseed.rs`) every torrent goat holds whole,
    /// on connections opened from now on.
    pub fn set_super_seed(&self, on: bool) {
        self.shared.super_seeding.store(on, std::sync::atomic::Ordering::Relaxed);
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
        if let (Some(u), false) = (&self.shared.utp, self.utp_served) {
            self.utp_served = true;
            let task = tokio::spawn(serve_utp(u.clone(), self.shared.clone()));
            self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        }
    }

    /// Whether peers reach goat over uTP too.
    pub fn utp(&self) -> bool {
        self.shared.utp.is_some()
    }

    /// Connections open now for a torrent.
    pub fn counts(&self, info_hash: &[u8; 20]) -> Counts {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).get(info_hash).copied().unwrap_or_default()
    }

    /// For each of the torrent's `pieces`, how many connected peers say they
    /// have it (`watch.rs`): what rarest-first steering reads.
    pub fn availability(&self, info_hash: &[u8; 20], pieces: u32) -> Vec<u16> {
        self.shared.avail.counts(info_hash, pieces)
    }
}

impl Shared {
    /// An outgoing uTP stream to `peer` ended now.
    fn utp_closed(&self, peer: SocketAddr) {
        let mut m = self.utp_ended.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, at| at.elapsed() < UTP_SETTLE);
        m.insert(peer, std::time::Instant::now());
    }

    /// How long a new uTP stream to `peer` should wait for the last one
    /// to be closed on the peer's side too (None: no wait).
    fn utp_settle(&self, peer: SocketAddr) -> Option<Duration> {
        let m = self.utp_ended.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&peer).and_then(|at| UTP_SETTLE.checked_sub(at.elapsed())).filter(|d| !d.is_zero())
    }

    fn local(&self) -> Option<SocketAddr> {
        self.session.get().map(|(at, _)| *at)
    }

    /// The session's torrent whose HASH('req2', ...) this is.
    fn torrent(&self, req2: &[u8; 20]) -> Option<[u8; 20]> {
        self.find(|h| &mse::req2(h) == req2)
    }

    /// A watcher of a new connection of torrent `info_hash` (`watch.rs`),
    /// bounded by the torrent's piece count once its metadata is known.
    fn watch(&self, info_hash: [u8; 20]) -> Watcher {
        self.avail.watch(info_hash, self.pieces(&info_hash))
    }

    /// The piece count of the session's torrent `info_hash`, once its
    /// metadata is known.
    fn pieces(&self, info_hash: &[u8; 20]) -> Option<u32> {
        let session = self.session.get()?.1.upgrade()?;
        let t = session.with_torrents(|all| all.map(|(_, t)| t).find(|t| &t.info_hash().0 == info_hash).cloned())?;
        t.with_metadata(|m| m.lengths().total_pieces()).ok()
    }

    fn find(&self, f: impl Fn(&[u8; 20]) -> bool) -> Option<[u8; 20]> {
        let session = self.session.get()?.1.upgrade()?;
        session.with_torrents(|all| all.map(|(_, t)| t.info_hash().0).find(|h| f(h)))
    }
}

type Opened = (Stream, Option<Cipher>, Option<Cipher>, Option<Method>, Vec<u8>);

/// Tries at a port free for both TCP and UDP, when the system picks it.
const BIND_TRIES: usize = 8;

/// The TCP listener at `at`, and with `utp` the uTP socket on the UDP port
/// of the same number. When the system picks the port (`at` port 0), one
/// free for both is looked for.
async fn bind(at: SocketAddr, utp: bool) -> Result<(TcpListener, Option<Arc<librqbit_utp::UtpSocketUdp>>)> {
    let busy = |what: &str, e: &dyn std::fmt::Display| {
        Error::usage(format!("cannot listen for peers on {what} {at}: {e}: pick another --listen-port"))
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tcp = TcpListener::bind(at).await.map_err(|e| busy("TCP", &e))?;
        if !utp {
            return Ok((tcp, None));
        }
        let port = tcp.local_addr().map_err(|e| Error::io("starting the peer gate", e))?.port();
        let udp_at = SocketAddr::new(at.ip(), port);
        let opts = librqbit_utp::SocketOpts {
            max_live_vsocks: std::num::NonZeroUsize::new(UTP_STREAMS),
            ..Default::default()
        };
        match librqbit_utp::UtpSocketUdp::new_udp_with_opts(udp_at, opts, Default::default()).await {
            Ok(u) => return Ok((tcp, Some(u))),
            Err(e) if at.port() != 0 || attempt == BIND_TRIES => {
                return Err(Error::usage(format!(
                    "cannot listen for uTP peers on UDP {udp_at}: {e:#}: pick another --listen-port, or --no-utp"
                )))
            }
            Err(_) => continue,
        }
    }
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

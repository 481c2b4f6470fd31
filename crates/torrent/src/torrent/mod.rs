//! Stage 4: goatfile magnets → files on disk, with librqbit.
//!
//! librqbit does the BitTorrent work (metadata exchange, trackers, DHT, peer
//! protocol, piece SHA-1 checks during transfer). This module adapts it to
//! goat's needs and papers over behaviours measured here:
//! - `add_torrent` with a magnet blocks until metadata arrives: bounded by a
//!   timeout;
//! - its magnet parser ignores `x.pe`: those peers become `initial_peers`;
//! - `wait_until_completed` never returns if the torrent errors: we poll
//!   `stats()` and watch `error` instead;
//! - resuming or seeding existing files needs `overwrite: true`; librqbit
//!   then re-checks what is on disk and fetches only missing pieces.

pub mod announce;
pub mod bridge;
pub mod create;
pub mod durable;
pub mod files;
pub mod gate;
pub mod geometry;
pub mod known;
pub mod metadata;
pub mod mse;
pub mod portmap;
pub mod resume;
pub mod steer;
pub mod storage;
pub mod webseed;

mod adding;
mod disk;
mod errors;
mod handle;
mod info;
mod proving;

use disk::preallocate;
pub use disk::{disk_full, free_space};
use errors::*;
pub(crate) use info::{check_components, listed_files};
use info::{hash_of, id20, info_hash_of_torrent, piece_length_of, pieces_within, same_torrent};

use crate::error::{Error, Kind, Result};
pub use crate::goatfile::InfoHash;
use crate::goatfile::Magnet;
use bytes::Bytes;
use librqbit::api::TorrentIdOrHash;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ConnectionOptions, ListenerMode, ListenerOptions,
    ManagedTorrent, Session, SessionOptions,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How goat's BitTorrent session behaves.
#[derive(Debug, Clone, Default)]
pub struct SwarmConfig {
    /// TCP port to listen on for incoming peers (None: any free port).
    pub listen_port: Option<u16>,
    /// Listen on 127.0.0.1 only (tests, demos).
    pub loopback_only: bool,
    /// Find peers through the DHT (never with a proxy, whatever this says).
    pub dht: bool,
    /// Map the listening port on the gateway with UPnP (`portmap.rs`;
    /// never with a proxy or on loopback).
    pub map_port: bool,
    /// Reach and serve peers over uTP too, on the UDP port of the listening
    /// port's number (never with a proxy).
    pub utp: bool,
    /// SOCKS5 proxy for all peer connections. With a proxy goat also turns
    /// off DHT, trackers, local discovery and listening, so no traffic can
    /// leave around it.
    pub socks_proxy: Option<String>,
    /// Download limit in bytes per second (None or 0: no limit).
    pub max_download_bps: Option<u32>,
    /// Upload limit in bytes per second (None or 0: no limit).
    pub max_upload_bps: Option<u32>,
    /// Most peers connected at once per torrent (None: librqbit's 128).
    pub peer_limit: Option<usize>,
    /// Where librqbit keeps its session (which torrents, where) and the
    /// fastresume bitfields, for a daemon that must survive restarts.
    /// None: nothing is remembered (one-shot `goat fetch`).
    pub state_dir: Option<PathBuf>,
    /// Piece order for downloads.
    pub piece_order: PieceOrder,
    /// Super-seed (BEP 16) the torrents held whole (`gate/superseed.rs`).
    pub super_seed: bool,
    /// DHT bootstrap nodes (host:port) instead of librqbit's public ones.
    pub dht_bootstrap: Vec<String>,
    /// MSE/PE: whether peer connections are encrypted (`gate/`).
    pub encryption: gate::Encryption,
    /// MiB of memory for whole pieces gathered before they are written
    /// (0: each block written as it arrives; `storage::Budget`).
    pub piece_buffer_mib: usize,
    /// Block requests in flight per peer (None: [`REQUEST_WINDOW`]).
    pub request_window: Option<usize>,
    /// Torrents seeded from a publisher's own folder (`goat seed`'s
    /// `published.json`), known before the session restores them: their
    /// files are only ever read.
    pub read_only: Vec<InfoHash>,
    /// Folders goat may write below (its output folders, links resolved).
    /// A torrent whose folder is anywhere else (a publisher's, or one only
    /// librqbit's session file names) is opened read-only: fail closed.
    pub write_roots: Vec<PathBuf>,
}

/// Which pieces a download asks for first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PieceOrder {
    /// The rarest pieces first (the fewest connected peers have them; random
    /// among equals, and while no peer has said what it holds), so nodes
    /// that start together trade and ask a thin origin only for what no one
    /// else has (steered through librqbit's streams: `steer.rs`). Named
    /// `random` since before it read the peers' bitfields; `rarest` too.
    #[default]
    #[value(alias = "rarest")]
    Random,
    /// librqbit's own order: file by file (for comparison in benchmarks).
    File,
}

/// goat's BitTorrent session: one librqbit session with goat's storage under
/// it, its peer connections through the gate, and the web seeds.
pub struct Swarm {
    session: Arc<Session>,
    api: Arc<librqbit::api::Api>,
    cfg: SwarmConfig,
    /// One torrent added to the session at a time. librqbit 9.1's JSON
    /// session persistence numbers a new torrent max(stored ids) + 1
    /// (`session_persistence/json.rs::next_id`) before the torrent is
    /// stored, so two adds at once get the same id and the second comes
    /// back `AlreadyManaged` with the *first* torrent's handle
    /// (`session.rs::add_torrent_internal` matches on the id too). Found
    /// by benches/seed_scale.py; `same_torrent` guards against it as well.
    adding: tokio::sync::Mutex<()>,
    /// Steering streams left in the session (`steer::SESSION_STREAMS`).
    streams: Arc<tokio::sync::Semaphore>,
    /// What goat's storage layer proved, per torrent (`storage`).
    handoff: storage::Shared,
    /// BEP 19 web seeds: the HTTP client and the seeds dropped this run.
    web: webseed::WebSeeds,
    /// The session's peer id, by which the web-seed bridge knows it.
    peer_id: librqbit::dht::Id20,
    /// Where peer connections pass through MSE/PE.
    gate: Arc<gate::Gate>,
    /// Per torrent, files whose whole bytes goat hashed in this session and
    /// found to be the goatfile's sha256 (local copies), as they were then:
    /// [`Swarm::vouch`].
    whole: Mutex<HashMap<InfoHash, Vec<(PathBuf, crate::safefs::Stamp)>>>,
    /// Announces every torrent to the closest DHT nodes known, however
    /// few (`announce.rs`); None without the DHT.
    announcer: Option<announce::Announcer>,
    /// Each torrent's last DHT announce (empty without the DHT).
    announced: announce::Book,
    /// The listening port mapped on the gateway (unset: not asked).
    portmap: std::sync::OnceLock<portmap::PortMap>,
}

/// A torrent being fetched or seeded.
#[derive(Clone)]
pub struct Torrent {
    /// librqbit's handle of the torrent.
    pub handle: Arc<ManagedTorrent>,
    /// The folder its files are in.
    pub output: PathBuf,
    /// The piece-order task of a download (rarest-first), alive as long as
    /// the torrent is held; it ends by itself when the download completes.
    pub steering: Option<Arc<steer::Steering>>,
    /// Its web seeds, bridged into the session while it downloads.
    pub web: Option<Arc<bridge::Bridges>>,
    /// The session's gate, which counts its encrypted peers.
    pub gate: Arc<gate::Gate>,
    /// The session's last DHT announces.
    pub announced: announce::Book,
}

/// What one peer sent this torrent in this run, from librqbit's per-peer
/// counters (a snapshot): where a download's bytes came from, and how many
/// of them were wasted on pieces another peer finished first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerTally {
    /// The peer's address as librqbit knows it (peers that dialed in reach
    /// librqbit through goat's gate, from its loopback alias).
    pub addr: String,
    /// Block bytes received from it, kept or not.
    pub fetched_bytes: u64,
    /// Pieces it completed that passed the hash check.
    pub pieces: u32,
    /// Times a faster peer took over a piece it was sending.
    pub stolen_from_it: u32,
    /// Times it took over a piece another peer was sending.
    pub it_stole: u32,
}

/// What the download stage reports, as a snapshot.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    /// Bytes librqbit has of the torrent (its `progress_bytes`).
    pub have_bytes: u64,
    /// Bytes the torrent has when finished (librqbit's `total_bytes`).
    pub total_bytes: u64,
    /// Bytes received from peers in this run (includes rejected pieces).
    pub fetched_bytes: u64,
    /// Bytes sent to peers since the torrent last went live (0 while it is
    /// not).
    pub uploaded_bytes: u64,
    /// Download speed in bytes per second (librqbit's estimate; 0 while the
    /// torrent is not live).
    pub download_bps: f64,
    /// Upload speed in bytes per second (librqbit's estimate; 0 while the
    /// torrent is not live).
    pub upload_bps: f64,
    /// Peers connected now (0 while the torrent is not live).
    pub peers: u32,
    /// Of `fetched_bytes`, those its web seeds handed over.
    pub web_seed_bytes: u64,
    /// Peer connections open now that were opened with MSE/PE (those not
    /// counted in `rc4_peers` encrypted only the handshake, as both sides
    /// allowed).
    pub encrypted_peers: u32,
    /// Of `encrypted_peers`, those whose payload is RC4.
    pub rc4_peers: u32,
    /// Peer connections opened in this run with MSE/PE.
    pub encrypted_connections: u64,
    /// Peer connections opened in this run in plaintext.
    pub plaintext_connections: u64,
    /// Peer connections open now over uTP.
    pub utp_peers: u32,
    /// Peer connections opened in this run over uTP.
    pub utp_connections: u64,
    /// DHT nodes that stored goat's last announce of the torrent (None:
    /// not announced, as without the DHT).
    pub dht_stored: Option<usize>,
    /// librqbit has every piece: the download is complete.
    pub finished: bool,
    /// The error the torrent stopped on, in librqbit's words (None: no error).
    pub error: Option<String>,
}

/// A torrent's metadata, checked against its magnet and not yet added
/// ([`Swarm::metadata`]).
pub struct Metadata {
    /// The `.torrent` goat keeps.
    pub bytes: Bytes,
    /// Its files in torrent order (padding files included).
    pub files: Vec<TorrentFile>,
    /// Bytes in each piece (the last may be shorter).
    pub piece_length: u64,
    /// The torrent's v1 info-hash (the magnet's).
    pub hash: InfoHash,
    /// Peers to start from: the given ones, the magnet's, those met.
    peers: Vec<SocketAddr>,
}

impl Metadata {
    /// Every file as (relative path, length), padding included.
    pub fn listed(&self) -> Vec<(PathBuf, u64)> {
        self.files.iter().map(|f| (f.path.clone(), f.length)).collect()
    }
}

/// One file of a torrent, where librqbit put it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TorrentFile {
    /// Path relative to the torrent's output folder.
    pub path: PathBuf,
    /// Where the file starts in the torrent, in bytes (its files laid end to end).
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file: zeros, for which goat keeps no file on disk.
    pub padding: bool,
}

impl Swarm {
    /// Start the session `cfg` describes: the gate, librqbit over goat's
    /// storage and the web-seed client. `default_folder` is librqbit's
    /// default output folder.
    pub async fn start(cfg: SwarmConfig, default_folder: &Path) -> Result<Swarm> {
        let proxied = cfg.socks_proxy.is_some();
        if let Some(p) = &cfg.socks_proxy {
            if !p.starts_with("socks5://") && !p.starts_with("socks5h://") {
                return Err(Error::usage(format!(
                    "--proxy '{}' is not a socks5:// URL: BitTorrent traffic can only go through SOCKS5",
                    crate::text::line(p)
                )));
            }
        }
        // Peers reach goat through the gate (`gate/`: MSE/PE), which owns
        // the announced port; librqbit listens on loopback behind it. Behind
        // a proxy nothing may reach goat from outside: no gate listener, and
        // librqbit's loopback listener serves only the web-seed bridge
        // (`bridge.rs`), announced to no one (trackers and the DHT are off).
        let ip = bind_ip(cfg.loopback_only);
        let public = (!proxied).then(|| SocketAddr::new(ip, cfg.listen_port.unwrap_or(0)));
        let mut gate = gate::Gate::open(cfg.encryption, public, cfg.socks_proxy.as_deref(), cfg.utp).await?;
        gate.set_super_seed(cfg.super_seed);
        let listen = Some(ListenerOptions {
            mode: ListenerMode::TcpOnly,
            listen_addr: SocketAddr::new([127, 0, 0, 1].into(), 0),
            // librqbit announces port 4240 when it listens on loopback
            // without an announce port: the gate's port is announced.
            announce_port: gate.port(),
            ipv4_only: true,
            ..Default::default()
        });
        let dht = match (&cfg.state_dir, cfg.dht && !proxied) {
            (_, false) => None,
            (state, true) => Some(librqbit::DhtSessionConfig {
                // A daemon keeps its DHT routing table beside its other
                // state, not in librqbit's per-user default folder.
                persistence: state.as_ref().map(|dir| librqbit::dht::DhtPersistenceConfig {
                    config_filename: Some(dir.join("dht.json")),
                    ..Default::default()
                }),
                bootstrap_addrs: if cfg.dht_bootstrap.is_empty() { None } else { Some(cfg.dht_bootstrap.clone()) },
                // With a fixed peer port the DHT answers on a fixed UDP
                // port, so other nodes can bootstrap from it: the same
                // number, or the next one up when uTP holds that one
                // (librqbit's DHT binds a socket of its own, which cannot
                // share a port with the gate's uTP: `dht_port`).
                port: cfg.listen_port.filter(|p| *p != 0).map(|p| dht_port(p, gate.utp())),
            }),
        };
        // Filled before the session restores its torrents, so a publisher's
        // folder is never opened for writing, not even once.
        let handoff = storage::Shared::default();
        storage::lock(&handoff).read_only.extend(cfg.read_only.iter().copied());
        if let Some(dir) = &cfg.state_dir {
            storage::lock(&handoff).folders.extend(resume::session_folders(dir));
        }
        let peer_id = librqbit_core::peer_id::generate_peer_id(b"-rQ9100-");
        let opts = SessionOptions {
            peer_id: Some(peer_id),
            default_storage_factory: Some({
                use librqbit::storage::StorageFactoryExt;
                storage::ProvingFactory::new(
                    handoff.clone(),
                    cfg.write_roots.clone(),
                    storage::Budget::from_mib(cfg.piece_buffer_mib),
                )
                .boxed()
            }),
            dht,
            disable_trackers: proxied,
            disable_local_service_discovery: true,
            fastresume: cfg.state_dir.is_some(),
            persistence: cfg
                .state_dir
                .as_ref()
                .map(|d| librqbit::SessionPersistenceConfig::Json { folder: Some(session_dir(d)) }),
            listen,
            connect: Some(ConnectionOptions {
                // Every outgoing peer connection goes through the gate, which
                // goes on through the user's proxy if there is one.
                proxy_url: Some(gate.proxy_url().to_string()),
                peer_opts: Some(librqbit::PeerConnectionOptions {
                    max_request_window: Some(cfg.request_window.unwrap_or(REQUEST_WINDOW).max(1)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ratelimits: librqbit::limits::LimitsConfig {
                upload_bps: cfg.max_upload_bps.and_then(NonZeroU32::new),
                download_bps: cfg.max_download_bps.and_then(NonZeroU32::new),
            },
            peer_limit: cfg.peer_limit,
            // Sizes librqbit's blocking-I/O semaphore (its only use of this
            // option): each steering stream holds one permit for as long as
            // it is open, so leave room for disk writes beside them.
            runtime_worker_threads: Some(64),
            ..Default::default()
        };
        let session = Session::new_with_opts(default_folder.to_path_buf(), opts).await.map_err(|e| {
            let msg = format!("{e:#}");
            // Words, because librqbit gives nothing else here: its socket
            // crate's `Error::Bind(io::Error)` does not expose the io::Error
            // as a source, so the chain ends above "Address in use".
            if msg.contains("in use") {
                Error::usage(format!("cannot listen for peers: {msg}: pick another --listen-port"))
            } else {
                Error::internal(format!("cannot start the BitTorrent session: {msg}"))
            }
        })?;
        let api = Arc::new(librqbit::api::Api::new(session.clone(), None));
        let web = webseed::WebSeeds::new(cfg.socks_proxy.as_deref())?;
        let local = session.listen_addr().ok_or_else(|| Error::internal("the BitTorrent session has no listener"))?;
        // librqbit binds its DHT socket with SO_REUSEADDR, as librqbit-utp
        // binds the gate's: were they on one port, each would silently
        // take some of the other's packets (a DHT port remembered from an
        // earlier run can land on the port the system just gave the gate).
        if let (Some(dht), Some(port), true) = (session.get_dht(), gate.port(), gate.utp()) {
            if dht.listen_addr().port() == port {
                return Err(Error::usage(format!(
                    "the DHT and uTP both took UDP port {port}: set --listen-port (the DHT then takes the next port up)"
                )));
            }
        }
        gate.attach(local, &session);
        let announced = announce::Book::default();
        let announcer = match (session.get_dht(), gate.port()) {
            (Some(_), Some(port)) => Some(
                announce::Announcer::start(
                    Arc::downgrade(&session),
                    ip,
                    port,
                    cfg.dht_bootstrap.clone(),
                    announced.clone(),
                )
                .await
                .map_err(|e| Error::io("starting the DHT announcer", e))?,
            ),
            _ => None,
        };
        let swarm = Swarm {
            portmap: std::sync::OnceLock::new(),
            announcer,
            announced,
            gate: Arc::new(gate),
            web,
            peer_id,
            session,
            api,
            cfg,
            adding: tokio::sync::Mutex::new(()),
            streams: Arc::new(tokio::sync::Semaphore::new(steer::SESSION_STREAMS)),
            handoff,
            whole: Mutex::default(),
        };
        if swarm.cfg.map_port {
            swarm.map_port();
        }
        Ok(swarm)
    }

    /// Map the listening port on the gateway with UPnP and keep it mapped
    /// until [`Swarm::stop`] or [`Swarm::finish`] (`portmap.rs`). Nothing
    /// on loopback, behind a proxy (no listening port), or when already
    /// mapped.
    pub fn map_port(&self) {
        if let Some(port) = self.gate.port().filter(|_| !self.cfg.loopback_only) {
            self.portmap.get_or_init(|| portmap::PortMap::start(port, self.gate.utp()));
        }
    }

    /// The web seeds of this run (also reads metadata from URLs).
    pub fn web(&self) -> &webseed::WebSeeds {
        &self.web
    }

    /// Where the port mapping on the gateway stands (None: not asked).
    pub fn mapping(&self) -> Option<portmap::Mapping> {
        self.portmap.get().map(|p| p.snapshot())
    }

    /// Whether peers reach goat over uTP too.
    pub fn utp(&self) -> bool {
        self.gate.utp()
    }

    /// The UDP port the DHT answers on (None: the DHT is off).
    pub fn dht_port(&self) -> Option<u16> {
        self.session.get_dht().map(|d| d.listen_addr().port())
    }

    /// The TCP port peers can reach us on (behind a proxy: the loopback
    /// port of the session itself).
    pub fn listen_port(&self) -> Option<u16> {
        self.gate.port().or_else(|| self.session.listen_addr().map(|a| a.port()))
    }

    /// Stop seeding a torrent and forget it; its files stay on disk.
    pub async fn remove(&self, info_hash: &InfoHash) -> Result<()> {
        self.session
            .delete(TorrentIdOrHash::Hash(id20(info_hash)), false)
            .await
            .map_err(|e| Error::internal(format!("removing torrent {info_hash}: {e:#}")))
    }

    /// librqbit's session counters in Prometheus text format.
    pub fn prometheus(&self, out: &mut String) {
        self.session.stats_snapshot().as_prometheus(out);
    }

    /// Stop the session, giving librqbit at most 3 seconds, and remove the
    /// port mapping.
    pub async fn stop(&self) {
        if let Some(p) = self.portmap.get() {
            p.remove().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), self.session.stop()).await;
    }

    /// The end of a one-shot command: every torrent is paused, so goat's
    /// storage writes what it still holds, without [`Swarm::stop`]:
    /// librqbit's `Session::stop` then sleeps one fixed second for its
    /// tasks to notice ("this sucks, but hopefully will be enough",
    /// session.rs), a second a 2 GiB fetch spent after printing "done".
    /// Nothing is lost: those tasks end with the runtime, librqbit sends
    /// trackers no "stopped" event, and a one-shot command keeps no session
    /// state.
    pub async fn finish(&self) {
        if let Some(p) = self.portmap.get() {
            p.remove().await;
        }
        let torrents = self.session.with_torrents(|all| all.map(|(_, t)| t.clone()).collect::<Vec<_>>());
        for t in torrents {
            if let Err(e) = self.session.pause(&t).await {
                tracing::debug!(target: "goat", "pausing a torrent at the end: {e:#}");
            }
        }
    }
}

pub use geometry::{pieces_touching, pieces_wanted};

/// The address goat's sockets bind to: loopback only, or every interface.
fn bind_ip(loopback_only: bool) -> std::net::IpAddr {
    if loopback_only {
        [127, 0, 0, 1].into()
    } else {
        [0, 0, 0, 0].into()
    }
}

/// The DHT's UDP port for peer port `peer`: the same number, or with uTP
/// (which holds that UDP port) the next one up (down from 65535).
pub fn dht_port(peer: u16, utp: bool) -> u16 {
    match (utp, peer) {
        (false, p) => p,
        (true, u16::MAX) => u16::MAX - 1,
        (true, p) => p + 1,
    }
}

/// Rounds of goat's own DHT lookup before a magnet with no other source
/// (at most 1.5 s each: `announce.rs`).
const DHT_LOOKUP_ROUNDS: usize = 3;
/// Wait between goat's DHT lookups that found no peer.
const DHT_LOOKUP_AGAIN: Duration = Duration::from_secs(5);

/// librqbit's persistence folder inside goat's state directory.
pub fn session_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("session")
}

/// Append what `v` does not hold yet, in order.
fn extend_new<T: PartialEq>(v: &mut Vec<T>, more: impl IntoIterator<Item = T>) {
    for x in more {
        if !v.contains(&x) {
            v.push(x);
        }
    }
}

/// `peers` (from the command line) and the magnet's `x.pe` peers, resolved.
async fn resolve_peers(peers: &[String], magnet: &Magnet) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for p in peers.iter().chain(&magnet.peers) {
        out.extend(resolve_peer(p).await?);
    }
    Ok(out)
}

async fn resolve_peer(p: &str) -> Result<Vec<SocketAddr>> {
    let addrs = tokio::net::lookup_host(p)
        .await
        .map_err(|e| Error::usage(format!("peer '{}' is not a reachable host:port ({e})", crate::text::line(p))))?;
    Ok(addrs.collect())
}

/// Block requests kept outstanding per peer (never more than the peer's
/// `reqq`). librqbit's default, 128 blocks (2 MiB), caps one peer at
/// 2 MiB per round trip of the peer's disk and network: 512 measured 15 %
/// faster from one libtorrent seeder on 2 GiB, 2000 no faster than 512
/// (docs/benchmarks.md). `--request-window` overrides it, for measuring.
pub const REQUEST_WINDOW: usize = 512;

#[cfg(test)]
mod tests;

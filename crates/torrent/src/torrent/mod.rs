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

pub mod bridge;
pub mod create;
pub mod durable;
pub mod files;
pub mod gate;
pub mod geometry;
pub mod known;
pub mod metadata;
pub mod mse;
pub mod resume;
pub mod steer;
pub mod storage;
pub mod webseed;

mod disk;
mod errors;
mod info;

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
    pub dht: bool,
    /// SOCKS5 proxy for all peer connections. With a proxy goat also turns
    /// off DHT, trackers, local discovery and listening, so no traffic can
    /// leave around it.
    pub socks_proxy: Option<String>,
    pub max_download_bps: Option<u32>,
    pub max_upload_bps: Option<u32>,
    pub peer_limit: Option<usize>,
    /// Where librqbit keeps its session (which torrents, where) and the
    /// fastresume bitfields, for a daemon that must survive restarts.
    /// None: nothing is remembered (one-shot `goat fetch`).
    pub state_dir: Option<PathBuf>,
    /// Piece order for downloads.
    pub piece_order: PieceOrder,
    /// DHT bootstrap nodes (host:port) instead of librqbit's public ones.
    pub dht_bootstrap: Vec<String>,
    /// MSE/PE: whether peer connections are encrypted (`gate.rs`).
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
    /// Random pieces first, so nodes that start together can trade
    /// (steered through librqbit's streams: `steer.rs`).
    #[default]
    Random,
    /// librqbit's own order: file by file (for comparison in benchmarks).
    File,
}

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
    proofs: storage::Proofs,
    fresh: storage::Fresh,
    read_only: storage::ReadOnly,
    folders: storage::Folders,
    /// BEP 19 web seeds: the HTTP client and the seeds dropped this run.
    web: webseed::WebSeeds,
    /// The session's peer id, by which the web-seed bridge knows it.
    peer_id: librqbit::dht::Id20,
    /// Where peer connections pass through MSE/PE.
    gate: Arc<gate::Gate>,
    /// Per torrent, files whose whole bytes goat hashed in this session and
    /// found to be the goatfile's sha256 (local copies), as they were then:
    /// [`Swarm::vouch`].
    whole: Mutex<HashMap<String, Vec<(PathBuf, crate::safefs::Stamp)>>>,
}

/// A torrent being fetched or seeded.
#[derive(Clone)]
pub struct Torrent {
    pub handle: Arc<ManagedTorrent>,
    pub output: PathBuf,
    /// The piece-order task of a download (random-first), alive as long as
    /// the torrent is held; it ends by itself when the download completes.
    pub steering: Option<Arc<steer::Steering>>,
    /// Its web seeds, bridged into the session while it downloads.
    pub web: Option<Arc<bridge::Bridges>>,
    /// The session's gate, which counts its encrypted peers.
    pub gate: Arc<gate::Gate>,
}

/// What the download stage reports, as a snapshot.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    pub have_bytes: u64,
    pub total_bytes: u64,
    /// Bytes received from peers in this run (includes rejected pieces).
    pub fetched_bytes: u64,
    pub uploaded_bytes: u64,
    pub download_bps: f64,
    pub upload_bps: f64,
    pub peers: u32,
    /// Of `fetched_bytes`, those its web seeds handed over.
    pub web_seed_bytes: u64,
    /// Peer connections open now that were opened with MSE/PE, and of
    /// those the ones whose payload is RC4 (the rest encrypted only the
    /// handshake, as both sides allowed).
    pub encrypted_peers: u32,
    pub rc4_peers: u32,
    /// Peer connections opened in this run, with MSE/PE and in plaintext.
    pub encrypted_connections: u64,
    pub plaintext_connections: u64,
    pub finished: bool,
    pub error: Option<String>,
}

/// A torrent's metadata, checked against its magnet and not yet added
/// ([`Swarm::metadata`]).
pub struct Metadata {
    /// The `.torrent` goat keeps.
    pub bytes: Bytes,
    /// Its files in torrent order (padding files included).
    pub files: Vec<TorrentFile>,
    pub piece_length: u64,
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
    pub offset: u64,
    pub length: u64,
    pub padding: bool,
}

impl Swarm {
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
        // Peers reach goat through the gate (`gate.rs`: MSE/PE), which owns
        // the announced port; librqbit listens on loopback behind it. Behind
        // a proxy nothing may reach goat from outside: no gate listener, and
        // librqbit's loopback listener serves only the web-seed bridge
        // (`bridge.rs`), announced to no one (trackers and the DHT are off).
        let ip: std::net::IpAddr = if cfg.loopback_only { [127, 0, 0, 1].into() } else { [0, 0, 0, 0].into() };
        let public = (!proxied).then(|| SocketAddr::new(ip, cfg.listen_port.unwrap_or(0)));
        let mut gate = gate::Gate::open(cfg.encryption, public, cfg.socks_proxy.as_deref()).await?;
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
                // With a fixed peer port the DHT answers on the same UDP
                // port, so other nodes can bootstrap from HOST:PORT.
                port: cfg.listen_port,
            }),
        };
        let proofs = storage::Proofs::default();
        let fresh = storage::Fresh::default();
        // Filled before the session restores its torrents, so a publisher's
        // folder is never opened for writing, not even once.
        let read_only = storage::ReadOnly::default();
        storage::lock(&read_only).extend(cfg.read_only.iter().map(|h| h.as_str().to_string()));
        let folders = storage::Folders::default();
        if let Some(dir) = &cfg.state_dir {
            storage::lock(&folders).extend(resume::session_folders(dir));
        }
        let peer_id = librqbit_core::peer_id::generate_peer_id(b"-rQ9100-");
        let opts = SessionOptions {
            peer_id: Some(peer_id),
            default_storage_factory: Some({
                use librqbit::storage::StorageFactoryExt;
                storage::ProvingFactory::new(
                    proofs.clone(),
                    fresh.clone(),
                    read_only.clone(),
                    folders.clone(),
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
        gate.attach(local, &session);
        Ok(Swarm {
            gate: Arc::new(gate),
            web,
            peer_id,
            session,
            api,
            cfg,
            adding: tokio::sync::Mutex::new(()),
            streams: Arc::new(tokio::sync::Semaphore::new(steer::SESSION_STREAMS)),
            proofs,
            fresh,
            read_only,
            folders,
            whole: Mutex::default(),
        })
    }

    /// The web seeds of this run (also reads metadata from URLs).
    pub fn web(&self) -> &webseed::WebSeeds {
        &self.web
    }

    /// The TCP port peers can reach us on (behind a proxy: the loopback
    /// port of the session itself).
    pub fn listen_port(&self) -> Option<u16> {
        self.gate.port().or_else(|| self.session.listen_addr().map(|a| a.port()))
    }

    /// Add a magnet: [`Swarm::metadata`], then [`Swarm::add_from`].
    pub async fn add(
        &self,
        magnet: &Magnet,
        peers: &[String],
        output: &Path,
        metadata_timeout: Duration,
        known: Option<known::Checked>,
        accept: impl FnOnce(&[(PathBuf, u64)]) -> Result<()>,
    ) -> Result<Torrent> {
        let md = self.metadata(magnet, peers, metadata_timeout, known).await?;
        accept(&md.listed())?;
        self.add_from(md, magnet, output).await
    }

    /// A magnet's metadata: from `known` (checked against the magnet's
    /// info-hash: no peer needed), else from peers, waiting at most
    /// `metadata_timeout`. `peers` are extra host:port peers. Nothing is
    /// created on disk: goat's own checks (sizes the goatfile promises,
    /// local copies) run on it before [`Swarm::add_from`] adds it.
    pub async fn metadata(
        &self,
        magnet: &Magnet,
        peers: &[String],
        metadata_timeout: Duration,
        known: Option<known::Checked>,
    ) -> Result<Metadata> {
        let initial = resolve_peers(peers, magnet).await?;
        let (bytes, seen) = match known {
            Some(k) => (k.torrent().clone(), Vec::new()),
            None => self.metadata_from_peers(magnet, &initial, metadata_timeout).await?,
        };
        let hash = info_hash_of_torrent(&bytes)?;
        same_torrent(magnet, hash.clone())?;
        let files = listed_files(&bytes)?;
        let piece_length = piece_length_of(&bytes)?;
        let mut peers = initial;
        extend_new(&mut peers, seen);
        Ok(Metadata { bytes, files, piece_length, hash, peers })
    }

    /// Add a torrent whose metadata [`Swarm::metadata`] gave, downloading
    /// into `output`: missing files are allocated, files already there
    /// (an earlier run's, local copies) are checked and kept.
    pub async fn add_from(&self, md: Metadata, magnet: &Magnet, output: &Path) -> Result<Torrent> {
        // goat's own time from here to the added torrent (allocation,
        // librqbit's add) is what a many-file torrent costs: logged for
        // benches/many_files.py.
        let took = std::time::Instant::now();
        let real: Vec<(PathBuf, u64)> =
            md.files.iter().filter(|f| !f.padding).map(|f| (f.path.clone(), f.length)).collect();
        let created = preallocate(output, &real)?;
        let key = md.hash.as_str().to_string();
        storage::lock(&self.fresh).insert(key.clone(), created.into_iter().collect());
        // Added from the metadata in hand (no second exchange).
        let added = self.add_metadata(md.bytes, md.peers, magnet, output, true).await;
        // Taken by the storage when librqbit made it; if the add failed
        // before that, a later add must not take these files for empty.
        storage::lock(&self.fresh).remove(&key);
        tracing::debug!(target: "goat", "torrent {key}: {} files allocated and added in {} ms", md.files.len(), took.elapsed().as_millis());
        added
    }

    /// The magnet's metadata from peers (BEP 9), as a `.torrent` with the
    /// magnet's trackers and web seeds, and the peers librqbit met.
    async fn metadata_from_peers(
        &self,
        magnet: &Magnet,
        initial: &[SocketAddr],
        metadata_timeout: Duration,
    ) -> Result<(Bytes, Vec<SocketAddr>)> {
        let asked = std::time::Instant::now();
        // Metadata only (list_only), so goat can apply its own path rules
        // before librqbit creates a single file.
        let list = || AddTorrentOptions {
            list_only: true,
            initial_peers: if initial.is_empty() { None } else { Some(initial.to_vec()) },
            disable_trackers: self.cfg.socks_proxy.is_some(),
            ..Default::default()
        };
        // librqbit gives up as soon as every peer it knows has failed once
        // (a peer busy at that moment, as a libtorrent seeder answering
        // several goat requests at once can be, drops the handshake), so
        // goat asks again, backing off, until the metadata timeout.
        let deadline = tokio::time::Instant::now() + metadata_timeout;
        let require_hint = if self.cfg.encryption == gate::Encryption::Require {
            " (--encryption require refuses peers that cannot encrypt)"
        } else {
            ""
        };
        let mut pause = Duration::from_millis(500);
        let listed = loop {
            let fut =
                metadata::caught(self.session.add_torrent(AddTorrent::from_url(magnet.uri.clone()), Some(list())));
            match tokio::time::timeout_at(deadline, fut).await.map(|r| r.and_then(|r| r.map_err(|e| add_error(&e)))) {
                Err(_) => {
                    let hint = if !(magnet.sources.is_empty() && magnet.web_seeds.is_empty()) {
                        " (its web seeds serve files, not metadata: the goatfile entry's `metadata:` or the magnet's xs= must point at the .torrent)"
                    } else {
                        require_hint
                    };
                    return Err(Error::network(format!(
                        "no peer sent the torrent's metadata within {}s{hint}: check the magnet's trackers, add --peer HOST:PORT, or raise --metadata-timeout",
                        metadata_timeout.as_secs()
                    )));
                }
                Ok(Err(mut e)) => {
                    let again = e.find::<EveryPeerFailed>().is_some();
                    if !again || tokio::time::Instant::now() + pause >= deadline {
                        if again {
                            e.message.push_str(require_hint);
                        }
                        return Err(e);
                    }
                    tracing::debug!("metadata: {}; asking again in {pause:?}", e.message);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Ok(Ok(AddTorrentResponse::ListOnly(l))) => break l,
                Ok(Ok(_)) => return Err(Error::internal("librqbit added a torrent asked to list only")),
            }
        };
        tracing::debug!(target: "goat", "torrent {}: metadata ({} bytes) received in {} ms", magnet.info_hash(), listed.torrent_bytes.len(), asked.elapsed().as_millis());
        // The metadata must be the magnet's: goat checks it itself rather
        // than trust the engine's bookkeeping (see `same_torrent`), and
        // writes the .torrent it keeps: peers send only the info
        // dictionary, so the trackers and web seeds are the magnet's.
        let t = info::parsed(&listed.torrent_bytes)?;
        let torrent = known::assemble(t.info.raw_bytes.as_ref(), &magnet.trackers, &magnet.web_seeds)?;
        Ok((torrent, listed.seen_peers))
    }

    /// A torrent the session already manages (restored from the state
    /// directory after a restart, or added earlier in this run).
    pub fn find(&self, info_hash: &InfoHash, output: &Path) -> Option<Torrent> {
        let handle = self.session.get(TorrentIdOrHash::Hash(id20(info_hash).ok()?))?;
        Some(Torrent { handle, output: output.to_path_buf(), steering: None, web: None, gate: self.gate.clone() })
    }

    /// Every torrent in the session (e.g. restored from the state
    /// directory), as torrents with their output folders.
    pub fn managed(&self) -> Vec<(InfoHash, Torrent)> {
        self.session.with_torrents(|it| {
            it.map(|(_, h)| {
                let output = h.output_folder().to_path_buf();
                (
                    hash_of(h.info_hash()),
                    Torrent { handle: h.clone(), output, steering: None, web: None, gate: self.gate.clone() },
                )
            })
            .collect()
        })
    }

    /// Add a torrent from metadata goat saved earlier (no metadata exchange,
    /// so it works with no peer online). Existing files are re-used.
    pub async fn add_saved(
        &self,
        torrent_bytes: Bytes,
        magnet: &Magnet,
        peers: &[String],
        output: &Path,
    ) -> Result<Torrent> {
        let initial = resolve_peers(peers, magnet).await?;
        self.add_metadata(torrent_bytes, initial, magnet, output, false).await
    }

    /// Seed a publisher's own files where they are (`goat publish`, the
    /// daemon's `published.json`). They are only ever read: each file must
    /// be there, a regular file (no link) at the torrent's length, or the
    /// torrent is refused before librqbit sees the folder; goat never
    /// creates, truncates, extends or writes a file there.
    pub async fn add_published(
        &self,
        torrent_bytes: Bytes,
        magnet: &Magnet,
        peers: &[String],
        folder: &Path,
    ) -> Result<Torrent> {
        let key = info_hash_of_torrent(&torrent_bytes)?;
        same_torrent(magnet, key.clone())?;
        for f in listed_files(&torrent_bytes)?.into_iter().filter(|f| !f.padding) {
            let found = crate::safefs::len_under(folder, &f.path)
                .map_err(|e| Error::io(format!("checking the published folder {}", folder.display()), e))?;
            if found != Some(f.length) {
                return Err(Error::new(Kind::Io, files::size_changed(&folder.join(&f.path), f.length, found)));
            }
        }
        storage::lock(&self.read_only).insert(key.as_str().to_string());
        self.add_saved(torrent_bytes, magnet, peers, folder).await
    }

    /// Add a torrent from its metadata, downloading into (or seeding from)
    /// `output`; existing files there are re-checked and re-used.
    /// `url_list`: the `.torrent`'s own web seeds may be used (goat made
    /// it from a vouched source, or librqbit's private session holds it),
    /// not those of a file anyone who can write the output folder could
    /// have changed.
    async fn add_metadata(
        &self,
        torrent_bytes: Bytes,
        peers: Vec<SocketAddr>,
        magnet: &Magnet,
        output: &Path,
        url_list: bool,
    ) -> Result<Torrent> {
        // Random-first steering places its streams before the first request
        // (steer.rs): the torrent is added paused and started by it.
        let steer = self.cfg.piece_order == PieceOrder::Random;
        let opts = AddTorrentOptions {
            paused: steer,
            overwrite: true,
            output_folder: Some(output.to_string_lossy().into_owned()),
            initial_peers: if peers.is_empty() { None } else { Some(peers) },
            // Metadata from peers carries no announce list: keep the
            // magnet's trackers for re-announces (and for restarts, where
            // librqbit's session persistence restores trackers, not peers).
            trackers: if magnet.trackers.is_empty() { None } else { Some(magnet.trackers.clone()) },
            disable_trackers: self.cfg.socks_proxy.is_some(),
            ..Default::default()
        };
        metadata::check_torrent(&torrent_bytes)?;
        storage::lock(&self.folders)
            .insert(info_hash_of_torrent(&torrent_bytes)?.as_str().to_string(), output.to_path_buf());
        let resp = {
            let _one_at_a_time = self.adding.lock().await;
            metadata::caught(self.session.add_torrent(AddTorrent::from_bytes(torrent_bytes.clone()), Some(opts)))
                .await?
                .map_err(|e| add_error(&e))?
        };
        let (handle, added) = match resp {
            AddTorrentResponse::Added(_, h) => (h, true),
            AddTorrentResponse::AlreadyManaged(_, h) => (h, false),
            AddTorrentResponse::ListOnly(_) => return Err(Error::internal("torrent was only listed")),
        };
        if let Err(e) = same_torrent(magnet, hash_of(handle.info_hash())) {
            // Remove what this call added; a torrent already managed is
            // another entry's, and stays.
            if added {
                let _ = self.session.delete(TorrentIdOrHash::Hash(handle.info_hash()), false).await;
            }
            return Err(e);
        }
        let steering = (added && steer)
            .then(|| Arc::new(steer::start(self.api.clone(), handle.clone(), true, self.streams.clone())));
        let web = if added { self.bridge(&handle, &torrent_bytes, magnet, url_list) } else { None };
        Ok(Torrent { handle, output: output.to_path_buf(), steering, web, gate: self.gate.clone() })
    }

    /// `t` (found in the session, restored after a restart) with its web
    /// seeds bridged in, when it is still downloading.
    pub fn with_web_seeds(&self, mut t: Torrent, magnet: &Magnet) -> Torrent {
        if t.web.is_none() {
            if let Ok((bytes, _)) = t.metadata() {
                t.web = self.bridge(&t.handle, &bytes, magnet, true);
            }
        }
        t
    }

    /// Bridge the torrent's web seeds (its `url-list` and the magnet's
    /// `ws=`, less those dropped this run) into the session while it
    /// downloads.
    fn bridge(
        &self,
        handle: &Arc<ManagedTorrent>,
        torrent_bytes: &[u8],
        magnet: &Magnet,
        url_list: bool,
    ) -> Option<Arc<bridge::Bridges>> {
        let mut urls = magnet.web_seeds.clone();
        if url_list {
            extend_new(&mut urls, known::url_list(torrent_bytes));
        }
        let hash = hash_of(handle.info_hash());
        urls.retain(|u| !self.web.is_dropped(hash.as_str(), u));
        if urls.is_empty() || handle.stats().finished {
            return None;
        }
        let mut at = self.session.listen_addr()?;
        if at.ip().is_unspecified() {
            at.set_ip([127, 0, 0, 1].into());
        }
        let session = bridge::Session { at, peer_id: self.peer_id };
        let layout = match webseed::Layout::of(torrent_bytes) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                tracing::warn!("torrent {}: web seeds not used: {}", hash_of(handle.info_hash()), e.message);
                return None;
            }
        };
        Some(Arc::new(bridge::start(handle.clone(), session, self.web.clone(), &urls, layout)))
    }

    /// Record that goat hashed `files` of torrent `hash` whole in this
    /// session and found each to be the goatfile's sha256; each as it was
    /// then.
    pub fn hashed_whole(&self, hash: &InfoHash, files: impl IntoIterator<Item = (PathBuf, crate::safefs::Stamp)>) {
        storage::lock(&self.whole).entry(hash.as_str().to_string()).or_default().extend(files);
    }

    /// Once, when `t` is complete: the pieces that lie wholly in files
    /// [`Swarm::hashed_whole`] recorded, still as they were, and that
    /// librqbit's check found, are proven (their bytes are the goatfile's
    /// by sha256, so goat need not read them again). Returns those files
    /// none of whose pieces has been written since: their sha256 needs no
    /// second read either. A later call (a re-added torrent) vouches
    /// nothing.
    pub fn vouch(&self, t: &Torrent) -> Vec<PathBuf> {
        let hash = t.info_hash();
        let Some(whole) = storage::lock(&self.whole).remove(hash.as_str()) else { return Vec::new() };
        let (Some(proof), Some(haves), Ok(layout)) = (self.proof(&hash), self.haves(&hash), t.durable_layout()) else {
            return Vec::new();
        };
        let Ok(root) = crate::safefs::open_real_dir(&layout.output) else { return Vec::new() };
        let same: Vec<PathBuf> = whole
            .into_iter()
            .filter(|(p, stamp)| crate::safefs::found_in(&root, p).ok().flatten().is_some_and(|f| f.stamp == *stamp))
            .map(|(p, _)| p)
            .collect();
        let pieces: Vec<u32> = pieces_within(&layout, &same)
            .into_iter()
            .filter(|&i| haves.get(i as usize / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
            .collect();
        proof.vouch(&pieces);
        let same: std::collections::HashSet<&PathBuf> = same.iter().collect();
        layout
            .files
            .iter()
            .filter(|(p, off, len)| {
                same.contains(p)
                    && pieces_touching(*off, *len, layout.piece_length)
                        .is_some_and(|mut r| r.all(|i| proof.is_vouched(i as u32)))
            })
            .map(|(p, _, _)| p.clone())
            .collect()
    }

    /// What goat's read-back proved of this torrent since it was added.
    pub fn proof(&self, info_hash: &InfoHash) -> Option<Arc<storage::Proof>> {
        self.proofs.lock().unwrap_or_else(|e| e.into_inner()).get(info_hash.as_str()).cloned()
    }

    /// Fetch `bad` pieces of `t` again. librqbit marked them done (its
    /// check was of the bytes before they reached the disk, or its
    /// fastresume trusted them) and has no call to unmark one, so the
    /// torrent is removed and added again from its metadata. With a state
    /// directory, the have-bitfield librqbit held (or, for a torrent that
    /// is not running, goat's durable record), less the bad pieces, is
    /// written where its fastresume reads it, so the re-added torrent
    /// trusts only what it had (goat's gate still hashes each piece before
    /// serving it) and fetches exactly the bad pieces; without one (a
    /// one-shot fetch) librqbit checks the files again. The storage's gate
    /// refuses the bad pieces to peers until then.
    pub async fn refetch(&self, t: Torrent, magnet: &Magnet, peers: &[String], bad: &[u32]) -> Result<Torrent> {
        let hash = t.info_hash();
        let (bytes, _) = t.metadata()?;
        let output = t.output.clone();
        // The trackers librqbit knows (a restored torrent's magnet may be
        // unknown here) go with the torrent.
        let mut magnet = magnet.clone();
        for url in &t.handle.shared().trackers {
            if !magnet.trackers.iter().any(|m| m == url.as_str()) {
                magnet.trackers.push(url.to_string());
            }
        }
        // Everything that can fail is done before the torrent is removed:
        // a peer name that does not resolve now is left out, not fatal.
        let initial = resolve_peers(peers, &magnet).await.unwrap_or_else(|e| {
            tracing::debug!(target: "goat", "adding {hash} again without the given peers: {}", e.message);
            Vec::new()
        });
        let state_dir = self.cfg.state_dir.as_deref();
        let haves = self.haves(&hash).or_else(|| state_dir.and_then(|d| durable::read(d, &hash))).map(|mut h| {
            resume::clear_pieces(&mut h, bad.iter().map(|&i| u64::from(i)));
            h
        });
        drop(t);
        self.remove(&hash).await?;
        if let Some(dir) = state_dir {
            if !bad.is_empty() {
                durable::forget(dir, &hash, bad.iter().map(|&i| u64::from(i)));
            }
            if let Some(h) = &haves {
                // Without it librqbit checks the files in full: slower, as safe.
                if let Err(e) = crate::atomic::write_atomic(&resume::bitfield_file(dir, &hash), h) {
                    tracing::warn!(target: "goat", "torrent {hash}: {}; librqbit checks its files in full", e.message);
                }
            }
        }
        // Removed: adding it back must outlast a passing failure (librqbit
        // refuses an add while its session file cannot be written, on a
        // full disk), or the torrent would be gone until the next poll.
        let mut pause = Duration::from_secs(1);
        loop {
            match self.add_metadata(bytes.clone(), initial.clone(), &magnet, &output, true).await {
                Ok(t) => return Ok(t),
                Err(e) if pause > Duration::from_secs(16) => return Err(e),
                Err(e) => {
                    tracing::warn!(target: "goat", "adding torrent {hash} again: {}; trying again in {pause:?}", e.message)
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    /// librqbit's have-bitfield of a running torrent (one bit per piece,
    /// most significant first, as in its `.bitv` files).
    pub fn haves(&self, info_hash: &InfoHash) -> Option<Vec<u8>> {
        let (bf, _) = self.api.api_dump_haves(TorrentIdOrHash::Hash(id20(info_hash).ok()?)).ok()?;
        Some(bf.as_raw_slice().to_vec())
    }

    /// [`Swarm::haves`] less the pieces goat has not seen reach the files
    /// (librqbit sets a piece's have bit before goat writes a gathered
    /// piece) or found bad: what `durable::update` may record once synced.
    pub fn settled_haves(&self, info_hash: &InfoHash) -> Option<Vec<u8>> {
        let mut h = self.haves(info_hash)?;
        if let Some(p) = self.proof(info_hash) {
            resume::clear_pieces(&mut h, p.unsettled().into_iter().map(u64::from));
        }
        Some(h)
    }

    /// Start a torrent librqbit stopped with an error (a failed write, a
    /// check that could not read its files) again. Not through librqbit's
    /// own restart, which forgets its bitfield and re-reads every file
    /// (250 GB for one failed write): the torrent is re-added like a
    /// [`Swarm::refetch`] of nothing, trusting goat's durable record.
    pub async fn retry(&self, t: Torrent, magnet: &Magnet, peers: &[String]) -> Result<Torrent> {
        // Pieces goat refused stay refused: left out of what is trusted.
        let bad = self.proof(&t.info_hash()).map(|p| p.bad()).unwrap_or_default();
        self.refetch(t, magnet, peers, &bad).await
    }

    /// Stop seeding a torrent and forget it; its files stay on disk.
    pub async fn remove(&self, info_hash: &InfoHash) -> Result<()> {
        self.session
            .delete(TorrentIdOrHash::Hash(id20(info_hash)?), false)
            .await
            .map_err(|e| Error::internal(format!("removing torrent {info_hash}: {e:#}")))
    }

    /// librqbit's session counters in Prometheus text format.
    pub fn prometheus(&self, out: &mut String) {
        self.session.stats_snapshot().as_prometheus(out);
    }

    pub async fn stop(&self) {
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
        let torrents = self.session.with_torrents(|all| all.map(|(_, t)| t.clone()).collect::<Vec<_>>());
        for t in torrents {
            if let Err(e) = self.session.pause(&t).await {
                tracing::debug!(target: "goat", "pausing a torrent at the end: {e:#}");
            }
        }
    }
}

pub use geometry::pieces_touching;

impl Torrent {
    pub fn info_hash(&self) -> InfoHash {
        hash_of(self.handle.info_hash())
    }

    /// Where each file's bytes lie, for `durable::update`.
    pub fn durable_layout(&self) -> Result<durable::Layout> {
        let piece_length = self
            .handle
            .with_metadata(|m| m.lengths().default_piece_length() as u64)
            .map_err(|e| Error::internal(format!("torrent metadata unavailable: {e:#}")))?;
        let (_, files) = self.metadata()?;
        Ok(durable::Layout {
            output: self.output.clone(),
            piece_length,
            files: files.into_iter().filter(|f| !f.padding).map(|f| (f.path, f.offset, f.length)).collect(),
        })
    }
}

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

impl Torrent {
    /// Bytes its web seeds handed to the session in this run.
    pub fn web_seed_bytes(&self) -> u64 {
        self.web.as_ref().map_or(0, |w| w.served.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn progress(&self) -> Progress {
        let s = self.handle.stats();
        let live = s.live.as_ref();
        let enc = self.gate.counts(&self.handle.info_hash().0);
        let peers = live.map(|l| l.snapshot.peer_stats.live).unwrap_or(0);
        Progress {
            have_bytes: s.progress_bytes,
            total_bytes: s.total_bytes,
            fetched_bytes: live.map(|l| l.snapshot.fetched_bytes).unwrap_or(0),
            uploaded_bytes: s.uploaded_bytes,
            download_bps: live.map(|l| l.download_speed.mbps * 1024.0 * 1024.0).unwrap_or(0.0),
            upload_bps: live.map(|l| l.upload_speed.mbps * 1024.0 * 1024.0).unwrap_or(0.0),
            peers,
            web_seed_bytes: self.web_seed_bytes(),
            // The gate counts connections it relayed, librqbit the peers it
            // kept: one it dropped at once may be counted an instant longer.
            encrypted_peers: enc.encrypted.min(peers),
            rc4_peers: enc.rc4.min(peers),
            encrypted_connections: enc.opened_encrypted,
            plaintext_connections: enc.opened_plaintext,
            finished: s.finished,
            error: s.error.clone(),
        }
    }

    /// The `.torrent` bytes and the file layout.
    pub fn metadata(&self) -> Result<(Bytes, Vec<TorrentFile>)> {
        self.handle
            .with_metadata(|m| {
                let files = m
                    .file_infos
                    .iter()
                    .map(|f| TorrentFile {
                        path: f.relative_filename.clone(),
                        offset: f.offset_in_torrent,
                        length: f.len,
                        padding: f.attrs.padding,
                    })
                    .collect();
                (m.torrent_bytes.clone(), files)
            })
            .map_err(|e| Error::internal(format!("torrent metadata unavailable: {e:#}")))
    }

    /// Wait until finished, calling `tick` about every `every`. Errors end it.
    /// librqbit does not report a full disk: writes fail and the torrent
    /// stalls. So when progress stops, goat checks the free space itself.
    pub async fn wait(&self, every: Duration, mut tick: impl FnMut(&Progress)) -> Result<Progress> {
        let mut last_have = u64::MAX;
        let mut still_since = std::time::Instant::now();
        loop {
            let p = self.progress();
            tick(&p);
            if let Some(e) = &p.error {
                return Err(classify_torrent_error(e));
            }
            if p.finished {
                return Ok(p);
            }
            if p.have_bytes != last_have {
                last_have = p.have_bytes;
                still_since = std::time::Instant::now();
            } else if still_since.elapsed() >= Duration::from_secs(3) {
                let remaining = p.total_bytes.saturating_sub(p.have_bytes);
                if let Some(free) = free_space(&self.output) {
                    if free < remaining.min(1 << 20) {
                        return Err(Error::new(
                            Kind::Io,
                            format!(
                                "disk is full at {} ({} bytes free, {} still to fetch): free space and run the same command again to resume",
                                self.output.display(),
                                free,
                                remaining
                            ),
                        ));
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                // the moment librqbit finishes, not up to `every` later
                _ = self.handle.wait_until_completed() => {}
            }
        }
    }
}

/// Block requests kept outstanding per peer (never more than the peer's
/// `reqq`). librqbit's default, 128 blocks (2 MiB), caps one peer at
/// 2 MiB per round trip of the peer's disk and network: 512 measured 15 %
/// faster from one libtorrent seeder on 2 GiB, 2000 no faster than 512
/// (docs/benchmarks.md). `--request-window` overrides it, for measuring.
pub const REQUEST_WINDOW: usize = 512;

#[cfg(test)]
mod tests;

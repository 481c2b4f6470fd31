//! `goat seed`: the daemon that keeps published models alive.
//!
//! For each followed address a poller re-resolves the goatfile every poll
//! interval (with jitter, backing off while Esplora fails) and puts every
//! entry on disk with the same code as `goat fetch` (`crate::fetcher`).
//! Torrents then stay in one librqbit session, seeding, until the process
//! stops. A keeper task proves each finished download once through the
//! lifecycle `goat fetch` uses (`fetcher::Download`), then syncs and stamps
//! its files (`state`) so a restart re-hashes nothing unless a file
//! changed; it also restarts torrents librqbit stopped with an error, has
//! pieces goat's storage refused fetched again, and keeps goat's durable
//! record (`torrent::durable`) up to date.
//!
//! Restart safety comes from librqbit's JSON session persistence and
//! fastresume bitfields in `<state-dir>/session/`, cut at start to what
//! goat's record in `<state-dir>/durable/` says is synced, goat's stamps in
//! `<state-dir>/goat-seed.json`, and the storage's hash of every piece
//! before it is first served (`torrent::storage`).

pub mod config;
pub mod http;
pub use crate::store::published;
pub mod state;
pub mod status;

mod keeper;
mod poller;
mod report;

use keeper::*;
use poller::*;
use report::*;

use crate::address::HolderAddress;
use crate::error::{Error, Result};
use crate::esplora::Esplora;
use crate::fetcher;
use crate::goatfile::{self, Goatfile, InfoHash, Source};
use crate::inscription::InscriptionId;
use crate::scan;
use crate::store::Layout;
use crate::torrent::{resume, Swarm, SwarmConfig, Torrent};
use crate::trust::Policy;
use state::SeedState;
use status::{AddressStatus, Status, TorrentState, TorrentStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Everything the daemon needs, already merged from the command line and
/// the config file.
pub struct Options {
    /// Each followed address with the Esplora client for its network.
    pub addresses: Vec<(HolderAddress, Arc<Esplora>)>,
    pub output: PathBuf,
    pub state_dir: PathBuf,
    pub poll: Duration,
    pub prune: bool,
    /// Follow an address back to an older goatfile (`--allow-rollback`).
    pub allow_rollback: bool,
    pub peers: Vec<String>,
    pub policy: Policy,
    pub metadata_timeout: Duration,
    /// Where new entries' files may already be (`crate::local`).
    pub local: crate::local::Sources,
    pub swarm: SwarmConfig,
    pub http: Option<SocketAddr>,
    /// Stop by itself after this long (tests, demos).
    pub run_for: Option<Duration>,
}

/// Where one torrent is in its life here.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// librqbit is checking or downloading.
    Fetching,
    Verifying,
    Seeding,
    Failed(String),
}

struct Tracked {
    address: String,
    entry: String,
    layout: Layout,
    torrent: Torrent,
    phase: Phase,
    in_goatfile: bool,
    /// The goatfile entry's magnet; None for a torrent restored from the
    /// state directory until a poll names it.
    magnet: Option<goatfile::Magnet>,
    /// Restarts after an error in this run, and when the next one is due.
    retries: u32,
    /// Errors since the torrent last reached seeding: sets the backoff.
    streak: u32,
    next_retry: Option<Instant>,
    /// Bad pieces fetched again in this run.
    refetched: u64,
    /// A repair or proof of this torrent runs in its own task.
    busy: bool,
    /// `have_bytes` when goat's durable record last caught up, when it
    /// was last tried, and how long to wait after a failed try.
    durable_have: Option<u64>,
    durable_at: Instant,
    durable_wait: Duration,
    /// Seeded from the publisher's own folder (`goat publish`): goat never
    /// downloads into it.
    published: bool,
    /// Of those, a user's folder holding a followed entry (`--from`).
    in_place: bool,
    /// Refetches in this run, and when the next may start (a disk that
    /// keeps failing is not hammered).
    refetches: u32,
    next_refetch: Option<Instant>,
}

impl Tracked {
    /// Stopped by `msg`: shown as the torrent's error, tried again after
    /// the next step of the backoff. Returns that wait.
    fn fail(&mut self, msg: String) -> Duration {
        let wait = retry_delay(self.streak);
        self.streak += 1;
        self.next_retry = Some(Instant::now() + wait);
        self.phase = Phase::Failed(msg);
        wait
    }

    /// Stopped by `msg` for good (until the user acts and restarts goat):
    /// shown, and said once in the log.
    fn fail_for_good(&mut self, msg: String) {
        if !matches!(self.phase, Phase::Failed(_)) {
            warn!(target: "goat", "{}: {msg}", self.entry);
            self.phase = Phase::Failed(msg);
        }
    }

    fn new(
        address: String,
        entry: String,
        layout: Layout,
        torrent: Torrent,
        phase: Phase,
        magnet: Option<goatfile::Magnet>,
    ) -> Tracked {
        Tracked {
            address,
            entry,
            layout,
            torrent,
            phase,
            in_goatfile: true,
            magnet,
            retries: 0,
            streak: 0,
            next_retry: None,
            refetched: 0,
            busy: false,
            durable_have: None,
            durable_at: Instant::now(),
            durable_wait: Duration::ZERO,
            published: false,
            in_place: false,
            refetches: 0,
            next_refetch: None,
        }
    }
}

/// Everything the pollers, the add jobs, the checker and the status server
/// share, behind one lock: no lock order to get wrong, and a status
/// snapshot is one consistent moment. Nothing holds it across an await.
#[derive(Default)]
struct Book {
    addresses: BTreeMap<String, AddressStatus>,
    torrents: BTreeMap<InfoHash, Tracked>,
    /// Magnets being added right now, so a slow metadata exchange is not
    /// started twice.
    adding: BTreeSet<InfoHash>,
    state: SeedState,
    /// Published torrents refused, by magnet: "name: why".
    published_errors: BTreeMap<String, String>,
}

/// Fixed facts of this run, and the book.
struct Shared {
    opts_output: PathBuf,
    state_dir: PathBuf,
    poll: Duration,
    started_at: u64,
    listen_port: Option<u16>,
    /// The session, for what it reports of its reach (uTP, DHT port, the
    /// gateway's mapping).
    swarm: Arc<Swarm>,
    book: Mutex<Book>,
}

impl Shared {
    /// Run `f` on the book. A poisoned lock (a panic elsewhere) still
    /// hands out the data: the daemon keeps seeding.
    fn with<R>(&self, f: impl FnOnce(&mut Book) -> R) -> R {
        let mut g = self.book.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn save_state(&self) {
        let st = self.with(|b| b.state.clone());
        if let Err(e) = st.save(&self.state_dir) {
            warn!(target: "goat", "saving state: {}", e.message);
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The running daemon.
pub struct Daemon {
    opts: Options,
    swarm: Arc<Swarm>,
    shared: Arc<Shared>,
    _lock: std::fs::File,
}

impl Daemon {
    /// Lock the state directory, repair what changed on disk while stopped,
    /// and start the BitTorrent session (which restores saved torrents).
    pub async fn start(mut opts: Options) -> Result<Daemon> {
        std::fs::create_dir_all(&opts.state_dir)
            .map_err(|e| Error::io(format!("creating state directory {}", opts.state_dir.display()), e))?;
        // Links resolved once: goat's folders below have paths with no link
        // in them, and a link planted there is refused (crate::safefs).
        opts.output = crate::safefs::anchor(&opts.output)
            .map_err(|e| Error::io(format!("creating output folder {}", opts.output.display()), e))?;
        let lock = state::lock(&opts.state_dir)?;
        let mut st = SeedState::load(&opts.state_dir)?;
        trust_only_durable(&opts.state_dir);
        repair_changed(&opts.state_dir, &mut st).await;
        st.save(&opts.state_dir)?;
        resume::repair_session(&opts.state_dir);
        opts.swarm.state_dir = Some(opts.state_dir.clone());
        // goat writes under its output folder only: any other torrent in
        // librqbit's session (a publisher's folder, even one published.json
        // no longer names) is opened read-only.
        opts.swarm.write_roots = vec![opts.output.clone()];
        opts.swarm.read_only = published::load(&opts.state_dir)
            .iter()
            .filter_map(|p| p.torrent_and_magnet().ok().map(|(_, m)| m.info_hash()))
            .collect();
        let swarm = Arc::new(Swarm::start(opts.swarm.clone(), &opts.output).await?);
        let shared = Arc::new(Shared {
            opts_output: opts.output.clone(),
            state_dir: opts.state_dir.clone(),
            poll: opts.poll,
            started_at: now(),
            listen_port: swarm.listen_port(),
            swarm: swarm.clone(),
            book: Mutex::new(Book {
                addresses: opts
                    .addresses
                    .iter()
                    .map(|(h, _)| {
                        let a = h.address.to_string();
                        let dir = opts.output.join(&a).display().to_string();
                        (a.clone(), AddressStatus { address: a, dir, ..Default::default() })
                    })
                    .collect(),
                state: st,
                ..Default::default()
            }),
        });
        adopt_restored(&swarm, &opts, &shared);
        Ok(Daemon { opts, swarm, shared, _lock: lock })
    }

    /// Run until SIGINT/SIGTERM (or `run_for`), then stop within seconds
    /// with state saved.
    pub async fn run(self) -> Result<()> {
        let mut tasks = Vec::new();
        let http = match self.opts.http {
            Some(addr) => {
                let (bound, server) = http::serve(addr, self.status_source()).await?;
                info!(target: "goat", "status on http://{bound}/status and http://{bound}/metrics");
                Some(tokio::spawn(server))
            }
            None => None,
        };
        info!(
            target: "goat",
            "seeding from {} on peer port {}; following {} address(es), polling every {:?}",
            self.opts.output.display(),
            self.shared.listen_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            self.opts.addresses.len(),
            self.opts.poll
        );
        let mut failed = BTreeSet::new();
        serve_published_once(&self.swarm, &self.shared, &self.opts.peers, &mut failed).await;
        restore_from_records(&self);
        tasks.push(tokio::spawn(serve_published(
            self.swarm.clone(),
            self.shared.clone(),
            self.opts.peers.clone(),
            failed,
        )));
        for (holder, esplora) in &self.opts.addresses {
            let poller = Poller {
                holder: holder.clone(),
                esplora: esplora.clone(),
                layout: Layout::new(self.opts.output.join(holder.address.to_string())),
                swarm: self.swarm.clone(),
                shared: self.shared.clone(),
                policy: self.opts.policy,
                peers: self.opts.peers.clone(),
                metadata_timeout: self.opts.metadata_timeout,
                local: self.opts.local.clone(),
                prune: self.opts.prune,
                allow_rollback: self.opts.allow_rollback,
                seen_dropped: Mutex::default(),
            };
            tasks.push(tokio::spawn(poller.run()));
        }
        tasks.push(tokio::spawn(keeper(Arc::new(Keep {
            shared: self.shared.clone(),
            swarm: self.swarm.clone(),
            peers: self.opts.peers.clone(),
        }))));

        let why = wait_for_stop(self.opts.run_for).await;
        info!(target: "goat", "{why}: stopping");
        for t in &tasks {
            t.abort();
        }
        if let Some(h) = http {
            h.abort();
        }
        self.shared.save_state();
        record_all_durable(&self.swarm, &self.shared).await;
        self.swarm.stop().await;
        info!(target: "goat", "stopped; state saved in {}", self.opts.state_dir.display());
        Ok(())
    }

    fn status_source(&self) -> http::Source {
        let shared = self.shared.clone();
        let swarm = self.swarm.clone();
        http::Source {
            status: Arc::new(move || snapshot(&shared)),
            librqbit: Arc::new(move || {
                let mut text = String::new();
                swarm.prometheus(&mut text);
                text
            }),
        }
    }
}

/// Track the torrents librqbit restored from the state directory, so they
/// show in the status before the first poll and a poll can tell which were
/// dropped from a goatfile. Their folder, `<output>/<address>/<entry>`,
/// says whose they are. Torrents of an address no longer followed keep
/// seeding and show in the status; no poller claims them, so --prune does
/// not touch them.
fn adopt_restored(swarm: &Swarm, opts: &Options, shared: &Shared) {
    let followed: BTreeSet<String> = opts.addresses.iter().map(|(h, _)| h.address.to_string()).collect();
    let restored = swarm.managed();
    shared.with(|book| for (hash, torrent) in restored {
        let Ok(rel) = torrent.output.strip_prefix(&opts.output) else { continue };
        let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(address) = parts.next() else { continue };
        let entry: Vec<String> = parts.collect();
        if entry.is_empty() {
            continue;
        }
        if !followed.contains(&address) {
            info!(target: "goat", "{}: restored torrent of {address}, which is no longer followed; still seeding", entry.join("/"));
        }
        let layout = Layout::new(opts.output.join(&address));
        let mut tracked = Tracked::new(address, entry.join("/"), layout, torrent, Phase::Fetching, None);
        tracked.in_goatfile = false;
        book.torrents.insert(hash, tracked);
    });
}

/// Before the session starts: librqbit's bitfields claim only what goat's
/// durable record says is synced to the disk (`torrent::durable`).
fn trust_only_durable(state_dir: &std::path::Path) {
    use crate::torrent::durable::{restrict, Restricted};
    for (hash, what) in restrict(state_dir) {
        match what {
            Restricted::Dropped(n) => warn!(
                target: "goat",
                "torrent {hash}: {n} piece(s) librqbit saved as done were not yet synced to the disk when goat last ran; they will be fetched again"
            ),
            Restricted::Removed => info!(
                target: "goat",
                "torrent {hash}: no record of what is synced to the disk (a state directory from an older goat, or a stop right after adding); librqbit checks its files once"
            ),
        }
    }
}

/// Every magnet entry of the goatfile each followed address last had
/// (saved in its folder) that the session did not restore, added again
/// from goat's own records (`.goat/<entry>.torrent`): after a damaged
/// `session.json`, or anything else that lost librqbit's session, the
/// torrents seed again without waiting for a poll, even with every Esplora
/// server down.
fn restore_from_records(d: &Daemon) {
    for (holder, esplora) in &d.opts.addresses {
        let address = holder.address.to_string();
        let layout = Layout::new(d.opts.output.join(&address));
        let Ok(bytes) = layout.read(&layout.meta().join("goatfile.yaml")) else { continue };
        // The inscription the goatfile was read from (its `i<n>` metadata
        // lies beside it).
        let goatfile = layout
            .read(&layout.meta().join("source.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["inscription"].as_str().and_then(|i| i.parse().ok()));
        let Ok(gf) = goatfile::parse(&bytes) else { continue };
        for e in gf.entries {
            let Source::Magnet(m) = &e.source else { continue };
            let key = m.info_hash();
            // The records in the output folder may be anyone's who can
            // write there: only a torrent goat itself proved for this entry
            // (its private state says so) is added from them. Any other is
            // added at the first poll, from the chain.
            let proven = d
                .shared
                .with(|book| book.state.verified.get(&key).is_some_and(|v| v.entry == e.name && v.root == layout.root));
            let saved = layout.load_manifest(&e.name).is_some_and(|man| man.info_hash.as_ref() == Some(&key));
            let start =
                proven && saved && d.shared.with(|book| !book.torrents.contains_key(&key) && book.adding.insert(key));
            if !start {
                continue;
            }
            info!(target: "goat", "{}: not in the session; adding it again from goat's records", e.name);
            let job = AddJob {
                entry: e.clone(),
                key,
                address: address.clone(),
                layout: layout.clone(),
                swarm: d.swarm.clone(),
                shared: d.shared.clone(),
                peers: d.opts.peers.clone(),
                metadata_timeout: d.opts.metadata_timeout,
                local: d.opts.local.clone(),
                esplora: esplora.clone(),
                goatfile,
            };
            tokio::spawn(job.run());
        }
    }
}

async fn wait_for_stop(run_for: Option<Duration>) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return "cannot listen for SIGTERM",
    };
    let limit = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = limit => "run time over",
    }
}

/// Before the session starts: for every verified torrent whose files
/// changed on disk, re-hash the pieces of those files and make librqbit
/// forget the ones that fail, so they are fetched again from the swarm.
async fn repair_changed(state_dir: &std::path::Path, st: &mut SeedState) {
    let mut forget = Vec::new();
    for (hash, v) in &st.verified {
        let changed = state::changed(v);
        if changed.is_empty() {
            continue;
        }
        forget.push(*hash);
        let layout = Layout::new(&v.root);
        let Some(m) = layout.load_manifest(&v.entry) else {
            warn!(target: "goat", "{}: manifest missing, librqbit will re-check everything", v.entry);
            let _ = std::fs::remove_file(resume::bitfield_file(state_dir, hash));
            continue;
        };
        let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        let (l2, ch) = (layout.clone(), changed.clone());
        let rechecked = tokio::task::spawn_blocking(move || {
            crate::store::verify::recheck_files(&l2, &m, &ch, crate::store::verify::default_threads())
        })
        .await;
        match rechecked {
            Ok(Ok((npieces, bad))) => {
                crate::torrent::durable::forget(state_dir, hash, bad.iter().copied());
                match resume::forget_pieces(state_dir, hash, npieces, &bad) {
                    Ok(_) => warn!(
                        target: "goat",
                        "{}: {} changed on disk while goat was stopped; {} piece(s) no longer match and will be fetched again",
                        v.entry,
                        names.join(", "),
                        bad.len()
                    ),
                    Err(e) => warn!(target: "goat", "{}: {}", v.entry, e.message),
                }
            }
            Ok(Err(e)) => {
                warn!(target: "goat", "{}: cannot re-check changed files ({}); librqbit will re-check everything", v.entry, e.message);
                let _ = std::fs::remove_file(resume::bitfield_file(state_dir, hash));
            }
            Err(e) => warn!(target: "goat", "{}: re-check failed: {e}", v.entry),
        }
    }
    for h in forget {
        st.verified.remove(&h);
    }
}

#[cfg(test)]
mod tests;

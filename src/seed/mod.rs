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
            let start = proven
                && saved
                && d.shared.with(|book| !book.torrents.contains_key(&key) && book.adding.insert(key.clone()));
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
        forget.push(hash.clone());
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

/// Build a status snapshot from live torrent stats.
fn snapshot(shared: &Shared) -> Status {
    let (addresses, torrents, published_errors) = shared.with(|book| {
        let addresses: Vec<AddressStatus> = book.addresses.values().cloned().collect();
        let torrents: Vec<TorrentStatus> = book.torrents.iter().map(|(hash, tr)| torrent_status(hash, tr)).collect();
        (addresses, torrents, book.published_errors.values().cloned().collect())
    });
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: shared.started_at,
        now: now(),
        listen_port: shared.listen_port,
        output: shared.opts_output.display().to_string(),
        state_dir: shared.state_dir.display().to_string(),
        poll_seconds: shared.poll.as_secs(),
        addresses,
        torrents,
        published_errors,
    }
}

fn torrent_status(hash: &InfoHash, tr: &Tracked) -> TorrentStatus {
    let p = tr.torrent.progress();
    let state = match &tr.phase {
        Phase::Fetching if p.finished => TorrentState::Verifying,
        Phase::Fetching => TorrentState::Fetching,
        Phase::Verifying => TorrentState::Verifying,
        Phase::Seeding => TorrentState::Seeding,
        Phase::Failed(_) => TorrentState::Error,
    };
    let error = match &tr.phase {
        Phase::Failed(e) => Some(e.clone()),
        // librqbit stalls silently on a full disk.
        Phase::Fetching if !p.finished && crate::torrent::disk_full(&tr.layout.root) => {
            Some(format!("disk is full at {}: free space, then restart goat seed to resume", tr.layout.root.display()))
        }
        _ => p.error.clone(),
    };
    let next_retry = tr
        .next_retry
        .filter(|_| matches!(tr.phase, Phase::Failed(_)))
        .map(|at| now() + at.saturating_duration_since(Instant::now()).as_secs());
    TorrentStatus {
        address: tr.address.clone(),
        entry: tr.entry.clone(),
        info_hash: hash.to_string(),
        state,
        in_goatfile: tr.in_goatfile,
        have_bytes: p.have_bytes,
        total_bytes: p.total_bytes,
        uploaded_bytes: p.uploaded_bytes,
        downloaded_bytes: p.fetched_bytes,
        ratio: if p.total_bytes > 0 { p.uploaded_bytes as f64 / p.total_bytes as f64 } else { 0.0 },
        peers: p.peers,
        download_bps: p.download_bps,
        upload_bps: p.upload_bps,
        error,
        retries: tr.retries,
        next_retry,
        refetched_pieces: tr.refetched,
        web_seed_bytes: p.web_seed_bytes,
        encrypted_peers: p.encrypted_peers,
        rc4_peers: p.rc4_peers,
    }
}

/// What the keeper shares with the tasks it starts.
struct Keep {
    shared: Arc<Shared>,
    swarm: Arc<Swarm>,
    peers: Vec<String>,
}

/// One thing the keeper found to do for a torrent.
enum Job {
    /// librqbit stopped it with an error and its retry is due.
    Retry,
    /// goat's storage refused pieces: fetch them again.
    Refetch,
    /// librqbit finished it: prove it (once), then seed.
    Settle { known: bool },
    /// Bring goat's durable record up to librqbit's bitfield.
    Durable,
    /// A `--from` folder seeded in place no longer holds the entry: stop
    /// seeding it from there (the next poll downloads it into goat's
    /// folder, reusing what it can).
    Unseat(String),
}

/// What [`record_durable`] did.
enum Recorded {
    Yes,
    /// librqbit is checking it, or it stopped: nothing to record yet.
    NotRunning,
    Failed,
}

/// Bring goat's durable record of `torrent` up to librqbit's bitfield
/// (`torrent::durable::update`: the files first synced), less the pieces
/// goat has not seen reach the files.
async fn record_durable(
    swarm: &Swarm,
    state_dir: &std::path::Path,
    hash: &InfoHash,
    torrent: &Torrent,
    entry: &str,
) -> Recorded {
    let (Some(haves), Ok(l)) = (swarm.settled_haves(hash), torrent.durable_layout()) else {
        return Recorded::NotRunning;
    };
    let (dir, h) = (state_dir.to_path_buf(), hash.clone());
    let done = tokio::task::spawn_blocking(move || crate::torrent::durable::update(&dir, &h, &l, &haves))
        .await
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| r);
    match done {
        Ok(_) => Recorded::Yes,
        Err(e) => {
            warn!(target: "goat", "{entry}: cannot record what is on disk: {}", e.message);
            Recorded::Failed
        }
    }
}

/// At a clean stop: every torrent's durable record brought up to date, so
/// the next start trusts everything this run put on disk.
async fn record_all_durable(swarm: &Swarm, shared: &Shared) {
    let all: Vec<(InfoHash, Torrent, String)> =
        shared.with(|b| b.torrents.iter().map(|(h, tr)| (h.clone(), tr.torrent.clone(), tr.entry.clone())).collect());
    for (hash, t, entry) in all {
        record_durable(swarm, &shared.state_dir, &hash, &t, &entry).await;
    }
}

/// The wait before restart number `n` (0-based) of an errored torrent:
/// 10 s, doubling, at most 15 minutes.
fn retry_delay(n: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1 << n.min(7)).min(900))
}

/// librqbit brings goat's durable record up to date at least this often
/// while a torrent downloads, or after this much progress.
const DURABLE_EVERY: Duration = Duration::from_secs(5);
const DURABLE_BYTES: u64 = 64 << 20;

/// Keeps every torrent honest, twice a second: restarts the ones librqbit
/// stopped with an error (backing off), has pieces goat refused fetched
/// again, proves each finished download once (`fetcher::Download`, the
/// lifecycle `goat fetch` runs) and brings goat's durable record up to
/// date (`torrent::durable`). Slow work runs in a task per torrent.
async fn keeper(keep: Arc<Keep>) {
    loop {
        let now_i = Instant::now();
        let jobs: Vec<(InfoHash, Job)> = keep.shared.with(|book| {
            let mut jobs = Vec::new();
            for (hash, tr) in book.torrents.iter_mut() {
                if tr.busy {
                    continue;
                }
                let p = tr.torrent.progress();
                if let Some(err) = &p.error {
                    if tr.in_place {
                        tr.busy = true;
                        jobs.push((hash.clone(), Job::Unseat(crate::text::line(err))));
                        continue;
                    }
                    if tr.published {
                        // Retried by re-adding it, which would download
                        // into the publisher's own folder: shown instead.
                        tr.fail_for_good(format!("{}: fix the cause and restart goat seed", crate::text::line(err)));
                        continue;
                    }
                    match tr.next_retry {
                        None => {
                            let msg = crate::text::line(err);
                            let wait = tr.fail(msg.clone());
                            warn!(target: "goat", "{}: stopped by an error ({msg}); restarting it in {}s", tr.entry, wait.as_secs());
                        }
                        Some(at) if at <= now_i => {
                            tr.busy = true;
                            jobs.push((hash.clone(), Job::Retry));
                        }
                        Some(_) => {}
                    }
                    continue;
                }
                if let (Phase::Failed(_), Some(at)) = (&tr.phase, tr.next_retry) {
                    // A proof that failed: tried again from the start.
                    if at <= now_i {
                        tr.retries += 1;
                        tr.next_retry = None;
                        tr.phase = Phase::Fetching;
                    }
                    continue;
                }
                if keep.swarm.proof(hash).is_some_and(|pr| pr.has_failed()) {
                    if tr.in_place {
                        tr.busy = true;
                        jobs.push((hash.clone(), Job::Unseat("pieces there no longer match the torrent".into())));
                        continue;
                    }
                    if tr.published {
                        // The publisher's own files changed under the
                        // torrent: goat refuses those pieces and never
                        // writes into that folder.
                        tr.fail_for_good(format!(
                            "the published files in {} no longer match the torrent; the pieces that differ are not served: put the original files back and restart goat seed, or publish again",
                            crate::text::line(&tr.layout.root.to_string_lossy())
                        ));
                        continue;
                    }
                    if tr.next_refetch.is_some_and(|at| at > now_i) {
                        continue;
                    }
                    tr.busy = true;
                    tr.phase = Phase::Fetching;
                    jobs.push((hash.clone(), Job::Refetch));
                    continue;
                }
                if tr.phase == Phase::Fetching && p.finished {
                    tr.busy = true;
                    tr.phase = Phase::Verifying;
                    jobs.push((hash.clone(), Job::Settle { known: book.state.verified.contains_key(hash) }));
                    continue;
                }
                let waited = tr.durable_at.elapsed() >= tr.durable_wait;
                let due = waited
                    && match tr.durable_have {
                        None => true,
                        Some(h) if h == p.have_bytes => false,
                        Some(h) => p.finished || p.have_bytes.abs_diff(h) >= DURABLE_BYTES || tr.durable_at.elapsed() >= DURABLE_EVERY,
                    };
                if due {
                    tr.busy = true;
                    jobs.push((hash.clone(), Job::Durable));
                }
            }
            jobs
        });
        for (hash, job) in jobs {
            tokio::spawn(keep.clone().run(hash, job));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Keep {
    /// The tracked torrent's handle, folder, entry and magnet (a bare one
    /// from the info-hash when no poll has named it yet).
    fn parts(&self, hash: &InfoHash) -> Option<(Torrent, Layout, String, goatfile::Magnet)> {
        self.shared.with(|book| {
            let tr = book.torrents.get(hash)?;
            let magnet =
                tr.magnet.clone().or_else(|| goatfile::Magnet::parse(&format!("magnet:?xt=urn:btih:{hash}")).ok())?;
            Some((tr.torrent.clone(), tr.layout.clone(), tr.entry.clone(), magnet))
        })
    }

    fn update(&self, hash: &InfoHash, f: impl FnOnce(&mut Tracked)) {
        self.shared.with(|book| {
            if let Some(tr) = book.torrents.get_mut(hash) {
                f(tr);
                tr.busy = false;
            }
        });
    }

    async fn run(self: Arc<Self>, hash: InfoHash, job: Job) {
        let Some((torrent, layout, entry, magnet)) = self.parts(&hash) else { return };
        match job {
            Job::Retry => match self.swarm.retry(torrent, &magnet, &self.peers).await {
                Ok(t) => self.update(&hash, |tr| {
                    tr.torrent = t;
                    tr.retries += 1;
                    tr.next_retry = None;
                    tr.phase = Phase::Fetching;
                    tr.durable_have = None;
                    info!(target: "goat", "{entry}: restarted after an error (retry {})", tr.retries);
                }),
                Err(e) => self.failed_job(&hash, &entry, e, true),
            },
            Job::Refetch => match fetcher::download::refetch_failed(&self.swarm, torrent, &magnet, &self.peers).await {
                Ok((t, failed)) => {
                    warn!(target: "goat", "{entry}: {} piece(s) failed goat's check and were not served; fetching them again", failed.len());
                    self.update(&hash, |tr| {
                        tr.torrent = t;
                        tr.refetched += failed.len() as u64;
                        tr.phase = Phase::Fetching;
                        tr.durable_have = None;
                        tr.next_refetch = Some(Instant::now() + retry_delay(tr.refetches));
                        tr.refetches += 1;
                    });
                }
                Err(e) => self.failed_job(&hash, &entry, e, false),
            },
            Job::Settle { known } => match self.settle(&hash, torrent, &layout, &entry, &magnet, known).await {
                (t, Ok(())) => {
                    info!(target: "goat", "{entry}: {}; seeding", if known { "complete" } else { "downloaded and verified" });
                    self.update(&hash, |tr| {
                        tr.torrent = t;
                        tr.phase = Phase::Seeding;
                        tr.streak = 0;
                    });
                }
                (t, Err(e)) => {
                    // The handle a refetch round re-added, not the one it
                    // removed: a later retry works on the live torrent.
                    self.update(&hash, |tr| tr.torrent = t);
                    self.failed_job(&hash, &entry, e, false)
                }
            },
            Job::Unseat(why) => {
                let _ = self.swarm.remove(&hash).await;
                give_up_in_place(&self.shared.state_dir, &hash, &entry, &layout.root, &why);
                self.shared.with(|book| book.torrents.remove(&hash));
            }
            Job::Durable => {
                let have = torrent.progress().have_bytes;
                let done = record_durable(&self.swarm, &self.shared.state_dir, &hash, &torrent, &entry).await;
                self.update(&hash, |tr| {
                    match done {
                        Recorded::Yes => {
                            tr.durable_have = Some(have);
                            tr.durable_wait = Duration::ZERO;
                        }
                        Recorded::NotRunning => tr.durable_wait = Duration::from_secs(1),
                        Recorded::Failed => {
                            tr.durable_wait = (tr.durable_wait * 2).clamp(DURABLE_EVERY, Duration::from_secs(300))
                        }
                    }
                    tr.durable_at = Instant::now();
                });
            }
        }
    }

    /// A retry or refetch failed. When the torrent is gone from the
    /// session (removed, and adding it back failed), it leaves the book
    /// too, so the next poll adds it again from goat's records; otherwise
    /// the error shows and it is tried again later (a refetch keeps its
    /// pieces refused meanwhile).
    fn failed_job(&self, hash: &InfoHash, entry: &str, e: Error, counts_as_retry: bool) {
        let dir = self.parts(hash).map(|(t, ..)| t.output);
        let gone = dir.as_ref().is_none_or(|d| self.swarm.find(hash, d).is_none());
        if gone {
            warn!(target: "goat", "{entry}: {}; it left the session and is added again at the next poll", e.message);
            self.shared.with(|book| book.torrents.remove(hash));
            return;
        }
        warn!(target: "goat", "{entry}: {}", e.message);
        self.update(hash, |tr| {
            if counts_as_retry {
                tr.retries += 1;
            }
            tr.fail(e.message);
        });
    }

    /// A finished download: proven once (a torrent goat verified in an
    /// earlier run needs no proof: its pieces are hashed as they are first
    /// served), its files synced, then stamped so restarts re-hash nothing
    /// unless a file changed.
    async fn settle(
        &self,
        hash: &InfoHash,
        t: Torrent,
        layout: &Layout,
        entry: &str,
        magnet: &goatfile::Magnet,
        known: bool,
    ) -> (Torrent, Result<()>) {
        let Some(m) = layout.load_manifest(entry) else {
            // Files `goat publish` handed over, seeded where they are: no
            // manifest to prove them by; each piece is still hashed before
            // it is first served.
            info!(target: "goat", "{entry}: no manifest in {}; its pieces are hashed as they are first served", layout.meta().display());
            return (t, Ok(()));
        };
        let t = if known {
            t
        } else {
            let d = fetcher::Download { swarm: &self.swarm, layout, manifest: &m, magnet, peers: &self.peers };
            match d.settle(t, true, |msg| info!(target: "goat", "{msg}")).await {
                (t, Ok(())) => t,
                failed => return failed,
            }
        };
        let (l2, m2) = (layout.clone(), m.clone());
        let stamp = match tokio::task::spawn_blocking(move || state::sync_and_stamp(&l2, &m2)).await {
            Ok(Ok(stamp)) => stamp,
            Ok(Err(e)) => return (t, Err(e)),
            Err(e) => return (t, Err(Error::internal(e.to_string()))),
        };
        self.shared.with(|book| book.state.verified.insert(hash.clone(), stamp));
        self.shared.save_state();
        record_durable(&self.swarm, &self.shared.state_dir, hash, &t, entry).await;
        (t, Ok(()))
    }
}

/// Seed what `goat publish` handed over (`published`), from where the
/// files are: at start, then every poll interval. librqbit checks the files
/// against the torrent's piece hashes when adding; a torrent whose files
/// changed since it was made is reported, not served.
async fn serve_published(swarm: Arc<Swarm>, shared: Arc<Shared>, peers: Vec<String>, mut failed: BTreeSet<String>) {
    loop {
        tokio::time::sleep(shared.poll).await;
        serve_published_once(&swarm, &shared, &peers, &mut failed).await;
    }
}

/// One pass over `published.json`. Run once before the pollers start, so
/// a publisher's own entries are seeded from their folder rather than
/// fetched again into the output folder.
async fn serve_published_once(swarm: &Swarm, shared: &Shared, peers: &[String], failed: &mut BTreeSet<String>) {
    for p in published::load(&shared.state_dir) {
        let Ok((bytes, magnet)) = p.torrent_and_magnet() else { continue };
        let hash = magnet.info_hash();
        if shared.with(|b| b.torrents.contains_key(&hash) || b.adding.contains(&hash)) || failed.contains(&p.magnet) {
            continue;
        }
        match swarm.add_published(bytes, &magnet, peers, &p.output).await {
            Ok(torrent) => {
                let how = if p.in_place { "seeding in place from" } else { "published here, seeding from" };
                info!(target: "goat", "{}: {how} {}", p.name, crate::text::line(&p.output.to_string_lossy()));
                let layout = Layout::new(&p.output);
                shared.with(|b| {
                    let mut tracked = Tracked::new(
                        p.address.clone(),
                        p.name.clone(),
                        layout,
                        torrent,
                        Phase::Seeding,
                        Some(magnet.clone()),
                    );
                    tracked.published = true;
                    tracked.in_place = p.in_place;
                    b.torrents.insert(hash, tracked)
                });
            }
            // A user's folder that no longer holds the entry: the poll
            // fetches it into goat's folder instead.
            Err(e) if p.in_place => give_up_in_place(&shared.state_dir, &hash, &p.name, &p.output, &e.message),
            Err(e) => {
                warn!(target: "goat", "{}: cannot seed the published files in {}: {}", p.name, p.output.display(), e.message);
                shared.with(|b| b.published_errors.insert(p.magnet.clone(), format!("{}: {}", p.name, e.message)));
                failed.insert(p.magnet.clone());
            }
        }
    }
}

/// A `--from` folder seeded in place that changed or is gone (`why`): said
/// once, and its record forgotten, so the next poll fetches the entry
/// into goat's folder.
fn give_up_in_place(state_dir: &std::path::Path, hash: &InfoHash, entry: &str, folder: &std::path::Path, why: &str) {
    warn!(
        target: "goat",
        "{entry}: the files seeded in place from {} changed or are gone ({why}): no longer seeded from there; the next poll fetches the entry into goat's folder",
        crate::text::line(&folder.to_string_lossy())
    );
    if let Err(e) = published::remove(state_dir, hash) {
        warn!(target: "goat", "{entry}: {}", e.message);
    }
}

/// Follows one address.
struct Poller {
    holder: HolderAddress,
    esplora: Arc<Esplora>,
    layout: Layout,
    swarm: Arc<Swarm>,
    shared: Arc<Shared>,
    policy: Policy,
    peers: Vec<String>,
    metadata_timeout: Duration,
    local: crate::local::Sources,
    prune: bool,
    allow_rollback: bool,
    /// Dropped torrents already reported.
    seen_dropped: Mutex<BTreeSet<InfoHash>>,
}

impl Poller {
    fn address(&self) -> String {
        self.holder.address.to_string()
    }

    fn update(&self, f: impl FnOnce(&mut AddressStatus)) {
        let me = self.address();
        self.shared.with(|book| book.addresses.get_mut(&me).map(f));
    }

    async fn run(self) {
        let mut failures: u32 = 0;
        let mut current: Option<InscriptionId> = None;
        loop {
            self.update(|s| {
                s.polls += 1;
                s.last_poll = Some(now());
            });
            match self.poll_once(&mut current).await {
                Ok(()) => {
                    if failures > 0 {
                        info!(target: "goat", "{}: polling works again", self.address());
                    }
                    failures = 0;
                    self.update(|s| {
                        s.last_success = Some(now());
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    failures += 1;
                    warn!(target: "goat", "{}: {} (seeding continues)", self.address(), e.message);
                    self.update(|s| {
                        s.poll_errors += 1;
                        s.last_error = Some(e.message.clone());
                    });
                }
            }
            let wait = next_delay(self.shared.poll, failures);
            self.update(|s| s.next_poll = Some(now() + wait.as_secs()));
            tokio::time::sleep(wait).await;
        }
    }

    async fn poll_once(&self, current: &mut Option<InscriptionId>) -> Result<()> {
        self.esplora.forget_rejections();
        let found = scan::find_goatfile(&self.esplora, &self.holder, self.policy).await?;
        self.not_backwards(&found).await?;
        let bytes = found.served.decode(goatfile::MAX_BYTES as u64)?;
        let gf = &found.goatfile;
        let height = match found.location {
            scan::Location::Confirmed(h) => Some(h),
            scan::Location::Mempool => None,
        };
        if current.as_ref() != Some(&found.id) {
            self.layout.create()?;
            self.layout.write(&self.layout.meta().join("goatfile.yaml"), &bytes)?;
            let source = serde_json::json!({
                "address": self.address(),
                "inscription": found.id.to_string(),
                "block_height": height,
            });
            self.layout.write(&self.layout.meta().join("source.json"), source.to_string().as_bytes())?;
            info!(
                target: "goat",
                "{}: following goatfile {} ({} entries{})",
                self.address(),
                found.id,
                gf.entries.len(),
                if current.is_some() { ", new" } else { "" }
            );
            *current = Some(found.id);
        }
        self.update(|s| {
            s.goatfile = Some(found.id.to_string());
            s.goatfile_name = gf.name.clone();
            s.block_height = height;
            s.entries = gf.entries.iter().map(|e| e.name.clone()).collect();
        });
        self.apply(gf, &found.id).await
    }

    /// Refuse a goatfile older than the newest one followed (a lower
    /// sequence, `state::Followed::older_than`): one poll answered by a
    /// server that hides the newest, or after a failover to one that is
    /// behind, must not move the daemon back (and, with --prune, stop it
    /// seeding the newer entries). Going back is allowed with
    /// --allow-rollback, or when a reorg is proven: the newest one's
    /// reveal is no longer confirmed by any server (`reorged`). Otherwise
    /// the poll fails, seeding goes on, and the status says why.
    async fn not_backwards(&self, found: &scan::Chosen) -> Result<()> {
        let me = self.address();
        let candidate = state::Followed {
            inscription: found.id.to_string(),
            sequence: found.endorsement.as_ref().and_then(|e| e.signed.as_ref()).map(|s| s.sequence),
            height: found.proof.goatfile.as_ref().map(|p| p.height),
            block: found.proof.goatfile.as_ref().map(|p| p.block.to_string()),
        };
        let newest = self.shared.with(|book| book.state.followed.get(&me).cloned());
        if let Some(newest) = newest.filter(|n| candidate.older_than(n)) {
            let what = format!("the servers offer goatfile {candidate}, older than {newest} followed before");
            if self.allow_rollback {
                warn!(target: "goat", "{me}: {what}; going back to it (--allow-rollback)");
            } else if let Some(how) = self.reorged(&newest).await {
                warn!(target: "goat", "{me}: {what}; going back to it: {how}");
            } else {
                let why = format!(
                    "{what}: a server may be hiding the newer one or be behind; still following {} (pass --allow-rollback to go back)",
                    newest.inscription
                );
                self.update(|s| {
                    s.rollback_refused = Some(why.clone());
                    // After a restart, the one still followed.
                    s.goatfile.get_or_insert(newest.inscription.clone());
                    s.sequence = newest.sequence;
                });
                return Err(Error::invalid(why));
            }
        }
        self.update(|s| {
            s.rollback_refused = None;
            s.sequence = candidate.sequence;
        });
        let changed = self.shared.with(|book| book.state.followed.insert(me, candidate.clone()) != Some(candidate));
        if changed {
            self.shared.save_state();
        }
        Ok(())
    }

    /// Whether a reorg took `newest` out of the chain, in words: every
    /// server that answers says its reveal is not confirmed (none silent:
    /// `Esplora::prove`). An unconfirmed one counts as gone only when no
    /// server has it at all.
    async fn reorged(&self, newest: &state::Followed) -> Option<String> {
        let id: InscriptionId = newest.inscription.parse().ok()?;
        let Some(block) = &newest.block else {
            return match self.esplora.tx(&id.txid).await {
                Err(e) if e.kind == crate::error::Kind::NotFound => {
                    Some(format!("{} is gone from every server", id.txid))
                }
                _ => None,
            };
        };
        // A reveal proven in another block now is still confirmed: the
        // newer goatfile still exists (only moved), so that is no reason
        // to go back.
        match self.esplora.prove(&id.txid, self.holder.network).await {
            Err(e) if e.kind == crate::error::Kind::NotFound => {
                Some(format!("a reorg took {} out of block {block}: no server proves it confirmed", id.txid))
            }
            _ => None,
        }
    }

    /// Make the session match the goatfile: add what is new, mark (or with
    /// --prune, remove) what was dropped.
    async fn apply(&self, gf: &Goatfile, id: &InscriptionId) -> Result<()> {
        let mut first_error = None;
        let mut listed = BTreeSet::new();
        for e in &gf.entries {
            match &e.source {
                Source::Inscription(_) | Source::Parts(_) => {
                    if fetcher::inscription_present(&self.layout, e) {
                        continue;
                    }
                    match fetcher::fetch_inscription(&self.esplora, &self.layout, e).await {
                        Ok(r) => info!(target: "goat", "{}: {} bytes written from the chain", e.name, r.bytes),
                        Err(err) => {
                            first_error.get_or_insert(err);
                        }
                    }
                }
                Source::Magnet(m) => {
                    let key = m.info_hash();
                    listed.insert(key.clone());
                    let start = self.shared.with(|book| match book.torrents.get_mut(&key) {
                        Some(tr) => {
                            tr.in_goatfile = true;
                            tr.magnet.get_or_insert_with(|| m.clone());
                            false
                        }
                        // false when it is already being added
                        None => book.adding.insert(key.clone()),
                    });
                    if !start {
                        continue;
                    }
                    // Adding can wait minutes for metadata: in the background.
                    let job = AddJob {
                        entry: e.clone(),
                        key,
                        address: self.address(),
                        layout: self.layout.clone(),
                        swarm: self.swarm.clone(),
                        shared: self.shared.clone(),
                        peers: self.peers.clone(),
                        metadata_timeout: self.metadata_timeout,
                        local: self.local.clone(),
                        esplora: self.esplora.clone(),
                        goatfile: Some(*id),
                    };
                    tokio::spawn(job.run());
                }
            }
        }
        // Entries dropped from the goatfile (this address's only).
        let me = self.address();
        let dropped: Vec<(InfoHash, String)> = self.shared.with(|book| {
            let mut seen = self.seen_dropped.lock().unwrap_or_else(|p| p.into_inner());
            let mut d = Vec::new();
            // A torrent a keeper job is re-adding is left for the next poll.
            for (k, tr) in
                book.torrents.iter_mut().filter(|(k, tr)| tr.address == me && !listed.contains(*k) && !tr.busy)
            {
                // Newly dropped, or restored from a previous run and not
                // in the goatfile any more: say so once.
                let first = seen.insert(k.clone());
                if tr.in_goatfile || first {
                    d.push((k.clone(), tr.entry.clone()));
                }
                tr.in_goatfile = false;
            }
            d
        });
        for (key, entry) in dropped {
            if self.prune {
                match self.swarm.remove(&key).await {
                    Ok(()) => {
                        info!(target: "goat", "{entry}: dropped from the goatfile; stopped seeding (--prune), files kept");
                        self.shared.with(|book| {
                            book.torrents.remove(&key);
                            book.state.verified.remove(&key);
                        });
                        crate::torrent::durable::remove(&self.shared.state_dir, &key);
                        // A `--from` folder seeded in place is not seeded again at the next start.
                        if let Err(e) = published::remove_in_place(&self.shared.state_dir, &key) {
                            warn!(target: "goat", "{entry}: {}", e.message);
                        }
                    }
                    Err(e) => warn!(target: "goat", "{entry}: {}", e.message),
                }
            } else {
                info!(target: "goat", "{entry}: dropped from the goatfile; still seeding (pass --prune to stop)");
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Adding one magnet entry: re-use what the session restored or goat saved,
/// else exchange metadata with peers like `goat fetch`.
struct AddJob {
    entry: goatfile::Entry,
    key: InfoHash,
    address: String,
    layout: Layout,
    swarm: Arc<Swarm>,
    shared: Arc<Shared>,
    peers: Vec<String>,
    metadata_timeout: Duration,
    local: crate::local::Sources,
    /// For metadata inscribed on chain (`fetcher::metadata`).
    esplora: Arc<Esplora>,
    /// The goatfile's inscription, which `i<n>` metadata is beside.
    goatfile: Option<InscriptionId>,
}

impl AddJob {
    async fn run(self) {
        // A panic while adding (inside librqbit, on hostile metadata) is
        // this entry's error: the "adding" mark below is always cleared, so
        // the entry is shown and tried again at the next poll.
        let outcome = crate::torrent::metadata::caught(self.add()).await.and_then(|r| r);
        if let Err(e) = &outcome {
            // Reported through the address status; retried next poll.
            warn!(target: "goat", "{}: {}", self.entry.name, e.message);
        }
        self.shared.with(|book| {
            book.adding.remove(&self.key);
            match outcome {
                Ok(added) => {
                    let magnet = match &self.entry.source {
                        Source::Magnet(m) => Some(m.clone()),
                        _ => None,
                    };
                    let tracked = match added {
                        Added::Fetching(torrent) => Tracked::new(
                            self.address.clone(),
                            self.entry.name.clone(),
                            self.layout.clone(),
                            torrent,
                            Phase::Fetching,
                            magnet,
                        ),
                        Added::InPlace(torrent, folder) => {
                            let mut t = Tracked::new(
                                self.address.clone(),
                                self.entry.name.clone(),
                                Layout::new(folder),
                                torrent,
                                Phase::Seeding,
                                magnet,
                            );
                            t.published = true;
                            t.in_place = true;
                            t
                        }
                    };
                    book.torrents.insert(self.key.clone(), tracked);
                }
                Err(e) => {
                    if let Some(s) = book.addresses.get_mut(&self.address) {
                        s.last_error = Some(format!("{}: {}", self.entry.name, e.message));
                    }
                }
            }
        });
    }

    async fn add(&self) -> Result<Added> {
        let Source::Magnet(m) = &self.entry.source else {
            return Err(Error::internal("AddJob on an inscription entry"));
        };
        self.layout.create()?;
        let dir = self.layout.make_entry_dir(&self.entry.name)?;
        let have_manifest =
            self.layout.load_manifest(&self.entry.name).is_some_and(|man| man.info_hash.as_ref() == Some(&self.key));
        if let Some(t) = self.swarm.find(&self.key, &dir) {
            if !have_manifest {
                fetcher::record_torrent(&self.layout, &self.entry, &t)?;
            }
            info!(target: "goat", "{}: resumed from the state directory", self.entry.name);
            return Ok(Added::Fetching(self.swarm.with_web_seeds(t, m)));
        }
        if have_manifest {
            if let Ok(bytes) = self.layout.read(&self.layout.torrent_file(&self.entry.name)) {
                let t = self.swarm.add_saved(bytes.into(), m, &self.peers, &dir).await?;
                info!(target: "goat", "{}: re-added from saved metadata", self.entry.name);
                return Ok(Added::Fetching(t));
            }
        }
        info!(target: "goat", "{}: new entry, fetching metadata", self.entry.name);
        let known = fetcher::metadata::find(
            Some(&self.esplora),
            self.swarm.web(),
            &self.entry,
            self.goatfile.as_ref(),
            self.metadata_timeout,
        )
        .await;
        let md = fetcher::metadata_for(&self.swarm, &self.entry, m, &self.peers, self.metadata_timeout, known).await?;
        if let Some(t) = self.in_place(&md, m).await? {
            return Ok(t);
        }
        let (t, placed) = fetcher::place_and_add(&self.swarm, &self.entry, md, m, &dir, &self.local).await?;
        for w in placed.words() {
            info!(target: "goat", "{}: reused {w}", self.entry.name);
        }
        if let Err(e) = fetcher::record_torrent(&self.layout, &self.entry, &t) {
            let _ = self.swarm.remove(&self.key).await;
            return Err(e);
        }
        Ok(Added::Fetching(t))
    }

    /// `--from`: a folder that holds the whole entry, verified, is seeded
    /// where it is, read-only, as `goat publish` hands a publisher's folder
    /// over (recorded in `published.json`, so a restart seeds it there too).
    async fn in_place(&self, md: &crate::torrent::Metadata, m: &goatfile::Magnet) -> Result<Option<Added>> {
        if self.local.folders.is_empty() {
            return Ok(None);
        }
        let (folders, name, specs, geometry) =
            (self.local.folders.clone(), self.entry.name.clone(), self.entry.files.clone(), fetcher::geometry(md));
        let found = tokio::task::spawn_blocking(move || crate::local::in_place(&folders, &name, &specs, &geometry))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let Some(folder) = found else { return Ok(None) };
        let t = self.swarm.add_published(md.bytes.clone(), m, &self.peers, &folder).await?;
        published::add(
            &self.shared.state_dir,
            &[published::Published {
                address: self.address.clone(),
                name: self.entry.name.clone(),
                magnet: m.uri.clone(),
                output: folder.clone(),
                torrent: data_encoding::BASE64.encode(&md.bytes),
                in_place: true,
            }],
        )?;
        info!(
            target: "goat",
            "{}: seeding in place from {} (verified; goat never writes there)",
            self.entry.name,
            crate::text::line(&folder.to_string_lossy())
        );
        Ok(Some(Added::InPlace(t, folder)))
    }
}

/// What adding an entry did.
enum Added {
    /// Downloading into goat's folder (local copies put there first).
    Fetching(Torrent),
    /// Seeded read-only from the user's own folder (`--from`).
    InPlace(Torrent, PathBuf),
}

/// The poll interval with ±10% jitter (so many daemons do not hit Esplora
/// in step); after failures it doubles, up to 4x, so a down server is not
/// hammered.
fn next_delay(poll: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(2);
    let base = poll.saturating_mul(if failures == 0 { 1 } else { factor });
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let jitter = (nanos % 2001) as f64 / 10_000.0 - 0.1; // -0.1 ..= +0.1
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_jitters_and_backs_off() {
        let p = Duration::from_secs(100);
        for _ in 0..20 {
            let d = next_delay(p, 0);
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110), "{d:?}");
        }
        assert!(next_delay(p, 2) >= Duration::from_secs(180));
        assert!(next_delay(p, 9) <= Duration::from_secs(440));
    }
}

//! Stage 1: address → transactions, from Esplora REST servers.
//!
//! Types come from `esplora-client`; requests go through `reqwest` (already
//! in the tree through librqbit), because goat needs what esplora-client's
//! own request loop cannot give: honouring `Retry-After`, failing over across
//! several servers, checking every answer before accepting it, SOCKS5
//! proxies (Tor; esplora-client's bitreq speaks only HTTP CONNECT), and
//! trusting the system's CA roots, `SSL_CERT_FILE` and `--esplora-ca`.
//!
//! Nothing a server says about a transaction's *content* is trusted: raw
//! bytes are fetched and must hash to the txid that was asked for. What is
//! still the server's word (confirmation height, which transactions belong to
//! an address) is checked by `proof` (merkle proofs against headers with
//! their proof of work, agreement across servers) and `history` (servers
//! compared on what the address holds); docs/trust.md says what is proven.

pub mod electrum;
pub mod history;
pub mod proof;
pub mod witness;

use crate::error::{Error, Kind, Result};
use bitcoin::block::Header;
use bitcoin::{consensus, Address, BlockHash, Transaction, Txid};
pub use esplora_client::EsploraTx;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Esplora returns at most this many confirmed transactions per history page.
pub const PAGE_SIZE: usize = 25;
/// Largest response body accepted.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Raw transactions kept per client (the daemon's lives for good).
const MAX_TXS_KEPT: usize = 50_000;

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URLs, e.g. `https://mempool.space/api`, tried in order.
    pub endpoints: Vec<String>,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Attempts per endpoint before failing over to the next.
    pub attempts: u32,
    /// First backoff delay; doubles per retry.
    pub backoff: Duration,
    /// A `Retry-After` longer than this makes goat fail over instead of wait.
    pub max_retry_after: Duration,
    /// Proxy for all Esplora traffic: `socks5h://` (names resolved by the
    /// proxy), `socks5://`, or `http://` (HTTP CONNECT).
    pub proxy: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the system's roots,
    /// `SSL_CERT_FILE` and the bundled Mozilla roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Index of the endpoint to follow when servers disagree (`--trust-server`).
    pub trusted: Option<usize>,
    /// The chain the servers serve: what a block's proof of work is
    /// checked against.
    pub network: bitcoin::Network,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoints: vec![],
            timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(60),
            proxy: None,
            ca_file: None,
            trusted: None,
            network: bitcoin::Network::Bitcoin,
        }
    }
}

/// Counters, read as a snapshot (for `-v` and the benchmarks).
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    failovers: AtomicU64,
    bytes: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    /// Esplora requests, and Electrum questions (each may be one or two
    /// round trips: see `electrum_round_trips`).
    pub requests: u64,
    /// Round trips to Electrum servers (a batch is one).
    pub electrum_round_trips: u64,
    pub retries: u64,
    pub failovers: u64,
    pub bytes: u64,
}

pub struct Esplora {
    cfg: Config,
    http: reqwest::Client,
    preferred: AtomicUsize,
    /// Transactions fetched in this run, and the endpoint that served each
    /// (its witnesses are that server's word until `witness` proves them).
    txs: Mutex<HashMap<Txid, (Arc<Transaction>, usize)>>,
    /// Transactions whose witnesses are proven (`witness.rs`).
    witnessed: Mutex<HashMap<Txid, (Arc<Transaction>, witness::Witnessed)>>,
    /// Transactions proven confirmed in this run (`proof.rs`).
    proven: Mutex<HashMap<Txid, proof::Proven>>,
    /// Raw blocks fetched and checked in this run, by hash.
    blocks: Mutex<HashMap<BlockHash, (Arc<bitcoin::Block>, String)>>,
    /// Headers already checked (hash, proof of work), by block hash.
    headers: Mutex<HashMap<BlockHash, Header>>,
    /// Endpoints caught failing a check in this run.
    rejected: Mutex<HashSet<usize>>,
    counters: Counters,
    /// The Electrum endpoints (`tcp://`, `ssl://`), by URL.
    electrum: HashMap<String, Arc<electrum::Server>>,
}

/// What one endpoint answered, after its retries.
pub(crate) enum Outcome<T> {
    Ok(T),
    /// 404: the server says it does not exist.
    NotFound(String),
    /// 400 and the like: the server refuses the request itself.
    Refused(u16, String),
    /// A body came back and failed `check`: the server is faulty or lying.
    Invalid(String),
    /// No usable answer (down, timed out, rate limited).
    Unreachable(String),
}

/// The outcome of one HTTP attempt against one endpoint.
enum Attempt {
    Body(Vec<u8>),
    /// 400/404: the server's definite answer; other servers would agree.
    Definite(u16, String),
    /// Worth retrying here (5xx, connection trouble, truncated body).
    Transient(String),
    /// 429, with the wait the server asked for.
    RateLimited(Option<Duration>),
    /// An answer caught failing a check before it could be parsed (an
    /// Electrum page whose transactions do not hash to the history's txids).
    Invalid(String),
}

impl Esplora {
    /// Check the configuration and make a client. No request is made.
    pub fn new(cfg: Config) -> Result<Self> {
        if cfg.endpoints.is_empty() {
            return Err(Error::usage(
                "no Esplora server for this network: pass --esplora URL (or set GOAT_ESPLORA)",
            ));
        }
        for e in &cfg.endpoints {
            if electrum::is_electrum(e) {
                let hostport = &e[6..];
                if url::Url::parse(&format!("http://{hostport}")).ok().and_then(|u| u.port()).is_none() || hostport.contains('/') {
                    return Err(Error::usage(format!(
                        "--electrum '{}' is not tcp://HOST:PORT or ssl://HOST:PORT",
                        crate::text::line(e)
                    )));
                }
            } else if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(Error::usage(format!(
                    "--esplora '{}' is not an http(s) URL: use e.g. https://mempool.space/api",
                    crate::text::line(e)
                )));
            }
        }
        let mut cfg = cfg;
        for e in cfg.endpoints.iter_mut() {
            while e.ends_with('/') {
                e.pop();
            }
        }
        let proxy = cfg.proxy.as_deref().map(check_proxy).transpose()?;
        let http = client(&cfg, proxy.as_ref())?;
        let socks = proxy.as_ref().map(|u| {
            let hostport = format!("{}:{}", u.host_str().unwrap_or_default(), u.port_or_known_default().unwrap_or(1080));
            (u.scheme().starts_with("socks5"), hostport)
        });
        let mut servers = HashMap::new();
        for e in cfg.endpoints.iter().filter(|e| electrum::is_electrum(e)) {
            let proxy = match &socks {
                None => None,
                Some((true, hp)) => Some(hp.clone()),
                Some((false, _)) => {
                    return Err(Error::usage(
                        "Electrum connections cannot go through an HTTP CONNECT proxy: use --esplora-proxy socks5h://HOST:PORT",
                    ))
                }
            };
            servers.insert(e.clone(), Arc::new(electrum::Server::new(e, cfg.timeout, proxy)));
        }
        Ok(Esplora {
            electrum: servers,
            cfg,
            http,
            preferred: AtomicUsize::new(0),
            txs: Mutex::new(HashMap::new()),
            witnessed: Mutex::new(HashMap::new()),
            blocks: Mutex::new(HashMap::new()),
            proven: Mutex::new(HashMap::new()),
            headers: Mutex::new(HashMap::new()),
            rejected: Mutex::new(HashSet::new()),
            counters: Counters::default(),
        })
    }

    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            electrum_round_trips: self.electrum.values().map(|s| s.round_trips.load(Ordering::Relaxed)).sum(),
            retries: c.retries.load(Ordering::Relaxed),
            failovers: c.failovers.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }

    async fn attempt(&self, base: &str, path: &str) -> Attempt {
        self.attempt_with(base, path, None).await
    }

    /// One request: a GET, or a POST of `post` as the body.
    async fn attempt_with(&self, base: &str, path: &str, post: Option<&str>) -> Attempt {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(server) = self.electrum.get(base) {
            let (server, path, post) = (server.clone(), path.to_string(), post.map(str::to_string));
            let call = tokio::task::spawn_blocking(move || server.answer(&path, post.as_deref()));
            // The connection has its own timeout per call; a page is two.
            return match tokio::time::timeout(self.cfg.timeout * 2, call).await {
                Err(_) => Attempt::Transient(format!("did not answer within {:?}", self.cfg.timeout)),
                Ok(Err(e)) => Attempt::Transient(format!("failed the Electrum call ({e})")),
                Ok(Ok(Attempt::Body(b))) => {
                    self.counters.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                    Attempt::Body(b)
                }
                Ok(Ok(other)) => other,
            };
        }
        let url = format!("{base}{path}");
        let req = match post {
            None => self.http.get(&url),
            Some(body) => self.http.post(&url).body(body.to_string()),
        };
        let send = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            Ok::<_, reqwest::Error>((status, retry_after, read_capped(resp).await?))
        };
        let (status, retry_after, body) = match tokio::time::timeout(self.cfg.timeout, send).await {
            Err(_) => return Attempt::Transient(format!("did not answer within {:?}", self.cfg.timeout)),
            Ok(Err(e)) if e.is_timeout() => return Attempt::Transient(format!("did not answer within {:?}", self.cfg.timeout)),
            Ok(Err(e)) => return Attempt::Transient(describe(&e)),
            Ok(Ok((_, _, None))) => return Attempt::Transient(format!("sent an answer larger than {MAX_BODY} bytes")),
            Ok(Ok((status, retry_after, Some(body)))) => (status, retry_after, body),
        };
        match status {
            200..=299 => {
                self.counters.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                Attempt::Body(body)
            }
            429 => Attempt::RateLimited(retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)),
            400 | 404 => Attempt::Definite(status, crate::text::line(&one_line(&String::from_utf8_lossy(&body)))),
            _ => Attempt::Transient(format!("answered HTTP {status}")),
        }
    }

    /// Endpoints in the order a request should try them: the trusted one
    /// (`--trust-server`) first, else the last one that answered well; never
    /// one caught lying in this run.
    pub(crate) fn order(&self) -> Vec<usize> {
        let n = self.cfg.endpoints.len();
        let start = self.cfg.trusted.unwrap_or_else(|| self.preferred.load(Ordering::Relaxed) % n);
        let rejected = self.rejected.lock().map(|r| r.clone()).unwrap_or_default();
        (0..n).map(|k| (start + k) % n).filter(|i| !rejected.contains(i)).collect()
    }

    /// The base URL of endpoint `idx`.
    pub fn endpoint(&self, idx: usize) -> &str {
        &self.cfg.endpoints[idx]
    }

    pub fn network(&self) -> bitcoin::Network {
        self.cfg.network
    }

    /// Endpoints caught lying so far in this run.
    pub fn rejected_count(&self) -> usize {
        self.rejected.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn endpoint_count(&self) -> usize {
        self.cfg.endpoints.len()
    }

    /// The endpoint `--trust-server` named, if any.
    pub fn trusted(&self) -> Option<usize> {
        self.cfg.trusted
    }

    /// Remember that endpoint `idx` failed a check: it is not asked again
    /// in this run, and the user is told once, on one line.
    pub(crate) fn reject(&self, idx: usize, why: &str) {
        if let Ok(mut r) = self.rejected.lock() {
            if r.insert(idx) {
                tracing::warn!("{}: {why}; not asking it again", self.endpoint(idx));
                // Its transactions' bytes hash to their txids, but their
                // witnesses were its word: fetch them again elsewhere.
                if let Ok(mut txs) = self.txs.lock() {
                    txs.retain(|_, (_, by)| *by != idx);
                }
                if let Ok(mut p) = self.proven.lock() {
                    p.retain(|_, p| p.server != self.cfg.endpoints[idx]);
                }
            }
        }
    }

    /// Give every endpoint a fresh chance (the daemon calls this before each
    /// poll, so one bad answer does not silence a server forever).
    /// Proofs of confirmation are forgotten too: a block proven an hour ago
    /// may have been reorganised away since. Proven witnesses are kept: a
    /// transaction's witnesses, once proven, are those of its txid (only a
    /// third party's malleation in a new block could differ, the gap the
    /// script check has anyway), so the daemon does not fetch a block per
    /// transaction on every poll.
    pub fn forget_rejections(&self) {
        if let Ok(mut r) = self.rejected.lock() {
            r.clear();
        }
        if let Ok(mut c) = self.proven.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.blocks.lock() {
            c.clear();
        }
    }

    /// GET `path` from endpoint `idx` alone, with retries. `check` turns the
    /// body into a value or says why it is unacceptable.
    pub(crate) async fn get_at<T>(
        &self,
        idx: usize,
        path: &str,
        check: &impl Fn(&[u8]) -> std::result::Result<T, String>,
    ) -> Outcome<T> {
        let base = &self.cfg.endpoints[idx];
        let mut delay = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.cfg.attempts;
            let (outcome, wait) = match self.attempt(base, path).await {
                Attempt::Body(b) => match check(&b) {
                    Ok(v) => return Outcome::Ok(v),
                    Err(why) => (Outcome::Invalid(why), Some(delay)),
                },
                Attempt::Definite(404, msg) => return Outcome::NotFound(msg),
                Attempt::Definite(code, msg) => return Outcome::Refused(code, msg),
                Attempt::Transient(why) => (Outcome::Unreachable(why), Some(delay)),
                Attempt::Invalid(why) => (Outcome::Invalid(why), Some(delay)),
                Attempt::RateLimited(after) => {
                    let o = Outcome::Unreachable("is rate limiting (HTTP 429)".into());
                    match after {
                        Some(d) if d > self.cfg.max_retry_after => (o, None),
                        Some(d) => (o, Some(d)),
                        None => (o, Some(delay)),
                    }
                }
            };
            match wait {
                Some(d) if !last => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("{base}{path}: retrying in {d:?}");
                    tokio::time::sleep(d).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                }
                _ => return outcome,
            }
        }
    }

    /// GET `path` from the first endpoint that gives a body `check` accepts.
    async fn get<T>(&self, path: &str, check: impl Fn(&[u8]) -> std::result::Result<T, String>) -> Result<T> {
        self.get_from(path, check).await.map(|(v, _)| v)
    }

    /// `get`, also saying which endpoint answered.
    async fn get_from<T>(&self, path: &str, check: impl Fn(&[u8]) -> std::result::Result<T, String>) -> Result<(T, usize)> {
        let mut problems: Vec<String> = Vec::new();
        let mut worst = Kind::Network;
        for (k, idx) in self.order().into_iter().enumerate() {
            let base = &self.cfg.endpoints[idx];
            if k > 0 {
                self.counters.failovers.fetch_add(1, Ordering::Relaxed);
                tracing::info!("failing over to {base}");
            }
            match self.get_at(idx, path, &check).await {
                Outcome::Ok(v) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok((v, idx));
                }
                Outcome::NotFound(msg) => {
                    return Err(Error::not_found(format!("{base}{path}: not found ({msg})")));
                }
                Outcome::Refused(code, msg) => {
                    return Err(Error::usage(format!("{base} refused {path} (HTTP {code}: {msg})")));
                }
                Outcome::Invalid(why) => {
                    worst = Kind::InvalidData;
                    problems.push(format!("{base}: {why}"));
                }
                Outcome::Unreachable(why) => problems.push(format!("{base} {why}")),
            }
        }
        Err(self.none_answered(worst, &problems, path))
    }

    /// The one error for "every server failed": each server and its cause
    /// on one line, whole (no cut words).
    pub(crate) fn none_answered(&self, worst: Kind, problems: &[String], path: &str) -> Error {
        if problems.is_empty() {
            return Error::invalid(format!(
                "every server was caught lying earlier in this run ({path}): pass another --esplora or --electrum"
            ));
        }
        let servers = if self.electrum.is_empty() { "Esplora server" } else { "Esplora or Electrum server" };
        let problems = problems.join("; ");
        if worst == Kind::InvalidData {
            Error::invalid(format!("no {servers} gave a valid answer to {path}: {problems}: a server is faulty or lying, pass another"))
        } else {
            Error::network(format!("no {servers} answered: {problems}: check your connection or pass another --esplora"))
        }
    }

    fn json<T: serde::de::DeserializeOwned>(b: &[u8]) -> std::result::Result<T, String> {
        serde_json::from_slice(b).map_err(|e| format!("invalid JSON ({e})"))
    }

    /// History page 1: up to 50 mempool txs, then the newest 25 confirmed;
    /// and the endpoint that served it.
    pub async fn address_txs(&self, addr: &Address) -> Result<(Vec<EsploraTx>, usize)> {
        self.get_from(&format!("/address/{addr}/txs"), Self::json).await
    }

    /// Confirmed history after `last_seen`, 25 per page, newest first; and
    /// the endpoint that served it.
    pub async fn address_txs_chain(&self, addr: &Address, last_seen: &Txid) -> Result<(Vec<EsploraTx>, usize)> {
        self.get_from(&format!("/address/{addr}/txs/chain/{last_seen}"), Self::json).await
    }

    /// The server's JSON view of a transaction (status, prevouts).
    pub async fn tx_info(&self, txid: &Txid) -> Result<EsploraTx> {
        let want = *txid;
        self.get(&format!("/tx/{txid}"), move |b| {
            let t: EsploraTx = Self::json(b)?;
            if t.txid != want {
                return Err(format!("asked for {want}, got {}", t.txid));
            }
            Ok(t)
        })
        .await
    }

    /// The address's unspent outputs, as the server lists them. Values and
    /// scripts are the server's word: `publish` re-reads each from the
    /// transaction's own bytes (`tx`) before spending it.
    pub async fn utxos(&self, addr: &Address) -> Result<Vec<esplora_client::Utxo>> {
        self.get(&format!("/address/{addr}/utxo"), Self::json).await
    }

    /// Fee estimates: confirmation target in blocks → sat/vB.
    pub async fn fee_estimates(&self) -> Result<HashMap<u16, f64>> {
        self.get("/fee-estimates", |b| {
            let m: HashMap<String, f64> = Self::json(b)?;
            Ok(m.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, v)).filter(|(_, v)| v.is_finite() && *v > 0.0)).collect())
        })
        .await
    }

    /// Whether a transaction is confirmed yet, and at what height (the
    /// server's word; `resolve` proves it later).
    pub async fn tx_status(&self, txid: &Txid) -> Result<esplora_client::TxStatus> {
        self.get(&format!("/tx/{txid}/status"), Self::json).await
    }

    /// Broadcast `tx` (POST /tx) to every server, so one that drops it does
    /// not lose it. Succeeds when one accepted it (or already had it); a
    /// server's definite refusal (400, with Bitcoin Core's reason) is an
    /// error that names the reason.
    pub async fn broadcast(&self, tx: &Transaction) -> Result<Txid> {
        let txid = tx.compute_txid();
        let hex = consensus::encode::serialize_hex(tx);
        let mut accepted = false;
        let mut problems = Vec::new();
        let mut refused = None;
        for idx in self.order() {
            let base = self.cfg.endpoints[idx].clone();
            let mut tries = 0;
            loop {
                tries += 1;
                match self.attempt_with(&base, "/tx", Some(&hex)).await {
                    Attempt::Body(b) => {
                        let said = String::from_utf8_lossy(&b).trim().to_string();
                        if said != txid.to_string() {
                            tracing::warn!("{base}: POST /tx answered {} for {txid}", crate::text::line(&said));
                        }
                        accepted = true;
                    }
                    Attempt::Definite(_, msg) if msg.contains("already") => accepted = true,
                    Attempt::Definite(code, msg) => refused = Some(format!("{base} refused it (HTTP {code}: {msg})")),
                    Attempt::Transient(why) if tries < self.cfg.attempts => {
                        tracing::debug!("{base}: POST /tx: {why}; retrying");
                        tokio::time::sleep(self.cfg.backoff * tries).await;
                        continue;
                    }
                    Attempt::RateLimited(_) if tries < self.cfg.attempts => {
                        tokio::time::sleep(self.cfg.backoff * tries).await;
                        continue;
                    }
                    Attempt::Transient(why) | Attempt::Invalid(why) => problems.push(format!("{base}: {why}")),
                    Attempt::RateLimited(_) => problems.push(format!("{base}: rate limited (HTTP 429)")),
                }
                break;
            }
        }
        match (accepted, refused) {
            (true, _) => Ok(txid),
            (false, Some(r)) => Err(Error::invalid(format!("transaction {txid}: {r}"))),
            (false, None) => Err(Error::network(format!(
                "transaction {txid}: no Esplora server took it ({}): check your connection and run again",
                problems.join("; ")
            ))),
        }
    }

    /// A transaction's bytes, proven to hash to `txid`. Fetched once per run.
    /// Its witnesses are still the server's word: see `witnessed`.
    pub async fn tx(&self, txid: &Txid) -> Result<Arc<Transaction>> {
        self.tx_from(txid).await.map(|(t, _)| t)
    }

    /// The transaction as fetched earlier in this run, if it was, and the
    /// endpoint that served it.
    pub(crate) fn cached_tx(&self, txid: &Txid) -> Option<(Arc<Transaction>, usize)> {
        self.txs.lock().ok()?.get(txid).cloned()
    }

    /// `tx`, and the endpoint that served it.
    pub(crate) async fn tx_from(&self, txid: &Txid) -> Result<(Arc<Transaction>, usize)> {
        if let Some((t, _)) = self.witnessed.lock().map_err(|_| Error::internal("cache lock"))?.get(txid) {
            return Ok((t.clone(), usize::MAX));
        }
        if let Some(t) = self.txs.lock().map_err(|_| Error::internal("cache lock"))?.get(txid) {
            return Ok(t.clone());
        }
        let want = *txid;
        let (tx, idx) = self
            .get_from(&format!("/tx/{txid}/raw"), move |b| {
                let tx: Transaction =
                    consensus::deserialize(b).map_err(|e| format!("transaction bytes do not decode ({e})"))?;
                let got = tx.compute_txid();
                if got != want {
                    return Err(format!("transaction bytes do not hash to the requested {want} (they hash to {got})"));
                }
                Ok(tx)
            })
            .await?;
        let tx = Arc::new(tx);
        {
            let mut txs = self.txs.lock().map_err(|_| Error::internal("cache lock"))?;
            // The daemon keeps one client for good: bound what it keeps.
            if txs.len() >= MAX_TXS_KEPT {
                txs.clear();
            }
            txs.insert(*txid, (tx.clone(), idx));
        }
        Ok((tx, idx))
    }
}

/// The body, or None once it passes `MAX_BODY` (read no further). A body
/// cut short of its Content-Length is an error from reqwest.
async fn read_capped(mut resp: reqwest::Response) -> std::result::Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Why a request got no answer, as a few words that follow the server's
/// name ("refused the connection"). Decided by the error's kinds (the
/// `io::Error` inside reqwest's chain), not its text; where no kind says
/// it, the innermost cause is quoted whole ("certificate", "proxy", a DNS
/// failure), not reqwest's outer layers with the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut innermost = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(phrase) = s.downcast_ref::<std::io::Error>().and_then(io_cause) {
            return phrase.into();
        }
        innermost = s.to_string();
        src = s.source();
    }
    let innermost = strip_os_error(&one_line(&innermost));
    if e.is_connect() {
        format!("cannot be reached ({innermost})")
    } else {
        format!("failed ({innermost})")
    }
}

/// The words for the connection failures an `io::Error` kind names.
pub(crate) fn io_cause(e: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match e.kind() {
        K::ConnectionRefused => "refused the connection",
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => "dropped the connection",
        K::TimedOut => "did not answer in time",
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => "is unreachable from here",
        K::NetworkDown => "is unreachable: the network is down",
        _ => return None,
    })
}

/// " (os error 111)" says nothing a user can act on.
fn strip_os_error(s: &str) -> String {
    match s.rfind(" (os error ") {
        Some(at) if s.ends_with(')') => s[..at].to_string(),
        _ => s.to_string(),
    }
}

/// The proxy URL as goat accepts it: socks5h:// (names resolved by the
/// proxy, so no DNS leaks), socks5://, or http:// (HTTP CONNECT, e.g.
/// Tor's HTTPTunnelPort), with a host and a port.
pub fn check_proxy(p: &str) -> Result<url::Url> {
    let bad = |why: &str| {
        Error::usage(format!(
            "proxy '{}' {why}: use socks5h://HOST:PORT (Tor: socks5h://127.0.0.1:9050), socks5://HOST:PORT or http://HOST:PORT",
            crate::text::line(p)
        ))
    };
    let u = url::Url::parse(p).map_err(|_| bad("is not a URL"))?;
    if !matches!(u.scheme(), "socks5h" | "socks5" | "http") {
        return Err(bad("has a scheme goat cannot use"));
    }
    if u.host_str().map(str::is_empty).unwrap_or(true) || u.port_or_known_default().is_none() || u.port().is_none() && u.scheme() != "http" {
        return Err(bad("needs a host and a port"));
    }
    if u.path() != "/" && !u.path().is_empty() || u.query().is_some() {
        return Err(bad("has a path or query"));
    }
    Ok(u)
}

/// The HTTP client: timeouts, the proxy (every request, whatever the
/// environment says), and the roots to trust: the system's (with
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` honoured), the bundled Mozilla ones
/// (for machines without a CA store) and `--esplora-ca`.
fn client(cfg: &Config, proxy: Option<&url::Url>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("goat/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(cfg.timeout)
        .timeout(cfg.timeout)
        .no_proxy();
    if let Some(u) = proxy {
        let proxy = reqwest::Proxy::all(u.as_str()).map_err(|e| Error::usage(format!("proxy '{}': {e}", crate::text::line(u.as_str()))))?;
        b = b.proxy(proxy);
    }
    let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
        .collect();
    if let Some(f) = &cfg.ca_file {
        let pem = std::fs::read(f).map_err(|e| Error::io(format!("reading --esplora-ca {}", f.display()), e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            Error::usage(format!("--esplora-ca {} holds no PEM certificate", f.display()))
        })?;
        if certs.is_empty() {
            return Err(Error::usage(format!("--esplora-ca {} holds no PEM certificate", f.display())));
        }
        roots.extend(certs);
    }
    b = b.tls_certs_merge(roots);
    b.build().map_err(|e| Error::internal(format!("cannot set up HTTPS: {}", describe(&e))))
}

/// A server's text on one line, at most about 200 characters, cut between
/// words (with "…") rather than inside one.
fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= 200 {
        return s;
    }
    let cut: String = s.chars().take(200).collect();
    let cut = match cut.rfind(' ') {
        Some(at) if at > 100 => &cut[..at],
        _ => &cut[..],
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':']))
}

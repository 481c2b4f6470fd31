//! Stage 1: address → transactions, from chain servers.
//!
//! `Esplora` is goat's chain client: several servers (`source::ChainSource`:
//! Esplora's REST API in `http.rs`, Electrum in `electrum.rs`), asked typed
//! questions, with retries (honouring `Retry-After`), failover across
//! servers, and every answer checked before it is accepted.
//!
//! Nothing a server says about a transaction's *content* is trusted: raw
//! bytes are fetched and must hash to the txid that was asked for, and the
//! witnesses they carry, which the txid does not cover, are proven from
//! their block or by script check (`witness`). What is still the server's
//! word (confirmation height, which transactions belong to an address) is
//! checked by `proof` (merkle proofs against headers with their proof of
//! work, agreement across servers) and `history` (servers compared on what
//! the address holds); docs/trust.md says what is proven.

pub mod bits;
pub mod electrum;
pub mod history;
pub mod http;
pub mod page;
pub mod proof;
pub mod source;
pub mod witness;

use crate::error::{Error, Kind, Result};
use bitcoin::block::Header;
use bitcoin::{Address, BlockHash, Transaction, Txid};
use source::{Ask, ChainSource, Listed, Page, Reply};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Esplora returns at most this many confirmed transactions per history page.
pub const PAGE_SIZE: usize = 25;
/// Raw transactions kept per client (the daemon's lives for good).
const MAX_TXS_KEPT: usize = 50_000;

/// The chain client's settings: its servers, how patiently to ask them, and how to reach them.
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
    /// Shared with the sources, which count what they receive.
    bytes: Arc<AtomicU64>,
}

/// The client's counters, as a snapshot (for `-v` and the benchmarks).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    /// Esplora requests, and Electrum questions (each may be one or two
    /// round trips: see `electrum_round_trips`).
    pub requests: u64,
    /// Round trips to Electrum servers (a batch is one).
    pub electrum_round_trips: u64,
    /// Times a question was asked again of the same endpoint.
    pub retries: u64,
    /// Times a question moved on to the next endpoint.
    pub failovers: u64,
    /// Bytes received in answers: the bodies of Esplora's successful answers,
    /// Electrum's raw transactions.
    pub bytes: u64,
}

/// goat's chain client: every configured server behind one client, asked
/// with retries and failover, every answer checked.
pub struct Esplora {
    cfg: Config,
    /// One per endpoint, in `cfg.endpoints` order.
    sources: Vec<Box<dyn ChainSource>>,
    preferred: AtomicUsize,
    /// Transactions fetched in this run, and the endpoint that served each
    /// (its witnesses are that server's word until `witness` proves them).
    txs: Mutex<TxCache<usize>>,
    /// Copies of transactions whose txids were checked (history pages),
    /// kept for their outputs only: the txid pins those, whoever served
    /// them (the script check's previous transactions).
    outputs: Mutex<TxCache<()>>,
    /// Transactions whose witnesses are proven (`witness.rs`).
    witnessed: Mutex<TxCache<witness::Witnessed>>,
    /// Transactions proven confirmed in this run (`proof.rs`).
    proven: Mutex<HashMap<Txid, proof::Proven>>,
    /// Raw blocks fetched and checked in this run, by hash.
    blocks: Mutex<HashMap<BlockHash, Arc<witness::CheckedBlock>>>,
    /// Headers already checked (hash, proof of work), by block hash.
    headers: Mutex<HashMap<BlockHash, Header>>,
    /// Blocks' merkle depths, proven by their coinbases' branches, by
    /// block and the height its coinbase commits it to.
    depths: Mutex<HashMap<(BlockHash, u32), usize>>,
    /// Endpoints caught failing a check in this run.
    rejected: Mutex<HashSet<usize>>,
    counters: Counters,
}

/// What one endpoint answered, after its retries.
pub(crate) enum Outcome<T> {
    Ok(T),
    /// 404: the server says it does not exist.
    NotFound(String),
    /// 400 and the like: the server refuses the request itself.
    Refused(u16, String),
    /// An answer came back and failed `check`: the server is faulty or lying.
    Invalid(String),
    /// No usable answer (down, timed out, rate limited).
    Unreachable(String),
}

impl Esplora {
    /// Check the configuration and make a client. No request is made.
    pub fn new(cfg: Config) -> Result<Self> {
        if cfg.endpoints.is_empty() {
            return Err(Error::usage("no Esplora server for this network: pass --esplora URL (or set GOAT_ESPLORA)"));
        }
        for e in &cfg.endpoints {
            if electrum::is_electrum(e) {
                let hostport = &e[6..];
                if url::Url::parse(&format!("http://{hostport}")).ok().and_then(|u| u.port()).is_none()
                    || hostport.contains('/')
                {
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
        let client = http::client(&cfg, proxy.as_ref())?;
        let socks = proxy.as_ref().map(|u| {
            let hostport =
                format!("{}:{}", u.host_str().unwrap_or_default(), u.port_or_known_default().unwrap_or(1080));
            (u.scheme().starts_with("socks5"), hostport)
        });
        let counters = Counters::default();
        let mut sources: Vec<Box<dyn ChainSource>> = Vec::new();
        for e in &cfg.endpoints {
            if !electrum::is_electrum(e) {
                sources.push(Box::new(http::Http::new(e, client.clone(), cfg.timeout, counters.bytes.clone())));
                continue;
            }
            let proxy = match &socks {
                None => None,
                Some((true, hp)) => Some(hp.clone()),
                Some((false, _)) => {
                    return Err(Error::usage(
                        "Electrum connections cannot go through an HTTP CONNECT proxy: use --esplora-proxy socks5h://HOST:PORT",
                    ))
                }
            };
            sources.push(Box::new(electrum::Electrum::new(e, cfg.timeout, proxy, counters.bytes.clone())));
        }
        Ok(Esplora {
            sources,
            cfg,
            preferred: AtomicUsize::new(0),
            txs: Mutex::new(TxCache::default()),
            witnessed: Mutex::new(TxCache::default()),
            outputs: Mutex::new(TxCache::default()),
            blocks: Mutex::new(HashMap::new()),
            proven: Mutex::new(HashMap::new()),
            headers: Mutex::new(HashMap::new()),
            depths: Mutex::new(HashMap::new()),
            rejected: Mutex::new(HashSet::new()),
            counters,
        })
    }

    /// The counters so far, as a snapshot.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            electrum_round_trips: self.sources.iter().filter_map(|s| s.round_trips()).sum(),
            retries: c.retries.load(Ordering::Relaxed),
            failovers: c.failovers.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }

    /// Endpoints in the order a request should try them: the trusted one
    /// (`--trust-server`) first, else the last one that answered well; never
    /// one caught lying in this run.
    pub fn order(&self) -> Vec<usize> {
        let n = self.cfg.endpoints.len();
        let start = self.cfg.trusted.unwrap_or_else(|| self.preferred.load(Ordering::Relaxed) % n);
        let rejected = self.rejected.lock().map(|r| r.clone()).unwrap_or_default();
        (0..n).map(|k| (start + k) % n).filter(|i| !rejected.contains(i)).collect()
    }

    /// The base URL of endpoint `idx`.
    pub fn endpoint(&self, idx: usize) -> &str {
        &self.cfg.endpoints[idx]
    }

    /// The chain the servers serve ([`Config::network`]).
    pub fn network(&self) -> bitcoin::Network {
        self.cfg.network
    }

    /// Whether endpoint `idx` was caught lying in this run.
    pub fn is_rejected(&self, idx: usize) -> bool {
        self.rejected.lock().map(|r| r.contains(&idx)).unwrap_or(false)
    }

    /// Endpoints caught lying so far in this run.
    pub fn rejected_count(&self) -> usize {
        self.rejected.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// How many endpoints were configured, those caught lying included.
    pub fn endpoint_count(&self) -> usize {
        self.cfg.endpoints.len()
    }

    /// The endpoint `--trust-server` named, if any.
    pub fn trusted(&self) -> Option<usize> {
        self.cfg.trusted
    }

    /// Remember that endpoint `idx` failed a check: it is not asked again
    /// in this run, and the user is told once, on one line.
    pub fn reject(&self, idx: usize, why: &str) {
        if let Ok(mut r) = self.rejected.lock() {
            if r.insert(idx) {
                tracing::warn!("{}: {why}; not asking it again", self.endpoint(idx));
                // Its transactions' bytes hash to their txids, but their
                // witnesses were its word: fetch them again elsewhere.
                if let Ok(mut txs) = self.txs.lock() {
                    txs.retain(|by| *by != idx);
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
        if let Ok(mut c) = self.outputs.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.blocks.lock() {
            c.clear();
        }
        // The daemon keeps one client for good: bound what it keeps
        // between polls (`TxCache` bounds it in bytes at any time).
        if let Ok(mut c) = self.txs.lock() {
            if c.map.len() >= MAX_TXS_KEPT {
                c.clear();
            }
        }
    }

    /// Ask endpoint `idx` alone, with retries. `ask` puts the question to
    /// a source; `check` turns its answer into a value or says why it is
    /// unacceptable (the server is then faulty or lying).
    pub(crate) async fn ask_at<'a, T, U>(
        &'a self,
        idx: usize,
        what: &str,
        ask: &impl Fn(&'a dyn ChainSource) -> Ask<'a, T>,
        check: &impl Fn(T) -> std::result::Result<U, String>,
    ) -> Outcome<U> {
        let source = self.sources[idx].as_ref();
        let mut delay = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.cfg.attempts;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let (outcome, wait) = match ask(source).await {
                Reply::Ok(v) => match check(v) {
                    Ok(v) => return Outcome::Ok(v),
                    Err(why) => (Outcome::Invalid(why), Some(delay)),
                },
                Reply::NotFound(msg) => return Outcome::NotFound(msg),
                Reply::Refused(code, msg) => return Outcome::Refused(code, msg),
                Reply::Transient(why) => (Outcome::Unreachable(why), Some(delay)),
                Reply::Invalid(why) => (Outcome::Invalid(why), Some(delay)),
                Reply::RateLimited(after) => {
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
                    tracing::debug!("{}: {what}: retrying in {d:?}", source.url());
                    tokio::time::sleep(d).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                }
                _ => return outcome,
            }
        }
    }

    /// Ask the first endpoint that gives an answer `check` accepts; also
    /// say which endpoint that was.
    async fn ask_any<'a, T, U>(
        &'a self,
        what: &str,
        ask: impl Fn(&'a dyn ChainSource) -> Ask<'a, T>,
        check: impl Fn(T) -> std::result::Result<U, String>,
    ) -> Result<(U, usize)> {
        let mut problems: Vec<String> = Vec::new();
        let mut not_found: Vec<String> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        let mut worst = Kind::Network;
        for (k, idx) in self.order().into_iter().enumerate() {
            let base = self.endpoint(idx);
            if k > 0 {
                self.counters.failovers.fetch_add(1, Ordering::Relaxed);
                tracing::info!("failing over to {base}");
            }
            match self.ask_at(idx, what, &ask, &check).await {
                Outcome::Ok(v) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok((v, idx));
                }
                // One server's "no such thing" does not end it: another may
                // have it (a liar listed first must not hide it).
                Outcome::NotFound(msg) => not_found.push(format!("{base}: {msg}")),
                // A refusal too: the question may be wrong for this
                // server's network, or the server may be lying; the others
                // are still asked.
                Outcome::Refused(code, msg) => refused.push(format!("{base} refused {what} (HTTP {code}: {msg})")),
                Outcome::Invalid(why) => {
                    worst = Kind::InvalidData;
                    problems.push(format!("{base}: {why}"));
                }
                Outcome::Unreachable(why) => problems.push(format!("{base} {why}")),
            }
        }
        // "Not found" or "refused" only when every server that answered
        // said so and none was unreachable: a liar's 404 beside an honest
        // server's timeout is no answer.
        if problems.is_empty() {
            if let Some(first) = refused.first().filter(|_| not_found.is_empty()) {
                return Err(Error::usage(first.clone()));
            }
            if !not_found.is_empty() {
                return Err(Error::not_found(format!("{what}: not found ({})", not_found.join("; "))));
            }
        }
        problems.extend(not_found.into_iter().map(|m| format!("{m} (not found)")));
        problems.extend(refused);
        Err(self.none_answered(worst, &problems, what))
    }

    /// The one error for "every server failed": each server and its cause
    /// on one line, whole (no cut words).
    pub fn none_answered(&self, worst: Kind, problems: &[String], path: &str) -> Error {
        if problems.is_empty() {
            return Error::invalid(format!(
                "every server was caught lying earlier in this run ({path}): pass another --esplora or --electrum"
            ));
        }
        let servers = if self.cfg.endpoints.iter().any(|e| electrum::is_electrum(e)) {
            "Esplora or Electrum server"
        } else {
            "Esplora server"
        };
        let problems = problems.join("; ");
        if worst == Kind::InvalidData {
            Error::invalid(format!(
                "no {servers} gave a valid answer to {path}: {problems}: a server is faulty or lying, pass another"
            ))
        } else {
            Error::network(format!(
                "no {servers} answered: {problems}: check your connection or pass another --esplora"
            ))
        }
    }

    /// History page 1: up to 50 mempool txs, then the newest 25 confirmed;
    /// and the endpoint that served it.
    pub async fn address_txs(&self, addr: &Address) -> Result<(Vec<Listed>, usize)> {
        self.ask_any(&format!("the history of {addr}"), |s| s.history(addr, Page::First), Ok).await
    }

    /// Confirmed history after `last_seen`, newest first; and the endpoint
    /// that served it.
    pub async fn address_txs_chain(&self, addr: &Address, last_seen: &Txid) -> Result<(Vec<Listed>, usize)> {
        self.ask_any(&format!("the history of {addr}"), |s| s.history(addr, Page::ConfirmedAfter(*last_seen)), Ok).await
    }

    /// The address's unspent outputs, as the server lists them. Values and
    /// scripts are the server's word: `publish` re-reads each from the
    /// transaction's own bytes (`tx`) before spending it.
    pub async fn utxos(&self, addr: &Address) -> Result<Vec<esplora_client::Utxo>> {
        self.ask_any(&format!("the coins of {addr}"), |s| s.utxos(addr), Ok).await.map(|(v, _)| v)
    }

    /// Fee estimates: confirmation target in blocks → sat/vB.
    pub async fn fee_estimates(&self) -> Result<HashMap<u16, f64>> {
        self.ask_any("fee estimates", |s| s.fee_estimates(), Ok).await.map(|(v, _)| v)
    }

    /// Whether a transaction is confirmed yet, and at what height (the
    /// server's word; `resolve` proves it later).
    pub async fn tx_status(&self, txid: &Txid) -> Result<esplora_client::TxStatus> {
        self.ask_any(&format!("the status of {txid}"), |s| s.tx_status(txid), Ok).await.map(|(v, _)| v)
    }

    /// Broadcast `tx` to every server, so one that drops it does not lose
    /// it. Succeeds when one accepted it (or already had it); a server's
    /// definite refusal (400, with Bitcoin Core's reason) is an error that
    /// names the reason.
    pub async fn broadcast(&self, tx: &Transaction) -> Result<Txid> {
        let txid = tx.compute_txid();
        let mut accepted = false;
        let mut problems = Vec::new();
        let mut refused = None;
        for idx in self.order() {
            let base = self.endpoint(idx).to_string();
            match self.ask_at(idx, &format!("broadcasting {txid}"), &|s| s.broadcast(tx), &Ok).await {
                Outcome::Ok(_) => accepted = true,
                Outcome::Refused(code, msg) => refused = Some(format!("{base} refused it (HTTP {code}: {msg})")),
                Outcome::NotFound(msg) => refused = Some(format!("{base} refused it ({msg})")),
                Outcome::Unreachable(why) => problems.push(format!("{base} {why}")),
                Outcome::Invalid(why) => problems.push(format!("{base}: {why}")),
            }
        }
        match (accepted, refused) {
            (true, _) => Ok(txid),
            (false, Some(r)) => Err(Error::invalid(format!("transaction {txid}: {r}"))),
            (false, None) => Err(Error::network(format!(
                "transaction {txid}: no server took it ({}): check your connection and run again",
                problems.join("; ")
            ))),
        }
    }

    /// Keep `tx` (its txid checked) for its outputs: without its
    /// witnesses, which are not read here and may be megabytes. Returns
    /// what is kept.
    pub fn note_outputs(&self, tx: &Transaction) -> Arc<Transaction> {
        let bare = Arc::new(without_witnesses(tx));
        if let Ok(mut c) = self.outputs.lock() {
            c.insert(bare.compute_txid(), bare.clone(), ());
        }
        bare
    }

    /// A transaction whose outputs are what matter (its witnesses are not
    /// read): a copy kept from a history page, else fetched (and kept,
    /// without its witnesses).
    pub async fn outputs_of(&self, txid: &Txid) -> Result<Arc<Transaction>> {
        if let Some((t, _)) = self.outputs.lock().ok().and_then(|c| c.map.get(txid).cloned()) {
            return Ok(t);
        }
        Ok(self.note_outputs(&*self.tx(txid).await?))
    }

    /// A transaction's bytes, proven to hash to `txid`. Fetched once per run.
    /// Its witnesses are still the server's word: see `witnessed`.
    pub async fn tx(&self, txid: &Txid) -> Result<Arc<Transaction>> {
        self.tx_from(txid).await.map(|(t, _)| t)
    }

    /// `tx`, and the endpoint that served it.
    pub async fn tx_from(&self, txid: &Txid) -> Result<(Arc<Transaction>, usize)> {
        if let Some((t, _)) = self.block_proven(txid) {
            return Ok((t, usize::MAX));
        }
        if let Some(t) = self.txs.lock().map_err(|_| Error::internal("cache lock"))?.map.get(txid) {
            return Ok(t.clone());
        }
        let (tx, idx) = self.ask_any(&format!("transaction {txid}"), |s| s.raw_tx(txid), hashes_to(*txid)).await?;
        let tx = Arc::new(tx);
        self.txs.lock().map_err(|_| Error::internal("cache lock"))?.insert(*txid, tx.clone(), idx);
        Ok((tx, idx))
    }
}

/// `tx` without its witnesses (its txid and outputs unchanged), built
/// without copying them: they may be megabytes.
pub(crate) fn without_witnesses(tx: &Transaction) -> Transaction {
    let input = tx
        .input
        .iter()
        .map(|i| bitcoin::TxIn {
            previous_output: i.previous_output,
            script_sig: i.script_sig.clone(),
            sequence: i.sequence,
            witness: Default::default(),
        })
        .collect();
    Transaction { version: tx.version, lock_time: tx.lock_time, input, output: tx.output.clone() }
}

/// Transactions kept in a run, bounded in bytes: an address's history may
/// name thousands of transactions of up to 4 MB each (an airdropper's
/// delegates may be any inscription on chain). Past the bound the cache
/// starts afresh; a transaction needed again is fetched again, and what
/// was judged is pinned by its wtxid (`witness::Copy`). With each
/// transaction, what is known of it: the endpoint that served it (raw
/// copies), how its witnesses were proven (copies from blocks), or
/// nothing (outputs kept without witnesses).
pub(crate) struct TxCache<V> {
    pub(crate) map: HashMap<Txid, (Arc<Transaction>, V)>,
    bytes: usize,
}

impl<V> Default for TxCache<V> {
    fn default() -> Self {
        TxCache { map: HashMap::new(), bytes: 0 }
    }
}

/// Bytes of transactions one `TxCache` holds at most.
const MAX_TX_BYTES: usize = 8 * 1024 * 1024;

impl<V> TxCache<V> {
    pub(crate) fn insert(&mut self, txid: Txid, tx: Arc<Transaction>, v: V) {
        let size = tx.total_size();
        if self.bytes + size > MAX_TX_BYTES {
            self.clear();
        }
        self.bytes += size;
        if let Some((old, _)) = self.map.insert(txid, (tx, v)) {
            self.bytes -= old.total_size();
        }
    }
    fn retain(&mut self, keep: impl Fn(&V) -> bool) {
        self.map.retain(|_, (_, v)| keep(v));
        self.bytes = self.map.values().map(|(t, _)| t.total_size()).sum();
    }
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }
}

/// The check for a transaction's bytes asked for by txid: they must hash
/// to it (then every byte but the witnesses is the one the txid names).
pub(crate) fn hashes_to(want: Txid) -> impl Fn(Transaction) -> std::result::Result<Transaction, String> {
    move |tx| match tx.compute_txid() {
        // Witnesses are outside the txid: a server could pad them past
        // what any block holds, to make goat carry them.
        _ if tx.weight() > bitcoin::Weight::MAX_BLOCK => {
            Err(format!("transaction {want} was served heavier ({}) than a block may be", tx.weight()))
        }
        got if got == want => Ok(tx),
        got => Err(format!("transaction bytes do not hash to the requested {want} (they hash to {got})")),
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
    if u.host_str().map(str::is_empty).unwrap_or(true)
        || u.port_or_known_default().is_none()
        || u.port().is_none() && u.scheme() != "http"
    {
        return Err(bad("needs a host and a port"));
    }
    if u.path() != "/" && !u.path().is_empty() || u.query().is_some() {
        return Err(bad("has a path or query"));
    }
    Ok(u)
}

//! Electrum servers (`--electrum tcp://HOST:PORT` or `ssl://HOST:PORT`) as
//! a `ChainSource`, through BDK's `electrum-client`.
//!
//! Answers are typed like the Esplora source's, and the same checks apply
//! to both one level up: raw transactions must hash to their txids, merkle
//! branches (the two protocols share the format) must lead to the root of a
//! header with real proof of work, and several servers are compared.
//!
//! Differences in kind: Electrum returns an address's whole history in
//! one call (`blockchain.scripthash.get_history`), so pages are cut from
//! that list here, and the raw transactions of one page come in one
//! batched round trip; it tells a transaction's height only through a
//! history (and needs one for a merkle proof); it serves headers by height
//! only, and no raw blocks (so witnesses are proven by script check).
//!
//! electrum-client reads each answer as one line into memory, with no
//! limit, so a server could send an endless one. goat therefore makes the
//! connection itself and hands electrum-client a transport that counts
//! (`Bounded`): one call at a time per server, and at most `MAX_ANSWER`
//! bytes per call. A page of raw transactions too large for one call is
//! asked for in halves, each kept as it arrives without its large
//! witnesses (`Listed`). (Proposed upstream: a line limit in `RawClient`.)

use super::http::io_cause;
use super::source::{Ask, ChainSource, Listed, Page, Reply};
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{consensus, Address, Block, BlockHash, ScriptBuf, Transaction, Txid};
use electrum_client::{ElectrumApi, Param};
use esplora_client::{MerkleProof, TxStatus, Utxo};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes a call for raw transactions may receive: one of a full 4 MB
/// block is 8 MB of hex.
const MAX_ANSWER: usize = 12 * 1024 * 1024;
/// Bytes an address's history or coins may take (about 20,000 entries).
/// electrum-client reads every answer into a JSON value first, which can
/// take 20 times the text (`[0,0,0,…]`): other answers get less.
const LIST_ANSWER: usize = 2 * 1024 * 1024;
/// Bytes any other answer may take (a merkle branch, a header, an id).
const SMALL_ANSWER: usize = 256 * 1024;

/// The connection electrum-client talks through, as goat made it.
type Conn = electrum_client::raw_client::RawClient<Bounded>;

/// A transport whose reads fail once the call under way has received its
/// bytes, or has run past its time (a server trickling one byte per
/// socket timeout would hold the call for ever): `Budget` is set again
/// before each call.
struct Bounded {
    io: Box<dyn Io>,
    budget: Arc<Budget>,
}

struct Budget {
    left: AtomicUsize,
    until: Mutex<std::time::Instant>,
}

trait Io: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> Io for T {}

impl std::io::Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if std::time::Instant::now() > *self.budget.until.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the answer took too long"));
        }
        let n = self.io.read(buf)?;
        let left = self.budget.left.load(Ordering::Relaxed);
        if n > left {
            return Err(std::io::Error::other(TooLarge));
        }
        self.budget.left.store(left - n, Ordering::Relaxed);
        Ok(n)
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.io.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush()
    }
}

/// What a `Bounded` read fails with.
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sent an answer larger than goat reads")
    }
}

impl std::error::Error for TooLarge {}

/// Whether `e` is a `Bounded` read stopping at its cap.
fn too_large(e: &electrum_client::Error) -> bool {
    let io = |e: &std::io::Error| e.get_ref().is_some_and(|r| r.is::<TooLarge>());
    match e {
        electrum_client::Error::IOError(e) => io(e),
        electrum_client::Error::SharedIOError(e) => io(e),
        _ => false,
    }
}

/// The roots an `ssl://` server's certificate must lead to (the same
/// Mozilla set electrum-client uses).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Timeouts a history page may take in all (its parts included).
const PAGE_ROUNDS: u32 = 14;

/// Esplora's page sizes, which the walk expects for the first page.
const CHAIN_PAGE: usize = 25;
const MEMPOOL_PAGE: usize = 50;
/// Later pages grow with the depth of the walk (as many as already seen,
/// up to this many): a goatfile near the top costs what it costs with
/// Esplora, a walk of 100 000 transactions about 100 round trips, not 4000.
const MAX_PAGE: usize = 1000;

/// Why a call got no answer, as words that follow the server's name, from
/// the error's kind (see `http::describe`).
fn cause(e: &electrum_client::Error) -> String {
    use electrum_client::Error as E;
    match e {
        E::IOError(e) => io_words(e, "failed"),
        E::SharedIOError(e) => io_words(e, "failed"),
        E::AllAttemptsErrored(all) => all.last().map(cause).unwrap_or_else(|| "cannot be reached".into()),
        other => format!("failed ({})", crate::text::one_line(&other.to_string(), 200)),
    }
}

/// An I/O error as words after the server's name: its kind's phrase, else
/// `otherwise` and the error quoted.
fn io_words(e: &std::io::Error, otherwise: &str) -> String {
    io_cause(e)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{otherwise} ({})", crate::text::one_line(&e.to_string(), 200)))
}

/// An Electrum error's message (its JSON as text when it has none).
fn message(v: &Value) -> String {
    v.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// Whether `url` names an Electrum server (`tcp://` or `ssl://`) rather than Esplora.
pub fn is_electrum(url: &str) -> bool {
    url.starts_with("tcp://") || url.starts_with("ssl://")
}

/// One Electrum server: its connection (made on first use, dropped after
/// an error) and what this run learned from it.
struct Inner {
    url: String,
    /// SOCKS5 proxy, host:port.
    socks5: Option<String>,
    /// The connection, and what the call under way may still receive.
    client: Mutex<Option<(Arc<Conn>, Arc<Budget>)>>,
    /// Held for the length of a call: one at a time, so that `MAX_ANSWER`
    /// counts one answer.
    calls: Mutex<()>,
    /// Per script: (txid, height) in the server's order; height ≤ 0 is the
    /// mempool.
    history: Mutex<HashMap<ScriptBuf, Vec<(Txid, i32)>>>,
    /// Heights learned from histories: `get_merkle` needs one.
    heights: Mutex<HashMap<Txid, i32>>,
    /// Headers fetched by height, by hash.
    headers: Mutex<HashMap<BlockHash, Vec<u8>>>,
    /// Round trips made (a batch is one).
    round_trips: AtomicU64,
    /// Bytes received (as decoded), shared with the client's other sources.
    bytes: Arc<AtomicU64>,
    timeout: Duration,
}

/// One Electrum server.
pub struct Electrum {
    url: String,
    inner: Arc<Inner>,
}

/// Why an Electrum call gave no answer.
enum Fail {
    /// The server answered with an error (a definite refusal).
    Refused(String),
    /// It does not have it.
    Missing(String),
    /// Connection trouble, timeouts.
    Transient(String),
    /// The answer fails a check: the server is faulty or lying.
    Lie(String),
    /// The answer passed `MAX_ANSWER`.
    TooLarge,
}

impl Electrum {
    /// The server at `url` (`tcp://` or `ssl://`), reached through the SOCKS5
    /// proxy `socks5` (host:port) when one is given; each call is bounded by
    /// `timeout`, and `bytes` counts what it receives. No connection is made
    /// before the first call.
    pub fn new(url: &str, timeout: Duration, socks5: Option<String>, bytes: Arc<AtomicU64>) -> Electrum {
        let inner = Inner {
            url: url.to_string(),
            socks5,
            client: Mutex::new(None),
            calls: Mutex::new(()),
            history: Mutex::new(HashMap::new()),
            heights: Mutex::new(HashMap::new()),
            headers: Mutex::new(HashMap::new()),
            round_trips: Default::default(),
            bytes,
            timeout,
        };
        Electrum { url: url.to_string(), inner: Arc::new(inner) }
    }

    /// Run `f` on a blocking thread (electrum-client is blocking), bounded
    /// in time: the connection has its own timeout per call; a page is two.
    fn call<'a, T: Send + 'static>(&'a self, f: impl FnOnce(&Inner) -> Result<T, Fail> + Send + 'static) -> Ask<'a, T> {
        self.call_within(2, f)
    }

    /// `call`, allowed `rounds` times the timeout (a history page of heavy
    /// transactions is asked for in parts).
    fn call_within<'a, T: Send + 'static>(
        &'a self,
        rounds: u32,
        f: impl FnOnce(&Inner) -> Result<T, Fail> + Send + 'static,
    ) -> Ask<'a, T> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let limit = inner.timeout * rounds;
            let job = tokio::task::spawn_blocking(move || f(&inner));
            match tokio::time::timeout(limit, job).await {
                Err(_) => Reply::Transient(format!("did not answer within {limit:?}")),
                Ok(Err(e)) => Reply::Transient(format!("failed the Electrum call ({e})")),
                Ok(Ok(r)) => into_reply(r),
            }
        })
    }
}

/// Server-supplied text is made safe for a terminal, as for Esplora.
fn into_reply<T>(r: Result<T, Fail>) -> Reply<T> {
    let safe = |m: String| crate::text::line(&m);
    match r {
        Ok(v) => Reply::Ok(v),
        Err(Fail::Missing(m)) => Reply::NotFound(safe(m)),
        Err(Fail::Refused(m)) => Reply::Refused(400, safe(m)),
        Err(Fail::Transient(m)) => Reply::Transient(safe(m)),
        Err(Fail::Lie(m)) => Reply::Invalid(safe(m)),
        Err(Fail::TooLarge) => Reply::Transient(TooLarge.to_string()),
    }
}

impl Inner {
    /// The connection, made on first use: TCP (through the SOCKS5 proxy
    /// when there is one), TLS for `ssl://`, then `server.version`, which
    /// protocol 1.6 makes the first call.
    fn client(&self) -> Result<(Arc<Conn>, Arc<Budget>), Fail> {
        let mut c = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = c.as_ref() {
            return Ok(c.clone());
        }
        let io_fail = |e: std::io::Error| Fail::Transient(io_words(&e, "cannot be reached"));
        let (tls, hostport) = match self.url.strip_prefix("ssl://") {
            Some(h) => (true, h),
            None => (false, self.url.trim_start_matches("tcp://")),
        };
        let tcp = match &self.socks5 {
            Some(proxy) => electrum_client::socks::Socks5Stream::connect(proxy.as_str(), hostport, Some(self.timeout))
                .map_err(io_fail)?
                .into_inner(),
            None => connect(hostport, self.timeout).map_err(io_fail)?,
        };
        tcp.set_read_timeout(Some(self.timeout)).map_err(io_fail)?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(io_fail)?;
        let io: Box<dyn Io> = if tls {
            let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h).trim_matches(['[', ']']);
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| Fail::Transient(format!("'{}' is not a name TLS can check", crate::text::line(host))))?;
            let session = rustls::ClientConnection::new(tls_config().map_err(Fail::Transient)?, name)
                .map_err(|e| Fail::Transient(format!("TLS failed ({e})")))?;
            Box::new(rustls::StreamOwned::new(session, tcp))
        } else {
            Box::new(tcp)
        };
        let budget = Arc::new(Budget {
            left: AtomicUsize::new(SMALL_ANSWER),
            until: Mutex::new(std::time::Instant::now() + self.timeout * 2),
        });
        let made: Conn = electrum_client::raw_client::RawClient::from(Bounded { io, budget: budget.clone() });
        made.protocol_version().map_err(|e| Fail::Transient(cause(&e)))?;
        let made = (Arc::new(made), budget);
        *c = Some(made.clone());
        Ok(made)
    }

    /// Run `f` on the connection, alone, allowed `cap` bytes and twice the
    /// timeout; on a transport error the connection is dropped so the next
    /// call reconnects. The server's own error comes back as it is (its
    /// JSON).
    fn raw<T>(
        &self,
        cap: usize,
        f: impl FnOnce(&Conn) -> Result<T, electrum_client::Error>,
    ) -> Result<Result<T, Value>, Fail> {
        let _alone = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let (c, budget) = self.client()?;
        budget.left.store(cap, Ordering::Relaxed);
        *budget.until.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now() + self.timeout * 2;
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let got = f(&c);
        // Header notifications (goat subscribes for the tip) pile up in
        // the client until popped: a server could send megabytes of them
        // with every answer.
        while let Ok(Some(_)) = c.block_headers_pop_raw() {}
        match got {
            Ok(v) => Ok(Ok(v)),
            Err(electrum_client::Error::Protocol(v)) => Ok(Err(v)),
            Err(e) => {
                *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if too_large(&e) {
                    return Err(Fail::TooLarge);
                }
                Err(Fail::Transient(cause(&e)))
            }
        }
    }

    /// `raw` for a small answer, with the server's errors read as goat
    /// reads them.
    fn with<T>(&self, f: impl FnOnce(&Conn) -> Result<T, electrum_client::Error>) -> Result<T, Fail> {
        self.with_cap(SMALL_ANSWER, f)
    }

    /// `with`, allowed `cap` bytes.
    fn with_cap<T>(&self, cap: usize, f: impl FnOnce(&Conn) -> Result<T, electrum_client::Error>) -> Result<T, Fail> {
        self.raw(cap, f)?.map_err(|v| {
            let msg = message(&v);
            // The protocol's errors carry no standard codes: servers' words
            // are all there is. "No such" is a definite answer; anything
            // else ("server busy", "excessive resource usage") may pass, so
            // it is worth another try or another server. ("out of range":
            // electrs and Fulcrum on a height past their tip, which is
            // their answer "no block there".)
            if msg.contains("No such")
                || msg.contains("not found")
                || msg.contains("not confirmed")
                || msg.contains("out of range")
            {
                Fail::Missing(crate::text::one_line(&msg, 200))
            } else {
                Fail::Transient(format!("answered an error ({})", crate::text::one_line(&msg, 200)))
            }
        })
    }

    fn height_of(&self, t: &Txid) -> Option<i32> {
        self.heights.lock().unwrap_or_else(|p| p.into_inner()).get(t).copied()
    }

    /// The history fetched earlier in this run, else fetched now.
    fn history_of(&self, spk: &ScriptBuf) -> Result<Vec<(Txid, i32)>, Fail> {
        let cached = self.history.lock().unwrap_or_else(|p| p.into_inner()).get(spk).cloned();
        match cached {
            Some(h) => Ok(h),
            None => self.refresh_history(spk),
        }
    }

    /// The address's whole history, in one call.
    fn refresh_history(&self, spk: &ScriptBuf) -> Result<Vec<(Txid, i32)>, Fail> {
        let list = self.with_cap(LIST_ANSWER, |c| c.script_get_history(spk))?;
        let h: Vec<(Txid, i32)> = list.iter().map(|r| (r.tx_hash, r.height)).collect();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.insert(spk.clone(), h.clone());
        // The heights of the histories as they are now: a server's earlier
        // lists are not kept (a daemon refreshes on every poll).
        let mut heights = self.heights.lock().unwrap_or_else(|p| p.into_inner());
        heights.clear();
        heights.extend(history.values().flatten().copied());
        Ok(h)
    }

    /// One history page: raw transactions in one batch, each checked
    /// against its txid (the page decides which transactions are looked
    /// at closer, so a page whose bytes are another transaction's would
    /// hide one).
    fn page(&self, page: &[(Txid, i32)]) -> Result<Vec<Listed>, Fail> {
        let mut out = Vec::with_capacity(page.len());
        self.page_into(page, &mut out, std::time::Instant::now() + self.timeout * PAGE_ROUNDS)?;
        Ok(out)
    }

    /// `page`'s transactions in one batch, or in halves when the batch's
    /// answer would pass `MAX_ANSWER` (a few witness-heavy transactions),
    /// each kept as a `Listed` before the next half is asked for.
    fn page_into(&self, page: &[(Txid, i32)], out: &mut Vec<Listed>, until: std::time::Instant) -> Result<(), Fail> {
        if page.is_empty() {
            return Ok(());
        }
        let txids: Vec<Txid> = page.iter().map(|(t, _)| *t).collect();
        if std::time::Instant::now() > until {
            return Err(Fail::Transient(format!("did not give {} transactions in time", page.len())));
        }
        let raws = match self.with_cap(MAX_ANSWER, |c| c.batch_transaction_get_raw(&txids)) {
            Err(Fail::TooLarge) if page.len() > 1 => {
                let (a, b) = page.split_at(page.len() / 2);
                self.page_into(a, out, until)?;
                return self.page_into(b, out, until);
            }
            r => r?,
        };
        if raws.len() != page.len() {
            return Err(Fail::Transient(format!("answered {} transactions for {} asked", raws.len(), page.len())));
        }
        for ((want, height), raw) in page.iter().zip(raws) {
            self.bytes.fetch_add(raw.len() as u64, Ordering::Relaxed);
            let tx: Transaction = consensus::deserialize(&raw)
                .map_err(|_| Fail::Transient(format!("transaction bytes for {want} that do not decode")))?;
            drop(raw);
            if tx.weight() > bitcoin::Weight::MAX_BLOCK {
                return Err(Fail::Lie(format!("{want} was listed heavier ({}) than a block may be", tx.weight())));
            }
            let got = tx.compute_txid();
            if got != *want {
                return Err(Fail::Lie(format!(
                    "transaction bytes do not hash to the requested {want} (they hash to {got})"
                )));
            }
            out.push(Listed::new(*want, tx, u32::try_from(*height).ok().filter(|h| *h > 0)));
        }
        Ok(())
    }
}

/// A TCP connection to `hostport`, trying each address it resolves to.
fn connect(hostport: &str, timeout: Duration) -> std::io::Result<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolves to no address");
    for a in hostport.to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn script_of(a: &Address) -> ScriptBuf {
    a.script_pubkey()
}

impl ChainSource for Electrum {
    fn url(&self) -> &str {
        &self.url
    }

    fn round_trips(&self) -> Option<u64> {
        Some(self.inner.round_trips.load(Ordering::Relaxed))
    }

    fn history<'a>(&'a self, a: &'a Address, page: Page) -> Ask<'a, Vec<Listed>> {
        let spk = script_of(a);
        self.call_within(PAGE_ROUNDS + 2, move |s| {
            let confirmed = |h: &[(Txid, i32)]| -> Vec<(Txid, i32)> {
                h.iter().rev().filter(|(_, height)| *height > 0).copied().collect()
            };
            match page {
                Page::First => {
                    let h = s.refresh_history(&spk)?;
                    let mut p: Vec<(Txid, i32)> =
                        h.iter().rev().filter(|(_, height)| *height <= 0).take(MEMPOOL_PAGE).copied().collect();
                    p.extend(confirmed(&h).into_iter().take(CHAIN_PAGE));
                    s.page(&p)
                }
                // The first page of the servers' history comparison: the
                // history as it is now (a daemon's client lives on).
                Page::NewestConfirmed => {
                    let h = s.refresh_history(&spk)?;
                    s.page(&confirmed(&h).into_iter().take(CHAIN_PAGE).collect::<Vec<_>>())
                }
                Page::ConfirmedAfter(last) => {
                    let all = confirmed(&s.history_of(&spk)?);
                    let Some(at) = all.iter().position(|(t, _)| *t == last) else {
                        return Ok(vec![]);
                    };
                    let size = (at + 1).clamp(CHAIN_PAGE, MAX_PAGE);
                    s.page(&all[at + 1..].iter().take(size).copied().collect::<Vec<_>>())
                }
            }
        })
    }

    fn raw_tx<'a>(&'a self, t: &'a Txid) -> Ask<'a, Transaction> {
        let t = *t;
        self.call(move |s| {
            let raw = s.with_cap(MAX_ANSWER, |c| c.transaction_get_raw(&t))?;
            s.bytes.fetch_add(raw.len() as u64, Ordering::Relaxed);
            consensus::deserialize(&raw)
                .map_err(|e| Fail::Transient(format!("transaction bytes that do not decode ({e})")))
        })
    }

    fn tx_status<'a>(&'a self, t: &'a Txid) -> Ask<'a, TxStatus> {
        let t = *t;
        self.call(move |s| {
            let h = s.height_of(&t).ok_or_else(|| {
                Fail::Transient(
                    "an Electrum server tells a transaction's height only through its address's history".into(),
                )
            })?;
            let height = u32::try_from(h).ok().filter(|h| *h > 0);
            Ok(TxStatus { confirmed: height.is_some(), block_height: height, block_hash: None, block_time: None })
        })
    }

    fn merkle_proof<'a>(&'a self, t: &'a Txid) -> Ask<'a, MerkleProof> {
        let t = *t;
        self.call(move |s| {
            let h = s.height_of(&t).filter(|h| *h > 0).ok_or_else(|| {
                Fail::Transient(format!(
                    "no confirmed height known for {t} (the Electrum protocol needs one for a merkle proof)"
                ))
            })?;
            let v = s.with(|c| {
                c.raw_call(
                    "blockchain.transaction.get_merkle",
                    [Param::String(t.to_string()), Param::Usize(h as usize)],
                )
            })?;
            serde_json::from_value(v).map_err(|e| Fail::Transient(format!("a merkle proof goat cannot read ({e})")))
        })
    }

    fn block_hash(&self, height: u32) -> Ask<'_, BlockHash> {
        self.call(move |s| {
            let raw = s.with(|c| c.block_header_raw(height as usize))?;
            let hash = BlockHash::from_byte_array(sha256d::Hash::hash(&raw).to_byte_array());
            s.headers.lock().unwrap_or_else(|p| p.into_inner()).insert(hash, raw);
            Ok(hash)
        })
    }

    fn coinbase_branch<'a>(&'a self, h: &'a BlockHash, height: u32) -> Ask<'a, (Txid, Vec<Txid>)> {
        let h = *h;
        self.call(move |s| {
            // Electrum finds the coinbase by height: the block there must
            // still be the one asked about (a block found, or a reorg, in
            // between would make an honest answer look like a lie).
            let raw = s.with(|c| c.block_header_raw(height as usize))?;
            if BlockHash::from_byte_array(sha256d::Hash::hash(&raw).to_byte_array()) != h {
                return Err(Fail::Transient(format!("its block at height {height} is no longer {h}")));
            }
            #[derive(serde::Deserialize)]
            struct FromPos {
                tx_hash: Txid,
                merkle: Vec<Txid>,
            }
            let params = [Param::Usize(height as usize), Param::Usize(0), Param::Bool(true)];
            let v = s.with(|c| c.raw_call("blockchain.transaction.id_from_pos", params))?;
            let p: FromPos = serde_json::from_value(v)
                .map_err(|e| Fail::Transient(format!("an id_from_pos answer goat cannot read ({e})")))?;
            Ok((p.tx_hash, p.merkle))
        })
    }

    fn header<'a>(&'a self, h: &'a BlockHash) -> Ask<'a, Header> {
        let h = *h;
        self.call(move |s| {
            // Electrum serves headers by height only: goat asks for a header
            // right after asking this server which block is at a height, so
            // it is known here.
            let raw = s.headers.lock().unwrap_or_else(|p| p.into_inner()).get(&h).cloned();
            let raw =
                raw.ok_or_else(|| Fail::Missing(format!("block {h} (an Electrum server serves headers by height)")))?;
            consensus::deserialize(&raw)
                .map_err(|e| Fail::Transient(format!("a block header that does not decode ({e})")))
        })
    }

    fn raw_block<'a>(&'a self, _h: &'a BlockHash) -> Ask<'a, Block> {
        Box::pin(async { Reply::Refused(400, "the Electrum protocol serves no raw blocks".into()) })
    }

    fn utxos<'a>(&'a self, a: &'a Address) -> Ask<'a, Vec<Utxo>> {
        let spk = script_of(a);
        self.call(move |s| {
            let list = s.with_cap(LIST_ANSWER, |c| c.script_list_unspent(&spk))?;
            Ok(list
                .iter()
                .map(|u| {
                    let height = u32::try_from(u.height).ok().filter(|h| *h > 0);
                    Utxo {
                        txid: u.tx_hash,
                        vout: u.tx_pos as u32,
                        value: bitcoin::Amount::from_sat(u.value),
                        status: esplora_client::UtxoStatus {
                            confirmed: height.is_some(),
                            block_height: height,
                            block_hash: None,
                            block_time: None,
                        },
                    }
                })
                .collect())
        })
    }

    fn tip_height(&self) -> Ask<'_, u32> {
        self.call(|s| {
            let tip = s.with(|c| c.block_headers_subscribe_raw())?;
            u32::try_from(tip.height).map_err(|_| Fail::Transient("blockchain.headers.subscribe: not a height".into()))
        })
    }

    fn fee_estimates(&self) -> Ask<'_, HashMap<u16, f64>> {
        self.call(|s| {
            let btc_per_kb = s.with(|c| c.estimate_fee(6, None))?;
            if !(btc_per_kb.is_finite() && btc_per_kb > 0.0) {
                return Err(Fail::Transient("the server has no fee estimate".into()));
            }
            Ok(HashMap::from([(6, btc_per_kb * 100_000.0)]))
        })
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> Ask<'a, Txid> {
        let raw = consensus::serialize(tx);
        let txid = tx.compute_txid();
        self.call(move |s| match s.raw(SMALL_ANSWER, |c| c.transaction_broadcast_raw(&raw))? {
            Ok(t) => Ok(t),
            Err(v) if super::source::already_known(&message(&v)) => Ok(txid),
            Err(v) => Err(Fail::Refused(crate::text::one_line(&message(&v), 200))),
        })
    }
}

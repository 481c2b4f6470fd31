//! Esplora's REST API (Blockstream's esplora, mempool.space) as a
//! `ChainSource`.
//!
//! Types come from `esplora-client`; requests go through `reqwest` (already
//! in the tree through librqbit), because goat needs what esplora-client's
//! own request loop cannot give: honouring `Retry-After`, SOCKS5 proxies
//! (Tor; esplora-client's bitreq speaks only HTTP CONNECT), a cap on body
//! size, and trusting the system's CA roots, `SSL_CERT_FILE` and
//! `--esplora-ca`.

use super::page;
use super::source::{Ask, ChainSource, Listed, Page, Reply};
use super::Config;
use crate::error::{Error, Result};
use bitcoin::block::Header;
use bitcoin::{consensus, Address, Block, BlockHash, Transaction, Txid};
use esplora_client::{MerkleProof, TxStatus, Utxo};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest response body accepted (a mainnet block is at most 4 MB; a
/// history page of witness-heavy transactions can be several).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// One Esplora server, asked over its REST API.
pub struct Http {
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    /// Bytes received, shared with the client's other sources.
    bytes: Arc<AtomicU64>,
}

impl Http {
    /// The server whose API is at `url`, asked through `client` (see [`client`]),
    /// each request within `timeout`; `bytes` counts what its answers bring.
    pub fn new(url: &str, client: reqwest::Client, timeout: Duration, bytes: Arc<AtomicU64>) -> Http {
        Http { url: url.to_string(), client, timeout, bytes }
    }

    /// One request: a GET, or a POST of `post` as the body.
    async fn request(&self, path: &str, post: Option<String>) -> Reply<Vec<u8>> {
        let url = format!("{}{path}", self.url);
        let req = match post {
            None => self.client.get(&url),
            Some(body) => self.client.post(&url).body(body),
        };
        let send = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            Ok::<_, reqwest::Error>((status, retry_after, read_capped(resp).await?))
        };
        let (status, retry_after, body) = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => return Reply::Transient(format!("did not answer within {:?}", self.timeout)),
            Ok(Err(e)) if e.is_timeout() => {
                return Reply::Transient(format!("did not answer within {:?}", self.timeout))
            }
            Ok(Err(e)) => return Reply::Transient(describe(&e)),
            Ok(Ok((_, _, None))) => return Reply::Transient(format!("sent an answer larger than {MAX_BODY} bytes")),
            Ok(Ok((status, retry_after, Some(body)))) => (status, retry_after, body),
        };
        if (200..=299).contains(&status) {
            self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        }
        answer(status, retry_after, body)
    }

    /// A history page, read as it arrives (`page`): one transaction in
    /// memory at a time, however large the page.
    async fn page(&self, path: &str) -> Reply<Vec<Listed>> {
        let url = format!("{}{path}", self.url);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let late = || Reply::Transient(format!("did not answer within {:?}", self.timeout));
        let mut resp = match tokio::time::timeout_at(deadline, self.client.get(&url).send()).await {
            Err(_) => return late(),
            Ok(Err(e)) if e.is_timeout() => return late(),
            Ok(Err(e)) => return Reply::Transient(describe(&e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if !(200..=299).contains(&status) {
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            return match tokio::time::timeout_at(deadline, read_capped(resp)).await {
                Err(_) => late(),
                Ok(Err(e)) => Reply::Transient(describe(&e)),
                Ok(Ok(body)) => refusal(status, retry_after, &body.unwrap_or_default()),
            };
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        let parse = tokio::task::spawn_blocking(move || page::parse(page::Chunks::new(rx)));
        let mut got = 0u64;
        let pumped = async {
            while let Some(chunk) = resp.chunk().await? {
                got += chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    break; // the parser stopped: its answer says why
                }
            }
            Ok::<_, reqwest::Error>(())
        };
        let pumped = tokio::time::timeout_at(deadline, pumped).await;
        drop(tx);
        self.bytes.fetch_add(got, Ordering::Relaxed);
        let parsed = parse.await.unwrap_or_else(|e| Err(page::Unread::Unreadable(e.to_string())));
        match (pumped, parsed) {
            (_, Err(page::Unread::Lie(why))) => Reply::Invalid(format!("{path}: {why}")),
            (Err(_), _) => late(),
            (Ok(Err(e)), _) => Reply::Transient(describe(&e)),
            (Ok(Ok(())), Ok(listed)) => Reply::Ok(listed),
            (Ok(Ok(())), Err(page::Unread::Unreadable(why))) => {
                Reply::Transient(format!("an answer to {path} that goat cannot read ({why})"))
            }
        }
    }

    async fn get(&self, path: &str) -> Reply<Vec<u8>> {
        self.request(path, None).await
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Reply<T> {
        self.get(path).await.and_then(|b| match serde_json::from_slice(&b) {
            Ok(v) => Reply::Ok(v),
            // An answer goat cannot read is no answer, not a lie: only a
            // check that fails (a hash, a proof, work) drops a server.
            Err(e) => Reply::Transient(format!("an answer to {path} that goat cannot read ({e})")),
        })
    }

    async fn text(&self, path: &str) -> Reply<String> {
        self.get(path).await.and_then(|b| match String::from_utf8(b) {
            Ok(t) => Reply::Ok(t.trim().to_string()),
            Err(_) => Reply::Transient(format!("{path}: the answer is not text")),
        })
    }
}

/// An HTTP answer as a reply: the body on success, else what its status
/// says.
fn answer(status: u16, retry_after: Option<String>, body: Vec<u8>) -> Reply<Vec<u8>> {
    match status {
        200..=299 => Reply::Ok(body),
        _ => refusal(status, retry_after, &body),
    }
}

/// What a status other than success says, for any answer type.
fn refusal<T>(status: u16, retry_after: Option<String>, body: &[u8]) -> Reply<T> {
    match status {
        429 => Reply::RateLimited(retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)),
        404 => Reply::NotFound(crate::text::line(&crate::text::one_line(&String::from_utf8_lossy(body), 200))),
        400 => Reply::Refused(400, crate::text::line(&crate::text::one_line(&String::from_utf8_lossy(body), 200))),
        _ => Reply::Transient(format!("answered HTTP {status}")),
    }
}

fn decode<T: bitcoin::consensus::Decodable>(what: &str, b: &[u8]) -> Reply<T> {
    match consensus::deserialize(b) {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Transient(format!("{what} bytes that do not decode ({e})")),
    }
}

impl ChainSource for Http {
    fn url(&self) -> &str {
        &self.url
    }

    fn history<'a>(&'a self, a: &'a Address, page: Page) -> Ask<'a, Vec<Listed>> {
        Box::pin(async move {
            let path = match page {
                Page::First => format!("/address/{a}/txs"),
                Page::NewestConfirmed => format!("/address/{a}/txs/chain"),
                Page::ConfirmedAfter(last) => format!("/address/{a}/txs/chain/{last}"),
            };
            self.page(&path).await
        })
    }

    fn raw_tx<'a>(&'a self, t: &'a Txid) -> Ask<'a, Transaction> {
        Box::pin(async move { self.get(&format!("/tx/{t}/raw")).await.and_then(|b| decode("transaction", &b)) })
    }

    fn tx_status<'a>(&'a self, t: &'a Txid) -> Ask<'a, TxStatus> {
        Box::pin(async move { self.json(&format!("/tx/{t}/status")).await })
    }

    fn merkle_proof<'a>(&'a self, t: &'a Txid) -> Ask<'a, MerkleProof> {
        Box::pin(async move { self.json(&format!("/tx/{t}/merkle-proof")).await })
    }

    fn block_hash(&self, height: u32) -> Ask<'_, BlockHash> {
        Box::pin(async move {
            self.text(&format!("/block-height/{height}")).await.and_then(|t| match BlockHash::from_str(&t) {
                Ok(h) => Reply::Ok(h),
                Err(_) => Reply::Transient("a block hash that is not 64 hex digits".into()),
            })
        })
    }

    fn coinbase_branch<'a>(&'a self, h: &'a BlockHash, _height: u32) -> Ask<'a, (Txid, Vec<Txid>)> {
        Box::pin(async move {
            let asked = self.text(&format!("/block/{h}/txid/0")).await.and_then(|t| match Txid::from_str(&t) {
                Ok(t) => Reply::Ok(t),
                Err(_) => Reply::Transient("a txid that is not 64 hex digits".into()),
            });
            let cb = match asked {
                Reply::Ok(t) => t,
                other => return other.map(|t| (t, vec![])),
            };
            self.json::<MerkleProof>(&format!("/tx/{cb}/merkle-proof")).await.and_then(|p| {
                // The height it names is not checked here: the coinbase's
                // own bytes commit to it (BIP 34, `proof::check_height`).
                if p.pos != 0 {
                    return Reply::Transient(format!(
                        "the merkle proof of block {h}'s coinbase puts it at position {} (not 0)",
                        p.pos
                    ));
                }
                Reply::Ok((cb, p.merkle))
            })
        })
    }

    fn header<'a>(&'a self, h: &'a BlockHash) -> Ask<'a, Header> {
        Box::pin(async move {
            self.text(&format!("/block/{h}/header")).await.and_then(|t| match hex::decode(&t) {
                Ok(b) => decode("block header", &b),
                Err(_) => Reply::Transient("a block header that is not hex".into()),
            })
        })
    }

    fn raw_block<'a>(&'a self, h: &'a BlockHash) -> Ask<'a, Block> {
        Box::pin(
            async move { self.get(&format!("/block/{h}/raw")).await.and_then(|b| decode(&format!("block {h}"), &b)) },
        )
    }

    fn utxos<'a>(&'a self, a: &'a Address) -> Ask<'a, Vec<Utxo>> {
        Box::pin(async move { self.json(&format!("/address/{a}/utxo")).await })
    }

    fn tip_height(&self) -> Ask<'_, u32> {
        Box::pin(async move {
            self.text("/blocks/tip/height").await.and_then(|t| match t.parse() {
                Ok(h) => Reply::Ok(h),
                Err(_) => Reply::Transient("/blocks/tip/height: not a height".into()),
            })
        })
    }

    fn fee_estimates(&self) -> Ask<'_, HashMap<u16, f64>> {
        Box::pin(async move {
            self.json::<HashMap<String, f64>>("/fee-estimates").await.map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v)).filter(|(_, v)| v.is_finite() && *v > 0.0))
                    .collect()
            })
        })
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> Ask<'a, Txid> {
        Box::pin(async move {
            let txid = tx.compute_txid();
            match self.request("/tx", Some(consensus::encode::serialize_hex(tx))).await {
                Reply::Ok(b) => {
                    let said = String::from_utf8_lossy(&b).trim().to_string();
                    if said != txid.to_string() {
                        tracing::warn!("{}: POST /tx answered {} for {txid}", self.url, crate::text::line(&said));
                    }
                    Reply::Ok(txid)
                }
                Reply::Refused(_, m) | Reply::NotFound(m) if super::source::already_known(&m) => Reply::Ok(txid),
                other => other.map(|_| txid),
            }
        })
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
pub fn describe(e: &reqwest::Error) -> String {
    let mut innermost = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(phrase) = s.downcast_ref::<std::io::Error>().and_then(io_cause) {
            return phrase.into();
        }
        innermost = s.to_string();
        src = s.source();
    }
    let innermost = strip_os_error(&crate::text::one_line(&innermost, 200));
    if e.is_connect() {
        format!("cannot be reached ({innermost})")
    } else {
        format!("failed ({innermost})")
    }
}

/// The words for the connection failures an `io::Error` kind names.
pub fn io_cause(e: &std::io::Error) -> Option<&'static str> {
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

/// The bundled Mozilla roots (webpki-root-certs), added to the system's
/// for machines without a CA store (Esplora here, web seeds in
/// `torrent::webseed`).
pub fn web_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
        .collect()
}

/// The HTTP client: timeouts, the proxy (every request, whatever the
/// environment says), and the roots to trust: the system's (with
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` honoured), the bundled Mozilla ones
/// (for machines without a CA store) and `--esplora-ca`.
pub fn client(cfg: &Config, proxy: Option<&url::Url>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("goat/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(cfg.timeout)
        .timeout(cfg.timeout)
        .no_proxy();
    if let Some(u) = proxy {
        let proxy = reqwest::Proxy::all(u.as_str())
            .map_err(|e| Error::usage(format!("proxy '{}': {e}", crate::text::line(u.as_str()))))?;
        b = b.proxy(proxy);
    }
    let mut roots = web_roots();
    if let Some(f) = &cfg.ca_file {
        let pem = std::fs::read(f).map_err(|e| Error::io(format!("reading --esplora-ca {}", f.display()), e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| Error::usage(format!("--esplora-ca {} holds no PEM certificate", f.display())))?;
        if certs.is_empty() {
            return Err(Error::usage(format!("--esplora-ca {} holds no PEM certificate", f.display())));
        }
        roots.extend(certs);
    }
    b = b.tls_certs_merge(roots);
    b.build().map_err(|e| Error::internal(format!("cannot set up HTTPS: {}", describe(&e))))
}

//! BEP 19 web seeds: a torrent's pieces read over HTTP Range requests from
//! a server holding its files (`url-list` in the metadata, `ws=` in the
//! magnet), each proven with SHA-1 before anything else sees it.
//!
//! librqbit 9.1 has no web seeds (its issue #500), so goat fetches the
//! pieces itself with reqwest (already its HTTP stack) and hands them to
//! librqbit as a peer would (`bridge.rs`). What is hand-written here is
//! BEP 19's small part: where a file lies under the URL (the URL, then the
//! torrent's name, then the file's path), which byte ranges a piece
//! spans, and checking that a server sent exactly those bytes.

use crate::error::{Error, Result};
use crate::goatfile::InfoHash;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

/// No bytes from a web seed for this long: the request failed.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Redirects followed (a Hugging Face `resolve` URL answers 302 to its CDN).
const MAX_REDIRECTS: usize = 10;
/// Tries of one piece when the server cannot be reached or stops sending
/// (a 404, a 5xx or wrong bytes are not tried again).
const TRIES: u32 = 3;
/// The slowest a web seed may send a piece (besides `PIECE_GRACE`): one
/// that drips a byte at a time within `READ_TIMEOUT` would otherwise hold
/// its pieces, which librqbit reserved for it, for ever.
const MIN_RATE: u64 = 32 << 10;
const PIECE_GRACE: Duration = Duration::from_secs(30);

/// Web seeds dropped, by (info-hash, URL), and until when.
type Dropped = Arc<Mutex<HashMap<(InfoHash, String), Option<Instant>>>>;

/// The web seeds of one run: the HTTP client (through goat's proxy, when
/// it has one) and the seeds dropped for the rest of the run.
#[derive(Clone)]
pub struct WebSeeds {
    client: reqwest::Client,
    /// (info-hash, URL) of the seeds dropped, and until when (None: for
    /// the whole run): a base URL that fails for one torrent may serve
    /// another.
    dropped: Dropped,
    /// Metadata reads at once (each up to `known::MAX_BYTES`).
    reading: Arc<tokio::sync::Semaphore>,
}

/// How long a web seed that failed without lying is left alone.
pub const PAUSED: Duration = Duration::from_secs(600);

/// How long reading one torrent's metadata from a URL may take in all.
const METADATA_DEADLINE: Duration = Duration::from_secs(60);
/// Metadata URLs read at once.
const METADATA_READS: usize = 4;

impl WebSeeds {
    /// `proxy`: goat's SOCKS5 proxy for BitTorrent traffic; web seeds go
    /// through it too, names resolved by the proxy (`socks5h`), so no DNS
    /// query leaves around it.
    pub fn new(proxy: Option<&str>) -> Result<WebSeeds> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(redirect))
            // A redirect's target learns nothing of where it came from.
            .referer(false)
            .no_proxy();
        // Through a proxy (Tor), goat does not name itself to servers.
        if proxy.is_none() {
            b = b.user_agent(concat!("goat/", env!("CARGO_PKG_VERSION")));
        }
        if let Some(p) = proxy {
            let p = p.replacen("socks5://", "socks5h://", 1);
            let proxy =
                reqwest::Proxy::all(&p).map_err(|e| Error::usage(format!("proxy '{}': {e}", crate::text::line(&p))))?;
            b = b.proxy(proxy);
        }
        let client = b.tls_certs_merge(crate::esplora::http::web_roots()).build().map_err(|e| {
            Error::internal(format!("cannot set up HTTP for web seeds: {}", crate::esplora::http::describe(&e)))
        })?;
        Ok(WebSeeds { client, dropped: Arc::default(), reading: Arc::new(tokio::sync::Semaphore::new(METADATA_READS)) })
    }

    /// Whether `url` is dropped for torrent `info_hash`: `Some(None)` for
    /// the rest of the run, `Some(Some(t))` until `t`, `None` not.
    pub fn dropped(&self, info_hash: &InfoHash, url: &str) -> Option<Option<Instant>> {
        let mut d = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        let key = (*info_hash, url.to_string());
        match d.get(&key).copied() {
            Some(Some(until)) if until <= Instant::now() => {
                d.remove(&key);
                None
            }
            other => other,
        }
    }

    /// Whether `url` is dropped for torrent `info_hash` now (for a while or for
    /// the run).
    pub fn is_dropped(&self, info_hash: &InfoHash, url: &str) -> bool {
        self.dropped(info_hash, url).is_some()
    }

    /// Stop using `url` for torrent `info_hash`, with one warning naming
    /// it: for the rest of the run when it lied (`f.lied`: other bytes,
    /// wrong ranges, no Range support), else for `PAUSED` (a server down,
    /// a 404 during a redeploy, a slow spell), so a daemon that runs for
    /// months is not left without it for good.
    pub fn drop_seed(&self, info_hash: &InfoHash, url: &str, f: &Failure) {
        let until = (!f.lied).then(|| Instant::now() + PAUSED);
        let mut d = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        if d.insert((*info_hash, url.to_string()), until).is_none() {
            let how = if f.lied {
                "not used for the rest of this run".to_string()
            } else {
                format!("not used for {} minutes", PAUSED.as_secs() / 60)
            };
            tracing::warn!("web seed {}: {}: {how}", crate::text::line(url), crate::text::line(&f.why));
        }
    }

    /// A torrent's metadata from `url` (`xs=`, an entry's `metadata:`), at
    /// most `known::MAX_BYTES`.
    pub async fn get_metadata(&self, url: &str) -> Result<Bytes> {
        self.get_bounded(url, "the torrent metadata", super::known::MAX_BYTES).await
    }

    /// The body at `url` (`what` it is, for errors), at most `limit`
    /// bytes, through goat's proxy like every other request here.
    pub async fn get_bounded(&self, url: &str, what: &str, limit: usize) -> Result<Bytes> {
        let shown = crate::text::line(url);
        let fail = |why: String| Error::network(format!("{what} at {shown} could not be read: {why}"));
        let _turn = self.reading.acquire().await.map_err(|_| fail("shutting down".into()))?;
        let read = async {
            let resp = self.client.get(url).send().await.map_err(|e| fail(crate::esplora::http::describe(&e)))?;
            if !resp.status().is_success() {
                return Err(fail(format!("HTTP {}", resp.status().as_u16())));
            }
            read_body(resp, limit).await.map_err(|f| fail(f.why))
        };
        // A server that drips its answer is given this long in all.
        tokio::time::timeout(METADATA_DEADLINE, read)
            .await
            .map_err(|_| fail(format!("not read within {}s", METADATA_DEADLINE.as_secs())))?
    }
}

/// Where one web seed serves a torrent's files, and the torrent's pieces.
pub struct Seed {
    /// The URL as the torrent or magnet wrote it (what warnings name).
    pub url: String,
    /// The torrent's info-hash (what a dropped seed is dropped for).
    pub info_hash: InfoHash,
    /// The torrent's pieces and files.
    pub layout: Arc<Layout>,
    /// Each file's URL under `url` (None for padding files).
    file_urls: Vec<Option<String>>,
}

/// The piece layout of a torrent, from its metadata.
pub struct Layout {
    /// Bytes in each piece (the last may be shorter).
    pub piece_length: u64,
    /// Bytes in the torrent, padding files included.
    pub total: u64,
    hashes: Vec<[u8; 20]>,
    /// Its files, in order (checked paths: `listed_files`).
    files: Vec<super::TorrentFile>,
    /// The torrent's name (BEP 19 URLs of several files start with it).
    name: String,
    single: bool,
}

impl Layout {
    /// The layout of `torrent` (a `.torrent`'s bytes), its metadata and paths
    /// checked.
    pub fn of(torrent: &[u8]) -> Result<Layout> {
        let files = super::listed_files(torrent)?;
        let t = super::info::parsed(torrent)?;
        let raw = &t.info.data;
        Ok(Layout {
            piece_length: u64::from(raw.piece_length),
            total: files.last().map_or(0, |f| f.offset + f.length),
            hashes: raw.pieces.as_ref().chunks_exact(20).map(|c| c.try_into().expect("20 bytes")).collect(),
            files,
            name: raw.name.as_ref().map(|n| String::from_utf8_lossy(n.as_ref()).into_owned()).unwrap_or_default(),
            single: raw.files.is_none(),
        })
    }

    /// How many pieces the torrent has.
    pub fn pieces(&self) -> u32 {
        self.total.div_ceil(self.piece_length.max(1)) as u32
    }

    /// The parts of the files piece `index` spans, in order: (file index,
    /// from, to) within each file.
    fn segments(&self, index: u32) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
        let start = u64::from(index) * self.piece_length;
        super::geometry::parts(&self.files, start, self.piece_len(index), |f| (f.offset, f.length))
            .map(|p| (p.file, p.at, p.at + p.len as u64))
    }

    /// How many files piece `index` spans.
    pub fn spans(&self, index: u32) -> usize {
        self.segments(index).count()
    }

    /// Bytes in piece `index` (the last piece may be shorter).
    pub fn piece_len(&self, index: u32) -> u64 {
        let start = u64::from(index) * self.piece_length;
        self.piece_length.min(self.total.saturating_sub(start))
    }
}

/// Why a piece could not be had from a web seed.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, in words.
    pub why: String,
    /// Worth another try now (the server could not be reached or stopped
    /// sending).
    pub transient: bool,
    /// It answered with what the torrent does not hold (other bytes, other
    /// ranges or sizes, a whole file for a range): never asked again in
    /// this run.
    pub lied: bool,
}

/// A failure that is not worth another try now (a 404, a 5xx, too slow).
fn failed(why: String) -> Failure {
    Failure { why, transient: false, lied: false }
}

/// An answer that is not the torrent's.
fn wrong(why: String) -> Failure {
    Failure { why, transient: false, lied: true }
}

fn transient(why: String) -> Failure {
    Failure { why, transient: true, lied: false }
}

impl Seed {
    /// Web seed `url` of torrent `info_hash`, each file's URL under it worked
    /// out from `layout` (BEP 19). An error when `url` does not parse.
    pub fn new(url: &str, info_hash: InfoHash, layout: Arc<Layout>) -> Result<Seed> {
        let base =
            url::Url::parse(url).map_err(|e| Error::invalid(format!("web seed '{}': {e}", crate::text::line(url))))?;
        let file_urls = layout
            .files
            .iter()
            .map(|f| {
                let path: Vec<String> =
                    f.path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                (!f.padding).then(|| file_url(&base, &layout.name, &path, layout.single))
            })
            .collect();
        Ok(Seed { url: url.to_string(), info_hash, layout, file_urls })
    }

    /// Piece `index`, proven against its SHA-1, tried again when the
    /// server could not be reached.
    pub async fn piece(&self, seeds: &WebSeeds, index: u32) -> std::result::Result<Bytes, Failure> {
        // One deadline for every try: 30 s, the piece at `MIN_RATE`, and
        // 2 s per file it spans (each a request of its own).
        let len = self.layout.piece_len(index);
        let spans = self.layout.spans(index).max(1) as u64;
        let deadline = PIECE_GRACE + Duration::from_secs(len / MIN_RATE + 2 * spans);
        let tries = async {
            let mut last = None;
            for n in 0..TRIES {
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(500 << n)).await;
                }
                match self.piece_once(seeds, index).await {
                    Ok(b) => return Ok(b),
                    Err(f) if f.transient => last = Some(f),
                    Err(f) => return Err(f),
                }
            }
            Err(last.map(|f| failed(f.why)).unwrap_or_else(|| failed("no answer".into())))
        };
        tokio::time::timeout(deadline, tries)
            .await
            .unwrap_or_else(|_| Err(failed(format!("sent piece {index} slower than {} KiB/s", MIN_RATE >> 10))))
    }

    async fn piece_once(&self, seeds: &WebSeeds, index: u32) -> std::result::Result<Bytes, Failure> {
        let l = &self.layout;
        let want =
            l.hashes.get(index as usize).ok_or_else(|| failed(format!("piece {index} is not in the torrent")))?;
        let mut piece = BytesMut::with_capacity(l.piece_len(index) as usize);
        let mut sha = crate::hash::Sha1::default();
        for (i, from, to) in l.segments(index) {
            let before = piece.len();
            match &self.file_urls[i] {
                // BEP 47 padding: zeros, never asked for.
                None => piece.resize(before + (to - from) as usize, 0),
                Some(url) => self.range(seeds, url, from, to, l.files[i].length, &mut piece).await?,
            }
            sha.update(&piece[before..]);
        }
        if sha.finish() != *want {
            return Err(wrong(format!(
                "piece {index} does not match its SHA-1 (the server sent other bytes than the torrent's)"
            )));
        }
        Ok(piece.freeze())
    }

    /// Bytes `from..to` of a file of `file_len` bytes at `url`, appended to
    /// `out`: exactly those, or a failure.
    async fn range(
        &self,
        seeds: &WebSeeds,
        url: &str,
        from: u64,
        to: u64,
        file_len: u64,
        out: &mut BytesMut,
    ) -> std::result::Result<(), Failure> {
        let req = seeds.client.get(url).header(reqwest::header::RANGE, format!("bytes={from}-{}", to - 1));
        let resp = req.send().await.map_err(|e| Failure {
            why: crate::esplora::http::describe(&e),
            transient: e.is_connect() || e.is_timeout() || e.is_request(),
            lied: false,
        })?;
        let status = resp.status().as_u16();
        match status {
            206 => {
                let range =
                    resp.headers().get(reqwest::header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
                let expect = format!("bytes {from}-{}/", to - 1);
                if !range.starts_with(&expect) {
                    return Err(wrong(format!(
                        "asked for bytes {from}-{} of {}, answered with range '{}'",
                        to - 1,
                        url,
                        crate::text::printable(range, 80)
                    )));
                }
                if let Some(total) = range.rsplit('/').next().and_then(|t| t.parse::<u64>().ok()) {
                    if total != file_len {
                        return Err(wrong(format!("{url} is {total} bytes, the torrent says {file_len}")));
                    }
                }
            }
            // A server that ignores Range: usable only for a whole file.
            200 if from == 0 && to == file_len => {}
            200 => return Err(wrong("it ignores HTTP Range requests".into())),
            // Busy: worth another try, after a pause.
            429 => return Err(transient(format!("HTTP 429 (too many requests) for {url}"))),
            _ => return Err(failed(format!("HTTP {status} for {url}"))),
        }
        let want = (to - from) as usize;
        let before = out.len();
        read_into(resp, want, out).await?;
        if out.len() - before != want {
            return Err(transient(format!("sent {} bytes of a {want}-byte range of {url}", out.len() - before)));
        }
        Ok(())
    }
}

/// Redirects: at most `MAX_REDIRECTS`, never from https to http, and
/// never from a public host to a loopback, private or link-local address
/// (a web seed must not make goat ask the machine's own network).
fn redirect(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error("too many redirects");
    }
    let Some(from) = attempt.previous().last() else { return attempt.follow() };
    let to = attempt.url();
    if from.scheme() == "https" && to.scheme() != "https" {
        return attempt.error("a redirect from https to http");
    }
    if inward(to) && !inward(from) {
        return attempt.error("a redirect to a loopback or private address");
    }
    attempt.follow()
}

/// A URL whose host is a loopback, private, link-local or unspecified
/// address (or `localhost`).
fn inward(u: &url::Url) -> bool {
    let v4 = |ip: std::net::Ipv4Addr| {
        let o = ip.octets();
        ip.is_loopback() || ip.is_private() || ip.is_link_local() || o[0] == 0 || (o[0] == 100 && (o[1] & 0xc0) == 64)
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) => v4(ip),
        Some(url::Host::Ipv6(ip)) => match ip.to_ipv4_mapped() {
            Some(m) => v4(m),
            None => {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || (ip.segments()[0] & 0xfe00) == 0xfc00
                    || (ip.segments()[0] & 0xffc0) == 0xfe80
            }
        },
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// BEP 19: a single-file torrent's URL is the file's when it does not end
/// in `/`; otherwise (and always for several files) the torrent's name and
/// then the file's path are appended, each part percent-encoded.
fn file_url(base: &url::Url, name: &str, path: &[String], single: bool) -> String {
    if single && !base.path().ends_with('/') {
        return base.to_string();
    }
    let mut u = base.clone();
    if let Ok(mut segs) = u.path_segments_mut() {
        segs.pop_if_empty();
        if !single {
            segs.push(name);
        }
        for p in path {
            segs.push(p);
        }
    }
    u.to_string()
}

/// Read the body into `out`, at most `want` bytes (more is a lie).
async fn read_into(mut resp: reqwest::Response, want: usize, out: &mut BytesMut) -> std::result::Result<(), Failure> {
    let start = out.len();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() - start + c.len() > want {
                    return Err(wrong(format!("sent more than the {want} bytes asked for")));
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(transient(crate::esplora::http::describe(&e))),
        }
    }
}

async fn read_body(resp: reqwest::Response, max: usize) -> std::result::Result<Bytes, Failure> {
    let mut out = BytesMut::new();
    read_into(resp, max, &mut out).await?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep19_urls() {
        let base = url::Url::parse("http://h/models/").unwrap();
        assert_eq!(
            file_url(&base, "llama", &["7B".into(), "a b#.bin".into()], false),
            "http://h/models/llama/7B/a%20b%23.bin"
        );
        assert_eq!(file_url(&base, "one.bin", &["one.bin".into()], true), "http://h/models/one.bin");
        let exact = url::Url::parse("http://h/x/one.bin").unwrap();
        assert_eq!(file_url(&exact, "one.bin", &["one.bin".into()], true), "http://h/x/one.bin");
        let bare = url::Url::parse("http://h/models").unwrap();
        assert_eq!(file_url(&bare, "m", &["f".into()], false), "http://h/models/m/f");
    }

    #[test]
    fn inward_addresses_are_the_machines_own_networks() {
        for u in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://localhost:8080/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost./",
            "http://100.64.1.1/",
            "http://0.1.2.3/",
        ] {
            assert!(inward(&url::Url::parse(u).unwrap()), "{u}");
        }
        for u in ["https://huggingface.co/x", "http://8.8.8.8/", "http://[2001:db8::1]/", "http://localhost.example/"] {
            assert!(!inward(&url::Url::parse(u).unwrap()), "{u}");
        }
    }
}

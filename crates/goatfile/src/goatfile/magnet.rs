//! Magnet URI validation (BEP 9, BEP 52).
//!
//! Only what the goatfile needs to *validate* a magnet and name its torrent;
//! the download stage hands the original URI to librqbit. `x.pe` peers are
//! extracted here because librqbit's parser ignores them.

use data_encoding::BASE32;
use url::Url;

/// A magnet URI from a goatfile, checked ([`Magnet::parse`]), and the parts goat uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Magnet {
    /// The URI as written in the goatfile.
    pub uri: String,
    /// v1 info-hash, lowercase hex (40 chars), when the magnet has one.
    pub btih: Option<String>,
    /// v2 multihash (`1220…`), lowercase hex, when the magnet has one.
    pub btmh: Option<String>,
    /// `dn=`: the name the magnet suggests for the torrent, when it has one.
    pub display_name: Option<String>,
    /// `tr=` tracker URLs (http, https, udp, ws or wss), in the order written.
    pub trackers: Vec<String>,
    /// `x.pe` peer addresses (host:port).
    pub peers: Vec<String>,
    /// `ws=` web seeds (BEP 19): http(s) URLs serving the files.
    pub web_seeds: Vec<String>,
    /// `xs=` exact sources that are http(s) URLs: where the `.torrent`
    /// can be read without a peer (others, such as `urn:btpk:`, are
    /// passed over).
    pub sources: Vec<String>,
}

/// A v1 info-hash: the key that joins a goatfile entry, the torrent in the
/// BitTorrent session and `goat seed`'s state. Twenty bytes, so two
/// spellings of one hash (upper case, base32) are one key; written (and
/// serialized) as 40 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InfoHash([u8; 20]);

impl InfoHash {
    /// The info-hash these twenty bytes are.
    pub fn from_bytes(bytes: &[u8; 20]) -> InfoHash {
        InfoHash(*bytes)
    }

    /// The twenty bytes (librqbit's `Id20` is made from them).
    pub fn bytes(&self) -> [u8; 20] {
        self.0
    }

    /// 40 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for InfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Text that is not a v1 info-hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnInfoHash(String);

impl std::fmt::Display for NotAnInfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' is not a v1 info-hash (40 hex digits)", crate::text::printable(&self.0, 64))
    }
}

impl std::error::Error for NotAnInfoHash {}

impl std::str::FromStr for InfoHash {
    type Err = NotAnInfoHash;
    fn from_str(s: &str) -> Result<InfoHash, NotAnInfoHash> {
        parse_btih(s).map(InfoHash).ok_or_else(|| NotAnInfoHash(s.chars().take(64).collect()))
    }
}

impl TryFrom<String> for InfoHash {
    type Error = NotAnInfoHash;
    fn try_from(s: String) -> Result<InfoHash, NotAnInfoHash> {
        s.parse()
    }
}

impl From<InfoHash> for String {
    fn from(h: InfoHash) -> String {
        h.hex()
    }
}

impl Magnet {
    /// The key used to detect the same torrent named twice.
    pub fn identity(&self) -> String {
        self.btih.clone().or_else(|| self.btmh.clone()).unwrap_or_default()
    }

    /// The v1 info-hash (a parsed magnet always has one: v2-only magnets
    /// are refused by `parse`).
    pub fn info_hash(&self) -> InfoHash {
        InfoHash(self.btih.as_deref().and_then(parse_btih).unwrap_or_default())
    }

    /// The magnet `uri`, checked: the error says what is wrong with it.
    pub fn parse(uri: &str) -> Result<Magnet, BadMagnet> {
        Magnet::checked(uri.trim()).map_err(BadMagnet)
    }

    fn checked(uri: &str) -> Result<Magnet, String> {
        if uri.len() > 8192 {
            return Err("magnet URI is longer than 8192 characters".into());
        }
        let url = Url::parse(uri).map_err(|e| format!("not a URI ({e})"))?;
        if url.scheme() != "magnet" {
            return Err(format!("scheme is '{}', expected 'magnet:'", crate::text::line(url.scheme())));
        }
        let mut m = Magnet {
            uri: uri.to_string(),
            btih: None,
            btmh: None,
            display_name: None,
            trackers: vec![],
            peers: vec![],
            web_seeds: vec![],
            sources: vec![],
        };
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "xt" => {
                    let lower = v.to_ascii_lowercase();
                    if let Some(h) = lower.strip_prefix("urn:btih:") {
                        let hash = parse_btih(&v[9..]).map(hex::encode).ok_or_else(|| {
                            format!("info-hash '{}' is neither 40 hex nor 32 base32 characters", crate::text::line(h))
                        })?;
                        if m.btih.replace(hash).is_some() {
                            return Err("magnet names two v1 info-hashes".into());
                        }
                    } else if let Some(h) = lower.strip_prefix("urn:btmh:") {
                        if !(h.len() == 68 && h.starts_with("1220") && is_hex(h)) {
                            return Err(format!(
                                "v2 multihash '{}' is not 1220 followed by 64 hex",
                                crate::text::line(h)
                            ));
                        }
                        m.btmh = Some(h.to_string());
                    }
                }
                "dn" => m.display_name = Some(v.into_owned()),
                "tr" => {
                    let t = Url::parse(&v)
                        .map_err(|e| format!("tracker '{}' is not a URL ({e})", crate::text::line(&v)))?;
                    if !matches!(t.scheme(), "http" | "https" | "udp" | "ws" | "wss") {
                        return Err(format!(
                            "tracker '{}' has unsupported scheme '{}'",
                            crate::text::line(&v),
                            t.scheme()
                        ));
                    }
                    m.trackers.push(v.into_owned());
                }
                "x.pe" => {
                    if v.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                        return Err(format!("peer '{}' is not host:port", crate::text::line(&v)));
                    }
                    m.peers.push(v.into_owned());
                }
                "ws" => {
                    if !is_http_url(&v) {
                        return Err(format!("web seed '{}' is not an http(s) URL", crate::text::line(&v)));
                    }
                    if !m.web_seeds.iter().any(|w| *w == v) {
                        m.web_seeds.push(v.into_owned());
                    }
                }
                "xs" if is_http_url(&v) => m.sources.push(v.into_owned()),
                _ => {}
            }
        }
        if m.btih.is_none() && m.btmh.is_none() {
            return Err("no 'xt=urn:btih:' info-hash".into());
        }
        if m.web_seeds.len() > MAX_WEB_SEEDS || m.sources.len() > MAX_SOURCES {
            return Err(format!("more than {MAX_WEB_SEEDS} web seeds (ws=) or {MAX_SOURCES} exact sources (xs=)"));
        }
        if m.btih.is_none() {
            // librqbit 9.1 refuses v2-only magnets ("magnet link didn't
            // contain a BTv1 infohash"); say so now, not after a timeout.
            return Err("it is a v2-only magnet (urn:btmh without urn:btih), which goat's BitTorrent engine cannot download: publish a v1 or hybrid torrent and include its xt=urn:btih: info-hash".into());
        }
        if let (Some(v1), Some(v2)) = (&m.btih, &m.btmh) {
            // A hybrid torrent's v1 info-hash is the SHA-1 of its info
            // dictionary; the first 20 bytes of its SHA-256 are the
            // *truncated v2* hash, which libtorrent 2.0's deprecated
            // `torrent_info.info_hash()` returns for hybrids. Written as
            // btih it can never verify: every peer's metadata would fail
            // ("info checksum invalid"), found only after a timeout.
            if v2[4..44] == v1[..] {
                return Err(format!(
                    "its urn:btih: {v1} is the hybrid torrent's truncated v2 hash (the first 20 bytes of urn:btmh), not its v1 info-hash: write the SHA-1 of the info dictionary (libtorrent: info_hashes().v1; make_magnet_uri writes both correctly)"
                ));
            }
        }
        Ok(m)
    }
}

/// Why a magnet URI was refused (one printable line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMagnet(String);

impl std::fmt::Display for BadMagnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadMagnet {}

/// Most `ws=` web seeds a magnet may name.
pub const MAX_WEB_SEEDS: usize = 16;
/// Most `xs=` URLs a magnet may name.
pub const MAX_SOURCES: usize = 8;

/// An absolute http or https URL with a host, of a sane length.
pub fn is_http_url(s: &str) -> bool {
    s.len() <= 2048 && Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The twenty bytes of a v1 info-hash written as 40 hex digits or 32 base32
/// characters.
fn parse_btih(h: &str) -> Option<[u8; 20]> {
    let bytes = match h.len() {
        40 => hex::decode(h).ok()?,
        32 => BASE32.decode(h.to_ascii_uppercase().as_bytes()).ok()?,
        _ => return None,
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_base32_trackers_and_peers() {
        let m = Magnet::parse("magnet:?xt=urn:btih:0123456789ABCDEF0123456789abcdef01234567&dn=x&tr=udp%3A%2F%2Ft%3A1&x.pe=127.0.0.1:6881").unwrap();
        assert_eq!(m.btih.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(m.trackers, vec!["udp://t:1"]);
        assert_eq!(m.peers, vec!["127.0.0.1:6881"]);
        let b32 = Magnet::parse("magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH").unwrap();
        assert_eq!(b32.btih.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert!(Magnet::parse("magnet:?dn=x").is_err());
        assert!(Magnet::parse("http://x").is_err());
        assert!(Magnet::parse("magnet:?xt=urn:btih:123").is_err());
        assert!(Magnet::parse("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=nope").is_err());
    }

    #[test]
    fn an_info_hash_is_its_twenty_bytes_whatever_the_spelling() {
        let hex: InfoHash = "0123456789ABCDEF0123456789abcdef01234567".parse().unwrap();
        let b32 = Magnet::parse("magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH").unwrap().info_hash();
        assert_eq!(hex, b32);
        assert_eq!(hex.to_string(), "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(hex.bytes()[..2], [0x01, 0x23]);
        // Written to state files as lowercase hex, read back the same.
        let json = serde_json::to_string(&hex).unwrap();
        assert_eq!(json, "\"0123456789abcdef0123456789abcdef01234567\"");
        assert_eq!(serde_json::from_str::<InfoHash>(&json).unwrap(), hex);
        for bad in ["", "0123", &"g".repeat(40), &"0".repeat(41), "\u{1b}[2J"] {
            let e = bad.parse::<InfoHash>().unwrap_err().to_string();
            assert!(e.contains("not a v1 info-hash") && !e.contains('\u{1b}'), "{e}");
        }
        assert!(serde_json::from_str::<InfoHash>("\"xyz\"").is_err());
    }

    #[test]
    fn web_seeds_and_exact_sources() {
        let h = "0123456789abcdef0123456789abcdef01234567";
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{h}&ws=https%3A%2F%2Fa%2F&ws=https%3A%2F%2Fa%2F&xs=urn:btpk:x&xs=http%3A%2F%2Fm%2Ft.torrent")).unwrap();
        assert_eq!(m.web_seeds, vec!["https://a/"], "a web seed named twice counts once");
        assert_eq!(m.sources, vec!["http://m/t.torrent"], "xs= that is not a URL is passed over");
        assert!(Magnet::parse(&format!("magnet:?xt=urn:btih:{h}&ws=ftp%3A%2F%2Fa%2F"))
            .unwrap_err()
            .to_string()
            .contains("not an http(s) URL"));
        let many: String = (0..17).map(|i| format!("&ws=http%3A%2F%2Fw{i}%2F")).collect();
        assert!(Magnet::parse(&format!("magnet:?xt=urn:btih:{h}{many}"))
            .unwrap_err()
            .to_string()
            .contains("more than 16 web seeds"));
    }

    #[test]
    fn v2_only_magnets_are_refused_hybrids_accepted() {
        let v2 = format!("urn:btmh:1220{}", "ab".repeat(32));
        let e = Magnet::parse(&format!("magnet:?xt={v2}&dn=x")).unwrap_err().to_string();
        assert!(e.contains("v2-only") && e.contains("urn:btih"), "{e}");
        let hybrid =
            Magnet::parse(&format!("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&xt={v2}")).unwrap();
        assert!(hybrid.btih.is_some() && hybrid.btmh.is_some());
        // btih = the truncated v2 hash (a libtorrent 2.0 info_hash() mistake)
        let v2 = "1220".to_string() + &"ab".repeat(32);
        let e = Magnet::parse(&format!("magnet:?xt=urn:btih:{}&xt=urn:btmh:{v2}", "ab".repeat(20)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated v2 hash") && e.contains("info_hashes().v1"), "{e}");
    }

    #[test]
    fn errors_never_echo_control_characters() {
        for bad in [
            "magnet:?xt=urn:btih:12%1b[2J",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=%1b]0;x%07",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=%1b:x",
        ] {
            let e = Magnet::parse(bad).unwrap_err().to_string();
            assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
        }
    }
}

//! Option sets that several commands share, each declared once: clap
//! attributes for the command line, serde attributes for `seed.toml` (whose
//! keys are the long option names). [`SwarmArgs`] is flattened into
//! `goat fetch`, `goat seed` and `goat publish`; the typed values here
//! ([`Rate`], [`Interval`], [`NetworkName`], [`HttpListen`]) parse the same
//! text on the command line and in the file, so a bad value is refused the
//! same way in both, before anything starts.
//!
//! No field carries a clap default: `seed`'s merge lays the command line
//! over the file field by field, and a default would always win. Defaults
//! live in the methods that read the fields (and in the help text).

use crate::error::{Error, Result};
use crate::torrent::gate::Encryption;
use crate::torrent::{PieceOrder, SwarmConfig};
use crate::trust::is_false;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Seconds to wait for a torrent's metadata from peers, unless told.
pub const DEFAULT_METADATA_TIMEOUT: u64 = 300;

/// The BitTorrent session's options.
#[derive(Debug, Default, Clone, Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SwarmArgs {
    /// TCP port peers connect to [default: any free port; goat seed: 6881]
    #[arg(long, value_name = "PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Extra BitTorrent peer (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Do not use the DHT.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_dht: bool,
    /// Do not use uTP: peers are reached and served over TCP only. With
    /// uTP on, goat listens on the UDP port of the same number too, and
    /// the DHT moves to the next port up when --listen-port is set.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_utp: bool,
    /// Do not map the listening port on the gateway with UPnP (goat seed
    /// and fetch --seed map it; plain fetch never does).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_upnp: bool,
    /// DHT bootstrap node (repeatable) instead of the public ones.
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dht_bootstrap: Vec<String>,
    /// SOCKS5 proxy for every peer connection (socks5://HOST:PORT). DHT,
    /// trackers and listening are turned off so nothing bypasses it;
    /// Esplora requests then need --esplora-proxy (or --tor) as well.
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Download rate limit in bytes/s (e.g. 500K, 10M).
    #[arg(long, value_name = "RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_download_rate: Option<Rate>,
    /// Upload rate limit in bytes/s (e.g. 500K, 10M).
    #[arg(long, value_name = "RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_rate: Option<Rate>,
    /// Most peers per torrent.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<usize>,
    /// Which pieces to ask for first: random (lets nodes that start
    /// together trade; docs/swarm.md) or file (librqbit's order)
    /// [default: random]
    #[arg(long, value_enum, value_name = "ORDER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub piece_order: Option<PieceOrder>,
    /// Super-seed what goat holds whole (BEP 16): each peer is told of one
    /// rare piece at a time, so a first seeder's uplink carries each piece
    /// about once (docs/swarm.md, "Super-seeding"). For an origin; a
    /// lone downloader gains nothing from it.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub super_seed: bool,
    /// Peer encryption (MSE/PE), as qBittorrent and Transmission offer it:
    /// prefer-encrypted reaches every peer (docs/fetching.md)
    /// [default: prefer-encrypted]
    #[arg(long, value_enum, value_name = "MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Seconds to wait for a torrent's metadata from peers [default: 300]
    #[arg(long, value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_timeout: Option<u64>,
    /// MiB of memory for whole pieces gathered before they are written
    /// (for measuring; docs/benchmarks.md) [default: 0, each block written
    /// as it arrives]
    #[arg(long, value_name = "MIB", env = "GOAT_PIECE_BUFFER_MIB", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub piece_buffer: Option<usize>,
    /// Block requests in flight per peer (for measuring;
    /// docs/benchmarks.md) [default: 512]
    #[arg(long, value_name = "N", env = "GOAT_REQUEST_WINDOW", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_window: Option<std::num::NonZeroU32>,
    /// Accept peers on 127.0.0.1 only (tests, demos).
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub loopback: bool,
}

impl SwarmArgs {
    /// The session these options describe. `tor_peers` is the global
    /// `--tor`'s SOCKS URL (it carries peer connections too, and then
    /// `proxy` may only repeat it); `default_port` the port when none is
    /// given.
    pub fn config(&self, tor_peers: Option<String>, default_port: Option<u16>) -> Result<SwarmConfig> {
        let socks_proxy = match (tor_peers, &self.proxy) {
            (Some(t), Some(p)) if p != &t => {
                return Err(Error::usage(
                    "--tor sends peer connections through Tor: drop --proxy, or give the same proxy",
                ))
            }
            (Some(t), _) => Some(t),
            (None, p) => p.clone(),
        };
        Ok(SwarmConfig {
            listen_port: self.listen_port.or(default_port),
            loopback_only: self.loopback,
            dht: !self.no_dht,
            utp: !self.no_utp,
            // Seeders turn it on (`goat seed`, `fetch --seed`).
            map_port: false,
            socks_proxy,
            max_download_bps: self.max_download_rate.map(|r| r.0),
            max_upload_bps: self.max_upload_rate.map(|r| r.0),
            peer_limit: self.max_peers,
            state_dir: None,
            piece_order: self.piece_order.unwrap_or_default(),
            super_seed: self.super_seed,
            encryption: self.encryption.unwrap_or_default(),
            dht_bootstrap: self.dht_bootstrap.clone(),
            piece_buffer_mib: self.piece_buffer.unwrap_or(0),
            request_window: self.request_window.map(|n| n.get() as usize),
            read_only: Vec::new(),
            write_roots: Vec::new(),
        })
    }

    /// Before a command that asks a chain server anything: with peers
    /// behind `--proxy`, the server must be too (`esplora_proxied`), or the
    /// requests would tell it who is asking.
    pub fn check_chain_proxied(&self, esplora_proxied: bool) -> Result<()> {
        if self.proxy.is_some() && !esplora_proxied {
            return Err(Error::usage(
                "--proxy only covers BitTorrent; Esplora requests would bypass it: add --esplora-proxy socks5h://HOST:PORT (esplora-proxy in seed.toml; or use --tor)",
            ));
        }
        Ok(())
    }

    /// How long to wait for a torrent's metadata.
    pub fn metadata_timeout(&self) -> Duration {
        Duration::from_secs(self.metadata_timeout.unwrap_or(DEFAULT_METADATA_TIMEOUT).max(1))
    }
}

/// Text on the command line and in seed.toml, typed once parsed; written
/// back (for seed's merge) as the same text. Numbers in the file are read
/// as their text.
macro_rules! text_typed {
    ($t:ty, $what:literal) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<$t, E> {
                        v.parse().map_err(|e: Error| E::custom(e.message))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// Bytes per second: `10M`, `500K`, `1.5M` or `123456`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u32);

impl FromStr for Rate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rate> {
        parse_rate(s).map(Rate)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
text_typed!(Rate, "a rate like 500K or 10M");

/// Parse a rate like `10M`, `500K`, `1.5M` or `123456` (bytes per second).
pub fn parse_rate(s: &str) -> Result<u32> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1024.0),
        Some('M') => (&t[..t.len() - 1], 1024.0 * 1024.0),
        Some('G') => (&t[..t.len() - 1], 1024.0 * 1024.0 * 1024.0),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| Error::usage(format!("rate '{s}' is not a number of bytes per second like 500K or 10M")))?;
    let bps = v * mult;
    if !(1.0..=u32::MAX as f64).contains(&bps) {
        return Err(Error::usage(format!("rate '{s}' is out of range (1 byte/s to 4G)")));
    }
    Ok(bps as u32)
}

/// A duration: `90`, `90s`, `10m`, `2h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval(pub Duration);

impl FromStr for Interval {
    type Err = Error;
    fn from_str(s: &str) -> Result<Interval> {
        parse_duration(s).map(Interval)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs_f64())
    }
}
text_typed!(Interval, "a duration like 90s, 10m or 2h");

/// `90`, `90s`, `10m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        Some('d') => (&t[..t.len() - 1], 86400.0),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        Error::usage(format!("duration '{}' is not like 90s, 10m or 2h", crate::text::printable(s, 40)))
    })?;
    let secs = v * mult;
    if !(0.1..=30.0 * 86400.0).contains(&secs) {
        return Err(Error::usage(format!(
            "duration '{}' is out of range (0.1s to 30d)",
            crate::text::printable(s, 40)
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A Bitcoin network by any of its names (`crate::address::parse_network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkName(pub bitcoin::Network);

impl FromStr for NetworkName {
    type Err = Error;
    fn from_str(s: &str) -> Result<NetworkName> {
        crate::address::parse_network(s).map(NetworkName)
    }
}

impl fmt::Display for NetworkName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
text_typed!(NetworkName, "a network: bitcoin, testnet, testnet4, signet or regtest");

/// Where `goat seed`'s status endpoint listens: an IP:PORT, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListen {
    Off,
    At(std::net::SocketAddr),
}

impl FromStr for HttpListen {
    type Err = Error;
    fn from_str(s: &str) -> Result<HttpListen> {
        if s.trim() == "off" {
            return Ok(HttpListen::Off);
        }
        s.trim().parse().map(HttpListen::At).map_err(|_| {
            Error::usage(format!("--http '{}' is not an IP:PORT like 127.0.0.1:4628, or off", crate::text::line(s)))
        })
    }
}

impl fmt::Display for HttpListen {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            HttpListen::Off => f.write_str("off"),
            HttpListen::At(a) => write!(f, "{a}"),
        }
    }
}
text_typed!(HttpListen, "an IP:PORT like 127.0.0.1:4628, or off");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_read_the_same_text_in_a_file_and_back() {
        #[derive(Serialize, Deserialize)]
        struct T {
            rate: Rate,
            num: Rate,
            poll: Interval,
            network: NetworkName,
            http: HttpListen,
        }
        let t: T = toml::from_str("rate = \"2M\"\nnum = 1000\npoll = \"10m\"\nnetwork = \"mainnet\"\nhttp = \"off\"\n")
            .unwrap();
        assert_eq!((t.rate, t.num), (Rate(2 << 20), Rate(1000)));
        assert_eq!(t.poll, Interval(Duration::from_secs(600)));
        assert_eq!(t.network, NetworkName(bitcoin::Network::Bitcoin));
        assert_eq!(t.http, HttpListen::Off);
        let back: T = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!((back.rate, back.poll, back.network, back.http), (t.rate, t.poll, t.network, t.http));
        let bad =
            toml::from_str::<T>("rate = \"fast\"\nnum = 1\npoll = \"1m\"\nnetwork = \"signet\"\nhttp = \"off\"\n");
        let bad = bad.err().unwrap().message().to_string();
        assert!(bad.contains("rate 'fast'"), "{bad}");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_rate("500k").unwrap(), 500 * 1024);
        assert_eq!(parse_rate("77").unwrap(), 77);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0").is_err());
    }

    #[test]
    fn a_peer_proxy_that_differs_from_tor_is_refused() {
        let a = SwarmArgs { proxy: Some("socks5://127.0.0.1:1080".into()), ..Default::default() };
        assert!(a.config(Some("socks5://127.0.0.1:9050".into()), None).is_err());
        assert!(a.check_chain_proxied(false).is_err(), "the chain would bypass the proxy");
        assert!(a.check_chain_proxied(true).is_ok());
        let c = a.config(None, Some(6881)).unwrap();
        assert_eq!((c.socks_proxy.as_deref(), c.listen_port), (Some("socks5://127.0.0.1:1080"), Some(6881)));
        let c = SwarmArgs::default().config(Some("socks5://127.0.0.1:9050".into()), None).unwrap();
        assert_eq!(c.socks_proxy.as_deref(), Some("socks5://127.0.0.1:9050"));
        assert!(c.dht && c.request_window.is_none() && c.piece_buffer_mib == 0);
    }
}

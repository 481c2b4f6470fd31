//! `goat seed <address>...`: follow addresses, fetch their goatfiles'
//! entries and seed them until stopped. See docs/seeding.md.

use super::{Globals, TrustArgs};
use crate::error::{Error, Result};
use crate::seed::{config, http, Daemon, Options};
use crate::torrent::{self, SwarmConfig};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default status address: "GOAT" on a phone keypad.
pub const DEFAULT_HTTP: &str = "127.0.0.1:4628";
pub const DEFAULT_LISTEN_PORT: u16 = 6881;

#[derive(Debug, Args)]
pub struct Seed {
    /// Holders' Bitcoin addresses to follow (added to the config file's).
    pub addresses: Vec<String>,
    /// Root folder; each address gets DIR/<address>/ [default: ~/.local/share/goat/files]
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Where the session, fastresume data and goat's file stamps live
    /// [default: ~/.local/share/goat/state]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// TOML config file [default: ~/.config/goat/seed.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How often to re-resolve each address (e.g. 90s, 10m, 1h) [default: 5m]
    #[arg(long, value_name = "DURATION")]
    pub poll: Option<String>,
    /// Stop seeding entries dropped from a goatfile (their files are kept).
    #[arg(long)]
    pub prune: bool,
    /// TCP port peers connect to [default: 6881]
    #[arg(long, value_name = "PORT")]
    pub listen_port: Option<u16>,
    /// Status endpoint address [default: 127.0.0.1:4628]
    #[arg(long, value_name = "IP:PORT")]
    pub http: Option<String>,
    /// Do not serve the status endpoint.
    #[arg(long, conflicts_with = "http")]
    pub no_http: bool,
    /// Allow --http on a non-loopback address (it has no authentication).
    #[arg(long)]
    pub allow_remote_http: bool,
    /// Upload rate limit in bytes/s (e.g. 500K, 10M).
    #[arg(long, value_name = "RATE")]
    pub max_upload_rate: Option<String>,
    /// Download rate limit in bytes/s.
    #[arg(long, value_name = "RATE")]
    pub max_download_rate: Option<String>,
    /// Most peers per torrent.
    #[arg(long, value_name = "N")]
    pub max_peers: Option<usize>,
    /// Extra BitTorrent peer (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Do not use the DHT.
    #[arg(long)]
    pub no_dht: bool,
    /// DHT bootstrap node (repeatable) instead of the public ones.
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// Which pieces to ask for first [default: random] (docs/swarm.md).
    #[arg(long, value_enum, value_name = "ORDER")]
    pub piece_order: Option<torrent::PieceOrder>,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Seconds to wait for a new torrent's metadata from peers.
    #[arg(long, value_name = "SECS")]
    pub metadata_timeout: Option<u64>,
    /// Accept peers on 127.0.0.1 only (tests, demos).
    #[arg(long, hide = true)]
    pub loopback: bool,
    /// Stop by itself after this many seconds (tests, demos).
    #[arg(long, hide = true, value_name = "SECS")]
    pub run_for: Option<f64>,
}

impl Seed {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let (file, file_path) = config::load(self.config.as_deref())?;
        let mut names: Vec<String> = file.addresses.clone();
        for a in &self.addresses {
            if !names.contains(a) {
                names.push(a.clone());
            }
        }
        if names.is_empty() {
            return Err(Error::usage(match &file_path {
                Some(p) => format!("no address to follow: give one, or list them under addresses = [...] in {}", p.display()),
                None => "no address to follow: give one (goat seed <address>) or list them in a config file (--config)".into(),
            }));
        }
        let network = match (&g.network, &file.network) {
            (Some(_), _) => g.network()?,
            (None, Some(n)) => Some(crate::address::parse_network(n)?),
            (None, None) => None,
        };
        let mut addresses = Vec::new();
        for a in &names {
            let holder = crate::address::parse_address(a, network)?;
            let esplora = g.esplora_or(holder.network, &file.esplora)?;
            addresses.push((holder, Arc::new(esplora)));
        }
        let data = || config::default_data_dir();
        let output = match self.output.clone().or(file.output.clone()) {
            Some(o) => o,
            None => data()?.join("files"),
        };
        let state_dir = match self.state_dir.clone().or(file.state_dir.clone()) {
            Some(s) => s,
            None => data()?.join("state"),
        };
        let poll = match self.poll.as_ref().or(file.poll.as_ref()) {
            Some(p) => config::parse_duration(p)?,
            None => Duration::from_secs(300),
        };
        let allow_remote = self.allow_remote_http || file.allow_remote_http.unwrap_or(false);
        let http = if self.no_http {
            None
        } else {
            let text = self.http.clone().or(file.http.clone()).unwrap_or_else(|| DEFAULT_HTTP.into());
            if text == "off" {
                None
            } else {
                Some(http::parse_listen(&text, allow_remote)?)
            }
        };
        let rate = |cli: &Option<String>, cfg: &Option<String>| {
            cli.as_ref().or(cfg.as_ref()).map(|r| torrent::parse_rate(r)).transpose()
        };
        let mut peers = file.peers.clone();
        peers.extend(self.peers.iter().cloned());
        let opts = Options {
            addresses,
            output,
            state_dir,
            poll,
            prune: self.prune || file.prune.unwrap_or(false),
            peers,
            policy: self.trust.policy_with(
                file.include_mempool.unwrap_or(false),
                file.trust_any.unwrap_or(false),
                file.accept_funded_commit.unwrap_or(false),
            ),
            metadata_timeout: Duration::from_secs(self.metadata_timeout.or(file.metadata_timeout).unwrap_or(300).max(1)),
            swarm: SwarmConfig {
                listen_port: Some(self.listen_port.or(file.listen_port).unwrap_or(DEFAULT_LISTEN_PORT)),
                loopback_only: self.loopback,
                dht: !self.no_dht && file.dht.unwrap_or(true),
                socks_proxy: None,
                max_download_bps: rate(&self.max_download_rate, &file.max_download_rate)?,
                max_upload_bps: rate(&self.max_upload_rate, &file.max_upload_rate)?,
                peer_limit: self.max_peers.or(file.max_peers),
                state_dir: None,
                piece_order: self.piece_order.or(file.piece_order).unwrap_or_default(),
                dht_bootstrap: if self.dht_bootstrap.is_empty() { file.dht_bootstrap.clone() } else { self.dht_bootstrap.clone() },
            },
            http,
            run_for: self.run_for.filter(|s| *s > 0.0).map(Duration::from_secs_f64),
        };
        Daemon::start(opts).await?.run().await
    }
}

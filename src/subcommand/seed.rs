//! `goat seed <address>...`: follow addresses, fetch their goatfiles'
//! entries and seed them until stopped. See docs/seeding.md.
//!
//! The options are `seed::config::Settings`, one definition for the
//! command line and the config file; this file only turns the merged
//! settings into the daemon's typed options and defaults.

use super::Globals;
use crate::error::{Error, Result};
use crate::seed::config::{self, Settings};
use crate::seed::{http, Daemon, Options};
use crate::torrent::{self, SwarmConfig};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

/// Default status address: "GOAT" on a phone keypad.
pub const DEFAULT_HTTP: &str = "127.0.0.1:4628";
pub const DEFAULT_LISTEN_PORT: u16 = 6881;

#[derive(Debug, Args)]
pub struct Seed {
    #[command(flatten)]
    pub settings: Settings,
}

impl Seed {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let (file, file_path) = config::load(self.settings.config.as_deref())?;
        let s = config::merge(&file, &self.settings)?;
        if s.addresses.is_empty() {
            return Err(Error::usage(match &file_path {
                Some(p) => {
                    format!("no address to follow: give one, or list them under addresses = [...] in {}", p.display())
                }
                None => "no address to follow: give one (goat seed <address>) or list them in a config file (--config)"
                    .into(),
            }));
        }
        let network = match (&g.network, &s.network) {
            (Some(_), _) => g.network()?,
            (None, Some(n)) => Some(crate::address::parse_network(n)?),
            (None, None) => None,
        };
        // The config file's proxy and TLS settings, unless the command line
        // gave its own.
        let g = &Globals {
            esplora_proxy: g.esplora_proxy.clone().or(s.esplora_proxy.clone()),
            esplora_ca: g.esplora_ca.clone().or(s.esplora_ca.clone()),
            tor: g.tor.clone().or(s.tor.clone()),
            electrum: if g.electrum.is_empty() { s.electrum.clone() } else { g.electrum.clone() },
            ..g.clone()
        };
        if s.proxy.is_some() && g.esplora_proxy.is_none() && g.tor.is_none() {
            return Err(Error::usage(
                "proxy only covers BitTorrent; Esplora polls would bypass it: set esplora-proxy (or tor) too",
            ));
        }
        let socks_proxy = match g.tor_peers()? {
            Some(t) => Some(t),
            None => s.proxy.clone(),
        };
        let mut addresses = Vec::new();
        for a in &s.addresses {
            let holder = crate::address::parse_address(a, network)?;
            let esplora = g.esplora_or(holder.network, &s.esplora)?;
            addresses.push((holder, Arc::new(esplora)));
        }
        let data = || config::default_data_dir();
        let output = match s.output.clone() {
            Some(o) => o,
            None => data()?.join("files"),
        };
        let state_dir = match s.state_dir.clone() {
            Some(d) => d,
            None => data()?.join("state"),
        };
        let poll = match &s.poll {
            Some(p) => config::parse_duration(p)?,
            None => Duration::from_secs(300),
        };
        let http = match s.http.as_deref().unwrap_or(DEFAULT_HTTP) {
            _ if s.no_http => None,
            "off" => None,
            text => Some(http::parse_listen(text, s.allow_remote_http)?),
        };
        let rate = |r: &Option<String>| r.as_deref().map(torrent::parse_rate).transpose();
        let opts = Options {
            addresses,
            output,
            state_dir,
            poll,
            prune: s.prune,
            allow_rollback: s.allow_rollback,
            peers: s.peers.clone(),
            policy: s.trust.policy(),
            metadata_timeout: Duration::from_secs(s.metadata_timeout.unwrap_or(300).max(1)),
            local: match (s.no_local, s.from.is_empty()) {
                (true, false) => {
                    return Err(Error::usage(
                        "--no-local turns off local copies, --from names a folder of them: drop one",
                    ))
                }
                (true, true) => crate::local::Sources::default(),
                (false, _) => crate::local::Sources::new(&s.from, true),
            },
            swarm: SwarmConfig {
                listen_port: Some(s.listen_port.unwrap_or(DEFAULT_LISTEN_PORT)),
                loopback_only: s.loopback,
                dht: !s.no_dht,
                socks_proxy,
                max_download_bps: rate(&s.max_download_rate)?,
                max_upload_bps: rate(&s.max_upload_rate)?,
                peer_limit: s.max_peers,
                state_dir: None,
                piece_order: s.piece_order.unwrap_or_default(),
                encryption: s.encryption.unwrap_or_default(),
                dht_bootstrap: s.dht_bootstrap.clone(),
                read_only: Vec::new(),
                write_roots: Vec::new(),
            },
            http,
            run_for: s.run_for.filter(|t| *t > 0.0).map(Duration::from_secs_f64),
        };
        Daemon::start(opts).await?.run().await
    }
}

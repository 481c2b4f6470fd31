//! `goat seed <address>...`: follow addresses, fetch their goatfiles'
//! entries and seed them until stopped. See docs/seeding.md.
//!
//! The options are `seed::config::Settings`, one definition for the
//! command line and the config file; this file only turns the merged
//! settings into the daemon's typed options and defaults.

use super::Globals;
use crate::error::{Error, Result};
use crate::options::HttpListen;
use crate::seed::config::{self, Settings};
use crate::seed::{http, Daemon, Options};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

/// Default status address: "GOAT" on a phone keypad.
pub const DEFAULT_HTTP: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4628);
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
            (None, n) => n.map(|n| n.0),
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
        s.swarm.check_chain_proxied(g.chain_proxied())?;
        let mut swarm = s.swarm.config(g.tor_peers()?, Some(DEFAULT_LISTEN_PORT))?;
        swarm.map_port = !s.swarm.no_upnp;
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
        let poll = s.poll.map_or(Duration::from_secs(300), |p| p.0);
        let http = match s.http.unwrap_or(HttpListen::At(DEFAULT_HTTP)) {
            _ if s.no_http => None,
            HttpListen::Off => None,
            HttpListen::At(addr) => Some(http::check_listen(addr, s.allow_remote_http)?),
        };
        let opts = Options {
            addresses,
            output,
            state_dir,
            poll,
            prune: s.prune,
            allow_rollback: s.allow_rollback,
            peers: s.swarm.peers.clone(),
            policy: s.trust.policy(),
            metadata_timeout: s.swarm.metadata_timeout(),
            local: match (s.no_local, s.from.is_empty()) {
                (true, false) => {
                    return Err(Error::usage(
                        "--no-local turns off local copies, --from names a folder of them: drop one",
                    ))
                }
                (true, true) => crate::local::Sources::default(),
                (false, _) => crate::local::Sources::new(&s.from, true),
            },
            swarm,
            http,
            run_for: s.run_for.filter(|t| *t > 0.0).map(Duration::from_secs_f64),
        };
        Daemon::start(opts).await?.run().await
    }
}

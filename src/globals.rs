//! The options every command shares (`goat --esplora … <command>`): the
//! chain's servers and how to reach them, the network, output verbosity;
//! declared once, `global` on the command line, and the chain clients they
//! make.

use crate::address::{self, HolderAddress};
use crate::error::{Error, Result};
use crate::esplora::{self, Esplora};
use bitcoin::Network;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct Globals {
    /// Esplora REST base URL; repeat (or comma-separate) to fail over in order.
    /// Default: the public blockstream.info, mempool.space and mempool.emzy.de APIs.
    #[arg(long = "esplora", env = "GOAT_ESPLORA", value_delimiter = ',', global = true, value_name = "URL")]
    pub esplora: Vec<String>,
    /// Electrum server (tcp://HOST:PORT or ssl://HOST:PORT), e.g. your own
    /// node's electrs or Fulcrum; repeatable, and mixable with --esplora.
    #[arg(long = "electrum", env = "GOAT_ELECTRUM", value_delimiter = ',', global = true, value_name = "URL")]
    pub electrum: Vec<String>,
    /// bitcoin, testnet, testnet4, signet or regtest. Default: inferred from the address.
    #[arg(long, global = true)]
    pub network: Option<String>,
    /// Seconds to wait for one server answer.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
    /// Attempts per server before failing over to the next.
    #[arg(long, global = true, default_value_t = 3, value_name = "N")]
    pub retries: u32,
    /// Proxy for every Esplora request: socks5h://HOST:PORT (names resolved
    /// by the proxy: Tor is socks5h://127.0.0.1:9050), socks5://, or
    /// http://HOST:PORT (HTTP CONNECT).
    #[arg(long, global = true, value_name = "URL")]
    pub esplora_proxy: Option<String>,
    /// Also trust the CA certificates in FILE (PEM) for HTTPS Esplora
    /// servers, e.g. your own node's. The system's roots and SSL_CERT_FILE
    /// are trusted too.
    #[arg(long, global = true, value_name = "FILE")]
    pub esplora_ca: Option<std::path::PathBuf>,
    /// Send everything through Tor's SOCKS port (default 127.0.0.1:9050):
    /// Esplora requests and peer connections. DHT, listening, trackers and
    /// local discovery are off. goat refuses to start if the port does not
    /// answer.
    /// (With a port: `--tor=HOST:PORT`, so a bare `--tor` before the
    /// subcommand is not taken for one.)
    #[arg(long, global = true, value_name = "HOST:PORT", num_args = 0..=1, require_equals = true, default_missing_value = "127.0.0.1:9050")]
    pub tor: Option<String>,
    /// When Esplora servers disagree (on an address's history or on a
    /// block), follow this one (one of the --esplora URLs) instead of
    /// refusing to choose.
    #[arg(long, global = true, value_name = "URL")]
    pub trust_server: Option<String>,
    /// Which tokio runtime runs goat (and librqbit inside it): the measured
    /// default (one thread, see docs/benchmarks.md), or one forced, for
    /// benchmarks.
    #[arg(long, global = true, value_enum, default_value = "auto", hide = true)]
    pub runtime: Runtime,
    /// Print only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Explain what goat does (requests, retries, failovers).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    Auto,
    MultiThread,
    CurrentThread,
}

/// `--tor HOST:PORT`, checked: the port must answer (a fetch that quietly
/// went around a dead Tor would defeat the point).
fn tor_port(t: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let addr = t.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
        Error::usage(format!(
            "--tor '{}' is not HOST:PORT (Tor's SOCKS port, e.g. 127.0.0.1:9050)",
            crate::text::line(t)
        ))
    })?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| {
        Error::network(format!(
            "Tor's SOCKS port {addr} does not answer ({e}): start Tor (Tor Browser listens on 9150: --tor=127.0.0.1:9150); nothing was sent"
        ))
    })?;
    Ok(addr)
}

impl Globals {
    pub fn network(&self) -> Result<Option<Network>> {
        self.network.as_deref().map(address::parse_network).transpose()
    }

    pub fn holder(&self, text: &str) -> Result<HolderAddress> {
        address::parse_address(text, self.network()?)
    }

    /// An Esplora client for `network` (default endpoints unless --esplora).
    pub fn esplora(&self, network: Network) -> Result<Esplora> {
        self.esplora_or(network, &[])
    }

    /// Like `esplora`, with `fallback` (e.g. a config file's list) used when
    /// --esplora is not given.
    pub fn esplora_or(&self, network: Network, fallback: &[String]) -> Result<Esplora> {
        let given = if self.esplora.is_empty() { fallback } else { &self.esplora[..] };
        let mut endpoints: Vec<String> = if given.is_empty() && self.electrum.is_empty() {
            address::default_endpoints(network)
        } else {
            given.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        for e in &self.electrum {
            let e = e.trim();
            if !crate::esplora::electrum::is_electrum(e) {
                return Err(Error::usage(format!(
                    "--electrum '{}' is not tcp://HOST:PORT or ssl://HOST:PORT",
                    crate::text::line(e)
                )));
            }
            endpoints.push(e.to_string());
        }
        let trusted = match &self.trust_server {
            None => None,
            Some(t) => {
                let t = t.trim().trim_end_matches('/');
                let found = endpoints.iter().position(|e| e.trim_end_matches('/') == t);
                Some(found.ok_or_else(|| {
                    Error::usage(format!(
                        "--trust-server '{}' is not one of the Esplora servers in use ({}): give one of them",
                        crate::text::line(t),
                        endpoints.join(", ")
                    ))
                })?)
            }
        };
        Esplora::new(esplora::Config {
            trusted,
            endpoints,
            timeout: Duration::from_secs(self.timeout.max(1)),
            attempts: self.retries.max(1),
            proxy: self.esplora_proxy()?,
            ca_file: self.esplora_ca.clone(),
            network,
            ..Default::default()
        })
    }

    /// The SOCKS proxy for peers that --tor implies, once Tor's port
    /// answered.
    pub fn tor_peers(&self) -> Result<Option<String>> {
        match &self.tor {
            None => Ok(None),
            Some(t) => {
                let addr = tor_port(t)?;
                Ok(Some(format!("socks5://{addr}")))
            }
        }
    }

    /// Whether chain requests go through a proxy (--esplora-proxy or --tor).
    pub fn chain_proxied(&self) -> bool {
        self.esplora_proxy.is_some() || self.tor.is_some()
    }

    /// The Esplora proxy: --tor's SOCKS port (names resolved by Tor), or
    /// --esplora-proxy. Both at once must agree.
    pub fn esplora_proxy(&self) -> Result<Option<String>> {
        let Some(t) = &self.tor else { return Ok(self.esplora_proxy.clone()) };
        let tor = format!("socks5h://{}", tor_port(t)?);
        match &self.esplora_proxy {
            Some(p) if p.trim_end_matches('/') != tor => Err(Error::usage(format!(
                "--tor sends Esplora requests through {tor}, but --esplora-proxy says {}: give one of them",
                crate::text::line(p)
            ))),
            _ => Ok(Some(tor)),
        }
    }

    pub fn note(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    pub fn report_stats(&self, e: &Esplora) {
        if self.verbose > 0 {
            let s = e.stats();
            eprintln!(
                "goat: {} requests ({} retries, {} failovers), {} bytes{}",
                s.requests,
                s.retries,
                s.failovers,
                s.bytes,
                if s.electrum_round_trips > 0 {
                    format!(", {} Electrum round trips", s.electrum_round_trips)
                } else {
                    String::new()
                }
            );
        }
    }
}

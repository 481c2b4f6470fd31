//! `goat devchain` (hidden): serve a local chain with a published goatfile,
//! for trying goat without the internet. Bounded by `--for`.

use super::Globals;
use crate::devchain::{server, Chain, Inscribe};
use crate::error::{Error, Result};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct Devchain {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Stop by itself after this many seconds.
    #[arg(long = "for", default_value_t = 600)]
    pub seconds: u64,
    /// YAML goatfile to publish (default: a sample).
    #[arg(long)]
    pub goatfile: Option<std::path::PathBuf>,
    /// Also pay the holder this many times (a long history, for benchmarks).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// Publish the goatfile after that history instead of before it.
    #[arg(long)]
    pub goatfile_last: bool,
    /// Mine the history's payments this many to a block (1: each in a
    /// block of its own, as a real address's history mostly is).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub per_block: usize,
    /// Give this (regtest) address 1 000 000 sats, e.g. to try goat publish.
    #[arg(long, value_name = "ADDRESS")]
    pub fund: Vec<String>,
    /// Mine the mempool into a block every SECS seconds (default: only on
    /// POST /devchain/mine).
    #[arg(long, value_name = "SECS")]
    pub mine_every: Option<u64>,
}

impl Devchain {
    pub async fn run(&self, _g: &Globals) -> Result<()> {
        // Loopback, or the range reserved for network benchmarks
        // (198.18.0.0/15, RFC 2544), which the swarm test bed
        // (benches/swarm/) uses inside network namespaces it creates.
        let bench_range = self
            .listen
            .parse::<std::net::SocketAddr>()
            .ok()
            .and_then(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => Some(v4.octets()[0] == 198 && (v4.octets()[1] & 0xfe) == 18),
                _ => None,
            })
            .unwrap_or(false);
        if !self.listen.starts_with("127.")
            && !self.listen.starts_with("[::1]")
            && !self.listen.starts_with("localhost")
            && !bench_range
        {
            return Err(Error::usage(
                "devchain listens on loopback (or the benchmark range 198.18.0.0/15) only: use --listen 127.0.0.1:PORT",
            ));
        }
        let body = match &self.goatfile {
            Some(p) => std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?,
            None => include_bytes!("../../sample-goatfiles/loose-early-form.yaml").to_vec(),
        };
        let mut chain = Chain::new();
        let holder = chain.wallet();
        chain.fund(&holder.script_pubkey(), 1_000_000);
        chain.mine();
        let payer = chain.wallet();
        let history = |chain: &mut Chain| {
            if self.history > 0 {
                chain.pay_many(&payer, &holder.script_pubkey(), 5_000, self.history, self.per_block.max(1));
                chain.mine();
            }
        };
        if self.goatfile_last {
            history(&mut chain);
        }
        let ins = chain.inscribe(Inscribe {
            funder: &holder,
            inputs: vec![vec![holder.signed_goatfile(&body, 1, chain.height())]],
            to: holder.script_pubkey(),
            reveal_input_from: Some(&holder),
        });
        chain.mine();
        if !self.goatfile_last {
            history(&mut chain);
        }
        for a in &self.fund {
            let addr = crate::address::parse_address(a, Some(bitcoin::Network::Regtest))?;
            chain.fund(&addr.address.script_pubkey(), 1_000_000);
        }
        if !self.fund.is_empty() {
            chain.mine();
        }
        let address = holder.address.to_string();
        let lifetime = Duration::from_secs(self.seconds);
        let listen = self.listen.clone();
        let handle = tokio::task::spawn_blocking(move || server::Handle::start_on(&listen, chain, lifetime))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::io("starting the devchain server", e))?;
        println!("esplora {}", handle.url);
        println!("electrum {}", handle.electrum);
        println!("address {address}");
        println!("goatfile {}", ins.id(0));
        let chain = handle.state.chain.clone();
        let every = self.mine_every.map(|s| Duration::from_secs(s.max(1)));
        let miner = async move {
            match every {
                Some(d) => loop {
                    tokio::time::sleep(d).await;
                    let mut c = chain.write().unwrap_or_else(|p| p.into_inner());
                    if !c.mempool.is_empty() {
                        c.mine();
                    }
                },
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(lifetime) => {}
            _ = miner => {}
        }
        drop(handle);
        Ok(())
    }
}

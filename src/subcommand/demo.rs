//! `goat demo`: the whole flow on this machine, no internet. A publisher
//! makes a small model and seeds it over BitTorrent on 127.0.0.1; a local
//! chain of genuine signed transactions holds the goatfile the publisher
//! inscribed, behind an Esplora-compatible API; then goat fetches the
//! model from the address alone, with normal progress output, verifies it,
//! and everything is stopped and removed.

use super::fetch::Fetch;
use super::verify::Verify;
use super::{Globals, TrustArgs};
use crate::devchain::{server, Chain, Envelope, Inscribe};
use crate::error::{Error, Result};
use crate::torrent::{Swarm, SwarmConfig};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct Demo {
    /// Keep the fetched model in DIR (default: everything is removed).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Size of the demo model in MiB.
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub size: u64,
}

/// Deterministic pseudo-random bytes (xorshift): incompressible like real
/// weights, and the same on every run.
fn write_weights(path: &Path, len: u64) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::create(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = std::io::BufWriter::new(f);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        w.write_all(&buf[..n]).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        left -= n as u64;
    }
    w.flush().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

impl Demo {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        if !(1..=4096).contains(&self.size) {
            return Err(Error::usage("--size is in MiB, from 1 to 4096"));
        }
        let work = std::env::temp_dir().join(format!("goat-demo-{}", std::process::id()));
        let result = self.flow(g, &work).await;
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    async fn flow(&self, g: &Globals, work: &Path) -> Result<()> {
        let say = |s: String| g.note(s);
        // 1. The publisher's model, seeded on loopback.
        let model = work.join("publisher").join("tiny-llama");
        std::fs::create_dir_all(&model).map_err(|e| Error::io(format!("creating {}", model.display()), e))?;
        write_weights(&model.join("model.safetensors"), self.size << 20)?;
        let config = br#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 256}"#;
        std::fs::write(model.join("config.json"), config).map_err(|e| Error::io("writing config.json", e))?;
        let cfg = SwarmConfig { loopback_only: true, ..Default::default() };
        let seeder = Swarm::start(cfg, work).await?;
        let (info_hash, _seeding) = seeder.serve_folder(&model, 256 * 1024).await?;
        let port = seeder.listen_port().ok_or_else(|| Error::internal("the demo seeder has no port"))?;
        let sha = crate::store::sha256_file(&model.join("model.safetensors"))
            .map_err(|e| Error::io("hashing the demo model", e))?;
        say(format!("[1/4] publisher: made a {} MiB model and seeds it over BitTorrent on 127.0.0.1:{port}", self.size));

        // 2. The goatfile, inscribed on a local chain; an Esplora API for it.
        let goatfile = format!(
            "goat: 1\nname: tiny-llama\ndescription: goat demo model (random weights)\nentries:\n  - name: tiny-llama\n    magnet: \"magnet:?xt=urn:btih:{info_hash}&dn=tiny-llama&x.pe=127.0.0.1:{port}\"\n    files:\n      - path: model.safetensors\n        size: {}\n        sha256: {sha}\n      - path: config.json\n        size: {}\n",
            self.size << 20,
            config.len()
        );
        let mut chain = Chain::new();
        let holder = chain.wallet();
        chain.fund(&holder.script_pubkey(), 1_000_000);
        chain.mine();
        let ins = chain.inscribe(Inscribe {
            funder: &holder,
            inputs: vec![vec![Envelope::file("text/yaml", None, goatfile.as_bytes())]],
            to: holder.script_pubkey(),
            reveal_input_from: Some(&holder),
        });
        chain.mine();
        let address = holder.address.to_string();
        let handle = tokio::task::spawn_blocking(move || server::Handle::start(chain, Duration::from_secs(3600)))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::io("starting the local Esplora server", e))?;
        say(format!("[2/4] chain: {address} inscribed the goatfile {} (commit/reveal; the reveal also spends a coin of the holder, which endorses it)", ins.id(0)));
        say(format!("      a local Esplora API serves the chain at {}", handle.url));

        // 3. What a user runs: goat fetch <address>.
        let out = match &self.keep {
            Some(d) => d.clone(),
            None => work.join("you").join("tiny-llama"),
        };
        say(format!("[3/4] you: goat --esplora {} fetch {address} -o {}", handle.url, out.display()));
        let globals = Globals { esplora: vec![handle.url.clone()], network: None, ..g.clone() };
        let fetch = Fetch {
            address: Some(address),
            output: Some(out.clone()),
            only: vec![],
            goatfile: None,
            peers: vec![],
            no_dht: true,
            listen_port: None,
            proxy: None,
            max_download_rate: None,
            max_upload_rate: None,
            seed: false,
            trust: TrustArgs::default(),
            metadata_timeout: 60,
            json: false,
            piece_order: Default::default(),
            dht_bootstrap: vec![],
            no_verify: false,
            loopback: true,
            seed_for: None,
        };
        let fetched = fetch.run(&globals).await;

        // 4. Verify offline, then clean up whatever happened.
        let verified = match fetched {
            Ok(()) => {
                say(format!("[4/4] goat verify {}", out.display()));
                Verify { dir: out.clone(), threads: None, json: false }.run(&globals).await
            }
            Err(e) => Err(e),
        };
        seeder.stop().await;
        let _ = tokio::task::spawn_blocking(move || drop(handle)).await;
        verified?;
        match &self.keep {
            Some(d) => say(format!("demo done: the model is in {}; the chain and the seeder are stopped", d.display())),
            None => say("demo done: chain, seeder and files removed (pass --keep DIR to keep the model)".into()),
        }
        Ok(())
    }
}

//! `goat demo`: the whole flow on this machine, no internet. A publisher
//! makes a small model and runs `goat publish` on it against a local chain
//! of genuine signed transactions behind an Esplora-compatible API (torrent,
//! goatfile, commit and reveal, seeding on 127.0.0.1); then goat fetches the
//! model from the address alone, with normal progress output, verifies it,
//! and everything is stopped and removed.

use super::fetch::Fetch;
use super::publish::Publish;
use super::verify::Verify;
use super::Globals;
use crate::devchain::{server, Chain};
use crate::error::{Error, Result};
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

/// A subcommand's options, parsed from `argv` as goat's command line
/// parses them (defaults included), so the demo runs what it prints.
fn command_line<T: clap::Args + clap::FromArgMatches>(name: &'static str, argv: &[String]) -> Result<T> {
    let bad = |e: clap::Error| Error::internal(format!("the demo's goat {name} arguments: {e}"));
    let m = T::augment_args(clap::Command::new(name).no_binary_name(true)).try_get_matches_from(argv).map_err(bad)?;
    T::from_arg_matches(&m).map_err(bad)
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
        // 1. The publisher's model, and a funded holder on a local chain of
        //    genuine transactions behind an Esplora API.
        let model = work.join("publisher").join("tiny-llama");
        std::fs::create_dir_all(&model).map_err(|e| Error::io(format!("creating {}", model.display()), e))?;
        write_weights(&model.join("model.safetensors"), self.size << 20)?;
        let config = br#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 256}"#;
        std::fs::write(model.join("config.json"), config).map_err(|e| Error::io("writing config.json", e))?;
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let key = crate::publish::sign::one_time_key(&secp)?;
        let holder = bitcoin::Address::p2tr(&secp, key.x_only_public_key().0, None, bitcoin::Network::Regtest);
        let key_file = work.join("publisher").join("holder.wif");
        // Only its owner may read it (goat publish refuses others).
        let wif = bitcoin::PrivateKey::new(key.secret_key(), bitcoin::NetworkKind::Test).to_wif();
        crate::atomic::write_atomic_mode(&key_file, wif.as_bytes(), 0o600)?;
        let mut chain = Chain::new();
        chain.fund(&holder.script_pubkey(), 1_000_000);
        chain.mine();
        let address = holder.to_string();
        let handle = tokio::task::spawn_blocking(move || server::Handle::start(chain, Duration::from_secs(3600)))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::io("starting the local Esplora server", e))?;
        say(format!(
            "[1/4] publisher: made a {} MiB model; {address} holds 1 000 000 sats on a local chain served at {}",
            self.size, handle.url
        ));

        // 2. goat publish: torrent, goatfile, commit + reveal signed by the
        //    holder, broadcast, seeded on 127.0.0.1.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::io("finding a free port", e))?
            .port();
        say(format!("[2/4] publisher: goat publish {} --key-file holder.wif --seed", model.display()));
        let globals = Globals { esplora: vec![handle.url.clone()], network: Some("regtest".into()), ..g.clone() };
        let publish: Publish = command_line(
            "publish",
            &[
                model.display().to_string(),
                "--name=tiny-llama".into(),
                "--description=goat demo model (random weights)".into(),
                format!("--peer-hint=127.0.0.1:{port}"),
                format!("--key-file={}", key_file.display()),
                "--yes".into(),
                "--seed".into(),
                format!("--listen-port={port}"),
                "--no-dht".into(),
                format!("--state-dir={}", work.join("publisher").join("state").display()),
                "--loopback".into(),
            ],
        )?;
        let published = match publish.request.publish(&globals, &|_| {}).await? {
            Some(b) => b,
            None => return Err(Error::internal("the demo publish wrote PSBTs")),
        };
        let seeder = published.swarm;
        handle.state.chain.write().map_err(|_| Error::internal("chain lock"))?.mine();
        say(format!(
            "      inscribed the goatfile {}, signed by the holder's address (BIP 322, in its metadata); mined; seeding on 127.0.0.1:{port}",
            published.inscription
        ));

        // 3. What a user runs: goat fetch <address>.
        let out = match &self.keep {
            Some(d) => d.clone(),
            None => work.join("you").join("tiny-llama"),
        };
        say(format!("[3/4] you: goat --esplora {} fetch {address} -o {}", handle.url, out.display()));
        let fetch: Fetch = command_line(
            "fetch",
            &[
                address,
                format!("--output={}", out.display()),
                "--no-dht".into(),
                "--metadata-timeout=60".into(),
                // The demo shows a download from the swarm, whatever caches
                // this machine has.
                "--no-local".into(),
                "--loopback".into(),
            ],
        )?;
        let fetched = fetch.run(&globals).await;

        // 4. Verify offline, then clean up whatever happened.
        let verified = match fetched {
            Ok(()) => {
                say(format!("[4/4] goat verify {}", out.display()));
                Verify { dir: out.clone(), threads: None, json: false }.run(&globals).await
            }
            Err(e) => Err(e),
        };
        if let Some(s) = seeder {
            s.finish().await;
        }
        let _ = tokio::task::spawn_blocking(move || drop(handle)).await;
        verified?;
        match &self.keep {
            Some(d) => say(format!("demo done: the model is in {}; the chain and the seeder are stopped", d.display())),
            None => say("demo done: chain, seeder and files removed (pass --keep DIR to keep the model)".into()),
        }
        Ok(())
    }
}

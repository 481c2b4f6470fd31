//! The publish workflow (`goat publish <DIR>... --address <HOLDER>`): from
//! model folders to a goatfile the holder signed, on chain, with the files
//! seeded. [`Request`] holds the options, declared once for the command
//! line. What it has to say on stdout (the message to sign, PSBT paths,
//! the transactions and the inscription) it hands, as it happens, to the
//! caller as [`Said`]: goat's machine-readable result, which the
//! subcommand prints.
//!
//! 1. Each DIR becomes one entry: a deterministic v1 torrent
//!    (`torrent::create`) and the sha256 of every file, from one read.
//! 2. The goatfile (schema v1) is shown with the total cost and confirmed.
//! 3. The holder's address signs the goatfile (`publish::endorse`): with
//!    `--key-file`, or with any wallet (`--signature`, after a first run
//!    that prints the message and its BIP 322 PSBT). The signature goes
//!    into the inscription's metadata.
//! 4. Commit and reveal are built (`publish::plan`) and signed with
//!    `--key-file`, or written as PSBTs (`--psbt`) for any wallet and
//!    finished later with `--finalize`.
//! 5. Broadcast (commit first), then seeded: `--seed` keeps this process
//!    seeding; otherwise the torrents go into `goat seed`'s state.

use crate::address::HolderAddress;
use crate::error::{Error, Kind, Result};
use crate::esplora::witness::Route;
use crate::esplora::Esplora;
use crate::globals::Globals;
use crate::goatfile::{Entry, FileSpec, Goatfile, Magnet, MetaSource, Source};
use crate::options::SwarmArgs;
use crate::publish::{self, psbt, sign, Coin, Plan};
use crate::store::published::{self as handoff, Published};
use crate::torrent::create::{CreateOptions, Made};
use crate::torrent::Swarm;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{OutPoint, Transaction};
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod made;
mod seeding;
mod send;
use send::estimate;

/// A torrent `--hf` made: the entry's name (the repository's), the
/// repository at its commit, and the hub's web seed.
struct HfMade {
    entry: String,
    repo: crate::goatfile::HfRepo,
    web_seed: String,
}

/// The content type of an inscribed `.torrent` (`--onchain-metadata`).
pub const TORRENT_TYPE: &str = "application/x-bittorrent";

/// Confirmation target used from `/fee-estimates` when no --fee-rate.
const FEE_TARGET_BLOCKS: u16 = 6;

/// What to publish, and how.
#[derive(Debug, Args)]
pub struct Request {
    /// Model folders (or single files); each becomes one entry.
    #[arg(value_name = "DIR", required_unless_present_any = ["finalize", "onchain", "sign_existing", "hf"])]
    pub dirs: Vec<PathBuf>,
    /// A model in the local Hugging Face cache, as its own entry
    /// (repeatable): the snapshot's files with the repository's paths, the
    /// hub's `resolve` URLs as web seeds, the repository and commit in the
    /// goatfile. Nothing is uploaded to the hub.
    #[arg(long = "hf", value_name = "ORG/NAME[@REVISION]", conflicts_with = "sign_existing")]
    pub hf: Vec<String>,
    /// A small file to inscribe whole, as its own entry (repeatable). A file
    /// over 390 000 bytes is split into parts, one inscription each, joined
    /// again by goat fetch and checked against its sha256.
    #[arg(long = "onchain", value_name = "FILE", conflicts_with = "psbt")]
    pub onchain: Vec<PathBuf>,
    /// The holder's address (the goatfile is published for it). Optional
    /// with --key-file, whose key gives it.
    #[arg(long, value_name = "ADDRESS")]
    pub address: Option<String>,
    /// The goatfile's name (default: the first entry's).
    #[arg(long)]
    pub name: Option<String>,
    /// The goatfile's description.
    #[arg(long)]
    pub description: Option<String>,
    /// Tracker announce URL written into each torrent and magnet (repeatable).
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// Web seed (BEP 19 `url-list`, magnet `ws=`) for clients that use them (repeatable).
    #[arg(long = "web-seed", value_name = "URL")]
    pub web_seeds: Vec<String>,
    /// Inscribe each torrent's metadata (its `.torrent`) beside the
    /// goatfile, in the same reveal, and name it in the entry's
    /// `metadata:`: fetchers then need no peer to learn the file list and
    /// piece hashes (with --web-seed, no peer at all). Costs about a
    /// quarter of a vbyte per byte of metadata (20 bytes per piece).
    #[arg(long, conflicts_with = "sign_existing")]
    pub onchain_metadata: bool,
    /// A peer written into each magnet as `x.pe` (repeatable). It is on chain
    /// for good: use a stable seeder's public address, never a private one.
    #[arg(long = "peer-hint", value_name = "HOST:PORT")]
    pub peer_hints: Vec<String>,
    /// Fee rate in sat/vB (default: the server's 6-block estimate).
    #[arg(long, value_name = "SAT/VB")]
    pub fee_rate: Option<f64>,
    /// Refuse to publish when both transactions together pay more than this.
    #[arg(long, default_value_t = 100_000, value_name = "SATS")]
    pub max_fee: u64,
    /// Also spend the holder's unconfirmed coins.
    #[arg(long)]
    pub include_unconfirmed: bool,
    /// Sign with this WIF key file (mode 0600); the holder is its BIP 86
    /// key-path address, tr(KEY).
    #[arg(long, value_name = "FILE", conflicts_with = "psbt")]
    pub key_file: Option<PathBuf>,
    /// Write PSBTs for a wallet to sign (FILE and FILE's .reveal twin)
    /// instead of signing; then run --finalize.
    #[arg(long, value_name = "FILE")]
    pub psbt: Option<PathBuf>,
    /// Broadcast the signed PSBTs written by --psbt (both, in any order).
    #[arg(long, value_name = "SIGNED.psbt", num_args = 1..=2, conflicts_with_all = ["key_file", "psbt"])]
    pub finalize: Vec<PathBuf>,
    /// The goatfile's sequence number; the highest signed one at the
    /// address is the holder's goatfile (default: the clock in Unix
    /// seconds, or one above the highest at the address if that is
    /// higher).
    #[arg(long, value_name = "N")]
    pub sequence: Option<u64>,
    /// The block height the signature given with --signature was made
    /// after (as in the message signed; default: the best block now).
    #[arg(long, value_name = "HEIGHT", requires = "signature")]
    pub after: Option<u32>,
    /// The holder's signature of the goatfile's message, made by any
    /// wallet: BIP 322 (`ord wallet sign`), BIP 137 (Electrum, Sparrow,
    /// `signmessage`), the signed BIP 322 PSBT, or a file holding one. Run
    /// once without it (and without --key-file) to get the message.
    #[arg(long, value_name = "SIG|FILE", requires = "sequence", conflicts_with = "key_file")]
    pub signature: Option<String>,
    /// Sign a goatfile published unsigned (before goat signed goatfiles):
    /// inscribe a small delegate of it that carries the holder's signature.
    #[arg(long, value_name = "INSCRIPTION", conflicts_with_all = ["dirs", "onchain"])]
    pub sign_existing: Option<crate::inscription::InscriptionId>,
    /// Do not ask before broadcasting.
    #[arg(short, long)]
    pub yes: bool,
    /// Keep running as a seeder of the published files (until Ctrl-C).
    #[arg(long)]
    pub seed: bool,
    /// Wait until the goatfile confirms (at most this many seconds).
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Where `goat seed` keeps its state, to hand the torrents to it when
    /// not --seed (default: goat seed's default).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// With --seed: the BitTorrent session's options.
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// With --seed: stop after this many seconds (tests).
    #[arg(long, hide = true, value_name = "SECS")]
    pub seed_for: Option<u64>,
}

/// A file to inscribe whole (`--onchain`).
struct OnChain {
    name: String,
    bytes: Vec<u8>,
    sha256: String,
}

/// What publishing needs after broadcast, kept in the PSBT plan too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Context {
    address: String,
    entries: Vec<Published>,
}

/// What a publish has to say, as it happens (a part broadcast is said
/// before the next is sent, so an interrupted run still told what went
/// out). [`Said::lines`] is how `goat publish` writes it on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// The message for the holder's wallet to sign, and its BIP 322 PSBT
    /// for wallets that sign only PSBTs.
    Message { message: String, psbt: PathBuf },
    /// The PSBTs for the holder's wallet, and the plan `--finalize` needs.
    Psbts { commit: PathBuf, reveal: PathBuf, plan: PathBuf },
    /// One part of an on-chain file, broadcast.
    Part(crate::inscription::InscriptionId),
    /// The goatfile's transactions, broadcast.
    Published { commit: bitcoin::Txid, reveal: bitcoin::Txid, inscription: crate::inscription::InscriptionId },
}

impl Said {
    /// Its lines on stdout: the message as it is, the rest as `key value`.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Said::Message { message, psbt } => vec![message.clone(), format!("message-psbt {}", psbt.display())],
            Said::Psbts { commit, reveal, plan } => vec![
                format!("commit-psbt {}", commit.display()),
                format!("reveal-psbt {}", reveal.display()),
                format!("plan {}", plan.display()),
            ],
            Said::Part(id) => vec![format!("part {id}")],
            Said::Published { commit, reveal, inscription } => {
                vec![format!("commit {commit}"), format!("reveal {reveal}"), format!("inscription {inscription}")]
            }
        }
    }
}

/// A publish that was broadcast: the reveal, and the seeding swarm when
/// --seed (still running).
pub struct Broadcast {
    pub esplora: Esplora,
    pub reveal: bitcoin::Txid,
    pub inscription: crate::inscription::InscriptionId,
    pub swarm: Option<Swarm>,
}

impl Request {
    /// The whole publish, telling `say` what it has to say as it happens.
    pub async fn run(&self, g: &Globals, say: &dyn Fn(Said)) -> Result<()> {
        let done =
            if self.finalize.is_empty() { self.publish(g, say).await? } else { Some(self.finalize(g, say).await?) };
        match done {
            Some(b) => self.after(g, b).await,
            None => Ok(()),
        }
    }

    /// Everything up to the broadcast (and the start of seeding, with
    /// --seed). None when PSBTs were written instead.
    pub async fn publish(&self, g: &Globals, say: &dyn Fn(Said)) -> Result<Option<Broadcast>> {
        self.swarm.check_chain_proxied(g.chain_proxied())?;
        let secp = Secp256k1::new();
        let holder_key = match &self.key_file {
            Some(f) => {
                let network = match &self.address {
                    Some(a) => Some(g.holder(a)?.network),
                    None => g.network()?,
                };
                Some(sign::load_key_file(&secp, f, network)?)
            }
            None => None,
        };
        let holder = match (&self.address, &holder_key) {
            (Some(a), Some(k)) => {
                let h = g.holder(a)?;
                if h.address != k.address {
                    return Err(Error::usage(format!(
                        "the key file's address is {}, not {a}: pass the matching key file or address",
                        k.address
                    )));
                }
                h
            }
            (Some(a), None) => g.holder(a)?,
            (None, Some(k)) => g.holder(&k.address.to_string())?,
            (None, None) => return Err(Error::usage("give the holder with --address (and --psbt), or --key-file")),
        };
        if holder_key.is_none() && self.psbt.is_none() {
            return Err(Error::usage(
                "nothing to sign with: pass --key-file FILE, or --psbt FILE (and later --signature) to sign with your own wallet",
            ));
        }
        if !holder.address.script_pubkey().is_p2tr() && holder_key.is_none() {
            tracing::warn!(target: "goat", "the holder is not a taproot address; the wallet must sign its inputs (PSBT)");
        }

        if !self.onchain.is_empty() && holder_key.is_none() {
            return Err(Error::usage(
                "--onchain needs --key-file for now: each part is its own commit and reveal, and goat does not write PSBTs for chains of them yet",
            ));
        }

        // 1. Torrents, one read of every file; on-chain files read whole.
        let mut made = self.make_torrents().await?;
        let hf = self.make_hf_torrents().await?;
        let hf: std::collections::HashMap<crate::goatfile::InfoHash, HfMade> = hf
            .into_iter()
            .map(|(m, h)| {
                made.push(m.clone());
                (m.info_hash, h)
            })
            .collect();
        let onchain = self.read_onchain()?;

        // 2. Coins and fee.
        let esplora = g.esplora(holder.network)?;
        let existing = match &self.sign_existing {
            Some(id) => Some(self.existing(&esplora, id).await?),
            None => None,
        };
        let mut coins = self.coins(&esplora, &holder).await?;
        let fee_rate = match self.fee_rate {
            Some(r) => r,
            None => estimate(&esplora).await?,
        };
        let spk = holder.address.script_pubkey();
        // Parts first: the goatfile names them by id, and an id is the
        // reveal's txid, fixed before anything is signed (segwit).
        let mut plans: Vec<(Plan, bitcoin::key::Keypair)> = Vec::new();
        let mut extra = Vec::new();
        for f in &onchain {
            let mut ids = Vec::new();
            for chunk in f.bytes.chunks(publish::PART_MAX) {
                let (body, encoding) = publish::encode_body(chunk);
                let key = sign::one_time_key(&secp)?;
                let envelope =
                    crate::inscription::envelope::Envelope::file(publish::content_type_for(&f.name), encoding, &body);
                let req = publish::Request {
                    holder: spk.clone(),
                    coins: coins.clone(),
                    envelopes: std::slice::from_ref(&envelope),
                    fee_rate,
                    reveal_key: key.x_only_public_key().0,
                };
                let p = publish::plan(&secp, &req)?;
                coins = p.next_coins(&coins);
                ids.push(p.inscription_id());
                plans.push((p, key));
            }
            let source = if ids.len() == 1 { Source::Inscription(ids[0]) } else { Source::Parts(ids) };
            let spec =
                FileSpec { path: f.name.clone(), size: Some(f.bytes.len() as u64), sha256: Some(f.sha256.clone()) };
            extra.push(Entry { name: f.name.clone(), source, files: vec![spec], metadata: vec![], hf: None });
        }
        let (yaml, entries) = match &existing {
            Some((_, bytes)) => (String::from_utf8_lossy(bytes).into_owned(), vec![]),
            None => {
                let (goatfile, entries) = self.goatfile(&made, &hf, extra, &holder.address.to_string())?;
                (
                    goatfile
                        .to_yaml()
                        .map_err(|e| Error::usage(format!("cannot write the goatfile: {e}")).caused_by(e))?,
                    entries,
                )
            }
        };
        let goatfile_bytes: &[u8] = match &existing {
            Some((_, bytes)) => bytes,
            None => yaml.as_bytes(),
        };

        // The holder's signature: it goes into the envelope, so it comes
        // before the transactions are built.
        let claim = publish::endorse::claim(&esplora, &holder, self.sequence, self.after).await?;
        let carried = match (&self.signature, &holder_key) {
            (Some(sig), _) => publish::endorse::from_wallet(&claim, sig)?,
            (None, Some(k)) => publish::endorse::sign_with_key(&claim, goatfile_bytes, k, holder.network)?,
            (None, None) => {
                self.print_message(g, say, &claim, goatfile_bytes, &holder)?;
                return Ok(None);
            }
        };
        let metadata = publish::endorse::metadata(&carried, &holder, goatfile_bytes)?;
        let (body, encoding) = publish::encode_body(goatfile_bytes);
        let envelope = match &existing {
            Some((id, _)) => crate::inscription::envelope::Envelope::delegate(id).metadata(&metadata),
            None => crate::inscription::envelope::Envelope::file_with_metadata(
                publish::CONTENT_TYPE,
                encoding,
                &metadata,
                &body,
            ),
        };
        // The torrents' metadata beside the goatfile (i1, i2, …), in the
        // order `goatfile()` named them.
        let mut envelopes = vec![envelope];
        if self.onchain_metadata {
            for m in &made {
                let (body, encoding) = publish::encode_body(&m.bytes);
                envelopes.push(crate::inscription::envelope::Envelope::file(TORRENT_TYPE, encoding, &body));
            }
        }
        let reveal_key = sign::one_time_key(&secp)?;
        let req = publish::Request {
            holder: spk.clone(),
            coins,
            envelopes: &envelopes,
            fee_rate,
            reveal_key: reveal_key.x_only_public_key().0,
        };
        let plan = publish::plan(&secp, &req)?;
        // What the metadata adds: the same reveal without it.
        let metadata_cost = if envelopes.len() > 1 {
            let alone = publish::plan(&secp, &publish::Request { envelopes: &envelopes[..1], ..req.clone() })?;
            Some((made.iter().map(|m| m.bytes.len()).sum::<usize>(), plan.fee().saturating_sub(alone.fee())))
        } else {
            None
        };
        let fees: u64 = plans.iter().map(|(p, _)| p.fee()).sum::<u64>() + plan.fee();
        if fees > self.max_fee {
            return Err(Error::usage(format!(
                "publishing costs {fees} sats in fees at {fee_rate} sat/vB, above --max-fee {}: raise --max-fee or lower --fee-rate",
                self.max_fee
            )));
        }

        // 3. Show and confirm.
        let inscriptions = plans.len() as u64 + 1;
        let total = fees + publish::POSTAGE * inscriptions;
        match &existing {
            Some((id, _)) => g.note(format!(
                "--- goatfile {id}, signed by a delegate inscription ---\n{}---",
                yaml.lines().map(|l| crate::text::line(l) + "\n").collect::<String>()
            )),
            None => g.note(format!(
                "--- goatfile ({} bytes{}) ---\n{yaml}---",
                yaml.len(),
                encoding.map(|e| format!(", {} on chain as {e}", body.len())).unwrap_or_default()
            )),
        }
        g.note(format!(
            "signed by {} (sequence {}, after block {}, {} bytes of metadata)",
            holder.address,
            claim.sequence,
            claim.after,
            metadata.len()
        ));
        let parts = if plans.is_empty() { String::new() } else { format!(" and {} on-chain part(s)", plans.len()) };
        g.note(format!(
            "cost: {fees} sats in fees (goatfile: {} commit + {} reveal{parts}, at {fee_rate} sat/vB) and {} sats left on the inscription output(s), {total} sats in all; from {}",
            plan.commit_fee,
            plan.reveal_fee,
            publish::POSTAGE * inscriptions,
            holder.address
        ));
        if let Some((bytes, sats)) = metadata_cost {
            g.note(format!(
                "torrent metadata on chain: {bytes} bytes in {} inscription(s) beside the goatfile, {sats} sats of the fees above",
                made.len()
            ));
        }
        let context = Context { address: holder.address.to_string(), entries };

        // 4. Sign, or hand over to a wallet.
        let Some(key) = holder_key else {
            self.write_psbts(g, say, &plan, &reveal_key, &context)?;
            return Ok(None);
        };
        self.confirm()?;
        plans.push((plan, reveal_key));
        let mut signed = Vec::new();
        for (p, k) in &plans {
            signed.push(sign::sign_plan(&secp, p, &key.keypair, k)?);
        }
        let last = &plans[plans.len() - 1].0;
        self.broadcast(g, say, esplora, last, &signed, &context).await.map(Some)
    }
}

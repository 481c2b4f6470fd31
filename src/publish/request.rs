//! The publish workflow (`goat publish <DIR>... --address <HOLDER>`): from
//! model folders to a goatfile the holder signed, on chain, with the files
//! seeded. [`Request`] holds the options, declared once for the command
//! line. What it prints on stdout (the message to sign, PSBT paths, the
//! transactions and the inscription) is its machine-readable result.
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

/// A publish that was broadcast: the reveal, and the seeding swarm when
/// --seed (still running).
pub struct Broadcast {
    pub esplora: Esplora,
    pub reveal: bitcoin::Txid,
    pub inscription: crate::inscription::InscriptionId,
    pub swarm: Option<Swarm>,
}

impl Request {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let done = if self.finalize.is_empty() { self.publish(g).await? } else { Some(self.finalize(g).await?) };
        match done {
            Some(b) => self.after(g, b).await,
            None => Ok(()),
        }
    }

    /// Everything up to the broadcast (and the start of seeding, with
    /// --seed). None when PSBTs were written instead.
    pub async fn publish(&self, g: &Globals) -> Result<Option<Broadcast>> {
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
                (goatfile.to_yaml().map_err(|e| Error::usage(format!("cannot write the goatfile: {e}")))?, entries)
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
                self.print_message(g, &claim, goatfile_bytes, &holder)?;
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
            self.write_psbts(g, &plan, &reveal_key, &context)?;
            return Ok(None);
        };
        self.confirm()?;
        plans.push((plan, reveal_key));
        let mut signed = Vec::new();
        for (p, k) in &plans {
            signed.push(sign::sign_plan(&secp, p, &key.keypair, k)?);
        }
        let last = &plans[plans.len() - 1].0;
        self.broadcast(g, esplora, last, &signed, &context).await.map(Some)
    }

    /// The goatfile an unsigned inscription serves (`--sign-existing`), its
    /// witnesses proven, and the inscription that holds those bytes (the
    /// new delegate points there: ord follows one level of delegation).
    async fn existing(
        &self,
        esplora: &Esplora,
        id: &crate::inscription::InscriptionId,
    ) -> Result<(crate::inscription::InscriptionId, Vec<u8>)> {
        let (_, served) = crate::scan::lookup(esplora, id).await?;
        let bytes = served.decode(crate::goatfile::MAX_BYTES as u64)?;
        crate::goatfile::parse(&bytes)
            .map_err(|e| Error::usage(format!("{id} is not a goatfile ({}): nothing to sign", e.0)))?;
        Ok((served.delegate.unwrap_or(*id), bytes))
    }

    /// Without a key: the message for the holder's wallet to sign, and its
    /// BIP 322 PSBT for wallets that sign only PSBTs.
    fn print_message(
        &self,
        g: &Globals,
        claim: &crate::trust::signature::Claim,
        goatfile: &[u8],
        holder: &HolderAddress,
    ) -> Result<()> {
        let message = claim.message(&crate::hash::sha256(goatfile));
        let dir =
            self.psbt.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let path = dir.join("goatfile-message.psbt");
        let psbt = publish::endorse::message_psbt(claim, goatfile, holder)?;
        crate::store::write_atomic(&path, &psbt.serialize())?;
        println!("{message}");
        println!("message-psbt {}", path.display());
        g.note(format!(
            "sign the message above with {} (BIP 322: `ord wallet sign --text`, Sparrow, Electrum; or sign {} with a wallet that signs PSBTs), then run the same command again with --sequence {} --after {} --signature SIG|FILE",
            holder.address,
            path.display(),
            claim.sequence,
            claim.after
        ));
        Ok(())
    }

    /// The `--onchain` files, read whole (they are small by nature).
    fn read_onchain(&self) -> Result<Vec<OnChain>> {
        let mut out = Vec::new();
        let mut parts = 0;
        for p in &self.onchain {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| crate::goatfile::check_relative_path(n).is_ok())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{}: the name cannot be a goatfile path; rename it",
                        crate::text::line(&p.to_string_lossy())
                    ))
                })?
                .to_string();
            let bytes = std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
            if bytes.is_empty() {
                return Err(Error::usage(format!("{}: empty, nothing to inscribe", p.display())));
            }
            parts += bytes.len().div_ceil(publish::PART_MAX);
            if parts + 1 > publish::MAX_CHAINED {
                return Err(Error::usage(format!(
                    "--onchain files need {parts} inscriptions of at most {} bytes; one publish chains at most {} (Bitcoin Core relays 25 unconfirmed ancestors): publish the rest as a torrent, or in a second run once this one confirms",
                    publish::PART_MAX,
                    publish::MAX_CHAINED - 1
                )));
            }
            let sha256 = { crate::hash::sha256_hex(&bytes) };
            out.push(OnChain { name, bytes, sha256 });
        }
        Ok(out)
    }

    async fn make_torrents(&self) -> Result<Vec<Made>> {
        if self.dirs.is_empty() && self.onchain.is_empty() && self.sign_existing.is_none() && self.hf.is_empty() {
            return Err(Error::usage("give at least one model folder (or --onchain FILE) to publish"));
        }
        let opts =
            CreateOptions { trackers: self.trackers.clone(), web_seeds: self.web_seeds.clone(), piece_length: None };
        let dirs = self.dirs.clone();
        tokio::task::spawn_blocking(move || {
            dirs.iter().map(|d| crate::torrent::create::create(d, &opts)).collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
    }

    /// `--hf`: each model's torrent, made from goat's folder of links to
    /// the cache snapshot's blobs (`<state-dir>/hf/ORG--NAME/<commit>`,
    /// which `goat seed` seeds), named after the commit so that the hub's
    /// `resolve` URLs are its BEP 19 web seed: `.../ORG/NAME/resolve/` +
    /// `<commit>/<path>`.
    async fn make_hf_torrents(&self) -> Result<Vec<(Made, HfMade)>> {
        if self.hf.is_empty() {
            return Ok(Vec::new());
        }
        let cache = crate::local::hf::hub_cache()
            .ok_or_else(|| Error::usage("--hf: no Hugging Face cache folder (set HF_HUB_CACHE or HOME)"))?;
        let state_dir = match &self.state_dir {
            Some(d) => d.clone(),
            None => crate::store::dirs::default_data_dir()?.join("state"),
        };
        // The hub, or the mirror huggingface_hub is pointed at.
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "https://huggingface.co".into());
        let (specs, trackers, web_seeds) = (self.hf.clone(), self.trackers.clone(), self.web_seeds.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for spec in &specs {
                let (repo, rev) = crate::local::hf::parse_spec(spec)?;
                let snap = crate::local::hf::Snapshot::read(&cache, &repo, &rev)?;
                let folder = state_dir.join("hf").join(repo.replace('/', "--")).join(&snap.commit);
                let root = crate::safefs::make_real_dir(&crate::safefs::anchor(&folder).map_err(|e| Error::io(format!("creating {}", folder.display()), e))?)
                    .map_err(|e| Error::io(format!("creating {}", folder.display()), e))?;
                for f in &snap.files {
                    let rel: PathBuf = f.path.iter().collect();
                    crate::local::place::put_unhashed(&root, &rel, &f.blob, f.size).map_err(|why| {
                        Error::new(Kind::Io, format!("{repo}: {} from the cache: {why}", crate::text::line(&rel.to_string_lossy())))
                    })?;
                }
                // goat's own folder holds the snapshot and nothing else (a
                // file an earlier run left would be published with it).
                let wanted: std::collections::HashSet<PathBuf> = snap.files.iter().map(|f| f.path.iter().collect()).collect();
                crate::local::hf::remove_others(&folder, &wanted)
                    .map_err(|e| Error::io(format!("cleaning {}", crate::text::line(&folder.to_string_lossy())), e))?;
                let base = format!("{}/{repo}/resolve/", endpoint.trim_end_matches('/'));
                let mut seeds = web_seeds.clone();
                seeds.push(base.clone());
                let opts = CreateOptions { trackers: trackers.clone(), web_seeds: seeds, piece_length: None };
                let made = crate::torrent::create::create(&crate::safefs::anchor(&folder).map_err(|e| Error::io(format!("reading {}", folder.display()), e))?, &opts)?;
                // Each blob is named by its hash (an LFS file's sha256, any
                // other file's git blob hash): what goat publishes must be it.
                let made_by_path: std::collections::HashMap<&[String], &crate::torrent::create::MadeFile> =
                    made.files.iter().map(|f| (f.path.as_slice(), f)).collect();
                if made_by_path.len() != snap.files.len() {
                    return Err(Error::internal(format!("{repo}: the torrent does not have the snapshot's files")));
                }
                for f in &snap.files {
                    let name = f.blob.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    let rel: PathBuf = f.path.iter().collect();
                    let Some(mf) = made_by_path.get(f.path.as_slice()) else {
                        return Err(Error::internal(format!("{repo}: the torrent does not have the snapshot's files")));
                    };
                    let got = if name.len() == 64 {
                        mf.sha256.clone()
                    } else {
                        crate::local::hf::git_blob_hash(&folder.join(&rel))
                            .map_err(|e| Error::io(format!("reading {}", crate::text::line(&rel.to_string_lossy())), e))?
                    };
                    if got != name {
                        // Not left for the next run to publish.
                        let _ = crate::safefs::remove_in(&root, &rel);
                        return Err(Error::new(
                            Kind::Corrupt,
                            format!(
                                "{repo}: the cache's blob {} does not hash to its name: refusing to publish it; download the model again",
                                crate::text::line(&f.blob.to_string_lossy())
                            ),
                        ));
                    }
                }
                let entry = repo.rsplit('/').next().unwrap_or(&repo).to_string();
                out.push((made, HfMade { entry, repo: crate::goatfile::HfRepo { repo, revision: snap.commit }, web_seed: base }));
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
    }

    fn magnet_of(&self, m: &Made, hf: Option<&HfMade>) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let name = hf.map(|h| h.entry.as_str()).unwrap_or(&m.name);
        let mut uri = format!("magnet:?xt=urn:btih:{}&dn={}", m.info_hash, enc(name));
        for t in &self.trackers {
            uri.push_str(&format!("&tr={}", enc(t)));
        }
        for w in self.web_seeds.iter().chain(hf.map(|h| &h.web_seed)) {
            uri.push_str(&format!("&ws={}", enc(w)));
        }
        for p in &self.peer_hints {
            uri.push_str(&format!("&x.pe={}", enc(p)));
        }
        uri
    }

    fn goatfile(
        &self,
        made: &[Made],
        hf: &std::collections::HashMap<crate::goatfile::InfoHash, HfMade>,
        onchain: Vec<Entry>,
        address: &str,
    ) -> Result<(Goatfile, Vec<Published>)> {
        let mut entries = Vec::new();
        let mut published = Vec::new();
        for m in made {
            let h = hf.get(&m.info_hash);
            let uri = self.magnet_of(m, h);
            let name = h.map(|h| h.entry.clone()).unwrap_or_else(|| m.name.clone());
            let magnet =
                Magnet::parse(&uri).map_err(|e| Error::usage(format!("{}: cannot make its magnet ({e})", m.name)))?;
            let files = m
                .files
                .iter()
                .map(|f| FileSpec { path: f.path_string(), size: Some(f.size), sha256: Some(f.sha256.clone()) })
                .collect();
            // Inscribed beside the goatfile, in the same order (`publish`).
            let metadata =
                if self.onchain_metadata { vec![MetaSource::Beside(entries.len() as u32 + 1)] } else { vec![] };
            entries.push(Entry {
                name: name.clone(),
                source: Source::Magnet(magnet),
                files,
                metadata,
                hf: h.map(|h| h.repo.clone()),
            });
            let output = if m.source.is_dir() {
                m.source.clone()
            } else {
                m.source.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            let output = std::fs::canonicalize(&output).unwrap_or(output);
            published.push(Published {
                address: address.to_string(),
                name,
                magnet: uri,
                output,
                torrent: data_encoding::BASE64.encode(&m.bytes),
                in_place: false,
            });
        }
        let first = entries.first().or(onchain.first()).map(|e| e.name.clone()).unwrap_or_default();
        entries.extend(onchain);
        let mut names = std::collections::HashSet::new();
        for e in &entries {
            if !names.insert(e.name.to_lowercase()) {
                return Err(Error::usage(format!(
                    "two folders are both named '{}': each entry needs its own name",
                    e.name
                )));
            }
        }
        let g = Goatfile {
            version: 1,
            name: Some(self.name.clone().unwrap_or(first)),
            description: self.description.clone(),
            entries,
        };
        Ok((g, published))
    }

    /// The holder's spendable coins, each re-read from its transaction's
    /// own bytes (proven to hash to the txid), largest first. Outputs that
    /// may hold an inscription are left alone: an inscription's output
    /// (vout 0 of a reveal) and any output of postage size or less.
    async fn coins(&self, esplora: &Esplora, holder: &HolderAddress) -> Result<Vec<Coin>> {
        let spk = holder.address.script_pubkey();
        let listed = esplora.utxos(&holder.address).await?;
        let mut coins = Vec::new();
        let mut skipped = 0;
        for u in listed {
            if !u.status.confirmed && !self.include_unconfirmed {
                skipped += 1;
                continue;
            }
            // Its witnesses decide whether vout 0 holds an inscription, so
            // they must be the block's (a server could blank a reveal's).
            let (tx, _) = esplora.witnessed(&u.txid, Some(u.status.confirmed), Route::Block).await?;
            let Some(out) = tx.output.get(u.vout as usize) else {
                return Err(Error::invalid(format!(
                    "the server lists {}:{} as unspent, but that output does not exist",
                    u.txid, u.vout
                )));
            };
            if out.script_pubkey != spk {
                return Err(Error::invalid(format!(
                    "the server lists {}:{} as the holder's, but it pays another script",
                    u.txid, u.vout
                )));
            }
            let reveals = crate::inscription::envelope::any(&tx);
            if out.value.to_sat() <= publish::POSTAGE || (reveals && u.vout == 0) {
                continue;
            }
            coins.push(Coin { outpoint: OutPoint { txid: u.txid, vout: u.vout }, txout: out.clone() });
        }
        coins.sort_by(|a, b| b.txout.value.cmp(&a.txout.value).then(a.outpoint.cmp(&b.outpoint)));
        if coins.is_empty() {
            let more = if skipped > 0 {
                format!(" ({skipped} unconfirmed: wait for them, or pass --include-unconfirmed)")
            } else {
                String::new()
            };
            return Err(Error::usage(format!(
                "{} has no spendable coins{more}: send some sats to it and run again",
                holder.address
            )));
        }
        Ok(coins)
    }

    fn confirm(&self) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage("not asking for confirmation without a terminal: pass --yes to publish"));
        }
        eprint!("broadcast both transactions? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| Error::io("reading the answer", e))?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            Ok(())
        } else {
            Err(Error::new(Kind::Interrupted, "not published: nothing was broadcast"))
        }
    }

    fn write_psbts(
        &self,
        g: &Globals,
        plan: &Plan,
        reveal_key: &bitcoin::key::Keypair,
        context: &Context,
    ) -> Result<()> {
        let Some(path) = &self.psbt else { return Err(Error::internal("no PSBT path")) };
        let (commit, reveal) = psbt::make(plan)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let ctx = serde_json::to_value(context).map_err(|e| Error::internal(e.to_string()))?;
        let pending = psbt::pending_path(dir, &plan.commit);
        psbt::Pending::new(plan, reveal_key, ctx).save(&pending)?;
        let rpath = psbt::reveal_path(path);
        crate::store::write_atomic(path, &commit.serialize())?;
        crate::store::write_atomic(&rpath, &reveal.serialize())?;
        println!("commit-psbt {}", path.display());
        println!("reveal-psbt {}", rpath.display());
        println!("plan {}", pending.display());
        g.note(format!(
            "sign both PSBTs with the holder's wallet, then run: goat publish --finalize {} {} (the plan file holds the one-time reveal key: keep it until then)",
            path.display(),
            rpath.display()
        ));
        Ok(())
    }

    async fn finalize(&self, g: &Globals) -> Result<Broadcast> {
        // The broadcast asks the chain too, while peers go through --proxy.
        self.swarm.check_chain_proxied(g.chain_proxied())?;
        let secp = Secp256k1::new();
        let signed: Vec<bitcoin::psbt::Psbt> = self.finalize.iter().map(|p| psbt::read(p)).collect::<Result<_>>()?;
        let pending_file = find_pending(&self.finalize, &signed)?;
        let pending = psbt::Pending::load(&pending_file)?;
        let (plan, reveal_key) = pending.plan(&secp)?;
        let context: Context = serde_json::from_value(pending.context.clone())
            .map_err(|e| Error::usage(format!("{} is damaged ({e})", pending_file.display())))?;
        let (commit, reveal) = psbt::finalize(&secp, &plan, &reveal_key, &signed)?;
        let signed = [(commit, reveal)];
        let holder = g.holder(&context.address)?;
        let esplora = g.esplora(holder.network)?;
        g.note(format!("fees: {} sats ({} commit + {} reveal)", plan.fee(), plan.commit_fee, plan.reveal_fee));
        self.confirm()?;
        self.broadcast(g, esplora, &plan, &signed, &context).await
    }

    /// Broadcast each (commit, reveal) in order; `plan` is the goatfile's
    /// (the last).
    async fn broadcast(
        &self,
        g: &Globals,
        esplora: Esplora,
        plan: &Plan,
        pairs: &[(Transaction, Transaction)],
        context: &Context,
    ) -> Result<Broadcast> {
        // Seed first when asked, so the files are reachable the moment the
        // goatfile is.
        let swarm = if self.seed { Some(self.start_seeding(g, context).await?) } else { None };
        let mut sent = Vec::new();
        for (n, (commit, reveal)) in pairs.iter().enumerate() {
            let said = |e: Error, sent: &[bitcoin::Txid]| {
                if sent.is_empty() {
                    e
                } else {
                    let list: Vec<String> = sent.iter().map(|t| t.to_string()).collect();
                    Error::new(
                        e.kind,
                        format!(
                            "{} (already broadcast: {}; they stay valid, publish again once they confirm)",
                            e.message,
                            list.join(", ")
                        ),
                    )
                }
            };
            let ct = esplora.broadcast(commit).await.map_err(|e| said(e, &sent))?;
            sent.push(ct);
            let rt = esplora.broadcast(reveal).await.map_err(|e| said(e, &sent))?;
            sent.push(rt);
            if n + 1 < pairs.len() {
                println!("part {rt}i0");
            }
        }
        // The last pair is the goatfile's, the one `plan` describes.
        let (c, r) = (plan.commit.compute_txid(), plan.reveal.compute_txid());
        for f in self.finalize.iter().filter_map(|p| p.parent()).chain([Path::new(".")]) {
            let _ = std::fs::remove_file(psbt::pending_path(f, &plan.commit));
        }
        println!("commit {c}");
        println!("reveal {r}");
        println!("inscription {}", plan.inscription_id());
        g.note(format!("broadcast; once the reveal confirms, goat resolve {} finds the goatfile", context.address));
        if swarm.is_none() {
            self.hand_to_daemon(g, context)?;
        }
        Ok(Broadcast { esplora, reveal: r, inscription: plan.inscription_id(), swarm })
    }

    /// After the broadcast: wait for the confirmation, keep seeding.
    async fn after(&self, g: &Globals, b: Broadcast) -> Result<()> {
        let (esplora, r) = (&b.esplora, b.reveal);
        if let Some(secs) = self.wait {
            wait_confirmed(g, esplora, &r, Duration::from_secs(secs)).await?;
        }
        if let Some(s) = b.swarm {
            g.note(format!(
                "seeding on port {}; Ctrl-C to stop",
                s.listen_port().map(|p| p.to_string()).unwrap_or_else(|| "-".into())
            ));
            let confirm = async {
                if self.wait.is_none() {
                    let _ = wait_confirmed(g, esplora, &r, Duration::from_secs(86_400 * 7)).await;
                }
                std::future::pending::<()>().await
            };
            let limit = async {
                match self.seed_for {
                    Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = confirm => {}
                _ = limit => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            s.stop().await;
        }
        Ok(())
    }

    async fn start_seeding(&self, g: &Globals, context: &Context) -> Result<Swarm> {
        // The same session fetch and seed start: --tor and --proxy carry
        // the seeder's peer connections too.
        let cfg = self.swarm.config(g.tor_peers()?, None)?;
        let first = context.entries.first().map(|e| e.output.clone()).unwrap_or_default();
        let swarm = Swarm::start(cfg, &first).await?;
        for e in &context.entries {
            let (bytes, magnet) = e.torrent_and_magnet()?;
            let t = swarm.add_published(bytes, &magnet, &self.swarm.peers, &e.output).await?;
            t.wait(Duration::from_millis(200), |_| {}).await.map_err(|err| {
                Error::new(
                    err.kind,
                    format!("{}: the files changed since the torrent was made? ({})", e.name, err.message),
                )
            })?;
            g.note(format!("{}: checked, seeding", e.name));
        }
        Ok(swarm)
    }

    /// Without --seed: record the torrents where `goat seed` picks them up
    /// (at its start, and on every poll of a running daemon).
    fn hand_to_daemon(&self, g: &Globals, context: &Context) -> Result<()> {
        let state_dir = match &self.state_dir {
            Some(d) => d.clone(),
            None => crate::store::dirs::default_data_dir()?.join("state"),
        };
        handoff::add(&state_dir, &context.entries)?;
        g.note(format!(
            "handed {} torrent(s) to goat seed (state in {}): a running or the next goat seed serves them",
            context.entries.len(),
            state_dir.display()
        ));
        Ok(())
    }
}

/// The pending plan for these signed PSBTs: named by the commit's txid,
/// which is the txid of one of them and an input of the other.
fn find_pending(paths: &[PathBuf], signed: &[bitcoin::psbt::Psbt]) -> Result<PathBuf> {
    let mut txids = Vec::new();
    for p in signed {
        txids.push(p.unsigned_tx.compute_txid());
        txids.extend(p.unsigned_tx.input.iter().map(|i| i.previous_output.txid));
    }
    let dirs: Vec<&Path> = paths
        .iter()
        .map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .chain([Path::new(".")])
        .collect();
    for d in &dirs {
        for t in &txids {
            let f = d.join(format!("goat-publish-{}.json", &t.to_string()[..16]));
            if f.exists() {
                return Ok(f);
            }
        }
    }
    Err(Error::usage(
        "no goat-publish-*.json plan for these PSBTs beside them: --finalize needs the plan --psbt wrote (it holds the reveal key)",
    ))
}

/// The server's fee estimate for about an hour.
async fn estimate(esplora: &Esplora) -> Result<f64> {
    let m = esplora.fee_estimates().await?;
    let near = m.iter().filter(|(k, _)| **k <= FEE_TARGET_BLOCKS).max_by_key(|(k, _)| **k).map(|(_, v)| *v);
    let rate = near
        .or_else(|| m.values().copied().reduce(f64::max))
        .ok_or_else(|| Error::invalid("the server gave no fee estimates: pass --fee-rate SAT/VB"))?;
    Ok((rate * 100.0).ceil() / 100.0)
}

async fn wait_confirmed(g: &Globals, esplora: &Esplora, txid: &bitcoin::Txid, limit: Duration) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = esplora.tx_status(txid).await {
            if s.confirmed {
                g.note(format!(
                    "the goatfile confirmed in block {}",
                    s.block_height.map(|h| h.to_string()).unwrap_or_else(|| "?".into())
                ));
                return Ok(());
            }
        }
        if start.elapsed() >= limit {
            return Err(Error::network(format!(
                "the reveal {txid} did not confirm within {limit:?}: it may still; check later with goat resolve"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

//! The fetch workflow (`goat fetch`): resolve the goatfile, write its
//! on-chain entries, download and prove its torrents into one folder, lay
//! out what asked for the Hugging Face cache. [`Request`] holds the
//! options, declared once for the command line; the subcommand prints
//! what it returns.

use crate::error::{Error, Kind, Result};
use crate::esplora::Esplora;
use crate::fetcher::{self, EntryResult};
use crate::globals::Globals;
use crate::goatfile::{self, Entry, Goatfile, Source};
use crate::inscription::InscriptionId;
use crate::options::SwarmArgs;
use crate::progress::Reporter;
use crate::scan;
use crate::scan::find_goatfile;
use crate::store::Layout;
use crate::torrent::{self, Swarm, SwarmConfig};
use crate::trust::TrustArgs;
use bitcoin::Network;
use clap::Args;
use futures::future::join_all;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to fetch, and how.
#[derive(Debug, Args)]
pub struct Request {
    /// The holder's Bitcoin address (optional with --goatfile).
    pub address: Option<String>,
    /// Output folder (default: ./<goatfile name>).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fetch only this entry, or only this file or folder inside an
    /// entry's torrent, as ENTRY/PATH (repeatable). Pieces shared with
    /// files not chosen are fetched whole and their bytes kept in the
    /// entry's part file, not in those files.
    #[arg(long = "only", value_name = "NAME[/PATH]")]
    pub only: Vec<String>,
    /// Use this goatfile (a local file, or an inscription id) instead of
    /// walking the address.
    #[arg(long, value_name = "FILE|INSCRIPTION")]
    pub goatfile: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// Skip the end-of-download re-read of pieces goat did not prove as they
    /// arrived (those already on disk when a download resumes); librqbit's
    /// check of each piece still runs.
    #[arg(long)]
    pub no_verify: bool,
    /// Also look for local copies of the files in this folder (repeatable):
    /// a file whose size and sha256 match is linked or copied in instead of
    /// downloaded (docs/fetching.md, "Local copies").
    #[arg(long = "from", value_name = "DIR", conflicts_with = "no_local")]
    pub from: Vec<PathBuf>,
    /// Do not look for local copies (the Hugging Face cache, --from).
    #[arg(long)]
    pub no_local: bool,
    /// Also lay entries that name a Hugging Face repository into the
    /// Hugging Face cache (hf), where transformers and huggingface_hub find
    /// them offline.
    #[arg(long, value_enum, default_value = "torrent", value_name = "LAYOUT")]
    pub layout: FileLayout,
}

/// Where fetched files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileLayout {
    /// The torrent's paths under the output folder.
    Torrent,
    /// That, and each entry with an `hf:` repository laid into the
    /// Hugging Face hub cache too (blobs linked, not copied, where the
    /// filesystem allows).
    Hf,
}

/// Where the goatfile came from (the folder's `.goat/source.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub address: Option<String>,
    pub inscription: Option<String>,
    pub block_height: Option<u32>,
    pub file: Option<String>,
}

/// What a fetch did: where, from which goatfile, each entry's result, and
/// the session that fetched the torrents (still seeding, until
/// [`Swarm::finish`]).
pub struct Fetched {
    pub root: PathBuf,
    pub origin: Origin,
    pub results: Vec<EntryResult>,
    pub swarm: Option<Swarm>,
}

impl Request {
    fn network(&self, g: &Globals) -> Result<Network> {
        if let Some(a) = &self.address {
            return Ok(g.holder(a)?.network);
        }
        Ok(g.network()?.unwrap_or(Network::Bitcoin))
    }

    fn esplora(&self, g: &Globals) -> Result<Esplora> {
        self.swarm.check_chain_proxied(g.chain_proxied())?;
        g.esplora(self.network(g)?)
    }

    async fn load_goatfile(&self, g: &Globals, r: &Reporter) -> Result<(Vec<u8>, Goatfile, Origin)> {
        if let Some(gf) = &self.goatfile {
            let path = Path::new(gf);
            if path.exists() {
                let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {gf}"), e))?;
                let parsed = goatfile::parse(&bytes).map_err(|e| Error::invalid(format!("{gf}: {e}")).caused_by(e))?;
                let origin = Origin {
                    address: self.address.clone(),
                    inscription: None,
                    block_height: None,
                    file: Some(gf.clone()),
                };
                return Ok((bytes, parsed, origin));
            }
            let id: InscriptionId = gf.parse().map_err(|_| {
                Error::usage(format!(
                    "--goatfile '{}' is neither an existing file nor an inscription id",
                    crate::text::line(gf)
                ))
            })?;
            let esplora = self.esplora(g)?;
            let (_, served) = scan::lookup(&esplora, &id).await?;
            let bytes = served.decode(goatfile::MAX_BYTES as u64)?;
            let parsed =
                goatfile::parse(&bytes).map_err(|e| Error::invalid(format!("inscription {id}: {e}")).caused_by(e))?;
            r.event(format!("goatfile {id} (given with --goatfile)"));
            let origin = Origin {
                address: self.address.clone(),
                inscription: Some(id.to_string()),
                block_height: None,
                file: None,
            };
            return Ok((bytes, parsed, origin));
        }
        let Some(addr) = &self.address else {
            return Err(Error::usage("give the holder's address, or --goatfile FILE|INSCRIPTION"));
        };
        let holder = g.holder(addr)?;
        let esplora = self.esplora(g)?;
        let policy = self.trust.policy();
        let found = find_goatfile(&esplora, &holder, policy).await?;
        let bytes = found.served.decode(goatfile::MAX_BYTES as u64)?;
        let height = match found.location {
            scan::Location::Confirmed(h) => Some(h),
            scan::Location::Mempool => None,
        };
        r.event(format!(
            "goatfile {} at {} ({}{})",
            found.id,
            height.map(|h| format!("block {h}")).unwrap_or_else(|| "mempool".into()),
            crate::scan::words::endorsement_words(&found),
            crate::scan::words::proof_words(&found)
        ));
        let origin = Origin {
            address: Some(addr.clone()),
            inscription: Some(found.id.to_string()),
            block_height: height,
            file: None,
        };
        Ok((bytes, found.goatfile, origin))
    }

    /// The entries `--only` names (all without it), in the goatfile's
    /// order.
    fn selected<'a>(&self, g: &'a Goatfile) -> Result<Vec<&'a Entry>> {
        if self.only.is_empty() {
            return Ok(g.entries.iter().collect());
        }
        let names: Vec<&str> = g.entries.iter().map(|e| e.name.as_str()).collect();
        let mut wanted = std::collections::HashSet::new();
        for want in &self.only {
            // An entry by its name, or a path inside one: entries never
            // nest, so at most one entry's folder holds the path.
            let found = g.entries.iter().find_map(|e| inside(want, &e.name).map(|path| (e, path)));
            match found {
                Some((e, Some(_))) if !matches!(e.source, Source::Magnet(_)) => {
                    return Err(Error::usage(format!(
                        "--only '{}': entry {} is one file written from the chain: use --only {}",
                        crate::text::line(want),
                        e.name,
                        e.name
                    )))
                }
                Some((e, _)) => {
                    wanted.insert(e.name.as_str());
                }
                None => {
                    return Err(Error::usage(format!(
                        "--only '{}': the goatfile has no such entry (it has: {})",
                        crate::text::line(want),
                        names.join(", ")
                    )))
                }
            }
        }
        Ok(g.entries.iter().filter(|e| wanted.contains(e.name.as_str())).collect())
    }

    /// The paths inside entry `name`'s torrent that `--only` names; empty
    /// when it names the whole entry (or nothing at all).
    fn only_paths(&self, name: &str) -> Vec<String> {
        let mut paths = Vec::new();
        for want in &self.only {
            match inside(want, name) {
                Some(None) => return Vec::new(),
                Some(Some(rest)) => paths.push(rest.to_string()),
                None => {}
            }
        }
        paths
    }

    /// Fetch, prove and lay out; progress goes to `reporter`.
    pub async fn run(&self, g: &Globals, reporter: &mut Reporter) -> Result<Fetched> {
        let (bytes, gf, origin) = self.load_goatfile(g, reporter).await?;
        let entries = self.selected(&gf)?;
        let root = match &self.output {
            Some(o) => o.clone(),
            None => default_folder(&gf, &origin, &bytes)?,
        };
        // The folder as the user named it, links resolved: every folder goat
        // makes below it then has a path with no link in it, and a link
        // planted there later is refused (crate::safefs).
        let root = crate::safefs::anchor(&root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let layout = Layout::new(&root);
        layout.create()?;
        layout.write(&layout.meta().join("goatfile.yaml"), &bytes)?;
        let origin_json = serde_json::to_vec_pretty(&origin).map_err(|e| Error::internal(e.to_string()))?;
        layout.write(&layout.meta().join("source.json"), &origin_json)?;

        let mut results = Vec::new();
        // On-chain entries: written from verified transactions, no torrent.
        let onchain: Vec<&Entry> = entries.iter().copied().filter(|e| e.source.inscriptions().is_some()).collect();
        if !onchain.is_empty() {
            let esplora = self.esplora(g)?;
            for e in onchain {
                let r = fetcher::fetch_inscription(&esplora, &layout, e).await?;
                reporter.event(format!("{}: written from the chain", e.name));
                results.push(r);
            }
        }
        let magnets: Vec<&Entry> = entries.iter().copied().filter(|e| matches!(e.source, Source::Magnet(_))).collect();
        let mut swarm = None;
        if !magnets.is_empty() {
            let cfg = SwarmConfig { write_roots: vec![root.clone()], ..self.swarm.config(g.tor_peers()?, None)? };
            let s = Swarm::start(cfg, &root).await?;
            // Metadata inscribed on chain needs a server to read it from.
            let gid: Option<InscriptionId> = origin.inscription.as_deref().and_then(|i| i.parse().ok());
            let chain =
                if fetcher::metadata::needs_chain(&magnets, gid.is_some()) { Some(self.esplora(g)?) } else { None };
            let work = self.fetch_torrents(&s, &layout, &magnets, chain.as_ref(), gid.as_ref(), reporter);
            let outcome = tokio::select! {
                r = work => r,
                _ = tokio::signal::ctrl_c() => Err(Error::new(Kind::Interrupted, "interrupted: run the same command again to resume (only missing pieces are fetched)")),
            };
            if let Err(e) = outcome {
                s.stop().await;
                return Err(e);
            }
            results.extend(outcome?);
            swarm = Some(s);
        }
        if self.layout == FileLayout::Hf {
            let web = match &swarm {
                Some(s) => s.web().clone(),
                None => {
                    torrent::webseed::WebSeeds::new(self.swarm.config(g.tor_peers()?, None)?.socks_proxy.as_deref())?
                }
            };
            self.lay_out_hf(&layout, &entries, &web, reporter).await?;
        }
        Ok(Fetched { root, origin, results, swarm })
    }

    /// `--layout hf`: each fetched entry that names a Hugging Face
    /// repository, laid into the hub cache (`local::hf::lay_out`).
    async fn lay_out_hf(
        &self,
        layout: &Layout,
        entries: &[&Entry],
        web: &torrent::webseed::WebSeeds,
        r: &Reporter,
    ) -> Result<()> {
        let Some(cache) = crate::local::hf::hub_cache() else {
            return Err(Error::usage("--layout hf: no Hugging Face cache folder (set HF_HUB_CACHE or HOME)"));
        };
        for e in entries {
            let Some(repo) = &e.hf else {
                r.event(format!("{}: names no Hugging Face repository (hf:), left in the torrent layout only", e.name));
                continue;
            };
            if layout.load_manifest(&e.name).is_some_and(|m| m.files.iter().any(|f| f.skipped)) {
                // A snapshot holds a repository's whole file list.
                r.event(format!("{}: fetched in part (--only), so not laid into the Hugging Face cache", e.name));
                continue;
            }
            let dir = layout.entry_dir(&e.name);
            let mut files = Vec::new();
            for f in &e.files {
                let (Some(sha256), Some(size)) = (&f.sha256, f.size) else {
                    return Err(Error::invalid(format!(
                        "{}: --layout hf needs every file's size and sha256 in the goatfile, and '{}' has none",
                        e.name,
                        crate::text::line(&f.path)
                    )));
                };
                files.push(crate::local::hf::LayFile {
                    path: f.path.clone(),
                    sha256: sha256.clone(),
                    size,
                    have: dir.join(&f.path),
                });
            }
            // The repository name is the publisher's claim: the hub must
            // say the same files are that repository at that commit.
            let api = web
                .get_bounded(&crate::local::hf::api_url(repo), "the Hugging Face hub's file list", crate::local::hf::MAX_API_BYTES)
                .await
                .map_err(|err| {
                    Error::new(
                        err.kind,
                        format!(
                            "{}: --layout hf asks the hub whether {} at {} holds these files, and {}; the verified files are in {}",
                            e.name,
                            repo.repo,
                            repo.revision,
                            err.message,
                            dir.display()
                        ),
                    )
                })?;
            let (c, repo2) = (cache.clone(), repo.clone());
            let laid = tokio::task::spawn_blocking(move || {
                crate::local::hf::check_claim(&repo2, &api, &files)?;
                crate::local::hf::lay_out(&c, &repo2, &files)
            })
            .await
            .map_err(|err| Error::internal(err.to_string()))?
            .map_err(|err| err.context(&e.name))?;
            r.event(format!(
                "{}: laid into the Hugging Face cache as {} at {} ({} new blob(s)): {}",
                e.name,
                repo.repo,
                repo.revision,
                laid.blobs,
                laid.snapshot.display()
            ));
        }
        Ok(())
    }

    async fn fetch_torrents(
        &self,
        swarm: &Swarm,
        layout: &Layout,
        entries: &[&Entry],
        chain: Option<&Esplora>,
        goatfile: Option<&InscriptionId>,
        reporter: &mut Reporter,
    ) -> Result<Vec<EntryResult>> {
        let timeout = self.swarm.metadata_timeout();
        let sources = crate::local::Sources::new(&self.from, !self.no_local);
        let sources = &sources;
        // Metadata for all entries in parallel.
        let adds = entries.iter().map(|e| {
            let bar = reporter.metadata_spinner(&e.name);
            async move {
                let Source::Magnet(m) = &e.source else { unreachable!("magnet entries only") };
                let t = match layout.make_entry_dir(&e.name) {
                    Ok(dir) => {
                        let known = fetcher::metadata::find(chain, swarm.web(), e, goatfile, timeout).await;
                        let only = self.only_paths(&e.name);
                        fetcher::add_entry(swarm, e, m, &self.swarm.peers, &dir, timeout, known, sources, &only).await
                    }
                    Err(err) => Err(err),
                };
                (e, bar, t)
            }
        });
        let mut added = Vec::new();
        let mut total = 0;
        for (e, bar, t) in join_all(adds).await {
            let (t, placed) = t.map_err(|err| err.context(&e.name))?;
            for w in placed.words() {
                reporter.event(format!("{}: reused {w}", e.name));
            }
            let m = fetcher::record_torrent(layout, e, &t)?;
            let size: u64 = m.files.iter().filter(|f| !f.skipped).fold(0u64, |a, f| a.saturating_add(f.length));
            total += size;
            reporter.start_transfer(&bar, size);
            added.push((e, bar, t, m, placed));
        }
        reporter.total_bar(total);
        let rep: &Reporter = reporter;
        let started = Instant::now();
        let waits = added.iter().map(|(e, bar, t, _, _)| async move {
            let p = t
                .wait(Duration::from_millis(500), |p| {
                    rep.update(bar, p);
                })
                .await
                .map_err(|err| err.context(&e.name))?;
            fetcher::log_peer_tallies(&e.name, t);
            rep.finish(bar, "downloaded, checking…");
            Ok::<_, Error>(p)
        });
        let ticker = async {
            loop {
                let have: u64 = added.iter().map(|(_, _, t, _, _)| t.progress().have_bytes).sum();
                rep.set_total(have);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        let finished = tokio::select! {
            r = join_all(waits) => r,
            _ = ticker => unreachable!("ticker never ends"),
        };
        let mut out = Vec::new();
        let mut progress = Vec::new();
        for p in finished {
            progress.push(p?);
        }
        // Pieces goat's storage layer could not write, or whose read-back
        // did not match, are fetched again, never reported done; then each
        // entry is proven (`fetcher::Download`, the lifecycle `goat seed`
        // runs too).
        let mut settled = Vec::new();
        for (e, bar, t, m, placed) in added {
            let Source::Magnet(magnet) = &e.source else { unreachable!("magnet entries only") };
            let d = fetcher::Download { swarm, layout, manifest: &m, magnet, peers: &self.swarm.peers };
            if let Some(p) = swarm.proof(&t.info_hash()) {
                tracing::debug!(target: "goat", "{}: {} piece(s) gathered in memory and written whole", e.name, p.gathered.load(std::sync::atomic::Ordering::Relaxed));
            }
            let (t, outcome) = d.settle(t, !self.no_verify, |msg| rep.event(msg)).await;
            outcome?;
            settled.push((e, bar, t, m, placed));
        }
        let added = settled;
        for ((e, bar, _t, m, placed), p) in added.iter().zip(progress) {
            rep.finish(bar, "verified");
            let end = _t.progress();
            out.push(EntryResult {
                name: e.name.clone(),
                kind: "torrent",
                files: m.files.iter().filter(|f| !f.padding && !f.skipped).count(),
                bytes: m.files.iter().filter(|f| !f.skipped).fold(0u64, |a, f| a.saturating_add(f.length)),
                fetched_bytes: p.fetched_bytes,
                web_seed_bytes: _t.web_seed_bytes(),
                encrypted_connections: end.encrypted_connections,
                plaintext_connections: end.plaintext_connections,
                utp_connections: end.utp_connections,
                reused_bytes: placed.bytes(),
                reused_from: placed.words(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Ok(out)
    }
}

/// What an `--only` value `want` says of entry `name`: the whole entry
/// (`Some(None)`), a path inside it (`Some(Some(path))`, from `NAME/PATH`),
/// or nothing (None).
fn inside<'a>(want: &'a str, name: &str) -> Option<Option<&'a str>> {
    if want == name {
        return Some(None);
    }
    want.strip_prefix(name).and_then(|rest| rest.strip_prefix('/')).map(Some)
}

/// The folder a fetch writes to when no `-o` is given: the goatfile's
/// name (else the address). Whoever wrote the goatfile chose that name, so
/// it never picks a hidden folder (a name `.config` fetched from $HOME
/// would write into ~/.config), a path with separators, or a folder that
/// exists and is not goat's download of the same source. Such a name is
/// refused, and the user picks the folder with -o.
fn default_folder(g: &Goatfile, o: &Origin, goatfile: &[u8]) -> Result<PathBuf> {
    let name = g.name.clone().or_else(|| o.address.clone()).unwrap_or_else(|| "goat-download".into());
    let why = if name.starts_with('.') {
        Some("starts with a dot (a hidden folder, like .config)".to_string())
    } else if name.contains(['/', '\\']) {
        Some("is a path, not a folder name".to_string())
    } else if name.chars().count() > 200 {
        Some("is longer than 200 characters".to_string())
    } else {
        goatfile::check_relative_path(&name).err()
    };
    let shown = crate::text::line(&name);
    if let Some(why) = why {
        return Err(Error::usage(format!(
            "the goatfile names its folder '{shown}', which {why}: choose the output folder with -o DIR"
        )));
    }
    let dir = PathBuf::from(&name);
    if std::fs::symlink_metadata(&dir).is_ok() && !ours(&dir, o, goatfile) {
        return Err(Error::usage(format!(
            "the goatfile names its folder '{shown}', which already exists and is not goat's download of {}: choose the output folder with -o DIR (-o {shown} writes there anyway)",
            o.source()
        )));
    }
    Ok(dir)
}

/// `dir` is a real folder (no link) holding goat's download of the same
/// source as `o`: the same address (whose goatfile may have changed since),
/// else the very same goatfile (a file's name says nothing of its content).
fn ours(dir: &std::path::Path, o: &Origin, goatfile: &[u8]) -> bool {
    let is_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let meta = Layout::new(dir).meta();
    let had = std::fs::read(meta.join("source.json")).ok().and_then(|b| serde_json::from_slice::<Origin>(&b).ok());
    is_dir
        && had.is_some_and(|h| match &o.address {
            Some(a) => h.address.as_ref() == Some(a),
            None => h.address.is_none() && std::fs::read(meta.join("goatfile.yaml")).is_ok_and(|b| b == goatfile),
        })
}

impl Origin {
    /// Where the goatfile came from, in words.
    fn source(&self) -> String {
        match (&self.address, &self.inscription, &self.file) {
            (Some(a), _, _) => a.clone(),
            (None, Some(i), _) => format!("inscription {i}"),
            (None, None, Some(f)) => format!("'{}'", crate::text::line(f)),
            _ => "this goatfile".into(),
        }
    }
}

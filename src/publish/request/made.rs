//! What a publish is made of: the torrents of the model folders and of
//! `--hf` snapshots, the `--onchain` files, their magnets and the goatfile
//! that names them.

use super::*;

impl Request {
    /// The `--onchain` files, read whole (they are small by nature).
    pub(super) fn read_onchain(&self) -> Result<Vec<OnChain>> {
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

    pub(super) async fn make_torrents(&self) -> Result<Vec<Made>> {
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
    pub(super) async fn make_hf_torrents(&self) -> Result<Vec<(Made, HfMade)>> {
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
                        why.error(format_args!("{repo}: {} from the cache", crate::text::line(&rel.to_string_lossy())))
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

    pub(super) fn magnet_of(&self, m: &Made, hf: Option<&HfMade>) -> String {
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

    pub(super) fn goatfile(
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
            let magnet = Magnet::parse(&uri)
                .map_err(|e| Error::usage(format!("{}: cannot make its magnet ({e})", m.name)).caused_by(e))?;
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
}

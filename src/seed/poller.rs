//! The pollers: per address, the goatfile resolved again every poll, new
//! entries added (a restored torrent, a saved `.torrent`, or metadata from
//! the chain or peers, local copies first), dropped ones pruned.

use super::*;

/// Follows one address.
pub(super) struct Poller {
    pub(super) holder: HolderAddress,
    pub(super) esplora: Arc<Esplora>,
    pub(super) layout: Layout,
    pub(super) swarm: Arc<Swarm>,
    pub(super) shared: Arc<Shared>,
    pub(super) policy: Policy,
    pub(super) peers: Vec<String>,
    pub(super) metadata_timeout: Duration,
    pub(super) local: crate::local::Sources,
    pub(super) prune: bool,
    pub(super) allow_rollback: bool,
    /// Dropped torrents already reported.
    pub(super) seen_dropped: Mutex<BTreeSet<InfoHash>>,
}

impl Poller {
    pub(super) fn address(&self) -> String {
        self.holder.address.to_string()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut AddressStatus)) {
        let me = self.address();
        self.shared.with(|book| book.addresses.get_mut(&me).map(f));
    }

    pub(super) async fn run(self) {
        let mut failures: u32 = 0;
        let mut current: Option<InscriptionId> = None;
        loop {
            self.update(|s| {
                s.polls += 1;
                s.last_poll = Some(now());
            });
            match self.poll_once(&mut current).await {
                Ok(()) => {
                    if failures > 0 {
                        info!(target: "goat", "{}: polling works again", self.address());
                    }
                    failures = 0;
                    self.update(|s| {
                        s.last_success = Some(now());
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    failures += 1;
                    warn!(target: "goat", "{}: {} (seeding continues)", self.address(), e.message);
                    self.update(|s| {
                        s.poll_errors += 1;
                        s.last_error = Some(e.message.clone());
                    });
                }
            }
            let wait = next_delay(self.shared.poll, failures);
            self.update(|s| s.next_poll = Some(now() + wait.as_secs()));
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) async fn poll_once(&self, current: &mut Option<InscriptionId>) -> Result<()> {
        self.esplora.forget_rejections();
        let found = scan::find_goatfile(&self.esplora, &self.holder, self.policy).await?;
        self.not_backwards(&found).await?;
        let bytes = found.served.decode(goatfile::MAX_BYTES as u64)?;
        let gf = &found.goatfile;
        let height = match found.location {
            scan::Location::Confirmed(h) => Some(h),
            scan::Location::Mempool => None,
        };
        if current.as_ref() != Some(&found.id) {
            self.layout.create()?;
            self.layout.write(&self.layout.meta().join("goatfile.yaml"), &bytes)?;
            let source = serde_json::json!({
                "address": self.address(),
                "inscription": found.id.to_string(),
                "block_height": height,
            });
            self.layout.write(&self.layout.meta().join("source.json"), source.to_string().as_bytes())?;
            info!(
                target: "goat",
                "{}: following goatfile {} ({} entries{})",
                self.address(),
                found.id,
                gf.entries.len(),
                if current.is_some() { ", new" } else { "" }
            );
            *current = Some(found.id);
        }
        self.update(|s| {
            s.goatfile = Some(found.id.to_string());
            s.goatfile_name = gf.name.clone();
            s.block_height = height;
            s.entries = gf.entries.iter().map(|e| e.name.clone()).collect();
        });
        self.apply(gf, &found.id).await
    }

    /// Refuse a goatfile older than the newest one followed (a lower
    /// sequence, `state::Followed::older_than`): one poll answered by a
    /// server that hides the newest, or after a failover to one that is
    /// behind, must not move the daemon back (and, with --prune, stop it
    /// seeding the newer entries). Going back is allowed with
    /// --allow-rollback, or when a reorg is proven: the newest one's
    /// reveal is no longer confirmed by any server (`reorged`). Otherwise
    /// the poll fails, seeding goes on, and the status says why.
    pub(super) async fn not_backwards(&self, found: &scan::Chosen) -> Result<()> {
        let me = self.address();
        let candidate = state::Followed {
            inscription: found.id.to_string(),
            sequence: found.endorsement.as_ref().and_then(|e| e.signed.as_ref()).map(|s| s.sequence),
            height: found.proof.goatfile.as_ref().map(|p| p.height),
            block: found.proof.goatfile.as_ref().map(|p| p.block.to_string()),
        };
        let newest = self.shared.with(|book| book.state.followed.get(&me).cloned());
        if let Some(newest) = newest.filter(|n| candidate.older_than(n)) {
            let what = format!("the servers offer goatfile {candidate}, older than {newest} followed before");
            if self.allow_rollback {
                warn!(target: "goat", "{me}: {what}; going back to it (--allow-rollback)");
            } else if let Some(how) = self.reorged(&newest).await {
                warn!(target: "goat", "{me}: {what}; going back to it: {how}");
            } else {
                let why = format!(
                    "{what}: a server may be hiding the newer one or be behind; still following {} (pass --allow-rollback to go back)",
                    newest.inscription
                );
                self.update(|s| {
                    s.rollback_refused = Some(why.clone());
                    // After a restart, the one still followed.
                    s.goatfile.get_or_insert(newest.inscription.clone());
                    s.sequence = newest.sequence;
                });
                return Err(Error::invalid(why));
            }
        }
        self.update(|s| {
            s.rollback_refused = None;
            s.sequence = candidate.sequence;
        });
        let changed = self.shared.with(|book| book.state.followed.insert(me, candidate.clone()) != Some(candidate));
        if changed {
            self.shared.save_state();
        }
        Ok(())
    }

    /// Whether a reorg took `newest` out of the chain, in words: every
    /// server that answers says its reveal is not confirmed (none silent:
    /// `Esplora::prove`). An unconfirmed one counts as gone only when no
    /// server has it at all.
    pub(super) async fn reorged(&self, newest: &state::Followed) -> Option<String> {
        let id: InscriptionId = newest.inscription.parse().ok()?;
        let Some(block) = &newest.block else {
            return match self.esplora.tx(&id.txid).await {
                Err(e) if e.kind == crate::error::Kind::NotFound => {
                    Some(format!("{} is gone from every server", id.txid))
                }
                _ => None,
            };
        };
        // A reveal proven in another block now is still confirmed: the
        // newer goatfile still exists (only moved), so that is no reason
        // to go back.
        match self.esplora.prove(&id.txid, self.holder.network).await {
            Err(e) if e.kind == crate::error::Kind::NotFound => {
                Some(format!("a reorg took {} out of block {block}: no server proves it confirmed", id.txid))
            }
            _ => None,
        }
    }

    /// Make the session match the goatfile: add what is new, mark (or with
    /// --prune, remove) what was dropped.
    pub(super) async fn apply(&self, gf: &Goatfile, id: &InscriptionId) -> Result<()> {
        let mut first_error = None;
        let mut listed = BTreeSet::new();
        for e in &gf.entries {
            match &e.source {
                Source::Inscription(_) | Source::Parts(_) => {
                    if fetcher::inscription_present(&self.layout, e) {
                        continue;
                    }
                    match fetcher::fetch_inscription(&self.esplora, &self.layout, e).await {
                        Ok(r) => info!(target: "goat", "{}: {} bytes written from the chain", e.name, r.bytes),
                        Err(err) => {
                            first_error.get_or_insert(err);
                        }
                    }
                }
                Source::Magnet(m) => {
                    let key = m.info_hash();
                    listed.insert(key);
                    let start = self.shared.with(|book| match book.torrents.get_mut(&key) {
                        Some(tr) => {
                            tr.in_goatfile = true;
                            tr.magnet.get_or_insert_with(|| m.clone());
                            false
                        }
                        // false when it is already being added
                        None => book.adding.insert(key),
                    });
                    if !start {
                        continue;
                    }
                    // Adding can wait minutes for metadata: in the background.
                    let job = AddJob {
                        entry: e.clone(),
                        key,
                        address: self.address(),
                        layout: self.layout.clone(),
                        swarm: self.swarm.clone(),
                        shared: self.shared.clone(),
                        peers: self.peers.clone(),
                        metadata_timeout: self.metadata_timeout,
                        local: self.local.clone(),
                        esplora: self.esplora.clone(),
                        goatfile: Some(*id),
                    };
                    tokio::spawn(job.run());
                }
            }
        }
        // Entries dropped from the goatfile (this address's only).
        let me = self.address();
        let dropped: Vec<(InfoHash, String)> = self.shared.with(|book| {
            let mut seen = self.seen_dropped.lock().unwrap_or_else(|p| p.into_inner());
            let mut d = Vec::new();
            // A torrent a keeper job is re-adding is left for the next poll.
            for (k, tr) in
                book.torrents.iter_mut().filter(|(k, tr)| tr.address == me && !listed.contains(*k) && !tr.busy)
            {
                // Newly dropped, or restored from a previous run and not
                // in the goatfile any more: say so once.
                let first = seen.insert(*k);
                if tr.in_goatfile || first {
                    d.push((*k, tr.entry.clone()));
                }
                tr.in_goatfile = false;
            }
            d
        });
        for (key, entry) in dropped {
            if self.prune {
                match self.swarm.remove(&key).await {
                    Ok(()) => {
                        info!(target: "goat", "{entry}: dropped from the goatfile; stopped seeding (--prune), files kept");
                        self.shared.with(|book| {
                            book.torrents.remove(&key);
                            book.state.verified.remove(&key);
                        });
                        crate::torrent::durable::remove(&self.shared.state_dir, &key);
                        // A `--from` folder seeded in place is not seeded again at the next start.
                        if let Err(e) = published::remove_in_place(&self.shared.state_dir, &key) {
                            warn!(target: "goat", "{entry}: {}", e.message);
                        }
                    }
                    Err(e) => warn!(target: "goat", "{entry}: {}", e.message),
                }
            } else {
                info!(target: "goat", "{entry}: dropped from the goatfile; still seeding (pass --prune to stop)");
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Adding one magnet entry: re-use what the session restored or goat saved,
/// else exchange metadata with peers like `goat fetch`.
pub(super) struct AddJob {
    pub(super) entry: goatfile::Entry,
    pub(super) key: InfoHash,
    pub(super) address: String,
    pub(super) layout: Layout,
    pub(super) swarm: Arc<Swarm>,
    pub(super) shared: Arc<Shared>,
    pub(super) peers: Vec<String>,
    pub(super) metadata_timeout: Duration,
    pub(super) local: crate::local::Sources,
    /// For metadata inscribed on chain (`fetcher::metadata`).
    pub(super) esplora: Arc<Esplora>,
    /// The goatfile's inscription, which `i<n>` metadata is beside.
    pub(super) goatfile: Option<InscriptionId>,
}

impl AddJob {
    pub(super) async fn run(self) {
        // A panic while adding (inside librqbit, on hostile metadata) is
        // this entry's error: the "adding" mark below is always cleared, so
        // the entry is shown and tried again at the next poll.
        let outcome = crate::torrent::metadata::caught(self.add()).await.and_then(|r| r);
        if let Err(e) = &outcome {
            // Reported through the address status; retried next poll.
            warn!(target: "goat", "{}: {}", self.entry.name, e.message);
        }
        self.shared.with(|book| {
            book.adding.remove(&self.key);
            match outcome {
                Ok(added) => {
                    let magnet = match &self.entry.source {
                        Source::Magnet(m) => Some(m.clone()),
                        _ => None,
                    };
                    let tracked = match added {
                        Added::Fetching(torrent) => Tracked::new(
                            self.address.clone(),
                            self.entry.name.clone(),
                            self.layout.clone(),
                            torrent,
                            Phase::Fetching,
                            magnet,
                        ),
                        Added::InPlace(torrent, folder) => {
                            let mut t = Tracked::new(
                                self.address.clone(),
                                self.entry.name.clone(),
                                Layout::new(folder),
                                torrent,
                                Phase::Seeding,
                                magnet,
                            );
                            t.published = true;
                            t.in_place = true;
                            t
                        }
                    };
                    book.torrents.insert(self.key, tracked);
                }
                Err(e) => {
                    if let Some(s) = book.addresses.get_mut(&self.address) {
                        s.last_error = Some(format!("{}: {}", self.entry.name, e.message));
                    }
                }
            }
        });
    }

    pub(super) async fn add(&self) -> Result<Added> {
        let Source::Magnet(m) = &self.entry.source else {
            return Err(Error::internal("AddJob on an inscription entry"));
        };
        self.layout.create()?;
        let dir = self.layout.make_entry_dir(&self.entry.name)?;
        // goat seed keeps whole entries: a manifest of a download in part
        // (`goat fetch --only` into this folder) is written again.
        let have_manifest = self
            .layout
            .load_manifest(&self.entry.name)
            .is_some_and(|man| man.info_hash.as_ref() == Some(&self.key) && !man.files.iter().any(|f| f.skipped));
        if let Some(t) = self.swarm.find(&self.key, &dir) {
            if !have_manifest {
                fetcher::record_torrent(&self.layout, &self.entry, &t)?;
            }
            info!(target: "goat", "{}: resumed from the state directory", self.entry.name);
            return Ok(Added::Fetching(self.swarm.with_web_seeds(t, m)));
        }
        if have_manifest {
            if let Ok(bytes) = self.layout.read(&self.layout.torrent_file(&self.entry.name)) {
                let t = self.swarm.add_saved(bytes.into(), m, &self.peers, &dir).await?;
                info!(target: "goat", "{}: re-added from saved metadata", self.entry.name);
                return Ok(Added::Fetching(t));
            }
        }
        info!(target: "goat", "{}: new entry, fetching metadata", self.entry.name);
        let known = fetcher::metadata::find(
            Some(&self.esplora),
            self.swarm.web(),
            &self.entry,
            self.goatfile.as_ref(),
            self.metadata_timeout,
        )
        .await;
        let md = fetcher::metadata_for(&self.swarm, &self.entry, m, &self.peers, self.metadata_timeout, known).await?;
        if let Some(t) = self.in_place(&md, m).await? {
            return Ok(t);
        }
        let (t, placed) = fetcher::place_and_add(&self.swarm, &self.entry, md, m, &dir, &self.local).await?;
        for w in placed.words() {
            info!(target: "goat", "{}: reused {w}", self.entry.name);
        }
        if let Err(e) = fetcher::record_torrent(&self.layout, &self.entry, &t) {
            let _ = self.swarm.remove(&self.key).await;
            return Err(e);
        }
        Ok(Added::Fetching(t))
    }

    /// `--from`: a folder that holds the whole entry, verified, is seeded
    /// where it is, read-only, as `goat publish` hands a publisher's folder
    /// over (recorded in `published.json`, so a restart seeds it there too).
    pub(super) async fn in_place(&self, md: &crate::torrent::Metadata, m: &goatfile::Magnet) -> Result<Option<Added>> {
        if self.local.folders.is_empty() {
            return Ok(None);
        }
        let (folders, name, specs, geometry) =
            (self.local.folders.clone(), self.entry.name.clone(), self.entry.files.clone(), fetcher::geometry(md));
        let found = tokio::task::spawn_blocking(move || crate::local::in_place(&folders, &name, &specs, &geometry))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let Some(folder) = found else { return Ok(None) };
        let t = self.swarm.add_published(md.bytes.clone(), m, &self.peers, &folder).await?;
        published::add(
            &self.shared.state_dir,
            &[published::Published {
                address: self.address.clone(),
                name: self.entry.name.clone(),
                magnet: m.uri.clone(),
                output: folder.clone(),
                torrent: data_encoding::BASE64.encode(&md.bytes),
                in_place: true,
            }],
        )?;
        info!(
            target: "goat",
            "{}: seeding in place from {} (verified; goat never writes there)",
            self.entry.name,
            crate::text::line(&folder.to_string_lossy())
        );
        Ok(Some(Added::InPlace(t, folder)))
    }
}

/// What adding an entry did.
pub(super) enum Added {
    /// Downloading into goat's folder (local copies put there first).
    Fetching(Torrent),
    /// Seeded read-only from the user's own folder (`--from`).
    InPlace(Torrent, PathBuf),
}

/// The poll interval with ±10% jitter (so many daemons do not hit Esplora
/// in step); after failures it doubles, up to 4x, so a down server is not
/// hammered.
pub(super) fn next_delay(poll: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(2);
    let base = poll.saturating_mul(if failures == 0 { 1 } else { factor });
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let jitter = (nanos % 2001) as f64 / 10_000.0 - 0.1; // -0.1 ..= +0.1
    base.mul_f64(1.0 + jitter)
}

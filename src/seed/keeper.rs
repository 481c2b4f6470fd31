//! The keeper: every half second, each torrent's next step (a restart
//! after an error, a refetch of refused pieces, the settling of a finished
//! download, a durable record), run as a job off the book's lock; and the
//! torrents `goat publish` handed over, seeded where they are.

use super::*;

/// What the keeper shares with the tasks it starts.
pub(super) struct Keep {
    pub(super) shared: Arc<Shared>,
    pub(super) swarm: Arc<Swarm>,
    pub(super) peers: Vec<String>,
}

/// One thing the keeper found to do for a torrent.
pub(super) enum Job {
    /// librqbit stopped it with an error and its retry is due.
    Retry,
    /// goat's storage refused pieces: fetch them again.
    Refetch,
    /// librqbit finished it: prove it (once), then seed.
    Settle { known: bool },
    /// Bring goat's durable record up to librqbit's bitfield.
    Durable,
    /// A `--from` folder seeded in place no longer holds the entry: stop
    /// seeding it from there (the next poll downloads it into goat's
    /// folder, reusing what it can).
    Unseat(String),
}

/// What [`record_durable`] did.
pub(super) enum Recorded {
    Yes,
    /// librqbit is checking it, or it stopped: nothing to record yet.
    NotRunning,
    Failed,
}

/// Bring goat's durable record of `torrent` up to librqbit's bitfield
/// (`torrent::durable::update`: the files first synced), less the pieces
/// goat has not seen reach the files.
pub(super) async fn record_durable(
    swarm: &Swarm,
    state_dir: &std::path::Path,
    hash: &InfoHash,
    torrent: &Torrent,
    entry: &str,
) -> Recorded {
    let (Some(haves), Ok(l)) = (swarm.settled_haves(hash), torrent.durable_layout()) else {
        return Recorded::NotRunning;
    };
    let (dir, h) = (state_dir.to_path_buf(), *hash);
    let done = tokio::task::spawn_blocking(move || crate::torrent::durable::update(&dir, &h, &l, &haves))
        .await
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| r);
    match done {
        Ok(_) => Recorded::Yes,
        Err(e) => {
            warn!(target: "goat", "{entry}: cannot record what is on disk: {}", e.message);
            Recorded::Failed
        }
    }
}

/// At a clean stop: every torrent's durable record brought up to date, so
/// the next start trusts everything this run put on disk.
pub(super) async fn record_all_durable(swarm: &Swarm, shared: &Shared) {
    let all: Vec<(InfoHash, Torrent, String)> =
        shared.with(|b| b.torrents.iter().map(|(h, tr)| (*h, tr.torrent.clone(), tr.entry.clone())).collect());
    for (hash, t, entry) in all {
        record_durable(swarm, &shared.state_dir, &hash, &t, &entry).await;
    }
}

/// The wait before restart number `n` (0-based) of an errored torrent:
/// 10 s, doubling, at most 15 minutes.
pub(super) fn retry_delay(n: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1 << n.min(7)).min(900))
}

/// librqbit brings goat's durable record up to date at least this often
/// while a torrent downloads, or after this much progress.
pub(super) const DURABLE_EVERY: Duration = Duration::from_secs(5);

pub(super) const DURABLE_BYTES: u64 = 64 << 20;

/// Keeps every torrent honest, twice a second: restarts the ones librqbit
/// stopped with an error (backing off), has pieces goat refused fetched
/// again, proves each finished download once (`fetcher::Download`, the
/// lifecycle `goat fetch` runs) and brings goat's durable record up to
/// date (`torrent::durable`). Slow work runs in a task per torrent.
pub(super) async fn keeper(keep: Arc<Keep>) {
    loop {
        let now_i = Instant::now();
        let jobs: Vec<(InfoHash, Job)> = keep.shared.with(|book| {
            let mut jobs = Vec::new();
            for (hash, tr) in book.torrents.iter_mut() {
                if tr.busy {
                    continue;
                }
                let p = tr.torrent.progress();
                if let Some(err) = &p.error {
                    if tr.in_place {
                        tr.busy = true;
                        jobs.push((*hash, Job::Unseat(crate::text::line(err))));
                        continue;
                    }
                    if tr.published {
                        // Retried by re-adding it, which would download
                        // into the publisher's own folder: shown instead.
                        tr.fail_for_good(format!("{}: fix the cause and restart goat seed", crate::text::line(err)));
                        continue;
                    }
                    match tr.next_retry {
                        None => {
                            let msg = crate::text::line(err);
                            let wait = tr.fail(msg.clone());
                            warn!(target: "goat", "{}: stopped by an error ({msg}); restarting it in {}s", tr.entry, wait.as_secs());
                        }
                        Some(at) if at <= now_i => {
                            tr.busy = true;
                            jobs.push((*hash, Job::Retry));
                        }
                        Some(_) => {}
                    }
                    continue;
                }
                if let (Phase::Failed(_), Some(at)) = (&tr.phase, tr.next_retry) {
                    // A proof that failed: tried again from the start.
                    if at <= now_i {
                        tr.retries += 1;
                        tr.next_retry = None;
                        tr.phase = Phase::Fetching;
                    }
                    continue;
                }
                if keep.swarm.proof(hash).is_some_and(|pr| pr.has_failed()) {
                    if tr.in_place {
                        tr.busy = true;
                        jobs.push((*hash, Job::Unseat("pieces there no longer match the torrent".into())));
                        continue;
                    }
                    if tr.published {
                        // The publisher's own files changed under the
                        // torrent: goat refuses those pieces and never
                        // writes into that folder.
                        tr.fail_for_good(format!(
                            "the published files in {} no longer match the torrent; the pieces that differ are not served: put the original files back and restart goat seed, or publish again",
                            crate::text::line(&tr.layout.root.to_string_lossy())
                        ));
                        continue;
                    }
                    if tr.next_refetch.is_some_and(|at| at > now_i) {
                        continue;
                    }
                    tr.busy = true;
                    tr.phase = Phase::Fetching;
                    jobs.push((*hash, Job::Refetch));
                    continue;
                }
                if tr.phase == Phase::Fetching && p.finished {
                    tr.busy = true;
                    tr.phase = Phase::Verifying;
                    jobs.push((*hash, Job::Settle { known: book.state.verified.contains_key(hash) }));
                    continue;
                }
                let waited = tr.durable_at.elapsed() >= tr.durable_wait;
                let due = waited
                    && match tr.durable_have {
                        None => true,
                        Some(h) if h == p.have_bytes => false,
                        Some(h) => p.finished || p.have_bytes.abs_diff(h) >= DURABLE_BYTES || tr.durable_at.elapsed() >= DURABLE_EVERY,
                    };
                if due {
                    tr.busy = true;
                    jobs.push((*hash, Job::Durable));
                }
            }
            jobs
        });
        for (hash, job) in jobs {
            tokio::spawn(keep.clone().run(hash, job));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Keep {
    /// The tracked torrent's handle, folder, entry and magnet (a bare one
    /// from the info-hash when no poll has named it yet).
    pub(super) fn parts(&self, hash: &InfoHash) -> Option<(Torrent, Layout, String, goatfile::Magnet)> {
        self.shared.with(|book| {
            let tr = book.torrents.get(hash)?;
            let magnet =
                tr.magnet.clone().or_else(|| goatfile::Magnet::parse(&format!("magnet:?xt=urn:btih:{hash}")).ok())?;
            Some((tr.torrent.clone(), tr.layout.clone(), tr.entry.clone(), magnet))
        })
    }

    pub(super) fn update(&self, hash: &InfoHash, f: impl FnOnce(&mut Tracked)) {
        self.shared.with(|book| {
            if let Some(tr) = book.torrents.get_mut(hash) {
                f(tr);
                tr.busy = false;
            }
        });
    }

    pub(super) async fn run(self: Arc<Self>, hash: InfoHash, job: Job) {
        let Some((torrent, layout, entry, magnet)) = self.parts(&hash) else { return };
        match job {
            Job::Retry => match self.swarm.retry(torrent, &magnet, &self.peers).await {
                Ok(t) => self.update(&hash, |tr| {
                    tr.torrent = t;
                    tr.retries += 1;
                    tr.next_retry = None;
                    tr.phase = Phase::Fetching;
                    tr.durable_have = None;
                    info!(target: "goat", "{entry}: restarted after an error (retry {})", tr.retries);
                }),
                Err(e) => self.failed_job(&hash, &entry, e, true),
            },
            Job::Refetch => match fetcher::download::refetch_failed(&self.swarm, torrent, &magnet, &self.peers).await {
                Ok((t, failed)) => {
                    warn!(target: "goat", "{entry}: {} piece(s) failed goat's check and were not served; fetching them again", failed.len());
                    self.update(&hash, |tr| {
                        tr.torrent = t;
                        tr.refetched += failed.len() as u64;
                        tr.phase = Phase::Fetching;
                        tr.durable_have = None;
                        tr.next_refetch = Some(Instant::now() + retry_delay(tr.refetches));
                        tr.refetches += 1;
                    });
                }
                Err(e) => self.failed_job(&hash, &entry, e, false),
            },
            Job::Settle { known } => match self.settle(&hash, torrent, &layout, &entry, &magnet, known).await {
                (t, Ok(())) => {
                    info!(target: "goat", "{entry}: {}; seeding", if known { "complete" } else { "downloaded and verified" });
                    self.update(&hash, |tr| {
                        tr.torrent = t;
                        tr.phase = Phase::Seeding;
                        tr.streak = 0;
                    });
                }
                (t, Err(e)) => {
                    // The handle a refetch round re-added, not the one it
                    // removed: a later retry works on the live torrent.
                    self.update(&hash, |tr| tr.torrent = t);
                    self.failed_job(&hash, &entry, e, false)
                }
            },
            Job::Unseat(why) => {
                let _ = self.swarm.remove(&hash).await;
                give_up_in_place(&self.shared.state_dir, &hash, &entry, &layout.root, &why);
                self.shared.with(|book| book.torrents.remove(&hash));
            }
            Job::Durable => {
                let have = torrent.progress().have_bytes;
                let done = record_durable(&self.swarm, &self.shared.state_dir, &hash, &torrent, &entry).await;
                self.update(&hash, |tr| {
                    match done {
                        Recorded::Yes => {
                            tr.durable_have = Some(have);
                            tr.durable_wait = Duration::ZERO;
                        }
                        Recorded::NotRunning => tr.durable_wait = Duration::from_secs(1),
                        Recorded::Failed => {
                            tr.durable_wait = (tr.durable_wait * 2).clamp(DURABLE_EVERY, Duration::from_secs(300))
                        }
                    }
                    tr.durable_at = Instant::now();
                });
            }
        }
    }

    /// A retry or refetch failed. When the torrent is gone from the
    /// session (removed, and adding it back failed), it leaves the book
    /// too, so the next poll adds it again from goat's records; otherwise
    /// the error shows and it is tried again later (a refetch keeps its
    /// pieces refused meanwhile).
    pub(super) fn failed_job(&self, hash: &InfoHash, entry: &str, e: Error, counts_as_retry: bool) {
        let dir = self.parts(hash).map(|(t, ..)| t.output);
        let gone = dir.as_ref().is_none_or(|d| self.swarm.find(hash, d).is_none());
        if gone {
            warn!(target: "goat", "{entry}: {}; it left the session and is added again at the next poll", e.message);
            self.shared.with(|book| book.torrents.remove(hash));
            return;
        }
        warn!(target: "goat", "{entry}: {}", e.message);
        self.update(hash, |tr| {
            if counts_as_retry {
                tr.retries += 1;
            }
            tr.fail(e.message);
        });
    }

    /// A finished download: proven once (a torrent goat verified in an
    /// earlier run needs no proof: its pieces are hashed as they are first
    /// served), its files synced, then stamped so restarts re-hash nothing
    /// unless a file changed.
    pub(super) async fn settle(
        &self,
        hash: &InfoHash,
        t: Torrent,
        layout: &Layout,
        entry: &str,
        magnet: &goatfile::Magnet,
        known: bool,
    ) -> (Torrent, Result<()>) {
        let Some(m) = layout.load_manifest(entry) else {
            // Files `goat publish` handed over, seeded where they are: no
            // manifest to prove them by; each piece is still hashed before
            // it is first served.
            info!(target: "goat", "{entry}: no manifest in {}; its pieces are hashed as they are first served", layout.meta().display());
            return (t, Ok(()));
        };
        let t = if known {
            t
        } else {
            fetcher::log_peer_tallies(entry, &t);
            let d = fetcher::Download { swarm: &self.swarm, layout, manifest: &m, magnet, peers: &self.peers };
            match d.settle(t, true, |msg| info!(target: "goat", "{msg}")).await {
                (t, Ok(())) => t,
                failed => return failed,
            }
        };
        let (l2, m2) = (layout.clone(), m.clone());
        let stamp = match tokio::task::spawn_blocking(move || state::sync_and_stamp(&l2, &m2)).await {
            Ok(Ok(stamp)) => stamp,
            Ok(Err(e)) => return (t, Err(e)),
            Err(e) => return (t, Err(Error::internal(e.to_string()))),
        };
        self.shared.with(|book| book.state.verified.insert(*hash, stamp));
        self.shared.save_state();
        record_durable(&self.swarm, &self.shared.state_dir, hash, &t, entry).await;
        (t, Ok(()))
    }
}

/// Seed what `goat publish` handed over (`published`), from where the
/// files are: at start, then every poll interval. librqbit checks the files
/// against the torrent's piece hashes when adding; a torrent whose files
/// changed since it was made is reported, not served.
pub(super) async fn serve_published(
    swarm: Arc<Swarm>,
    shared: Arc<Shared>,
    peers: Vec<String>,
    mut failed: BTreeSet<String>,
) {
    loop {
        tokio::time::sleep(shared.poll).await;
        serve_published_once(&swarm, &shared, &peers, &mut failed).await;
    }
}

/// One pass over `published.json`. Run once before the pollers start, so
/// a publisher's own entries are seeded from their folder rather than
/// fetched again into the output folder.
pub(super) async fn serve_published_once(
    swarm: &Swarm,
    shared: &Shared,
    peers: &[String],
    failed: &mut BTreeSet<String>,
) {
    for p in published::load(&shared.state_dir) {
        let Ok((bytes, magnet)) = p.torrent_and_magnet() else { continue };
        let hash = magnet.info_hash();
        if shared.with(|b| b.torrents.contains_key(&hash) || b.adding.contains(&hash)) || failed.contains(&p.magnet) {
            continue;
        }
        match swarm.add_published(bytes, &magnet, peers, &p.output).await {
            Ok(torrent) => {
                let how = if p.in_place { "seeding in place from" } else { "published here, seeding from" };
                info!(target: "goat", "{}: {how} {}", p.name, crate::text::line(&p.output.to_string_lossy()));
                let layout = Layout::new(&p.output);
                shared.with(|b| {
                    let mut tracked = Tracked::new(
                        p.address.clone(),
                        p.name.clone(),
                        layout,
                        torrent,
                        Phase::Seeding,
                        Some(magnet.clone()),
                    );
                    tracked.published = true;
                    tracked.in_place = p.in_place;
                    b.torrents.insert(hash, tracked)
                });
            }
            // A user's folder that no longer holds the entry: the poll
            // fetches it into goat's folder instead.
            Err(e) if p.in_place => give_up_in_place(&shared.state_dir, &hash, &p.name, &p.output, &e.message),
            Err(e) => {
                warn!(target: "goat", "{}: cannot seed the published files in {}: {}", p.name, p.output.display(), e.message);
                shared.with(|b| b.published_errors.insert(p.magnet.clone(), format!("{}: {}", p.name, e.message)));
                failed.insert(p.magnet.clone());
            }
        }
    }
}

/// A `--from` folder seeded in place that changed or is gone (`why`): said
/// once, and its record forgotten, so the next poll fetches the entry
/// into goat's folder.
pub(super) fn give_up_in_place(
    state_dir: &std::path::Path,
    hash: &InfoHash,
    entry: &str,
    folder: &std::path::Path,
    why: &str,
) {
    warn!(
        target: "goat",
        "{entry}: the files seeded in place from {} changed or are gone ({why}): no longer seeded from there; the next poll fetches the entry into goat's folder",
        crate::text::line(&folder.to_string_lossy())
    );
    if let Err(e) = published::remove(state_dir, hash) {
        warn!(target: "goat", "{entry}: {}", e.message);
    }
}

//! One torrent in the swarm: its hash, layout, progress, files, and
//! waiting for it to complete.

use super::*;

impl Torrent {
    /// The torrent's v1 info-hash.
    pub fn info_hash(&self) -> InfoHash {
        hash_of(self.handle.info_hash())
    }

    /// Where each file's bytes lie, for `durable::update`.
    pub fn durable_layout(&self) -> Result<durable::Layout> {
        let piece_length = self
            .handle
            .with_metadata(|m| m.lengths().default_piece_length() as u64)
            .map_err(|e| Error::internal(format!("torrent metadata unavailable: {e:#}")))?;
        let (_, files) = self.metadata()?;
        Ok(durable::Layout {
            output: self.output.clone(),
            piece_length,
            files: files.into_iter().filter(|f| !f.padding).map(|f| (f.path, f.offset, f.length)).collect(),
        })
    }
}

impl Torrent {
    /// Bytes its web seeds handed to the session in this run.
    pub fn web_seed_bytes(&self) -> u64 {
        self.web.as_ref().map_or(0, |w| w.served.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Where the torrent stands now: librqbit's stats and the gate's counts.
    pub fn progress(&self) -> Progress {
        let s = self.handle.stats();
        let live = s.live.as_ref();
        let enc = self.gate.counts(&self.handle.info_hash().0);
        let peers = live.map(|l| l.snapshot.peer_stats.live).unwrap_or(0);
        Progress {
            have_bytes: s.progress_bytes,
            total_bytes: s.total_bytes,
            fetched_bytes: live.map(|l| l.snapshot.fetched_bytes).unwrap_or(0),
            uploaded_bytes: s.uploaded_bytes,
            download_bps: live.map(|l| l.download_speed.mbps * 1024.0 * 1024.0).unwrap_or(0.0),
            upload_bps: live.map(|l| l.upload_speed.mbps * 1024.0 * 1024.0).unwrap_or(0.0),
            peers,
            web_seed_bytes: self.web_seed_bytes(),
            // The gate counts connections it relayed, librqbit the peers it
            // kept: one it dropped at once may be counted an instant longer.
            encrypted_peers: enc.encrypted.min(peers),
            rc4_peers: enc.rc4.min(peers),
            encrypted_connections: enc.opened_encrypted,
            plaintext_connections: enc.opened_plaintext,
            utp_peers: enc.utp.min(peers),
            utp_connections: enc.opened_utp,
            dht_stored: super::announce::last(&self.announced, &self.handle.info_hash().0).map(|a| a.stored),
            finished: s.finished,
            error: s.error.clone(),
        }
    }

    /// Every peer met in this run (connected or gone), with what it sent,
    /// most bytes first.
    pub fn peer_tallies(&self) -> Vec<PeerTally> {
        // librqbit 9.1 exports the snapshot but not its filter type: the
        // filter is built from its serde form (every peer, not only live).
        let Ok(all) = serde_json::from_value(serde_json::json!({ "state": "all" })) else {
            return Vec::new();
        };
        let Some(live) = self.handle.live() else {
            return Vec::new();
        };
        let mut out: Vec<PeerTally> = live
            .per_peer_stats_snapshot(all)
            .peers
            .into_iter()
            .map(|(addr, p)| PeerTally {
                addr,
                fetched_bytes: p.counters.fetched_bytes,
                pieces: p.counters.downloaded_and_checked_pieces,
                stolen_from_it: p.counters.times_stolen_from_me,
                it_stole: p.counters.times_i_stole,
            })
            .collect();
        out.sort_by(|a, b| b.fetched_bytes.cmp(&a.fetched_bytes).then_with(|| a.addr.cmp(&b.addr)));
        out
    }

    /// The `.torrent` bytes and the file layout.
    pub fn metadata(&self) -> Result<(Bytes, Vec<TorrentFile>)> {
        self.handle
            .with_metadata(|m| {
                let files = m
                    .file_infos
                    .iter()
                    .map(|f| TorrentFile {
                        path: f.relative_filename.clone(),
                        offset: f.offset_in_torrent,
                        length: f.len,
                        padding: f.attrs.padding,
                    })
                    .collect();
                (m.torrent_bytes.clone(), files)
            })
            .map_err(|e| Error::internal(format!("torrent metadata unavailable: {e:#}")))
    }

    /// Wait until finished, calling `tick` about every `every`. Errors end it.
    /// librqbit does not report a full disk: writes fail and the torrent
    /// stalls. So when progress stops, goat checks the free space itself.
    pub async fn wait(&self, every: Duration, mut tick: impl FnMut(&Progress)) -> Result<Progress> {
        let mut last_have = u64::MAX;
        let mut still_since = std::time::Instant::now();
        loop {
            let p = self.progress();
            tick(&p);
            if let Some(e) = &p.error {
                return Err(classify_torrent_error(e));
            }
            if p.finished {
                return Ok(p);
            }
            if p.have_bytes != last_have {
                last_have = p.have_bytes;
                still_since = std::time::Instant::now();
            } else if still_since.elapsed() >= Duration::from_secs(3) {
                let remaining = p.total_bytes.saturating_sub(p.have_bytes);
                if let Some(free) = free_space(&self.output) {
                    if free < remaining.min(1 << 20) {
                        return Err(Error::new(
                            Kind::Io,
                            format!(
                                "disk is full at {} ({} bytes free, {} still to fetch): free space and run the same command again to resume",
                                self.output.display(),
                                free,
                                remaining
                            ),
                        ));
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                // the moment librqbit finishes, not up to `every` later
                _ = self.handle.wait_until_completed() => {}
            }
        }
    }
}

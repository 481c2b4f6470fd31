//! What goat proved of a torrent, and pieces fetched again: files hashed
//! whole vouch for their pieces, the proof and the pieces librqbit has,
//! and a refetch (or a retry) that trusts only what goat proved.

use super::*;

impl Swarm {
    /// Record that goat hashed `files` of torrent `hash` whole in this
    /// session and found each to be the goatfile's sha256; each as it was
    /// then.
    pub fn hashed_whole(&self, hash: &InfoHash, files: impl IntoIterator<Item = (PathBuf, crate::safefs::Stamp)>) {
        storage::lock(&self.whole).entry(*hash).or_default().extend(files);
    }

    /// Once, when `t` is complete: the pieces that lie wholly in files
    /// [`Swarm::hashed_whole`] recorded, still as they were, and that
    /// librqbit's check found, are proven (their bytes are the goatfile's
    /// by sha256, so goat need not read them again). Returns those files
    /// none of whose pieces has been written since: their sha256 needs no
    /// second read either. A later call (a re-added torrent) vouches
    /// nothing.
    pub fn vouch(&self, t: &Torrent) -> Vec<PathBuf> {
        let hash = t.info_hash();
        let Some(whole) = storage::lock(&self.whole).remove(&hash) else { return Vec::new() };
        let (Some(proof), Some(haves), Ok(layout)) = (self.proof(&hash), self.haves(&hash), t.durable_layout()) else {
            return Vec::new();
        };
        let Ok(root) = crate::safefs::open_real_dir(&layout.output) else { return Vec::new() };
        let same: Vec<PathBuf> = whole
            .into_iter()
            .filter(|(p, stamp)| crate::safefs::found_in(&root, p).ok().flatten().is_some_and(|f| f.stamp == *stamp))
            .map(|(p, _)| p)
            .collect();
        let pieces: Vec<u32> = pieces_within(&layout, &same)
            .into_iter()
            .filter(|&i| haves.get(i as usize / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
            .collect();
        proof.vouch(&pieces);
        let same: std::collections::HashSet<&PathBuf> = same.iter().collect();
        layout
            .files
            .iter()
            .filter(|(p, off, len)| {
                same.contains(p)
                    && pieces_touching(*off, *len, layout.piece_length)
                        .is_some_and(|mut r| r.all(|i| proof.is_vouched(i as u32)))
            })
            .map(|(p, _, _)| p.clone())
            .collect()
    }

    /// What goat's read-back proved of this torrent since it was added.
    pub fn proof(&self, info_hash: &InfoHash) -> Option<Arc<storage::Proof>> {
        storage::lock(&self.handoff).proofs.get(info_hash).cloned()
    }

    /// Fetch `bad` pieces of `t` again. librqbit marked them done (its
    /// check was of the bytes before they reached the disk, or its
    /// fastresume trusted them) and has no call to unmark one, so the
    /// torrent is removed and added again from its metadata. With a state
    /// directory, the have-bitfield librqbit held (or, for a torrent that
    /// is not running, goat's durable record), less the bad pieces, is
    /// written where its fastresume reads it, so the re-added torrent
    /// trusts only what it had (goat's gate still hashes each piece before
    /// serving it) and fetches exactly the bad pieces; without one (a
    /// one-shot fetch) librqbit checks the files again. The storage's gate
    /// refuses the bad pieces to peers until then.
    pub async fn refetch(&self, t: Torrent, magnet: &Magnet, peers: &[String], bad: &[u32]) -> Result<Torrent> {
        let hash = t.info_hash();
        let (bytes, _) = t.metadata()?;
        let output = t.output.clone();
        // The trackers librqbit knows (a restored torrent's magnet may be
        // unknown here) go with the torrent.
        let mut magnet = magnet.clone();
        for url in &t.handle.shared().trackers {
            if !magnet.trackers.iter().any(|m| m == url.as_str()) {
                magnet.trackers.push(url.to_string());
            }
        }
        // Everything that can fail is done before the torrent is removed:
        // a peer name that does not resolve now is left out, not fatal.
        let initial = resolve_peers(peers, &magnet).await.unwrap_or_else(|e| {
            tracing::debug!(target: "goat", "adding {hash} again without the given peers: {}", e.message);
            Vec::new()
        });
        let state_dir = self.cfg.state_dir.as_deref();
        let haves = self.haves(&hash).or_else(|| state_dir.and_then(|d| durable::read(d, &hash))).map(|mut h| {
            resume::clear_pieces(&mut h, bad.iter().map(|&i| u64::from(i)));
            h
        });
        drop(t);
        self.remove(&hash).await?;
        if let Some(dir) = state_dir {
            if !bad.is_empty() {
                durable::forget(dir, &hash, bad.iter().map(|&i| u64::from(i)));
            }
            if let Some(h) = &haves {
                // Without it librqbit checks the files in full: slower, as safe.
                if let Err(e) = crate::atomic::write_atomic(&resume::bitfield_file(dir, &hash), h) {
                    tracing::warn!(target: "goat", "torrent {hash}: {}; librqbit checks its files in full", e.message);
                }
            }
        }
        // Removed: adding it back must outlast a passing failure (librqbit
        // refuses an add while its session file cannot be written, on a
        // full disk), or the torrent would be gone until the next poll.
        let mut pause = Duration::from_secs(1);
        loop {
            match self.add_metadata(bytes.clone(), initial.clone(), &magnet, &output, true).await {
                Ok(t) => return Ok(t),
                Err(e) if pause > Duration::from_secs(16) => return Err(e),
                Err(e) => {
                    tracing::warn!(target: "goat", "adding torrent {hash} again: {}; trying again in {pause:?}", e.message)
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    /// librqbit's have-bitfield of a running torrent (one bit per piece,
    /// most significant first, as in its `.bitv` files).
    pub fn haves(&self, info_hash: &InfoHash) -> Option<Vec<u8>> {
        let (bf, _) = self.api.api_dump_haves(TorrentIdOrHash::Hash(id20(info_hash))).ok()?;
        Some(bf.as_raw_slice().to_vec())
    }

    /// [`Swarm::haves`] less the pieces goat has not seen reach the files
    /// (librqbit sets a piece's have bit before goat writes a gathered
    /// piece) or found bad: what `durable::update` may record once synced.
    pub fn settled_haves(&self, info_hash: &InfoHash) -> Option<Vec<u8>> {
        let mut h = self.haves(info_hash)?;
        if let Some(p) = self.proof(info_hash) {
            resume::clear_pieces(&mut h, p.unsettled().into_iter().map(u64::from));
        }
        Some(h)
    }

    /// Start a torrent librqbit stopped with an error (a failed write, a
    /// check that could not read its files) again. Not through librqbit's
    /// own restart, which forgets its bitfield and re-reads every file
    /// (250 GB for one failed write): the torrent is re-added like a
    /// [`Swarm::refetch`] of nothing, trusting goat's durable record.
    pub async fn retry(&self, t: Torrent, magnet: &Magnet, peers: &[String]) -> Result<Torrent> {
        // Pieces goat refused stay refused: left out of what is trusted.
        let bad = self.proof(&t.info_hash()).map(|p| p.bad()).unwrap_or_default();
        self.refetch(t, magnet, peers, &bad).await
    }
}

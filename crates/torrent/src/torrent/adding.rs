//! Adding torrents to the swarm: a magnet's metadata (from peers, the
//! goatfile's metadata sources or the session), the add itself, the
//! files goat allocates first, and the web seeds bridged in.

use super::*;

impl Swarm {
    /// Add a magnet: [`Swarm::metadata`], then [`Swarm::add_from`].
    pub async fn add(
        &self,
        magnet: &Magnet,
        peers: &[String],
        output: &Path,
        metadata_timeout: Duration,
        known: Option<known::Checked>,
        accept: impl FnOnce(&[(PathBuf, u64)]) -> Result<()>,
    ) -> Result<Torrent> {
        let md = self.metadata(magnet, peers, metadata_timeout, known).await?;
        accept(&md.listed())?;
        self.add_from(md, magnet, output).await
    }

    /// Download only the files `only` names (their indices in the
    /// torrent's file list, padding included) of the torrent `hash` when
    /// it is next added, and at every re-add ([`Swarm::refetch`],
    /// [`Swarm::retry`]); None: all of them. A piece shared with files not
    /// chosen is fetched whole, and their part of it goes to the folder's
    /// part file ([`files::parts_name`]).
    pub fn select(&self, hash: InfoHash, only: Option<Vec<usize>>) {
        let mut h = storage::lock(&self.handoff);
        match only {
            Some(o) => h.only.insert(hash, o),
            None => h.only.remove(&hash),
        };
    }

    /// A magnet's metadata: from `known` (checked against the magnet's
    /// info-hash: no peer needed), else from peers, waiting at most
    /// `metadata_timeout`. `peers` are extra host:port peers. Nothing is
    /// created on disk: goat's own checks (sizes the goatfile promises,
    /// local copies) run on it before [`Swarm::add_from`] adds it.
    pub async fn metadata(
        &self,
        magnet: &Magnet,
        peers: &[String],
        metadata_timeout: Duration,
        known: Option<known::Checked>,
    ) -> Result<Metadata> {
        let mut initial = resolve_peers(peers, magnet).await?;
        let dht_only = initial.is_empty() && magnet.trackers.is_empty() && self.announcer.is_some();
        let (bytes, seen) = match known {
            Some(k) => (k.torrent().clone(), Vec::new()),
            // With the DHT the only way to peers, goat's own lookups race
            // librqbit's: peers goat finds first restart the wait with them.
            None if dht_only => {
                let asked = std::time::Instant::now();
                let goat_walks = async {
                    loop {
                        let found = self.dht_lookup(magnet.info_hash()).await;
                        if !found.is_empty() {
                            return found;
                        }
                        tokio::time::sleep(DHT_LOOKUP_AGAIN).await;
                    }
                };
                tokio::select! {
                    got = self.metadata_from_peers(magnet, &initial, metadata_timeout) => got?,
                    found = goat_walks => {
                        initial = found;
                        let left = metadata_timeout.saturating_sub(asked.elapsed());
                        self.metadata_from_peers(magnet, &initial, left).await?
                    }
                }
            }
            None => self.metadata_from_peers(magnet, &initial, metadata_timeout).await?,
        };
        let hash = info_hash_of_torrent(&bytes)?;
        same_torrent(magnet, hash)?;
        let files = listed_files(&bytes)?;
        let piece_length = piece_length_of(&bytes)?;
        let mut peers = initial;
        extend_new(&mut peers, seen);
        Ok(Metadata { bytes, files, piece_length, hash, peers })
    }

    /// Peers from goat's own DHT walk, bootstrap nodes included, for a
    /// magnet whose only way to peers is the DHT (no tracker, no peer
    /// named). librqbit's lookup asks only nodes in its routing table, where
    /// a bootstrap node never enters: in a small network the one node that
    /// holds the announce may be that one (docs/swarm.md).
    async fn dht_lookup(&self, info_hash: InfoHash) -> Vec<SocketAddr> {
        let (own_id, start) = announce::known_nodes(&self.session, &self.cfg.dht_bootstrap).await;
        let Ok(socket) = tokio::net::UdpSocket::bind(SocketAddr::new(bind_ip(self.cfg.loopback_only), 0)).await else {
            return Vec::new();
        };
        let found = announce::lookup(&socket, own_id, info_hash.bytes(), &start, DHT_LOOKUP_ROUNDS).await;
        tracing::debug!(target: "goat", "DHT lookup of {info_hash}: {} peer(s)", found.len());
        found
    }

    /// Add a torrent whose metadata [`Swarm::metadata`] gave, downloading
    /// into `output`: missing files are allocated, files already there
    /// (an earlier run's, local copies) are checked and kept.
    pub async fn add_from(&self, md: Metadata, magnet: &Magnet, output: &Path) -> Result<Torrent> {
        // goat's own time from here to the added torrent (allocation,
        // librqbit's add) is what a many-file torrent costs: logged for
        // benches/many_files.py.
        let took = std::time::Instant::now();
        let only: Option<std::collections::HashSet<usize>> =
            storage::lock(&self.handoff).only.get(&md.hash).map(|o| o.iter().copied().collect());
        let chosen = |i: usize| only.as_ref().is_none_or(|o| o.contains(&i));
        let real: Vec<(PathBuf, u64)> = md
            .files
            .iter()
            .enumerate()
            .filter(|(i, f)| !f.padding && chosen(*i))
            .map(|(_, f)| (f.path.clone(), f.length))
            .collect();
        let created = preallocate(output, &real)?;
        let key = md.hash;
        storage::lock(&self.handoff).fresh.insert(key, created.into_iter().collect());
        // Added from the metadata in hand (no second exchange).
        let added = self.add_metadata(md.bytes, md.peers, magnet, output, true).await;
        // Taken by the storage when librqbit made it; if the add failed
        // before that, a later add must not take these files for empty.
        storage::lock(&self.handoff).fresh.remove(&key);
        tracing::debug!(target: "goat", "torrent {key}: {} files allocated and added in {} ms", md.files.len(), took.elapsed().as_millis());
        added
    }

    /// The magnet's metadata from peers (BEP 9), as a `.torrent` with the
    /// magnet's trackers and web seeds, and the peers librqbit met.
    async fn metadata_from_peers(
        &self,
        magnet: &Magnet,
        initial: &[SocketAddr],
        metadata_timeout: Duration,
    ) -> Result<(Bytes, Vec<SocketAddr>)> {
        let asked = std::time::Instant::now();
        // Metadata only (list_only), so goat can apply its own path rules
        // before librqbit creates a single file.
        let list = || AddTorrentOptions {
            list_only: true,
            initial_peers: if initial.is_empty() { None } else { Some(initial.to_vec()) },
            disable_trackers: self.cfg.socks_proxy.is_some(),
            ..Default::default()
        };
        // librqbit gives up as soon as every peer it knows has failed once
        // (a peer busy at that moment, as a libtorrent seeder answering
        // several goat requests at once can be, drops the handshake), so
        // goat asks again, backing off, until the metadata timeout.
        let deadline = tokio::time::Instant::now() + metadata_timeout;
        let require_hint = if self.cfg.encryption == gate::Encryption::Require {
            " (--encryption require refuses peers that cannot encrypt)"
        } else {
            ""
        };
        let mut pause = Duration::from_millis(500);
        let listed = loop {
            let fut =
                metadata::caught(self.session.add_torrent(AddTorrent::from_url(magnet.uri.clone()), Some(list())));
            match tokio::time::timeout_at(deadline, fut).await.map(|r| r.and_then(|r| r.map_err(|e| add_error(&e)))) {
                Err(_) => {
                    let hint = if !(magnet.sources.is_empty() && magnet.web_seeds.is_empty()) {
                        " (its web seeds serve files, not metadata: the goatfile entry's `metadata:` or the magnet's xs= must point at the .torrent)"
                    } else {
                        require_hint
                    };
                    return Err(Error::network(format!(
                        "no peer sent the torrent's metadata within {}s{hint}: check the magnet's trackers, add --peer HOST:PORT, or raise --metadata-timeout",
                        metadata_timeout.as_secs()
                    )));
                }
                Ok(Err(mut e)) => {
                    let again = e.find::<EveryPeerFailed>().is_some();
                    if !again || tokio::time::Instant::now() + pause >= deadline {
                        if again {
                            e.message.push_str(require_hint);
                        }
                        return Err(e);
                    }
                    tracing::debug!("metadata: {}; asking again in {pause:?}", e.message);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Ok(Ok(AddTorrentResponse::ListOnly(l))) => break l,
                Ok(Ok(_)) => return Err(Error::internal("librqbit added a torrent asked to list only")),
            }
        };
        tracing::debug!(target: "goat", "torrent {}: metadata ({} bytes) received in {} ms", magnet.info_hash(), listed.torrent_bytes.len(), asked.elapsed().as_millis());
        // The metadata must be the magnet's: goat checks it itself rather
        // than trust the engine's bookkeeping (see `same_torrent`), and
        // writes the .torrent it keeps: peers send only the info
        // dictionary, so the trackers and web seeds are the magnet's.
        let t = info::parsed(&listed.torrent_bytes)?;
        let torrent = known::assemble(t.info.raw_bytes.as_ref(), &magnet.trackers, &magnet.web_seeds)?;
        Ok((torrent, listed.seen_peers))
    }

    /// A torrent the session already manages (restored from the state
    /// directory after a restart, or added earlier in this run).
    pub fn find(&self, info_hash: &InfoHash, output: &Path) -> Option<Torrent> {
        let handle = self.session.get(TorrentIdOrHash::Hash(id20(info_hash)))?;
        Some(Torrent {
            handle,
            output: output.to_path_buf(),
            steering: None,
            web: None,
            gate: self.gate.clone(),
            announced: self.announced.clone(),
        })
    }

    /// Every torrent in the session (e.g. restored from the state
    /// directory), as torrents with their output folders.
    pub fn managed(&self) -> Vec<(InfoHash, Torrent)> {
        self.session.with_torrents(|it| {
            it.map(|(_, h)| {
                let output = h.output_folder().to_path_buf();
                (
                    hash_of(h.info_hash()),
                    Torrent {
                        handle: h.clone(),
                        output,
                        steering: None,
                        web: None,
                        gate: self.gate.clone(),
                        announced: self.announced.clone(),
                    },
                )
            })
            .collect()
        })
    }

    /// Add a torrent from metadata goat saved earlier (no metadata exchange,
    /// so it works with no peer online). Existing files are re-used.
    pub async fn add_saved(
        &self,
        torrent_bytes: Bytes,
        magnet: &Magnet,
        peers: &[String],
        output: &Path,
    ) -> Result<Torrent> {
        let initial = resolve_peers(peers, magnet).await?;
        self.add_metadata(torrent_bytes, initial, magnet, output, false).await
    }

    /// Seed a publisher's own files where they are (`goat publish`, the
    /// daemon's `published.json`). They are only ever read: each file must
    /// be there, a regular file (no link) at the torrent's length, or the
    /// torrent is refused before librqbit sees the folder; goat never
    /// creates, truncates, extends or writes a file there.
    pub async fn add_published(
        &self,
        torrent_bytes: Bytes,
        magnet: &Magnet,
        peers: &[String],
        folder: &Path,
    ) -> Result<Torrent> {
        let key = info_hash_of_torrent(&torrent_bytes)?;
        same_torrent(magnet, key)?;
        for f in listed_files(&torrent_bytes)?.into_iter().filter(|f| !f.padding) {
            let found = crate::safefs::len_under(folder, &f.path)
                .map_err(|e| Error::io(format!("checking the published folder {}", folder.display()), e))?;
            if found != Some(f.length) {
                return Err(Error::new(Kind::Io, files::size_changed(&folder.join(&f.path), f.length, found)));
            }
        }
        storage::lock(&self.handoff).read_only.insert(key);
        self.add_saved(torrent_bytes, magnet, peers, folder).await
    }

    /// Add a torrent from its metadata, downloading into (or seeding from)
    /// `output`; existing files there are re-checked and re-used.
    /// `url_list`: the `.torrent`'s own web seeds may be used (goat made
    /// it from a vouched source, or librqbit's private session holds it),
    /// not those of a file anyone who can write the output folder could
    /// have changed.
    pub(super) async fn add_metadata(
        &self,
        torrent_bytes: Bytes,
        peers: Vec<SocketAddr>,
        magnet: &Magnet,
        output: &Path,
        url_list: bool,
    ) -> Result<Torrent> {
        // Rarest-first steering places its streams before the first request
        // (steer.rs): the torrent is added paused and started by it.
        let steer = self.cfg.piece_order == PieceOrder::Random;
        let opts = AddTorrentOptions {
            paused: steer,
            overwrite: true,
            output_folder: Some(output.to_string_lossy().into_owned()),
            initial_peers: if peers.is_empty() { None } else { Some(peers) },
            // Metadata from peers carries no announce list: keep the
            // magnet's trackers for re-announces (and for restarts, where
            // librqbit's session persistence restores trackers, not peers).
            trackers: if magnet.trackers.is_empty() { None } else { Some(magnet.trackers.clone()) },
            disable_trackers: self.cfg.socks_proxy.is_some(),
            ..Default::default()
        };
        metadata::check_torrent(&torrent_bytes)?;
        let key = info_hash_of_torrent(&torrent_bytes)?;
        let opts = {
            let mut h = storage::lock(&self.handoff);
            h.folders.insert(key, output.to_path_buf());
            AddTorrentOptions { only_files: h.only.get(&key).cloned(), ..opts }
        };
        let resp = {
            let _one_at_a_time = self.adding.lock().await;
            metadata::caught(self.session.add_torrent(AddTorrent::from_bytes(torrent_bytes.clone()), Some(opts)))
                .await?
                .map_err(|e| add_error(&e))?
        };
        let (handle, added) = match resp {
            AddTorrentResponse::Added(_, h) => (h, true),
            AddTorrentResponse::AlreadyManaged(_, h) => (h, false),
            AddTorrentResponse::ListOnly(_) => return Err(Error::internal("torrent was only listed")),
        };
        if let Err(e) = same_torrent(magnet, hash_of(handle.info_hash())) {
            // Remove what this call added; a torrent already managed is
            // another entry's, and stays.
            if added {
                let _ = self.session.delete(TorrentIdOrHash::Hash(handle.info_hash()), false).await;
            }
            return Err(e);
        }
        let steering = (added && steer).then(|| {
            Arc::new(steer::start(self.api.clone(), handle.clone(), true, self.streams.clone(), self.gate.clone()))
        });
        let web = if added { self.bridge(&handle, &torrent_bytes, magnet, url_list) } else { None };
        Ok(Torrent {
            handle,
            output: output.to_path_buf(),
            steering,
            web,
            gate: self.gate.clone(),
            announced: self.announced.clone(),
        })
    }

    /// `t` (found in the session, restored after a restart) with its web
    /// seeds bridged in, when it is still downloading.
    pub fn with_web_seeds(&self, mut t: Torrent, magnet: &Magnet) -> Torrent {
        if t.web.is_none() {
            if let Ok((bytes, _)) = t.metadata() {
                t.web = self.bridge(&t.handle, &bytes, magnet, true);
            }
        }
        t
    }

    /// Bridge the torrent's web seeds (its `url-list` and the magnet's
    /// `ws=`, less those dropped this run) into the session while it
    /// downloads.
    fn bridge(
        &self,
        handle: &Arc<ManagedTorrent>,
        torrent_bytes: &[u8],
        magnet: &Magnet,
        url_list: bool,
    ) -> Option<Arc<bridge::Bridges>> {
        let mut urls = magnet.web_seeds.clone();
        if url_list {
            extend_new(&mut urls, known::url_list(torrent_bytes));
        }
        let hash = hash_of(handle.info_hash());
        urls.retain(|u| !self.web.is_dropped(&hash, u));
        if urls.is_empty() || handle.stats().finished {
            return None;
        }
        let mut at = self.session.listen_addr()?;
        if at.ip().is_unspecified() {
            at.set_ip([127, 0, 0, 1].into());
        }
        let session = bridge::Session { at, peer_id: self.peer_id };
        let layout = match webseed::Layout::of(torrent_bytes) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                tracing::warn!("torrent {}: web seeds not used: {}", hash_of(handle.info_hash()), e.message);
                return None;
            }
        };
        Some(Arc::new(bridge::start(handle.clone(), session, self.web.clone(), &urls, layout)))
    }
}

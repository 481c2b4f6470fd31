//! Rarest-first piece order for goat's downloads, steered through librqbit's
//! public streaming API.
//!
//! Why: librqbit 9.1 reserves pieces in file order (files sorted by name,
//! each file's first and last piece, then the rest in order:
//! `chunk_tracker.rs::iter_queued_pieces`; `file_priorities` is a TODO) and
//! has no rarest-first. Fetchers that start together therefore all want the
//! same pieces from the origin at the same time and have nothing to trade:
//! measured in docs/swarm.md, six such nodes made the origin upload 5.6x the
//! payload. aria2 and libtorrent pick rarest-first with random tie-breaks.
//!
//! How: librqbit's only public lever on piece order is streaming. The
//! position of every open `FileStream` makes the next 32 MiB of its file
//! priority pieces, taken before the file-order queue
//! (`torrent_state/streaming.rs::iter_next_pieces`,
//! `piece_tracker.rs::acquire_piece`). goat keeps a few streams open on each
//! torrent it downloads and, every tick, moves each stream whose front piece
//! it already has to the rarest piece it still misses: the fewest connected
//! peers have it by what they told goat's gate (`gate/watch.rs`; librqbit
//! does not expose the peers' bitfields), chosen at random among equals,
//! and a piece at random while no peer has said anything. Each node then
//! asks its peers for different pieces, so nodes trade instead of all
//! queueing on the origin, and asks the origin for the pieces only it has:
//! a piece taken from a thin origin that another peer also holds is a
//! repeat, and is often stolen part way by a faster peer (the origin's
//! blocks so far are then wasted), which the swarm bed traced
//! (docs/swarm.md, "A flash crowd"). No data is read through the
//! streams; they exist only for their position. Streams are dropped when
//! the download completes.

use librqbit::api::{Api, TorrentIdOrHash};
use librqbit::ManagedTorrent;
use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncSeekExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Streams kept open per downloading torrent. Each holds one permit of
/// librqbit's blocking-I/O semaphore, which `Swarm::start` enlarges.
pub const STREAMS: usize = 3;
/// Streams open at once in the whole session, whatever the number of
/// torrents downloading. librqbit's semaphore also bounds every disk
/// write and every torrent add (`session.rs::add_torrent_internal`), so
/// unbounded streams deadlock a daemon: measured with benches/seed_scale.py,
/// `goat seed` adding 100 torrents at once stalled for good after 27, with
/// 75 stream permits of 64 taken. With this budget, 40 permits always stay
/// for writes; torrents beyond the budget download in librqbit's order
/// until a stream frees up.
pub const SESSION_STREAMS: usize = 24;
/// How often positions are checked and moved.
const TICK: Duration = Duration::from_millis(250);
/// A stream whose front piece is still missing this long after it was
/// placed there is moved anyway, and that piece is not chosen again for
/// `AVOID`: a peer that claims pieces it never serves (what goat's gate
/// reads is only the peer's word) cannot keep the streams parked.
const STALE: Duration = Duration::from_secs(30);
const AVOID: Duration = Duration::from_secs(60);

/// A torrent's steering task; it stops when dropped, when the download
/// completes, or when the torrent leaves the session.
pub struct Steering(Option<tokio::task::JoinHandle<()>>);

impl Drop for Steering {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

/// Start steering `handle`'s piece order (see the module doc). A torrent
/// added paused (so that no piece is requested before the streams are in
/// place: librqbit reserves up to its request-slot limit the moment a peer
/// connects) is unpaused once they are, or at once if steering cannot start.
pub fn start(
    api: Arc<Api>,
    handle: Arc<ManagedTorrent>,
    paused: bool,
    budget: Arc<Semaphore>,
    gate: Arc<super::gate::Gate>,
) -> Steering {
    Steering(Some(tokio::spawn(async move {
        let mut unpause = paused.then(|| (api.session().clone(), handle.clone()));
        run(api, handle, &mut unpause, budget, &gate).await;
        // Steering ended early (or the torrent was already complete): the
        // torrent must run all the same.
        resume(&mut unpause).await;
    })))
}

type Unpause = Option<(Arc<librqbit::Session>, Arc<ManagedTorrent>)>;

async fn resume(unpause: &mut Unpause) {
    if let Some((session, handle)) = unpause.take() {
        if let Err(e) = session.unpause(&handle).await {
            tracing::warn!("cannot start the torrent after placing its streams: {e:#}");
        }
    }
}

/// Where each file lies in the torrent, in pieces.
struct Layout {
    piece_len: u64,
    pieces: u32,
    /// (offset in torrent, length) of each file; padding files, and files
    /// not chosen in a download in part, have length 0: no stream is ever
    /// opened on them, since librqbit takes a stream's pieces before it
    /// asks whether they were chosen (`piece_tracker.rs::acquire_piece`).
    files: Vec<(u64, u64)>,
    /// Per piece, whether it touches a chosen file (all, but in a download
    /// in part).
    wanted: Vec<bool>,
}

impl Layout {
    /// The first file with bytes in piece `p`, and where in it the piece
    /// starts (0 for a file that starts inside it).
    fn locate(&self, p: u32) -> Option<(usize, u64)> {
        let at = p as u64 * self.piece_len;
        let end = at + self.piece_len;
        self.files
            .iter()
            .enumerate()
            .find(|(_, (off, len))| *len > 0 && *off < end && at < off + len)
            .map(|(i, (off, _))| (i, at.saturating_sub(*off)))
    }

    /// Piece `p` is to be fetched (a download in part leaves some out).
    fn wanted(&self, p: u32) -> bool {
        self.wanted.get(p as usize).copied().unwrap_or(false)
    }

    /// The piece holding byte `pos` of file `file`.
    fn piece_of(&self, file: usize, pos: u64) -> u32 {
        ((self.files[file].0 + pos) / self.piece_len) as u32
    }
}

/// One open stream: its file and where it was moved to.
struct Slot {
    file: usize,
    pos: u64,
    /// When it was last moved.
    moved: std::time::Instant,
    stream: Box<dyn tokio::io::AsyncSeek + Unpin + Send>,
    /// Its share of `SESSION_STREAMS` (dropped after the stream).
    _budget: OwnedSemaphorePermit,
}

/// The piece a stream moves to: among the `pieces` still missing (`has`
/// false) and not at another stream's front (`taken`), one of the rarest
/// that some peer has by `avail` (random among equals); while no peer has
/// said it has any of them, a random missing piece (a random start, then the
/// next missing piece from there, wrapping).
fn choose(
    rng: &mut fastrand::Rng,
    pieces: u32,
    has: impl Fn(u32) -> bool,
    avail: &[u16],
    taken: &[u32],
) -> Option<u32> {
    let open = |p: u32| !has(p) && !taken.contains(&p);
    let mut rarest = u16::MAX;
    let mut ties = Vec::new();
    for p in (0..pieces).filter(|p| open(*p)) {
        let n = avail.get(p as usize).copied().unwrap_or(0);
        if n == 0 || n > rarest {
            continue;
        }
        if n < rarest {
            rarest = n;
            ties.clear();
        }
        ties.push(p);
    }
    if !ties.is_empty() {
        return Some(ties[rng.usize(0..ties.len())]);
    }
    let start = rng.u32(0..pieces.max(1));
    (0..pieces).map(|k| (start + k) % pieces).find(|p| open(*p)).or_else(|| (0..pieces).find(|p| !has(*p)))
}

async fn run(
    api: Arc<Api>,
    handle: Arc<ManagedTorrent>,
    unpause: &mut Unpause,
    budget: Arc<Semaphore>,
    gate: &super::gate::Gate,
) {
    if let Err(e) = handle.wait_until_initialized().await {
        tracing::debug!("piece steering: torrent did not initialize: {e:#}");
        return;
    }
    tracing::debug!("piece steering: started");
    let only: Option<std::collections::HashSet<usize>> = handle.only_files().map(|o| o.into_iter().collect());
    let Ok(layout) = handle.with_metadata(|m| {
        let chosen = |i: usize| only.as_ref().is_none_or(|o| o.contains(&i));
        let files: Vec<(u64, u64)> = m
            .file_infos
            .iter()
            .enumerate()
            .map(|(i, f)| (f.offset_in_torrent, if f.attrs.padding || !chosen(i) { 0 } else { f.len }))
            .collect();
        let piece_len = m.lengths().default_piece_length() as u64;
        let wanted = super::pieces_wanted(files.iter().copied(), piece_len, m.lengths().total_pieces() as usize);
        Layout { piece_len, pieces: m.lengths().total_pieces(), files, wanted }
    }) else {
        return;
    };
    let id = TorrentIdOrHash::Hash(handle.info_hash());
    // Seeded per process and torrent, so nodes started together differ.
    let mut rng = fastrand::Rng::with_seed(
        std::process::id() as u64
            ^ u64::from_le_bytes(handle.info_hash().0[..8].try_into().unwrap_or_default())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
    );
    // librqbit returns `FileStream` from public methods but does not export
    // the type's name: held as a boxed AsyncSeek, with its position kept here.
    let mut streams: Vec<Option<Slot>> = (0..STREAMS).map(|_| None).collect();
    let mut avoided: std::collections::HashMap<u32, std::time::Instant> = Default::default();
    loop {
        let stats = handle.stats();
        if stats.finished || stats.error.is_some() || api.mgr_handle(id).is_err() {
            return;
        }
        let (have, n) = match api.api_dump_haves(id) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!("piece steering: no bitfield yet ({e:#})");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        // A piece not wanted counts as had: no stream goes there.
        let has = |p: u32| !layout.wanted(p) || have.get(p as usize).map(|b| *b).unwrap_or(true);
        let missing = (0..n.min(layout.pieces)).filter(|p| !has(*p)).count();
        if missing == 0 {
            return;
        }
        let front = |s: &Option<Slot>| s.as_ref().map(|s| layout.piece_of(s.file, s.pos));
        let mut avail: Option<Vec<u16>> = None;
        avoided.retain(|_, at| at.elapsed() < AVOID);
        for i in 0..streams.len() {
            if let Some(s) = streams[i].as_ref() {
                let p = layout.piece_of(s.file, s.pos);
                if !has(p) {
                    if s.moved.elapsed() < STALE {
                        continue;
                    }
                    avoided.insert(p, std::time::Instant::now());
                }
            }
            let avail = avail.get_or_insert_with(|| gate.availability(&handle.info_hash().0, layout.pieces));
            let taken: Vec<u32> =
                streams.iter().filter_map(front).filter(|p| !has(*p)).chain(avoided.keys().copied()).collect();
            let Some(p) = choose(&mut rng, layout.pieces, has, avail, &taken) else { continue };
            let Some((file, pos)) = layout.locate(p) else { continue };
            let slot = &mut streams[i];
            if slot.as_ref().map(|s| s.file) != Some(file) {
                *slot = None; // give back its permits before taking others
                              // None left in the session: this slot waits for a later tick.
                let Ok(share) = budget.clone().try_acquire_owned() else { continue };
                match handle.clone().stream(file).await {
                    Ok(s) => {
                        *slot = Some(Slot {
                            file,
                            pos: 0,
                            moved: std::time::Instant::now(),
                            stream: Box::new(s),
                            _budget: share,
                        })
                    }
                    Err(e) => {
                        tracing::debug!("piece steering: cannot open a stream: {e:#}");
                        return;
                    }
                }
            }
            if let Some(s) = slot.as_mut() {
                if s.stream.seek(SeekFrom::Start(pos)).await.is_ok() {
                    s.pos = pos;
                    s.moved = std::time::Instant::now();
                    let peers = avail.get(p as usize).copied().unwrap_or(0);
                    tracing::debug!("piece steering: stream on file {file} moved to piece {p} ({missing} missing, {peers} peer(s) have it)");
                }
            }
        }
        // the first positions are in place: let the torrent request pieces
        resume(unpause).await;
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rarest_missing_piece_is_chosen_and_a_random_one_without_word() {
        let mut rng = fastrand::Rng::with_seed(7);
        // 6 pieces; 0 is had; 1 is the only one a single peer holds, 5 no
        // peer has said it holds.
        let has = |p: u32| p == 0;
        let avail = [3, 1, 2, 2, 3, 0];
        for _ in 0..20 {
            assert_eq!(choose(&mut rng, 6, has, &avail, &[]), Some(1));
        }
        // 1 is at another stream's front: the next rarest, 2 or 3, at random.
        let got: std::collections::BTreeSet<u32> =
            (0..50).filter_map(|_| choose(&mut rng, 6, has, &avail, &[1])).collect();
        assert_eq!(got, [2, 3].into());
        // No peer's word at all: any missing piece, never a had one.
        let got: std::collections::BTreeSet<u32> =
            (0..200).filter_map(|_| choose(&mut rng, 6, has, &[0; 6], &[])).collect();
        assert_eq!(got, [1, 2, 3, 4, 5].into());
        // Only taken pieces left: one of them rather than none.
        assert!(matches!(choose(&mut rng, 2, has, &[0, 1], &[1]), Some(1)));
        assert_eq!(choose(&mut rng, 1, has, &[1], &[]), None);
    }

    #[test]
    fn locate_skips_padding_and_maps_back() {
        // 3 pieces of 100: file a [0,150), padding [150,200), file b [200,300)
        let l =
            Layout { piece_len: 100, pieces: 3, files: vec![(0, 150), (150, 0), (200, 100)], wanted: vec![true; 3] };
        assert_eq!(l.locate(0), Some((0, 0)));
        assert_eq!(l.locate(1), Some((0, 100)));
        assert_eq!(l.locate(2), Some((2, 0)));
        assert_eq!(l.piece_of(0, 120), 1);
        assert_eq!(l.piece_of(2, 50), 2);
        // A download in part: file a not chosen (length 0 here), file b
        // [130,300) chosen. Piece 1 starts in a, and its stream goes on b,
        // at b's start.
        let l = Layout { piece_len: 100, pieces: 3, files: vec![(0, 0), (130, 170)], wanted: vec![false, true, true] };
        assert_eq!(l.locate(0), None);
        assert_eq!(l.locate(1), Some((1, 0)));
        assert_eq!(l.piece_of(1, 0), 1);
        assert_eq!(l.locate(2), Some((1, 70)));
        assert!(!l.wanted(0) && l.wanted(1));
    }
}

//! Random-first piece order for goat's downloads, steered through librqbit's
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
//! it already has to a piece chosen at random among those it still misses.
//! Each node then asks its peers for different pieces, so nodes trade
//! instead of all queueing on the origin. No data is read through the
//! streams; they exist only for their position. Streams are dropped when
//! the download completes. Rarest-first would need the peers' bitfields,
//! which librqbit does not expose (the upstream proposal is in
//! docs/swarm.md).

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
pub fn start(api: Arc<Api>, handle: Arc<ManagedTorrent>, paused: bool, budget: Arc<Semaphore>) -> Steering {
    Steering(Some(tokio::spawn(async move {
        let mut unpause = paused.then(|| (api.session().clone(), handle.clone()));
        run(api, handle, &mut unpause, budget).await;
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
    /// (offset in torrent, length) of each file; padding files have length 0.
    files: Vec<(u64, u64)>,
}

impl Layout {
    /// The file and offset in it where piece `p` starts (skipping padding).
    fn locate(&self, p: u32) -> Option<(usize, u64)> {
        let at = p as u64 * self.piece_len;
        self.files
            .iter()
            .enumerate()
            .find(|(_, (off, len))| *len > 0 && at >= *off && at < off + len)
            .map(|(i, (off, _))| (i, at - off))
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
    stream: Box<dyn tokio::io::AsyncSeek + Unpin + Send>,
    /// Its share of `SESSION_STREAMS` (dropped after the stream).
    _budget: OwnedSemaphorePermit,
}

async fn run(api: Arc<Api>, handle: Arc<ManagedTorrent>, unpause: &mut Unpause, budget: Arc<Semaphore>) {
    if let Err(e) = handle.wait_until_initialized().await {
        tracing::debug!("piece steering: torrent did not initialize: {e:#}");
        return;
    }
    tracing::debug!("piece steering: started");
    let Ok(layout) = handle.with_metadata(|m| Layout {
        piece_len: m.lengths().default_piece_length() as u64,
        pieces: m.lengths().total_pieces(),
        files: m.file_infos.iter().map(|f| (f.offset_in_torrent, if f.attrs.padding { 0 } else { f.len })).collect(),
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
        let has = |p: u32| have.get(p as usize).map(|b| *b).unwrap_or(true);
        let missing = (0..n.min(layout.pieces)).filter(|p| !has(*p)).count();
        if missing == 0 {
            return;
        }
        for slot in streams.iter_mut() {
            let front_done = match slot {
                Some(s) => has(layout.piece_of(s.file, s.pos)),
                None => true,
            };
            if !front_done {
                continue;
            }
            // A random piece still missing: a random start, then the next
            // missing piece from there (wrapping).
            let start = rng.u32(0..layout.pieces.max(1));
            let Some(p) = (0..layout.pieces).map(|k| (start + k) % layout.pieces).find(|p| !has(*p)) else { continue };
            let Some((file, pos)) = layout.locate(p) else { continue };
            if slot.as_ref().map(|s| s.file) != Some(file) {
                *slot = None; // give back its permits before taking others
                              // None left in the session: this slot waits for a later tick.
                let Ok(share) = budget.clone().try_acquire_owned() else { continue };
                match handle.clone().stream(file).await {
                    Ok(s) => *slot = Some(Slot { file, pos: 0, stream: Box::new(s), _budget: share }),
                    Err(e) => {
                        tracing::debug!("piece steering: cannot open a stream: {e:#}");
                        return;
                    }
                }
            }
            if let Some(s) = slot.as_mut() {
                if s.stream.seek(SeekFrom::Start(pos)).await.is_ok() {
                    s.pos = pos;
                    tracing::debug!("piece steering: stream on file {file} moved to piece {p} ({missing} missing)");
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
    fn locate_skips_padding_and_maps_back() {
        // 3 pieces of 100: file a [0,150), padding [150,200), file b [200,300)
        let l = Layout { piece_len: 100, pieces: 3, files: vec![(0, 150), (150, 0), (200, 100)] };
        assert_eq!(l.locate(0), Some((0, 0)));
        assert_eq!(l.locate(1), Some((0, 100)));
        assert_eq!(l.locate(2), Some((2, 0)));
        assert_eq!(l.piece_of(0, 120), 1);
        assert_eq!(l.piece_of(2, 50), 2);
    }
}

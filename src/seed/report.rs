//! The book as `/status` shows it: snapshots, never the live state.

use super::*;

/// Build a status snapshot from live torrent stats.
pub(super) fn snapshot(shared: &Shared) -> Status {
    let (addresses, torrents, published_errors) = shared.with(|book| {
        let addresses: Vec<AddressStatus> = book.addresses.values().cloned().collect();
        let torrents: Vec<TorrentStatus> = book.torrents.iter().map(|(hash, tr)| torrent_status(hash, tr)).collect();
        (addresses, torrents, book.published_errors.values().cloned().collect())
    });
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: shared.started_at,
        now: now(),
        listen_port: shared.listen_port,
        utp: shared.swarm.utp(),
        dht_port: shared.swarm.dht_port(),
        mapping: shared.swarm.mapping(),
        output: shared.opts_output.display().to_string(),
        state_dir: shared.state_dir.display().to_string(),
        poll_seconds: shared.poll.as_secs(),
        addresses,
        torrents,
        published_errors,
    }
}

pub(super) fn torrent_status(hash: &InfoHash, tr: &Tracked) -> TorrentStatus {
    let p = tr.torrent.progress();
    let state = match &tr.phase {
        Phase::Fetching if p.finished => TorrentState::Verifying,
        Phase::Fetching => TorrentState::Fetching,
        Phase::Verifying => TorrentState::Verifying,
        Phase::Seeding => TorrentState::Seeding,
        Phase::Failed(_) => TorrentState::Error,
    };
    let error = match &tr.phase {
        Phase::Failed(e) => Some(e.clone()),
        // librqbit stalls silently on a full disk.
        Phase::Fetching if !p.finished && crate::torrent::disk_full(&tr.layout.root) => {
            Some(format!("disk is full at {}: free space, then restart goat seed to resume", tr.layout.root.display()))
        }
        _ => p.error.clone(),
    };
    let next_retry = tr
        .next_retry
        .filter(|_| matches!(tr.phase, Phase::Failed(_)))
        .map(|at| now() + at.saturating_duration_since(Instant::now()).as_secs());
    TorrentStatus {
        address: tr.address.clone(),
        entry: tr.entry.clone(),
        info_hash: hash.to_string(),
        state,
        in_goatfile: tr.in_goatfile,
        have_bytes: p.have_bytes,
        total_bytes: p.total_bytes,
        uploaded_bytes: p.uploaded_bytes,
        downloaded_bytes: p.fetched_bytes,
        ratio: if p.total_bytes > 0 { p.uploaded_bytes as f64 / p.total_bytes as f64 } else { 0.0 },
        peers: p.peers,
        download_bps: p.download_bps,
        upload_bps: p.upload_bps,
        error,
        retries: tr.retries,
        next_retry,
        refetched_pieces: tr.refetched,
        web_seed_bytes: p.web_seed_bytes,
        encrypted_peers: p.encrypted_peers,
        rc4_peers: p.rc4_peers,
        utp_peers: p.utp_peers,
        dht_stored: p.dht_stored,
    }
}

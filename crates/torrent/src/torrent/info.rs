//! What goat reads from a torrent's metadata bytes itself (file list,
//! info-hash, piece length) and its checks of them.

use super::*;

/// The torrent librqbit hands back must be the one the magnet names.
/// Measured with librqbit 9.1 (benches/seed_scale.py: `goat seed` adding
/// five magnets at once): entries came back with another entry's torrent
/// (the id race described at `Swarm::adding`), so a goatfile entry would
/// have been recorded, proven against and seeded as a different torrent.
/// goat refuses any such answer, and the entry is retried.
pub(super) fn same_torrent(magnet: &Magnet, got: InfoHash) -> Result<()> {
    let want = magnet.info_hash();
    if got == want {
        return Ok(());
    }
    Err(Error::network(format!(
        "the BitTorrent engine returned the metadata of torrent {got} for magnet {want}: refused; it is retried (goat seed: at the next poll; goat fetch: run it again)"
    )))
}

/// The pieces that lie wholly in `whole` files (and padding): every real
/// file they touch is one of them.
pub(super) fn pieces_within(layout: &durable::Layout, whole: &[PathBuf]) -> Vec<u32> {
    let pl = layout.piece_length.max(1);
    let total = layout.files.iter().map(|(_, o, l)| o + l).max().unwrap_or(0);
    let n = total.div_ceil(pl) as usize;
    // 0: no file seen, 1: only whole files, 2: some other file.
    let mut state = vec![0u8; n];
    let whole: std::collections::HashSet<&Path> = whole.iter().map(PathBuf::as_path).collect();
    for (path, off, len) in &layout.files {
        let Some(pieces) = pieces_touching(*off, *len, pl) else { continue };
        let mark = if whole.contains(path.as_path()) { 1 } else { 2 };
        for s in &mut state[*pieces.start() as usize..=*pieces.end() as usize] {
            *s = (*s).max(mark);
        }
    }
    (0..n as u32).filter(|&i| state[i as usize] == 1).collect()
}

/// A `.torrent` as librqbit parses it, or goat's one error for metadata
/// that does not parse.
pub(super) fn parsed(torrent_bytes: &[u8]) -> Result<librqbit::TorrentMetaV1Borrowed<'_>> {
    librqbit::torrent_from_bytes(torrent_bytes).map_err(|e| {
        Error::invalid(format!(
            "the torrent's metadata does not parse ({})",
            crate::text::one_line(&format!("{e:#}"), 300)
        ))
    })
}

/// The files of a `.torrent`, checked by [`metadata::check_torrent`] first.
pub(crate) fn listed_files(torrent_bytes: &[u8]) -> Result<Vec<TorrentFile>> {
    metadata::check_torrent(torrent_bytes)?;
    let t = parsed(torrent_bytes)?;
    let info =
        t.info.data.validate().map_err(|e| Error::invalid(format!("the torrent's metadata is invalid ({e})")))?;
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut seen = std::collections::HashSet::new();
    for fd in info.iter_file_details() {
        let parts: Vec<String> = fd.filename.iter_components().map(|c| c.into_owned()).collect();
        check_components(&parts)?;
        // Two files at one path would each be written over the other.
        if !fd.attrs().padding && !seen.insert(parts.clone()) {
            return Err(Error::invalid(format!(
                "the torrent's metadata lists the file {:?} twice: refusing it, nothing was written",
                parts.iter().map(|p| crate::text::line(p)).collect::<Vec<_>>().join("/")
            )));
        }
        out.push(TorrentFile { path: parts.iter().collect(), offset, length: fd.len, padding: fd.attrs().padding });
        offset += fd.len;
    }
    Ok(out)
}

/// SHA-1 (goat's own, the `sha1` crate) of the bencoded `info`
/// dictionary inside a .torrent, whose raw bytes librqbit's bencode parser
/// keeps.
pub(super) fn info_hash_of_torrent(torrent_bytes: &[u8]) -> Result<InfoHash> {
    let t = parsed(torrent_bytes)?;
    let digest = crate::hash::sha1(t.info.raw_bytes.as_ref());
    Ok(InfoHash::from_bytes(&digest))
}

/// The piece length of a `.torrent` ([`metadata::check_torrent`] bounds it).
pub(super) fn piece_length_of(torrent_bytes: &[u8]) -> Result<u64> {
    let t = parsed(torrent_bytes)?;
    Ok(u64::from(t.info.data.piece_length))
}

pub(super) fn id20(info_hash: &InfoHash) -> librqbit::dht::Id20 {
    librqbit::dht::Id20::new(info_hash.bytes())
}

/// librqbit's 20-byte id as goat's key (always 40 hex digits).
pub(super) fn hash_of(id: librqbit::dht::Id20) -> InfoHash {
    InfoHash::from_bytes(&id.0)
}

/// goat's own rule for file paths from torrent metadata (untrusted): every
/// component non-empty, not `.`/`..`, no separators, drive letters or
/// control characters. librqbit already refuses `..` and separators; empty
/// components and the rest are checked here.
pub(crate) fn check_components(parts: &[String]) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "the torrent's metadata is unsafe or invalid (file path {:?} {why}): refusing it, nothing was written outside the output folder",
            parts.iter().map(|p| crate::text::line(p)).collect::<Vec<_>>()
        ))
    };
    if parts.is_empty() {
        return Err(bad("is empty"));
    }
    parts.iter().try_for_each(|p| crate::safefs::check_part(p)).map_err(bad)
}

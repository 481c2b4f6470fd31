//! librqbit's errors as goat's: the one place its words are read, where it
//! gives nothing typed (each reading says why). An I/O error in the chain
//! is read by its kind first.

use super::*;

/// Turn librqbit's add errors into goat's: hostile metadata is invalid data.
/// librqbit's "every peer it knew failed to give metadata" (the peer
/// stream ran dry), the one add error worth asking again for.
pub(super) fn every_peer_failed(msg: &str) -> bool {
    msg.to_ascii_lowercase().contains("address stream exhausted")
}

/// librqbit's add error as goat's. Typed first: an I/O error anywhere in
/// the error's chain says what the disk did (full, no permission, read-only)
/// without reading its message. What librqbit only says in words (a
/// metadata search that ran out of peers, bad paths) is read from the text.
pub(super) fn add_error(e: &anyhow::Error) -> Error {
    let msg = format!("{e:#}");
    let io = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>());
    if io.is_some_and(crate::safefs::is_too_many_open) {
        return Error::new(Kind::Io, crate::safefs::too_many_open().to_string());
    }
    match io.map(|i| i.kind()) {
        Some(std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => Error::new(
            Kind::Io,
            format!("{}: the disk is full, free space and run again to resume", crate::text::one_line(&msg, 300)),
        ),
        Some(std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem) => Error::new(
            Kind::Io,
            format!(
                "{}: check the output folder's permissions, then run again to resume",
                crate::text::one_line(&msg, 300)
            ),
        ),
        _ => classify_add_error(&msg),
    }
}

/// How goat's error for "every peer failed" begins (the one add error
/// worth asking again for).
pub(super) const EVERY_PEER_FAILED: &str = "every peer failed to provide valid metadata";

/// The cause goat gives that error, so the add loop asks again by type.
#[derive(Debug)]
pub(super) struct EveryPeerFailed;

impl std::fmt::Display for EveryPeerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EVERY_PEER_FAILED)
    }
}

impl std::error::Error for EveryPeerFailed {}

pub(super) fn classify_add_error(msg: &str) -> Error {
    let lower = msg.to_ascii_lowercase();
    if every_peer_failed(msg) {
        return Error::network(format!(
            "{EVERY_PEER_FAILED} for this torrent (unreachable, or it sent metadata that does not match the info-hash): check --peer and the magnet's trackers; RUST_LOG=librqbit=debug shows each peer's failure"
        ))
        .caused_by(EveryPeerFailed);
    }
    // librqbit refuses a magnet it has no one to ask about (no peer, no
    // tracker, no DHT) at once.
    if lower.contains("no known way to resolve peers") {
        return Error::network(
            "no peer to ask for the torrent's metadata (the magnet names no tracker or x.pe peer, and the DHT is off), and no metadata source the goatfile names served it: add --peer HOST:PORT or turn the DHT on",
        );
    }
    // A full disk first: its message names a file, which the next test
    // would take for a bad path.
    if let Some(e) = disk_error(msg) {
        return e;
    }
    if lower.contains("path") || lower.contains("filename") || lower.contains("invalid") || lower.contains("..") {
        Error::invalid(format!(
            "the torrent's metadata is unsafe or invalid ({}): refusing it, nothing was written outside the output folder",
            crate::text::one_line(msg, 300)
        ))
    } else {
        Error::new(Kind::Network, format!("adding the torrent failed: {}", crate::text::one_line(msg, 300)))
    }
}

/// A local storage failure in librqbit's message (full disk, no permission,
/// read-only file system), as goat's I/O error (exit 6).
pub(super) fn disk_error(msg: &str) -> Option<Error> {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("no space") || lower.contains("enospc") || lower.contains("storage full") {
        return Some(Error::new(
            Kind::Io,
            format!("{}: the disk is full, free space and run again to resume", crate::text::one_line(msg, 300)),
        ));
    }
    if lower.contains("eacces")
        || lower.contains("permission denied")
        || lower.contains("erofs")
        || lower.contains("read-only file system")
    {
        return Some(Error::new(
            Kind::Io,
            format!(
                "{}: check the output folder's permissions, then run again to resume",
                crate::text::one_line(msg, 300)
            ),
        ));
    }
    None
}

/// A running torrent's error (librqbit stops a torrent on a failed write):
/// never about metadata, which was checked when it was added.
pub(super) fn classify_torrent_error(msg: &str) -> Error {
    disk_error(msg)
        .unwrap_or_else(|| Error::new(Kind::Io, format!("the download stopped: {}", crate::text::one_line(msg, 300))))
}

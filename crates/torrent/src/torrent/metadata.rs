//! Torrent metadata is untrusted input (from peers, from the chain, from a
//! saved file): goat checks it before librqbit computes anything from it,
//! and catches what still breaks inside librqbit.
//!
//! librqbit 9.1 divides by the piece length without checking it (a
//! `piece length` of 0 panics in `Lengths::new`), sums file lengths without
//! overflow checks (2^63 + 2^63 + 100 wraps to 100 in a release build and
//! panics in a debug one), and never compares the number of piece hashes
//! with the number of pieces. Proposed upstream (in the closing notes):
//! checked arithmetic in `Lengths::from_torrent` and a hash-count check in
//! `validate`.

use crate::error::{Error, Result};
use librqbit::TorrentMetaV1Info;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Smallest and largest piece length goat accepts: powers of two from one
/// BitTorrent block (16 KiB) to 256 MiB, the range every client makes
/// (libtorrent's `create_torrent` goes up to 128 MiB for v2).
pub const MIN_PIECE: u32 = 16 << 10;
/// Largest piece length goat accepts, 256 MiB (see [`MIN_PIECE`]).
pub const MAX_PIECE: u32 = 256 << 20;
/// At most this many files in one torrent. Far above any model release
/// (the 219 GB LLaMA torrent has a few dozen; a 20,000-file torrent is
/// goat's benchmark), low enough that the per-file bookkeeping of goat and
/// librqbit stays in tens of megabytes.
pub const MAX_FILES: usize = 1_000_000;
/// At most this many bytes in one torrent (1 PiB).
pub const MAX_TOTAL: u64 = 1 << 50;
/// A file path's length in bytes (PATH_MAX) and one component's (NAME_MAX).
pub const MAX_PATH: usize = 4096;
/// Longest path component accepted, in bytes (NAME_MAX; see [`MAX_PATH`]).
pub const MAX_NAME: usize = 255;

/// SHA-1 of the empty string.
const SHA1_OF_NOTHING: [u8; 20] = [
    0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf, 0xd8, 0x07,
    0x09,
];

fn bad(why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("the torrent's metadata is invalid ({why}): refusing it, nothing was written"))
}

/// goat's checks of an info dictionary, before librqbit's `validate` (which
/// would divide by its piece length).
pub fn check_info<B: AsRef<[u8]>>(info: &TorrentMetaV1Info<B>) -> Result<()> {
    let pl = info.piece_length;
    if !pl.is_power_of_two() || !(MIN_PIECE..=MAX_PIECE).contains(&pl) {
        return Err(bad(format!("piece length {pl} is not a power of two from 16 KiB to 256 MiB")));
    }
    let name_len = info.name.as_ref().map(|n| n.as_ref().len()).unwrap_or(0);
    if name_len > MAX_NAME {
        return Err(bad(format!("its name is {name_len} bytes long, more than {MAX_NAME}")));
    }
    let lengths: Vec<u64> = match (info.length, &info.files) {
        (Some(len), None) => {
            if name_len == 0 {
                return Err(bad("a single file with no name"));
            }
            vec![len]
        }
        (None, Some(files)) => {
            if files.is_empty() || files.len() > MAX_FILES {
                return Err(bad(format!("{} files: between 1 and {MAX_FILES} are accepted", files.len())));
            }
            for f in files {
                let mut path = 0usize;
                for c in &f.path {
                    let n = c.as_ref().len();
                    if n > MAX_NAME {
                        return Err(bad(format!("a file name of {n} bytes, more than {MAX_NAME}")));
                    }
                    path += n + 1;
                }
                if path > MAX_PATH {
                    return Err(bad(format!("a file path of {path} bytes, more than {MAX_PATH}")));
                }
            }
            files.iter().map(|f| f.length).collect()
        }
        _ => return Err(bad("it has both or neither of 'length' and 'files'")),
    };
    let total = lengths
        .iter()
        .try_fold(0u64, |sum, &l| sum.checked_add(l))
        .filter(|&t| t <= MAX_TOTAL)
        .ok_or_else(|| bad(format!("its file lengths add up to more than {MAX_TOTAL} bytes (1 PiB)")))?;
    if total == 0 {
        return Err(bad("it holds no bytes"));
    }
    let pieces = total.div_ceil(u64::from(pl));
    let table = info.pieces.as_ref();
    let hashes = table.len();
    // librqbit 9.1's `create_torrent` appends the SHA-1 of nothing when the
    // total is a multiple of the piece length (its last-piece test sees a
    // fresh piece's full length left): rqbit-made torrents carry it, and
    // it names no piece, so that one trailing hash is let through.
    let rqbit_extra = total % u64::from(pl) == 0 && hashes >= 20 && table[hashes - 20..] == SHA1_OF_NOTHING;
    let counted = (hashes / 20) as u64 - u64::from(rqbit_extra && (hashes / 20) as u64 == pieces + 1);
    if hashes % 20 != 0 || counted != pieces {
        return Err(bad(format!(
            "{} bytes of piece hashes for {pieces} pieces of {pl} bytes: it needs {} bytes",
            hashes,
            pieces * 20
        )));
    }
    Ok(())
}

/// Check a whole `.torrent` (or metadata from peers) before librqbit uses
/// it.
pub fn check_torrent(torrent_bytes: &[u8]) -> Result<()> {
    let t = librqbit::torrent_from_bytes(torrent_bytes).map_err(|e| bad(format!("it does not parse: {e}")))?;
    check_info(&t.info.data)
}

thread_local! {
    /// Polls of a [`caught`] future under way on this thread.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Where the last quieted panic on this thread happened.
    static WHERE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` (a librqbit call that parses untrusted metadata) so that a panic
/// inside it becomes "invalid metadata" (exit 5) instead of ending the
/// process (`goat fetch`) or killing the task that added the torrent (the
/// daemon), and is not printed as a backtrace: [`install_panic_hook`] keeps
/// quiet about panics that happen inside it.
pub async fn caught<F: Future>(f: F) -> Result<F::Output> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(Guarded(Box::pin(f))).catch_unwind().await.map_err(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let at = WHERE.with_borrow_mut(|w| w.take()).unwrap_or_default();
        // goat's own code runs inside librqbit's add too (its storage): a
        // panic there is goat's bug, not the metadata's fault. Dependencies
        // are built from absolute registry paths, goat from `src/` and its
        // layers from `crates/` (paths relative to the workspace).
        if at.starts_with("src/") || at.starts_with("crates/") {
            Error::internal(format!(
                "goat failed while adding a torrent ({} at {at}): please report this bug",
                crate::text::line(&why)
            ))
        } else {
            Error::invalid(format!(
                "the torrent's metadata is invalid (the BitTorrent engine failed on it: {}): refusing it",
                crate::text::line(&why)
            ))
        }
    })
}

struct Guarded<F>(Pin<Box<F>>);

impl<F: Future> Future for Guarded<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        GUARDED.with(|g| g.set(g.get() + 1));
        // Decremented even when the poll unwinds.
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
            }
        }
        let _leave = Leave;
        self.0.as_mut().poll(cx)
    }
}

/// The process's panic hook: as Rust's own, except for panics inside a
/// [`caught`] future, which become goat's one-line error instead (they are
/// logged at debug level).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if GUARDED.with(|g| g.get()) > 0 {
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            WHERE.with_borrow_mut(|w| *w = Some(at));
            tracing::debug!(target: "goat", "caught inside the BitTorrent engine: {info}");
        } else {
            default(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pl: u32, lengths: &[u64], hashes: usize) -> Vec<u8> {
        use librqbit_bencode::bencode_serialize_to_writer;
        #[derive(serde::Serialize)]
        struct F {
            length: u64,
            path: Vec<String>,
        }
        #[derive(serde::Serialize)]
        struct I {
            name: String,
            #[serde(rename = "piece length")]
            pl: u32,
            files: Vec<F>,
            #[serde(with = "serde_bytes_like")]
            pieces: Vec<u8>,
        }
        mod serde_bytes_like {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        #[derive(serde::Serialize)]
        struct T {
            info: I,
        }
        let t = T {
            info: I {
                name: "model".into(),
                pl,
                files: lengths
                    .iter()
                    .enumerate()
                    .map(|(i, &length)| F { length, path: vec![format!("f{i}")] })
                    .collect(),
                pieces: vec![0; hashes * 20],
            },
        };
        let mut out = Vec::new();
        bencode_serialize_to_writer(&t, &mut out).unwrap();
        out
    }

    #[test]
    fn hostile_metadata_is_refused_before_librqbit_sees_it() {
        assert!(check_torrent(&info(65536, &[100_000], 2)).is_ok());
        // rqbit's trailing hash of nothing, on a total that fills its pieces.
        let mut rqbit = info(65536, &[131072], 3);
        let at = rqbit.windows(60).position(|w| w == [0u8; 60]).unwrap() + 40;
        rqbit[at..at + 20].copy_from_slice(&SHA1_OF_NOTHING);
        assert!(check_torrent(&rqbit).is_ok());
        assert!(check_torrent(&info(65536, &[131072], 3)).is_err(), "any other extra hash is refused");
        for (t, why) in [
            (info(0, &[100], 1), "piece length 0"),
            (info(65535, &[100], 1), "piece length 65535"),
            (info(65536, &[1 << 63, 1 << 63, 100], 1), "add up"),
            (info(65536, &[100_000], 3), "piece hashes"),
            (info(65536, &[0], 0), "no bytes"),
        ] {
            let e = check_torrent(&t).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidData);
            assert!(e.message.contains(why), "{why}: {}", e.message);
        }
    }

    #[tokio::test]
    async fn a_panic_inside_is_an_error() {
        install_panic_hook();
        // In a dependency (librqbit's own division by the piece length):
        // the metadata's fault.
        let e = caught(async { librqbit_core::lengths::Lengths::new(100, std::hint::black_box(0)) }).await.unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::InvalidData);
        assert!(e.message.contains("divide by zero"), "{}", e.message);
        // In goat's own code: goat's bug.
        let e = caught(async { panic!("a goat bug") }).await.unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Internal, "{}", e.message);
        assert!(
            e.message.contains("a goat bug") && e.message.contains("crates/torrent/src/torrent/metadata.rs"),
            "{}",
            e.message
        );
        assert_eq!(caught(async { 7 }).await.unwrap(), 7);
    }
}

//! Making a BitTorrent v1 torrent of a folder, for `goat publish`.
//!
//! The same folder gives the same torrent on every machine: files are taken
//! in sorted path order (librqbit's `create_torrent` walks them in directory
//! order, so two machines could disagree on the info-hash), and the piece
//! length is a function of the total size alone. Each file's sha256 is
//! computed from the same read as the piece hashes, on a second thread, so
//! a 100 GB model is read once.
//!
//! The metainfo is written with librqbit's own bencode serializer (which
//! sorts dictionary keys as BEP 3 requires); only the field layout is
//! goat's, because librqbit's writer has no `url-list` (BEP 19).

use super::check_components;
use crate::error::{Error, Result};
use crate::goatfile::InfoHash;
use crate::hash::{Sha1, Sha256};
use librqbit_bencode::ByteBufOwned;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

/// Largest piece goat makes (and the ceiling libtorrent and qBittorrent use).
pub const MAX_PIECE: u64 = 16 << 20;
/// Smallest piece goat makes.
pub const MIN_PIECE: u64 = 256 << 10;
/// Piece count goat aims to stay under before doubling the piece length.
const TARGET_PIECES: u64 = 2000;
/// Read unit (a multiple of every piece length goat chooses).
const CHUNK: usize = 1 << 20;

/// What [`create`] writes into a torrent besides its files.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Tracker URLs (first becomes `announce`; all go into `announce-list`).
    pub trackers: Vec<String>,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    /// Override the size-based piece length (a power of two, 16 KiB..16 MiB).
    pub piece_length: Option<u64>,
}

/// One file of a made torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeFile {
    /// Path inside the torrent's folder, as components.
    pub path: Vec<String>,
    /// Length in bytes.
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl MadeFile {
    /// The path with its components joined by `/`.
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }
}

/// A torrent made from a folder (or one file).
#[derive(Debug, Clone)]
pub struct Made {
    /// The torrent's name: the folder's (or the file's) name.
    pub name: String,
    /// The whole `.torrent` file.
    pub bytes: bytes::Bytes,
    /// The v1 info-hash (SHA-1 of the bencoded info dictionary).
    pub info_hash: InfoHash,
    /// Bytes in each piece (the last may be shorter).
    pub piece_length: u64,
    /// Its files in torrent order (sorted by path).
    pub files: Vec<MadeFile>,
    /// Bytes in all its files.
    pub total: u64,
    /// Where the files are on this machine (the folder, or the file).
    pub source: PathBuf,
}

/// The piece length goat picks for `total` bytes: the smallest power of
/// two from 256 KiB that keeps the piece count under about 2000, at most
/// 16 MiB (so a 250 GB model has about 15 000 pieces).
pub fn piece_length_for(total: u64) -> u64 {
    let mut p = MIN_PIECE;
    while p < MAX_PIECE && total.div_ceil(p) > TARGET_PIECES {
        p *= 2;
    }
    p
}

#[derive(serde::Serialize)]
struct MetaInfo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    announce: Option<&'a str>,
    #[serde(rename = "announce-list", skip_serializing_if = "Option::is_none")]
    announce_list: Option<Vec<Vec<&'a str>>>,
    #[serde(rename = "created by")]
    created_by: &'a str,
    info: &'a Info,
    #[serde(rename = "url-list", skip_serializing_if = "Option::is_none")]
    url_list: Option<&'a [String]>,
}

#[derive(serde::Serialize)]
struct Info {
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<FileField>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<u64>,
    name: String,
    #[serde(rename = "piece length")]
    piece_length: u64,
    pieces: ByteBufOwned,
}

#[derive(serde::Serialize)]
struct FileField {
    length: u64,
    path: Vec<String>,
}

fn bencode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    librqbit_bencode::bencode_serialize_to_writer(v, &mut out)
        .map_err(|e| Error::internal(format!("writing torrent metadata: {e}")))?;
    Ok(out)
}

fn cannot_carry(path: &Path, why: &str) -> Error {
    Error::usage(format!("{}: {why}; rename or remove it and run again", crate::text::line(&path.to_string_lossy())))
}

/// The files under `root` in sorted order, as (path on disk, components).
/// Refuses what a torrent cannot carry safely: names that are not UTF-8 or
/// that goat's own fetch would refuse, symlinks and special files.
fn walk(root: &Path) -> Result<Vec<(PathBuf, Vec<String>)>> {
    fn visit(dir: &Path, rel: &[String], out: &mut Vec<(PathBuf, Vec<String>)>) -> Result<()> {
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
            let name = e.file_name();
            let path = e.path();
            let Some(s) = name.to_str() else {
                return Err(cannot_carry(&path, "the file name is not UTF-8, which a torrent cannot carry"));
            };
            names.push((s.to_string(), path));
        }
        names.sort();
        for (name, path) in names {
            let md =
                std::fs::symlink_metadata(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut parts = rel.to_vec();
            parts.push(name);
            if check_components(&parts).is_err() {
                return Err(cannot_carry(
                    &path,
                    "the name has a control character, ':' or '\\', which goat refuses in torrents",
                ));
            }
            if md.file_type().is_symlink() {
                return Err(cannot_carry(&path, "is a symbolic link; copy the file in instead"));
            } else if md.is_dir() {
                visit(&path, &parts, out)?;
            } else if md.is_file() {
                out.push((path, parts));
            } else {
                return Err(cannot_carry(&path, "is not a regular file"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(root, &[], &mut out)?;
    Ok(out)
}

/// Make the torrent of `path`: a folder becomes a multi-file torrent named
/// after it, a single file a single-file torrent.
pub fn create(path: &Path, opts: &CreateOptions) -> Result<Made> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| cannot_carry(path, "the name is not UTF-8 (or the path has no name)"))?;
    check_components(std::slice::from_ref(&name))
        .map_err(|_| cannot_carry(path, "the name has a control character, ':' or '\\'"))?;
    let single = md.is_file();
    let files = if single { vec![(path.to_path_buf(), vec![name.clone()])] } else { walk(path)? };
    let sizes: Vec<u64> = files
        .iter()
        .map(|(p, _)| {
            std::fs::metadata(p).map(|m| m.len()).map_err(|e| Error::io(format!("reading {}", p.display()), e))
        })
        .collect::<Result<_>>()?;
    let total: u64 = sizes.iter().sum();
    if files.is_empty() || total == 0 {
        return Err(Error::usage(format!(
            "{} holds no data (no files, or only empty ones): a torrent needs at least one byte",
            path.display()
        )));
    }
    let piece_length = match opts.piece_length {
        Some(p) if p.is_power_of_two() && (16 << 10..=MAX_PIECE).contains(&p) => p,
        Some(p) => return Err(Error::usage(format!("piece length {p} is not a power of two from 16 KiB to 16 MiB"))),
        None => piece_length_for(total),
    };
    let (pieces, sha256s) = hash_files(&files, &sizes, piece_length)?;
    let info = Info {
        files: (!single).then(|| {
            files.iter().zip(&sizes).map(|((_, parts), &length)| FileField { length, path: parts.clone() }).collect()
        }),
        length: single.then_some(total),
        name: name.clone(),
        piece_length,
        pieces: ByteBufOwned::from(pieces),
    };
    let info_bytes = bencode(&info)?;
    let info_hash: InfoHash = hex::encode(crate::hash::sha1(&info_bytes))
        .parse()
        .map_err(|_| Error::internal("an info-hash goat made does not parse"))?;
    let meta = MetaInfo {
        announce: opts.trackers.first().map(String::as_str),
        announce_list: (opts.trackers.len() > 1).then(|| opts.trackers.iter().map(|t| vec![t.as_str()]).collect()),
        created_by: concat!("goat/", env!("CARGO_PKG_VERSION")),
        info: &info,
        url_list: (!opts.web_seeds.is_empty()).then_some(&opts.web_seeds[..]),
    };
    let bytes = bencode(&meta)?;
    let made_files = files
        .into_iter()
        .zip(sizes)
        .zip(sha256s)
        .map(|(((_, path), size), sha256)| MadeFile { path, size, sha256 })
        .collect();
    Ok(Made {
        name,
        bytes: bytes.into(),
        info_hash,
        piece_length,
        files: made_files,
        total,
        source: path.to_path_buf(),
    })
}

/// One pass over the files in order: piece SHA-1s here, each file's sha256
/// on a second thread (it needs the file's bytes in order, so it cannot be
/// split further; the two run side by side).
fn hash_files(files: &[(PathBuf, Vec<String>)], sizes: &[u64], piece_length: u64) -> Result<(Vec<u8>, Vec<String>)> {
    let (tx, rx) = sync_channel::<Option<Arc<Vec<u8>>>>(8);
    let n = files.len();
    let sha_thread = std::thread::spawn(move || {
        let mut out = Vec::with_capacity(n);
        let mut h = Sha256::default();
        while let Ok(msg) = rx.recv() {
            match msg {
                Some(buf) => h.update(&buf[..]),
                None => out.push(std::mem::take(&mut h).finish_hex()),
            }
        }
        out
    });
    let mut pieces = Vec::new();
    let mut piece = Sha1::default();
    let mut in_piece = 0u64;
    let mut result = Ok(());
    'files: for ((path, _), &size) in files.iter().zip(sizes) {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                result = Err(Error::io(format!("reading {}", path.display()), e));
                break;
            }
        };
        let mut left = size;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            if let Err(e) = f.read_exact(&mut buf) {
                result = Err(Error::io(format!("reading {} (did it change while goat read it?)", path.display()), e));
                break 'files;
            }
            left -= buf.len() as u64;
            let mut rest = &buf[..];
            while !rest.is_empty() {
                let take = rest.len().min((piece_length - in_piece) as usize);
                piece.update(&rest[..take]);
                in_piece += take as u64;
                rest = &rest[take..];
                if in_piece == piece_length {
                    pieces.extend_from_slice(&std::mem::take(&mut piece).finish());
                    in_piece = 0;
                }
            }
            if tx.send(Some(Arc::new(buf))).is_err() {
                break 'files;
            }
        }
        let _ = tx.send(None);
    }
    drop(tx);
    let sha256s = sha_thread.join().map_err(|_| Error::internal("the sha256 thread failed"))?;
    result?;
    if in_piece > 0 {
        pieces.extend_from_slice(&piece.finish());
    }
    Ok((pieces, sha256s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_lengths_follow_the_size() {
        assert_eq!(piece_length_for(1), MIN_PIECE);
        assert_eq!(piece_length_for(2000 * MIN_PIECE), MIN_PIECE);
        assert_eq!(piece_length_for(2000 * MIN_PIECE + 1), 2 * MIN_PIECE);
        assert_eq!(piece_length_for(13 << 30), 8 << 20);
        assert_eq!(piece_length_for(250 << 30), MAX_PIECE);
    }

    #[test]
    fn same_folder_same_torrent_and_librqbit_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("model");
        std::fs::create_dir_all(m.join("sub")).unwrap();
        std::fs::write(m.join("b.bin"), vec![7u8; 300_000]).unwrap();
        std::fs::write(m.join("a.json"), b"{}").unwrap();
        std::fs::write(m.join("sub").join("c"), vec![1u8; 70_000]).unwrap();
        let opts = CreateOptions {
            trackers: vec!["http://t/announce".into()],
            web_seeds: vec!["http://w/".into()],
            piece_length: None,
        };
        let one = create(&m, &opts).unwrap();
        let two = create(&m, &opts).unwrap();
        assert_eq!(one.bytes, two.bytes);
        let names: Vec<String> = one.files.iter().map(|f| f.path_string()).collect();
        assert_eq!(names, ["a.json", "b.bin", "sub/c"]);
        assert_eq!(one.files[0].sha256, crate::hash::sha256_hex(b"{}"));
        let parsed = librqbit::torrent_from_bytes(&one.bytes).expect("librqbit parses goat's torrent");
        assert_eq!(hex::encode(parsed.info_hash.0), one.info_hash.to_string());
        assert_eq!(parsed.info.data.piece_length as u64, MIN_PIECE);
        assert_eq!(parsed.info.data.pieces.as_ref().len(), 2 * 20);
        // librqbit does not read BEP 19; the bytes must still carry it.
        assert!(one.bytes.windows(22).any(|w| w == b"8:url-listl9:http://w/"), "url-list is written");
    }
}

//! Local copies: files a user already has (the Hugging Face hub cache,
//! folders named with `--from`) put into goat's output folder before a
//! download, so only what is missing comes from peers.
//!
//! A file counts when its size and sha256 equal a goatfile file's. The
//! hub cache names its LFS blobs by their sha256, so those candidates are
//! found by name; other candidates (small files the hub names by their git
//! hash, files in `--from` folders) by size, the same base name first.
//! Only candidates are hashed, and what is hashed is the file goat placed
//! (`place.rs`): a reflink, a hard link or a copy in the output folder,
//! never the user's original, which goat opens only to read. A placed
//! file whose sha256 differs is removed and the file is downloaded.
//!
//! After that librqbit checks every piece as for any file already on disk,
//! and the pieces wholly inside placed files count as goat's own proof
//! (`Swarm::vouch`): their bytes are the holder's file, by sha256.
//!
//! A hard link is the user's file under a second name: goat never writes
//! a file with other links (`safefs`), so one is made only where no piece
//! goat may download lies partly in it (every file sharing its boundary
//! pieces is placed too). Otherwise a reflink (a private copy that shares
//! the disk blocks) or a copy.

pub mod hf;
pub mod place;

use crate::goatfile::FileSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use place::How;

/// Most directory entries read while looking for candidates, per source:
/// a `--from /` must not walk a whole disk.
const MAX_ENTRIES: usize = 200_000;
/// Deepest folder walked below a `--from` folder.
const MAX_DEPTH: usize = 32;
/// Candidates hashed for one file at most (same-size files that are not
/// it cost a read each).
const MAX_TRIES: usize = 3;

/// Where goat looks for local copies.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The Hugging Face hub cache, when it is used and exists.
    pub hf: Option<PathBuf>,
    /// Folders named by the user (`--from`).
    pub folders: Vec<PathBuf>,
}

impl Sources {
    /// The hub cache (found as `huggingface_hub` finds it) when `hf`, and
    /// `folders`.
    pub fn new(folders: &[PathBuf], hf: bool) -> Sources {
        Sources { hf: if hf { hf::hub_cache().filter(|c| c.is_dir()) } else { None }, folders: folders.to_vec() }
    }

    pub fn is_empty(&self) -> bool {
        self.hf.is_none() && self.folders.is_empty()
    }
}

/// A torrent's file layout, as placement needs it.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub piece_length: u64,
    /// (path, offset in the torrent, length, padding), in torrent order.
    pub files: Vec<(PathBuf, u64, u64, bool)>,
}

impl Geometry {
    /// Indexes of the real files that share a piece with file `i`.
    fn neighbours(&self, i: usize) -> Vec<usize> {
        let (_, off, len, _) = &self.files[i];
        let Some(pieces) = crate::torrent::pieces_touching(*off, *len, self.piece_length) else { return Vec::new() };
        let pl = self.piece_length;
        let (from, to) = (pieces.start() * pl, (pieces.end() + 1) * pl);
        self.files
            .iter()
            .enumerate()
            .filter(|(j, (_, o, l, pad))| *j != i && !*pad && *l > 0 && *o < to && o + l > from)
            .map(|(j, _)| j)
            .collect()
    }
}

/// One file put in place from a local copy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reused {
    /// Its path in the entry.
    pub path: PathBuf,
    pub bytes: u64,
    /// The user's file it came from.
    pub from: PathBuf,
    /// Which source: the hub cache or a `--from` folder.
    pub source: PathBuf,
    pub how: How,
    /// The placed file as goat hashed it (to see it unchanged later).
    #[serde(skip)]
    pub stamp: crate::safefs::Stamp,
}

/// A candidate that was not used, and why (a changed file, no room).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refused {
    pub path: PathBuf,
    pub from: PathBuf,
    pub why: String,
}

/// What placement did for one entry.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Placed {
    pub reused: Vec<Reused>,
    pub refused: Vec<Refused>,
}

impl Placed {
    pub fn bytes(&self) -> u64 {
        self.reused.iter().map(|r| r.bytes).sum()
    }

    /// "N bytes from SOURCE (k reflinked, ...)" per source, for summaries.
    pub fn words(&self) -> Vec<String> {
        let mut by: Vec<(&Path, u64, [usize; 3])> = Vec::new();
        for r in &self.reused {
            let i = match by.iter().position(|(s, _, _)| *s == r.source.as_path()) {
                Some(i) => i,
                None => {
                    by.push((&r.source, 0, [0; 3]));
                    by.len() - 1
                }
            };
            by[i].1 += r.bytes;
            by[i].2[r.how as usize] += 1;
        }
        by.into_iter()
            .map(|(s, bytes, n)| {
                let how: Vec<String> = [How::Reflink, How::Hardlink, How::Copy]
                    .iter()
                    .filter(|h| n[**h as usize] > 0)
                    .map(|h| format!("{} {}", n[*h as usize], h.word()))
                    .collect();
                format!("{bytes} bytes from {} ({})", crate::text::line(&s.to_string_lossy()), how.join(", "))
            })
            .collect()
    }
}

/// Wanted: a goatfile file with its size and sha256, missing from `dir`.
struct Want<'a> {
    index: usize,
    spec: &'a FileSpec,
    size: u64,
    sha256: &'a str,
}

/// A file of the user's that may be a wanted one.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    source: PathBuf,
}

/// Put local copies of `specs`' files (those with a size and sha256, not
/// yet in `dir`, the entry's folder below an anchor) into `dir`, laid out
/// as `geometry` says. Blocking: reads whole files.
pub fn place(sources: &Sources, dir: &Path, specs: &[FileSpec], geometry: &Geometry) -> Placed {
    let mut placed = Placed::default();
    if sources.is_empty() {
        return placed;
    }
    let Ok(root) = crate::safefs::open_real_dir(dir) else { return placed };
    let index: HashMap<&Path, usize> = geometry.files.iter().enumerate().map(|(i, f)| (f.0.as_path(), i)).collect();
    let wants: Vec<Want> = specs
        .iter()
        .filter_map(|spec| {
            let (Some(size), Some(sha256)) = (spec.size, spec.sha256.as_deref()) else { return None };
            let index = *index.get(Path::new(&spec.path))?;
            if size == 0 || geometry.files[index].2 != size {
                return None;
            }
            // Already there (an earlier run's, or the user's): librqbit checks it.
            match crate::safefs::found_in(&root, Path::new(&spec.path)) {
                Ok(None) => Some(Want { index, spec, size, sha256 }),
                _ => None,
            }
        })
        .collect();
    if wants.is_empty() {
        return placed;
    }
    let found = Finder::new(sources, &wants).candidates(&wants);
    // A hard link only where every file sharing a piece with it has a
    // candidate too (no download writes into it); checked again below
    // against what was really placed.
    let covered: Vec<bool> = {
        let mut c = vec![false; geometry.files.len()];
        for (w, cands) in wants.iter().zip(&found) {
            c[w.index] = !cands.is_empty();
        }
        c
    };
    let linkable = |i: usize, covered: &[bool]| geometry.neighbours(i).iter().all(|&j| covered[j]);
    let jobs: Vec<(usize, bool)> = wants.iter().enumerate().map(|(k, w)| (k, linkable(w.index, &covered))).collect();
    let memo = place::Memo::default();
    let results = run_parallel(&jobs, |&(k, may_link)| {
        let w = &wants[k];
        let mut refused = Vec::new();
        for c in &found[k] {
            match place::put(&root, Path::new(&w.spec.path), &c.path, w.size, Some(w.sha256), may_link, &memo) {
                Ok((how, stamp)) => {
                    let r = Reused {
                        path: w.spec.path.clone().into(),
                        bytes: w.size,
                        from: c.path.clone(),
                        source: c.source.clone(),
                        how,
                        stamp,
                    };
                    return (Some(r), refused);
                }
                Err(why) => refused.push(Refused {
                    path: w.spec.path.clone().into(),
                    from: c.path.clone(),
                    why: why.to_string(),
                }),
            }
        }
        (None, refused)
    });
    let mut is_placed = vec![false; geometry.files.len()];
    for (k, (reused, refused)) in results.into_iter().enumerate() {
        placed.refused.extend(refused);
        if let Some(r) = reused {
            is_placed[wants[k].index] = true;
            placed.reused.push(r);
        }
    }
    // A hard link whose neighbour was not placed after all (its candidate
    // did not match) would be written into by that piece's download: it
    // becomes a private copy, or goes.
    let want_of: HashMap<usize, &Want> = wants.iter().map(|w| (w.index, w)).collect();
    for r in placed.reused.iter_mut().filter(|r| r.how == How::Hardlink) {
        let i = index[r.path.as_path()];
        if linkable(i, &is_placed) {
            continue;
        }
        let _ = crate::safefs::remove_in(&root, &r.path);
        let w = want_of[&i];
        match place::put(&root, &r.path, &r.from, w.size, Some(w.sha256), false, &memo) {
            Ok((how, stamp)) => {
                r.how = how;
                r.stamp = stamp;
            }
            Err(why) => {
                placed.refused.push(Refused { path: r.path.clone(), from: r.from.clone(), why: why.to_string() });
                r.bytes = u64::MAX;
            }
        }
    }
    placed.reused.retain(|r| r.bytes != u64::MAX);
    for r in &placed.refused {
        tracing::warn!(
            target: "goat",
            "local copy {} of {} not used: {}",
            crate::text::line(&r.from.to_string_lossy()),
            crate::text::line(&r.path.to_string_lossy()),
            r.why
        );
    }
    placed
}

/// A folder among `folders` (`F/<entry>`, then `F`) that holds the whole
/// torrent at its own paths, each file a regular file at its length (no
/// link anywhere below the folder) hashing to the goatfile's sha256 (an
/// entry without a sha256 for every file is never seeded in place): `goat seed --from` seeds it where it is,
/// read-only. The folder, links resolved. Blocking: hashes those files.
pub fn in_place(folders: &[PathBuf], entry: &str, specs: &[FileSpec], geometry: &Geometry) -> Option<PathBuf> {
    let real: Vec<&(PathBuf, u64, u64, bool)> = geometry.files.iter().filter(|f| !f.3).collect();
    // Every file is hashed against the goatfile, or the folder is not
    // taken for the entry (a fine-tune of the same sizes would be).
    let with_sha: std::collections::HashSet<&Path> =
        specs.iter().filter(|s| s.sha256.is_some()).map(|s| Path::new(&s.path)).collect();
    if folders.is_empty() || !real.iter().all(|f| with_sha.contains(f.0.as_path())) {
        return None;
    }
    for f in folders {
        for candidate in [f.join(entry), f.clone()] {
            let Ok(dir) = std::fs::canonicalize(&candidate) else { continue };
            let Ok(root) = crate::safefs::open_root(&dir) else { continue };
            let all_there = real.iter().all(|(path, _, len, _)| {
                matches!(crate::safefs::found_in(&root, path), Ok(Some(found)) if found.len == *len)
            });
            if !all_there {
                continue;
            }
            let hashed = run_parallel(specs, |spec| match &spec.sha256 {
                None => true,
                Some(want) => crate::safefs::open_in(&root, Path::new(&spec.path), crate::safefs::Access::Read)
                    .and_then(|f| crate::hash::sha256_file(&f))
                    .is_ok_and(|got| &got == want),
            });
            if hashed.iter().all(|ok| *ok) {
                return Some(dir);
            }
            tracing::warn!(
                target: "goat",
                "{} holds {entry}'s files, but not all of them hash to the goatfile's sha256s: not seeded from there",
                crate::text::line(&dir.to_string_lossy())
            );
        }
    }
    None
}

/// `f` over `jobs` on as many threads as `goat verify` uses, results in
/// order.
fn run_parallel<J: Sync, R: Send>(jobs: &[J], f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let threads = crate::store::verify::default_threads().clamp(1, jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<std::sync::Mutex<Option<R>>> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(j) = jobs.get(i) else { break };
                let r = f(j);
                *out[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    out.into_iter().filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect()
}

/// Finds candidates: hub-cache blobs by name (and by size), files of
/// `--from` folders by size. Reads directory entries only.
struct Finder {
    /// Blob name (a sha256 or git hash) → its path, with its source.
    by_name: HashMap<String, Candidate>,
    /// (size, base name) → files of that size and name.
    by_size_name: HashMap<(u64, std::ffi::OsString), Vec<Candidate>>,
    /// Size → files of that size.
    by_size: HashMap<u64, Vec<Candidate>>,
}

impl Finder {
    fn new(sources: &Sources, wants: &[Want]) -> Finder {
        let sizes: std::collections::HashSet<u64> = wants.iter().map(|w| w.size).collect();
        let mut f = Finder { by_name: HashMap::new(), by_size_name: HashMap::new(), by_size: HashMap::new() };
        let add = |f: &mut Finder, c: Candidate, len: u64| {
            if !sizes.contains(&len) {
                return;
            }
            if let Some(n) = c.path.file_name() {
                f.by_size_name.entry((len, n.to_os_string())).or_default().push(c.clone());
            }
            f.by_size.entry(len).or_default().push(c);
        };
        if let Some(cache) = &sources.hf {
            let mut seen = 0;
            for blobs in hf::blob_folders(cache) {
                let Ok(rd) = std::fs::read_dir(&blobs) else { continue };
                for e in rd.flatten() {
                    seen += 1;
                    if seen > MAX_ENTRIES {
                        break;
                    }
                    // DirEntry::metadata does not follow a link.
                    let Ok(md) = e.metadata() else { continue };
                    if !md.is_file() {
                        continue;
                    }
                    let c = Candidate { path: e.path(), source: cache.clone() };
                    let name = e.file_name().to_str().unwrap_or_default().to_string();
                    // An LFS blob is named by its sha256: a match by name
                    // only. Others (git-hash names) by size.
                    if name.len() == 64 {
                        f.by_name.insert(name, c);
                    } else {
                        add(&mut f, c, md.len());
                    }
                }
            }
        }
        for dir in &sources.folders {
            let mut seen = 0;
            let mut found = Vec::new();
            walk(dir, 0, &mut seen, &mut |path, len| found.push((path, len)));
            for (path, len) in found {
                add(&mut f, Candidate { path, source: dir.clone() }, len);
            }
        }
        f
    }

    /// Per want, at most [`MAX_TRIES`] candidates, best first: the blob
    /// named by its sha256, then same-size files with its base name, then
    /// the other same-size files.
    fn candidates(&self, wants: &[Want]) -> Vec<Vec<Candidate>> {
        wants
            .iter()
            .map(|w| {
                let mut out: Vec<Candidate> = Vec::new();
                let mut push = |c: &Candidate| {
                    if out.len() < MAX_TRIES && !out.iter().any(|o| o.path == c.path) {
                        out.push(c.clone());
                    }
                };
                if let Some(c) = self.by_name.get(w.sha256) {
                    push(c);
                }
                if let Some(name) = Path::new(&w.spec.path).file_name() {
                    for c in self.by_size_name.get(&(w.size, name.to_os_string())).into_iter().flatten().take(MAX_TRIES)
                    {
                        push(c);
                    }
                }
                for c in self.by_size.get(&w.size).into_iter().flatten().take(2 * MAX_TRIES) {
                    push(c);
                }
                out
            })
            .collect()
    }
}

/// Regular files below `dir` (no link followed), depth- and count-bounded.
fn walk(dir: &Path, depth: usize, seen: &mut usize, found: &mut dyn FnMut(PathBuf, u64)) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return;
        }
        // DirEntry::file_type does not follow a link.
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            walk(&e.path(), depth + 1, seen, found);
        } else if t.is_file() {
            if let Ok(md) = e.metadata() {
                found(e.path(), md.len());
            }
        }
    }
}

#[cfg(test)]
mod tests;

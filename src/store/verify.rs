//! Offline verification of a fetched folder.
//!
//! Every piece is re-hashed with the `sha1` crate against the piece hashes in
//! the stored `.torrent` (independently of librqbit's own check), and every
//! file with an expected sha256 is re-hashed. Without sha256s every core
//! reads and hashes its own pieces (handed out in order, so reads stay
//! nearly sequential). With them, one reader streams the pieces in order to
//! the SHA-1 workers and a sha256 thread, since a file's sha256 needs its
//! bytes in order; the run is then bound by the disk or by hashing speed.

use super::{Layout, Manifest, ManifestFile};
use crate::error::{Error, Result};
use crate::filebuf::FileBuf;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Ok,
    Corrupt,
    Truncated,
    Missing,
    /// A link (or a FIFO, a device...) where the file should be: goat does
    /// not follow it, so it is not the file.
    Unsafe,
    /// Not checked: the entry's saved `.torrent` is missing or damaged.
    Unchecked,
    /// In an entry's folder but not in its torrent (listed, not a failure).
    Extra,
    /// Not chosen for download (`goat fetch --only`): not checked, not a
    /// failure.
    Skipped,
}

impl FileState {
    /// A verdict against the file (missing, damaged, unchecked...), not a
    /// file listed or left out on purpose.
    pub fn failed(self) -> bool {
        !matches!(self, FileState::Ok | FileState::Extra | FileState::Skipped)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub entry: String,
    pub path: PathBuf,
    pub state: FileState,
    pub detail: Option<String>,
    /// Set when the pieces are fine but the expected sha256 is not, so
    /// callers can tell "the data on disk is damaged" from "the data is
    /// intact but not what the goatfile promised".
    #[serde(skip)]
    pub sha256_mismatch: Option<Sha256Mismatch>,
}

#[derive(Debug, Clone)]
pub struct Sha256Mismatch {
    pub got: String,
    pub want: String,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub bytes_hashed: u64,
    pub pieces: u64,
    pub bad_pieces: u64,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.failed() == 0
    }

    /// Files that failed (extra files are listed, not failed).
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| f.state.failed()).count()
    }
}

/// Verify every entry in `layout`.
/// Hashing threads when the user does not say: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

pub fn verify(layout: &Layout, threads: usize) -> Result<Report> {
    let manifests = layout.manifests()?;
    if manifests.is_empty() {
        return Err(Error::not_found(format!(
            "{} holds no fetched entries: run goat fetch first",
            layout.root.display()
        )));
    }
    let mut report = verify_manifests(layout, &manifests, threads)?;
    for m in &manifests {
        report.files.extend(extra_files(layout, m));
    }
    Ok(report)
}

/// Files in `m`'s folder that its torrent does not name, found without
/// following links.
fn extra_files(layout: &Layout, m: &Manifest) -> Vec<FileReport> {
    let dir = layout.entry_dir(&m.entry);
    let parts = m.info_hash.as_ref().map(crate::torrent::files::parts_name);
    let known: std::collections::HashSet<&std::path::Path> =
        m.files.iter().map(|f| f.path.as_path()).chain(parts.as_deref()).collect();
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(dir.join(&rel)) else { continue };
        for e in rd.flatten() {
            let p = rel.join(e.file_name());
            // DirEntry::file_type does not follow a link.
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                _ if known.contains(p.as_path()) => {}
                _ => out.push(FileReport {
                    entry: m.entry.clone(),
                    path: p,
                    state: FileState::Extra,
                    detail: Some("not in the torrent".into()),
                    sha256_mismatch: None,
                }),
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Verify the given entries only.
pub fn verify_manifests(layout: &Layout, manifests: &[Manifest], threads: usize) -> Result<Report> {
    let mut report = Report::default();
    for m in manifests {
        if m.info_hash.is_some() {
            // One entry whose `.torrent` is gone is reported, and the
            // others are still checked.
            match load_piece_hashes(layout, m) {
                Ok((plen, hashes)) => {
                    verify_torrent(layout, m, plen, &hashes, threads, None, &mut report)?;
                }
                Err(e) => report.files.extend(m.files.iter().filter(|f| !f.padding).map(|f| FileReport {
                    entry: m.entry.clone(),
                    path: f.path.clone(),
                    state: FileState::Unchecked,
                    detail: Some(e.message.clone()),
                    sha256_mismatch: None,
                })),
            }
        } else {
            verify_plain(layout, m, &mut report);
        }
    }
    Ok(report)
}

fn presence(layout: &Layout, m: &Manifest, f: &ManifestFile) -> (FileState, Option<String>) {
    match crate::safefs::len_under(&layout.entry_dir(&m.entry), &f.path) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => (FileState::Unsafe, Some(e.to_string())),
        Err(_) | Ok(None) => (FileState::Missing, None),
        Ok(Some(len)) if len < f.length => (FileState::Truncated, Some(format!("{len} of {} bytes", f.length))),
        Ok(Some(len)) if len > f.length => (FileState::Corrupt, Some(format!("{len} bytes, expected {}", f.length))),
        Ok(Some(_)) => (FileState::Ok, None),
    }
}

fn verify_plain(layout: &Layout, m: &Manifest, report: &mut Report) {
    for f in &m.files {
        let (mut state, mut detail) = presence(layout, m, f);
        let mut sha256_mismatch = None;
        if state == FileState::Ok {
            if let Some(want) = &f.sha256 {
                match super::sha256_under(&layout.entry_dir(&m.entry), &f.path) {
                    Ok(got) if &got == want => {}
                    Ok(got) => {
                        state = FileState::Corrupt;
                        detail = Some(format!("sha256 {got}, expected {want}"));
                        sha256_mismatch = Some(Sha256Mismatch { got, want: want.clone() });
                    }
                    Err(e) => {
                        state = FileState::Corrupt;
                        detail = Some(format!("unreadable: {e}"));
                    }
                }
                report.bytes_hashed = report.bytes_hashed.saturating_add(f.length);
            }
        }
        report.files.push(FileReport { entry: m.entry.clone(), path: f.path.clone(), state, detail, sha256_mismatch });
    }
}

/// Piece length and hashes from stored `.torrent` bytes.
fn piece_hashes(bytes: &[u8]) -> Result<(u64, Vec<[u8; 20]>)> {
    let t = librqbit::torrent_from_bytes(bytes)
        .map_err(|e| Error::invalid(format!("stored .torrent does not parse ({e})")))?;
    let info = &t.info.data;
    let pieces: &[u8] = info.pieces.as_ref();
    if !pieces.len().is_multiple_of(20) || info.piece_length == 0 {
        return Err(Error::invalid("stored .torrent has a malformed piece list"));
    }
    let hashes = pieces.chunks(20).map(|c| c.try_into().unwrap_or([0; 20])).collect();
    Ok((info.piece_length as u64, hashes))
}

/// Piece length and piece hashes from the entry's stored `.torrent`.
fn load_piece_hashes(layout: &Layout, m: &Manifest) -> Result<(u64, Vec<[u8; 20]>)> {
    let tpath = layout.torrent_file(&m.entry);
    let tbytes =
        layout.read(&tpath).map_err(|e| Error::io(format!("reading {} (run goat fetch again)", tpath.display()), e))?;
    let (plen, hashes) = piece_hashes(&tbytes)?;
    // The manifest is a file in the folder, perhaps copied from elsewhere:
    // its files must span exactly the torrent's pieces before pieces are
    // counted from it.
    let end = m.files.iter().map(|f| f.offset.saturating_add(f.length)).max().unwrap_or(0);
    if plen == 0 || end.div_ceil(plen) != hashes.len() as u64 {
        return Err(Error::invalid(format!(
            "{}: its manifest does not match its torrent ({} pieces for {end} bytes): run goat fetch again",
            crate::text::line(&m.entry),
            hashes.len()
        )));
    }
    Ok((plen, hashes))
}

/// Re-hash only the pieces that touch `paths` (files of entry `m`), e.g.
/// files changed on disk while a daemon was stopped. Returns the torrent's
/// piece count and the pieces that fail.
pub fn recheck_files(layout: &Layout, m: &Manifest, paths: &[PathBuf], threads: usize) -> Result<(u64, Vec<u64>)> {
    let (plen, hashes) = load_piece_hashes(layout, m)?;
    let mut only = BTreeSet::new();
    for f in m.files.iter().filter(|f| paths.contains(&f.path)) {
        only.extend(crate::torrent::pieces_touching(f.offset, f.length, plen).into_iter().flatten());
    }
    let mut scratch = Report::default();
    let bad = verify_torrent(layout, m, plen, &hashes, threads, Some(&only), &mut scratch)?;
    Ok((hashes.len() as u64, bad.into_iter().collect()))
}

/// Re-hash the pieces of `m` (all, or `only`), add file verdicts to
/// `report`, and return the failing pieces.
fn verify_torrent(
    layout: &Layout,
    m: &Manifest,
    plen: u64,
    hashes: &[[u8; 20]],
    threads: usize,
    only: Option<&BTreeSet<u64>>,
    report: &mut Report,
) -> Result<BTreeSet<u64>> {
    // A file not chosen that is there at its length anyway (from an
    // earlier download of the whole entry) is checked like any other: a
    // file on disk is never passed unread.
    let present: Vec<ManifestFile> = m
        .files
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.skipped = f.skipped && !f.padding && presence(layout, m, &f).0 != FileState::Ok;
            f
        })
        .collect();
    let mut files: Vec<&ManifestFile> = present.iter().collect();
    files.sort_by_key(|f| f.offset);
    let total: u64 = files.last().map(|f| f.offset + f.length).unwrap_or(0);
    let npieces = total.div_ceil(plen);
    if npieces != hashes.len() as u64 {
        return Err(Error::invalid(format!(
            "{}: manifest and .torrent disagree ({npieces} pieces vs {}): run goat fetch again",
            m.entry,
            hashes.len()
        )));
    }
    let states: Vec<(FileState, Option<String>)> = files
        .iter()
        .map(|f| match (f.padding, f.skipped) {
            (true, _) => (FileState::Ok, None),
            (false, true) => (FileState::Skipped, Some("not chosen: goat fetch --only".into())),
            (false, false) => presence(layout, m, f),
        })
        .collect();
    let entry_dir = layout.entry_dir(&m.entry);
    let want_sha256 = only.is_none() && files.iter().any(|f| f.sha256.is_some() && !f.padding && !f.skipped);

    let spans: Vec<(u64, u64)> = files.iter().map(|f| (f.offset, f.length)).collect();
    // A download in part: only the pieces of chosen files (with what they
    // share with files not chosen, read from the part file).
    let chosen: Option<Vec<bool>> = files.iter().any(|f| f.skipped).then(|| {
        let spans = files.iter().filter(|f| !f.skipped && !f.padding).map(|f| (f.offset, f.length));
        crate::torrent::pieces_wanted(spans, plen, npieces as usize)
    });
    let indices: Vec<u64> = (0..npieces)
        .filter(|i| only.is_none_or(|o| o.contains(i)) && chosen.as_ref().is_none_or(|c| c[*i as usize]))
        .collect();
    let parts = m.info_hash.as_ref().map(crate::torrent::files::parts_name);
    let new_reader = || PieceReader {
        files: &files,
        states: &states,
        dir: &entry_dir,
        parts: parts.as_deref(),
        spans: &spans,
        cursor: Overlaps::default(),
        open: BTreeMap::new(),
        plen,
        total,
    };
    let bad: Mutex<BTreeSet<u64>> = Mutex::default();
    let hashed = AtomicU64::new(0);
    let mut sha_results = Vec::new();
    if !want_sha256 {
        // No sha256 to stream: every thread reads and hashes its own
        // pieces, handed out in order so reads stay nearly sequential. No
        // reader thread copies data for the others, so hashing gets every
        // core (measured: see docs/benchmarks.md).
        let next = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..threads.max(1) {
                sc.spawn(|| {
                    let mut reader = new_reader();
                    let mut scratch = FileBuf::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&index) = indices.get(i) else { break };
                        let digest = reader.sha1(index, &mut scratch);
                        if digest.is_some() {
                            let (start, end) = reader.bounds(index);
                            hashed.fetch_add(end - start, Ordering::Relaxed);
                        }
                        let ok = digest.is_some_and(|d| hashes.get(index as usize) == Some(&d));
                        if !ok {
                            if let Ok(mut b) = bad.lock() {
                                b.insert(index);
                            }
                        }
                    }
                });
            }
        });
    } else {
        // With sha256s: one reader feeds the pieces in order to the SHA-1
        // workers and the sha256 thread (a file's sha256 needs its bytes in
        // order).
        let (tx, rx) = sync_channel::<(u64, Arc<FileBuf>)>(threads * 2 + 2);
        let (stx, srx) = sync_channel::<(Arc<FileBuf>, u64)>(4);
        let rx = Mutex::new(rx);
        let spec: Vec<(u64, u64, bool)> =
            files.iter().map(|f| (f.offset, f.length, f.sha256.is_some() && !f.padding)).collect();
        std::thread::scope(|sc| {
            for _ in 0..threads.max(1) {
                sc.spawn(|| loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok((index, data))) = next else { break };
                    let digest = crate::hash::sha1(&data);
                    if hashes.get(index as usize) != Some(&digest) {
                        if let Ok(mut b) = bad.lock() {
                            b.insert(index);
                        }
                    }
                });
            }
            let sha = sc.spawn(move || sha256_stream(srx, spec));
            let mut reader = new_reader();
            for &index in &indices {
                let Some(buf) = reader.read(index) else {
                    if let Ok(mut b) = bad.lock() {
                        b.insert(index);
                    }
                    continue;
                };
                hashed.fetch_add(buf.len() as u64, Ordering::Relaxed);
                let data = Arc::new(buf);
                if stx.send((data.clone(), index * plen)).is_err() || tx.send((index, data)).is_err() {
                    break;
                }
            }
            drop(tx);
            drop(stx);
            sha_results = sha.join().unwrap_or_default();
        });
    }
    let hashed = hashed.into_inner();
    let bad = bad.into_inner().unwrap_or_default();

    report.bytes_hashed += hashed;
    report.pieces += indices.len() as u64;
    // A download in part whose part file is gone: the pieces it held fail,
    // and the files they border say why.
    let parts_gone = match (&parts, &chosen) {
        (Some(p), Some(_)) if !bad.is_empty() && crate::safefs::len_under(&entry_dir, p).ok().flatten().is_none() => {
            format!("; its part file {} is gone: run goat fetch again", p.display())
        }
        _ => String::new(),
    };
    report.bad_pieces += bad.len() as u64;
    for (i, f) in files.iter().enumerate() {
        if f.padding {
            continue;
        }
        let (mut state, mut detail) = states[i].clone();
        let mut sha256_mismatch = None;
        if state == FileState::Ok {
            let first = f.offset / plen;
            let last = if f.length == 0 { first } else { (f.offset + f.length - 1) / plen };
            let failed: Vec<u64> = bad.range(first..=last).copied().collect();
            if !failed.is_empty() {
                state = FileState::Corrupt;
                detail = Some(format!("{} piece(s) fail SHA-1, first #{}{parts_gone}", failed.len(), failed[0]));
            } else if let (Some(want), Some(Some(got))) = (&f.sha256, sha_results.get(i)) {
                if want != got {
                    state = FileState::Corrupt;
                    detail = Some(format!("sha256 {got}, expected {want} (goatfile)"));
                    sha256_mismatch = Some(Sha256Mismatch { got: got.clone(), want: want.clone() });
                }
            }
        }
        report.files.push(FileReport { entry: m.entry.clone(), path: f.path.clone(), state, detail, sha256_mismatch });
    }
    Ok(bad)
}

/// Consume ordered stream chunks; return each file's sha256 (when wanted and
/// the whole file was seen).
fn sha256_stream(rx: Receiver<(Arc<FileBuf>, u64)>, spec: Vec<(u64, u64, bool)>) -> Vec<Option<String>> {
    let mut hashers: Vec<Option<(crate::hash::Sha256, u64)>> =
        spec.iter().map(|(_, _, want)| want.then(|| (crate::hash::Sha256::default(), 0))).collect();
    let spans: Vec<(u64, u64)> = spec.iter().map(|(o, l, _)| (*o, *l)).collect();
    let mut cursor = Overlaps::default();
    // Per file: its bytes came in order with none missing (a piece that
    // could not be read, or one not read, leaves a gap; that file then has
    // no verdict, the others still do).
    let mut whole = vec![true; spec.len()];
    while let Ok((data, start)) = rx.recv() {
        let end = start + data.len() as u64;
        for i in cursor.range(&spans, start, end) {
            let (fs, len, _) = &spec[i];
            let fe = fs + len;
            if fe <= start || *fs >= end {
                continue;
            }
            if let Some((h, seen)) = hashers[i].as_mut() {
                let (a, b) = (start.max(*fs), end.min(fe));
                if a - fs != *seen {
                    whole[i] = false;
                }
                h.update(&data[(a - start) as usize..(b - start) as usize]);
                *seen += b - a;
            }
        }
    }
    hashers
        .into_iter()
        .zip(spec)
        .zip(whole)
        .map(|((h, (_, len, _)), whole)| match h {
            Some((h, seen)) if seen == len && whole => Some(h.finish_hex()),
            _ => None,
        })
        .collect()
}

/// Reads whole pieces across file boundaries (zeros for padding files);
/// one per thread, each with its own open files.
struct PieceReader<'a> {
    files: &'a [&'a ManifestFile],
    states: &'a [(FileState, Option<String>)],
    dir: &'a std::path::Path,
    /// The entry's part file (its name in the folder), where files not
    /// chosen keep their bytes.
    parts: Option<&'a std::path::Path>,
    spans: &'a [(u64, u64)],
    cursor: Overlaps,
    open: BTreeMap<usize, Option<File>>,
    plen: u64,
    total: u64,
}

impl PieceReader<'_> {
    /// Piece `index`, or None if any of it cannot be read. Indices must not
    /// decrease between calls (the file cursor only moves forward).
    fn read(&mut self, index: u64) -> Option<FileBuf> {
        let (start, end) = self.bounds(index);
        let mut buf: Option<FileBuf> = None;
        let read = self.each_part(index, |into, n, file| {
            // placed for the first part's file offset (crate::filebuf)
            let b = buf.get_or_insert_with(|| FileBuf::new(file.as_ref().map_or(0, |f| f.1), (end - start) as usize));
            match file {
                Some((file, at)) => {
                    file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut b[into..into + n])).is_ok()
                }
                None => true, // padding: already zeros
            }
        });
        buf.filter(|_| read)
    }

    /// The SHA-1 of piece `index`, hashed straight from the page cache
    /// through a mapping ([`crate::sys::mapped`]; where a file cannot be mapped,
    /// read in runs into `scratch`), so the piece crosses memory once
    /// (measured: docs/benchmarks.md). None if any of it cannot be read.
    fn sha1(&mut self, index: u64, scratch: &mut FileBuf) -> Option<[u8; 20]> {
        let mut h = crate::hash::Sha1::default();
        let read = self.each_part(index, |_, n, file| match file {
            Some((file, at)) => crate::sys::mapped::each_run(file, at, n, scratch, |run| h.update(run)).is_ok(),
            None => scratch.runs(0, n, true, |_, _| Ok::<_, ()>(()), |run| h.update(run)).is_ok(),
        });
        read.then(|| h.finish())
    }

    fn bounds(&self, index: u64) -> (u64, u64) {
        let start = index * self.plen;
        (start, (start + self.plen).min(self.total))
    }

    /// The open file `i`, if it is there to be read.
    fn file(&mut self, i: usize) -> Option<&mut File> {
        let (dir, f) = (self.dir, self.files[i]);
        if f.skipped {
            let parts = self.parts?;
            return self
                .open
                .entry(usize::MAX)
                .or_insert_with(|| crate::safefs::open_under(dir, parts, crate::safefs::Access::Read).ok())
                .as_mut();
        }
        if self.states[i].0 != FileState::Ok && self.states[i].0 != FileState::Corrupt {
            return None;
        }
        self.open
            .entry(i)
            .or_insert_with(|| crate::safefs::open_under(dir, &f.path, crate::safefs::Access::Read).ok())
            .as_mut()
    }

    /// Each file's part of piece `index`, in order: `part(its offset in the
    /// piece, its length, the file and the offset to read it at)`, with no
    /// file for padding (zeros). False, and no further parts, when a file
    /// cannot be read, `part` says so, or the files leave a hole.
    fn each_part(&mut self, index: u64, mut part: impl FnMut(usize, usize, Option<(&mut File, u64)>) -> bool) -> bool {
        let (start, end) = self.bounds(index);
        let mut pos = start;
        for i in self.cursor.range(self.spans, start, end) {
            let f = self.files[i];
            let (fs, fe) = (f.offset, f.offset + f.length);
            if fe <= start || fs >= end {
                continue;
            }
            let (a, b) = (start.max(fs), end.min(fe));
            if a > pos {
                break;
            }
            // A file not chosen is read from the part file, at the
            // byte's offset in the torrent.
            let at = if f.skipped { a } else { a - fs };
            let file = if f.padding {
                None
            } else {
                match self.file(i) {
                    Some(file) => Some((file, at)),
                    None => break,
                }
            };
            if !part((a - start) as usize, (b - a) as usize, file) {
                break;
            }
            pos = b;
        }
        // Close files this reader has passed.
        let files = self.files;
        self.open.retain(|i, _| *i == usize::MAX || files[*i].offset + files[*i].length > end);
        pos == end
    }
}

/// Files sorted by offset, and a byte range that only moves forward: the
/// indexes of the files that may overlap it. Each piece then costs the files
/// it touches, not every file in the torrent (thousands, in some).
#[derive(Default)]
struct Overlaps {
    next: usize,
}

impl Overlaps {
    /// `spans` are (offset, length), sorted by offset, laid end to end.
    fn range(&mut self, spans: &[(u64, u64)], start: u64, end: u64) -> std::ops::Range<usize> {
        while self.next < spans.len() && spans[self.next].0 + spans[self.next].1 <= start {
            self.next += 1;
        }
        let mut stop = self.next;
        while stop < spans.len() && spans[stop].0 < end {
            stop += 1;
        }
        self.next..stop
    }
}

#[cfg(test)]
mod tests {
    use super::Overlaps;

    #[test]
    fn overlaps_follow_pieces_across_files() {
        // a 100-byte file, an empty one, a 50-byte one; pieces of 64
        let spans = [(0, 100), (100, 0), (100, 50)];
        let mut c = Overlaps::default();
        assert_eq!(c.range(&spans, 0, 64), 0..1);
        assert_eq!(c.range(&spans, 64, 128), 0..3);
        assert_eq!(c.range(&spans, 128, 150), 2..3);
    }
}

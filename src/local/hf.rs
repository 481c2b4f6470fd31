//! The Hugging Face hub cache, as `huggingface_hub` lays it out
//! (huggingface.co/docs/huggingface_hub/guides/manage-cache):
//!
//! ```text
//! <cache>/models--ORG--NAME/blobs/<sha256 of an LFS file, or git hash>
//!                          /snapshots/<commit>/<path> -> ../../blobs/<hash>
//!                          /refs/<branch>               (holds the commit)
//! ```
//!
//! goat reads it (local copies, `goat publish --hf`) and writes it
//! (`goat fetch --layout hf`): blobs named by sha256, relative symlinks,
//! `refs/main` only when there is none, nothing else of the cache touched.

use crate::error::{Error, Result};
use crate::goatfile::HfRepo;
use rustix::fs::{Mode, OFlags};
use std::path::{Path, PathBuf};

/// The hub cache folder, found as `huggingface_hub` finds it:
/// `HF_HUB_CACHE`, the older `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`,
/// `XDG_CACHE_HOME/huggingface/hub`, then `~/.cache/huggingface/hub`.
pub fn hub_cache() -> Option<PathBuf> {
    hub_cache_from(|k| std::env::var_os(k))
}

/// [`hub_cache`] with the environment read through `env`.
pub fn hub_cache_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let home = env("HOME");
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(|v| expand(Path::new(&v), home.as_deref()));
    if let Some(p) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return Some(p);
    }
    if let Some(home) = var("HF_HOME") {
        return Some(home.join("hub"));
    }
    let cache = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))?;
    Some(cache.join("huggingface").join("hub"))
}

/// `~/x` as the home folder's `x` (Python's `expanduser`).
fn expand(p: &Path, home: Option<&std::ffi::OsStr>) -> PathBuf {
    match (p.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// The `blobs` folders of every repository in the cache.
pub fn blob_folders(cache: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(cache) else { return Vec::new() };
    rd.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| ["models--", "datasets--", "spaces--"].iter().any(|p| n.starts_with(p)))
        })
        .map(|e| e.path().join("blobs"))
        // A link in the cache is not followed out of it.
        .filter(|b| {
            std::fs::symlink_metadata(b).is_ok_and(|m| m.is_dir())
                && std::fs::symlink_metadata(b.parent().unwrap_or(b)).is_ok_and(|m| m.is_dir())
        })
        .collect()
}

/// A model repository's folder in the cache.
pub fn repo_folder(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// One file of a snapshot: its path in the repository and the blob
/// holding it.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: Vec<String>,
    pub blob: PathBuf,
    pub size: u64,
}

/// A repository at one commit, as the cache holds it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub repo: String,
    pub commit: String,
    pub files: Vec<SnapshotFile>,
}

/// `ORG/NAME[@REVISION]` (a branch, tag or commit; default `main`).
pub fn parse_spec(spec: &str) -> Result<(String, String)> {
    let (repo, rev) = match spec.split_once('@') {
        Some((r, v)) => (r, v),
        None => (spec, "main"),
    };
    crate::goatfile::check_repo_id(repo).map_err(|why| {
        Error::usage(format!("--hf '{}': the repository id {why} (ORG/NAME[@REVISION])", crate::text::line(spec)))
    })?;
    if rev.is_empty()
        || rev.len() > 128
        || rev.starts_with('.')
        || rev.contains("..")
        || !rev.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    {
        return Err(Error::usage(format!(
            "--hf '{}': '{}' is not a branch, tag or commit",
            crate::text::line(spec),
            crate::text::line(rev)
        )));
    }
    Ok((repo.to_string(), rev.to_string()))
}

impl Snapshot {
    /// The snapshot of `repo` at `revision` in `cache`: a commit names its
    /// folder, a branch or tag is looked up in `refs/`. Anyone who can
    /// write the cache could aim a snapshot's links anywhere: the
    /// repository's folder and its `blobs` must be real folders (no link),
    /// each snapshot entry a link to a direct child of that `blobs`, named
    /// by a git hash (40 hex) or a sha256 (64 hex), which the caller checks
    /// against the bytes. So only blobs are ever published.
    pub fn read(cache: &Path, repo: &str, revision: &str) -> Result<Snapshot> {
        let folder = repo_folder(cache, repo);
        let shown = |p: &Path| crate::text::line(&p.to_string_lossy());
        let real_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        if !real_dir(&folder) {
            return Err(Error::usage(format!(
                "{repo} is not in the Hugging Face cache {} (or its folder is a link): download it first (hf download {repo}), or set HF_HUB_CACHE",
                shown(cache)
            )));
        }
        if !real_dir(&folder.join("blobs")) || !real_dir(&folder.join("snapshots")) {
            return Err(Error::usage(format!("{}: blobs/ and snapshots/ must be folders, not links", shown(&folder))));
        }
        let commit = if is_commit(revision) && real_dir(&folder.join("snapshots").join(revision)) {
            revision.to_string()
        } else {
            // Read without following a link or waiting on a FIFO, and small.
            let r = crate::safefs::read_file(&folder.join("refs").join(revision), 256).map_err(|_| {
                Error::usage(format!("{repo}: the cache has no revision '{revision}' (no refs/{revision}): name a commit, or download that revision first"))
            })?;
            let r = String::from_utf8_lossy(&r).trim().to_string();
            if !is_commit(&r) {
                return Err(Error::invalid(format!(
                    "{repo}: refs/{revision} in the cache does not hold a commit hash"
                )));
            }
            r
        };
        let root = folder.join("snapshots").join(&commit);
        if !real_dir(&root) {
            return Err(Error::usage(format!("{repo}: the cache has no snapshot {commit} (or it is a link)")));
        }
        let blobs = std::fs::canonicalize(folder.join("blobs"))
            .map_err(|e| Error::io(format!("reading {}", shown(&folder.join("blobs"))), e))?;
        let mut files = Vec::new();
        walk_snapshot(&root, &[], &blobs, 0, &mut 0, &mut files)?;
        if files.is_empty() {
            return Err(Error::usage(format!("{repo} at {commit} has no files in the cache {}", shown(cache))));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Snapshot { repo: repo.to_string(), commit, files })
    }
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A blob's name: a git blob hash (40 hex) or a sha256 (64 hex).
pub fn is_blob_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Most files, and the deepest folder, a snapshot may have.
const MAX_SNAPSHOT_FILES: usize = 100_000;
const MAX_SNAPSHOT_DEPTH: usize = 32;

/// The files of a snapshot folder: each a link to a direct child of the
/// repository's `blobs`, a regular file named as a blob is.
fn walk_snapshot(
    dir: &Path,
    rel: &[String],
    blobs: &Path,
    depth: usize,
    seen: &mut usize,
    out: &mut Vec<SnapshotFile>,
) -> Result<()> {
    let shown = |p: &Path| crate::text::line(&p.to_string_lossy());
    if depth > MAX_SNAPSHOT_DEPTH {
        return Err(Error::usage(format!("{} nests deeper than {MAX_SNAPSHOT_DEPTH} folders", shown(dir))));
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", shown(dir)), e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(format!("reading {}", shown(dir)), e))?;
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            return Err(Error::usage(format!(
                "{}: the file name is not UTF-8, which a torrent cannot carry",
                shown(&path)
            )));
        };
        let mut parts = rel.to_vec();
        parts.push(name);
        let t = e.file_type().map_err(|err| Error::io(format!("reading {}", shown(&path)), err))?;
        if t.is_dir() {
            *seen += 1;
            if *seen > MAX_SNAPSHOT_FILES {
                return Err(Error::usage(format!("the snapshot has more than {MAX_SNAPSHOT_FILES} entries")));
            }
            walk_snapshot(&path, &parts, blobs, depth + 1, seen, out)?;
            continue;
        }
        if !t.is_symlink() {
            return Err(Error::usage(format!(
                "{} is not a link to a blob, as huggingface_hub makes them: refusing to publish it",
                shown(&path)
            )));
        }
        let real = std::fs::canonicalize(&path).map_err(|err| Error::io(format!("following {}", shown(&path)), err))?;
        let blob_name = real.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if real.parent() != Some(blobs) || !is_blob_name(blob_name) {
            return Err(Error::usage(format!(
                "{} links outside the repository's blobs: refusing to publish it",
                shown(&path)
            )));
        }
        let md = std::fs::symlink_metadata(&real).map_err(|err| Error::io(format!("reading {}", shown(&real)), err))?;
        if !md.is_file() {
            return Err(Error::usage(format!("{} is not a regular file", shown(&real))));
        }
        *seen += 1;
        if *seen > MAX_SNAPSHOT_FILES {
            return Err(Error::usage(format!("the snapshot has more than {MAX_SNAPSHOT_FILES} entries")));
        }
        out.push(SnapshotFile { path: parts, blob: real, size: md.len() });
    }
    Ok(())
}

/// The git blob hash of a file (what the hub names a non-LFS file's blob
/// by): SHA-1 of "blob <length>\0" and the bytes.
pub fn git_blob_hash(path: &Path) -> std::io::Result<String> {
    let f = crate::safefs::open_file(path)?;
    let mut h = crate::hash::Sha1::default();
    h.update(format!("blob {}\0", f.metadata()?.len()).as_bytes());
    crate::hash::read_runs(&f, |run| h.update(run))?;
    Ok(hex::encode(h.finish()))
}

/// One file to lay into the cache: its path in the repository, its
/// sha256, and goat's verified copy.
pub struct LayFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub have: PathBuf,
}

/// What laying an entry into the cache did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Laid {
    pub snapshot: PathBuf,
    /// Blobs goat put there (the others were there already).
    pub blobs: usize,
    pub bytes: u64,
}

/// Lay `files` (verified, in goat's folder) into `cache` as `repo` at its
/// revision: each blob by sha256 (reflinked, hard-linked or copied), the
/// snapshot's relative links, and `refs/main` when goat made the
/// repository's folder. A blob already there is hashed; one that does not
/// match is an error, left as it is; so is a snapshot entry the cache
/// already has as another file (the repository name is the publisher's
/// claim, never a reason to change what the cache holds).
pub fn lay_out(cache: &Path, repo: &HfRepo, files: &[LayFile]) -> Result<Laid> {
    if files.is_empty() {
        return Err(Error::usage(format!("{}: the goatfile lists no files to lay into the cache", repo.repo)));
    }
    let cache = crate::safefs::anchor(cache).map_err(|e| Error::io(format!("creating {}", cache.display()), e))?;
    let folder = repo_folder(&cache, &repo.repo);
    // The repository name is the publisher's claim: goat adds it to the
    // cache, and never changes what the cache already holds for it.
    let new_repo = std::fs::symlink_metadata(&folder).is_err();
    let io = |what: &Path| {
        let what = what.to_path_buf();
        move |e: std::io::Error| Error::io(format!("writing {}", what.display()), e)
    };
    let blobs = crate::safefs::make_real_dir(&folder.join("blobs")).map_err(io(&folder.join("blobs")))?;
    let snapshot = folder.join("snapshots").join(&repo.revision);
    let snap = crate::safefs::make_real_dir(&snapshot).map_err(io(&snapshot))?;
    let mut laid = Laid { snapshot: snapshot.clone(), ..Default::default() };
    for f in files {
        match crate::safefs::found_in(&blobs, Path::new(&f.sha256)) {
            Ok(Some(_)) => {
                let got = crate::store::sha256_under(&folder.join("blobs"), Path::new(&f.sha256))
                    .map_err(io(&folder.join("blobs").join(&f.sha256)))?;
                if got != f.sha256 {
                    return Err(Error::new(
                        crate::error::Kind::Corrupt,
                        format!(
                            "the cache's blob {} does not hash to its name (it is {got}): remove it and run again",
                            folder.join("blobs").join(&f.sha256).display()
                        ),
                    ));
                }
            }
            Ok(None) => {
                super::place::put(
                    &blobs,
                    Path::new(&f.sha256),
                    &f.have,
                    f.size,
                    Some(f.sha256.as_str()),
                    true,
                    &super::place::Memo::default(),
                )
                .map_err(|why| why.error(format_args!("putting {} into the cache", f.path)))?;
                laid.blobs += 1;
                laid.bytes += f.size;
            }
            Err(e) => return Err(io(&folder.join("blobs").join(&f.sha256))(e)),
        }
        // snapshots/<commit>/a/b -> ../../../blobs/<sha256>
        let rel = Path::new(&f.path);
        let depth = rel.components().count() + 1;
        let target = format!("{}blobs/{}", "../".repeat(depth), f.sha256);
        let (parent, name) = crate::safefs::parent_of(&snap, rel, true).map_err(io(&snapshot.join(rel)))?;
        match rustix::fs::readlinkat(&parent, name, Vec::new()) {
            Ok(t) if t.to_bytes() == target.as_bytes() => {}
            Ok(_) => {
                return Err(Error::new(
                    crate::error::Kind::Usage,
                    format!(
                        "the cache already has {} at {} as another file: goat does not change a snapshot the cache holds (the goatfile's repository name is its publisher's claim); use the files in the output folder",
                        crate::text::line(&f.path),
                        repo.revision
                    ),
                ))
            }
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::symlinkat(target.as_str(), &parent, name).map_err(|e| io(&snapshot.join(rel))(e.into()))?;
            }
            Err(_) => {
                return Err(Error::new(crate::error::Kind::Io, format!(
                    "{} is in the way (not a link): move it away and run again",
                    snapshot.join(rel).display()
                )))
            }
        }
    }
    if !new_repo {
        return Ok(laid);
    }
    let refs = crate::safefs::make_real_dir(&folder.join("refs")).map_err(io(&folder.join("refs")))?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(&refs, "main", flags, Mode::from_raw_mode(0o644)) {
        Ok(fd) => {
            use std::io::Write;
            // As huggingface_hub writes it: the commit, no newline.
            std::fs::File::from(fd).write_all(repo.revision.as_bytes()).map_err(io(&folder.join("refs/main")))?;
        }
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(io(&folder.join("refs/main"))(e.into())),
    }
    Ok(laid)
}

/// The hub's address: `HF_ENDPOINT` (as huggingface_hub reads it), else
/// huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into())
        .trim_end_matches('/')
        .to_string()
}

/// Where the hub lists a repository's files at a commit, with their hashes
/// (huggingface_hub's `model_info(files_metadata=True)`).
pub fn api_url(repo: &HfRepo) -> String {
    format!("{}/api/models/{}/revision/{}?blobs=true", endpoint(), repo.repo, repo.revision)
}

/// Most bytes of the hub's answer read.
pub const MAX_API_BYTES: usize = 16 << 20;

#[derive(serde::Deserialize)]
struct ApiRepo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<ApiFile>,
}

#[derive(serde::Deserialize)]
struct ApiFile {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<ApiLfs>,
}

#[derive(serde::Deserialize)]
struct ApiLfs {
    sha256: String,
    size: u64,
}

/// The goatfile's claim that `files` are `repo` at its commit, checked
/// against what the hub says of that commit (`json`, from [`api_url`]):
/// each file listed there at its size, an LFS file with the same sha256,
/// any other with the git blob hash of goat's verified copy. The name is
/// the publisher's claim; this is what makes it the hub's too.
pub fn check_claim(repo: &HfRepo, json: &[u8], files: &[LayFile]) -> Result<()> {
    let what = format!("the hub's {} at {}", repo.repo, repo.revision);
    let api: ApiRepo =
        serde_json::from_slice(json).map_err(|e| Error::invalid(format!("{what}: not the hub's answer ({e})")))?;
    if api.sha.as_deref().is_some_and(|s| s != repo.revision) {
        return Err(Error::invalid(format!("{what}: the hub answered for another commit")));
    }
    let by_name: std::collections::HashMap<&str, &ApiFile> =
        api.siblings.iter().map(|f| (f.rfilename.as_str(), f)).collect();
    for f in files {
        let shown = crate::text::line(&f.path);
        let Some(h) = by_name.get(f.path.as_str()) else {
            return Err(Error::invalid(format!(
                "{what} has no file {shown}: the goatfile's repository name is not the hub's; not laid into the cache"
            )));
        };
        let same = match &h.lfs {
            Some(lfs) => lfs.sha256 == f.sha256 && lfs.size == f.size,
            None => {
                h.size.is_none_or(|s| s == f.size)
                    && h.blob_id.as_deref().is_some_and(|id| git_blob_hash(&f.have).is_ok_and(|got| got == id))
            }
        };
        if !same {
            return Err(Error::invalid(format!(
                "{what} holds another {shown} than the goatfile: its repository name is not the hub's; not laid into the cache"
            )));
        }
    }
    Ok(())
}

/// Remove every file below `folder` (goat's own) that is not in `keep`
/// (paths relative to it), and the folders left empty.
pub fn remove_others(folder: &Path, keep: &std::collections::HashSet<PathBuf>) -> std::io::Result<()> {
    fn visit(root: &Path, dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if e.file_type()?.is_dir() {
                visit(root, &path, keep)?;
                let _ = std::fs::remove_dir(&path);
            } else if !keep.contains(&rel) {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
    visit(folder, folder, keep)
}

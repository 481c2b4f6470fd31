//! Putting one goatfile entry on disk and proving it: the glue between the
//! goatfile, torrent and store stages, shared by `goat fetch` (one shot) and
//! `goat seed` (a daemon), so both write and check files the same way.

use crate::error::{Error, Kind, Result};
use crate::esplora::Esplora;
use crate::goatfile::Entry;
use crate::scan;
use crate::store::{Layout, Manifest, ManifestFile};
use crate::torrent::{self, Torrent};
use std::path::Path;
use std::time::Instant;

pub mod download;
pub mod metadata;
pub mod request;
pub use download::Download;

/// What putting one entry on disk did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryResult {
    pub name: String,
    pub kind: &'static str,
    pub files: usize,
    pub bytes: u64,
    /// Bytes received from peers (or the chain) in this run.
    pub fetched_bytes: u64,
    /// Of those, bytes from web seeds (BEP 19).
    pub web_seed_bytes: u64,
    /// Peer connections opened, with MSE/PE and in plaintext.
    pub encrypted_connections: u64,
    pub plaintext_connections: u64,
    /// Peer connections opened over uTP (whatever their encryption).
    pub utp_connections: u64,
    /// Bytes put in place from local copies instead of downloaded, and
    /// from where (`local::Placed::words`).
    pub reused_bytes: u64,
    pub reused_from: Vec<String>,
    pub seconds: f64,
}

/// Add a magnet entry for download into `dir` (its folder): the torrent's
/// metadata (from `known`, else peers) and the goatfile's checks of its
/// files ([`metadata_for`]), then [`place_and_add`].
/// `only`: the files and folders inside the torrent to fetch
/// (`goat fetch --only ENTRY/PATH`); empty: all of it.
#[allow(clippy::too_many_arguments)]
pub async fn add_entry(
    swarm: &torrent::Swarm,
    e: &Entry,
    magnet: &crate::goatfile::Magnet,
    peers: &[String],
    dir: &Path,
    timeout: std::time::Duration,
    known: Option<torrent::known::Checked>,
    sources: &crate::local::Sources,
    only: &[String],
) -> Result<(Torrent, crate::local::Placed)> {
    let md = metadata_for(swarm, e, magnet, peers, timeout, known).await?;
    let chosen = choose_files(e, &md.files, only)?;
    swarm.select(md.hash, chosen.clone());
    match chosen {
        // Local copies of the chosen files only.
        Some(c) => {
            let paths: std::collections::HashSet<&Path> =
                c.iter().filter_map(|&i| md.files.get(i)).map(|f| f.path.as_path()).collect();
            let part = Entry {
                files: e.files.iter().filter(|f| paths.contains(Path::new(&f.path))).cloned().collect(),
                ..e.clone()
            };
            place_and_add(swarm, &part, md, magnet, dir, sources).await
        }
        None => place_and_add(swarm, e, md, magnet, dir, sources).await,
    }
}

/// The indices of the torrent's files that `only` (paths inside the
/// torrent: a file, or a folder and all below it) names, or None for all
/// of them (nothing named, or every file). A path that names nothing is a
/// usage error that lists what the torrent holds at its top.
pub fn choose_files(e: &Entry, files: &[torrent::TorrentFile], only: &[String]) -> Result<Option<Vec<usize>>> {
    if only.is_empty() {
        return Ok(None);
    }
    let mut chosen = std::collections::BTreeSet::new();
    for want in only {
        let p = Path::new(want.trim_matches('/'));
        let named: Vec<usize> =
            files.iter().enumerate().filter(|(_, f)| !f.padding && f.path.starts_with(p)).map(|(i, _)| i).collect();
        if named.is_empty() {
            let mut top: Vec<String> = files
                .iter()
                .filter(|f| !f.padding)
                .filter_map(|f| f.path.components().next())
                .map(|c| crate::text::line(&c.as_os_str().to_string_lossy()))
                .collect();
            top.dedup();
            let shown = if top.len() > 12 { format!("{}, …", top[..12].join(", ")) } else { top.join(", ") };
            return Err(Error::usage(format!(
                "--only '{}/{}': the torrent has no such file or folder (at its top: {shown})",
                crate::text::line(&e.name),
                crate::text::line(want)
            )));
        }
        chosen.extend(named);
    }
    let all = files.iter().filter(|f| !f.padding).count();
    Ok((chosen.len() < all).then(|| chosen.into_iter().collect()))
}

/// An entry's torrent metadata, its files checked against the goatfile.
pub async fn metadata_for(
    swarm: &torrent::Swarm,
    e: &Entry,
    magnet: &crate::goatfile::Magnet,
    peers: &[String],
    timeout: std::time::Duration,
    known: Option<torrent::known::Checked>,
) -> Result<torrent::Metadata> {
    let md = swarm.metadata(magnet, peers, timeout, known).await?;
    check_files(e, &md.listed())?;
    Ok(md)
}

/// Local copies of the entry's files put in place in `dir`
/// (`crate::local`), then the torrent added, which fetches only what is
/// still missing.
pub async fn place_and_add(
    swarm: &torrent::Swarm,
    e: &Entry,
    md: torrent::Metadata,
    magnet: &crate::goatfile::Magnet,
    dir: &Path,
    sources: &crate::local::Sources,
) -> Result<(Torrent, crate::local::Placed)> {
    let placed = if sources.is_empty() || e.files.is_empty() {
        crate::local::Placed::default()
    } else {
        let (s, d, specs, geometry) = (sources.clone(), dir.to_path_buf(), e.files.clone(), geometry(&md));
        tokio::task::spawn_blocking(move || crate::local::place(&s, &d, &specs, &geometry))
            .await
            .map_err(|err| Error::internal(err.to_string()))?
    };
    let hash = md.hash;
    let t = swarm.add_from(md, magnet, dir).await?;
    // Only for a torrent added here (not one the session already had in
    // another folder).
    if t.handle.output_folder() == dir {
        swarm.hashed_whole(&hash, placed.reused.iter().map(|r| (r.path.clone(), r.stamp)));
    }
    Ok((t, placed))
}

/// Where a finished download's bytes came from, one debug line per peer
/// (`-v`, or RUST_LOG=goat=debug): what benches/swarm traces a swarm's
/// upload with (docs/swarm.md).
pub fn log_peer_tallies(entry: &str, t: &Torrent) {
    for p in t.peer_tallies() {
        tracing::debug!(target: "goat", "{}: peer {} sent {} bytes, {} pieces; stolen from it {}, it stole {}", crate::text::line(entry), crate::text::line(&p.addr), p.fetched_bytes, p.pieces, p.stolen_from_it, p.it_stole);
    }
}

/// The torrent's file layout, as `crate::local` takes it.
pub fn geometry(md: &torrent::Metadata) -> crate::local::Geometry {
    crate::local::Geometry {
        piece_length: md.piece_length,
        files: md.files.iter().map(|f| (f.path.clone(), f.offset, f.length, f.padding)).collect(),
    }
}

/// Check the torrent's files (relative path, length) against what the
/// goatfile entry promises. `Swarm::add` runs this on the metadata before
/// the torrent is added for download.
pub fn check_files(e: &Entry, files: &[(std::path::PathBuf, u64)]) -> Result<()> {
    let name = crate::text::line(&e.name);
    // By path, so 20,000 files cost 20,000 lookups, not 400 million.
    let lengths: std::collections::HashMap<&Path, u64> = files.iter().map(|(p, l)| (p.as_path(), *l)).collect();
    for spec in &e.files {
        let path = crate::text::line(&spec.path);
        let Some(length) = lengths.get(Path::new(&spec.path)) else {
            return Err(Error::invalid(format!(
                "{name}: the goatfile lists '{path}' but the torrent has no such file"
            )));
        };
        if let Some(size) = spec.size {
            if size != *length {
                return Err(Error::invalid(format!(
                    "{name}: '{path}' is {length} bytes in the torrent but {size} in the goatfile: refusing to download"
                )));
            }
        }
    }
    Ok(())
}

/// Save the .torrent and manifest (after `check_files`, again: a torrent
/// restored from the state directory was not checked by `Swarm::add`).
pub fn record_torrent(layout: &Layout, e: &Entry, t: &Torrent) -> Result<Manifest> {
    let (bytes, files) = t.metadata()?;
    let only: Option<std::collections::HashSet<usize>> = t.handle.only_files().map(|o| o.into_iter().collect());
    let listed: Vec<_> = files.iter().map(|f| (f.path.clone(), f.length)).collect();
    check_files(e, &listed)?;
    layout.write(&layout.torrent_file(&e.name), &bytes)?;
    let sha256s: std::collections::HashMap<&Path, &String> =
        e.files.iter().filter_map(|s| s.sha256.as_ref().map(|h| (Path::new(&s.path), h))).collect();
    let m = Manifest {
        entry: e.name.clone(),
        info_hash: Some(t.info_hash()),
        inscription: None,
        files: files
            .iter()
            .enumerate()
            .map(|(i, f)| ManifestFile {
                path: f.path.clone(),
                length: f.length,
                offset: f.offset,
                padding: f.padding,
                sha256: sha256s.get(f.path.as_path()).map(|h| (*h).clone()),
                skipped: !f.padding && only.as_ref().is_some_and(|o| !o.contains(&i)),
            })
            .collect(),
    };
    layout.save_manifest(&m)?;
    if only.is_none() {
        // The whole torrent now: a part file of an earlier download in
        // part holds nothing the files do not.
        let parts = torrent::files::parts_name(&m.info_hash.unwrap_or_else(|| t.info_hash()));
        let dir = layout.entry_dir(&e.name);
        match crate::safefs::make_real_dir(&dir).and_then(|d| crate::safefs::remove_in(&d, &parts)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(target: "goat", "{}: the part file {} of an earlier download in part stays ({err}): nothing reads it now, remove it", crate::text::line(&e.name), dir.join(&parts).display());
            }
            _ => {}
        }
    }
    Ok(m)
}

/// Prove downloaded torrent entries on disk. With `reread`, one re-read
/// proves both the pieces (a short write on a full or failing disk is
/// invisible to librqbit's in-memory check) and the goatfile sha256s;
/// without it only files with a goatfile sha256 are read. A file that is
/// intact but not what the goatfile promised is moved aside.
pub async fn prove(layout: &Layout, manifests: &[Manifest], reread: bool) -> Result<()> {
    if !reread {
        for m in manifests {
            check_sha256(layout, m, &[]).await?;
        }
        return Ok(());
    }
    let report = reread_all(layout, manifests).await?;
    let damaged: Vec<_> = report.files.iter().filter(|f| f.state.failed() && f.sha256_mismatch.is_none()).collect();
    if let Some(bad) = damaged.first() {
        let hint = if torrent::disk_full(&layout.root) {
            " (the disk is full: free space and run again)"
        } else {
            ": run the same command again to repair"
        };
        return Err(Error::new(
            Kind::Corrupt,
            format!(
                "{} file(s) on disk do not match their piece hashes after download, first {}/{}{}{hint}",
                damaged.len(),
                bad.entry,
                bad.path.display(),
                bad.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
        ));
    }
    sha256_verdict(layout, &report)
}

/// One re-read of `manifests` (pieces and goatfile sha256s).
async fn reread_all(layout: &Layout, manifests: &[Manifest]) -> Result<crate::store::verify::Report> {
    let l2 = layout.clone();
    let ms = manifests.to_vec();
    tokio::task::spawn_blocking(move || {
        crate::store::verify::verify_manifests(&l2, &ms, crate::store::verify::default_threads())
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
}

/// A file that is intact but not what the goatfile promised: moved aside.
fn sha256_verdict(layout: &Layout, report: &crate::store::verify::Report) -> Result<()> {
    if let Some(f) = report.files.iter().find(|f| f.sha256_mismatch.is_some()) {
        let m = f.sha256_mismatch.as_ref().expect("checked");
        let path = layout.entry_dir(&f.entry).join(&f.path);
        return Err(crate::store::set_aside_sha256_mismatch(&f.entry, &f.path, &path, &m.got, &m.want));
    }
    Ok(())
}

/// Re-read one entry: the files whose pieces do not match (to be fetched
/// again), or the goatfile's sha256 verdict when every piece does.
async fn damaged_files(layout: &Layout, m: &Manifest) -> Result<Vec<std::path::PathBuf>> {
    let report = reread_all(layout, std::slice::from_ref(m)).await?;
    let damaged: Vec<_> = report
        .files
        .iter()
        .filter(|f| f.state.failed() && f.sha256_mismatch.is_none())
        .map(|f| f.path.clone())
        .collect();
    if damaged.is_empty() {
        sha256_verdict(layout, &report)?;
    }
    Ok(damaged)
}

/// Only the goatfile's sha256s (no piece re-read), but of `hashed`: files
/// goat already hashed whole in this session.
async fn check_sha256(layout: &Layout, m: &Manifest, hashed: &[std::path::PathBuf]) -> Result<()> {
    let hashed: std::collections::HashSet<&std::path::PathBuf> = hashed.iter().collect();
    for f in m.files.iter().filter(|f| f.sha256.is_some() && !f.skipped && !hashed.contains(&f.path)) {
        let (dir, rel) = (layout.entry_dir(&m.entry), f.path.clone());
        let path = dir.join(&rel);
        let got = tokio::task::spawn_blocking(move || crate::store::sha256_under(&dir, &rel))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let want = f.sha256.as_deref().unwrap_or_default();
        if got != want {
            return Err(crate::store::set_aside_sha256_mismatch(&m.entry, &f.path, &path, &got, want));
        }
    }
    Ok(())
}

/// The manifest's `inscription` field for an on-chain entry: the id, or
/// the parts' ids joined with commas.
fn inscription_key(ids: &[crate::inscription::InscriptionId]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// An entry whose file is an inscription's content (or several
/// inscriptions' contents, joined in order): fetched from the chain,
/// checked against the goatfile's size and sha256, written atomically.
pub async fn fetch_inscription(esplora: &Esplora, layout: &Layout, e: &Entry) -> Result<EntryResult> {
    let Some(ids) = e.source.inscriptions() else {
        return Err(Error::internal("fetch_inscription called on a magnet entry"));
    };
    let spec = e.files.first().ok_or_else(|| Error::internal("inscription entry without path"))?;
    let started = Instant::now();
    let cap = crate::inscription::content::MAX_DECODED;
    let mut body = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let (_, served) = scan::lookup(esplora, id)
            .await
            .map_err(|err| err.context(format!("{}: part {} of {} ({id})", e.name, n + 1, ids.len())))?;
        // Decoded no further than the goatfile's size allows (one byte
        // past it tells "more than it says"): a small compressed part must
        // not inflate to hundreds of MB in memory first.
        let left = cap.saturating_sub(body.len() as u64);
        let left = spec.size.map_or(left, |s| left.min(s.saturating_sub(body.len() as u64).saturating_add(1)));
        body.extend(served.decode(left).map_err(|err| match spec.size {
            Some(size) if matches!(err.find(), Some(crate::inscription::content::Undecodable::TooBig(_))) => {
                Error::new(
                    Kind::Corrupt,
                    format!("{}: its parts hold more than the {size} bytes the goatfile says: nothing written", e.name),
                )
            }
            _ => err,
        })?);
        if let Some(size) = spec.size {
            if body.len() as u64 > size {
                return Err(Error::new(
                    Kind::Corrupt,
                    format!("{}: its parts hold more than the {size} bytes the goatfile says: nothing written", e.name),
                ));
            }
        }
    }
    let id = inscription_key(&ids);
    if let Some(size) = spec.size {
        if size != body.len() as u64 {
            return Err(Error::new(
                Kind::Corrupt,
                format!("{}: inscription {id} holds {} bytes but the goatfile says {size}", e.name, body.len()),
            ));
        }
    }
    let got = { crate::hash::sha256_hex(&body) };
    if let Some(want) = &spec.sha256 {
        if &got != want {
            return Err(Error::new(
                Kind::Corrupt,
                format!("{}: inscription {id} has sha256 {got} but the goatfile says {want}: nothing written", e.name),
            ));
        }
    }
    // Its folders made without following links; written beside and renamed
    // over, so a link in its place is replaced, never followed.
    let path = layout.make_entry_dir(&e.name)?.join(&spec.path);
    layout.write(&path, &body)?;
    layout.save_manifest(&Manifest {
        entry: e.name.clone(),
        info_hash: None,
        inscription: Some(id.to_string()),
        files: vec![ManifestFile {
            path: spec.path.clone().into(),
            length: body.len() as u64,
            offset: 0,
            padding: false,
            sha256: Some(got),
            skipped: false,
        }],
    })?;
    Ok(EntryResult {
        name: e.name.clone(),
        kind: "inscription",
        files: 1,
        bytes: body.len() as u64,
        fetched_bytes: body.len() as u64,
        web_seed_bytes: 0,
        encrypted_connections: 0,
        plaintext_connections: 0,
        utp_connections: 0,
        reused_bytes: 0,
        reused_from: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// An inscription entry already on disk and matching its manifest's sha256
/// (so a daemon does not rewrite it on every poll).
pub fn inscription_present(layout: &Layout, e: &Entry) -> bool {
    let Some(ids) = e.source.inscriptions() else { return false };
    let Some(m) = layout.load_manifest(&e.name) else { return false };
    if m.inscription.as_deref() != Some(&inscription_key(&ids)) {
        return false;
    }
    m.files.iter().all(|f| match (&f.sha256, crate::store::sha256_under(&layout.entry_dir(&e.name), &f.path)) {
        (Some(want), Ok(got)) => &got == want,
        _ => false,
    })
}

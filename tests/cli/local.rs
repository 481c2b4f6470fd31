//! Local copies: the Hugging Face hub cache and `--from` folders put in
//! place before a download, and `--layout hf` read back by the real
//! `huggingface_hub` (from PyPI, in the test venv, offline).

use crate::fetch::publish_yaml;
use crate::harness::*;
use crate::seeder::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two files whose last piece (64 KiB pieces) spans the boundary.
pub const FILES: &[(&str, usize)] = &[("weights.bin", 1_500_001), ("config.json", 700)];
pub const REPO: &str = "goat-test/tiny-llama";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

pub fn python() -> PathBuf {
    std::env::var_os("GOAT_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"))
}

/// A hub cache at `cache` holding `files` (path, bytes) of `repo` at
/// `commit`, laid out as huggingface_hub documents it: blobs named by
/// sha256, the snapshot's relative links, refs/main.
pub fn hf_cache(cache: &Path, repo: &str, commit: &str, files: &[(&str, Vec<u8>)]) {
    let folder = cache.join(format!("models--{}", repo.replace('/', "--")));
    std::fs::create_dir_all(folder.join("blobs")).unwrap();
    std::fs::create_dir_all(folder.join("refs")).unwrap();
    std::fs::write(folder.join("refs/main"), commit).unwrap();
    for (path, bytes) in files {
        let h = sha256(bytes);
        std::fs::write(folder.join("blobs").join(&h), bytes).unwrap();
        let link = folder.join("snapshots").join(commit).join(path);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let depth = Path::new(path).components().count() + 1;
        std::os::unix::fs::symlink(format!("{}blobs/{h}", "../".repeat(depth)), link).unwrap();
    }
}

/// The git blob hash of `bytes` (what the hub calls a non-LFS file's
/// `blobId`).
pub fn git_hash(bytes: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex::encode(h.finalize())
}

/// The hub's file list for `repo` at `commit` (what
/// `/api/models/REPO/revision/COMMIT?blobs=true` answers), written under
/// `root` for nginx to serve: `lfs` files with their sha256, the others
/// with their git blob hash.
pub fn hub_api(root: &Path, repo: &str, commit: &str, files: &[(&str, Vec<u8>)], lfs: &[&str]) {
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|(f, b)| {
            if lfs.contains(f) {
                serde_json::json!({"rfilename": f, "size": b.len(), "blobId": git_hash(b),
                    "lfs": {"sha256": sha256(b), "size": b.len(), "pointerSize": 134}})
            } else {
                serde_json::json!({"rfilename": f, "size": b.len(), "blobId": git_hash(b)})
            }
        })
        .collect();
    let p = root.join("api/models").join(repo).join("revision").join(commit);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::json!({"id": repo, "sha": commit, "siblings": siblings}).to_string()).unwrap();
}

/// The payload, its torrent seeded by librqbit (at `upload_bps`), and a
/// served goatfile whose entry lists every file's size and sha256 and
/// names the repository.
pub struct Model {
    pub t: Made,
    pub seeder: LibrqbitSeeder,
    pub handle: goat::devchain::server::Handle,
    pub addr: String,
    pub files: Vec<(&'static str, Vec<u8>)>,
}

pub fn model(w: &Path, upload_bps: Option<u32>) -> Model {
    let src = w.join("src").join("model");
    make_payload(&src, FILES);
    let t = make_torrent(&src, 65536, vec![]);
    let seeder = LibrqbitSeeder::start(&t, &src, upload_bps);
    let files: Vec<(&str, Vec<u8>)> = FILES.iter().map(|(f, _)| (*f, std::fs::read(src.join(f)).unwrap())).collect();
    let listed: String = files
        .iter()
        .map(|(f, b)| format!("      - path: {f}\n        size: {}\n        sha256: {}\n", b.len(), sha256(b)))
        .collect();
    let yaml = format!(
        "goat: 1\nentries:\n  - name: model\n    magnet: \"{}\"\n    hf:\n      repo: {REPO}\n      revision: {COMMIT}\n    files:\n{listed}",
        t.magnet_with_peer(seeder.port)
    );
    let (scene, addr) = publish_yaml(&yaml);
    Model { t, seeder, handle: scene.serve(), addr, files }
}

pub fn entry(o: &Out) -> serde_json::Value {
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", o.stdout, o.stderr));
    v["entries"][0].clone()
}

fn verify(dir: &Path) {
    let v = goat().args(["verify"]).args([dir]).run();
    assert_eq!(v.code, 0, "goat verify: {}{}", v.stdout, v.stderr);
}

/// (bytes, mtime) of every file under `dir`, to show goat changed none.
fn snapshot_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>, i64)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let md = std::fs::symlink_metadata(&e).unwrap();
        if md.is_file() {
            out.push((e.clone(), std::fs::read(&e).unwrap(), md.mtime_nsec() + md.mtime() * 1_000_000_000));
        }
    }
    out.sort();
    out
}

/// Every file below `dir` (links not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every file already in the hub cache: nothing is asked of the peer (it
/// uploads at 64 KB/s, so fetching would show), the files are the
/// model's, verified, and the cache is exactly as it was.
#[test]
fn every_file_in_the_hf_cache_means_no_piece_from_peers() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, Some(64 * 1024));
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &m.files);
    let before = snapshot_of(&cache);
    let out = w.join("out");
    let o = fetch(&m.handle.url, &m.addr, &out).env("HF_HUB_CACHE", &cache).args(["--json"]).run();
    let e = entry(&o);
    let total: u64 = FILES.iter().map(|(_, n)| *n as u64).sum();
    assert_eq!(e["reused_bytes"], total, "{e}");
    assert_eq!(e["fetched_bytes"], 0, "{e}\n{}", o.stderr);
    assert!(e["reused_from"][0].as_str().unwrap().contains(&cache.display().to_string()), "{e}");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(out.join("model").join(f)).unwrap(), bytes, "{f}");
    }
    verify(&out);
    assert_eq!(snapshot_of(&cache), before, "the hub cache changed");
    drop(m.seeder);
}

/// One of two files in the cache, the piece they share downloaded: only
/// that piece and the missing file come from the peer, and the reused
/// file is goat's own copy (the shared piece is written into it), never
/// the cache's blob under a second name.
#[test]
fn a_partial_cache_downloads_the_rest_and_the_shared_piece() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &m.files[..1]);
    let before = snapshot_of(&cache);
    let out = w.join("out");
    let o = fetch(&m.handle.url, &m.addr, &out).env("HF_HUB_CACHE", &cache).args(["--json"]).run();
    let e = entry(&o);
    assert_eq!(e["reused_bytes"], FILES[0].1, "{e}");
    // 1,500,701 bytes in 64 KiB pieces: the last (58,909 bytes) holds the
    // end of weights.bin and all of config.json.
    let fetched = e["fetched_bytes"].as_u64().unwrap();
    assert!(fetched > 0 && fetched < 2 * 65536, "fetched {fetched}: {e}");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(out.join("model").join(f)).unwrap(), bytes, "{f}");
    }
    assert_eq!(std::fs::metadata(out.join("model/weights.bin")).unwrap().nlink(), 1);
    verify(&out);
    assert_eq!(snapshot_of(&cache), before, "the hub cache changed");
}

/// A blob whose name is the file's sha256 but whose bytes were changed
/// afterwards: goat's hash of it refuses it, says so, and downloads the
/// file; the user's blob is left as it is.
#[test]
fn a_changed_blob_is_refused_and_downloaded() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &m.files);
    let blob = cache.join(format!("models--{}", REPO.replace('/', "--"))).join("blobs").join(sha256(&m.files[0].1));
    let mut changed = m.files[0].1.clone();
    changed[1000] ^= 0xff;
    std::fs::write(&blob, &changed).unwrap();
    let out = w.join("out");
    let o = fetch(&m.handle.url, &m.addr, &out).env("HF_HUB_CACHE", &cache).args(["--json"]).run();
    let e = entry(&o);
    assert!(o.stderr.contains("not used") && o.stderr.contains("sha256"), "{}", o.stderr);
    assert_eq!(e["reused_bytes"], FILES[1].1, "only config.json is reused: {e}");
    assert!(e["fetched_bytes"].as_u64().unwrap() >= FILES[0].1 as u64, "{e}");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(out.join("model").join(f)).unwrap(), bytes, "{f}");
    }
    verify(&out);
    assert_eq!(std::fs::read(&blob).unwrap(), changed, "goat changed the user's blob");
}

/// A plain folder named with --from (other names, other layout) is used
/// by size and sha256; --no-local turns every lookup off.
#[test]
fn from_folders_count_and_no_local_turns_it_off() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let mine = w.join("mine");
    std::fs::create_dir_all(mine.join("deep")).unwrap();
    std::fs::write(mine.join("deep/shard-00001.bin"), &m.files[0].1).unwrap();
    std::fs::write(mine.join("config (copy).json"), &m.files[1].1).unwrap();
    // The same size as weights.bin, other bytes: hashed, not used.
    let mut decoy = m.files[0].1.clone();
    decoy[0] ^= 1;
    std::fs::write(mine.join("weights.bin"), &decoy).unwrap();
    let empty_cache = w.join("no-cache");
    let out = w.join("out");
    let o = fetch(&m.handle.url, &m.addr, &out)
        .env("HF_HUB_CACHE", &empty_cache)
        .args(["--json", "--from"])
        .args([&mine])
        .run();
    let e = entry(&o);
    assert_eq!(e["reused_bytes"], (FILES[0].1 + FILES[1].1) as u64, "{e}");
    assert_eq!(e["fetched_bytes"], 0, "{e}");
    verify(&out);
    assert_eq!(std::fs::read(mine.join("weights.bin")).unwrap(), decoy);

    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &m.files);
    let out2 = w.join("out2");
    let o = fetch(&m.handle.url, &m.addr, &out2).env("HF_HUB_CACHE", &cache).args(["--json", "--no-local"]).run();
    let e = entry(&o);
    assert_eq!(e["reused_bytes"], 0, "{e}");
    assert_eq!(e["fetched_bytes"].as_u64().unwrap(), (FILES[0].1 + FILES[1].1) as u64, "{e}");
    let both = fetch(&m.handle.url, &m.addr, &out2).args(["--no-local", "--from"]).args([&mine]).run();
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// `--layout hf` lays the entry into an empty hub cache, and the real
/// huggingface_hub, offline, reads it back: `scan_cache_dir()` lists the
/// repository at its commit with every file, and
/// `snapshot_download(..., local_files_only=True)` returns goat's
/// snapshot, whose files are the model's.
#[test]
fn layout_hf_is_what_huggingface_hub_reads_offline() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let cache = w.join("hf");
    let out = w.join("out");
    // The hub (nginx through HF_ENDPOINT) agrees the files are the
    // repository at that commit: weights.bin as an LFS file, config.json
    // by its git hash.
    let hub = w.join("hub");
    hub_api(&hub, REPO, COMMIT, &m.files, &["weights.bin"]);
    let nginx = crate::webseed::Nginx::start(&hub, &hub, "10m");
    let endpoint = format!("http://127.0.0.1:{}", nginx.good);
    let o = fetch(&m.handle.url, &m.addr, &out)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_ENDPOINT", &endpoint)
        .args(["--layout", "hf"])
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("laid into the Hugging Face cache"), "{}", o.stderr);
    let script = format!(
        r#"
import json, os, sys
from huggingface_hub import scan_cache_dir, snapshot_download
info = scan_cache_dir()
repos = [r for r in info.repos if r.repo_id == "{REPO}"]
assert len(repos) == 1, info
revs = list(repos[0].revisions)
assert [r.commit_hash for r in revs] == ["{COMMIT}"], revs
assert sorted(f.file_name for f in revs[0].files) == ["config.json", "weights.bin"], revs[0].files
assert info.warnings == [], info.warnings
path = snapshot_download("{REPO}", local_files_only=True)
print(json.dumps({{"path": path, "files": sorted(os.listdir(path)), "size": repos[0].size_on_disk}}))
"#
    );
    let py = Command::new(python())
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", &script])
        .output()
        .expect("python with huggingface_hub (tests/run.sh installs it into a venv and sets GOAT_PYTHON)");
    assert!(
        py.status.success(),
        "huggingface_hub: {}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    let path = PathBuf::from(v["path"].as_str().unwrap());
    assert!(path.ends_with(format!("snapshots/{COMMIT}")), "{v}");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(path.join(f)).unwrap(), bytes, "{f}");
    }
    // A second run finds everything in place.
    let again = fetch(&m.handle.url, &m.addr, &out)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_ENDPOINT", &endpoint)
        .args(["--layout", "hf"])
        .run();
    assert_eq!(again.code, 0, "{}", again.stderr);
}

/// The goatfile's repository name is its publisher's claim: `--layout hf`
/// lays nothing into the cache when the hub says that repository at that
/// commit holds other bytes (a publisher naming a famous model), or when
/// the hub cannot be asked; the verified files stay in the output folder.
#[test]
fn layout_hf_takes_the_repository_name_only_from_the_hub() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let hub = w.join("hub");
    let mut real = m.files.clone();
    real[0].1[5] ^= 1;
    hub_api(&hub, REPO, COMMIT, &real, &["weights.bin"]);
    let nginx = crate::webseed::Nginx::start(&hub, &hub, "10m");
    for (endpoint, code, why) in [
        (format!("http://127.0.0.1:{}", nginx.good), 5, "holds another weights.bin"),
        (format!("http://127.0.0.1:{}", free_port()), 4, "asks the hub whether"),
    ] {
        let cache = w.join(format!("hf-{code}"));
        let out = w.join(format!("out-{code}"));
        let o = fetch(&m.handle.url, &m.addr, &out)
            .env("HF_HUB_CACHE", &cache)
            .env("HF_ENDPOINT", &endpoint)
            .args(["--layout", "hf"])
            .run();
        assert_eq!(o.code, code, "{}", o.stderr);
        assert!(o.stderr.contains(why), "{}", o.stderr);
        assert!(!cache.join(format!("models--{}", REPO.replace('/', "--"))).exists(), "laid out anyway");
        for (f, bytes) in &m.files {
            assert_eq!(&std::fs::read(out.join("model").join(f)).unwrap(), bytes, "{f}");
        }
    }
}

/// `goat publish --hf` from a hub cache the test built (which the real
/// huggingface_hub reads first, so it is the documented layout): the
/// goatfile carries the repository, commit and the blobs' sha256s; another
/// goat fetches it from the publisher's seeding, and, the publisher gone,
/// from the hub alone (nginx playing huggingface.co through HF_ENDPOINT;
/// the metadata is on chain), byte for byte. The cache is left as it was.
#[test]
fn publish_hf_is_fetched_from_its_seeder_and_from_the_hub_alone() {
    use crate::publish::{holder, key_file};
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = w.join("src");
    let names = [("model.safetensors", 700_000), ("config.json", 300), ("tokenizer/vocab.txt", 5_000)];
    make_payload(&src, &names);
    let files: Vec<(&str, Vec<u8>)> = names.iter().map(|(f, _)| (*f, std::fs::read(src.join(f)).unwrap())).collect();
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &files);
    let py = Command::new(python())
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", &format!("from huggingface_hub import scan_cache_dir\ni = scan_cache_dir()\nr = [r for r in i.repos if r.repo_id == '{REPO}'][0]\nassert i.warnings == [], i.warnings\nprint(sorted(f.file_name for v in r.revisions for f in v.files))")])
        .output()
        .expect("python with huggingface_hub (tests/run.sh installs it into a venv and sets GOAT_PYTHON)");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), "['config.json', 'model.safetensors', 'vocab.txt']");
    let before = snapshot_of(&cache);
    // The hub: <endpoint>/ORG/NAME/resolve/<commit>/<path>.
    let hub = w.join("hub");
    for (f, b) in &files {
        let p = hub.join(REPO).join("resolve").join(COMMIT).join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    let nginx = crate::webseed::Nginx::start(&hub, &hub, "10m");

    let mut s = Scene::new();
    let who = holder(&mut s, 0x47, 300_000);
    let h = s.serve();
    let key = key_file(w, "holder.wif", &who.wif, 0o600);
    let port = free_port();
    let publisher = goat()
        .esplora(&h.url)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{}", nginx.good))
        .args(["publish", "--hf", REPO, "--key-file"])
        .args([&key])
        .args([
            "--network",
            "regtest",
            "--fee-rate",
            "3",
            "--yes",
            "--seed",
            "--loopback",
            "--no-dht",
            "--onchain-metadata",
        ])
        .args([
            "--listen-port",
            &port.to_string(),
            "--peer-hint",
            &format!("127.0.0.1:{port}"),
            "--seed-for",
            "90",
            "--state-dir",
        ])
        .args([w.join("state")])
        .spawn(w);
    let published = wait_for(std::time::Duration::from_secs(60), || {
        std::fs::read_to_string(w.join("goat.stdout")).is_ok_and(|s| s.contains("inscription "))
    });
    assert!(
        published,
        "goat publish --hf did not broadcast: {}",
        std::fs::read_to_string(w.join("goat.stderr")).unwrap_or_default()
    );
    h.state.chain.write().unwrap().mine();
    let addr = who.address.to_string();
    let yaml = goat().esplora(&h.url).args(["resolve", &addr]).run().ok().stdout;
    assert!(yaml.contains(&format!("repo: {REPO}")) && yaml.contains(&format!("revision: {COMMIT}")), "{yaml}");
    assert!(yaml.contains("name: tiny-llama"), "{yaml}");
    for (f, b) in &files {
        assert!(yaml.contains(&format!("path: {f}")) && yaml.contains(&sha256(b)), "{f}: {yaml}");
    }
    assert!(
        yaml.contains(&format!(
            "ws=http%3A%2F%2F127.0.0.1%3A{}%2F{}%2Fresolve%2F",
            nginx.good,
            REPO.replace('/', "%2F")
        )),
        "{yaml}"
    );

    let out = w.join("out");
    let e = entry(&fetch(&h.url, &addr, &out).args(["--json"]).run());
    for (f, b) in &files {
        assert_eq!(&std::fs::read(out.join("tiny-llama").join(f)).unwrap(), b, "{f}");
    }
    assert_eq!(e["reused_bytes"], 0, "{e}");
    verify(&out);

    drop(publisher);
    let out2 = w.join("out2");
    let e = entry(&fetch(&h.url, &addr, &out2).args(["--json", "--metadata-timeout", "20"]).run());
    let total: u64 = names.iter().map(|(_, n)| *n as u64).sum();
    assert_eq!(e["web_seed_bytes"], total, "the hub served it all: {e}");
    for (f, b) in &files {
        assert_eq!(&std::fs::read(out2.join("tiny-llama").join(f)).unwrap(), b, "{f}");
    }
    verify(&out2);
    assert_eq!(snapshot_of(&cache), before, "the hub cache changed");
}

/// The reflink path, on a btrfs image the test makes and mounts inside a
/// private mount namespace of its own (`unshare -m`), so the mount ends
/// with the namespace and the machine's own mounts are never touched. A
/// partial cache: the reused file is a reflink (its blocks shared with the
/// blob, as filefrag shows), the piece it shares with the missing file is
/// written into goat's copy, and the blob stays as it was.
#[test]
fn reflinks_where_the_filesystem_has_them() {
    for tool in ["unshare", "mkfs.btrfs", "filefrag", "mount"] {
        assert!(
            Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success()),
            "{tool} is missing (tests/run.sh installs btrfs-progs)"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    // The cache, made here and copied onto the image inside the namespace.
    let cache_src = w.join("hf-src");
    hf_cache(&cache_src, REPO, COMMIT, &m.files[..1]);
    let blob = format!("models--{}/blobs/{}", REPO.replace('/', "--"), sha256(&m.files[0].1));
    let mnt = w.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        r#"set -e
img={w}/fs.img
truncate -s 256M "$img"
mkfs.btrfs -q "$img" >/dev/null
mount -o loop "$img" {mnt}
trap 'umount {mnt}' EXIT
cp -a {cache_src} {mnt}/hf
HF_HUB_CACHE={mnt}/hf {goat} --esplora {esplora} fetch {addr} -o {mnt}/out --no-dht --loopback --json > {w}/fetch.json 2> {w}/fetch.err
{goat} verify {mnt}/out > {w}/verify.out 2>&1
filefrag -v {mnt}/out/model/weights.bin > {w}/filefrag.out
stat -c %h {mnt}/out/model/weights.bin > {w}/nlink.out
mkdir {w}/copied
cp {mnt}/out/model/weights.bin {mnt}/out/model/config.json {w}/copied/
cp {mnt}/hf/{blob} {w}/blob.after
"#,
        w = w.display(),
        mnt = mnt.display(),
        cache_src = cache_src.display(),
        goat = env!("CARGO_BIN_EXE_goat"),
        esplora = m.handle.url,
        addr = m.addr,
    );
    let run = Command::new("timeout")
        .args(["300", "unshare", "-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = std::fs::read_to_string(w.join("fetch.err")).unwrap_or_default();
    assert!(
        run.status.success(),
        "{}\n{}\nfetch: {err}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let o = Out {
        code: 0,
        peak_rss: 0,
        stdout: std::fs::read_to_string(w.join("fetch.json")).unwrap(),
        stdout_bytes: vec![],
        stderr: err,
    };
    let e = entry(&o);
    assert_eq!(e["reused_bytes"], FILES[0].1, "{e}");
    assert!(e["reused_from"][0].as_str().unwrap().contains("1 reflinked"), "{e}");
    let fetched = e["fetched_bytes"].as_u64().unwrap();
    assert!(fetched > 0 && fetched < 2 * 65536, "{e}");
    assert!(std::fs::read_to_string(w.join("filefrag.out")).unwrap().contains("shared"), "no shared extent");
    assert_eq!(std::fs::read_to_string(w.join("nlink.out")).unwrap().trim(), "1");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(w.join("copied").join(f)).unwrap(), bytes, "{f}");
    }
    assert_eq!(std::fs::read(w.join("blob.after")).unwrap(), m.files[0].1, "the blob changed");
    // Nothing left mounted in the machine's namespace.
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(&mnt.display().to_string()));
}

/// `goat seed`: with the hub cache, a new entry's files are reused (the
/// origin uploads at 64 KB/s, yet the entry is seeding at once); with
/// `--from` a folder holding the whole entry is verified and seeded where
/// it is (nothing copied into goat's folder, recorded for restarts), and
/// a leecher gets the model from it alone. The user's files are unchanged.
#[test]
fn goat_seed_reuses_the_cache_and_seeds_a_from_folder_in_place() {
    use crate::seed::{log_of, status, terminate, torrent_state, SeedRun};
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, Some(64 * 1024));
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &m.files);

    let run = SeedRun::new(&m.handle.url, &m.addr, &w.join("a"));
    let log = w.join("a/log");
    let mut d = run.spawn_env(&log, &[], &[("HF_HUB_CACHE", cache.to_str().unwrap())]);
    let seeding = wait_for(std::time::Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding");
    assert!(seeding, "{}\n{}", status(run.http_port), log_of(&log));
    assert!(log_of(&log).contains("model: reused 1500701 bytes from"), "{}", log_of(&log));
    let t = status(run.http_port)["torrents"][0].clone();
    assert_eq!(t["downloaded_bytes"].as_u64().unwrap_or(0), 0, "{t}");
    terminate(&mut d, &log);

    let mine = w.join("mine");
    for (f, b) in &m.files {
        std::fs::create_dir_all(mine.join("model")).unwrap();
        std::fs::write(mine.join("model").join(f), b).unwrap();
    }
    let before = snapshot_of(&mine);
    let run = SeedRun::new(&m.handle.url, &m.addr, &w.join("b"));
    let log = w.join("b/log");
    let mut d = run.spawn_env(&log, &["--from", mine.to_str().unwrap()], &[]);
    let seeding = wait_for(std::time::Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding");
    assert!(seeding, "{}\n{}", status(run.http_port), log_of(&log));
    assert!(log_of(&log).contains("seeding in place from"), "{}", log_of(&log));
    assert!(!run.out.join(&m.addr).join("model").join("weights.bin").exists(), "copied into goat's folder");
    let handed = std::fs::read_to_string(run.state.join("published.json")).unwrap();
    assert!(handed.contains(&std::fs::canonicalize(mine.join("model")).unwrap().display().to_string()), "{handed}");

    drop(m.seeder);
    let out = w.join("leech");
    let o = fetch(&m.handle.url, &m.addr, &out)
        .args(["--json", "--no-local", "--peer", &format!("127.0.0.1:{}", run.peer_port)])
        .run();
    let e = entry(&o);
    assert_eq!(e["fetched_bytes"].as_u64().unwrap(), 1_500_701, "{e}");
    for (f, bytes) in &m.files {
        assert_eq!(&std::fs::read(out.join("model").join(f)).unwrap(), bytes, "{f}");
    }
    terminate(&mut d, &log);
    assert_eq!(snapshot_of(&mine), before, "the user's folder changed");

    // A file changed while goat seeds it in place, after its pieces were
    // sent once: goat notices before it next sends one (inode, size,
    // mtime, ctime), hashes the file's pieces again, refuses the changed
    // one and gives the folder up. Another daemon seeds a second copy of
    // the model in place; leech2 makes it send every piece once; the copy
    // is changed; leech3 asks again.
    let mine2 = w.join("mine2");
    for (f, b) in &m.files {
        std::fs::create_dir_all(mine2.join("model")).unwrap();
        std::fs::write(mine2.join("model").join(f), b).unwrap();
    }
    // Its metadata comes from a seeder of leech1's copy, gone before the
    // leechers come.
    let relay = LibrqbitSeeder::start(&m.t, &out.join("model"), None);
    let run_c = SeedRun::new(&m.handle.url, &m.addr, &w.join("c"));
    let log_c = w.join("c/log");
    let mut c = run_c.spawn_env(
        &log_c,
        &["--from", mine2.to_str().unwrap(), "--peer", &format!("127.0.0.1:{}", relay.port)],
        &[],
    );
    let seeding = wait_for(std::time::Duration::from_secs(60), || torrent_state(run_c.http_port, "model") == "seeding");
    assert!(seeding, "{}\n{}", status(run_c.http_port), log_of(&log_c));
    drop(relay);
    let leech = |dir: &str| {
        fetch(&m.handle.url, &m.addr, &w.join(dir)).args([
            "--no-local",
            "--metadata-timeout",
            "20",
            "--peer",
            &format!("127.0.0.1:{}", run_c.peer_port),
        ])
    };
    leech("leech2").run().ok();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(mine2.join("model/weights.bin")).unwrap();
        f.write_all_at(&[m.files[0].1[100] ^ 0xff], 100).unwrap();
    }
    std::fs::create_dir_all(w.join("leech3-log")).unwrap();
    let leech3 = leech("leech3").spawn(&w.join("leech3-log"));
    let caught = wait_for(std::time::Duration::from_secs(60), || {
        let l = log_of(&log_c);
        l.contains("changed while goat seeds it") && l.contains("no longer seeded from there")
    });
    assert!(caught, "{}", log_of(&log_c));
    drop(leech3);
    terminate(&mut c, &log_c);

    // The folder no longer holds the entry when goat starts again: it is
    // given up (and forgotten), never written, and the entry is fetched
    // into goat's own folder instead.
    std::fs::remove_file(mine.join("model/config.json")).unwrap();
    let before = snapshot_of(&mine);
    let log2 = w.join("b/log2");
    let mut d = run.spawn_env(&log2, &["--from", mine.to_str().unwrap()], &[]);
    let gave_up =
        wait_for(std::time::Duration::from_secs(30), || log_of(&log2).contains("no longer seeded from there"));
    assert!(gave_up, "{}", log_of(&log2));
    let handed = std::fs::read_to_string(run.state.join("published.json")).unwrap();
    assert!(!handed.contains("\"in_place\": true"), "{handed}");
    terminate(&mut d, &log2);
    assert_eq!(snapshot_of(&mine), before, "the user's folder changed");
}

/// Whoever can write the hub cache cannot make `goat publish --hf` publish
/// a file that is not one of the repository's blobs (a snapshot link aimed
/// at the user's token), nor a blob that does not hash to its name; and
/// `goat fetch --layout hf` never changes a snapshot the cache already has
/// (the goatfile's repository name is its publisher's claim).
#[test]
fn the_cache_is_neither_a_way_out_nor_rewritten() {
    use crate::publish::{holder, key_file};
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let secret = w.join("token");
    std::fs::write(&secret, b"hf_secret_token").unwrap();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x48, 300_000);
    let h = s.serve();
    let key = key_file(w, "holder.wif", &who.wif, 0o600);
    let publish = |cache: &Path| {
        goat()
            .esplora(&h.url)
            .env("HF_HUB_CACHE", cache)
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .args(["publish", "--hf", REPO, "--key-file"])
            .args([&key])
            .args(["--network", "regtest", "--fee-rate", "3", "--yes", "--state-dir"])
            .args([w.join("state")])
            .run()
    };
    let files = vec![("config.json", b"{}".to_vec())];
    // Specs that are not the hub's repository ids or revisions.
    for (spec, why) in [("../x", "repository id"), ("a--b/c", "repository id"), ("org/x@../main", "not a branch")] {
        goat()
            .esplora(&h.url)
            .args(["publish", "--hf", spec, "--key-file"])
            .args([&key])
            .args(["--network", "regtest", "--yes", "--state-dir"])
            .args([w.join("state")])
            .run()
            .fails(2, why);
    }
    // A snapshot link out of the blobs.
    let cache = w.join("hf1");
    hf_cache(&cache, REPO, COMMIT, &files);
    let link = cache
        .join(format!("models--{}", REPO.replace('/', "--")))
        .join("snapshots")
        .join(COMMIT)
        .join("tokenizer.json");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    publish(&cache).fails(2, "links outside the repository's blobs");
    // A blob that is not what its name says (a git-hash name, too).
    let cache = w.join("hf2");
    hf_cache(&cache, REPO, COMMIT, &files);
    let folder = cache.join(format!("models--{}", REPO.replace('/', "--")));
    let fake = "0".repeat(40);
    std::fs::write(folder.join("blobs").join(&fake), b"not it").unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{fake}"), folder.join("snapshots").join(COMMIT).join("extra.txt"))
        .unwrap();
    // A file an earlier run left in goat's folder is not published with it.
    let linked = w.join("state/hf").join(REPO.replace('/', "--")).join(COMMIT);
    std::fs::create_dir_all(&linked).unwrap();
    std::fs::write(linked.join("stray.bin"), b"left over").unwrap();
    publish(&cache).fails(7, "does not hash to its name");
    assert_eq!(broadcasts(&h), 0);
    assert!(!linked.join("stray.bin").exists() && !linked.join("extra.txt").exists());
    assert!(linked.join("config.json").exists());

    // --layout hf over a snapshot the cache has, with other bytes.
    let m = model(w, None);
    let cache = w.join("hf3");
    let mut theirs = m.files.clone();
    theirs[1].1 = b"{\"theirs\": true}".to_vec();
    hf_cache(&cache, REPO, COMMIT, &theirs);
    let before = snapshot_of(&cache);
    let links_before: Vec<_> = walk(&cache).into_iter().map(|p| (p.clone(), std::fs::read_link(&p).ok())).collect();
    let hub = w.join("hub");
    hub_api(&hub, REPO, COMMIT, &m.files, &["weights.bin"]);
    let nginx = crate::webseed::Nginx::start(&hub, &hub, "10m");
    let o = fetch(&m.handle.url, &m.addr, &w.join("out"))
        .env("HF_HUB_CACHE", &cache)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{}", nginx.good))
        .args(["--layout", "hf"])
        .run();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("does not change a snapshot"), "{}", o.stderr);
    let links_after: Vec<_> = walk(&cache).into_iter().map(|p| (p.clone(), std::fs::read_link(&p).ok())).collect();
    // The snapshot and refs as they were (a new blob may have been added).
    let kept = |v: Vec<(PathBuf, Option<PathBuf>)>| {
        v.into_iter().filter(|(p, _)| !p.to_string_lossy().contains("/blobs/")).collect::<Vec<_>>()
    };
    assert_eq!(kept(links_after), kept(links_before));
    // The blob goat added for weights.bin is new; nothing else changed.
    let after: Vec<_> =
        snapshot_of(&cache).into_iter().filter(|(p, _, _)| before.iter().any(|(q, _, _)| q == p)).collect();
    assert_eq!(after, before);
}

fn broadcasts(h: &goat::devchain::server::Handle) -> usize {
    h.state.requests().iter().filter(|r| r.path == "/tx").count()
}

/// A publisher whose goatfile names the sha256 of a file the user has,
/// while its torrent holds other bytes: librqbit's check refuses the local
/// copy's pieces, the torrent's bytes are downloaded over it, and goat
/// hashes the file again instead of taking the earlier sha256 for it:
/// the fetch fails as corrupt, never "verified".
#[test]
fn a_goatfile_sha256_that_the_torrent_does_not_hold_is_not_verified() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = w.join("src").join("model");
    make_payload(&src, FILES);
    let t = make_torrent(&src, 65536, vec![]);
    let seeder = LibrqbitSeeder::start(&t, &src, None);
    // The user's own, other weights of the same size.
    let mut theirs = std::fs::read(src.join("weights.bin")).unwrap();
    theirs[70_000] ^= 0x55;
    let config = std::fs::read(src.join("config.json")).unwrap();
    let cache = w.join("hf");
    hf_cache(&cache, REPO, COMMIT, &[("weights.bin", theirs.clone())]);
    let yaml = format!(
        "goat: 1\nentries:\n  - name: model\n    magnet: \"{}\"\n    files:\n      - path: weights.bin\n        size: {}\n        sha256: {}\n      - path: config.json\n        size: {}\n        sha256: {}\n",
        t.magnet_with_peer(seeder.port),
        theirs.len(),
        sha256(&theirs),
        config.len(),
        sha256(&config)
    );
    let (scene, addr) = publish_yaml(&yaml);
    let h = scene.serve();
    let o = fetch(&h.url, &addr, &w.join("out")).env("HF_HUB_CACHE", &cache).run();
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains("sha256"), "{}", o.stderr);
    let blob = cache.join(format!("models--{}", REPO.replace('/', "--"))).join("blobs").join(sha256(&theirs));
    assert_eq!(std::fs::read(&blob).unwrap(), theirs);
    // Both files in the cache: weights.bin is hard-linked (no piece of
    // another file lies in it), the torrent's bytes must be written into
    // it, and goat makes its name a private copy first: the blob keeps
    // the user's bytes.
    let cache2 = w.join("hf2");
    hf_cache(&cache2, REPO, COMMIT, &[("weights.bin", theirs.clone()), ("config.json", config.clone())]);
    let o = fetch(&h.url, &addr, &w.join("out2")).env("HF_HUB_CACHE", &cache2).args(["--json"]).run();
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains("private copy"), "{}", o.stderr);
    let blob2 = cache2.join(format!("models--{}", REPO.replace('/', "--"))).join("blobs").join(sha256(&theirs));
    assert_eq!(std::fs::read(&blob2).unwrap(), theirs);
    drop(seeder);
}

//! Interop with BitTorrent clients nobody here wrote, from Debian's packages:
//! opentracker as the tracker, python3-libtorrent as a seeder, aria2c as a
//! leecher of goat's seed. tests/run.sh installs them.

use crate::fetch::publish_yaml;
use crate::harness::*;
use crate::seeder::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const FILES: &[(&str, usize)] = &[("weights.bin", 700_001), ("config.json", 999), ("extra/notes.txt", 66_000)];

pub struct Tracker {
    _d: Daemon,
    pub announce: String,
}

/// opentracker on 127.0.0.1. Debian builds it in whitelist mode, so the
/// info-hashes it may track are listed up front.
pub fn opentracker_on(dir: &Path, port: u16, info_hashes: &[&str]) -> Tracker {
    std::fs::write(dir.join("whitelist"), info_hashes.join("\n") + "\n").unwrap();
    let d = Daemon::spawn(
        "opentracker",
        Command::new("opentracker")
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P", &port.to_string(), "-d"])
            .arg(dir)
            // opentracker chroots into -d before reading the whitelist
            .args(["-w", "/whitelist"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    assert!(
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "opentracker did not start"
    );
    Tracker { _d: d, announce: format!("http://127.0.0.1:{port}/announce") }
}

/// python3-libtorrent seeding `torrent` from `save_path`.
pub fn libtorrent_seeder(torrent: &Path, save_path: &Path, log: &Path) -> (Daemon, u16) {
    libtorrent_seeder_enc(torrent, save_path, log, "")
}

/// The same with libtorrent's encryption set (`LT_ENC` of lt_seed.py:
/// "forced", "disabled", or "" for libtorrent's default).
pub fn libtorrent_seeder_enc(torrent: &Path, save_path: &Path, log: &Path, enc: &str) -> (Daemon, u16) {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/lt_seed.py");
    let out = std::fs::File::create(log).unwrap();
    let d = Daemon::spawn(
        "python3-libtorrent",
        Command::new("/usr/bin/python3")
            .env("LT_ENC", enc)
            .arg(script)
            .arg(torrent)
            .arg(save_path)
            .args([port.to_string(), "240".into()])
            .stdout(out),
    );
    assert!(
        wait_for(Duration::from_secs(60), || std::fs::read_to_string(log).unwrap_or_default().contains("SEEDING")),
        "libtorrent seeder did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (d, port)
}

/// aria2c downloads `torrent` into `dir` (trackers only, no DHT/LPD/PEX,
/// every piece checked) and exits; at most 90 s.
pub fn aria2_download(torrent: &Path, dir: &Path) -> std::process::ExitStatus {
    Command::new("timeout")
        .args(["90", "aria2c", "--dir"])
        .arg(dir)
        .args([
            "--seed-time=0",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--check-integrity=true",
            "--bt-stop-timeout=60",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--disable-ipv6=true",
        ])
        .arg(format!("--listen-port={}", free_port()))
        .arg(torrent)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("goat.stderr")).unwrap_or_default()
}

/// Bare magnet (no peers in it) resolved through opentracker from a
/// libtorrent seeder; then goat seeds alone and aria2c downloads from it and
/// checks every piece.
#[test]
fn tracker_libtorrent_to_goat_to_aria2() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let port = free_port();
    let announce = format!("http://127.0.0.1:{port}/announce");
    let src = w.join("src");
    let payload = src.join("model-lt");
    make_payload(&payload, FILES);
    let t = make_torrent(&payload, 65536, vec![announce.clone()]);
    let tracker = opentracker_on(w, port, &[&t.info_hash]);
    let tfile = w.join("model-lt.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    let (lt, _) = libtorrent_seeder(&tfile, &src, &w.join("lt.log"));

    let magnet = format!("magnet:?xt=urn:btih:{}&dn=model-lt&tr={}", t.info_hash, enc(&tracker.announce));
    let (scene, addr) = publish_yaml(&format!("goat: 1\nentries:\n  - name: model-lt\n    magnet: \"{magnet}\"\n"));
    let h = scene.serve();
    let dir = w.join("out");
    let gport = free_port();
    let mut g = goat()
        .esplora(&h.url)
        .args(["fetch", &addr, "-o", dir.to_str().unwrap(), "--no-dht", "--loopback", "--seed", "--seed-for", "120"])
        .args(["--listen-port", &gport.to_string(), "--metadata-timeout", "60"])
        .spawn(w);
    assert!(
        wait_for(Duration::from_secs(90), || stderr_of(w).contains("seeding on port")),
        "goat did not finish: {}",
        stderr_of(w)
    );
    for (f, _) in FILES {
        assert_eq!(
            std::fs::read(payload.join(f)).unwrap(),
            std::fs::read(dir.join("model-lt").join(f)).unwrap(),
            "{f}"
        );
    }
    drop(lt); // from now on goat is the only seeder

    let a2 = w.join("aria2");
    let status = aria2_download(&tfile, &a2);
    assert!(status.success(), "aria2c failed ({status}); goat: {}", stderr_of(w));
    for (f, _) in FILES {
        assert_eq!(std::fs::read(payload.join(f)).unwrap(), std::fs::read(a2.join("model-lt").join(f)).unwrap(), "{f}");
    }
    // Ctrl-C ends seeding cleanly, within a few seconds
    let code = g.interrupt(Duration::from_secs(10));
    assert_eq!(code, Some(0), "goat did not stop cleanly: {}", stderr_of(w));
}

/// `--super-seed` with real peers: goat, the only seeder left, tells each
/// libtorrent peer of one piece at a time (libtorrent sees goat hold one
/// piece, then more, one by one, never the whole torrent at once), and two libtorrent
/// peers that know only goat, not each other, still complete intact
/// (after `IDLE`, each is told of what the other holds).
#[test]
fn super_seeding_tells_of_one_piece_at_a_time_and_every_peer_completes() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = w.join("src");
    let payload = src.join("tiny-model");
    let files: &[(&str, usize)] = &[("model.bin", 1_200_001)];
    let (seeder, scene, addr) = crate::fetch::seed_and_publish(&payload, files, "");
    let t = make_torrent(&payload, 65536, vec![]);
    let pieces = 1_200_001usize.div_ceil(65536);
    let tfile = w.join("tiny.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    let h = scene.serve();
    let dir = w.join("out");
    let gport = free_port();
    let mut g = goat()
        .esplora(&h.url)
        .args(["fetch", &addr, "-o", dir.to_str().unwrap(), "--no-dht", "--loopback", "--seed", "--seed-for", "150"])
        .args(["--super-seed", "--listen-port", &gport.to_string()])
        .spawn(w);
    assert!(
        wait_for(Duration::from_secs(90), || stderr_of(w).contains("seeding on port")),
        "goat did not finish: {}",
        stderr_of(w)
    );
    drop(seeder); // from now on goat is the only seeder

    let goat_at = format!("127.0.0.1:{gport}");
    let peers: Vec<_> = (0..2)
        .map(|i| {
            let (save, log) = (w.join(format!("lt{i}")), w.join(format!("lt{i}.log")));
            std::fs::create_dir_all(&save).unwrap();
            let args = ["--torrent", tfile.to_str().unwrap(), "--peer", &goat_at, "--exit-when-done"].map(String::from);
            let d = crate::reach::lt_peer(&log, (&save, 0, 120), &args);
            (d, save, log)
        })
        .collect();
    for (_, save, log) in &peers {
        assert!(
            wait_for(Duration::from_secs(110), || crate::reach::log_of(log).contains("DONE")),
            "a libtorrent peer did not complete: {}\ngoat: {}",
            crate::reach::log_of(log),
            stderr_of(w)
        );
        assert_eq!(
            std::fs::read(payload.join("model.bin")).unwrap(),
            std::fs::read(save.join("tiny-model/model.bin")).unwrap()
        );
        let text = crate::reach::log_of(log);
        let told: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix("HAS "))
            .filter_map(|l| l.strip_prefix(goat_at.as_str()))
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        assert!(!told.is_empty(), "libtorrent never listed goat's pieces: {text}");
        // A plain seeder shows all 19 at once. libtorrent polls every 50 ms,
        // so it may see one or two reveals together, never the torrent.
        assert!(told[0] <= 3, "goat told of {} of {pieces} pieces at once: {text}", told[0]);
        assert!(told.len() >= 5, "goat's pieces did not grow one by one: {told:?}");
    }
    drop(peers);
    let code = g.interrupt(Duration::from_secs(10));
    assert_eq!(code, Some(0), "goat did not stop cleanly: {}", stderr_of(w));
}

/// A torrent whose metadata names files outside the output folder, served
/// by libtorrent: goat refuses it and writes nothing outside DIR.
#[test]
fn hostile_paths_in_metadata_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    for (case, path) in [
        ("dotdot", vec!["..", "..", "escaped.txt"]),
        ("absolute", vec!["/tmp", "abs-escape.txt"]),
        ("empty", vec!["", "x.txt"]),
    ] {
        let torrent = hostile_torrent(case, &path);
        let tfile = w.join(format!("{case}.torrent"));
        std::fs::write(&tfile, &torrent.0).unwrap();
        let save = w.join(format!("{case}-save"));
        std::fs::create_dir_all(&save).unwrap();
        let (lt, port) = libtorrent_seeder_any(&tfile, &save, &w.join(format!("{case}.log")));
        let magnet = format!("magnet:?xt=urn:btih:{}&x.pe=127.0.0.1:{port}", torrent.1);
        let gf = w.join(format!("{case}.yaml"));
        std::fs::write(&gf, format!("goat: 1\nentries:\n  - name: evil\n    magnet: \"{magnet}\"\n")).unwrap();
        let outer = w.join(format!("{case}-outer"));
        let dir = outer.join("inner").join("out");
        let out = goat()
            .args(["fetch", "--goatfile", gf.to_str().unwrap(), "-o", dir.to_str().unwrap(), "--no-dht", "--loopback"])
            .args(["--metadata-timeout", "30"])
            .run();
        drop(lt);
        let ltlog = std::fs::read_to_string(w.join(format!("{case}.log"))).unwrap_or_default();
        assert_eq!(
            out.code,
            5,
            "{case}: {}\nlibtorrent: {ltlog}\ntorrent: {}",
            out.stderr,
            String::from_utf8_lossy(&torrent.0)
        );
        assert!(out.stderr.contains("unsafe or invalid"), "{case}: {}", out.stderr);
        let mut all = Vec::new();
        walk(&outer, &mut all);
        assert!(all.iter().all(|p| p.starts_with(&dir)), "{case}: files outside the output folder: {all:?}");
        assert!(!Path::new("/tmp/abs-escape.txt").exists());
    }
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}

/// Bencode a multi-file torrent by hand with one hostile path.
fn hostile_torrent(name: &str, path: &[&str]) -> (Vec<u8>, String) {
    use sha1::{Digest, Sha1};
    fn s(b: &mut Vec<u8>, x: &[u8]) {
        b.extend(format!("{}:", x.len()).as_bytes());
        b.extend(x);
    }
    let data = vec![7u8; 1000];
    let piece: [u8; 20] = Sha1::digest(&data).into();
    let mut info = b"d5:filesld6:lengthi1000e4:pathl".to_vec();
    for c in path {
        s(&mut info, c.as_bytes());
    }
    info.extend(b"eee4:name");
    s(&mut info, name.as_bytes());
    info.extend(b"12:piece lengthi16384e6:pieces");
    s(&mut info, &piece);
    info.extend(b"e");
    let hash = hex::encode(Sha1::digest(&info));
    let mut t = b"d4:info".to_vec();
    t.extend(&info);
    t.extend(b"e");
    (t, hash)
}

/// Like `libtorrent_seeder` but only waits for the session to be up (it has
/// no data for hostile torrents; it still serves their metadata).
fn libtorrent_seeder_any(torrent: &Path, save_path: &Path, log: &Path) -> (Daemon, u16) {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/lt_seed.py");
    let out = std::fs::File::create(log).unwrap();
    let d = Daemon::spawn(
        "python3-libtorrent",
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(torrent)
            .arg(save_path)
            .args([port.to_string(), "120".into()])
            .stdout(out),
    );
    assert!(
        wait_for(Duration::from_secs(30), || std::fs::read_to_string(log).unwrap_or_default().contains("READY")),
        "libtorrent did not start"
    );
    (d, port)
}

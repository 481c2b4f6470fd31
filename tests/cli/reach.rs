//! Reach: uTP both ways against libtorrent peers that take uTP only, and a
//! closed DHT of libtorrent nodes (no tracker) through which goat fetches
//! and through which a libtorrent leecher that only looks up finds
//! `goat seed`'s successor, `fetch --seed`, after the origin is gone.
//! python3-libtorrent is driven by tests/support/lt_peer.py and
//! lt_dht_net.py; everything stays on 127.0.0.1 and no public DHT router
//! is ever named.

use crate::harness::*;
use crate::seeder::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const FILES: &[(&str, usize)] = &[("weights.bin", 1_200_007), ("config.json", 777)];

pub fn script(name: &str) -> String {
    format!("{}/tests/support/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn log_of(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `lt_peer.py` keeping its files in `save`, on `port`, for `lifetime`
/// seconds, with `args`; its output in `log`; waits for READY.
pub fn lt_peer(log: &Path, (save, port, lifetime): (&Path, u16, u32), args: &[String]) -> Daemon {
    let args = [lt_args(save, port, lifetime), args.to_vec()].concat();
    let out = std::fs::File::create(log).unwrap();
    let d = Daemon::spawn(
        "python3-libtorrent",
        Command::new("/usr/bin/python3").arg(script("lt_peer.py")).args(args).stdout(out),
    );
    assert!(wait_for(Duration::from_secs(30), || log_of(log).contains("READY")), "lt_peer.py: {}", log_of(log));
    d
}

pub fn same(a: &Path, b: &Path) {
    for (f, _) in FILES {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

/// FILES under `w/src/model`, its torrent (64 KiB pieces) and the
/// `.torrent` file.
pub struct Model {
    pub src: PathBuf,
    pub payload: PathBuf,
    pub t: Made,
    pub tfile: PathBuf,
}

pub fn model(w: &Path) -> Model {
    let src = w.join("src");
    let payload = src.join("model");
    make_payload(&payload, FILES);
    let t = make_torrent(&payload, 65536, vec![]);
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    Model { src, payload, t, tfile }
}

/// lt_peer.py's first arguments: where its files are, its port, how long
/// it lives.
pub fn lt_args(save: &Path, port: u16, lifetime: u32) -> Vec<String> {
    ["--save", &save.display().to_string(), "--port", &port.to_string(), "--lifetime", &lifetime.to_string()]
        .map(String::from)
        .to_vec()
}

pub fn goatfile(w: &Path, magnet: &str) -> String {
    let gf = w.join("g.yaml");
    std::fs::write(&gf, format!("goat: 1\nentries:\n  - name: model\n    magnet: \"{magnet}\"\n")).unwrap();
    gf.to_str().unwrap().to_string()
}

/// A libtorrent seeder that takes uTP only (TCP accepted and closed
/// unanswered): goat falls back to uTP and fetches from it; `--no-utp`
/// cannot. Then goat seeds and a uTP-only libtorrent leecher downloads
/// from it, over uTP.
#[test]
fn utp_only_libtorrent_peers_are_reached_and_served() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let Model { src, payload, t, tfile } = model(w);
    let lt_port = free_port();
    let s = |x: &str| x.to_string();
    let seeder = lt_peer(
        &w.join("lt-seed.log"),
        (&src, lt_port, 200),
        &[s("--torrent"), tfile.display().to_string(), s("--utp-only")],
    );
    let gf = goatfile(w, &t.magnet_with_peer(lt_port));

    // TCP only: the peer closes every connection, nothing arrives.
    let out = goat()
        .args(["fetch", "--goatfile", &gf, "-o"])
        .args([w.join("tcp-only")])
        .args(["--no-dht", "--loopback", "--no-utp", "--metadata-timeout", "8"])
        .run();
    assert_ne!(out.code, 0, "a uTP-only peer served goat over TCP: {}", out.stderr);

    // With uTP (the default): fetched, over uTP.
    let dir = w.join("out");
    let gport = free_port();
    let mut g = goat()
        .args(["fetch", "--goatfile", &gf, "-o"])
        .args([&dir])
        .args(["--no-dht", "--loopback", "--json", "--seed", "--seed-for", "150", "--metadata-timeout", "60"])
        .args(["--listen-port", &gport.to_string()])
        .spawn(w);
    let stdout = || log_of(&w.join("goat.stdout"));
    assert!(
        wait_for(Duration::from_secs(90), || stdout().contains("\"entries\"")),
        "goat did not fetch from the uTP-only peer: {}\nlibtorrent: {}",
        log_of(&w.join("goat.stderr")),
        log_of(&w.join("lt-seed.log"))
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout()).unwrap();
    assert!(doc["entries"][0]["utp_connections"].as_u64().unwrap() >= 1, "{doc}");
    same(&payload, &dir.join("model"));
    assert!(log_of(&w.join("lt-seed.log")).contains("utp"), "{}", log_of(&w.join("lt-seed.log")));
    drop(seeder);

    // goat serves a leecher that takes uTP only.
    let leech = w.join("leech");
    let ll = w.join("lt-leech.log");
    let _leecher = lt_peer(
        &ll,
        (&leech, free_port(), 90),
        &[s("--torrent"), tfile.display().to_string(), s("--utp-only"), s("--peer"), format!("127.0.0.1:{gport}")],
    );
    assert!(
        wait_for(Duration::from_secs(90), || log_of(&ll).contains("DONE")),
        "the uTP-only leecher got nothing from goat: {}\ngoat: {}",
        log_of(&ll),
        log_of(&w.join("goat.stderr"))
    );
    assert!(log_of(&ll).lines().any(|l| l.starts_with("PEER 127.0.0.1:") && l.ends_with(" utp")), "{}", log_of(&ll));
    same(&payload, &leech.join("model"));
    assert_eq!(g.interrupt(Duration::from_secs(15)), Some(0), "{}", log_of(&w.join("goat.stderr")));
}

/// A closed DHT of three libtorrent nodes with random ids (none near the
/// info-hash) and no tracker: goat finds the origin through it and
/// fetches, with uTP on and --listen-port set (so its DHT is on the next
/// port up); the origin leaves; a libtorrent leecher that only looks up
/// (and takes uTP only) finds goat through the DHT and downloads from it.
#[test]
fn a_closed_dht_without_trackers_finds_goat() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let Model { src, payload, t, tfile } = model(w);
    let s = |x: &str| x.to_string();

    let nodes = [free_port(), free_port(), free_port()];
    let net_log = w.join("dht-net.log");
    let _net = Daemon::spawn(
        "python3-libtorrent",
        Command::new("/usr/bin/python3")
            .arg(script("lt_dht_net.py"))
            .arg("240")
            .args(nodes.map(|p| p.to_string()))
            .stdout(std::fs::File::create(&net_log).unwrap()),
    );
    assert!(wait_for(Duration::from_secs(30), || log_of(&net_log).contains("READY")), "{}", log_of(&net_log));
    let boot = nodes.map(|p| format!("127.0.0.1:{p}")).join(",");

    let origin_log = w.join("lt-origin.log");
    let origin = lt_peer(
        &origin_log,
        (&src, free_port(), 200),
        &[s("--torrent"), tfile.display().to_string(), s("--dht-bootstrap"), boot.clone()],
    );
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=model", t.info_hash);
    let gf = goatfile(w, &magnet);
    let dir = w.join("out");
    let gport = loop {
        let p = free_port();
        if p < u16::MAX && std::net::UdpSocket::bind(("0.0.0.0", p + 1)).is_ok() {
            break p;
        }
    };
    let mut g = goat().args(["fetch", "--goatfile", &gf, "-o"]).args([&dir]).args([
        "--loopback",
        "--json",
        "--seed",
        "--seed-for",
        "200",
        "--metadata-timeout",
        "90",
        "--listen-port",
        &gport.to_string(),
        "--dht-bootstrap",
        &format!("127.0.0.1:{}", nodes[0]),
    ]);
    g = g.env("RUST_LOG", "goat=debug");
    let mut g = g.spawn(w);
    let stdout = || log_of(&w.join("goat.stdout"));
    assert!(
        wait_for(Duration::from_secs(120), || stdout().contains("\"entries\"")),
        "goat found no peer through the DHT: {}\norigin: {}\nnet: {}",
        log_of(&w.join("goat.stderr")),
        log_of(&origin_log),
        log_of(&net_log)
    );
    same(&payload, &dir.join("model"));
    drop(origin);

    // The leecher knows only the magnet and the DHT.
    let leech = w.join("leech");
    let ll = w.join("lt-leech.log");
    let _leecher = lt_peer(
        &ll,
        (&leech, free_port(), 120),
        &[s("--magnet"), magnet.clone(), s("--dht-bootstrap"), boot, s("--utp-only")],
    );
    assert!(
        wait_for(Duration::from_secs(120), || log_of(&ll).contains("DONE")),
        "the DHT-only leecher did not find goat: {}\ngoat: {}",
        log_of(&ll),
        log_of(&w.join("goat.stderr"))
    );
    assert!(log_of(&ll).contains(&format!("PEER 127.0.0.1:{gport} utp")), "{}", log_of(&ll));
    same(&payload, &leech.join("model"));
    assert!(log_of(&w.join("goat.stderr")).contains("stored it"), "{}", log_of(&w.join("goat.stderr")));
    assert_eq!(g.interrupt(Duration::from_secs(15)), Some(0), "{}", log_of(&w.join("goat.stderr")));
}

/// The UDP port of `--listen-port`'s number held by another program: goat
/// says so in one line and exits 2, writing nothing; with `--no-utp` the
/// UDP port is not needed and the fetch goes on.
#[test]
fn a_busy_udp_port_is_a_clear_error_and_no_utp_does_without_it() {
    let w = tempfile::tempdir().unwrap();
    let port = free_port();
    let _held = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let gf = goatfile(w.path(), &format!("magnet:?xt=urn:btih:{}&dn=model", "ab".repeat(20)));
    let out = w.path().join("out");
    let fetch = |extra: &[&str]| {
        goat()
            .args(["fetch", "--goatfile", &gf, "-o"])
            .args([&out])
            .args(["--no-dht", "--loopback", "--metadata-timeout", "1", "--listen-port", &port.to_string()])
            .args(extra)
            .run()
    };
    let o = fetch(&[]).fails(2, &format!("cannot listen for uTP peers on UDP 127.0.0.1:{port}"));
    assert!(o.stderr.contains("--no-utp"), "{}", o.stderr);
    // Nothing outside the output folder, and in it only goat's record of
    // the goatfile, as for any start that fails before the swarm.
    let mut written = crate::local::walk(w.path());
    written.sort();
    assert_eq!(
        written,
        [w.path().join("g.yaml"), out.join(".goat/goatfile.yaml"), out.join(".goat/source.json")],
        "a failed start wrote more"
    );
    let o = fetch(&["--no-utp"]);
    assert!(!o.stderr.contains("UDP"), "{}", o.stderr);
    assert!(o.stderr.contains("metadata"), "{}", o.stderr);
}

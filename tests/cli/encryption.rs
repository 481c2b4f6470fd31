//! Encrypted peers (MSE/PE) against clients nobody here wrote:
//! python3-libtorrent forcing encryption in both directions,
//! transmission-daemon requiring it, a plaintext-only libtorrent, and
//! hostile handshakes. tests/run.sh installs the clients.

use crate::fetch::publish_yaml;
use crate::harness::*;
use crate::interop::libtorrent_seeder_enc;
use crate::repair::{
    leech_from_enc, leeched_from_goat_alone, model, published_run, row, text, wait_seeding, FILES as MODEL_FILES,
};
use crate::seed::{log_of, same_files, status, terminate};
use crate::seeder::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const FILES: &[(&str, usize)] = &[("weights.bin", 1_500_001), ("config.json", 700)];

/// A payload in `w/src/model`, its torrent written beside it, and the
/// goatfile naming one peer on `port`, served.
struct Published {
    src: std::path::PathBuf,
    tfile: std::path::PathBuf,
    t: Made,
}

fn payload(w: &Path) -> Published {
    let src = w.join("src").join("model");
    make_payload(&src, FILES);
    let t = make_torrent(&src, 65536, vec![]);
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    Published { src, tfile, t }
}

fn goatfile_for(p: &Published, peer: u16) -> (goat::devchain::server::Handle, String) {
    let (scene, addr) =
        publish_yaml(&format!("goat: 1\nentries:\n  - name: model\n    magnet: \"{}\"\n", p.t.magnet_with_peer(peer)));
    (scene.serve(), addr)
}

/// `goat fetch --json` in `mode`; the entry's summary.
fn fetch_in(h: &goat::devchain::server::Handle, addr: &str, dir: &Path, mode: &str, timeout: &str) -> Out {
    fetch(&h.url, addr, dir).args(["--json", "--encryption", mode, "--metadata-timeout", timeout]).run()
}

fn entry(o: &Out) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", o.stdout, o.stderr));
    v["entries"][0].clone()
}

/// libtorrent forcing RC4 both ways (plaintext refused) seeds: goat gets
/// the model in each of its three modes, every piece verified, and says
/// its connections were encrypted. In prefer-plaintext goat's plaintext
/// try is dropped and it retries with MSE, unseen by librqbit.
#[test]
fn goat_fetches_from_libtorrent_forcing_encryption_in_every_mode() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let p = payload(w);
    let (_lt, port) = libtorrent_seeder_enc(&p.tfile, p.src.parent().unwrap(), &w.join("lt.log"), "forced");
    let (h, addr) = goatfile_for(&p, port);
    for mode in ["prefer-encrypted", "prefer-plaintext", "require"] {
        let dir = w.join(mode);
        let o = fetch_in(&h, &addr, &dir, mode, "60");
        assert_eq!(o.code, 0, "{mode}: {}\nlibtorrent: {}", o.stderr, text(&w.join("lt.log")));
        let e = entry(&o);
        assert!(e["encrypted_connections"].as_u64() >= Some(1), "{mode}: {e}");
        assert_eq!(e["plaintext_connections"].as_u64(), Some(0), "{mode}: {e}");
        assert!(same_files(&p.src, &dir.join("model"), FILES), "{mode}: the files differ");
        goat().args(["verify"]).args([&dir]).run().ok();
    }
}

/// A plaintext-only libtorrent: the default mode falls back to plaintext
/// and gets the model; `--encryption require` refuses it and says why.
#[test]
fn a_plaintext_only_peer_is_reached_by_default_and_refused_when_encryption_is_required() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let p = payload(w);
    let (_lt, port) = libtorrent_seeder_enc(&p.tfile, p.src.parent().unwrap(), &w.join("lt.log"), "disabled");
    let (h, addr) = goatfile_for(&p, port);
    let o = fetch_in(&h, &addr, &w.join("default"), "prefer-encrypted", "60");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let e = entry(&o);
    assert!(e["plaintext_connections"].as_u64() >= Some(1) && e["encrypted_connections"].as_u64() == Some(0), "{e}");
    assert!(same_files(&p.src, &w.join("default").join("model"), FILES));

    let o = fetch_in(&h, &addr, &w.join("require"), "require", "8");
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("--encryption require refuses peers that cannot encrypt"), "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
}

/// `goat seed` following the model's goatfile, seeding it (its log in
/// `w/run`), with `extra` arguments.
fn goat_seeding(
    w: &Path,
    extra: &[&str],
) -> (crate::repair::Model, goat::devchain::server::Handle, crate::seed::SeedRun, Daemon) {
    let m = model(w, None);
    let (h, run, _addr) = published_run(w, &m);
    let d = run.spawn_env(&w.join("run"), extra, &[]);
    wait_seeding(&run, &w.join("run"), 90);
    (m, h, run, d)
}

/// libtorrent forcing RC4 downloads the whole model from `goat seed`
/// alone: every piece hashed by libtorrent, its peer reported as rc4, and
/// goat's status counting the encrypted peer while it is connected.
#[test]
fn libtorrent_forcing_encryption_downloads_from_goat_seed() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Uploads limited, so the leecher stays connected for seconds and the
    // status polls below see it (unlimited, the 3 MB went in well under
    // one poll once and the count was never seen).
    let (m, _h, run, mut d) = goat_seeding(w, &["--max-upload-rate", "1M"]);
    let logdir = w.join("run");

    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &m.t.bytes).unwrap();
    let lt_log = w.join("lt.log");
    let _lt = leech_from_enc(&tfile, &w.join("lt"), run.peer_port, &lt_log, "forced");
    let (mut seen_encrypted, mut seen_rc4) = (0, 0);
    assert!(
        wait_for(Duration::from_secs(120), || {
            let r = row(run.http_port, "model");
            seen_encrypted = seen_encrypted.max(r["encrypted_peers"].as_u64().unwrap_or(0));
            seen_rc4 = seen_rc4.max(r["rc4_peers"].as_u64().unwrap_or(0));
            text(&lt_log).contains("DONE") || text(&lt_log).contains("TIMEOUT")
        }),
        "the leecher did not finish: {}\n{}",
        text(&lt_log),
        log_of(&logdir)
    );
    leeched_from_goat_alone(&lt_log, run.peer_port, &log_of(&logdir));
    assert!(text(&lt_log).contains(&format!("PEER 127.0.0.1:{} rc4", run.peer_port)), "{}", text(&lt_log));
    assert!(same_files(&m.src, &w.join("lt").join("model"), MODEL_FILES), "the leecher's copy differs");
    assert!(seen_encrypted >= 1 && seen_rc4 >= 1, "status never counted the encrypted peer: {}", status(run.http_port));
    terminate(&mut d, &logdir);
}

/// transmission-daemon (Debian) with `"encryption": 2` (required) seeds
/// on loopback, driven over its RPC and stopped by the test: goat gets the
/// model from it.
#[test]
fn goat_fetches_from_transmission_requiring_encryption() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let p = payload(w);
    let (peer, rpc) = (free_port(), free_port());
    let cfg = w.join("transmission");
    std::fs::create_dir_all(&cfg).unwrap();
    let settings = serde_json::json!({
        "encryption": 2,
        "peer-port": peer, "peer-port-random-on-start": false,
        "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
        "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
        "port-forwarding-enabled": false,
        "rpc-enabled": true, "rpc-port": rpc, "rpc-bind-address": "127.0.0.1",
        "rpc-authentication-required": false, "rpc-whitelist-enabled": false, "rpc-host-whitelist-enabled": false,
        "download-dir": p.src.parent().unwrap(), "incomplete-dir-enabled": false,
        "watch-dir-enabled": false, "start-added-torrents": true,
        "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
        "message-level": 2,
    });
    std::fs::write(cfg.join("settings.json"), settings.to_string()).unwrap();
    let log = std::fs::File::create(w.join("transmission.log")).unwrap();
    let _tr = Daemon::spawn(
        "transmission-daemon",
        Command::new("transmission-daemon").args(["-f", "-g"]).arg(&cfg).stdout(log.try_clone().unwrap()).stderr(log),
    );
    let remote = |args: &[&str]| {
        let o = Command::new("timeout")
            .args(["20", "transmission-remote", &format!("127.0.0.1:{rpc}")])
            .args(args)
            .output()
            .expect("transmission-remote: run tests through tests/run.sh, which installs it");
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert!(
        wait_for(Duration::from_secs(20), || remote(&["-l"]).0),
        "transmission-daemon did not start: {}",
        text(&w.join("transmission.log"))
    );
    let (ok, out) = remote(&["-a", p.tfile.to_str().unwrap(), "-w", p.src.parent().unwrap().to_str().unwrap()]);
    assert!(ok, "{out}");
    remote(&["-t", "1", "-v"]);
    assert!(
        wait_for(Duration::from_secs(60), || {
            let i = remote(&["-t", "1", "-i"]).1;
            i.contains("Percent Done: 100%") && (i.contains("State: Seeding") || i.contains("State: Idle"))
        }),
        "transmission is not seeding: {}",
        remote(&["-t", "1", "-i"]).1
    );
    let (h, addr) = goatfile_for(&p, peer);
    let dir = w.join("out");
    let o = fetch_in(&h, &addr, &dir, "prefer-encrypted", "60");
    assert_eq!(o.code, 0, "{}\ntransmission: {}", o.stderr, text(&w.join("transmission.log")));
    let e = entry(&o);
    assert!(e["encrypted_connections"].as_u64() >= Some(1) && e["plaintext_connections"].as_u64() == Some(0), "{e}");
    assert!(same_files(&p.src, &dir.join("model"), FILES));
    remote(&["--exit"]);
}

/// Handshakes that lie or stop: garbage, a wrong info-hash (SKEY), an
/// exchange cut short, a plaintext handshake for a torrent goat does not
/// have, and connections that stall holding a slot. Each is dropped
/// without a panic, and meanwhile a libtorrent leecher gets the whole
/// model from `goat seed`.
#[test]
fn hostile_handshakes_are_dropped_and_other_peers_are_served() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (m, _h, run, mut d) = goat_seeding(w, &[]);
    let logdir = w.join("run");
    let at = ("127.0.0.1", run.peer_port);

    // Stalled: 96 bytes (a public key's length) and nothing more, held
    // open, from another network (127.0.1.2): goat holds a few handshakes
    // per network, so they cannot crowd out peers elsewhere.
    let rt = runtime();
    let stalled: Vec<tokio::net::TcpStream> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..300u32 {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.1.2:0".parse().unwrap()).unwrap();
            let Ok(mut s) = sock.connect(format!("127.0.0.1:{}", run.peer_port).parse().unwrap()).await else {
                continue;
            };
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(&[i as u8 | 1; 96]).await;
            v.push(s);
        }
        v
    });

    // Meanwhile a peer elsewhere (127.0.0.1) is answered at once.
    assert!(stalled.len() > 250, "only {} stalled connections were made", stalled.len());
    let mut hello = b"\x13BitTorrent protocol".to_vec();
    hello.extend_from_slice(&[0; 8]);
    hello.extend_from_slice(&hex::decode(&m.t.info_hash).unwrap());
    hello.extend_from_slice(b"-XX0001-abcdefghijkl");
    let mut s = std::net::TcpStream::connect(at).unwrap();
    s.write_all(&hello).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = [0u8; 68];
    s.read_exact(&mut reply).unwrap_or_else(|e| panic!("a peer was not answered while another network stalled: {e}"));
    assert_eq!(&reply[28..48], &hello[28..48]);
    drop(s);

    // Closed by goat within its handshake time: each of these.
    let dropped = |what: &str, bytes: Vec<u8>, close: bool| {
        let mut s = std::net::TcpStream::connect(at).unwrap();
        s.write_all(&bytes).unwrap();
        if close {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut sink = Vec::new();
        let r = s.read_to_end(&mut sink);
        assert!(
            r.is_ok() || r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{what}: not closed by goat: {r:?}"
        );
        // goat answers an MSE start with its public key and a pad, never more.
        assert!(sink.len() <= 96 + 512, "{what}: goat sent {} bytes", sink.len());
    };
    // Bytes from a payload file: random-looking, never a handshake.
    let garbage = std::fs::read(m.src.join("weights.bin")).unwrap()[..3000].to_vec();
    dropped("garbage", garbage.clone(), false);
    dropped("truncated after the key", garbage[..100].to_vec(), true);
    dropped("truncated inside the key", garbage[..50].to_vec(), true);
    let mut unknown = b"\x13BitTorrent protocol".to_vec();
    unknown.extend_from_slice(&[0; 8]);
    unknown.extend_from_slice(&[0x42; 20]);
    unknown.extend_from_slice(b"-XX0001-abcdefghijkl");
    dropped("plaintext, unknown torrent", unknown, false);

    // A real MSE initiator naming a torrent goat does not have.
    rt.block_on(async {
        for _ in 0..5 {
            let s = tokio::net::TcpStream::connect(at).await.unwrap();
            let r = tokio::time::timeout(
                Duration::from_secs(20),
                goat::torrent::mse::initiate(s, [0x42; 20], goat::torrent::mse::RC4, b""),
            )
            .await
            .expect("goat neither answered nor closed");
            assert!(r.is_err(), "goat accepted an MSE handshake for a torrent it does not have");
        }
    });

    // With the stalled connections still open, a real peer is served.
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &m.t.bytes).unwrap();
    let lt_log = w.join("lt.log");
    let _lt = leech_from_enc(&tfile, &w.join("lt"), run.peer_port, &lt_log, "forced");
    assert!(
        wait_for(Duration::from_secs(120), || text(&lt_log).contains("DONE") || text(&lt_log).contains("TIMEOUT")),
        "the leecher did not finish: {}\n{}",
        text(&lt_log),
        log_of(&logdir)
    );
    leeched_from_goat_alone(&lt_log, run.peer_port, &log_of(&logdir));
    assert!(same_files(&m.src, &w.join("lt").join("model"), MODEL_FILES));
    drop(stalled);
    assert_eq!(row(run.http_port, "model")["state"], "seeding", "{}", status(run.http_port));
    let log = log_of(&logdir);
    assert!(!log.contains("panicked"), "{log}");
    terminate(&mut d, &logdir);
}

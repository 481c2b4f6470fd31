//! `goat seed`: the real daemon process against the Esplora test server,
//! librqbit seeders, opentracker and aria2c, all on 127.0.0.1.

use crate::harness::*;
use crate::interop::{aria2_download, enc, opentracker_on};
use crate::seeder::*;
use goat::devchain::server::Fault;
use goat::devchain::Inscribe;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GET http://127.0.0.1:port/path → (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

pub fn status(port: u16) -> serde_json::Value {
    http_get(port, "/status").and_then(|(_, b)| serde_json::from_str(&b).ok()).unwrap_or(serde_json::Value::Null)
}

pub fn torrent_state(port: u16, entry: &str) -> String {
    let s = status(port);
    s["torrents"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["entry"] == entry))
        .and_then(|t| t["state"].as_str().map(String::from))
        .unwrap_or_default()
}

pub fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("goat.stderr")).unwrap_or_default()
}

pub fn same_files(a: &Path, b: &Path, files: &[(&str, usize)]) -> bool {
    files.iter().all(|(f, _)| std::fs::read(a.join(f)).ok() == std::fs::read(b.join(f)).ok())
}

pub fn entry_yaml(name: &str, info_hash: &str, tracker: &str, peer: u16) -> String {
    format!(
        "  - name: {name}\n    magnet: \"magnet:?xt=urn:btih:{info_hash}&dn={name}&tr={}&x.pe=127.0.0.1:{peer}\"\n",
        enc(tracker)
    )
}

/// The holder inscribes a goatfile on the chain a running server serves,
/// and it is mined.
fn publish_live(
    h: &goat::devchain::server::Handle,
    holder: &goat::devchain::Wallet,
    yaml: &str,
) -> goat::inscription::InscriptionId {
    let mut chain = h.state.chain.write().unwrap();
    // Each publish is in a later block: the height serves as the sequence.
    let at = chain.height();
    let ins = chain.inscribe(Inscribe {
        funder: holder,
        inputs: vec![vec![holder.signed_goatfile(yaml.as_bytes(), at.into(), at)]],
        to: holder.script_pubkey(),
        reveal_input_from: Some(holder),
    });
    chain.mine();
    ins.id(0)
}

/// The daemon as tests run it: loopback peers, fast polling, bounded life.
pub struct SeedRun {
    esplora: String,
    addr: String,
    pub out: PathBuf,
    pub state: PathBuf,
    pub peer_port: u16,
    pub http_port: u16,
}

impl SeedRun {
    pub fn new(esplora: &str, addr: &str, w: &Path) -> SeedRun {
        SeedRun {
            esplora: esplora.into(),
            addr: addr.into(),
            out: w.join("out"),
            state: w.join("state"),
            peer_port: free_port(),
            http_port: free_port(),
        }
    }

    pub fn spawn(&self, logdir: &Path) -> Daemon {
        self.spawn_with(logdir, &[])
    }

    fn spawn_with(&self, logdir: &Path, extra: &[&str]) -> Daemon {
        self.spawn_env(logdir, extra, &[])
    }

    /// With test hooks in the environment (`GOAT_TEST_*`).
    pub fn spawn_env(&self, logdir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(logdir).unwrap();
        let mut g = goat();
        for (k, v) in env {
            g = g.env(k, v);
        }
        g.esplora(&self.esplora)
            .args(["--retries", "1", "--timeout", "3", "seed", &self.addr, "-o"])
            .args([&self.out])
            .args(["--state-dir"])
            .args([&self.state])
            .args(["--no-dht", "--loopback", "--poll", "1s", "--metadata-timeout", "60", "--run-for", "280"])
            .args(["--listen-port", &self.peer_port.to_string(), "--http", &format!("127.0.0.1:{}", self.http_port)])
            .args(extra)
            .spawn(logdir)
    }
}

/// A model in a publisher's folder (`w/pub/model`), its goatfile on a
/// served devchain, and a daemon (not started) that `goat publish` has
/// handed the torrent over to through `published.json`.
pub struct HandedOver {
    pub h: goat::devchain::server::Handle,
    pub run: SeedRun,
    pub src: PathBuf,
    pub t: Made,
}

pub fn handed_over(w: &Path, files: &[(&str, usize)], piece: u32) -> HandedOver {
    let src = w.join("pub").join("model");
    make_payload(&src, files);
    let t = make_torrent(&src, piece, vec![]);
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=model", t.info_hash);
    let (scene, addr) =
        crate::fetch::publish_yaml(&format!("goat: 1\nentries:\n  - name: model\n    magnet: \"{magnet}\"\n"));
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);
    let handed = serde_json::json!([{
        "address": addr, "name": "model", "magnet": magnet, "output": src,
        "torrent": data_encoding::BASE64.encode(&t.bytes),
    }]);
    std::fs::create_dir_all(&run.state).unwrap();
    std::fs::write(run.state.join("published.json"), handed.to_string()).unwrap();
    HandedOver { h, run, src, t }
}

/// SIGTERM; the daemon must exit 0 within a few seconds.
pub fn terminate(d: &mut Daemon, logdir: &Path) {
    send_signal(d.child.id(), "TERM");
    let exited = wait_for(Duration::from_secs(10), || matches!(d.child.try_wait(), Ok(Some(_))));
    assert!(exited, "goat seed did not stop within 10s of SIGTERM: {}", log_of(logdir));
    let code = d.child.wait().unwrap().code();
    assert_eq!(code, Some(0), "goat seed exit code: {}", log_of(logdir));
    assert!(log_of(logdir).contains("state saved"), "{}", log_of(logdir));
}

const FILES_A: &[(&str, usize)] = &[("weights.bin", 900_001), ("config.json", 777)];
const FILES_B: &[(&str, usize)] = &[("adapter.bin", 300_000)];

/// Follow an address: fetch and seed its goatfile; a new goatfile appears
/// and its new entry is fetched without a restart; Esplora goes down and
/// seeding goes on (aria2c downloads everything from goat alone meanwhile),
/// errors show in the status; polling recovers; SIGTERM stops it cleanly.
#[test]
fn seed_follows_address_and_serves_aria2_alone() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tport = free_port();
    let announce = format!("http://127.0.0.1:{tport}/announce");
    let (pa, pb) = (w.join("src").join("model-a"), w.join("src").join("model-b"));
    make_payload(&pa, FILES_A);
    make_payload(&pb, FILES_B);
    let ta = make_torrent(&pa, 65536, vec![announce.clone()]);
    let tb = make_torrent(&pb, 32768, vec![announce.clone()]);
    let _tracker = opentracker_on(w, tport, &[&ta.info_hash, &tb.info_hash]);
    let sa = LibrqbitSeeder::start(&ta, &pa, None);
    let sb = LibrqbitSeeder::start(&tb, &pb, None);

    let mut scene = Scene::new();
    let holder = scene.holder.clone();
    let v1 = format!("goat: 1\nname: demo\nentries:\n{}", entry_yaml("model-a", &ta.info_hash, &announce, sa.port));
    scene.inscribe_to_holder(&holder, "text/yaml", v1.as_bytes());
    scene.chain.mine();
    let addr = scene.address();
    let h = scene.serve();

    let run = SeedRun::new(&h.url, &addr, w);
    let mut d = run.spawn(w);
    assert!(
        wait_for(Duration::from_secs(90), || torrent_state(run.http_port, "model-a") == "seeding"),
        "model-a not seeding: {}\n{}",
        status(run.http_port),
        log_of(w)
    );
    let dir = run.out.join(&addr);
    assert!(same_files(&pa, &dir.join("model-a"), FILES_A));

    // A new goatfile (v2: model-a and model-b) lands while goat runs.
    let v2 = format!("{v1}{}", entry_yaml("model-b", &tb.info_hash, &announce, sb.port));
    let v2_id = publish_live(&h, &holder, &v2);
    assert!(
        wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "model-b") == "seeding"),
        "new entry not seeding: {}\n{}",
        status(run.http_port),
        log_of(w)
    );
    assert!(same_files(&pb, &dir.join("model-b"), FILES_B));
    let event = format!("following goatfile {v2_id} (2 entries, new)");
    assert!(log_of(w).contains(&event), "no '{event}' in the log:\n{}", log_of(w));

    // Metrics: goat's series and librqbit's session counters.
    let (code, metrics) = http_get(run.http_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("goat_torrent_seeding{") && metrics.contains("} 1"), "{metrics}");
    assert!(metrics.contains("goat_address_up{"), "{metrics}");
    assert!(metrics.contains("rqbit_uploaded_bytes"), "{metrics}");

    // Esplora goes down; the original seeders leave.
    h.state.arm("/", Fault::Status(500), 1_000_000);
    drop(sa);
    drop(sb);
    assert!(
        wait_for(Duration::from_secs(30), || status(run.http_port)["addresses"][0]["last_error"].is_string()),
        "the outage does not show in the status: {}",
        status(run.http_port)
    );
    // aria2c (nobody here wrote it) gets model-a from goat alone, via the tracker.
    let tfile = w.join("model-a.torrent");
    std::fs::write(&tfile, &ta.bytes).unwrap();
    let a2 = w.join("aria2");
    let st = aria2_download(&tfile, &a2);
    assert!(st.success(), "aria2c failed ({st}); goat: {}", log_of(w));
    assert!(same_files(&pa, &a2.join("model-a"), FILES_A), "aria2c's copy differs");
    let s = status(run.http_port);
    let a = s["torrents"].as_array().unwrap().iter().find(|t| t["entry"] == "model-a").unwrap().clone();
    assert_eq!(a["state"], "seeding", "{s}");
    assert!(a["uploaded_bytes"].as_u64().unwrap() >= 900_000, "{s}");
    assert!(s["addresses"][0]["poll_errors"].as_u64().unwrap() > 0, "{s}");

    // Esplora is back: polling recovers.
    h.state.faults.lock().unwrap().clear();
    assert!(
        wait_for(Duration::from_secs(30), || status(run.http_port)["addresses"][0]["last_error"].is_null()),
        "polling did not recover: {}",
        status(run.http_port)
    );
    // `goat status` prints the same for a person.
    let human = goat().args(["status", "--http", &format!("127.0.0.1:{}", run.http_port)]).run().ok();
    assert!(human.stdout.contains("model-b") && human.stdout.contains("seeding"), "{}", human.stdout);

    // v3 drops model-a: without --prune it keeps seeding, shown as dropped.
    let v3 = format!("goat: 1\nname: demo\nentries:\n{}", entry_yaml("model-b", &tb.info_hash, &announce, 1));
    publish_live(&h, &holder, &v3);
    let entry = |port: u16, name: &str| {
        status(port)["torrents"].as_array().and_then(|ts| ts.iter().find(|t| t["entry"] == name).cloned())
    };
    assert!(
        wait_for(Duration::from_secs(30), || entry(run.http_port, "model-a")
            .is_some_and(|t| t["in_goatfile"] == false && t["state"] == "seeding")),
        "dropped entry: {}",
        status(run.http_port)
    );
    assert!(log_of(w).contains("dropped from the goatfile; still seeding"), "{}", log_of(w));

    terminate(&mut d, w);
    assert!(run.state.join("goat-seed.json").exists());
    assert!(run.state.join("session").join("session.json").exists());

    // Restart with --prune: model-a comes back from the state directory,
    // the first poll stops seeding it (files kept); model-b seeds at once.
    let w2 = w.join("prune");
    let mut d = run.spawn_with(&w2, &["--prune"]);
    assert!(
        wait_for(Duration::from_secs(30), || entry(run.http_port, "model-a").is_none()
            && entry(run.http_port, "model-b").is_some_and(|t| t["state"] == "seeding")),
        "prune: {}\n{}",
        status(run.http_port),
        log_of(&w2)
    );
    assert!(log_of(&w2).contains("stopped seeding (--prune)"), "{}", log_of(&w2));
    assert!(same_files(&pa, &dir.join("model-a"), FILES_A), "pruned files must stay on disk");
    let b = entry(run.http_port, "model-b").unwrap();
    assert_eq!(b["downloaded_bytes"], 0, "model-b was downloaded again after a restart: {b}");
    terminate(&mut d, &w2);
}

/// kill -9 during the first download: the restart resumes (the seeder
/// does not send everything again) and ends seeding. Then a file is
/// corrupted while goat is stopped: the next start notices, re-fetches the
/// damaged pieces, and seeds again.
#[test]
fn seed_resumes_after_kill_9_and_repairs_changed_files() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tport = free_port();
    let announce = format!("http://127.0.0.1:{tport}/announce");
    let p = w.join("src").join("big");
    // librqbit saves its have-bitfield every 16 MiB, so a kill -9 loses at
    // most that much progress: the payload is larger than that.
    let half = 20_000_000usize;
    let files: &[(&str, usize)] = &[("part1.bin", half), ("part2.bin", half)];
    make_payload(&p, files);
    let t = make_torrent(&p, 65536, vec![announce.clone()]);
    let _tracker = opentracker_on(w, tport, &[&t.info_hash]);
    let seeder = LibrqbitSeeder::start(&t, &p, Some(8_000_000));
    let (scene, addr) = crate::fetch::publish_yaml(&format!(
        "goat: 1\nentries:\n{}",
        entry_yaml("big", &t.info_hash, &announce, seeder.port)
    ));
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);

    let mut d = run.spawn(&w.join("run1"));
    assert!(
        wait_for(Duration::from_secs(60), || seeder.uploaded() as usize > 26_000_000),
        "transfer did not start: {}",
        log_of(&w.join("run1"))
    );
    let _ = d.child.kill(); // SIGKILL
    let _ = d.child.wait();
    let sent_before = seeder.uploaded();

    let mut d = run.spawn(&w.join("run2"));
    assert!(
        wait_for(Duration::from_secs(90), || torrent_state(run.http_port, "big") == "seeding"),
        "not seeding after restart: {}\n{}",
        status(run.http_port),
        log_of(&w.join("run2"))
    );
    let dir = run.out.join(&addr).join("big");
    assert!(same_files(&p, &dir, files));
    let again = (seeder.uploaded() - sent_before) as usize;
    assert!(
        again < half * 2 - 10_000_000,
        "restart fetched {again} bytes of {} ({sent_before} before the kill): {}",
        half * 2,
        log_of(&w.join("run2"))
    );
    terminate(&mut d, &w.join("run2"));

    // Damage part2 in the middle while goat is stopped (same size).
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(dir.join("part2.bin")).unwrap();
        f.write_all_at(&[0xAA; 5000], 1_000_000).unwrap();
    }
    let sent_before = seeder.uploaded();
    let mut d = run.spawn(&w.join("run3"));
    assert!(
        wait_for(Duration::from_secs(60), || log_of(&w.join("run3")).contains("changed on disk")),
        "the change was not noticed: {}",
        log_of(&w.join("run3"))
    );
    assert!(
        wait_for(Duration::from_secs(90), || same_files(&p, &dir, files)
            && torrent_state(run.http_port, "big") == "seeding"),
        "not repaired: {}\n{}",
        status(run.http_port),
        log_of(&w.join("run3"))
    );
    let refetched = seeder.uploaded() - sent_before;
    assert!(refetched > 0 && refetched < 1_000_000, "repair re-fetched {refetched} bytes");
    terminate(&mut d, &w.join("run3"));
}

/// Refusals that need no network: a public status address, a bad config
/// file, no address at all; and `goat status` with no daemon.
#[test]
fn seed_refuses_bad_settings() {
    let w = tempfile::tempdir().unwrap();
    let addr = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let base = |extra: &[&str]| {
        goat()
            .args(["--esplora", "http://127.0.0.1:9", "seed", "--state-dir"])
            .args([w.path().join("st")])
            .args(["-o"])
            .args([w.path().join("out")])
            .args(extra.iter().copied())
    };
    base(&[addr, "--http", "0.0.0.0:4628"]).run().fails(2, "not a loopback address");
    let cfg = w.path().join("seed.toml");
    std::fs::write(&cfg, "addresses = [\"x\"]\npoll-every = \"1m\"\n").unwrap();
    base(&["--config", cfg.to_str().unwrap()]).run().fails(2, "unknown key 'poll-every' (line 2)");
    let empty = w.path().join("empty.toml");
    std::fs::write(&empty, "poll = \"1m\"\n").unwrap();
    base(&["--config", empty.to_str().unwrap()]).run().fails(2, "no address to follow");
    base(&[addr, "--poll", "soon"]).run().fails(2, "duration 'soon'");
    base(&[addr, "--max-upload-rate", "fast"]).run().fails(2, "rate 'fast'");
    assert!(!w.path().join("st").exists() && !w.path().join("out").exists(), "a refused start wrote files");
    goat().args(["demo", "--size", "0"]).run().fails(2, "--size");
    goat().args(["status", "--http", &format!("127.0.0.1:{}", free_port())]).run().fails(4, "no goat seed answers");
}

/// The config file supplies addresses, folders and settings; command-line
/// options override it. Esplora is unreachable here: the daemon keeps
/// running, logs the poll error, and stops by itself with state saved.
#[test]
fn seed_reads_its_config_file_and_options_override_it() {
    let w = tempfile::tempdir().unwrap();
    let (out, st) = (w.path().join("files"), w.path().join("state"));
    let cfg = w.path().join("seed.toml");
    std::fs::write(
        &cfg,
        format!(
            "addresses = [\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"]\noutput = \"{}\"\nstate-dir = \"{}\"\npoll = \"1m\"\nhttp = \"off\"\nlisten-port = {}\nno-dht = true\nesplora = [\"http://127.0.0.1:9\"]\n",
            out.display(),
            st.display(),
            free_port()
        ),
    )
    .unwrap();
    let o = goat()
        .args(["--retries", "1", "--timeout", "2", "seed", "--config"])
        .args([&cfg])
        .args(["--poll", "7s", "--loopback", "--run-for", "3"])
        .run()
        .ok();
    assert!(o.stderr.contains(&format!("seeding from {}", out.display())), "{}", o.stderr);
    assert!(o.stderr.contains("following 1 address(es), polling every 7s"), "{}", o.stderr);
    assert!(
        o.stderr.contains("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:") && o.stderr.contains("(seeding continues)"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("status on http"), "http = \"off\" still served status: {}", o.stderr);
    assert!(o.stderr.contains("state saved"), "{}", o.stderr);
    assert!(st.join("goat-seed.json").exists() && out.exists());
}

/// Thirty entries at once, each a hybrid v1+v2 torrent made and seeded by
/// python3-libtorrent (as qBittorrent makes them), its magnet written by
/// libtorrent's own make_magnet_uri (v1 and v2 hashes). Every entry must
/// end up seeding as its own torrent with its own files. Before the fix,
/// librqbit's session persistence handed concurrent adds the same id, so
/// entries came back as other entries' torrents, and piece steering took
/// so many of librqbit's I/O permits that the daemon stalled for good
/// beyond about 21 downloading torrents.
#[test]
fn seed_adds_thirty_hybrid_entries_at_once_each_as_its_own_torrent() {
    const N: usize = 30;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let port = free_port();
    let log = w.join("lt.log");
    let _lt = Daemon::spawn(
        "python3-libtorrent",
        std::process::Command::new("/usr/bin/python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/lt_many.py"))
            .arg(w)
            .args([N.to_string(), port.to_string(), "240".into()])
            .stdout(std::fs::File::create(&log).unwrap()),
    );
    assert!(
        wait_for(Duration::from_secs(90), || std::fs::read_to_string(&log).unwrap_or_default().contains("SEEDING")),
        "libtorrent did not start seeding: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut yaml = String::from("goat: 1\nname: many\nentries:\n");
    let mut entries = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.starts_with("TORRENT ")) {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        let (name, v1, magnet) = (parts[1], parts[2], parts[3]);
        assert!(magnet.contains("urn:btmh:1220"), "not a hybrid magnet: {magnet}");
        yaml += &format!("  - name: {name}\n    magnet: \"{magnet}&x.pe=127.0.0.1:{port}\"\n");
        entries.push((name.to_string(), v1.to_string()));
    }
    assert_eq!(entries.len(), N);

    let mut scene = Scene::new();
    let holder = scene.holder.clone();
    scene.inscribe_to_holder(&holder, "text/yaml", yaml.as_bytes());
    scene.chain.mine();
    let addr = scene.address();
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);
    let mut d = run.spawn(w);
    let seeding = || {
        status(run.http_port)["torrents"]
            .as_array()
            .map(|ts| ts.iter().filter(|t| t["state"] == "seeding").count())
            .unwrap_or(0)
    };
    assert!(
        wait_for(Duration::from_secs(120), || seeding() == N),
        "{} of {N} entries seeding: {}\n{}",
        seeding(),
        status(run.http_port),
        log_of(w)
    );
    let s = status(run.http_port);
    let dir = run.out.join(&addr);
    for (name, v1) in &entries {
        let t = s["torrents"].as_array().unwrap().iter().find(|t| t["entry"] == name.as_str()).unwrap();
        assert_eq!(t["info_hash"], v1.as_str(), "{name} is seeded as another torrent: {s}");
        for f in ["weights.bin", "config.json"] {
            assert_eq!(
                std::fs::read(w.join("src").join(name).join(f)).ok(),
                std::fs::read(dir.join(name).join(f)).ok(),
                "{name}/{f} differs from libtorrent's"
            );
        }
    }
    assert!(!log_of(w).contains("WARN"), "warnings while adding: {}", log_of(w));
    terminate(&mut d, w);
}

/// The status endpoint under a slow-request flood and a DNS-rebinding
/// request: 200 connections that never finish their headers are closed
/// after the header timeout, `/status` keeps answering throughout, and a
/// request whose Host is a DNS name (what a rebinding page sends) is
/// refused while `localhost` and IP literals are served.
#[test]
fn the_status_endpoint_survives_a_slow_request_flood_and_refuses_foreign_hosts() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (scene, addr) = crate::fetch::publish_yaml("goat: 1\nentries:\n  - name: model\n    magnet: \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\"\n");
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);
    let logdir = w.join("run");
    let mut d = run.spawn(&logdir);
    assert!(wait_for(Duration::from_secs(30), || status(run.http_port)["version"].is_string()), "{}", log_of(&logdir));
    let raw = |host: &str| -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", run.http_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).ok()?;
        String::from_utf8_lossy(&buf).split_whitespace().nth(1)?.parse().ok()
    };
    assert_eq!(raw("evil.example"), Some(421));
    assert_eq!(raw(&format!("evil.example:{}", run.http_port)), Some(421));
    assert_eq!(raw(&format!("localhost:{}", run.http_port)), Some(200));
    assert_eq!(raw("[::1]"), Some(200));

    let started = std::time::Instant::now();
    let mut flood = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", run.http_port)) {
            let _ = s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            flood.push(s);
        }
    }
    assert!(flood.len() >= 190, "could open only {} connections", flood.len());
    // /status answers while the flood holds its connections (within the
    // header timeout that frees their slots, at worst).
    assert!(
        wait_for(Duration::from_secs(10), || raw("127.0.0.1") == Some(200)),
        "/status starved: {}",
        log_of(&logdir)
    );
    // Every flood connection is closed by the server, well before 45 s.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(started.elapsed()));
    let closed = flood
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut b = [0u8; 512];
            // EOF, a reset, or a 408 answer: the server let go of it.
            !matches!((&**s).read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
        })
        .count();
    assert_eq!(closed, flood.len(), "half-sent requests still open after {:?}", started.elapsed());
    assert_eq!(raw("127.0.0.1"), Some(200));
    terminate(&mut d, &logdir);
}

/// A goatfile of magnets nobody serves (the daemon keeps trying them in
/// the background; what matters here is which goatfile it follows).
fn unserved(names: &[&str]) -> String {
    let mut y = String::from("goat: 1\nentries:\n");
    for (i, n) in names.iter().enumerate() {
        y += &format!(
            "  - name: {n}\n    magnet: \"magnet:?xt=urn:btih:{}&dn={n}\"\n",
            format!("{:02x}", i + 1).repeat(20)
        );
    }
    y
}

/// `goat seed` never goes back: once it followed v2, a server that hides
/// v2 (keeping its page's count) offers v1, and the daemon refuses to go
/// back, keeps following v2, and says so in the status, also after a
/// restart (the newest followed is kept in the state folder).
/// --allow-rollback goes back; so does a proven reorg (no server proves
/// v2's reveal confirmed any more).
#[test]
fn seed_never_goes_back_to_an_older_goatfile() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut scene = Scene::new();
    let holder = scene.holder.clone();
    let paid = scene.chain.fund(&scene.stranger.script_pubkey(), 4_321);
    scene.chain.mine();
    let addr = scene.address();
    let h = scene.serve();
    let v1 = publish_live(&h, &holder, &unserved(&["a"]));
    let run = SeedRun::new(&h.url, &addr, w);
    let following = |id: &goat::inscription::InscriptionId| {
        let id = id.to_string();
        move || status(run.http_port)["addresses"][0]["goatfile"] == id.as_str()
    };
    let l1 = w.join("run1");
    let mut d = run.spawn_with(&l1, &["--prune"]);
    assert!(wait_for(Duration::from_secs(30), following(&v1)), "{}\n{}", status(run.http_port), log_of(&l1));
    let v2 = publish_live(&h, &holder, &unserved(&["a", "b"]));
    assert!(wait_for(Duration::from_secs(30), following(&v2)), "{}\n{}", status(run.http_port), log_of(&l1));

    // the server now hides v2's reveal behind a stranger's payment
    let hide = || h.state.arm("/address/", Fault::SwapListed { hide: v2.txid, show: paid }, usize::MAX);
    hide();
    let refused = || status(run.http_port)["addresses"][0]["rollback_refused"].is_string();
    assert!(wait_for(Duration::from_secs(30), refused), "{}\n{}", status(run.http_port), log_of(&l1));
    let s = status(run.http_port);
    let a = &s["addresses"][0];
    assert_eq!(a["goatfile"], v2.to_string().as_str(), "{s}");
    assert_eq!(a["entries"], serde_json::json!(["a", "b"]), "{s}");
    let why = a["rollback_refused"].as_str().unwrap();
    assert!(
        why.contains(&v1.to_string()) && why.contains(&v2.to_string()) && why.contains("--allow-rollback"),
        "{why}"
    );
    assert!(a["last_error"].as_str().is_some_and(|e| e.contains("older than")), "{s}");
    let human = goat().args(["status", "--http", &format!("127.0.0.1:{}", run.http_port)]).run().ok();
    assert!(human.stdout.contains("not going back"), "{}", human.stdout);
    assert!(!log_of(&l1).contains(&format!("following goatfile {v1} (1 entries, new)")), "{}", log_of(&l1));
    terminate(&mut d, &l1);

    // after a restart: still refused (the newest followed was saved)
    let l2 = w.join("run2");
    let mut d = run.spawn_with(&l2, &["--prune"]);
    assert!(wait_for(Duration::from_secs(30), refused), "{}\n{}", status(run.http_port), log_of(&l2));
    assert_eq!(status(run.http_port)["addresses"][0]["goatfile"], v2.to_string().as_str());
    terminate(&mut d, &l2);

    // the user allows it
    let l3 = w.join("run3");
    let mut d = run.spawn_with(&l3, &["--allow-rollback"]);
    assert!(wait_for(Duration::from_secs(30), following(&v1)), "{}\n{}", status(run.http_port), log_of(&l3));
    assert!(log_of(&l3).contains("going back to it (--allow-rollback)"), "{}", log_of(&l3));
    // v2 is offered again: forward is always fine
    h.state.faults.lock().unwrap().clear();
    assert!(wait_for(Duration::from_secs(30), following(&v2)), "{}\n{}", status(run.http_port), log_of(&l3));
    terminate(&mut d, &l3);

    // a reorg, proven: v2 hidden, and no server proves its reveal
    // confirmed any more
    let l4 = w.join("run4");
    let mut d = run.spawn_with(&l4, &[]);
    assert!(wait_for(Duration::from_secs(30), following(&v2)), "{}\n{}", status(run.http_port), log_of(&l4));
    hide();
    h.state.arm(&format!("/tx/{}/merkle-proof", v2.txid), Fault::Status(404), usize::MAX);
    assert!(wait_for(Duration::from_secs(30), following(&v1)), "{}\n{}", status(run.http_port), log_of(&l4));
    assert!(log_of(&l4).contains("a reorg took"), "{}", log_of(&l4));
    terminate(&mut d, &l4);
}

//! goat writes only to files it owns and never dies on hostile metadata:
//! links planted in the output folder, a publisher's folder that changed,
//! metadata a hostile peer sends (`tests/support/meta_peer.py`, which
//! serves any info dictionary over BEP 9), and a model of many files under
//! a low descriptor limit, fetched by goat and leeched from `goat seed` by
//! python3-libtorrent.

use crate::fetch::publish_yaml;
use crate::harness::*;
use crate::repair::leech_from;
use crate::seed::{handed_over, log_of, status, terminate, torrent_state, HandedOver, SeedRun};
use crate::seeder::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const FILES: &[(&str, usize)] = &[("weights.bin", 300_000), ("config.json", 900)];

/// A model seeded by librqbit and its goatfile on a served devchain.
struct Published {
    src: PathBuf,
    _seeder: LibrqbitSeeder,
    h: goat::devchain::server::Handle,
    addr: String,
}

fn published(w: &Path, files: &[(&str, usize)], piece: u32) -> (Published, Made) {
    let src = w.join("src").join("model");
    make_payload(&src, files);
    let t = make_torrent(&src, piece, vec![]);
    let seeder = LibrqbitSeeder::start(&t, &src, None);
    let (scene, addr) = publish_yaml(&format!(
        "goat: 1\nentries:\n  - name: model\n    magnet: \"{}\"\n",
        t.magnet_with_peer(seeder.port)
    ));
    (Published { src, _seeder: seeder, h: scene.serve(), addr }, t)
}

/// Every regular file below `dir`, relative.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out
}

/// A link in the output folder, to a file, to a folder, or dangling, is
/// refused with a message that names it: the link's target is untouched
/// (not resized, not written, not created).
#[test]
fn links_in_the_output_folder_are_refused_and_their_targets_untouched() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (p, _t) = published(w, FILES, 16384);
    let victim = w.join("victim.bin");
    std::fs::write(&victim, b"the user's own file").unwrap();
    let victim_dir = w.join("victim-dir");
    std::fs::create_dir_all(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("keep.txt"), b"keep").unwrap();
    let nowhere = w.join("nowhere.bin");
    type Case<'a> = (&'a str, &'a dyn Fn(&Path));
    let cases: [Case; 5] = [
        ("a link to a file", &|out| {
            std::fs::create_dir_all(out.join("model")).unwrap();
            std::os::unix::fs::symlink(&victim, out.join("model/weights.bin")).unwrap();
        }),
        ("a link to a folder", &|out| {
            std::fs::create_dir_all(out).unwrap();
            std::os::unix::fs::symlink(&victim_dir, out.join("model")).unwrap();
        }),
        ("a dangling link", &|out| {
            std::fs::create_dir_all(out.join("model")).unwrap();
            std::os::unix::fs::symlink(&nowhere, out.join("model/weights.bin")).unwrap();
        }),
        // goat's own metadata folder: its manifests would land in the target.
        ("a link in place of .goat", &|out| {
            std::fs::create_dir_all(out).unwrap();
            std::os::unix::fs::symlink(&victim_dir, out.join(".goat")).unwrap();
        }),
        // Another name of the user's file (same filesystem).
        ("a hard link", &|out| {
            std::fs::create_dir_all(out.join("model")).unwrap();
            std::fs::hard_link(&victim, out.join("model/weights.bin")).unwrap();
        }),
    ];
    for (i, (what, plant)) in cases.iter().enumerate() {
        let out = w.join(format!("out{i}"));
        plant(&out);
        let r = fetch(&p.h.url, &p.addr, &out).run();
        if *what == "a hard link" {
            // The name goat writes becomes a private copy first: the
            // fetch completes, and the user's file keeps its bytes.
            assert!(r.stderr.contains("private copy"), "{what}: {}", r.stderr);
            r.ok();
            assert_eq!(
                std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(out.join("model/weights.bin")).unwrap()),
                1
            );
        } else {
            assert!(r.stderr.contains("symbolic link"), "{what}: {}", r.stderr);
            r.fails(6, "remove");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"the user's own file", "{what}: the linked file changed");
        assert_eq!(
            files_below(&victim_dir),
            vec![PathBuf::from("keep.txt")],
            "{what}: goat wrote into the linked folder"
        );
        assert!(!nowhere.exists(), "{what}: goat created the dangling link's target");
    }
    // The same fetch into a clean folder works: what was refused is the link.
    let out = w.join("clean");
    fetch(&p.h.url, &p.addr, &out).run().ok();
    assert_eq!(
        std::fs::read(out.join("model/weights.bin")).unwrap(),
        std::fs::read(p.src.join("weights.bin")).unwrap()
    );
    // A complete file its owner hard-linked elsewhere is only read: the
    // same fetch runs again (nothing to write), and verify passes.
    std::fs::hard_link(out.join("model/weights.bin"), w.join("my-models-weights.bin")).unwrap();
    fetch(&p.h.url, &p.addr, &out).run().ok();
    goat().args(["verify"]).args([&out]).run().ok();
    // verify lists a file the torrent does not name, and passes.
    std::fs::write(out.join("model/stray.txt"), b"x").unwrap();
    let v = goat().args(["verify"]).args([&out]).run().ok();
    assert!(v.stdout.lines().any(|l| l.starts_with("extra") && l.contains("model/stray.txt")), "{}", v.stdout);
    // A FIFO among goat's records is refused at once, never waited on.
    use rustix::fs::{FileType, Mode, CWD};
    rustix::fs::mknodat(CWD, out.join(".goat/evil.json"), FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
    goat().args(["verify"]).args([&out]).run().fails(6, "not a regular file");
    std::fs::remove_file(out.join(".goat/evil.json")).unwrap();
    // An entry whose saved .torrent is gone is reported, not the end of
    // the report.
    std::fs::remove_file(out.join(".goat/model.torrent")).unwrap();
    let v = goat().args(["verify"]).args([&out]).run();
    assert_eq!(v.code, 7, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.lines().any(|l| l.starts_with("unchecked") && l.contains("model/weights.bin")), "{}", v.stdout);
}

/// `tests/support/meta_peer.py` serving a hostile info dictionary of
/// `kind` on a free port; returns the peer, its port and the info-hash.
fn hostile_peer(w: &Path, kind: &str) -> (Daemon, u16, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/meta_peer.py");
    let info = w.join(format!("{kind}.info"));
    let made = Command::new("/usr/bin/python3").arg(script).arg("--make-info").arg(&info).arg(kind).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let hash = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let port = free_port();
    let log = std::fs::File::create(w.join(format!("{kind}.peer.log"))).unwrap();
    let peer = Daemon::spawn(
        "meta_peer",
        Command::new("/usr/bin/python3").arg(script).arg(&info).args([port.to_string(), "120".into()]).stdout(log),
    );
    let listening = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(w.join(format!("{kind}.peer.log"))).unwrap_or_default().contains("LISTENING")
    });
    assert!(listening, "meta_peer did not start");
    (peer, port, hash)
}

/// Metadata whose piece length is 0 (librqbit divides by it), whose file
/// lengths overflow a 64-bit sum, or whose piece-hash count is wrong:
/// `goat fetch` exits 5 with one line, no panic and no backtrace, and
/// writes no payload file.
#[test]
fn hostile_metadata_from_a_peer_exits_5_without_a_panic() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // librqbit meets the first two while it resolves the magnet (a
    // division by zero; an overflowing sum, checked in this debug build):
    // its panic is caught there. The hash count is goat's own check.
    for (kind, why) in [
        ("zero-piece-length", "failed on it"),
        ("overflow", "metadata is invalid"),
        ("hash-count", "piece hashes for 16 pieces"),
    ] {
        let (_peer, port, hash) = hostile_peer(w, kind);
        let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=model&x.pe=127.0.0.1:{port}");
        let (scene, addr) = publish_yaml(&format!("goat: 1\nentries:\n  - name: model\n    magnet: \"{magnet}\"\n"));
        let h = scene.serve();
        let out = w.join(format!("out-{kind}"));
        let r = fetch(&h.url, &addr, &out).args(["--metadata-timeout", "30"]).env("RUST_BACKTRACE", "1").run();
        assert!(r.stderr.contains("metadata is invalid"), "{kind}: {}", r.stderr);
        assert!(!r.stderr.contains("backtrace") && !r.stderr.contains("panicked"), "{kind}: {}", r.stderr);
        r.fails(5, why);
        assert!(files_below(&out.join("model")).is_empty(), "{kind}: payload files written: {:?}", files_below(&out));
    }
}

/// The daemon meets the same hostile metadata: it keeps running and
/// answering, says why, and tries the entry again at the next poll (the
/// entry is never lost in an "adding" state).
#[test]
fn hostile_metadata_in_goat_seed_is_reported_and_tried_again() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut entries = String::new();
    let mut peers = Vec::new();
    for kind in ["zero-piece-length", "overflow"] {
        let (peer, port, hash) = hostile_peer(w, kind);
        entries +=
            &format!("  - name: {kind}\n    magnet: \"magnet:?xt=urn:btih:{hash}&dn=model&x.pe=127.0.0.1:{port}\"\n");
        peers.push(peer);
    }
    let (scene, addr) = publish_yaml(&format!("goat: 1\nentries:\n{entries}"));
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);
    let logdir = w.join("run");
    let mut d = run.spawn_env(&logdir, &[], &[("RUST_BACKTRACE", "1")]);
    let tried = |n: usize| {
        let log = log_of(&logdir);
        ["zero-piece-length", "overflow"]
            .iter()
            .all(|k| log.matches(&format!("{k}: the torrent's metadata is invalid")).count() >= n)
    };
    assert!(wait_for(Duration::from_secs(60), || tried(2)), "not reported, or not tried again: {}", log_of(&logdir));
    assert!(status(run.http_port)["addresses"][0]["polls"].as_u64().unwrap_or(0) >= 2, "{}", status(run.http_port));
    let log = log_of(&logdir);
    assert!(!log.contains("panicked") && !log.contains("backtrace"), "{log}");
    terminate(&mut d, &logdir);
}

/// A file of a publisher's folder that grew by 500 KiB: `goat seed`
/// reports it and does not serve that torrent, and the folder is left
/// byte for byte as it was (librqbit would cut the file back to the
/// torrent's length and download into it).
#[test]
fn a_publishers_grown_file_is_reported_and_left_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let HandedOver { h: _h, run, src, t: _ } = handed_over(w, FILES, 16384);
    // First run: seeded from the folder (librqbit's session remembers it).
    let mut d = run.spawn(&w.join("run1"));
    assert!(
        wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding"),
        "{}",
        log_of(&w.join("run1"))
    );
    terminate(&mut d, &w.join("run1"));

    let file = src.join("weights.bin");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(&vec![0x77; 500 << 10]).unwrap();
    }
    let before: Vec<(PathBuf, Vec<u8>)> =
        files_below(&src).into_iter().map(|p| (p.clone(), std::fs::read(src.join(&p)).unwrap())).collect();
    let mut d = run.spawn(&w.join("run2"));
    let reported = wait_for(Duration::from_secs(30), || {
        status(run.http_port)["published_errors"].as_array().is_some_and(|e| {
            e.iter().any(|e| e.as_str().is_some_and(|e| e.contains("is 812000 bytes but its torrent says 300000")))
        })
    });
    assert!(reported, "not reported: {}\n{}", status(run.http_port), log_of(&w.join("run2")));
    std::thread::sleep(Duration::from_secs(3));
    let after: Vec<(PathBuf, Vec<u8>)> =
        files_below(&src).into_iter().map(|p| (p.clone(), std::fs::read(src.join(&p)).unwrap())).collect();
    assert!(before == after, "goat changed the publisher's folder");
    assert_ne!(torrent_state(run.http_port, "model"), "seeding", "{}", status(run.http_port));
    terminate(&mut d, &w.join("run2"));
    assert!(
        before
            == files_below(&src)
                .into_iter()
                .map(|p| (p.clone(), std::fs::read(src.join(&p)).unwrap()))
                .collect::<Vec<_>>()
    );

    // published.json damaged (or the entry removed by hand): librqbit still
    // restores the torrent from its session file, and goat, no longer told
    // that this folder is a publisher's, still never writes it: it writes
    // only below its own output folder.
    std::fs::write(run.state.join("published.json"), "[").unwrap();
    let mut d = run.spawn(&w.join("run3"));
    assert!(
        wait_for(Duration::from_secs(30), || log_of(&w.join("run3")).contains("published.json is damaged")),
        "{}",
        log_of(&w.join("run3"))
    );
    std::thread::sleep(Duration::from_secs(5));
    terminate(&mut d, &w.join("run3"));
    let after: Vec<(PathBuf, Vec<u8>)> =
        files_below(&src).into_iter().map(|p| (p.clone(), std::fs::read(src.join(&p)).unwrap())).collect();
    assert!(
        before == after,
        "goat wrote into the publisher's folder once published.json was damaged: {}",
        log_of(&w.join("run3"))
    );
}

/// Between two runs of `goat seed`, the entry's folder is swapped for a
/// link to a folder of the user's holding files of the same names, and in
/// another daemon's output folder the address folder itself is a link: the
/// daemon (whose torrent librqbit restores from its session file) never
/// writes, truncates or creates a file through either.
#[test]
fn a_folder_swapped_for_a_link_is_never_written_by_goat_seed() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (p, _t) = published(w, FILES, 16384);
    let run = SeedRun::new(&p.h.url, &p.addr, w);
    let mut d = run.spawn(&w.join("run1"));
    assert!(
        wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding"),
        "{}",
        log_of(&w.join("run1"))
    );
    terminate(&mut d, &w.join("run1"));

    let victim = w.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("weights.bin"), vec![0x42; 1_000_000]).unwrap();
    std::fs::write(victim.join("config.json"), vec![0x43; 2800]).unwrap();
    let entry = run.out.join(&p.addr).join("model");
    std::fs::rename(&entry, w.join("model.real")).unwrap();
    std::os::unix::fs::symlink(&victim, &entry).unwrap();
    let mut d = run.spawn(&w.join("run2"));
    assert!(
        wait_for(Duration::from_secs(30), || log_of(&w.join("run2")).contains("symbolic link")),
        "not refused: {}",
        log_of(&w.join("run2"))
    );
    std::thread::sleep(Duration::from_secs(3));
    terminate(&mut d, &w.join("run2"));
    assert_eq!(
        std::fs::read(victim.join("weights.bin")).unwrap(),
        vec![0x42; 1_000_000],
        "{}",
        log_of(&w.join("run2"))
    );
    assert_eq!(std::fs::read(victim.join("config.json")).unwrap(), vec![0x43; 2800]);
    assert_eq!(files_below(&victim).len(), 2);

    // The address folder a link from the start.
    let w2 = w.join("second");
    let run = SeedRun::new(&p.h.url, &p.addr, &w2);
    let victim2 = w.join("victim2");
    std::fs::create_dir_all(&victim2).unwrap();
    std::fs::create_dir_all(&run.out).unwrap();
    std::os::unix::fs::symlink(&victim2, run.out.join(&p.addr)).unwrap();
    let mut d = run.spawn(&w2.join("run"));
    assert!(
        wait_for(Duration::from_secs(30), || log_of(&w2.join("run")).contains("symbolic link")),
        "not refused: {}",
        log_of(&w2.join("run"))
    );
    terminate(&mut d, &w2.join("run"));
    assert!(
        files_below(&victim2).is_empty() && std::fs::read_dir(&victim2).unwrap().count() == 0,
        "goat wrote through the link: {:?}",
        files_below(&victim2)
    );
}

/// `goat` with its open-file limit set to `n` (soft and hard) by the shell.
fn goat_with_nofile(n: u32) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_goat")]);
    c.env_remove("GOAT_ESPLORA").env_remove("GOAT_ELECTRUM").env_remove("GOAT_LOG");
    c
}

/// A 2,000-file model under `ulimit -n 256`: `goat fetch` gets it whole,
/// and `goat seed` fetches it and serves it to python3-libtorrent, every
/// piece checked. (librqbit's own storage holds every file open: it
/// failed at file 137 under `ulimit -n 450`, as a network error.)
#[test]
fn two_thousand_files_fetch_and_seed_under_ulimit_256() {
    // The librqbit seeder in this process holds every file open: its soft
    // limit up to the hard one.
    goat::safefs::raise_open_files_limit();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let names: Vec<String> = (0..2000).map(|i| format!("shard-{:02}/part-{i:04}.bin", i / 100)).collect();
    let files: Vec<(&str, usize)> = names.iter().enumerate().map(|(i, n)| (n.as_str(), 700 + (i * 37) % 900)).collect();
    let (p, t) = published(w, &files, 16384);

    let out = w.join("fetched");
    let mut cmd = goat_with_nofile(256);
    cmd.args(["--esplora", &p.h.url, "fetch", &p.addr, "-o"]).arg(&out).args(["--no-dht", "--loopback"]);
    let r = cmd.output().unwrap();
    assert!(r.status.success(), "goat fetch under ulimit -n 256: {}", String::from_utf8_lossy(&r.stderr));
    for (n, _) in &files {
        assert_eq!(std::fs::read(out.join("model").join(n)).unwrap(), std::fs::read(p.src.join(n)).unwrap(), "{n}");
    }
    drop(r);

    let run = SeedRun::new(&p.h.url, &p.addr, w);
    let logdir = w.join("seed");
    std::fs::create_dir_all(&logdir).unwrap();
    let mut cmd = goat_with_nofile(256);
    cmd.args(["--esplora", &p.h.url, "seed", &p.addr, "-o"])
        .arg(&run.out)
        .arg("--state-dir")
        .arg(&run.state)
        .args(["--no-dht", "--loopback", "--poll", "1s", "--run-for", "280"])
        .args(["--listen-port", &run.peer_port.to_string(), "--http", &format!("127.0.0.1:{}", run.http_port)])
        .stdout(std::fs::File::create(logdir.join("goat.stdout")).unwrap())
        .stderr(std::fs::File::create(logdir.join("goat.stderr")).unwrap());
    let mut d = Daemon::spawn("goat seed", &mut cmd);
    assert!(
        wait_for(Duration::from_secs(120), || torrent_state(run.http_port, "model") == "seeding"),
        "not seeding: {}\n{}",
        status(run.http_port),
        log_of(&logdir)
    );
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    let lt_log = w.join("lt.log");
    let _lt = leech_from(&tfile, &w.join("lt"), run.peer_port, &lt_log);
    let text = || std::fs::read_to_string(&lt_log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(120), || text().contains("DONE") || text().contains("TIMEOUT")),
        "{}\n{}",
        text(),
        log_of(&logdir)
    );
    assert!(text().contains("DONE failed=0") && !text().contains("HASHFAIL"), "{}\n{}", text(), log_of(&logdir));
    for (n, _) in files.iter().step_by(97) {
        assert_eq!(std::fs::read(w.join("lt/model").join(n)).unwrap(), std::fs::read(p.src.join(n)).unwrap(), "{n}");
    }
    terminate(&mut d, &logdir);
}

/// Someone who can write the output folder plants records there (a
/// goatfile naming a torrent nobody published, its manifest and its
/// `.torrent`): the restarted daemon does not add that torrent from them,
/// since goat never proved it; it follows the chain.
#[test]
fn records_planted_in_the_output_folder_are_not_seeded() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (p, t) = published(w, FILES, 16384);
    let run = SeedRun::new(&p.h.url, &p.addr, w);
    let mut d = run.spawn(&w.join("run1"));
    assert!(
        wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding"),
        "{}",
        log_of(&w.join("run1"))
    );
    terminate(&mut d, &w.join("run1"));

    let evil_src = w.join("evil-src").join("evil");
    make_payload(&evil_src, &[("payload.bin", 50_000)]);
    let evil = make_torrent(&evil_src, 16384, vec![]);
    let meta = run.out.join(&p.addr).join(".goat");
    std::fs::write(
        meta.join("goatfile.yaml"),
        format!(
            "goat: 1\nentries:\n  - name: model\n    magnet: \"magnet:?xt=urn:btih:{}\"\n  - name: evil\n    magnet: \"magnet:?xt=urn:btih:{}\"\n",
            t.info_hash, evil.info_hash
        ),
    )
    .unwrap();
    let manifest = serde_json::json!({
        "entry": "evil", "info_hash": evil.info_hash, "inscription": null,
        "files": [{"path": "payload.bin", "length": 50_000, "offset": 0, "padding": false, "sha256": null}],
    });
    std::fs::write(meta.join("evil.json"), manifest.to_string()).unwrap();
    std::fs::write(meta.join("evil.torrent"), &evil.bytes).unwrap();
    let mut d = run.spawn(&w.join("run2"));
    assert!(
        wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "model") == "seeding"),
        "{}",
        log_of(&w.join("run2"))
    );
    std::thread::sleep(Duration::from_secs(4));
    let log = log_of(&w.join("run2"));
    assert!(!log.contains("evil: not in the session"), "the planted torrent was added: {log}");
    assert_eq!(torrent_state(run.http_port, "evil"), "", "{}", status(run.http_port));
    terminate(&mut d, &w.join("run2"));
}

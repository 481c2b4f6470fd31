//! `goat seed` never serves a bad piece, fetches it again, and survives
//! what goes wrong between runs: checked by a python3-libtorrent leecher
//! (nobody here wrote it) that hashes every piece it receives and whose
//! only source is goat.

use crate::fetch::publish_yaml;
use crate::harness::*;
use crate::interop::opentracker_on;
use crate::seed::{entry_yaml, handed_over, log_of, same_files, status, terminate, torrent_state, HandedOver, SeedRun};
use crate::seeder::*;
use goat::devchain::server::Fault;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// python3-libtorrent downloading `torrent` into `save` from goat alone
/// (`tests/support/lt_leech.py`); its output goes to `log`.
pub fn leech_from(torrent: &Path, save: &Path, goat_port: u16, log: &Path) -> Daemon {
    leech_from_enc(torrent, save, goat_port, log, "")
}

/// The same with libtorrent's encryption set (`LT_ENC`, as lt_seed.py).
pub fn leech_from_enc(torrent: &Path, save: &Path, goat_port: u16, log: &Path, enc: &str) -> Daemon {
    std::fs::create_dir_all(save).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/lt_leech.py");
    let out = std::fs::File::create(log).unwrap();
    Daemon::spawn(
        "python3-libtorrent",
        Command::new("/usr/bin/python3")
            .env("LT_ENC", enc)
            .arg(script)
            .arg(torrent)
            .arg(save)
            .args([goat_port.to_string(), "150".into()])
            .stdout(out),
    )
}

pub fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The leecher finished with every piece right, from goat alone.
pub fn leeched_from_goat_alone(lt_log: &Path, goat_port: u16, goat_log: &str) {
    let log = text(lt_log);
    assert!(
        !log.contains("HASHFAIL"),
        "goat served a bad piece: {log}
{goat_log}"
    );
    assert!(
        log.contains("DONE failed=0"),
        "{log}
{goat_log}"
    );
    let peers: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("PEER ")?.split(' ').next()).collect();
    let goat = format!("127.0.0.1:{goat_port}");
    assert!(peers.iter().all(|p| *p == goat) && !peers.is_empty(), "the leecher had other sources: {peers:?}");
}

/// The entry's status row.
pub fn row(port: u16, entry: &str) -> serde_json::Value {
    status(port)["torrents"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["entry"] == entry).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// python3-libtorrent fetches the whole model from goat alone within
/// `secs`, every piece right (the daemon's log is in `logdir`). Returns the
/// leecher, still running.
fn leech_whole_from_goat(w: &Path, m: &Model, run: &SeedRun, logdir: &Path, secs: u64) -> Daemon {
    leech_whole_from_goat_enc(w, m, run, logdir, secs, "")
}

/// The same with the leecher's encryption set (`LT_ENC`, as lt_seed.py).
pub fn leech_whole_from_goat_enc(w: &Path, m: &Model, run: &SeedRun, logdir: &Path, secs: u64, enc: &str) -> Daemon {
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &m.t.bytes).unwrap();
    let lt_log = w.join("lt.log");
    let lt = leech_from_enc(&tfile, &w.join("lt"), run.peer_port, &lt_log, enc);
    assert!(
        wait_for(Duration::from_secs(secs), || text(&lt_log).contains("DONE") || text(&lt_log).contains("TIMEOUT")),
        "the leecher did not finish: {}\n{}",
        text(&lt_log),
        log_of(logdir)
    );
    leeched_from_goat_alone(&lt_log, run.peer_port, &log_of(logdir));
    assert!(same_files(&m.src, &w.join("lt").join("model"), FILES), "the leecher's copy differs");
    lt
}

/// A model whose download goat seeds from one librqbit seeder, announced
/// through opentracker (so a restarted goat finds the seeder again).
pub struct Model {
    pub t: Made,
    pub src: std::path::PathBuf,
    pub seeder: LibrqbitSeeder,
    _tracker: crate::interop::Tracker,
    yaml: String,
}

pub const FILES: &[(&str, usize)] = &[("weights.bin", 3_000_000), ("config.json", 900)];

pub fn model(w: &Path, upload_bps: Option<u32>) -> Model {
    let tport = free_port();
    let announce = format!("http://127.0.0.1:{tport}/announce");
    let src = w.join("src").join("model");
    make_payload(&src, FILES);
    let t = make_torrent(&src, 65536, vec![announce.clone()]);
    let tracker = opentracker_on(w, tport, &[&t.info_hash]);
    let seeder = LibrqbitSeeder::start(&t, &src, upload_bps);
    let yaml = format!("goat: 1\nentries:\n{}", entry_yaml("model", &t.info_hash, &announce, seeder.port));
    Model { t, src, seeder, _tracker: tracker, yaml }
}

/// The model's goatfile on a served devchain, and a daemon to follow it
/// (not started).
pub fn published_run(w: &Path, m: &Model) -> (goat::devchain::server::Handle, SeedRun, String) {
    let (scene, addr) = publish_yaml(&m.yaml);
    let h = scene.serve();
    let run = SeedRun::new(&h.url, &addr, w);
    (h, run, addr)
}

/// The model published, fetched and seeded by a first `goat seed` run
/// (logs in `w/run1`), which then stops cleanly.
fn seeded_then_stopped(w: &Path, m: &Model) -> (goat::devchain::server::Handle, SeedRun, String) {
    let (h, run, addr) = published_run(w, m);
    let mut d = run.spawn(&w.join("run1"));
    wait_seeding(&run, &w.join("run1"), 90);
    terminate(&mut d, &w.join("run1"));
    (h, run, addr)
}

/// The entry seeds within `secs` (the daemon's log is in `logdir`).
pub fn wait_seeding(run: &SeedRun, logdir: &Path, secs: u64) {
    assert!(
        wait_for(Duration::from_secs(secs), || torrent_state(run.http_port, "model") == "seeding"),
        "not seeding: {}\n{}",
        status(run.http_port),
        log_of(logdir)
    );
}

/// A piece whose write fails in `goat seed` is never served: the leecher,
/// connected to goat from the start, gets every piece right, and goat
/// fetches that piece again and seeds.
#[test]
fn a_piece_that_fails_in_goat_seed_is_fetched_again_and_never_served() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, Some(1_500_000));
    let (_h, run, addr) = published_run(w, &m);
    let mut d = run.spawn_env(&w.join("run"), &[], &[("GOAT_TEST_FAIL_WRITE_PIECE", "2")]);
    let _lt = leech_whole_from_goat(w, &m, &run, &w.join("run"), 150);
    wait_seeding(&run, &w.join("run"), 60);
    let log = log_of(&w.join("run"));
    assert!(log.contains("piece 2 could not be written") && log.contains("fetching them again"), "{log}");
    assert!(row(run.http_port, "model")["refetched_pieces"].as_u64() >= Some(1), "{}", status(run.http_port));
    assert!(same_files(&m.src, &run.out.join(&addr).join("model"), FILES));
    terminate(&mut d, &w.join("run"));
    drop(m.seeder);
}

/// Bytes changed inside a seeded file while goat was stopped, with the
/// file's size and mtime put back, so nothing but a hash can tell: after
/// the restart the damaged piece is never served, and it is fetched again.
#[test]
fn a_byte_flipped_with_its_mtime_kept_is_never_served_after_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let (_h, run, addr) = seeded_then_stopped(w, &m);

    // 100 bytes in the middle of piece 20, the mtime put back.
    let file = run.out.join(&addr).join("model").join("weights.bin");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&file).unwrap();
        let at = 20 * 65536 + 1000;
        let mut old = [0u8; 100];
        f.read_at(&mut old, at).unwrap();
        let flipped: Vec<u8> = old.iter().map(|b| !b).collect();
        f.write_all_at(&flipped, at).unwrap();
        f.set_modified(mtime).unwrap();
    }
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);

    let mut d = run.spawn(&w.join("run2"));
    wait_seeding(&run, &w.join("run2"), 60);
    let _lt = leech_whole_from_goat(w, &m, &run, &w.join("run2"), 120);
    // goat's own copy is whole again (fetched again from the seeder), and
    // says how: hashed before its first upload, or librqbit's sample check.
    assert!(
        wait_for(Duration::from_secs(60), || same_files(&m.src, &run.out.join(&addr).join("model"), FILES)
            && torrent_state(run.http_port, "model") == "seeding"),
        "not repaired: {}\n{}",
        status(run.http_port),
        log_of(&w.join("run2"))
    );
    // Found by goat's hash before the first upload: librqbit's fastresume
    // sample cannot find it (a mismatch there is `Ok(false)`, which
    // `validate_fastresume` does not look at).
    let log = log_of(&w.join("run2"));
    assert!(log.contains("piece 20 hashed before its first upload"), "the damage was not noticed: {log}");
    goat().args(["verify"]).args([run.out.join(&addr)]).run().ok();
    terminate(&mut d, &w.join("run2"));
}

/// librqbit writes `session.json` without fsync: a half-written one (a
/// power cut) must not stop the daemon. It is moved aside and the torrents
/// come back from goat's own records, seeding without a download, even
/// with the Esplora server down and the original seeder gone.
#[test]
fn a_truncated_session_json_restarts_with_the_torrents_seeding() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, None);
    let (h, run, addr) = seeded_then_stopped(w, &m);
    drop(m.seeder);
    let session = run.state.join("session").join("session.json");
    let bytes = std::fs::read(&session).unwrap();
    assert!(bytes.len() > 20, "{}", String::from_utf8_lossy(&bytes));
    std::fs::write(&session, &bytes[..bytes.len() / 2]).unwrap();
    h.state.arm("/", Fault::Status(500), 1_000_000);

    let mut d = run.spawn(&w.join("run2"));
    wait_seeding(&run, &w.join("run2"), 60);
    let log = log_of(&w.join("run2"));
    assert!(log.contains("is damaged") && log.contains("moved aside"), "{log}");
    assert!(same_files(&m.src, &run.out.join(&addr).join("model"), FILES));
    assert!(std::fs::read_dir(run.state.join("session"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("session.json.damaged-")));
    terminate(&mut d, &w.join("run2"));
}

/// librqbit stops a torrent at a failed write and never starts it again
/// by itself: goat shows the error and when it retries, restarts it, and
/// the download completes without a restart of the daemon.
#[test]
fn an_errored_torrent_recovers_without_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = model(w, Some(2_000_000));
    let (_h, run, addr) = published_run(w, &m);
    let mut d = run.spawn_env(&w.join("run"), &[], &[("GOAT_TEST_FATAL_WRITE_PIECE", "3")]);
    let mut seen_error = serde_json::Value::Null;
    assert!(
        wait_for(Duration::from_secs(60), || {
            let r = row(run.http_port, "model");
            let hit = r["state"] == "error" && r["next_retry"].is_u64();
            if hit {
                seen_error = r;
            }
            hit
        }),
        "the error does not show: {}\n{}",
        status(run.http_port),
        log_of(&w.join("run"))
    );
    assert!(seen_error["error"].as_str().is_some_and(|e| e.contains("injected write error")), "{seen_error}");
    let human = goat().args(["status", "--http", &format!("127.0.0.1:{}", run.http_port)]).run().ok();
    assert!(human.stdout.contains("retry 1 in"), "{}", human.stdout);
    wait_seeding(&run, &w.join("run"), 90);
    assert_eq!(row(run.http_port, "model")["retries"], 1, "{}", status(run.http_port));
    assert!(log_of(&w.join("run")).contains("restarted after an error"), "{}", log_of(&w.join("run")));
    assert!(same_files(&m.src, &run.out.join(&addr).join("model"), FILES));
    terminate(&mut d, &w.join("run"));
}

/// Files `goat publish` handed over are seeded from the publisher's own
/// folder. Changed there while goat was stopped (size and mtime put back),
/// the piece that differs is never served, goat says what to do, and it
/// never writes into that folder to "repair" it.
#[test]
fn a_changed_published_file_is_refused_not_served_and_never_overwritten() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let HandedOver { h: _h, run, src, t } = handed_over(w, FILES, 65536);
    let mut d = run.spawn(&w.join("run1"));
    wait_seeding(&run, &w.join("run1"), 60);
    assert!(log_of(&w.join("run1")).contains("published here, seeding from"), "{}", log_of(&w.join("run1")));
    terminate(&mut d, &w.join("run1"));

    let file = src.join("weights.bin");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&file).unwrap();
        f.write_all_at(&[0x5a; 100], 20 * 65536 + 1000).unwrap();
        f.set_modified(mtime).unwrap();
    }
    let changed = std::fs::read(&file).unwrap();

    let mut d = run.spawn(&w.join("run2"));
    let tfile = w.join("model.torrent");
    std::fs::write(&tfile, &t.bytes).unwrap();
    let lt_log = w.join("lt.log");
    let _lt = leech_from(&tfile, &w.join("lt"), run.peer_port, &lt_log);
    assert!(
        wait_for(Duration::from_secs(60), || row(run.http_port, "model")["error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer match"))),
        "the change does not show: {}\n{}",
        status(run.http_port),
        log_of(&w.join("run2"))
    );
    // The leecher keeps asking (it reconnects every second) and gets
    // everything but piece 20, never piece 20 wrong.
    std::thread::sleep(Duration::from_secs(5));
    let lt = text(&lt_log);
    assert!(!lt.contains("HASHFAIL") && !lt.contains("DONE"), "goat served the changed piece: {lt}");
    assert!(log_of(&w.join("run2")).contains("piece 20 hashed before its first upload"), "{}", log_of(&w.join("run2")));
    assert_eq!(std::fs::read(&file).unwrap(), changed, "goat wrote into the publisher's folder");
    assert_eq!(row(run.http_port, "model")["downloaded_bytes"], 0, "{}", status(run.http_port));
    terminate(&mut d, &w.join("run2"));
}

//! `goat publish` end to end: a folder becomes a goatfile the holder
//! endorsed (reveal-input), accepted by the devchain only after Bitcoin
//! Core's interpreter passed it, judged by ord, fetched by another goat
//! from the publisher's seeding, and signed through a PSBT by a wallet
//! library nobody here wrote (embit).

use crate::harness::{fetch, free_port, goat, wait_for, Scene};
use crate::ord_diff::ord_binary;
use crate::seeder::make_payload;
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Network, NetworkKind, PrivateKey};
use goat::devchain::server;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A holder key the test knows: its WIF in a 0600 file, its BIP 86 address
/// funded on the chain.
pub struct Holder {
    pub wif: String,
    pub address: Address,
}

pub fn holder(scene: &mut Scene, seed: u8, sats: u64) -> Holder {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[seed; 32]).unwrap();
    let kp = Keypair::from_secret_key(&secp, &sk);
    let address = Address::p2tr(&secp, kp.x_only_public_key().0, None, Network::Regtest);
    if sats > 0 {
        scene.chain.fund(&address.script_pubkey(), sats);
        scene.chain.mine();
    }
    Holder { wif: PrivateKey::new(sk, NetworkKind::Test).to_wif(), address }
}

pub fn key_file(dir: &Path, name: &str, wif: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{wif}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn model(dir: &Path) -> PathBuf {
    let m = dir.join("tiny-model");
    make_payload(&m, &[("model.safetensors", 700_000), ("config.json", 300), ("tokenizer/vocab.txt", 5_000)]);
    m
}

/// `goat publish DIR --address ADDR --psbt DIR/p.psbt` (no key: the
/// message first, PSBTs once a signature is given) with `extra` flags.
fn publish_for_wallet(
    h: &server::Handle,
    m: &Path,
    addr: &str,
    d: &Path,
    extra: &[&std::ffi::OsStr],
) -> crate::harness::Out {
    goat()
        .esplora(&h.url)
        .args(["publish"])
        .args([m])
        .args(["--address", addr, "--psbt"])
        .args([d.join("p.psbt")])
        .args(["--fee-rate", "2", "--state-dir"])
        .args([d.join("state")])
        .args(extra)
        .run()
}

/// POST /tx requests the devchain saw (GET /tx/... paths are longer).
fn broadcasts(h: &server::Handle) -> usize {
    h.state.requests().iter().filter(|r| r.path == "/tx").count()
}

#[test]
fn publish_with_a_key_file_then_resolve_fetch_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x42, 200_000);
    let h = s.serve();
    let key = key_file(dir.path(), "holder.wif", &who.wif, 0o600);
    let m = model(dir.path());
    let port = free_port();
    let addr = who.address.to_string();
    let publisher = goat()
        .esplora(&h.url)
        .args(["publish"])
        .args([&m])
        .args(["--key-file"])
        .args([&key])
        .args([
            "--network",
            "regtest",
            "--name",
            "tiny",
            "--fee-rate",
            "3",
            "--yes",
            "--seed",
            "--loopback",
            "--no-dht",
        ])
        .args(["--listen-port", &port.to_string(), "--peer-hint", &format!("127.0.0.1:{port}"), "--seed-for", "90"])
        .spawn(dir.path());
    let stdout = dir.path().join("goat.stdout");
    let published = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&stdout).map(|s| s.contains("inscription ")).unwrap_or(false)
    });
    let err = std::fs::read_to_string(dir.path().join("goat.stderr")).unwrap_or_default();
    assert!(published, "goat publish did not broadcast: {err}");
    assert!(err.contains("cost: "), "the cost is shown: {err}");
    let out = std::fs::read_to_string(&stdout).unwrap();
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).unwrap().to_string();
    let reveal: bitcoin::Txid = field("reveal").parse().unwrap();
    assert_eq!(field("inscription"), format!("{reveal}i0"));
    assert_eq!(broadcasts(&h), 2, "commit and reveal, each once");

    // ord judges what goat inscribed.
    let raw = bitcoin::consensus::serialize(&h.state.chain.read().unwrap().txs[&reveal].tx);
    let tx_file = dir.path().join("reveal.bin");
    std::fs::write(&tx_file, &raw).unwrap();
    let ord = Command::new(ord_binary())
        .args(["decode", "--compact", "--file"])
        .arg(&tx_file)
        .output()
        .expect("ord (tests/run.sh builds it)");
    assert!(ord.status.success(), "ord decode: {}", String::from_utf8_lossy(&ord.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ord.stdout).unwrap();
    let ins = &v["inscriptions"][0];
    assert_eq!(ins["content_type"], "text/yaml", "{v}");

    // Unconfirmed: not yet the holder's goatfile. Mined: it is, soundly.
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "");
    h.state.chain.write().unwrap().mine();
    let r = goat().esplora(&h.url).args(["resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["endorsement"], "signed", "{v}");
    // signed with the key file: BIP 322 simple
    assert_eq!(v["signature"]["form"], "bip322-simple", "{v}");
    let yaml = goat().esplora(&h.url).args(["resolve", &addr]).run().ok().stdout;
    assert!(yaml.contains("name: tiny") && yaml.contains("tokenizer/vocab.txt"), "{yaml}");

    // Another goat fetches it from the publisher's seeding, and verifies.
    let out_dir = dir.path().join("fetched");
    fetch(&h.url, &addr, &out_dir).run().ok();
    for f in ["model.safetensors", "config.json", "tokenizer/vocab.txt"] {
        assert_eq!(
            std::fs::read(out_dir.join("tiny-model").join(f)).unwrap(),
            std::fs::read(m.join(f)).unwrap(),
            "{f}"
        );
    }
    goat().args(["verify"]).args([&out_dir]).run().ok();
    drop(publisher);
}

#[test]
fn publish_refuses_without_broadcasting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let rich = holder(&mut s, 0x43, 200_000);
    let poor = holder(&mut s, 0x44, 10_500);
    let h = s.serve();
    let m = model(dir.path());
    let run = |key: &Path, extra: &[&str], what: &Path| {
        goat()
            .esplora(&h.url)
            .args(["publish"])
            .args([what])
            .args(["--key-file"])
            .args([key])
            .args(["--yes", "--network", "regtest", "--state-dir"])
            .args([dir.path().join("state")])
            .args(extra)
            .run()
    };
    // A key file others can read.
    let open_key = key_file(dir.path(), "open.wif", &rich.wif, 0o644);
    let cheap: &[&str] = &["--fee-rate", "2"];
    run(&open_key, cheap, &m).fails(2, "chmod 600");
    let key = key_file(dir.path(), "rich.wif", &rich.wif, 0o600);
    // A fee above --max-fee.
    run(&key, &["--fee-rate", "50", "--max-fee", "1000"], &m).fails(2, "--max-fee");
    // An empty folder, and a file name a torrent cannot carry.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    run(&key, cheap, &empty).fails(2, "holds no data");
    let bad = dir.path().join("bad");
    make_payload(&bad, &[("ok.bin", 10)]);
    std::fs::write(bad.join("evil\u{1b}[2Jname"), b"x").unwrap();
    let e = run(&key, cheap, &bad).fails(2, "rename or remove it");
    assert!(!e.stderr.contains('\u{1b}'), "no raw control characters printed");
    // Too little money at the address.
    let poor_key = key_file(dir.path(), "poor.wif", &poor.wif, 0o600);
    run(&poor_key, cheap, &m).fails(2, "too little");
    // A key for the other address named.
    run(&key, &["--address", &poor.address.to_string()], &m).fails(2, "not");
    // Peers behind --proxy while the chain is asked directly, publishing
    // or finalizing PSBTs: refused before anything is asked or written.
    let requests = h.state.requests().len();
    let proxied: &[&str] = &["--seed", "--proxy", "socks5://127.0.0.1:9"];
    run(&key, proxied, &m).fails(2, "--proxy only covers BitTorrent");
    let signed = dir.path().join("signed.psbt");
    std::fs::write(&signed, b"not read").unwrap();
    goat()
        .esplora(&h.url)
        .args(["publish", "--finalize"])
        .args([&signed])
        .args(["--network", "regtest", "--proxy", "socks5://127.0.0.1:9"])
        .run()
        .fails(2, "--proxy only covers BitTorrent");
    assert_eq!(h.state.requests().len(), requests, "the chain was asked");
    // No terminal and no --yes: nothing is asked, nothing is sent.
    goat()
        .esplora(&h.url)
        .args(["publish"])
        .args([&m])
        .args(["--key-file"])
        .args([&key])
        .args(["--fee-rate", "2", "--network", "regtest"])
        .run()
        .fails(2, "--yes");
    assert_eq!(broadcasts(&h), 0, "nothing was broadcast");
    // (the history walks that find the next sequence ask for /address/…/txs)
    assert!(!h.state.requests().iter().any(|r| r.path.trim_end_matches('/') == "/tx"), "no POST /tx at all");
}

/// The devchain's POST /tx is a node's: Bitcoin Core's interpreter decides.
#[test]
fn devchain_refuses_a_transaction_core_would_refuse() {
    use bitcoin::sighash::TapSighashType;
    use bitcoin::{Amount, OutPoint, Transaction, TxIn, TxOut};
    let mut s = Scene::new();
    let funded = s.chain.fund(&s.holder.script_pubkey(), 100_000);
    s.chain.mine();
    let prev = s.chain.txs[&funded].tx.output[0].clone();
    assert_eq!(prev.script_pubkey, s.holder.script_pubkey());
    let mut tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn { previous_output: OutPoint { txid: funded, vout: 0 }, ..Default::default() }],
        output: vec![TxOut { value: Amount::from_sat(90_000), script_pubkey: s.stranger.script_pubkey() }],
    };
    // Signed by the wrong key: a valid-looking Schnorr signature that
    // does not verify against the holder's output key.
    s.chain.sign_key_path_with(&mut tx, 0, std::slice::from_ref(&prev), &s.stranger.keypair, TapSighashType::Default);
    let wrong = bitcoin::consensus::encode::serialize_hex(&tx);
    s.chain.sign_key_path_with(&mut tx, 0, std::slice::from_ref(&prev), &s.holder.keypair, TapSighashType::Default);
    let right = bitcoin::consensus::encode::serialize_hex(&tx);
    let h = s.serve();
    let post = |hex: &str| bitreq::post(format!("{}/tx", h.url)).with_body(hex.to_string()).send().unwrap();
    let r = post(&wrong);
    assert_eq!(r.status_code, 400);
    assert!(r.as_str().unwrap().contains("mandatory-script-verify-flag-failed"), "{}", r.as_str().unwrap());
    let r = post(&right);
    assert_eq!(r.status_code, 200, "{}", r.as_str().unwrap());
    assert_eq!(r.as_str().unwrap(), tx.compute_txid().to_string());
    let r = post(&right);
    assert_eq!(r.status_code, 400, "the same transaction twice");
}

/// The Python with embit (tests/run.sh makes a venv with it).
fn python() -> PathBuf {
    std::env::var_os("GOAT_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"))
}

#[test]
fn publish_through_psbts_signed_by_embit_and_refuse_altered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x45, 300_000);
    let h = s.serve();
    let m = model(d);
    let addr = who.address.to_string();
    let psbt = d.join("p.psbt");
    let publish = |extra: &[&std::ffi::OsStr]| publish_for_wallet(&h, &m, &addr, d, extra);
    // First the holder's signature of the goatfile: the message, and its
    // BIP 322 PSBT, which embit signs like any PSBT.
    let out = publish(&[]).ok();
    assert!(out.stdout.starts_with("goat goatfile signature\n"), "{}", out.stdout);
    let field = |name: &str| out.stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap().to_string();
    let (sequence, after) = (field("sequence: "), field("after: "));
    // the clock, unless the address already has a higher sequence
    assert!(sequence.parse::<u64>().unwrap() > 1_700_000_000, "{sequence}");
    let message_psbt = PathBuf::from(field("message-psbt "));
    assert_eq!(broadcasts(&h), 0);
    let signed_m = d.join("message.signed.psbt");
    let sign = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/embit_sign.py"))
        .arg(&who.wif)
        .args([&message_psbt, &signed_m])
        .output()
        .expect("python3 with embit (tests/run.sh installs it into a venv and sets GOAT_PYTHON)");
    assert!(sign.status.success(), "embit could not sign the message: {}", String::from_utf8_lossy(&sign.stderr));
    // a signature of another sequence is refused before anything is built
    publish(&[
        "--sequence".as_ref(),
        "2".as_ref(),
        "--after".as_ref(),
        after.as_ref(),
        "--signature".as_ref(),
        signed_m.as_os_str(),
    ])
    .fails(2, "does not sign this goatfile");
    let out = publish(&[
        "--sequence".as_ref(),
        sequence.as_ref(),
        "--after".as_ref(),
        after.as_ref(),
        "--signature".as_ref(),
        signed_m.as_os_str(),
    ])
    .ok();
    assert!(out.stdout.contains("reveal-psbt "), "{}", out.stdout);
    assert_eq!(broadcasts(&h), 0, "--psbt broadcasts nothing");
    let plan = out.stdout.lines().find_map(|l| l.strip_prefix("plan ")).map(PathBuf::from).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777,
            0o600,
            "the plan holds the reveal key"
        );
    }
    let reveal_psbt = d.join("p.reveal.psbt");
    let (signed_c, signed_r) = (d.join("commit.signed.psbt"), d.join("reveal.signed.psbt"));
    let sign = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/embit_sign.py"))
        .arg(&who.wif)
        .args([&psbt, &signed_c, &reveal_psbt, &signed_r])
        .output()
        .expect("python3 with embit (tests/run.sh installs it into a venv and sets GOAT_PYTHON)");
    assert!(sign.status.success(), "embit could not sign: {}", String::from_utf8_lossy(&sign.stderr));

    let finalize =
        |a: &Path, b: &Path| goat().esplora(&h.url).args(["publish", "--yes", "--finalize"]).args([a, b]).run();
    // Altered after goat wrote it: an output, then a spent amount (the fee).
    let mut p = bitcoin::psbt::Psbt::deserialize(&std::fs::read(&signed_c).unwrap()).unwrap();
    p.unsigned_tx.output[1].value -= bitcoin::Amount::from_sat(5_000);
    let tampered = d.join("tampered.psbt");
    std::fs::write(&tampered, p.serialize()).unwrap();
    finalize(&tampered, &signed_r).fails(5, "outputs were changed");
    let mut p = bitcoin::psbt::Psbt::deserialize(&std::fs::read(&signed_r).unwrap()).unwrap();
    let u = p.inputs[1].witness_utxo.as_mut().unwrap();
    u.value += bitcoin::Amount::from_sat(50_000);
    let tampered = d.join("tampered-fee.psbt");
    std::fs::write(&tampered, p.serialize()).unwrap();
    finalize(&signed_c, &tampered).fails(5, "spent output was changed");
    // Unsigned: refused before anything is sent.
    finalize(&psbt, &signed_r).fails(2, "not signed");
    assert_eq!(broadcasts(&h), 0, "nothing broadcast for altered or unsigned PSBTs");

    let done = finalize(&signed_r, &signed_c).ok();
    assert!(done.stdout.contains("inscription "), "{}", done.stdout);
    assert_eq!(broadcasts(&h), 2);
    assert!(!plan.exists(), "the one-time reveal key is deleted after broadcast");
    h.state.chain.write().unwrap().mine();
    let r = goat().esplora(&h.url).args(["resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["endorsement"], "signed", "{v}");
    // the wallet's signature as it signed the PSBT (embit rewrites its
    // version and sequence, which only the full form carries)
    assert_eq!(v["signature"]["form"], "bip322-full", "{v}");
}

/// Without --seed, the torrents go to `goat seed`'s state: the publisher's
/// daemon (following its own address) seeds them from the folder, and
/// fetches nothing again.
#[test]
fn a_publish_without_seed_is_served_by_the_next_goat_seed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x46, 200_000);
    let h = s.serve();
    let key = key_file(d, "holder.wif", &who.wif, 0o600);
    let m = model(d);
    let addr = who.address.to_string();
    let (state, port) = (d.join("state"), free_port());
    let out = goat()
        .esplora(&h.url)
        .args(["publish"])
        .args([&m])
        .args(["--key-file"])
        .args([&key])
        .args([
            "--network",
            "regtest",
            "--fee-rate",
            "2",
            "--yes",
            "--peer-hint",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .args([&state])
        .run()
        .ok();
    assert!(out.stderr.contains("handed 1 torrent(s) to goat seed"), "{}", out.stderr);
    h.state.chain.write().unwrap().mine();
    let logs = d.join("seed-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let _daemon = goat()
        .esplora(&h.url)
        .args(["seed", &addr, "-o"])
        .args([d.join("seed-out")])
        .args(["--state-dir"])
        .args([&state])
        .args([
            "--no-dht",
            "--loopback",
            "--poll",
            "1s",
            "--run-for",
            "120",
            "--no-http",
            "--listen-port",
            &port.to_string(),
        ])
        .spawn(&logs);
    let fetched = d.join("fetched");
    let ok = wait_for(Duration::from_secs(60), || fetch(&h.url, &addr, &fetched).run().code == 0);
    let log = std::fs::read_to_string(logs.join("goat.stderr")).unwrap_or_default();
    assert!(ok, "fetch from the daemon failed; daemon log: {log}");
    assert!(log.contains("published here, seeding from"), "{log}");
    goat().args(["verify"]).args([&fetched]).run().ok();
    assert!(
        !d.join("seed-out").join(&addr).join("tiny-model").join("model.safetensors").exists(),
        "the daemon seeded the publisher's folder instead of fetching a copy"
    );
}

/// Small files wholly on chain: one inscribed whole, one split over three
/// parts; `goat fetch` joins the parts and checks the whole file's sha256.
#[test]
fn onchain_files_are_inscribed_in_parts_and_fetched_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x47, 2_000_000);
    let h = s.serve();
    let key = key_file(d, "holder.wif", &who.wif, 0o600);
    make_payload(d, &[("weights.bin", 900_000)]);
    std::fs::write(d.join("config.json"), br#"{"hidden_size": 64}"#).unwrap();
    let addr = who.address.to_string();
    h.state.mine_on_broadcast.store(true, std::sync::atomic::Ordering::Relaxed);
    let out = goat()
        .esplora(&h.url)
        .args(["publish", "--wait", "60", "--onchain"])
        .args([d.join("weights.bin")])
        .args(["--onchain"])
        .args([d.join("config.json")])
        .args(["--key-file"])
        .args([&key])
        .args([
            "--network",
            "regtest",
            "--name",
            "tiny-onchain",
            "--fee-rate",
            "1",
            "--max-fee",
            "1000000",
            "--yes",
            "--state-dir",
        ])
        .args([d.join("state")])
        .run()
        .ok();
    assert_eq!(out.stdout.matches("part ").count(), 4, "3 parts and 1 whole file before the goatfile: {}", out.stdout);
    assert_eq!(broadcasts(&h), 10);
    assert!(out.stderr.contains("the goatfile confirmed in block"), "--wait reports the block: {}", out.stderr);
    let yaml = goat().esplora(&h.url).args(["resolve", &addr]).run().ok().stdout;
    assert!(yaml.contains("parts:") && yaml.contains("inscription:"), "{yaml}");
    let fetched = d.join("fetched");
    fetch(&h.url, &addr, &fetched).run().ok();
    assert_eq!(
        std::fs::read(fetched.join("weights.bin/weights.bin")).unwrap(),
        std::fs::read(d.join("weights.bin")).unwrap()
    );
    assert_eq!(std::fs::read(fetched.join("config.json/config.json")).unwrap(), br#"{"hidden_size": 64}"#);
    goat().args(["verify"]).args([&fetched]).run().ok();
}

/// A server that names a best height far above the real one (showing a
/// real header there) would have the holder sign "after" a block the chain
/// has not reached, and its new goatfile would count for nothing: every
/// server is asked, and the lowest height wins.
#[test]
fn publish_signs_after_the_lowest_best_height_the_servers_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scene = || {
        let mut s = Scene::new();
        let who = holder(&mut s, 0x47, 300_000);
        (s, who)
    };
    let (s, who) = scene();
    let (real, tip) = (s.chain.height(), s.chain.tip().to_string());
    let liar = s.serve();
    liar.state.arm("/blocks/tip/height", server::Fault::Body("4000000000".into()), usize::MAX);
    liar.state.arm("/block-height/4000000000", server::Fault::Body(tip), usize::MAX);
    let honest = scene().0.serve();
    let m = model(d);
    let out = goat()
        .esplora(&liar.url)
        .esplora(&honest.url)
        .args(["publish"])
        .args([&m])
        .args(["--address", &who.address.to_string(), "--fee-rate", "2", "--psbt"])
        .args([d.join("p.psbt")])
        .run()
        .ok();
    assert!(out.stdout.contains(&format!("\nafter: {real}\n")), "{}", out.stdout);
}

/// `ord wallet sign --signer ADDRESS --text MESSAGE` prints
/// `{"address": …, "witness": <BIP 322 simple, base64>}`: goat takes that
/// JSON as it is (here made with the `bip322` crate, which ord's `wallet
/// sign` uses; ord's own needs a Bitcoin Core wallet, which the tests do
/// not run).
#[test]
fn an_ord_wallet_sign_output_is_taken_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Scene::new();
    let who = holder(&mut s, 0x48, 300_000);
    let h = s.serve();
    let m = model(d);
    let addr = who.address.to_string();
    let publish = |extra: &[&str]| {
        let extra: Vec<&std::ffi::OsStr> = extra.iter().map(|e| e.as_ref()).collect();
        publish_for_wallet(&h, &m, &addr, d, &extra)
    };
    let out = publish(&[]).ok();
    let message: String = out.stdout.lines().take(6).collect::<Vec<_>>().join("\n");
    let field = |name: &str| out.stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap().to_string();
    let witness = bip322::sign_simple_encoded(&addr, &message, &[who.wif.as_str()], None).unwrap();
    let json = serde_json::json!({ "address": addr, "witness": witness.trim_start_matches("smp") }).to_string();
    let out = publish(&["--sequence", &field("sequence: "), "--after", &field("after: "), "--signature", &json]).ok();
    assert!(out.stdout.contains("reveal-psbt "), "{}", out.stdout);
    // the same JSON for another sequence is refused
    publish(&["--sequence", "7", "--after", &field("after: "), "--signature", &json])
        .fails(2, "does not sign this goatfile");
}

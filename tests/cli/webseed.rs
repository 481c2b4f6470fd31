//! Web seeds (BEP 19) and metadata without peers, against nginx from
//! Debian: the payload served with Range requests, a redirecting front, a
//! slow one (nginx's `limit_rate`), one serving other bytes and one with
//! nothing (404).

use crate::harness::*;
use crate::seeder::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Three files whose 64 KiB pieces straddle file boundaries, one in a
/// subfolder (BEP 19 maps URL, then name, then path).
const FILES: &[(&str, usize)] =
    &[("model-00001.safetensors", 300_001), ("config.json", 1_234), ("tokenizer/vocab bin#1", 200_000)];

/// nginx on loopback ports: `good` serves `root`; `redirect` answers 302
/// to `good`; `slow` serves `root` at `limit_rate`; `liar` serves `lies`
/// (same names and sizes, other bytes). Stopped when dropped, and by
/// `timeout` after the servers' lifetime whatever happens.
pub struct Nginx {
    _dir: tempfile::TempDir,
    daemon: Daemon,
    pub good: u16,
    pub redirect: u16,
    pub slow: u16,
    pub liar: u16,
}

impl Nginx {
    pub fn start(root: &Path, lies: &Path, slow_rate: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in ["logs", "tmp"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        let [good, redirect, slow, liar] = [free_port(), free_port(), free_port(), free_port()];
        // As root, nginx's workers would become `nobody`, who cannot read
        // a test's private temporary folders.
        let user = if Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
            "user root;"
        } else {
            ""
        };
        let tmp = p.join("tmp");
        let conf = format!(
            "{user}
worker_processes 1;
pid {pid};
error_log {log} warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/fcgi;
  uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;
  sendfile on;
  server {{ listen 127.0.0.1:{good}; root {root}; }}
  server {{ listen 127.0.0.1:{redirect}; return 302 http://127.0.0.1:{good}$request_uri; }}
  server {{ listen 127.0.0.1:{slow}; root {root}; limit_rate {slow_rate}; }}
  server {{ listen 127.0.0.1:{liar}; root {lies}; }}
}}
",
            pid = p.join("nginx.pid").display(),
            log = p.join("logs/error.log").display(),
            t = tmp.display(),
            root = root.display(),
            lies = lies.display(),
        );
        std::fs::write(p.join("nginx.conf"), conf).unwrap();
        // Through coreutils' timeout, which passes the TERM of `Drop` on
        // to nginx (whose master then stops its worker).
        let daemon = Daemon::spawn(
            "nginx (Debian's nginx-light)",
            Command::new("timeout")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .arg(SERVER_LIFETIME.as_secs().to_string())
                .arg("nginx")
                .args(["-p"])
                .arg(p)
                .args(["-c"])
                .arg(p.join("nginx.conf"))
                .args(["-g", "daemon off;"]),
        );
        let up = wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", liar)).is_ok());
        assert!(up, "nginx did not start: {}", std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default());
        Nginx { _dir: dir, daemon, good, redirect, slow, liar }
    }

    pub fn url(&self, port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{port}/{path}")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if self.daemon.interrupt_with("TERM", Duration::from_secs(10)).is_none() {
            eprintln!("nginx did not stop on TERM: killed");
        }
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The payload `tiny-model` under `srv/files/`, a copy with other bytes
/// under `lies/files/`, its `.torrent` at `srv/meta/tiny.torrent`.
struct Site {
    _tmp: tempfile::TempDir,
    srv: PathBuf,
    lies: PathBuf,
    payload: PathBuf,
    torrent: Made,
}

fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let payload = srv.join("files/tiny-model");
    make_payload(&payload, FILES);
    let torrent = make_torrent(&payload, 65536, vec![]);
    std::fs::create_dir_all(srv.join("meta")).unwrap();
    std::fs::write(srv.join("meta/tiny.torrent"), &torrent.bytes).unwrap();
    let lies = tmp.path().join("lies");
    for (f, size) in FILES {
        let p = lies.join("files/tiny-model").join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut b = std::fs::read(payload.join(f)).unwrap();
        for x in b.iter_mut().step_by(4099) {
            *x ^= 0x5a;
        }
        assert_eq!(b.len(), *size);
        std::fs::write(p, b).unwrap();
    }
    Site { _tmp: tmp, srv, lies, payload, torrent }
}

fn same_files(a: &Path, b: &Path) {
    for (f, size) in FILES {
        let x = std::fs::read(a.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(x.len(), *size, "{f}");
        assert!(x == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

/// A goatfile whose entry `tiny-model` is `magnet` (plus `extra` YAML),
/// published at an address on a devchain served as Esplora.
fn publish(magnet: &str, extra: &str) -> (goat::devchain::server::Handle, String) {
    publish_with(magnet, |_| extra.to_string())
}

/// As `publish`, with `before` run on the scene first (to inscribe what
/// the goatfile names): it returns the YAML appended to the entry.
fn publish_with(magnet: &str, before: impl FnOnce(&mut Scene) -> String) -> (goat::devchain::server::Handle, String) {
    let mut s = Scene::new();
    let extra = before(&mut s);
    let yaml = format!("goat: 1\nname: tiny\nentries:\n  - name: tiny-model\n    magnet: \"{magnet}\"\n{extra}");
    publish_in(s, &yaml)
}

/// `yaml` inscribed by the scene's holder, mined and served.
fn publish_in(mut s: Scene, yaml: &str) -> (goat::devchain::server::Handle, String) {
    let h = s.holder.clone();
    s.inscribe_to_holder(&h, "text/yaml", yaml.as_bytes());
    s.chain.mine();
    let addr = s.address();
    (s.serve(), addr)
}

fn web_seed_bytes(out: &Out) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    v["entries"][0]["web_seed_bytes"].as_u64().unwrap()
}

#[test]
fn with_no_peer_the_metadata_comes_from_a_url_and_the_files_from_a_redirecting_web_seed() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=tiny-model&xs={}&ws={}",
        site.torrent.info_hash,
        enc(&ng.url(ng.good, "meta/tiny.torrent")),
        enc(&ng.url(ng.redirect, "files/"))
    );
    let (esplora, addr) = publish(&magnet, "");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json", "--metadata-timeout", "5"]).run().ok();
    same_files(&dir.join("tiny-model"), &site.payload);
    assert_eq!(web_seed_bytes(&o), FILES.iter().map(|(_, s)| *s as u64).sum::<u64>(), "every byte came over HTTP");
    assert!(!o.stderr.contains("warning"), "{}", o.stderr);
    goat().args(["verify"]).args([&dir]).run().ok();
}

/// The warnings goat printed that name `needle`.
fn warnings_naming(o: &Out, needle: &str) -> usize {
    warnings_naming_text(&o.stderr, needle)
}

fn total() -> u64 {
    FILES.iter().map(|(_, s)| *s as u64).sum()
}

#[test]
fn a_web_seed_serving_other_bytes_is_dropped_with_one_warning_and_the_honest_one_finishes() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let liar = ng.url(ng.liar, "files/");
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=tiny-model&ws={}&ws={}",
        site.torrent.info_hash,
        enc(&liar),
        enc(&ng.url(ng.slow, "files/"))
    );
    // The metadata is inscribed on chain this time, named by its id.
    let (esplora, addr) = publish_with(&magnet, |s| {
        let h = s.holder.clone();
        let id = s.inscribe_to_holder(&h, "application/x-bittorrent", &site.torrent.bytes).id(0);
        s.chain.mine();
        format!("    metadata: {id}\n")
    });
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json", "--metadata-timeout", "5"]).run().ok();
    same_files(&dir.join("tiny-model"), &site.payload);
    assert_eq!(warnings_naming(&o, &liar), 1, "one warning names the lying seed: {}", o.stderr);
    assert!(o.stderr.contains("SHA-1"), "{}", o.stderr);
    assert_eq!(web_seed_bytes(&o), total(), "every byte came over HTTP, none of them the liar's");
}

#[test]
fn a_404_web_seed_is_dropped_and_a_peer_finishes() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let seeder = LibrqbitSeeder::start(&site.torrent, &site.payload, None);
    let gone = ng.url(ng.good, "nothing-here/");
    let magnet = format!("{}&ws={}", site.torrent.magnet_with_peer(seeder.port), enc(&gone));
    let (esplora, addr) = publish(&magnet, "");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json"]).run().ok();
    same_files(&dir.join("tiny-model"), &site.payload);
    assert!(warnings_naming(&o, &gone) <= 1, "at most one warning names it: {}", o.stderr);
    assert_eq!(web_seed_bytes(&o), 0);
}

#[test]
fn metadata_that_is_not_the_magnets_is_refused_naming_its_source() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    // another torrent's metadata at the URL the goatfile names
    let other = tempfile::tempdir().unwrap();
    make_payload(&other.path().join("x"), &[("x.bin", 1000)]);
    let wrong = make_torrent(&other.path().join("x"), 16384, vec![]);
    std::fs::write(site.srv.join("meta/other.torrent"), &wrong.bytes).unwrap();
    let url = ng.url(ng.good, "meta/other.torrent");
    let magnet =
        format!("magnet:?xt=urn:btih:{}&dn=tiny-model&ws={}", site.torrent.info_hash, enc(&ng.url(ng.good, "files/")));
    let (esplora, addr) = publish(&magnet, &format!("    metadata: {url}\n"));
    let out = tempfile::tempdir().unwrap();
    let o = fetch(&esplora.url, &addr, &out.path().join("got")).args(["--metadata-timeout", "2"]).run();
    let o = o.fails(4, "no peer to ask for the torrent's metadata");
    assert_eq!(warnings_naming(&o, &url), 1, "{}", o.stderr);
    assert!(o.stderr.contains("not the magnet's"), "{}", o.stderr);
    // With a peer, the fetch goes on without it.
    let seeder = LibrqbitSeeder::start(&site.torrent, &site.payload, None);
    let magnet = format!("{}&ws={}", site.torrent.magnet_with_peer(seeder.port), enc(&ng.url(ng.good, "files/")));
    let (esplora, addr) = publish(&magnet, &format!("    metadata: {url}\n"));
    let dir = out.path().join("again");
    let o = fetch(&esplora.url, &addr, &dir).run().ok();
    assert_eq!(warnings_naming(&o, &url), 1, "{}", o.stderr);
    same_files(&dir.join("tiny-model"), &site.payload);
}

#[test]
fn a_rate_limited_peer_and_a_web_seed_share_the_download() {
    // Larger than the 8 MiB of requests librqbit keeps outstanding with
    // one peer, so what is left is there for the other source to take.
    let tmp = tempfile::tempdir().unwrap();
    let payload = tmp.path().join("files/big-model");
    let size = 24 << 20;
    make_payload(&payload, &[("weights.bin", size)]);
    let t = make_torrent(&payload, 256 << 10, vec![]);
    let ng = Nginx::start(&tmp.path().join("files"), tmp.path(), "1m");
    let seeder = LibrqbitSeeder::start(&t, &payload, Some(3 << 20));
    let magnet = format!("{}&ws={}", t.magnet_with_peer(seeder.port), enc(&ng.url(ng.slow, "")));
    let (esplora, addr) = publish_in(
        Scene::new(),
        &format!("goat: 1\nname: big\nentries:\n  - name: big-model\n    magnet: \"{magnet}\"\n"),
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json"]).run().ok();
    assert!(
        std::fs::read(dir.join("big-model/weights.bin")).unwrap()
            == std::fs::read(payload.join("weights.bin")).unwrap()
    );
    let web = web_seed_bytes(&o);
    assert!(web > 0 && web < size as u64, "both sources served: {web} of {size} bytes from the web seed");
    assert!(seeder.uploaded() > 0, "the peer served too");
}

#[test]
fn a_slow_web_seed_does_not_hold_up_a_fast_peer() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "32k");
    let seeder = LibrqbitSeeder::start(&site.torrent, &site.payload, None);
    let magnet = format!("{}&ws={}", site.torrent.magnet_with_peer(seeder.port), enc(&ng.url(ng.slow, "files/")));
    let (esplora, addr) = publish(&magnet, "");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json"]).run().ok();
    same_files(&dir.join("tiny-model"), &site.payload);
    assert!(web_seed_bytes(&o) < total() / 2, "the peer served most: {}", o.stdout);
}

/// The whole "forever" path: the publisher inscribes the goatfile with its
/// torrent's metadata beside it and names a web seed, then nobody seeds.
/// `goat fetch` learns the torrent from the chain and the files from HTTP
/// alone, then seeds them to the next peer (a libtorrent leecher that
/// knows no web seed and no other peer).
#[test]
fn published_with_onchain_metadata_and_a_web_seed_the_model_comes_back_with_no_peer_online() {
    use bitcoin::key::Keypair;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let m = srv.join("tiny-model");
    make_payload(&m, FILES);
    let ng = Nginx::start(&srv, &srv, "64k");
    let mut s = Scene::new();
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x35; 32]).unwrap();
    let address = bitcoin::Address::p2tr(
        &secp,
        Keypair::from_secret_key(&secp, &sk).x_only_public_key().0,
        None,
        bitcoin::Network::Regtest,
    );
    s.chain.fund(&address.script_pubkey(), 300_000);
    s.chain.mine();
    let stranger = s.stranger.clone();
    let h = s.serve();
    let key = dir.path().join("holder.wif");
    std::fs::write(&key, format!("{}\n", bitcoin::PrivateKey::new(sk, bitcoin::NetworkKind::Test).to_wif())).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = goat()
        .esplora(&h.url)
        .args(["publish"])
        .args([&m])
        .args(["--key-file"])
        .args([&key])
        .args(["--network", "regtest", "--name", "tiny", "--fee-rate", "3", "--yes", "--onchain-metadata"])
        .args(["--web-seed", &ng.url(ng.good, ""), "--state-dir"])
        .args([dir.path().join("state")])
        .run()
        .ok();
    assert!(o.stderr.contains("torrent metadata on chain: "), "the cost of the metadata is shown: {}", o.stderr);
    let reveal: bitcoin::Txid = o.stdout.lines().find_map(|l| l.strip_prefix("reveal ")).unwrap().parse().unwrap();
    h.state.chain.write().unwrap().mine();

    // ord sees the goatfile and, beside it, the .torrent.
    let raw = bitcoin::consensus::serialize(&h.state.chain.read().unwrap().txs[&reveal].tx);
    let tx_file = dir.path().join("reveal.bin");
    std::fs::write(&tx_file, &raw).unwrap();
    let ord = Command::new(crate::ord_diff::ord_binary())
        .args(["decode", "--compact", "--file"])
        .arg(&tx_file)
        .output()
        .expect("ord (tests/run.sh builds it)");
    assert!(ord.status.success(), "ord decode: {}", String::from_utf8_lossy(&ord.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ord.stdout).unwrap();
    assert_eq!(v["inscriptions"][0]["content_type"], "text/yaml", "{v}");
    assert_eq!(v["inscriptions"][1]["content_type"], "application/x-bittorrent", "{v}");
    let yaml = goat().esplora(&h.url).args(["resolve", &address.to_string()]).run().ok().stdout;
    assert!(yaml.contains("metadata:") && yaml.contains("i1"), "{yaml}");

    // A stranger inscribes a copy of the signed goatfile to the address,
    // later, with its own i1: the oldest copy still counts, so the
    // torrent is still read from the holder's reveal.
    {
        use goat::devchain::{Envelope, Inscribe};
        let mut chain = h.state.chain.write().unwrap();
        let original = goat::inscription::Inscription::from_transaction(&chain.txs[&reveal].tx).remove(0);
        let copy = Envelope::file_with_metadata(
            "text/yaml",
            original.content_encoding.as_deref().map(|e| std::str::from_utf8(e).unwrap()),
            original.metadata.as_deref().unwrap(),
            original.body.as_deref().unwrap(),
        );
        let junk = Envelope::file("application/x-bittorrent", None, b"d4:infod4:name4:junkee");
        chain.inscribe(Inscribe {
            funder: &stranger,
            inputs: vec![vec![copy, junk]],
            to: address.script_pubkey(),
            reveal_input_from: None,
        });
        chain.mine();
    }
    let r = goat().esplora(&h.url).args(["resolve", &address.to_string()]).run().ok();
    assert!(r.stderr.contains(&format!("{reveal}i0")), "the holder's own inscription is the goatfile: {}", r.stderr);

    // No seeder anywhere: the chain and the web seed are all there is.
    let out = dir.path().join("fetched");
    let port = free_port();
    let fetcher = goat()
        .esplora(&h.url)
        .args(["fetch", &address.to_string(), "-o"])
        .args([&out])
        .args([
            "--no-dht",
            "--loopback",
            "--metadata-timeout",
            "5",
            "--seed",
            "--seed-for",
            "60",
            "--listen-port",
            &port.to_string(),
        ])
        .spawn(dir.path());
    let stderr = dir.path().join("goat.stderr");
    let done = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&stderr).is_ok_and(|e| e.contains("seeding on port"))
    });
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(done, "goat fetch did not finish from the web seed: {err}");
    assert!(err.contains("from web seeds"), "{err}");
    same_files(&out.join("tiny-model"), &m);

    // The next peer gets the files from the fetcher.
    let torrent = out.join(".goat/tiny-model.torrent");
    let leech = dir.path().join("leech");
    let lt = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/lt_leech.py"))
        .arg(&torrent)
        .arg(&leech)
        .args([port.to_string(), "60".into()])
        .output()
        .expect("python3-libtorrent (tests/run.sh installs it)");
    let said = String::from_utf8_lossy(&lt.stdout);
    assert!(
        lt.status.success() && said.contains("DONE failed=0"),
        "libtorrent: {said} {}",
        String::from_utf8_lossy(&lt.stderr)
    );
    same_files(&leech.join("tiny-model"), &m);
    drop(fetcher);
}

/// `goat seed` follows an address whose only sources are a metadata URL
/// and a web seed: the entry is fetched from HTTP, proven, and seeded.
#[test]
fn goat_seed_fetches_an_entry_from_its_web_seed_with_no_peer_online() {
    use crate::seed::{terminate, torrent_state, SeedRun};
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let magnet =
        format!("magnet:?xt=urn:btih:{}&dn=tiny-model&ws={}", site.torrent.info_hash, enc(&ng.url(ng.good, "files/")));
    let (esplora, addr) = publish(&magnet, &format!("    metadata: [\"{}\"]\n", ng.url(ng.good, "meta/tiny.torrent")));
    let w = tempfile::tempdir().unwrap();
    let run = SeedRun::new(&esplora.url, &addr, w.path());
    let mut d = run.spawn(w.path());
    let seeding = wait_for(Duration::from_secs(60), || torrent_state(run.http_port, "tiny-model") == "seeding");
    assert!(seeding, "not seeding: {}", crate::seed::log_of(w.path()));
    let st = crate::seed::status(run.http_port);
    let t = st["torrents"].as_array().unwrap().iter().find(|t| t["entry"] == "tiny-model").unwrap().clone();
    assert_eq!(t["web_seed_bytes"].as_u64(), Some(FILES.iter().map(|(_, s)| *s as u64).sum()), "{st}");
    same_files(&run.out.join(&addr).join("tiny-model"), &site.payload);
    terminate(&mut d, w.path());
}

/// A `.torrent` read from a URL may name web seeds (`url-list`) that the
/// info-hash does not cover: whoever answers for the URL chose them, so
/// goat never asks them.
#[test]
fn web_seeds_named_only_by_a_metadata_url_are_never_contacted() {
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let t = librqbit::torrent_from_bytes(&site.torrent.bytes).unwrap();
    let planted = ng.url(ng.liar, "files/");
    let listed =
        goat::torrent::known::assemble(t.info.raw_bytes.as_ref(), &[], std::slice::from_ref(&planted)).unwrap();
    std::fs::write(site.srv.join("meta/listed.torrent"), &listed).unwrap();
    let seeder = LibrqbitSeeder::start(&site.torrent, &site.payload, Some(2 << 20));
    let (esplora, addr) = publish(
        &site.torrent.magnet_with_peer(seeder.port),
        &format!("    metadata: {}\n", ng.url(ng.good, "meta/listed.torrent")),
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json"]).run().ok();
    same_files(&dir.join("tiny-model"), &site.payload);
    assert_eq!(web_seed_bytes(&o), 0, "{}", o.stderr);
    assert_eq!(warnings_naming(&o, &ng.liar.to_string()), 0, "{}", o.stderr);
    let kept = std::fs::read(dir.join(".goat/tiny-model.torrent")).unwrap();
    assert!(goat::torrent::known::url_list(&kept).is_empty(), "the .torrent goat keeps names no planted seed");
}

/// With `--proxy`, the metadata URL and the web seed are asked through
/// the SOCKS5 proxy: from a network namespace whose only way out is the
/// proxy (microsocks, Debian's), the fetch completes, and the proxy saw
/// the connections to nginx.
#[test]
fn web_seeds_and_metadata_urls_go_through_the_proxy() {
    use crate::privacy::Namespace;
    let site = site();
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    let ns = Namespace::new();
    let log = site.srv.parent().unwrap().join("microsocks.log");
    let (_proxy, proxy) = crate::privacy::microsocks(&ns, &log);
    let gf = site.srv.parent().unwrap().join("goatfile.yaml");
    let magnet =
        format!("magnet:?xt=urn:btih:{}&dn=tiny-model&ws={}", site.torrent.info_hash, enc(&ng.url(ng.good, "files/")));
    write_goatfile(&gf, &magnet, &ng.url(ng.good, "meta/tiny.torrent"));
    let out = site.srv.parent().unwrap().join("got");
    let fetched = ns
        .exec()
        .args([env!("CARGO_BIN_EXE_goat"), "fetch", "--goatfile"])
        .arg(&gf)
        .args(["-o"])
        .arg(&out)
        .args(["--proxy", &format!("socks5://{proxy}"), "--metadata-timeout", "5"])
        .output()
        .unwrap();
    assert!(fetched.status.success(), "fetch through the proxy failed: {}", String::from_utf8_lossy(&fetched.stderr));
    same_files(&out.join("tiny-model"), &site.payload);
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        seen.contains(&format!("connected to 127.0.0.1:{}", ng.good)),
        "nginx was reached through the proxy: {seen}"
    );
}

/// A hybrid v1+v2 torrent as libtorrent 2.0 (and qBittorrent) makes it,
/// with BEP 47 padding files between its files, fetched from a web seed
/// alone: padding is never asked of the server (it is zeros), and every
/// piece still proves.
#[test]
fn a_hybrid_torrent_with_padding_files_comes_from_a_web_seed_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let payload = srv.join("files/padded");
    let files: &[(&str, usize)] = &[("weights.bin", 100_003), ("config.json", 77), ("z/tail.bin", 40_000)];
    make_payload(&payload, files);
    std::fs::create_dir_all(srv.join("meta")).unwrap();
    let script = r#"
import sys, libtorrent as lt
src, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, src)
ct = lt.create_torrent(fs, 16384)
lt.set_piece_hashes(ct, src.rsplit("/", 1)[0])
ti = lt.torrent_info(lt.bencode(ct.generate()))
assert ti.info_hashes().has_v2() and any(ti.files().file_flags(i) & 1 for i in range(ti.num_files())), "no padding"
open(out, "wb").write(lt.bencode(ct.generate()))
print(ti.info_hashes().v1)
"#;
    let made = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&payload)
        .arg(srv.join("meta/padded.torrent"))
        .output()
        .expect("python3-libtorrent (tests/run.sh installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let v1 = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let ng = Nginx::start(&srv, &srv, "64k");
    let magnet = format!("magnet:?xt=urn:btih:{v1}&dn=padded&ws={}", enc(&ng.url(ng.good, "files/")));
    let yaml = format!(
        "goat: 1\nname: padded\nentries:\n  - name: padded\n    magnet: \"{magnet}\"\n    metadata: {}\n",
        ng.url(ng.good, "meta/padded.torrent")
    );
    let (esplora, addr) = publish_in(Scene::new(), &yaml);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    let o = fetch(&esplora.url, &addr, &dir).args(["--json", "--metadata-timeout", "5"]).run().ok();
    for (f, _) in files {
        assert!(std::fs::read(dir.join("padded").join(f)).unwrap() == std::fs::read(payload.join(f)).unwrap(), "{f}");
    }
    assert!(web_seed_bytes(&o) > 0);
    goat().args(["verify"]).args([&dir]).run().ok();
}

/// A web seed that answers at once and then drips a byte a second (a
/// per-read timeout never fires) is named and let go once a piece takes
/// longer than its deadline (30 s, plus the piece at 32 KiB/s), instead of
/// holding its pieces for ever.
#[test]
fn a_web_seed_that_drips_is_let_go_after_the_piece_deadline() {
    let site = site();
    let port = free_port();
    let drip = r#"
import os, sys, time, threading, http.server, re, urllib.parse
root, port = sys.argv[1], int(sys.argv[2])
threading.Timer(120, os._exit, [0]).start()  # a lifetime, whatever the test does
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        size = os.path.getsize(os.path.join(root, urllib.parse.unquote(self.path.lstrip("/"))))
        m = re.match(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        a, b = (int(m.group(1)), int(m.group(2))) if m else (0, size - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
        self.send_header("Content-Length", str(b - a + 1))
        self.end_headers()
        try:
            for _ in range(b - a + 1):
                self.wfile.write(b"x"); self.wfile.flush(); time.sleep(1)
        except OSError:
            pass
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;
    let _server = Daemon::spawn(
        "python3",
        Command::new("/usr/bin/python3")
            .args(["-c", drip])
            .arg(&site.srv)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    assert!(
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "the drip server did not start"
    );
    let dripper = format!("http://127.0.0.1:{port}/files/");
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=tiny-model&ws={}", site.torrent.info_hash, enc(&dripper));
    let w = tempfile::tempdir().unwrap();
    // A local goatfile; the torrent from nginx; the files from the drip.
    let gf = w.path().join("goatfile.yaml");
    let ng = Nginx::start(&site.srv, &site.lies, "64k");
    write_goatfile(&gf, &magnet, &ng.url(ng.good, "meta/tiny.torrent"));
    let mut d = goat()
        .args(["fetch", "--goatfile"])
        .args([&gf])
        .args(["-o"])
        .args([w.path().join("got")])
        .args(["--no-dht", "--loopback"])
        .spawn(w.path());
    let stderr = w.path().join("goat.stderr");
    let named = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&stderr).is_ok_and(|e| e.contains("slower than 32 KiB/s"))
    });
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = d.interrupt(Duration::from_secs(10));
    assert!(named, "the dripping seed was not let go: {err}");
    assert_eq!(warnings_naming_text(&err, &dripper), 1, "{err}");
}

fn warnings_naming_text(stderr: &str, needle: &str) -> usize {
    stderr.lines().filter(|l| l.contains("warning") && l.contains(needle)).count()
}

/// A local goatfile naming the tiny model by `magnet`, its `.torrent` at
/// `metadata` (a URL).
fn write_goatfile(gf: &Path, magnet: &str, metadata: &str) {
    let yaml = format!(
        "goat: 1\nname: tiny\nentries:\n  - name: tiny-model\n    magnet: \"{magnet}\"\n    metadata: {metadata}\n"
    );
    std::fs::write(gf, yaml).unwrap();
}

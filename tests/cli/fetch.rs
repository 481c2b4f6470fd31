//! `goat fetch` and `goat verify` against real BitTorrent peers on loopback.

use crate::harness::*;
use crate::seeder::*;
use std::path::Path;

/// Three files whose pieces (64 KiB) straddle file boundaries.
const FILES: &[(&str, usize)] = &[("model-00001.safetensors", 300_001), ("config.json", 1_234), ("tokenizer/vocab.bin", 200_000)];

pub fn publish_yaml(yaml: &str) -> (Scene, String) {
    let mut s = Scene::new();
    let h = s.holder.clone();
    s.inscribe_to_holder(&h, "text/yaml", yaml.as_bytes());
    s.chain.mine();
    let a = s.address();
    (s, a)
}

fn same_tree(a: &Path, b: &Path, files: &[(&str, usize)]) {
    for (f, size) in files {
        let x = std::fs::read(a.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(x.len(), *size, "{f}");
        assert_eq!(x, std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

#[test]
fn fetch_from_librqbit_seeder_then_verify_detects_damage() {
    let src = tempfile::tempdir().unwrap();
    let payload = src.path().join("tiny-model");
    make_payload(&payload, FILES);
    let t = make_torrent(&payload, 65536, vec![]);
    let seeder = LibrqbitSeeder::start(&t, &payload, None);
    let yaml = format!(
        "goat: 1\nname: tiny\nentries:\n  - name: tiny-model\n    magnet: \"{}\"\n",
        t.magnet_with_peer(seeder.port)
    );
    let (s, addr) = publish_yaml(&yaml);
    let h = s.serve();
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().join("got");
    let out = goat()
        .esplora(&h.url)
        .args(["fetch", &addr, "-o", dir.to_str().unwrap(), "--no-dht", "--loopback", "--json"])
        .run()
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["entries"][0]["files"], 3);
    same_tree(&payload, &dir.join("tiny-model"), FILES);
    assert!(dir.join(".goat/goatfile.yaml").exists());
    assert!(dir.join(".goat/tiny-model.torrent").exists());

    let ok = goat().args(["verify", dir.to_str().unwrap()]).run().ok();
    assert_eq!(ok.stdout.lines().filter(|l| l.starts_with("ok ")).count(), 3, "{}", ok.stdout);

    // a flipped byte in the middle file: its piece spans into the first
    // file too, and SHA-1 cannot say which of the two is damaged
    let cfg = dir.join("tiny-model/config.json");
    let mut b = std::fs::read(&cfg).unwrap();
    b[600] ^= 0xff;
    std::fs::write(&cfg, &b).unwrap();
    let bad = goat().args(["verify", dir.to_str().unwrap()]).run().fails(7, "2 file(s) failed verification");
    assert!(bad.stdout.contains("corrupt   tiny-model/config.json"), "{}", bad.stdout);
    assert_eq!(bad.stdout.lines().filter(|l| l.starts_with("ok ")).count(), 1, "{}", bad.stdout);
    b[600] ^= 0xff;
    std::fs::write(&cfg, &b).unwrap();

    // truncated, then missing
    let vocab = dir.join("tiny-model/tokenizer/vocab.bin");
    let full = std::fs::read(&vocab).unwrap();
    std::fs::write(&vocab, &full[..1000]).unwrap();
    let bad = goat().args(["verify", dir.to_str().unwrap()]).run().fails(7, "failed verification");
    assert!(bad.stdout.contains("truncated tiny-model/tokenizer/vocab.bin"), "{}", bad.stdout);
    std::fs::remove_file(&vocab).unwrap();
    let bad = goat().args(["verify", "--json", dir.to_str().unwrap()]).run().fails(7, "failed verification");
    let r: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    let states: Vec<&str> = r["files"].as_array().unwrap().iter().map(|f| f["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "missing").count(), 1, "{states:?}");

    // fetch again repairs it, downloading only what is missing
    let out = goat()
        .esplora(&h.url)
        .args(["fetch", &addr, "-o", dir.to_str().unwrap(), "--no-dht", "--loopback", "--json"])
        .run()
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let fetched = v["entries"][0]["fetched_bytes"].as_u64().unwrap();
    assert!(fetched < 300_000, "re-fetched {fetched} bytes for a 200 kB file");
    same_tree(&payload, &dir.join("tiny-model"), FILES);
    goat().args(["verify", dir.to_str().unwrap()]).run().ok();
    drop(seeder);
}

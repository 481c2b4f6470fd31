//! `cat`, `get` and `ls` on every kind of inscription.

use crate::harness::*;
use goat::devchain::{Envelope, Inscribe, Push};
use goat::inscription::tag;
use std::io::Write;

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(data).unwrap();
    }
    out
}

#[test]
fn html_brotli_gzip_binary_multi_envelope_and_delegate() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    let to = holder.script_pubkey();
    let html = s.inscribe_to_holder(&holder, "text/html;charset=utf-8", b"<html><body>goat</body></html>");

    // a 40 KB text compressed with brotli: many 520-byte chunks once decoded
    let big: Vec<u8> = (0..4000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    let br = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::file("text/plain", Some("br"), &brotli(&big))]],
        to: to.clone(),
        reveal_input_from: None,
    });

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"gzipped body").unwrap();
    let gzip = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::file("text/plain", Some("gzip"), &gz.finish().unwrap())]],
        to: to.clone(),
        reveal_input_from: None,
    });

    let binary: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    let bin = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::file("application/octet-stream", None, &binary)]],
        to: to.clone(),
        reveal_input_from: None,
    });

    // two envelopes in input 0, one in input 1, one written with pushnum data
    let multi = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![
            vec![Envelope::file("text/plain", None, b"first"), Envelope::file("text/plain", None, b"second")],
            vec![Envelope(vec![
                Push::Num(tag::CONTENT_TYPE),
                Push::Data(b"text/plain".to_vec()),
                Push::Data(vec![]),
                Push::Data(b"third".to_vec()),
            ])],
        ],
        to: to.clone(),
        reveal_input_from: None,
    });

    // an encoding goat does not decode
    let zstd = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::file("text/plain", Some("zstd"), b"(zstd frame)")]],
        to: to.clone(),
        reveal_input_from: None,
    });

    let delegating = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::delegate(&br.id(0))]],
        to: to.clone(),
        reveal_input_from: None,
    });
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let cat = |id: String| {
        goat().esplora(&h.url).args(["--network".to_string(), "regtest".into(), "cat".into(), id]).run().ok()
    };

    assert_eq!(cat(html.id(0).to_string()).stdout, "<html><body>goat</body></html>");
    // a bare txid means i0
    assert_eq!(cat(html.reveal.to_string()).stdout, "<html><body>goat</body></html>");
    assert_eq!(cat(br.id(0).to_string()).stdout_bytes, big);
    assert_eq!(cat(gzip.id(0).to_string()).stdout, "gzipped body");
    assert_eq!(cat(bin.id(0).to_string()).stdout_bytes, binary);
    assert_eq!(cat(multi.id(0).to_string()).stdout, "first");
    assert_eq!(cat(multi.id(1).to_string()).stdout, "second");
    assert_eq!(cat(multi.id(2).to_string()).stdout, "third");
    assert_eq!(cat(delegating.id(0).to_string()).stdout_bytes, big);
    let raw = goat().esplora(&h.url).args(["--network", "regtest", "cat", "--raw", &br.id(0).to_string()]).run().ok();
    assert_eq!(raw.stdout_bytes, brotli(&big));
    // The advice to write it raw comes from the commands that can; a
    // command without --raw names the problem alone.
    let undecodable = goat().esplora(&h.url).args(["--network", "regtest", "cat", &zstd.id(0).to_string()]).run();
    undecodable.fails(5, "content encoding 'zstd' is not supported (goat decodes br, gzip and deflate): use --raw");
    let dir = tempfile::tempdir().unwrap();
    let fetched = goat()
        .esplora(&h.url)
        .args(["--network", "regtest", "fetch", "--goatfile", &zstd.id(0).to_string(), "-o"])
        .args([dir.path().join("out")])
        .run()
        .fails(5, "content encoding 'zstd' is not supported");
    assert!(!fetched.stderr.contains("--raw"), "{}", fetched.stderr);
    goat()
        .esplora(&h.url)
        .args(["--network", "regtest", "cat", &format!("{}i3", multi.reveal)])
        .run()
        .fails(3, "holds 3 inscription(s)");
    goat().esplora(&h.url).args(["cat", "nonsense"]).run().fails(2, "neither a txid nor an inscription id");
    goat().esplora(&h.url).args(["cat", &"ab".repeat(32)]).run().fails(3, "not found");

    // get writes the decoded file, atomically, and will not clobber
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.txt");
    goat()
        .esplora(&h.url)
        .args(["--network", "regtest", "get", &br.id(0).to_string(), path.to_str().unwrap()])
        .run()
        .ok();
    assert_eq!(std::fs::read(&path).unwrap(), big);
    goat()
        .esplora(&h.url)
        .args(["--network", "regtest", "get", &html.id(0).to_string(), path.to_str().unwrap()])
        .run()
        .fails(2, "--force");
    goat()
        .esplora(&h.url)
        .args(["--network", "regtest", "get", "--force", &html.id(0).to_string(), path.to_str().unwrap()])
        .run()
        .ok();
    assert_eq!(std::fs::read(&path).unwrap(), b"<html><body>goat</body></html>");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary files left behind");

    // ls shows every one, newest first, with types, encodings and sizes
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let items = v["inscriptions"].as_array().unwrap();
    let ids: Vec<String> = items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 9, "{ids:?}");
    assert_eq!(find_encoding(items, &zstd.id(0).to_string()), "zstd");
    let find = |id: String| items.iter().find(|i| i["id"] == id.as_str()).unwrap().clone();
    assert_eq!(find(br.id(0).to_string())["content_encoding"], "br");
    assert_eq!(find(html.id(0).to_string())["content_type"], "text/html;charset=utf-8");
    assert_eq!(find(delegating.id(0).to_string())["delegate"], br.id(0).to_string());
    assert_eq!(find(multi.id(2).to_string())["curses"][0], "pushnum");
    assert_eq!(find(bin.id(0).to_string())["size"], 3000);
    // none is a signed goatfile, so none counts; ls still shows what the
    // old rules say: the holder's own inscription by reveal-input, the
    // others inscribed the ord-wallet way (only funded-commit: weak)
    assert_eq!(find(html.id(0).to_string())["endorsement"], "reveal-input");
    assert!(items.iter().all(|i| i["endorsed"] == false));
    assert!(items.iter().all(|i| i["endorsement"] == "reveal-input" || i["endorsement"] == "funded-commit"));
    assert!(items.iter().all(|i| i["block_height"] == 102));
    let table = goat().esplora(&h.url).args(["ls", &addr]).run().ok();
    assert!(table.stdout.starts_with("INSCRIPTION"));
    assert_eq!(table.stdout.lines().count(), 10, "a header and nine rows");
}

#[test]
fn brotli_goatfile_resolves() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    let to = holder.script_pubkey();
    // signed over the decoded bytes
    let signature = holder.sign_goatfile(goatfile("squeezed").as_bytes(), 1, s.chain.height());
    let ins = s.chain.inscribe(Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::file_with_metadata(
            "application/yaml",
            Some("br"),
            &signature,
            &brotli(goatfile("squeezed").as_bytes()),
        )]],
        to,
        reveal_input_from: Some(&holder),
    });
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert_eq!(out.stdout, goatfile("squeezed"));
    assert!(out.stderr.contains(&ins.id(0).to_string()));
}

#[test]
fn invalid_yaml_goatfile_is_reported_not_chosen() {
    let mut s = Scene::new();
    s.publish("good");
    s.chain.mine();
    let holder = s.holder.clone();
    s.inscribe_to_holder(&holder, "text/yaml", b"goat: 7\nentries: []\n");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: good"));
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["inscriptions"][0]["goatfile"], "invalid");
    assert!(v["inscriptions"][0]["goatfile_error"].as_str().unwrap().contains("version 7"));
}

/// The `content_encoding` `goat ls --json` shows for inscription `id`.
fn find_encoding(items: &[serde_json::Value], id: &str) -> String {
    items.iter().find(|i| i["id"] == id).and_then(|i| i["content_encoding"].as_str()).unwrap_or_default().to_string()
}

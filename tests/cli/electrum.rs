//! `--electrum`: the devchain over the Electrum protocol, with the same
//! checks as Esplora (raw bytes against txids, merkle branches against
//! headers with proof of work, failover past a lying server).

use crate::fetch::seed_and_publish;
use crate::harness::*;
use goat::devchain::server::Fault;

#[test]
fn resolve_and_fetch_through_electrum_alone() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("tiny-model");
    let (seeder, s, addr) = seed_and_publish(&payload, &[("model.bin", 300_000), ("config.json", 100)], "");
    let h = s.serve();
    let out = goat().args(["--electrum", &h.electrum, "-v", "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: tiny"), "{}", out.stdout);
    assert!(out.stderr.contains("block proven by tcp://"), "{}", out.stderr);
    assert!(h.state.requests().iter().all(|r| r.path.starts_with("electrum:")), "no Esplora request was made");
    assert!(h.state.requests().iter().any(|r| r.path == "electrum:blockchain.transaction.get_merkle"));
    let got = dir.path().join("got");
    goat()
        .args(["--electrum", &h.electrum, "fetch", &addr, "-o"])
        .args([&got])
        .args(["--no-dht", "--loopback"])
        .run()
        .ok();
    goat().args(["verify"]).args([&got]).run().ok();
    drop(seeder);
}

#[test]
fn a_lying_electrum_server_is_caught_and_the_next_one_used() {
    // The devchain is deterministic: both servers hold the same chain.
    let (a, addr) = published();
    let (b, _) = published();
    let liar = a.serve();
    let honest = b.serve();
    // A merkle branch that leads elsewhere.
    liar.state.arm("get_merkle", Fault::WrongMerkleProof, 100);
    let out = goat().args(["--electrum", &liar.electrum, "--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"));
    assert!(out.stderr.contains(&format!("block proven by {}", honest.electrum)), "{}", out.stderr);
    // Bytes that do not hash to the txid asked for.
    let (c, _) = published();
    let liar = c.serve();
    liar.state.arm("transaction.get", Fault::WrongTxBytes, 100);
    goat().args(["--electrum", &liar.electrum, "resolve", &addr]).run().fails(5, "do not hash to");
    let out = goat().args(["--electrum", &liar.electrum, "--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"));
    // A dead server is failed over, and mixing with Esplora works; but
    // silence is not agreement: with two servers configured, the one
    // left cannot confirm its own proof.
    let dead = format!("tcp://127.0.0.1:{}", free_port());
    let out = goat()
        .args(["--electrum", &dead, "--esplora", &honest.url, "--timeout", "3", "resolve", &addr])
        .run()
        .fails(4, "no other server confirmed");
    assert!(out.stderr.contains(&dead) && out.stderr.contains("--trust-server"), "{}", out.stderr);
    let out = goat()
        .args([
            "--electrum",
            &dead,
            "--esplora",
            &honest.url,
            "--electrum",
            &honest.electrum,
            "--timeout",
            "3",
            "resolve",
            &addr,
        ])
        .run()
        .ok();
    assert!(out.stdout.contains("name: model"));
    goat().args(["--electrum", "http://x:1", "resolve", &addr]).run().fails(2, "tcp://HOST:PORT");
}

/// An Electrum and an Esplora server are compared on the history like any
/// two servers: one that hides the newest goatfile is caught.
#[test]
fn electrum_and_esplora_servers_are_cross_checked() {
    let (a, addr) = published();
    let mut b = {
        let (mut s, _) = published();
        s.publish("newer");
        s.chain.mine();
        s
    };
    b.chain.mine();
    let (full, hiding) = (b.serve(), a.serve());
    let out = goat().args(["--electrum", &full.electrum, "--esplora", &full.url, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"));
    assert!(
        full.state.requests().iter().any(|r| r.path.starts_with("electrum:blockchain.scripthash.get_history"))
            && full.state.requests().iter().any(|r| r.path.starts_with("/address/")),
        "both servers were asked about the history"
    );
    goat()
        .args(["--electrum", &full.electrum, "--electrum", &hiding.electrum, "resolve", &addr])
        .run()
        .fails(5, "disagree");
}

/// A hostile Electrum server's error text reaches the terminal made safe:
/// no raw control characters.
#[test]
fn a_hostile_electrum_error_is_printed_safely() {
    use std::io::{BufRead, BufReader, Write};
    let (_s, addr) = published();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4).flatten() {
            let mut w = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                // It greets like a server, then answers every question with
                // an error whose text carries terminal escapes.
                let answer = if v["method"] == "server.version" {
                    serde_json::json!({"jsonrpc": "2.0", "id": v["id"], "result": ["evil", "1.4"]})
                } else {
                    serde_json::json!({"jsonrpc": "2.0", "id": v["id"], "error": {"code": 1, "message": "evil\u{1b}[2J\u{7}text"}})
                };
                if writeln!(w, "{answer}").is_err() {
                    break;
                }
            }
        }
    });
    let out = goat().args(["--electrum", &url, "--retries", "1", "resolve", &addr]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("evil"), "the server's words are shown: {}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}') && !out.stderr.contains('\u{7}'),
        "raw control characters printed: {:?}",
        out.stderr
    );
}

//! Address walks, paging, and which goatfile counts.

use crate::harness::*;

#[test]
fn empty_address_lists_nothing_and_resolve_says_not_found() {
    let mut s = Scene::new();
    let nobody = s.chain.wallet().address.to_string();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["ls", &nobody]).run().ok();
    assert!(out.stderr.contains("no inscriptions in 0 transactions"), "{}", out.stderr);
    goat().esplora(&h.url).args(["resolve", &nobody]).run().fails(3, "no goatfile signed by");
}

#[test]
fn one_funding_transaction_no_goatfile() {
    let s = Scene::new();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["walk"]["transactions"], 1);
    assert_eq!(v["inscriptions"].as_array().unwrap().len(), 0);
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "in its 1 transactions");
}

#[test]
fn address_without_goatfile_but_with_other_inscriptions() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    s.inscribe_to_holder(&holder, "text/html;charset=utf-8", b"<h1>not a goatfile</h1>");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "no goatfile signed by");
}

/// 200+ transactions: the goatfile on the newest page is found after one
/// history request; on the oldest page after all of them.
#[test]
fn many_pages_goatfile_newest_and_oldest() {
    let mut s = Scene::new();
    let old = s.publish("oldest");
    s.chain.mine();
    let spk = s.holder.script_pubkey();
    for i in 0..230 {
        s.chain.fund(&spk, 20_000 + i);
        if i % 40 == 0 {
            s.chain.mine();
        }
    }
    s.chain.mine();
    let addr = s.address();
    // history: funding tx + commit + reveal + 230 = 233 confirmed txs
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: oldest"));
    assert!(out.stderr.contains(&old.id(0).to_string()), "{}", out.stderr);
    let pages = count(&h, "/address/");
    assert_eq!(pages, (233usize).div_ceil(25), "history requests for 233 txs");
    // raw fetches: the reveal, its commit, the commit's funding tx, and
    // for each block proven below the transaction its proof starts from
    let raw_txs = h.state.requests().iter().filter(|r| r.path.starts_with("/tx/") && r.path.ends_with("/raw")).count();
    // and, per block proven, its coinbase and its branch (the block's
    // depth, which every proof in it must match)
    let coinbases = count(&h, "/txid/0");
    assert!(coinbases <= 9, "coinbases: {coinbases}");
    assert!(raw_txs - coinbases <= 4 + 8, "raw fetches: {raw_txs}");
    // Every transaction walked before the goatfile has its witness proven
    // (a blanked one could hide a newer goatfile): one proof and one raw
    // block per block, not per transaction. The 230 sit in 7 blocks; one
    // holds a single one, whose scripts are checked instead (cheaper than
    // its block); the goatfile's block makes 7.
    let blocks =
        h.state.requests().iter().filter(|r| r.path.starts_with("/block/") && r.path.ends_with("/raw")).count();
    assert_eq!(blocks, 7, "raw blocks");
    // one proof per block, and one for the coin the endorsement rests on
    let proofs = count(&h, "/merkle-proof") - coinbases;
    assert!(proofs <= 9, "merkle proofs: {proofs}");

    // same address, plus a new goatfile: found on page 1, no further paging
    drop(h);
    let mut s2 = Scene::new();
    let spk = s2.holder.script_pubkey();
    for i in 0..60 {
        s2.chain.fund(&spk, 30_000 + i);
    }
    s2.chain.mine();
    let newest = s2.publish("newest");
    s2.chain.mine();
    let addr = s2.address();
    let h = s2.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newest"));
    assert!(out.stderr.contains(&newest.id(0).to_string()));
    assert_eq!(count(&h, "/address/"), 1, "stops paging once the answer is known");

    // ls walks everything and reports the walk
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["walk"]["transactions"], 63);
    assert_eq!(v["walk"]["pages"], 3);
}

#[test]
fn airdropped_goatfile_is_not_the_holders_word() {
    let mut s = Scene::new();
    let real = s.publish("real");
    s.chain.mine();
    let stranger = s.stranger.clone();
    let spoof = s.inscribe_to_holder(&stranger, "text/yaml", goatfile("spoof").as_bytes());
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: real"), "{}", out.stdout);
    assert!(out.stderr.contains(&real.id(0).to_string()));
    assert!(out.stderr.contains("signed by the holder's address, sequence 1"), "{}", out.stderr);

    let out = goat().esplora(&h.url).args(["resolve", "--trust-any", &addr]).run().ok();
    assert!(out.stdout.contains("name: spoof"));
    assert!(out.stderr.contains("NOT endorsed"), "{}", out.stderr);

    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let items = v["inscriptions"].as_array().unwrap();
    assert_eq!(items[0]["id"], spoof.id(0).to_string());
    assert_eq!(items[0]["endorsed"], false);
    assert_eq!(items[1]["id"], real.id(0).to_string());
    assert_eq!(items[1]["endorsed"], true);
    assert_eq!(items[1]["endorsement"], "signed");
    assert_eq!(items[1]["signature"]["sequence"], 1);
    assert_eq!(items[1]["goatfile"], "valid");

    // only the spoof at an address: not found, with the way out named
    let mut s = Scene::new();
    let stranger = s.stranger.clone();
    s.inscribe_to_holder(&stranger, "text/yaml", goatfile("spoof").as_bytes());
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "--trust-any");
}

/// The unsigned rules (docs/trust.md): a co-signer's envelope in a reveal
/// the holder signed (reveal-input), and an airdrop the holder's wallet
/// sent to itself (spent-output), count only with --accept-unsigned.
#[test]
fn the_unsigned_rules_count_only_when_asked() {
    let mut s = Scene::new();
    // a stranger pays for the commit, but the reveal spends the holder's coin
    let ins = s.cosigned("cosigned");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, &format!("(reveal-input, which others than the holder can arrange): if it is the holder's, read it with `goat cat {0}` and sign it with `goat publish --sign-existing {0}`", ins.id(0)));
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["inscription"], ins.id(0).to_string());
    assert_eq!(v["endorsement"], "reveal-input");

    // airdropped, then the holder sent it to itself: the holder's signature
    // over that send endorses it, unsigned
    let mut s = Scene::new();
    let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
    let drop_ = s.inscribe_to_holder(&stranger, "text/yaml", goatfile("adopted").as_bytes());
    s.chain.mine();
    s.chain.send(&holder, drop_.outpoint(), &holder.script_pubkey());
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "(spent-output, ");
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["inscription"], drop_.id(0).to_string());
    assert_eq!(v["endorsement"], "spent-output");
    assert_eq!(v["goatfile"]["entries"][0]["name"], "adopted");
    // the endorsement rests on the send, which is proven too
    assert_eq!(v["proven"]["endorsement"].as_array().unwrap().len(), 1, "{}", out.stdout);
}

/// Spending an airdropped output is not always a choice: a wallet that
/// sweeps everything to a new address, or merges coins, did not endorse.
#[test]
fn sweeping_or_consolidating_an_airdrop_does_not_endorse_it() {
    for how in ["sweep", "consolidate"] {
        let mut s = Scene::new();
        let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
        s.publish("real");
        s.chain.mine();
        let drop_ = s.inscribe_to_holder(&stranger, "text/yaml", goatfile("airdrop").as_bytes());
        s.chain.mine();
        if how == "sweep" {
            let elsewhere = s.chain.wallet();
            s.chain.send(&holder, drop_.outpoint(), &elsewhere.script_pubkey());
        } else {
            s.chain.consolidate(&holder, drop_.outpoint());
        }
        s.chain.mine();
        let addr = s.address();
        let h = s.serve();
        let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
        assert!(out.stdout.contains("name: real"), "{how}: {}", out.stdout);
        let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let airdrop = &v["inscriptions"][0];
        assert_eq!(airdrop["id"], drop_.id(0).to_string());
        assert_eq!(airdrop["endorsed"], false, "{how}: {airdrop}");
    }
}

#[test]
fn mempool_goatfile_needs_include_mempool() {
    let mut s = Scene::new();
    s.publish("confirmed");
    s.chain.mine();
    let pending = s.publish("pending");
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: confirmed"));
    let out = goat().esplora(&h.url).args(["resolve", "--include-mempool", &addr]).run().ok();
    assert!(out.stdout.contains("name: pending"));
    assert!(out.stderr.contains(&pending.id(0).to_string()));
    assert!(out.stderr.contains("mempool"));
    let out = goat().esplora(&h.url).args(["ls", &addr]).run().ok();
    let first = out.stdout.lines().nth(1).unwrap();
    assert!(first.contains("mempool") && first.contains(&pending.id(0).to_string()), "{first}");
}

#[test]
fn bad_addresses_and_networks() {
    let s = Scene::new();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["ls", "bc1qnotanaddress"]).run().fails(2, "is not a Bitcoin address");
    goat().esplora(&h.url).args(["--network", "bitcoin", "ls", &addr]).run().fails(2, "belongs to regtest");
    goat().esplora(&h.url).args(["--network", "moon", "ls", &addr]).run().fails(2, "unknown network");
    // a mainnet address against this regtest server: the server refuses it
    goat()
        .esplora(&h.url)
        .args(["ls", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"])
        .run()
        .fails(2, "pass --esplora for that network");
    // regtest has no public default server
    goat().args(["ls", &addr]).run().fails(2, "no Esplora server for this network");
}

#[test]
fn help_documents_exit_codes() {
    let out = goat().args(["--help"]).run().ok();
    for needle in ["Exit codes", "3  not found", "4  network", "5  invalid data"] {
        assert!(out.stdout.contains(needle), "{needle}");
    }
    let out = goat().args(["frobnicate"]).run();
    assert_eq!(out.code, 2);
}

/// `goat devchain` (the README's offline demo) prints its endpoint, address
/// and goatfile, stops by itself, and listens on loopback only.
#[test]
fn devchain_prints_its_endpoint_and_stays_on_loopback() {
    let out = goat().args(["devchain", "--for", "1"]).run().ok();
    assert!(out.stdout.contains("esplora http://127.0.0.1:"), "{}", out.stdout);
    assert!(out.stdout.contains("address bcrt1p"), "{}", out.stdout);
    assert!(out.stdout.contains("goatfile "), "{}", out.stdout);
    goat().args(["devchain", "--listen", "0.0.0.0:0", "--for", "1"]).run().fails(2, "only: use --listen 127.0.0.1");
    goat().args(["devchain", "--listen", "10.1.2.3:0", "--for", "1"]).run().fails(2, "198.18.0.0/15");
}

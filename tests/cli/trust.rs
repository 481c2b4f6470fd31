//! goat as an attacker would try it: forged endorsements, hostile text,
//! lying and disagreeing servers. Every chain here is genuine signed
//! transactions in real regtest blocks.

use crate::harness::*;
use goat::devchain::server::{Fault, Handle};
use goat::devchain::{Envelope, Inscribe};

/// The payee spoof: the holder once paid a merchant at a taproot address.
/// That address is really the commit of a goatfile the merchant prepared;
/// months later the merchant reveals it to the holder's address. It is
/// newer than the holder's own goatfile and looks "funded by the holder".
#[test]
fn payee_spoof_is_refused_by_default_and_accepted_only_with_the_flag() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    // the payment: on chain just a payment from the holder
    let invoice = s.chain.commit(&holder, &[vec![Envelope::file("text/yaml", None, goatfile("evil").as_bytes())]]);
    s.chain.mine();
    let real = s.publish("real");
    s.chain.mine();
    for _ in 0..3 {
        s.chain.mine();
    }
    // the merchant reveals, to the holder's address
    let spoof = s.chain.reveal(invoice, &holder.script_pubkey(), None);
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();

    let out = goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: real"), "{}", out.stdout);
    assert!(out.stderr.contains(&real.id(0).to_string()), "{}", out.stderr);

    // ls shows the spoof as weak, never as endorsed
    let out = goat().esplora(&h.url).args(["ls", &addr]).run().ok();
    let line = out.stdout.lines().find(|l| l.contains(&spoof.id(0).to_string())).expect("spoof listed");
    assert!(line.contains("weak (funded-commit)"), "{line}");
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["inscriptions"][0]["id"], spoof.id(0).to_string());
    assert_eq!(v["inscriptions"][0]["endorsed"], false);
    assert_eq!(v["inscriptions"][0]["endorsement"], "funded-commit");
    assert!(v["inscriptions"][0]["proven"].is_null());
    assert_eq!(v["inscriptions"][1]["endorsed"], true);
    assert_eq!(v["inscriptions"][1]["proven"]["txid"], real.reveal.to_string(), "{}", out.stdout);

    // fetch refuses it the same way: it fetches the real one's entry (the
    // magnet has no peers, so it stops at the metadata, after choosing)
    let dir = tempfile::tempdir().unwrap();
    let out = goat()
        .esplora(&h.url)
        .args(["fetch", &addr, "--no-dht", "--loopback", "--metadata-timeout", "1", "-o"])
        .args([dir.path()])
        .run();
    assert!(out.stderr.contains(&real.id(0).to_string()), "{}", out.stderr);
    assert!(!out.stderr.contains(&spoof.id(0).to_string()), "{}", out.stderr);

    // the flag names the risk; the holder's signed goatfile still wins
    let out = goat().esplora(&h.url).args(["resolve", "--accept-funded-commit", &addr]).run().ok();
    assert!(out.stdout.contains("name: real"), "{}", out.stdout);
    assert!(out.stderr.contains("goat: warning: --accept-funded-commit"), "{}", out.stderr);
    assert!(out.stderr.contains("fake"), "{}", out.stderr);

    // at an address with no signed goatfile, the flag lets the spoof in,
    // and says how weak that is
    let mut s = Scene::new();
    let invoice = s.chain.commit(&holder, &[vec![Envelope::file("text/yaml", None, goatfile("evil").as_bytes())]]);
    s.chain.mine();
    s.chain.reveal(invoice, &holder.script_pubkey(), None);
    s.chain.mine();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "--accept-funded-commit");
    let out = goat().esplora(&h.url).args(["resolve", "--accept-funded-commit", &addr]).run().ok();
    assert!(out.stdout.contains("name: evil"), "{}", out.stdout);
    assert!(out.stderr.contains("WEAK"), "{}", out.stderr);
}

/// A goatfile made the usual `ord wallet inscribe` way, unsigned, has only
/// the weak endorsement: refused, with the way out named; sending it to
/// yourself gives it the unsigned spent-output rule, which counts only with
/// --accept-unsigned.
#[test]
fn an_ord_wallet_goatfile_needs_a_send_to_self() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    let ins = s.publish_ord_way("ord-way");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "--accept-funded-commit");

    let mut s = Scene::new();
    let ins2 = s.publish_ord_way("ord-way");
    assert_eq!(ins.reveal, ins2.reveal, "the devchain is deterministic");
    s.chain.mine();
    s.chain.send(&holder, ins2.outpoint(), &holder.script_pubkey());
    s.chain.mine();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, &format!("--sign-existing {}", ins2.id(0)));
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["endorsement"], "spent-output");
    assert!(out.stderr.contains("goat: warning: --accept-unsigned"), "{}", out.stderr);
}

/// An ordinals marketplace listing is an input signed
/// SIGHASH_SINGLE|ANYONECANPAY: anyone may add inputs to it, including an
/// envelope. Such an input does not endorse; one signed over all inputs
/// does, under the unsigned rules (--accept-unsigned).
#[test]
fn a_holder_input_signed_anyonecanpay_does_not_endorse() {
    use bitcoin::sighash::TapSighashType;
    let mut s = Scene::new();
    let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
    let commit = s.chain.commit(&stranger, &[vec![Envelope::file("text/yaml", None, goatfile("listed").as_bytes())]]);
    let ins =
        s.chain.reveal_signed(commit, &holder.script_pubkey(), Some((&holder, TapSighashType::SinglePlusAnyoneCanPay)));
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["inscriptions"][0]["id"], ins.id(0).to_string());
    assert_eq!(v["inscriptions"][0]["endorsed"], false, "{}", out.stdout);
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, "sent to it by others");

    let mut s = Scene::new();
    let commit = s.chain.commit(&stranger, &[vec![Envelope::file("text/yaml", None, goatfile("signed").as_bytes())]]);
    s.chain.reveal_signed(commit, &holder.script_pubkey(), Some((&holder, TapSighashType::All)));
    s.chain.mine();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["endorsement"], "reveal-input");
}

/// Anyone can inscribe any content type to any address: multi-byte
/// characters across the column limit and terminal escapes must neither
/// crash `goat ls` nor reach the terminal.
#[test]
fn hostile_content_types_do_not_crash_or_inject() {
    let mut s = Scene::new();
    let stranger = s.stranger.clone();
    let across = format!("{}é/yaml", "a".repeat(24));
    s.inscribe_to_holder(&stranger, &across, b"x");
    s.inscribe_to_holder(&stranger, "text/plain\x1b]0;pwned\x07\x1b[2J", b"y");
    s.inscribe_to_holder(&stranger, "\u{202e}lmay/txet", b"z");
    let enc = s.chain.inscribe(Inscribe {
        funder: &stranger,
        inputs: vec![vec![Envelope::file("text/plain", Some("b\x1b[31mr\u{00e9}\u{00e9}\u{00e9}\u{00e9}"), b"w")]],
        to: s.holder.script_pubkey(),
        reveal_input_from: None,
    });
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["ls", &addr]).run().ok();
    assert!(!out.stdout_bytes.contains(&0x1b) && !out.stdout_bytes.contains(&0x07), "{:?}", out.stdout);
    assert!(!out.stdout.contains('\u{202e}'), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{}…", "a".repeat(24))) || out.stdout.contains(&format!("{}é…", "a".repeat(24))),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&enc.id(0).to_string()));
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let out = goat().esplora(&h.url).args(["ls", "--json", &addr]).run().ok();
    assert!(!out.stdout_bytes.contains(&0x1b));
    // cat of the hostile one still prints its content (content is the
    // user's to redirect), but the note on stderr is clean
    let out = goat().esplora(&h.url).args(["cat", &enc.id(0).to_string()]).run();
    assert!(!out.stderr.as_bytes().contains(&0x1b), "{}", out.stderr);
}

/// Two servers over identical chains (the devchain is deterministic).
fn twins(build: impl Fn() -> Scene) -> (Handle, Handle, String) {
    let a = build();
    let addr = a.address();
    (a.serve(), build().serve(), addr)
}

fn published() -> Scene {
    let mut s = Scene::new();
    s.publish("proven");
    s.chain.mine();
    s.chain.mine();
    s
}

#[test]
fn resolve_json_says_what_was_proven() {
    let (a, b, addr) = twins(published);
    let out = goat().esplora(&a.url).esplora(&b.url).args(["resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let p = &v["proven"];
    assert_eq!(p["goatfile"]["server"], a.url, "{}", out.stdout);
    assert_eq!(p["goatfile"]["agreed"][0], b.url);
    assert_eq!(p["goatfile"]["height"], v["location"]["height"]);
    // a signature rests on no other transaction
    assert_eq!(p["endorsement"].as_array().unwrap().len(), 0);
    assert_eq!(v["endorsement"], "signed");
    assert_eq!(v["signature"]["sequence"], 1);
    assert_eq!(v["signature"]["form"], "bip322-simple");
    assert_eq!(p["history"]["views"].as_array().unwrap().len(), 2);
    assert_eq!(p["history"]["views"][1]["server"], b.url);
    assert!(p["unproven"].as_array().unwrap().is_empty());
    assert!(out.stderr.contains("same block at 1 more server"), "{}", out.stderr);
    // the cost of the agreement checks: the pages the walk read (one
    // here), per other server
    assert_eq!(count(&b, "/address/"), 1, "second server: only the agreement check");
}

/// Each way a server can lie about a confirmation, alone: exit 5, the
/// server named, nothing printed on stdout.
#[test]
fn a_lying_proof_is_caught() {
    for (path, fault, needle) in [
        ("/merkle-proof", Fault::WrongMerkleProof, "does not lead to block"),
        ("/header", Fault::WrongHeader, "does not hash to"),
        ("/block-height/", Fault::ForgedBlock { weak: true }, "proof-of-work limit"),
    ] {
        let s = published();
        let addr = s.address();
        let h = s.serve();
        h.state.arm(path, fault.clone(), 1000);
        let out = goat().esplora(&h.url).args(["resolve", &addr]).run().fails(5, needle);
        assert!(out.stderr.contains(&h.url), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
}

/// A lying server followed by an honest one: the liar is named on one
/// warning line, the honest one proves the goatfile, and the liar's word
/// does not count against it.
#[test]
fn a_liar_then_an_honest_server() {
    for fault in [Fault::ForgedBlock { weak: true }, Fault::WrongMerkleProof] {
        let (liar, honest, addr) = twins(published);
        liar.state.arm("/block-height/", fault.clone(), 1000);
        liar.state.arm("/merkle-proof", fault.clone(), 1000);
        let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", "--json", &addr]).run().ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["proven"]["goatfile"]["server"], honest.url, "{}", out.stdout);
        let warnings: Vec<&str> =
            out.stderr.lines().filter(|l| l.starts_with("goat: warning:") && l.contains(&liar.url)).collect();
        assert_eq!(warnings.len(), 1, "{}", out.stderr);
    }
}

/// A liar that proves nothing itself but names another block at that
/// height: the servers disagree, goat refuses to choose, and follows the
/// one the user names.
#[test]
fn servers_that_disagree_on_a_block() {
    let (honest, liar, addr) = twins(published);
    liar.state.arm("/block-height/", Fault::ForgedBlock { weak: false }, 1000);
    // the liar names a block of its own, mined at regtest difficulty: on
    // regtest its header is as good as the real one, so only the
    // disagreement shows
    let out =
        goat().esplora(&honest.url).esplora(&liar.url).args(["resolve", &addr]).run().fails(5, "servers disagree on");
    assert!(out.stderr.contains(&liar.url) && out.stderr.contains("--trust-server"), "{}", out.stderr);
    // a liar that names a block without work is dropped as a liar instead
    let (honest, weak, addr) = twins(published);
    weak.state.arm("/block-height/", Fault::ForgedBlock { weak: true }, 1000);
    let out = goat().esplora(&honest.url).esplora(&weak.url).args(["resolve", &addr]).run().ok();
    assert!(out.stderr.contains("proof-of-work limit") && out.stderr.contains(&weak.url), "{}", out.stderr);
    let out = goat()
        .esplora(&honest.url)
        .esplora(&liar.url)
        .args(["--trust-server", &honest.url, "resolve", &addr])
        .run()
        .ok();
    assert!(out.stdout.contains("name: proven"));
    assert!(out.stderr.contains("following --trust-server"), "{}", out.stderr);
    goat()
        .esplora(&honest.url)
        .args(["--trust-server", "http://127.0.0.1:1", "resolve", &addr])
        .run()
        .fails(2, "not one of the Esplora servers");
}

/// A server that hides the newest goatfile (it never saw the last block):
/// with two servers, goat notices and refuses to choose.
#[test]
fn a_server_hiding_the_newest_goatfile() {
    let full = || {
        let mut s = published();
        s.publish("newest");
        s.chain.mine();
        s
    };
    let h_full = full().serve();
    let hiding = published();
    let addr = hiding.address();
    let h_hiding = hiding.serve();
    // alone, the hiding server gets away with it (one server's word)
    let out = goat().esplora(&h_hiding.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: proven"));
    // with an honest server beside it, in either order: refused (on the
    // history, or on the newest goatfile's block, which the hiding server
    // does not have)
    for (a, b) in [(&h_hiding, &h_full), (&h_full, &h_hiding)] {
        let out = goat().esplora(&a.url).esplora(&b.url).args(["resolve", &addr]).run().fails(5, "servers disagree");
        assert!(out.stderr.contains(&h_hiding.url) && out.stderr.contains(&h_full.url), "{}", out.stderr);
    }
    let out = goat()
        .esplora(&h_hiding.url)
        .esplora(&h_full.url)
        .args(["--trust-server", &h_full.url, "resolve", &addr])
        .run()
        .ok();
    assert!(out.stdout.contains("name: newest"), "{}", out.stdout);
}

/// Silence is not agreement: with two servers configured and one silent,
/// the other's proof has no confirmation and goat refuses (a liar could
/// otherwise prove a forged block while the honest server is down or rate
/// limited). A third server that answers confirms it; the user can also
/// rely on one server by name.
#[test]
fn a_silent_server_is_not_agreement() {
    let s = published();
    let addr = s.address();
    let h = s.serve();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = goat()
        .esplora(&h.url)
        .esplora(&dead)
        .args(["--retries", "1", "--timeout", "2", "resolve", &addr])
        .run()
        .fails(4, "no other server confirmed");
    assert!(out.stderr.contains(&dead) && out.stderr.contains(&format!("--trust-server {}", h.url)), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    // rate limited rather than down: the same
    let (a, b, addr) = twins(published);
    b.state.arm("/block-height/", Fault::RateLimit { retry_after_secs: 3600 }, 1000);
    goat().esplora(&a.url).esplora(&b.url).args(["resolve", &addr]).run().fails(4, "no other server confirmed");
    // a third server that answers confirms the block
    let third = published().serve();
    let out = goat()
        .esplora(&h.url)
        .esplora(&dead)
        .esplora(&third.url)
        .args(["--retries", "1", "--timeout", "2", "resolve", &addr])
        .run()
        .ok();
    assert!(out.stdout.contains("name: proven"));
    assert!(out.stderr.lines().any(|l| l.starts_with("goat: warning:") && l.contains(&dead)), "{}", out.stderr);
    // or the user names the server to rely on
    let out = goat()
        .esplora(&h.url)
        .esplora(&dead)
        .args(["--retries", "1", "--timeout", "2", "--trust-server", &h.url, "resolve", &addr])
        .run()
        .ok();
    assert!(out.stdout.contains("name: proven"));
}

/// A server that says the goatfile's reveal is not confirmed is a
/// disagreement, named with the server that proved it, not a liar to
/// drop: refused either way it is ordered, and it is never dropped.
#[test]
fn a_404_for_the_reveal_is_a_disagreement_not_a_lie() {
    let (a, b, addr) = twins(published);
    b.state.arm("/merkle-proof", Fault::Status(404), 1000);
    b.state.arm("/block-height/", Fault::Status(404), 1000);
    for (first, second) in [(&b, &a), (&a, &b)] {
        let out = goat()
            .esplora(&first.url)
            .esplora(&second.url)
            .args(["resolve", &addr])
            .run()
            .fails(5, "servers disagree on");
        assert!(out.stderr.contains(&a.url) && out.stderr.contains(&b.url), "{}", out.stderr);
        assert!(!out.stderr.contains("not asking it again"), "{}", out.stderr);
    }
}

/// v1 published, then v2 newer, and a stranger's payment in v2's block:
/// deterministic, so two calls make the same chain.
fn v2_and_a_strangers_payment() -> (Scene, bitcoin::Txid, bitcoin::Txid) {
    let mut s = published();
    let v2 = s.publish("newest");
    let paid = s.chain.fund(&s.stranger.script_pubkey(), 12_345);
    s.chain.mine();
    s.chain.mine();
    (s, v2.reveal, paid)
}

/// A walk server that swaps which transactions it lists while keeping
/// their number (a stranger's payment where the newest goatfile's reveal
/// is, at the same height): alone it gets away with it (one server's
/// word); beside an honest server, in either order, over Esplora and
/// Electrum, goat refuses and names both; the honest pair resolves v2.
#[test]
fn a_walk_page_with_a_swapped_transaction_is_caught() {
    let (s, v2, paid) = v2_and_a_strangers_payment();
    let addr = s.address();
    let liar = s.serve();
    let honest = v2_and_a_strangers_payment().0.serve();
    let swap = Fault::SwapListed { hide: v2, show: paid };
    liar.state.arm("/address/", swap.clone(), usize::MAX);
    liar.state.arm("get_history", swap, usize::MAX);
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: proven"), "alone, the liar's word: {}", out.stdout);
    let pairs = [
        (vec!["--esplora", &liar.url, "--esplora", &honest.url], &liar.url, &honest.url),
        (vec!["--esplora", &honest.url, "--esplora", &liar.url], &liar.url, &honest.url),
        (vec!["--electrum", &liar.electrum, "--electrum", &honest.electrum], &liar.electrum, &honest.electrum),
        (vec!["--electrum", &honest.electrum, "--esplora", &liar.url], &liar.url, &honest.electrum),
    ];
    for (servers, l, h) in pairs {
        let out = goat().args(servers.iter().copied().chain(["resolve", &addr])).run().fails(5, "disagree about");
        assert!(out.stderr.contains(l.as_str()) && out.stderr.contains(h.as_str()), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let twin = v2_and_a_strangers_payment().0.serve();
    let out = goat().esplora(&honest.url).esplora(&twin.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newest"), "{}", out.stdout);
    let out = goat().args(["--electrum", &honest.electrum, "--esplora", &twin.url, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newest"), "{}", out.stdout);
}

/// A consistent liar that moves the goatfile's real block to another
/// height (its merkle proof names height+1, and it names the real block
/// there): the header and the branch check out, but the block's coinbase
/// commits to its real height (BIP 34), so the liar is caught; with an
/// honest server beside it, the honest proof stands.
#[test]
fn a_real_block_named_at_another_height_is_caught_by_its_coinbase() {
    let mut s = Scene::new();
    let reveal = s.publish("proven").reveal;
    s.chain.mine();
    s.chain.mine();
    let addr = s.address();
    let at = s.chain.txs[&reveal].confirmed.unwrap().height;
    let real = s.chain.blocks[at as usize].block_hash();
    let liar = s.serve();
    liar.state.arm(&format!("/tx/{reveal}/merkle-proof"), Fault::ProofHeight(at + 1), 1000);
    liar.state.arm(&format!("/block-height/{}", at + 1), Fault::Body(real.to_string()), 1000);
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, "BIP 34");
    assert!(out.stderr.contains(&liar.url), "{}", out.stderr);
    let honest = published().serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["proven"]["goatfile"]["server"], honest.url, "{}", out.stdout);
    assert_eq!(v["proven"]["goatfile"]["height"], at);
}

/// A transaction whose version is 2^31 or more (anyone can send the
/// address one; electrs shows the version unsigned) makes no page
/// unreadable, and drops no honest server.
#[test]
fn a_transaction_with_a_high_version_drops_no_server() {
    let build = || {
        let mut s = published();
        let spk = s.holder.script_pubkey();
        s.chain.fund_with_version(&spk, 5_000, -1);
        s.chain.mine();
        s
    };
    let (a, b, addr) = twins(build);
    let out = goat().esplora(&a.url).esplora(&b.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: proven"), "{}", out.stdout);
    assert!(!out.stderr.contains("not asking it again"), "{}", out.stderr);
    let out = goat().esplora(&a.url).args(["ls", &addr]).run().ok();
    assert!(out.stdout.contains("yes (signed"), "{}", out.stdout);
}

/// The honest server walks the first page, is rate limited for the second,
/// and the walk fails over to a liar that hides the newest goatfile there:
/// every server is then compared, the walk's first one included, and the
/// honest listing shows what the liar's page hid.
#[test]
fn a_failover_mid_walk_does_not_let_the_next_server_vouch_for_itself() {
    let build = || {
        let mut s = published();
        let v2 = s.publish("newest").reveal;
        let paid = s.chain.fund(&s.stranger.script_pubkey(), 7_777);
        s.chain.mine();
        let spk = s.holder.script_pubkey();
        for i in 0..30 {
            s.chain.fund(&spk, 10_000 + i);
        }
        s.chain.mine();
        (s, v2, paid)
    };
    let (s, v2, paid) = build();
    let addr = s.address();
    let honest = s.serve();
    let liar = build().0.serve();
    liar.state.arm("/address/", Fault::SwapListed { hide: v2, show: paid }, usize::MAX);
    honest.state.arm("/txs/chain/", Fault::RateLimit { retry_after_secs: 3600 }, 1);
    let out = goat().esplora(&honest.url).esplora(&liar.url).args(["resolve", &addr]).run().fails(5, "disagree about");
    assert!(out.stderr.contains(&honest.url) && out.stderr.contains(&liar.url), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // the liar answers the second page with nothing at all (the walk
    // ends there, "no goatfile"): its empty page is its word too, so the
    // honest walker's listing is compared, differs, and the walk is made
    // again, which finds the newest
    let liar = build().0.serve();
    liar.state.arm("/txs/chain/", Fault::Body("[]".into()), 1);
    honest.state.arm("/txs/chain/", Fault::RateLimit { retry_after_secs: 3600 }, 1);
    let out = goat().esplora(&honest.url).esplora(&liar.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newest"), "{}", out.stdout);
    // without the rate limit, the honest server walks it all: newest
    let out = goat().esplora(&honest.url).esplora(&build().0.serve().url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newest"), "{}", out.stdout);
}

//! Witnesses are proven, not served (docs/trust.md, "Witnesses"). A txid
//! does not cover witness bytes, so a server can serve a genuine
//! transaction with a witness of its choosing: the txid, the merkle proof
//! and the block stay genuine. Every chain here is genuine signed
//! transactions in real regtest blocks; the server lies with
//! `Fault::SwapWitness`.

use crate::harness::*;
use bitcoin::{Txid, Witness};
use goat::devchain::server::{Fault, Handle};
use goat::devchain::Envelope;

/// The holder's goatfile `model`, then an ordinary key-path spend of the
/// holder's (a payment to the stranger), both mined. Returns the scene,
/// the address and the payment's txid.
fn published_then_paid() -> (Scene, String, Txid) {
    let (mut s, addr) = published();
    let pay = pay_stranger(&mut s);
    (s, addr, pay)
}

/// As `published`, but the holder's goatfile is unsigned (goat before
/// signatures): what the unsigned reveal-input rule, `--accept-unsigned`,
/// takes at an address with no signed goatfile.
fn published_unsigned() -> (Scene, String) {
    let mut s = Scene::new();
    s.publish_unsigned("model");
    s.chain.mine();
    let addr = s.address();
    (s, addr)
}

/// The holder pays the stranger from a plain coin (not an inscription's
/// output), a key-path spend; mined.
fn pay_stranger(s: &mut Scene) -> Txid {
    let holder = s.holder.clone();
    let coin = s
        .chain
        .utxos_of(&holder.script_pubkey())
        .into_iter()
        .map(|(o, _)| o)
        .find(|o| s.chain.txs[&o.txid].tx.output[o.vout as usize].value.to_sat() > 100_000);
    let pay = s.chain.send(&holder, coin.expect("a coin"), &s.stranger.script_pubkey());
    s.chain.mine();
    pay
}

/// The holder publishes the goatfile `name` through a delegate: the
/// stranger inscribes the YAML to itself, the holder inscribes a delegate
/// to it that carries the holder's signature (as --sign-existing does). Mined; returns the delegate's reveal txid.
fn publish_through_delegate(s: &mut Scene, name: &str) -> Txid {
    let stranger = s.stranger.clone();
    let holder = s.holder.clone();
    let content = s.chain.inscribe(goat::devchain::Inscribe {
        funder: &stranger,
        inputs: vec![vec![Envelope::file("text/yaml", None, goatfile(name).as_bytes())]],
        to: stranger.script_pubkey(),
        reveal_input_from: None,
    });
    s.chain.mine();
    s.sequence += 1;
    let signature = holder.sign_goatfile(goatfile(name).as_bytes(), s.sequence, s.chain.height());
    s.chain.inscribe(goat::devchain::Inscribe {
        funder: &holder,
        inputs: vec![vec![Envelope::delegate(&content.id(0)).metadata(&signature)]],
        to: holder.script_pubkey(),
        reveal_input_from: Some(&holder),
    });
    s.chain.mine();
    content.reveal
}

/// The forgery: input 0 of `txid` (the holder's key-path spend) served as
/// `[the holder's real signature, a tapscript holding a goatfile envelope,
/// a control block]`, so the envelope sits in the holder's own input,
/// signed over every input.
fn forged_witness(s: &Scene, txid: &Txid) -> Witness {
    let sig = s.chain.txs[txid].tx.input[0].witness.nth(0).expect("a key-path signature").to_vec();
    let (xonly, _) = s.holder.keypair.x_only_public_key();
    let script = goat::inscription::envelope::reveal_script(
        &xonly,
        &[Envelope::file("text/yaml", None, goatfile("evil").as_bytes())],
    );
    let mut control = vec![0xc0];
    control.extend(xonly.serialize());
    Witness::from_slice(&[sig, script.to_bytes(), control])
}

fn swap(h: &Handle, txid: Txid, witness: Witness) {
    h.state.arm("", Fault::SwapWitness { txid, input: 0, witness }, usize::MAX);
}

#[test]
fn a_forged_envelope_in_the_holders_own_spend_is_refused_over_esplora() {
    let (s, addr, pay) = published_then_paid();
    let forged = forged_witness(&s, &pay);
    let (honest_scene, _, _) = published_then_paid();
    let liar = s.serve();
    swap(&liar, pay, forged);
    // At an address with no signed goatfile, the forged envelope (newer,
    // in the holder's own input) would count by the unsigned reveal-input
    // rule: chosen, it is proven from its block, and the liar is named.
    let (mut u, _) = published_unsigned();
    let upay = pay_stranger(&mut u);
    let uforged = forged_witness(&u, &upay);
    let uliar = u.serve();
    swap(&uliar, upay, uforged);
    let out = goat().esplora(&uliar.url).args(["resolve", "--accept-unsigned", &addr]).run().fails(5, &uliar.url);
    assert!(out.stderr.contains("swapped witness"), "{}", out.stderr);
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
    // Beside a signed goatfile it counts for nothing, but it is walked
    // over, and its witnesses are checked all the same: the liar alone is
    // named and nothing is chosen.
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, &liar.url);
    assert!(out.stderr.contains("fail Bitcoin Core's script check"), "{}", out.stderr);
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
    // With an honest server beside it, goat names the liar and resolves the
    // holder's real goatfile.
    let honest = honest_scene.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("goat: warning: {}", liar.url)) && out.stderr.contains("script check"),
        "{}",
        out.stderr
    );
    // `cat` of the forged id is refused the same way.
    goat()
        .esplora(&liar.url)
        .args(["--network", "regtest", "cat", &format!("{pay}i0")])
        .run()
        .fails(5, "swapped witness");
}

#[test]
fn the_honest_case_still_resolves_with_its_witnesses_proven() {
    let (s, addr, pay) = published_then_paid();
    let h = s.serve();
    let out = goat().esplora(&h.url).args(["resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let w = v["proven"]["witnesses"].as_array().expect("witnesses");
    // the payment walked before the goatfile (passed over: its scripts are
    // checked, cheaper than its block), the reveal (from its block), and
    // the commit in the reveal's block: the walk goes on down to the block
    // the signature was made after, since a newer signed goatfile could
    // sit anywhere above it
    assert_eq!(w.len(), 3, "{}", out.stdout);
    let reveal = v["inscription"].as_str().unwrap().trim_end_matches("i0").to_string();
    assert!(w.iter().any(|w| w["txid"] == pay.to_string()), "{}", out.stdout);
    for w in w {
        let want = if w["txid"] == reveal.as_str() { "block" } else { "scripts" };
        assert_eq!(w["by"], want, "{}", out.stdout);
    }
    let blocks =
        h.state.requests().iter().filter(|r| r.path.starts_with("/block/") && r.path.ends_with("/raw")).count();
    assert_eq!(blocks, 1, "one block per transaction proven from its block");
    let out = goat().args(["--electrum", &h.electrum, "resolve", "--json", &addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["proven"]["witnesses"].as_array().unwrap().iter().all(|w| w["by"] == "scripts"), "{}", out.stdout);
}

#[test]
fn a_forged_envelope_is_refused_over_electrum() {
    let (s, addr, pay) = published_then_paid();
    let forged = forged_witness(&s, &pay);
    let (honest_scene, _, _) = published_then_paid();
    let liar = s.serve();
    swap(&liar, pay, forged);
    let out = goat().args(["--electrum", &liar.electrum, "resolve", &addr]).run().fails(5, &liar.electrum);
    assert!(out.stderr.contains("script check"), "{}", out.stderr);
    let honest = honest_scene.serve();
    let out = goat().args(["--electrum", &liar.electrum, "--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stdout);
}

/// The other direction: the newest goatfile's witness blanked, so an older
/// one would win.
#[test]
fn a_blanked_witness_cannot_hide_the_newest_goatfile() {
    let scene = || {
        let (mut s, addr) = published();
        let newer = s.publish("newer");
        s.chain.mine();
        (s, addr, newer.reveal)
    };
    let (s, addr, newer) = scene();
    let liar = s.serve();
    swap(&liar, newer, Witness::new());
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, &liar.url);
    // caught by the block: either as bytes it served or as the page that
    // listed the transaction
    assert!(
        out.stderr.contains("(a swapped witness)")
            || out.stderr.contains("envelope stripped")
            || out.stderr.contains("script check"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("name: model"), "{}", out.stdout);
    goat().args(["--electrum", &liar.electrum, "resolve", &addr]).run().fails(5, "script check");
    let (honest_scene, _, _) = scene();
    let honest = honest_scene.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
    let out = goat().args(["--electrum", &liar.electrum, "--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
    // the honest server walks, and the liar's pages, compared with the
    // walk's, show the reveal without its envelope: its copy is checked
    // against the block, and the liar is caught rather than allowed to
    // veto
    let out = goat().esplora(&honest.url).esplora(&liar.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
    assert!(out.stderr.lines().any(|l| l.starts_with("goat: warning:") && l.contains(&liar.url)), "{}", out.stderr);
}

/// A server whose raw block carries other witnesses than its coinbase
/// commits to is caught by the commitment, and the next server's block is
/// used.
#[test]
fn a_block_whose_witness_commitment_fails_is_refused() {
    let (mut s, addr) = published();
    let reveal = s.publish("newer").reveal;
    s.chain.mine();
    let (mut b, _) = published();
    b.publish("newer");
    b.chain.mine();
    let liar = s.serve();
    // the reveal's envelope input, blanked inside the block only
    liar.state.arm("/raw", Fault::SwapWitnessInBlock { txid: reveal, input: 0, witness: Witness::new() }, usize::MAX);
    goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, "witness commitment");
    let honest = b.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
    assert!(out.stderr.contains("witness commitment"), "{}", out.stderr);
}

/// A scene with every kind of witness goat reads: the holder's goatfile
/// served through a delegate (the stranger's inscription), then, newer, an
/// inscription the stranger airdrops to the holder (a candidate the walk
/// looks at closer) and a payment of the holder's (a transaction it passes
/// over). Deterministic: two calls give the same chain.
fn rich_scene() -> (Scene, String) {
    let mut s = Scene::new();
    publish_through_delegate(&mut s, "model");
    let stranger = s.stranger.clone();
    s.inscribe_to_holder(&stranger, "text/plain", b"hello");
    s.chain.mine();
    pay_stranger(&mut s);
    let addr = s.address();
    (s, addr)
}

/// The property: change the witness of one input of one transaction (every
/// input of every transaction of the chain, three ways each), serve it
/// from the only server, and resolve. A transaction whose witnesses goat
/// reads (the honest run lists them under `proven.witnesses`) must be
/// caught: exit 5, the server named. Any other change must be caught or
/// change nothing. Over Esplora (blocks) and Electrum (scripts).
#[test]
fn every_changed_witness_is_caught_or_changes_nothing() {
    let (honest_scene, addr) = rich_scene();
    let honest = honest_scene.serve();
    let resolve = |h: &Handle, electrum: bool| {
        let g = if electrum { goat().args(["--electrum", &h.electrum]) } else { goat().esplora(&h.url) };
        g.args(["--retries", "1", "resolve", "--json", &addr]).run()
    };
    let want = resolve(&honest, false).ok();
    assert!(want.stdout.contains("\"name\": \"model\""), "{}", want.stdout);
    let doc: serde_json::Value = serde_json::from_str(&want.stdout).unwrap();
    let read: Vec<String> = doc["proven"]["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["txid"].as_str().unwrap().to_string())
        .collect();
    // the payment and the airdrop (walked first), the reveal, its delegate,
    // and the reveal's commit (in its block, above the block the signature
    // was made after, so walked too)
    assert_eq!(read.len(), 5, "{}", want.stdout);
    let goatfile_of = |out: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(out).unwrap()["goatfile"].clone()
    };

    let (s, _) = rich_scene();
    let mut cases: Vec<(Txid, usize)> = Vec::new();
    for (txid, rec) in &s.chain.txs {
        if !rec.tx.is_coinbase() {
            cases.extend((0..rec.tx.input.len()).map(|i| (*txid, i)));
        }
    }
    cases.sort();
    let liar = s.serve();
    let mut caught = 0;
    for (txid, input) in cases {
        let real = liar.state.chain.read().unwrap().txs[&txid].tx.input[input].witness.clone();
        let mut flipped: Vec<Vec<u8>> = real.iter().map(<[u8]>::to_vec).collect();
        if let Some(last) = flipped.last_mut().and_then(|e| e.last_mut()) {
            *last ^= 1;
        }
        let mut appended: Vec<Vec<u8>> = real.iter().map(<[u8]>::to_vec).collect();
        appended.push(vec![0x50, 0x01]);
        for (how, w) in [
            ("blanked", Witness::new()),
            ("flipped", Witness::from_slice(&flipped)),
            ("appended", Witness::from_slice(&appended)),
        ] {
            for electrum in [false, true] {
                liar.state.faults.lock().unwrap().clear();
                liar.state.arm("", Fault::SwapWitness { txid, input, witness: w.clone() }, usize::MAX);
                let out = resolve(&liar, electrum);
                let server = if electrum { &liar.electrum } else { &liar.url };
                let case = format!(
                    "{how} witness of input {input} of {txid} over {}",
                    if electrum { "Electrum" } else { "Esplora" }
                );
                assert!(!out.stderr.contains("panicked"), "{case}: {}", out.stderr);
                if out.code == 0 {
                    assert!(
                        !read.contains(&txid.to_string()),
                        "{case}: goat reads this witness, yet the change went unnoticed"
                    );
                    assert_eq!(goatfile_of(&out.stdout), goatfile_of(&want.stdout), "{case}: another goatfile");
                } else {
                    assert_eq!(out.code, 5, "{case}: {}", out.stderr);
                    assert!(out.stderr.contains(server.as_str()), "{case}: the server is not named: {}", out.stderr);
                    caught += 1;
                }
            }
        }
    }
    assert!(caught >= read.len() * 3 * 2, "{caught} changes caught");
}

/// Dropping a liar must not drop the evidence against what it served: a
/// liar serves the forged envelope, then fails the proof of that
/// transaction so that the honest server proves it. The walk judged by the
/// liar's copy; that copy is compared with the block, not whatever the
/// cache holds after the liar is dropped.
#[test]
fn a_liar_that_gets_itself_dropped_mid_proof_is_still_caught() {
    let (s, addr, pay) = published_then_paid();
    let forged = forged_witness(&s, &pay);
    let (b, _, _) = published_then_paid();
    let liar = s.serve();
    liar.state.arm(&format!("/tx/{pay}/merkle-proof"), Fault::WrongMerkleProof, usize::MAX);
    swap(&liar, pay, forged);
    let honest = b.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stdout);
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
}

/// A block with every witness stripped, the coinbase's reserved value
/// too, still has its genuine header and merkle root; BIP 141 says its
/// coinbase's commitment then cannot hold. A server that blanks the newest
/// goatfile and serves such blocks is caught.
#[test]
fn a_block_stripped_of_all_witnesses_is_refused() {
    let scene = || {
        let (mut s, addr) = published();
        let newer = s.publish("newer");
        // enough of the address's transactions in that block that goat
        // proves them from the block rather than by script
        let spk = s.holder.script_pubkey();
        for i in 0..3 {
            s.chain.fund(&spk, 30_000 + i);
        }
        s.chain.mine();
        (s, addr, newer.reveal)
    };
    let (s, addr, newer) = scene();
    let liar = s.serve();
    liar.state.arm("/block/", Fault::StripWitnessesInBlock, usize::MAX);
    swap(&liar, newer, Witness::new());
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, &liar.url);
    assert!(out.stderr.contains("reserved value"), "caught by the block's commitment: {}", out.stderr);
    assert!(!out.stdout.contains("name: model"), "{}", out.stdout);
    let (h, _, _) = scene();
    let honest = h.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
}

/// An input that anyone can spend with any witness (a pay-to-anchor
/// output: witness version 1, a 2-byte program) in a transaction the
/// holder signed over every input. Consensus takes any witness there, so
/// the script check passes an envelope a server put in it, and the
/// holder's signature does not cover witnesses. Proven only by script
/// check (Electrum), such a goatfile is refused; from the block (Esplora),
/// the swap is caught.
#[test]
fn an_envelope_in_an_anyone_can_spend_input_is_not_the_holders() {
    use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut};
    let scene = |signed: bool| {
        let (mut s, addr) = if signed { published() } else { published_unsigned() };
        let anchor = ScriptBuf::from_bytes(vec![0x51, 0x02, 0x4e, 0x73]);
        let funding = s.chain.fund(&anchor, 20_000);
        s.chain.mine();
        let holder = s.holder.clone();
        let (coin, prev) = s
            .chain
            .utxos_of(&holder.script_pubkey())
            .into_iter()
            .find(|(_, o)| o.value.to_sat() > 100_000)
            .expect("a coin");
        let vout = s.chain.txs[&funding].tx.output.iter().position(|o| o.script_pubkey == anchor).unwrap() as u32;
        let anchor_out = OutPoint { txid: funding, vout };
        let anchor_prev = s.chain.txs[&funding].tx.output[vout as usize].clone();
        let mut tx = goat::publish::unsigned(
            &[coin, anchor_out],
            vec![TxOut {
                value: Amount::from_sat(prev.value.to_sat() + 20_000 - 3_000),
                script_pubkey: holder.script_pubkey(),
            }],
        );
        let prevouts = vec![prev, anchor_prev];
        s.chain.sign_key_path_with(&mut tx, 0, &prevouts, &holder.keypair, bitcoin::TapSighashType::Default);
        let t = s.chain.broadcast(tx).expect("a valid transaction");
        s.chain.mine();
        (s, addr, t)
    };
    let stuff = |s: Scene, t: Txid| {
        let (xonly, _) = s.holder.keypair.x_only_public_key();
        let script = goat::inscription::envelope::reveal_script(
            &xonly,
            &[Envelope::file("text/yaml", None, goatfile("evil").as_bytes())],
        );
        let mut control = vec![0xc0];
        control.extend(xonly.serialize());
        let liar = s.serve();
        liar.state.arm(
            "",
            Fault::SwapWitness { txid: t, input: 1, witness: Witness::from_slice(&[script.to_bytes(), control]) },
            usize::MAX,
        );
        liar
    };
    // At an address with no signed goatfile, --accept-unsigned would take
    // the stuffed envelope (newest, in a transaction the holder signed over
    // every input): refused.
    let (s, addr, t) = scene(false);
    let liar = stuff(s, t);
    let out = goat()
        .args(["--electrum", &liar.electrum, "resolve", "--accept-unsigned", &addr])
        .run()
        .fails(5, "not a taproot script-path spend");
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
    let out = goat().esplora(&liar.url).args(["resolve", "--accept-unsigned", &addr]).run().fails(5, &liar.url);
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
    // Beside a signed goatfile the envelope, unsigned, counts for nothing.
    let (s, addr, t) = scene(true);
    let liar = stuff(s, t);
    let out = goat().args(["--electrum", &liar.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stdout);
    // `cat` of it is refused
    let out = goat()
        .args(["--electrum", &liar.electrum, "--network", "regtest", "cat", &format!("{t}i0")])
        .run()
        .fails(5, "not a taproot script-path spend");
    assert!(!out.stdout.contains("evil"), "{}", out.stdout);
}

/// Another valid signature of the same input (a signer can make as many
/// as it likes) is a different witness of the same transaction. A server
/// that shows one, and a server that shows the other, are both honest
/// about a valid spend: neither is dropped, and the answer is the same.
#[test]
fn another_valid_signature_drops_no_honest_server() {
    use bitcoin::hashes::Hash;
    use bitcoin::key::TapTweak;
    use bitcoin::secp256k1::{Message, Secp256k1};
    use bitcoin::sighash::{Prevouts, SighashCache};
    let (s, addr, pay) = published_then_paid();
    let tx = s.chain.txs[&pay].tx.clone();
    let prevouts: Vec<_> = tx.input.iter().map(|i| s.chain.prevout(&i.previous_output).unwrap()).collect();
    let sighash = SighashCache::new(&tx)
        .taproot_key_spend_signature_hash(0, &Prevouts::All(&prevouts), bitcoin::TapSighashType::Default)
        .unwrap();
    let secp = Secp256k1::new();
    let tweaked = s.holder.keypair.tap_tweak(&secp, None).to_keypair();
    let other = secp.sign_schnorr_with_aux_rand(&Message::from_digest(sighash.to_byte_array()), &tweaked, &[7u8; 32]);
    assert_ne!(other.as_ref().to_vec(), tx.input[0].witness.nth(0).unwrap().to_vec());
    let (b, _, _) = published_then_paid();
    let liar = s.serve();
    liar.state.arm(
        "",
        Fault::SwapWitness { txid: pay, input: 0, witness: Witness::from_slice(&[other.as_ref()]) },
        usize::MAX,
    );
    let honest = b.serve();
    for (first, second) in [(&liar.url, &honest.url), (&honest.url, &liar.url)] {
        let out = goat().esplora(first).esplora(second).args(["resolve", &addr]).run().ok();
        assert!(out.stdout.contains("name: model"), "{}", out.stdout);
        assert!(!out.stderr.contains("not asking it again"), "{}", out.stderr);
    }
    let out = goat().args(["--electrum", &liar.electrum, "--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stdout);
    assert!(!out.stderr.contains("not asking it again"), "{}", out.stderr);
}

/// A server listed first that refuses (HTTP 400) the newest goatfile's
/// delegate must not make it "not a goatfile": the other servers are asked,
/// and alone it is an error, not an older goatfile.
#[test]
fn a_refused_delegate_does_not_hide_the_newest_goatfile() {
    let scene = || {
        let (mut s, addr) = published();
        let delegate = publish_through_delegate(&mut s, "newer");
        (s, addr, delegate)
    };
    let (s, addr, delegate) = scene();
    let liar = s.serve();
    liar.state.arm(&format!("/tx/{delegate}/raw"), Fault::Status(400), usize::MAX);
    let out = goat().esplora(&liar.url).args(["--retries", "1", "resolve", &addr]).run();
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(!out.stdout.contains("name: model"), "an older goatfile was chosen: {}", out.stdout);
    let (h, _, _) = scene();
    let honest = h.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["--retries", "1", "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: newer"), "{}", out.stdout);
}

/// BIP 141's check over whole blocks (`check_witnesses`), on real regtest
/// blocks from the devchain, then with what a lying server would change.
mod block_commitments {
    use bitcoin::Block;
    use goat::devchain::{Chain, Envelope, Inscribe};
    use goat::esplora::witness::check_witnesses;

    /// A block holding a reveal (witnesses) and its commitment.
    fn block() -> Block {
        let mut chain = Chain::new();
        let w = chain.wallet();
        chain.fund(&w.script_pubkey(), 1_000_000);
        chain.mine();
        chain.inscribe(Inscribe {
            funder: &w,
            inputs: vec![vec![Envelope::file("text/plain", None, b"hi")]],
            to: w.script_pubkey(),
            reveal_input_from: Some(&w),
        });
        chain.mine();
        chain.blocks.last().unwrap().clone()
    }

    #[test]
    fn a_genuine_block_passes() {
        assert_eq!(check_witnesses(&block()), Ok(()));
    }

    #[test]
    fn a_block_stripped_of_witnesses_fails_though_rust_bitcoin_accepts_it() {
        let mut b = block();
        for t in &mut b.txdata {
            for i in &mut t.input {
                i.witness = bitcoin::Witness::new();
            }
        }
        assert!(b.check_merkle_root());
        assert!(b.check_witness_commitment(), "rust-bitcoin 0.32 accepts a block without witnesses");
        assert!(check_witnesses(&b).unwrap_err().contains("reserved value"));
    }

    #[test]
    fn a_swapped_witness_fails() {
        let mut b = block();
        let last = b.txdata.len() - 1;
        b.txdata[last].input[0].witness = bitcoin::Witness::from_slice(&[[1u8; 64]]);
        assert!(check_witnesses(&b).unwrap_err().contains("witness commitment"));
    }

    #[test]
    fn a_repeated_transaction_fails() {
        let mut b = block();
        // an odd count: repeating the last keeps the merkle root
        if b.txdata.len().is_multiple_of(2) {
            b.txdata.pop();
        }
        let root = b.compute_merkle_root();
        let last = b.txdata.last().unwrap().clone();
        b.txdata.push(last);
        assert_eq!(b.compute_merkle_root(), root);
        assert!(check_witnesses(&b).unwrap_err().contains("mutated"));
    }

    #[test]
    fn no_commitment_means_no_witnesses() {
        let mut b = block();
        b.txdata[0].output.retain(|o| !o.script_pubkey.as_bytes().starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]));
        assert!(check_witnesses(&b).unwrap_err().contains("commits to none"));
    }
}

//! Goatfiles the holder's address signed (docs/trust.md): the attacks the
//! older, unsigned rules let through (a co-signer's envelope, a payment
//! that moves an airdropped sat, an older goatfile inscribed again) never
//! win, and the holder's signature counts from every address type and
//! wherever the inscription was made. Genuine signed transactions in real
//! regtest blocks, over Esplora and over Electrum.

use crate::harness::*;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Network, PrivateKey, ScriptBuf};
use goat::devchain::server::Handle;
use goat::devchain::{Envelope, Inscribe};
use goat::inscription::tag;
use goat::trust::signature::{encode_metadata, sign, Claim};

/// `goat resolve` over Esplora, then over Electrum, with `extra` flags.
fn resolve_both(h: &Handle, addr: &str, extra: &[&str]) -> [Out; 2] {
    [
        goat().esplora(&h.url).args(["resolve"]).args(extra).args([addr]).run(),
        goat().args(["--electrum", &h.electrum, "resolve"]).args(extra).args([addr]).run(),
    ]
}

fn ls_json(h: &Handle, addr: &str) -> Vec<serde_json::Value> {
    let out = goat().esplora(&h.url).args(["ls", "--json", addr]).run().ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v["inscriptions"].as_array().unwrap().clone()
}

/// A payjoin, a coinjoin, a swap: a co-signer brings an input whose leaf
/// holds its own goatfile, and the holder signs the whole transaction as
/// usual. The unsigned reveal-input rule took it for the holder's.
#[test]
fn a_cosigners_envelope_does_not_replace_the_signed_goatfile() {
    let mut s = Scene::new();
    s.publish("real");
    s.chain.mine();
    let cosigned = s.cosigned("cosigned");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        let out = out.ok();
        assert!(out.stdout.contains("name: real"), "{}", out.stdout);
        assert!(out.stderr.contains("signed by the holder's address, sequence 1"), "{}", out.stderr);
    }
    let items = ls_json(&h, &addr);
    assert_eq!(items[0]["id"], cosigned.id(0).to_string());
    assert_eq!(items[0]["endorsement"], "reveal-input", "the old rule is met: this is the attack");
    assert_eq!(items[0]["endorsed"], false);
    // loosening the rule does not let it in either: a signed goatfile
    // beats every unsigned one
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", &addr]).run().ok();
    assert!(out.stdout.contains("name: real"), "{}", out.stdout);
}

/// An airdrop with a pointer into the middle of its output; a wallet that
/// knows nothing of ordinals pays a merchant from that output, and the
/// inscribed sat lands in the change, back at the holder's address: what
/// the unsigned spent-output rule took for a send to self.
#[test]
fn a_payment_that_moves_an_airdropped_sat_does_not_endorse_it() {
    let mut s = Scene::new();
    let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
    s.publish("real");
    s.chain.mine();
    // The stranger's airdrop, the same in both scenes below.
    let pointer = 6_000u64.to_le_bytes();
    let airdrop = || {
        Envelope::default()
            .field(tag::CONTENT_TYPE, b"text/yaml")
            .field(tag::POINTER, &pointer[..2])
            .body(goatfile("evil").as_bytes())
    };
    let drop_ = s.chain.inscribe(Inscribe {
        funder: &stranger,
        inputs: vec![vec![airdrop()]],
        to: holder.script_pubkey(),
        reveal_input_from: None,
    });
    s.chain.mine();
    let merchant = s.chain.wallet();
    s.chain.pay_from(&holder, drop_.outpoint(), &merchant.script_pubkey(), 3_000);
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        assert!(out.ok().stdout.contains("name: real"));
    }
    let items = ls_json(&h, &addr);
    let evil = items.iter().find(|i| i["id"] == drop_.id(0).to_string()).unwrap();
    assert_eq!(evil["endorsement"], "spent-output", "the old rule is met: this is the attack");
    assert_eq!(evil["endorsed"], false);

    // At an address with nothing signed, the old rule alone would take it:
    // refused by default, with what --accept-unsigned lets in named.
    let mut s = Scene::new();
    let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
    let drop_ = s.chain.inscribe(Inscribe {
        funder: &stranger,
        inputs: vec![vec![airdrop()]],
        to: holder.script_pubkey(),
        reveal_input_from: None,
    });
    s.chain.mine();
    s.chain.pay_from(&holder, drop_.outpoint(), &merchant.script_pubkey(), 3_000);
    s.chain.mine();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        let out = out.fails(3, "(spent-output, ");
        assert!(out.stderr.contains("--accept-unsigned"), "{}", out.stderr);
    }
    let out = goat().esplora(&h.url).args(["resolve", "--accept-unsigned", &addr]).run().ok();
    assert!(out.stdout.contains("name: evil"));
    assert!(out.stderr.contains("a payment that moves an airdrop"), "the warning names the risk: {}", out.stderr);
}

/// Anyone can inscribe a goatfile the holder once signed again, later in
/// the chain than the holder's newest: the highest sequence wins, wherever
/// it sits.
#[test]
fn an_older_goatfile_inscribed_again_never_wins() {
    let mut s = Scene::new();
    let stranger = s.stranger.clone();
    let v1 = s.publish("v1");
    s.chain.mine();
    s.chain.mine();
    s.publish("v2");
    s.chain.mine();
    // other traffic, then the copy: same bytes, same signature
    let spk = s.holder.script_pubkey();
    for i in 0..3 {
        s.chain.fund(&spk, 20_000 + i);
        s.chain.mine();
    }
    let original = goat::inscription::Inscription::from_transaction(&s.chain.txs[&v1.reveal].tx).remove(0);
    let copy = Envelope::file_with_metadata(
        "text/yaml",
        None,
        original.metadata.as_deref().unwrap(),
        original.body.as_deref().unwrap(),
    );
    let again =
        s.chain.inscribe(Inscribe { funder: &stranger, inputs: vec![vec![copy]], to: spk, reveal_input_from: None });
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        let out = out.ok();
        assert!(out.stdout.contains("name: v2"), "{}", out.stdout);
        assert!(out.stderr.contains("sequence 2"), "{}", out.stderr);
    }
    let items = ls_json(&h, &addr);
    assert_eq!(items[0]["id"], again.id(0).to_string());
    assert_eq!(items[0]["endorsed"], true, "the copy is the holder's goatfile, just not the newest");
    assert_eq!(items[0]["signature"]["sequence"], 1);
}

/// A signed goatfile counts from every address type, and wherever it was
/// inscribed: here an airdropper (the stranger) inscribes it to the
/// address; the holder's key never touches the chain. Signatures made by
/// the `bip322` crate (the one ord's `wallet sign` uses).
#[test]
fn signed_goatfiles_count_from_every_address_type_whoever_inscribed_them() {
    let secp = Secp256k1::new();
    let key = |b: u8| PrivateKey::new(SecretKey::from_slice(&[b; 32]).unwrap(), Network::Regtest);
    let (k1, k2, k3) = (key(0x61), key(0x62), key(0x63));
    let multisig = bitcoin::blockdata::script::Builder::new()
        .push_int(2)
        .push_key(&k1.public_key(&secp))
        .push_key(&k2.public_key(&secp))
        .push_key(&k3.public_key(&secp))
        .push_int(3)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    let p2wpkh = Address::p2wpkh(&bitcoin::CompressedPublicKey(k1.public_key(&secp).inner), Network::Regtest);
    let p2wsh = Address::p2wsh(&multisig, Network::Regtest);
    let p2tr = Address::p2tr(&secp, k1.public_key(&secp).inner.x_only_public_key().0, None, Network::Regtest);
    let cases: [(&str, Address, Vec<PrivateKey>, Option<ScriptBuf>); 3] = [
        ("p2wpkh", p2wpkh, vec![k1], None),
        ("p2wsh 2-of-3", p2wsh, vec![k1, k3], Some(multisig.clone())),
        ("p2tr", p2tr, vec![k1], None),
    ];
    for (what, address, keys, ws) in cases {
        let mut s = Scene::new();
        let stranger = s.stranger.clone();
        let body = goatfile(what.split(' ').next().unwrap());
        let claim =
            Claim { network: Network::Regtest, address: address.to_string(), sequence: 1, after: s.chain.height() };
        let signed = sign(&claim, body.as_bytes(), &address, &keys, ws.as_ref()).unwrap();
        let envelope = Envelope::file_with_metadata("text/yaml", None, &encode_metadata(&signed), body.as_bytes());
        let ins = s.chain.inscribe(Inscribe {
            funder: &stranger,
            inputs: vec![vec![envelope]],
            to: address.script_pubkey(),
            reveal_input_from: None,
        });
        s.chain.mine();
        let addr = address.to_string();
        let h = s.serve();
        for out in resolve_both(&h, &addr, &[]) {
            let out = out.ok();
            assert_eq!(out.stdout, body, "{what}");
            assert!(
                out.stderr.contains(&ins.id(0).to_string()) && out.stderr.contains("signed by the holder's address"),
                "{what}: {}",
                out.stderr
            );
        }
    }
}

/// Signatures that are there but do not count: by another address, for
/// another network, over other bytes. Each is refused in words, and the
/// holder's own goatfile is still found; alone, they leave nothing.
#[test]
fn signatures_that_do_not_count_are_refused_in_words() {
    let mut s = Scene::new();
    let (holder, stranger) = (s.holder.clone(), s.stranger.clone());
    let at = s.chain.height();
    let claim =
        |address: &Address, network: Network| Claim { network, address: address.to_string(), sequence: 9, after: at };
    let key = |w: &goat::devchain::Wallet| PrivateKey::new(w.keypair.secret_key(), Network::Regtest);
    let evil = goatfile("evil");
    // the stranger signs for itself and sends it to the holder
    let by_stranger =
        sign(&claim(&stranger.address, Network::Regtest), evil.as_bytes(), &stranger.address, &[key(&stranger)], None)
            .unwrap();
    // the holder's real signature, but for testnet
    let testnet =
        sign(&claim(&holder.address, Network::Testnet), evil.as_bytes(), &holder.address, &[key(&holder)], None)
            .unwrap();
    // the holder's real signature of another goatfile, over these bytes
    let other = sign(
        &claim(&holder.address, Network::Regtest),
        goatfile("other").as_bytes(),
        &holder.address,
        &[key(&holder)],
        None,
    )
    .unwrap();
    for m in [&by_stranger, &testnet, &other] {
        let envelope = Envelope::file_with_metadata("text/yaml", None, &encode_metadata(m), evil.as_bytes());
        s.chain.inscribe(Inscribe {
            funder: &stranger,
            inputs: vec![vec![envelope]],
            to: holder.script_pubkey(),
            reveal_input_from: None,
        });
    }
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        let out = out.fails(3, "3 signature(s) do not count");
        assert!(!out.stdout.contains("evil"));
    }
    let items = ls_json(&h, &addr);
    let why: Vec<&str> = items.iter().filter_map(|i| i["signature_refused"].as_str()).collect();
    assert_eq!(why.len(), 3, "{items:?}");
    assert!(why.iter().any(|w| w.contains("signed by another address")), "{why:?}");
    assert!(why.iter().any(|w| w.contains("signed for testnet, not regtest")), "{why:?}");
    assert!(why.iter().any(|w| w.contains("the signature is invalid")), "{why:?}");
    let table = goat().esplora(&h.url).args(["ls", &addr]).run().ok();
    assert_eq!(table.stdout.matches("no (bad signature)").count(), 3, "{}", table.stdout);
}

/// Two different goatfiles signed with one sequence: neither is the newest.
/// Only the holder can make this; goat says so rather than guess.
#[test]
fn two_goatfiles_with_one_sequence_are_refused() {
    let mut s = Scene::new();
    let holder = s.holder.clone();
    // signed at one sitting, inscribed one after the other
    let at = s.chain.height();
    for name in ["left", "right"] {
        let env = holder.signed_goatfile(goatfile(name).as_bytes(), 4, at);
        s.chain.inscribe(Inscribe {
            funder: &holder,
            inputs: vec![vec![env]],
            to: holder.script_pubkey(),
            reveal_input_from: None,
        });
        s.chain.mine();
    }
    let addr = s.address();
    let h = s.serve();
    for out in resolve_both(&h, &addr, &[]) {
        out.fails(5, "two different goatfiles with sequence 4");
    }
}

/// A goatfile published before goatfiles were signed: `goat publish
/// --sign-existing` inscribes a small delegate of it that carries the
/// holder's signature, and from then on it resolves.
#[test]
fn an_unsigned_goatfile_is_signed_with_sign_existing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let old = s.publish_unsigned("old");
    s.chain.mine();
    let wif = PrivateKey::new(s.holder.keypair.secret_key(), Network::Regtest).to_wif();
    let key_file = dir.path().join("holder.wif");
    std::fs::write(&key_file, format!("{wif}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let addr = s.address();
    let h = s.serve();
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(3, &format!("--sign-existing {}", old.id(0)));
    let out = goat()
        .esplora(&h.url)
        .args(["publish", "--sign-existing", &old.id(0).to_string(), "--key-file"])
        .args([&key_file])
        .args(["--yes", "--fee-rate", "2", "--network", "regtest", "--state-dir"])
        .args([dir.path().join("state")])
        .run()
        .ok();
    assert!(out.stderr.contains("signed by a delegate inscription"), "{}", out.stderr);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let sequence: u64 =
        out.stderr.split("(sequence ").nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
    assert!(sequence.abs_diff(now) < 600, "the clock is the default sequence: {sequence}");
    h.state.chain.write().unwrap().mine();
    for out in resolve_both(&h, &addr, &[]) {
        let out = out.ok();
        assert_eq!(out.stdout, goatfile("old"));
        assert!(out.stderr.contains(&format!("signed by the holder's address, sequence {sequence}")), "{}", out.stderr);
    }
}

/// v1, then v2 signed after the block v1 is in: deterministic, so two
/// calls make the same chain (an honest and a lying server).
fn v1_then_v2() -> (Scene, bitcoin::Txid, u32) {
    let mut s = Scene::new();
    s.publish("v1");
    s.chain.mine();
    s.chain.mine();
    let after = s.chain.height();
    let v2 = s.publish("v2");
    s.chain.mine();
    (s, v2.reveal, after)
}

/// A walk server that puts the newest goatfile at (or below) the block its
/// signature was made after, so that it looks misplaced and an older one
/// wins: the page's height decides nothing, the goatfile's block is
/// proven, and the server that misplaced it is caught.
#[test]
fn a_page_that_misplaces_the_newest_goatfile_is_caught() {
    let (s, v2, after) = v1_then_v2();
    let addr = s.address();
    let liar = s.serve();
    liar.state.arm("/address/", goat::devchain::server::Fault::Height { txid: v2, height: after }, usize::MAX);
    let out = goat().esplora(&liar.url).args(["resolve", &addr]).run().fails(5, &liar.url);
    assert!(!out.stdout.contains("name: v1"), "{}", out.stdout);
    let (s, _, _) = v1_then_v2();
    let honest = s.serve();
    let out = goat().esplora(&liar.url).esplora(&honest.url).args(["resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: v2"), "{}", out.stdout);
    assert!(out.stderr.contains(&format!("goat: warning: {}", liar.url)), "{}", out.stderr);
}

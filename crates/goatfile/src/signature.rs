//! The holder's signature on a goatfile: the endorsement only the holder
//! can give (docs/goatfile.md, "Signatures"; docs/trust.md).
//!
//! The holder's address signs a short text message (BIP 322, the generic
//! signed message every address type has; or a BIP 137 signature, what
//! Electrum and Sparrow make, for single-key addresses) that names the
//! network, the address, a sequence number, a block height the signature
//! was made after, and the sha256 of the goatfile's bytes. The signature
//! travels in the inscription's metadata (ord's tag 5, CBOR), so:
//! - a co-signer, a payee, an airdropper or a server cannot produce it;
//! - it does not matter where the inscription sits or who paid for it: an
//!   airdropped copy of a signed goatfile is the holder's goatfile;
//! - the highest sequence wins, so a re-inscribed older goatfile never does;
//! - `after` lets the walk stop: a goatfile signed later (with a higher
//!   sequence) cannot be in a block before the one the current best was
//!   signed after (`scan::find_goatfile`).
//!
//! Verification is the `bip322` crate (the one ord uses for `ord wallet
//! sign`); a script it cannot interpret (a P2WSH that is not a plain
//! multisig, a tapscript path) goes to Bitcoin Core's interpreter
//! (`crate::consensus`) over the same BIP 322 `to_sign` transaction.

use crate::address::{network_name, parse_network, HolderAddress};
use bitcoin::address::AddressData;
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use bitcoin::{Address, Network, ScriptBuf, Transaction, TxOut, Witness};
use ciborium::Value;
use data_encoding::BASE64;

/// The key of goat's entry in an inscription's CBOR metadata map.
pub const METADATA_KEY: &str = "goat-signature";
/// The message's first line: says what is being signed, to the person
/// signing it in a wallet, and keeps goat's messages apart from any other.
pub const MESSAGE_HEADER: &str = "goat goatfile signature";
/// Longest signature text read from metadata (a 15-of-15 P2WSH multisig
/// witness is about 1.6 KB, 2.2 KB in base64).
const MAX_SIGNATURE: usize = 8 * 1024;
/// Largest metadata parsed. goat's own is under 3 KB; a CBOR value takes
/// up to 32 times its encoding in memory, so megabytes of hostile
/// metadata are not decoded at all.
const MAX_METADATA: usize = 64 * 1024;

/// What the holder signs, besides the goatfile's bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    /// The network the address is on.
    #[serde(serialize_with = "ser_network")]
    pub network: Network,
    /// The holder's address, as written in the message.
    pub address: String,
    /// Of two goatfiles the holder signed, the one with the higher sequence wins.
    pub sequence: u64,
    /// The signature was made after the block at this height.
    pub after: u32,
}

fn ser_network<S: serde::Serializer>(n: &Network, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(network_name(*n))
}

impl Claim {
    /// The exact text that is signed. Lines joined by "\n", no trailing
    /// newline (wallets trim it): see docs/goatfile.md.
    pub fn message(&self, goatfile_sha256: &[u8; 32]) -> String {
        format!(
            "{MESSAGE_HEADER}\nnetwork: {}\naddress: {}\nsequence: {}\nafter: {}\nsha256: {}",
            network_name(self.network),
            self.address,
            self.sequence,
            self.after,
            hex::encode(goatfile_sha256)
        )
    }
}

/// A claim and its signature, as carried in metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// What was signed.
    pub claim: Claim,
    /// Base64: a BIP 322 simple signature (the witness), a BIP 322 full one
    /// (the `to_sign` transaction), or a 65-byte BIP 137 signature.
    pub signature: String,
}

/// A signature that checked out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signed {
    /// The claim's sequence number.
    pub sequence: u64,
    /// The claim's block height: the signature was made after that block.
    pub after: u32,
    /// sha256 of the goatfile bytes signed.
    #[serde(serialize_with = "ser_hex")]
    pub sha256: [u8; 32],
    /// Which form: "bip322-simple", "bip322-full" or "bip137".
    pub form: &'static str,
}

fn ser_hex<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// The CBOR metadata goat writes: a map with one key, `goat-signature`,
/// whose value is a map of text keys (docs/goatfile.md).
pub fn encode_metadata(c: &Carried) -> Vec<u8> {
    let t = |s: &str| Value::Text(s.to_string());
    let inner = Value::Map(vec![
        (t("network"), t(network_name(c.claim.network))),
        (t("address"), t(&c.claim.address)),
        (t("sequence"), Value::Integer(c.claim.sequence.into())),
        (t("after"), Value::Integer(c.claim.after.into())),
        (t("signature"), t(&c.signature)),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(vec![(t(METADATA_KEY), inner)]), &mut out)
        .expect("writing CBOR to a Vec cannot fail");
    out
}

/// Read goat's signature from an inscription's metadata. None: there is
/// none (no metadata, metadata that is not a map, or a map without goat's
/// key: other protocols' metadata is left alone). Some(Err): goat's key is
/// there but malformed, in words.
pub fn read_metadata(metadata: &[u8]) -> Option<Result<Carried, String>> {
    // ciborium caps nesting itself (recursion limit).
    if metadata.len() > MAX_METADATA {
        return None;
    }
    let v: Value = ciborium::from_reader(metadata).ok()?;
    let Value::Map(top) = v else { return None };
    let (_, inner) = top.into_iter().find(|(k, _)| matches!(k, Value::Text(t) if t == METADATA_KEY))?;
    Some(carried(inner))
}

fn carried(inner: Value) -> Result<Carried, String> {
    let Value::Map(fields) = inner else {
        return Err(format!("{METADATA_KEY} is not a map"));
    };
    let get = |name: &str| {
        let mut hits = fields.iter().filter(|(k, _)| matches!(k, Value::Text(t) if t == name));
        match (hits.next(), hits.next()) {
            (Some((_, v)), None) => Ok(v),
            (None, _) => Err(format!("{METADATA_KEY} has no {name}")),
            (Some(_), Some(_)) => Err(format!("{METADATA_KEY} has {name} twice")),
        }
    };
    let text = |name: &str, max: usize| -> Result<String, String> {
        match get(name)? {
            Value::Text(s) if s.len() <= max => Ok(s.clone()),
            Value::Text(_) => Err(format!("{METADATA_KEY}'s {name} is longer than {max} bytes")),
            _ => Err(format!("{METADATA_KEY}'s {name} is not text")),
        }
    };
    let int = |name: &str| -> Result<u64, String> {
        match get(name)? {
            Value::Integer(i) => {
                u64::try_from(i128::from(*i)).map_err(|_| format!("{METADATA_KEY}'s {name} is out of range"))
            }
            _ => Err(format!("{METADATA_KEY}'s {name} is not an integer")),
        }
    };
    let network = parse_network(&text("network", 16)?).map_err(|e| e.message)?;
    let after = u32::try_from(int("after")?).map_err(|_| format!("{METADATA_KEY}'s after is not a block height"))?;
    Ok(Carried {
        claim: Claim { network, address: text("address", 128)?, sequence: int("sequence")?, after },
        signature: text("signature", MAX_SIGNATURE)?,
    })
}

/// Check a carried signature against the holder and the goatfile's bytes.
/// Err: why it does not count, in words (for `goat ls` and messages).
pub fn verify(c: &Carried, holder: &HolderAddress, goatfile: &[u8]) -> Result<Signed, String> {
    if c.claim.network != holder.network {
        return Err(format!("signed for {}, not {}", network_name(c.claim.network), network_name(holder.network)));
    }
    let signer: Address = c
        .claim
        .address
        .parse::<Address<_>>()
        .ok()
        .and_then(|a| a.require_network(holder.network).ok())
        .ok_or_else(|| "signed for an address that does not parse".to_string())?;
    if signer.script_pubkey() != holder.script_pubkey() {
        return Err(format!("signed by another address ({})", crate::text::line(&c.claim.address)));
    }
    if !signable(&holder.script_pubkey()) {
        return Err("this address type takes any witness (a future segwit version, or pay-to-anchor), so anyone could sign for it".into());
    }
    let sha = crate::hash::sha256(goatfile);
    let message = c.claim.message(&sha);
    let form = check(&holder.address, &message, &c.signature)?;
    Ok(Signed { sequence: c.claim.sequence, after: c.claim.after, sha256: sha, form })
}

/// Only a key or a script can sign for the address: not a segwit version
/// consensus does not interpret yet (v2-16, a v1 program that is not 32
/// bytes, pay-to-anchor), which any witness spends.
fn signable(spk: &ScriptBuf) -> bool {
    match spk.witness_version() {
        Some(bitcoin::WitnessVersion::V0) => true,
        Some(bitcoin::WitnessVersion::V1) => spk.is_p2tr(),
        Some(_) => false,
        None => true,
    }
}

/// Check `signature` (any of the three forms) on `message` by `address`.
pub fn check(address: &Address, message: &str, signature: &str) -> Result<&'static str, String> {
    let sig = signature.trim();
    let (body, prefixed) = match sig.get(..3) {
        Some("smp") => (&sig[3..], Some("smp")),
        Some("ful") => (&sig[3..], Some("ful")),
        _ => (sig, None),
    };
    let bytes = BASE64.decode(body.as_bytes()).map_err(|_| "the signature is not base64".to_string())?;
    if prefixed.is_none() && bytes.len() == 65 && (27..=42).contains(&bytes[0]) {
        return bip137(address, message, &bytes).map(|_| "bip137");
    }
    let to_spend = bip322::create_to_spend(address, message).map_err(|e| format!("BIP 322: {e}"))?;
    // A full signature is the whole `to_sign` transaction; a simple one its
    // first input's witness. Try the form the bytes decode as.
    let full = match prefixed {
        Some("smp") => None,
        _ => bitcoin::consensus::deserialize::<Transaction>(&bytes).ok().filter(|t| !t.input.is_empty()),
    };
    let (to_sign, form) = match full {
        Some(t) => (t, "bip322-full"),
        None => {
            let witness = Witness::consensus_decode_from_finite_reader(&mut bytes.as_slice())
                .map_err(|_| "the signature is not a BIP 322 witness".to_string())?;
            let t = bip322::create_to_sign(&to_spend, Some(witness), bip322::LockParams::default())
                .map_err(|e| format!("BIP 322: {e}"))?
                .extract_tx()
                .map_err(|e| format!("BIP 322: {e}"))?;
            (t, "bip322-simple")
        }
    };
    // A goatfile signature is good now: no lock time, and no relative lock
    // (sequence 0, or the disable flag set, as wallets that rewrite it
    // do). BIP 322 lets a full signature say "valid at time T and age S",
    // which would let a timelocked key (an heir's, a recovery service's)
    // sign for the address today.
    let unlocked = to_sign.lock_time.to_consensus_u32() == 0
        && to_sign.input.iter().all(|i| i.sequence.0 == 0 || i.sequence.0 & (1 << 31) != 0);
    if !unlocked {
        return Err("the signature carries a lock time or a relative lock: sign with none".into());
    }
    let why = match bip322::verify_full(address, message, to_sign.clone()) {
        Ok(bip322::Verification::Valid { .. }) => return Ok(form),
        Ok(bip322::Verification::Inconclusive) => "a script the bip322 crate does not read".to_string(),
        Err(e) => crate::text::line(&e.to_string()),
    };
    // BIP 322 validity is consensus validity: a script the crate does not
    // read, or reads only in its common shapes (it takes P2WSH for
    // multisig and P2TR for key paths only), goes to Bitcoin Core's
    // interpreter over the same BIP 322 transactions, whose shape is
    // checked here.
    let shaped = matches!(to_sign.version.0, 0 | 2)
        && to_sign.input.len() == 1
        && to_sign.input[0].previous_output == bitcoin::OutPoint { txid: to_spend.compute_txid(), vout: 0 }
        && to_sign.output.len() == 1
        && to_sign.output[0].value == bitcoin::Amount::ZERO
        && to_sign.output[0].script_pubkey.as_bytes() == [bitcoin::opcodes::all::OP_RETURN.to_u8()];
    let prevout = TxOut { value: bitcoin::Amount::ZERO, script_pubkey: to_spend.output[0].script_pubkey.clone() };
    if shaped && crate::consensus::verify_scripts(&to_sign, &[prevout]).is_ok() {
        Ok(form)
    } else {
        Err(format!("the signature is invalid ({why})"))
    }
}

/// BIP 137 (the "Bitcoin Signed Message" form of Bitcoin Core, Electrum,
/// Sparrow, hardware wallets): recover the public key from the compact
/// signature and require that it pays to `address`. Hand-written because
/// `bitcoin::sign_message` knows only the P2PKH header bytes (27-34), and
/// wallets mark P2SH-P2WPKH (35-38) and P2WPKH (39-42) keys with their own;
/// Electrum uses 31-34 for every compressed key, so any header is tried
/// against every single-key script type its compression allows.
fn bip137(address: &Address, message: &str, sig: &[u8]) -> Result<(), String> {
    use bitcoin::secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let header = sig[0];
    let compressed = header >= 31;
    let recid = RecoveryId::from_i32(i32::from((header - 27) % 4)).map_err(|_| "bad BIP 137 header".to_string())?;
    let rs = RecoverableSignature::from_compact(&sig[1..], recid)
        .map_err(|_| "the signature does not decode".to_string())?;
    let digest = bitcoin::sign_message::signed_msg_hash(message);
    let msg = bitcoin::secp256k1::Message::from_digest(digest.to_byte_array());
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let key = secp.recover_ecdsa(&msg, &rs).map_err(|_| "the signature is invalid".to_string())?;
    let pk = bitcoin::PublicKey { compressed, inner: key };
    let spk = address.script_pubkey();
    let mut candidates = vec![ScriptBuf::new_p2pkh(&pk.pubkey_hash())];
    if let Ok(wpkh) = pk.wpubkey_hash() {
        let p2wpkh = ScriptBuf::new_p2wpkh(&wpkh);
        candidates.push(ScriptBuf::new_p2sh(&p2wpkh.script_hash()));
        candidates.push(p2wpkh);
    }
    if matches!(
        address.to_address_data(),
        AddressData::Segwit { .. } | AddressData::P2pkh { .. } | AddressData::P2sh { .. }
    ) && candidates.contains(&spk)
    {
        Ok(())
    } else {
        Err("the signature is by another key".into())
    }
}

/// Sign a claim over a goatfile with private keys (one for a single-key
/// address, the signing keys of a P2WSH multisig with its witness script):
/// BIP 322 simple, or BIP 137 for a P2PKH address (BIP 322 simple cannot
/// carry a script signature).
pub fn sign(
    claim: &Claim,
    goatfile: &[u8],
    address: &Address,
    keys: &[bitcoin::PrivateKey],
    witness_script: Option<&ScriptBuf>,
) -> Result<Carried, String> {
    let message = claim.message(&crate::hash::sha256(goatfile));
    let signature = if matches!(address.to_address_data(), AddressData::P2pkh { .. }) {
        let key = keys.first().ok_or("no key")?;
        BASE64.encode(&bip322::sign_legacy(address, &message, key).map_err(|e| e.to_string())?.serialize())
    } else {
        let w = bip322::sign_simple(address, &message, keys, witness_script).map_err(|e| e.to_string())?;
        BASE64.encode(&bitcoin::consensus::serialize(&w))
    };
    Ok(Carried { claim: claim.clone(), signature })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn holder(a: &str) -> Address {
        Address::from_str(a).unwrap().assume_checked()
    }

    /// BIP 322's own test vectors (bip-0322.mediawiki): signatures made by
    /// other implementations, checked by goat's `check`.
    #[test]
    fn bip322_test_vectors() {
        let p2wpkh = holder("bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l");
        assert_eq!(
            check(&p2wpkh, "", "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z46TSDtS40ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI="),
            Ok("bip322-simple")
        );
        assert_eq!(
            check(&p2wpkh, "Hello World", "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI="),
            Ok("bip322-simple")
        );
        // the same signature on another message
        assert!(check(&p2wpkh, "Hello World!", "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=").is_err());
        let p2tr = holder("bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3");
        assert_eq!(
            check(
                &p2tr,
                "Hello World",
                "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ=="
            ),
            Ok("bip322-simple")
        );
        // the taproot signature does not sign for the P2WPKH address
        assert!(check(
            &p2wpkh,
            "Hello World",
            "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ=="
        )
        .is_err());
    }

    #[test]
    fn sign_and_verify_every_address_type() {
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let k1 = bitcoin::PrivateKey::from_wif("L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k").unwrap();
        let k2 = bitcoin::PrivateKey::from_wif("KwTbAxmBXjoZM3bzbXixEr9nxLhyYSM4vp2swet58i19bw9sqk5z").unwrap();
        let pk1 = k1.public_key(&secp);
        let pk2 = k2.public_key(&secp);
        let ms = bitcoin::blockdata::script::Builder::new()
            .push_int(2)
            .push_key(&pk1)
            .push_key(&pk2)
            .push_int(2)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        let n = Network::Bitcoin;
        let cases: Vec<(Address, Vec<bitcoin::PrivateKey>, Option<ScriptBuf>)> = vec![
            (Address::p2tr(&secp, pk1.inner.x_only_public_key().0, None, n), vec![k1], None),
            (Address::p2wpkh(&bitcoin::CompressedPublicKey(pk1.inner), n), vec![k1], None),
            (Address::p2shwpkh(&bitcoin::CompressedPublicKey(pk1.inner), n), vec![k1], None),
            (Address::p2pkh(pk1, n), vec![k1], None),
            (Address::p2wsh(&ms, n), vec![k1, k2], Some(ms.clone())),
        ];
        let body = b"goat: 1\n";
        for (addr, keys, ws) in cases {
            let claim = Claim { network: n, address: addr.to_string(), sequence: 7, after: 900_000 };
            let c = sign(&claim, body, &addr, &keys, ws.as_ref()).unwrap();
            let h = HolderAddress { address: addr.clone(), network: n };
            let back = read_metadata(&encode_metadata(&c)).unwrap().unwrap();
            assert_eq!(back, c);
            let s = verify(&back, &h, body).unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!((s.sequence, s.after), (7, 900_000));
            // another goatfile, sequence or network does not verify
            assert!(verify(&back, &h, b"goat: 1\n#").is_err(), "{addr}");
            let mut higher = back.clone();
            higher.claim.sequence = 8;
            assert!(verify(&higher, &h, body).is_err(), "{addr}");
            let testnet = HolderAddress { address: addr.clone(), network: Network::Testnet };
            assert!(verify(&back, &testnet, body).is_err(), "{addr}");
        }
    }

    /// What Electrum and Sparrow make for a P2WPKH address: a BIP 137
    /// signature with the P2PKH-style header (31-34), and Trezor's segwit
    /// header (39-42).
    #[test]
    fn bip137_signatures_for_segwit_keys() {
        use bitcoin::secp256k1::{Message, Secp256k1};
        let secp = Secp256k1::new();
        let k = bitcoin::PrivateKey::from_wif("L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k").unwrap();
        let addr = Address::p2wpkh(&bitcoin::CompressedPublicKey(k.public_key(&secp).inner), Network::Bitcoin);
        let digest = bitcoin::sign_message::signed_msg_hash("hello");
        let rs = secp.sign_ecdsa_recoverable(&Message::from_digest(digest.to_byte_array()), &k.inner);
        let (id, compact) = rs.serialize_compact();
        for base in [31u8, 39] {
            let mut sig = vec![base + id.to_i32() as u8];
            sig.extend_from_slice(&compact);
            assert_eq!(check(&addr, "hello", &BASE64.encode(&sig)), Ok("bip137"));
            assert!(check(&addr, "hello!", &BASE64.encode(&sig)).is_err());
        }
        // an uncompressed header (27-30) names a key no segwit address has
        let mut sig = vec![27 + id.to_i32() as u8];
        sig.extend_from_slice(&compact);
        assert!(check(&addr, "hello", &BASE64.encode(&sig)).is_err());
    }

    /// A P2WSH script the `bip322` crate does not interpret (not a plain
    /// multisig): Bitcoin Core's interpreter decides.
    #[test]
    fn scripts_the_crate_cannot_read_go_to_core() {
        use bitcoin::secp256k1::{Message, Secp256k1};
        use bitcoin::sighash::{EcdsaSighashType, SighashCache};
        let secp = Secp256k1::new();
        let k = bitcoin::PrivateKey::from_wif("L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k").unwrap();
        let script = bitcoin::blockdata::script::Builder::new()
            .push_key(&k.public_key(&secp))
            .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
            .into_script();
        let addr = Address::p2wsh(&script, Network::Bitcoin);
        let witness_for = |message: &str| {
            let to_spend = bip322::create_to_spend(&addr, message).unwrap();
            let to_sign = bip322::create_to_sign(&to_spend, None, bip322::LockParams::default()).unwrap().unsigned_tx;
            let h = SighashCache::new(&to_sign)
                .p2wsh_signature_hash(0, &script, bitcoin::Amount::ZERO, EcdsaSighashType::All)
                .unwrap();
            let sig = secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &k.inner);
            let sig = bitcoin::ecdsa::Signature { signature: sig, sighash_type: EcdsaSighashType::All };
            let w = Witness::from_slice(&[sig.to_vec(), script.to_bytes()]);
            BASE64.encode(&bitcoin::consensus::serialize(&w))
        };
        assert_eq!(check(&addr, "hello", &witness_for("hello")), Ok("bip322-simple"));
        let err = check(&addr, "hello", &witness_for("other")).unwrap_err();
        assert!(err.contains("invalid"), "{err}");
    }

    /// A full signature may carry a lock time and sequences ("valid at
    /// time T and age S"); Core's interpreter then passes a timelocked
    /// branch. An heir's key (`IF A ELSE 52560 CSV B`) or a delayed taproot
    /// leaf must not sign a goatfile today: refused, in words.
    #[test]
    fn timelocked_keys_cannot_sign_now() {
        use bitcoin::blockdata::script::Builder;
        use bitcoin::opcodes::all::*;
        use bitcoin::secp256k1::{Message, Secp256k1};
        use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
        use bitcoin::taproot::{LeafVersion, TaprootBuilder};
        let secp = Secp256k1::new();
        let a = bitcoin::PrivateKey::from_wif("L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k").unwrap();
        let b = bitcoin::PrivateKey::from_wif("KwTbAxmBXjoZM3bzbXixEr9nxLhyYSM4vp2swet58i19bw9sqk5z").unwrap();
        let to_sign = |address: &Address, version: i32, sequence: u32| {
            let to_spend = bip322::create_to_spend(address, "m").unwrap();
            let mut tx = bip322::create_to_sign(&to_spend, None, bip322::LockParams::default()).unwrap().unsigned_tx;
            tx.version = bitcoin::transaction::Version(version);
            tx.input[0].sequence = bitcoin::Sequence(sequence);
            (tx, TxOut { value: bitcoin::Amount::ZERO, script_pubkey: to_spend.output[0].script_pubkey.clone() })
        };
        // P2WSH: the heir's branch
        let ws = Builder::new()
            .push_opcode(OP_IF)
            .push_key(&a.public_key(&secp))
            .push_opcode(OP_CHECKSIG)
            .push_opcode(OP_ELSE)
            .push_int(52560)
            .push_opcode(OP_CSV)
            .push_opcode(OP_DROP)
            .push_key(&b.public_key(&secp))
            .push_opcode(OP_CHECKSIG)
            .push_opcode(OP_ENDIF)
            .into_script();
        let addr = Address::p2wsh(&ws, Network::Bitcoin);
        for version in [2, 3] {
            let (mut tx, prevout) = to_sign(&addr, version, 52560);
            let h = SighashCache::new(&tx).p2wsh_signature_hash(0, &ws, prevout.value, EcdsaSighashType::All).unwrap();
            let sig = secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &b.inner);
            let sig = bitcoin::ecdsa::Signature { signature: sig, sighash_type: EcdsaSighashType::All };
            tx.input[0].witness = Witness::from_slice(&[sig.to_vec(), vec![], ws.to_bytes()]);
            let text = format!("ful{}", BASE64.encode(&bitcoin::consensus::serialize(&tx)));
            assert!(check(&addr, "m", &text).is_err(), "heir, version {version}");
        }
        // P2TR: a leaf that waits 1000 blocks
        let kb = bitcoin::secp256k1::Keypair::from_secret_key(&secp, &b.inner);
        let leaf = Builder::new()
            .push_int(1000)
            .push_opcode(OP_CSV)
            .push_opcode(OP_DROP)
            .push_x_only_key(&kb.x_only_public_key().0)
            .push_opcode(OP_CHECKSIG)
            .into_script();
        let info = TaprootBuilder::new()
            .add_leaf(0, leaf.clone())
            .unwrap()
            .finalize(&secp, a.public_key(&secp).inner.x_only_public_key().0)
            .unwrap();
        let addr = Address::p2tr_tweaked(info.output_key(), Network::Bitcoin);
        for version in [1, 2, 3] {
            let (mut tx, prevout) = to_sign(&addr, version, 1000);
            let lh = bitcoin::TapLeafHash::from_script(&leaf, LeafVersion::TapScript);
            let h = SighashCache::new(&tx)
                .taproot_script_spend_signature_hash(0, &Prevouts::All(&[prevout]), lh, TapSighashType::Default)
                .unwrap();
            let sig = secp.sign_schnorr_no_aux_rand(&Message::from_digest(h.to_byte_array()), &kb);
            let cb = info.control_block(&(leaf.clone(), LeafVersion::TapScript)).unwrap();
            tx.input[0].witness = Witness::from_slice(&[sig.as_ref().to_vec(), leaf.to_bytes(), cb.serialize()]);
            let text = format!("ful{}", BASE64.encode(&bitcoin::consensus::serialize(&tx)));
            let err = check(&addr, "m", &text).unwrap_err();
            assert!(err.contains("lock"), "leaf, version {version}: {err}");
        }
    }

    /// A segwit version consensus does not interpret takes any witness:
    /// anyone could "sign" for such an address.
    #[test]
    fn addresses_any_witness_spends_cannot_sign() {
        let program = bitcoin::WitnessProgram::new(bitcoin::WitnessVersion::V2, &[7u8; 32]).unwrap();
        let v2 = Address::from_witness_program(program, bitcoin::KnownHrp::Mainnet);
        let anchor =
            Address::from_script(&ScriptBuf::from_bytes(vec![0x51, 0x02, 0x4e, 0x73]), Network::Bitcoin).unwrap();
        for addr in [v2, anchor] {
            let claim = Claim { network: Network::Bitcoin, address: addr.to_string(), sequence: 1, after: 1 };
            let c = Carried { claim, signature: BASE64.encode(&bitcoin::consensus::serialize(&Witness::new())) };
            let h = HolderAddress { address: addr.clone(), network: Network::Bitcoin };
            let err = verify(&c, &h, b"x").unwrap_err();
            assert!(err.contains("anyone could sign"), "{addr}: {err}");
        }
    }

    #[test]
    fn large_metadata_is_not_decoded() {
        let mut m = vec![0xbau8];
        m.extend_from_slice(&1_000_000u32.to_be_bytes());
        m.extend(std::iter::repeat_n(0u8, 2_000_000));
        assert!(read_metadata(&m).is_none());
    }

    #[test]
    fn hostile_metadata_is_refused_in_words() {
        let t = |s: &str| Value::Text(s.into());
        let enc = |v: Value| {
            let mut o = Vec::new();
            ciborium::into_writer(&v, &mut o).unwrap();
            o
        };
        assert!(read_metadata(b"\xff\x00garbage").is_none());
        assert!(read_metadata(&enc(Value::Array(vec![]))).is_none());
        assert!(read_metadata(&enc(Value::Map(vec![(t("title"), t("x"))]))).is_none());
        let bad = read_metadata(&enc(Value::Map(vec![(t(METADATA_KEY), t("x"))]))).unwrap();
        assert!(bad.unwrap_err().contains("not a map"));
        let neg = Value::Map(vec![(
            t(METADATA_KEY),
            Value::Map(vec![
                (t("network"), t("bitcoin")),
                (t("address"), t("x")),
                (t("sequence"), Value::Integer((-1).into())),
                (t("after"), Value::Integer(1.into())),
                (t("signature"), t("x")),
            ]),
        )]);
        assert!(read_metadata(&enc(neg)).unwrap().unwrap_err().contains("out of range"));
        // deep nesting does not overflow the stack
        let mut deep = vec![0x81u8; 100_000];
        deep.push(0x00);
        assert!(read_metadata(&deep).is_none());
    }
}

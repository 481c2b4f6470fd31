//! `goat publish`: the commit and reveal transactions that inscribe a
//! goatfile, built as ord builds them, plus the one thing ord does not do:
//! the reveal also spends one of the holder's own outputs, signed over all
//! inputs, so the goatfile carries the `reveal-input` endorsement
//! (docs/trust.md) that nobody but the key holder can produce.
//!
//! Shape of what goes on chain:
//! - commit: the holder's coins → [P2TR(one-time key, leaf = `<key>
//!   OP_CHECKSIG` + envelope) worth postage + the reveal's fee, change to
//!   the holder];
//! - reveal: [commit:0 by the leaf, commit:1 by the holder's key path] →
//!   [postage to the holder (the inscription), the change to the holder].
//!
//! Signing is kept apart from building: a `Plan` is unsigned; `sign.rs`
//! signs it with a key file, or writes PSBTs for any wallet and finishes
//! them (`psbt.rs`). Nothing is broadcast before Bitcoin Core's script
//! interpreter (`crate::consensus`) has passed every input.

pub mod endorse;
pub mod psbt;
pub mod request;
pub mod sign;

use crate::error::{Error, Result};
use crate::inscription::envelope::{reveal_script, Envelope};
use bitcoin::secp256k1::{Secp256k1, Verification};
use bitcoin::taproot::{ControlBlock, LeafVersion, TaprootBuilder, TaprootSpendInfo};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness, XOnlyPublicKey};

pub use crate::consensus::unsigned;
pub use crate::inscription::POSTAGE;
/// The smallest P2TR output Bitcoin Core relays (dust at 3 sat/vB).
pub const DUST: u64 = 330;
/// Largest standard transaction weight.
pub const MAX_STANDARD_WEIGHT: u64 = 400_000;
/// Content type of a goatfile inscription.
pub const CONTENT_TYPE: &str = "text/yaml";
/// Largest body of one part of an on-chain file: with the envelope's push
/// overhead (3 bytes per 520) and the rest of the reveal, it stays under
/// the 400 000 WU standard weight.
pub const PART_MAX: usize = 390_000;
/// Most inscriptions one publish chains. Each adds two unconfirmed
/// transactions, each spending the one before, and Bitcoin Core relays at
/// most 25 unconfirmed ancestors.
pub const MAX_CHAINED: usize = 12;

/// The content type for an on-chain file, from its extension.
pub fn content_type_for(name: &str) -> &'static str {
    match name.rsplit('.').next().map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain;charset=utf-8",
        Some("yaml" | "yml") => "text/yaml",
        Some("html") => "text/html;charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A coin of the holder's, with its output as the transaction's own bytes
/// say (not as a server's JSON says).
#[derive(Debug, Clone)]
pub struct Coin {
    pub outpoint: OutPoint,
    pub txout: TxOut,
}

/// The body as it goes into the envelope: Brotli-compressed when that is
/// smaller (the `br` content encoding ord serves), else as it is.
pub fn encode_body(body: &[u8]) -> (Vec<u8>, Option<&'static str>) {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
    if brotli::BrotliCompress(&mut &body[..], &mut out, &params).is_ok() && out.len() < body.len() {
        (out, Some("br"))
    } else {
        (body.to_vec(), None)
    }
}

/// What to inscribe and how to pay for it.
#[derive(Clone)]
pub struct Request<'a> {
    /// The holder's output script (change and the inscription go back here).
    pub holder: ScriptBuf,
    /// The holder's spendable coins, in the order to prefer them.
    pub coins: Vec<Coin>,
    /// What to inscribe, in order (`i0`, `i1`, …, all in the reveal's one
    /// input): a file (content type, encoding, body), with the holder's
    /// signature as metadata for a goatfile, or a delegate; after a
    /// goatfile, its torrents' metadata (`--onchain-metadata`).
    pub envelopes: &'a [Envelope],
    /// sat/vB.
    pub fee_rate: f64,
    /// The one-time key that signs the reveal's leaf.
    pub reveal_key: XOnlyPublicKey,
}

/// Both transactions, unsigned, with everything needed to sign them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub commit: Transaction,
    pub commit_prevouts: Vec<TxOut>,
    pub reveal: Transaction,
    pub reveal_prevouts: Vec<TxOut>,
    /// The leaf script with the envelope, and its control block.
    pub script: ScriptBuf,
    pub control_block: ControlBlock,
    pub reveal_key: XOnlyPublicKey,
    pub commit_fee: u64,
    pub reveal_fee: u64,
}

impl Plan {
    pub fn fee(&self) -> u64 {
        self.commit_fee + self.reveal_fee
    }

    /// The coins for the next inscription of a chain: this reveal's change
    /// first, then those of `coins` this plan did not spend.
    pub fn next_coins(&self, coins: &[Coin]) -> Vec<Coin> {
        let spent: Vec<OutPoint> = self.commit.input.iter().map(|i| i.previous_output).collect();
        let change = Coin {
            outpoint: OutPoint { txid: self.reveal.compute_txid(), vout: 1 },
            txout: self.reveal.output[1].clone(),
        };
        std::iter::once(change).chain(coins.iter().filter(|c| !spent.contains(&c.outpoint)).cloned()).collect()
    }

    /// The inscription's id once the reveal is mined.
    pub fn inscription_id(&self) -> crate::inscription::InscriptionId {
        crate::inscription::InscriptionId { txid: self.reveal.compute_txid(), index: 0 }
    }
}

/// Virtual size of `tx` once signed: each key-path input gets a 64-byte
/// Schnorr signature (SIGHASH_DEFAULT); a script-path input gets its
/// signature, script and control block.
fn signed_vsize(mut tx: Transaction, script_path: Option<(&ScriptBuf, &ControlBlock)>) -> u64 {
    for (i, input) in tx.input.iter_mut().enumerate() {
        let mut w = Witness::new();
        w.push([0u8; 64]);
        if let (0, Some((script, cb))) = (i, script_path) {
            w.push(script.as_bytes());
            w.push(cb.serialize());
        }
        input.witness = w;
    }
    tx.vsize() as u64
}

fn fee_for(vsize: u64, rate: f64) -> u64 {
    (vsize as f64 * rate).ceil() as u64
}

/// Build the commit and reveal for `req`.
pub fn plan<C: Verification>(secp: &Secp256k1<C>, req: &Request<'_>) -> Result<Plan> {
    if !(req.fee_rate.is_finite() && req.fee_rate >= 1.0) {
        return Err(Error::usage(format!("fee rate {} sat/vB is below the 1 sat/vB nodes relay", req.fee_rate)));
    }
    let script = reveal_script(&req.reveal_key, req.envelopes);
    let info: TaprootSpendInfo = TaprootBuilder::new()
        .add_leaf(0, script.clone())
        .map_err(|e| Error::internal(format!("taproot leaf: {e}")))?
        .finalize(secp, req.reveal_key)
        .map_err(|_| Error::internal("taproot tree"))?;
    let control_block = info
        .control_block(&(script.clone(), LeafVersion::TapScript))
        .ok_or_else(|| Error::internal("no control block for the envelope leaf"))?;
    let commit_spk = ScriptBuf::new_p2tr_tweaked(info.output_key());

    // The reveal's size does not depend on the amounts.
    let placeholder = OutPoint::null();
    let reveal_shape = unsigned(
        &[placeholder, placeholder],
        vec![
            TxOut { value: Amount::from_sat(POSTAGE), script_pubkey: req.holder.clone() },
            TxOut { value: Amount::from_sat(DUST), script_pubkey: req.holder.clone() },
        ],
    );
    let reveal_weight = {
        let mut t = reveal_shape.clone();
        t.input[0].witness = {
            let mut w = Witness::new();
            w.push([0u8; 64]);
            w.push(script.as_bytes());
            w.push(control_block.serialize());
            w
        };
        t.input[1].witness = Witness::from_slice(&[[0u8; 64]]);
        t.weight().to_wu()
    };
    if reveal_weight > MAX_STANDARD_WEIGHT {
        return Err(Error::usage(format!(
            "the reveal would weigh {reveal_weight} WU, above the {MAX_STANDARD_WEIGHT} WU nodes relay: make the goatfile smaller"
        )));
    }
    let reveal_fee = fee_for(signed_vsize(reveal_shape, Some((&script, &control_block))), req.fee_rate);
    let commit_value = POSTAGE + reveal_fee;

    // Coins in the given order until the change is above dust.
    let mut picked: Vec<&Coin> = Vec::new();
    let mut have = 0u64;
    for coin in &req.coins {
        picked.push(coin);
        have += coin.txout.value.to_sat();
        let outs = vec![
            TxOut { value: Amount::from_sat(commit_value), script_pubkey: commit_spk.clone() },
            TxOut { value: Amount::from_sat(DUST), script_pubkey: req.holder.clone() },
        ];
        let points: Vec<OutPoint> = picked.iter().map(|c| c.outpoint).collect();
        let commit_fee = fee_for(signed_vsize(unsigned(&points, outs.clone()), None), req.fee_rate);
        let Some(change) = have.checked_sub(commit_value + commit_fee).filter(|c| *c >= DUST) else { continue };
        let mut outs = outs;
        outs[1].value = Amount::from_sat(change);
        let commit = unsigned(&points, outs);
        let commit_txid = commit.compute_txid();
        let reveal = unsigned(
            &[OutPoint { txid: commit_txid, vout: 0 }, OutPoint { txid: commit_txid, vout: 1 }],
            vec![
                TxOut { value: Amount::from_sat(POSTAGE), script_pubkey: req.holder.clone() },
                TxOut { value: Amount::from_sat(change), script_pubkey: req.holder.clone() },
            ],
        );
        return Ok(Plan {
            commit_prevouts: picked.iter().map(|c| c.txout.clone()).collect(),
            reveal_prevouts: commit.output.clone(),
            commit,
            reveal,
            script,
            control_block,
            reveal_key: req.reveal_key,
            commit_fee,
            reveal_fee,
        });
    }
    let need = commit_value + DUST;
    Err(Error::usage(format!(
        "the holder's spendable coins hold {have} sats, too little for this inscription (about {need} sats plus the commit's fee at {} sat/vB): send more to the address and run again",
        req.fee_rate
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::key::Keypair;

    #[test]
    fn a_plan_spends_what_it_says_and_pays_its_fee_rate() {
        let secp = Secp256k1::new();
        let holder = Keypair::from_seckey_slice(&secp, &[3u8; 32]).unwrap();
        let (hx, _) = holder.x_only_public_key();
        let spk = ScriptBuf::new_p2tr(&secp, hx, None);
        let one_time = Keypair::from_seckey_slice(&secp, &[4u8; 32]).unwrap().x_only_public_key().0;
        let coin = |n: u8, sats: u64| Coin {
            outpoint: OutPoint {
                txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::from_byte_array([n; 32])),
                vout: 1,
            },
            txout: TxOut { value: Amount::from_sat(sats), script_pubkey: spk.clone() },
        };
        let body = vec![b'a'; 3000];
        let envelope = Envelope::file(CONTENT_TYPE, None, &body);
        let req = Request {
            holder: spk.clone(),
            coins: vec![coin(1, 8_000), coin(2, 50_000)],
            envelopes: std::slice::from_ref(&envelope),
            fee_rate: 5.0,
            reveal_key: one_time,
        };
        let p = plan(&secp, &req).unwrap();
        assert_eq!(p.commit.input.len(), 2, "8000 sats alone cannot pay postage and fees");
        let inp: u64 = p.commit_prevouts.iter().map(|o| o.value.to_sat()).sum();
        let out: u64 = p.commit.output.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(inp - out, p.commit_fee);
        let rin: u64 = p.reveal_prevouts.iter().map(|o| o.value.to_sat()).sum();
        let rout: u64 = p.reveal.output.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(rin - rout, p.reveal_fee);
        assert!(p.reveal_fee as f64 >= 5.0 * 3000.0 / 4.0, "the envelope's witness bytes are paid for");
        let short = Request { coins: vec![coin(1, 8_000)], ..req };
        assert_eq!(plan(&secp, &short).unwrap_err().kind, crate::error::Kind::Usage);
    }

    #[test]
    fn yaml_is_compressed_only_when_smaller() {
        let (b, e) = encode_body(&b"entries:\n  - name: x\n".repeat(40));
        assert_eq!(e, Some("br"));
        assert!(b.len() < 200);
        let (b, e) = encode_body(b"a: 1");
        assert_eq!((b.as_slice(), e), (&b"a: 1"[..], None));
    }
}

//! Signing with any wallet: BIP 174 PSBTs for the holder's inputs, and
//! finishing what the wallet signed.
//!
//! Two transactions need the holder's signature (the commit spends the
//! holder's coins; the reveal spends the commit's change, which is what
//! endorses the goatfile), so `goat publish --psbt FILE` writes two PSBTs:
//! FILE (the commit) and FILE with `.reveal` before the extension. The
//! plan, with the one-time reveal key, goes to a 0600 file beside them
//! (`Pending`); `--finalize` checks that each signed PSBT is the
//! transaction goat made (same inputs, same outputs, same spent amounts
//! and so the same fee), adds the reveal's leaf signature, runs both
//! through Bitcoin Core's interpreter and only then broadcasts.

use super::{sign, Plan};
use crate::error::{Error, Result};
use bitcoin::key::Keypair;
use bitcoin::psbt::{Input, Psbt};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::taproot::{ControlBlock, LeafVersion};
use bitcoin::{consensus, Amount, ScriptBuf, Transaction, TxOut, Witness, XOnlyPublicKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the reveal PSBT goes for `--psbt FILE`: `x.psbt` → `x.reveal.psbt`.
pub fn reveal_path(commit: &Path) -> PathBuf {
    let stem = commit.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = commit.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "psbt".into());
    commit.with_file_name(format!("{stem}.reveal.{ext}"))
}

/// Where the pending plan goes: beside the PSBTs, named by the commit txid
/// (found again from any signed copy of the commit, whatever its name).
pub fn pending_path(dir: &Path, plan_commit: &Transaction) -> PathBuf {
    dir.join(format!("goat-publish-{}.json", &plan_commit.compute_txid().to_string()[..16]))
}

/// The two PSBTs for a plan.
pub fn make(plan: &Plan) -> Result<(Psbt, Psbt)> {
    let to_err = |e: bitcoin::psbt::Error| Error::internal(format!("PSBT: {e}"));
    let mut commit = Psbt::from_unsigned_tx(plan.commit.clone()).map_err(to_err)?;
    for (i, o) in plan.commit_prevouts.iter().enumerate() {
        commit.inputs[i] = Input { witness_utxo: Some(o.clone()), ..Default::default() };
    }
    let mut reveal = Psbt::from_unsigned_tx(plan.reveal.clone()).map_err(to_err)?;
    // Input 0 is goat's (the one-time key's leaf): described fully, so a
    // wallet shows it and does not try to sign it.
    let mut scripts = BTreeMap::new();
    scripts.insert(plan.control_block.clone(), (plan.script.clone(), LeafVersion::TapScript));
    reveal.inputs[0] = Input {
        witness_utxo: Some(plan.reveal_prevouts[0].clone()),
        tap_internal_key: Some(plan.reveal_key),
        tap_scripts: scripts,
        ..Default::default()
    };
    reveal.inputs[1] = Input { witness_utxo: Some(plan.reveal_prevouts[1].clone()), ..Default::default() };
    Ok((commit, reveal))
}

/// A PSBT file as wallets save it: binary, or base64 text.
pub fn read(path: &Path) -> Result<Psbt> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let raw = if bytes.starts_with(b"psbt\xff") {
        bytes
    } else {
        let text: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        data_encoding::BASE64
            .decode(&text)
            .map_err(|_| Error::usage(format!("{} is not a PSBT (neither binary nor base64)", path.display())))?
    };
    Psbt::deserialize(&raw).map_err(|e| Error::usage(format!("{} is not a valid PSBT ({e})", path.display())))
}

/// The plan between `--psbt` and `--finalize`, with the one-time key.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub commit: String,
    pub reveal: String,
    /// (script hex, sats) per input.
    pub commit_prevouts: Vec<(String, u64)>,
    pub script: String,
    pub control_block: String,
    pub reveal_secret: String,
    pub commit_fee: u64,
    pub reveal_fee: u64,
    /// What `publish` needs afterwards (seeding), opaque here.
    pub context: serde_json::Value,
}

impl Pending {
    pub fn new(plan: &Plan, reveal_key: &Keypair, context: serde_json::Value) -> Pending {
        Pending {
            commit: consensus::encode::serialize_hex(&plan.commit),
            reveal: consensus::encode::serialize_hex(&plan.reveal),
            commit_prevouts: plan
                .commit_prevouts
                .iter()
                .map(|o| (hex::encode(o.script_pubkey.as_bytes()), o.value.to_sat()))
                .collect(),
            script: hex::encode(plan.script.as_bytes()),
            control_block: hex::encode(plan.control_block.serialize()),
            reveal_secret: hex::encode(reveal_key.secret_bytes()),
            commit_fee: plan.commit_fee,
            reveal_fee: plan.reveal_fee,
            context,
        }
    }

    /// Written 0600 (it holds the reveal key), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(e.to_string()))?;
        crate::atomic::write_atomic_mode(path, &json, 0o600)
    }

    pub fn load(path: &Path) -> Result<Pending> {
        sign::check_private(path, "publish plan")?;
        let b = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&b)
            .map_err(|e| Error::usage(format!("{} is not a goat publish plan ({e})", path.display())))
    }

    /// The plan and the one-time key back.
    pub fn plan(&self, secp: &Secp256k1<All>) -> Result<(Plan, Keypair)> {
        let bad = |what: &str| Error::usage(format!("the publish plan is damaged ({what})"));
        let tx =
            |h: &str| -> Result<Transaction> { consensus::encode::deserialize_hex(h).map_err(|_| bad("transaction")) };
        let commit = tx(&self.commit)?;
        let reveal = tx(&self.reveal)?;
        let commit_prevouts = self
            .commit_prevouts
            .iter()
            .map(|(s, v)| {
                Ok(TxOut {
                    script_pubkey: ScriptBuf::from_bytes(hex::decode(s).map_err(|_| bad("script"))?),
                    value: Amount::from_sat(*v),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let script = ScriptBuf::from_bytes(hex::decode(&self.script).map_err(|_| bad("script"))?);
        let control_block = ControlBlock::decode(&hex::decode(&self.control_block).map_err(|_| bad("control block"))?)
            .map_err(|_| bad("control block"))?;
        let secret = hex::decode(&self.reveal_secret).map_err(|_| bad("key"))?;
        let key = Keypair::from_seckey_slice(secp, &secret).map_err(|_| bad("key"))?;
        let reveal_key: XOnlyPublicKey = key.x_only_public_key().0;
        let plan = Plan {
            reveal_prevouts: commit.output.clone(),
            commit,
            commit_prevouts,
            reveal,
            script,
            control_block,
            reveal_key,
            commit_fee: self.commit_fee,
            reveal_fee: self.reveal_fee,
        };
        Ok((plan, key))
    }
}

/// The holder's witness for input `i` as the wallet left it: finalized, or
/// a key-path signature still to be put in place.
fn holder_witness(psbt: &Psbt, i: usize, which: &str) -> Result<Witness> {
    let inp = &psbt.inputs[i];
    if let Some(w) = &inp.final_script_witness {
        return Ok(w.clone());
    }
    if let Some(sig) = &inp.tap_key_sig {
        return Ok(Witness::p2tr_key_spend(sig));
    }
    Err(Error::usage(format!(
        "input {i} of the {which} PSBT is not signed: sign it with the holder's wallet, then run --finalize again"
    )))
}

/// Check `signed` is the transaction goat planned (`want`, spending
/// `prevouts`): same inputs, outputs, version, lock time and spent amounts.
fn same_transaction(signed: &Psbt, want: &Transaction, prevouts: &[TxOut], which: &str) -> Result<()> {
    let got = &signed.unsigned_tx;
    let refuse = |what: String| {
        Error::invalid(format!(
            "the signed {which} PSBT is not what goat made: {what}; refusing it, nothing was broadcast"
        ))
    };
    if got.output != want.output {
        let sum = |t: &Transaction| t.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
        return Err(refuse(format!(
            "its outputs were changed ({} outputs paying {} sats, goat made {} paying {})",
            got.output.len(),
            sum(got),
            want.output.len(),
            sum(want)
        )));
    }
    if got.version != want.version
        || got.lock_time != want.lock_time
        || got.input.iter().map(|i| i.sequence).ne(want.input.iter().map(|i| i.sequence))
    {
        return Err(refuse("its version, lock time or sequences were changed".into()));
    }
    for (i, (inp, want_prev)) in signed.inputs.iter().zip(prevouts).enumerate() {
        if let Some(u) = &inp.witness_utxo {
            if u != want_prev {
                let fee_then: u64 = prevouts.iter().map(|o| o.value.to_sat()).sum::<u64>()
                    - want.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
                return Err(refuse(format!(
                    "input {i}'s spent output was changed to {} sats (goat's fee was {fee_then} sats)",
                    u.value.to_sat()
                )));
            }
        }
    }
    Ok(())
}

/// Finish both transactions from the wallet's signed PSBTs.
pub fn finalize(
    secp: &Secp256k1<All>,
    plan: &Plan,
    reveal_key: &Keypair,
    signed: &[Psbt],
) -> Result<(Transaction, Transaction)> {
    let inputs = |t: &Transaction| t.input.iter().map(|i| i.previous_output).collect::<Vec<_>>();
    let (mut commit_psbt, mut reveal_psbt) = (None, None);
    for p in signed {
        let got = inputs(&p.unsigned_tx);
        if got == inputs(&plan.commit) {
            commit_psbt = Some(p);
        } else if got == inputs(&plan.reveal) {
            reveal_psbt = Some(p);
        } else {
            return Err(Error::invalid(
                "a PSBT given to --finalize spends other coins than this publish's commit or reveal: refusing it, nothing was broadcast",
            ));
        }
    }
    let (Some(c), Some(r)) = (commit_psbt, reveal_psbt) else {
        return Err(Error::usage("--finalize needs both signed PSBTs, the commit's and the reveal's"));
    };
    same_transaction(c, &plan.commit, &plan.commit_prevouts, "commit")?;
    same_transaction(r, &plan.reveal, &plan.reveal_prevouts, "reveal")?;
    let mut commit = plan.commit.clone();
    for i in 0..commit.input.len() {
        commit.input[i].witness = holder_witness(c, i, "commit")?;
    }
    let mut reveal = plan.reveal.clone();
    reveal.input[1].witness = holder_witness(r, 1, "reveal")?;
    sign::sign_reveal_leaf(secp, plan, &mut reveal, reveal_key)?;
    sign::check_signed(plan, &commit, &reveal)?;
    Ok((commit, reveal))
}

//! The holder's signature for a goatfile being published
//! (`trust::signature`): the claim (which sequence, signed after which
//! block), signing it with a key file, and reading a signature that any
//! other wallet made: BIP 322 text (`ord wallet sign`), BIP 137 text
//! (Electrum, Sparrow, Bitcoin Core's `signmessage`), or a BIP 322
//! `to_sign` PSBT that a wallet signed (`message_psbt`), kept as a BIP 322
//! full signature.

use crate::address::HolderAddress;
use crate::error::{Error, Kind, Result};
use crate::esplora::Esplora;
use crate::trust::signature::{self, Carried, Claim};
use crate::trust::Policy;
use bitcoin::psbt::Psbt;
use data_encoding::BASE64;
use std::path::Path;

/// The claim for a new goatfile of `holder`: `sequence` when given, else
/// the current Unix time in seconds, or one above the highest sequence of
/// the address's signed goatfiles (unconfirmed ones included) when that is
/// higher. The clock makes it grow without trusting the walk: a server
/// that hid the holder's newest goatfile from it would otherwise make the
/// holder reuse its sequence, and a copy of that goatfile inscribed later
/// would then win or tie. Signed after a height the chain has reached
/// (`Esplora::proven_tip`). A fixed `after` comes with a signature made
/// earlier (`--after`).
pub async fn claim(
    esplora: &Esplora,
    holder: &HolderAddress,
    sequence: Option<u64>,
    after: Option<u32>,
) -> Result<Claim> {
    let (tip, tip_time) = match after {
        Some(h) => (h, 0),
        None => esplora.proven_tip(holder.network).await?,
    };
    // The clock, but never behind the best block's time (a machine that
    // boots without a real-time clock).
    let clock = now().max(u64::from(tip_time)).max(1);
    let found = match crate::scan::find_goatfile(esplora, holder, Policy { include_mempool: true, ..Policy::default() })
        .await
    {
        Ok(c) => c.endorsement.and_then(|e| e.signed).map(|s| s.sequence),
        Err(e) if e.kind == Kind::NotFound => None,
        // The address's newest cannot be read (two goatfiles with one
        // sequence, one signed after a height it is not above, a server
        // caught): the clock is past any sequence goat chose before.
        Err(e) if e.kind == Kind::InvalidData && sequence.is_none() => {
            tracing::warn!(
                "the address's newest sequence cannot be read ({}); signing with the clock, {clock}",
                e.message
            );
            None
        }
        Err(e) if sequence.is_some() => {
            tracing::warn!(
                "the address's newest sequence cannot be read ({}); --sequence is taken as given",
                e.message
            );
            None
        }
        Err(e) => {
            return Err(Error::new(
                e.kind,
                format!("finding the holder's newest sequence: {} (or pass --sequence N above it)", e.message),
            ))
        }
    };
    let sequence = match (sequence, found) {
        (Some(n), Some(f)) if n <= f => {
            tracing::warn!("--sequence {n} is not above the address's newest signed goatfile (sequence {f}): this goatfile will not be the newest");
            n
        }
        (Some(n), _) => n,
        (None, Some(f)) => f
            .checked_add(1)
            .ok_or_else(|| Error::usage("the address's newest goatfile has the highest sequence there is"))?
            .max(clock),
        (None, None) => clock,
    };
    Ok(Claim { network: holder.network, address: holder.address.to_string(), sequence, after: tip })
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Sign with the holder's key file (its BIP 86 key-path address).
pub fn sign_with_key(
    claim: &Claim,
    goatfile: &[u8],
    key: &super::sign::HolderKey,
    network: bitcoin::Network,
) -> Result<Carried> {
    let private = bitcoin::PrivateKey::new(key.keypair.secret_key(), network);
    signature::sign(claim, goatfile, &key.address, &[private], None)
        .map_err(|e| Error::internal(format!("signing the goatfile: {e}")))
}

/// A signature made elsewhere (checked by `metadata` before anything is
/// inscribed with it): `value` is the signature text, or a file holding it
/// (text, ord's JSON with a `witness` field, or a signed PSBT).
pub fn from_wallet(claim: &Claim, value: &str) -> Result<Carried> {
    Ok(Carried { claim: claim.clone(), signature: read_signature(value)? })
}

/// The metadata to inscribe, read back and checked as `goat resolve` will
/// read it, before anything is built: a signature that would not count
/// (another goatfile, sequence or height, too big to carry) is refused.
pub fn metadata(carried: &Carried, holder: &HolderAddress, goatfile: &[u8]) -> Result<Vec<u8>> {
    let metadata = signature::encode_metadata(carried);
    let why = match signature::read_metadata(&metadata) {
        Some(Ok(back)) => match signature::verify(&back, holder, goatfile) {
            Ok(_) => return Ok(metadata),
            Err(why) => why,
        },
        Some(Err(why)) => why,
        None => "too big to inscribe as goatfile metadata".into(),
    };
    Err(Error::usage(format!(
        "the signature does not sign this goatfile for {} ({why}): sign the message `goat publish` printed, with the same --sequence and --after",
        holder.address
    )))
}

/// Largest signature file read (a signed PSBT of one input is a few KB).
const MAX_SIGNATURE_FILE: u64 = 1024 * 1024;

fn read_signature(value: &str) -> Result<String> {
    let path = Path::new(value);
    let bytes = if value.len() < 4096 && path.is_file() {
        let len = std::fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
        if len > MAX_SIGNATURE_FILE {
            return Err(Error::usage(format!(
                "{} is {len} bytes, too big to be a signature or a PSBT of one",
                path.display()
            )));
        }
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?
    } else {
        value.as_bytes().to_vec()
    };
    if bytes.starts_with(b"psbt\xff") {
        return from_psbt(&bytes);
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::usage("the signature is neither text nor a PSBT"))?;
    let text = text.trim();
    if text.starts_with("cHNidP") {
        let raw = BASE64.decode(text.as_bytes()).map_err(|_| Error::usage("the PSBT is not base64"))?;
        return from_psbt(&raw);
    }
    if text.starts_with('{') {
        // `ord wallet sign` prints {"address": …, "witness": base64}.
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::usage(format!("the signature JSON does not parse ({e})")))?;
        return ["witness", "signature"]
            .iter()
            .find_map(|k| v.get(k).and_then(|s| s.as_str()).map(str::to_string))
            .ok_or_else(|| Error::usage("the signature JSON has no witness or signature field"));
    }
    Ok(text.to_string())
}

/// The BIP 322 full signature (the signed `to_sign` transaction) that a
/// wallet left in a signed `to_sign` PSBT. Full, not simple: a wallet may
/// rewrite the transaction's version, lock time and sequence (embit 0.8
/// writes version 2 and sequence 0xffffffff), which BIP 322 allows ("valid
/// at time T and age S") and a simple signature cannot carry. The witness
/// is the final one, or built from the key-path signature (taproot) or the
/// one partial signature and its key (P2WPKH).
fn from_psbt(raw: &[u8]) -> Result<String> {
    let psbt = Psbt::deserialize(raw).map_err(|e| Error::usage(format!("the PSBT does not decode ({e})")))?;
    let input = psbt.inputs.first().ok_or_else(|| Error::usage("the PSBT has no input"))?;
    let witness = if let Some(w) = &input.final_script_witness {
        w.clone()
    } else if let Some(sig) = &input.tap_key_sig {
        bitcoin::Witness::p2tr_key_spend(sig)
    } else if let (1, Some((pk, sig))) = (input.partial_sigs.len(), input.partial_sigs.iter().next()) {
        bitcoin::Witness::p2wpkh(sig, &pk.inner)
    } else {
        return Err(Error::usage(
            "the PSBT carries no signature for its input: sign it with the holder's wallet first",
        ));
    };
    let mut to_sign = psbt.unsigned_tx.clone();
    let first = to_sign.input.first_mut().ok_or_else(|| Error::usage("the PSBT has no input"))?;
    first.witness = witness;
    if let Some(sig) = &input.final_script_sig {
        first.script_sig = sig.clone();
    }
    Ok(format!("ful{}", BASE64.encode(&bitcoin::consensus::serialize(&to_sign))))
}

/// The BIP 322 `to_sign` PSBT for the message: what a wallet that signs
/// PSBTs but not messages signs (its one input spends the address's
/// `to_spend` output, worth 0).
pub fn message_psbt(claim: &Claim, goatfile: &[u8], holder: &HolderAddress) -> Result<Psbt> {
    let message = claim.message(&crate::hash::sha256(goatfile));
    let to_spend =
        bip322::create_to_spend(&holder.address, &message).map_err(|e| Error::internal(format!("BIP 322: {e}")))?;
    bip322::create_to_sign(&to_spend, None, bip322::LockParams::default())
        .map_err(|e| Error::internal(format!("BIP 322: {e}")))
}

//! Which inscriptions are the holder's own word (docs/trust.md).
//!
//! Anyone can send an inscription to any address, so receiving one proves
//! nothing. A goatfile counts when the holder's address **signed** it
//! (`signature`: BIP 322 or BIP 137 over the goatfile's sha256, the network
//! and a sequence number, carried in the inscription's metadata). Nobody
//! else can produce that, wherever the inscription sits.
//!
//! The older rules read the holder's intent from the shape of transactions,
//! and each can be met by someone else (docs/trust.md has the attacks):
//! `reveal-input` by a co-signer of one of the holder's transactions,
//! `spent-output` by an airdropper whose sat a wallet moves in a payment,
//! `funded-commit` by any payee. They count only when the user asks
//! (`--accept-unsigned`, `--accept-funded-commit`). Each rests on
//! transactions whose bytes were checked against their txids (see
//! `esplora::Esplora::tx`); that they are in the best chain is proven
//! separately (`esplora::proof`).

pub use goat_goatfile::signature;

use crate::error::Result;
use crate::esplora::Esplora;
use bitcoin::{OutPoint, ScriptBuf, Transaction, TxIn, Txid};
use std::collections::HashMap;
use std::sync::Arc;

/// At most this many inputs of a commit transaction are followed back.
const MAX_COMMIT_INPUTS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endorsement {
    /// The holder's address signed the goatfile (`signature`).
    Signed,
    /// Unsigned: the reveal transaction itself spends an output of the address, with a
    /// signature that covers every input (so it covers the envelope).
    RevealInput,
    /// Unsigned: the output holding the inscription paid the address, and the holder
    /// later sent it to the address again (an ordinals-aware send to self).
    SpentOutput,
    /// Weak: the commit transaction that funded the reveal input spends an
    /// output of the address. A payee of the holder can fake this shape.
    FundedCommit,
}

impl Endorsement {
    pub fn describe(self) -> &'static str {
        match self {
            Endorsement::Signed => "signed by the holder's address",
            Endorsement::RevealInput => "UNSIGNED: the reveal spends the holder's coins, which a co-signer can arrange",
            Endorsement::SpentOutput => {
                "UNSIGNED: the holder's wallet moved the inscription to itself, which a payment can do"
            }
            Endorsement::FundedCommit => "WEAK: the holder funded the commit, which any payee of the holder can fake",
        }
    }

    /// Only the key holder can produce this endorsement: it counts by
    /// default.
    pub fn is_sound(self) -> bool {
        matches!(self, Endorsement::Signed)
    }

    /// The kebab-case name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Endorsement::Signed => "signed",
            Endorsement::RevealInput => "reveal-input",
            Endorsement::SpentOutput => "spent-output",
            Endorsement::FundedCommit => "funded-commit",
        }
    }
}

/// An endorsement and the transactions it rests on (besides the reveal),
/// each of which must be proven confirmed before the goatfile is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsed {
    pub kind: Endorsement,
    pub rests_on: Vec<Txid>,
    /// The signature's sequence and `after`, for `Signed`.
    pub signed: Option<signature::Signed>,
}

impl Endorsed {
    pub fn signed(s: signature::Signed) -> Endorsed {
        Endorsed { kind: Endorsement::Signed, rests_on: vec![], signed: Some(s) }
    }

    /// How strong it is, in a few words (`goat ls`): yes (signed, with its
    /// sequence), weak (funded-commit) or unsigned (which rule).
    pub fn label(&self) -> String {
        match (&self.signed, self.kind) {
            (Some(s), _) => format!("yes (signed, sequence {})", s.sequence),
            (None, Endorsement::FundedCommit) => format!("weak ({})", self.kind.name()),
            (None, k) => format!("unsigned ({})", k.name()),
        }
    }
}

/// What `resolve`/`fetch`/`seed` accept beyond soundly endorsed, confirmed
/// goatfiles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub include_mempool: bool,
    pub trust_any: bool,
    /// Count the unsigned rules (reveal-input, spent-output).
    pub accept_unsigned: bool,
    /// Count the weak funded-commit rule as an endorsement (and the
    /// unsigned rules, which are stronger).
    pub accept_funded_commit: bool,
}

impl Policy {
    pub fn accepts(&self, endorsement: Option<Endorsement>, confirmed: bool) -> bool {
        let endorsed = match endorsement {
            Some(Endorsement::Signed) => true,
            Some(Endorsement::RevealInput | Endorsement::SpentOutput) => {
                self.accept_unsigned || self.accept_funded_commit
            }
            Some(Endorsement::FundedCommit) => self.accept_funded_commit,
            None => false,
        };
        (endorsed || self.trust_any) && (confirmed || self.include_mempool)
    }
}

/// Facts about one reveal transaction that the rules need.
pub struct Reveal<'a> {
    pub tx: &'a Transaction,
    pub txid: Txid,
    /// The previous transaction of each input (None past the fetch cap).
    pub prevs: &'a [Option<Arc<Transaction>>],
}

impl Reveal<'_> {
    fn prevout(&self, i: usize) -> Option<&bitcoin::TxOut> {
        let vout = self.tx.input.get(i)?.previous_output.vout as usize;
        self.prevs.get(i)?.as_ref()?.output.get(vout)
    }

    /// Where the sats of the inscription made in `input` land, per ord: the
    /// pointer when it lands inside the outputs, else the first sat of that
    /// input. Returns (output index, offset inside that output); None when it
    /// falls into the fee (or values are unknown).
    pub fn holding_output(&self, input: usize, pointer: Option<u64>) -> Option<(u32, u64)> {
        let total_out: u64 = self.tx.output.iter().map(|o| o.value.to_sat()).sum();
        let offset = match pointer {
            Some(p) if p < total_out => p,
            _ => {
                let mut sum = 0u64;
                for j in 0..input {
                    sum = sum.checked_add(self.prevout(j)?.value.to_sat())?;
                }
                sum
            }
        };
        sat_output(self.tx, offset)
    }
}

/// The output (and offset inside it) holding sat number `offset` of a
/// transaction's inputs, first-in-first-out as ord tracks sats.
fn sat_output(tx: &Transaction, offset: u64) -> Option<(u32, u64)> {
    let mut start = 0u64;
    for (o, out) in tx.output.iter().enumerate() {
        let end = start.checked_add(out.value.to_sat())?;
        if offset < end {
            return Some((o as u32, offset - start));
        }
        start = end;
    }
    None
}

/// The signature hash types found in an input's signatures. Empty when no
/// signature could be recognised. Schnorr signatures (taproot) are 64 bytes
/// (SIGHASH_DEFAULT) or 65 with the type last; ECDSA ones are DER plus a type
/// byte. Hand-written because `bitcoin` exposes no "which sighash types did
/// this input use" helper; the encodings are BIP 340/341 and BIP 66.
pub fn sighash_types(input: &TxIn, prevout: &ScriptBuf) -> Vec<u8> {
    let mut types = Vec::new();
    let elements: Vec<&[u8]> = input.witness.iter().collect();
    if prevout.is_p2tr() {
        let mut stack = &elements[..];
        if stack.len() >= 2 && stack.last().and_then(|l| l.first()) == Some(&0x50) {
            stack = &stack[..stack.len() - 1]; // annex
        }
        if stack.len() >= 2 {
            stack = &stack[..stack.len() - 2]; // script path: drop script and control block
        }
        for e in stack {
            match e.len() {
                64 => types.push(0),
                65 => types.push(e[64]),
                _ => {}
            }
        }
        return types;
    }
    let mut candidates: Vec<&[u8]> = elements;
    for ins in input.script_sig.instructions().flatten() {
        if let bitcoin::script::Instruction::PushBytes(p) = ins {
            candidates.push(p.as_bytes());
        }
    }
    for c in candidates {
        if let Some((ty, der)) = c.split_last() {
            if bitcoin::secp256k1::ecdsa::Signature::from_der(der).is_ok() {
                types.push(*ty);
            }
        }
    }
    types
}

/// True when the holder's signatures on `input` cover every input of the
/// transaction: at least one signature, none with SIGHASH_ANYONECANPAY. A
/// signature with ANYONECANPAY (used, e.g., by ordinals marketplace listings)
/// lets anyone add inputs, and so an envelope the holder never saw.
pub fn covers_all_inputs(input: &TxIn, prevout: &ScriptBuf) -> bool {
    let types = sighash_types(input, prevout);
    !types.is_empty() && types.iter().all(|t| t & 0x80 == 0)
}

/// Decide whether the inscription carried by `input` of `reveal` (with the
/// given pointer) is endorsed by the holder of `holder`. `spent_by` maps
/// outpoints to the txids the address history says spent them. The txids
/// copies of other transactions whose witnesses this reads are added to `read`
/// (they must be proven before the answer is believed).
pub async fn endorsement(
    esplora: &Esplora,
    holder: &ScriptBuf,
    reveal: &Reveal<'_>,
    input: usize,
    pointer: Option<u64>,
    spent_by: &HashMap<OutPoint, Txid>,
    read: &mut Vec<crate::esplora::witness::Copy>,
) -> Result<Option<Endorsed>> {
    // Rule 1: an input of the reveal itself is the holder's, signed so that
    // the signature covers the envelope's input too.
    for (i, txin) in reveal.tx.input.iter().enumerate() {
        if let Some(prev) = reveal.prevout(i) {
            if prev.script_pubkey == *holder && covers_all_inputs(txin, holder) {
                return Ok(Some(Endorsed {
                    kind: Endorsement::RevealInput,
                    rests_on: vec![txin.previous_output.txid],
                    signed: None,
                }));
            }
        }
    }
    // Rule 2: the holder received the inscription and then sent it to
    // itself: the spending transaction's first input is the inscribed output
    // (signed over all inputs), and the inscribed sat lands in an output to
    // the holder no bigger than the one it came from. A sweep to another
    // wallet or a consolidation that merges it with other coins does not
    // count (docs/trust.md).
    if let Some((o, offset)) = reveal.holding_output(input, pointer) {
        let outpoint = OutPoint { txid: reveal.txid, vout: o };
        let held = &reveal.tx.output[o as usize];
        if held.script_pubkey == *holder {
            if let Some(spender) = spent_by.get(&outpoint) {
                let (s, server) = esplora.tx_from(spender).await?;
                read.push(crate::esplora::witness::Copy::new(s.clone(), server));
                if let Some(first) = s.input.first() {
                    if first.previous_output == outpoint
                        && covers_all_inputs(first, holder)
                        && sat_output(&s, offset)
                            .map(|(to, _)| &s.output[to as usize])
                            .is_some_and(|out| out.script_pubkey == *holder && out.value <= held.value)
                    {
                        return Ok(Some(Endorsed {
                            kind: Endorsement::SpentOutput,
                            rests_on: vec![*spender],
                            signed: None,
                        }));
                    }
                }
            }
        }
    }
    // Rule 3 (weak): the commit transaction spent the holder's coins.
    if let Some(Some(commit)) = reveal.prevs.get(input) {
        for cin in commit.input.iter().take(MAX_COMMIT_INPUTS) {
            if cin.previous_output.is_null() {
                continue;
            }
            let prev = esplora.outputs_of(&cin.previous_output.txid).await?;
            if prev.output.get(cin.previous_output.vout as usize).map(|o| &o.script_pubkey) == Some(holder) {
                return Ok(Some(Endorsed {
                    kind: Endorsement::FundedCommit,
                    rests_on: vec![commit.compute_txid(), cin.previous_output.txid],
                    signed: None,
                }));
            }
        }
    }
    Ok(None)
}

/// Which goatfiles count beyond endorsed, confirmed ones (docs/trust.md);
/// the same options for every command that resolves an address.
#[derive(Debug, Clone, Copy, Default, clap::Args, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrustArgs {
    /// Also accept a goatfile that is not yet confirmed.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_mempool: bool,
    /// Also accept goatfiles the holder did not endorse (anyone can send
    /// inscriptions to any address: see docs/trust.md).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub trust_any: bool,
    /// Also accept a goatfile the holder did not sign but whose transactions
    /// look like the holder's (reveal-input, spent-output), as goat did
    /// before goatfiles were signed. A co-signer of one of the holder's
    /// transactions (payjoin, coinjoin, a swap) or an airdropper whose
    /// inscription the holder's wallet moves in a payment can satisfy them
    /// (docs/trust.md).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub accept_unsigned: bool,
    /// Also count the weak funded-commit rule (and the unsigned ones) as the
    /// holder's endorsement. Anyone the holder ever paid at a taproot
    /// address can fake it (the payee spoof in docs/trust.md).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub accept_funded_commit: bool,
}

impl TrustArgs {
    /// The policy these flags ask for, warning about the risky ones.
    pub fn policy(&self) -> Policy {
        let p = Policy {
            include_mempool: self.include_mempool,
            trust_any: self.trust_any,
            accept_unsigned: self.accept_unsigned,
            accept_funded_commit: self.accept_funded_commit,
        };
        if p.accept_unsigned && !p.accept_funded_commit && !p.trust_any {
            tracing::warn!(
                "--accept-unsigned: a goatfile the holder did not sign counts when a transaction of the holder's carries it, which a co-signer of that transaction or a payment that moves an airdrop can arrange (docs/trust.md)"
            );
        }
        if p.accept_funded_commit && !p.trust_any {
            tracing::warn!(
                "--accept-funded-commit: a goatfile counts when the holder merely funded its commit, which anyone the holder ever paid at a taproot address can fake (docs/trust.md)"
            );
        }
        if p.trust_any {
            tracing::warn!("--trust-any: any goatfile sent to the address counts, even one the holder never endorsed");
        }
        p
    }
}

/// For `skip_serializing_if`: a flag that is off says nothing (so merging
/// the command line over `goat seed`'s config file keeps the file's `true`).
pub fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Witness;

    #[test]
    fn policy() {
        let strict = Policy::default();
        assert!(strict.accepts(Some(Endorsement::Signed), true));
        assert!(!strict.accepts(Some(Endorsement::RevealInput), true));
        assert!(!strict.accepts(Some(Endorsement::SpentOutput), true));
        assert!(!strict.accepts(Some(Endorsement::FundedCommit), true));
        assert!(!strict.accepts(None, true));
        assert!(!strict.accepts(Some(Endorsement::Signed), false));
        let unsigned = Policy { accept_unsigned: true, ..Policy::default() };
        assert!(unsigned.accepts(Some(Endorsement::RevealInput), true));
        assert!(unsigned.accepts(Some(Endorsement::SpentOutput), true));
        assert!(!unsigned.accepts(Some(Endorsement::FundedCommit), true));
        let weak = Policy { accept_funded_commit: true, ..Policy::default() };
        assert!(weak.accepts(Some(Endorsement::FundedCommit), true));
        assert!(weak.accepts(Some(Endorsement::RevealInput), true));
        assert!(!weak.accepts(None, true));
        let loose = Policy { include_mempool: true, trust_any: true, ..Policy::default() };
        assert!(loose.accepts(None, false));
    }

    fn input(witness: &[&[u8]]) -> TxIn {
        TxIn { witness: Witness::from_slice(witness), ..TxIn::default() }
    }

    #[test]
    fn sighash_types_of_taproot_and_ecdsa_inputs() {
        let p2tr = ScriptBuf::from_bytes([&[0x51, 0x20][..], &[7u8; 32]].concat());
        let p2wpkh = ScriptBuf::from_bytes([&[0x00, 0x14][..], &[7u8; 20]].concat());
        // key path, SIGHASH_DEFAULT
        assert!(covers_all_inputs(&input(&[&[1u8; 64]]), &p2tr));
        // key path, SIGHASH_ALL explicit; with an annex
        let mut all = vec![1u8; 64];
        all.push(0x01);
        assert!(covers_all_inputs(&input(&[&all, &[0x50, 1]]), &p2tr));
        // SIGHASH_SINGLE|ANYONECANPAY, as marketplace listings sign
        let mut acp = vec![1u8; 64];
        acp.push(0x83);
        assert!(!covers_all_inputs(&input(&[&acp]), &p2tr));
        // no signature at all
        assert!(!covers_all_inputs(&input(&[]), &p2tr));
        // ECDSA: a minimal valid DER signature + type byte
        let der: Vec<u8> = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
        let ecdsa_all = [der.clone(), vec![0x01]].concat();
        let ecdsa_acp = [der, vec![0x81]].concat();
        assert!(covers_all_inputs(&input(&[&ecdsa_all, &[2u8; 33]]), &p2wpkh));
        assert!(!covers_all_inputs(&input(&[&ecdsa_acp, &[2u8; 33]]), &p2wpkh));
    }
}

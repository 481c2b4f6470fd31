//! Which inscriptions are the holder's own word (docs/trust.md).
//!
//! Anyone can send an inscription to any address, so receiving one proves
//! nothing. An inscription is *endorsed* only when the holder provably spent
//! coins on it. Each proof below rests on transactions whose bytes were checked
//! against their txids (see `esplora::Esplora::tx`).

use crate::error::Result;
use crate::esplora::Esplora;
use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use std::collections::HashMap;
use std::sync::Arc;

/// At most this many inputs of a commit transaction are followed back.
const MAX_COMMIT_INPUTS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endorsement {
    /// The reveal transaction itself spends an output of the address.
    RevealInput,
    /// The commit transaction that funded the reveal input spends an output
    /// of the address (the usual ord wallet flow).
    FundedCommit,
    /// The output holding the inscription paid the address, and the address
    /// later spent it.
    SpentOutput,
}

impl Endorsement {
    pub fn describe(self) -> &'static str {
        match self {
            Endorsement::RevealInput => "the reveal spends the holder's coins",
            Endorsement::FundedCommit => "the holder funded the commit",
            Endorsement::SpentOutput => "the holder later spent the inscribed output",
        }
    }
}

/// What `resolve`/`fetch` accept beyond endorsed, confirmed goatfiles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub include_mempool: bool,
    pub trust_any: bool,
}

impl Policy {
    pub fn accepts(&self, endorsed: bool, confirmed: bool) -> bool {
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
    fn prevout_script(&self, i: usize) -> Option<&ScriptBuf> {
        let vout = self.tx.input.get(i)?.previous_output.vout as usize;
        Some(&self.prevs.get(i)?.as_ref()?.output.get(vout)?.script_pubkey)
    }

    /// The output whose sats carry the inscription made in `input`, per ord:
    /// the pointer when it lands inside the outputs, else the first sat of
    /// that input. None when it falls into the fee (or values are unknown).
    pub fn holding_output(&self, input: usize, pointer: Option<u64>) -> Option<u32> {
        let total_out: u64 = self.tx.output.iter().map(|o| o.value.to_sat()).sum();
        let offset = match pointer {
            Some(p) if p < total_out => p,
            _ => {
                let mut sum = 0u64;
                for j in 0..input {
                    let vout = self.tx.input[j].previous_output.vout as usize;
                    sum += self.prevs.get(j)?.as_ref()?.output.get(vout)?.value.to_sat();
                }
                sum
            }
        };
        let mut end = 0u64;
        for (o, out) in self.tx.output.iter().enumerate() {
            end += out.value.to_sat();
            if offset < end {
                return Some(o as u32);
            }
        }
        None
    }
}

/// Decide whether the inscription carried by `input` of `reveal` (with the
/// given pointer) is endorsed by the holder of `holder`. `spent_by` maps
/// outpoints to the txids the address history says spent them.
pub async fn endorsement(
    esplora: &Esplora,
    holder: &ScriptBuf,
    reveal: &Reveal<'_>,
    input: usize,
    pointer: Option<u64>,
    spent_by: &HashMap<OutPoint, Txid>,
) -> Result<Option<Endorsement>> {
    // Rule 1: an input of the reveal itself is the holder's.
    if (0..reveal.tx.input.len()).any(|i| reveal.prevout_script(i) == Some(holder)) {
        return Ok(Some(Endorsement::RevealInput));
    }
    // Rule 3 (cheap when the history already shows the spend): the holder
    // received the inscription and later spent that very output.
    if let Some(o) = reveal.holding_output(input, pointer) {
        let outpoint = OutPoint { txid: reveal.txid, vout: o };
        if reveal.tx.output[o as usize].script_pubkey == *holder {
            if let Some(spender) = spent_by.get(&outpoint) {
                let s = esplora.tx(spender).await?;
                if s.input.iter().any(|i| i.previous_output == outpoint) {
                    return Ok(Some(Endorsement::SpentOutput));
                }
            }
        }
    }
    // Rule 2: the commit transaction spent the holder's coins.
    if let Some(Some(commit)) = reveal.prevs.get(input) {
        for cin in commit.input.iter().take(MAX_COMMIT_INPUTS) {
            if cin.previous_output.is_null() {
                continue;
            }
            let prev = esplora.tx(&cin.previous_output.txid).await?;
            if prev.output.get(cin.previous_output.vout as usize).map(|o| &o.script_pubkey) == Some(holder) {
                return Ok(Some(Endorsement::FundedCommit));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let strict = Policy::default();
        assert!(strict.accepts(true, true));
        assert!(!strict.accepts(false, true));
        assert!(!strict.accepts(true, false));
        let loose = Policy { include_mempool: true, trust_any: true };
        assert!(loose.accepts(false, false));
    }
}

//! Bitcoin Core's own script interpreter over a whole transaction.
//!
//! `goat publish` runs every input of what it built through it before
//! broadcasting (a bad signature is caught here, not by a remote node), and
//! the devchain's `POST /tx` accepts only what it passes, as a node would.
//! The interpreter is libbitcoinconsensus (the `bitcoinconsensus` crate
//! builds it from Bitcoin Core's sources), not code of ours.

use bitcoin::{consensus, OutPoint, Transaction, TxOut};

/// A version-2 transaction spending `inputs` (RBF-signalling, no lock
/// time, unsigned) to `outputs`: what `goat publish` signs, and what the
/// devchain's wallet builds.
pub fn unsigned(inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    use bitcoin::{absolute::LockTime, transaction::Version, ScriptBuf, Sequence, TxIn, Witness};
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|&previous_output| TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// The script rules in force since taproot (BIP 16, 66, 147, 65, 112, 141,
/// 341, 342).
const FLAGS: u32 = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;

/// Why Bitcoin Core's interpreter refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// The spent outputs given do not match the inputs one to one.
    Prevouts {
        /// How many inputs the transaction has.
        inputs: usize,
        /// How many spent outputs were given.
        prevouts: usize,
    },
    /// The first input whose script fails, with Core's reason.
    Input {
        /// The input's position in the transaction, from 0.
        index: usize,
        /// Why Bitcoin Core's interpreter refused it.
        reason: bitcoinconsensus::Error,
    },
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptError::Prevouts { inputs, prevouts } => {
                write!(f, "{inputs} inputs but {prevouts} spent outputs given")
            }
            ScriptError::Input { index, reason } => write!(f, "input {index} fails script verification ({reason:?})"),
        }
    }
}

impl std::error::Error for ScriptError {}

/// Check every input of `tx` against the output it spends (`prevouts`, in
/// input order). The error names the first failing input and Core's reason.
pub fn verify_scripts(tx: &Transaction, prevouts: &[TxOut]) -> Result<(), ScriptError> {
    if prevouts.len() != tx.input.len() {
        return Err(ScriptError::Prevouts { inputs: tx.input.len(), prevouts: prevouts.len() });
    }
    let bytes = consensus::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    for (i, o) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            o.script_pubkey.as_bytes(),
            o.value.to_sat(),
            &bytes,
            Some(&utxos),
            i,
            FLAGS,
        )
        .map_err(|reason| ScriptError::Input { index: i, reason })?;
    }
    Ok(())
}

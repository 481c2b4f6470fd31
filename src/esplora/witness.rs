//! Proven witnesses: the witness bytes goat reads are the block's, not a
//! server's.
//!
//! A txid covers everything in a transaction except its witnesses, so raw
//! bytes that hash to the txid asked for can still carry any witness the
//! server likes. A server could serve the holder's ordinary key-path spend
//! with its witness replaced by `[the holder's real signature, a tapscript
//! holding an envelope, a control block]`: the txid, the merkle proof and
//! the block all stay genuine, and the envelope would pass for the holder's.
//! Or it could blank the witness of the real newest goatfile to hide it.
//! So goat believes a witness only once it is proven, one of two ways:
//!
//! - **The block** (Esplora, confirmed transactions). The transaction's
//!   block is proven first (`proof.rs`: merkle proof, header with its
//!   work, the other servers name the same block). Then the raw block
//!   (`GET /block/:hash/raw`, from any server: the bytes are checked, not
//!   trusted) must hash to that header, its transactions must lead to the
//!   header's merkle root, and its coinbase's BIP 141 witness commitment
//!   must match the witnesses it holds. That commitment covers every
//!   wtxid, so the transaction taken from that block carries exactly the
//!   witnesses the miners committed to. One block per transaction at most,
//!   each fetched once per run.
//! - **The scripts** (Electrum, which serves no raw blocks, and unconfirmed
//!   transactions). Every input is run through Bitcoin Core's interpreter
//!   (libbitcoinconsensus) against the output it spends, each taken from a
//!   previous transaction whose bytes hash to the txid the input names. A
//!   witness that verifies is a valid spend, and what a third party can
//!   still change in a valid spend is narrow:
//!   - a key-path spend is a BIP 340 signature over the whole transaction
//!     (annex included); nobody without the key can make another;
//!   - a script-path spend must show a leaf that the output key commits to
//!     (the control block proves it), so a swapped witness cannot carry an
//!     envelope in a leaf the output's creator did not put in its tree; and
//!     a leaf that checks a signature cannot be swapped for another leaf,
//!     because the signature commits to its own leaf (BIP 342);
//!   - what is left: a tree with a second leaf that anyone can satisfy
//!     without a signature (an `OP_TRUE` leaf, a hash lock whose preimage
//!     is known). A server could serve that leaf's spend instead. Neither
//!     `goat publish` nor `ord` makes such trees; the block route has no
//!     such gap, which is why Esplora uses it.

use super::proof::Proven;
use super::{electrum, Esplora, Outcome};
use crate::error::{Error, Result};
use bitcoin::{consensus, Block, BlockHash, Transaction, Txid};
use std::sync::Arc;

/// A transaction with more inputs than this is not checked input by input
/// (each costs a previous transaction): over Electrum such a transaction's
/// witnesses cannot be proven.
pub const MAX_SCRIPT_INPUTS: usize = 1000;

/// Raw blocks kept in memory at once.
const MAX_BLOCKS_KEPT: usize = 4;

/// How a transaction's witnesses were proven (shown by `resolve --json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "by")]
pub enum WitnessProof {
    /// Taken from its block, whose witness commitment holds.
    Block { block: BlockHash, server: String },
    /// Every input passed Bitcoin Core's interpreter.
    Scripts,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Witnessed {
    pub txid: Txid,
    #[serde(flatten)]
    pub proof: WitnessProof,
}

impl Esplora {
    /// `txid` with its witnesses proven (see the module doc): from its
    /// proven block when it is confirmed (`None`: ask a server) and an
    /// Esplora server is configured, else by running its scripts. A server
    /// that served other witnesses is named, dropped for the rest of the
    /// run, and the call fails (InvalidData): the caller may start over
    /// with the servers left.
    pub async fn witnessed(&self, txid: &Txid, confirmed: Option<bool>) -> Result<(Arc<Transaction>, Witnessed)> {
        if let Some(done) = self.witness_done(txid) {
            return Ok(done);
        }
        let has_http = self.order().into_iter().any(|i| !electrum::is_electrum(self.endpoint(i)));
        let confirmed = match confirmed {
            _ if !has_http => false,
            Some(c) => c,
            // The server's word: one that says "unconfirmed" of a mined
            // transaction only gets its scripts checked instead; one that
            // says "confirmed" of an unmined one fails the proof.
            None => self.tx_status(txid).await?.confirmed,
        };
        let (tx, proof) = if confirmed {
            // A block already proven in this run (the walk meets an
            // address's transactions block by block) needs no new proof.
            let (hash, block, server) = match self.proven_block_holding(txid) {
                Some(b) => b,
                None => {
                    let proven = self.prove(txid, self.network()).await?;
                    let (block, server) = self.block(&proven).await?;
                    (proven.block, block, server)
                }
            };
            let mut found = block.txdata.iter().filter(|t| t.compute_txid() == *txid);
            let (Some(tx), None) = (found.next(), found.next()) else {
                return Err(Error::invalid(format!(
                    "block {hash} does not hold {txid} exactly once, though a server proved it there: try another --esplora"
                )));
            };
            // What goat read of it before, if anything, must be the block's.
            if let Some((served, by)) = self.cached_tx(txid) {
                if witnesses_differ(tx, &served) {
                    let why = format!("served {txid} with witnesses that block {hash} does not commit to (a swapped witness)");
                    return Err(self.caught(by, &why));
                }
            }
            (Arc::new(tx.clone()), WitnessProof::Block { block: hash, server })
        } else {
            let (served, by) = self.tx_from(txid).await?;
            if let Err(why) = self.check_scripts(&served).await? {
                return Err(self.caught(by, &format!("served {txid} with {why}")));
            }
            (served, WitnessProof::Scripts)
        };
        let w = Witnessed { txid: *txid, proof };
        if let Ok(mut c) = self.witnessed.lock() {
            c.insert(*txid, (tx.clone(), w.clone()));
        }
        Ok((tx, w))
    }

    /// A block kept from this run (every one kept was proven and checked)
    /// that holds `txid`.
    fn proven_block_holding(&self, txid: &Txid) -> Option<(BlockHash, Arc<Block>, String)> {
        let blocks = self.blocks.lock().ok()?;
        blocks.iter().find(|(_, (b, _))| b.txdata.iter().any(|t| t.compute_txid() == *txid)).map(|(h, (b, s))| (*h, b.clone(), s.clone()))
    }

    fn witness_done(&self, txid: &Txid) -> Option<(Arc<Transaction>, Witnessed)> {
        self.witnessed.lock().ok()?.get(txid).cloned()
    }

    /// Endpoint `idx` served a witness its block (or its scripts) refute:
    /// it is dropped, and the error names it.
    pub(crate) fn caught(&self, idx: usize, why: &str) -> Error {
        if idx == usize::MAX {
            return Error::invalid(format!("a proven transaction {why}"));
        }
        let server = self.endpoint(idx).to_string();
        self.reject(idx, why);
        Error::invalid(format!("{server} {why}: it is faulty or lying; pass another --esplora or --electrum"))
    }

    /// The raw block `p.block`, checked: it hashes to the proven header,
    /// its transactions lead to the header's merkle root, and its witness
    /// commitment holds. From the first Esplora server that gives one that
    /// passes; a server whose block fails is dropped as a liar.
    async fn block(&self, p: &Proven) -> Result<(Arc<Block>, String)> {
        if let Some(b) = self.blocks.lock().ok().and_then(|c| c.get(&p.block).cloned()) {
            return Ok(b);
        }
        let want = p.block;
        let check = move |b: &[u8]| -> std::result::Result<Block, String> {
            let block: Block = consensus::deserialize(b).map_err(|e| format!("block {want} does not decode ({e})"))?;
            if block.block_hash() != want {
                return Err(format!("block bytes do not hash to the requested {want}"));
            }
            if !block.check_merkle_root() {
                return Err(format!("block {want}'s transactions do not lead to its merkle root"));
            }
            if !block.check_witness_commitment() {
                return Err(format!("block {want}'s witnesses do not match its witness commitment"));
            }
            Ok(block)
        };
        let mut problems = Vec::new();
        let mut lied = false;
        for idx in self.order() {
            if electrum::is_electrum(self.endpoint(idx)) {
                continue;
            }
            match self.get_at(idx, &format!("/block/{want}/raw"), &check).await {
                Outcome::Ok(b) => {
                    let got = (Arc::new(b), self.endpoint(idx).to_string());
                    if let Ok(mut c) = self.blocks.lock() {
                        // A mainnet block is up to 4 MB: keep only the last
                        // few (the transactions taken from them are kept).
                        if c.len() >= MAX_BLOCKS_KEPT {
                            c.clear();
                        }
                        c.insert(want, got.clone());
                    }
                    return Ok(got);
                }
                Outcome::Invalid(why) => {
                    self.reject(idx, &why);
                    lied = true;
                    problems.push(format!("{}: {why}", self.endpoint(idx)));
                }
                Outcome::NotFound(why) | Outcome::Unreachable(why) | Outcome::Refused(_, why) => {
                    problems.push(format!("{}: {why}", self.endpoint(idx)))
                }
            }
        }
        let problems = problems.join("; ");
        Err(if lied {
            Error::invalid(format!(
                "no Esplora server gave a block {want} that passes its checks, which goat needs to prove {}'s witnesses ({problems}): pass another --esplora",
                p.txid
            ))
        } else {
            Error::network(format!(
                "no Esplora server gave block {want}, which goat needs to prove {}'s witnesses ({problems}): check your connection or pass another --esplora",
                p.txid
            ))
        })
    }

    /// Run every input of `tx` through Bitcoin Core's interpreter against
    /// the outputs it spends. Ok(Err): why it fails, in words; Err: the
    /// previous transactions could not be had.
    async fn check_scripts(&self, tx: &Transaction) -> Result<std::result::Result<(), String>> {
        if tx.is_coinbase() {
            // A coinbase spends nothing; its only witness is the 32-byte
            // reserved value of the witness commitment.
            let w = &tx.input[0].witness;
            return Ok(match (w.len(), w.nth(0).map(<[u8]>::len)) {
                (0, _) | (1, Some(32)) => Ok(()),
                _ => Err("a coinbase witness that is not the 32-byte reserved value".into()),
            });
        }
        if tx.input.len() > MAX_SCRIPT_INPUTS {
            return Err(Error::invalid(format!(
                "{} inputs, more than the {MAX_SCRIPT_INPUTS} whose scripts goat checks (use an Esplora server: its blocks prove witnesses at any size)",
                tx.input.len()
            )));
        }
        let mut prevouts = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            let o = input.previous_output;
            let prev = self.tx(&o.txid).await?;
            let Some(out) = prev.output.get(o.vout as usize) else {
                return Ok(Err(format!("an input spending {o}, which does not exist")));
            };
            prevouts.push(out.clone());
        }
        Ok(crate::consensus::verify_scripts(tx, &prevouts).map_err(|why| format!("witnesses that fail Bitcoin Core's script check ({why})")))
    }
}

fn witnesses_differ(a: &Transaction, b: &Transaction) -> bool {
    a.input.len() != b.input.len() || a.input.iter().zip(&b.input).any(|(x, y)| x.witness != y.witness)
}

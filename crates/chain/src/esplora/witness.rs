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
use crate::error::{Error, Kind, Result};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Transaction, Txid, Wtxid};
use std::collections::HashMap;
use std::sync::Arc;

/// A transaction with more inputs than this is not checked input by input
/// (each costs a previous transaction): over Electrum such a transaction's
/// witnesses cannot be proven.
pub const MAX_SCRIPT_INPUTS: usize = 1000;

/// Raw blocks kept in memory at once.
const MAX_BLOCKS_KEPT: usize = 4;
/// Proven transactions kept (the daemon keeps them across polls).
const MAX_KEPT: usize = 50_000;

/// How a transaction's witnesses were proven (shown by `resolve --json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "by")]
pub enum WitnessProof {
    /// Taken from its block, whose witness commitment holds.
    Block {
        /// The block it was taken from.
        block: BlockHash,
        /// The base URL of the server that gave the raw block.
        server: String,
    },
    /// Every input passed Bitcoin Core's interpreter.
    Scripts,
    /// Too many inputs to check by script, and no block: a transaction the
    /// walk only passed over, listed as unproven.
    Unchecked {
        /// How many inputs it has: more than [`MAX_SCRIPT_INPUTS`].
        inputs: usize,
    },
}

/// A transaction as one server served it: the bytes goat read, pinned by
/// their wtxid (which covers the witnesses). The bytes themselves are kept
/// only while small: a walk records a copy of every transaction it reads,
/// and thousands of them, each up to a block's 4 MB, would not fit in
/// memory. A copy whose bytes were let go is read again when proving it
/// needs them, and counts only if it is the same (`Esplora::bytes_of`).
#[derive(Debug, Clone)]
pub struct Copy {
    /// The transaction's txid.
    pub txid: Txid,
    /// The wtxid of the bytes served (their witnesses included).
    pub wtxid: Wtxid,
    /// How many inputs it has.
    pub inputs: usize,
    /// The endpoint that served it; `usize::MAX`: taken from a proven
    /// block.
    pub server: usize,
    kept: Option<Arc<Transaction>>,
}

/// Copies up to this size keep their bytes (most transactions: a payment
/// is a few hundred bytes, a signed goatfile's reveal one or two KB). A
/// walk keeps one per transaction, so a server padding every witness to
/// this size costs 4 KB per transaction walked, no more.
pub const KEPT_COPY: usize = 4 * 1024;

impl Copy {
    /// The copy of `tx` that endpoint `server` served; its bytes are kept when
    /// they are at most [`KEPT_COPY`].
    pub fn new(tx: Arc<Transaction>, server: usize) -> Copy {
        let kept = (tx.total_size() <= KEPT_COPY).then(|| tx.clone());
        Copy { txid: tx.compute_txid(), wtxid: tx.compute_wtxid(), inputs: tx.input.len(), server, kept }
    }

    /// Whether its bytes are kept (it is small).
    pub fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// A history page's copy, as `Listed` kept it.
    pub fn listed(l: &super::source::Listed, server: usize) -> Copy {
        Copy { txid: l.txid, wtxid: l.wtxid, inputs: l.tx.input.len(), server, kept: l.whole.then(|| l.tx.clone()) }
    }
}

/// A transaction's witnesses as judged: proven, and how, or listed as unproven.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Witnessed {
    /// The transaction judged.
    pub txid: Txid,
    /// How its witnesses were proven, or that they were not.
    #[serde(flatten)]
    pub proof: WitnessProof,
}

/// The error for a transaction served now with other witnesses than goat judged
/// it by earlier in this run, when no block can say which were mined.
pub fn regone(txid: &Txid) -> Error {
    Error::invalid(format!(
        "{txid} is served now with other witnesses than those goat judged it by earlier in this run, and no block says which were mined: run again, or pass an --esplora server"
    ))
}

/// Which proof to prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The block wherever an Esplora server can give it (for what goat
    /// believes: the chosen goatfile, its delegate, its endorsement,
    /// `cat`/`get` targets).
    Block,
    /// The script check when the transaction has at most
    /// `MAX_SCRIPT_INPUTS` inputs (a few previous transactions, not a
    /// block of megabytes), else the block; a transaction too large for
    /// either is reported as unchecked. For the transactions the walk only
    /// passes over.
    Cheapest,
}

impl Esplora {
    /// `txid` with its witnesses proven, fetched first (for `cat`, `get`,
    /// `--goatfile`, inscription entries and their delegates): the
    /// transaction from its block where one can be had, else the served
    /// copy once its scripts pass. `confirmed` as for `check`.
    pub async fn witnessed(
        &self,
        txid: &Txid,
        confirmed: Option<bool>,
        route: Route,
    ) -> Result<(Arc<Transaction>, Witnessed)> {
        let (tx, server) = self.tx_from(txid).await?;
        let copy = Copy::new(tx.clone(), server);
        let w = self.check(&copy, confirmed, route).await?;
        let tx = self.block_proven(txid).map(|(t, _)| t).unwrap_or(tx);
        Ok((tx, w))
    }

    /// Prove that `copy`, the bytes goat judged by, carries the witnesses
    /// of its transaction: the same as in its block (`Route::Block`, or any
    /// route when its inputs are too many to check by script), or valid
    /// spends (the script check). `confirmed`: what the history said; None
    /// or false: try the block anyway, and take "no server proves it
    /// confirmed" as unconfirmed. A server whose copy fails is named,
    /// dropped for the rest of the run, and the call fails (InvalidData):
    /// the caller may start over with the servers left.
    pub async fn check(&self, copy: &Copy, confirmed: Option<bool>, route: Route) -> Result<Witnessed> {
        let txid = copy.txid;
        let has_http = self.order().into_iter().any(|i| !electrum::is_electrum(self.endpoint(i)));
        let large = copy.inputs > MAX_SCRIPT_INPUTS;
        let known = self.block_proven(&txid);
        let from_block = match known {
            Some(k) => Some(k),
            None if has_http && (route == Route::Block || large) => self.read_block(&txid, confirmed).await?,
            None => None,
        };
        if let Some((tx, proof)) = from_block {
            return self.same_as_block(copy, &tx, proof);
        }
        if large {
            let inputs = copy.inputs;
            if route == Route::Cheapest {
                tracing::warn!("{txid} has {inputs} inputs, more than the {MAX_SCRIPT_INPUTS} whose scripts goat checks: its witnesses are unproven (an Esplora server proves them from the block)");
                return Ok(Witnessed { txid, proof: WitnessProof::Unchecked { inputs } });
            }
            return Err(Error::invalid(format!(
                "{txid} has {inputs} inputs, more than the {MAX_SCRIPT_INPUTS} whose scripts goat checks, and no Esplora server gave its block: pass an --esplora server"
            )));
        }
        let tx = match self.bytes_of(copy).await? {
            Some(tx) => tx,
            // The bytes judged were let go, and what is served now differs:
            // only the block can say whether the judged ones were mined.
            None if has_http && route != Route::Block => match self.read_block(&txid, confirmed).await? {
                Some((tx, proof)) => return self.same_as_block(copy, &tx, proof),
                None => return Err(regone(&txid)),
            },
            None => return Err(regone(&txid)),
        };
        let proof = match self.check_scripts(&tx).await? {
            Checked::Passed => WitnessProof::Scripts,
            Checked::Failed(why) => return Err(self.caught(copy.server, &format!("served {txid} with {why}"))),
            Checked::TooLarge => return Err(Error::internal(format!("{txid}: input count changed"))),
        };
        Ok(Witnessed { txid, proof })
    }

    /// `copy` against the transaction taken from its proven block.
    fn same_as_block(&self, copy: &Copy, tx: &Transaction, proof: Witnessed) -> Result<Witnessed> {
        if tx.compute_wtxid() != copy.wtxid {
            let block = match &proof.proof {
                WitnessProof::Block { block, .. } => block.to_string(),
                _ => "its block".into(),
            };
            return Err(self.caught(
                copy.server,
                &format!(
                    "served {} with witnesses that block {block} does not commit to (a swapped witness)",
                    copy.txid
                ),
            ));
        }
        Ok(proof)
    }

    /// The bytes of `copy`: kept with it, or read again and the same (its
    /// wtxid); None when what is served now carries other witnesses.
    pub async fn bytes_of(&self, copy: &Copy) -> Result<Option<Arc<Transaction>>> {
        if let Some(t) = &copy.kept {
            return Ok(Some(t.clone()));
        }
        let (tx, _) = self.tx_from(&copy.txid).await?;
        Ok((tx.compute_wtxid() == copy.wtxid).then_some(tx))
    }

    /// `txid` taken from its proven block, or None when it is not
    /// confirmed (unless the history said it is, no server proves it) or no
    /// server gives its block (then its scripts are checked instead).
    /// Proven transactions are kept (only these: a copy that merely passed
    /// the script check is one server's word among valid ones).
    async fn read_block(&self, txid: &Txid, confirmed: Option<bool>) -> Result<Option<(Arc<Transaction>, Witnessed)>> {
        // A block already proven in this run (the walk meets an address's
        // transactions block by block) needs no new proof.
        let (hash, block, at) = match self.proven_block_holding(txid) {
            Some(b) => b,
            None => {
                let proven = match self.prove(txid, self.network()).await {
                    Ok(p) => p,
                    Err(e) if e.kind == Kind::NotFound && confirmed != Some(true) => return Ok(None),
                    Err(e) => return Err(e),
                };
                match self.block(&proven).await {
                    Ok(block) => match block.position.get(txid) {
                        Some(at) => (proven.block, block.clone(), *at),
                        None => {
                            return Err(Error::invalid(format!(
                                "block {} does not hold {txid}, though a server proved it there: try another --esplora",
                                proven.block
                            )))
                        }
                    },
                    // A block that fails its checks is a lie, not a gap.
                    Err(e) if e.kind == Kind::InvalidData => return Err(e),
                    Err(e) => {
                        tracing::warn!("{}; checking {txid}'s scripts instead", e.message);
                        return Ok(None);
                    }
                }
            }
        };
        let tx = block.block.txdata[at].clone();
        let got = (
            Arc::new(tx),
            Witnessed { txid: *txid, proof: WitnessProof::Block { block: hash, server: block.server.clone() } },
        );
        if let Ok(mut c) = self.witnessed.lock() {
            if c.map.len() >= MAX_KEPT {
                c.clear();
            }
            c.insert(*txid, got.0.clone(), got.1.clone());
        }
        Ok(Some(got))
    }

    /// Whether every envelope in `tx` sits in a taproot script-path input
    /// (one that spends a P2TR output). A witness proven only by script
    /// check is one valid spend among others, and an input that anyone can
    /// spend (a pay-to-anchor output, an unknown witness version) takes any
    /// witness: an envelope there, or one before the real one that shifts
    /// the inscription numbers, is whoever served it's word.
    pub async fn envelopes_bound(&self, tx: &Transaction) -> Result<bool> {
        let mut inputs: Vec<usize> = crate::inscription::envelope::envelopes(tx).iter().map(|e| e.input).collect();
        inputs.dedup();
        for i in inputs {
            let Some(input) = tx.input.get(i) else { return Ok(false) };
            let o = input.previous_output;
            let prev = self.outputs_of(&o.txid).await?;
            if !prev.output.get(o.vout as usize).is_some_and(|out| out.script_pubkey.is_p2tr()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The transaction as its proven block holds it, if proven before.
    pub fn block_proven(&self, txid: &Txid) -> Option<(Arc<Transaction>, Witnessed)> {
        self.witnessed.lock().ok()?.map.get(txid).cloned()
    }

    /// A block kept from this run (every one kept was proven and checked)
    /// that holds `txid`, and where.
    fn proven_block_holding(&self, txid: &Txid) -> Option<(BlockHash, Arc<CheckedBlock>, usize)> {
        let blocks = self.blocks.lock().ok()?;
        blocks.iter().find_map(|(h, b)| b.position.get(txid).map(|at| (*h, b.clone(), *at)))
    }

    /// Endpoint `idx` served a witness its block (or its scripts) refute:
    /// it is dropped, and the error names it.
    pub fn caught(&self, idx: usize, why: &str) -> Error {
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
    async fn block(&self, p: &Proven) -> Result<Arc<CheckedBlock>> {
        if let Some(b) = self.blocks.lock().ok().and_then(|c| c.get(&p.block).cloned()) {
            return Ok(b);
        }
        let want = p.block;
        let check = move |block: Block| -> std::result::Result<Block, String> {
            if block.block_hash() != want {
                return Err(format!("block bytes do not hash to the requested {want}"));
            }
            if !block.check_merkle_root() {
                return Err(format!("block {want}'s transactions do not lead to its merkle root"));
            }
            check_witnesses(&block).map_err(|why| format!("block {want}'s {why}"))?;
            Ok(block)
        };
        let mut problems = Vec::new();
        let mut lied = false;
        for idx in self.order() {
            if electrum::is_electrum(self.endpoint(idx)) {
                continue;
            }
            match self.ask_at(idx, &format!("block {want}"), &|s| s.raw_block(&want), &check).await {
                Outcome::Ok(block) => {
                    let position = block.txdata.iter().enumerate().map(|(at, t)| (t.compute_txid(), at)).collect();
                    let got = Arc::new(CheckedBlock { block, server: self.endpoint(idx).to_string(), position });
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
    /// the outputs it spends. Err: the previous transactions could not be
    /// had.
    async fn check_scripts(&self, tx: &Transaction) -> Result<Checked> {
        if tx.is_coinbase() {
            // A coinbase spends nothing; its only witness is the 32-byte
            // reserved value of the witness commitment.
            let w = &tx.input[0].witness;
            return Ok(match (w.len(), w.nth(0).map(<[u8]>::len)) {
                (0, _) | (1, Some(32)) => Checked::Passed,
                _ => Checked::Failed("a coinbase witness that is not the 32-byte reserved value".into()),
            });
        }
        if tx.input.len() > MAX_SCRIPT_INPUTS {
            return Ok(Checked::TooLarge);
        }
        let mut prevouts = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            let o = input.previous_output;
            let prev = match self.outputs_of(&o.txid).await {
                Ok(p) => p,
                // Every server says it does not exist. The txid pins the
                // inputs, so this is no lie of the copy's server (an
                // unconfirmed parent replaced since, servers that lost
                // it): the witnesses cannot be checked, and nobody is
                // blamed.
                Err(e) if e.kind == Kind::NotFound => {
                    return Err(Error::network(format!(
                        "no server has transaction {}, which {} spends, so its witnesses cannot be checked: run again later, or pass an --esplora server (its block proves them)",
                        o.txid,
                        tx.compute_txid()
                    )))
                }
                Err(e) => return Err(e),
            };
            let Some(out) = prev.output.get(o.vout as usize) else {
                return Ok(Checked::Failed(format!("an input spending {o}, which does not exist")));
            };
            prevouts.push(out.clone());
        }
        Ok(match crate::consensus::verify_scripts(tx, &prevouts) {
            Ok(()) => Checked::Passed,
            Err(why) => Checked::Failed(format!("witnesses that fail Bitcoin Core's script check ({why})")),
        })
    }
}

/// A raw block that passed its checks, the server that gave it, and where
/// each of its transactions sits (worked out once: the walk asks a block
/// for each of the address's transactions in it).
pub struct CheckedBlock {
    /// The block, its checks passed.
    pub block: Block,
    /// The base URL of the server that gave it.
    pub server: String,
    position: HashMap<Txid, usize>,
}

/// What the script check found.
enum Checked {
    Passed,
    /// Why not, in words.
    Failed(String),
    /// More inputs than `MAX_SCRIPT_INPUTS`: not checked.
    TooLarge,
}

/// BIP 141's rule, as Bitcoin Core applies it (`CheckWitnessMalleation`):
/// when the coinbase has a witness commitment output (the last one with
/// the magic prefix counts), the coinbase witness must be one 32-byte
/// reserved value and the commitment must match the block's witnesses;
/// when it has none, no transaction may carry a witness. (rust-bitcoin's
/// `check_witness_commitment` accepts any block without witnesses, even one
/// whose coinbase commits to witnesses a server stripped.) A transaction
/// twice in one block is the CVE-2012-2459 mutation: the merkle root stays,
/// the block is not the miner's.
pub fn check_witnesses(block: &Block) -> std::result::Result<(), String> {
    const MAGIC: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    let mut seen = std::collections::HashSet::new();
    if !block.txdata.iter().all(|t| seen.insert(t.compute_txid())) {
        return Err("transaction list repeats a transaction (a mutated block)".into());
    }
    let Some(coinbase) = block.txdata.first().filter(|t| t.is_coinbase()) else {
        return Err("first transaction is not a coinbase".into());
    };
    let commitment =
        coinbase.output.iter().rev().map(|o| o.script_pubkey.as_bytes()).find(|s| s.len() >= 38 && s[..6] == MAGIC);
    match commitment {
        None if block.txdata.iter().all(|t| t.input.iter().all(|i| i.witness.is_empty())) => Ok(()),
        None => Err("transactions carry witnesses but its coinbase commits to none".into()),
        Some(c) => {
            let reserved = match (
                coinbase.input.first().map(|i| i.witness.len()),
                coinbase.input.first().and_then(|i| i.witness.nth(0)),
            ) {
                (Some(1), Some(r)) if r.len() == 32 => r,
                _ => return Err("coinbase witness is not the 32-byte reserved value its commitment needs".into()),
            };
            let root = block.witness_root().ok_or("witness root cannot be computed")?;
            if Block::compute_witness_commitment(&root, reserved).to_byte_array()[..] != c[6..38] {
                return Err("witnesses do not match its witness commitment".into());
            }
            Ok(())
        }
    }
}

//! One chain server, asked typed questions.
//!
//! `ChainSource` is what goat asks any one server: an address's history in
//! pages, a raw transaction, a merkle proof, a block hash by height, a
//! header, a raw block, … Two protocols implement it: Esplora's REST API
//! (`http::Http`) and Electrum (`electrum::Electrum`). Each answer comes back
//! typed, as a `Reply`: the value, or why this server gave none. Nothing
//! here is trusted: checking answers (txids, proofs, agreement between
//! servers), retrying and failing over live one level up, in `Esplora`.

use bitcoin::block::Header;
use bitcoin::{Address, Block, BlockHash, Transaction, Txid, Wtxid};
use esplora_client::{MerkleProof, TxStatus, Utxo};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What one server answered to one question.
#[derive(Debug)]
pub enum Reply<T> {
    /// The value asked for, as the server gave it.
    Ok(T),
    /// It says the thing does not exist (HTTP 404, Electrum "no such").
    NotFound(String),
    /// It refuses the question itself (HTTP 400, an Electrum error).
    Refused(u16, String),
    /// No usable answer this time: down, timed out, cut short, 5xx.
    Transient(String),
    /// HTTP 429, with the wait it asked for.
    RateLimited(Option<Duration>),
    /// An answer that cannot be what was asked: bytes that do not decode,
    /// a page whose transactions do not hash to its txids. A faulty or
    /// lying server.
    Invalid(String),
}

impl<T> Reply<T> {
    /// An `Ok`'s value passed through `f`; any other reply is kept as it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        self.and_then(|v| Reply::Ok(f(v)))
    }

    /// The reply `f` makes of an `Ok`'s value; any other reply is kept as it is.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Reply<U>) -> Reply<U> {
        match self {
            Reply::Ok(v) => f(v),
            Reply::NotFound(m) => Reply::NotFound(m),
            Reply::Refused(c, m) => Reply::Refused(c, m),
            Reply::Transient(m) => Reply::Transient(m),
            Reply::RateLimited(d) => Reply::RateLimited(d),
            Reply::Invalid(m) => Reply::Invalid(m),
        }
    }
}

/// Whether a broadcast's refusal says the node has the transaction
/// already (in its mempool or a block): a success for goat, which may send
/// the same transaction twice (`--finalize` run again, a second server).
/// Bitcoin Core's reject reasons ("txn-already-known", "Transaction
/// already in block chain"), passed on by Esplora's `POST /tx` and
/// Electrum's `blockchain.transaction.broadcast`, are the protocols' only
/// way to say it: no code comes with them. A server could say it of a
/// transaction it dropped, as it could answer the txid and drop it: the
/// broadcast is confirmed only by the transaction showing up.
pub fn already_known(reason: &str) -> bool {
    reason.contains("already")
}

/// Which page of an address's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Up to 50 unconfirmed transactions, then the newest 25 confirmed
    /// (Esplora's `/address/:a/txs`).
    First,
    /// The newest 25 confirmed (`/address/:a/txs/chain`).
    NewestConfirmed,
    /// Confirmed ones older than this txid, newest first
    /// (`/address/:a/txs/chain/:last`; Electrum pages grow with depth).
    ConfirmedAfter(Txid),
}

/// One transaction of a history page, as the server served it. A history
/// may be thousands of transactions of up to 4 MB each, so what is kept of
/// each is small: its witnesses only while they are (`witness::KEPT_COPY`),
/// else their wtxid and whether they held an envelope.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its txid, which the served copy was checked to hash to.
    pub txid: Txid,
    /// The server's copy: whole (`whole`), or without its witnesses. The
    /// txid pins all but the witnesses; the witnesses are its word until
    /// proven (`witness.rs`).
    pub tx: Arc<Transaction>,
    /// Whether `tx` kept its witnesses (it was at most `witness::KEPT_COPY` bytes).
    pub whole: bool,
    /// The served copy's wtxid (its witnesses included).
    pub wtxid: Wtxid,
    /// Its served witnesses hold an envelope.
    pub envelope: bool,
    /// The block height it claims; None: unconfirmed.
    pub height: Option<u32>,
}

impl Listed {
    /// `tx` as served (its txid checked by the caller).
    pub fn new(txid: Txid, tx: Transaction, height: Option<u32>) -> Listed {
        let wtxid = tx.compute_wtxid();
        let envelope = crate::inscription::envelope::any(&tx);
        let whole = tx.total_size() <= super::witness::KEPT_COPY;
        let tx = if whole { tx } else { super::without_witnesses(&tx) };
        Listed { txid, tx: Arc::new(tx), whole, wtxid, envelope, height }
    }
}

/// A boxed future, so the trait stays object-safe without a macro crate.
pub type Ask<'a, T> = Pin<Box<dyn Future<Output = Reply<T>> + Send + 'a>>;

/// One chain server.
pub trait ChainSource: Send + Sync {
    /// The URL it was configured with (how goat names it).
    fn url(&self) -> &str;
    /// Round trips so far, where one question may take several or a batch
    /// answers several (Electrum); None where every question is one.
    fn round_trips(&self) -> Option<u64> {
        None
    }
    /// One page of `a`'s history, each transaction checked to hash to its listed txid.
    fn history<'a>(&'a self, a: &'a Address, page: Page) -> Ask<'a, Vec<Listed>>;
    /// A transaction's bytes, decoded (not yet checked against `t`).
    fn raw_tx<'a>(&'a self, t: &'a Txid) -> Ask<'a, Transaction>;
    /// Whether `t` is confirmed, and at what height (an Electrum server tells it
    /// only for a transaction of a history already read).
    fn tx_status<'a>(&'a self, t: &'a Txid) -> Ask<'a, TxStatus>;
    /// Electrum-format merkle branch (both protocols share it).
    fn merkle_proof<'a>(&'a self, t: &'a Txid) -> Ask<'a, MerkleProof>;
    /// The hash of the server's block at `height`.
    fn block_hash(&self, height: u32) -> Ask<'_, BlockHash>;
    /// The coinbase's txid and its merkle branch (position 0) in block
    /// `h` at `height`: its length is the block's depth, which every
    /// proof in that block must match.
    fn coinbase_branch<'a>(&'a self, h: &'a BlockHash, height: u32) -> Ask<'a, (Txid, Vec<Txid>)>;
    /// The height of the server's best block.
    fn tip_height(&self) -> Ask<'_, u32>;
    /// A header, decoded (not yet checked against `h`).
    fn header<'a>(&'a self, h: &'a BlockHash) -> Ask<'a, Header>;
    /// A whole block, decoded (not yet checked). Electrum serves none.
    fn raw_block<'a>(&'a self, h: &'a BlockHash) -> Ask<'a, Block>;
    /// The unspent outputs paying `a`, as the server lists them.
    fn utxos<'a>(&'a self, a: &'a Address) -> Ask<'a, Vec<Utxo>>;
    /// Confirmation target in blocks → sat/vB.
    fn fee_estimates(&self) -> Ask<'_, HashMap<u16, f64>>;
    /// Hand a transaction to the server's node. Ok also when it already
    /// has it.
    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> Ask<'a, Txid>;
}

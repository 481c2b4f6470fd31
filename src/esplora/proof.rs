//! Proven confirmation: a transaction is in a block with real proof of work,
//! and every server that answers agrees on that block.
//!
//! For a txid, one server's merkle proof (`/tx/:txid/merkle-proof`, Electrum
//! format) must lead from the txid to the merkle root of the header that
//! server gives for that height (`/block-height/:h`, `/block/:hash/header`).
//! The header must hash to the block id, meet its own target, and the target
//! must be one the network allows (`check_work`). A server that fails any
//! check is named, dropped for the rest of the run, and the next one is
//! tried. Then every other server that has not been caught lying is asked
//! for its block at that height: all that answer must agree.
//!
//! Hand-written on top of `bitcoin`'s header and target types: esplora-client
//! fetches proofs and headers but does not check them against each other.

use super::{Esplora, Outcome};
use crate::error::{Error, Result};
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, Network, TxMerkleNode, Txid};

/// Taproot activated at this mainnet height; no inscription can be older.
pub const TAPROOT_MAINNET_HEIGHT: u32 = 709_632;

/// Lowest difficulty a mainnet header may claim from a height on. Real
/// difficulty at each height was roughly 8 to 11 times these floors (about
/// 1.9 T at 500 000, 22 T at 709 632, 86 T at 840 000) and has never fallen
/// by more than about a third in one adjustment, so no real header is
/// refused, while a forged one must still carry the work of the whole
/// network for minutes (floor × 2^32 hashes). Testnets reset to minimum
/// difficulty by rule, so only their proof-of-work limit applies there.
const MAINNET_FLOORS: [(u32, f64); 3] = [(500_000, 2e11), (709_632, 2e12), (840_000, 1e13)];

/// A transaction proven to be in a block.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proven {
    pub txid: Txid,
    pub height: u32,
    pub block: BlockHash,
    /// The server whose proof was checked.
    pub server: String,
    /// Other servers that named the same block at that height.
    pub agreed: Vec<String>,
    /// Servers that gave no answer (reported and skipped).
    pub unanswered: Vec<String>,
}

/// Why one server's proof was not accepted.
enum Failure {
    /// A check failed: the server is faulty or lying.
    Lie(String),
    /// No answer.
    Unreachable(String),
    /// The server says the transaction is not confirmed. Not a lie in
    /// itself: the server that listed it as confirmed may be the liar, and
    /// an honest server must not be dropped for contradicting it.
    Unconfirmed(String),
}

/// Check a header's proof of work for `network`, at the height a server
/// claims for it.
pub fn check_work(header: &Header, network: Network, height: u32) -> std::result::Result<(), String> {
    let target = header.target();
    let limit = bitcoin::params::Params::new(network).max_attainable_target;
    if target > limit {
        return Err(format!(
            "block header target {:#010x} is easier than {}'s proof-of-work limit: not a block of that network (pass --network for the server's chain)",
            header.bits.to_consensus(),
            crate::address::network_name(network)
        ));
    }
    if header.validate_pow(target).is_err() {
        return Err("block header does not meet its own proof-of-work target".into());
    }
    if network == Network::Bitcoin {
        let difficulty = header.difficulty_float();
        for (from, floor) in MAINNET_FLOORS {
            if height >= from && difficulty < floor {
                return Err(format!(
                    "block header claims height {height} with difficulty {difficulty:.3e}, far below any real mainnet block there (at least {floor:.0e})"
                ));
            }
        }
    }
    Ok(())
}

/// The merkle root an Electrum-style branch leads to from `txid`.
pub fn merkle_root(txid: &Txid, branch: &[Txid], pos: usize) -> Option<TxMerkleNode> {
    if branch.len() < usize::BITS as usize && pos >> branch.len() != 0 {
        return None; // the position does not fit the branch
    }
    let mut h = txid.to_byte_array();
    let mut p = pos;
    for sib in branch {
        let s = sib.to_byte_array();
        let mut buf = [0u8; 64];
        let (l, r) = if p & 1 == 0 { (&h, &s) } else { (&s, &h) };
        buf[..32].copy_from_slice(l);
        buf[32..].copy_from_slice(r);
        h = sha256d::Hash::hash(&buf).to_byte_array();
        p >>= 1;
    }
    Some(TxMerkleNode::from_byte_array(h))
}

impl Esplora {
    /// Prove that `txid` is confirmed (see the module doc). Fails with
    /// InvalidData when no server gives a provable answer and at least one
    /// lied, or when honest-looking servers disagree on the block.
    pub async fn prove(&self, txid: &Txid, network: Network) -> Result<Proven> {
        if let Some(p) = self.proven.lock().ok().and_then(|c| c.get(txid).cloned()) {
            return Ok(p);
        }
        let p = self.prove_now(txid, network).await?;
        if let Ok(mut c) = self.proven.lock() {
            c.insert(*txid, p.clone());
        }
        Ok(p)
    }

    /// A height the chain has surely reached: the lowest best height the
    /// servers name, each with its block's header checked (it hashes to
    /// the block the server names there, and its work holds). `goat
    /// publish` signs "after" it: a height too high would make the holder's
    /// own new goatfile count for nothing (`trust::signature`), while a
    /// lower one only makes later walks longer. So every server is asked
    /// and the lowest answer wins; one that cannot show a worked header at
    /// the height it names is dropped. A single server is believed (a
    /// header's work does not prove its height); docs/trust.md says so.
    /// Returns the height and its header's timestamp.
    pub async fn proven_tip(&self, network: Network) -> Result<(u32, u32)> {
        let mut lowest: Option<(u32, u32)> = None;
        let mut silent = Vec::new();
        for idx in self.order() {
            let height = match self.ask_at(idx, "the best block's height", &|s| s.tip_height(), &Ok).await {
                Outcome::Ok(h) => h,
                Outcome::Invalid(why) => {
                    self.reject(idx, &why);
                    continue;
                }
                other => {
                    silent.push(format!("{}: {}", self.endpoint(idx), failure_words(other)));
                    continue;
                }
            };
            let block = match self.ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok).await {
                Outcome::Ok(h) => Ok(h),
                Outcome::NotFound(_) => Err(Failure::Lie(format!("names {height} as its best height but has no block there"))),
                other => Err(failure(other)),
            };
            let checked = match block {
                Ok(b) => self.header_at(idx, &b, network, height).await.map(|h| (height, h.time)),
                Err(f) => Err(f),
            };
            match checked {
                Ok(h) => lowest = Some(lowest.map_or(h, |l| l.min(h))),
                Err(Failure::Lie(why)) => self.reject(idx, &why),
                Err(Failure::Unreachable(why) | Failure::Unconfirmed(why)) => silent.push(format!("{}: {why}", self.endpoint(idx))),
            }
        }
        lowest.ok_or_else(|| {
            Error::network(format!(
                "no server showed its best block ({}): check your connection or pass another --esplora",
                if silent.is_empty() { "all were caught lying".to_string() } else { silent.join("; ") }
            ))
        })
    }

    async fn prove_now(&self, txid: &Txid, network: Network) -> Result<Proven> {
        let tx = self.tx(txid).await?;
        // A 64-byte transaction can pose as an inner merkle node (the
        // "64-byte transaction" weakness): refuse to prove one.
        if tx.base_size() == 64 {
            return Err(Error::invalid(format!("{txid} is a 64-byte transaction, which a merkle proof cannot pin down")));
        }
        let mut lies = Vec::new();
        let mut unanswered = Vec::new();
        let mut unconfirmed = Vec::new();
        let mut proven = None;
        for idx in self.order() {
            match self.prove_at(idx, txid, network).await {
                Ok((height, block)) => {
                    proven = Some((idx, height, block));
                    break;
                }
                Err(Failure::Lie(why)) => {
                    self.reject(idx, &why);
                    lies.push(format!("{}: {why}", self.endpoint(idx)));
                }
                Err(Failure::Unreachable(why)) => {
                    tracing::warn!("{}: no answer while proving {txid} ({why}); skipped", self.endpoint(idx));
                    unanswered.push(self.endpoint(idx).to_string());
                }
                Err(Failure::Unconfirmed(why)) => unconfirmed.push(format!("{} {why}", self.endpoint(idx))),
            }
        }
        let Some((prover, height, block)) = proven else {
            return Err(match (lies.first(), unconfirmed.first()) {
                (Some(first), _) => Error::invalid(format!(
                    "no Esplora server gave a provable answer for {txid} ({first}): try another --esplora"
                )),
                // "Not confirmed" counts only when no server was silent.
                (None, Some(_)) if unanswered.is_empty() => Error::not_found(format!(
                    "no server proves {txid} confirmed ({})",
                    unconfirmed.join("; ")
                )),
                (None, _) => Error::network(format!(
                    "no Esplora server answered while proving {txid}: check your connection or pass another --esplora"
                )),
            });
        };
        let mut agreed = Vec::new();
        let mut dissent = Vec::new();
        for idx in self.order() {
            if idx == prover {
                continue;
            }
            match self.ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok).await {
                Outcome::Ok(h) if h == block => agreed.push(self.endpoint(idx).to_string()),
                // A server naming another block must at least show a header
                // with real work for it; if it cannot, it is lying, not
                // disagreeing.
                Outcome::Ok(h) => match self.header_at(idx, &h, network, height).await {
                    Ok(_) => dissent.push(format!("{} names {h}", self.endpoint(idx))),
                    Err(Failure::Lie(why)) => self.reject(idx, &why),
                    Err(Failure::Unreachable(why) | Failure::Unconfirmed(why)) => {
                        tracing::warn!("{}: names block {h} but gives no header for it ({why}); skipped", self.endpoint(idx));
                        unanswered.push(self.endpoint(idx).to_string());
                    }
                },
                Outcome::NotFound(_) => dissent.push(format!("{} has no block at that height", self.endpoint(idx))),
                Outcome::Invalid(why) => self.reject(idx, &why),
                Outcome::Refused(code, why) => {
                    tracing::warn!("{}: refused /block-height/{height} (HTTP {code}: {why}); skipped", self.endpoint(idx));
                    unanswered.push(self.endpoint(idx).to_string());
                }
                Outcome::Unreachable(why) => {
                    tracing::warn!("{}: no answer for /block-height/{height} ({why}); skipped", self.endpoint(idx));
                    unanswered.push(self.endpoint(idx).to_string());
                }
            }
        }
        if !dissent.is_empty() {
            let msg = format!(
                "Esplora servers disagree on the block at height {height}: {} names {block}, {}",
                self.endpoint(prover),
                dissent.join(", ")
            );
            if self.trusted() == Some(prover) {
                tracing::warn!("{msg}; following --trust-server {}", self.endpoint(prover));
            } else {
                return Err(Error::invalid(format!(
                    "{msg}: one is lying or on a stale fork; pass --trust-server URL to follow one"
                )));
            }
        }
        Ok(Proven { txid: *txid, height, block, server: self.endpoint(prover).to_string(), agreed, unanswered })
    }

    /// One server's proof for `txid`: its merkle proof, its block hash at
    /// that height, and that block's header, checked against each other.
    async fn prove_at(&self, idx: usize, txid: &Txid, network: Network) -> std::result::Result<(u32, BlockHash), Failure> {
        let proof = match self.ask_at(idx, &format!("the merkle proof of {txid}"), &|s| s.merkle_proof(txid), &Ok).await {
            Outcome::Ok(p) => p,
            Outcome::NotFound(_) => return Err(Failure::Unconfirmed("says it is not confirmed".into())),
            other => return Err(failure(other)),
        };
        let height = proof.block_height;
        let block = match self.ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok).await {
            Outcome::Ok(h) => h,
            Outcome::NotFound(_) => return Err(Failure::Lie(format!("has no block at height {height}, where it put {txid}"))),
            other => return Err(failure(other)),
        };
        let header = self.header_at(idx, &block, network, height).await?;
        match merkle_root(txid, &proof.merkle, proof.pos) {
            Some(root) if root == header.merkle_root => Ok((height, block)),
            _ => Err(Failure::Lie(format!("its merkle proof for {txid} does not lead to block {block}'s merkle root"))),
        }
    }

    /// A header fetched from endpoint `idx` and checked: it hashes to
    /// `block`, and its proof of work holds for `network` at `height`.
    async fn header_at(&self, idx: usize, block: &BlockHash, network: Network, height: u32) -> std::result::Result<Header, Failure> {
        if let Some(h) = self.headers.lock().ok().and_then(|c| c.get(block).copied()) {
            check_work(&h, network, height).map_err(Failure::Lie)?;
            return Ok(h);
        }
        let want = *block;
        let check = move |header: Header| -> std::result::Result<Header, String> {
            if header.block_hash() != want {
                return Err(format!("block header does not hash to {want} (it hashes to {})", header.block_hash()));
            }
            Ok(header)
        };
        let header = match self.ask_at(idx, &format!("the header of block {block}"), &|s| s.header(block), &check).await {
            Outcome::Ok(h) => h,
            Outcome::NotFound(_) => return Err(Failure::Lie(format!("has no header for its own block {block}"))),
            other => return Err(failure(other)),
        };
        check_work(&header, network, height).map_err(Failure::Lie)?;
        if let Ok(mut c) = self.headers.lock() {
            c.insert(*block, header);
        }
        Ok(header)
    }
}

fn failure_words<T>(o: Outcome<T>) -> String {
    match failure(o) {
        Failure::Lie(w) | Failure::Unreachable(w) | Failure::Unconfirmed(w) => w,
    }
}

fn failure<T>(o: Outcome<T>) -> Failure {
    match o {
        Outcome::Invalid(why) => Failure::Lie(why),
        Outcome::Refused(code, why) => Failure::Unreachable(format!("HTTP {code}: {why}")),
        Outcome::Unreachable(why) | Outcome::NotFound(why) => Failure::Unreachable(why),
        Outcome::Ok(_) => Failure::Unreachable("unexpected answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::blockdata::block::Version;
    use bitcoin::CompactTarget;

    fn mined(bits: u32, time: u32) -> Header {
        let mut h = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce: 0,
        };
        while h.validate_pow(h.target()).is_err() {
            h.nonce += 1;
        }
        h
    }

    #[test]
    fn regtest_work_is_not_mainnet_work() {
        let h = mined(0x207f_ffff, 1);
        assert!(check_work(&h, Network::Regtest, 100).is_ok());
        let e = check_work(&h, Network::Bitcoin, 100).unwrap_err();
        assert!(e.contains("proof-of-work limit"), "{e}");
        // beyond regtest's own limit
        let weak = mined(0x2100_ffff, 1);
        assert!(check_work(&weak, Network::Regtest, 100).unwrap_err().contains("proof-of-work limit"));
    }

    #[test]
    fn a_header_that_misses_its_own_target_is_refused() {
        let mut h = mined(0x207f_ffff, 2);
        // find a nonce whose hash misses the target
        while h.validate_pow(h.target()).is_ok() {
            h.nonce += 1;
        }
        assert!(check_work(&h, Network::Regtest, 1).unwrap_err().contains("own proof-of-work"));
    }

    #[test]
    fn mainnet_difficulty_one_at_a_modern_height_is_a_lie() {
        let h = bitcoin::constants::genesis_block(Network::Bitcoin).header;
        // the real genesis header: valid at height 0
        assert!(check_work(&h, Network::Bitcoin, 0).is_ok(), "{:?}", check_work(&h, Network::Bitcoin, 0));
        let e = check_work(&h, Network::Bitcoin, 850_000).unwrap_err();
        assert!(e.contains("far below"), "{e}");
    }

    #[test]
    fn merkle_branches() {
        let a = Txid::from_byte_array([1; 32]);
        let b = Txid::from_byte_array([2; 32]);
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&[1; 32]);
        buf[32..].copy_from_slice(&[2; 32]);
        let root = TxMerkleNode::from_byte_array(sha256d::Hash::hash(&buf).to_byte_array());
        assert_eq!(merkle_root(&a, &[b], 0), Some(root));
        assert_eq!(merkle_root(&b, &[a], 1), Some(root));
        assert_ne!(merkle_root(&a, &[b], 1), Some(root));
        assert_eq!(merkle_root(&a, &[b], 2), None);
        assert_eq!(merkle_root(&a, &[], 0), Some(TxMerkleNode::from_byte_array([1; 32])));
    }
}

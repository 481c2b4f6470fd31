//! Proven confirmation: a transaction is in a block with real proof of work,
//! and another server actively names that block at that height.
//!
//! For a txid, one server's merkle proof (`/tx/:txid/merkle-proof`, Electrum
//! format) must lead from the txid to the merkle root of the header that
//! server gives for that height (`/block-height/:h`, `/block/:hash/header`),
//! and be exactly as deep as the block (its coinbase's branch, `depth_of`).
//! The header must hash to the block id, meet its own target, and the target
//! must be one the network allows (`check_work`). A server whose bytes fail
//! any check is named, dropped for the rest of the run, and the next one is
//! tried. Then every other server that has not been caught is asked for its
//! block at that height, and one must name the same block: silence is not
//! agreement, and a server that says "not confirmed" or names another block
//! is a disagreement (refused, both named), never a liar to drop. Only when
//! every other server was caught in a provable lie does a proof rest on one
//! server (with a warning): a liar must not veto by getting caught.
//!
//! Hand-written on top of `bitcoin`'s header and target types: esplora-client
//! fetches proofs and headers but does not check them against each other.

use super::{Esplora, Outcome};
use crate::error::{Error, Result};
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, CompactTarget, Network, Target, TxMerkleNode, Txid};

/// Taproot activated at this mainnet height; no inscription can be older.
pub const TAPROOT_MAINNET_HEIGHT: u32 = 709_632;

/// Lowest difficulty a mainnet header may claim from a height on, beside
/// the table of bits (`bits::MAINNET_BITS`): beyond its end, where headers
/// are allowed to be up to four times easier per period, these floors
/// still hold. Real difficulty at each height was roughly 8 to 11 times
/// these (about 1.9 T at 500 000, 22 T at 709 632, 86 T at 840 000) and
/// has never fallen by more than about a third in one adjustment.
const MAINNET_FLOORS: [(u32, f64); 3] = [(500_000, 2e11), (709_632, 2e12), (840_000, 1e13)];

/// A transaction proven to be in a block.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proven {
    /// The transaction proven.
    pub txid: Txid,
    /// That block's height.
    pub height: u32,
    /// The block it is in.
    pub block: BlockHash,
    /// The server whose proof was checked.
    pub server: String,
    /// Other servers that named the same block at that height.
    pub agreed: Vec<String>,
    /// Servers that gave no answer (reported and skipped).
    pub unanswered: Vec<String>,
    /// No other server confirmed the block: one server configured, or
    /// every other one caught lying (`goat` warns).
    pub alone: bool,
}

/// Pause before asking again when servers disagree.
const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// What one round of asking the servers gave.
enum Round {
    Proven(Proven),
    /// They disagree: why, in words naming them.
    Disputed(String),
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
    if network == Network::Bitcoin {
        mainnet_bits(header, height)?;
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

/// A mainnet header's bits against its retarget period's: exactly the
/// table's within it (`bits::MAINNET_BITS`); beyond it, a target at most
/// four times easier per period than the table's last (the most one
/// retarget can change it).
fn mainnet_bits(header: &Header, height: u32) -> std::result::Result<(), String> {
    use super::bits::{MAINNET_BITS, PERIOD};
    let period = (height / PERIOD) as usize;
    let claimed = header.bits.to_consensus();
    if let Some(&bits) = MAINNET_BITS.get(period) {
        if claimed != bits {
            return Err(format!(
                "block header claims height {height} with bits {claimed:#010x}, but every mainnet block of that retarget period carries {bits:#010x}"
            ));
        }
        return Ok(());
    }
    let last = MAINNET_BITS.len() - 1;
    let mut easiest = Target::from_compact(CompactTarget::from_consensus(MAINNET_BITS[last]));
    for _ in last..period {
        let next = easiest.max_transition_threshold(Network::Bitcoin);
        if next == easiest {
            break; // at the network's limit: a far height costs no more
        }
        easiest = next;
    }
    if header.target() > easiest {
        return Err(format!(
            "block header claims height {height} with bits {claimed:#010x}, easier than the chain can have become since height {} (at most four times per retarget)",
            last as u32 * PERIOD
        ));
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

/// A block's merkle depth, from its coinbase (whose bytes hash to the
/// txid its branch starts from) and the coinbase's branch at position 0.
pub fn depth_of(
    coinbase: &bitcoin::Transaction,
    branch: &[Txid],
    root: TxMerkleNode,
) -> std::result::Result<usize, String> {
    let cb = coinbase.compute_txid();
    if !coinbase.is_coinbase() || coinbase.base_size() == 64 {
        return Err(format!("{cb}, named as its coinbase, is not one"));
    }
    if merkle_root(&cb, branch, 0) != Some(root) {
        return Err("its coinbase's merkle branch does not lead to its merkle root".into());
    }
    Ok(branch.len())
}

/// BIP 34: from this height on, a block's coinbase starts with its height
/// (Bitcoin Core's regtest enforces it from height 1, though rust-bitcoin's
/// parameters say otherwise).
fn bip34_from(network: Network) -> u32 {
    match network {
        Network::Regtest => 1,
        n => bitcoin::params::Params::new(n).bip34_height,
    }
}

/// The height a proven coinbase commits its block to must be the height a
/// server claims for it: a real block named at another height (to misplace
/// a transaction, with a colluding server agreeing) is caught here.
pub fn check_height(coinbase: &bitcoin::Transaction, network: Network, height: u32) -> std::result::Result<(), String> {
    if height < bip34_from(network) {
        return Ok(());
    }
    let want = bitcoin::script::Builder::new().push_int(i64::from(height)).into_script();
    let sig = coinbase.input.first().map(|i| i.script_sig.as_bytes()).unwrap_or_default();
    if !sig.starts_with(want.as_bytes()) {
        return Err(format!("its coinbase does not commit to height {height} (BIP 34): it is another height's block"));
    }
    Ok(())
}

/// Every transaction of a block sits at the block's depth: a branch one
/// level deeper ends at half of a 64-byte transaction read as an inner
/// node (CVE-2017-12842).
pub fn check_depth(branch: &[Txid], depth: usize) -> std::result::Result<(), String> {
    if branch.len() != depth {
        return Err(format!(
            "is {} levels deep but its block is {depth} deep (a proof through a 64-byte transaction: CVE-2017-12842)",
            branch.len()
        ));
    }
    Ok(())
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
            let block = match self
                .ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok)
                .await
            {
                Outcome::Ok(h) => Ok(h),
                Outcome::NotFound(_) => {
                    Err(Failure::Unreachable(format!("names {height} as its best height but has no block there")))
                }
                other => Err(failure(other)),
            };
            let checked = match block {
                Ok(b) => self.header_at(idx, &b, network, height).await.map(|h| (height, h.time)),
                Err(f) => Err(f),
            };
            match checked {
                Ok(h) => lowest = Some(lowest.map_or(h, |l| l.min(h))),
                Err(Failure::Lie(why)) => self.reject(idx, &why),
                Err(Failure::Unreachable(why) | Failure::Unconfirmed(why)) => {
                    silent.push(format!("{}: {why}", self.endpoint(idx)))
                }
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
            return Err(Error::invalid(format!(
                "{txid} is a 64-byte transaction, which a merkle proof cannot pin down"
            )));
        }
        if let Round::Proven(p) = self.prove_round(txid, network).await? {
            return Ok(p);
        }
        // A block found between two requests can make honest servers
        // differ for a moment: ask once more before refusing.
        tokio::time::sleep(RECHECK_AFTER).await;
        match self.prove_round(txid, network).await? {
            Round::Proven(p) => Ok(p),
            Round::Disputed(msg) => {
                Err(Error::invalid(format!("{msg}: one is lying or behind; pass --trust-server URL to follow one")))
            }
        }
    }

    /// One round of `prove_now`: the first server whose proof checks out,
    /// then every other server asked for its block at that height.
    async fn prove_round(&self, txid: &Txid, network: Network) -> Result<Round> {
        let mut lies = Vec::new();
        let mut silent = Vec::new();
        // Servers that say the transaction is not confirmed: not liars (the
        // prover may be the liar), but not agreement either.
        let mut unconfirmed: Vec<(usize, String)> = Vec::new();
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
                    tracing::debug!("{}: no proof of {txid} ({why})", self.endpoint(idx));
                    silent.push(format!("{} {why}", self.endpoint(idx)));
                }
                Err(Failure::Unconfirmed(why)) => unconfirmed.push((idx, why)),
            }
        }
        let Some((prover, height, block)) = proven else {
            return Err(match (lies.first(), unconfirmed.first()) {
                (Some(first), _) => Error::invalid(format!(
                    "no Esplora server gave a provable answer for {txid} ({first}): try another --esplora"
                )),
                // "Not confirmed" counts only when no server was silent.
                (None, Some(_)) if silent.is_empty() => Error::not_found(format!(
                    "no server proves {txid} confirmed ({})",
                    unconfirmed.iter().map(|(i, why)| format!("{} {why}", self.endpoint(*i))).collect::<Vec<_>>().join("; ")
                )),
                (None, _) => Error::network(format!(
                    "no Esplora server answered while proving {txid} ({}): check your connection or pass another --esplora",
                    silent.join("; ")
                )),
            });
        };
        let mut agreed = Vec::new();
        let mut dissent: Vec<String> =
            unconfirmed.iter().map(|(i, why)| format!("{} {why}", self.endpoint(*i))).collect();
        let mut unanswered: Vec<(String, String)> = Vec::new();
        for idx in self.order() {
            if idx == prover || unconfirmed.iter().any(|(i, _)| *i == idx) {
                continue;
            }
            let server = self.endpoint(idx).to_string();
            match self.ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok).await {
                Outcome::Ok(h) if h == block => agreed.push(server),
                // A server naming another block must at least show a header
                // with real work for it; if it cannot, it is lying, not
                // disagreeing.
                Outcome::Ok(h) => match self.header_at(idx, &h, network, height).await {
                    Ok(_) => dissent.push(format!("{server} names block {h} there")),
                    Err(Failure::Lie(why)) => self.reject(idx, &why),
                    Err(Failure::Unreachable(why) | Failure::Unconfirmed(why)) => {
                        unanswered.push((server, format!("names block {h} but gives no header for it ({why})")))
                    }
                },
                Outcome::NotFound(_) => dissent.push(format!("{server} has no block at height {height}")),
                Outcome::Invalid(why) => self.reject(idx, &why),
                Outcome::Refused(code, why) => unanswered.push((server, format!("HTTP {code}: {why}"))),
                Outcome::Unreachable(why) => unanswered.push((server, why)),
            }
        }
        let by = self.endpoint(prover).to_string();
        if !dissent.is_empty() {
            let msg = format!(
                "servers disagree on {txid}: {by} proves it in block {block} at height {height}; {}",
                dissent.join("; ")
            );
            if self.trusted() != Some(prover) {
                return Ok(Round::Disputed(msg));
            }
            tracing::warn!("{msg}; following --trust-server {by}");
        }
        let alone = agreed.is_empty();
        if alone && self.endpoint_count() > 1 {
            let causes = unanswered.iter().map(|(s, why)| format!("{s}: {why}")).collect::<Vec<_>>().join("; ");
            let others = self.order().into_iter().filter(|i| *i != prover).count();
            if others == 0 {
                // Only servers caught in a provable lie are left out: they
                // must not be able to veto a proof by getting caught.
                tracing::warn!(
                    "the proof of {txid} (block {block} at height {height}) rests on {by} alone: every other server was caught lying"
                );
            } else if self.trusted() == Some(prover) {
                tracing::warn!(
                    "no other server confirmed block {block} of {txid} ({causes}); following --trust-server {by}"
                );
            } else {
                // Silence is not agreement.
                return Err(Error::network(format!(
                    "only {by} proved {txid} (block {block} at height {height}); no other server confirmed that block ({causes}): run again later, add an --esplora server, or pass --trust-server {by} to rely on it alone"
                )));
            }
        }
        for (s, why) in &unanswered {
            tracing::warn!("{s}: no answer while confirming {txid}'s block ({why}); skipped");
        }
        let unanswered = unanswered.into_iter().map(|(s, _)| s).collect();
        Ok(Round::Proven(Proven { txid: *txid, height, block, server: by, agreed, unanswered, alone }))
    }

    /// One server's proof for `txid`: its merkle proof, its block hash at
    /// that height, and that block's header, checked against each other;
    /// the branch must be as deep as the block (`depth_at`).
    async fn prove_at(
        &self,
        idx: usize,
        txid: &Txid,
        network: Network,
    ) -> std::result::Result<(u32, BlockHash), Failure> {
        let proof = match self.ask_at(idx, &format!("the merkle proof of {txid}"), &|s| s.merkle_proof(txid), &Ok).await
        {
            Outcome::Ok(p) => p,
            Outcome::NotFound(_) => return Err(Failure::Unconfirmed("says it is not confirmed".into())),
            other => return Err(failure(other)),
        };
        let height = proof.block_height;
        let block =
            match self.ask_at(idx, &format!("the block at height {height}"), &|s| s.block_hash(height), &Ok).await {
                Outcome::Ok(h) => h,
                // Not proof of a lie by itself (an index catching up answers
                // so too): no answer from this server.
                Outcome::NotFound(_) => {
                    return Err(Failure::Unreachable(format!("has no block at height {height}, where it put {txid}")))
                }
                other => return Err(failure(other)),
            };
        let header = self.header_at(idx, &block, network, height).await?;
        if merkle_root(txid, &proof.merkle, proof.pos) != Some(header.merkle_root) {
            return Err(Failure::Lie(format!(
                "its merkle proof for {txid} does not lead to block {block}'s merkle root"
            )));
        }
        let depth = self.depth_at(idx, &block, height, &header, network).await?;
        check_depth(&proof.merkle, depth).map_err(|why| Failure::Lie(format!("its merkle proof for {txid} {why}")))?;
        Ok((height, block))
    }

    /// The merkle depth of `block` (whose checked header is `header`), as
    /// long as its coinbase's branch: every transaction of a block sits at
    /// the same depth, so a proof one level deeper ends at a 64-byte
    /// transaction read as an inner node (CVE-2017-12842). The coinbase's
    /// bytes are checked too: a branch that starts from an inner node
    /// instead (to make the block look shallower) needs "coinbase" bytes
    /// that hash to it, which are 64 bytes and no coinbase.
    async fn depth_at(
        &self,
        idx: usize,
        block: &BlockHash,
        height: u32,
        header: &Header,
        network: Network,
    ) -> std::result::Result<usize, Failure> {
        if let Some(d) = self.depths.lock().ok().and_then(|c| c.get(&(*block, height)).copied()) {
            return Ok(d);
        }
        let what = format!("the coinbase of block {block}");
        // (`failure` takes a 404 as no answer.)
        let (cb, branch) = match self.ask_at(idx, &what, &|s| s.coinbase_branch(block, height), &Ok).await {
            Outcome::Ok(v) => v,
            other => return Err(failure(other)),
        };
        let tx = match self.ask_at(idx, &what, &|s| s.raw_tx(&cb), &super::hashes_to(cb)).await {
            Outcome::Ok(t) => t,
            other => return Err(failure(other)),
        };
        let depth =
            depth_of(&tx, &branch, header.merkle_root).map_err(|why| Failure::Lie(format!("block {block}: {why}")))?;
        check_height(&tx, network, height)
            .map_err(|why| Failure::Lie(format!("names block {block} at height {height}, but {why}")))?;
        if let Ok(mut c) = self.depths.lock() {
            c.insert((*block, height), depth);
        }
        Ok(depth)
    }

    /// A header fetched from endpoint `idx` and checked: it hashes to
    /// `block`, and its proof of work holds for `network` at `height`.
    async fn header_at(
        &self,
        idx: usize,
        block: &BlockHash,
        network: Network,
        height: u32,
    ) -> std::result::Result<Header, Failure> {
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
        let header = match self.ask_at(idx, &format!("the header of block {block}"), &|s| s.header(block), &check).await
        {
            Outcome::Ok(h) => h,
            Outcome::NotFound(_) => {
                return Err(Failure::Unreachable(format!("has no header for its own block {block}")))
            }
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
        assert!(e.contains("retarget period"), "{e}");
    }

    /// The table against real mainnet headers (one at the start of every
    /// retarget period, shipped in tests/data): each carries its period's
    /// bits, meets its own target, and passes `check_work` anywhere in its
    /// period; the same header claimed a period later, or with easier bits,
    /// is refused.
    #[test]
    fn the_bits_table_matches_real_mainnet_headers() {
        use super::super::bits::{MAINNET_BITS, PERIOD};
        let data = include_str!("../../tests/data/mainnet-retarget-headers.txt");
        let mut n = 0;
        for line in data.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (height, hex) = line.split_once(' ').unwrap();
            let height: u32 = height.parse().unwrap();
            let header: Header = bitcoin::consensus::deserialize(&hex::decode(hex).unwrap()).unwrap();
            assert_eq!(height % PERIOD, 0);
            assert_eq!(header.bits.to_consensus(), MAINNET_BITS[(height / PERIOD) as usize], "height {height}");
            assert!(header.validate_pow(header.target()).is_ok(), "height {height}");
            for h in [height, height + PERIOD - 1] {
                assert!(
                    check_work(&header, Network::Bitcoin, h).is_ok(),
                    "height {h}: {:?}",
                    check_work(&header, Network::Bitcoin, h)
                );
            }
            if (height / PERIOD) as usize + 1 < MAINNET_BITS.len()
                && MAINNET_BITS[(height / PERIOD) as usize + 1] != header.bits.to_consensus()
            {
                assert!(check_work(&header, Network::Bitcoin, height + PERIOD)
                    .unwrap_err()
                    .contains("retarget period"));
            }
            n += 1;
        }
        assert_eq!(n, MAINNET_BITS.len() - 1, "one real header per period after the genesis block's");
        let genesis = bitcoin::constants::genesis_block(Network::Bitcoin).header;
        assert_eq!(genesis.bits.to_consensus(), MAINNET_BITS[0]);
    }

    #[test]
    fn beyond_the_table_four_times_easier_per_period_at_most() {
        use super::super::bits::{MAINNET_BITS, PERIOD};
        let last = (MAINNET_BITS.len() - 1) as u32;
        let bits_of = |t: Target| t.to_compact_lossy().to_consensus();
        let table = Target::from_compact(CompactTarget::from_consensus(MAINNET_BITS[last as usize]));
        let quarter = table.max_transition_threshold(Network::Bitcoin);
        let sixteenth = quarter.max_transition_threshold(Network::Bitcoin);
        let header = |bits: u32| Header {
            bits: CompactTarget::from_consensus(bits),
            ..bitcoin::constants::genesis_block(Network::Bitcoin).header
        };
        // the bits rule alone (no header here has real work)
        assert!(mainnet_bits(&header(bits_of(quarter)), (last + 1) * PERIOD).is_ok());
        assert!(mainnet_bits(&header(bits_of(sixteenth)), (last + 1) * PERIOD).unwrap_err().contains("four times"));
        assert!(mainnet_bits(&header(bits_of(sixteenth)), (last + 2) * PERIOD).is_ok());
        // and within the table, an easier header is refused before its work is weighed
        let e = check_work(&header(bits_of(quarter)), Network::Bitcoin, last * PERIOD).unwrap_err();
        assert!(e.contains("retarget period"), "{e}");
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

    fn node(l: &[u8], r: &[u8]) -> Txid {
        let mut buf = l.to_vec();
        buf.extend_from_slice(r);
        Txid::from_byte_array(sha256d::Hash::hash(&buf).to_byte_array())
    }

    /// The CVE-2017-12842 forgery, built for real: a 64-byte transaction
    /// in a block of four, whose second half read as a txid has a branch
    /// to the block's merkle root one level deeper than the block. The
    /// branch alone checks out; the block's depth (from its coinbase)
    /// refuses it, and the genuine proofs still pass.
    #[test]
    fn a_proof_through_a_64_byte_transaction_is_refused_by_depth() {
        use bitcoin::{
            absolute::LockTime, transaction::Version as TxVersion, Amount, OutPoint, ScriptBuf, Sequence, Transaction,
            TxIn, TxOut, Witness,
        };
        let t64 = Transaction {
            version: TxVersion::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([7; 32]), vout: 0 },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x6a, 0x02, 0xab, 0xcd]),
            }],
        };
        let bytes = bitcoin::consensus::serialize(&t64);
        assert_eq!(bytes.len(), 64);
        let coinbase = Transaction {
            version: TxVersion::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![3, 1, 2, 3, 0xaa]),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut { value: Amount::from_sat(50), script_pubkey: ScriptBuf::from_bytes(vec![0x51]) }],
        };
        let (a, b) = (coinbase.compute_txid(), t64.compute_txid());
        let (c, d) = (Txid::from_byte_array([3; 32]), Txid::from_byte_array([4; 32]));
        let ab = node(&a.to_byte_array(), &b.to_byte_array());
        let cd = node(&c.to_byte_array(), &d.to_byte_array());
        let root = TxMerkleNode::from_byte_array(node(&ab.to_byte_array(), &cd.to_byte_array()).to_byte_array());
        // the forged leaf: the 64-byte transaction's second half
        let fake = Txid::from_byte_array(bytes[32..].try_into().unwrap());
        let forged = [Txid::from_byte_array(bytes[..32].try_into().unwrap()), a, cd];
        assert_eq!(merkle_root(&fake, &forged, 0b011), Some(root), "the bare branch is fooled");
        let depth = depth_of(&coinbase, &[b, cd], root).unwrap();
        assert_eq!(depth, 2);
        assert!(check_depth(&forged, depth).unwrap_err().contains("CVE-2017-12842"));
        // genuine proofs of every position pass
        let genuine = [(c, vec![d, ab], 2), (b, vec![a, cd], 1), (d, vec![c, ab], 3)];
        for (t, branch, pos) in genuine {
            assert_eq!(merkle_root(&t, &branch, pos), Some(root));
            assert!(check_depth(&branch, depth).is_ok());
        }
        // a "coinbase" that starts from an inner node (to look shallower)
        // is 64 bytes, and no coinbase: refused
        assert!(depth_of(&t64, &[cd], root).is_err());
        // a coinbase branch that leads elsewhere: refused
        assert!(depth_of(&coinbase, &[b, ab], root).is_err());
        // BIP 34: the coinbase's first push is its block's height
        assert!(check_height(&coinbase, Network::Regtest, 0x030201).is_ok());
        assert!(check_height(&coinbase, Network::Regtest, 0x030202).unwrap_err().contains("BIP 34"));
        assert!(check_height(&coinbase, Network::Bitcoin, 0x030201).is_ok(), "below BIP 34 on mainnet: not checked");
        assert!(check_height(&coinbase, Network::Bitcoin, 300_000).is_err());
    }
}

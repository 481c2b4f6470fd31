//! A local Bitcoin chain of genuine transactions, for tests and `goat demo`.
//!
//! Everything here is built the way wallets build it: P2TR key-path spends
//! Schnorr-signed with BIP341 sighashes, ord-style commit/reveal pairs whose
//! reveal spends the commit through a tapscript leaf, and blocks with real
//! merkle roots, witness commitments and (regtest) proof of work. `server`
//! serves it over an Esplora-compatible REST API that can misbehave on demand.

#![warn(missing_docs)]

pub mod electrum;
pub mod faults;
pub mod server;

use bitcoin::blockdata::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TaprootBuilder};
use bitcoin::{
    absolute::LockTime, transaction::Version, Address, Amount, Block, BlockHash, CompactTarget, Network, OutPoint,
    ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, XOnlyPublicKey,
};
use std::collections::{HashMap, HashSet};

pub use crate::inscription::envelope::{Envelope, Push};
pub use crate::inscription::tag;
pub use crate::inscription::POSTAGE;
use goat_chain::consensus;
use goat_chain::consensus::unsigned;
use goat_ord::inscription;
const FEE: u64 = 2_000;
const SUBSIDY: u64 = 50 * 100_000_000;

/// A P2TR key-path wallet.
#[derive(Clone)]
pub struct Wallet {
    /// Its key, untweaked: the taproot internal key.
    pub keypair: Keypair,
    /// Its P2TR address: the key's own, tweaked with no script tree.
    pub address: Address,
}

impl Wallet {
    /// The output script that pays this wallet.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }

    /// This wallet's address signs `body` as its goatfile (BIP 322 simple,
    /// through the `bip322` crate), signed after block `after`: the
    /// metadata a signed goatfile inscription carries.
    pub fn sign_goatfile(&self, body: &[u8], sequence: u64, after: u32) -> Vec<u8> {
        let network = if self.address.as_unchecked().is_valid_for_network(Network::Regtest) {
            Network::Regtest
        } else {
            Network::Bitcoin
        };
        let claim = goat_goatfile::signature::Claim { network, address: self.address.to_string(), sequence, after };
        let key = bitcoin::PrivateKey::new(self.keypair.secret_key(), network);
        let c = goat_goatfile::signature::sign(&claim, body, &self.address, &[key], None)
            .expect("devchain: sign a goatfile");
        goat_goatfile::signature::encode_metadata(&c)
    }

    /// A goatfile envelope this wallet's address signed (text/yaml).
    pub fn signed_goatfile(&self, body: &[u8], sequence: u64, after: u32) -> Envelope {
        Envelope::file_with_metadata("text/yaml", None, &self.sign_goatfile(body, sequence, after), body)
    }
}

/// How to build one commit/reveal pair.
pub struct Inscribe<'a> {
    /// Pays for the commit (and for the reveal's extra input, if any).
    pub funder: &'a Wallet,
    /// One reveal input per element; each holds these envelopes in order.
    pub inputs: Vec<Vec<Envelope>>,
    /// Where the inscribed sats go.
    pub to: ScriptBuf,
    /// Add an input from this wallet to the reveal itself.
    pub reveal_input_from: Option<&'a Wallet>,
}

/// The result of an inscription: its transactions.
#[derive(Debug, Clone, Copy)]
pub struct Inscribed {
    /// The commit, whose outputs the reveal spends.
    pub commit: Txid,
    /// The reveal, whose witnesses hold the envelopes.
    pub reveal: Txid,
}

impl Inscribed {
    /// The id of the reveal's inscription `n`, from 0.
    pub fn id(&self, n: u32) -> crate::inscription::InscriptionId {
        crate::inscription::InscriptionId { txid: self.reveal, index: n }
    }
    /// The output holding the first inscription.
    pub fn outpoint(&self) -> OutPoint {
        OutPoint { txid: self.reveal, vout: 0 }
    }
}

/// One envelope leaf of a commit, kept until the reveal spends it.
pub struct Leaf {
    keypair: Keypair,
    script: ScriptBuf,
    info: bitcoin::taproot::TaprootSpendInfo,
    fee: u64,
}

/// A commit transaction whose outputs wait for their reveal.
pub struct Commit {
    /// The commit transaction's txid.
    pub txid: Txid,
    leaves: Vec<Leaf>,
    outputs: Vec<TxOut>,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy)]
pub struct Confirmation {
    /// The height of the block it is in.
    pub height: u32,
    /// That block's hash.
    pub hash: BlockHash,
    /// The block header's time, in Unix seconds.
    pub time: u32,
    /// Its position among the block's transactions (0 is the coinbase).
    pub pos: usize,
}

/// A transaction the chain holds, and where it was mined.
pub struct TxRecord {
    /// The transaction.
    pub tx: Transaction,
    /// Where it was mined; None while it is in the mempool.
    pub confirmed: Option<Confirmation>,
    /// Order of arrival, for mempool ordering.
    pub seq: u64,
}

/// The chain: blocks, mempool and the indexes an Esplora server keeps.
pub struct Chain {
    /// The network its addresses are for: regtest.
    pub network: Network,
    secp: Secp256k1<All>,
    /// The blocks, by height: index 0 is height 0.
    pub blocks: Vec<Block>,
    /// Unconfirmed txids, in order of arrival.
    pub mempool: Vec<Txid>,
    /// Every transaction the chain holds, mined or in the mempool, by txid.
    pub txs: HashMap<Txid, TxRecord>,
    /// Per script: confirmed txids oldest first, and their positions.
    confirmed_history: HashMap<ScriptBuf, (Vec<Txid>, HashMap<Txid, usize>)>,
    /// Who spent an outpoint (confirmed or mempool).
    pub spends: HashMap<OutPoint, (Txid, u32)>,
    utxos: HashMap<OutPoint, TxOut>,
    /// Outputs carrying inscriptions: never used as plain funds.
    inscribed: HashSet<OutPoint>,
    faucet: Wallet,
    keys: u64,
    seq: u64,
}

impl Chain {
    /// A regtest chain with 101 blocks, so the faucet's first coinbase is mature.
    pub fn new() -> Chain {
        let secp = Secp256k1::new();
        let faucet = wallet_from_seed(&secp, 0xfa0ce7, Network::Regtest);
        let mut c = Chain {
            network: Network::Regtest,
            secp,
            blocks: vec![],
            mempool: vec![],
            txs: HashMap::new(),
            confirmed_history: HashMap::new(),
            spends: HashMap::new(),
            utxos: HashMap::new(),
            inscribed: HashSet::new(),
            faucet,
            keys: 1,
            seq: 0,
        };
        for _ in 0..101 {
            c.mine();
        }
        c
    }

    /// A new wallet with a deterministic key.
    pub fn wallet(&mut self) -> Wallet {
        self.keys += 1;
        wallet_from_seed(&self.secp, self.keys, self.network)
    }

    /// The newest block's height (0 also when there is no block).
    pub fn height(&self) -> u32 {
        self.blocks.len().saturating_sub(1) as u32
    }

    /// The newest block's hash (all zeros before the first block).
    pub fn tip(&self) -> BlockHash {
        self.blocks.last().map(|b| b.block_hash()).unwrap_or_else(BlockHash::all_zeros)
    }

    /// Give `to` coins from the faucet (one transaction).
    pub fn fund(&mut self, to: &ScriptBuf, sats: u64) -> Txid {
        let faucet = self.faucet.clone();
        let tx = self.pay(&faucet, vec![TxOut { value: Amount::from_sat(sats), script_pubkey: to.clone() }]);
        self.submit(tx)
    }

    /// `fund`, in a transaction of this version (anyone can send an
    /// address one with a version from 2^31 up: electrs shows it unsigned).
    pub fn fund_with_version(&mut self, to: &ScriptBuf, sats: u64, version: i32) -> Txid {
        let faucet = self.faucet.clone();
        let tx = self.pay_as(
            &faucet,
            vec![TxOut { value: Amount::from_sat(sats), script_pubkey: to.clone() }],
            Some(version),
        );
        self.submit(tx)
    }

    /// Pay `outputs` from `from`'s coins, with change back to it.
    fn pay(&mut self, from: &Wallet, outputs: Vec<TxOut>) -> Transaction {
        self.pay_as(from, outputs, None)
    }

    fn pay_as(&mut self, from: &Wallet, outputs: Vec<TxOut>, version: Option<i32>) -> Transaction {
        let need: u64 = outputs.iter().map(|o| o.value.to_sat()).sum::<u64>() + FEE;
        let coins = self.select(from, need);
        let mut tx = unsigned(&coins.iter().map(|c| c.0).collect::<Vec<_>>(), outputs);
        if let Some(v) = version {
            tx.version = bitcoin::transaction::Version(v);
        }
        let have: u64 = coins.iter().map(|c| c.1.value.to_sat()).sum();
        if have - need > 1_000 {
            tx.output.push(TxOut { value: Amount::from_sat(have - need), script_pubkey: from.script_pubkey() });
        }
        let prevouts: Vec<TxOut> = coins.iter().map(|c| c.1.clone()).collect();
        for i in 0..tx.input.len() {
            self.sign_key_path(&mut tx, i, &prevouts, &from.keypair);
        }
        tx
    }

    /// Coins of `w` worth at least `need`, largest first; panics (test setup
    /// error) when the wallet is short.
    fn select(&self, w: &Wallet, need: u64) -> Vec<(OutPoint, TxOut)> {
        let spk = w.script_pubkey();
        let tip = self.height();
        let mut coins: Vec<(OutPoint, TxOut)> = self
            .utxos
            .iter()
            .filter(|(o, t)| t.script_pubkey == spk && !self.inscribed.contains(o) && self.mature(o, tip))
            .map(|(o, t)| (*o, t.clone()))
            .collect();
        coins.sort_by(|a, b| b.1.value.cmp(&a.1.value).then(a.0.cmp(&b.0)));
        let mut picked = Vec::new();
        let mut sum = 0;
        for c in coins {
            if sum >= need {
                break;
            }
            sum += c.1.value.to_sat();
            picked.push(c);
        }
        assert!(sum >= need, "devchain: wallet {} cannot pay {need} sats (has {sum})", w.address);
        picked
    }

    fn mature(&self, o: &OutPoint, tip: u32) -> bool {
        match self.txs.get(&o.txid) {
            Some(r) if r.tx.is_coinbase() => r.confirmed.map(|c| tip >= c.height + 100).unwrap_or(false),
            _ => true,
        }
    }

    fn sign_key_path(&self, tx: &mut Transaction, i: usize, prevouts: &[TxOut], kp: &Keypair) {
        self.sign_key_path_with(tx, i, prevouts, kp, TapSighashType::Default)
    }

    /// Build, sign and submit an ord-style commit/reveal pair.
    pub fn inscribe(&mut self, spec: Inscribe<'_>) -> Inscribed {
        let commit = self.commit(spec.funder, &spec.inputs);
        self.reveal(commit, &spec.to, spec.reveal_input_from)
    }

    /// The commit half: `funder` pays to one taproot address per reveal
    /// input, each with `<key> OP_CHECKSIG <envelopes>` as its script leaf.
    /// On chain this is a payment like any other (to the payee who holds
    /// the leaf key), which is why funding a commit proves nothing.
    pub fn commit(&mut self, funder: &Wallet, inputs: &[Vec<Envelope>]) -> Commit {
        assert!(!inputs.is_empty());
        let mut leaves = Vec::new();
        for envs in inputs {
            self.keys += 1;
            let kp = keypair_from_seed(&self.secp, self.keys);
            let (xonly, _) = XOnlyPublicKey::from_keypair(&kp);
            let script = crate::inscription::envelope::reveal_script(&xonly, envs);
            let info = TaprootBuilder::new()
                .add_leaf(0, script.clone())
                .expect("leaf")
                .finalize(&self.secp, xonly)
                .expect("taproot");
            let reveal_fee = FEE + script.len() as u64 / 4;
            leaves.push(Leaf { keypair: kp, script, info, fee: reveal_fee });
        }
        let outputs: Vec<TxOut> = leaves
            .iter()
            .enumerate()
            .map(|(i, l)| TxOut {
                value: Amount::from_sat(if i == 0 { POSTAGE + l.fee } else { l.fee }),
                script_pubkey: ScriptBuf::new_p2tr_tweaked(l.info.output_key()),
            })
            .collect();
        let tx = self.pay(funder, outputs.clone());
        let txid = self.submit(tx);
        Commit { txid, leaves, outputs }
    }

    /// The reveal half: spend every commit output through its envelope leaf
    /// and send the inscription to `to`; with `reveal_input_from`, also
    /// spend one of that wallet's coins (signed SIGHASH_DEFAULT, over all
    /// inputs), which is how a holder endorses the goatfile soundly.
    pub fn reveal(&mut self, commit: Commit, to: &ScriptBuf, reveal_input_from: Option<&Wallet>) -> Inscribed {
        self.reveal_signed(commit, to, reveal_input_from.map(|w| (w, TapSighashType::Default)))
    }

    /// `reveal`, with the extra input signed with the given sighash type.
    pub fn reveal_signed(
        &mut self,
        commit: Commit,
        to: &ScriptBuf,
        extra_input: Option<(&Wallet, TapSighashType)>,
    ) -> Inscribed {
        let reveal_input_from = extra_input.map(|e| e.0);
        let commit_txid = commit.txid;
        let leaves = commit.leaves;
        let mut inputs: Vec<OutPoint> =
            (0..leaves.len()).map(|v| OutPoint { txid: commit_txid, vout: v as u32 }).collect();
        let mut prevouts = commit.outputs;
        let mut outputs = vec![TxOut { value: Amount::from_sat(POSTAGE), script_pubkey: to.clone() }];
        if let Some(extra) = reveal_input_from {
            let coin = self.select(extra, FEE * 2).remove(0);
            inputs.push(coin.0);
            prevouts.push(coin.1.clone());
            outputs.push(TxOut {
                value: Amount::from_sat(coin.1.value.to_sat() - FEE),
                script_pubkey: extra.script_pubkey(),
            });
        }
        let mut reveal = unsigned(&inputs, outputs);
        for (i, l) in leaves.iter().enumerate() {
            let leaf = TapLeafHash::from_script(&l.script, LeafVersion::TapScript);
            let sighash = SighashCache::new(&reveal)
                .taproot_script_spend_signature_hash(i, &Prevouts::All(&prevouts), leaf, TapSighashType::Default)
                .expect("sighash");
            let msg = Message::from_digest(sighash.to_byte_array());
            let sig = self.secp.sign_schnorr_no_aux_rand(&msg, &l.keypair);
            let cb = l.info.control_block(&(l.script.clone(), LeafVersion::TapScript)).expect("control block");
            let mut w = Witness::new();
            w.push(sig.as_ref());
            w.push(l.script.as_bytes());
            w.push(cb.serialize());
            reveal.input[i].witness = w;
        }
        if let Some((extra, ty)) = extra_input {
            let i = reveal.input.len() - 1;
            self.sign_key_path_with(&mut reveal, i, &prevouts, &extra.keypair, ty);
        }
        let reveal_txid = self.submit(reveal);
        self.inscribed.insert(OutPoint { txid: reveal_txid, vout: 0 });
        Inscribed { commit: commit_txid, reveal: reveal_txid }
    }

    /// Sign input `i` of `tx` (owned by `kp`'s key-path address) with an
    /// explicit sighash type, e.g. SIGHASH_SINGLE|ANYONECANPAY as ordinals
    /// marketplace listings do.
    pub fn sign_key_path_with(
        &self,
        tx: &mut Transaction,
        i: usize,
        prevouts: &[TxOut],
        kp: &Keypair,
        ty: TapSighashType,
    ) {
        let sighash =
            SighashCache::new(&*tx).taproot_key_spend_signature_hash(i, &Prevouts::All(prevouts), ty).expect("sighash");
        let tweaked = kp.tap_tweak(&self.secp, None);
        let msg = Message::from_digest(sighash.to_byte_array());
        let signature = self.secp.sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
        let sig = bitcoin::taproot::Signature { signature, sighash_type: ty };
        tx.input[i].witness = Witness::p2tr_key_spend(&sig);
    }

    /// `n` payments of `sats` from `from` to `to`, mined `per_block` to a
    /// block: a long address history for benchmarks. Each payment spends
    /// the previous one's change, so building it is linear in `n` (coin
    /// selection over the whole UTXO set would be quadratic).
    pub fn pay_many(&mut self, from: &Wallet, to: &ScriptBuf, sats: u64, n: usize, per_block: usize) {
        let need = (sats + FEE) * n as u64 + FEE;
        let mut coin = {
            let faucet = self.faucet.clone();
            let tx = self.pay(
                &faucet,
                vec![TxOut { value: Amount::from_sat(need + 10_000), script_pubkey: from.script_pubkey() }],
            );
            let txid = self.submit(tx);
            let out = self.txs[&txid].tx.output[0].clone();
            (OutPoint { txid, vout: 0 }, out)
        };
        for i in 0..n {
            let left = coin.1.value.to_sat() - sats - FEE;
            let mut tx = unsigned(
                &[coin.0],
                vec![
                    TxOut { value: Amount::from_sat(sats), script_pubkey: to.clone() },
                    TxOut { value: Amount::from_sat(left), script_pubkey: from.script_pubkey() },
                ],
            );
            let prevouts = vec![coin.1.clone()];
            self.sign_key_path(&mut tx, 0, &prevouts, &from.keypair);
            let change = tx.output[1].clone();
            let txid = self.submit(tx);
            coin = (OutPoint { txid, vout: 1 }, change);
            if (i + 1) % per_block.max(1) == 0 {
                self.mine();
            }
        }
    }

    /// Spend `outpoint` (owned by `from`) to `to`, fees paid by `from`.
    pub fn send(&mut self, from: &Wallet, outpoint: OutPoint, to: &ScriptBuf) -> Txid {
        let prev = self.utxos.get(&outpoint).cloned().expect("devchain: outpoint is not unspent");
        let fee_coin = self.select(from, FEE * 2).remove(0);
        let mut tx = unsigned(
            &[outpoint, fee_coin.0],
            vec![
                TxOut { value: prev.value, script_pubkey: to.clone() },
                TxOut { value: Amount::from_sat(fee_coin.1.value.to_sat() - FEE), script_pubkey: from.script_pubkey() },
            ],
        );
        let prevouts = vec![prev, fee_coin.1];
        self.sign_key_path(&mut tx, 0, &prevouts, &from.keypair);
        self.sign_key_path(&mut tx, 1, &prevouts, &from.keypair);
        let txid = self.submit(tx);
        if self.inscribed.remove(&outpoint) {
            self.inscribed.insert(OutPoint { txid, vout: 0 });
        }
        txid
    }

    /// What a wallet that knows nothing of ordinals does when it pays:
    /// spend `outpoint` alone, `sats` to `to` first, the change (less the
    /// fee) back to `from`.
    pub fn pay_from(&mut self, from: &Wallet, outpoint: OutPoint, to: &ScriptBuf, sats: u64) -> Txid {
        let prev = self.utxos.get(&outpoint).cloned().expect("devchain: outpoint is not unspent");
        let change = prev.value.to_sat() - sats - FEE;
        let mut tx = unsigned(
            &[outpoint],
            vec![
                TxOut { value: Amount::from_sat(sats), script_pubkey: to.clone() },
                TxOut { value: Amount::from_sat(change), script_pubkey: from.script_pubkey() },
            ],
        );
        self.sign_key_path(&mut tx, 0, &[prev], &from.keypair);
        self.submit(tx)
    }

    /// What a wallet that knows nothing of ordinals does: merge `outpoint`
    /// with another of `from`'s coins into one output back to `from`.
    pub fn consolidate(&mut self, from: &Wallet, outpoint: OutPoint) -> Txid {
        let prev = self.utxos.get(&outpoint).cloned().expect("devchain: outpoint is not unspent");
        let coin = self.select(from, FEE * 2).remove(0);
        let total = prev.value.to_sat() + coin.1.value.to_sat() - FEE;
        let mut tx = unsigned(
            &[outpoint, coin.0],
            vec![TxOut { value: Amount::from_sat(total), script_pubkey: from.script_pubkey() }],
        );
        let prevouts = vec![prev, coin.1];
        self.sign_key_path(&mut tx, 0, &prevouts, &from.keypair);
        self.sign_key_path(&mut tx, 1, &prevouts, &from.keypair);
        self.inscribed.remove(&outpoint);
        self.submit(tx)
    }

    /// Add a transaction to the mempool (inputs must be unspent).
    pub fn submit(&mut self, tx: Transaction) -> Txid {
        let txid = tx.compute_txid();
        for (i, input) in tx.input.iter().enumerate() {
            self.utxos.remove(&input.previous_output);
            self.spends.insert(input.previous_output, (txid, i as u32));
        }
        for (v, out) in tx.output.iter().enumerate() {
            self.utxos.insert(OutPoint { txid, vout: v as u32 }, out.clone());
        }
        self.seq += 1;
        self.txs.insert(txid, TxRecord { tx, confirmed: None, seq: self.seq });
        self.mempool.push(txid);
        txid
    }

    /// Accept a broadcast transaction as a node's mempool would: every
    /// input exists, is unspent and mature, no input twice, outputs no more
    /// than inputs, and every input script passes Bitcoin Core's own
    /// interpreter (`crate::consensus`, taproot included). The error is
    /// Core's reject reason.
    pub fn broadcast(&mut self, tx: Transaction) -> Result<Txid, String> {
        if tx.is_coinbase() || tx.input.is_empty() {
            return Err("bad-txns-vin-empty".into());
        }
        if tx.output.is_empty() {
            return Err("bad-txns-vout-empty".into());
        }
        let txid = tx.compute_txid();
        if self.txs.contains_key(&txid) {
            return Err("txn-already-known".into());
        }
        let mut seen = HashSet::new();
        let mut prevouts = Vec::new();
        let tip = self.height();
        for i in &tx.input {
            if !seen.insert(i.previous_output) {
                return Err("bad-txns-inputs-duplicate".into());
            }
            let Some(p) = self.utxos.get(&i.previous_output) else {
                return Err(format!("bad-txns-inputs-missingorspent {}", i.previous_output));
            };
            if !self.mature(&i.previous_output, tip + 1) {
                return Err("bad-txns-premature-spend-of-coinbase".into());
            }
            prevouts.push(p.clone());
        }
        let have: u64 = prevouts.iter().map(|o| o.value.to_sat()).sum();
        let pay: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        if pay > have {
            return Err(format!("bad-txns-in-belowout, value in ({have}) < value out ({pay})"));
        }
        if tx.weight().to_wu() > 400_000 {
            return Err("tx-size".into());
        }
        crate::consensus::verify_scripts(&tx, &prevouts)
            .map_err(|e| format!("mandatory-script-verify-flag-failed ({e})"))?;
        Ok(self.submit(tx))
    }

    /// The script with this Electrum script hash, among those the chain
    /// has seen (history, unspent outputs).
    pub fn script_by_hash(&self, hash: &str) -> Option<ScriptBuf> {
        let hash = hash.to_ascii_lowercase();
        self.confirmed_history
            .keys()
            .chain(self.utxos.values().map(|o| &o.script_pubkey))
            .find(|s| electrum::script_hash(s) == hash)
            .cloned()
    }

    /// The unspent outputs paying `spk` (confirmed and in the mempool).
    pub fn utxos_of(&self, spk: &ScriptBuf) -> Vec<(OutPoint, TxOut)> {
        let mut v: Vec<(OutPoint, TxOut)> =
            self.utxos.iter().filter(|(_, o)| &o.script_pubkey == spk).map(|(p, o)| (*p, o.clone())).collect();
        v.sort_by_key(|(p, _)| {
            (self.txs.get(&p.txid).and_then(|r| r.confirmed).map(|c| c.height).unwrap_or(u32::MAX), *p)
        });
        v
    }

    /// Mine the mempool into a block with a genuine header.
    pub fn mine(&mut self) -> BlockHash {
        let height = self.blocks.len() as u32;
        let txids = std::mem::take(&mut self.mempool);
        let mut txdata: Vec<Transaction> = txids.iter().map(|t| self.txs[t].tx.clone()).collect();
        let fees: u64 = txdata.iter().map(|t| self.fee(t)).sum();
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: Builder::new().push_int(height as i64).push_slice(b"goat").into_script(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut { value: Amount::from_sat(SUBSIDY + fees), script_pubkey: self.faucet.script_pubkey() }],
        };
        txdata.insert(0, coinbase);
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(0x2000_0000),
                prev_blockhash: self.tip(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height * 600,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata,
        };
        // BIP141 witness commitment in the coinbase.
        if let Some(root) = block.witness_root() {
            let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
            let mut spk = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
            spk.extend(commitment.to_byte_array());
            block.txdata[0].output.push(TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::from_bytes(spk) });
        }
        let coinbase_txid = block.txdata[0].compute_txid();
        block.header.merkle_root = block.compute_merkle_root().expect("non-empty block");
        while block.header.validate_pow(block.header.target()).is_err() {
            block.header.nonce += 1;
        }
        let hash = block.block_hash();
        // coinbase enters the indexes like any transaction
        let cb = block.txdata[0].clone();
        for (v, out) in cb.output.iter().enumerate() {
            self.utxos.insert(OutPoint { txid: coinbase_txid, vout: v as u32 }, out.clone());
        }
        self.seq += 1;
        self.txs.insert(coinbase_txid, TxRecord { tx: cb, confirmed: None, seq: self.seq });
        for (pos, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let conf = Confirmation { height, hash, time: block.header.time, pos };
            if let Some(r) = self.txs.get_mut(&txid) {
                r.confirmed = Some(conf);
            }
            for spk in self.scripts_touched(tx) {
                let (list, index) = self.confirmed_history.entry(spk).or_default();
                index.insert(txid, list.len());
                list.push(txid);
            }
        }
        self.blocks.push(block);
        hash
    }

    /// Sum of inputs minus outputs (0 for coinbase).
    pub fn fee(&self, tx: &Transaction) -> u64 {
        if tx.is_coinbase() {
            return 0;
        }
        let inp: u64 = tx.input.iter().filter_map(|i| self.prevout(&i.previous_output)).map(|o| o.value.to_sat()).sum();
        let out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        inp.saturating_sub(out)
    }

    /// The output `o` names, from any transaction the chain holds (spent or not).
    pub fn prevout(&self, o: &OutPoint) -> Option<TxOut> {
        self.txs.get(&o.txid)?.tx.output.get(o.vout as usize).cloned()
    }

    fn scripts_touched(&self, tx: &Transaction) -> HashSet<ScriptBuf> {
        let mut s: HashSet<ScriptBuf> = tx.output.iter().map(|o| o.script_pubkey.clone()).collect();
        for i in &tx.input {
            if let Some(p) = self.prevout(&i.previous_output) {
                s.insert(p.script_pubkey);
            }
        }
        s
    }

    /// Mempool txids touching `spk`, newest first.
    pub fn mempool_history(&self, spk: &ScriptBuf) -> Vec<Txid> {
        let mut v: Vec<&Txid> =
            self.mempool.iter().filter(|t| self.scripts_touched(&self.txs[*t].tx).contains(spk)).collect();
        v.sort_by_key(|t| std::cmp::Reverse(self.txs[*t].seq));
        v.into_iter().copied().collect()
    }

    /// Confirmed txids touching `spk`, newest first, after `last_seen`.
    pub fn chain_history(&self, spk: &ScriptBuf, last_seen: Option<&Txid>, limit: usize) -> Vec<Txid> {
        let Some((list, index)) = self.confirmed_history.get(spk) else { return vec![] };
        let end = match last_seen {
            None => list.len(),
            Some(t) => match index.get(t) {
                Some(i) => *i,
                None => return vec![],
            },
        };
        list[..end].iter().rev().take(limit).copied().collect()
    }

    /// Electrum-style merkle branch for `txid`: (siblings bottom-up, position).
    pub fn merkle_branch(&self, txid: &Txid) -> Option<(Vec<TxMerkleNode>, usize, u32)> {
        let conf = self.txs.get(txid)?.confirmed?;
        let block = &self.blocks[conf.height as usize];
        let mut level: Vec<TxMerkleNode> =
            block.txdata.iter().map(|t| TxMerkleNode::from_byte_array(t.compute_txid().to_byte_array())).collect();
        let mut pos = conf.pos;
        let mut branch = Vec::new();
        while level.len() > 1 {
            let sib = if pos ^ 1 < level.len() { level[pos ^ 1] } else { level[pos] };
            branch.push(sib);
            level = level
                .chunks(2)
                .map(|c| {
                    let r = if c.len() == 2 { c[1] } else { c[0] };
                    let mut buf = c[0].to_byte_array().to_vec();
                    buf.extend(r.to_byte_array());
                    TxMerkleNode::from_byte_array(bitcoin::hashes::sha256d::Hash::hash(&buf).to_byte_array())
                })
                .collect();
            pos /= 2;
        }
        Some((branch, conf.pos, conf.height))
    }
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

fn keypair_from_seed(secp: &Secp256k1<All>, seed: u64) -> Keypair {
    let mut sk = [0u8; 32];
    sk[0] = 0x01;
    sk[24..].copy_from_slice(&seed.to_be_bytes());
    Keypair::from_seckey_slice(secp, &sk).expect("valid key")
}

fn wallet_from_seed(secp: &Secp256k1<All>, seed: u64, network: Network) -> Wallet {
    let keypair = keypair_from_seed(secp, seed);
    let (xonly, _) = XOnlyPublicKey::from_keypair(&keypair);
    Wallet { keypair, address: Address::p2tr(secp, xonly, None, network) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A chain where a funded wallet inscribed "hi" to itself, mined in one
    /// block with `others` more payments to new wallets.
    pub(crate) fn inscribed_hi(others: usize) -> (Chain, Wallet, Inscribed) {
        let mut c = Chain::new();
        let alice = c.wallet();
        c.fund(&alice.script_pubkey(), 1_000_000);
        for _ in 0..others {
            let w = c.wallet();
            c.fund(&w.script_pubkey(), 5_000);
        }
        let ins = c.inscribe(Inscribe {
            funder: &alice,
            inputs: vec![vec![Envelope::file("text/plain", None, b"hi")]],
            to: alice.script_pubkey(),
            reveal_input_from: None,
        });
        c.mine();
        (c, alice, ins)
    }

    #[test]
    fn blocks_and_proofs_are_genuine() {
        let (c, _, ins) = inscribed_hi(4);
        let b = c.blocks.last().unwrap();
        assert!(b.check_merkle_root());
        assert!(b.check_witness_commitment());
        assert!(b.header.validate_pow(b.header.target()).is_ok());
        let (branch, pos, _) = c.merkle_branch(&ins.reveal).unwrap();
        let mut h = TxMerkleNode::from_byte_array(ins.reveal.to_byte_array());
        let mut p = pos;
        for s in branch {
            let (l, r) = if p % 2 == 0 { (h, s) } else { (s, h) };
            let mut buf = l.to_byte_array().to_vec();
            buf.extend(r.to_byte_array());
            h = TxMerkleNode::from_byte_array(bitcoin::hashes::sha256d::Hash::hash(&buf).to_byte_array());
            p /= 2;
        }
        assert_eq!(h, b.header.merkle_root);
        let found = crate::inscription::Inscription::from_transaction(&c.txs[&ins.reveal].tx);
        assert_eq!(found[0].body.as_deref(), Some(&b"hi"[..]));
        // Everything the devchain signs passes Bitcoin Core's interpreter.
        for t in [ins.commit, ins.reveal] {
            let tx = &c.txs[&t].tx;
            let prev: Vec<TxOut> = tx.input.iter().map(|i| c.prevout(&i.previous_output).unwrap()).collect();
            crate::consensus::verify_scripts(tx, &prev).unwrap();
            let mut bad = tx.clone();
            bad.output[0].value = Amount::from_sat(bad.output[0].value.to_sat() - 1);
            assert!(crate::consensus::verify_scripts(&bad, &prev).is_err(), "a changed output breaks the signatures");
        }
    }

    #[test]
    fn signatures_verify() {
        let mut c = Chain::new();
        let alice = c.wallet();
        let t = c.fund(&alice.script_pubkey(), 100_000);
        let tx = c.txs[&t].tx.clone();
        let prev = c.prevout(&tx.input[0].previous_output).unwrap();
        let sighash = SighashCache::new(&tx)
            .taproot_key_spend_signature_hash(0, &Prevouts::All(std::slice::from_ref(&prev)), TapSighashType::Default)
            .unwrap();
        let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(&tx.input[0].witness[0]).unwrap();
        let out_key = XOnlyPublicKey::from_slice(&prev.script_pubkey.as_bytes()[2..]).unwrap();
        c.secp
            .verify_schnorr(&sig, &Message::from_digest(sighash.to_byte_array()), &out_key)
            .expect("valid schnorr signature");
    }
}

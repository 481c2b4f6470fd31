//! Esplora history pages read as they arrive.
//!
//! A page lists 25 confirmed transactions (and up to 50 unconfirmed) in
//! full, witnesses included, hex-encoded: a few witness-heavy transactions
//! (anyone can send some to any address) make a page of hundreds of MB.
//! Read whole, such a page either exhausts memory or, capped, blocks the
//! address for good. So the JSON is parsed from the body as it streams in,
//! one transaction at a time, and each is kept as a `Listed` (its witnesses
//! let go when large). Hand-written around serde_json's streaming reader
//! because esplora-client reads whole bodies (and its `EsploraTx` reads a
//! version as signed while electrs writes it unsigned).

use super::source::Listed;
use bitcoin::{absolute::LockTime, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde::de::{Deserializer, SeqAccess, Visitor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest JSON of one listed transaction: a block's 4 MB as hex, with
/// its prevouts and Esplora's ASM renderings, stays below it.
pub const MAX_ITEM: usize = 32 * 1024 * 1024;
/// Most transactions one page may list (Esplora: 50 unconfirmed and 25
/// confirmed).
pub const MAX_ITEMS: usize = 100;

/// Why a page gave no list.
#[derive(Debug)]
pub enum Unread {
    /// It does not parse, or breaks a bound: no answer.
    Unreadable(String),
    /// A check failed: the server lied.
    Lie(String),
}

/// The body's chunks as a `Read`, for serde_json's reader on a blocking
/// thread; the bytes read since the current item began are counted.
pub struct Chunks {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
    item: Arc<AtomicUsize>,
}

impl Chunks {
    /// The chunks sent on `rx`, read in order until the sender is dropped.
    pub fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Chunks {
        Chunks { rx, cur: bytes::Bytes::new(), item: Arc::new(AtomicUsize::new(0)) }
    }
}

impl std::io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        if self.item.fetch_add(n, Ordering::Relaxed) + n > MAX_ITEM {
            return Err(std::io::Error::other(format!("a listed transaction of more than {MAX_ITEM} bytes of JSON")));
        }
        Ok(n)
    }
}

/// One listed transaction: the fields that make the transaction, and its
/// status. Everything else (prevouts, ASM, fees) is skipped unread.
#[derive(serde::Deserialize)]
struct Item {
    txid: Txid,
    /// electrs writes it unsigned; a signed reading would fail from 2^31.
    version: i64,
    locktime: LockTime,
    vin: Vec<ItemIn>,
    vout: Vec<esplora_client::Vout>,
    status: esplora_client::TxStatus,
}

#[derive(serde::Deserialize)]
struct ItemIn {
    txid: Txid,
    vout: u32,
    scriptsig: ScriptBuf,
    #[serde(default, deserialize_with = "witness")]
    witness: Witness,
    sequence: Sequence,
}

/// Elements one input's witness may have here. Consensus allows 1,000
/// on the stack for every witness version it knows; an element can be 3
/// bytes of JSON (`"",`), and each costs memory however small.
pub const MAX_WITNESS_ELEMENTS: usize = 10_000;

/// A witness read element by element into its final form (bitcoin's own
/// reading builds a vector of vectors first, 24 bytes per element more),
/// each hex string decoded where serde_json holds it.
fn witness<'de, D: Deserializer<'de>>(d: D) -> Result<Witness, D::Error> {
    struct Elements;
    impl<'de> Visitor<'de> for Elements {
        type Value = Witness;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of hex strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Witness, A::Error> {
            use serde::de::Error;
            let mut w = Witness::new();
            while let Some(Hex(bytes)) = seq.next_element::<Hex>()? {
                if w.len() == MAX_WITNESS_ELEMENTS {
                    return Err(A::Error::custom(format!("a witness of more than {MAX_WITNESS_ELEMENTS} elements")));
                }
                w.push(bytes);
            }
            Ok(w)
        }
    }
    d.deserialize_seq(Elements)
}

/// One hex string, decoded.
struct Hex(Vec<u8>);

impl<'de> serde::Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Hex;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hex, E> {
                hex::decode(v).map(Hex).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Item {
    fn listed(self) -> Result<Listed, String> {
        let tx = Transaction {
            version: bitcoin::transaction::Version(self.version as u32 as i32),
            lock_time: self.locktime,
            input: self
                .vin
                .into_iter()
                .map(|i| TxIn {
                    previous_output: OutPoint { txid: i.txid, vout: i.vout },
                    script_sig: i.scriptsig,
                    sequence: i.sequence,
                    witness: i.witness,
                })
                .collect(),
            output: self.vout.into_iter().map(|o| TxOut { value: o.value, script_pubkey: o.scriptpubkey }).collect(),
        };
        // The JSON's txid is the server's word; the transaction it
        // describes must hash to it.
        if tx.weight() > bitcoin::Weight::MAX_BLOCK {
            return Err(format!("{} was listed heavier ({}) than a block may be", self.txid, tx.weight()));
        }
        let got = tx.compute_txid();
        if got != self.txid {
            return Err(format!("the transaction listed as {} hashes to {got}", self.txid));
        }
        let height = self.status.block_height.filter(|_| self.status.confirmed);
        Ok(Listed::new(self.txid, tx, height))
    }
}

/// The listed transactions of one page, read from `body`.
pub fn parse(body: Chunks) -> Result<Vec<Listed>, Unread> {
    let item = body.item.clone();
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, body));
    let mut lie = None;
    let got = de.deserialize_seq(Items { item, lie: &mut lie });
    if let Some(why) = lie {
        return Err(Unread::Lie(why));
    }
    let got = got.map_err(|e| Unread::Unreadable(e.to_string()))?;
    de.end().map_err(|e| Unread::Unreadable(e.to_string()))?;
    Ok(got)
}

struct Items<'a> {
    item: Arc<AtomicUsize>,
    lie: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = Vec<Listed>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of transactions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Listed>, A::Error> {
        use serde::de::Error;
        let mut out = Vec::new();
        loop {
            self.item.store(0, Ordering::Relaxed);
            let Some(t) = seq.next_element::<Item>()? else { break };
            if out.len() == MAX_ITEMS {
                return Err(A::Error::custom(format!("more than {MAX_ITEMS} transactions in one page")));
            }
            match t.listed() {
                Ok(l) => out.push(l),
                Err(why) => {
                    *self.lie = Some(why.clone());
                    return Err(A::Error::custom(why));
                }
            }
        }
        Ok(out)
    }
}

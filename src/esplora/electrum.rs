//! Electrum servers (`--electrum tcp://HOST:PORT` or `ssl://HOST:PORT`) as
//! chain sources, through BDK's `electrum-client`.
//!
//! Each Electrum answer is turned into the answer the Esplora path would
//! have given (raw bytes, the Esplora JSON shapes), so every check this
//! module makes applies unchanged to both protocols: raw transactions must
//! hash to their txids, merkle branches (the two protocols share the
//! format) must lead to the root of a header with real proof of work, and
//! several servers are compared. The JSON fields goat never trusts (a
//! transaction's inputs, its status) come from the raw transaction and the
//! address history.
//!
//! One difference in kind: Electrum returns an address's whole history in
//! one call (`blockchain.scripthash.get_history`), so pages are cut from
//! that list here, and the raw transactions of one page come in one
//! batched round trip.

use super::{one_line, Attempt};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{consensus, Address, BlockHash, ScriptBuf, Transaction, Txid};
use electrum_client::{ElectrumApi, Param};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Esplora's page sizes, which the walk expects for the first page.
const CHAIN_PAGE: usize = 25;
const MEMPOOL_PAGE: usize = 50;
/// Later pages grow with the depth of the walk (as many as already seen,
/// up to this many): a goatfile near the top costs what it costs with
/// Esplora, a walk of 100 000 transactions about 100 round trips, not 4000.
const MAX_PAGE: usize = 1000;

/// Why a call got no answer, as words that follow the server's name, from
/// the error's kind (see `super::describe`).
fn cause(e: &electrum_client::Error) -> String {
    use electrum_client::Error as E;
    match e {
        E::IOError(io) => super::io_cause(io).map(str::to_string).unwrap_or_else(|| format!("failed ({})", one_line(&io.to_string()))),
        E::SharedIOError(io) => super::io_cause(io).map(str::to_string).unwrap_or_else(|| format!("failed ({})", one_line(&io.to_string()))),
        E::AllAttemptsErrored(all) => all.last().map(cause).unwrap_or_else(|| "cannot be reached".into()),
        other => format!("failed ({})", one_line(&other.to_string())),
    }
}

pub fn is_electrum(url: &str) -> bool {
    url.starts_with("tcp://") || url.starts_with("ssl://")
}

/// One Electrum server: its connection (made on first use, dropped after
/// an error) and what this run learned from it.
pub struct Server {
    url: String,
    config: electrum_client::Config,
    client: Mutex<Option<Arc<electrum_client::Client>>>,
    /// Per script: (txid, height) in the server's order; height ≤ 0 is the
    /// mempool.
    history: Mutex<HashMap<ScriptBuf, Vec<(Txid, i32)>>>,
    /// Heights learned from histories: `get_merkle` needs one.
    heights: Mutex<HashMap<Txid, i32>>,
    /// Headers fetched by height, by hash.
    headers: Mutex<HashMap<BlockHash, Vec<u8>>>,
    /// Round trips made (a batch is one).
    pub round_trips: std::sync::atomic::AtomicU64,
}

/// Why an Electrum call gave no answer.
enum Fail {
    /// The server answered with an error (a definite refusal).
    Refused(String),
    /// It does not have it.
    Missing(String),
    /// Connection trouble, timeouts.
    Transient(String),
    /// The answer fails a check: the server is faulty or lying.
    Lie(String),
}

impl Server {
    pub fn new(url: &str, timeout: Duration, socks5: Option<String>) -> Server {
        let mut b = electrum_client::ConfigBuilder::new().timeout(Some(timeout)).retry(0).validate_domain(true);
        if let Some(p) = socks5 {
            b = b.socks5(Some(electrum_client::Socks5Config::new(p)));
        }
        Server {
            url: url.to_string(),
            config: b.build(),
            client: Mutex::new(None),
            history: Mutex::new(HashMap::new()),
            heights: Mutex::new(HashMap::new()),
            headers: Mutex::new(HashMap::new()),
            round_trips: Default::default(),
        }
    }

    fn client(&self) -> Result<Arc<electrum_client::Client>, Fail> {
        let mut c = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = c.as_ref() {
            return Ok(c.clone());
        }
        let made = electrum_client::Client::from_config(&self.url, self.config.clone())
            .map_err(|e| Fail::Transient(cause(&e)))?;
        let made = Arc::new(made);
        *c = Some(made.clone());
        Ok(made)
    }

    /// Run `f` on the connection; on a transport error the connection is
    /// dropped so the next call reconnects.
    fn with<T>(&self, f: impl FnOnce(&electrum_client::Client) -> Result<T, electrum_client::Error>) -> Result<T, Fail> {
        let c = self.client()?;
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f(&c).map_err(|e| match e {
            electrum_client::Error::Protocol(v) => {
                let msg = v.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| v.to_string());
                if msg.contains("No such") || msg.contains("not found") || msg.contains("not confirmed") {
                    Fail::Missing(one_line(&msg))
                } else {
                    Fail::Refused(one_line(&msg))
                }
            }
            other => {
                *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Fail::Transient(cause(&other))
            }
        })
    }

    /// The Esplora-shaped answer to `path` (and `post`, for POST /tx).
    /// Blocking: call it from a blocking thread.
    pub(super) fn answer(&self, path: &str, post: Option<&str>) -> Attempt {
        let r = match post {
            Some(hex) if path == "/tx" => self.broadcast(hex),
            Some(_) => Err(Fail::Refused(format!("cannot POST {path}"))),
            None => self.get(path),
        };
        // Server-supplied text is made safe for a terminal, as for Esplora.
        let safe = |m: String| crate::text::line(&m);
        match r {
            Ok(body) => Attempt::Body(body),
            Err(Fail::Missing(m)) => Attempt::Definite(404, safe(m)),
            Err(Fail::Refused(m)) => Attempt::Definite(400, safe(m)),
            Err(Fail::Transient(m)) => Attempt::Transient(safe(m)),
            Err(Fail::Lie(m)) => Attempt::Invalid(safe(m)),
        }
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, Fail> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let txid = |s: &str| Txid::from_str(s).map_err(|_| Fail::Refused("invalid txid".into()));
        let addr = |s: &str| {
            Address::from_str(s)
                .map(|a| a.assume_checked().script_pubkey())
                .map_err(|_| Fail::Refused("invalid address".into()))
        };
        match parts.as_slice() {
            ["tx", t, "raw"] => {
                let t = txid(t)?;
                self.with(|c| c.transaction_get_raw(&t))
            }
            ["tx", t] => {
                let t = txid(t)?;
                let raw = self.with(|c| c.transaction_get_raw(&t))?;
                let tx: Transaction = consensus::deserialize(&raw).map_err(|_| Fail::Transient("undecodable transaction".into()))?;
                Ok(tx_json(&tx, self.height_of(&t)).to_string().into_bytes())
            }
            ["tx", t, "status"] => {
                let t = txid(t)?;
                let h = self.height_of(&t).ok_or_else(|| {
                    Fail::Transient("an Electrum server tells a transaction's height only through its address's history".into())
                })?;
                Ok(status_json(Some(h)).to_string().into_bytes())
            }
            ["tx", t, "merkle-proof"] => {
                let t = txid(t)?;
                let h = self.height_of(&t).filter(|h| *h > 0).ok_or_else(|| {
                    Fail::Transient(format!("no confirmed height known for {t} (the Electrum protocol needs one for a merkle proof)"))
                })?;
                let v = self.with(|c| c.raw_call("blockchain.transaction.get_merkle", [Param::String(t.to_string()), Param::Usize(h as usize)]))?;
                Ok(v.to_string().into_bytes())
            }
            ["block-height", h] => {
                let h: usize = h.parse().map_err(|_| Fail::Refused("invalid height".into()))?;
                let raw = self.with(|c| c.block_header_raw(h))?;
                let hash = BlockHash::from_byte_array(sha256d::Hash::hash(&raw).to_byte_array());
                self.headers.lock().unwrap_or_else(|p| p.into_inner()).insert(hash, raw);
                Ok(hash.to_string().into_bytes())
            }
            ["block", h, "header"] => {
                let hash = BlockHash::from_str(h).map_err(|_| Fail::Refused("invalid block hash".into()))?;
                let raw = self.headers.lock().unwrap_or_else(|p| p.into_inner()).get(&hash).cloned();
                // Electrum serves headers by height only: goat asks for a
                // header right after asking this server which block is at a
                // height, so it is known here.
                let raw = raw.ok_or_else(|| Fail::Missing(format!("block {hash} (an Electrum server serves headers by height)")))?;
                Ok(hex::encode(raw).into_bytes())
            }
            ["blocks", "tip", "height"] => {
                let n = self.with(|c| c.block_headers_subscribe_raw())?;
                Ok(n.height.to_string().into_bytes())
            }
            ["address", a] => {
                let spk = addr(a)?;
                let h = self.refresh_history(&spk)?;
                let confirmed = h.iter().filter(|(_, height)| *height > 0).count();
                let mempool = h.len() - confirmed;
                let summary = |n: usize| json!({"funded_txo_count": 0, "funded_txo_sum": 0, "spent_txo_count": 0, "spent_txo_sum": 0, "tx_count": n});
                Ok(json!({"address": a, "chain_stats": summary(confirmed), "mempool_stats": summary(mempool)}).to_string().into_bytes())
            }
            ["address", a, "txs"] => {
                let spk = addr(a)?;
                let h = self.refresh_history(&spk)?;
                let mut page: Vec<(Txid, i32)> = h.iter().rev().filter(|(_, height)| *height <= 0).take(MEMPOOL_PAGE).copied().collect();
                page.extend(h.iter().rev().filter(|(_, height)| *height > 0).take(CHAIN_PAGE).copied());
                self.page_json(&page)
            }
            ["address", a, "txs", "chain"] => {
                // Asked right after `/address/:a` (the servers' history
                // comparison), whose call just fetched the whole history.
                let h = self.history_of(&addr(a)?)?;
                let page: Vec<(Txid, i32)> = h.iter().rev().filter(|(_, height)| *height > 0).take(CHAIN_PAGE).copied().collect();
                self.page_json(&page)
            }
            ["address", a, "txs", "chain", last] => {
                let spk = addr(a)?;
                let last = txid(last)?;
                let h = self.history_of(&spk)?;
                let confirmed: Vec<(Txid, i32)> = h.iter().rev().filter(|(_, height)| *height > 0).copied().collect();
                let Some(at) = confirmed.iter().position(|(t, _)| *t == last) else {
                    return Ok(b"[]".to_vec());
                };
                let size = (at + 1).clamp(CHAIN_PAGE, MAX_PAGE);
                let page: Vec<(Txid, i32)> = confirmed[at + 1..].iter().take(size).copied().collect();
                self.page_json(&page)
            }
            ["address", a, "utxo"] => {
                let spk = addr(a)?;
                let list = self.with(|c| c.script_list_unspent(&spk))?;
                let v: Vec<Value> = list
                    .iter()
                    .map(|u| {
                        let h = (u.height > 0).then_some(u.height as i32);
                        json!({"txid": u.tx_hash.to_string(), "vout": u.tx_pos, "value": u.value, "status": status_json(h)})
                    })
                    .collect();
                Ok(Value::Array(v).to_string().into_bytes())
            }
            ["fee-estimates"] => {
                let btc_per_kb = self.with(|c| c.estimate_fee(6, None))?;
                if !(btc_per_kb.is_finite() && btc_per_kb > 0.0) {
                    return Err(Fail::Transient("the server has no fee estimate".into()));
                }
                Ok(json!({"6": btc_per_kb * 100_000.0}).to_string().into_bytes())
            }
            _ => Err(Fail::Refused(format!("{path} has no Electrum equivalent"))),
        }
    }

    fn broadcast(&self, hex_tx: &str) -> Result<Vec<u8>, Fail> {
        let raw = hex::decode(hex_tx.trim()).map_err(|_| Fail::Refused("not hex".into()))?;
        let txid = self.with(|c| c.transaction_broadcast_raw(&raw))?;
        Ok(txid.to_string().into_bytes())
    }

    fn height_of(&self, t: &Txid) -> Option<i32> {
        self.heights.lock().unwrap_or_else(|p| p.into_inner()).get(t).copied()
    }

    /// The history fetched earlier in this run, else fetched now.
    fn history_of(&self, spk: &ScriptBuf) -> Result<Vec<(Txid, i32)>, Fail> {
        let cached = self.history.lock().unwrap_or_else(|p| p.into_inner()).get(spk).cloned();
        match cached {
            Some(h) => Ok(h),
            None => self.refresh_history(spk),
        }
    }

    /// The address's whole history, in one call.
    fn refresh_history(&self, spk: &ScriptBuf) -> Result<Vec<(Txid, i32)>, Fail> {
        let list = self.with(|c| c.script_get_history(spk))?;
        let h: Vec<(Txid, i32)> = list.iter().map(|r| (r.tx_hash, r.height)).collect();
        {
            let mut heights = self.heights.lock().unwrap_or_else(|p| p.into_inner());
            for (t, height) in &h {
                heights.insert(*t, *height);
            }
        }
        self.history.lock().unwrap_or_else(|p| p.into_inner()).insert(spk.clone(), h.clone());
        Ok(h)
    }

    /// One history page as Esplora's JSON: raw transactions in one batch.
    fn page_json(&self, page: &[(Txid, i32)]) -> Result<Vec<u8>, Fail> {
        if page.is_empty() {
            return Ok(b"[]".to_vec());
        }
        let txids: Vec<Txid> = page.iter().map(|(t, _)| *t).collect();
        let raws = self.with(|c| c.batch_transaction_get_raw(&txids))?;
        let mut out = Vec::new();
        for ((want, height), raw) in page.iter().zip(raws) {
            let tx: Transaction =
                consensus::deserialize(&raw).map_err(|_| Fail::Lie(format!("transaction bytes for {want} do not decode")))?;
            // The page decides which transactions are looked at closer, so
            // a page whose bytes are another transaction's would hide one.
            let got = tx.compute_txid();
            if got != *want {
                return Err(Fail::Lie(format!("transaction bytes do not hash to the requested {want} (they hash to {got})")));
            }
            out.push(tx_json(&tx, Some(*height)));
        }
        Ok(Value::Array(out).to_string().into_bytes())
    }
}

fn status_json(height: Option<i32>) -> Value {
    match height {
        Some(h) if h > 0 => json!({"confirmed": true, "block_height": h}),
        _ => json!({"confirmed": false}),
    }
}

/// The Esplora JSON of `tx` (fields goat reads; prevouts unknown).
fn tx_json(tx: &Transaction, height: Option<i32>) -> Value {
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            json!({
                "txid": i.previous_output.txid.to_string(),
                "vout": i.previous_output.vout,
                "prevout": Value::Null,
                "scriptsig": hex::encode(i.script_sig.as_bytes()),
                "witness": i.witness.iter().map(hex::encode).collect::<Vec<_>>(),
                "is_coinbase": i.previous_output.is_null(),
                "sequence": i.sequence.0,
            })
        })
        .collect();
    let vout: Vec<Value> =
        tx.output.iter().map(|o| json!({"scriptpubkey": hex::encode(o.script_pubkey.as_bytes()), "value": o.value.to_sat()})).collect();
    json!({
        "txid": tx.compute_txid().to_string(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": vout,
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "fee": 0,
        "status": status_json(height),
    })
}

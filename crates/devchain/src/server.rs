//! An Esplora-compatible REST server over a [`Chain`], for tests and demos.
//!
//! Same paths, JSON fields, status codes and paging as Blockstream's esplora
//! (`/address/:a/txs` = up to 50 mempool + 25 confirmed, `/txs/chain/:last`
//! = 25 per page). Faults can be armed at run time to test failure handling
//! (`faults.rs`).

// Handlers answer an error as the response itself (axum's own idiom), so
// `Result<T, Response>` is the shape here whatever its size.
#![allow(clippy::result_large_err)]

use super::Chain;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bitcoin::consensus;
use bitcoin::hashes::Hash;
use bitcoin::{Address, OutPoint, Script, Transaction, Txid};
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::faults::faults;
pub use super::faults::{Fault, FaultRule};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// When it was answered.
    pub at: Instant,
    /// Its HTTP path, or `electrum:` and the method's name.
    pub path: String,
    /// The status answered: HTTP's, or for Electrum 200 for a result, 500 for an error.
    pub status: u16,
}

/// What the Esplora and Electrum servers share: the chain, armed faults, the request log.
#[derive(Clone)]
pub struct AppState {
    /// The chain served.
    pub chain: Arc<RwLock<Chain>>,
    /// Faults armed, in the order they were armed: the first that matches applies.
    pub faults: Arc<Mutex<Vec<FaultRule>>>,
    /// Every request answered (HTTP and Electrum), oldest first.
    pub log: Arc<Mutex<Vec<Logged>>>,
    /// Headers of blocks this server forged (Fault::ForgedBlock), by hash.
    pub forged: Arc<Mutex<std::collections::HashMap<bitcoin::BlockHash, bitcoin::block::Header>>>,
    /// Mine a block right after each accepted broadcast.
    pub mine_on_broadcast: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// A state serving `chain`, with no fault armed and nothing logged.
    pub fn new(chain: Chain) -> Self {
        AppState {
            chain: Arc::new(RwLock::new(chain)),
            faults: Arc::new(Mutex::new(Vec::new())),
            log: Arc::new(Mutex::new(Vec::new())),
            forged: Arc::new(Mutex::new(std::collections::HashMap::new())),
            mine_on_broadcast: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
    /// Arms `fault` for the next `times` requests whose path (or Electrum method)
    /// contains `path_contains`.
    pub fn arm(&self, path_contains: &str, fault: Fault, times: usize) {
        self.faults.lock().unwrap().push(FaultRule { path_contains: path_contains.into(), fault, times });
    }
    /// The first armed fault whose `path_contains` is in `key` (an HTTP
    /// path, or an Electrum method name), used up once.
    pub fn take_fault(&self, key: &str) -> Option<Fault> {
        let mut rules = self.faults.lock().unwrap();
        let rule = rules.iter_mut().find(|r| r.times > 0 && key.contains(&r.path_contains))?;
        rule.times -= 1;
        Some(rule.fault.clone())
    }
    /// The requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
    /// Forgets the requests answered so far.
    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

/// The Esplora REST API (and `POST /devchain/mine`) over `state`, armed faults applied.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/address/{addr}", get(address_stats))
        .route("/address/{addr}/txs", get(address_txs))
        .route("/address/{addr}/txs/chain", get(address_chain_first))
        .route("/address/{addr}/txs/chain/{last}", get(address_chain))
        .route("/address/{addr}/txs/mempool", get(address_mempool))
        .route("/tx/{txid}", get(tx_json))
        .route("/tx/{txid}/raw", get(tx_raw))
        .route("/tx/{txid}/hex", get(tx_hex))
        .route("/tx/{txid}/status", get(tx_status))
        .route("/tx/{txid}/merkle-proof", get(tx_merkle_proof))
        .route("/tx/{txid}/outspend/{vout}", get(tx_outspend))
        .route("/tx/{txid}/outspends", get(tx_outspends))
        .route("/tx", post(broadcast))
        .route("/address/{addr}/utxo", get(address_utxo))
        .route("/fee-estimates", get(fee_estimates))
        // Not Esplora: the devchain's own control, to mine the mempool.
        .route("/devchain/mine", post(mine))
        .route("/block/{hash}/header", get(block_header))
        .route("/block/{hash}/raw", get(block_raw))
        .route("/block/{hash}/txid/{index}", get(block_txid))
        .route("/block-height/{height}", get(block_height))
        .route("/blocks/tip/height", get(tip_height))
        .route("/blocks/tip/hash", get(tip_hash))
        .layer(middleware::from_fn_with_state(state.clone(), faults))
        .with_state(state)
}

type Reply = Result<Response, Response>;

pub(crate) fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.to_string()).into_response()
}

fn bad_txid(s: &str) -> Result<Txid, Response> {
    Txid::from_str(s).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid hex string"))
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Transaction not found")
}

fn address_script(chain: &Chain, a: &str) -> Result<bitcoin::ScriptBuf, Response> {
    let addr = Address::from_str(a)
        .ok()
        .and_then(|u| u.require_network(chain.network).ok())
        .ok_or_else(|| text(StatusCode::BAD_REQUEST, "Invalid Bitcoin address"))?;
    Ok(addr.script_pubkey())
}

fn script_type(s: &Script) -> &'static str {
    if s.is_p2tr() {
        "v1_p2tr"
    } else if s.is_p2wpkh() {
        "v0_p2wpkh"
    } else if s.is_p2wsh() {
        "v0_p2wsh"
    } else if s.is_p2pkh() {
        "p2pkh"
    } else if s.is_p2sh() {
        "p2sh"
    } else if s.is_op_return() {
        "op_return"
    } else {
        "unknown"
    }
}

fn output_json(chain: &Chain, out: &bitcoin::TxOut) -> Value {
    let mut v = json!({
        "scriptpubkey": hex::encode(out.script_pubkey.as_bytes()),
        "scriptpubkey_asm": out.script_pubkey.to_asm_string(),
        "scriptpubkey_type": script_type(&out.script_pubkey),
        "value": out.value.to_sat(),
    });
    if let Ok(a) = Address::from_script(&out.script_pubkey, chain.network) {
        v["scriptpubkey_address"] = json!(a.to_string());
    }
    v
}

fn status_json(chain: &Chain, txid: &Txid) -> Value {
    match chain.txs.get(txid).and_then(|r| r.confirmed) {
        Some(c) => json!({
            "confirmed": true,
            "block_height": c.height,
            "block_hash": c.hash.to_string(),
            "block_time": c.time,
        }),
        None => json!({ "confirmed": false }),
    }
}

/// The Esplora JSON of one transaction.
pub fn tx_to_json(chain: &Chain, txid: &Txid) -> Option<Value> {
    let tx = &chain.txs.get(txid)?.tx;
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            let coinbase = i.previous_output.is_null();
            json!({
                "txid": i.previous_output.txid.to_string(),
                "vout": i.previous_output.vout,
                "prevout": if coinbase { Value::Null } else {
                    chain.prevout(&i.previous_output).map(|o| output_json(chain, &o)).unwrap_or(Value::Null)
                },
                "scriptsig": hex::encode(i.script_sig.as_bytes()),
                "scriptsig_asm": i.script_sig.to_asm_string(),
                "witness": i.witness.iter().map(hex::encode).collect::<Vec<_>>(),
                "is_coinbase": coinbase,
                "sequence": i.sequence.0,
            })
        })
        .collect();
    Some(json!({
        "txid": txid.to_string(),
        // electrs writes it unsigned
        "version": tx.version.0 as u32,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": tx.output.iter().map(|o| output_json(chain, o)).collect::<Vec<_>>(),
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "sigops": 0,
        "fee": chain.fee(tx),
        "status": status_json(chain, txid),
    }))
}

fn json_list(chain: &Chain, txids: &[Txid]) -> Response {
    let list: Vec<Value> = txids.iter().filter_map(|t| tx_to_json(chain, t)).collect();
    axum::Json(list).into_response()
}

/// `funded_txo_count`, `funded_txo_sum`, `spent_txo_count`,
/// `spent_txo_sum`, `tx_count` over `txids`, as Esplora reports them.
fn txo_stats(chain: &Chain, spk: &bitcoin::ScriptBuf, txids: &[Txid]) -> Value {
    let (mut funded, mut funded_sum, mut spent, mut spent_sum) = (0u64, 0u64, 0u64, 0u64);
    for t in txids {
        let tx = &chain.txs[t].tx;
        for o in tx.output.iter().filter(|o| &o.script_pubkey == spk) {
            funded += 1;
            funded_sum += o.value.to_sat();
        }
        for i in &tx.input {
            if let Some(p) = chain.prevout(&i.previous_output).filter(|p| &p.script_pubkey == spk) {
                spent += 1;
                spent_sum += p.value.to_sat();
            }
        }
    }
    json!({
        "funded_txo_count": funded,
        "funded_txo_sum": funded_sum,
        "spent_txo_count": spent,
        "spent_txo_sum": spent_sum,
        "tx_count": txids.len(),
    })
}

async fn address_stats(State(s): State<AppState>, Path(a): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    let confirmed = chain.chain_history(&spk, None, usize::MAX);
    let mempool = chain.mempool_history(&spk);
    Ok(axum::Json(json!({
        "address": a,
        "chain_stats": txo_stats(&chain, &spk, &confirmed),
        "mempool_stats": txo_stats(&chain, &spk, &mempool),
    }))
    .into_response())
}

async fn address_txs(State(s): State<AppState>, Path(a): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    let mut txids: Vec<Txid> = chain.mempool_history(&spk).into_iter().take(50).collect();
    txids.extend(chain.chain_history(&spk, None, 25));
    Ok(json_list(&chain, &txids))
}

async fn address_chain_first(State(s): State<AppState>, Path(a): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    Ok(json_list(&chain, &chain.chain_history(&spk, None, 25)))
}

async fn address_chain(State(s): State<AppState>, Path((a, last)): Path<(String, String)>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    let last = bad_txid(&last)?;
    Ok(json_list(&chain, &chain.chain_history(&spk, Some(&last), 25)))
}

async fn address_mempool(State(s): State<AppState>, Path(a): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    let txids: Vec<Txid> = chain.mempool_history(&spk).into_iter().take(50).collect();
    Ok(json_list(&chain, &txids))
}

fn known_tx(chain: &Chain, t: &str) -> Result<(Txid, Transaction), Response> {
    let txid = bad_txid(t)?;
    let tx = chain.txs.get(&txid).ok_or_else(not_found)?.tx.clone();
    Ok((txid, tx))
}

async fn tx_json(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (txid, _) = known_tx(&chain, &t)?;
    Ok(axum::Json(tx_to_json(&chain, &txid)).into_response())
}

async fn tx_raw(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (_, tx) = known_tx(&chain, &t)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], consensus::serialize(&tx)).into_response())
}

async fn tx_hex(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (_, tx) = known_tx(&chain, &t)?;
    Ok(text(StatusCode::OK, &consensus::encode::serialize_hex(&tx)))
}

async fn tx_status(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (txid, _) = known_tx(&chain, &t)?;
    Ok(axum::Json(status_json(&chain, &txid)).into_response())
}

async fn tx_merkle_proof(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (txid, _) = known_tx(&chain, &t)?;
    let (branch, pos, height) =
        chain.merkle_branch(&txid).ok_or_else(|| text(StatusCode::NOT_FOUND, "Transaction not found"))?;
    let merkle: Vec<String> = branch.iter().map(|h| Txid::from_byte_array(h.to_byte_array()).to_string()).collect();
    Ok(axum::Json(json!({ "block_height": height, "merkle": merkle, "pos": pos })).into_response())
}

fn outspend_json(chain: &Chain, op: &OutPoint) -> Value {
    match chain.spends.get(op) {
        Some((txid, vin)) => {
            json!({ "spent": true, "txid": txid.to_string(), "vin": vin, "status": status_json(chain, txid) })
        }
        None => json!({ "spent": false }),
    }
}

async fn tx_outspend(State(s): State<AppState>, Path((t, vout)): Path<(String, u32)>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (txid, _) = known_tx(&chain, &t)?;
    Ok(axum::Json(outspend_json(&chain, &OutPoint { txid, vout })).into_response())
}

async fn tx_outspends(State(s): State<AppState>, Path(t): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let (txid, tx) = known_tx(&chain, &t)?;
    let v: Vec<Value> =
        (0..tx.output.len() as u32).map(|vout| outspend_json(&chain, &OutPoint { txid, vout })).collect();
    Ok(axum::Json(v).into_response())
}

/// Esplora relays to bitcoind's `sendrawtransaction` and passes its error
/// back with 400 in this shape.
fn rpc_error(code: i32, message: &str) -> Response {
    let m = json!({ "code": code, "message": message });
    text(StatusCode::BAD_REQUEST, &format!("sendrawtransaction RPC error: {m}"))
}

async fn broadcast(State(s): State<AppState>, body: String) -> Reply {
    let bytes = hex::decode(body.trim()).map_err(|_| rpc_error(-22, "TX decode failed"))?;
    let tx: Transaction = consensus::deserialize(&bytes).map_err(|_| rpc_error(-22, "TX decode failed"))?;
    let mut chain = s.chain.write().unwrap();
    let txid = chain.broadcast(tx).map_err(|e| {
        let code = if e.starts_with("txn-already") {
            -27
        } else if e.contains("missingorspent") {
            -25
        } else {
            -26
        };
        rpc_error(code, &e)
    })?;
    if s.mine_on_broadcast.load(std::sync::atomic::Ordering::Relaxed) {
        chain.mine();
    }
    Ok(text(StatusCode::OK, &txid.to_string()))
}

async fn address_utxo(State(s): State<AppState>, Path(a): Path<String>) -> Reply {
    let chain = s.chain.read().unwrap();
    let spk = address_script(&chain, &a)?;
    let v: Vec<Value> = chain
        .utxos_of(&spk)
        .into_iter()
        .map(|(p, o)| {
            json!({
                "txid": p.txid.to_string(),
                "vout": p.vout,
                "status": status_json(&chain, &p.txid),
                "value": o.value.to_sat(),
            })
        })
        .collect();
    Ok(axum::Json(v).into_response())
}

/// Fixed estimates in the shape Esplora serves (target blocks → sat/vB).
async fn fee_estimates() -> Response {
    let targets: Vec<(String, Value)> =
        [(1, 12.5), (2, 10.2), (3, 8.0), (4, 6.1), (6, 4.0), (10, 3.0), (25, 2.0), (144, 1.0), (504, 1.0), (1008, 1.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
    axum::Json(targets.into_iter().collect::<serde_json::Map<String, Value>>()).into_response()
}

async fn mine(State(s): State<AppState>) -> Response {
    let hash = s.chain.write().unwrap().mine();
    text(StatusCode::OK, &hash.to_string())
}

async fn block_raw(State(s): State<AppState>, Path(h): Path<String>) -> Reply {
    let hash = bitcoin::BlockHash::from_str(&h).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid hex string"))?;
    let chain = s.chain.read().unwrap();
    let b = chain
        .blocks
        .iter()
        .rev()
        .find(|b| b.block_hash() == hash)
        .ok_or_else(|| text(StatusCode::NOT_FOUND, "Block not found"))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], consensus::serialize(b)).into_response())
}

/// The txid at `index` of a block. A block this server forged
/// (Fault::ForgedBlock) carries a real block's merkle root: it answers
/// for it as for that block, as a consistent liar would.
async fn block_txid(State(s): State<AppState>, Path((h, index)): Path<(String, usize)>) -> Reply {
    let hash = bitcoin::BlockHash::from_str(&h).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid hex string"))?;
    let forged_root = s.forged.lock().unwrap().get(&hash).map(|f| f.merkle_root);
    let chain = s.chain.read().unwrap();
    let b = chain
        .blocks
        .iter()
        .rev()
        .find(|b| b.block_hash() == hash || Some(b.header.merkle_root) == forged_root)
        .ok_or_else(|| text(StatusCode::NOT_FOUND, "Block not found"))?;
    let tx = b.txdata.get(index).ok_or_else(|| text(StatusCode::NOT_FOUND, "Transaction not found"))?;
    Ok(text(StatusCode::OK, &tx.compute_txid().to_string()))
}

async fn block_header(State(s): State<AppState>, Path(h): Path<String>) -> Reply {
    let hash = bitcoin::BlockHash::from_str(&h).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid hex string"))?;
    if let Some(forged) = s.forged.lock().unwrap().get(&hash) {
        return Ok(text(StatusCode::OK, &consensus::encode::serialize_hex(forged)));
    }
    let chain = s.chain.read().unwrap();
    let b = chain
        .blocks
        .iter()
        .rev()
        .find(|b| b.block_hash() == hash)
        .ok_or_else(|| text(StatusCode::NOT_FOUND, "Block not found"))?;
    Ok(text(StatusCode::OK, &consensus::encode::serialize_hex(&b.header)))
}

async fn block_height(State(s): State<AppState>, Path(h): Path<u32>) -> Reply {
    let chain = s.chain.read().unwrap();
    let b = chain.blocks.get(h as usize).ok_or_else(|| text(StatusCode::NOT_FOUND, "Block not found"))?;
    Ok(text(StatusCode::OK, &b.block_hash().to_string()))
}

async fn tip_height(State(s): State<AppState>) -> Response {
    text(StatusCode::OK, &s.chain.read().unwrap().height().to_string())
}

async fn tip_hash(State(s): State<AppState>) -> Response {
    text(StatusCode::OK, &s.chain.read().unwrap().tip().to_string())
}

/// A running server on 127.0.0.1, on its own thread and runtime. It stops
/// when dropped, or by itself after `lifetime`.
pub struct Handle {
    /// The Esplora API's base URL: `http://` and the address it listens on.
    pub url: String,
    /// The same chain over the Electrum protocol: `tcp://127.0.0.1:PORT`.
    pub electrum: String,
    /// The state both servers share: arm faults and read the request log here.
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// Serves `chain` on free ports of 127.0.0.1 until dropped or `lifetime` has passed.
    pub fn start(chain: Chain, lifetime: Duration) -> std::io::Result<Handle> {
        Self::start_on("127.0.0.1:0", chain, lifetime)
    }

    /// [`Handle::start`] on the address `bind`; the Electrum server listens on a
    /// free port of the same IP.
    pub fn start_on(bind: &str, chain: Chain, lifetime: Duration) -> std::io::Result<Handle> {
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let electrum_listener = std::net::TcpListener::bind((listener.local_addr()?.ip(), 0))?;
        electrum_listener.set_nonblocking(true)?;
        let electrum = format!("tcp://{}", electrum_listener.local_addr()?);
        let state = AppState::new(chain);
        let app = router(state.clone());
        let electrum_state = state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                if let Ok(el) = tokio::net::TcpListener::from_std(electrum_listener) {
                    tokio::spawn(super::electrum::serve(el, electrum_state));
                }
                let stop = async move {
                    tokio::select! {
                        _ = rx => {}
                        _ = tokio::time::sleep(lifetime) => {}
                    }
                };
                let _ = axum::serve(listener, app).with_graceful_shutdown(stop).await;
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        Ok(Handle { url, electrum, state, stop: Some(tx), thread: Some(thread) })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Esplora JSON the devchain writes is read back by goat's client
    /// (`esplora::page`) as the very transactions, witnesses and heights
    /// the chain holds: the writer and the reader are one contract, kept
    /// in step by this test (a drift would also fail the txid check that
    /// every page read makes, but as a lie, far from its cause).
    #[test]
    fn esplora_json_reads_back_as_the_chain_holds_it() {
        let (mut c, alice, ins) = crate::tests::inscribed_hi(0);
        // One left in the mempool: unconfirmed, no height.
        let pending = c.fund(&alice.script_pubkey(), 7_000);
        let txids = [ins.commit, ins.reveal, pending];
        let body = serde_json::to_vec(&txids.iter().map(|t| tx_to_json(&c, t).unwrap()).collect::<Vec<_>>()).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.try_send(bytes::Bytes::from(body)).unwrap();
        drop(tx);
        let read =
            std::thread::spawn(move || goat_chain::esplora::page::parse(goat_chain::esplora::page::Chunks::new(rx)))
                .join()
                .unwrap()
                .unwrap_or_else(|_| panic!("the devchain's JSON was not read back"));
        assert_eq!(read.len(), 3);
        for (got, want) in read.iter().zip(txids) {
            let held = &c.txs[&want];
            assert_eq!(got.txid, want);
            assert_eq!(*got.tx, held.tx, "{want}: the same transaction, witnesses included");
            assert_eq!(got.wtxid, held.tx.compute_wtxid());
            assert_eq!(got.height, held.confirmed.map(|b| b.height), "{want}");
        }
        assert!(read[1].envelope, "the reveal carries its envelope");
        assert_eq!(read[2].height, None);
    }
}

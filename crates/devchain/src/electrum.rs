//! The devchain over the Electrum protocol (what electrs, Fulcrum and most
//! home nodes expose): newline-delimited JSON-RPC 2.0 over TCP, one request
//! (or one batch, a JSON array) per line, answers in the same shape. The
//! methods goat uses, as the protocol documentation (electrumx's
//! protocol-methods) specifies them:
//! `server.version`, `server.ping`, `blockchain.headers.subscribe`,
//! `blockchain.block.header`, `blockchain.scripthash.get_history`,
//! `blockchain.scripthash.listunspent`, `blockchain.transaction.get`,
//! `blockchain.transaction.get_merkle`, `blockchain.transaction.broadcast`,
//! `blockchain.estimatefee`.
//!
//! Faults armed on the shared `AppState` apply here by method name
//! (`path_contains` is matched against it): `Status` answers a JSON-RPC
//! error, `Delay` waits, `WrongTxBytes` serves another transaction,
//! `WrongMerkleProof` a branch that leads elsewhere; `Notify` (on the key
//! `notify`) sends a header notification before each answer.

use super::server::{AppState, Fault, Logged};
use bitcoin::consensus;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{ScriptBuf, Txid};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Longest request line accepted (a broadcast of a 400 kWU transaction
/// fits with room to spare).
const MAX_LINE: usize = 4 << 20;

/// Serve connections from `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r);
            let mut line = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line.len() > MAX_LINE => return,
                    Ok(_) => {}
                }
                let answer = match serde_json::from_str::<Value>(line.trim()) {
                    Ok(Value::Array(calls)) => {
                        let mut out = Vec::new();
                        for c in calls {
                            out.push(call(&state, &c).await);
                        }
                        Value::Array(out)
                    }
                    Ok(c) => call(&state, &c).await,
                    Err(_) => {
                        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}})
                    }
                };
                let mut bytes = Vec::new();
                if let Some(Fault::Notify(n)) = state.take_fault("notify") {
                    let note = json!({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [{"height": 1, "hex": "00".repeat(n)}]});
                    bytes.extend(note.to_string().into_bytes());
                    bytes.push(b'\n');
                }
                bytes.extend(answer.to_string().into_bytes());
                bytes.push(b'\n');
                if w.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The Electrum script hash: sha256 of the output script, byte-reversed hex.
pub fn script_hash(spk: &ScriptBuf) -> String {
    let mut h = sha256::Hash::hash(spk.as_bytes()).to_byte_array();
    h.reverse();
    hex::encode(h)
}

async fn call(state: &AppState, c: &Value) -> Value {
    let id = c.get("id").cloned().unwrap_or(Value::Null);
    let method = c.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
    let params = c.get("params").and_then(Value::as_array).cloned().unwrap_or_default();
    let fault = state.take_fault(&method);
    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let result = match &fault {
        Some(Fault::Status(code)) => Err((-32603, format!("internal error ({code})"))),
        _ => answer(state, &method, &params, fault.as_ref()),
    };
    state.log.lock().unwrap().push(Logged {
        at: Instant::now(),
        path: format!("electrum:{method}"),
        status: if result.is_ok() { 200 } else { 500 },
    });
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err((code, message)) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    }
}

type Answer = Result<Value, (i64, String)>;

fn bad(msg: &str) -> (i64, String) {
    (1, msg.to_string())
}

fn param_str(p: &[Value], i: usize) -> Result<&str, (i64, String)> {
    p.get(i).and_then(Value::as_str).ok_or_else(|| bad("missing parameter"))
}

fn param_u32(p: &[Value], i: usize) -> Result<u32, (i64, String)> {
    p.get(i).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad("missing parameter"))
}

fn answer(state: &AppState, method: &str, p: &[Value], fault: Option<&Fault>) -> Answer {
    match method {
        "server.version" => Ok(json!(["goat-devchain", "1.4"])),
        "server.ping" => Ok(Value::Null),
        "server.banner" => Ok(json!("goat devchain")),
        "blockchain.headers.subscribe" => {
            let chain = state.chain.read().unwrap();
            let tip = chain.blocks.last().ok_or_else(|| bad("no blocks"))?;
            Ok(json!({"height": chain.height(), "hex": consensus::encode::serialize_hex(&tip.header)}))
        }
        "blockchain.block.header" => {
            let h = param_u32(p, 0)?;
            let chain = state.chain.read().unwrap();
            let b = chain.blocks.get(h as usize).ok_or_else(|| bad("height out of range"))?;
            Ok(json!(consensus::encode::serialize_hex(&b.header)))
        }
        "blockchain.scripthash.get_history" | "blockchain.scripthash.listunspent" => {
            let sh = param_str(p, 0)?;
            let chain = state.chain.read().unwrap();
            let spk = chain.script_by_hash(sh).ok_or_else(|| bad("unknown script hash")).ok();
            let Some(spk) = spk else { return Ok(json!([])) };
            if method.ends_with("listunspent") {
                let list: Vec<Value> = chain
                    .utxos_of(&spk)
                    .into_iter()
                    .map(|(o, out)| {
                        let height = chain.txs.get(&o.txid).and_then(|r| r.confirmed).map(|c| c.height).unwrap_or(0);
                        json!({"tx_hash": o.txid.to_string(), "tx_pos": o.vout, "height": height, "value": out.value.to_sat()})
                    })
                    .collect();
                return Ok(Value::Array(list));
            }
            // Confirmed in chain order (oldest first), then the mempool.
            let mut out: Vec<Value> = chain
                .chain_history(&spk, None, usize::MAX)
                .into_iter()
                .rev()
                .map(|t| {
                    let height = chain.txs[&t].confirmed.map(|c| c.height).unwrap_or(0);
                    let t = match fault {
                        Some(Fault::SwapListed { hide, show }) if *hide == t => *show,
                        _ => t,
                    };
                    json!({"tx_hash": t.to_string(), "height": height})
                })
                .collect();
            let mut mempool = chain.mempool_history(&spk);
            mempool.reverse();
            for t in mempool {
                let fee = chain.fee(&chain.txs[&t].tx);
                out.push(json!({"tx_hash": t.to_string(), "height": 0, "fee": fee}));
            }
            Ok(Value::Array(out))
        }
        "blockchain.transaction.get" => {
            let txid = Txid::from_str(param_str(p, 0)?).map_err(|_| bad("invalid txid"))?;
            if p.get(1).and_then(Value::as_bool) == Some(true) {
                return Err(bad("verbose transactions are not supported"));
            }
            let chain = state.chain.read().unwrap();
            let rec =
                chain.txs.get(&txid).ok_or_else(|| (2, "No such mempool or blockchain transaction".to_string()))?;
            let tx = match fault {
                Some(Fault::WrongTxBytes) => chain
                    .txs
                    .iter()
                    .find(|(t, _)| **t != txid)
                    .map(|(_, r)| r.tx.clone())
                    .unwrap_or_else(|| rec.tx.clone()),
                Some(f @ Fault::SwapWitness { .. }) => f.swap(&rec.tx).unwrap_or_else(|| rec.tx.clone()),
                _ => rec.tx.clone(),
            };
            Ok(json!(consensus::encode::serialize_hex(&tx)))
        }
        "blockchain.transaction.get_merkle" => {
            let txid = Txid::from_str(param_str(p, 0)?).map_err(|_| bad("invalid txid"))?;
            let chain = state.chain.read().unwrap();
            let (mut branch, pos, height) = chain.merkle_branch(&txid).ok_or_else(|| bad("tx not confirmed"))?;
            if param_u32(p, 1)? != height {
                return Err(bad("tx not in that block"));
            }
            if let (Some(Fault::WrongMerkleProof), Some(first)) = (fault, branch.first_mut()) {
                *first = bitcoin::TxMerkleNode::from_byte_array([0x55; 32]);
            }
            let merkle: Vec<String> =
                branch.iter().map(|n| Txid::from_byte_array(n.to_byte_array()).to_string()).collect();
            Ok(json!({"block_height": height, "merkle": merkle, "pos": pos}))
        }
        "blockchain.transaction.id_from_pos" => {
            let (height, pos) = (param_u32(p, 0)?, param_u32(p, 1)? as usize);
            let chain = state.chain.read().unwrap();
            let block = chain.blocks.get(height as usize).ok_or_else(|| bad("height out of range"))?;
            let txid = block.txdata.get(pos).ok_or_else(|| bad("tx_pos out of range"))?.compute_txid();
            if p.get(2).and_then(Value::as_bool) != Some(true) {
                return Ok(json!(txid.to_string()));
            }
            let (branch, _, _) = chain.merkle_branch(&txid).ok_or_else(|| bad("tx not confirmed"))?;
            let merkle: Vec<String> =
                branch.iter().map(|n| Txid::from_byte_array(n.to_byte_array()).to_string()).collect();
            Ok(json!({"tx_hash": txid.to_string(), "merkle": merkle}))
        }
        "blockchain.transaction.broadcast" => {
            let raw = hex::decode(param_str(p, 0)?).map_err(|_| bad("TX decode failed"))?;
            let tx: bitcoin::Transaction = consensus::deserialize(&raw).map_err(|_| bad("TX decode failed"))?;
            let mut chain = state.chain.write().unwrap();
            let txid = chain
                .broadcast(tx)
                .map_err(|e| (1, format!("the transaction was rejected by network rules.\n\n{e}")))?;
            if state.mine_on_broadcast.load(std::sync::atomic::Ordering::Relaxed) {
                chain.mine();
            }
            Ok(json!(txid.to_string()))
        }
        // BTC per kB, as the protocol says.
        "blockchain.estimatefee" => Ok(json!(0.00004)),
        "blockchain.relayfee" => Ok(json!(0.00001)),
        _ => Err((-32601, format!("unknown method '{method}'"))),
    }
}

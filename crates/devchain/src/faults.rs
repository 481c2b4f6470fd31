//! The devchain's faults on purpose: what a misbehaving server does
//! ([`Fault`]), armed on the shared state for a number of matching
//! requests, and the middleware that applies them to the Esplora API (the
//! Electrum server applies them by method name, `electrum.rs`). Nothing
//! arms a fault unless a test asks: `goat demo` and `goat devchain` serve
//! an honest chain.

use super::server::{text, tx_to_json, AppState, Logged};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bitcoin::consensus;
use bitcoin::{Transaction, Txid};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A misbehaviour to apply to matching requests.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer 500.
    Status(u16),
    /// Answer 429 with `Retry-After: secs`.
    RateLimit {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Wait this long before answering (to trip client timeouts).
    Delay(Duration),
    /// Promise the whole body in Content-Length, send half, drop the connection.
    Truncate,
    /// For `/tx/:txid/raw`: serve the bytes of a different transaction.
    WrongTxBytes,
    /// For `/tx/:txid/merkle-proof`: a branch that leads elsewhere.
    WrongMerkleProof,
    /// For `/block/:hash/header`: bytes that do not hash to the block id.
    WrongHeader,
    /// For `/block-height/:h`: name a forged block instead, whose header
    /// (served at `/block/:forged/header`) carries the real merkle root: a
    /// consistent liar. `weak`: its target is easier than the network
    /// allows (it spent no work); otherwise it is mined at the network's
    /// own difficulty, like a block of a private fork.
    ForgedBlock {
        /// Forge it with a target easier than the network allows.
        weak: bool,
    },
    /// For every answer that carries transaction `txid` (`/tx/:txid/raw`,
    /// `/hex`, its JSON, history pages, Electrum's `transaction.get`):
    /// serve it with the witness of input `input` replaced by `witness`.
    /// The txid, merkle proof and block stay genuine: only the block's
    /// witness commitment (and the scripts) can tell.
    SwapWitness {
        /// The transaction served with another witness.
        txid: Txid,
        /// Which of its inputs, from 0.
        input: usize,
        /// The witness served instead.
        witness: bitcoin::Witness,
    },
    /// For `/block/:hash/raw`: the block with the witness of input `input`
    /// of `txid` replaced (a block whose witness commitment no longer
    /// holds).
    SwapWitnessInBlock {
        /// The transaction whose witness is replaced in its block.
        txid: Txid,
        /// Which of its inputs, from 0.
        input: usize,
        /// The witness put in the block instead.
        witness: bitcoin::Witness,
    },
    /// For `/block/:hash/raw`: the block with every witness stripped,
    /// the coinbase's too (its merkle root and header stay genuine).
    StripWitnessesInBlock,
    /// For history pages: put transaction `txid` at `height`.
    Height {
        /// The transaction moved.
        txid: Txid,
        /// The height it is listed at.
        height: u32,
    },
    /// For `/tx/:txid/merkle-proof`: claim block `height` (arm it on that
    /// transaction's path, with `Body` on `/block-height/:height` naming
    /// its real block, for a consistent liar that moves a real block).
    ProofHeight(u32),
    /// For history pages (Esplora's and Electrum's `get_history`): list
    /// transaction `show` where `hide` is, at `hide`'s height, so the
    /// page keeps its count.
    SwapListed {
        /// The transaction left out of the page.
        hide: Txid,
        /// The transaction listed in its place.
        show: Txid,
    },
    /// Answer 200 with this text (a tip height, a block hash).
    Body(String),
    /// Electrum: before an answer, a header notification of this many
    /// bytes of "header" (armed on the key `notify`).
    Notify(usize),
}

impl Fault {
    /// `tx` as this fault serves it (unchanged unless it is the target).
    pub fn swap(&self, tx: &Transaction) -> Option<Transaction> {
        match self {
            Fault::SwapWitness { txid, input, witness } if tx.compute_txid() == *txid => {
                let mut t = tx.clone();
                t.input.get_mut(*input)?.witness = witness.clone();
                Some(t)
            }
            _ => None,
        }
    }
}

/// A fault armed for a number of matching requests.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Applies to requests whose path contains this.
    pub path_contains: String,
    /// The misbehaviour.
    pub fault: Fault,
    /// How many matching requests it applies to.
    pub times: usize,
}

/// Apply armed faults and log every request.
pub(crate) async fn faults(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let fault = s.take_fault(&path);
    let resp = match fault {
        None => next.run(req).await,
        Some(Fault::Status(code)) => {
            text(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "injected failure")
        }
        Some(Fault::RateLimit { retry_after_secs }) => {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Some(Fault::Body(b)) => text(StatusCode::OK, &b),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::Truncate) => {
            let r = next.run(req).await;
            let (mut parts, body) = r.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            let stream = futures::stream::iter(vec![
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::other("injected truncation")),
            ]);
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Some(lie) => {
            // Faults that rewrite a correct answer into a lie.
            let r = next.run(req).await;
            let (parts, body) = r.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let out = rewrite(&s, &lie, &bytes).unwrap_or_else(|| bytes.to_vec());
            with_body(parts, out)
        }
    };
    s.log.lock().unwrap().push(Logged { at: Instant::now(), path, status: resp.status().as_u16() });
    resp
}

/// The lie a body-rewriting fault tells about a correct `body`; None when
/// the body is not what the fault expects (it is then served unchanged).
fn rewrite(s: &AppState, fault: &Fault, body: &[u8]) -> Option<Vec<u8>> {
    let text = || String::from_utf8_lossy(body).trim().to_string();
    match fault {
        Fault::Height { txid, height } => {
            let mut v = serde_json::from_slice::<Value>(body).ok()?;
            for t in v.as_array_mut()? {
                if t["txid"] == json!(txid.to_string()) {
                    t["status"]["block_height"] = json!(height);
                }
            }
            serde_json::to_vec(&v).ok()
        }
        Fault::SwapListed { hide, show } => {
            let mut v = serde_json::from_slice::<Value>(body).ok()?;
            let chain = s.chain.read().unwrap();
            for t in v.as_array_mut()? {
                if t["txid"] == json!(hide.to_string()) {
                    let status = t["status"].clone();
                    *t = tx_to_json(&chain, show)?;
                    t["status"] = status;
                }
            }
            serde_json::to_vec(&v).ok()
        }
        Fault::ProofHeight(height) => {
            let mut v = serde_json::from_slice::<Value>(body).ok()?;
            v["block_height"] = json!(height);
            serde_json::to_vec(&v).ok()
        }
        Fault::WrongTxBytes => {
            let mut tx = consensus::deserialize::<Transaction>(body).ok()?;
            tx.lock_time = bitcoin::absolute::LockTime::from_consensus(tx.lock_time.to_consensus_u32() ^ 1);
            Some(consensus::serialize(&tx))
        }
        Fault::WrongMerkleProof => {
            // a sibling hash that is not the real one (flipping `pos` is
            // not enough: an odd last node is its own sibling, so both
            // positions prove the same root)
            let mut v = serde_json::from_slice::<Value>(body).ok()?;
            let first = v["merkle"].get_mut(0)?;
            let mut h = first.as_str()?.to_string();
            let flipped = if h.starts_with('0') { "1" } else { "0" };
            h.replace_range(0..1, flipped);
            *first = json!(h);
            serde_json::to_vec(&v).ok()
        }
        Fault::WrongHeader => {
            let mut h = consensus::deserialize::<bitcoin::block::Header>(&hex::decode(text()).ok()?).ok()?;
            h.time ^= 1;
            Some(consensus::encode::serialize_hex(&h).into_bytes())
        }
        Fault::ForgedBlock { weak } => {
            let real = bitcoin::BlockHash::from_str(&text()).ok()?;
            let mut h = {
                let chain = s.chain.read().unwrap();
                chain.blocks.iter().find(|b| b.block_hash() == real).map(|b| b.header)?
            };
            if *weak {
                // the easiest target there is: any nonce meets it
                h.bits = bitcoin::CompactTarget::from_consensus(0x2100_ffff);
            }
            h.time = h.time.wrapping_add(1);
            while h.validate_pow(h.target()).is_err() {
                h.nonce = h.nonce.wrapping_add(1);
            }
            let hash = h.block_hash();
            s.forged.lock().unwrap().insert(hash, h);
            Some(hash.to_string().into_bytes())
        }
        Fault::SwapWitness { .. } => {
            if let Ok(tx) = consensus::deserialize::<Transaction>(body) {
                return fault.swap(&tx).map(|t| consensus::serialize(&t));
            }
            let hex_tx = hex::decode(text()).ok().and_then(|b| consensus::deserialize::<Transaction>(&b).ok());
            if let Some(tx) = hex_tx {
                return fault.swap(&tx).map(|t| consensus::encode::serialize_hex(&t).into_bytes());
            }
            // Esplora JSON: one transaction or a history page of them.
            let mut v = serde_json::from_slice::<Value>(body).ok()?;
            let Fault::SwapWitness { txid, input, witness } = fault else { return None };
            let mut hit = false;
            let mut edit = |t: &mut Value| {
                if t["txid"].as_str() == Some(&txid.to_string()) {
                    if let Some(vin) = t["vin"].get_mut(*input) {
                        vin["witness"] = json!(witness.iter().map(hex::encode).collect::<Vec<_>>());
                        hit = true;
                    }
                }
            };
            match &mut v {
                Value::Array(list) => list.iter_mut().for_each(&mut edit),
                t => edit(t),
            }
            hit.then(|| serde_json::to_vec(&v).ok()).flatten()
        }
        Fault::SwapWitnessInBlock { txid, input, witness } => {
            let mut b = consensus::deserialize::<bitcoin::Block>(body).ok()?;
            let t = b.txdata.iter_mut().find(|t| t.compute_txid() == *txid)?;
            t.input.get_mut(*input)?.witness = witness.clone();
            Some(consensus::serialize(&b))
        }
        Fault::StripWitnessesInBlock => {
            let mut b = consensus::deserialize::<bitcoin::Block>(body).ok()?;
            for t in &mut b.txdata {
                for i in &mut t.input {
                    i.witness = bitcoin::Witness::new();
                }
            }
            Some(consensus::serialize(&b))
        }
        _ => None,
    }
}

/// A response with its body replaced (and Content-Length fixed).
fn with_body(mut parts: axum::http::response::Parts, body: Vec<u8>) -> Response {
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, Body::from(body))
}

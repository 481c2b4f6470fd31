//! Stages 1→3 wired: walk an address's history and report its inscriptions.
//!
//! Cost: the history costs ceil(n/25) requests for n confirmed transactions
//! (plus one for the mempool page, which also carries the newest 25). Only
//! transactions whose witnesses hold an envelope are fetched raw; each such
//! candidate then costs a few more requests (its inputs' previous
//! transactions, the commit's inputs) to decide endorsement. No transaction
//! is fetched twice in a run. `resolve` stops paging as soon as it has its
//! answer.

mod delegates;
mod find;
mod judged;
mod lookup;
mod proving;
pub mod words;

use delegates::*;
pub use find::find_goatfile;
pub use judged::Content;
use judged::*;
pub use lookup::lookup;
use lookup::*;
use proving::*;

use crate::address::HolderAddress;
use crate::error::{Error, Kind, Result};
use crate::esplora::history::{Agreement, Span};
use crate::esplora::proof::{Proven, TAPROOT_MAINNET_HEIGHT};
use crate::esplora::source::Listed;
use crate::esplora::witness::{Copy, Route, WitnessProof, Witnessed};
use crate::esplora::Esplora;
use crate::goatfile::{self, Goatfile};
use crate::inscription::{content, Inscription, InscriptionId};
use crate::trust::signature::{self, Signed};
use crate::trust::{self, Endorsed, Endorsement, Policy, Reveal};
use bitcoin::{OutPoint, Transaction, Txid};
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Inputs of one reveal whose previous transactions are fetched.
const MAX_REVEAL_INPUTS: usize = 64;
/// Transactions one walk reads at most. What it keeps of each is small (a
/// digest, its outputs for a while), but a lying server could list real
/// transactions without end. A publisher's address is far below it.
/// Witnesses already proven in one scan, keyed by the copy and how it was
/// asked for: a delegate many transactions name is proven once.
type WitnessMemo = std::sync::Mutex<HashMap<(bitcoin::Wtxid, bool, Option<bool>), Witnessed>>;

pub const MAX_WALKED: usize = 200_000;
/// Delegate transactions one transaction's inscriptions may name: each
/// costs a fetch of up to a block's 4 MB (a delegate may be any
/// inscription on chain, so naming thousands of big ones costs an
/// airdropper nothing). Real batches name one delegate. The inscriptions
/// naming others serve no content, with a warning.
pub const MAX_DELEGATE_TXS: usize = 16;
/// In a walk, bodies larger than this are not kept (their size is): a
/// goatfile decodes to at most `goatfile::MAX_BYTES`, and compressed or
/// stored, its body is not much larger.
pub const CANDIDATE_BODY: usize = 2 * goatfile::MAX_BYTES;
/// Bytes one transaction's inscriptions may decode to while judged
/// (64 goatfiles of the largest size): thousands of tiny compressed bodies
/// could each inflate to a goatfile's limit.
pub const MAX_DECODED_PER_TX: usize = 64 * goatfile::MAX_BYTES;
/// What `Delegates` counts for one delegate transaction besides its
/// contents (the entry, its copy's digest).
const LOADED_COST: usize = 256;
/// Delegated content a walk keeps for other transactions naming it.
const MAX_DELEGATED_KEPT: usize = 16 << 20;
/// From this many of the address's transactions in one block, one block
/// proves their witnesses for less than their script checks cost (a
/// mainnet block is 1-4 MB, one request; a script check is a few small
/// requests per transaction, each a round trip).
const SHARED_BLOCK: usize = 4;
/// Script checks of passed-over transactions run this many at once.
const CONCURRENT_CHECKS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "height")]
pub enum Location {
    Mempool,
    Confirmed(u32),
}

impl Location {
    pub fn is_confirmed(&self) -> bool {
        matches!(self, Location::Confirmed(_))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Mempool => f.write_str("mempool"),
            Location::Confirmed(h) => write!(f, "{h}"),
        }
    }
}

/// Whether an inscription's content is a goatfile.
#[derive(Debug, Clone)]
pub enum GoatfileState {
    /// Shared: thousands of inscriptions may serve the same content.
    Valid(Arc<Goatfile>),
    /// Looks like one (YAML content type) but fails to parse: the reason
    /// (shared, like the content).
    Invalid(Arc<str>),
    No,
}

/// The content an inscription serves (its delegate's, when it has one).
#[derive(Debug, Clone)]
pub struct Served {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// Body as stored (still encoded), shared by every inscription that
    /// serves it. A walk keeps it only when it could be a goatfile
    /// (`CANDIDATE_BODY`); `size` is its length either way.
    pub body: Option<Arc<[u8]>>,
    pub size: Option<usize>,
    pub delegate: Option<InscriptionId>,
    /// goat's signature, read from metadata (not yet checked): the
    /// inscription's own when it has goat's key, else its delegate's.
    pub signature: Option<std::result::Result<signature::Carried, String>>,
}

impl Served {
    pub fn decode(&self, cap: u64) -> Result<Vec<u8>> {
        let body = self.body.as_deref().unwrap_or_default();
        content::decode(body, self.content_encoding.as_deref().map(str::as_bytes), cap)
    }
}

/// One inscription found in the history.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: InscriptionId,
    pub inscription: Inscription,
    pub served: Served,
    pub location: Location,
    /// None: not endorsed (or not checked, see `Options::endorse_all`).
    pub endorsement: Option<Endorsed>,
    /// Some transaction the endorsement rests on is still unconfirmed.
    pub endorsement_pending: bool,
    pub goatfile: GoatfileState,
    /// A signature that is there but does not count, and why.
    pub signature_refused: Option<String>,
}

impl Found {
    /// Confirmed, and so is everything its endorsement rests on.
    pub fn settled(&self) -> bool {
        self.location.is_confirmed() && !self.endorsement_pending
    }
}

/// The goatfile `find_goatfile` chose, and what was proven about it.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub id: InscriptionId,
    pub inscription: Inscription,
    pub served: Served,
    pub location: Location,
    pub endorsement: Option<Endorsed>,
    pub goatfile: Goatfile,
    pub proof: Proof,
}

/// What goat proved for a chosen goatfile (shown by `resolve --json`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Proof {
    /// The reveal's block, proven by merkle proof and header.
    pub goatfile: Option<Proven>,
    /// The transactions the endorsement rests on, each proven the same way.
    pub endorsement: Vec<Proven>,
    /// What the servers said about the address's history (two or more).
    pub history: Agreement,
    /// What was not proven, in words (empty when everything was).
    pub unproven: Vec<String>,
    /// The transactions whose witnesses goat read, and how each was proven.
    pub witnesses: Vec<Witnessed>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Decide endorsement for every inscription, not only goatfiles.
    pub endorse_all: bool,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub transactions: usize,
    pub pages: usize,
    pub candidates: usize,
    pub stopped_early: bool,
    /// The endpoint whose page the walk read first.
    #[serde(skip)]
    pub walker: usize,
    /// Every endpoint that served a page, empty ones included (an empty
    /// page ends the walk: its server's word too).
    #[serde(skip)]
    pub page_servers: std::collections::BTreeSet<usize>,
    /// The transaction the walk stopped at without judging it (at or
    /// below the block the best signed goatfile was signed after), its
    /// height as the page said, and the server whose page said it.
    #[serde(skip)]
    pub stopped_at: Option<(Txid, u32, usize)>,
    /// Every transaction walked, in walk order (newest first).
    #[serde(skip)]
    pub walked: Vec<Walked>,
}

/// One transaction of the history, as the walk met it.
#[derive(Debug, Clone)]
pub struct Walked {
    pub txid: Txid,
    pub location: Location,
    /// Its served witnesses hold an envelope, so the walk looked closer.
    pub selected: bool,
    /// The history page's copy (its witnesses selected it or not), and the
    /// endpoint whose page listed it.
    pub page: Copy,
    /// The raw copies whose witnesses judging it read, exactly as read:
    /// its own, its delegates', the spend that may send it to self.
    pub reads: Vec<Copy>,
}

/// What the walk shows its visitor.
pub enum Step {
    /// The next transaction, before it is judged: breaking here stops the
    /// walk without it (`Summary::stopped_at`).
    Tx(Location),
    /// An inscription of that transaction.
    Found(Box<Found>),
}

/// Walk `holder`'s history newest first (mempool, then confirmed pages),
/// calling `visit` for each transaction and each inscription until it
/// breaks.
pub async fn walk(
    esplora: &Esplora,
    holder: &HolderAddress,
    opts: Options,
    mut visit: impl FnMut(Step) -> ControlFlow<()>,
) -> Result<Summary> {
    let addr = &holder.address;
    let mut summary = Summary::default();
    let mut seen: HashSet<Txid> = HashSet::new();
    let mut spent_by: HashMap<OutPoint, Txid> = HashMap::new();
    let mut unconfirmed: HashSet<Txid> = HashSet::new();
    let mut delegates = Delegates::default();

    let (first, mut server) = esplora.address_txs(addr).await.map_err(|e| history_error(e, holder))?;
    summary.pages += 1;
    summary.walker = server;
    summary.page_servers.insert(server);
    let (mempool, confirmed): (Vec<_>, Vec<_>) = first.into_iter().partition(|t| t.height.is_none());
    let mut page: Vec<Listed> = mempool;
    let mut more = confirmed.len() >= crate::esplora::PAGE_SIZE;
    page.extend(confirmed);
    loop {
        let last = page.iter().rev().find(|t| t.height.is_some()).map(|t| t.txid);
        // Known before any candidate of the page is judged: a reveal comes
        // before the (older) unconfirmed transactions it spends.
        unconfirmed.extend(page.iter().filter(|t| t.height.is_none()).map(|t| t.txid));
        for t in std::mem::take(&mut page) {
            if !seen.insert(t.txid) {
                continue;
            }
            summary.transactions += 1;
            if summary.transactions > MAX_WALKED {
                return Err(Error::invalid(format!(
                    "{}'s history as {} lists it runs past {MAX_WALKED} transactions, more than goat walks: try another --esplora, or give the goatfile with --goatfile ID",
                    holder.address,
                    esplora.endpoint(server)
                )));
            }
            let location = match t.height {
                Some(h) => Location::Confirmed(h),
                None => Location::Mempool,
            };
            if visit(Step::Tx(location)).is_break() {
                summary.stopped_early = true;
                summary.stopped_at = t.height.map(|h| (t.txid, h, server));
                return Ok(summary);
            }
            // The page's witnesses only *select* candidates; content is
            // parsed from verified raw bytes below, and what the choice
            // rests on is proven (`find_goatfile`).
            let selected = t.envelope;
            let page_copy = Copy::listed(&t, server);
            esplora.note_outputs(&t.tx);
            for vin in &t.tx.input {
                spent_by.insert(vin.previous_output, t.txid);
            }
            summary.walked.push(Walked { txid: t.txid, location, selected, page: page_copy, reads: vec![] });
            if !selected {
                continue;
            }
            summary.candidates += 1;
            let known = History { spent_by: &spent_by, unconfirmed: &unconfirmed };
            let (read, flow) =
                inspect(esplora, holder, t.txid, location, known, opts, &mut delegates, &mut visit).await?;
            if let Some(w) = summary.walked.last_mut() {
                // Exactly the bytes judged by: proven later, whatever the
                // cache holds by then.
                w.reads = read;
            }
            if flow.is_break() {
                summary.stopped_early = true;
                return Ok(summary);
            }
        }
        let Some(last) = last else { break };
        if !more {
            break;
        }
        (page, server) = esplora.address_txs_chain(addr, &last).await.map_err(|e| history_error(e, holder))?;
        summary.pages += 1;
        summary.page_servers.insert(server);
        more = page.len() >= crate::esplora::PAGE_SIZE;
        if !page.is_empty() && page.iter().all(|t| seen.contains(&t.txid)) {
            return Err(Error::invalid(
                "the Esplora server returned a history page it had already sent (paging loop): try another --esplora",
            ));
        }
    }
    Ok(summary)
}

fn history_error(e: Error, holder: &HolderAddress) -> Error {
    if e.kind == crate::error::Kind::Usage {
        Error::usage(format!(
            "{} (is the server on {}? pass --esplora for that network)",
            e.message,
            crate::address::network_name(holder.network)
        ))
    } else {
        e
    }
}

/// What the walk has learnt from the history so far.
#[derive(Clone, Copy)]
struct History<'a> {
    /// Who spent an outpoint, per the history.
    spent_by: &'a HashMap<OutPoint, Txid>,
    /// History transactions still in the mempool.
    unconfirmed: &'a HashSet<Txid>,
}

/// All inscriptions of one candidate transaction, in index order, each
/// shown to `visit` as soon as it is judged (only what the visitor keeps
/// stays in memory), until it breaks. Returns the copies whose witnesses
/// the judgement read.
#[allow(clippy::too_many_arguments)]
async fn inspect(
    esplora: &Esplora,
    holder_address: &HolderAddress,
    txid: Txid,
    location: Location,
    known: History<'_>,
    opts: Options,
    delegates: &mut Delegates,
    visit: &mut impl FnMut(Step) -> ControlFlow<()>,
) -> Result<(Vec<Copy>, ControlFlow<()>)> {
    let holder = &holder_address.script_pubkey();
    let (tx, server) = esplora.tx_from(&txid).await?;
    // The copies whose witnesses the judgement reads.
    let mut read = vec![Copy::new(tx.clone(), server)];
    let inscriptions = Inscription::from_transaction(&tx);
    if crate::inscription::envelope::too_many(&tx) {
        tracing::warn!(
            "{txid} holds more envelopes than goat reads ({} envelopes or {} pushes): goat judges the first {} and passes over the rest",
            crate::inscription::envelope::MAX_ENVELOPES,
            crate::inscription::envelope::MAX_PUSHES,
            inscriptions.len()
        );
    }
    // The delegates named, by transaction (only those inscriptions are
    // read), the first `MAX_DELEGATE_TXS` transactions in order.
    let mut named: HashMap<Txid, HashSet<u32>> = HashMap::new();
    for d in inscriptions.iter().filter_map(Inscription::delegate_id) {
        if named.len() < MAX_DELEGATE_TXS || named.contains_key(&d.txid) {
            named.entry(d.txid).or_default().insert(d.index);
        }
    }
    let mut over = 0usize;
    let mut recorded: HashSet<bitcoin::Wtxid> = HashSet::new();
    let mut budget = MAX_DECODED_PER_TX;
    let mut prevs: Option<Vec<Option<Arc<Transaction>>>> = None;
    let mut judged: HashMap<(usize, Option<u64>), Option<Endorsed>> = HashMap::new();
    let mut flow = ControlFlow::Continue(());
    for (n, mut ins) in inscriptions.into_iter().enumerate() {
        let id = InscriptionId { txid, index: n as u32 };
        let before = budget;
        let (served, (goatfile, decoded), content, own) = match ins.delegate_id() {
            Some(d) => {
                let c = match named.get(&d.txid) {
                    Some(want) => delegates.content(esplora, &d, want, &mut read, &mut recorded).await?,
                    None => {
                        over += 1;
                        None
                    }
                };
                match c {
                    Some(c) => {
                        let own = signature_in(&ins).is_none();
                        let class = c.class(&mut budget);
                        delegates.bytes += 4 * (before - budget);
                        (c.serve(&ins, d), class, Some(c), own)
                    }
                    // No such delegate (every server says), or one too
                    // many: no content.
                    None => (
                        Served {
                            content_type: None,
                            content_encoding: None,
                            body: None,
                            size: None,
                            delegate: Some(d),
                            signature: None,
                        },
                        (GoatfileState::No, None),
                        None,
                        false,
                    ),
                }
            }
            None => {
                let its = Content::of(&mut ins, CANDIDATE_BODY);
                let class = its.class(&mut budget);
                (its.served(None, None), class, None, false)
            }
        };
        let mut endorsement = None;
        let mut signature_refused = None;
        // A signed goatfile needs nothing else: where it sits and who paid
        // for it do not matter.
        if let Some(bytes) = &decoded {
            let verdict = match &content {
                Some(c) => c.verdict(&served, holder_address, bytes, own),
                None => signature_of(&served, holder_address, bytes),
            };
            match verdict {
                Some(Ok(s)) => endorsement = Some(Endorsed::signed(s)),
                Some(Err(e)) => signature_refused = Some(e),
                None => {}
            }
        }
        if endorsement.is_none() && (opts.endorse_all || matches!(goatfile, GoatfileState::Valid(_))) {
            if prevs.is_none() {
                let mut v = Vec::new();
                for (i, input) in tx.input.iter().enumerate() {
                    if i >= MAX_REVEAL_INPUTS || input.previous_output.is_null() {
                        v.push(None);
                    } else {
                        // Only its outputs are read: kept without witnesses.
                        v.push(Some(esplora.outputs_of(&input.previous_output.txid).await?));
                    }
                }
                prevs = Some(v);
            }
            // The same input and pointer, the same answer: thousands of
            // envelopes in one input are judged once.
            let key = (ins.input, ins.pointer_value());
            endorsement = match judged.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let reveal = Reveal { tx: &tx, txid, prevs: prevs.as_deref().unwrap_or_default() };
                    let e =
                        trust::endorsement(esplora, holder, &reveal, key.0, key.1, known.spent_by, &mut read).await?;
                    judged.insert(key, e.clone());
                    e
                }
            };
        }
        let endorsement_pending =
            endorsement.as_ref().is_some_and(|e| e.rests_on.iter().any(|t| known.unconfirmed.contains(t)));
        let found = Found {
            id,
            inscription: ins,
            served,
            location,
            endorsement,
            endorsement_pending,
            goatfile,
            signature_refused,
        };
        if visit(Step::Found(Box::new(found))).is_break() {
            flow = ControlFlow::Break(());
            break;
        }
    }
    if over > 0 {
        tracing::warn!(
            "{txid}: {over} inscription(s) name delegates in more than {MAX_DELEGATE_TXS} transactions: goat reads them as having no content"
        );
    }
    delegates.settle();
    Ok((read, flow))
}

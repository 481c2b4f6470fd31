//! Stages 1→3 wired: walk an address's history and report its inscriptions.
//!
//! Cost: the history costs ceil(n/25) requests for n confirmed transactions
//! (plus one for the mempool page, which also carries the newest 25). Only
//! transactions whose witnesses hold an envelope are fetched raw; each such
//! candidate then costs a few more requests (its inputs' previous
//! transactions, the commit's inputs) to decide endorsement. No transaction
//! is fetched twice in a run. `resolve` stops paging as soon as it has its
//! answer.

pub mod words;

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

/// Run `attempt` again while it fails because a server was just caught
/// lying (its answers are dropped with it) and other servers are left.
async fn starting_over<T, Fut: std::future::Future<Output = Result<T>>>(
    esplora: &Esplora,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T> {
    loop {
        let caught = esplora.rejected_count();
        match attempt().await {
            Err(e)
                if e.kind == Kind::InvalidData && esplora.rejected_count() > caught && !esplora.order().is_empty() =>
            {
                tracing::info!("starting over with the servers left ({})", e.message);
            }
            r => return r,
        }
    }
}

/// Fetch an inscription by id, with verified bytes and proven witnesses
/// (its own and its delegate's), and what it serves.
pub async fn lookup(esplora: &Esplora, id: &InscriptionId) -> Result<(Inscription, Served)> {
    starting_over(esplora, || lookup_once(esplora, id)).await
}

/// An envelope read from `tx`, whose witnesses `w` proved, counts: proven
/// from the block, or every envelope in a taproot script-path input (a
/// script check proves one valid spend among others, and an input anyone
/// can spend takes any witness).
async fn bound(esplora: &Esplora, tx: &Transaction, w: &Witnessed) -> Result<()> {
    if matches!(w.proof, WitnessProof::Block { .. }) || esplora.envelopes_bound(tx).await? {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{} holds an envelope in an input that is not a taproot script-path spend, whose witness only its block could vouch for: pass an --esplora server",
        w.txid
    )))
}

async fn lookup_once(esplora: &Esplora, id: &InscriptionId) -> Result<(Inscription, Served)> {
    let (tx, w) = esplora.witnessed(&id.txid, None, Route::Block).await?;
    bound(esplora, &tx, &w).await?;
    let mut ins = nth(&tx, id)?;
    let served = match ins.delegate_id() {
        Some(d) => {
            let dtx = match esplora.witnessed(&d.txid, None, Route::Block).await {
                Ok((t, w)) => bound(esplora, &t, &w).await.map(|_| t),
                Err(e) => Err(e),
            };
            let dtx = dtx.map_err(|e| e.context(format!("delegate {d}")))?;
            let mut del = nth(&dtx, &d).map_err(|_| Error::not_found(format!("delegate {d} does not exist")))?;
            Content::of(&mut del, usize::MAX).serve(&ins, d)
        }
        None => Content::of(&mut ins, usize::MAX).served(None, None),
    };
    Ok((ins, served))
}

/// Inscription `id` of `tx`, whose txid it names.
fn nth(tx: &Transaction, id: &InscriptionId) -> Result<Inscription> {
    let all = Inscription::from_transaction(tx);
    let n = all.len();
    all.into_iter().nth(id.index as usize).ok_or_else(|| {
        let more = if crate::inscription::envelope::too_many(tx) {
            format!(" (goat reads at most {n} envelopes per transaction)")
        } else {
            String::new()
        };
        Error::not_found(format!(
            "transaction {} holds {n} inscription(s){more}, so there is no {id}: check the index after 'i'",
            id.txid
        ))
    })
}

/// What one inscription serves: its own fields, or a delegate's (one
/// level, as ord does). Delegated content is made once and shared by every
/// inscription naming it.
#[derive(Debug)]
pub struct Content {
    content_type: Option<String>,
    content_encoding: Option<String>,
    body: Option<Arc<[u8]>>,
    size: Option<usize>,
    /// Its own signature (metadata), before any delegating inscription's.
    signature: Option<std::result::Result<signature::Carried, String>>,
    /// `classify`'s answer, worked out once.
    class: std::sync::OnceLock<(GoatfileState, Option<Arc<[u8]>>)>,
    /// Its own signature checked against the holder, once.
    verdict: std::sync::OnceLock<Option<std::result::Result<Signed, String>>>,
}

impl Content {
    /// `ins`'s fields, its body taken from it; a body larger than `keep`
    /// is let go (its size kept).
    fn of(ins: &mut Inscription, keep: usize) -> Content {
        let body = ins.body.take();
        let size = body.as_ref().map(Vec::len);
        Content {
            content_type: ins.content_type_str(),
            content_encoding: ins.content_encoding_str(),
            signature: signature_in(ins),
            body: body.filter(|b| b.len() <= keep).map(Arc::from),
            size,
            class: std::sync::OnceLock::new(),
            verdict: std::sync::OnceLock::new(),
        }
    }

    /// Roughly what keeping it costs in memory before it is judged
    /// (`inspect` counts what judging it decodes).
    fn weight(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len()) + 256
    }

    fn served(
        &self,
        delegate: Option<InscriptionId>,
        signature: Option<std::result::Result<signature::Carried, String>>,
    ) -> Served {
        Served {
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            body: self.body.clone(),
            size: self.size,
            delegate,
            signature: signature.or_else(|| self.signature.clone()),
        }
    }

    /// What `ins`, delegating to `d` (this content), serves: its own
    /// signature first, else the delegate's.
    fn serve(&self, ins: &Inscription, d: InscriptionId) -> Served {
        self.served(Some(d), signature_in(ins))
    }

    /// `classify` of what it serves, worked out once however many
    /// inscriptions serve it. Decoding costs `budget` (the bytes one
    /// transaction's contents may decode to): once spent, content not yet
    /// judged is not judged, and says so.
    fn class(&self, budget: &mut usize) -> (GoatfileState, Option<Arc<[u8]>>) {
        if let Some(c) = self.class.get() {
            return c.clone();
        }
        let served = self.served(None, None);
        let worth = served.body.is_some() && looks_like_goatfile(&served);
        if worth && *budget < goatfile::MAX_BYTES {
            let yaml = is_yaml(&served);
            let why = format!(
                "not read: this transaction's inscriptions decode to more than {} MiB of goatfile-like content",
                MAX_DECODED_PER_TX >> 20
            );
            return (if yaml { GoatfileState::Invalid(why.into()) } else { GoatfileState::No }, None);
        }
        let mut cost = 0;
        let c = self.class.get_or_init(|| {
            let (state, decoded, spent) = classify(&served);
            cost = spent;
            (state, decoded)
        });
        *budget = budget.saturating_sub(cost);
        c.clone()
    }

    /// The holder's verdict on a signature this content carries itself
    /// (`own`), worked out once; others are checked each time.
    fn verdict(
        &self,
        served: &Served,
        holder: &HolderAddress,
        goatfile: &[u8],
        own: bool,
    ) -> Option<std::result::Result<Signed, String>> {
        if own {
            return self.verdict.get_or_init(|| signature_of(served, holder, goatfile)).clone();
        }
        signature_of(served, holder, goatfile)
    }
}

fn signature_in(ins: &Inscription) -> Option<std::result::Result<signature::Carried, String>> {
    ins.metadata.as_deref().and_then(signature::read_metadata)
}

/// The holder's signature on the goatfile `served` serves, whose decoded
/// bytes are `goatfile`: None when it carries none, Err(why) when it
/// carries one that does not count.
fn signature_of(
    served: &Served,
    holder: &HolderAddress,
    goatfile: &[u8],
) -> Option<std::result::Result<Signed, String>> {
    Some(match served.signature.as_ref()? {
        Ok(c) => signature::verify(c, holder, goatfile),
        Err(why) => Err(why.clone()),
    })
}

/// Whether `served` could be a goatfile: YAML, or text with no other type
/// (JSON is YAML), and a body.
fn looks_like_goatfile(served: &Served) -> bool {
    let ct = served.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
    let texty = ct.is_empty() || ct.starts_with("text/plain") || ct.contains("json");
    (is_yaml(served) || texty) && served.size.is_some()
}

/// Its content type says YAML: a goatfile that fails is reported, not
/// passed over.
fn is_yaml(served: &Served) -> bool {
    served.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("yaml"))
}

/// Does this content look like a goatfile, and does it parse? With the
/// decoded bytes of one that does (its signature covers them), and the
/// bytes decoded to find out.
fn classify(served: &Served) -> (GoatfileState, Option<Arc<[u8]>>, usize) {
    let yaml = is_yaml(served);
    if !looks_like_goatfile(served) {
        return (GoatfileState::No, None, 0);
    }
    if served.body.is_none() {
        // Let go for its size: it decodes to more than a goatfile may hold.
        let why = format!(
            "its body is {} bytes, too large to decode to a goatfile of at most {} bytes",
            served.size.unwrap_or_default(),
            goatfile::MAX_BYTES
        );
        return (if yaml { GoatfileState::Invalid(why.into()) } else { GoatfileState::No }, None, 0);
    }
    let decoded = served.decode(goatfile::MAX_BYTES as u64);
    let decoded = match decoded {
        Ok(d) => d,
        // stopped at the cap, or part-way: count the cap
        Err(e) if yaml => return (GoatfileState::Invalid(e.message.into()), None, goatfile::MAX_BYTES),
        Err(_) => return (GoatfileState::No, None, goatfile::MAX_BYTES),
    };
    let cost = decoded.len();
    match goatfile::parse(&decoded) {
        Ok(g) => (GoatfileState::Valid(Arc::new(g)), Some(Arc::from(decoded)), cost),
        Err(e) if yaml => (GoatfileState::Invalid(e.0.into()), None, cost),
        Err(_) => (GoatfileState::No, None, cost),
    }
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

/// The content of delegates, kept for the walk: each delegate transaction
/// fetched and parsed once (thousands of envelopes may name one 4 MB
/// inscription, in one transaction or many), and of it only the
/// inscriptions named. Bounded in bytes (`MAX_DELEGATED_KEPT`): past it,
/// what is kept is let go and read again when named again.
#[derive(Default)]
struct Delegates {
    /// By delegate transaction; None: no such transaction, every server
    /// says.
    txs: HashMap<Txid, Option<Loaded>>,
    /// Roughly what `txs` holds.
    bytes: usize,
}

/// One delegate transaction as read: the copy (whose witnesses are proven
/// with the transactions naming it), and its named inscriptions' content
/// (None: it holds no such inscription).
struct Loaded {
    copy: Copy,
    contents: HashMap<u32, Option<Arc<Content>>>,
}

impl Delegates {
    /// What delegate `d` serves; its transaction read when needed, with
    /// the other inscriptions of it this candidate names (`want`). The
    /// copy judged by goes into `read` once per candidate (`recorded`).
    async fn content(
        &mut self,
        esplora: &Esplora,
        d: &InscriptionId,
        want: &HashSet<u32>,
        read: &mut Vec<Copy>,
        recorded: &mut HashSet<bitcoin::Wtxid>,
    ) -> Result<Option<Arc<Content>>> {
        // Read it when not read yet (None), or read before (its copy) but
        // not for this inscription.
        let read_now: Option<Option<Copy>> = match self.txs.get(&d.txid) {
            Some(None) => return Ok(None),
            Some(Some(l)) if l.contents.contains_key(&d.index) => None,
            Some(Some(l)) => Some(Some(l.copy.clone())),
            None => Some(None),
        };
        if let Some(had) = read_now {
            // The bytes read before when they are still served, so the
            // contents kept stay those of one copy.
            let again = match &had {
                Some(c) => esplora.bytes_of(c).await?.map(|t| (t, c.clone())),
                None => None,
            };
            let (tx, copy) = match again {
                Some(got) => got,
                None => match esplora.tx_from(&d.txid).await {
                    Ok((tx, server)) => {
                        let c = Copy::new(tx.clone(), server);
                        (tx, c)
                    }
                    // Only a delegate every server says does not exist
                    // leaves the inscription without content; any other
                    // failure is no answer. (A delegate's bytes that came
                    // but hold no such inscription are in `read`, proven
                    // later like the rest: a swapped witness could do that.)
                    Err(e) if e.kind == Kind::NotFound => {
                        self.bytes += LOADED_COST;
                        self.txs.insert(d.txid, None);
                        return Ok(None);
                    }
                    Err(e) => return Err(e.context(format!("delegate {d}"))),
                },
            };
            let mut contents = match self.txs.remove(&d.txid) {
                Some(Some(l)) if l.copy.wtxid == copy.wtxid => l.contents,
                _ => HashMap::new(),
            };
            for (n, mut ins) in Inscription::from_transaction(&tx).into_iter().enumerate() {
                let n = n as u32;
                if want.contains(&n) && !contents.contains_key(&n) {
                    let c = Content::of(&mut ins, CANDIDATE_BODY);
                    self.bytes += c.weight();
                    contents.insert(n, Some(Arc::new(c)));
                }
            }
            for &n in want {
                contents.entry(n).or_insert(None);
            }
            self.bytes +=
                LOADED_COST + 16 * contents.len() + if copy.is_kept() { super::esplora::witness::KEPT_COPY } else { 0 };
            self.txs.insert(d.txid, Some(Loaded { copy, contents }));
        }
        let Some(Some(l)) = self.txs.get(&d.txid) else { return Ok(None) };
        if recorded.insert(l.copy.wtxid) {
            read.push(l.copy.clone());
        }
        Ok(l.contents.get(&d.index).cloned().flatten())
    }

    /// After a candidate: past the bound, keep nothing.
    fn settle(&mut self) {
        if self.bytes > MAX_DELEGATED_KEPT {
            self.txs.clear();
            self.bytes = 0;
        }
    }
}

/// Prove the witnesses of `walked` (newest first; mempool ones only when
/// mempool goatfiles count, and `chosen` itself), comparing each with the
/// copies the walk judged by: the history page's, and every raw copy it
/// read witnesses from (its own, delegates', the send to self's). One the
/// walk passed over because its served witnesses held no envelope may have
/// been a newer goatfile; one it chose must be what the block holds. The
/// chosen goatfile's reads are proven from blocks; what the walk passed
/// over by the cheapest proof (`Route::Cheapest`). A server caught is
/// dropped and named (InvalidData). Returns the proofs, and what could not
/// be proven, in words.
async fn prove_walked(
    esplora: &Esplora,
    holder: &HolderAddress,
    policy: Policy,
    walked: &[Walked],
    chosen: Option<Txid>,
) -> Result<(Vec<Witnessed>, Vec<String>)> {
    use futures::stream::{StreamExt, TryStreamExt};

    let mut per_block: HashMap<u32, usize> = HashMap::new();
    for w in walked {
        if let Location::Confirmed(h) = w.location {
            *per_block.entry(h).or_default() += 1;
        }
    }
    type Routed<'a> = Vec<(&'a Walked, Route)>;
    let (by_block, by_script): (Routed, Routed) = walked
        .iter()
        .filter(|w| w.location.is_confirmed() || policy.include_mempool || Some(w.txid) == chosen)
        .map(|w| {
            let shared = matches!(w.location, Location::Confirmed(h) if per_block[&h] >= SHARED_BLOCK);
            (w, if Some(w.txid) == chosen || shared { Route::Block } else { Route::Cheapest })
        })
        .partition(|(_, r)| *r == Route::Block);
    let mut proven = Vec::new();
    // A copy met again (a delegate many transactions name) is proven once.
    let memo = std::sync::Mutex::new(HashMap::new());
    let memo = &memo;
    // A large copy is checked alone: each check holds the transaction, its
    // bytes and its previous outputs, up to megabytes.
    let alone = tokio::sync::Semaphore::new(CONCURRENT_CHECKS);
    let ctx = (memo, &alone);
    // Those proven from blocks one by one, so that a block serves all of
    // its transactions; script checks (a few small requests each) several
    // at once, so that a long history does not cost one round trip after
    // another.
    for (w, route) in by_block {
        proven.extend(prove_one(esplora, holder, w, route, ctx).await?);
    }
    // The futures made first: a stream that held the closure making them
    // would not be Send for every lifetime (the daemon spawns this).
    let checks: Vec<_> = by_script.into_iter().map(|(w, route)| prove_one(esplora, holder, w, route, ctx)).collect();
    let checked: Vec<Vec<Witnessed>> = futures::stream::iter(checks).buffered(CONCURRENT_CHECKS).try_collect().await?;
    proven.extend(checked.into_iter().flatten());
    let unproven = proven
        .iter()
        .filter_map(|p| match p.proof {
            WitnessProof::Unchecked { inputs } => {
                Some(format!("the witnesses of {} ({inputs} inputs, too many to check by script)", p.txid))
            }
            _ => None,
        })
        .collect();
    Ok((proven, unproven))
}

/// One walked transaction: every copy the walk judged it by (the page's,
/// and each raw copy read) proven. Two different copies of one transaction
/// can both be valid spends (a re-signed input, an anyone-can-spend
/// input): then only its block tells which was mined.
async fn prove_one(
    esplora: &Esplora,
    holder: &HolderAddress,
    w: &Walked,
    route: Route,
    (memo, alone): (&WitnessMemo, &tokio::sync::Semaphore),
) -> Result<Vec<Witnessed>> {
    // The same bytes served twice (the page's copy and the raw one, most
    // often) are proven once.
    let mut seen = HashSet::new();
    let copies: Vec<(Txid, &Copy)> =
        std::iter::once(&w.page).chain(&w.reads).filter(|c| seen.insert(c.wtxid)).map(|c| (c.txid, c)).collect();
    let mut proven: Vec<Witnessed> = Vec::new();
    for &(txid, c) in &copies {
        let contested = copies.iter().filter(|(t, _)| *t == txid).count() > 1;
        let confirmed = if txid == w.txid { Some(w.location.is_confirmed()) } else { None };
        let route = if contested { Route::Block } else { route };
        let key = (c.wtxid, route == Route::Block, confirmed);
        if let Some(p) = memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if !proven.iter().any(|q| q.txid == p.txid) {
                proven.push(p);
            }
            continue;
        }
        let _turn = alone.acquire_many(if c.is_kept() { 1 } else { CONCURRENT_CHECKS as u32 }).await;
        let p = match esplora.check(c, confirmed, route).await {
            Ok(p) => p,
            // No server proves what the page called confirmed: the page
            // lied (an honest server is not dropped for saying so).
            Err(e) if e.kind == Kind::NotFound && txid == w.txid && w.location.is_confirmed() => {
                return Err(esplora.caught(
                    w.page.server,
                    &format!(
                        "listed {txid} as confirmed in {}'s history, which no server proves ({})",
                        holder.address, e.message
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        if contested && !matches!(p.proof, WitnessProof::Block { .. }) {
            return Err(Error::invalid(format!(
                "servers gave {txid} with different witnesses that are all valid spends; only its block can tell which was mined, and none was had: pass an --esplora server"
            )));
        }
        // What the block route gave is the block's only when it is; a
        // script check's answer there (no block to be had) must not stand
        // in for it later.
        if route != Route::Block || matches!(p.proof, WitnessProof::Block { .. }) {
            if let Ok(mut m) = memo.lock() {
                m.insert(key, p.clone());
            }
        }
        if !proven.iter().any(|q| q.txid == p.txid) {
            proven.push(p);
        }
    }
    Ok(proven)
}

/// `txid`'s block, proven, where a page of server `page` placed it: a
/// transaction the page called confirmed that no server proves is the
/// page's lie (as in `prove_one`), not a "not found".
async fn placed(esplora: &Esplora, holder: &HolderAddress, page: usize, txid: &Txid, at: Location) -> Result<Proven> {
    match esplora.prove(txid, holder.network).await {
        Err(e) if e.kind == Kind::NotFound => Err(esplora.caught(
            page,
            &format!(
                "listed {txid} at height {at} in {}'s history, which no server proves ({})",
                holder.address, e.message
            ),
        )),
        r => r,
    }
}

/// A page put `txid` at `at`, its proof elsewhere. The page's server is
/// caught when the proof is its own or another server named the same
/// block; a proof only one other server gave, unconfirmed, blames nobody
/// (it could be the liar's, against an honest page).
fn misplaced(esplora: &Esplora, holder: &HolderAddress, page: usize, txid: &Txid, at: Location, p: &Proven) -> Error {
    let what = format!(
        "put {txid} at height {at} in {}'s history, but its proof puts it in block {}",
        holder.address, p.height
    );
    if page == usize::MAX || p.server == esplora.endpoint(page) || !p.agreed.is_empty() {
        esplora.caught(page, &what)
    } else {
        Error::invalid(format!(
            "{} {what} (proven by {} alone, no other server confirming): one of them is lying; pass --trust-server URL or another --esplora",
            esplora.endpoint(page),
            p.server
        ))
    }
}

/// What was passed over on the way, to explain a "not found".
#[derive(Default)]
struct Skipped {
    unendorsed: usize,
    weak: usize,
    mempool: usize,
    /// Goatfiles whose transactions look like the holder's, unsigned: the
    /// newest, and how many.
    unsigned: Option<(InscriptionId, Endorsement)>,
    unsigned_count: usize,
    /// Signatures that do not count: how many, and the newest in words.
    refused: usize,
    first_refused: Option<String>,
    /// Goatfiles that do not parse: how many, and the newest, in words
    /// (an airdrop may hold thousands).
    invalid: usize,
    first_invalid: Option<String>,
}

/// The signed goatfile the walk holds as the holder's newest so far.
struct Best {
    found: Found,
    signed: Signed,
    /// Another goatfile signed with the same sequence.
    conflict: Option<InscriptionId>,
}

/// Walk `holder`'s history to the goatfile `policy` accepts, then prove
/// it: its block and the blocks of what its endorsement rests on
/// (`esplora::proof`). With two or more servers, they must first agree on
/// the address's history (`esplora::history`).
///
/// The goatfile signed with the highest sequence wins (`trust::signature`).
/// The walk goes on past the first one it meets, down to the block the
/// best one says it was signed after: a goatfile the holder signed later
/// cannot sit before that block, while an older one re-inscribed by anyone
/// can sit anywhere. With `--accept-unsigned`, the newest unsigned
/// goatfile counts at an address that has no signed one (found by walking
/// the whole history); a signed goatfile always beats an unsigned one.
/// With `--trust-any`, the newest goatfile met counts, whoever sent it.
///
/// Every witness the choice rests on is proven (`esplora::witness`): the
/// reveal's, its delegate's, the send to self's, and those of every
/// transaction walked (a witness blanked there would hide a newer one). A
/// server caught serving other witnesses is dropped and the search starts
/// over with the servers left.
///
/// With two or more servers, the others must list the stretch of history
/// the walk read (`esplora::history`); when they differ, goat walks again
/// once after a pause (a block may have arrived) before refusing.
pub async fn find_goatfile(esplora: &Esplora, holder: &HolderAddress, policy: Policy) -> Result<Chosen> {
    match starting_over(esplora, || find_once(esplora, holder, policy, false)).await? {
        Attempt::Chosen(c) => Ok(*c),
        Attempt::Again(why) => {
            tracing::info!("{why}; walking again in {} s", RECHECK_AFTER.as_secs());
            tokio::time::sleep(RECHECK_AFTER).await;
            match starting_over(esplora, || find_once(esplora, holder, policy, true)).await? {
                Attempt::Chosen(c) => Ok(*c),
                Attempt::Again(why) => Err(Error::internal(format!("a last walk asked for another ({why})"))),
            }
        }
    }
}

/// Pause before walking again when servers list different histories.
const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// What one walk gave.
enum Attempt {
    Chosen(Box<Chosen>),
    /// The servers listed different histories: walk again (why, in words).
    Again(String),
}

/// The stretch of history `summary`'s walk read, for the servers to
/// compare (`esplora::history::Span`).
fn span_of(summary: &Summary) -> Span {
    let mut txs: Vec<(Txid, u32, Option<bool>)> = summary
        .walked
        .iter()
        .filter_map(|w| match w.location {
            Location::Confirmed(h) => Some((w.txid, h, Some(w.selected))),
            Location::Mempool => None,
        })
        .collect();
    let floor = match summary.stopped_at {
        Some((txid, h, _)) => {
            txs.push((txid, h, None));
            h
        }
        // Stopped at a goatfile it took (--trust-any): down to its block;
        // nothing at all when that was unconfirmed.
        None if summary.stopped_early => txs.iter().map(|e| e.1).min().unwrap_or(u32::MAX),
        None => 0,
    };
    Span { txs, floor, walker: summary.walker, page_servers: summary.page_servers.clone() }
}

/// The other servers list what the walk read (`esplora::history`). Checked
/// last, once every provable lie (a misplaced transaction, a swapped
/// witness) has had its chance to catch the server that told it: a
/// difference proves nothing about who is lying. Err(Again): walk again.
async fn history_agreed(
    esplora: &Esplora,
    holder: &HolderAddress,
    summary: &Summary,
    last_try: bool,
) -> Result<std::result::Result<Agreement, Attempt>> {
    match esplora.agree_on_walk(&holder.address, &span_of(summary)).await? {
        Ok(a) => Ok(Ok(a)),
        Err(why) if !last_try => Ok(Err(Attempt::Again(why))),
        Err(why) => Err(Error::invalid(format!(
            "{why}: one may be hiding transactions or be behind; pass --trust-server URL to follow one"
        ))),
    }
}

async fn find_once(esplora: &Esplora, holder: &HolderAddress, policy: Policy, last_try: bool) -> Result<Attempt> {
    let mut best: Option<Best> = None;
    let mut unsigned_pick: Option<Found> = None;
    let mut skipped = Skipped::default();
    let summary = walk(esplora, holder, Options::default(), |step| {
        let f = match step {
            // A goatfile the holder signed after the best one (with a
            // higher sequence) sits in a block after the one the best was
            // signed after: nothing at or below that block can beat it.
            Step::Tx(Location::Confirmed(h)) => {
                return match &best {
                    Some(b) if h <= b.signed.after => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                };
            }
            Step::Tx(Location::Mempool) => return ControlFlow::Continue(()),
            Step::Found(f) => *f,
        };
        match &f.goatfile {
            GoatfileState::Valid(_) => {}
            GoatfileState::Invalid(e) => {
                skipped.invalid += 1;
                skipped.first_invalid.get_or_insert_with(|| format!("{}: {e}", f.id));
                return ControlFlow::Continue(());
            }
            GoatfileState::No => return ControlFlow::Continue(()),
        }
        let kind = f.endorsement.as_ref().map(|e| e.kind);
        let accepted = policy.accepts(kind, f.settled());
        if let Some(s) = f.endorsement.as_ref().and_then(|e| e.signed.clone()) {
            // Its height is the page's word here: whether it really sits
            // after the block its signature names is checked once it is
            // chosen, against its proven block.
            if !accepted {
                skipped.mempool += 1;
            } else {
                match &mut best {
                    Some(b) if s.sequence < b.signed.sequence => {}
                    Some(b) if s.sequence == b.signed.sequence => {
                        if s.sha256 != b.signed.sha256 {
                            b.conflict.get_or_insert(f.id);
                        } else {
                            // The same goatfile again (a copy): the oldest
                            // is the one counted (the walk goes newest
                            // first), so a copy anyone inscribes later
                            // changes nothing, not even which transaction
                            // its `metadata: i<n>` is looked for in.
                            b.found = f;
                            b.signed = s;
                        }
                    }
                    _ => best = Some(Best { found: f, signed: s, conflict: None }),
                }
            }
            return ControlFlow::Continue(());
        }
        if let Some(e) = &f.signature_refused {
            skipped.refused += 1;
            skipped.first_refused.get_or_insert_with(|| format!("{}: {}", f.id, crate::text::line(e)));
        }
        if policy.trust_any && best.is_none() && accepted {
            // --trust-any: the newest goatfile at the address, whoever
            // sent it.
            unsigned_pick = Some(f);
            return ControlFlow::Break(());
        }
        if accepted {
            // The newest unsigned one is kept in case the address has no
            // signed goatfile at all; any signed one beats it, so the walk
            // goes on (to the end, unless a signed one sets a floor).
            unsigned_pick.get_or_insert(f);
            return ControlFlow::Continue(());
        }
        match kind {
            _ if policy.accepts(kind, true) => skipped.mempool += 1,
            Some(k @ (Endorsement::RevealInput | Endorsement::SpentOutput)) => {
                skipped.unsigned.get_or_insert((f.id, k));
                skipped.unsigned_count += 1;
            }
            Some(_) => skipped.weak += 1,
            None => skipped.unendorsed += 1,
        }
        ControlFlow::Continue(())
    })
    .await?;
    let f = match (best, unsigned_pick) {
        (Some(b), _) => {
            if let Some(other) = b.conflict {
                return Err(Error::invalid(format!(
                    "{}'s holder signed two different goatfiles with sequence {} ({} and {other}), so neither is its newest: the holder must publish again with a higher sequence",
                    holder.address, b.signed.sequence, b.found.id
                )));
            }
            // The walk stopped at a block below the best's `after`: that
            // block is proven, or a page could end the walk early by
            // placing a transaction too low.
            if let Some((txid, h, server)) = summary.stopped_at {
                let p = placed(esplora, holder, server, &txid, Location::Confirmed(h)).await?;
                if p.height != h {
                    return Err(misplaced(esplora, holder, server, &txid, Location::Confirmed(h), &p));
                }
            }
            b.found
        }
        (None, Some(f)) => f,
        (None, None) => {
            let mut why =
                format!("no goatfile signed by {} in its {} transactions", holder.address, summary.transactions);
            if let Some((id, kind)) = skipped.unsigned {
                // Named, not vouched for: a co-signer or an airdropper can
                // meet the unsigned rules too.
                why += &format!(
                    "; {} goatfile(s) are unsigned, the newest {id} ({}, which others than the holder can arrange): if it is the holder's, read it with `goat cat {id}` and sign it with `goat publish --sign-existing {id}`; --accept-unsigned accepts unsigned ones (see docs/trust.md for what that lets in)",
                    skipped.unsigned_count,
                    kind.name()
                );
            }
            if let Some(first) = &skipped.first_refused {
                why += &format!("; {} signature(s) do not count (newest: {first})", skipped.refused);
            }
            if skipped.unendorsed > 0 {
                why += &format!(
                    "; {} goatfile(s) were sent to it by others (pass --trust-any to accept them)",
                    skipped.unendorsed
                );
            }
            if skipped.weak > 0 {
                why += &format!(
                    "; {} goatfile(s) are only weakly endorsed (funded-commit, which a payee can fake: see docs/trust.md; --accept-funded-commit accepts them)",
                    skipped.weak
                );
            }
            if skipped.mempool > 0 {
                why += &format!("; {} are unconfirmed (pass --include-mempool)", skipped.mempool);
            }
            if let Some(first) = &skipped.first_invalid {
                why += &format!(
                    "; {} inscription(s) look like goatfiles but do not parse (newest: {first})",
                    skipped.invalid
                );
            }
            // "None" is a claim too: a witness blanked anywhere in the history
            // could have hidden the only goatfile.
            prove_walked(esplora, holder, policy, &summary.walked, None).await?;
            if let Err(again) = history_agreed(esplora, holder, &summary, last_try).await? {
                return Ok(again);
            }
            return Err(Error::not_found(why));
        }
    };
    let GoatfileState::Valid(goatfile) = f.goatfile else {
        return Err(Error::internal("the walk chose an inscription that is not a goatfile"));
    };
    let mut proof = Proof::default();
    let mut location = f.location;
    if f.location.is_confirmed() {
        let page_server = summary.walked.iter().find(|w| w.txid == f.id.txid).map_or(usize::MAX, |w| w.page.server);
        let p = placed(esplora, holder, page_server, &f.id.txid, f.location).await?;
        if holder.network == bitcoin::Network::Bitcoin && p.height < TAPROOT_MAINNET_HEIGHT {
            return Err(Error::invalid(format!(
                "{} puts {} at height {}, before taproot existed: try another --esplora",
                p.server, f.id.txid, p.height
            )));
        }
        // The page's height decided nothing yet, but a page that misplaces
        // the goatfile it chose misplaces others: its server is caught.
        if Location::Confirmed(p.height) != f.location {
            return Err(misplaced(esplora, holder, page_server, &f.id.txid, f.location, &p));
        }
        // Only the holder signs `after`, and every copy of a goatfile is
        // inscribed after it was signed: a proven block at or below it
        // means the holder signed a height the chain had not reached (a
        // lying server at publish time). Refused outright: an older
        // goatfile must not win in its place.
        if let Some(s) = f.endorsement.as_ref().and_then(|e| e.signed.as_ref()) {
            if p.height <= s.after {
                return Err(Error::invalid(format!(
                    "{}'s newest signed goatfile {} (sequence {}) is in block {} (proven by {}{}), not after block {} as its signature says: its holder must publish again",
                    holder.address,
                    f.id,
                    s.sequence,
                    p.height,
                    p.server,
                    if p.agreed.is_empty() { ", no other server confirming" } else { "" },
                    s.after
                )));
            }
        }
        location = Location::Confirmed(p.height);
        proof.goatfile = Some(p);
    } else {
        proof.unproven.push(format!("{} is unconfirmed (--include-mempool)", f.id));
    }
    if let Some(e) = &f.endorsement {
        for t in &e.rests_on {
            if f.endorsement_pending {
                proof
                    .unproven
                    .push(format!("{t}, on which the endorsement rests, may be unconfirmed (--include-mempool)"));
                continue;
            }
            proof.endorsement.push(esplora.prove(t, holder.network).await?);
        }
    }
    // The witnesses read, proven: those of every transaction walked (down
    // to where the walk stopped) and of what judging each read.
    let (witnesses, unproven) = prove_walked(esplora, holder, policy, &summary.walked, Some(f.id.txid)).await?;
    // Proven by script check only (Electrum, the mempool), an envelope
    // counts only in a taproot script-path input (`envelopes_bound`): the
    // reveal's, and its delegate's.
    // The bytes checked are those judged (pinned by wtxid), not whatever
    // a server serves by now.
    let sources = [Some(f.id.txid), f.served.delegate.map(|d| d.txid)];
    let judged: Vec<&Copy> = summary
        .walked
        .iter()
        .filter(|w| w.txid == f.id.txid)
        .flat_map(|w| std::iter::once(&w.page).chain(&w.reads))
        .collect();
    for w in witnesses.iter().filter(|w| sources.contains(&Some(w.txid))) {
        if matches!(w.proof, WitnessProof::Block { .. }) {
            continue;
        }
        for c in judged.iter().filter(|c| c.txid == w.txid) {
            let tx = esplora.bytes_of(c).await?.ok_or_else(|| crate::esplora::witness::regone(&c.txid))?;
            bound(esplora, &tx, w).await?;
        }
    }
    proof.witnesses = witnesses;
    proof.unproven.extend(unproven);
    proof.history = match history_agreed(esplora, holder, &summary, last_try).await? {
        Ok(a) => a,
        Err(again) => return Ok(again),
    };
    Ok(Attempt::Chosen(Box::new(Chosen {
        id: f.id,
        inscription: f.inscription,
        served: f.served,
        location,
        endorsement: f.endorsement,
        goatfile: Arc::unwrap_or_clone(goatfile),
        proof,
    })))
}

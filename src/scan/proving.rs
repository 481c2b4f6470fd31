//! The proofs behind a walk's findings: each transaction judged proven
//! in its block, its witnesses proven, and where it sits in the history.

use super::*;

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
pub(super) async fn prove_walked(
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
pub(super) async fn prove_one(
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
pub(super) async fn placed(
    esplora: &Esplora,
    holder: &HolderAddress,
    page: usize,
    txid: &Txid,
    at: Location,
) -> Result<Proven> {
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
pub(super) fn misplaced(
    esplora: &Esplora,
    holder: &HolderAddress,
    page: usize,
    txid: &Txid,
    at: Location,
    p: &Proven,
) -> Error {
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

//! One inscription by its id, proven: `goat cat`, `goat get`, metadata
//! inscribed on chain.

use super::*;

/// Run `attempt` again while it fails because a server was just caught
/// lying (its answers are dropped with it) and other servers are left.
pub(super) async fn starting_over<T, Fut: std::future::Future<Output = Result<T>>>(
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
pub(super) async fn bound(esplora: &Esplora, tx: &Transaction, w: &Witnessed) -> Result<()> {
    if matches!(w.proof, WitnessProof::Block { .. }) || esplora.envelopes_bound(tx).await? {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{} holds an envelope in an input that is not a taproot script-path spend, whose witness only its block could vouch for: pass an --esplora server",
        w.txid
    )))
}

pub(super) async fn lookup_once(esplora: &Esplora, id: &InscriptionId) -> Result<(Inscription, Served)> {
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
pub(super) fn nth(tx: &Transaction, id: &InscriptionId) -> Result<Inscription> {
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

//! `find_goatfile`: the holder's goatfile (the signed one with the
//! highest sequence), its proofs, and the history compared across
//! servers.

use super::*;

/// What was passed over on the way, to explain a "not found".
#[derive(Default)]
pub(super) struct Skipped {
    pub(super) unendorsed: usize,
    pub(super) weak: usize,
    pub(super) mempool: usize,
    /// Goatfiles whose transactions look like the holder's, unsigned: the
    /// newest, and how many.
    pub(super) unsigned: Option<(InscriptionId, Endorsement)>,
    pub(super) unsigned_count: usize,
    /// Signatures that do not count: how many, and the newest in words.
    pub(super) refused: usize,
    pub(super) first_refused: Option<String>,
    /// Goatfiles that do not parse: how many, and the newest, in words
    /// (an airdrop may hold thousands).
    pub(super) invalid: usize,
    pub(super) first_invalid: Option<String>,
}

/// The signed goatfile the walk holds as the holder's newest so far.
pub(super) struct Best {
    pub(super) found: Found,
    pub(super) signed: Signed,
    /// Another goatfile signed with the same sequence.
    pub(super) conflict: Option<InscriptionId>,
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
pub(super) const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// What one walk gave.
pub(super) enum Attempt {
    Chosen(Box<Chosen>),
    /// The servers listed different histories: walk again (why, in words).
    Again(String),
}

/// The stretch of history `summary`'s walk read, for the servers to
/// compare (`esplora::history::Span`).
pub(super) fn span_of(summary: &Summary) -> Span {
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
pub(super) async fn history_agreed(
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

pub(super) async fn find_once(
    esplora: &Esplora,
    holder: &HolderAddress,
    policy: Policy,
    last_try: bool,
) -> Result<Attempt> {
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

//! Hidden history: do the servers list what the walk read?
//!
//! A server can hide the newest goatfile so an older one wins: by leaving
//! a transaction out of its pages, by swapping which transactions it shows
//! while keeping their number, by listing a confirmed one as unconfirmed,
//! or by blanking the witnesses that would have made it a candidate. One
//! server alone cannot be caught at that; two independent ones can. So
//! after the walk, every other server is asked for the same stretch of the
//! address's confirmed history, newest first, down to where the walk
//! stopped (`Span`): the same transactions at the same heights, and the
//! same ones carrying envelopes. That costs each other server the pages
//! that stretch takes (one for an address whose goatfile is among its 25
//! newest transactions), not a walk of everything.
//!
//! Within one block, servers may order transactions differently, so the
//! comparison is per block: above the block where the walk stopped, the
//! sets must be equal; in that block, what the walk saw must be there (the
//! rest of it cannot hold a newer goatfile: `scan::find_goatfile`).
//! Unconfirmed transactions are not compared (mempools differ), so a
//! transaction one server calls confirmed and another unconfirmed is a
//! difference. A block found between two requests can make honest servers
//! differ for a moment: the caller walks again once before refusing.

use super::source::Page;
use super::witness::{Copy, Route};
use super::{Esplora, Outcome};
use crate::error::{Error, Result};
use bitcoin::{Address, Txid};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The stretch of an address's confirmed history a walk judged by.
#[derive(Debug, Clone, Default)]
pub struct Span {
    /// Each confirmed transaction walked: txid, height, and whether its
    /// served witnesses held an envelope (None: not looked at, the
    /// transaction the walk stopped at).
    pub txs: Vec<(Txid, u32, Option<bool>)>,
    /// Heights above this are compared exactly; at it, the walk's
    /// transactions must be listed. 0 when the walk read everything.
    pub floor: u32,
    /// The endpoint whose pages the walk read first.
    pub walker: usize,
    /// Every endpoint that served a page the walk read (more than the
    /// walker after a failover mid-walk): each needs another server to
    /// list what it served.
    pub page_servers: BTreeSet<usize>,
}

/// What one server listed for the span.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct View {
    /// The server's base URL.
    pub server: String,
    /// Confirmed transactions it listed down to the span's floor.
    pub listed: usize,
    /// History pages it took (0 for the walk's own server).
    pub pages: usize,
}

/// The outcome of comparing every server.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Agreement {
    /// The walk's server first, then every other that answered (all the
    /// same when Ok).
    pub views: Vec<View>,
    /// Servers that gave no answer (reported).
    pub unanswered: Vec<String>,
    /// Every other server was caught lying: the history is the walk
    /// server's word alone.
    pub alone: bool,
}

/// One listed transaction: txid, height, envelope.
type Entry = (Txid, u32, bool);

/// Pages one server may take for a span: far beyond any real address's
/// history between two goatfiles, and a bound on a server that pages
/// forever.
const MAX_PAGES: usize = 4_000;
/// Transactions a server may list beyond the walk's (in the block where
/// the walk stopped, or below it on the last page): a bound on a server
/// that invents them.
const MAX_EXTRA: usize = 10_000;

impl Esplora {
    /// What endpoint `idx` lists for `addr` down to `floor`. Err: why there
    /// is no answer; an answer that cannot be right marks the server as
    /// lying.
    /// Also returns its copies of the walked transactions (`ours`) whose
    /// served witnesses differ from the walk's on holding an envelope.
    async fn listed(
        &self,
        idx: usize,
        addr: &Address,
        floor: u32,
        ours: &HashMap<Txid, Option<bool>>,
    ) -> std::result::Result<(Vec<Entry>, usize, Vec<Copy>), String> {
        let what = format!("the history of {addr}");
        let mut out: Vec<Entry> = Vec::new();
        let mut odd: Vec<Copy> = Vec::new();
        let mut seen: HashSet<Txid> = HashSet::new();
        let mut page = Page::NewestConfirmed;
        for pages in 1..=MAX_PAGES {
            let got = match self.ask_at(idx, &what, &|s| s.history(addr, page), &Ok).await {
                Outcome::Ok(v) => v,
                Outcome::Invalid(why) => {
                    self.reject(idx, &why);
                    return Err(why);
                }
                Outcome::NotFound(m) | Outcome::Unreachable(m) | Outcome::Refused(_, m) => return Err(m),
            };
            let full = got.len() >= super::PAGE_SIZE;
            let mut fresh = false;
            let mut lowest = u32::MAX;
            for t in got.into_iter() {
                let Some(h) = t.height else { continue };
                lowest = lowest.min(h);
                if seen.insert(t.txid) {
                    fresh = true;
                    let envelope = t.envelope;
                    if ours.get(&t.txid).is_some_and(|e| e.is_some_and(|e| e != envelope)) {
                        odd.push(Copy::listed(&t, idx));
                    }
                    out.push((t.txid, h, envelope));
                    // One the walk did not see above its floor already
                    // differs: no need to read further.
                    if h > floor && !ours.contains_key(&t.txid) {
                        return Ok((out, pages, odd));
                    }
                    if out.len() > ours.len() + MAX_EXTRA {
                        return Err(format!("lists more than {MAX_EXTRA} transactions beyond the walk's"));
                    }
                }
            }
            let Some(last) = out.last().map(|e| e.0) else { return Ok((out, pages, odd)) };
            if !full || lowest < floor || lowest == u32::MAX {
                return Ok((out, pages, odd));
            }
            if !fresh {
                let why = "returned a history page it had already sent (paging loop)".to_string();
                self.reject(idx, &why);
                return Err(why);
            }
            page = Page::ConfirmedAfter(last);
        }
        Err(format!("lists more than {MAX_PAGES} pages of history"))
    }

    /// Compare what every other server lists for `addr` with the stretch
    /// the walk read (with two or more servers; with one there is nothing
    /// to compare). Ok(Err(words)): they differ. Err: too few answered
    /// (Network), unless every other server was caught lying (then the
    /// span is the walk server's word, `alone`) or `--trust-server` names
    /// the walk's server.
    pub async fn agree_on_walk(&self, addr: &Address, span: &Span) -> Result<std::result::Result<Agreement, String>> {
        let mut a = Agreement::default();
        if self.endpoint_count() < 2 {
            return Ok(Ok(a));
        }
        let walker = self.endpoint(span.walker).to_string();
        a.views.push(View { server: walker.clone(), listed: span.txs.len(), pages: 0 });
        // After a failover mid-walk, every server is compared, the walk's
        // own first one included: a page one served is checked by another.
        let mixed = span.page_servers.len() > 1;
        let mut causes = Vec::new();
        let mut differences = Vec::new();
        let mut confirmers = Vec::new();
        let ours: HashMap<Txid, Option<bool>> = span.txs.iter().map(|(t, _, e)| (*t, *e)).collect();
        for idx in self.order() {
            if idx == span.walker && !mixed {
                continue;
            }
            let server = self.endpoint(idx).to_string();
            match self.listed(idx, addr, span.floor, &ours).await {
                Ok((list, pages, odd)) => {
                    // Witnesses are provable: a copy whose envelope differs
                    // from the walk's (already proven) is checked against
                    // its block, and a server caught is not compared.
                    for copy in &odd {
                        let _ = self.check(copy, Some(true), Route::Block).await;
                        // One lie is enough: the rest of its copies would
                        // each cost a block.
                        if self.is_rejected(idx) {
                            break;
                        }
                    }
                    if self.is_rejected(idx) {
                        continue;
                    }
                    match difference(span, &list) {
                        Some(d) => differences.push(format!("{server} {d}")),
                        None => confirmers.push(idx),
                    }
                    let listed = list.iter().filter(|e| e.1 >= span.floor).count();
                    a.views.push(View { server, listed, pages });
                }
                Err(why) => {
                    tracing::warn!("{server}: no answer about {addr}'s history ({why})");
                    causes.push(format!("{server}: {why}"));
                    a.unanswered.push(server);
                }
            }
        }
        if !differences.is_empty() {
            let msg = format!(
                "servers disagree about {addr}'s history: {walker} listed {} confirmed transaction(s) down to the walk's end, while {}",
                span.txs.len(),
                differences.join("; ")
            );
            if self.trusted() != Some(span.walker) {
                return Ok(Err(msg));
            }
            tracing::warn!("{msg}; following --trust-server {walker}");
        }
        // Every server that served a page needs another that lists the
        // same: silence is not agreement.
        for &p in &span.page_servers {
            if confirmers.iter().any(|q| *q != p) || self.trusted() == Some(p) && differences.is_empty() {
                continue;
            }
            let served = self.endpoint(p).to_string();
            let others = self.order().into_iter().filter(|i| *i != p).count();
            if others == 0 {
                tracing::warn!("{addr}'s history rests on {served} alone: every other server was caught lying");
                a.alone = true;
            } else if self.trusted() == Some(p) {
                tracing::warn!(
                    "no other server listed {addr}'s history ({}); following --trust-server {served}",
                    causes.join("; ")
                );
            } else {
                return Err(Error::network(format!(
                    "only {served} listed {addr}'s history, so nothing shows it hides no transaction ({}): run again later, add an --esplora server, or pass --trust-server {served} to rely on it alone",
                    causes.join("; ")
                )));
            }
        }
        Ok(Ok(a))
    }
}

/// How `other` (newest first) differs from what the walk read, in words;
/// None when it lists the same.
fn difference(span: &Span, other: &[Entry]) -> Option<String> {
    let short = |t: &Txid| format!("{}…", &t.to_string()[..12]);
    let mut theirs: BTreeMap<Txid, (u32, bool)> = BTreeMap::new();
    for (t, h, e) in other.iter().filter(|e| e.1 >= span.floor) {
        theirs.insert(*t, (*h, *e));
    }
    let mut ours: BTreeMap<Txid, (u32, Option<bool>)> = BTreeMap::new();
    for (t, h, e) in &span.txs {
        ours.insert(*t, (*h, *e));
    }
    for (t, (h, e)) in &ours {
        match theirs.get(t) {
            None => return Some(format!("does not list {} (height {h})", short(t))),
            Some((h2, _)) if h2 != h => return Some(format!("puts {} at height {h2}, not {h}", short(t))),
            Some((_, e2)) if e.is_some_and(|e| e != *e2) => {
                return Some(format!("serves {} {} an envelope", short(t), if *e2 { "with" } else { "without" }))
            }
            _ => {}
        }
    }
    theirs
        .iter()
        .find(|(t, (h, _))| *h > span.floor && !ours.contains_key(*t))
        .map(|(t, (h, _))| format!("lists {} at height {h}, which the walk did not see", short(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn t(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }

    #[test]
    fn spans_are_compared_per_block_down_to_the_floor() {
        let span = Span {
            txs: vec![(t(1), 10, Some(true)), (t(2), 9, Some(false)), (t(3), 8, None)],
            floor: 8,
            walker: 0,
            page_servers: [0].into(),
        };
        // same transactions, same block, other order; more in the floor
        // block and below it: the same
        let same = [(t(2), 9, false), (t(1), 10, true), (t(3), 8, false), (t(4), 8, true), (t(5), 7, true)];
        assert_eq!(difference(&span, &same), None);
        // one swapped for another at the same count: caught
        let swapped = [(t(1), 10, true), (t(6), 9, true), (t(3), 8, false)];
        assert!(difference(&span, &swapped).unwrap().contains("does not list"));
        // one more above the floor (the hidden newest): caught
        let more = [(t(7), 11, true), (t(1), 10, true), (t(2), 9, false), (t(3), 8, false)];
        assert!(difference(&span, &more).unwrap().contains("which the walk did not see"));
        // moved to another block, or its envelope blanked: caught
        let moved = [(t(1), 11, true), (t(2), 9, false), (t(3), 8, false)];
        assert!(difference(&span, &moved).unwrap().contains("at height 11"));
        let blanked = [(t(1), 10, false), (t(2), 9, false), (t(3), 8, false)];
        assert!(difference(&span, &blanked).unwrap().contains("without an envelope"));
        // the transaction the walk stopped at, missing: caught
        let cut = [(t(1), 10, true), (t(2), 9, false)];
        assert!(difference(&span, &cut).is_some());
        // a whole-history walk (floor 0) compares everything
        let all = Span { txs: vec![(t(1), 10, Some(true))], floor: 0, walker: 0, page_servers: [0].into() };
        assert!(difference(&all, &[(t(1), 10, true), (t(2), 1, false)]).is_some());
        assert_eq!(difference(&all, &[(t(1), 10, true)]), None);
    }
}

//! Delegated content, read once per delegate for the whole walk and
//! kept within a memory bound.

use super::*;

/// The content of delegates, kept for the walk: each delegate transaction
/// fetched and parsed once (thousands of envelopes may name one 4 MB
/// inscription, in one transaction or many), and of it only the
/// inscriptions named. Bounded in bytes (`MAX_DELEGATED_KEPT`): past it,
/// what is kept is let go and read again when named again.
#[derive(Default)]
pub(super) struct Delegates {
    /// By delegate transaction; None: no such transaction, every server
    /// says.
    pub(super) txs: HashMap<Txid, Option<Loaded>>,
    /// Roughly what `txs` holds.
    pub(super) bytes: usize,
}

/// One delegate transaction as read: the copy (whose witnesses are proven
/// with the transactions naming it), and its named inscriptions' content
/// (None: it holds no such inscription).
pub(super) struct Loaded {
    pub(super) copy: Copy,
    pub(super) contents: HashMap<u32, Option<Arc<Content>>>,
}

impl Delegates {
    /// What delegate `d` serves; its transaction read when needed, with
    /// the other inscriptions of it this candidate names (`want`). The
    /// copy judged by goes into `read` once per candidate (`recorded`).
    pub(super) async fn content(
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
                LOADED_COST + 16 * contents.len() + if copy.is_kept() { crate::esplora::witness::KEPT_COPY } else { 0 };
            self.txs.insert(d.txid, Some(Loaded { copy, contents }));
        }
        let Some(Some(l)) = self.txs.get(&d.txid) else { return Ok(None) };
        if recorded.insert(l.copy.wtxid) {
            read.push(l.copy.clone());
        }
        Ok(l.contents.get(&d.index).cloned().flatten())
    }

    /// After a candidate: past the bound, keep nothing.
    pub(super) fn settle(&mut self) {
        if self.bytes > MAX_DELEGATED_KEPT {
            self.txs.clear();
            self.bytes = 0;
        }
    }
}

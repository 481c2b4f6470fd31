//! A magnet entry's torrent metadata without a peer: from the chain (an
//! inscription the entry names, or one beside the goatfile in its own
//! transaction) or from a URL (the entry's `metadata:`, the magnet's
//! `xs=`), tried in that order; the first that proves to be the magnet's
//! torrent (`torrent::known::check`) is used. A source that fails or lies
//! is named in one warning and passed over; peers remain.

use crate::esplora::Esplora;
use crate::goatfile::{Entry, MetaSource, Source};
use crate::inscription::InscriptionId;
use crate::scan;
use crate::torrent::known::{self, Candidate, Checked};
use crate::torrent::webseed::WebSeeds;

/// Where an entry's metadata may be read, in the order tried: the entry's
/// inscriptions, then its URLs (each in the order written; a slow server
/// cannot use up the time before the chain is asked), then the magnet's
/// `xs=` URLs.
pub fn sources(e: &Entry) -> Vec<MetaSource> {
    let (mut out, urls): (Vec<MetaSource>, Vec<MetaSource>) =
        e.metadata.iter().cloned().partition(|s| !matches!(s, MetaSource::Url(_)));
    out.extend(urls);
    if let Source::Magnet(m) = &e.source {
        for u in &m.sources {
            let s = MetaSource::Url(u.clone());
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Some entry reads its metadata from the chain (so an Esplora client is
/// needed even when no entry is an inscription). `i<n>` counts only for a
/// goatfile read from the chain (`from_chain`): a local file has no
/// transaction to look in.
pub fn needs_chain(entries: &[&Entry], from_chain: bool) -> bool {
    entries.iter().any(|e| {
        e.metadata.iter().any(|s| match s {
            MetaSource::Inscription(_) => true,
            MetaSource::Beside(_) => from_chain,
            MetaSource::Url(_) => false,
        })
    })
}

/// The first source of `e`'s metadata that proves to be its torrent,
/// looked for at most `within` (the metadata timeout: then peers are
/// asked). `goatfile`: the goatfile's own inscription, which `i<n>`
/// sources are relative to; `esplora`: None when the chain cannot be asked.
pub async fn find(
    esplora: Option<&Esplora>,
    web: &WebSeeds,
    e: &Entry,
    goatfile: Option<&InscriptionId>,
    within: std::time::Duration,
) -> Option<Checked> {
    let found = tokio::time::timeout(within, first(esplora, web, e, goatfile)).await;
    if found.is_err() {
        tracing::warn!(
            "{}: no metadata source answered within {}s: asking peers",
            crate::text::line(&e.name),
            within.as_secs()
        );
    }
    found.ok().flatten()
}

async fn first(
    esplora: Option<&Esplora>,
    web: &WebSeeds,
    e: &Entry,
    goatfile: Option<&InscriptionId>,
) -> Option<Checked> {
    let Source::Magnet(magnet) = &e.source else { return None };
    for s in sources(e) {
        match read(esplora, web, &s, goatfile).await {
            Ok(c) => match known::check(magnet, &c) {
                Ok(checked) => {
                    tracing::debug!(target: "goat", "{}: torrent metadata from {}", crate::text::line(&e.name), crate::text::line(&c.source));
                    return Some(checked);
                }
                Err(err) => tracing::warn!("{}: {}", crate::text::line(&e.name), err.message),
            },
            Err(why) => tracing::warn!(
                "{}: torrent metadata from {}: {why}: not used",
                crate::text::line(&e.name),
                crate::text::line(&s.to_string())
            ),
        }
    }
    None
}

async fn read(
    esplora: Option<&Esplora>,
    web: &WebSeeds,
    s: &MetaSource,
    goatfile: Option<&InscriptionId>,
) -> Result<Candidate, String> {
    // An inscription the goatfile names by id is the holder's choice, and
    // so is its `.torrent`'s url-list. One beside the goatfile is only as
    // good as which copy of the goatfile was found (the oldest; one anyone
    // slipped in first would be theirs): its url-list is not used, and the
    // magnet's `ws=` still is.
    let (id, vouched) = match s {
        MetaSource::Url(u) => {
            let bytes = web.get_metadata(u).await.map_err(|e| e.message)?;
            // Whoever answers for the URL (its server, anyone on an
            // http:// path) chose its url-list: only the info dictionary,
            // which the info-hash checks, is taken from it.
            return Ok(Candidate { source: u.clone(), bytes, vouched: false });
        }
        MetaSource::Inscription(id) => (*id, true),
        MetaSource::Beside(n) => match goatfile {
            Some(g) => (InscriptionId { txid: g.txid, index: *n }, false),
            None => return Err("the goatfile was not read from the chain, so it has no transaction to look in".into()),
        },
    };
    let Some(esplora) = esplora else { return Err("no Esplora or Electrum server to read it from".into()) };
    // Proven like any inscription goat reads (its witness is the block's),
    // so the `.torrent`'s url-list is what the inscription holds.
    let (_, served) = scan::lookup(esplora, &id).await.map_err(|e| e.message)?;
    let bytes = served.decode(known::MAX_BYTES as u64).map_err(|e| e.message)?;
    Ok(Candidate { source: format!("inscription {id}"), bytes: bytes.into(), vouched })
}

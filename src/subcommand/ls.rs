//! `goat ls <address>`: every inscription in the history, newest first.

use super::Globals;
use crate::error::Result;
use crate::scan::{self, GoatfileState};
use clap::Args;
use serde_json::json;
use std::ops::ControlFlow;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct Ls {
    /// The holder's Bitcoin address.
    pub address: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl Ls {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let holder = g.holder(&self.address)?;
        let esplora = g.esplora(holder.network)?;
        let mut found = Vec::new();
        let summary = scan::walk(&esplora, &holder, scan::Options { endorse_all: true }, |step| {
            if let scan::Step::Found(f) = step {
                found.push(Row::from(*f));
            }
            ControlFlow::Continue(())
        })
        .await?;
        g.report_stats(&esplora);
        if self.json {
            // Prove the goatfiles that would count (signed and confirmed);
            // a failed proof is reported, not fatal, in a listing.
            let mut proofs = Vec::new();
            for f in &found {
                // What resolve, fetch and seed count without options.
                let counts = f.goatfile == "valid"
                    && crate::trust::Policy::default().accepts(f.endorsement.as_ref().map(|e| e.kind), f.settled);
                proofs.push(if counts {
                    let proven = match esplora.prove(&f.id.txid, holder.network).await {
                        Ok(p) => esplora
                            .witnessed(&f.id.txid, Some(true), crate::esplora::witness::Route::Block)
                            .await
                            .map(|(_, w)| (p, w)),
                        Err(e) => Err(e),
                    };
                    match proven {
                        Ok((p, w)) => {
                            let mut v = json!(p);
                            v["witness"] = json!(w);
                            v
                        }
                        Err(e) => json!({ "error": e.message }),
                    }
                } else {
                    serde_json::Value::Null
                });
            }
            let items: Vec<_> = found
                .iter()
                .zip(proofs)
                .map(|(f, proven)| {
                    json!({
                        "proven": proven,
                        "id": f.id.to_string(),
                        "content_type": f.content_type,
                        "content_encoding": f.content_encoding,
                        "size": f.size,
                        "location": f.location,
                        "block_height": match f.location { scan::Location::Confirmed(h) => Some(h), _ => None },
                        "delegate": f.delegate.map(|d| d.to_string()),
                        "goatfile": f.goatfile,
                        "goatfile_error": f.goatfile_error.as_deref(),
                        "endorsed": f.endorsement.as_ref().is_some_and(|e| e.kind.is_sound()),
                        "endorsement": f.endorsement.as_ref().map(|e| e.kind),
                        "endorsement_pending": f.endorsement_pending,
                        "signature": f.endorsement.as_ref().and_then(|e| e.signed.as_ref()),
                        "signature_refused": f.signature_refused,
                        "curses": f.curses,
                    })
                })
                .collect();
            let doc = json!({
                "address": holder.address.to_string(),
                "network": crate::address::network_name(holder.network),
                "inscriptions": items,
                "walk": summary,
                "requests": esplora.stats(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            return Ok(());
        }
        if found.is_empty() {
            g.note(format!("no inscriptions in {} transactions of {}", summary.transactions, holder.address));
            return Ok(());
        }
        println!(
            "{:<68} {:<26} {:<8} {:>9} {:>8} {:<9} ENDORSED",
            "INSCRIPTION", "CONTENT-TYPE", "ENCODING", "SIZE", "HEIGHT", "GOATFILE"
        );
        for f in &found {
            let gf = match f.goatfile {
                "valid" => "yes",
                other => other,
            };
            let endorsed = match &f.endorsement {
                Some(e) => e.label(),
                None if f.signature_refused.is_some() => "no (bad signature)".into(),
                None => "no".into(),
            };
            // Chain-supplied text: cut on a character boundary, never by bytes.
            let ct = crate::text::printable(f.content_type.as_deref().unwrap_or("-"), 26);
            let enc = crate::text::printable(f.content_encoding.as_deref().unwrap_or("-"), 8);
            println!(
                "{:<68} {:<26} {:<8} {:>9} {:>8} {:<9} {}",
                f.id.to_string(),
                ct,
                enc,
                f.size.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                f.location.to_string(),
                gf,
                endorsed
            );
        }
        g.note(format!(
            "{} inscriptions in {} transactions ({} history pages)",
            found.len(),
            summary.transactions,
            summary.pages
        ));
        Ok(())
    }
}

/// What the listing shows of one inscription: kept for every inscription
/// of the history, so none of its body or parsed goatfile (an airdrop may
/// hold thousands).
struct Row {
    id: crate::inscription::InscriptionId,
    content_type: Option<String>,
    content_encoding: Option<String>,
    size: Option<usize>,
    location: scan::Location,
    settled: bool,
    delegate: Option<crate::inscription::InscriptionId>,
    goatfile: &'static str,
    goatfile_error: Option<Arc<str>>,
    endorsement: Option<crate::trust::Endorsed>,
    endorsement_pending: bool,
    signature_refused: Option<String>,
    curses: Vec<&'static str>,
}

impl From<scan::Found> for Row {
    fn from(f: scan::Found) -> Row {
        let settled = f.settled();
        let (goatfile, goatfile_error) = match f.goatfile {
            GoatfileState::Valid(_) => ("valid", None),
            GoatfileState::Invalid(e) => ("invalid", Some(e)),
            GoatfileState::No => ("no", None),
        };
        Row {
            id: f.id,
            settled,
            content_type: f.served.content_type,
            content_encoding: f.served.content_encoding,
            size: f.served.size,
            location: f.location,
            delegate: f.served.delegate,
            goatfile,
            goatfile_error,
            endorsement: f.endorsement,
            endorsement_pending: f.endorsement_pending,
            signature_refused: f.signature_refused,
            curses: f.inscription.curses(),
        }
    }
}

//! `goat ls <address>`: every inscription in the history, newest first.

use super::Globals;
use crate::error::Result;
use crate::scan::{self, GoatfileState};
use clap::Args;
use serde_json::json;
use std::ops::ControlFlow;

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
        let summary = scan::walk(&esplora, &holder, scan::Options { endorse_all: true }, |f| {
            found.push(f);
            ControlFlow::Continue(())
        })
        .await?;
        g.report_stats(&esplora);
        if self.json {
            let items: Vec<_> = found
                .iter()
                .map(|f| {
                    json!({
                        "id": f.id.to_string(),
                        "content_type": f.served.content_type,
                        "content_encoding": f.served.content_encoding,
                        "size": f.served.body.as_ref().map(|b| b.len()),
                        "location": f.location,
                        "block_height": match f.location { scan::Location::Confirmed(h) => Some(h), _ => None },
                        "delegate": f.served.delegate.map(|d| d.to_string()),
                        "goatfile": match &f.goatfile { GoatfileState::Valid(_) => "valid", GoatfileState::Invalid(_) => "invalid", GoatfileState::No => "no" },
                        "goatfile_error": match &f.goatfile { GoatfileState::Invalid(e) => Some(e.clone()), _ => None },
                        "endorsed": f.endorsement.is_some(),
                        "endorsement": f.endorsement,
                        "curses": f.inscription.curses(),
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
            g.note(format!(
                "no inscriptions in {} transactions of {}",
                summary.transactions, holder.address
            ));
            return Ok(());
        }
        println!("{:<68} {:<26} {:<8} {:>9} {:>8} {:<9} ENDORSED", "INSCRIPTION", "CONTENT-TYPE", "ENCODING", "SIZE", "HEIGHT", "GOATFILE");
        for f in &found {
            let gf = match &f.goatfile {
                GoatfileState::Valid(_) => "yes",
                GoatfileState::Invalid(_) => "invalid",
                GoatfileState::No => "no",
            };
            let endorsed = match f.endorsement {
                Some(e) => format!("yes ({})", serde_json::to_value(e).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
                None => "no".into(),
            };
            let mut ct = f.served.content_type.clone().unwrap_or_else(|| "-".into());
            if ct.len() > 26 {
                ct.truncate(25);
                ct.push('…');
            }
            println!(
                "{:<68} {:<26} {:<8} {:>9} {:>8} {:<9} {}",
                f.id.to_string(),
                ct,
                f.served.content_encoding.as_deref().unwrap_or("-"),
                f.served.body.as_ref().map(|b| b.len().to_string()).unwrap_or_else(|| "-".into()),
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

//! `goat resolve <address>`: the goatfile the holder published.

use super::Globals;
use crate::address::HolderAddress;
use crate::error::{Error, Result};
use crate::esplora::Esplora;
use crate::scan::{self, Found, GoatfileState};
use crate::trust::Policy;
use clap::Args;
use std::io::Write;
use std::ops::ControlFlow;

#[derive(Debug, Args)]
pub struct Resolve {
    /// The holder's Bitcoin address.
    pub address: String,
    /// Also accept a goatfile that is not yet confirmed.
    #[arg(long)]
    pub include_mempool: bool,
    /// Also accept goatfiles the holder did not endorse (anyone can send
    /// inscriptions to any address: see docs/trust.md).
    #[arg(long)]
    pub trust_any: bool,
    /// Print JSON (inscription id, block, endorsement, parsed goatfile).
    #[arg(long)]
    pub json: bool,
}

/// What was passed over on the way, to explain a "not found".
#[derive(Default)]
struct Skipped {
    unendorsed: usize,
    mempool: usize,
    invalid: Vec<String>,
}

/// Walk `holder`'s history to the newest goatfile `policy` accepts.
pub async fn find_goatfile(esplora: &Esplora, holder: &HolderAddress, policy: Policy) -> Result<Found> {
    let mut chosen = None;
    let mut skipped = Skipped::default();
    let summary = scan::walk(esplora, holder, scan::Options::default(), |f| {
        match &f.goatfile {
            GoatfileState::Valid(_) => {
                let endorsed = f.endorsement.is_some();
                if policy.accepts(endorsed, f.location.is_confirmed()) {
                    chosen = Some(f);
                    return ControlFlow::Break(());
                }
                if !endorsed && !policy.trust_any {
                    skipped.unendorsed += 1;
                } else {
                    skipped.mempool += 1;
                }
            }
            GoatfileState::Invalid(e) => skipped.invalid.push(format!("{}: {e}", f.id)),
            GoatfileState::No => {}
        }
        ControlFlow::Continue(())
    })
    .await?;
    if let Some(f) = chosen {
        return Ok(f);
    }
    let mut why = format!(
        "no goatfile published by {} in its {} transactions",
        holder.address, summary.transactions
    );
    if skipped.unendorsed > 0 {
        why += &format!("; {} goatfile(s) were sent to it by others (pass --trust-any to accept them)", skipped.unendorsed);
    }
    if skipped.mempool > 0 {
        why += &format!("; {} are unconfirmed (pass --include-mempool)", skipped.mempool);
    }
    if let Some(first) = skipped.invalid.first() {
        why += &format!("; {} inscription(s) look like goatfiles but do not parse (newest: {first})", skipped.invalid.len());
    }
    Err(Error::not_found(why))
}

impl Resolve {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let holder = g.holder(&self.address)?;
        let esplora = g.esplora(holder.network)?;
        let policy = Policy { include_mempool: self.include_mempool, trust_any: self.trust_any };
        let found = find_goatfile(&esplora, &holder, policy).await?;
        g.report_stats(&esplora);
        let GoatfileState::Valid(goatfile) = &found.goatfile else {
            return Err(Error::internal("chosen inscription is not a goatfile"));
        };
        let endorsement = found.endorsement.map(|e| e.describe()).unwrap_or("NOT endorsed by the holder (--trust-any)");
        if self.json {
            let doc = serde_json::json!({
                "inscription": found.id.to_string(),
                "location": found.location,
                "endorsement": found.endorsement,
                "goatfile": goatfile,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            let text = found.served.decode(crate::goatfile::MAX_BYTES as u64)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&text).and_then(|_| out.flush()).map_err(|e| Error::io("writing to stdout", e))?;
        }
        g.note(format!(
            "goatfile {} at {} ({endorsement})",
            found.id,
            match found.location {
                scan::Location::Confirmed(h) => format!("block {h}"),
                scan::Location::Mempool => "mempool (unconfirmed)".into(),
            }
        ));
        Ok(())
    }
}

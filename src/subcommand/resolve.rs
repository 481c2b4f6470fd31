//! `goat resolve <address>`: the goatfile the holder published.

use super::{Globals, TrustArgs};
use crate::error::{Error, Result};
use crate::scan::{self, GoatfileState};
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct Resolve {
    /// The holder's Bitcoin address.
    pub address: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print JSON (inscription id, block, endorsement, parsed goatfile).
    #[arg(long)]
    pub json: bool,
}

pub use crate::scan::find_goatfile;

impl Resolve {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let holder = g.holder(&self.address)?;
        let esplora = g.esplora(holder.network)?;
        let policy = self.trust.policy();
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

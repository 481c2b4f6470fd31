//! `goat resolve <address>`: the goatfile the holder published.

use super::{Globals, TrustArgs};
use crate::error::{Error, Result};
use crate::scan;
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

pub use crate::scan::words::{endorsement_words, proof_words};

impl Resolve {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let holder = g.holder(&self.address)?;
        let esplora = g.esplora(holder.network)?;
        let policy = self.trust.policy();
        let found = find_goatfile(&esplora, &holder, policy).await?;
        g.report_stats(&esplora);
        if self.json {
            let doc = serde_json::json!({
                "inscription": found.id.to_string(),
                "location": found.location,
                "endorsement": found.endorsement.as_ref().map(|e| e.kind),
                "endorsement_sound": found.endorsement.as_ref().map(|e| e.kind.is_sound()),
                "signature": found.endorsement.as_ref().and_then(|e| e.signed.as_ref()),
                "proven": found.proof,
                "goatfile": found.goatfile,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            // The goatfile as it reads, line by line, with whatever could
            // steer a terminal (a carriage return, a bidi override: YAML
            // allows them) made visible; `--json` has the exact text.
            let text = found.served.decode(crate::goatfile::MAX_BYTES as u64)?;
            let text: String =
                String::from_utf8_lossy(&text).lines().map(|l| crate::text::printable(l, usize::MAX) + "\n").collect();
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| Error::io("writing to stdout", e))?;
        }
        let proven = proof_words(&found);
        g.note(format!(
            "goatfile {} at {} ({}{proven})",
            found.id,
            match found.location {
                scan::Location::Confirmed(h) => format!("block {h}"),
                scan::Location::Mempool => "mempool (unconfirmed)".into(),
            },
            endorsement_words(&found),
        ));
        Ok(())
    }
}

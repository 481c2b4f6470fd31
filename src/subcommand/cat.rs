//! `goat cat <txid | inscription-id>`: an inscription's content on stdout.

use super::Globals;
use crate::error::{Error, Result};
use crate::inscription::{content, InscriptionId};
use crate::scan::{self, Served};
use bitcoin::Network;
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct Cat {
    /// `<txid>i<n>`, or a bare txid meaning `<txid>i0`.
    pub id: String,
    /// Write the body as stored, without undoing its content encoding.
    #[arg(long)]
    pub raw: bool,
}

/// Fetch an inscription and produce the bytes to write.
pub async fn content_of(g: &Globals, id_text: &str, raw: bool) -> Result<(InscriptionId, Served, Vec<u8>)> {
    let id: InscriptionId = id_text.parse()?;
    let esplora = g.esplora(g.network()?.unwrap_or(Network::Bitcoin))?;
    let (_, served) = scan::lookup(&esplora, &id).await?;
    g.report_stats(&esplora);
    let body = match &served.body {
        None => return Err(Error::not_found(format!("inscription {id} has no body"))),
        Some(b) if raw => b.to_vec(),
        // The one place that can offer to skip decoding.
        Some(_) => served.decode(content::MAX_DECODED).map_err(|mut e| {
            if e.find::<content::Undecodable>().is_some() {
                e.message.push_str(": use --raw to write the body as stored");
            }
            e
        })?,
    };
    Ok((id, served, body))
}

impl Cat {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let (id, served, body) = content_of(g, &self.id, self.raw).await?;
        let mut out = std::io::stdout().lock();
        out.write_all(&body).and_then(|_| out.flush()).map_err(|e| Error::io("writing to stdout", e))?;
        if g.verbose > 0 {
            eprintln!(
                "goat: {id}: {} bytes, {}{}",
                body.len(),
                served.content_type.as_deref().unwrap_or("no content type"),
                served.delegate.map(|d| format!(", delegated to {d}")).unwrap_or_default()
            );
        }
        Ok(())
    }
}

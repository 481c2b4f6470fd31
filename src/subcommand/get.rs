//! `goat get <txid | inscription-id> <path>`: an inscription's content to a file.

use super::Globals;
use crate::error::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct Get {
    /// `<txid>i<n>`, or a bare txid meaning `<txid>i0`.
    pub id: String,
    /// File to write.
    pub path: PathBuf,
    /// Write the body as stored, without undoing its content encoding.
    #[arg(long)]
    pub raw: bool,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

impl Get {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        if self.path.exists() && !self.force {
            return Err(Error::usage(format!("{} already exists: pass --force to replace it", self.path.display())));
        }
        let (id, served, body) = super::cat::content_of(g, &self.id, self.raw).await?;
        crate::store::write_atomic(&self.path, &body)?;
        g.note(format!(
            "wrote {} bytes of {id} ({}) to {}",
            body.len(),
            served.content_type.as_deref().unwrap_or("no content type"),
            self.path.display()
        ));
        Ok(())
    }
}

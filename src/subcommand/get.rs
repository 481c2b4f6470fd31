//! `goat get <txid | inscription-id> <path>`: an inscription's content to a file.

use super::Globals;
use crate::error::{Error, Result};
use clap::Args;
use std::io::Write;
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

/// Write `bytes` to `path` atomically: a temporary file beside it, then a
/// rename, so an interrupted or failed write never leaves a half file.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile_in(&dir)?;
    let res = tmp.1.write_all(bytes).and_then(|_| tmp.1.sync_all());
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp.0);
        return Err(Error::io(format!("writing {}", path.display()), e));
    }
    drop(tmp.1);
    std::fs::rename(&tmp.0, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp.0);
        Error::io(format!("moving into place {}", path.display()), e)
    })
}

fn tempfile_in(dir: &std::path::Path) -> Result<(PathBuf, std::fs::File)> {
    for n in 0..100u32 {
        let p = dir.join(format!(".goat-tmp-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(format!("creating a file in {}", dir.display()), e)),
        }
    }
    Err(Error::internal("could not pick a temporary file name"))
}

impl Get {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        if self.path.exists() && !self.force {
            return Err(Error::usage(format!(
                "{} already exists: pass --force to replace it",
                self.path.display()
            )));
        }
        let (id, served, body) = super::cat::content_of(g, &self.id, self.raw).await?;
        write_atomic(&self.path, &body)?;
        g.note(format!(
            "wrote {} bytes of {id} ({}) to {}",
            body.len(),
            served.content_type.as_deref().unwrap_or("no content type"),
            self.path.display()
        ));
        Ok(())
    }
}

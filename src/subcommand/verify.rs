//! `goat verify <DIR>`: re-check a fetched folder offline.

use super::Globals;
use crate::error::{Error, Kind, Result};
use crate::store::{verify, Layout};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct Verify {
    /// The folder `goat fetch` wrote.
    pub dir: PathBuf,
    /// Hashing threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
}

impl Verify {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let layout = Layout::new(&self.dir);
        let threads = self.threads.unwrap_or_else(verify::default_threads);
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || verify::verify(&layout, threads))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        let secs = started.elapsed().as_secs_f64();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        } else {
            for f in &report.files {
                let state =
                    serde_json::to_value(f.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                // names from a torrent's metadata: printable on one line
                println!(
                    "{state:<9} {}{}",
                    crate::text::line(&format!("{}/{}", f.entry, f.path.display())),
                    f.detail.as_ref().map(|d| format!(" ({})", crate::text::line(d))).unwrap_or_default()
                );
            }
            g.note(format!(
                "{} files, {} pieces, {:.1} MB hashed in {secs:.2}s ({:.0} MB/s)",
                report.files.len(),
                report.pieces,
                report.bytes_hashed as f64 / 1e6,
                report.bytes_hashed as f64 / 1e6 / secs.max(1e-9)
            ));
        }
        if report.all_ok() {
            Ok(())
        } else {
            let bad = report.failed();
            Err(Error::new(
                Kind::Corrupt,
                format!("{bad} file(s) failed verification: run goat fetch again to repair them"),
            ))
        }
    }
}

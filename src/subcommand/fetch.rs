//! `goat fetch <address>`: the fetch workflow (`fetcher::request`), its
//! summary printed, then seeding when asked.

use super::Globals;
use crate::error::Result;
use crate::fetcher::request::{Fetched, Request};
use crate::progress::Reporter;
use clap::Args;
use std::time::Duration;

pub use crate::fetcher::request::FileLayout;

#[derive(Debug, Args)]
pub struct Fetch {
    #[command(flatten)]
    pub request: Request,
    /// Print a JSON summary on stdout (no progress).
    #[arg(long)]
    pub json: bool,
    /// Keep seeding after the download completes (until Ctrl-C).
    #[arg(long)]
    pub seed: bool,
    /// With --seed: stop after this many seconds (tests).
    #[arg(long, hide = true, value_name = "SECS")]
    pub seed_for: Option<u64>,
}

impl Fetch {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let mut reporter = Reporter::new(g.quiet, self.json);
        let Fetched { root, origin, results, swarm } = self.request.run(g, &mut reporter).await?;
        reporter.done();
        if self.json {
            let doc = serde_json::json!({ "dir": root, "source": origin, "entries": results });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            for r in &results {
                reporter.event(format!(
                    "{}: {} file(s), {} bytes, verified{}",
                    r.name,
                    r.files,
                    r.bytes,
                    if r.kind == "torrent" {
                        let web = if r.web_seed_bytes > 0 {
                            format!(", {} from web seeds", r.web_seed_bytes)
                        } else {
                            String::new()
                        };
                        let links = r.encrypted_connections + r.plaintext_connections;
                        let enc = if links > 0 {
                            let utp = if r.utp_connections > 0 {
                                format!(", {} over uTP", r.utp_connections)
                            } else {
                                String::new()
                            };
                            format!(", {} of {links} peer connection(s) encrypted{utp}", r.encrypted_connections)
                        } else {
                            String::new()
                        };
                        let reused = if r.reused_bytes > 0 {
                            format!(", {} reused from local copies: {}", r.reused_bytes, r.reused_from.join("; "))
                        } else {
                            String::new()
                        };
                        format!(" ({} fetched{web}{reused}{enc} in {:.1}s)", r.fetched_bytes, r.seconds)
                    } else {
                        String::new()
                    }
                ));
            }
            g.note(format!("done: {}", root.display()));
        }
        if let Some(s) = swarm {
            if self.seed {
                if !self.request.swarm.no_upnp {
                    s.map_port();
                }
                g.note(format!(
                    "seeding on port {}; Ctrl-C to stop",
                    s.listen_port().map(|p| p.to_string()).unwrap_or_else(|| "-".into())
                ));
                match self.seed_for {
                    Some(secs) => {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            s.finish().await;
        }
        Ok(())
    }
}

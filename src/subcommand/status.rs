//! `goat status`: ask a running `goat seed` how it is doing.

use super::seed::DEFAULT_HTTP;
use super::Globals;
use crate::error::{Error, Result};
use crate::seed::status::Status;
use clap::Args;

#[derive(Debug, Args)]
pub struct StatusCmd {
    /// The daemon's status address (its --http).
    #[arg(long, default_value_t = DEFAULT_HTTP.to_string(), value_name = "IP:PORT")]
    pub http: String,
    /// Print the daemon's JSON as is.
    #[arg(long)]
    pub json: bool,
}

impl StatusCmd {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        let url = format!("http://{}/status", self.http.trim_start_matches("http://").trim_end_matches('/'));
        let unreachable = |why: String| {
            Error::network(format!(
                "no goat seed answers at {url} ({why}): is it running? pass --http IP:PORT if it listens elsewhere"
            ))
        };
        let resp = bitreq::get(&url)
            .with_timeout(g.timeout.max(1))
            .send_async()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if resp.status_code != 200 {
            return Err(unreachable(format!("HTTP {}", resp.status_code)));
        }
        let body = resp.as_bytes().to_vec();
        let status: Status = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("{url} did not answer with goat seed's status ({e})")))?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default());
        } else {
            print!("{}", status.human());
        }
        Ok(())
    }
}

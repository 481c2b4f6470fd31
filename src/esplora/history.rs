//! Hidden history: do the servers agree on what an address holds?
//!
//! A server can hide the newest goatfile so an older one wins. One server
//! alone cannot be caught at that, but two independent ones can be compared
//! cheaply: each is asked for the address's confirmed transaction count
//! (`GET /address/:a`) and its newest confirmed transactions
//! (`GET /address/:a/txs/chain`, one page). That is two requests per
//! server, not a second walk. A block found between two requests can make
//! honest servers differ for a moment, so a difference is re-asked once
//! after a short pause before goat refuses to choose.

use super::source::{Listed, Page};
use super::{Esplora, Outcome};
use crate::error::{Error, Result};
use bitcoin::{Address, Txid};
use std::time::Duration;

/// What one server says about an address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct View {
    pub server: String,
    pub confirmed_txs: u32,
    /// Newest confirmed txids, newest first (one page).
    pub newest: Vec<Txid>,
}

/// The outcome of comparing every server.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Agreement {
    /// Servers that answered, and what they said (all the same when Ok).
    pub views: Vec<View>,
    /// Servers that gave no answer (reported and skipped).
    pub unanswered: Vec<String>,
}

/// Pause before asking again when servers differ.
const RECHECK_AFTER: Duration = Duration::from_secs(2);

impl Esplora {
    /// What endpoint `idx` says about `addr`. Err: why there is no answer;
    /// an answer that cannot be right marks the server as lying.
    async fn view(&self, idx: usize, addr: &Address) -> std::result::Result<View, String> {
        let what = format!("the history of {addr}");
        let confirmed_txs = self.answered(idx, self.ask_at(idx, &what, &|s| s.confirmed_count(addr), &Ok).await)?;
        let page: Vec<Listed> = self.answered(idx, self.ask_at(idx, &what, &|s| s.history(addr, Page::NewestConfirmed), &Ok).await)?;
        Ok(View {
            server: self.endpoint(idx).to_string(),
            confirmed_txs,
            newest: page.iter().filter(|t| t.height.is_some()).map(|t| t.txid).collect(),
        })
    }

    fn answered<T>(&self, idx: usize, o: Outcome<T>) -> std::result::Result<T, String> {
        match o {
            Outcome::Ok(v) => Ok(v),
            Outcome::Invalid(why) => {
                self.reject(idx, &why);
                Err(why)
            }
            Outcome::NotFound(m) | Outcome::Unreachable(m) | Outcome::Refused(_, m) => Err(m),
        }
    }

    /// What every server says. Err when none answered: one line that
    /// names each server and its cause.
    async fn views(&self, addr: &Address) -> Result<Agreement> {
        let mut a = Agreement::default();
        let mut causes = Vec::new();
        for idx in self.order() {
            match self.view(idx, addr).await {
                Ok(v) => a.views.push(v),
                Err(why) => {
                    causes.push(format!("{} {why}", self.endpoint(idx)));
                    a.unanswered.push(self.endpoint(idx).to_string());
                }
            }
        }
        if a.views.is_empty() && !causes.is_empty() {
            return Err(self.none_answered(crate::error::Kind::Network, &causes, &format!("/address/{addr}")));
        }
        for (server, why) in a.unanswered.iter().zip(&causes) {
            tracing::warn!("{server}: no answer about {addr}'s history ({}); skipped", why.strip_prefix(server.as_str()).unwrap_or(why).trim());
        }
        Ok(a)
    }

    /// Compare what every server says about `addr` (with two or more
    /// servers; with one there is nothing to compare). Servers that do not
    /// answer are reported and skipped. When the answering servers disagree
    /// twice in a row, this fails (InvalidData) naming them, unless
    /// `--trust-server` names one to follow.
    pub async fn agree_on_history(&self, addr: &Address) -> Result<Agreement> {
        if self.endpoint_count() < 2 {
            return Ok(Agreement::default());
        }
        let mut a = self.views(addr).await?;
        if !agree(&a.views) {
            tokio::time::sleep(RECHECK_AFTER).await;
            a = self.views(addr).await?;
        }
        if agree(&a.views) {
            return Ok(a);
        }
        let described: Vec<String> = a
            .views
            .iter()
            .map(|v| {
                let newest = v.newest.first().map(|t| t.to_string()[..12].to_string()).unwrap_or_else(|| "none".into());
                format!("{} has {} confirmed (newest {newest}…)", v.server, v.confirmed_txs)
            })
            .collect();
        let msg = format!("Esplora servers disagree about {addr}'s history: {}", described.join(", "));
        match self.trusted() {
            Some(t) => {
                tracing::warn!("{msg}; following --trust-server {}", self.endpoint(t));
                Ok(a)
            }
            None => Err(Error::invalid(format!(
                "{msg}: one may be hiding transactions or be behind; pass --trust-server URL to follow one"
            ))),
        }
    }
}

fn agree(views: &[View]) -> bool {
    views.windows(2).all(|w| w[0].confirmed_txs == w[1].confirmed_txs && w[0].newest == w[1].newest)
}

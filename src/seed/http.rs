//! The status endpoint of `goat seed`: `/status` (JSON) and `/metrics`
//! (Prometheus text).
//!
//! Why not librqbit's own HTTP API: it serves torrents only (goat's status
//! is per address and goatfile), it exposes mutating endpoints (add,
//! delete) that a status port should not, and it runs its own server that
//! goat's routes cannot join. goat reuses librqbit's session counters
//! instead: they are appended to `/metrics` as librqbit renders them.

use super::status::Status;
use crate::error::{Error, Result};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the endpoints read from: a fresh status snapshot, and librqbit's
/// session counters as Prometheus text (asked for by `/metrics` only, so
/// `/status` stays cheap with hundreds of torrents).
#[derive(Clone)]
pub struct Source {
    pub status: Arc<dyn Fn() -> Status + Send + Sync>,
    pub librqbit: Arc<dyn Fn() -> String + Send + Sync>,
}

/// Bind `addr` and return the bound address and the server future.
pub async fn serve(addr: SocketAddr, source: Source) -> Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::usage(format!("cannot serve status on {addr} ({e}): pick another --http address or pass --no-http"))
    })?;
    let bound = listener.local_addr().map_err(|e| Error::io("reading the status address", e))?;
    let s1 = source.clone();
    let s2 = source;
    let app = Router::new()
        .route("/", get(|| async { "goat seed: GET /status (JSON) or /metrics (Prometheus)\n" }))
        .route("/status", get(move || async move { axum::Json((s1.status)()) }))
        .route(
            "/metrics",
            get(move || async move {
                let mut body = (s2.status)().prometheus();
                body.push_str(&(s2.librqbit)());
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
            }),
        );
    let fut = async move {
        let _ = axum::serve(listener, app).await;
    };
    Ok((bound, fut))
}

/// The status address from `--http`: loopback only unless the operator
/// explicitly allows others (the status shows paths and addresses).
pub fn parse_listen(text: &str, allow_remote: bool) -> Result<SocketAddr> {
    let addr: SocketAddr = text.trim().parse().map_err(|_| {
        Error::usage(format!("--http '{}' is not an IP:PORT like 127.0.0.1:4628", crate::text::line(text)))
    })?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(Error::usage(format!(
            "--http {addr} is not a loopback address: the status endpoint has no authentication; pass --allow-remote-http if you really want it reachable from other hosts"
        )));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_only_unless_allowed() {
        assert!(super::parse_listen("127.0.0.1:4628", false).is_ok());
        assert!(super::parse_listen("[::1]:4628", false).is_ok());
        assert!(super::parse_listen("0.0.0.0:4628", false).is_err());
        assert!(super::parse_listen("0.0.0.0:4628", true).is_ok());
        assert!(super::parse_listen("localhost", false).is_err());
    }
}

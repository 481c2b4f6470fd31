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
use std::time::Duration;

/// A client must send its request's headers within this: a slow or silent
/// one is closed, not kept (each would hold a connection slot).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer than this, whatever it does.
pub const CONNECTION_LIMIT: Duration = Duration::from_secs(30);
/// Connections kept at once; a new one closes the oldest.
pub const MAX_CONNECTIONS: usize = 64;

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
    let app = app.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            match req.headers().get(header::HOST).map(|h| h.to_str().map(allowed_host)) {
            Some(Ok(true)) | None => next.run(req).await,
            // Closed at once: a page retrying through rebound names holds no
            // slot longer than one answer.
            _ => (
                axum::http::StatusCode::MISDIRECTED_REQUEST,
                [(header::CONNECTION, "close")],
                "goat seed answers to localhost and IP addresses only (a DNS name here may be a rebinding attack)\n",
            )
                .into_response(),
        }
        },
    ));
    let fut = accept_loop(listener, app);
    Ok((bound, fut))
}

/// Serve `app` on `listener`, one task per connection, each bounded by
/// [`HEADER_TIMEOUT`] and [`CONNECTION_LIMIT`]. At most
/// [`MAX_CONNECTIONS`] live at once: a new one closes the oldest that has
/// not sent a whole request yet (the oldest of all only when every one
/// has). A flood of half-sent requests so neither piles up nor starves
/// `/status`, and a client that has asked is answered, however slowly it
/// reads (dropping the newest instead would lock real clients out while
/// the flood lasts; queueing them would put them behind it). HTTP/1 only,
/// as Prometheus and `goat status` use.
/// Live connections, oldest first: id, how to close it, and whether it has
/// sent a whole request.
type Live = std::collections::VecDeque<(u64, tokio::sync::oneshot::Sender<()>, Arc<std::sync::atomic::AtomicBool>)>;

async fn accept_loop(listener: tokio::net::TcpListener, app: Router) {
    let live: Arc<std::sync::Mutex<Live>> = Arc::default();
    fn lock(l: &std::sync::Mutex<Live>) -> std::sync::MutexGuard<'_, Live> {
        l.lock().unwrap_or_else(|p| p.into_inner())
    }
    for id in 0u64.. {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: pause instead of spinning.
                tracing::debug!(target: "goat", "status endpoint: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (close, closed) = tokio::sync::oneshot::channel();
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let mut l = lock(&live);
            if l.len() >= MAX_CONNECTIONS {
                let at = l.iter().position(|c| !c.2.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0);
                if let Some((_, oldest, _)) = l.remove(at) {
                    let _ = oldest.send(());
                }
            }
            l.push_back((id, close, asked.clone()));
        }
        // Marks the connection once a whole request has arrived.
        let app = app.clone().layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                asked.store(true, std::sync::atomic::Ordering::Relaxed);
                next.run(req)
            },
        ));
        let service = hyper_util::service::TowerToHyperService::new(app);
        let live = live.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIMIT, conn) => {}
                _ = closed => {}
            }
            lock(&live).retain(|c| c.0 != id);
        });
    }
}

/// A `Host` header the status endpoint answers: `localhost` or an IP
/// literal, with or without a port. A DNS rebinding attack (a page the
/// operator's browser loads, whose name is made to resolve to 127.0.0.1)
/// sends its own DNS name, and is refused.
fn allowed_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((ip, _)) => return ip.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        h.rsplit_once(':').map(|(n, _)| n).unwrap_or(h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// The status address from `--http`: loopback only unless the operator
/// explicitly allows others (the status shows paths and addresses).
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<SocketAddr> {
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
        let check =
            |t: &str, allow| t.parse().map_err(|_| ()).and_then(|a| super::check_listen(a, allow).map_err(|_| ()));
        assert!(check("127.0.0.1:4628", false).is_ok());
        assert!(check("[::1]:4628", false).is_ok());
        assert!(check("0.0.0.0:4628", false).is_err());
        assert!(check("0.0.0.0:4628", true).is_ok());
        assert!(check("localhost", false).is_err());
    }

    #[test]
    fn hosts_that_are_not_localhost_or_an_ip_are_refused() {
        for ok in ["127.0.0.1:4628", "localhost", "LOCALHOST:80", "[::1]:4628", "10.0.0.7", "[fe80::1]"] {
            assert!(super::allowed_host(ok), "{ok}");
        }
        for bad in ["evil.example:4628", "127.0.0.1.nip.io", "localhost.evil.example", "[::1", ""] {
            assert!(!super::allowed_host(bad), "{bad}");
        }
    }
}

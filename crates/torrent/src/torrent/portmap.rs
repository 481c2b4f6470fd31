//! The listening port mapped on the user's gateway with UPnP IGD, so that
//! a seeder behind a home router is reachable without a hand-made forward.
//!
//! Why not librqbit's own forwarder (`ListenerOptions::
//! enable_upnp_port_forwarding`): librqbit-upnp 9.1 accepts only
//! `WANIPConnection:1` services, so on a gateway that offers IGD v2 only
//! (Debian's miniupnpd by default) nothing is mapped; it never removes its
//! mapping; and it reports nothing goat could show. igd-next (a kept
//! crate) reads `WANIPConnection:1`, `:2` and `WANPPPConnection:1`, and
//! speaks each with its own SOAP action.
//!
//! The mapping: external port = goat's port (peers are told that port by
//! trackers and the DHT, so another external port would reach no one), to
//! this machine's address on the route to the gateway; TCP, and UDP when
//! uTP is on. Leased for `LEASE` and renewed at half of it (a gateway that
//! takes only permanent leases gets one, removed on exit like the rest);
//! removed when goat stops. No gateway, or one that refuses: said in the
//! status, tried again after `RETRY`.
//!
//! Who else could answer: any host on the LAN can answer SSDP. igd-next
//! takes description and control URLs only from the address that
//! answered. A lying "gateway" can report a false external address (shown
//! in `goat status`, used for nothing else) or pretend to map; it gains no
//! way into goat, which only sends it SOAP requests.

use igd_next::aio::tokio::Tokio;
use igd_next::aio::Gateway;
use igd_next::{AddPortError, PortMappingProtocol, SearchOptions};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lease asked of the gateway.
const LEASE: Duration = Duration::from_secs(3600);
/// Time to find a gateway.
const SEARCH: Duration = Duration::from_secs(5);
/// Time for one SOAP request.
const REQUEST: Duration = Duration::from_secs(5);
/// Wait before trying again when nothing is mapped.
const RETRY: Duration = Duration::from_secs(300);
/// Description the gateway shows for the mapping.
const DESCRIPTION: &str = "goat";

/// Where the port mapping stands, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mapping {
    /// The address peers outside reach goat at: the gateway's external
    /// address and goat's port (None: not mapped).
    pub external: Option<SocketAddr>,
    /// The gateway's service (`WANIPConnection:2`, …).
    pub service: Option<String>,
    /// Protocols mapped (`TCP`, `UDP`).
    pub protocols: Vec<String>,
    /// Lease in seconds (0: permanent, removed on exit).
    pub lease_seconds: u32,
    /// Why nothing is mapped, or why part of it failed.
    pub error: Option<String>,
}

struct State {
    mapping: Mapping,
    /// The gateway and what was mapped on it, to remove on exit.
    mapped: Option<(Gateway<Tokio>, Vec<PortMappingProtocol>)>,
}

/// The mapping task of a session; [`PortMap::remove`] undoes the mapping.
pub struct PortMap {
    task: tokio::task::JoinHandle<()>,
    state: Arc<Mutex<State>>,
    port: u16,
}

impl Drop for PortMap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PortMap {
    /// Map `port` (TCP, and UDP with `udp`) on the gateway and keep it
    /// mapped.
    pub fn start(port: u16, udp: bool) -> PortMap {
        let state = Arc::new(Mutex::new(State { mapping: Mapping::default(), mapped: None }));
        let protocols =
            if udp { vec![PortMappingProtocol::TCP, PortMappingProtocol::UDP] } else { vec![PortMappingProtocol::TCP] };
        let task = tokio::spawn(run(port, protocols, state.clone()));
        PortMap { task, state, port }
    }

    /// Where the mapping stands.
    pub fn snapshot(&self) -> Mapping {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).mapping.clone()
    }

    /// Stop renewing and remove what was mapped (each request bounded).
    pub async fn remove(&self) {
        self.task.abort();
        let mapped = self.state.lock().unwrap_or_else(|e| e.into_inner()).mapped.take();
        if let Some((gw, protocols)) = mapped {
            for p in protocols {
                match tokio::time::timeout(REQUEST, gw.remove_port(p, self.port)).await {
                    Ok(Ok(())) => {
                        tracing::info!(target: "goat", "removed the {p} mapping of port {} on {}", self.port, gw.addr)
                    }
                    Ok(Err(e)) => tracing::debug!(target: "goat", "removing the {p} mapping: {e}"),
                    Err(_) => tracing::debug!(target: "goat", "removing the {p} mapping: no answer"),
                }
            }
        }
    }
}

async fn run(port: u16, protocols: Vec<PortMappingProtocol>, state: Arc<Mutex<State>>) {
    let set = |m: Mapping, mapped: Option<(Gateway<Tokio>, Vec<PortMappingProtocol>)>| {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.mapping = m;
        if mapped.is_some() {
            s.mapped = mapped;
        }
    };
    let mut lease = LEASE.as_secs() as u32;
    loop {
        let m = match map_once(port, &protocols, &mut lease).await {
            Ok((m, gw, done)) => {
                tracing::info!(
                    target: "goat",
                    "port {port} mapped on the gateway ({}): peers reach goat at {}",
                    m.service.as_deref().unwrap_or("UPnP"),
                    m.external.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
                );
                let again = if m.error.is_some() || done.is_empty() { RETRY } else { renew_after(lease) };
                set(m, Some((gw, done)));
                tokio::time::sleep(again).await;
                continue;
            }
            Err(why) => {
                tracing::info!(target: "goat", "port {port} not mapped: {why}");
                Mapping { error: Some(why), ..Mapping::default() }
            }
        };
        set(m, None);
        tokio::time::sleep(RETRY).await;
    }
}

/// When to renew a lease of `lease` seconds (a permanent one is checked
/// every `RETRY`, in case the gateway restarted and lost it).
fn renew_after(lease: u32) -> Duration {
    if lease == 0 {
        RETRY
    } else {
        Duration::from_secs(u64::from(lease) / 2).max(Duration::from_secs(30))
    }
}

type Mapped = (Mapping, Gateway<Tokio>, Vec<PortMappingProtocol>);

/// Find the gateway and add (or renew) each mapping.
async fn map_once(port: u16, protocols: &[PortMappingProtocol], lease: &mut u32) -> Result<Mapped, String> {
    let mut opts = SearchOptions::default();
    opts.timeout = Some(SEARCH);
    opts.single_search_timeout = Some(SEARCH);
    let gw = igd_next::aio::tokio::search_gateway(opts)
        .await
        .map_err(|e| format!("no UPnP gateway answered ({})", crate::text::line(&e.to_string())))?;
    let local = local_ip_towards(gw.addr).map_err(|e| format!("no route to the gateway at {}: {e}", gw.addr))?;
    // The gateway's words: shown as one clean line.
    let service = crate::text::line(gw.service_type.rsplit_once(":service:").map_or(&*gw.service_type, |(_, s)| s));
    let mut m = Mapping { service: Some(service), lease_seconds: *lease, ..Mapping::default() };
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for p in protocols {
        let to = SocketAddr::new(local, port);
        let mut r = request(gw.add_port(*p, port, to, *lease, DESCRIPTION)).await;
        if matches!(r, Err(Some(AddPortError::OnlyPermanentLeasesSupported))) {
            *lease = 0;
            m.lease_seconds = 0;
            r = request(gw.add_port(*p, port, to, 0, DESCRIPTION)).await;
        }
        match r {
            Ok(()) => {
                done.push(*p);
                m.protocols.push(p.to_string());
            }
            Err(e) => errors.push(format!(
                "the gateway refused to map {p} port {port}: {}",
                e.map(|e| crate::text::line(&e.to_string())).unwrap_or_else(|| "no answer".into())
            )),
        }
    }
    if done.is_empty() {
        return Err(errors.join("; "));
    }
    if let Ok(Ok(ip)) = tokio::time::timeout(REQUEST, gw.get_external_ip()).await {
        m.external = Some(SocketAddr::new(ip, port));
    }
    m.error = (!errors.is_empty()).then(|| errors.join("; "));
    Ok((m, gw, done))
}

async fn request<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, Option<E>> {
    match tokio::time::timeout(REQUEST, f).await {
        Ok(r) => r.map_err(Some),
        Err(_) => Err(None),
    }
}

/// This machine's address on the route to `gateway` (a UDP socket
/// "connected" there sends nothing).
fn local_ip_towards(gateway: SocketAddr) -> std::io::Result<IpAddr> {
    let s = std::net::UdpSocket::bind(SocketAddr::new([0, 0, 0, 0].into(), 0))?;
    s.connect(gateway)?;
    Ok(s.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_renewed_at_half_and_permanent_ones_checked() {
        assert_eq!(renew_after(3600), Duration::from_secs(1800));
        assert_eq!(renew_after(20), Duration::from_secs(30));
        assert_eq!(renew_after(0), RETRY);
    }
}

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
//! When no UPnP gateway answers, or it refuses, goat asks the default
//! gateway with PCP (RFC 6887), falling back to NAT-PMP (RFC 6886), through
//! crab_nat (a kept crate speaking both).
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
/// The shortest wait before a renewal.
const RENEW_FLOOR: Duration = Duration::from_secs(30);

/// The lease asked for, in seconds: `LEASE`, or in builds with the
/// `test-hooks` feature `GOAT_TEST_LEASE_SECS` (so that a test sees a
/// renewal within seconds).
fn lease_secs() -> u32 {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = std::env::var("GOAT_TEST_LEASE_SECS").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    LEASE.as_secs() as u32
}
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
    /// What is mapped, to renew and to remove on exit.
    mapped: Option<Held>,
}

/// A mapping held on the gateway.
#[derive(Clone)]
enum Held {
    /// UPnP: the gateway and the protocols mapped on it.
    Upnp(Gateway<Tokio>, Vec<PortMappingProtocol>),
    /// PCP or NAT-PMP: one mapping per protocol.
    Pmp(Vec<crab_nat::PortMapping>),
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
        match mapped {
            Some(Held::Upnp(gw, protocols)) => {
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
            Some(Held::Pmp(mappings)) => {
                for m in mappings {
                    let p = m.protocol();
                    match tokio::time::timeout(REQUEST, m.try_drop()).await {
                        Ok(Ok(())) => tracing::info!(target: "goat", "removed the {p} mapping of port {}", self.port),
                        Ok(Err((e, _))) => tracing::debug!(target: "goat", "removing the {p} mapping: {e}"),
                        Err(_) => tracing::debug!(target: "goat", "removing the {p} mapping: no answer"),
                    }
                }
            }
            None => {}
        }
    }
}

async fn run(port: u16, protocols: Vec<PortMappingProtocol>, state: Arc<Mutex<State>>) {
    loop {
        // What is held is renewed where it is (the same gateway; a clone,
        // so that `remove` finds it even while a renewal is under way);
        // only when that fails is a gateway looked for again.
        let held = state.lock().unwrap_or_else(|e| e.into_inner()).mapped.clone();
        if let Some(h) = held {
            let lease = state.lock().unwrap_or_else(|e| e.into_inner()).mapping.lease_seconds;
            match renew(h, port, lease).await {
                Ok(h) => {
                    state.lock().unwrap_or_else(|e| e.into_inner()).mapped = Some(h);
                    tokio::time::sleep(renew_after(lease)).await;
                    continue;
                }
                Err(why) => {
                    tracing::info!(target: "goat", "port {port}: renewing the mapping failed ({why}); looking for the gateway again");
                    state.lock().unwrap_or_else(|e| e.into_inner()).mapped = None;
                }
            }
        }
        let outcome = match map_upnp(port, &protocols).await {
            Ok(x) => Ok(x),
            Err(upnp) => map_pmp(port, &protocols).await.map_err(|pmp| format!("{upnp}; {pmp}")),
        };
        let again = match outcome {
            Ok((m, held)) => {
                tracing::info!(
                    target: "goat",
                    "port {port} mapped on the gateway ({}): peers reach goat at {}",
                    m.service.as_deref().unwrap_or("?"),
                    m.external.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
                );
                let again = if m.error.is_some() { RETRY } else { renew_after(m.lease_seconds) };
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                s.mapping = m;
                s.mapped = Some(held);
                again
            }
            Err(why) => {
                tracing::info!(target: "goat", "port {port} not mapped: {why}");
                state.lock().unwrap_or_else(|e| e.into_inner()).mapping =
                    Mapping { error: Some(why), ..Mapping::default() };
                RETRY
            }
        };
        tokio::time::sleep(again).await;
    }
}

/// Renew what is held on its own gateway, with the lease it was given.
async fn renew(held: Held, port: u16, lease: u32) -> Result<Held, String> {
    match held {
        Held::Upnp(gw, protocols) => {
            let to = SocketAddr::new(local_ip_towards(gw.addr).map_err(|e| e.to_string())?, port);
            for p in &protocols {
                request(gw.add_port(*p, port, to, lease, DESCRIPTION)).await.map_err(said)?;
            }
            Ok(Held::Upnp(gw, protocols))
        }
        Held::Pmp(mut ms) => {
            for m in ms.iter_mut() {
                match tokio::time::timeout(REQUEST, m.renew()).await {
                    Ok(Ok(())) if m.lifetime() > 0 => {}
                    Ok(Ok(())) => return Err("the gateway granted no lifetime".into()),
                    Ok(Err(e)) => return Err(crate::text::line(&e.to_string())),
                    Err(_) => return Err("no answer".into()),
                }
            }
            Ok(Held::Pmp(ms))
        }
    }
}

/// When to renew a lease of `lease` seconds (a permanent one is checked
/// every `RETRY`, in case the gateway restarted and lost it).
fn renew_after(lease: u32) -> Duration {
    if lease == 0 {
        RETRY
    } else {
        let floor = if lease_secs() < LEASE.as_secs() as u32 { Duration::from_secs(1) } else { RENEW_FLOOR };
        Duration::from_secs(u64::from(lease) / 2).max(floor)
    }
}

/// Find a UPnP gateway and add (or renew) each mapping.
async fn map_upnp(port: u16, protocols: &[PortMappingProtocol]) -> Result<(Mapping, Held), String> {
    // Each gateway starts from goat's lease: one that takes only
    // permanent leases says so for itself.
    let mut lease = lease_secs();
    let mut opts = SearchOptions::default();
    opts.timeout = Some(SEARCH);
    opts.single_search_timeout = Some(SEARCH);
    let gw = igd_next::aio::tokio::search_gateway(opts)
        .await
        .map_err(|e| format!("no UPnP gateway answered ({})", crate::text::line(&e.to_string())))?;
    let local = local_ip_towards(gw.addr).map_err(|e| format!("no route to the gateway at {}: {e}", gw.addr))?;
    // The gateway's words: shown as one clean line.
    let service = crate::text::line(gw.service_type.rsplit_once(":service:").map_or(&*gw.service_type, |(_, s)| s));
    let mut m = Mapping { service: Some(service), lease_seconds: lease, ..Mapping::default() };
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let to = SocketAddr::new(local, port);
    for p in protocols {
        let mut r = request(gw.add_port(*p, port, to, lease, DESCRIPTION)).await;
        if matches!(r, Err(Some(AddPortError::OnlyPermanentLeasesSupported))) {
            lease = 0;
            m.lease_seconds = 0;
            r = request(gw.add_port(*p, port, to, 0, DESCRIPTION)).await;
        }
        match r {
            Ok(()) => {
                done.push(*p);
                m.protocols.push(p.to_string());
            }
            Err(e) => errors.push(format!("the gateway refused to map {p} port {port}: {}", said(e))),
        }
    }
    if done.is_empty() {
        return Err(errors.join("; "));
    }
    if let Ok(Ok(ip)) = tokio::time::timeout(REQUEST, gw.get_external_ip()).await {
        m.external = Some(SocketAddr::new(ip, port));
    }
    m.error = (!errors.is_empty()).then(|| errors.join("; "));
    Ok((m, Held::Upnp(gw, done)))
}

/// Map each protocol with PCP (NAT-PMP when the gateway answers only
/// that) at the default gateway.
async fn map_pmp(port: u16, protocols: &[PortMappingProtocol]) -> Result<(Mapping, Held), String> {
    let lease = lease_secs();
    let gateway = default_gateway().ok_or("NAT-PMP/PCP: no default gateway")?;
    let local = local_ip_towards(SocketAddr::new(gateway.into(), crab_nat::GATEWAY_PORT))
        .map_err(|e| format!("NAT-PMP/PCP: no route to the gateway at {gateway}: {e}"))?;
    let internal = std::num::NonZeroU16::new(port).ok_or("NAT-PMP/PCP: no port")?;
    let options = crab_nat::PortMappingOptions {
        external_port: Some(internal),
        lifetime_seconds: Some(lease.max(1)),
        timeout_config: Some(crab_nat::TimeoutConfig {
            initial_timeout: Duration::from_millis(250),
            max_retries: 3,
            max_retry_timeout: Some(Duration::from_secs(2)),
        }),
    };
    let mut held = Vec::new();
    let mut m = Mapping::default();
    for p in protocols {
        let proto = match p {
            PortMappingProtocol::TCP => crab_nat::InternetProtocol::Tcp,
            PortMappingProtocol::UDP => crab_nat::InternetProtocol::Udp,
        };
        let got = match tokio::time::timeout(
            REQUEST,
            crab_nat::PortMapping::new(gateway.into(), local, proto, internal, options),
        )
        .await
        {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                give_back(held).await;
                return Err(format!("NAT-PMP/PCP at {gateway}: {}", crate::text::line(&e.to_string())));
            }
            Err(_) => {
                give_back(held).await;
                return Err(format!("NAT-PMP/PCP: the gateway at {gateway} did not answer"));
            }
        };
        // Peers are told goat's own port: another external port reaches
        // no one, so it is given back; so is a mapping with no lifetime.
        if got.external_port() != internal || got.lifetime() == 0 {
            let why = if got.lifetime() == 0 {
                "granted no lifetime".to_string()
            } else {
                format!("offered external port {}, not {port}", got.external_port())
            };
            held.push(got);
            give_back(held).await;
            return Err(format!("NAT-PMP/PCP at {gateway}: {why}"));
        }
        m.service = Some(match got.mapping_type() {
            crab_nat::PortMappingType::NatPmp => "NAT-PMP".into(),
            crab_nat::PortMappingType::Pcp { .. } => "PCP".into(),
        });
        if let crab_nat::PortMappingType::Pcp { external_ip, .. } = got.mapping_type() {
            m.external = Some(SocketAddr::new(external_ip, port));
        }
        m.lease_seconds = got.lifetime();
        m.protocols.push(p.to_string());
        held.push(got);
    }
    if m.external.is_none() {
        if let Ok(Ok(ip)) =
            tokio::time::timeout(REQUEST, crab_nat::natpmp::external_address(gateway.into(), None)).await
        {
            m.external = Some(SocketAddr::new(ip.into(), port));
        }
    }
    Ok((m, Held::Pmp(held)))
}

/// Remove mappings made before a later one failed.
async fn give_back(held: Vec<crab_nat::PortMapping>) {
    for h in held {
        let _ = tokio::time::timeout(REQUEST, h.try_drop()).await;
    }
}

/// The IPv4 default gateway, from the kernel's routing table (Linux).
fn default_gateway() -> Option<std::net::Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Iface Destination Gateway Flags …; the default route has
        // destination 0 and the gateway flag (0x2); fields in host order.
        let flags = u16::from_str_radix(f.get(3)?, 16).ok()?;
        (*f.get(1)? == "00000000" && flags & 0x2 != 0)
            .then(|| u32::from_str_radix(f.get(2)?, 16).ok())
            .flatten()
            .map(|g| std::net::Ipv4Addr::from(g.to_le_bytes()))
    })
}

/// A gateway's refusal in one clean line (None: it did not answer).
fn said(e: Option<AddPortError>) -> String {
    e.map(|e| crate::text::line(&e.to_string())).unwrap_or_else(|| "no answer".into())
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

//! The listening port mapped on a UPnP gateway: Debian's miniupnpd in
//! network namespaces the test makes (tests/support/nat_gateway.sh), IGD
//! v1 and v2, reached from an outside host through the mapping.

use crate::harness::*;
use crate::reach::{goatfile, log_of, model, same, script, Model};
use std::process::Command;
use std::time::Duration;

/// A NAT gateway made of network namespaces (tests/support/nat_gateway.sh):
/// Debian's miniupnpd between a LAN and an outside host, removed when
/// dropped, on failure too.
struct Gateway {
    prefix: String,
    vars: std::collections::HashMap<String, String>,
}

impl Gateway {
    fn up(mode: &str) -> Gateway {
        let prefix = format!("gt{}{mode}", std::process::id());
        let out = Command::new("bash").arg(script("nat_gateway.sh")).args(["up", &prefix, mode]).output().unwrap();
        // Dropped (and so torn down) whatever happens next.
        let mut g = Gateway { prefix, vars: Default::default() };
        assert!(
            out.status.success(),
            "the test gateway did not start (tests/run.sh installs miniupnpd-nftables, nftables, miniupnpc; root is needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        g.vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        g
    }

    fn var(&self, k: &str) -> &str {
        &self.vars[k]
    }

    /// `prog args…` inside the namespace `ns` (LAN_NS, WAN_NS).
    fn exec(&self, ns: &str, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.var(ns), prog]);
        c
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script("nat_gateway.sh")).args(["down", &self.prefix]).output();
    }
}

/// `goat seed` behind a gateway (miniupnpd: UPnP IGD v1 or v2, or PCP
/// only) maps its port for TCP and uTP, says where it is reachable in `goat status`, is
/// reached from outside through the mapping over TCP and over uTP, and
/// removes the mapping when it stops.
fn upnp_mapping(mode: &str, service: &str, short_lease: bool) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let gw = Gateway::up(mode);
    let goat_bin = env!("CARGO_BIN_EXE_goat");
    let Model { src, payload, t, tfile } = model(w);
    let (lt_port, chain_port, http_port, goat_port) = (7101, 7102, 7103, 7104);

    // Inside the LAN: the origin (libtorrent on the LAN host's loopback),
    // the chain, and goat seed.
    let origin_log = w.join("origin.log");
    let _origin = Daemon::spawn(
        "python3-libtorrent",
        gw.exec("LAN_NS", "/usr/bin/python3")
            .arg(script("lt_peer.py"))
            .args(["--save", src.to_str().unwrap(), "--port", &lt_port.to_string(), "--lifetime", "200"])
            .args(["--torrent", tfile.to_str().unwrap()])
            .stdout(std::fs::File::create(&origin_log).unwrap()),
    );
    assert!(wait_for(Duration::from_secs(30), || log_of(&origin_log).contains("READY")), "{}", log_of(&origin_log));
    let gf = goatfile(w, &t.magnet_with_peer(lt_port));
    let chain_log = w.join("chain.log");
    let _chain = Daemon::spawn(
        "goat devchain",
        gw.exec("LAN_NS", goat_bin)
            .args(["devchain", "--listen", &format!("127.0.0.1:{chain_port}"), "--for", "200", "--goatfile", &gf])
            .stdout(std::fs::File::create(&chain_log).unwrap()),
    );
    assert!(wait_for(Duration::from_secs(30), || log_of(&chain_log).contains("goatfile ")), "{}", log_of(&chain_log));
    let field = |k: &str| {
        log_of(&chain_log).lines().find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string)).unwrap()
    };
    let (esplora, address) = (field("esplora"), field("address"));
    let seed_err = w.join("seed.stderr");
    let mut seed = Daemon::spawn(
        "goat seed",
        gw.exec("LAN_NS", goat_bin)
            .args(["--esplora", &esplora, "seed", &address, "-o", w.join("out").to_str().unwrap()])
            .args(["--state-dir", w.join("state").to_str().unwrap()])
            .args(["--http", &format!("127.0.0.1:{http_port}"), "--listen-port", &goat_port.to_string()])
            .args(["--no-dht", "--poll", "1s", "--run-for", "150"])
            .env("GOAT_TEST_LEASE_SECS", if short_lease { "6" } else { "" })
            .stderr(std::fs::File::create(&seed_err).unwrap()),
    );
    let status = || {
        let out = gw
            .exec("LAN_NS", goat_bin)
            .args(["status", "--http", &format!("127.0.0.1:{http_port}"), "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let reachable = format!("{}:{goat_port}", gw.var("WAN_IP"));
    assert!(
        wait_for(Duration::from_secs(90), || {
            let st = status();
            st["torrents"][0]["state"] == "seeding" && st["mapping"]["external"] == reachable.as_str()
        }),
        "goat seed did not seed and map its port: {}\n{}",
        status(),
        log_of(&seed_err)
    );
    let st = status();
    assert_eq!(st["mapping"]["service"], service, "{st}");
    assert_eq!(st["mapping"]["protocols"], serde_json::json!(["TCP", "UDP"]), "{st}");
    assert!(st["mapping"]["lease_seconds"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["utp"], true, "{st}");
    let human =
        gw.exec("LAN_NS", goat_bin).args(["status", "--http", &format!("127.0.0.1:{http_port}")]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains(&format!("reachable at {reachable} through the gateway ({service}")), "{human}");

    let rules = || {
        let out = gw.exec("GW_NS", "nft").args(["list", "ruleset"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let forwarded = |port: u16| format!("dport {port} dnat ip to {}:{port}", gw.var("LAN_IP"));
    if short_lease {
        // A 6 s lease beside one made by miniupnpc with the same lease and
        // never renewed: once the gateway has dropped that one, goat's is
        // still there, renewed.
        let control = gw
            .exec("LAN_NS", "upnpc")
            .args(["-e", "control", "-a", gw.var("LAN_IP"), "7300", "7300", "TCP", "6"])
            .output()
            .unwrap();
        assert!(rules().contains(&forwarded(7300)), "{}", String::from_utf8_lossy(&control.stdout));
        assert!(
            wait_for(Duration::from_secs(60), || !rules().contains(&forwarded(7300))),
            "the gateway never expired a 6 s lease:\n{}",
            rules()
        );
        assert!(rules().contains(&forwarded(goat_port)), "goat's 6 s lease was not renewed:\n{}", rules());
        assert_eq!(status()["mapping"]["lease_seconds"], 6);
    }

    // Outside: the WAN host has no route into the LAN, only the mapping.
    for (how, flag) in [("tcp", "--tcp-only"), ("utp", "--utp-only")] {
        let save = w.join(format!("outside-{how}"));
        let log = w.join(format!("outside-{how}.log"));
        let _peer = Daemon::spawn(
            "python3-libtorrent",
            gw.exec("WAN_NS", "/usr/bin/python3")
                .arg(script("lt_peer.py"))
                .args(["--bind", gw.var("PEER_IP"), "--save", save.to_str().unwrap(), "--port", "7201"])
                .args(["--lifetime", "90", "--torrent", tfile.to_str().unwrap(), flag, "--peer", &reachable])
                .stdout(std::fs::File::create(&log).unwrap()),
        );
        assert!(
            wait_for(Duration::from_secs(90), || log_of(&log).contains("DONE")),
            "{how}: the outside peer did not reach goat through the mapping: {}\ngoat: {}",
            log_of(&log),
            log_of(&seed_err)
        );
        assert!(log_of(&log).contains(&format!("PEER {reachable} {how}")), "{}", log_of(&log));
        same(&payload, &save.join("model"));
    }

    // Stopping removes the mapping: the gateway's forwarding rule for the
    // port goes with it.
    assert!(rules().contains(&forwarded(goat_port)), "no forwarding rule while mapped:\n{}", rules());
    assert_eq!(seed.interrupt(Duration::from_secs(20)), Some(0), "{}", log_of(&seed_err));
    assert!(!rules().contains(&forwarded(goat_port)), "the mapping outlived goat:\n{}", rules());
}

#[test]
fn upnp_igd_v1_maps_the_port_and_removes_it() {
    upnp_mapping("v1", "WANIPConnection:1", false);
}

/// v2, with a lease short enough to see goat renew it.
#[test]
fn upnp_igd_v2_maps_the_port_renews_and_removes_it() {
    upnp_mapping("v2", "WANIPConnection:2", true);
}

/// A gateway without UPnP: PCP maps the port instead.
#[test]
fn pcp_maps_the_port_when_no_upnp_gateway_answers() {
    upnp_mapping("pmp", "PCP", false);
}

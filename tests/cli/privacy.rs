//! Private and own-node fetching: SOCKS5 (microsocks, a proxy nobody here
//! wrote) carrying every Esplora request and peer connection from inside a
//! network namespace whose only way out is the proxy; `--tor` refusing to
//! start without Tor; HTTPS to an Esplora behind a CA made in the test.

use crate::fetch::seed_and_publish;
use crate::harness::{free_port, goat, wait_for, Daemon, Scene};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn malformed_proxies_are_refused_before_any_request() {
    let s = Scene::new();
    let addr = s.address();
    let h = s.serve();
    for bad in [
        "socks5h://",
        "socks4://127.0.0.1:9050",
        "ftp://127.0.0.1:21",
        "socks5h://127.0.0.1",
        "127.0.0.1:9050",
        "socks5h://127.0.0.1:9050/x",
    ] {
        goat().esplora(&h.url).args(["--esplora-proxy", bad, "resolve", &addr]).run().fails(2, "proxy");
    }
    assert!(h.state.requests().is_empty(), "a malformed proxy must stop goat before any request");
}

#[test]
fn tor_with_nothing_listening_refuses_to_start() {
    let s = Scene::new();
    let addr = s.address();
    let h = s.serve();
    let port = free_port();
    let out =
        goat().esplora(&h.url).args([&format!("--tor=127.0.0.1:{port}"), "fetch", &addr, "-o", "/nonexistent/x"]).run();
    out.fails(4, "does not answer");
    assert!(h.state.requests().is_empty(), "nothing may leave before Tor answers");
    assert!(!Path::new("/nonexistent/x").exists());
}

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl").current_dir(dir).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(st.expect("openssl (tests/run.sh installs it)").success(), "openssl {args:?}");
}

/// A CA made here, and a certificate it signed for 127.0.0.1.
fn test_ca(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=goat test CA"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[test]
fn https_esplora_behind_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    test_ca(d);
    let mut s = Scene::new();
    s.publish("own-node");
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    let dev = h.url.trim_start_matches("http://").to_string();
    let port = free_port();
    // socat (Debian's) is the TLS front, as nginx would be on a home node.
    let mut front = Command::new("socat");
    front.current_dir(d).args([
        format!("OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert=srv.pem,key=srv.key,verify=0"),
        format!("TCP:{dev}"),
    ]);
    let _front = Daemon::spawn("socat", front.stderr(Stdio::null()));
    assert!(wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let url = format!("https://127.0.0.1:{port}");
    let untrusted = goat().args(["--esplora", &url, "--retries", "1", "resolve", &addr]).run();
    untrusted.fails(4, "certificate");
    let before = h.state.requests().len();
    assert_eq!(before, 0, "an untrusted server gets no request through");
    let ca = d.join("ca.pem");
    let with_env = goat().args(["--esplora", &url, "resolve", &addr]).env("SSL_CERT_FILE", &ca).run().ok();
    assert!(with_env.stdout.contains("name: own-node"), "{}", with_env.stdout);
    let with_flag = goat().args(["--esplora", &url, "--esplora-ca"]).args([&ca]).args(["resolve", &addr]).run().ok();
    assert!(with_flag.stdout.contains("name: own-node"), "{}", with_flag.stdout);
}

/// A network namespace whose only neighbour is the host end of a veth pair
/// (198.18.N.1, where the proxy listens): no route anywhere else, not even
/// to the host's loopback where the chain and the seeder are. Removed on
/// drop, with everything in it.
pub struct Namespace {
    name: String,
    pub host_ip: String,
}

impl Namespace {
    pub fn new() -> Namespace {
        // Unique per namespace (tests run side by side) and per process.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = (std::process::id() * 7 + k) % 200 + 20;
        let name = format!("goat-priv-{}-{k}", std::process::id());
        let (host, peer) = (format!("gp{n}h"), format!("gp{n}n"));
        let host_ip = format!("198.18.{n}.1");
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip (iproute2)");
            assert!(st.success(), "ip {args:?} (the leak test needs root)");
        };
        ip(&["netns", "add", &name]);
        let ns = Namespace { name: name.clone(), host_ip: host_ip.clone() };
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        ip(&["-n", &name, "addr", "add", &format!("198.18.{n}.2/30"), "dev", &peer]);
        ip(&["-n", &name, "link", "set", &peer, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn exec(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// microsocks (Debian's) on the host end of `ns`'s veth, logging each
/// connection it makes to `log` (line-buffered): the proxy and its
/// host:port.
pub fn microsocks(ns: &Namespace, log: &std::path::Path) -> (Daemon, String) {
    let port = free_port();
    let mut ms = Command::new("stdbuf");
    ms.args(["-oL", "-eL", "microsocks", "-i", &ns.host_ip, "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    let daemon = Daemon::spawn("microsocks", &mut ms);
    let proxy = format!("{}:{port}", ns.host_ip);
    assert!(
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(&proxy).is_ok()),
        "microsocks did not start"
    );
    (daemon, proxy)
}

#[test]
fn socks5_carries_every_request_and_peer_from_a_namespace_with_no_other_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let payload = d.join("tiny-model");
    let (seeder, s, addr) = seed_and_publish(&payload, &[("model.bin", 400_000), ("config.json", 200)], "");
    let h = s.serve();
    let ns = Namespace::new();
    let log = d.join("microsocks.log");
    let (_proxy, proxy) = microsocks(&ns, &log);

    // Without the proxy nothing works in there: the chain is unreachable.
    let goat_bin = env!("CARGO_BIN_EXE_goat");
    let direct = ns
        .exec()
        .args([goat_bin, "--esplora", &h.url, "--retries", "1", "--timeout", "3", "resolve", &addr])
        .output()
        .unwrap();
    assert_eq!(
        direct.status.code(),
        Some(4),
        "the namespace must have no way out but the proxy: {}",
        String::from_utf8_lossy(&direct.stderr)
    );

    // goat fetch: Esplora through socks5h, peers through socks5.
    let out = d.join("got");
    let fetched = ns
        .exec()
        .args([goat_bin, "--esplora", &h.url, "--esplora-proxy", &format!("socks5h://{proxy}"), "fetch", &addr, "-o"])
        .arg(&out)
        .args(["--proxy", &format!("socks5://{proxy}"), "--metadata-timeout", "60"])
        .output()
        .unwrap();
    assert!(fetched.status.success(), "fetch through the proxy failed: {}", String::from_utf8_lossy(&fetched.stderr));
    assert_eq!(
        std::fs::read(out.join("tiny-model/model.bin")).unwrap(),
        std::fs::read(payload.join("model.bin")).unwrap()
    );
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    let dev = h.url.trim_start_matches("http://");
    assert!(seen.contains(&format!("connected to {dev}")), "Esplora went through the proxy: {seen}");
    assert!(
        seen.contains(&format!("connected to 127.0.0.1:{}", seeder.port)),
        "the peer connection went through the proxy: {seen}"
    );

    // --tor is the one switch for both halves.
    let out2 = d.join("got-tor");
    let tor = ns
        .exec()
        .args([goat_bin, "--esplora", &h.url, &format!("--tor={proxy}"), "fetch", &addr, "-o"])
        .arg(&out2)
        .output()
        .unwrap();
    assert!(tor.status.success(), "fetch --tor failed: {}", String::from_utf8_lossy(&tor.stderr));
    assert_eq!(
        std::fs::read(out2.join("tiny-model/model.bin")).unwrap(),
        std::fs::read(payload.join("model.bin")).unwrap()
    );

    // Electrum through the proxy as well.
    let el = ns
        .exec()
        .args([goat_bin, "--electrum", &h.electrum, &format!("--tor={proxy}"), "resolve", &addr])
        .output()
        .unwrap();
    assert!(
        el.status.success(),
        "resolve over Electrum through the proxy failed: {}",
        String::from_utf8_lossy(&el.stderr)
    );
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(seen.contains(&format!("connected to {}", h.electrum.trim_start_matches("tcp://"))), "{seen}");

    // goat seed polls through it too (its config file's keys).
    let cfg = d.join("seed.toml");
    std::fs::write(
        &cfg,
        format!(
            "esplora-proxy = \"socks5h://{proxy}\"\nproxy = \"socks5://{proxy}\"\nno-dht = true\nelectrum = [\"{}\"]\n",
            h.electrum
        ),
    )
    .unwrap();
    let seed_out = d.join("seed-out");
    let mut daemon = ns.exec();
    daemon
        .args([goat_bin, "seed", &addr, "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&seed_out)
        .arg("--state-dir")
        .arg(d.join("seed-state"))
        .args(["--poll", "1s", "--no-http", "--run-for", "90"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("seed.err")).unwrap());
    let _daemon = Daemon::spawn("goat seed", &mut daemon);
    let got = seed_out.join(&addr).join("tiny-model/model.bin");
    let ok = wait_for(Duration::from_secs(60), || std::fs::metadata(&got).map(|m| m.len() == 400_000).unwrap_or(false));
    assert!(
        ok,
        "goat seed did not fetch through the proxy: {}",
        std::fs::read_to_string(d.join("seed.err")).unwrap_or_default()
    );
    drop(seeder);
}

/// `goat --tor publish --seed` seeds as `goat --tor fetch --seed` does:
/// peer connections only through Tor's SOCKS port, and nothing listening
/// for peers (a listening port is announced to no one behind a proxy, and
/// would answer anyone who scans for it). It used to start a session of
/// its own that ignored --tor: listening on --listen-port, DHT on.
#[test]
fn publish_seed_with_tor_listens_for_no_peer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Scene::new();
    let who = crate::publish::holder(&mut s, 0x47, 200_000);
    let h = s.serve();
    let key = crate::publish::key_file(d, "holder.wif", &who.wif, 0o600);
    let model = d.join("tiny-model");
    crate::seeder::make_payload(&model, &[("model.bin", 300_000), ("config.json", 200)]);
    let ns = Namespace::new();
    let (_proxy, proxy) = microsocks(&ns, &d.join("microsocks.log"));
    let port = free_port();
    let goat_bin = env!("CARGO_BIN_EXE_goat");
    let mut cmd = ns.exec();
    cmd.args([goat_bin, "--esplora", &h.url, &format!("--tor={proxy}"), "publish"])
        .arg(&model)
        .arg("--key-file")
        .arg(&key)
        .args(["--network", "regtest", "--name", "tiny", "--fee-rate", "3", "--yes", "--seed"])
        .args(["--listen-port", &port.to_string(), "--seed-for", "60"])
        .stdout(std::fs::File::create(d.join("goat.stdout")).unwrap())
        .stderr(std::fs::File::create(d.join("goat.stderr")).unwrap());
    let mut publisher = Daemon::spawn("goat", &mut cmd);
    let stderr = || std::fs::read_to_string(d.join("goat.stderr")).unwrap_or_default();
    let seeding = wait_for(Duration::from_secs(60), || stderr().contains("checked, seeding"));
    assert!(seeding, "goat publish --seed did not start seeding through the proxy: {}", stderr());
    // Inside the namespace, nothing answers on the peer port; a port
    // something does listen on there answers the same probe.
    let probe = |port: u16| {
        ns.exec()
            .args(["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let control = free_port();
    let mut listener = ns.exec();
    listener.args([
        "python3",
        "-c",
        &format!("import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{control})); s.listen(1); time.sleep(30)"),
    ]);
    let mut listening = Daemon::spawn("python3", &mut listener);
    assert!(wait_for(Duration::from_secs(10), || probe(control)), "the probe does not see a listening port");
    listening.interrupt(Duration::from_secs(5));
    assert!(!probe(port), "goat publish --seed --tor listens on its peer port {port}");
    publisher.interrupt(Duration::from_secs(20));
}

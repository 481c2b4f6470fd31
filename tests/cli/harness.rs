//! A small command builder around the real `goat` binary, and scenes built
//! from genuine devchain transactions served by the Esplora test server.

use bitcoin::hashes::{sha256, Hash};
use goat::devchain::{server, Chain, Envelope, Inscribe, Inscribed, Wallet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Servers started by tests stop by themselves after this.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(300);
/// A goat run taking longer than this is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);

pub struct Out {
    pub code: i32,
    /// The run's peak resident memory, in bytes: the kernel's high-water
    /// mark (VmHWM), read while it runs. (ru_maxrss would count the test
    /// process too: a spawned child shares its memory until exec.)
    pub peak_rss: u64,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "goat failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    /// Expect exit `code` and a one-line error containing `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Out {
        assert_eq!(self.code, code, "wrong exit code:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.contains(needle), "stderr lacks '{needle}': {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        let errors: Vec<_> = self.stderr.lines().filter(|l| l.starts_with("goat: error:")).collect();
        assert_eq!(errors.len(), 1, "want exactly one error line: {}", self.stderr);
        self
    }
}

pub struct Goat {
    cmd: Command,
    ceiling: Option<u64>,
}

/// Data (heap and private mappings) a goat run may use with
/// `Goat::memory_ceiling`: a regression that grows without bound fails
/// the test instead of starving the machine.
pub const CEILING: u64 = 1 << 30;

pub fn goat() -> Goat {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_goat"));
    cmd.env_remove("GOAT_ESPLORA").env_remove("GOAT_ELECTRUM").env_remove("GOAT_LOG");
    // No test finds this machine's own Hugging Face cache (local copies):
    // those that use one name it.
    cmd.env("HF_HUB_CACHE", "/nonexistent/goat-tests/hf-cache");
    Goat { cmd, ceiling: None }
}

impl Goat {
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, a: I) -> Self {
        self.cmd.args(a);
        self
    }
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }
    pub fn current_dir(mut self, dir: &std::path::Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }
    pub fn esplora(self, url: &str) -> Self {
        self.args(["--esplora", url])
    }
    /// Run under RLIMIT_DATA = `bytes` (through util-linux's `prlimit`):
    /// past it, allocations fail and goat aborts (the test then fails on
    /// its exit code). Not a `pre_exec` hook: that makes std fork the test
    /// process, and the child's peak memory would count the whole test's.
    pub fn memory_ceiling(mut self, bytes: u64) -> Self {
        self.ceiling = Some(bytes);
        self
    }
    pub fn run(mut self) -> Out {
        if let Some(bytes) = self.ceiling {
            let mut c = Command::new("prlimit");
            c.arg(format!("--data={bytes}")).arg("--").arg(self.cmd.get_program()).args(self.cmd.get_args());
            for (k, v) in self.cmd.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            if let Some(d) = self.cmd.get_current_dir() {
                c.current_dir(d);
            }
            self.cmd = c;
        }
        let mut child =
            self.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn goat");
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t1 = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = so.read_to_end(&mut v);
            v
        });
        let t2 = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = se.read_to_end(&mut v);
            v
        });
        let start = Instant::now();
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_rss = 0u64;
        let status = loop {
            if let Ok(s) = std::fs::read_to_string(&status_file) {
                let hwm = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                peak_rss = peak_rss.max(hwm.unwrap_or(0) * 1024);
            }
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                let err = String::from_utf8_lossy(&t2.join().unwrap()).into_owned();
                let tail: String =
                    err.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("goat ran longer than {RUN_LIMIT:?}; stderr ends:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout_bytes = t1.join().unwrap();
        let stderr = String::from_utf8_lossy(&t2.join().unwrap()).into_owned();
        Out {
            code: status.code().unwrap_or(-1),
            peak_rss,
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stdout_bytes,
            stderr,
        }
    }
}

/// A chain with a funded holder and a funded stranger.
pub struct Scene {
    pub chain: Chain,
    pub holder: Wallet,
    pub stranger: Wallet,
    /// The sequence of the holder's last signed goatfile.
    pub sequence: u64,
}

impl Scene {
    pub fn new() -> Scene {
        let mut chain = Chain::new();
        let holder = chain.wallet();
        let stranger = chain.wallet();
        chain.fund(&holder.script_pubkey(), 50_000_000);
        chain.fund(&stranger.script_pubkey(), 50_000_000);
        chain.mine();
        Scene { chain, holder, stranger, sequence: 0 }
    }

    pub fn address(&self) -> String {
        self.holder.address.to_string()
    }

    /// `who` inscribes `body` and sends it to the holder. When `who` is the
    /// holder, it publishes as `goat publish` does: a YAML body is signed
    /// by its address (the next sequence, after the current block), and
    /// the reveal also spends one of its coins.
    pub fn inscribe_to_holder(&mut self, who: &Wallet, content_type: &str, body: &[u8]) -> Inscribed {
        let to = self.holder.script_pubkey();
        let own = who.address == self.holder.address;
        let envelope = if own && content_type.contains("yaml") {
            self.sequence += 1;
            let m = who.sign_goatfile(body, self.sequence, self.chain.height());
            Envelope::file_with_metadata(content_type, None, &m, body)
        } else {
            Envelope::file(content_type, None, body)
        };
        self.chain.inscribe(Inscribe {
            funder: who,
            inputs: vec![vec![envelope]],
            to,
            reveal_input_from: if own { Some(who) } else { None },
        })
    }

    /// The holder publishes unsigned, as goat did before goatfiles were
    /// signed: endorsed only by its own reveal input.
    pub fn publish_unsigned(&mut self, name: &str) -> Inscribed {
        let h = self.holder.clone();
        let to = h.script_pubkey();
        let envelope = Envelope::file("text/yaml", None, goatfile(name).as_bytes());
        self.chain.inscribe(Inscribe { funder: &h, inputs: vec![vec![envelope]], to, reveal_input_from: Some(&h) })
    }

    /// The holder publishes a goatfile as `goat publish` does: signed by
    /// its address with the next sequence, and inscribed with one of its
    /// coins in the reveal.
    pub fn publish(&mut self, name: &str) -> Inscribed {
        let h = self.holder.clone();
        self.inscribe_to_holder(&h, "text/yaml", goatfile(name).as_bytes())
    }

    /// A co-signer's goatfile `name`: the stranger's input carries the
    /// envelope, and the holder signs the whole reveal (its own coin in
    /// it) as it would a payjoin or a swap. Meets the unsigned
    /// reveal-input rule.
    pub fn cosigned(&mut self, name: &str) -> Inscribed {
        let (holder, stranger) = (self.holder.clone(), self.stranger.clone());
        self.chain.inscribe(Inscribe {
            funder: &stranger,
            inputs: vec![vec![Envelope::file("text/yaml", None, goatfile(name).as_bytes())]],
            to: holder.script_pubkey(),
            reveal_input_from: Some(&holder),
        })
    }

    /// The holder publishes the `ord wallet inscribe` way: it funds the
    /// commit, and nothing else of the holder's is in the reveal. On chain
    /// this is the same shape as a payee's spoof (only funded-commit).
    pub fn publish_ord_way(&mut self, name: &str) -> Inscribed {
        let h = self.holder.clone();
        let to = h.script_pubkey();
        self.chain.inscribe(Inscribe {
            funder: &h,
            inputs: vec![vec![Envelope::file("text/yaml", None, goatfile(name).as_bytes())]],
            to,
            reveal_input_from: None,
        })
    }

    pub fn serve(self) -> server::Handle {
        server::Handle::start(self.chain, SERVER_LIFETIME).expect("start esplora test server")
    }
}

/// A scene whose holder published the goatfile `model` (mined), and the
/// holder's address. The devchain is deterministic: two calls give the
/// same chain, for tests with an honest and a lying server.
pub fn published() -> (Scene, String) {
    let mut s = Scene::new();
    s.publish("model");
    s.chain.mine();
    let a = s.address();
    (s, a)
}

/// A v1 goatfile with one magnet entry named `name`.
pub fn goatfile(name: &str) -> String {
    let h = sha256::Hash::hash(name.as_bytes()).to_string();
    format!(
        "goat: 1\nname: {name}\nentries:\n  - name: {name}\n    magnet: \"magnet:?xt=urn:btih:{}&dn={name}\"\n",
        &h[..40]
    )
}

/// How many logged requests have a path containing `needle`.
pub fn count(handle: &server::Handle, needle: &str) -> usize {
    handle.state.requests().iter().filter(|r| r.path.contains(needle)).count()
}

/// A child process killed (SIGKILL) when dropped, so no test leaves a
/// daemon behind.
pub struct Daemon {
    pub child: std::process::Child,
}

impl Daemon {
    pub fn spawn(name: &str, cmd: &mut Command) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}): run tests through tests/run.sh, which installs it"));
        Daemon { child }
    }

    /// Send SIGINT and wait (at most `limit`) for the exit code.
    pub fn interrupt(&mut self, limit: Duration) -> Option<i32> {
        self.interrupt_with("INT", limit)
    }

    /// Send `sig` and wait (at most `limit`) for the exit code.
    pub fn interrupt_with(&mut self, sig: &str, limit: Duration) -> Option<i32> {
        send_signal(self.child.id(), sig);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signals through the `kill` command (no libc binding needed in tests).
pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([format!("-{sig}"), pid.to_string()]).status();
}

/// A free TCP port on 127.0.0.1 (also free for UDP, checked).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Wait until `f` holds, at most `limit`; false on timeout.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Goat {
    /// Start goat in the background with stdout/stderr to files in `dir`.
    pub fn spawn(mut self, dir: &std::path::Path) -> Daemon {
        let out = std::fs::File::create(dir.join("goat.stdout")).unwrap();
        let err = std::fs::File::create(dir.join("goat.stderr")).unwrap();
        self.cmd.stdout(out).stderr(err);
        Daemon::spawn("goat", &mut self.cmd)
    }
}

/// `goat --esplora URL fetch ADDR -o DIR --no-dht --loopback`: the test
/// setting (loopback peers only).
pub fn fetch(esplora: &str, addr: &str, dir: &std::path::Path) -> Goat {
    goat().esplora(esplora).args(["fetch", addr, "-o"]).args([dir]).args(["--no-dht", "--loopback"])
}

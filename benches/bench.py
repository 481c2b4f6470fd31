#!/usr/bin/python3
"""goat's benchmarks (run through benches/run.sh, which installs the peers).

Everything runs on 127.0.0.1 on this machine: an opentracker, seeders from
python3-libtorrent, the goat devchain (genuine transactions behind an
Esplora-compatible API) and, as leechers, goat and three clients nobody
here wrote. Each figure is printed beside the peers' on the same data in
the same run, then written to docs/benchmarks.md with a chart.
"""
import argparse, json, os, platform, re, shutil, signal, socket, statistics
import shlex, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAT = Path(os.environ.get("GOAT_BENCH_BIN", ROOT / "target" / "release" / "goat"))
LT_SEED = ROOT / "tests" / "support" / "lt_seed.py"
LT_LEECH = ROOT / "benches" / "lt_leech.py"
PY = "/usr/bin/python3"


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", p))
            u.close()
            return p
        except OSError:
            pass


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s.strip().upper())
    if not m:
        sys.exit(f"bad size {s!r} (e.g. 512M, 2G)")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def human(n):
    for u in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or u == "GiB":
            return f"{n:.0f} {u}" if u == "B" else f"{n:.1f} {u}"
        n /= 1024


MARGIN_GB = int(os.environ.get("ROOM_MARGIN_GB", "20"))


def room(path, need_bytes):
    """The same rule and message as ../shared/bin/room (which a user's clone
    does not have): the bytes needed plus a 20 GB margin, or refuse with
    one line."""
    st = os.statvfs(path)
    free_gb = st.f_bavail * st.f_frsize // (1 << 30)
    need_gb = -(-need_bytes // (1 << 30))
    if free_gb < need_gb + MARGIN_GB:
        sys.exit(f"room: {path} has {free_gb} GB free; this needs {need_gb} GB plus a {MARGIN_GB} GB margin: "
                 "free some space or run a smaller case")


LAST_READ_MB = [0.0]
LAST_CPU_S = [0.0]


def timed(cmd, **kw):
    """Run under /usr/bin/time; return (seconds, peak RSS MB, returncode, stderr).
    The bytes the command read from disk (GNU time %I, 512-byte blocks: page
    cache hits do not count) are left in LAST_READ_MB, its CPU seconds (user +
    system) in LAST_CPU_S."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M %I %U %S", "-o", tf.name] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)
        dt = time.monotonic() - t0
        try:
            rss, blocks, user, system = open(tf.name).read().strip().splitlines()[-1].split()
            rss_kb, blocks, cpu = int(rss), int(blocks), float(user) + float(system)
        except (ValueError, IndexError):
            rss_kb, blocks, cpu = 0, 0, 0.0
    LAST_READ_MB[0] = blocks * 512 / 1e6
    LAST_CPU_S[0] = cpu
    return dt, rss_kb / 1024, p.returncode, p.stderr


class MemCgroup:
    """A cgroup v1 memory group (page cache included) a command runs in, so
    a payload can be larger than the memory a client may use."""

    def __init__(self, name, limit_mib):
        self.path = Path("/sys/fs/cgroup/memory") / f"goat-bench-{os.getpid()}-{name}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit_mib << 20))

    def wrap(self, cmd):
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh"] + cmd

    def close(self):
        for _ in range(50):
            try:
                (self.path / "memory.force_empty").write_text("0")
            except OSError:
                pass
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def make_payload(dir_, size):
    """Four files (50/30/19/1 %) of AES-CTR keystream: fast and incompressible."""
    dir_.mkdir(parents=True, exist_ok=True)
    shares = [("model-00001-of-00003.safetensors", 0.50), ("model-00002-of-00003.safetensors", 0.30),
              ("model-00003-of-00003.safetensors", 0.19)]
    sizes = [(n, int(size * f)) for n, f in shares]
    sizes.append(("tokenizer.json", size - sum(s for _, s in sizes)))
    for i, (name, n) in enumerate(sizes):
        keystream(dir_ / name, n, i + 1)
    return sizes


def keystream(path, n, key):
    """n bytes of AES-CTR keystream under the integer `key` into `path`:
    fast and incompressible."""
    with open(path, "wb") as out:
        enc = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-K", f"{key:032x}", "-iv", "0" * 32, "-in",
                                "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        left = n
        while left > 0:
            b = enc.stdout.read(min(left, 1 << 22))
            out.write(b)
            left -= len(b)
        enc.kill()
        enc.wait()


def sha1_speed_mb_s(cores=1):
    """OpenSSL's SHA-1 over 16 KiB blocks for 3 s, in MB/s, on `cores`
    processes (`openssl speed -multi`): this machine's hashing ceiling."""
    multi = ["-multi", str(cores)] if cores > 1 else []
    out = subprocess.run(["openssl", "speed"] + multi + ["-evp", "sha1", "-seconds", "3", "-bytes", "16384"],
                         capture_output=True, text=True).stdout
    m = re.findall(r"^sha1\s+([\d.]+)k", out, re.M)
    return float(m[-1]) * 1000 / 1e6 if m else 0.0


def make_torrent(dir_, announce, out, piece=4 << 20):
    import libtorrent as lt
    fs = lt.file_storage()
    lt.add_files(fs, str(dir_))
    t = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    t.add_tracker(announce)
    lt.set_piece_hashes(t, str(dir_.parent))
    data = lt.bencode(t.generate())
    out.write_bytes(data)
    return str(lt.torrent_info(str(out)).info_hash())


class Procs:
    """Background servers; all stopped at exit."""

    def __init__(self):
        self.ps = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)
        self.ps.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in self.ps:
            self.stop(p)


def wait_until(f, limit, what):
    t0 = time.time()
    while time.time() - t0 < limit:
        if f():
            return
        time.sleep(0.1)
    sys.exit(f"bench: {what} did not happen within {limit}s")


def tracked_torrent(procs, work, payload, name, entry="payload", piece=4 << 20):
    """A v1 torrent of `payload` (`piece`-byte pieces) announcing to a fresh
    opentracker (Debian's runs in whitelist mode: the info-hash is listed
    first). Returns the .torrent path, info-hash, a goatfile naming it
    `entry`, and the tracker process."""
    tport = free_port()
    announce = f"http://127.0.0.1:{tport}/announce"
    torrent = work / f"{name}.torrent"
    ih = make_torrent(payload, announce, torrent, piece)
    (work / "whitelist").write_text(ih + "\n")
    tr = procs.start(["opentracker", "-i", "127.0.0.1", "-p", str(tport), "-P", str(tport), "-d", str(work),
                      "-w", "/whitelist"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", tport)) == 0, 10, "opentracker")
    goatfile = work / f"{name}.yaml"
    goatfile.write_text(f'goat: 1\nname: {entry}\nentries:\n  - name: {entry}\n    magnet: "magnet:?xt=urn:btih:{ih}'
                        f'&dn={entry}&tr={announce.replace(":", "%3A").replace("/", "%2F")}"\n')
    return torrent, ih, goatfile, tr


def start_seeders(procs, work, torrent, save, n):
    ports = []
    for i in range(n):
        port = free_port()
        log = work / f"seed{i}.log"
        procs.start([PY, str(LT_SEED), str(torrent), str(save), str(port), "7200"], stdout=open(log, "w"))
        ports.append((port, log))
    for port, log in ports:
        wait_until(lambda: "SEEDING" in log.read_text(), 600, f"libtorrent seeder on {port}")
    return [p for p, _ in ports]


def start_devchain(procs, work, goatfile, extra=()):
    out = work / f"devchain-{time.monotonic_ns()}.out"
    cmd = [str(GOAT), "devchain", "--for", "7200", "--goatfile", str(goatfile)] + list(extra)
    p = procs.start(cmd, stdout=open(out, "w"), stderr=subprocess.DEVNULL)
    wait_until(lambda: "goatfile" in out.read_text(), 900, "devchain")
    kv = dict(line.split(" ", 1) for line in out.read_text().splitlines())
    return p, kv["esplora"], kv["address"]


def leech_commands(client, torrent, dest, esplora, address):
    port = str(free_port())
    if client == "goat":
        return [str(GOAT), "--esplora", esplora, "-q", "fetch", address, "-o", str(dest), "--no-dht", "--loopback",
                "--listen-port", port]
    if client.startswith("goat "):
        # "goat --no-verify", "goat --runtime current-thread", and
        # environment settings: "goat GOAT_PIECE_BUFFER_MIB=0"
        words = client.split()[1:]
        env = [w for w in words if "=" in w and not w.startswith("-")]
        flags = [w for w in words if w not in env]
        return (["env"] + env if env else []) + leech_commands("goat", torrent, dest, esplora, address) + flags
    if client == "aria2c":
        return ["aria2c", "--dir", str(dest), "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
                "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=none",
                "--summary-interval=0", "--console-log-level=error", "--disable-ipv6=true",
                f"--listen-port={port}", "--bt-max-peers=0", str(torrent)]
    if client == "libtorrent":
        return [PY, str(LT_LEECH), str(torrent), str(dest), port]
    if client == "transmission-cli":
        finish = dest.parent / "tr-finish.sh"
        finish.write_text("#!/bin/sh\nkill $PPID\n")
        finish.chmod(0o755)
        return ["transmission-cli", "-w", str(dest), "-g", str(dest.parent / "tr-config"), "-f", str(finish),
                "-p", port, "-M", "-ep", str(torrent)]
    raise ValueError(client)


def complete(dest, src, files, name="payload"):
    """Every file there (under dest/name), full size, and equal to the
    source at its start, middle and end (each client checks every piece
    itself; this catches a client that stopped early over preallocated
    files)."""
    for n, size in files:
        a, b = dest / name / n, src / n
        if not a.exists() or a.stat().st_size != size:
            return False
        with open(a, "rb") as x, open(b, "rb") as y:
            for off in (0, size // 2, max(0, size - (1 << 20))):
                x.seek(off)
                y.seek(off)
                if x.read(1 << 20) != y.read(1 << 20):
                    return False
    return True


def run_case(label, clients, runs, size, payload, files, work):
    """Each client `runs` times, interleaved; one copy on disk at a time.
    Returns per client the median MB/s and seconds, the peak RSS MB and the
    median CPU seconds (user + system)."""
    got = {c: ([], [], []) for c in clients}
    for r in range(runs):
        for name, make in clients.items():
            dest = work / "leech" / name.replace(" ", "_")
            shutil.rmtree(work / "leech", ignore_errors=True)
            dest.mkdir(parents=True)
            dt, mb, rc, err = timed(make(dest), timeout=3600)
            cpu = LAST_CPU_S[0]
            ok = complete(dest, payload, files)
            print(f"  {label:28} {name:36} run {r + 1}: " + (f"{size / dt / 1e6:8.1f} MB/s {dt:6.1f} s CPU {cpu:6.1f} s"
                  f" peak RSS {mb:6.1f} MB" if ok else f"FAILED rc {rc}: {err.strip()[-300:]}"), flush=True)
            if ok:
                for lst, v in zip(got[name], (dt, mb, cpu)):
                    lst.append(v)
    shutil.rmtree(work / "leech", ignore_errors=True)
    return {n: (size / statistics.median(t) / 1e6, statistics.median(t), max(m), statistics.median(c))
            for n, (t, m, c) in got.items() if t}


def bench_download(procs, work, size, runs, seeders, clients, results, label, mem_limit=None):
    payload = work / "src" / "payload"
    files = make_payload(payload, size) if not payload.exists() else [
        (f.name, f.stat().st_size) for f in sorted(payload.iterdir())]
    torrent, ih, goatfile, tr = tracked_torrent(procs, work, payload, "payload")
    seeds = start_seeders(procs, work, torrent, payload.parent, seeders)
    dc, esplora, address = start_devchain(procs, work, goatfile)
    print(f"\n== download {human(size)} ({len(files)} files), {seeders} libtorrent seeder(s), {runs} run(s) ==",
          flush=True)
    # Rounds are interleaved (every client once, then again), so no client
    # always runs first: on this VM the first writes into memory the guest
    # has not touched yet cost far more (host page faults), which once made
    # whichever client ran first look slow.
    runs_of = {c: ([], [], []) for c in clients}
    for r in range(runs):
        for client in clients:
            times, rss, reads = runs_of[client]
            dest = work / "leech" / client.replace(" ", "_")
            shutil.rmtree(dest.parent, ignore_errors=True)
            dest.mkdir(parents=True)
            cmd = leech_commands(client, torrent, dest, esplora, address)
            group = MemCgroup(client.replace(" ", "_").replace("-", "").replace("=", ""), mem_limit) if mem_limit else None
            if group:
                cmd = group.wrap(cmd)
            # goat writes DIR/<entry>/..., the others DIR/<torrent name>/...
            try:
                dt, mb, rc, err = timed(cmd, timeout=3600)
            finally:
                if group:
                    group.close()
            read_mb = LAST_READ_MB[0]
            ok = complete(dest, payload, files)
            if not ok:
                print(f"  {client}: run {r + 1} FAILED (rc {rc}): {err.strip()[-300:]}", flush=True)
                continue
            times.append(dt)
            rss.append(mb)
            reads.append(read_mb)
            print(f"  {client:18} run {r + 1}: {size / dt / 1e6:8.1f} MB/s  {dt:6.1f} s  peak RSS {mb:6.1f} MB"
                  f"  read from disk {read_mb:8.1f} MB", flush=True)
    shutil.rmtree(work / "leech", ignore_errors=True)
    rows = {}
    for client, (times, rss, reads) in runs_of.items():
        if times:
            med = statistics.median(times)
            rows[client] = {"mb_s": size / med / 1e6, "seconds": med, "rss_mb": max(rss), "runs": len(times),
                            "read_mb": max(reads)}
    procs.stop(dc)
    for s in procs.ps[-(seeders + 2):]:
        procs.stop(s)
    procs.stop(tr)
    results.append({"case": label, "size": size, "seeders": seeders, "rows": rows})
    return files


def bench_verify(work, size, results):
    """goat verify vs sha1sum vs openssl's single-core SHA-1 speed (warm cache)."""
    payload = work / "src" / "payload"
    # A goat folder for the payload: fetched once from a libtorrent seeder
    # would cost another download; instead point goat verify at a fetch kept
    # by the download bench (see main), or skip.
    dest = work / "kept"
    if not dest.exists():
        return
    files = [str(p) for p in sorted((dest / "payload").iterdir())]
    # The copy was just downloaded: let the kernel finish writing it back
    # first, or verify is measured against the flusher threads on 2 cores.
    subprocess.run(["sync"])
    subprocess.run(["cat"] + files, stdout=subprocess.DEVNULL)  # warm the page cache
    g = [timed([str(GOAT), "verify", str(dest)])[0] for _ in range(3)]
    s = [timed(["sha1sum"] + files)[0] for _ in range(3)]
    limit = sha1_speed_mb_s() / 1e3
    cores = os.cpu_count() or 1
    row = {"goat_verify_gb_s": size / min(g) / 1e9, "sha1sum_gb_s": size / min(s) / 1e9,
           "openssl_sha1_core_gb_s": limit, "cores": cores}
    row["goat_vs_limit"] = row["goat_verify_gb_s"] / (limit * cores) if limit else 0
    print(f"\n== verify {human(size)} (page cache warm) ==\n  goat verify {row['goat_verify_gb_s']:.2f} GB/s"
          f" ({cores} cores)  sha1sum {row['sha1sum_gb_s']:.2f} GB/s  openssl sha1 {limit:.2f} GB/s per core"
          f"  goat/limit {row['goat_vs_limit'] * 100:.0f}% of {cores} cores", flush=True)
    results.append({"case": "verify", "size": size, "row": row})


def bench_walk(procs, work, counts, results):
    gf = work / "walk.yaml"
    gf.write_text("goat: 1\nname: walk\nentries:\n  - name: x\n    magnet: \"magnet:?xt=urn:btih:" + "ab" * 20 + "\"\n")
    print("\n== address walk (goat devchain, genuine transactions) ==", flush=True)
    rows = []
    for n in counts:
        for last in (False, True):
            p, esplora, address = start_devchain(procs, work, gf, ["--history", str(n)] + (["--goatfile-last"] if last else []))
            txs = n + 3 + (1 if n else 0)  # funding, commit, reveal, payer funding
            for cmd in ("resolve", "ls"):
                if cmd == "ls" and last:
                    continue
                dt, mb, rc, err = timed([str(GOAT), "--esplora", esplora, "-v", cmd, address])
                m = re.search(r"goat: (\d+) requests", err)
                reqs = int(m.group(1)) if m else -1
                where = "recent" if last else "old"
                label = f"{cmd} ({where} goatfile)" if cmd == "resolve" else "ls"
                rows.append({"transactions": n, "command": label, "seconds": dt, "requests": reqs, "rss_mb": mb,
                             "history_pages": -(-txs // 25)})
                print(f"  {n:>7} txs  {label:26} {dt:7.2f} s  {reqs:6} requests (ceil(n/25) = {-(-txs // 25)})"
                      f"  peak RSS {mb:5.1f} MB", flush=True)
            procs.stop(p)
    results.append({"case": "walk", "rows": rows})


def bench_seed(procs, work, size, leechers, results):
    """goat seed serving `leechers` concurrent aria2c downloads alone."""
    payload = work / "src" / "payload"
    kept = work / "kept"
    if not kept.exists():
        return
    torrent, ih, gf, tr = tracked_torrent(procs, work, payload, "seed")
    start_seeders(procs, work, torrent, payload.parent, 1)
    dc, esplora, address = start_devchain(procs, work, gf)
    out, state, hport = work / "seed-out", work / "seed-state", free_port()
    g = procs.start([str(GOAT), "--esplora", esplora, "seed", address, "-o", str(out), "--state-dir", str(state),
                     "--no-dht", "--loopback", "--http", f"127.0.0.1:{hport}", "--listen-port", str(free_port())],
                    stdout=subprocess.DEVNULL, stderr=open(work / "seed.log", "w"))

    def seeding():
        try:
            import urllib.request
            s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{hport}/status", timeout=2))
            return any(t["state"] == "seeding" for t in s["torrents"])
        except Exception:
            return False
    wait_until(seeding, 1800, "goat seed seeding")
    # goat alone from here: stop the libtorrent seeder.
    procs.stop([p for p in procs.ps if p.args and str(LT_SEED) in p.args][-1])

    def cpu_and_hwm():
        st = open(f"/proc/{g.pid}/stat").read().split(")")[1].split()
        ticks = int(st[11]) + int(st[12])
        hwm = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{g.pid}/status").read()).group(1))
        return ticks / os.sysconf("SC_CLK_TCK"), hwm / 1024
    cpu0, _ = cpu_and_hwm()
    t0 = time.monotonic()
    ls = []
    for i in range(leechers):
        d = work / f"seedleech{i}"
        ls.append(procs.start(leech_commands("aria2c", torrent, d, "", ""), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL))
    for p in ls:
        p.wait(3600)
    dt = time.monotonic() - t0
    cpu1, hwm = cpu_and_hwm()
    ok = all((work / f"seedleech{i}" / "payload" / n).stat().st_size == s
             for i in range(leechers) for n, s in [(f.name, f.stat().st_size) for f in payload.iterdir()])
    row = {"leechers": leechers, "seconds": dt, "served_mb_s": size * leechers / dt / 1e6,
           "cpu_percent": (cpu1 - cpu0) / dt * 100, "peak_rss_mb": hwm, "all_complete": ok}
    print(f"\n== goat seed: {human(size)} to {leechers} aria2c leechers at once ==\n  {dt:.1f} s, "
          f"{row['served_mb_s']:.1f} MB/s served, goat CPU {row['cpu_percent']:.0f}% of one core, "
          f"peak RSS {hwm:.1f} MB, all complete: {ok}", flush=True)
    g.send_signal(signal.SIGTERM)
    g.wait(30)
    for i in range(leechers):
        shutil.rmtree(work / f"seedleech{i}", ignore_errors=True)
    procs.stop(dc)
    procs.stop(tr)
    results.append({"case": "seed", "size": size, "row": row})


def keep_goat_copy(procs, work, size):
    """One goat fetch kept on disk for the verify and seed benches."""
    payload = work / "src" / "payload"
    torrent, ih, gf, tr = tracked_torrent(procs, work, payload, "keep")
    start_seeders(procs, work, torrent, payload.parent, 1)
    dc, esplora, address = start_devchain(procs, work, gf)
    subprocess.run([str(GOAT), "--esplora", esplora, "-q", "fetch", address, "-o", str(work / "kept"), "--no-dht",
                    "--loopback"], check=True)
    procs.stop(dc)
    procs.stop([p for p in procs.ps if p.args and str(LT_SEED) in p.args][-1])
    procs.stop(tr)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) // (1 << 20)
    v = lambda c: subprocess.run(c, capture_output=True, text=True).stdout.strip().splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "kernel": platform.release(),
            "goat": v([str(GOAT), "--version"]), "aria2c": v(["aria2c", "--version"]),
            "transmission-cli": v(["transmission-cli", "--version"]) if shutil.which("transmission-cli") else "-",
            "libtorrent": subprocess.run([PY, "-c", "import libtorrent; print(libtorrent.__version__)"],
                                         capture_output=True, text=True).stdout.strip()}


def write_docs(results, m, argv):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dl = [r for r in results if r["case"].startswith("download")]
    fig, axes = plt.subplots(1, max(1, len(dl)), figsize=(5 * max(1, len(dl)), 4), squeeze=False)
    for ax, r in zip(axes[0], dl):
        names = list(r["rows"])
        ax.barh(names, [r["rows"][n]["mb_s"] for n in names],
                color=["#d9822b" if n.startswith("goat") else "#5b7fa6" for n in names])
        ax.set_title(f"{human(r['size'])}, {r['seeders']} seeder(s)" + (r["case"][8:] if " in " in r["case"] else ""))
        ax.set_xlabel("MB/s (median)")
        ax.invert_yaxis()
    fig.suptitle("Download throughput on loopback (higher is better)")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "benchmarks.png", dpi=100)

    L = ["# Benchmarks", "",
         "Measured by `bash benches/run.sh " + shlex.join(argv) + "` (all on 127.0.0.1: opentracker, python3-libtorrent",
         "seeders, the goat devchain as Esplora). Figures are from one run on the machine below; they are",
         "not asserted by any test. Re-run the command to reproduce them on your machine.", "",
         f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB RAM, Linux {m['kernel']}.  ",
         f"Versions: {m['goat']}; {m['aria2c']}; {m['transmission-cli']}; python3-libtorrent {m['libtorrent']}.", "",
         "![download throughput](benchmarks.png)", ""]
    for r in dl:
        best_peer = max((v["mb_s"] for k, v in r["rows"].items() if not k.startswith("goat")), default=0)
        limit = r["case"][8:] if " in " in r["case"] else ""
        L += [f"## Download: {human(r['size'])}, {r['seeders']} libtorrent seeder(s){limit}", "",
              "| leecher | MB/s (median) | seconds | peak RSS MB | read from disk MB | vs best peer |",
              "|---|---|---|---|---|---|"]
        for k, v in r["rows"].items():
            ratio = f"{v['mb_s'] / best_peer:.2f}x" if best_peer else "-"
            read = f"{v['read_mb']:.1f}" if "read_mb" in v else "-"
            L.append(f"| {k} | {v['mb_s']:.1f} | {v['seconds']:.1f} | {v['rss_mb']:.1f} | {read} | {ratio} |")
        L.append("")
    for r in results:
        if r["case"] == "verify":
            v = r["row"]
            L += [f"## Verification: {human(r['size'])}, page cache warm", "",
                  "| | GB/s |", "|---|---|",
                  f"| `goat verify` ({v['cores']} threads) | {v['goat_verify_gb_s']:.2f} |",
                  f"| `sha1sum` (one core) | {v['sha1sum_gb_s']:.2f} |",
                  f"| `openssl speed -evp sha1` (one core, 16 KiB blocks) | {v['openssl_sha1_core_gb_s']:.2f} |", "",
                  f"goat verify reaches {v['goat_vs_limit'] * 100:.0f}% of the machine's SHA-1 limit for "
                  f"{v['cores']} cores.", ""]
        if r["case"] == "walk":
            L += ["## Address walk", "", "| transactions | command | seconds | HTTP requests | ceil(n/25) | peak RSS MB |",
                  "|---|---|---|---|---|---|"]
            for w in r["rows"]:
                L.append(f"| {w['transactions']} | {w['command']} | {w['seconds']:.2f} | {w['requests']} | "
                         f"{w['history_pages']} | {w['rss_mb']:.1f} |")
            L.append("")
        if r["case"] == "seed":
            v = r["row"]
            L += [f"## Seeding: {human(r['size'])} to {v['leechers']} concurrent aria2c leechers, goat alone", "",
                  f"{v['seconds']:.1f} s, {v['served_mb_s']:.1f} MB/s served in all, goat CPU "
                  f"{v['cpu_percent']:.0f}% of one core, peak RSS {v['peak_rss_mb']:.1f} MB, every copy complete: "
                  f"{v['all_complete']}.", ""]
    notes = ROOT / "benches" / "NOTES.md"
    if notes.exists():
        L += [notes.read_text()]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(L) + "\n")
    (ROOT / "docs" / "benchmarks.json").write_text(json.dumps({"machine": m, "argv": argv, "results": results}, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2G,8G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--walk", default="100,10000,100000")
    ap.add_argument("--swarm", type=int, default=4, help="seeders in the swarm case (0: skip)")
    ap.add_argument("--clients", default="goat,goat --no-verify,aria2c,libtorrent")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory-limit", type=int, metavar="MIB",
                    help="also run the largest size with every client in a cgroup v1 memory group of MIB (page cache included)")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--docs-from", metavar="JSON", help="only re-write the docs from a saved docs/benchmarks.json")
    a = ap.parse_args()
    if a.docs_from:
        saved = json.loads(Path(a.docs_from).read_text())
        write_docs(saved["results"], saved["machine"], saved.get("argv", []))
        return
    argv = sys.argv[1:]
    if a.quick:
        a.sizes, a.runs, a.walk = "256M", 1, "100,10000"
    clients = [c.strip() for c in a.clients.split(",") if c.strip()]
    sizes = [parse_size(s) for s in a.sizes.split(",")]
    procs = Procs()
    results = []
    m = machine()
    print(json.dumps(m), flush=True)
    base = Path(tempfile.mkdtemp(prefix="goat-bench-", dir=os.environ.get("GOAT_BENCH_DIR")))
    try:
        for size in sizes:
            work = base / f"s{size}"
            bench_download(procs, work, size, a.runs, 1, clients, results, "download")
            if a.memory_limit and size == sizes[-1]:
                bench_download(procs, work, size, a.runs, 1, clients, results, f"download in {a.memory_limit} MiB",
                               mem_limit=a.memory_limit)
            if a.swarm and size == sizes[-1]:
                bench_download(procs, work, size, a.runs, a.swarm, ["goat", "aria2c", "libtorrent"], results,
                               "download swarm")
            if size == sizes[-1]:
                keep_goat_copy(procs, work, size)
                bench_verify(work, size, results)
                bench_seed(procs, work, size, 4, results)
            shutil.rmtree(work, ignore_errors=True)
        bench_walk(procs, base, [int(x) for x in a.walk.split(",") if x], results)
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)
    if not a.no_docs:
        write_docs(results, m, argv)
        print(f"\nwrote docs/benchmarks.md, docs/benchmarks.png, docs/benchmarks.json", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The swarm test bed: does a goat node share, in a real swarm?

Builds N+3 network namespaces on one bridge (all named gsw-*), with
addresses from 198.18.0.0/15 (the range reserved for network benchmarks)
and per-host rate limits with tc (tbf; netem is missing from this kernel,
so there is no delay emulation):

  gsw-hub      the bridge
  gsw-tracker  opentracker           198.18.0.2  (a DHT bootstrap node in the DHT run)
  gsw-chain    goat devchain         198.18.0.3  (the goatfile, genuine txs)
  gsw-origin   the origin seeder     198.18.0.4  (thin uplink)
  gsw-n1..nN   fetchers              198.18.1.1…  (joining at staggered times)

Everything a run starts lives in those namespaces; traffic never leaves
them. Every run is bounded in time; namespaces and processes are removed at
the end, on Ctrl-C, and at the start of the next run (a sweep of leftovers).

Each node's upload and download are the byte counters of its own link
(what actually crossed it, whichever client runs there). Prints a table
and writes JSON; benches/swarm/report.py turns results into docs/swarm.md.

usage: swarm.py [--nodes 12] [--size 256M] [--link 100] [--origin-share 0.25]
                [--scenario NAME[,NAME...]] [--limit 900] [--out FILE] [--keep]
scenarios: goat, goat-file-order, aria2c, mixed, churn, origin-leaves, dht
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
import bench  # noqa: E402  (payload and torrent helpers)

GOAT = Path(os.environ.get("GOAT_BIN", ROOT / "target" / "release" / "goat"))
LT_NODE = ROOT / "benches" / "swarm" / "lt_node.py"
PY = "/usr/bin/python3"
PREFIX = "gsw-"
TRACKER, CHAIN, ORIGIN = "198.18.0.2", "198.18.0.3", "198.18.0.4"
PORT = 6881


def wait_for(f, limit, what, log):
    t0 = time.time()
    while time.time() - t0 < limit:
        if f():
            return
        time.sleep(0.2)
    tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:]) if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not happen within {limit}s; {log.name} ends:\n{tail}")


def node_ip(i):
    return f"198.18.1.{i}"


def run(*cmd, check=True, capture=False):
    r = subprocess.run(cmd, check=False, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout if capture else r.returncode


def sweep():
    """Remove every gsw-* namespace and kill what runs inside."""
    out = run("ip", "netns", "list", capture=True, check=False) or ""
    for line in out.splitlines():
        ns = line.split()[0] if line.strip() else ""
        if not ns.startswith(PREFIX):
            continue
        pids = run("ip", "netns", "pids", ns, capture=True, check=False) or ""
        for pid in pids.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", ns, check=False)


class Bed:
    """The namespaces, links and rate limits of one run."""

    def __init__(self):
        self.hosts = {}  # name -> (ns, index)
        run("ip", "netns", "add", PREFIX + "hub")
        run("ip", "-n", PREFIX + "hub", "link", "add", "br0", "type", "bridge")
        run("ip", "-n", PREFIX + "hub", "link", "set", "br0", "up")

    def add(self, name, ip):
        ns, i = PREFIX + name, len(self.hosts)
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", f"gswv{i}", "netns", ns, "type", "veth", "peer", "name", f"h{i}", "netns", PREFIX + "hub")
        run("ip", "-n", ns, "link", "set", f"gswv{i}", "name", "eth0")
        run("ip", "-n", ns, "addr", "add", f"{ip}/16", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", PREFIX + "hub", "link", "set", f"h{i}", "master", "br0")
        run("ip", "-n", PREFIX + "hub", "link", "set", f"h{i}", "up")
        self.hosts[name] = (ns, i)

    def limit(self, name, up_mbit, down_mbit):
        """tbf on both ends of the host's link: egress of eth0 is its upload,
        egress of the hub side is its download."""
        ns, i = self.hosts[name]
        for where, dev, rate in ((ns, "eth0", up_mbit), (PREFIX + "hub", f"h{i}", down_mbit)):
            burst = max(32 * 1024, int(rate * 1e6 / 8 / 100))
            run("ip", "netns", "exec", where, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
                "rate", f"{rate}mbit", "burst", str(burst), "latency", "200ms")

    def counters(self, name):
        ns, _ = self.hosts[name]
        d = json.loads(run("ip", "-n", ns, "-s", "-j", "link", "show", "eth0", capture=True))[0]["stats64"]
        return d["tx"]["bytes"], d["rx"]["bytes"]

    def popen(self, name, cmd, log):
        ns, _ = self.hosts[name]
        return subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdin=subprocess.DEVNULL,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def kill(p, sig=signal.SIGKILL):
    if p and p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


class Node:
    """One fetcher: its client, command, log and completion test."""

    def __init__(self, bed, name, client, work, esplora, address, torrent, boot):
        self.bed, self.name, self.client, self.work = bed, name, client, work
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = work / f"{name}.log"
        self.proc, self.started, self.done_at, self.restarts = None, None, None, 0
        dht = ["--dht-bootstrap", boot] if boot else ["--no-dht"]
        if client == "goat":
            # -v: the per-peer tally at the end, which `trace` reads
            self.cmd = [str(GOAT), "--esplora", esplora, "-v", "fetch", address, "-o", str(self.dir / "model"), "--seed",
                        "--listen-port", str(PORT), "--metadata-timeout", "600"] + dht
        elif client == "goat-file-order":
            self.cmd = [str(GOAT), "--esplora", esplora, "fetch", address, "-o", str(self.dir / "model"), "--seed",
                        "--listen-port", str(PORT), "--piece-order", "file"] + dht
        elif client == "goat-seed":
            self.cmd = [str(GOAT), "--esplora", esplora, "-v", "seed", address, "-o", str(self.dir / "files"),
                        "--state-dir", str(self.dir / "state"), "--listen-port", str(PORT), "--poll", "1h"] + dht
        elif client == "aria2c":
            hook = work / "aria2-done.sh"
            hook.write_text("#!/bin/sh\ntouch \"$(dirname \"$0\")/$ARIA_NODE.complete\"\n")
            hook.chmod(0o755)
            self.cmd = ["env", f"ARIA_NODE={name}", "aria2c", "--dir", str(self.dir), "--seed-ratio=0.0",
                        "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                        "--enable-peer-exchange=true", "--file-allocation=none", "--summary-interval=0",
                        "--console-log-level=warn", "--disable-ipv6=true", f"--listen-port={PORT}",
                        f"--on-bt-download-complete={hook}", str(torrent)]
        elif client == "libtorrent":
            self.cmd = [PY, str(LT_NODE), str(torrent), str(self.dir), node_ip(int(name[1:])), str(PORT), "3600"]
        else:
            raise ValueError(client)

    def start(self):
        self.started = self.started or time.monotonic()
        self.proc = self.bed.popen(self.name, self.cmd, self.log)

    def complete(self):
        if self.done_at:
            return True
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        done = {
            "goat": "done: " in text,
            "goat-file-order": "done: " in text,
            "goat-seed": "verified; seeding" in text,
            "aria2c": (self.work / f"{self.name}.complete").exists(),
            "libtorrent": "COMPLETE" in text,
        }[self.client]
        if done:
            self.done_at = time.monotonic()
        return done


def scenario_clients(scenario, n):
    if scenario in ("goat", "churn", "origin-leaves", "dht"):
        # most run goat fetch --seed, two run the goat seed daemon
        return ["goat-seed" if i in (2, n - 1) else "goat" for i in range(n)]
    if scenario == "goat-file-order":
        return ["goat-file-order"] * n
    if scenario == "aria2c":
        return ["aria2c"] * n
    if scenario == "mixed":
        cycle = ["goat", "aria2c", "goat", "libtorrent", "goat-seed", "goat"]
        return [cycle[i % len(cycle)] for i in range(n)]
    raise ValueError(scenario)


def one_run(a, scenario, payload, files, size, work):
    sweep()
    bed = Bed()
    procs = []
    try:
        for name, ip in (("tracker", TRACKER), ("chain", CHAIN), ("origin", ORIGIN)):
            bed.add(name, ip)
        for i in range(1, a.nodes + 1):
            bed.add(f"n{i}", node_ip(i))
            bed.limit(f"n{i}", a.link, a.link)
        bed.limit("origin", a.link * a.origin_share, a.link)

        dht = scenario == "dht"
        announce = f"http://{TRACKER}:6969/announce"
        torrent = work / "model.torrent"
        piece = a.piece_kib * 1024
        ih = bench.make_torrent(payload, announce, torrent, piece) if not dht else make_trackerless(payload, torrent, piece)
        (work / "whitelist").write_text(ih + "\n")
        if not dht:
            procs.append(bed.popen("tracker", ["opentracker", "-i", TRACKER, "-p", "6969", "-P", "6969", "-d",
                                               str(work), "-w", "/whitelist"], work / "tracker.log"))
        else:
            # no tracker: a DHT bootstrap node in the tracker's namespace
            procs.append(bed.popen("tracker", [PY, str(ROOT / "benches" / "swarm" / "lt_dht.py"), TRACKER, str(PORT),
                                               str(int(a.limit) + 300), ih], work / "tracker.log"))
        tr = "" if dht else "&tr=" + announce.replace(":", "%3A").replace("/", "%2F")
        gf = work / "goatfile.yaml"
        gf.write_text(f'goat: 1\nname: model\nentries:\n  - name: model\n    magnet: "magnet:?xt=urn:btih:{ih}&dn=model{tr}"\n')
        chain_log = work / "chain.log"
        procs.append(bed.popen("chain", [str(GOAT), "devchain", "--listen", f"{CHAIN}:3000", "--for", str(int(a.limit) + 120),
                                         "--goatfile", str(gf)], chain_log))
        wait_for(lambda: "goatfile" in chain_log.read_text(), 60, "devchain", chain_log)
        kv = dict(l.split(" ", 1) for l in chain_log.read_text().splitlines() if " " in l)
        esplora, address = f"http://{CHAIN}:3000", kv["address"]
        boot = f"{TRACKER}:{PORT}" if dht else ""

        # The origin: goat seed over the files already in place (re-hashed
        # on start), with the metadata goat keeps beside them.
        origin_dir = work / "origin"
        odata = origin_dir / "files" / address / "model"
        odata.mkdir(parents=True)
        for n_, _ in files:
            os.link(payload / n_, odata / n_) if same_fs(payload, odata) else shutil.copy(payload / n_, odata / n_)
        give_metadata(odata.parent, "model", torrent, ih)
        olog = work / "origin.log"
        dhtflag = ["--dht-bootstrap", boot] if dht else ["--no-dht"]
        origin = bed.popen("origin", [str(GOAT), "--esplora", esplora, "seed", address, "-o", str(origin_dir / "files"),
                                      "--state-dir", str(origin_dir / "state"), "--listen-port", str(PORT),
                                      "--poll", "1h"] + dhtflag + a.origin_args.split(), olog)
        ready = lambda: "verified; seeding" in olog.read_text()
        procs.append(origin)
        wait_for(ready, 300, "origin seeding", olog)

        clients = scenario_clients(scenario, a.nodes)
        nodes = [Node(bed, f"n{i + 1}", c, work, esplora, address, torrent, boot) for i, c in enumerate(clients)]
        base = {n: bed.counters(n) for n in ["origin"] + [x.name for x in nodes]}
        t0 = time.monotonic()
        pending = list(nodes)
        churned, origin_gone = False, None
        events = []
        while time.monotonic() - t0 < a.limit:
            now = time.monotonic() - t0
            while pending and now >= a.stagger * (len(nodes) - len(pending)):
                pending.pop(0).start()
            done = [x.complete() for x in nodes]
            if all(done):
                break
            if scenario == "churn" and not churned:
                got = sum(bed.counters(x.name)[1] - base[x.name][1] for x in nodes)
                if got >= 0.4 * size * len(nodes):
                    victims = [x for x in nodes if not x.done_at][: max(1, len(nodes) // 3)]
                    for x in victims:
                        kill(x.proc)
                    time.sleep(3)
                    for x in victims:
                        x.restarts += 1
                        x.start()
                    churned = True
                    events.append(f"{now:.0f}s: kill -9 of {', '.join(x.name for x in victims)}, restarted 3 s later")
            if scenario == "origin-leaves" and origin_gone is None and any(done) and not pending:
                # once one node holds everything, every piece exists
                # somewhere in the swarm without the origin
                kill(origin)
                origin_gone = now
                first = next(x.name for x in nodes if x.done_at)
                events.append(f"{now:.0f}s: origin killed once {first} held every piece; "
                              f"{sum(done)} of {len(nodes)} nodes complete then")
            time.sleep(0.5)
        wall = time.monotonic() - t0
        counters = {n: tuple(c - b for c, b in zip(bed.counters(n), base[n])) for n in base}
        ok = [x for x in nodes if x.done_at]
        intact = verify_nodes(nodes, payload, files, address)
        res = {
            "scenario": scenario, "nodes": a.nodes, "payload_bytes": size, "piece_bytes": a.piece_kib * 1024, "link_mbit": a.link,
            "origin_mbit": a.link * a.origin_share, "clients": clients,
            "completed": len(ok), "intact": intact,
            "swarm_seconds": max((x.done_at - t0 for x in ok), default=None) if len(ok) == len(nodes) else None,
            "wall_seconds": wall,
            "ideal_seconds": ideal(size, a),
            "origin_upload_bytes": counters["origin"][0],
            "origin_upload_x": counters["origin"][0] / size,
            "per_node": [{"node": x.name, "client": x.client, "seconds": (x.done_at - x.started) if x.done_at else None,
                          "up_x": counters[x.name][0] / size, "down_x": counters[x.name][1] / size,
                          "restarts": x.restarts} for x in nodes],
            "events": events,
            "trace": trace(nodes, size, a.piece_kib * 1024),
        }
        return res
    finally:
        for p in procs:
            kill(p)
        sweep()


TALLY = re.compile(r"model: peer (\S+) sent (\d+) bytes, (\d+) pieces; stolen from it (\d+), it stole (\d+)")


def trace(nodes, size, piece):
    """Where the origin's upload went, from the tally each goat node logs
    when its download finishes (librqbit's per-peer counters): bytes the
    nodes took from the origin, the pieces those made, and the rest (blocks
    of pieces another peer finished first: steals, endgame, a dropped
    connection). Nodes killed before finishing log nothing (churn)."""
    out = {"nodes_traced": 0, "origin_bytes": 0, "origin_pieces": 0, "origin_stolen": 0, "peer_bytes": 0,
           "peer_pieces": 0, "pieces_in_torrent": -(-size // piece)}
    for x in nodes:
        if x.client not in ("goat", "goat-seed") or not x.log.exists():
            continue
        rows = TALLY.findall(x.log.read_text(errors="replace"))
        if not rows:
            continue
        out["nodes_traced"] += 1
        for addr, sent, pieces, stolen, _ in rows:
            if addr.startswith(ORIGIN + ":"):
                out["origin_bytes"] += int(sent)
                out["origin_pieces"] += int(pieces)
                out["origin_stolen"] += int(stolen)
            else:
                out["peer_bytes"] += int(sent)
                out["peer_pieces"] += int(pieces)
    # every piece must leave the origin once; pieces beyond that were
    # already somewhere in the swarm when a node took them from the origin
    out["origin_wasted_bytes"] = max(0, out["origin_bytes"] - out["origin_pieces"] * piece)
    out["origin_repeat_pieces"] = max(0, out["origin_pieces"] - out["pieces_in_torrent"])
    return out


def give_metadata(root, entry, torrent, ih):
    """What `goat seed` keeps beside an entry it fetched (.goat/ENTRY.torrent
    and the manifest), so the origin seeds the files already in place
    without asking peers for metadata nobody else has yet. (`goat publish`
    is the tool for this; the test bed writes it by hand.)"""
    import libtorrent as lt
    meta = root / ".goat"
    meta.mkdir(parents=True, exist_ok=True)
    shutil.copy(torrent, meta / f"{entry}.torrent")
    fs = lt.torrent_info(str(torrent)).files()
    files = [{"path": str(Path(*Path(fs.file_path(i)).parts[1:])), "length": fs.file_size(i), "offset": fs.file_offset(i),
              "padding": bool(fs.file_flags(i) & fs.flag_pad_file), "sha256": None} for i in range(fs.num_files())]
    (meta / f"{entry}.json").write_text(json.dumps({"entry": entry, "info_hash": ih, "inscription": None, "files": files}))


def same_fs(a, b):
    return os.stat(a).st_dev == os.stat(b.parent if not b.exists() else b).st_dev


def make_trackerless(payload, out, piece=4 << 20):
    import libtorrent as lt
    fs = lt.file_storage()
    lt.add_files(fs, str(payload))
    t = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(t, str(payload.parent))
    out.write_bytes(lt.bencode(t.generate()))
    return str(lt.torrent_info(str(out)).info_hash())


def ideal(size, a):
    """Every byte must leave the origin once; N copies must cross the links."""
    o = a.link * a.origin_share * 1e6 / 8
    node = a.link * 1e6 / 8
    return max(size / o, a.nodes * size / (o + a.nodes * node), size / node)


def verify_nodes(nodes, payload, files, address):
    """Every completed node's files equal the origin's (sampled)."""
    good = 0
    for x in nodes:
        if not x.done_at:
            continue
        roots = {"aria2c": x.dir / "payload", "libtorrent": x.dir / "payload",
                 "goat-seed": x.dir / "files" / address / "model"}.get(x.client, x.dir / "model" / "model")
        if bench_same(roots, payload, files):
            good += 1
    return good


def bench_same(dest, src, files):
    for n, size in files:
        a, b = dest / n, src / n
        if not a.exists() or a.stat().st_size != size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            for off in (0, size // 2, max(0, size - 65536)):
                fa.seek(off)
                fb.seek(off)
                if fa.read(65536) != fb.read(65536):
                    return False
    return True


def table(results):
    print(f"\n{'scenario':<16} {'nodes':>5} {'done':>5} {'swarm s':>8} {'ideal s':>8} {'origin up':>10}")
    for r in results:
        s = f"{r['swarm_seconds']:.0f}" if r["swarm_seconds"] else "-"
        print(f"{r['scenario']:<16} {r['nodes']:>5} {r['completed']:>5} {s:>8} {r['ideal_seconds']:>8.0f} {r['origin_upload_x']:>9.2f}x")
        t = r.get("trace") or {}
        if t.get("nodes_traced"):
            print(f"  trace of {t['nodes_traced']} goat node(s): from the origin {t['origin_bytes'] / r['payload_bytes']:.2f}x "
                  f"({t['origin_pieces']} pieces of {t['pieces_in_torrent']}: {t['origin_repeat_pieces']} repeats; "
                  f"{t['origin_wasted_bytes'] / r['payload_bytes']:.2f}x in blocks of pieces finished elsewhere, "
                  f"{t['origin_stolen']} steals); from other peers {t['peer_bytes'] / r['payload_bytes']:.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=12)
    ap.add_argument("--size", default="256M")
    ap.add_argument("--link", type=float, default=100.0, help="each node's link, Mbit/s each way")
    ap.add_argument("--origin-share", type=float, default=0.25, help="origin uplink as a share of a node's link")
    ap.add_argument("--piece-kib", type=int, default=4096, help="piece size of the model's torrent")
    ap.add_argument("--stagger", type=float, default=2.0, help="seconds between node starts")
    ap.add_argument("--scenario", default="goat,goat-file-order,aria2c,mixed,churn,origin-leaves,dht")
    ap.add_argument("--origin-args", default="", help="more flags for the origin's goat seed, e.g. '--max-peers 4'")
    ap.add_argument("--limit", type=float, default=900, help="seconds a run may take")
    ap.add_argument("--out", default=str(ROOT / "benches" / "swarm" / "results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the logs and files of the run (namespaces are removed)")
    ap.add_argument("--require-complete", action="store_true",
                    help="exit 1 unless every node of every scenario completed with intact files (the CI case)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("swarm.py: needs root (ip netns, tc)")
    if a.nodes < 1:
        sys.exit("swarm.py: --nodes must be at least 1")
    size = bench.parse_size(a.size)
    work = Path(tempfile.mkdtemp(prefix="goat-swarm-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    try:
        payload = work / "payload"
        files = bench.make_payload(payload, size)
        for sc in a.scenario.split(","):
            rw = work / sc
            rw.mkdir()
            print(f"swarm: {sc}: {a.nodes} nodes, {bench.human(size)}, links {a.link:g} Mbit/s, origin {a.link * a.origin_share:g} Mbit/s", flush=True)
            r = one_run(a, sc, payload, files, size, rw)
            results.append(r)
            table([r])
            if not a.keep:
                shutil.rmtree(rw, ignore_errors=True)
    finally:
        sweep()
        if a.keep:
            print(f"swarm: logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        Path(a.out).write_text(json.dumps(results, indent=1))
    table(results)
    if a.require_complete:
        bad = [r["scenario"] for r in results if r["completed"] != r["nodes"] or r["intact"] != r["nodes"]]
        if bad or len(results) != len(a.scenario.split(",")):
            sys.exit(f"swarm: not every node completed intact in: {', '.join(bad) or 'a scenario that did not run'}")
        print(f"{len(results)} passed, 0 failed")


if __name__ == "__main__":
    main()

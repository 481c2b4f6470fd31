#!/usr/bin/python3
"""How fast `goat seed` seeds again after a restart, and what it reads.

usage: /usr/bin/python3 benches/seed_restart.py [--size 4G] [--keep]
(cargo build --release first; benches/run.sh installs the peers.)

On 127.0.0.1: an opentracker, a python3-libtorrent seeder and the goat
devchain. goat seed downloads the payload and seeds it; the libtorrent
seeder leaves. Then, each case timed from the daemon's start to "seeding"
in /status, with the bytes goat read by then (/proc/PID/io: rchar counts
every read, read_bytes only those the disk served):
  1. a clean restart (SIGTERM, start again);
  2. a restart after kill -9;
then aria2c downloads the payload from goat alone, so every piece goat
serves is one it has not hashed in that run (hashed before its first
upload): the rate it serves, and what it read.
Figures are printed, never asserted. Everything is written under one
folder in target/ that is removed at the end, on failure too.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared helpers: payload, tracker, devchain)
from bench import GOAT, Procs, free_port, human, wait_until  # noqa: E402

def io_of(pid):
    kv = dict(l.split(": ") for l in open(f"/proc/{pid}/io").read().splitlines())
    return int(kv["rchar"]), int(kv["read_bytes"])


def status(port):
    import urllib.request
    try:
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2))
    except Exception:
        return {}


def seeding(port):
    ts = status(port).get("torrents", [])
    return bool(ts) and all(t["state"] == "seeding" for t in ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="4G")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    a = ap.parse_args()
    size = bench.parse_size(a.size)
    if not GOAT.exists():
        sys.exit(f"bench: {GOAT} missing: cargo build --release")
    target = bench.ROOT / "target"
    target.mkdir(exist_ok=True)
    # source + goat's copy + aria2c's copy
    bench.room(target, 3 * size)
    base = Path(tempfile.mkdtemp(prefix="seed-restart-", dir=target))
    # mkdtemp's folder is private; opentracker (which drops to nobody and
    # reads its whitelist there) needs a readable one.
    work = base / "work"
    work.mkdir()
    procs = Procs()

    def cleanup(*_):
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        run(procs, work, size)
    finally:
        cleanup()


def run(procs, work, size):
    payload = work / "src" / "payload"
    files = bench.make_payload(payload, size)
    torrent, ih, gf, tr = bench.tracked_torrent(procs, work, payload, "restart")
    bench.start_seeders(procs, work, torrent, payload.parent, 1)
    dc, esplora, address = bench.start_devchain(procs, work, gf)
    out, state, hport, pport = work / "out", work / "state", free_port(), free_port()
    cmd = [str(GOAT), "--esplora", esplora, "seed", address, "-o", str(out), "--state-dir", str(state),
           "--no-dht", "--loopback", "--http", f"127.0.0.1:{hport}", "--listen-port", str(pport), "--poll", "10m"]

    def start(tag):
        return procs.start(cmd, stdout=subprocess.DEVNULL, stderr=open(work / f"goat-{tag}.log", "w"))

    print(f"== goat seed restart: {human(size)} ({len(files)} files) ==", flush=True)
    t0 = time.monotonic()
    g = start("first")
    wait_until(lambda: seeding(hport), 3600, "the first download")
    print(f"  first download and proof: {time.monotonic() - t0:.1f} s", flush=True)
    # goat alone from here.
    procs.stop([p for p in procs.ps if p.args and str(bench.LT_SEED) in p.args][-1])
    rows = {}
    for case in ("clean", "kill -9"):
        if case == "clean":
            g.send_signal(signal.SIGTERM)
            g.wait(60)
        else:
            g.kill()
            g.wait(60)
        t0 = time.monotonic()
        g = start(case.replace(" ", ""))
        wait_until(lambda: seeding(hport), 600, f"seeding after a {case} restart")
        dt = time.monotonic() - t0
        rchar, disk = io_of(g.pid)
        t = status(hport)["torrents"][0]
        rows[case] = {"seconds": dt, "read_mb": rchar / 1e6, "disk_read_mb": disk / 1e6,
                      "read_percent": 100 * rchar / size, "downloaded_bytes": t["downloaded_bytes"]}
        print(f"  {case:8} restart: seeding after {dt:5.2f} s, read {rchar / 1e6:8.1f} MB "
              f"({100 * rchar / size:.2f} % of the payload; {disk / 1e6:.1f} MB from the disk), "
              f"downloaded {t['downloaded_bytes']} bytes", flush=True)
    # Every piece served now is hashed first.
    r0, _ = io_of(g.pid)
    dest = work / "aria2c"
    t0 = time.monotonic()
    subprocess.run(bench.leech_commands("aria2c", torrent, dest, "", ""), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=3600)
    dt = time.monotonic() - t0
    r1, _ = io_of(g.pid)
    ok = bench.complete(dest, payload, files)
    t = status(hport)["torrents"][0]
    rows["serve"] = {"seconds": dt, "mb_s": size / dt / 1e6, "read_mb": (r1 - r0) / 1e6, "complete": ok,
                     "refetched_pieces": t.get("refetched_pieces")}
    print(f"  aria2c from goat alone after the restart: {size / dt / 1e6:.1f} MB/s, goat read "
          f"{(r1 - r0) / 1e6:.1f} MB for {size / 1e6:.1f} MB served (hash before first upload), complete: {ok}",
          flush=True)
    g.send_signal(signal.SIGTERM)
    g.wait(60)
    print(json.dumps({"size": size, "rows": rows}), flush=True)


if __name__ == "__main__":
    main()

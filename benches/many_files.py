#!/usr/bin/python3
"""A torrent of many small files: goat's own cost per file, beside peers.

usage: /usr/bin/python3 benches/many_files.py [--files 2500,10000] [--runs 2]
(cargo build --release first; benches/run.sh installs the peers.)

On 127.0.0.1: an opentracker, a python3-libtorrent seeder of N files
(1-4 KiB each, in folders of 500, 64 KiB pieces that span many files) and
the goat devchain publishing its magnet. Then, one client at a time,
each copy deleted before the next:
  - goat fetch (address walk included): wall time, CPU time, and goat's own
    time from receiving the metadata to the torrent being added (its checks,
    the allocation of every file, librqbit's add), from its debug log;
  - aria2c and libtorrent on the same torrent, from the same seeder;
  - then `goat verify` of goat's first copy, and `goat seed` on it: its
    first start (every file checked), a SIGTERM and a kill -9 restart, each
    timed until /status says seeding.
With several --files counts, each is run in turn and a last table puts
goat's figures side by side: what grows faster than the file count shows
there.
Figures are printed, never asserted. Everything is written under one folder
in target/ that is removed at the end, on failure too; each client's copy
stays there until then (see the note where it is set aside). Creating
20,000 files soon after 20,000 were deleted on the same ext4 filesystem
costs every client seconds of kernel time: wait a few minutes between
runs of this bench.
"""
import argparse, os, re, resource, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import GOAT, PY, LT_SEED, Procs, free_port, leech_commands, wait_until  # noqa: E402
from seed_restart import status  # noqa: E402


def make_files(root, n):
    sizes = []
    for i in range(n):
        rel = f"shard-{i // 500:03d}/part-{i:05d}.bin"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        size = 1024 + (i * 7919) % 3072
        p.write_bytes(os.urandom(size))
        sizes.append((rel, size))
    return sizes


def cpu_of_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime, r.ru_stime)


def run_client(name, cmd, dest, env=None, limit=300):
    dest.mkdir(parents=True, exist_ok=True)
    cpu0, t0 = cpu_of_children(), time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=limit,
                           env=env)
    except subprocess.TimeoutExpired:
        sys.exit(f"bench: {name} did not finish within {limit}s")
    cpu1 = cpu_of_children()
    wall, cpu = time.time() - t0, (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
    if p.returncode != 0 and name != "libtorrent":
        sys.exit(f"bench: {name} failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, cpu, p.stderr


def whole(dest, src, files):
    return all((dest / "payload" / rel).read_bytes() == (src / rel).read_bytes() for rel, _ in files[:: max(1, len(files) // 200)])


def seed_restarts(procs, work, folder, esplora, address, keep_to=None):
    """goat seed on goat's copy: the first start (every file checked), then
    a SIGTERM and a kill -9 restart, each timed to "seeding" in /status."""
    hport = free_port()
    cmd = [str(GOAT), "--esplora", esplora, "seed", address, "-o", str(folder), "--state-dir", str(work / "state"),
           "--no-dht", "--loopback", "--no-upnp", "--http", f"127.0.0.1:{hport}", "--listen-port", str(free_port()),
           "--poll", "10m"]

    def seeding():
        ts = status(hport).get("torrents", [])
        return bool(ts) and all(t["state"] == "seeding" for t in ts)
    out = {}
    g = None
    for case in ("first start", "SIGTERM restart", "kill -9 restart"):
        if g is not None:
            g.send_signal(signal.SIGTERM) if case.startswith("SIGTERM") else g.kill()
            g.wait(120)
        t0 = time.monotonic()
        log = open(work / f"seed-{case.split()[0]}.log", "w")
        g = procs.start(cmd, stdout=subprocess.DEVNULL, stderr=log,
                        env=dict(os.environ, RUST_LOG="goat=debug,librqbit=info"))
        wait_until(seeding, 600, f"goat seed {case}")
        out[case] = time.monotonic() - t0
    g.send_signal(signal.SIGTERM)
    g.wait(120)
    shutil.rmtree(work / "state", ignore_errors=True)
    if keep_to is not None:
        for f in work.glob("seed-*.log"):
            shutil.copy(f, keep_to / f"many-files-{work.name}-{f.name}")
    return out


def one_size(procs, work, n, args, base):
    """Everything for one file count; returns goat's medians and the
    daemon's restart times."""
    work.mkdir()
    work.chmod(0o755)
    goat_walls, goat_adds = [], []
    payload = work / "src" / "payload"
    files = make_files(payload, n)
    total = sum(s for _, s in files)
    import libtorrent as lt
    fs = lt.file_storage()
    lt.add_files(fs, str(payload))
    t = lt.create_torrent(fs, 64 << 10, flags=lt.create_torrent.v1_only)
    tport = free_port()
    announce = f"http://127.0.0.1:{tport}/announce"
    t.add_tracker(announce)
    lt.set_piece_hashes(t, str(payload.parent))
    torrent = work / "payload.torrent"
    torrent.write_bytes(lt.bencode(t.generate()))
    ih = str(lt.torrent_info(str(torrent)).info_hash())
    # Debian's opentracker runs in whitelist mode: the info-hash first.
    (work / "whitelist").write_text(ih + "\n")
    procs.start(["opentracker", "-i", "127.0.0.1", "-p", str(tport), "-P", str(tport), "-d", str(work),
                 "-w", "/whitelist"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", tport)) == 0, 10, "opentracker")
    port = free_port()
    log = work / "seed.log"
    procs.start([PY, str(LT_SEED), str(torrent), str(payload.parent), str(port), "7200"], stdout=open(log, "w"))
    wait_until(lambda: "SEEDING" in log.read_text(), 600, "libtorrent seeder")
    goatfile = work / "many.yaml"
    goatfile.write_text(f'goat: 1\nname: many\nentries:\n  - name: payload\n    magnet: "magnet:?xt=urn:btih:{ih}'
                        f'&dn=payload&tr={announce.replace(":", "%3A").replace("/", "%2F")}"\n')
    _, esplora, address = bench.start_devchain(procs, work, goatfile)
    print(f"== {len(files)} files, {total / 1e6:.1f} MB, {len(t.generate()[b'info'][b'pieces']) // 20} pieces of 64 KiB ==",
          flush=True)
    print(f"{'client':<12} {'run':>3} {'wall s':>8} {'user s':>8} {'sys s':>8} {'goat add ms':>12}")
    for r in range(args.runs):
        for client in args.clients.split(","):
            dest = work / f"dl-{client}"
            env = dict(os.environ, RUST_LOG="goat=debug") if client == "goat" else None
            cmd = leech_commands(client, torrent, dest, esplora, address)
            if client == "goat":
                cmd = args.wrap.split() + [c for c in cmd if c != "-q"]
            if client == "libtorrent":
                # lt_leech seeds on until killed once complete: bound it.
                cmd = ["timeout", "600"] + cmd
            wall, cpu, err = run_client(client, cmd, dest, env)
            added = ""
            if client == "goat":
                m = re.search(r"files allocated and added in (\d+) ms", err)
                added = m.group(1) if m else "?"
                if args.keep_logs:
                    (base / f"many-files-goat-{r + 1}.log").write_text(err)
            ok = whole(dest, payload, files)
            if client == "goat" and ok:
                goat_walls.append(wall)
                if added.isdigit():
                    goat_adds.append(int(added))
            print(f"{client:<12} {r + 1:>3} {wall:>8.2f} {cpu[0]:>8.2f} {cpu[1]:>8.2f} {added:>12}{'' if ok else '  INCOMPLETE'}",
                  flush=True)
            # Copies are kept (N x the payload, small) until the end:
            # ext4 makes every new inode scan past those deleted in the
            # last minutes (`recently_deleted`), which made each client
            # after a deletion of 20,000 files spend 5-15 s more in the
            # kernel, growing run after run (measured with perf).
            dest.rename(work / f"done-{client}-{r + 1}")
    import statistics
    kept = work / "done-goat-1"
    t0 = time.monotonic()
    v = subprocess.run([str(GOAT), "-q", "verify", str(kept)], capture_output=True, text=True)
    verify_s = time.monotonic() - t0
    print(f"goat verify: {verify_s:.2f} s, exit {v.returncode}", flush=True)
    seed = seed_restarts(procs, work, kept, esplora, address, base if args.keep_logs else None)
    print("goat seed: " + ", ".join(f"{k} {v:.2f} s" for k, v in seed.items()), flush=True)
    return {"files": n, "add_ms": int(statistics.median(goat_adds)) if goat_adds else -1,
            "fetch_s": statistics.median(goat_walls) if goat_walls else float("nan"), "verify_s": verify_s,
            "verify_exit": v.returncode, "seed": seed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", default="20000", help="file counts, comma-separated (e.g. 2500,10000)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--keep-logs", action="store_true", help="goat's log of each run, in target/")
    ap.add_argument("--clients", default="goat,aria2c,libtorrent")
    ap.add_argument("--wrap", default="", help="words put before goat's command, e.g. 'perf record -g -o F --'")
    args = ap.parse_args()
    if not GOAT.exists():
        sys.exit(f"bench: {GOAT} is missing: cargo build --release first")
    base = Path(__file__).resolve().parent.parent / "target"
    work = Path(tempfile.mkdtemp(prefix="bench-many-files-", dir=base))
    work.chmod(0o755)  # opentracker drops privileges and reads its whitelist here
    procs = Procs()
    summary = []
    try:
        for n in [int(x) for x in args.files.split(",")]:
            summary.append(one_size(procs, work / f"n{n}", n, args, base))
            procs.stop_all()
            procs.ps.clear()
        print("\n== per size (medians of goat's runs) ==")
        print(f"{'files':>7} {'add ms':>8} {'fetch s':>8} {'verify s':>9} {'seed first s':>13} {'SIGTERM s':>10} {'kill -9 s':>10}")
        for r in summary:
            print(f"{r['files']:>7} {r['add_ms']:>8} {r['fetch_s']:>8.2f} {r['verify_s']:>9.2f} "
                  f"{r['seed']['first start']:>13.2f} {r['seed']['SIGTERM restart']:>10.2f} {r['seed']['kill -9 restart']:>10.2f}",
                  flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

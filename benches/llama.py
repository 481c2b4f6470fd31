#!/usr/bin/python3
"""LLaMA scale: a multi-file model larger than the memory a client may use.

usage: bash benches/llama.sh [--size 16G] [--memory-limit 6144] [--cases limits,fetch,only,verify,restart]
(llama.sh installs the peers and builds goat; this file is the bench.)

On 127.0.0.1 only: an opentracker, one python3-libtorrent seeder of the
model, the goat devchain publishing its magnet. The model is laid out like
the 2023 release, scaled down: folders 7B, 13B, 30B and 65B of 1, 2, 4 and
4 shards (1/16, 2/16, 5/16 and 8/16 of --size), each with params.json and
checklist.chk, and tokenizer.model, tokenizer_checklist.chk and llama.sh at
the top: one torrent for the whole set, 16 MiB pieces, shards not aligned
to pieces (so pieces span neighbouring files).

Cases, each printed as it runs and written to --out as JSON:
  limits   this machine's ceilings in the same run: loopback TCP (iperf3),
           sequential disk write and read (dd, oflag/iflag=direct, 4 GiB),
           SHA-1 on every core and on one (openssl speed).
  fetch    aria2c, libtorrent and goat (address walk included), one at a
           time, each in a cgroup v1 memory group of --memory-limit MiB
           (page cache included), the page cache dropped before each; each
           copy is deleted before the next (goat's is kept for the cases
           below): MB/s, peak RSS, bytes read back from disk.
  only     one folder of the model (--only-folder, 7B): goat's
           `--only llama/7B` and aria2c's --select-file of the same files,
           each in the same memory group: MB/s of the chosen bytes, bytes
           received (goat's --json), what each left on disk beside the
           chosen files (files made, blocks allocated), and `goat verify`.
  verify   `goat verify` cold (page cache dropped) and warm, `sha1sum` of
           the same files cold and warm.
  restart  `goat seed` holding the model plus --small-torrents small ones
           (its first start downloads them: goat seed keeps each address's
           entries in a folder of its own; goat's fetch copy is deleted first);
           stopped by SIGTERM and, separately, by kill -9, the page cache
           dropped, started again: seconds until a libtorrent peer has its
           first piece of the model from goat, seconds until every torrent
           is seeding in /status, and what goat read (/proc/PID/io).
Figures are printed, never asserted. Everything is written under one folder
in target/ that is removed at the end, on failure too. The room on the disk
is checked first (the rule of ../shared/bin/room).
"""
import argparse, hashlib, json, os, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import GOAT, PY, LT_SEED, Procs, free_port, human, wait_until  # noqa: E402
from seed_restart import io_of, status  # noqa: E402

FIRST_PIECE = Path(__file__).resolve().parent / "lt_first_piece.py"
FOLDERS = [("7B", 1, 1), ("13B", 2, 2), ("30B", 4, 5), ("65B", 4, 8)]  # name, shards, sixteenths


def drop_caches():
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def make_model(root, size):
    """The layout described above; returns [(relative path, size)]."""
    files, key = [], 1
    root.mkdir(parents=True)
    for name, shards, sixteenths in FOLDERS:
        d = root / name
        d.mkdir()
        share = size * sixteenths // 16 // shards
        for i in range(shards):
            # Real shards are never piece-aligned: a few KiB off.
            n = share - 4096 * (key + 3) - 137 * key
            bench.keystream(d / f"consolidated.{i:02d}.pth", n, key)
            files.append((f"{name}/consolidated.{i:02d}.pth", n))
            key += 1
        params = json.dumps({"dim": 4096 * sixteenths, "multiple_of": 256, "n_heads": 32, "n_layers": 32,
                             "norm_eps": 1e-06, "vocab_size": -1}).encode()
        (d / "params.json").write_bytes(params)
        chk = "".join(f"{hashlib.md5(n.encode()).hexdigest()}  {Path(n).name}\n" for n, _ in files if n.startswith(name))
        (d / "checklist.chk").write_text(chk)
        files += [(f"{name}/params.json", len(params)), (f"{name}/checklist.chk", len(chk))]
    tok = os.urandom(499723)
    (root / "tokenizer.model").write_bytes(tok)
    (root / "tokenizer_checklist.chk").write_text(f"{hashlib.md5(tok).hexdigest()}  tokenizer.model\n")
    (root / "llama.sh").write_text("#!/bin/sh\n# download script (not used)\n")
    for n in ("tokenizer.model", "tokenizer_checklist.chk", "llama.sh"):
        files.append((n, (root / n).stat().st_size))
    return files


# ---------------------------------------------------------------- limits

def limits(work):
    row = {}
    port = free_port()
    srv = subprocess.Popen(["timeout", "60", "iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # a probing connection would count as a test
    out = subprocess.run(["timeout", "60", "iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "5", "-J"],
                         capture_output=True, text=True).stdout
    srv.terminate()
    srv.wait(30)
    try:
        row["tcp_loopback_mb_s"] = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8e6
    except (ValueError, KeyError):
        row["tcp_loopback_mb_s"] = 0.0
    f = work / "dd.bin"
    t0 = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={f}", "bs=4M", "count=1024", "oflag=direct"], check=True,
                   stderr=subprocess.DEVNULL)
    row["disk_write_mb_s"] = (4 << 30) / (time.monotonic() - t0) / 1e6
    t0 = time.monotonic()
    subprocess.run(["dd", f"if={f}", "of=/dev/null", "bs=4M", "iflag=direct"], check=True, stderr=subprocess.DEVNULL)
    row["disk_read_mb_s"] = (4 << 30) / (time.monotonic() - t0) / 1e6
    f.unlink()
    row["sha1_one_core_mb_s"] = bench.sha1_speed_mb_s()
    row["sha1_all_cores_mb_s"] = bench.sha1_speed_mb_s(os.cpu_count() or 1)
    print(f"== this machine's ceilings ==\n  loopback TCP (iperf3) {row['tcp_loopback_mb_s']:.0f} MB/s; disk direct "
          f"write {row['disk_write_mb_s']:.0f} MB/s, read {row['disk_read_mb_s']:.0f} MB/s; SHA-1 "
          f"{row['sha1_one_core_mb_s']:.0f} MB/s on one core, {row['sha1_all_cores_mb_s']:.0f} MB/s on "
          f"{os.cpu_count()}", flush=True)
    return row


# ---------------------------------------------------------------- fetch

def fetch(procs, work, size, files, torrent, esplora, address, clients, mem_limit):
    rows = {}
    for client in clients:
        dest = work / f"leech-{client}"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        cmd = bench.leech_commands(client, torrent, dest, esplora, address)
        drop_caches()
        group = bench.MemCgroup(client, mem_limit)
        try:
            dt, mb, rc, err = bench.timed(group.wrap(cmd), timeout=3600)
        finally:
            group.close()
        read_mb, cpu = bench.LAST_READ_MB[0], bench.LAST_CPU_S[0]
        # goat writes DIR/<entry>/..., the others DIR/<torrent name>/...: both "llama"
        ok = bench.complete(dest, work / "src" / "llama", files, "llama")
        if not ok:
            print(f"  {client:10} FAILED (rc {rc}): {err.strip()[-400:]}", flush=True)
        else:
            rows[client] = {"mb_s": size / dt / 1e6, "seconds": dt, "rss_mb": mb, "read_mb": read_mb,
                            "read_percent": 100 * read_mb * 1e6 / size, "cpu_s": cpu}
            print(f"  {client:10} {size / dt / 1e6:8.1f} MB/s {dt:7.1f} s  CPU {cpu:6.1f} s  peak RSS {mb:7.1f} MB"
                  f"  read back {read_mb:8.1f} MB ({rows[client]['read_percent']:.2f} %)", flush=True)
        if client != "goat":
            shutil.rmtree(dest, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- only

def allocated(path):
    """Bytes of disk blocks the files below `path` take (holes excluded)."""
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def only(work, files, torrent, esplora, address, clients, mem_limit, folder):
    """One folder of the model, by goat's --only and aria2c's --select-file."""
    import libtorrent as lt
    info = lt.torrent_info(str(torrent))
    order = [info.files().file_path(i) for i in range(info.num_files())]
    prefix = f"llama{os.sep}{folder}{os.sep}"
    picked = [i for i, p in enumerate(order) if p.startswith(prefix)]
    chosen = [(n, sz) for n, sz in files if n.startswith(folder + "/")]
    want = sum(sz for _, sz in chosen)
    rows = {"folder": folder, "bytes": want, "files": len(chosen)}
    for client in clients:
        if client not in ("goat", "aria2c"):
            continue
        dest = work / f"only-{client}"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        cmd = bench.leech_commands(client, torrent, dest, esplora, address)
        report = work / f"only-{client}.json"
        if client == "goat":
            cmd = ["sh", "-c", f'exec "$@" > {report}', "sh"] + [c for c in cmd if c != "-q"] + \
                ["--only", f"llama/{folder}", "--json"]
        else:
            cmd = cmd[:-1] + ["--select-file=" + ",".join(str(i + 1) for i in picked), cmd[-1]]
        drop_caches()
        group = bench.MemCgroup(f"only-{client}", mem_limit)
        try:
            dt, mb, rc, err = bench.timed(group.wrap(cmd), timeout=3600)
        finally:
            group.close()
        ok = bench.complete(dest, work / "src" / "llama", chosen, "llama")
        others = [p for p in (dest / "llama").rglob("*")
                  if p.is_file() and not str(p.relative_to(dest / "llama")).startswith(folder + "/")]
        row = {"ok": ok, "seconds": dt, "mb_s": want / dt / 1e6, "rss_mb": mb,
               "allocated_bytes": allocated(dest), "other_files": len(others),
               "other_allocated_bytes": sum(p.stat().st_blocks * 512 for p in others)}
        if client == "goat":
            try:
                row["fetched_bytes"] = json.loads(report.read_text())["entries"][0]["fetched_bytes"]
            except (ValueError, KeyError, IndexError, OSError):
                row["fetched_bytes"] = None
            vdt, _, vrc, _ = bench.timed([str(GOAT), "-q", "verify", str(dest)])
            row["verify_ok"], row["verify_seconds"] = vrc == 0, vdt
        rows[client] = row
        if not ok:
            print(f"  {client:10} FAILED (rc {rc}): {err.strip()[-400:]}", flush=True)
        else:
            extra = (f"  received {row['fetched_bytes'] / 1e6:.0f} MB, verify {'ok' if row['verify_ok'] else 'FAILED'}"
                     f" in {row['verify_seconds']:.1f} s" if client == "goat" else "")
            print(f"  {client:10} {row['mb_s']:8.1f} MB/s {dt:6.1f} s  peak RSS {mb:7.1f} MB  on disk "
                  f"{row['allocated_bytes'] / 1e6:.0f} MB for {want / 1e6:.0f} MB chosen; "
                  f"{len(others)} other file(s) made ({row['other_allocated_bytes'] / 1e6:.1f} MB){extra}", flush=True)
        shutil.rmtree(dest, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- verify

def verify(dest, size):
    files = sorted(str(p) for p in (dest / "llama").rglob("*") if p.is_file())
    row = {}
    for temp in ("cold", "warm"):
        for name, cmd in (("goat verify", [str(GOAT), "-q", "verify", str(dest)]), ("sha1sum", ["sha1sum"] + files)):
            if temp == "cold":
                drop_caches()
            else:
                subprocess.run(["cat"] + files, stdout=subprocess.DEVNULL)
            dt, mb, rc, err = bench.timed(cmd)
            row[f"{name} {temp}"] = {"seconds": dt, "mb_s": size / dt / 1e6, "ok": rc == 0, "rss_mb": mb}
            print(f"  {name:12} {temp}: {size / dt / 1e6:7.0f} MB/s {dt:6.1f} s  exit {rc}  peak RSS {mb:.1f} MB",
                  flush=True)
    return row


# ---------------------------------------------------------------- restart

def small_torrents(work, n, port):
    """n small models (two files each), seeded by one libtorrent session in
    this process; returns (session, [(name, magnet)])."""
    import libtorrent as lt
    root = work / "small"
    ses = lt.session(bench_lt_settings(port))
    out = []
    for i in range(n):
        name = f"small-{i:03d}"
        d = root / name
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"model": name, "hidden": 64 + i}))
        (d / "model.safetensors").write_bytes(os.urandom(1 << 20 | (i * 4099)))
        fs = lt.file_storage()
        lt.add_files(fs, str(d))
        t = lt.create_torrent(fs, 256 << 10, flags=lt.create_torrent.v1_only)
        lt.set_piece_hashes(t, str(root))
        ti = lt.torrent_info(lt.bencode(t.generate()))
        ses.add_torrent({"ti": ti, "save_path": str(root)})
        out.append((name, f"magnet:?xt=urn:btih:{ti.info_hash()}&dn={name}&x.pe=127.0.0.1:{port}"))
    return ses, out


def bench_lt_settings(port):
    import libtorrent as lt
    return {"listen_interfaces": f"127.0.0.1:{port}", "enable_dht": False, "enable_lsd": False,
            "enable_upnp": False, "enable_natpmp": False, "allow_multiple_connections_per_ip": True,
            "active_downloads": -1, "active_seeds": -1, "active_limit": -1, "alert_mask": 0,
            "out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled)}


def restart(procs, work, size, torrent, model_gf, n_small, runs):
    """`model_gf`: the fetch's goatfile (the model's entry), to which the
    small torrents' entries are added."""
    lt_port = free_port()
    ses, smalls = small_torrents(work, n_small, lt_port)
    gf = work / "seed.yaml"
    gf.write_text(model_gf.read_text() + "".join(f'  - name: {n}\n    magnet: "{m}"\n' for n, m in smalls))
    dc, esplora, address = bench.start_devchain(procs, work, gf)
    hport, pport = free_port(), free_port()
    # goat seed keeps each address's entries in a folder of its own
    # (OUT/<address>/<entry>): its first start downloads the model again,
    # from the libtorrent seeder, and the small torrents.
    dest = work / "seed-out"
    cmd = [str(GOAT), "--esplora", esplora, "-v", "seed", address, "-o", str(dest), "--state-dir", str(work / "state"),
           "--no-dht", "--loopback", "--no-upnp", "--http", f"127.0.0.1:{hport}", "--listen-port", str(pport),
           "--poll", "10m"]
    total = size + sum((work / "small" / n / f).stat().st_size for n, _ in smalls
                       for f in ("config.json", "model.safetensors"))

    def all_seeding():
        ts = status(hport).get("torrents", [])
        return len(ts) == n_small + 1 and all(t["state"] == "seeding" for t in ts)
    t0 = time.monotonic()
    g = procs.start(cmd, stdout=subprocess.DEVNULL, stderr=open(work / "seed-first.log", "w"))
    wait_until(all_seeding, 3600, "goat seed's first start (the model and the small torrents)")
    first = time.monotonic() - t0
    print(f"  first start (the model and {n_small} small torrents downloaded and proven): all seeding after "
          f"{first:.1f} s", flush=True)
    # goat alone from here.
    del ses
    procs.stop([p for p in procs.ps if p.args and str(LT_SEED) in p.args][-1])
    rows = []
    for r in range(runs):
        for how in ("SIGTERM", "kill -9"):
            if how == "SIGTERM":
                g.send_signal(signal.SIGTERM)
            else:
                g.kill()
            g.wait(120)
            drop_caches()
            probe_dir = work / "probe"
            shutil.rmtree(probe_dir, ignore_errors=True)
            probe_dir.mkdir()
            probe = subprocess.Popen([PY, str(FIRST_PIECE), str(torrent), str(probe_dir), str(pport), "120"],
                                     stdout=subprocess.PIPE, text=True)
            # The probe imports libtorrent first: wait for it to be dialing.
            time.sleep(1.0)
            t0 = time.monotonic()
            g = procs.start(cmd, stdout=subprocess.DEVNULL, stderr=open(work / f"seed-{r}-{how[-1]}.log", "w"))
            got = {}

            def read_probe():
                line = probe.stdout.readline()
                got["first"] = time.monotonic() - t0 if line.startswith("FIRST") else None
            th = threading.Thread(target=read_probe)
            th.start()
            wait_until(all_seeding, 600, f"every torrent seeding after {how}")
            seeding_s = time.monotonic() - t0
            rchar_s, disk_s = io_of(g.pid)
            th.join(130)
            probe.wait(10)
            rchar, disk = io_of(g.pid)
            refetched = sum(t.get("downloaded_bytes", 0) for t in status(hport).get("torrents", []))
            row = {"how": how, "seeding_s": seeding_s, "first_piece_s": got.get("first"),
                   "read_mb_at_seeding": rchar_s / 1e6, "disk_read_mb_at_seeding": disk_s / 1e6,
                   "read_mb_after_first_piece": rchar / 1e6, "disk_read_mb_after_first_piece": disk / 1e6,
                   "read_percent_at_seeding": 100 * rchar_s / total, "downloaded_bytes": refetched}
            rows.append(row)
            fp = f"{row['first_piece_s']:.2f} s" if row["first_piece_s"] is not None else "never"
            print(f"  {how:8} restart: first piece served after {fp}, all {n_small + 1} seeding after "
                  f"{seeding_s:.2f} s; read {rchar_s / 1e6:.1f} MB by then ({row['read_percent_at_seeding']:.3f} % of "
                  f"{human(total)}; {disk_s / 1e6:.1f} MB from the disk, the binary's pages included), "
                  f"{rchar / 1e6:.1f} MB after the first piece; downloaded since start: {refetched} bytes", flush=True)
            shutil.rmtree(probe_dir, ignore_errors=True)
    g.send_signal(signal.SIGTERM)
    g.wait(120)
    procs.stop(dc)
    return {"first_start_s": first, "small_torrents": n_small, "total_bytes": total, "rows": rows}


# ---------------------------------------------------------------- chart

def chart(paths, out):
    """docs/llama.png from saved runs (later files win for the same case)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r = {}
    for p in paths:
        r.update(json.loads(Path(p).read_text()))
    lim = r.get("limits", {})
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    f = r.get("fetch", {})
    names = list(f)
    ax[0].barh(names, [f[n]["mb_s"] for n in names], color=["#d9822b" if n == "goat" else "#5b7fa6" for n in names])
    if lim:
        ax[0].axvline(lim["disk_write_mb_s"], color="k", linestyle="--", linewidth=1, label="disk write (dd direct)")
        ax[0].legend(loc="lower right", fontsize=8)
    ax[0].set_xlabel("MB/s")
    ax[0].set_title(f"fetch {human(r['size'])}, {r.get('files', '?')} files, each in a 6 GiB memory group")
    ax[0].invert_yaxis()
    v = r.get("verify", {})
    names = list(v)
    ax[1].barh(names, [v[n]["mb_s"] for n in names], color=["#d9822b" if n.startswith("goat") else "#5b7fa6" for n in names])
    if lim:
        ax[1].axvline(lim["sha1_all_cores_mb_s"], color="k", linestyle="--", linewidth=1, label="SHA-1, all cores")
        ax[1].axvline(lim["disk_read_mb_s"], color="grey", linestyle=":", linewidth=1, label="disk read (dd direct)")
        ax[1].legend(loc="lower right", fontsize=8)
    ax[1].set_xlabel("MB/s")
    ax[1].set_title("verify the copy: cold (page cache dropped) and warm")
    ax[1].invert_yaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="16G")
    ap.add_argument("--memory-limit", type=int, default=6144, metavar="MIB")
    ap.add_argument("--piece-mib", type=int, default=16)
    ap.add_argument("--clients", default="aria2c,libtorrent,goat")
    ap.add_argument("--cases", default="limits,fetch,only,verify,restart")
    ap.add_argument("--only-folder", default="7B", help="the folder the `only` case fetches")
    ap.add_argument("--small-torrents", type=int, default=100)
    ap.add_argument("--restart-runs", type=int, default=1)
    ap.add_argument("--chart", nargs="+", metavar="JSON", help="only draw docs/llama.png from saved runs")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, copies) in target/")
    ap.add_argument("--out", default=str(bench.ROOT / "benches" / "llama.json"))
    a = ap.parse_args()
    if a.chart:
        chart(a.chart, bench.ROOT / "docs" / "llama.png")
        return
    size = bench.parse_size(a.size)
    cases = a.cases.split(",")
    clients = [c for c in a.clients.split(",") if c]
    if "goat" not in clients and set(cases) & {"verify", "restart"}:
        sys.exit("bench: verify and restart use goat's copy: keep goat in --clients")
    if not GOAT.exists():
        sys.exit(f"bench: {GOAT} missing: cargo build --release")
    if os.geteuid() != 0:
        sys.exit("bench: dropping the page cache and making memory groups need root")
    target = bench.ROOT / "target"
    target.mkdir(exist_ok=True)
    # the source, one client's copy (of one folder, for `only` alone), and dd's 4 GiB
    copy = size if set(cases) & {"fetch", "verify", "restart"} else size // 4 if "only" in cases else 0
    bench.room(target, size + copy + ((4 << 30) if "limits" in cases else 0))
    base = Path(tempfile.mkdtemp(prefix="bench-llama-", dir=target))
    base.chmod(0o755)  # opentracker drops privileges and reads its whitelist here
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results = {"machine": bench.machine(), "argv": sys.argv[1:], "size": size}
    try:
        run(procs, base, size, a, cases, clients, results)
    finally:
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    Path(a.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {a.out}", flush=True)


def run(procs, work, size, a, cases, clients, results):
    if "limits" in cases:
        results["limits"] = limits(work)
    if not set(cases) & {"fetch", "only", "verify", "restart"}:
        return
    t0 = time.monotonic()
    src = work / "src" / "llama"
    files = make_model(src, size)
    torrent, _, gf, _ = bench.tracked_torrent(procs, work, src, "llama", entry="llama", piece=a.piece_mib << 20)
    bench.start_seeders(procs, work, torrent, src.parent, 1)
    dc, esplora, address = bench.start_devchain(procs, work, gf)
    print(f"== the model: {human(size)} in {len(files)} files, {a.piece_mib} MiB pieces; made, hashed and seeding "
          f"in {time.monotonic() - t0:.0f} s ==", flush=True)
    results["files"] = len(files)
    if "only" in cases:
        print(f"== only the {a.only_folder} folder, each client in {a.memory_limit} MiB ==", flush=True)
        results["only"] = only(work, files, torrent, esplora, address, clients, a.memory_limit, a.only_folder)
    dest = work / "leech-goat"
    if ("fetch" in cases or not dest.exists()) and set(cases) & {"fetch", "verify", "restart"}:
        print(f"== fetch, each client in {a.memory_limit} MiB (page cache included), page cache dropped first ==",
              flush=True)
        results["fetch"] = fetch(procs, work, size, files, torrent, esplora, address,
                                 clients if "fetch" in cases else ["goat"], a.memory_limit)
    if "verify" in cases:
        print("== verify (the goat copy) ==", flush=True)
        results["verify"] = verify(dest, size)
    if "restart" in cases:
        print(f"== goat seed restarts: the model and {a.small_torrents} small torrents ==", flush=True)
        procs.stop(dc)
        # one copy besides the source at a time: the seed makes its own
        shutil.rmtree(dest, ignore_errors=True)
        results["restart"] = restart(procs, work, size, torrent, gf, a.small_torrents, a.restart_runs)


if __name__ == "__main__":
    main()

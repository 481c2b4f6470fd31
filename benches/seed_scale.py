#!/usr/bin/python3
"""goat seed at scale: one daemon holding many torrents with many peers.

usage: seed_scale.py GOAT_BIN [--torrents 100] [--peers 50] [--size-kib 2048]
                     [--upload-rate 4M] [--v1-only] [--out FILE.json] [--keep]

On 127.0.0.1 only, bounded in time, everything removed at the end:
  1. makes N torrents of random data (python3-libtorrent's create_torrent);
  2. a libtorrent "origin" session seeds all of them;
  3. `goat devchain` publishes one goatfile listing all N magnets;
  4. `goat seed` follows the address, fetches all N from the origin, proves
     them and seeds them; then the origin stops;
  5. P libtorrent sessions (one process, each its own peer and port) each
     download 2 of the torrents from goat alone; goat's --max-upload-rate
     keeps the transfer long enough that all P stay connected for a while
     (libtorrent does not rate-limit peers on the local network);
  6. meanwhile goat's RSS is sampled every 0.5 s (/proc/PID/status VmRSS,
     peak VmHWM) and `/status` is timed (GET over a fresh connection each
     time, every 0.2 s).

Prints one JSON object (also written to --out): RSS before and during the
peer phase, peak RSS, /status latency percentiles with and without peers,
connected peers seen in /status, and whether every peer completed intact.
"""
import argparse, hashlib, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

import libtorrent as lt


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid, field="VmRSS"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def get_status(http):
    t = time.perf_counter()
    with urllib.request.urlopen(f"http://{http}/status", timeout=10) as r:
        body = r.read()
    return time.perf_counter() - t, json.loads(body)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


def lt_settings(port, **extra):
    s = {
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "user_agent": "goat-seed-scale",
        "alert_mask": 0,
        # no queueing: every torrent active (the origin holds all of them)
        "active_downloads": -1, "active_seeds": -1, "active_limit": -1, "active_checking": 8,
        "connections_limit": 2000,
        # librqbit 9.1 does not speak Message Stream Encryption: a libtorrent
        # peer that opens with it is dropped ("pstr should be 19 bytes long"),
        # and one told about goat only by connect_peer may never try plain.
        "out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled),
    }
    s.update(extra)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("goat")
    ap.add_argument("--torrents", type=int, default=100)
    ap.add_argument("--peers", type=int, default=50)
    ap.add_argument("--size-kib", type=int, default=2048)
    ap.add_argument("--upload-rate", default="4M", help="goat seed --max-upload-rate")
    ap.add_argument("--limit", type=float, default=900, help="seconds for the whole run")
    ap.add_argument("--out")
    ap.add_argument("--v1-only", action="store_true", help="v1 torrents (default: libtorrent's hybrid v1+v2)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs) at the end")
    a = ap.parse_args()
    deadline = time.time() + a.limit
    work = tempfile.mkdtemp(prefix="goat-seed-scale-")
    procs = []

    def cleanup(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if a.keep:
            print(f"seed_scale: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        return run(a, work, procs, deadline)
    finally:
        cleanup()


def run(a, work, procs, deadline):
    # 1. torrents
    data = os.path.join(work, "origin")
    tdir = os.path.join(work, "torrents")
    os.makedirs(data)
    os.makedirs(tdir)
    infos, digests = [], []
    for i in range(a.torrents):
        name = f"m{i:03d}"
        d = os.path.join(data, name)
        os.makedirs(d)
        blob = os.urandom(a.size_kib * 1024)
        with open(os.path.join(d, "weights.bin"), "wb") as f:
            f.write(blob)
        digests.append(hashlib.sha256(blob).hexdigest())
        fs = lt.file_storage()
        lt.add_files(fs, d)
        ct = lt.create_torrent(fs, 256 * 1024, flags=lt.create_torrent.v1_only if a.v1_only else 0)
        lt.set_piece_hashes(ct, data)
        path = os.path.join(tdir, name + ".torrent")
        with open(path, "wb") as f:
            f.write(lt.bencode(ct.generate()))
        infos.append(lt.torrent_info(path))

    def stage(msg):
        print(f"seed_scale: {msg}", file=sys.stderr, flush=True)

    stage(f"made {a.torrents} torrents")
    # 2. origin
    oport = free_port()
    origin = lt.session(lt_settings(oport))
    for ti in infos:
        origin.add_torrent({"ti": ti, "save_path": data})
    t0 = time.time()
    while any(not h.status().is_seeding for h in origin.get_torrents()):
        if time.time() - t0 > 120:
            raise SystemExit("origin did not check its data")
        time.sleep(0.2)

    stage("origin seeding")
    # 3. goatfile on the devchain
    gf = os.path.join(work, "goatfile.yaml")
    with open(gf, "w") as f:
        f.write("goat: 1\nname: many\nentries:\n")
        for i, ti in enumerate(infos):
            f.write(f'  - name: m{i:03d}\n    magnet: "magnet:?xt=urn:btih:{ti.info_hashes().v1}&dn=m{i:03d}&x.pe=127.0.0.1:{oport}"\n')
    chain_log = open(os.path.join(work, "chain.log"), "w+")
    procs.append(subprocess.Popen([a.goat, "devchain", "--for", str(int(a.limit) + 60), "--goatfile", gf],
                                  stdout=chain_log, stderr=subprocess.STDOUT))
    kv = {}
    while "goatfile" not in kv:
        if time.time() > deadline:
            raise SystemExit("devchain did not start")
        time.sleep(0.2)
        chain_log.seek(0)
        kv = dict(l.split(" ", 1) for l in chain_log.read().splitlines() if " " in l)
    esplora, address = kv["esplora"].strip(), kv["address"].strip()

    stage("devchain up")
    # 4. goat seed
    gport, http = free_port(), f"127.0.0.1:{free_port()}"
    seed_log = open(os.path.join(work, "seed.log"), "w")
    seed = subprocess.Popen([a.goat, "--esplora", esplora, "seed", address, "-o", os.path.join(work, "files"),
                             "--state-dir", os.path.join(work, "state"), "--listen-port", str(gport), "--loopback",
                             "--no-dht", "--http", http, "--poll", "1h", "--run-for", str(int(a.limit)),
                             "--max-upload-rate", a.upload_rate],
                            stdout=seed_log, stderr=subprocess.STDOUT)
    procs.append(seed)
    t_fetch = time.time()
    st = {}
    while True:
        if time.time() > deadline or seed.poll() is not None:
            tail = open(os.path.join(work, "seed.log")).read()[-3000:]
            raise SystemExit(f"goat seed did not seed all {a.torrents} torrents; its log ends:\n{tail}")
        try:
            _, st = get_status(http)
        except OSError:
            st = {}
        if len([t for t in st.get("torrents", []) if t["state"] == "seeding"]) == a.torrents:
            break
        time.sleep(0.5)
    fetch_s = time.time() - t_fetch
    stage(f"goat seed holds all {a.torrents} in {fetch_s:.0f} s")
    del origin  # the peers below can only get data from goat

    # idle samples: many torrents, no peers
    time.sleep(2)
    idle_rss = rss_kib(seed.pid)
    idle_lat = [get_status(http)[0] for _ in range(50)]

    # 5. peers
    rss, lat, seen_peers = [], [], []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            r = rss_kib(seed.pid)
            if r:
                rss.append(r)
            try:
                dt, s = get_status(http)
                lat.append(dt)
                seen_peers.append(sum(t["peers"] for t in s["torrents"]))
            except OSError:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    sessions, handles = [], []
    for j in range(a.peers):
        s = lt.session(lt_settings(free_port()))
        save = os.path.join(work, "peers", f"p{j:02d}")
        for k in (j % a.torrents, (j + a.peers) % a.torrents):
            h = s.add_torrent({"ti": infos[k], "save_path": save})
            h.connect_peer(("127.0.0.1", gport), 0)
            handles.append((h, k, save))
        sessions.append(s)
    t_peers = time.time()
    redial = t_peers + 5
    while not all(h.status().is_seeding for h, _, _ in handles):
        if time.time() > deadline:
            break
        # re-dial every 5 s (libtorrent does not retry a peer it was only
        # told about by connect_peer once that connection ended)
        if time.time() > redial:
            redial = time.time() + 5
            for h, _, _ in handles:
                if not h.status().is_seeding and h.status().num_peers == 0:
                    h.connect_peer(("127.0.0.1", gport), 0)
        time.sleep(0.5)
    peers_s = time.time() - t_peers
    failed_bytes = sum(h.status().total_failed_bytes for h, _, _ in handles)
    stuck = [(k, round(h.status().progress, 3), h.status().num_peers, str(h.status().state), h.status().errc.message())
             for h, k, _ in handles if not h.status().is_seeding]
    stop.set()
    th.join()
    intact = 0
    for h, k, save in handles:
        p = os.path.join(save, f"m{k:03d}", "weights.bin")
        if os.path.exists(p) and hashlib.sha256(open(p, "rb").read()).hexdigest() == digests[k]:
            intact += 1
    peak = rss_kib(seed.pid, "VmHWM")
    r = {
        "torrents": a.torrents, "torrent_mib": a.size_kib / 1024, "peers": a.peers, "goat_upload_rate": a.upload_rate,
        "hybrid_torrents": not a.v1_only,
        "fetch_all_seconds": round(fetch_s, 1),
        "rss_idle_mib": round(idle_rss / 1024, 1) if idle_rss else None,
        "rss_with_peers_mib": {"min": round(min(rss) / 1024, 1), "median": round(statistics.median(rss) / 1024, 1),
                               "max": round(max(rss) / 1024, 1)} if rss else None,
        "rss_peak_mib": round(peak / 1024, 1) if peak else None,
        "status_ms_idle": {"p50": round(pct(idle_lat, 50) * 1000, 1), "p99": round(pct(idle_lat, 99) * 1000, 1),
                           "max": round(max(idle_lat) * 1000, 1)},
        "status_ms_with_peers": {"p50": round(pct(lat, 50) * 1000, 1), "p99": round(pct(lat, 99) * 1000, 1),
                                 "max": round(max(lat) * 1000, 1), "samples": len(lat)} if lat else None,
        "connected_peers_max": max(seen_peers) if seen_peers else 0,
        "peer_phase_seconds": round(peers_s, 1),
        "downloads_intact": f"{intact}/{len(handles)}",
        "bytes_that_failed_a_hash_check_at_peers": failed_bytes,
        "incomplete": stuck,
    }
    print(json.dumps(r, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(r, f, indent=1)
    return 0 if intact == len(handles) else 1


if __name__ == "__main__":
    sys.exit(main())

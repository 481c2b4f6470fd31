#!/usr/bin/python3
"""Web seeds (BEP 19), measured: goat against aria2c from the same nginx,
and a mixed fetch (one rate-limited libtorrent peer plus one web seed)
against each source alone. Run through benches/webseed.sh, which installs
the peers and builds goat. Figures are printed, never asserted.

usage: webseed.py [--size 1G] [--runs 3] [--peer-rate 60M] [--seed-rate 8M]
  --peer-rate   the libtorrent seeder's upload limit in the mixed case
  --seed-rate   nginx's limit_rate per connection in the mixed case (goat
                fetches up to 8 pieces at once, so the web seed gives at
                most 8 times this)
"""
import argparse, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (GOAT, LT_SEED, PY, Procs, free_port, human, make_payload, parse_size, run_case,  # noqa: E402
                   wait_until)


def enc(s):
    from urllib.parse import quote
    return quote(s, safe="")


def nginx(procs, work, root, rate=None):
    """Debian's nginx on a loopback port serving `root` with Range."""
    port = free_port()
    d = work / f"nginx-{port}"
    (d / "tmp").mkdir(parents=True)
    user = "user root;" if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0" else ""
    limit = f"limit_rate {rate};" if rate else ""
    (d / "nginx.conf").write_text(f"""{user}
worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{ access_log off; sendfile on; client_body_temp_path {d}/tmp/b; proxy_temp_path {d}/tmp/p;
  fastcgi_temp_path {d}/tmp/f; uwsgi_temp_path {d}/tmp/u; scgi_temp_path {d}/tmp/s;
  server {{ listen 127.0.0.1:{port}; root {root}; {limit} }} }}
""")
    procs.start(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 10, "nginx")
    return port


def make_torrent(payload, out, web_seed, piece=4 << 20):
    import libtorrent as lt
    fs = lt.file_storage()
    lt.add_files(fs, str(payload))
    t = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    if web_seed:
        t.add_url_seed(web_seed)
    lt.set_piece_hashes(t, str(payload.parent))
    out.write_bytes(lt.bencode(t.generate()))
    return str(lt.torrent_info(str(out)).info_hash())


def devchain(procs, work, yaml):
    gf = work / f"goatfile-{time.monotonic_ns()}.yaml"
    gf.write_text(yaml)
    out = work / f"devchain-{time.monotonic_ns()}.out"
    p = procs.start([str(GOAT), "devchain", "--for", "7200", "--goatfile", str(gf)], stdout=open(out, "w"),
                    stderr=subprocess.DEVNULL)
    wait_until(lambda: "goatfile" in out.read_text(), 900, "devchain")
    kv = dict(line.split(" ", 1) for line in out.read_text().splitlines())
    return p, kv["esplora"], kv["address"]


def goat_cmd(esplora, address, dest, extra=()):
    return [str(GOAT), "--esplora", esplora, "-q", "fetch", address, "-o", str(dest), "--no-dht", "--loopback",
            "--listen-port", str(free_port()), "--metadata-timeout", "30"] + list(extra)


def aria2_torrent(torrent, dest):
    """aria2c given the .torrent with its url-list and no peer: pieces from
    the web seed, each checked against the torrent's SHA-1 (as goat)."""
    return ["aria2c", "--dir", str(dest), "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
            "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=none",
            "--summary-interval=0", "--console-log-level=error", "--disable-ipv6=true",
            f"--listen-port={free_port()}", str(torrent)]


def aria2_plain(port, files, dest):
    """aria2c fetching the same files as plain URLs (no piece check): the
    HTTP reference."""
    lst = dest.parent / "urls.txt"
    lst.write_text("".join(f"http://127.0.0.1:{port}/payload/{n}\n  out=payload/{n}\n" for n, _ in files))
    return ["aria2c", "--dir", str(dest), "--file-allocation=none", "--summary-interval=0",
            "--console-log-level=error", "-j", "4", "-i", str(lst)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer-rate", default="60M")
    ap.add_argument("--seed-rate", default="8m")
    a = ap.parse_args()
    size = parse_size(a.size)
    work = Path(tempfile.mkdtemp(prefix="goat-webseed-bench-"))
    procs = Procs()
    try:
        root = work / "srv"
        payload = root / "payload"
        files = make_payload(payload, size)
        torrent = work / "payload.torrent"
        ih = make_torrent(payload, torrent, None)
        port = nginx(procs, work, root)
        (root / "meta").mkdir()
        shutil.copy(torrent, root / "meta" / "payload.torrent")
        seeded = work / "seeded.torrent"
        make_torrent(payload, seeded, f"http://127.0.0.1:{port}/")
        ws = f"http://127.0.0.1:{port}/"
        meta = f"http://127.0.0.1:{port}/meta/payload.torrent"
        magnet = f"magnet:?xt=urn:btih:{ih}&dn=payload&ws={enc(ws)}"
        _, esplora, address = devchain(procs, work, f'goat: 1\nname: payload\nentries:\n  - name: payload\n'
                                                    f'    magnet: "{magnet}"\n    metadata: "{meta}"\n')
        print(f"\n== web seed only: {human(size)} ({len(files)} files) from nginx, {a.runs} run(s) ==", flush=True)
        alone = run_case("web seed only", {
            "goat": lambda d: goat_cmd(esplora, address, d),
            "aria2c (torrent + url-list)": lambda d: aria2_torrent(seeded, d),
            "aria2c (plain HTTP, 4 files)": lambda d: aria2_plain(port, files, d),
        }, a.runs, size, payload, files, work)

        # Mixed: a rate-limited libtorrent peer and a rate-limited web seed.
        slow = nginx(procs, work, root, a.seed_rate)
        peer_rate = parse_size(a.peer_rate)
        sport = free_port()
        log = work / "seed.log"
        procs.start([PY, str(LT_SEED), str(torrent), str(root), str(sport), "7200", str(peer_rate)], stdout=open(log, "w"))
        wait_until(lambda: "SEEDING" in log.read_text(), 600, "libtorrent seeder")
        slow_ws = enc(f"http://127.0.0.1:{slow}/")
        mk = lambda m: devchain(procs, work, f'goat: 1\nname: payload\nentries:\n  - name: payload\n'
                                             f'    magnet: "{m}"\n    metadata: "{meta}"\n')
        _, e1, a1 = mk(f"magnet:?xt=urn:btih:{ih}&dn=payload&ws={slow_ws}")
        _, e2, a2 = mk(f"magnet:?xt=urn:btih:{ih}&dn=payload&x.pe=127.0.0.1:{sport}")
        _, e3, a3 = mk(f"magnet:?xt=urn:btih:{ih}&dn=payload&x.pe=127.0.0.1:{sport}&ws={slow_ws}")
        print(f"\n== mixed: peer at {a.peer_rate}/s, web seed at {a.seed_rate}/s per connection ==", flush=True)
        mixed = run_case("mixed", {
            "goat, web seed only": lambda d: goat_cmd(e1, a1, d),
            "goat, peer only": lambda d: goat_cmd(e2, a2, d),
            "goat, peer + web seed": lambda d: goat_cmd(e3, a3, d),
        }, a.runs, size, payload, files, work)

        print(f"\n| web seed only, {human(size)} | MB/s (median) | seconds | peak RSS MB |\n|---|---|---|---|")
        for n, (mbs, s, rss, _) in alone.items():
            print(f"| {n} | {mbs:.1f} | {s:.1f} | {rss:.1f} |")
        best = alone.get("aria2c (torrent + url-list)")
        if best and "goat" in alone:
            print(f"\ngoat / aria2c (torrent + url-list): {alone['goat'][0] / best[0]:.2f}x")
        print(f"\n| mixed, {human(size)} | MB/s (median) | seconds | peak RSS MB |\n|---|---|---|---|")
        for n, (mbs, s, rss, _) in mixed.items():
            print(f"| {n} | {mbs:.1f} | {s:.1f} | {rss:.1f} |")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

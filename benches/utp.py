#!/usr/bin/python3
"""TCP against uTP, measured: goat and libtorrent each fetching the same
payload from libtorrent seeders that take TCP and uTP, TCP only, or uTP
only, in one run; on loopback, and (--rate) across two network namespaces
joined by a veth with a tbf rate limit both ways. Run through
benches/utp.sh, which installs the peers and builds goat. Figures are
printed, never asserted.

usage: utp.py [--size 512M] [--runs 3] [--rate 100mbit] [--rate-size 64M]

What each row says:
  goat, TCP+uTP (default) <- any seeder : goat opens TCP first, so against a
      seeder with TCP it runs over TCP; the row shows uTP being on costs
      nothing there.
  goat --no-utp <- any seeder : the same without uTP.
  goat <- uTP-only seeder : TCP refused-by-drop, then uTP: uTP's own speed
      through goat's gate.
  libtorrent --tcp-only / --utp-only : the same transports in a client
      nobody here wrote, for reference.
"""
import argparse, os, shutil, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (GOAT, PY, ROOT, Procs, free_port, human, make_payload, make_torrent, parse_size,  # noqa: E402
                   run_case, wait_until)

LT_PEER = ROOT / "tests" / "support" / "lt_peer.py"


class Bed:
    """Two namespaces, seed (10.77.0.1) and leech (10.77.0.2), joined by one
    veth pair with a tbf rate limit on each side; removed by close()."""

    def __init__(self, rate):
        self.tag = f"gu{os.getpid()}"
        self.seed, self.leech = f"{self.tag}-s", f"{self.tag}-l"
        sh = lambda *c: subprocess.run(c, check=True)
        for ns in (self.seed, self.leech):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.seed, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", self.leech)
        for ns, dev, ip in ((self.seed, "v0", "10.77.0.1/24"), (self.leech, "v1", "10.77.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", ip, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate,
               "burst", "256kb", "latency", "50ms")

    def run(self, ns, cmd):
        return ["ip", "netns", "exec", ns] + cmd

    def close(self):
        for ns in (self.seed, self.leech):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def seeder(procs, work, torrent, save, how, wrap=lambda c: c, bind="127.0.0.1"):
    port = free_port()
    log = work / f"seed-{how}-{port}.log"
    flags = {"both": [], "tcp": ["--tcp-only"], "utp": ["--utp-only"]}[how]
    cmd = [PY, str(LT_PEER), "--save", str(save), "--port", str(port), "--lifetime", "7200", "--torrent",
           str(torrent), "--bind", bind] + flags
    procs.start(wrap(cmd), stdout=open(log, "w"))
    wait_until(lambda: "SEEDING" in log.read_text(), 600, f"libtorrent seeder ({how})")
    return port


def goatfile(work, ih, at):
    gf = work / f"g-{at.replace(':', '_')}.yaml"
    gf.write_text(f'goat: 1\nentries:\n  - name: payload\n    magnet: "magnet:?xt=urn:btih:{ih}&dn=payload'
                  f'&x.pe={at}"\n')
    return gf


def clients_for(work, ih, torrent, ports, host, wrap, loopback):
    lp = lambda: str(free_port())
    goat = lambda at, extra: lambda d: wrap([str(GOAT), "-q", "fetch", "--goatfile", str(goatfile(work, ih, at)),
                                            "-o", str(d), "--no-dht", "--listen-port", lp()]
                                           + (["--loopback"] if loopback else []) + extra)
    lt = lambda at, flag: lambda d: wrap([PY, str(LT_PEER), "--save", str(d), "--port", lp(), "--lifetime", "1800",
                                          "--torrent", str(torrent), "--peer", at, "--exit-when-done", flag]
                                         + ([] if loopback else ["--bind", "10.77.0.2"]))
    at = lambda how: f"{host}:{ports[how]}"
    return {
        "goat, TCP+uTP (default) <- TCP+uTP seeder": goat(at("both"), []),
        "goat --no-utp <- TCP+uTP seeder": goat(at("both"), ["--no-utp"]),
        "goat <- uTP-only seeder (over uTP)": goat(at("utp"), []),
        "libtorrent --tcp-only <- TCP+uTP seeder": lt(at("both"), "--tcp-only"),
        "libtorrent --utp-only <- TCP+uTP seeder": lt(at("both"), "--utp-only"),
    }


def table(title, rows):
    print(f"\n| {title} | MB/s (median) | seconds | client CPU s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for n, (mbs, t, m, c) in rows.items():
        print(f"| {n} | {mbs:.1f} | {t:.1f} | {c:.1f} | {m:.1f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="512M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", default="100mbit", help="tbf rate of the namespace case ('' skips it)")
    ap.add_argument("--rate-size", default="64M")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="goat-utp-bench-"))
    work.chmod(0o755)
    procs = Procs()
    bed = None
    try:
        for label, size_s, rate in (("loopback", a.size, None), ("netns", a.rate_size, a.rate or None)):
            if label == "netns" and not rate:
                continue
            size = parse_size(size_s)
            src = work / f"src-{label}"
            payload = src / "payload"
            files = make_payload(payload, size)
            torrent = work / f"{label}.torrent"
            ih = make_torrent(payload, "http://127.0.0.1:9/announce", torrent)
            if label == "netns":
                bed = Bed(rate)
                wrap_s = lambda c: bed.run(bed.seed, c)
                wrap_l = lambda c: bed.run(bed.leech, c)
                ports = {h: seeder(procs, work, torrent, src, h, wrap_s, "10.77.0.1") for h in ("both", "utp")}
                host, loop = "10.77.0.1", False
            else:
                wrap_l = lambda c: c
                ports = {h: seeder(procs, work, torrent, src, h) for h in ("both", "utp")}
                host, loop = "127.0.0.1", True
            title = f"{human(size)}, {label}" + (f", tbf {rate} each way" if rate else "")
            print(f"\n== {title}, {a.runs} run(s) ==", flush=True)
            rows = run_case(label, clients_for(work, ih, torrent, ports, host, wrap_l, loop), a.runs, size, payload,
                        files, work)
            table(title, rows)
            procs.stop_all()
            procs = Procs()
            shutil.rmtree(src, ignore_errors=True)
    finally:
        procs.stop_all()
        if bed:
            bed.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

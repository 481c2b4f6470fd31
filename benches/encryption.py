#!/usr/bin/python3
"""Encrypted peers (MSE/PE), measured: goat and libtorrent (and aria2c)
each fetching the same payload from the same libtorrent seeder, once with
RC4 required and once in plaintext, in one run. The seeder accepts both
(libtorrent's default policy), so only the leecher decides. Run through
benches/encryption.sh, which installs the peers and builds goat. Figures
are printed, never asserted.

usage: encryption.py [--size 1G] [--runs 3] [--baseline GOAT_BINARY]
  --baseline  also run another goat binary (e.g. one built before the
              peer gate) in plaintext, to see what the gate's relay costs
"""
import argparse, shutil, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (Procs, human, leech_commands, make_payload, parse_size, run_case, start_devchain,  # noqa: E402
                   start_seeders, tracked_torrent)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline")
    a = ap.parse_args()
    size = parse_size(a.size)
    work = Path(tempfile.mkdtemp(prefix="goat-enc-bench-"))
    # opentracker reads its whitelist after dropping privileges: a 0700
    # folder hides it and every announce is refused.
    work.chmod(0o755)
    procs = Procs()
    try:
        payload = work / "src" / "payload"
        files = make_payload(payload, size)
        torrent, _, goatfile, _ = tracked_torrent(procs, work, payload, "payload")
        start_seeders(procs, work, torrent, payload.parent, 1)
        _, esplora, address = start_devchain(procs, work, goatfile)
        lt = lambda enc: lambda d: ["env", f"LT_ENC={enc}"] + leech_commands("libtorrent", torrent, d, esplora, address)
        goat = lambda mode: lambda d: leech_commands("goat", torrent, d, esplora, address) + ["--encryption", mode]
        aria = lambda extra: lambda d: leech_commands("aria2c", torrent, d, esplora, address) + extra
        clients = {
            "goat, RC4 required": goat("require"),
            "goat, plaintext first": goat("prefer-plaintext"),
            "goat, default (prefer-encrypted)": goat("prefer-encrypted"),
            "libtorrent, RC4 forced": lt("forced"),
            "libtorrent, plaintext only": lt("disabled"),
            "aria2c, RC4 required": aria(["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"]),
            "aria2c, default": aria([]),
        }
        if a.baseline:
            clients["baseline goat (plaintext, no gate)"] = lambda d: [a.baseline] + leech_commands(
                "goat", torrent, d, esplora, address)[1:]
        print(f"\n== {human(size)} ({len(files)} files) from one libtorrent seeder, {a.runs} run(s) ==", flush=True)
        rows = run_case("", clients, a.runs, size, payload, files, work)
        gb = size / 1e9
        print(f"\n| {human(size)}, one libtorrent seeder | MB/s (median) | seconds | client CPU s per GB | peak RSS MB |")
        print("|---|---|---|---|---|")
        for n, (mbs, t, m, c) in rows.items():
            print(f"| {n} | {mbs:.1f} | {t:.1f} | {c / gb:.2f} | {m:.1f} |")
        for who, enc, plain in (("goat", "goat, RC4 required", "goat, plaintext first"),
                                ("libtorrent", "libtorrent, RC4 forced", "libtorrent, plaintext only"),
                                ("aria2c", "aria2c, RC4 required", "aria2c, default")):
            if enc in rows and plain in rows:
                (_, te, _, ce), (_, tp, _, cp) = rows[enc], rows[plain]
                print(f"RC4 cost, {who}: {tp / te:.2f}x the plaintext speed, {(ce - cp) / gb:+.2f} CPU s per GB")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A/B rounds on one payload with the seeder kept running (faster than
bench.py when comparing two builds; figures are not written anywhere).

usage: benches/ab.py SIZE ROUNDS CLIENT...
  CLIENT as in bench.py: 'goat', 'goat ENV=VALUE --flag', 'aria2c', 'libtorrent'.
  GOAT_BENCH_BIN picks goat's binary, SEEDERS the number of libtorrent
  seeders (1). To compare two builds, point GOAT_BENCH_BIN at a wrapper
  that runs the build an environment value names (`goat WHICH=a`).
Rounds are interleaved, as in bench.py. The payload stays in
/tmp/goat-ab/SIZE for the next run."""
import os, shutil, statistics, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

if len(sys.argv) < 4:
    sys.exit(__doc__)
size, rounds, clients = bench.parse_size(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
work = Path("/tmp/goat-ab") / sys.argv[1]
work.mkdir(parents=True, exist_ok=True)
payload = work / "src" / "payload"
if not payload.exists():
    bench.make_payload(payload, size)
files = [(f.name, f.stat().st_size) for f in sorted(payload.iterdir())]
procs = bench.Procs()
try:
    torrent, _, goatfile, _ = bench.tracked_torrent(procs, work, payload, "payload")
    bench.start_seeders(procs, work, torrent, payload.parent, int(os.environ.get("SEEDERS", "1")))
    _, esplora, address = bench.start_devchain(procs, work, goatfile)
    rates = {c: [] for c in clients}
    for r in range(rounds):
        for c in clients:
            dest = work / "leech" / "d"
            shutil.rmtree(dest.parent, ignore_errors=True)
            dest.mkdir(parents=True)
            subprocess.run(["sync"])
            dt, mb, rc, err = bench.timed(bench.leech_commands(c, torrent, dest, esplora, address), timeout=3600)
            ok = rc == 0 and bench.complete(dest, payload, files)
            rates[c].append(size / dt / 1e6)
            print(f"{c:30} round {r + 1}: {size / dt / 1e6:7.1f} MB/s  peak RSS {mb:.0f} MB"
                  + ("" if ok else f"  FAILED (rc {rc}): {err.strip()[-200:]}"), flush=True)
    for c in clients:
        print(f"{c:30} median {statistics.median(rates[c]):7.1f}  rounds {' '.join(f'{x:.0f}' for x in rates[c])}")
finally:
    shutil.rmtree(work / "leech", ignore_errors=True)
    procs.stop_all()

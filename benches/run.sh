#!/usr/bin/env bash
# Benchmarks: goat against BitTorrent clients nobody here wrote, on loopback.
# Prints every figure side by side and writes docs/benchmarks.md and
# docs/benchmarks.png. Not a test: figures are measured, never asserted.
#
# usage: bash benches/run.sh [--sizes 2G,8G] [--runs 3] [--walk 100,10000,100000] [--quick]
#   --quick   256M payload, 1 run, walk 100,10000 (a smoke run of the script)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v transmission-cli >/dev/null || need+=(transmission-cli)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || need+=(python3-matplotlib)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
cargo build --release --locked
exec /usr/bin/python3 benches/bench.py "$@"

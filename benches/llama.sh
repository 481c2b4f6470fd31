#!/usr/bin/env bash
# LLaMA scale (benches/llama.py): a 16 GiB multi-file model fetched by goat,
# aria2c and libtorrent inside a 6 GiB memory group, verify cold and warm,
# and restarts of goat seed holding it with 100 small torrents, beside this
# machine's ceilings. Needs root (page cache drops,
# memory groups) and 16 GiB x 2 + 4 GiB of disk plus a 20 GB margin.
#
# usage: bash benches/llama.sh [--size 16G] [--memory-limit 6144] [--cases limits,fetch,only,verify,restart]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v iperf3 >/dev/null || need+=(iperf3)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || need+=(python3-matplotlib)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
cargo build --release --locked
exec /usr/bin/python3 benches/llama.py "$@"

#!/usr/bin/env bash
# The swarm test bed (benches/swarm/swarm.py): N network namespaces on a
# bridge, opentracker, the devchain, an origin and N fetchers, with tc rate
# limits. Needs root. Installs what it uses, builds goat (release), runs the
# scenarios and writes benches/swarm/results.json; with --report also
# docs/swarm.md and its chart.
#
# usage: bash benches/swarm/run.sh [--small] [--flash] [--report] [--seed-scale] [swarm.py options]
#   --small       the CI case: 8 nodes, 32 MiB, scenarios goat and mixed
#   --flash       the flash crowd: 24 nodes within 10 s, goat, aria2c and churn,
#                 written to benches/swarm/flash.json and docs/swarm-flash*
#   --seed-scale  also benches/seed_scale.py (one goat seed, 100 torrents,
#                 50 peers), written to benches/swarm/seed_scale.json
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "benches/swarm/run.sh: needs root (ip netns, tc)" >&2; exit 2; fi
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v ip >/dev/null || need+=(iproute2)
command -v tc >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
args=()
report=0
flash=0
seed_scale=0
for a in "$@"; do
  case "$a" in
    --small) args+=(--nodes 8 --size 32M --link 100 --scenario goat,mixed --limit 300 --require-complete --out "${TMPDIR:-/tmp}/goat-swarm-small.json") ;;
    --flash) args+=(--nodes 24 --size 256M --link 100 --stagger 0.4 --limit 900 --scenario goat,aria2c,churn --out benches/swarm/flash.json); flash=1 ;;
    --report) report=1 ;;
    --seed-scale) seed_scale=1 ;;
    *) args+=("$a") ;;
  esac
done
if [ -z "${GOAT_BIN:-}" ]; then
  cargo build --release --locked
fi
/usr/bin/python3 benches/swarm/swarm.py "${args[@]}"
if [ "$report" = 1 ]; then /usr/bin/python3 benches/swarm/report.py; fi
if [ "$flash" = 1 ]; then /usr/bin/python3 benches/swarm/report.py benches/swarm/flash.json swarm-flash; fi
if [ "$seed_scale" = 1 ]; then
  /usr/bin/python3 benches/seed_scale.py "${GOAT_BIN:-$PWD/target/release/goat}" --out benches/swarm/seed_scale.json
fi

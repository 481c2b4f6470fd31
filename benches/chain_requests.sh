#!/usr/bin/env bash
# Requests to walk a whole address history, Esplora against Electrum, on
# the devchain. For each N: the goatfile is the address's oldest
# transaction, so `goat ls` (and a resolve in the worst case) reads all N.
# Usage: bash benches/chain_requests.sh [N ...]   (default 100 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/devchain.sh
GOAT="${GOAT_BIN:-$PWD/target/release/goat}"
[ -x "$GOAT" ] || cargo build --release --locked --quiet
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 10000 100000)
printf "%-8s %-9s %9s %12s %8s\n" txs protocol requests round-trips seconds
for n in "${sizes[@]}"; do
  out=$(mktemp)
  start_devchain "$out" --history "$n" --for 3600
  pid=$devchain_pid
  for proto in esplora electrum; do
    url=$esplora; [ $proto = electrum ] && url=$electrum
    start=$(date +%s.%N)
    stats=$("$GOAT" --timeout 120 "--$proto" "$url" -v ls "$addr" 2>&1 >/dev/null | grep -E '^goat: [0-9]+ requests' || true)
    end=$(date +%s.%N)
    req=$(sed -E 's/^goat: ([0-9]+) requests.*/\1/' <<<"$stats")
    rt=$(grep -oE '[0-9]+ Electrum round trips' <<<"$stats" | cut -d' ' -f1 || true)
    printf "%-8s %-9s %9s %12s %8.1f\n" "$n" "$proto" "$req" "${rt:-$req}" "$(echo "$end - $start" | bc)"
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out"
done

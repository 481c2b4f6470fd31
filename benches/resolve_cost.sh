#!/usr/bin/env bash
# What one `goat resolve` costs on the chain side, over Esplora and
# Electrum: requests (Electrum: questions and round trips), bytes received
# and seconds, on devchain addresses:
#   newest      the goatfile is the address's newest transaction (goat demo)
#   100-after   100 payments to the address after the goatfile, each in a
#               block of its own: all 100 are walked, and proven, before it
#   100-before  the same 100 payments, then the goatfile (newest)
#   100-shared  100 payments after the goatfile, all in one block
# With GOAT_BEFORE=/path/to/an/older/goat, each run is repeated with that
# binary, side by side (same servers, same chain). GOAT_SERVERS="1 2" runs
# each with one server and with two (a second devchain on the same,
# deterministic chain): the cost of the cross-checks between servers.
# Usage: bash benches/resolve_cost.sh      (GOAT_BIN to pick the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/devchain.sh
GOAT="${GOAT_BIN:-$PWD/target/release/goat}"
[ -x "$GOAT" ] || cargo build --release --locked --quiet
bins=("after:$GOAT")
[ -n "${GOAT_BEFORE:-}" ] && bins=("before:$GOAT_BEFORE" "${bins[@]}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf "| history | protocol | servers | binary | requests | round trips | bytes | seconds |\n|---|---|---:|---|---:|---:|---:|---:|\n"
for scenario in newest 100-after 100-before 100-shared; do
  case $scenario in
    newest) args=() ;;
    100-after) args=(--history 100 --per-block 1) ;;
    100-before) args=(--history 100 --per-block 1 --goatfile-last) ;;
    100-shared) args=(--history 100) ;;
  esac
  start_devchain "$work/$scenario" "${args[@]}" --for 600
  pid=$devchain_pid
  esplora1=$esplora; electrum1=$electrum
  start_devchain "$work/$scenario-2" "${args[@]}" --for 600
  pid2=$devchain_pid
  esplora2=$esplora; electrum2=$electrum
  for proto in esplora electrum; do
    for n in ${GOAT_SERVERS:-1}; do
      if [ $proto = esplora ]; then servers=(--esplora "$esplora1"); [ "$n" = 2 ] && servers+=(--esplora "$esplora2")
      else servers=(--electrum "$electrum1"); [ "$n" = 2 ] && servers+=(--electrum "$electrum2"); fi
      for b in "${bins[@]}"; do
        name=${b%%:*}; bin=${b#*:}
        start=$(date +%s.%N)
        stats=$("$bin" --timeout 60 "${servers[@]}" -v resolve "$addr" 2>&1 >/dev/null | grep -E '^goat: [0-9]+ requests' || true)
        end=$(date +%s.%N)
        req=$(sed -E 's/^goat: ([0-9]+) requests.*/\1/' <<<"$stats")
        bytes=$(grep -oE '[0-9]+ bytes' <<<"$stats" | cut -d' ' -f1 || true)
        rt=$(grep -oE '[0-9]+ Electrum round trips' <<<"$stats" | cut -d' ' -f1 || true)
        printf "| %s | %s | %s | %s | %s | %s | %s | %.2f |\n" "$scenario" "$proto" "$n" "$name" "${req:-?}" "${rt:-$req}" "${bytes:-?}" "$(echo "$end - $start" | bc)"
      done
    done
  done
  kill "$pid" "$pid2" 2>/dev/null || true
  wait "$pid" "$pid2" 2>/dev/null || true
done

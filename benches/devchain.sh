# Sourced by the chain benchmarks: start_devchain OUT [devchain args...]
# starts `$GOAT devchain` in the background, waits until it has published,
# and sets devchain_pid, esplora, electrum and addr. The caller stops it.
start_devchain() {
  local out=$1
  shift
  "$GOAT" devchain "$@" > "$out" &
  devchain_pid=$!
  for _ in $(seq 1 3000); do grep -q '^goatfile' "$out" && break; sleep 0.2; done
  esplora=$(awk '/^esplora/{print $2}' "$out")
  electrum=$(awk '/^electrum/{print $2}' "$out")
  addr=$(awk '/^address/{print $2}' "$out")
}

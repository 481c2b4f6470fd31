#!/usr/bin/env bash
# The test command (README "Run the tests"). Installs what the tests need,
# then runs them. Usage: bash tests/run.sh [--interop] [--bench] [--swarm] [--llama] [--flash]
#   (default)   unit tests + end-to-end tests of the real binary
#   --interop   also the heavy BitTorrent interop runs (when present)
#   --bench     also the benchmarks (when present)
#   --swarm     also the 12-node swarm bed's report and the 100-torrent daemon
#   --llama     also LLaMA scale (benches/llama.sh: a 16 GiB model, about 40 GB of disk)
#   --flash     also the 24-node flash crowd on the swarm bed (docs/swarm.md)
set -euo pipefail
cd "$(dirname "$0")/.."

want_interop=0
want_bench=0
want_swarm=0
want_llama=0
want_flash=0
for a in "$@"; do
  case "$a" in
    --interop) want_interop=1 ;;
    --bench) want_bench=1 ;;
    --swarm) want_swarm=1 ;;
    --llama) want_llama=1 ;;
    --flash) want_flash=1 ;;
    *) echo "usage: bash tests/run.sh [--interop] [--bench] [--swarm] [--llama] [--flash]" >&2; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null; then
  echo "tests/run.sh: cargo is required (install Rust with rustup)" >&2
  exit 2
fi

# Real BitTorrent peers nobody here wrote, from Debian's packages.
need_pkgs=()
command -v aria2c >/dev/null || need_pkgs+=(aria2)
command -v opentracker >/dev/null || need_pkgs+=(opentracker)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need_pkgs+=(python3-libtorrent)
command -v kill >/dev/null || need_pkgs+=(procps)
# A SOCKS5 proxy and a TLS front nobody here wrote, and the CA tool
# (tests/cli/privacy.rs).
command -v microsocks >/dev/null || need_pkgs+=(microsocks)
command -v socat >/dev/null || need_pkgs+=(socat)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v ip >/dev/null || need_pkgs+=(iproute2)
# Web seeds (tests/cli/webseed.rs): nginx serves the payload with Range.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
/usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null || need_pkgs+=(python3-venv)
# A client that requires encryption (MSE/PE), driven over its RPC
# (tests/cli/encryption.rs).
command -v transmission-daemon >/dev/null || need_pkgs+=(transmission-daemon)
command -v transmission-remote >/dev/null || need_pkgs+=(transmission-cli)
# A filesystem with reflinks, made on an image and mounted only inside the
# test's own mount namespace (tests/cli/local.rs); filefrag shows shared
# extents.
command -v mkfs.btrfs >/dev/null || [ -x /usr/sbin/mkfs.btrfs ] || need_pkgs+=(btrfs-progs)
command -v filefrag >/dev/null || [ -x /usr/sbin/filefrag ] || need_pkgs+=(e2fsprogs)
# A UPnP IGD gateway (Debian's miniupnpd, nftables build: no maintainer
# scripts, so installing it starts nothing) run only inside network
# namespaces the test makes (tests/support/nat_gateway.sh), and the client
# that lists its mappings (tests/cli/reach.rs).
[ -x /usr/sbin/miniupnpd ] || need_pkgs+=(miniupnpd-nftables)
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || need_pkgs+=(nftables)
command -v upnpc >/dev/null || need_pkgs+=(miniupnpc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # The package starts the machine's own nginx on port 80: the tests start
  # their own on loopback ports, and leave the machine as it was.
  case " ${need_pkgs[*]} " in
    *" nginx-light "*) $SUDO service nginx stop >/dev/null 2>&1 || $SUDO nginx -s stop >/dev/null 2>&1 || true ;;
  esac
  # So does transmission-daemon's package start its own daemon.
  case " ${need_pkgs[*]} " in
    *" transmission-daemon "*) $SUDO service transmission-daemon stop >/dev/null 2>&1 || $SUDO pkill -x transmission-da >/dev/null 2>&1 || true ;;
  esac
fi

# ord, the reference implementation, judges goat's envelope parser
# (tests/cli/ord_diff.rs). Built once (about 6 minutes on 2 cores), then
# reused from ~/.cargo/bin.
if ! ord --version 2>/dev/null | grep -qx "ord 0.29.1"; then
  if ! "$HOME/.cargo/bin/ord" --version 2>/dev/null | grep -qx "ord 0.29.1"; then
    echo "tests/run.sh: building ord 0.29.1 (once, about 6 minutes)"
    cargo install ord --version 0.29.1 --locked --quiet
  fi
  export GOAT_ORD="$HOME/.cargo/bin/ord"
fi

# embit, a wallet library nobody here wrote, signs the PSBTs `goat publish`
# writes (tests/cli/publish.rs); huggingface_hub reads the hub cache goat
# writes and builds (tests/cli/local.rs); from PyPI into a venv under target/.
venv="$PWD/target/test-venv"
if ! "$venv/bin/python" -c "import embit, huggingface_hub" 2>/dev/null; then
  echo "tests/run.sh: installing embit and huggingface_hub into $venv"
  [ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "embit==0.8.0" "huggingface_hub==0.36.0"
fi
export GOAT_PYTHON="$venv/bin/python"

export CARGO_TERM_COLOR=never
export GOAT_INTEROP=$want_interop
# Two jobs: the machine has two cores and the end-to-end tests spawn servers.
cargo build --locked --workspace --all-targets
cargo test --locked --workspace --lib --bins --tests -- --test-threads 2

# The swarm test bed's small case: real goat, aria2c and libtorrent nodes in
# network namespaces (needs root, as CI runs). The debug binary just built
# is enough for 32 MiB.
if [ "$(id -u)" = 0 ]; then
  GOAT_BIN="$PWD/target/debug/goat" bash benches/swarm/run.sh --small
else
  echo "tests/run.sh: not root, so the swarm case (network namespaces) cannot run: run as root" >&2
  exit 1
fi
if [ "$want_swarm" = 1 ]; then
  bash benches/swarm/run.sh --report --seed-scale
fi

if [ "$want_flash" = 1 ]; then
  bash benches/swarm/run.sh --flash
fi
if [ "$want_llama" = 1 ]; then
  bash benches/llama.sh
fi

if [ "$want_bench" = 1 ]; then
  if [ -x benches/run.sh ]; then bash benches/run.sh; else echo "no benchmarks yet"; fi
fi

#!/usr/bin/env bash
# TCP against uTP measured (benches/utp.py): goat and libtorrent from
# libtorrent seeders that take TCP and uTP or uTP only, on loopback and
# across two network namespaces with a tbf rate limit (needs root; the
# namespaces are the bench's own and removed at its end).
# usage: bash benches/utp.sh [--size 512M] [--runs 3] [--rate 100mbit] [--rate-size 64M]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
command -v openssl >/dev/null || need+=(openssl)
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
cargo build --release --locked
exec /usr/bin/python3 benches/utp.py "$@"

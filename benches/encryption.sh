#!/usr/bin/env bash
# Encrypted peers measured (benches/encryption.py): goat, libtorrent and
# aria2c with RC4 required and in plaintext, from one libtorrent seeder.
# All on 127.0.0.1.
# usage: bash benches/encryption.sh [--size 1G] [--runs 3] [--baseline GOAT_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
cargo build --release --locked
exec /usr/bin/python3 benches/encryption.py "$@"

#!/usr/bin/env bash
# Web seeds measured (benches/webseed.py): goat against aria2c from one
# nginx, and a mixed fetch against each source alone. All on 127.0.0.1.
# usage: bash benches/webseed.sh [--size 1G] [--runs 3] [--peer-rate 60M] [--seed-rate 8m]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
case " ${need[*]-} " in *" nginx-light "*) $SUDO service nginx stop >/dev/null 2>&1 || true ;; esac
cargo build --release --locked
exec /usr/bin/python3 benches/webseed.py "$@"

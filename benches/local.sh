#!/usr/bin/env bash
# Local copies measured (benches/local.py): a model found in the Hugging
# Face cache against downloading it over loopback, goat and libtorrent.
# All on 127.0.0.1; the payload lives in one folder removed at the end.
# usage: bash benches/local.sh [--size 8G] [--runs 2]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v opentracker >/dev/null || need+=(opentracker)
/usr/bin/python3 -c "import libtorrent" 2>/dev/null || need+=(python3-libtorrent)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
. benches/need.sh
install_packages ${need[@]+"${need[@]}"}
cargo build --release --locked
exec /usr/bin/python3 benches/local.py "$@"

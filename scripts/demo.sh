#!/usr/bin/env bash
# The README's first command: install dependencies, build the workspace, build a network-
# namespace lab (LAN hosts, gateway, WAN host), prove it forwards, and — once portgated is
# built — map a port through the daemon and prove the WAN host reaches the LAN host.
# Everything is torn down at the end. Needs root (uses sudo when not root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

echo "==> building the workspace (debug: a panic still tears the lab down)"
cargo build --quiet --workspace
cargo build --quiet -p portgate-lab --example demo

target_dir=${CARGO_TARGET_DIR:-target}
demo="$target_dir/debug/examples/demo"
echo "==> running the lab demo"
if [ "$(id -u)" -eq 0 ]; then
    exec "$demo"
elif command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=CARGO_TARGET_DIR "$demo"
else
    echo "demo: needs root (network namespaces); run it as root" >&2
    exit 1
fi

#!/usr/bin/env bash
# The benchmark: portgated vs Debian's miniupnpd-nftables, side by side in one
# namespace lab (docs/benchmarks.md).
#
#   bash scripts/bench.sh            # sizes 100, 1000, 10000 (about 10 minutes)
#   bash scripts/bench.sh --quick    # sizes 100 and 1000, short budgets (< 3 minutes)
#   bash scripts/bench.sh --scale    # docs/scale.md: many clients, one address filled,
#                                    # then the CGN run (target/bench/scale.md, cgn.md)
#   bash scripts/bench.sh --cgn      # the CGN run only: 1 000 000 mappings (cgn.md)
#
# Any other argument is passed to portgate-bench (see `portgate-bench --help`).
# Builds release binaries with the default target dir, runs the harness as root,
# writes target/bench/results.json, results.md and throughput.svg.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The reference daemon, upnpc and the lab's tools come from Debian's packages.
bash "$root/scripts/install-deps.sh"

cargo build --release -p portgate-daemon --bin portgated \
    -p portgate-cli --bin portgate -p portgate-bench --bin portgate-bench

target="${CARGO_TARGET_DIR:-$root/target}"
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ "$CARGO_TARGET_DIR" != "$root/target" ]; then
    echo "bench.sh: note: CARGO_TARGET_DIR is set; binaries come from $target" >&2
fi
bin="$target/release"
out="$root/target/bench"
mkdir -p "$out"

if [ ! -x /usr/sbin/miniupnpd ]; then
    echo "bench.sh: /usr/sbin/miniupnpd not found (Debian package miniupnpd-nftables); add --no-reference to skip it" >&2
fi

# The sizes of the builds the size bars apply to go into the report too: the static
# musl router builds with std rebuilt, for aarch64 and mipsel (docs/size.md).
SIZE_NO_LIMITS=1 bash "$root/scripts/size.sh" >/dev/null
sizes=()
for t in aarch64-unknown-linux-musl mipsel-unknown-linux-musl; do
    sizes+=(--size-of "portgated, $t (bar 1 300 000)=$root/target/cross/$t/$t/router/portgated"
            --size-of "portgate-multicall, $t (bar 1 800 000)=$root/target/cross/$t/$t/router/portgate-multicall")
done

run=("$bin/portgate-bench" --portgated "$bin/portgated" --portgate "$bin/portgate" "${sizes[@]}"
     --out "$out" "$@")
if [ "$(id -u)" -eq 0 ]; then
    "${run[@]}"
else
    sudo "${run[@]}"
fi

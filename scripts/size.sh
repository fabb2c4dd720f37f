#!/usr/bin/env bash
# Router-size builds (docs/size.md): portgated alone and the multi-call binary
# (portgated + portgate-ssdpd + portgate), profile `router`, for the host target.
#
#   bash scripts/size.sh            # build both, print their sizes in bytes
#   bash scripts/size.sh --release  # also build the release binaries and print theirs
#
# Prints one "NAME BYTES PATH" line per binary. Limits: portgated <= 1 300 000 B,
# portgate-multicall <= 1 800 000 B (stripped); the script fails when one is exceeded
# unless SIZE_NO_LIMITS=1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

# portgated without colour codes; `router`: linked with packed relative relocations.
cargo build --quiet --profile router -p portgate-daemon --no-default-features \
    --features router --bin portgated
cargo build --quiet --profile router -p portgate-multicall --features router \
    --bin portgate-multicall

status=0
report() { # NAME PATH [LIMIT]
    local bytes
    bytes=$(stat -c %s "$2")
    echo "$1 $bytes $2"
    if [ -n "${3:-}" ] && [ "$bytes" -gt "$3" ] && [ "${SIZE_NO_LIMITS:-0}" != 1 ]; then
        echo "size.sh: $1 is $bytes B, over its limit of $3 B" >&2
        status=1
    fi
}
report portgated-router "$target/router/portgated" 1300000
report portgate-multicall-router "$target/router/portgate-multicall" 1800000

if [ "${1:-}" = --release ]; then
    cargo build --quiet --release -p portgate-daemon --bin portgated \
        -p portgate-cli --bin portgate -p portgate-ssdpd --bin portgate-ssdpd
    for b in portgated portgate-ssdpd portgate; do
        report "$b-release" "$target/release/$b"
    done
fi
exit $status

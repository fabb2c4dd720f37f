#!/usr/bin/env bash
# Router sizes (docs/size.md). The size bars apply to the build that ships to routers:
# the static musl build with std rebuilt (scripts/cross.sh: router profile,
# panic=immediate-abort, optimize_for_size), on every target named.
#
#   bash scripts/size.sh [TARGET...]   # default: aarch64-unknown-linux-musl mipsel-unknown-linux-musl
#   bash scripts/size.sh --host        # also the host's router builds (stable toolchain)
#   bash scripts/size.sh --release     # also the host's release binaries
#
# Prints one "NAME BYTES PATH" line per binary (NAME ends with the target), then fails
# when a bar is exceeded unless SIZE_NO_LIMITS=1:
#   portgated           <= 1 300 000 B   (stripped)
#   portgate-multicall  <= 1 800 000 B   (portgated + portgate-ssdpd + portgate)
# The host builds (glibc, std as shipped with the toolchain: its backtrace printer and
# unwind tables stay) are printed only, without a bar.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

PORTGATED_MAX=1300000
MULTICALL_MAX=1800000

host=0 release=0 targets=()
for a in "$@"; do
    case "$a" in
        --host) host=1 ;;
        --release) release=1 ;;
        -*) echo "size.sh: unknown option $a" >&2; exit 2 ;;
        *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] ||
    targets=(aarch64-unknown-linux-musl mipsel-unknown-linux-musl)

# Build only (the qemu checks are scripts/cross.sh's); a target built before is reused.
CROSS_CHECKS=0 bash scripts/cross.sh "${targets[@]}" >/dev/null

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
for t in "${targets[@]}"; do
    bin="$root/target/cross/$t/$t/router"
    report "portgated-$t" "$bin/portgated" "$PORTGATED_MAX"
    report "portgate-multicall-$t" "$bin/portgate-multicall" "$MULTICALL_MAX"
    report "portgate-$t" "$bin/portgate"
done

if [ "$host" = 1 ]; then
    # portgated without colour codes; `router`: linked with packed relative relocations.
    cargo build --quiet --profile router -p portgate-daemon --no-default-features \
        --features router --bin portgated
    cargo build --quiet --profile router -p portgate-multicall --features router \
        --bin portgate-multicall
    report portgated-host-router "$target/router/portgated"
    report portgate-multicall-host-router "$target/router/portgate-multicall"
fi

if [ "$release" = 1 ]; then
    cargo build --quiet --release -p portgate-daemon --bin portgated \
        -p portgate-cli --bin portgate -p portgate-ssdpd --bin portgate-ssdpd
    for b in portgated portgate-ssdpd portgate; do
        report "$b-host-release" "$target/release/$b"
    done
fi
exit $status

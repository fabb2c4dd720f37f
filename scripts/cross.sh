#!/usr/bin/env bash
# Static musl cross builds for routers (docs/cross.md), without rustup: Debian's
# rustc-web toolchain (rustc-web, cargo-web, rust-web-src) rebuilds std for the target
# with `-Z build-std` (RUSTC_BOOTSTRAP=1), and zig (PyPI `ziglang`) is the C toolchain,
# musl libc and linker. Then the binaries run under qemu-user-static.
#
#   bash scripts/cross.sh [TARGET...]       # default: aarch64-unknown-linux-musl
#   CROSS_CHECKS=0 bash scripts/cross.sh    # build only, no qemu checks
#   CROSS_TESTS=0 bash scripts/cross.sh     # qemu: run the binaries, not the unit tests
#
# TARGET: aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf,
# mipsel-unknown-linux-musl (tier 3), x86_64-unknown-linux-musl (run without qemu). Outputs: target/cross/TARGET/TARGET/router/.
# Prints one "TARGET NAME BYTES" line per binary and the time of each step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl)

# Debian's toolchain, not the rustup one that may come first on PATH.
export RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTDOC=/usr/bin/rustdoc
for f in "$RUSTC" "$CARGO"; do
    [ -x "$f" ] || { echo "cross.sh: $f missing: apt-get install rustc-web cargo-web rust-web-src" >&2; exit 1; }
done
[ -d /usr/lib/rustlib/src/rust/library ] ||
    { echo "cross.sh: std sources missing: apt-get install rust-web-src" >&2; exit 1; }
zig_dir=$(python3 -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))' 2>/dev/null) ||
    { echo "cross.sh: zig missing: python3 -m pip install ziglang" >&2; exit 1; }
# -Z build-std on a stable toolchain.
export RUSTC_BOOTSTRAP=1

out="$root/target/cross"
mkdir -p "$out/bin"
# Each target's own cargo target dir: the host's target/ stays untouched.
timed() { # LABEL COMMAND...
    local start=$SECONDS
    "${@:2}"
    echo "cross.sh: $1: $((SECONDS - start)) s"
}

for target in "${targets[@]}"; do
    case "$target" in
        aarch64-unknown-linux-musl) zt=aarch64-linux-musl qemu=qemu-aarch64-static extra=() ;;
        armv7-unknown-linux-musleabihf)
            zt=arm-linux-musleabihf qemu=qemu-arm-static extra=(-mcpu=generic+v7a) ;;
        mipsel-unknown-linux-musl) zt=mipsel-linux-musleabi qemu=qemu-mipsel-static extra=() ;;
        # The host's architecture: the same build, run without qemu.
        x86_64-unknown-linux-musl) zt=x86_64-linux-musl qemu="" extra=() ;;
        *) echo "cross.sh: unknown target $target" >&2; exit 2 ;;
    esac
    # The linker and C compiler: zig cc for the musl target.
    cc="$out/bin/zigcc-$target"
    printf '#!/bin/sh\nexec "%s/zig" cc -target %s %s "$@"\n' "$zig_dir" "$zt" "${extra[*]:-}" >"$cc"
    chmod +x "$cc"
    triple_env=$(echo "$target" | tr 'a-z-' 'A-Z_')
    export "CARGO_TARGET_${triple_env}_LINKER=$cc" "CC_${target//-/_}=$cc" \
        "AR_${target//-/_}=$out/bin/zigar"
    printf '#!/bin/sh\nexec "%s/zig" ar "$@"\n' "$zig_dir" >"$out/bin/zigar"
    chmod +x "$out/bin/zigar"
    # Static, not static-pie (a static-pie crashed under qemu on mipsel); musl from zig,
    # not rustc's self-contained copy (Debian ships none for these targets); no unwind
    # tables (panic=immediate-abort: nothing unwinds, nothing prints a backtrace).
    link=()
    case "$target" in
        mips*)
            # LLVM writes a .pdr section (MIPS procedure descriptors, for old debuggers:
            # nothing loads it) of 24 bytes per function, 215 KB in the multi-call
            # binary; strip keeps it. A linker script added to the default layout drops
            # it, and the unwind tables left (13 KB with .eh_frame_hdr, such as musl's C
            # objects'): with panic=immediate-abort nothing unwinds. MIPS32 code is the largest:
            # the multi-call binary needs both to stay under its bar (docs/size.md).
            printf 'SECTIONS { /DISCARD/ : { *(.pdr) *(.eh_frame) } } INSERT AFTER .text;\n' \
                >"$out/bin/discard-pdr.ld"
            link=(-C "link-arg=-Wl,-T,$out/bin/discard-pdr.ld")
            ;;
    esac
    export CARGO_ENCODED_RUSTFLAGS=$(printf '%s\x1f' -C relocation-model=static \
        -C target-feature=+crt-static -C link-self-contained=no -C force-unwind-tables=no \
        -Z unstable-options -C panic=immediate-abort "${link[@]}" | sed 's/\x1f$//')
    build_std=(-Z build-std=std,panic_abort -Z build-std-features=optimize_for_size)
    tdir="$out/$target"
    timed "$target: build portgated, portgate (router profile)" \
        "$CARGO" build --quiet --profile router --target "$target" --target-dir "$tdir" \
        "${build_std[@]}" -p portgate-daemon --no-default-features --bin portgated \
        -p portgate-cli --bin portgate
    # Apart: built with portgate above, the multi-call binary would get portgate-cli's
    # default `full-cli` feature too (cargo unifies the features of one build).
    timed "$target: build portgate-multicall (router profile)" \
        "$CARGO" build --quiet --profile router --target "$target" --target-dir "$tdir" \
        "${build_std[@]}" -p portgate-multicall --bin portgate-multicall
    bin="$tdir/$target/router"
    for b in portgated portgate portgate-multicall; do
        echo "$target $b $(stat -c %s "$bin/$b")"
    done
    if readelf -lW "$bin/portgated" | grep -q 'program interpreter'; then
        echo "cross.sh: $target: portgated is not static" >&2
        exit 1
    fi

    [ "${CROSS_CHECKS:-1}" = 1 ] || continue
    run=()
    if [ -n "$qemu" ]; then
        command -v "$qemu" >/dev/null ||
            { echo "cross.sh: $qemu missing: apt-get install qemu-user-static" >&2; exit 1; }
        run=("$qemu")
    fi
    conf=$(mktemp)
    printf 'ext_ifname=eth0\nlistening_ip=192.168.1.1/24\nport=5000\nenable_natpmp=yes\nuuid=3c2f6bd9-1d1f-4b67-a2a4-5e0f1c2d3e4f\nallow 1024-65535 192.168.1.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n' >"$conf"
    check_out=$("${run[@]}" "$bin/portgated" -f "$conf" --check-config)
    rm -f "$conf"
    grep -q '^ext_ifname=eth0$' <<<"$check_out" ||
        { echo "cross.sh: $target: portgated --check-config printed:" >&2; echo "$check_out" >&2; exit 1; }
    echo "cross.sh: $target: portgated --check-config ok"
    version=$("${run[@]}" "$bin/portgate" --version)
    [ "$version" = "portgate $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" ] ||
        { echo "cross.sh: $target: portgate --version printed: $version" >&2; exit 1; }
    echo "cross.sh: $target: $version ok"
    # The multi-call binary, run through links named after each program.
    mkdir -p "$bin/links"
    for b in portgated portgate-ssdpd portgate; do
        ln -sf ../portgate-multicall "$bin/links/$b"
        version=$("${run[@]}" "$bin/links/$b" --version)
        [ "$version" = "$b ${version##* }" ] ||
            { echo "cross.sh: $target: multi-call $b --version printed: $version" >&2; exit 1; }
    done
    echo "cross.sh: $target: portgate-multicall as portgated, portgate-ssdpd, portgate ok"

    [ "${CROSS_TESTS:-1}" = 1 ] || continue
    # Unit tests of the two sans-IO/client crates, run by qemu (the test profile needs
    # unwinding for #[should_panic] and the harness: panic=unwind, default flags).
    [ -z "$qemu" ] || export "CARGO_TARGET_${triple_env}_RUNNER=$qemu"
    export CARGO_ENCODED_RUSTFLAGS=$(printf '%s\x1f' -C relocation-model=static \
        -C target-feature=+crt-static -C link-self-contained=no | sed 's/\x1f$//')
    # qemu runs the property tests about 20 times slower: 32 cases each, not 256.
    timed "$target: portgate-proto and portgate-client unit tests under qemu" \
        env PROPTEST_CASES="${PROPTEST_CASES:-32}" "$CARGO" test --quiet --target "$target" --target-dir "$tdir" \
        -Z build-std=std,panic_unwind -p portgate-proto -p portgate-client --lib
done

#!/usr/bin/env bash
# Install everything portgate's build, tests and demo need on a Debian machine.
# Idempotent and quiet: prints one line per action taken, one line when nothing was needed.
set -euo pipefail

# nftables, iproute2: the lab (namespaces, veth, NAT rules checked with `nft`).
# miniupnpc (upnpc), natpmp-utils (natpmpc): third-party clients the e2e tests drive.
# miniupnpd-nftables: the reference daemon (only run inside lab namespaces).
# netcat-openbsd, iputils-ping: manual checks and the demo's ping; hyperfine: benchmarks.
# faketime: steps portgated's wall clock in the clock-step test.
# nmap: the interop tests' scanner (upnp-info script, port scan from the WAN host).
# python3-pip: installs async-upnp-client (below).
# qemu-system-x86, busybox-static, cpio, kmod, xz-utils, zstd: the kernel matrix
# (scripts/kernel-matrix.sh: Debian kernels booted under qemu from a busybox initramfs).
# gcc, libnatpmp-dev, libminiupnpc-dev, python3-miniupnpc, valgrind: the drop-in C
# libraries' tests (layouts against the original headers, side-by-side runs, valgrind).
# dpkg-dev, binutils: scripts/build-debs.sh (dpkg-shlibdeps, strip); lintian and systemd
# (systemd-analyze verify): the package checks of scripts/test-debs.sh.
# rustc-web, cargo-web, rust-web-src, qemu-user-static: scripts/cross.sh (a toolchain
# that rebuilds std for musl targets, and qemu to run the results).
PACKAGES=(nftables iproute2 miniupnpc natpmp-utils miniupnpd-nftables netcat-openbsd
          iputils-ping hyperfine faketime nmap python3-pip qemu-system-x86 busybox-static cpio
          kmod xz-utils zstd gcc libnatpmp-dev libminiupnpc-dev python3-miniupnpc valgrind
          dpkg-dev binutils lintian systemd rustc-web cargo-web rust-web-src qemu-user-static)

log() { echo "install-deps: $*"; }
did_something=0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*" >&2
        exit 1
    fi
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
else
    log "not a Debian system (no dpkg-query): install ${PACKAGES[*]} by hand"
fi

if [ "${#missing[@]}" -gt 0 ]; then
    did_something=1
    # Keep package scripts from starting services (miniupnpd would grab ports on this host):
    # a policy-rc.d that denies every start, removed again afterwards.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    cleanup_policy() { if [ "$added_policy" = 1 ]; then as_root rm -f "$policy"; fi; }
    trap cleanup_policy EXIT
    apt_log=$(mktemp)
    quietly() {
        if ! "$@" >"$apt_log" 2>&1; then
            cat "$apt_log" >&2
            log "failed: $*" >&2
            exit 1
        fi
    }
    log "apt-get update"
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    log "apt-get install ${missing[*]}"
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
    rm -f "$apt_log"
    cleanup_policy
    trap - EXIT
fi

# Whatever installed it, the reference daemon must not run as a host service.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet miniupnpd 2>/dev/null; then
        log "stopping the miniupnpd service"
        as_root systemctl stop miniupnpd
        did_something=1
    fi
    if systemctl is-enabled --quiet miniupnpd 2>/dev/null; then
        log "disabling the miniupnpd service"
        as_root systemctl disable --quiet miniupnpd
        did_something=1
    fi
elif [ -x /etc/init.d/miniupnpd ] && /etc/init.d/miniupnpd status >/dev/null 2>&1; then
    log "stopping the miniupnpd service"
    as_root /etc/init.d/miniupnpd stop >/dev/null
    did_something=1
fi

# async-upnp-client (PyPI): Home Assistant's UPnP library, whose `upnp-client` the
# interop tests drive as an independent IGD:2 control point.
pip_install() { # PACKAGE
    log "pip install $1"
    local pip_log
    pip_log=$(mktemp)
    # Debian's own python3 refuses a system-wide pip install without the flag (PEP 668).
    if ! python3 -m pip install --quiet --disable-pip-version-check "$1" >"$pip_log" 2>&1 &&
       ! as_root python3 -m pip install --quiet --disable-pip-version-check \
            --break-system-packages "$1" >"$pip_log" 2>&1; then
        cat "$pip_log" >&2
        log "failed: pip install $1" >&2
        exit 1
    fi
    rm -f "$pip_log"
    did_something=1
}
if ! command -v upnp-client >/dev/null 2>&1; then
    pip_install async-upnp-client
fi

# ziglang (PyPI): zig, the musl C toolchain and linker of scripts/cross.sh.
if ! python3 -c 'import ziglang' >/dev/null 2>&1; then
    pip_install ziglang
fi

# Cargo tools.
if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: install a Rust toolchain (rustup) first" >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        log "rustup component add $component"
        rustup component add "$component" >/dev/null 2>&1
        did_something=1
    fi
done
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "cargo install --locked cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
    did_something=1
fi

if [ "$did_something" = 0 ]; then
    log "all ${#PACKAGES[@]} Debian packages and cargo tools present"
fi

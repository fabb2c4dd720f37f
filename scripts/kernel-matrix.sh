#!/usr/bin/env bash
# The kernel matrix (docs/kernels.md): runs scripts/kernel-matrix-checks.sh (a namespace
# lab with portgated: NAT-PMP, PCP and UPnP mappings proven with WAN bytes, refresh, delete,
# miniupnpd's layout mode, an IPv6 pinhole, portgate-nft's kernel tests) on Debian's own
# kernels booted under qemu, and on the host kernel; prints one table; exits non-zero when
# any check fails on any kernel. Run as root.
#
#   sudo bash scripts/kernel-matrix.sh [KERNEL...]     KERNEL: 5.10, 6.1, 6.12, host (default: 6.1 6.12 host)
#
# Kernels: the newest linux-image-6.1.0-*-cloud-amd64 (Debian 12's own kernel) and the
# newest linux-image-6.12.*+deb12-cloud-amd64 that apt knows, fetched with `apt-get
# download` into target/kernel-matrix/cache (never installed). Each guest boots under TCG
# (this machine's /dev/kvm cannot run a stock Debian kernel) from a small initramfs:
# busybox-static, ip, nft, ss, nc with their libraries, the netfilter and veth modules
# (dependencies from modules.dep, decompressed for busybox insmod), our binaries.
#
# Environment: KMATRIX_PROFILE (debug|release, default debug: the binaries scripts/test.sh
# already built), KMATRIX_TIMEOUT (seconds per guest before qemu is killed, default 300:
# a guest takes 45 to 100 s on a loaded 2-core machine),
# KMATRIX_MEM (MiB, default 1024), KMATRIX_SMP (guest CPUs, default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

KERNELS=("$@")
if [ ${#KERNELS[@]} -eq 0 ]; then KERNELS=(6.1 6.12 host); fi
PROFILE=${KMATRIX_PROFILE:-debug}
TIMEOUT=${KMATRIX_TIMEOUT:-300}
MEM=${KMATRIX_MEM:-1024}
SMP=${KMATRIX_SMP:-2}
target_dir=${CARGO_TARGET_DIR:-target}
OUT=$target_dir/kernel-matrix
CACHE=$OUT/cache
mkdir -p "$OUT" "$CACHE"
OUT=$(cd "$OUT" && pwd)
CACHE=$OUT/cache

# Modules the lab and portgated need (nft_counter is built into nf_tables on these kernels;
# taken when a kernel has it as a module). Their dependencies come from modules.dep.
# bridge: portgate-nft's hairpin test; nft_limit: its request limit; inet_diag, tcp_diag:
# `ss -ltn` in its tests.
MODULES=(nfnetlink nf_tables nf_conntrack nf_defrag_ipv4 nf_defrag_ipv6 nf_nat nft_ct nft_nat
         nft_masq nft_chain_nat nft_limit veth libcrc32c bridge inet_diag tcp_diag)
OPTIONAL_MODULES=(nft_counter)
SKELETON=crates/portgate-nft/tests/fixtures/miniupnpd-skeleton.nft

if [ "$(id -u)" -ne 0 ]; then
    echo "kernel-matrix: needs root (namespaces, nftables, apt-get)" >&2
    exit 1
fi

t_all=$SECONDS
t_step=$SECONDS
step() {
    t_step=$SECONDS
    echo
    echo "--> $*"
}
step_done() { echo "<-- done in $((SECONDS - t_step))s"; }

# ---- packages --------------------------------------------------------------------------------
step "packages (qemu-system-x86, busybox-static, cpio, kmod, xz-utils, zstd)"
need=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils zstd nftables iproute2 netcat-openbsd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >/dev/null
fi
BUSYBOX=/bin/busybox
step_done

# ---- our binaries ----------------------------------------------------------------------------
step "binaries ($PROFILE): portgated, portgate, portgate-nft's kernel test"
profile_flag=()
if [ "$PROFILE" = release ]; then profile_flag=(--release); fi
cargo build --quiet "${profile_flag[@]}" -p portgate-daemon --bin portgated -p portgate-cli \
    --bin portgate
# The whole workspace's test build, as the test step of scripts/test.sh made it (a no-op
# there; `-p portgate-nft` alone could unify features differently and rebuild).
kernel_test=$(cargo test --quiet "${profile_flag[@]}" --workspace --no-run --message-format=json |
    grep '"name":"kernel"' | grep 'portgate-nft' | grep -o '"executable":"[^"]*"' | tail -n 1 |
    cut -d'"' -f4)
if [ -z "$kernel_test" ]; then
    echo "kernel-matrix: no executable for portgate-nft's kernel test" >&2
    exit 1
fi
BIN=$OUT/bin
rm -rf "$BIN"
mkdir -p "$BIN"
# Without debug info: smaller initramfs, faster boot.
objcopy --strip-debug "$target_dir/$PROFILE/portgated" "$BIN/portgated"
objcopy --strip-debug "$target_dir/$PROFILE/portgate" "$BIN/portgate"
objcopy --strip-debug "$kernel_test" "$BIN/nft-kernel-test"
du -sh "$BIN" | sed 's/^/binaries: /'
step_done

# ---- helpers -------------------------------------------------------------------------------
# newest_package REGEX: the newest linux-image package name matching REGEX (without the
# -unsigned suffix) that apt knows.
newest_package() {
    apt-cache "${APT_OPTS[@]}" search --names-only "$1" | cut -d' ' -f1 | sed 's/-unsigned$//' |
        sort -uV | tail -n 1
}

# APT_OPTS: empty for the machine's own sources (Debian 12); for 5.10, a private apt
# configuration for Debian 11's archive under $OUT/apt-bullseye (lists and cache of its
# own: the machine's sources and apt state are not touched).
APT_OPTS=()
bullseye_apt() {
    local d=$OUT/apt-bullseye keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
    printf 'deb [signed-by=%s] http://deb.debian.org/debian bullseye main\n' "$keyring" \
        >"$d/sources.list"
    APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
    if [ -z "$(ls "$d/lists" | grep -v partial || true)" ]; then
        apt-get "${APT_OPTS[@]}" update -qq
    fi
}

# fetch_kernel NAME: downloads NAME-unsigned (plain vmlinuz), or NAME, into the cache;
# prints the .deb's path.
fetch_kernel() {
    local name=$1 pkg deb
    for pkg in "$name-unsigned" "$name"; do
        apt-cache "${APT_OPTS[@]}" show "$pkg" >/dev/null 2>&1 || continue
        deb=$(ls "$CACHE/${pkg}_"*.deb 2>/dev/null | tail -n 1 || true)
        if [ -z "$deb" ]; then
            (cd "$CACHE" && apt-get "${APT_OPTS[@]}" download -q "$pkg" >/dev/null 2>&1) ||
                { apt-get "${APT_OPTS[@]}" update -qq &&
                  (cd "$CACHE" && apt-get "${APT_OPTS[@]}" download -q "$pkg" >/dev/null); }
            deb=$(ls "$CACHE/${pkg}_"*.deb | tail -n 1)
        fi
        echo "$deb"
        return 0
    done
    echo "kernel-matrix: no package $name(-unsigned)" >&2
    return 1
}

# copy_elf ROOT FILE [DEST]: FILE (or DEST, a path inside ROOT) and every library ldd finds
# for it, at the same paths inside ROOT.
copy_elf() {
    local root=$1 file=$2 dest=${3:-$2} lib
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$file" "$root$dest"
    for lib in $(ldd "$file" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' || true); do
        if [ ! -e "$root$lib" ]; then
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        fi
    done
}

# module_closure MODDIR NAME...: every module NAME needs, dependencies first, as paths
# relative to MODDIR, from modules.dep (which `depmod -b` wrote).
module_closure() {
    local moddir=$1
    shift
    declare -A path deps seen
    local line mod rest name d
    while IFS= read -r line; do
        mod=${line%%:*}
        rest=${line#*:}
        name=$(basename "$mod")
        name=${name%%.ko*}
        name=${name//-/_}
        path[$name]=$mod
        deps[$name]=""
        for d in $rest; do
            d=$(basename "$d")
            d=${d%%.ko*}
            deps[$name]+=" ${d//-/_}"
        done
    done <"$moddir/modules.dep"
    visit() {
        local n=$1 x
        [ -n "${seen[$n]:-}" ] && return 0
        seen[$n]=1
        for x in ${deps[$n]}; do visit "$x"; done
        echo "${path[$n]}"
    }
    for name in "$@"; do
        if [ -n "${path[$name]:-}" ]; then
            visit "$name"
        elif grep -qE "/$name\.ko" "$moddir/modules.builtin"; then
            echo "builtin:$name"
        else
            echo "missing:$name"
        fi
    done
}

# ---- one guest -----------------------------------------------------------------------------
declare -A RESULT_LOG KVER_OF SECS_OF PKG_OF
run_guest() {
    local k=$1 regex name deb pkgver root x kver moddir boot m
    APT_OPTS=()
    case $k in
        5.10) regex='^linux-image-5\.10\.0-[0-9]+-cloud-amd64(-unsigned)?$'; bullseye_apt ;;
        6.1) regex='^linux-image-6\.1\.0-[0-9]+-cloud-amd64(-unsigned)?$' ;;
        6.12) regex='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64(-unsigned)?$' ;;
        *) echo "kernel-matrix: unknown kernel $k (5.10, 6.1, 6.12 or host)" >&2; return 1 ;;
    esac
    step "kernel $k: package"
    name=$(newest_package "$regex")
    deb=$(fetch_kernel "$name")
    pkgver="$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
    PKG_OF[$k]=$pkgver
    echo "package: $pkgver"
    x=$OUT/extract/$(basename "$deb" .deb)
    if [ ! -d "$x/boot" ]; then
        rm -rf "$x"
        mkdir -p "$x"
        dpkg-deb -x "$deb" "$x"
    fi
    kver=$(ls "$x/lib/modules")
    moddir=$x/lib/modules/$kver
    [ -s "$moddir/modules.dep" ] || depmod -b "$x" "$kver"
    step_done

    step "kernel $k: initramfs"
    root=$OUT/initramfs-$k
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,kmatrix/modules}
    mkdir -p "$root/var"
    ln -s ../run "$root/var/run"
    copy_elf "$root" "$BUSYBOX" /bin/busybox
    copy_elf "$root" /usr/sbin/ip
    copy_elf "$root" /usr/sbin/nft
    copy_elf "$root" /usr/bin/ss
    copy_elf "$root" "$(readlink -f /usr/bin/nc)" /usr/bin/nc
    for f in portgated portgate nft-kernel-test; do copy_elf "$root" "$BIN/$f" "/kmatrix/bin/$f"; done
    cp /etc/protocols /etc/services "$root/etc/"
    cp scripts/kernel-matrix-checks.sh "$root/kmatrix/checks.sh"
    cp "$SKELETON" "$root/kmatrix/miniupnpd-skeleton.nft"
    : >"$root/kmatrix/modules.load"
    for m in $(module_closure "$moddir" "${MODULES[@]}" "${OPTIONAL_MODULES[@]}"); do
        case $m in
            builtin:*) continue ;;
            missing:*)
                local mn=${m#missing:}
                if [[ " ${OPTIONAL_MODULES[*]} " == *" $mn "* ]]; then continue; fi
                echo "kernel-matrix: module $mn not in $kver" >&2
                return 1
                ;;
        esac
        local base
        base=$(basename "$m")
        base=${base%%.ko*}.ko
        [ -e "$root/kmatrix/modules/$base" ] && continue
        case $m in
            *.ko.xz) xz -dc "$moddir/$m" >"$root/kmatrix/modules/$base" ;;
            *.ko.zst) zstd -qdc "$moddir/$m" >"$root/kmatrix/modules/$base" ;;
            *.ko.gz) gzip -dc "$moddir/$m" >"$root/kmatrix/modules/$base" ;;
            *) cp "$moddir/$m" "$root/kmatrix/modules/$base" ;;
        esac
        echo "$base" >>"$root/kmatrix/modules.load"
    done
    echo "modules: $(tr '\n' ' ' <"$root/kmatrix/modules.load")"
    # The kernel's module requests end here (logged, never loaded): a module missing from
    # the list above shows up in the guest's output.
    cat >"$root/kmatrix/modprobe" <<'EOF'
#!/bin/sh
echo "${*##* }" >>/tmp/modprobe-requests
exit 1
EOF
    cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo "KMATRIX-BOOT kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /kmatrix/modules.load); do
    insmod /kmatrix/modules/$m || echo "FAIL insmod $m"
done
echo /kmatrix/modprobe >/proc/sys/kernel/modprobe
KM_BIN=/kmatrix/bin KM_SKELETON=/kmatrix/miniupnpd-skeleton.nft KM_WORK=/tmp/km KM_PREFIX=km \
    sh /kmatrix/checks.sh
echo "KMATRIX-EXIT status=$?"
if [ -s /tmp/modprobe-requests ]; then
    echo "kernel module requests not served: $(sort -u /tmp/modprobe-requests | tr '\n' ' ')"
fi
sync
reboot -f
EOF
    chmod 755 "$root/init" "$root/kmatrix/modprobe" "$root/kmatrix/checks.sh"
    (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$OUT/initrd-$k.cpio"
    du -h "$OUT/initrd-$k.cpio" | sed 's/\t.*//; s/^/initramfs: /'
    step_done

    step "kernel $k: boot under qemu (TCG) and run the checks"
    local log=$OUT/console-$k.log t0=$SECONDS rc=0
    timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
        -nographic -no-reboot -nic none \
        -kernel "$x/boot/vmlinuz-$kver" -initrd "$OUT/initrd-$k.cpio" \
        -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null 2>&1 |
        tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b.//g' >"$log" || rc=$?
    SECS_OF[$k]=$((SECONDS - t0))
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "FAIL qemu: killed after ${TIMEOUT}s" >>"$log"
    fi
    if grep -q 'KMATRIX-BOOT' "$log"; then
        sed -n '/KMATRIX-BOOT/,$p' "$log" | sed 1d
    else
        cat "$log"
    fi
    boot=$(grep -o 'KMATRIX-BOOT.*uptime=[0-9.]*' "$log" | grep -o '[0-9.]*$' || true)
    echo "guest: init started ${boot:-?}s after boot; qemu ran ${SECS_OF[$k]}s"
    KVER_OF[$k]=$kver
    RESULT_LOG[$k]=$log
    step_done
}

run_host() {
    step "host kernel $(uname -r): the same checks in namespaces km$$-*"
    local log=$OUT/console-host.log t0=$SECONDS
    KM_BIN=$BIN KM_SKELETON=$SKELETON KM_PREFIX=km$$ KM_BB=$BUSYBOX \
        "$BUSYBOX" sh scripts/kernel-matrix-checks.sh 2>&1 | tee "$log" || true
    SECS_OF[host]=$((SECONDS - t0))
    KVER_OF[host]="$(uname -r) (host)"
    PKG_OF[host]="-"
    RESULT_LOG[host]=$log
    step_done
}

for k in "${KERNELS[@]}"; do
    if [ "$k" = host ]; then run_host; else run_guest "$k"; fi
done

# ---- the table -----------------------------------------------------------------------------
checks=()
for k in "${KERNELS[@]}"; do
    while read -r c; do
        [[ " ${checks[*]} " == *" $c "* ]] || checks+=("$c")
    done < <(grep -oE '^(PASS|FAIL) [A-Za-z0-9_ .-]+' "${RESULT_LOG[$k]}" | sed 's/:.*//' |
        cut -d' ' -f2- | sed 's/ /_/g')
done
failures=0
row() { printf '| %s |' "$1"; shift; printf ' %s |' "$@"; echo; }
echo
echo "==> kernel matrix"
header=("check")
sep=("---")
for k in "${KERNELS[@]}"; do header+=("${KVER_OF[$k]}"); sep+=("---"); done
row "${header[@]}"
row "${sep[@]}"
for c in "${checks[@]}"; do
    cells=("$c")
    for k in "${KERNELS[@]}"; do
        if grep -qE "^PASS ${c//_/[ _]}\$" "${RESULT_LOG[$k]}"; then
            cells+=(PASS)
        elif grep -qE "^FAIL ${c//_/[ _]}(:|\$)" "${RESULT_LOG[$k]}"; then
            cells+=(FAIL)
            failures=$((failures + 1))
        else
            cells+=("—")
        fi
    done
    row "${cells[@]}"
done
# What portgated found each kernel's nftables can do.
for f in "destroy:DESTROY messages (6.3+)" "in_place_refresh:in-place refresh (6.12+)" \
    "element_counters:per-element counters"; do
    cells=("${f#*:}")
    for k in "${KERNELS[@]}"; do
        v=$(grep -E '^INFO features' "${RESULT_LOG[$k]}" | grep -oE "${f%%:*}=[a-z]*" |
            cut -d= -f2 || true)
        case $v in true) v=yes ;; false) v=no ;; *) v="?" ;; esac
        cells+=("$v")
    done
    row "${cells[@]}"
done
cells=("summary")
for k in "${KERNELS[@]}"; do
    s=$(grep -oE 'pass=[0-9]+ fail=[0-9]+' "${RESULT_LOG[$k]}" || true)
    if [ -z "$s" ]; then
        s="no summary (crashed or timed out)"
        failures=$((failures + 1))
    fi
    cells+=("$s")
done
row "${cells[@]}"
cells=("seconds (guests: boot + checks)")
for k in "${KERNELS[@]}"; do cells+=("${SECS_OF[$k]}"); done
row "${cells[@]}"
echo
for k in "${KERNELS[@]}"; do
    if [ "$k" != host ]; then echo "$k: ${PKG_OF[$k]}"; fi
done
echo "kernel matrix: $failures failing cell(s) in $((SECONDS - t_all))s"
[ "$failures" -eq 0 ]

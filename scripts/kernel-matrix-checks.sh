#!/bin/sh
# The kernel matrix's checks (docs/kernels.md): builds a namespace lab (LAN host, gateway,
# WAN host), runs portgated in the gateway and proves with WAN bytes reaching the LAN host
# that NAT-PMP, PCP and UPnP mappings, refreshes, deletes, miniupnpd's layout mode and an
# IPv6 pinhole work on the running kernel; then runs portgate-nft's kernel test binary.
# Every check prints "PASS name" or "FAIL name: why"; the last line is
# "KMATRIX-SUMMARY kernel=... pass=N fail=N seconds=N". Exit status: the number of failures.
#
# Runs under busybox sh, inside the matrix's qemu guests (as part of their /init) and on the
# host (scripts/kernel-matrix.sh runs it there with uniquely named namespaces). Environment:
#   KM_BIN     directory holding portgated, portgate and (optional) nft-kernel-test
#   KM_SKELETON  the admin's nftables skeleton for the layout mode
#                (crates/portgate-nft/tests/fixtures/miniupnpd-skeleton.nft)
#   KM_PREFIX  namespace name prefix (default km); KM_WORK scratch directory (default: mktemp)
#   KM_IP, KM_NFT, KM_BB   ip, nft and busybox by absolute path (busybox's shell would run its
#                          own `ip` applet before PATH)
set -u

IP=${KM_IP:-/usr/sbin/ip}
NFT=${KM_NFT:-/usr/sbin/nft}
BB=${KM_BB:-/bin/busybox}
BIN=$(cd "${KM_BIN:?KM_BIN: directory with portgated and portgate}" && pwd)
SKELETON=${KM_SKELETON:?KM_SKELETON: the miniupnpd skeleton (nft script)}
P=${KM_PREFIX:-km}
WORK=${KM_WORK:-$($BB mktemp -d /tmp/kmatrix.XXXXXX)}
mkdir -p "$WORK"

GW=$P-gw LAN=$P-lan WAN=$P-wan
NSS="$GW $LAN $WAN"
# Addresses as in the Rust lab: LAN 10.77.0.0/24, WAN TEST-NET-3 (hence
# ext_allow_private_ipv4), IPv6 documentation prefixes, routed without NAT66.
GW_LAN4=10.77.0.1 LAN4=10.77.0.2 GW_WAN4=203.0.113.1 WAN4=203.0.113.2
GW_LAN6=2001:db8:1::1 LAN6=2001:db8:1::2 GW_WAN6=2001:db8:2::1 WAN6=2001:db8:2::2

start=$(cut -d. -f1 /proc/uptime)
npass=0 nfail=0
daemon_pid=""

pass() { echo "PASS $1"; npass=$((npass + 1)); }
# fail NAME WHY [FILE]: FILE's last lines (a command's output) follow, indented.
fail() {
    echo "FAIL $1: $2"
    nfail=$((nfail + 1))
    if [ -n "${3:-}" ] && [ -s "$3" ]; then tail -n 8 "$3" | sed 's/^/    | /'; fi
}
in_ns() { ns=$1; shift; "$IP" netns exec "$ns" "$@"; }

cleanup() {
    stop_daemon
    for ns in $NSS; do
        # Whatever still runs in our namespaces (a listener left by an interrupted probe).
        for pid in $("$IP" netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        "$IP" netns del "$ns" 2>/dev/null
    done
    if [ -z "${KM_WORK:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the lab -------------------------------------------------------------------------------
build_lab() {
    for ns in $NSS; do
        "$IP" netns add "$ns" || return 1
        # No duplicate address detection: IPv6 addresses are usable at once.
        in_ns "$ns" "$BB" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
            net.ipv6.conf.default.accept_dad=0 || return 1
        "$IP" -n "$ns" link set lo up || return 1
    done
    "$IP" link add lan0 netns "$GW" type veth peer name eth0 netns "$LAN" || return 1
    "$IP" link add wan0 netns "$GW" type veth peer name eth0 netns "$WAN" || return 1
    "$IP" -n "$GW" addr add $GW_LAN4/24 dev lan0
    "$IP" -n "$GW" addr add $GW_LAN6/64 dev lan0 nodad
    "$IP" -n "$GW" addr add $GW_WAN4/24 dev wan0
    "$IP" -n "$GW" addr add $GW_WAN6/64 dev wan0 nodad
    "$IP" -n "$LAN" addr add $LAN4/24 dev eth0
    "$IP" -n "$LAN" addr add $LAN6/64 dev eth0 nodad
    "$IP" -n "$WAN" addr add $WAN4/24 dev eth0
    "$IP" -n "$WAN" addr add $WAN6/64 dev eth0 nodad
    for l in "$GW lan0" "$GW wan0" "$LAN eth0" "$WAN eth0"; do
        set -- $l
        "$IP" -n "$1" link set "$2" up || return 1
    done
    "$IP" -n "$LAN" route add default via $GW_LAN4 || return 1
    "$IP" -n "$LAN" -6 route add default via $GW_LAN6 || return 1
    "$IP" -n "$GW" route add default via $WAN4 || return 1
    "$IP" -n "$GW" -6 route add default via $WAN6 || return 1
    "$IP" -n "$WAN" -6 route add 2001:db8:1::/64 via $GW_WAN6 || return 1
    in_ns "$GW" "$BB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
        return 1
    in_ns "$GW" "$NFT" -f - <<EOF || return 1
table ip lab {
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        oifname "wan0" masquerade
    }
}
EOF
}

# ---- probes --------------------------------------------------------------------------------
# wait_listen NS PORT: a TCP listener on PORT exists in NS (up to 5 s).
wait_listen() {
    n=0
    while [ $n -lt 100 ]; do
        if in_ns "$1" "$BB" netstat -ltn 2>/dev/null | grep -q ":$2 "; then return 0; fi
        "$BB" sleep 0.05
        n=$((n + 1))
    done
    return 1
}

probe_seq=0
# tcp_reaches FROM_NS TO_ADDR TO_PORT LISTEN_NS LISTEN_PORT: a listener in LISTEN_NS
# receives the bytes FROM_NS sends to TO_ADDR:TO_PORT (waits up to about 3 s).
tcp_reaches() {
    probe_seq=$((probe_seq + 1))
    token="kmatrix-probe-$probe_seq-$$"
    out=$WORK/probe.out
    : >"$out"
    # `ip netns exec` execs the command: $! is the listener itself.
    "$IP" netns exec "$4" "$BB" nc -l -p "$5" >"$out" 2>/dev/null </dev/null &
    lpid=$!
    if ! wait_listen "$4" "$5"; then
        kill $lpid 2>/dev/null
        wait $lpid 2>/dev/null
        echo "no listener on $5 in $4" >&2
        return 1
    fi
    # A refused or timed-out connection carried nothing: no need to wait for the bytes.
    n=20
    if echo "$token" | in_ns "$1" "$BB" timeout 3 "$BB" nc -w 2 "$2" "$3" >/dev/null 2>&1
    then n=0; fi
    while [ $n -lt 20 ] && ! grep -q "$token" "$out"; do
        "$BB" sleep 0.1
        n=$((n + 1))
    done
    kill $lpid 2>/dev/null
    wait $lpid 2>/dev/null
    grep -q "$token" "$out"
}
# WAN bytes to the gateway's external EPORT reach the LAN host at IPORT.
wan_reaches4() { tcp_reaches "$WAN" $GW_WAN4 "$1" "$LAN" "$2"; }
# WAN bytes to the LAN host's IPv6 address reach it at PORT.
wan_reaches6() { tcp_reaches "$WAN" $LAN6 "$1" "$LAN" "$1"; }

# ---- portgated and the CLI -----------------------------------------------------------------
# start_daemon NAME EXTRA_CONFIG: portgated in the gateway, ready at its "listening on" line.
start_daemon() {
    conf=$WORK/$1.conf
    log=$WORK/$1.log
    : >"$log"
    {
        echo "ext_ifname=wan0"
        echo "listening_ip=lan0"
        echo "ext_allow_private_ipv4=yes"
        echo "enable_upnp=yes"
        echo "enable_natpmp=yes"
        echo "enable_pcp_pmp=yes"
        echo "http_port=5000"
        echo "lease_file=$WORK/$1.leases"
        echo "lease_file6=$WORK/$1.leases6"
        # Not the default /run/portgated.sock: the host may run another portgated.
        echo "control_socket=$WORK/$1.sock"
        printf '%s' "$2"
    } >"$conf"
    "$IP" netns exec "$GW" "$BIN/portgated" -d -f "$conf" >"$log" 2>&1 </dev/null &
    daemon_pid=$!
    n=0
    while [ $n -lt 600 ]; do
        if grep -q "listening on" "$log"; then return 0; fi
        if ! kill -0 $daemon_pid 2>/dev/null; then
            daemon_pid=""
            return 1
        fi
        "$BB" sleep 0.1
        n=$((n + 1))
    done
    return 1
}
stop_daemon() {
    if [ -n "$daemon_pid" ]; then
        kill -TERM $daemon_pid 2>/dev/null
        n=0
        while [ $n -lt 100 ] && kill -0 $daemon_pid 2>/dev/null; do
            "$BB" sleep 0.1
            n=$((n + 1))
        done
        kill -KILL $daemon_pid 2>/dev/null
        wait $daemon_pid 2>/dev/null
        daemon_pid=""
    fi
}

# pg ARGS: the portgate CLI on the LAN host, output in $WORK/pg.out. No SSDP cache daemon
# (one on the host would answer with another lab's gateway).
pg() {
    in_ns "$LAN" "$BIN/portgate" --minissdpd "$WORK/no-minissdpd" "$@" >"$WORK/pg.out" 2>&1
}

# check_map NAME VIA EPORT IPORT: mapped over VIA, and WAN bytes reach the LAN host.
check_map() {
    if ! pg map --via "$2" --lease 600 "$3" "$4"; then
        fail "$1" "portgate map --via $2 $3 $4 failed" "$WORK/pg.out"
    elif ! wan_reaches4 "$3" "$4"; then
        fail "$1" "mapped, but WAN bytes to $3 did not reach the LAN host at $4"
    else
        pass "$1"
    fi
}
# check_unmap NAME VIA EPORT IPORT: a live mapping (WAN bytes reach) is unmapped over VIA,
# and WAN bytes no longer reach.
check_unmap() {
    if ! wan_reaches4 "$3" "$4"; then
        fail "$1" "nothing to delete: WAN bytes to $3 do not reach the LAN host"
    elif ! pg unmap --via "$2" "$3" "$4"; then
        fail "$1" "portgate unmap --via $2 $3 $4 failed" "$WORK/pg.out"
    elif wan_reaches4 "$3" "$4"; then
        fail "$1" "unmapped, but WAN bytes to $3 still reach the LAN host"
    else
        pass "$1"
    fi
}

# ---- the checks ----------------------------------------------------------------------------
echo "kernel $(uname -r)"
if build_lab >"$WORK/lab.out" 2>&1 && tcp_reaches "$LAN" $WAN4 7000 "$WAN" 7000 &&
    ! wan_reaches4 8100 8100; then
    pass lab
else
    fail lab "the namespace lab does not route, or lets WAN bytes in unmapped" "$WORK/lab.out"
fi

if start_daemon std ""; then
    pass daemon_start
else
    fail daemon_start "portgated did not log \"listening on\"" "$WORK/std.log"
fi

check_map natpmp_map natpmp 8101 9101
# A second request for the same mapping is a refresh: the element is updated in place
# (6.12 and later) or deleted and re-added in one transaction (before 6.12).
check_map natpmp_refresh natpmp 8101 9101
check_unmap natpmp_delete natpmp 8101 9101

check_map pcp_map pcp 8102 9102
# PCP deletion needs the nonce of the request that made the mapping (RFC 6887 section
# 11.1), which a new CLI process does not have: UPnP's DeletePortMapping removes it.
check_unmap pcp_delete upnp 8102 9102

check_map upnp_map upnp 8103 9103
check_map upnp_refresh upnp 8103 9103
check_unmap upnp_delete upnp 8103 9103

# IPv6 pinhole over UPnP WANIPv6FirewallControl: the standalone table drops new inbound
# IPv6 until the pinhole opens it.
if wan_reaches6 5800; then
    fail pinhole6_add "WAN bytes reach [$LAN6]:5800 before any pinhole"
elif ! pg --json pinhole add 5800 --lease 600; then
    fail pinhole6_add "portgate pinhole add 5800 failed" "$WORK/pg.out"
elif ! wan_reaches6 5800; then
    fail pinhole6_add "pinhole added, but WAN bytes to [$LAN6]:5800 did not arrive"
else
    pass pinhole6_add
fi
pin_id=$(grep -o '"id":[0-9]*' "$WORK/pg.out" | head -n 1 | cut -d: -f2)
if [ -z "$pin_id" ]; then
    fail pinhole6_update "no pinhole id" "$WORK/pg.out"
elif ! pg pinhole update "$pin_id" --lease 900; then
    fail pinhole6_update "portgate pinhole update failed" "$WORK/pg.out"
elif ! wan_reaches6 5800; then
    fail pinhole6_update "updated, but WAN bytes to [$LAN6]:5800 no longer arrive"
else
    pass pinhole6_update
fi
if [ -z "$pin_id" ] || ! pg pinhole delete "$pin_id"; then
    fail pinhole6_delete "portgate pinhole delete failed" "$WORK/pg.out"
elif wan_reaches6 5800; then
    fail pinhole6_delete "deleted, but WAN bytes still reach [$LAN6]:5800"
else
    pass pinhole6_delete
fi

# What the daemon found the kernel's nftables can do (its start-up line at info level).
stop_daemon
feature() { grep -o "$1=[a-z]*" "$WORK/std.log" | head -n 1 | cut -d= -f2; }
echo "INFO features destroy=$(feature destroy) in_place_refresh=$(feature in_place_refresh)" \
    "element_counters=$(feature element_counters)"
if [ "$nfail" -gt 0 ] && [ -s "$WORK/std.log" ]; then
    echo "portgated's log (last lines):"
    tail -n 15 "$WORK/std.log" | sed 's/^/    | /'
fi
in_ns "$GW" "$NFT" delete table inet portgate 2>/dev/null

# miniupnpd's layout: the admin's skeleton (as Debian's miniupnpd-nftables expects it, with
# one rule of the admin's own) first, then portgated puts its objects into those chains.
layout_ok=1
if ! in_ns "$GW" "$NFT" -f "$SKELETON" >"$WORK/skeleton.out" 2>&1; then
    layout_ok=0
    fail layout_map "the admin's skeleton could not be loaded" "$WORK/skeleton.out"
elif ! start_daemon layout "upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
"; then
    layout_ok=0
    fail layout_map "portgated (layout mode) did not log \"listening on\"" "$WORK/layout.log"
else
    check_map layout_map natpmp 8104 9104
fi
if [ $layout_ok = 1 ]; then
    check_map layout_refresh natpmp 8104 9104
    check_unmap layout_delete natpmp 8104 9104
    # A clean shutdown leaves the admin's skeleton and nothing of ours.
    pg map --via natpmp --lease 600 8105 9105
    stop_daemon
    ruleset=$(in_ns "$GW" "$NFT" list ruleset 2>&1)
    if ! echo "$ruleset" | grep -q 'jump prerouting_miniupnpd' ||
        ! echo "$ruleset" | grep -q 'comment "admin"'; then
        fail layout_shutdown "the admin's skeleton or rule is gone after shutdown"
    elif echo "$ruleset" | grep -q portgate; then
        echo "$ruleset" | grep portgate >"$WORK/ruleset.out"
        fail layout_shutdown "our objects are left after a clean shutdown" "$WORK/ruleset.out"
    else
        pass layout_shutdown
    fi
    if [ "$nfail" -gt 0 ] && [ -s "$WORK/layout.log" ]; then
        echo "portgated's log, layout mode (last lines):"
        tail -n 10 "$WORK/layout.log" | sed 's/^/    | /'
    fi
else
    fail layout_refresh "layout mode did not start"
    fail layout_delete "layout mode did not start"
    fail layout_shutdown "layout mode did not start"
fi

# portgate-nft's own kernel tests (the same paths in depth: counters, expiry, hairpin,
# family split). They need ip, nft, ss and OpenBSD nc on PATH.
if [ -x "$BIN/nft-kernel-test" ]; then
    if (cd "$WORK" && RUST_TEST_THREADS=${KM_TEST_THREADS:-2} "$BIN/nft-kernel-test" \
        >"$WORK/kernel-test.out" 2>&1); then
        pass nft_kernel_tests
    else
        fail nft_kernel_tests "portgate-nft's kernel tests failed" "$WORK/kernel-test.out"
        grep -E '^test .* FAILED|^---- ' "$WORK/kernel-test.out" | sed 's/^/    | /'
    fi
    grep -E '^test result:' "$WORK/kernel-test.out" | sed 's/^/INFO nft_kernel_tests /'
else
    echo "INFO nft_kernel_tests not run ($BIN/nft-kernel-test missing)"
fi

seconds=$(($(cut -d. -f1 /proc/uptime) - start))
echo "KMATRIX-SUMMARY kernel=$(uname -r) pass=$npass fail=$nfail seconds=$seconds"
exit $nfail

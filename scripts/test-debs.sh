#!/usr/bin/env bash
# CI check of the Debian packages: build them (scripts/build-debs.sh, reusing the debug
# build by default), lintian (no errors), `systemd-analyze verify` on the installed units,
# `dpkg -i`, then the installed portgated in a namespace lab (LAN host, gateway, WAN host
# joined by veth pairs): a port mapped with the installed `portgate` from the LAN host
# carries bytes from the WAN host, `portgate admin list` shows it, `portgate admin delete`
# removes it and the bytes stop. Finally `dpkg --purge` and a check that nothing is left.
#
# Needs root; installs and purges the packages portgated, portgate and portgate-ssdpd
# (refuses to run when one of them is already installed). Traffic stays inside the
# namespaces. PORTGATE_DEB_PROFILE=release tests release packages instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "test-debs: $*"; }
fail() { echo "test-debs: FAILED: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    # As the lab tests: a skip on a developer's machine, a failure under CI=true.
    [ "${CI:-}" = true ] && fail "needs root (dpkg -i and network namespaces)"
    say "SKIPPED: needs root (dpkg -i and network namespaces)"
    exit 0
fi
pkgs=(portgated portgate portgate-ssdpd)
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        fail "$p is already installed here; this test installs and purges it"
    fi
done
command -v lintian >/dev/null || fail "lintian missing (scripts/install-deps.sh installs it)"

export PORTGATE_DEB_PROFILE=${PORTGATE_DEB_PROFILE:-debug}
tmp=$(mktemp -d)
id=$$
ns_lan=pgdeb-lan-$id ns_gw=pgdeb-gw-$id ns_wan=pgdeb-wan-$id
installed=0
daemon_pid=""
cleanup() {
    local rc=$?
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
    for ns in "$ns_lan" "$ns_gw" "$ns_wan"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$installed" = 1 ]; then dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true; fi
    if [ $rc -ne 0 ] && [ -s "$tmp/portgated.log" ]; then
        echo "--- portgated's log:"; cat "$tmp/portgated.log"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. Build and check the packages.
mapfile -t debs < <(bash scripts/build-debs.sh)
[ "${#debs[@]}" -eq 3 ] || fail "build-debs made ${#debs[@]} packages, expected 3"
for d in "${debs[@]}"; do say "$(basename "$d"): $(stat -c %s "$d") bytes"; done
lintian_rc=0
lintian_out=$(lintian --fail-on error "${debs[@]}" 2>&1) || lintian_rc=$?
lintian_out=$(grep -v '^running with root privileges' <<<"$lintian_out" || true)
[ "$lintian_rc" -eq 0 ] || fail "lintian reports errors: $lintian_out"
say "lintian: ${lintian_out:-no tags}"

# 2. Install; nothing may be started, and the uuid must have been generated.
dpkg -i "${debs[@]}" >/dev/null
installed=1
for p in "${pkgs[@]}"; do dpkg-query -L "$p" > "$tmp/files-$p"; done
grep -Eq '^uuid=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' /etc/portgate/portgated.conf ||
    fail "postinst did not generate the uuid"
for pid in $(pgrep -x portgated || true); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != /usr/sbin/portgated ] ||
        fail "the installed portgated was started by the installation"
done
systemd-analyze verify /lib/systemd/system/portgated.service /lib/systemd/system/portgate-ssdpd.service
say "systemd-analyze verify: both units ok"
for m in portgated.8 portgated.conf.5 portgate.1 portgate-ssdpd.8; do
    man -w "${m%.*}" >/dev/null 2>&1 || [ -e "/usr/share/man/man${m##*.}/$m.gz" ] || fail "no manual page $m"
done
[ -s /usr/share/bash-completion/completions/portgate ] || fail "no bash completion"

# 3. The lab: LAN host 192.168.77.2 -- gateway 192.168.77.1 | 203.0.113.1 -- WAN host 203.0.113.2.
for ns in "$ns_lan" "$ns_gw" "$ns_wan"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$ns_gw" link add lan0 type veth peer name eth0 netns "$ns_lan"
ip -n "$ns_gw" link add wan0 type veth peer name eth0 netns "$ns_wan"
ip -n "$ns_gw" addr add 192.168.77.1/24 dev lan0
ip -n "$ns_gw" addr add 203.0.113.1/24 dev wan0
ip -n "$ns_lan" addr add 192.168.77.2/24 dev eth0
ip -n "$ns_wan" addr add 203.0.113.2/24 dev eth0
for l in "$ns_gw lan0" "$ns_gw wan0" "$ns_lan eth0" "$ns_wan eth0"; do
    set -- $l; ip -n "$1" link set "$2" up
done
ip -n "$ns_lan" route add default via 192.168.77.1
ip -n "$ns_wan" route add default via 203.0.113.1
ip netns exec "$ns_gw" sysctl -q -w net.ipv4.ip_forward=1

# The packaged configuration, with the lab's interfaces (the lab's WAN net is a
# reserved one) and the state in the temporary directory.
conf="$tmp/portgated.conf"
cp /etc/portgate/portgated.conf "$conf"
cat >> "$conf" <<CONF
ext_ifname=wan0
listening_ip=192.168.77.1/24
ext_allow_private_ipv4=yes
lease_file=$tmp/leases
lease_file6=$tmp/leases6
control_socket=$tmp/portgated.sock
CONF
# As the unit runs it (Type=notify: in the foreground), logs to stderr.
ip netns exec "$ns_gw" /usr/sbin/portgated --foreground --log stderr -f "$conf" \
    -P "$tmp/portgated.pid" > "$tmp/portgated.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
    grep -q "listening on" "$tmp/portgated.log" && break
    kill -0 "$daemon_pid" 2>/dev/null || fail "portgated exited"
    sleep 0.1
done
grep -q "listening on" "$tmp/portgated.log" || fail "portgated did not start in 20 s"
say "portgated: $(grep -o 'listening on.*' "$tmp/portgated.log")"

# wan_reaches PORT TOKEN: TOKEN sent from the WAN host to the external PORT arrives on
# the LAN host's PORT.
wan_reaches() {
    local got="$tmp/got-$2"
    : > "$got"
    ip netns exec "$ns_lan" timeout 4 nc -l "$1" > "$got" 2>/dev/null &
    local listener=$!
    # Until the listener is up (at most 2 s).
    for _ in $(seq 20); do
        ip netns exec "$ns_lan" ss -ltnH "sport = :$1" | grep -q . && break
        sleep 0.1
    done
    echo "$2" | ip netns exec "$ns_wan" timeout 3 nc -w 1 203.0.113.1 "$1" >/dev/null 2>&1 || true
    wait "$listener" 2>/dev/null || true
    grep -q "$2" "$got"
}

admin() { /usr/bin/portgate admin --socket "$tmp/portgated.sock" "$@"; }

port=7400
echo "+ portgate map $port (on the LAN host)"
ip netns exec "$ns_lan" /usr/bin/portgate map "$port"
wan_reaches "$port" "through-$id" || fail "WAN bytes did not reach the LAN host through the mapping"
say "WAN bytes arrive through the mapping"
echo "+ portgate admin list"
list=$(admin list)
echo "$list"
grep -Eq "^tcp +$port +192\.168\.77\.2:$port " <<<"$list" || fail "portgate admin list does not show the mapping"
echo "+ portgate admin status"
admin status
echo "+ portgate admin delete $port"
admin delete "$port"
if wan_reaches "$port" "after-$id"; then fail "WAN bytes still arrive after portgate admin delete"; fi
say "WAN bytes stop after the delete"
admin --json list | grep -q '"mappings":\[\]' || fail "the mapping is still listed"

kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""

# 4. Purge: every file the packages installed is gone, and their state and configuration.
dpkg --purge "${pkgs[@]}" >/dev/null
installed=0
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then fail "$p still installed"; fi
    while IFS= read -r f; do
        # Directories shared with other packages (/usr/sbin, /etc/default, ...) stay.
        if [ -e "$f" ] && [ ! -d "$f" ]; then fail "$f left after purge"; fi
    done < "$tmp/files-$p"
done
for f in /etc/portgate /var/lib/portgate /etc/default/portgated /etc/default/portgate-ssdpd \
         /run/portgated.sock /run/portgated.pid; do
    [ ! -e "$f" ] || fail "$f left after purge"
done
say "purged: nothing left"

#!/bin/sh
# Tests of the OpenWrt package's scripts, run with the system's sh (dash on Debian,
# close to OpenWrt's busybox ash) under a stub of OpenWrt's shell functions (stub.sh):
#
# - the init script's UCI-to-miniupnpd.conf step, for each cases/NAME.uci, must print
#   cases/NAME.conf: the config miniupnpd's own OpenWrt init script writes for the same
#   UCI input (written by hand from reading that script; its code is not used here),
#   and the `uci` calls in cases/NAME.ucilog when there is one; with PORTGATED set to a
#   portgated binary, each config must also pass `portgated -f CONF --check-config`;
# - the rpcd plugin's get_status, for the lease file cases/leases, must print
#   cases/get_status.json, and delete_rule must stop the daemon, remove the chosen
#   mapping's lines (cases/leases.after-delete-3) and start it again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
files="$here/../portgate/files"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

for case in "$here"/cases/*.uci; do
    name=$(basename "$case" .uci)
    conf="$T/$name.conf"
    : >"$T/$name.ucilog"
    (
        . "$here/stub.sh"
        . "$files/portgated.init"
        PORTGATED_NETWORK_SH=/dev/null
        PORTGATED_UUID_SOURCE="$here/cases/uuid"
        STUB_CASE=$case STUB_UCI_LOG="$T/$name.ucilog"
        config_load upnpd
        portgated_wan_devices
        portgated_conf
    ) >"$conf"
    sed "s|@T@|$T|g" "$here/cases/$name.conf" >"$T/$name.expected"
    diff -u "$T/$name.expected" "$conf" || fail "$name: config differs from miniupnpd's"
    if [ -f "$here/cases/$name.ucilog" ]; then
        diff -u "$here/cases/$name.ucilog" "$T/$name.ucilog" || fail "$name: uci calls"
    elif [ -s "$T/$name.ucilog" ]; then
        fail "$name: unexpected uci calls: $(cat "$T/$name.ucilog")"
    fi
    if [ -n "${PORTGATED:-}" ]; then
        "$PORTGATED" -f "$conf" --check-config >"$T/$name.check" 2>&1 ||
            fail "$name: portgated refuses the config: $(cat "$T/$name.check")"
    fi
    echo "ok: init $name"
done

# The rpcd plugin, with uci, date and the init script stubbed on PATH.
mkdir -p "$T/bin"
cp "$here/cases/leases" "$T/leases"
printf '#!/bin/sh\n[ "$*" = "-q get upnpd.config.upnp_lease_file" ] && echo "%s"\n' "$T/leases" >"$T/bin/uci"
printf '#!/bin/sh\necho 2000000000\n' >"$T/bin/date"
printf '#!/bin/sh\necho "init $1" >>"%s"\n' "$T/init.log" >"$T/bin/init"
chmod +x "$T/bin/uci" "$T/bin/date" "$T/bin/init"
plugin() { PATH="$T/bin:$PATH" PORTGATED_INIT="$T/bin/init" sh "$files/luci.upnp" "$@"; }

plugin list | grep -qx '{"get_status":{},"delete_rule":{"token":"token"}}' || fail "rpcd list"
plugin call get_status </dev/null >"$T/status.json"
diff -u "$here/cases/get_status.json" "$T/status.json" || fail "rpcd get_status"
python3 -m json.tool "$T/status.json" >/dev/null || fail "get_status is not JSON"
echo "ok: rpcd get_status"

[ "$(echo '{"token":"9"}' | plugin call delete_rule)" = '{"result":"Bad request"}' ] ||
    fail "delete_rule of a missing mapping"
[ "$(echo '{}' | plugin call delete_rule)" = '{"result":"Bad request"}' ] ||
    fail "delete_rule without a token"
[ ! -e "$T/init.log" ] || fail "a bad request restarted the daemon"
[ "$(echo '{"token":"3"}' | plugin call delete_rule)" = '{"result":"OK"}' ] ||
    fail "delete_rule 3"
diff -u "$here/cases/leases.after-delete-3" "$T/leases" || fail "delete_rule: lease file"
[ "$(cat "$T/init.log")" = "$(printf 'init stop\ninit start')" ] ||
    fail "delete_rule: init calls $(cat "$T/init.log")"
echo "ok: rpcd delete_rule"

if [ "$failed" -gt 0 ]; then
    echo "$failed failure(s)"
    exit 1
fi
echo "all OpenWrt package tests passed"

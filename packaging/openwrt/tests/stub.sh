# A shell stub of the OpenWrt functions the package's scripts call (UCI's config_*
# from /lib/functions.sh, network.sh's network_*, uci, logger, fw4, procd), for tests
# on a machine without OpenWrt. A case file describes the UCI sections and the network:
#
#   section TYPE NAME        # a UCI section (name it; anonymous ones get cfgN names)
#   option NAME VALUE        # an option of the last section
#   net_device IFACE DEVICE  # network_get_device
#   net_wan IFACE            # network_find_wan (none: not found)
#   net_wan6 IFACE           # network_find_wan6
#
# STUB_CASE is the case file; `uci set/commit` calls are appended to STUB_UCI_LOG.

stub_sections=""
section() { stub_cur=$2; stub_sections="$stub_sections $2"; eval "stub_type_$2=\$1"; }
option() { eval "stub_opt_${stub_cur}_$1=\$2"; }
net_device() { eval "stub_dev_$1=\$2"; }
net_wan() { stub_wan=$1; }
net_wan6() { stub_wan6=$1; }

config_load() {
	stub_sections="" stub_wan="" stub_wan6=""
	. "$STUB_CASE"
}
# config_get VAR SECTION OPTION [DEFAULT]
config_get() {
	local stub_set
	eval "stub_set=\${stub_opt_$2_$3+x}"
	if [ -n "$stub_set" ]; then eval "$1=\$stub_opt_$2_$3"; else eval "$1=\${4:-}"; fi
}
# config_get_bool VAR SECTION OPTION [DEFAULT]: 1 or 0 (OpenWrt's spellings).
config_get_bool() {
	local stub_bool
	config_get stub_bool "$2" "$3" "${4:-}"
	case "$stub_bool" in
		1|on|true|yes|enabled) stub_bool=1 ;;
		0|off|false|no|disabled) stub_bool=0 ;;
		*) stub_bool=${4:-0} ;;
	esac
	eval "$1=\$stub_bool"
}
config_foreach() {
	local stub_s stub_t
	for stub_s in $stub_sections; do
		eval "stub_t=\$stub_type_$stub_s"
		[ "$stub_t" = "$2" ] && "$1" "$stub_s"
	done
	return 0
}
network_get_device() {
	local stub_d
	eval "stub_d=\${stub_dev_$2:-}"
	eval "$1=\$stub_d"
	[ -n "$stub_d" ]
}
network_find_wan() { eval "$1=\$stub_wan"; [ -n "$stub_wan" ]; }
network_find_wan6() { eval "$1=\$stub_wan6"; [ -n "$stub_wan6" ]; }
uci() { echo "uci $*" >>"$STUB_UCI_LOG"; }
logger() { :; }
fw4() { return 1; }

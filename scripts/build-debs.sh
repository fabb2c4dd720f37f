#!/usr/bin/env bash
# Build the Debian packages portgated, portgate (the CLI) and portgate-ssdpd with
# dpkg-deb, from the workspace's binaries and packaging/debian/.
#
#   scripts/build-debs.sh                  release build (what to ship), packages in target/debian/
#   PORTGATE_DEB_PROFILE=debug scripts/build-debs.sh   reuse the debug build (CI: no second build)
#   PORTGATE_DEB_OUT=DIR                   where the .deb files go
#
# Prints the path of each package made. Needs dpkg-dev (dpkg-deb, dpkg-shlibdeps) and
# binutils (strip); no root (dpkg-deb --root-owner-group).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PORTGATE_DEB_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
out=${PORTGATE_DEB_OUT:-$target_dir/debian}
src=packaging/debian

case "$profile" in
    release) cargo build --quiet --release -p portgate-daemon --bin portgated \
                 -p portgate-cli --bin portgate -p portgate-ssdpd --bin portgate-ssdpd ;;
    debug) cargo build --quiet -p portgate-daemon --bin portgated \
               -p portgate-cli --bin portgate -p portgate-ssdpd --bin portgate-ssdpd ;;
    *) echo "build-debs: PORTGATE_DEB_PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin="$target_dir/$profile"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/changelog" | head -n1)
homepage=https://github.com/portgate/portgate
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage" "$out"

# stage PKG: a fresh tree for PKG with its copyright and changelog.
stage() {
    local root="$stage/$1"
    mkdir -p "$root/DEBIAN"
    install -D -m 0644 "$src/copyright" "$root/usr/share/doc/$1/copyright"
    gzip -9n -c "$src/changelog" > "$root/usr/share/doc/$1/changelog.gz"
    chmod 0644 "$root/usr/share/doc/$1/changelog.gz"
}

# binary PKG NAME DIR: the stripped binary NAME into DIR of PKG.
binary() {
    install -D -m 0755 "$bin/$2" "$stage/$1/$3/$2"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$1/$3/$2"
}

# manpage PKG SECTION FILE: FILE (roff) gzipped into PKG's man SECTION.
manpage() {
    local dir="$stage/$1/usr/share/man/man$2"
    mkdir -p "$dir"
    gzip -9n -c "$3" > "$dir/$(basename "$3").gz"
    chmod 0644 "$dir/$(basename "$3").gz"
}

# scripts PKG: maintainer scripts of PKG found in packaging/debian/.
scripts() {
    local s
    for s in postinst prerm postrm; do
        if [ -f "$src/$1.$s" ]; then
            install -m 0755 "$src/$1.$s" "$stage/$1/DEBIAN/$s"
        fi
    done
}

# control PKG DEPENDS-EXTRA SHORT LONG...: DEBIAN/control, md5sums and conffiles.
control() {
    local pkg=$1 extra=$2 short=$3
    shift 3
    local root="$stage/$pkg" elf=() f
    while IFS= read -r f; do elf+=("$f"); done < <(find "$root/usr" -type f -perm -u+x)
    # Shared-library dependencies as dpkg-shlibdeps computes them (libc6 only).
    local depends
    depends=$(cd "$root" && mkdir -p debian && touch debian/control &&
              dpkg-shlibdeps -O "${elf[@]#"$root"/}" 2>/dev/null |
              sed -n 's/^shlibs:Depends=//p'; rm -rf debian)
    [ -n "$extra" ] && depends="$depends, $extra"
    local size
    size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    {
        echo "Package: $pkg"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $maintainer"
        echo "Installed-Size: $size"
        echo "Depends: $depends"
        echo "Section: net"
        echo "Priority: optional"
        echo "Homepage: $homepage"
        echo "Description: $short"
        local line
        for line in "$@"; do
            if [ "$line" = . ]; then echo " ."; else echo " $line"; fi
        done
    } > "$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
        xargs md5sum) > "$root/DEBIAN/md5sums"
    if [ -d "$root/etc" ]; then
        (cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"
    fi
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
    [ -f "$root/DEBIAN/conffiles" ] && chmod 0644 "$root/DEBIAN/conffiles"
    local deb="$out/${pkg}_${version}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    echo "$deb"
}


# portgated
stage portgated
binary portgated portgated usr/sbin
# Manual pages of the daemons from their flags (examples: clap_mangen stays out of them).
cargo run --quiet -p portgate-daemon --example portgated-man > "$stage/portgated.8"
manpage portgated 8 "$stage/portgated.8"
manpage portgated 5 "$src/portgated.conf.5"
install -D -m 0644 "$src/portgated.conf" "$stage/portgated/etc/portgate/portgated.conf"
install -D -m 0644 "$src/portgated.default" "$stage/portgated/etc/default/portgated"
install -D -m 0644 "$src/portgated.service" "$stage/portgated/lib/systemd/system/portgated.service"
install -d -m 0755 "$stage/portgated/var/lib/portgate"
scripts portgated
control portgated "nftables" \
    "UPnP IGD, NAT-PMP and PCP gateway daemon (miniupnpd replacement)" \
    "portgated lets hosts on a LAN open ports on the gateway with UPnP IGD:1/IGD:2," \
    "NAT-PMP (RFC 6886) or PCP (RFC 6887), and IPv6 pinholes with" \
    "WANIPv6FirewallControl and PCP. It reads miniupnpd.conf as it is, keeps" \
    "miniupnpd's lease file format, and drives nftables over netlink directly." \
    "." \
    "The service is installed but neither enabled nor started: set ext_ifname and" \
    "listening_ip in /etc/portgate/portgated.conf first." \
    "\`portgate admin\` (package portgate) lists and removes mappings."

# portgate (CLI)
stage portgate
binary portgate portgate usr/bin
"$bin/portgate" generate man > "$stage/portgate.1"
manpage portgate 1 "$stage/portgate.1"
mkdir -p "$stage/portgate/usr/share/bash-completion/completions" \
         "$stage/portgate/usr/share/zsh/vendor-completions" \
         "$stage/portgate/usr/share/fish/vendor_completions.d"
"$bin/portgate" generate bash > "$stage/portgate/usr/share/bash-completion/completions/portgate"
"$bin/portgate" generate zsh > "$stage/portgate/usr/share/zsh/vendor-completions/_portgate"
"$bin/portgate" generate fish > "$stage/portgate/usr/share/fish/vendor_completions.d/portgate.fish"
chmod 0644 "$stage"/portgate/usr/share/*/*/portgate* "$stage"/portgate/usr/share/zsh/vendor-completions/_portgate
control portgate "" \
    "command-line client for UPnP IGD, NAT-PMP and PCP (upnpc, natpmpc)" \
    "portgate opens ports on the local gateway: it finds it (routing table, SSDP," \
    "an SSDP cache daemon), maps and unmaps ports over PCP, NAT-PMP or UPnP IGD," \
    "keeps a mapping alive, lists mappings and manages IPv6 pinholes." \
    "." \
    "\`portgate admin\` administers a local portgated over its control socket."

# portgate-ssdpd
stage portgate-ssdpd
binary portgate-ssdpd portgate-ssdpd usr/sbin
cargo run --quiet -p portgate-ssdpd --example portgate-ssdpd-man > "$stage/portgate-ssdpd.8"
manpage portgate-ssdpd 8 "$stage/portgate-ssdpd.8"
install -D -m 0644 "$src/portgate-ssdpd.default" "$stage/portgate-ssdpd/etc/default/portgate-ssdpd"
install -D -m 0644 "$src/portgate-ssdpd.service" \
    "$stage/portgate-ssdpd/lib/systemd/system/portgate-ssdpd.service"
scripts portgate-ssdpd
control portgate-ssdpd "" \
    "SSDP cache daemon compatible with MiniSSDPd" \
    "portgate-ssdpd caches the UPnP devices announced on the LAN and answers over" \
    "a unix socket whose protocol is MiniSSDPd's, so upnpc and portgate find" \
    "gateways without waiting for multicast answers. portgated registers its" \
    "services with it when UDP 1900 is taken." \
    "." \
    "The service is installed but neither enabled nor started: set the LAN" \
    "interfaces in /etc/default/portgate-ssdpd first."

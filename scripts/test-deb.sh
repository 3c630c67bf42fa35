#!/usr/bin/env bash
# Tests the Debian packages with dpkg itself, each in a fresh temporary root
# (dpkg --root): install, verify the unit with systemd-analyze, run the
# installed binary (under qemu for arm64 and armhf), enable the service
# offline, reinstall over a changed configuration (the upgrade path), remove
# (service disabled; configuration, data and user kept), then purge. The
# maintainer scripts run for real: --force-script-chrootless runs them on
# the host with DPKG_ROOT set to the root, which they honour.
#
#   scripts/test-deb.sh [DEB...]     (default dist/edgeplane_*.deb)
set -euo pipefail
cd "$(dirname "$0")/.."
debs=("$@")
[ ${#debs[@]} -gt 0 ] || debs=(dist/edgeplane_*.deb)
[ -f "${debs[0]}" ] || { echo "test-deb: no packages: run scripts/package-deb.sh first" >&2; exit 1; }

fail() {
	echo "test-deb: FAIL: $*" >&2
	exit 1
}

for deb in "${debs[@]}"; do
	arch=$(dpkg-deb -f "$deb" Architecture)
	case "$arch" in
	amd64) qemu= ;;
	arm64) qemu="qemu-aarch64-static" ;;
	armhf) qemu="qemu-arm-static" ;;
	*) fail "no emulator for $arch" ;;
	esac
	root=$(mktemp -d)
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
	touch "$root/var/lib/dpkg/status"
	dpkg_root() { dpkg --root="$root" --force-script-chrootless --log="$root/dpkg.log" "$@"; }
	if [ "$arch" != "$(dpkg --print-architecture)" ]; then
		dpkg_root --add-architecture "$arch"
	fi
	echo "-- test-deb: $(basename "$deb") into $root"

	dpkg_root -i "$deb" | sed 's/^/   /'
	for f in /usr/bin/edgeplane /lib/systemd/system/edgeplane.service /etc/edgeplane/edgeplane.yaml \
		/usr/lib/sysctl.d/60-edgeplane.conf /usr/lib/sysusers.d/edgeplane.conf \
		/usr/share/edgeplane/prometheus/edgeplane-rules.yml; do
		[ -f "$root$f" ] || fail "$arch: $f not installed"
	done
	grep -q '^edgeplane:' "$root/etc/passwd" || fail "$arch: user edgeplane not created"
	uid=$(awk -F: '$1 == "edgeplane" { print $3 }' "$root/etc/passwd")
	[ "$(stat -c '%u %a' "$root/var/lib/edgeplane")" = "$uid 750" ] || fail "$arch: data dir not owned by edgeplane"
	[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Status}' edgeplane)" = "install ok installed" ] ||
		fail "$arch: dpkg does not list the package as installed"
	scripts/verify-unit.sh "$root"
	${qemu:+"$qemu"} "$root/usr/bin/edgeplane" version | sed 's/^/   /'
	${qemu:+"$qemu"} "$root/usr/bin/edgeplane" validate -config-dir "$root/etc/edgeplane" >/dev/null ||
		fail "$arch: the packaged configuration does not validate"

	# The administrator enables the service and edits the configuration;
	# installing the package again (as an upgrade does) keeps both.
	systemctl --root="$root" enable edgeplane.service >/dev/null 2>&1
	wants=$root/etc/systemd/system/multi-user.target.wants/edgeplane.service
	[ -L "$wants" ] || fail "$arch: systemctl --root enable made no link"
	echo "node_name: kept-node" >>"$root/etc/edgeplane/edgeplane.yaml"
	echo data >"$root/var/lib/edgeplane/edgeplane.db"
	dpkg_root --force-confold -i "$deb" >/dev/null
	grep -q kept-node "$root/etc/edgeplane/edgeplane.yaml" || fail "$arch: reinstall replaced the configuration"
	[ -L "$wants" ] || fail "$arch: reinstall disabled the service"

	dpkg_root -r edgeplane >/dev/null
	for f in /usr/bin/edgeplane /lib/systemd/system/edgeplane.service /usr/lib/sysctl.d/60-edgeplane.conf \
		/usr/share/edgeplane; do
		[ ! -e "$root$f" ] || fail "$arch: dpkg -r left $f"
	done
	[ ! -e "$wants" ] || fail "$arch: dpkg -r left the service enabled"
	grep -q kept-node "$root/etc/edgeplane/edgeplane.yaml" || fail "$arch: dpkg -r removed the configuration"
	[ -f "$root/var/lib/edgeplane/edgeplane.db" ] || fail "$arch: dpkg -r removed the data"
	grep -q '^edgeplane:' "$root/etc/passwd" || fail "$arch: dpkg -r removed the user"

	dpkg_root --purge edgeplane >/dev/null
	for f in /etc/edgeplane /var/lib/edgeplane; do
		[ ! -e "$root$f" ] || fail "$arch: dpkg --purge left $f"
	done
	[ -z "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Status}' edgeplane 2>/dev/null | grep installed || true)" ] ||
		fail "$arch: dpkg still lists the package"
	leftovers=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -path ./etc -prune -o -type f -print | grep -v '^./dpkg.log$' || true)
	[ -z "$leftovers" ] || fail "$arch: purge left files: $leftovers"
	echo "-- test-deb: $arch: install, verify, run, reinstall, remove, purge: PASS"
	rm -rf "$root"
done

#!/bin/sh
# Installs the edgeplane agent as a systemd service, or removes it.
#
#   scripts/install.sh [--binary FILE] [--root DIR]     install or upgrade
#   scripts/install.sh --uninstall [--root DIR]         remove; keep config and data
#   scripts/install.sh --purge [--root DIR]             remove config, data and user too
#
# It installs, from this checkout or release archive:
#   /usr/local/bin/edgeplane                     the binary (--binary, else ./edgeplane
#                                                or dist/edgeplane-linux-<arch>)
#   /etc/systemd/system/edgeplane.service        build/edgeplane.service
#   /etc/edgeplane/edgeplane.yaml                build/edgeplane.yaml, only if absent
#   /etc/sysctl.d/60-edgeplane.conf              UDP buffer sizes for QUIC
#   /etc/sysusers.d/edgeplane.conf               the system user edgeplane
#   /var/lib/edgeplane                           the data directory, owned by edgeplane
#
# Running it again is safe: files already in place are left untouched, the
# configuration is never overwritten, and a changed binary replaces the old
# one atomically (then a running service is restarted). It neither enables
# nor starts the service; it prints what to do next.
#
# --root DIR installs into DIR as if it were /, without touching the running
# system (no systemctl, no sysctl): for tests and image builds.
set -eu

usage() {
	sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

root=
binary=
mode=install
while [ $# -gt 0 ]; do
	case "$1" in
	--root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
	--root=*) root=${1#--root=}; root=${root%/}; shift ;;
	--binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
	--binary=*) binary=${1#--binary=}; shift ;;
	--uninstall) mode=uninstall; shift ;;
	--purge) mode=purge; shift ;;
	-h | --help) usage ;;
	*) echo "install.sh: unknown argument $1" >&2; usage ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=$top/build

user=edgeplane
bin_path=/usr/local/bin/edgeplane
unit_path=/etc/systemd/system/edgeplane.service
config_dir=/etc/edgeplane
sysctl_path=/etc/sysctl.d/60-edgeplane.conf
sysusers_path=/etc/sysusers.d/edgeplane.conf
data_dir=/var/lib/edgeplane

say() { printf '%s\n' "$*"; }
die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

# live is true when installing onto the running system.
live() { [ -z "$root" ]; }
# systemd_up is true when the running system is managed by systemd.
systemd_up() { live && [ -d /run/systemd/system ]; }

[ "$(id -u)" = 0 ] || die "run as root (sudo $0 ...)"
if [ -n "$root" ]; then
	[ -d "$root" ] || die "--root $root is not a directory"
	root=$(cd "$root" && pwd)
	[ "$root" != / ] || root=
fi

# place SRC DEST MODE: installs SRC at DEST unless DEST already has the same
# content and mode; replaces atomically. Prints what it did.
place() {
	dest=$root$2
	if [ -f "$dest" ] && cmp -s "$1" "$dest" && [ "$(stat -c %a "$dest")" = "$3" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$dest")"
	tmp=$dest.tmp.$$
	cp "$1" "$tmp"
	chmod "$3" "$tmp"
	mv -f "$tmp" "$dest"
	say "installed $2"
	changed=yes
}

remove() {
	for f in "$@"; do
		if [ -e "$root$f" ] || [ -L "$root$f" ]; then
			rm -f "$root$f"
			say "removed $f"
		fi
	done
}

# uid_of NAME prints NAME's user id in the target root's passwd.
uid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$root/etc/passwd" 2>/dev/null; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$root/etc/group" 2>/dev/null; }

create_user() {
	[ -z "$(uid_of "$user")" ] || return 0
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers ${root:+--root="$root"} "$root$sysusers_path" >/dev/null
	elif command -v useradd >/dev/null 2>&1; then
		useradd ${root:+--root "$root"} --system --user-group --home-dir "$data_dir" \
			--no-create-home --shell /usr/sbin/nologin --comment "edgeplane agent" "$user"
	elif command -v adduser >/dev/null 2>&1 && live; then # busybox
		addgroup -S "$user" && adduser -S -D -H -h "$data_dir" -s /sbin/nologin -G "$user" "$user"
	else
		die "cannot create user $user: no systemd-sysusers, useradd or adduser"
	fi
	[ -n "$(uid_of "$user")" ] || die "user $user was not created"
	say "created user $user"
}

delete_user() {
	[ -n "$(uid_of "$user")" ] || return 0
	if command -v userdel >/dev/null 2>&1; then
		userdel ${root:+--root "$root"} "$user"
		if [ -n "$(gid_of "$user")" ] && command -v groupdel >/dev/null 2>&1; then
			groupdel ${root:+--root "$root"} "$user"
		fi
	elif command -v deluser >/dev/null 2>&1 && live; then # busybox
		deluser "$user" || true
		delgroup "$user" 2>/dev/null || true
	else
		die "cannot delete user $user: no userdel or deluser"
	fi
	say "deleted user $user"
}

# goarch maps this machine to the Go architecture of its binary.
goarch() {
	case "$(uname -m)" in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv7* | armv8l) echo armv7 ;;
	riscv64) echo riscv64 ;;
	*) uname -m ;;
	esac
}

install_all() {
	if [ -z "$binary" ]; then
		for b in "$top/edgeplane" "$top/dist/edgeplane-linux-$(goarch)"; do
			if [ -f "$b" ]; then
				binary=$b
				break
			fi
		done
	fi
	[ -n "$binary" ] || die "no binary: pass --binary FILE, or run scripts/cross-build.sh first"
	[ -f "$binary" ] || die "--binary $binary: no such file"
	for f in edgeplane.service edgeplane.yaml sysctl.d/60-edgeplane.conf sysusers.d/edgeplane.conf; do
		[ -f "$build/$f" ] || die "missing $build/$f (run from a checkout or a release archive)"
	done

	changed=
	place "$build/sysusers.d/edgeplane.conf" "$sysusers_path" 644
	create_user
	uid=$(uid_of "$user")
	gid=$(gid_of "$user")

	bin_changed=
	before=$changed
	place "$binary" "$bin_path" 755
	[ "$changed" = "$before" ] || bin_changed=yes

	unit=$(mktemp)
	trap 'rm -f "$unit"' EXIT
	sed "s#^ExecStart=/usr/bin/edgeplane #ExecStart=$bin_path #" "$build/edgeplane.service" >"$unit"
	grep -q "^ExecStart=$bin_path " "$unit" || die "build/edgeplane.service has no ExecStart=/usr/bin/edgeplane line"
	before=$changed
	place "$unit" "$unit_path" 644
	unit_changed=
	[ "$changed" = "$before" ] || unit_changed=yes
	place "$build/sysctl.d/60-edgeplane.conf" "$sysctl_path" 644

	if [ ! -d "$root$config_dir" ]; then
		mkdir -p "$root$config_dir"
		chmod 755 "$root$config_dir"
	fi
	if [ ! -e "$root$config_dir/edgeplane.yaml" ]; then
		place "$build/edgeplane.yaml" "$config_dir/edgeplane.yaml" 640
		chown "0:$gid" "$root$config_dir/edgeplane.yaml"
	elif ! cmp -s "$build/edgeplane.yaml" "$root$config_dir/edgeplane.yaml"; then
		say "kept $config_dir/edgeplane.yaml (yours); the shipped default is $build/edgeplane.yaml"
	fi
	if [ ! -d "$root$data_dir" ]; then
		mkdir -p "$root$data_dir"
		say "created $data_dir"
	fi
	if [ "$(stat -c '%u:%g %a' "$root$data_dir")" != "$uid:$gid 750" ]; then
		chown "$uid:$gid" "$root$data_dir"
		chmod 750 "$root$data_dir"
	fi

	if live; then
		sysctl -q -p "$sysctl_path" >/dev/null 2>&1 || say "note: could not apply $sysctl_path now; it applies at boot"
	fi
	if systemd_up; then
		[ -z "$unit_changed" ] || systemctl daemon-reload
		if [ -n "$bin_changed$unit_changed" ] && systemctl -q is-active edgeplane; then
			systemctl restart edgeplane
			say "restarted edgeplane"
		fi
	fi
	[ -n "$changed" ] || say "edgeplane is already installed and up to date"

	cat <<EOF

Next steps:
  1. Set this node's seeds and name in ${root}$config_dir/edgeplane.yaml
     (retry_join, node_name, site), then check it:
       $bin_path validate -config-dir $config_dir
  2. Start the agent now and at every boot:
       systemctl enable --now edgeplane
  3. Watch it:
       systemctl status edgeplane; journalctl -u edgeplane -f; edgeplane info
EOF
}

uninstall_all() {
	if systemd_up; then
		systemctl disable --now edgeplane >/dev/null 2>&1 || true
	fi
	remove "$unit_path" "$bin_path" "$sysctl_path"
	if systemd_up; then
		systemctl daemon-reload
	fi
	if [ "$mode" = purge ]; then
		if [ -e "$root$config_dir" ] || [ -e "$root$data_dir" ]; then
			rm -rf "$root$config_dir" "$root$data_dir"
			say "removed $config_dir and $data_dir"
		fi
		delete_user
		remove "$sysusers_path"
	else
		say "kept $config_dir, $data_dir and user $user (remove them with --purge)"
	fi
}

case "$mode" in
install) install_all ;;
*) uninstall_all ;;
esac

#!/usr/bin/env bash
# Verifies an installed edgeplane unit with `systemd-analyze verify`, as
# systemd would load it on the device: ROOT is an install root (made by
# scripts/install.sh --root or dpkg --root) holding the unit and the binary
# at its ExecStart path. The check runs on a copy of ROOT to which the
# host's own systemd units (the targets the unit refers to) and /bin/sh
# (its ExecReload) are added, so ROOT itself is left as it was.
#
#   scripts/verify-unit.sh ROOT [UNIT]      (UNIT defaults to edgeplane.service)
#
# Fails on any message: systemd-analyze exits 0 on warnings such as an
# unknown setting, so its output must also be empty. Prints the unit's
# exposure score from `systemd-analyze security --offline`.
set -euo pipefail
root=$1
unit=${2:-edgeplane.service}
command -v systemd-analyze >/dev/null || { echo "verify-unit: systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; }

# The unit file systemd would load: the first in its search path.
path=
for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
	if [ -f "$root$d/$unit" ]; then
		path=$d/$unit
		break
	fi
done
[ -n "$path" ] || { echo "verify-unit: no $unit in $root" >&2; exit 1; }
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root$path")
[ -x "$root$exec_start" ] || { echo "verify-unit: $path runs $exec_start, which $root does not hold" >&2; exit 1; }

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -a "$root/." "$copy/"
mkdir -p "$copy/usr/lib/systemd/system" "$copy/bin"
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -d "$d" ] && cp -an "$d/." "$copy/usr/lib/systemd/system/"
done
[ -e "$copy/bin/sh" ] || cp /bin/sh "$copy/bin/sh"

if ! msgs=$(systemd-analyze verify --root="$copy" "$unit" 2>&1) || [ -n "$msgs" ]; then
	echo "verify-unit: systemd-analyze verify $unit (from $path in $root) failed:" >&2
	echo "$msgs" >&2
	exit 1
fi
score=$(systemd-analyze security --offline=true --root="$copy" "$unit" 2>/dev/null | grep 'Overall exposure' || true)
echo "verify-unit: $path in $root verifies (ExecStart $exec_start present); ${score#→ }"

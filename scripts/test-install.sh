#!/usr/bin/env bash
# Tests scripts/install.sh in a temporary root: install, verify the unit
# with systemd-analyze, install again (nothing may change), uninstall (data,
# configuration and user kept), install over the kept state (configuration
# not overwritten), purge (everything gone). Needs root (for chown) and
# systemd-analyze.
#
#   scripts/test-install.sh [BINARY]    (default dist/edgeplane-linux-amd64)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-dist/edgeplane-linux-amd64}
[ -f "$bin" ] || { echo "test-install: no $bin: run scripts/cross-build.sh amd64 first" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
step() { echo "-- test-install: $*"; }
fail() {
	echo "test-install: FAIL: $*" >&2
	exit 1
}
# state prints every path under the root with its type, mode, owner and
# content hash: two equal states mean nothing was touched.
state() {
	(cd "$root" && find . -printf '%p %y %m %U:%G\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2)
}
expect_file() { [ -f "$root$1" ] || fail "$1 missing"; }
expect_gone() { [ ! -e "$root$1" ] || fail "$1 still there"; }
user_exists() { grep -q '^edgeplane:' "$root/etc/passwd" 2>/dev/null; }

step "install into $root"
out=$(scripts/install.sh --root "$root" --binary "$bin")
echo "$out" | sed 's/^/   /'
for f in /usr/local/bin/edgeplane /etc/systemd/system/edgeplane.service /etc/edgeplane/edgeplane.yaml \
	/etc/sysctl.d/60-edgeplane.conf /etc/sysusers.d/edgeplane.conf; do
	expect_file "$f"
done
grep -q "Next steps" <<<"$out" || fail "no next steps printed"
user_exists || fail "user edgeplane not created"
uid=$(awk -F: '$1 == "edgeplane" { print $3 }' "$root/etc/passwd")
[ "$(stat -c '%u %a' "$root/var/lib/edgeplane")" = "$uid 750" ] || fail "data dir not owned by edgeplane with mode 750"
[ "$(stat -c '%u %a' "$root/etc/edgeplane/edgeplane.yaml")" = "0 640" ] || fail "config not root-owned with mode 640"
cmp -s "$bin" "$root/usr/local/bin/edgeplane" || fail "installed binary differs"
grep -qx 'ExecStart=/usr/local/bin/edgeplane agent -config-dir /etc/edgeplane' "$root/etc/systemd/system/edgeplane.service" ||
	fail "unit does not run the installed binary"
"$root/usr/local/bin/edgeplane" validate -config-dir "$root/etc/edgeplane" >/dev/null || fail "installed config does not validate"

step "systemd-analyze verify"
scripts/verify-unit.sh "$root"

step "install again: idempotent"
before=$(state)
out=$(scripts/install.sh --root "$root" --binary "$bin")
grep -q "already installed and up to date" <<<"$out" || fail "second install did something: $out"
[ "$(state)" = "$before" ] || fail "second install changed the root: $(diff <(echo "$before") <(state))"

step "uninstall keeps configuration, data and user"
echo "node_name: kept-node" >>"$root/etc/edgeplane/edgeplane.yaml"
echo data >"$root/var/lib/edgeplane/edgeplane.db"
scripts/install.sh --root "$root" --uninstall | sed 's/^/   /'
expect_gone /usr/local/bin/edgeplane
expect_gone /etc/systemd/system/edgeplane.service
expect_gone /etc/sysctl.d/60-edgeplane.conf
expect_file /var/lib/edgeplane/edgeplane.db
grep -q kept-node "$root/etc/edgeplane/edgeplane.yaml" || fail "uninstall lost the configuration"
user_exists || fail "uninstall deleted the user"
scripts/install.sh --root "$root" --uninstall >/dev/null || fail "a second uninstall failed"

step "install over kept state keeps the configuration"
scripts/install.sh --root "$root" --binary "$bin" >/dev/null
grep -q kept-node "$root/etc/edgeplane/edgeplane.yaml" || fail "reinstall overwrote the configuration"
expect_file /var/lib/edgeplane/edgeplane.db
expect_file /usr/local/bin/edgeplane

step "purge removes everything"
scripts/install.sh --root "$root" --purge | sed 's/^/   /'
for f in /usr/local/bin/edgeplane /etc/systemd/system/edgeplane.service /etc/sysctl.d/60-edgeplane.conf \
	/etc/sysusers.d/edgeplane.conf /etc/edgeplane /var/lib/edgeplane; do
	expect_gone "$f"
done
user_exists && fail "purge left the user"
grep -q '^edgeplane:' "$root/etc/group" && fail "purge left the group"
echo "test-install: PASS"

#!/usr/bin/env bash
# systemd lab: the Debian package under a real systemd as PID 1. A Debian
# root made by debootstrap (from the host's own Debian mirror) boots in a
# container with systemd-nspawn, sharing the host's network so that its
# agent and one outside it talk over 127.0.0.1 only.
#
#   1. boot the container; install the .deb with dpkg inside it (its
#      maintainer scripts run against the live systemd); configure the node
#      to join the outside agent; systemctl enable --now edgeplane: the unit
#      (Type=notify) becomes active only once the agent sent READY=1, and
#      the outside agent lists the node alive;
#   2. add a service in a new configuration file and systemctl reload:
#      the service is registered, with the same main PID;
#   3. hardening as the service sees it (in its mount namespace): the data
#      dir is writable by its user; /etc (/etc/edgeplane too) and /usr are
#      read-only, even for root;
#   4. SIGSTOP the agent: the watchdog (WatchdogSec=30s) kills it and
#      Restart=on-failure starts a new one, which reports READY again;
#   5. systemctl stop: the unit is inactive, not failed, and the outside
#      agent lists the node as left (a graceful leave), not failed;
#   then the container powers off.
#
#   scripts/lab/systemd.sh [--deb FILE] [--keep]
#
# --deb takes an amd64 package from scripts/package-deb.sh; without it the
# binary and package are built. The root, made once per Debian suite, is
# cached as a tarball in /var/cache/edgeplane-ci (EDGEPLANE_CI_CACHE), and
# unpacked beside it once; each run boots an overlay of it. The mirror is
# the host's (from /etc/apt), or EDGEPLANE_CI_MIRROR. Needs root,
# debootstrap and systemd-nspawn (Debian's systemd-container). Every wait is
# bounded; the container and the outside agent are stopped on exit. The
# work directory (root, logs) is kept when the lab fails or with --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

deb=
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--deb)
		deb=${2:?--deb needs a file}
		shift
		;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "systemd lab: unknown argument $1 (see --help)" >&2
		exit 1
		;;
	esac
	shift
done

. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for, free_ports

readonly CACHE=${EDGEPLANE_CI_CACHE:-/var/cache/edgeplane-ci}
# Packages of the root besides debootstrap's minbase; changing the list
# changes the cache key.
readonly ROOT_PACKAGES=systemd,systemd-sysv,dbus
readonly ROOT_VERSION=1

work=
failed=0
nspawn_pid=
leader=
outside_pid=

die() {
	failed=1
	echo "systemd lab: FAIL: $*" >&2
	exit 1
}

# in_ct CMD...: runs CMD in the container (all its namespaces), bounded.
in_ct() { timeout 60 nsenter -t "$leader" -a "$@"; }

cleanup() {
	local code=$? n
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	if [ "$failed" = 1 ] && [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null; then
		echo "--- the container's journal, last 40 lines" >&2
		in_ct journalctl --no-pager -n 40 >&2 2>&1 || true
	fi
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		local t0
		t0=$(now_us)
		[ -z "$leader" ] || in_ct systemctl poweroff >/dev/null 2>&1 || true
		for ((n = 0; n < 300; n++)); do # up to 30 s
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$nspawn_pid" 2>/dev/null || note "the container powered off in $(secs_since "$t0")s"
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			echo "systemd lab: the container did not power off within 30 s: killed" >&2
			# Killing the container's PID 1 ends its PID namespace.
			[ -z "$leader" ] || kill -KILL "$leader" 2>/dev/null || true
			kill -KILL "$nspawn_pid" 2>/dev/null || true
		fi
	fi
	if [ -n "$outside_pid" ]; then
		kill -TERM "$outside_pid" 2>/dev/null || true
		for ((n = 0; n < 100; n++)); do
			kill -0 "$outside_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$outside_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	if [ -n "$work" ]; then
		# nspawn unmounts what it mounted; never delete through a mount.
		local m
		for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
		if [ "$failed" = 1 ] || [ "$keep" = 1 ]; then
			echo "systemd lab: work directory kept: $work (root/, logs/)" >&2
		elif grep -q " $work/" /proc/self/mounts; then
			echo "systemd lab: $work still has mounts: kept" >&2
		else
			t0=$(now_us)
			rm -rf "$work"
			note "work directory removed in $(secs_since "$t0")s"
		fi
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root"
for tool in debootstrap systemd-nspawn nsenter dpkg-deb curl jq; do
	command -v "$tool" >/dev/null || die "needs $tool (apt-get install debootstrap systemd-container curl jq)"
done

work=$(mktemp -d /tmp/ep-systemd.XXXXXX)
mkdir -p "$work/logs"

if [ -z "$deb" ]; then
	step "build the amd64 binary and package"
	t0=$(now_us)
	scripts/cross-build.sh -o "$work/dist" amd64 >/dev/null
	scripts/package-deb.sh -o "$work/dist" amd64 >/dev/null
	deb=$(ls "$work/dist"/edgeplane_*_amd64.deb)
	note "built in $(secs_since "$t0")s"
fi
deb=$(realpath "$deb")
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || die "$deb is not an amd64 package"
note "package: $(basename "$deb")"

# --- the root ----------------------------------------------------------------

# The host's suite and Debian mirror: deb822 .sources files first, then
# one-line sources.list entries.
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
mirror=${EDGEPLANE_CI_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(awk -v s="$suite" '
		/^[[:space:]]*$/ { if (uri != "" && suites ~ "(^| )" s "( |$)" && !found) { print uri; found = 1 } uri = ""; suites = ""; next }
		tolower($1) == "uris:" { uri = $2 }
		tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ /, "", suites) }
		END { if (uri != "" && suites ~ "(^| )" s "( |$)" && !found) print uri }
	' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
fi
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == s) { print $i; exit } }')
fi
[ -n "$mirror" ] || die "no Debian mirror for $suite in /etc/apt (set EDGEPLANE_CI_MIRROR)"

tarball=$CACHE/nspawn-root-$suite-$(dpkg --print-architecture)-v$ROOT_VERSION.tar.gz
if [ -f "$tarball" ]; then
	step "root: cached $tarball"
else
	step "root: debootstrap $suite from $mirror (cached afterwards as $tarball)"
	t0=$(now_us)
	mkdir -p "$CACHE"
	timeout 900 debootstrap --variant=minbase --include="$ROOT_PACKAGES" "$suite" "$work/bootstrap" "$mirror" \
		>"$work/logs/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/logs/debootstrap.log" >&2
		die "debootstrap failed (log: $work/logs/debootstrap.log)"
	}
	rm -rf "$work/bootstrap/var/cache/apt/archives"/*.deb "$work/bootstrap/var/lib/apt/lists"/*_Packages
	tar -C "$work/bootstrap" -czf "$tarball.tmp.$$" .
	mv "$tarball.tmp.$$" "$tarball"
	rm -rf "$work/bootstrap"
	note "debootstrap and tarball: $(secs_since "$t0")s, $(du -h "$tarball" | cut -f1)"
fi
# The tarball is unpacked once beside it, and each run boots an overlay of
# that tree: the run's changes, and their removal, stay in the work
# directory. Without overlayfs the run unpacks the tarball itself.
t0=$(now_us)
lower=${tarball%.tar.gz}
if [ ! -d "$lower" ]; then
	rm -rf "$lower.tmp.$$"
	mkdir "$lower.tmp.$$"
	tar -C "$lower.tmp.$$" -xzf "$tarball"
	# A rename: $lower exists only complete. A concurrent run may win.
	mv -T "$lower.tmp.$$" "$lower" 2>/dev/null || rm -rf "$lower.tmp.$$"
	note "unpacked into $lower in $(secs_since "$t0")s"
fi
root=$work/root
mkdir "$root" "$work/upper" "$work/overlay-work"
if mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/overlay-work" "$root" 2>"$work/logs/mount.log"; then
	note "root: an overlay of $lower"
else
	note "no overlay ($(cat "$work/logs/mount.log")): unpacking the tarball"
	tar -C "$root" -xzf "$tarball"
	note "unpacked in $(secs_since "$t0")s"
fi
echo edgeplane-ct >"$root/etc/hostname"
cp "$deb" "$root/root/edgeplane.deb" # the container mounts a tmpfs on /tmp

# --- the outside agent and ports ----------------------------------------------

bin=$work/edgeplane
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/edgeplane >"$bin"
chmod 755 "$bin"
read -r o_http o_gossip o_rpc c_http c_gossip c_rpc <<<"$(free_ports 6)" || die "no free ports"
step "outside agent on 127.0.0.1 (http $o_http, gossip $o_gossip, rpc $o_rpc)"
"$bin" agent -node outside -bind 127.0.0.1 -advertise 127.0.0.1 -gossip-port "$o_gossip" -rpc-port "$o_rpc" \
	-http-addr "127.0.0.1:$o_http" -data-dir "$work/outside" -profile lan >"$work/logs/outside.log" 2>&1 &
outside_pid=$!
outside() { timeout 20 env EDGEPLANE_HTTP_ADDR="127.0.0.1:$o_http" "$bin" "$@"; }
outside_up() {
	kill -0 "$outside_pid" 2>/dev/null || die "the outside agent exited: $(tail -n 5 "$work/logs/outside.log")"
	outside info >/dev/null 2>&1
}
wait_for "the outside agent serves" 30 outside_up || die "the outside agent did not start"
# status_outside prints how the outside agent lists the container's node.
status_outside() { outside members 2>/dev/null | awk '$1 == "edgeplane-ct" { print $3 }'; }

# --- step 1 ------------------------------------------------------------------

step "1. boot the container (systemd-nspawn --boot), install the package, enable --now"
t_step=$(now_us)
# --register=no and --keep-unit: the host's PID 1 need not be systemd.
systemd-nspawn -D "$root" --boot --register=no --keep-unit --machine="ep-ct-$$" --console=pipe \
	>"$work/logs/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
found_leader() {
	kill -0 "$nspawn_pid" 2>/dev/null || die "systemd-nspawn exited: $(tail -n 20 "$work/logs/nspawn.log")"
	leader=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ')
	[ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ]
}
wait_for "systemd runs as the container's PID 1" 30 found_leader || die "the container did not start"
booted() {
	local state
	state=$(in_ct systemctl is-system-running 2>/dev/null) || true
	why="system state: ${state:-unknown}"
	[ "$state" = running ] || [ "$state" = degraded ]
}
wait_for "the container booted (systemctl is-system-running)" 90 booted || die "the container did not boot"
note "$(in_ct systemctl --version | head -n 1); PID 1 in the container: $(in_ct cat /proc/1/comm)"
failed_units=$(in_ct systemctl --failed --plain --no-legend | awk '{ print $1 }' | paste -sd ' ' -)
[ -z "$failed_units" ] || note "failed units in the container (not ours): $failed_units"

in_ct dpkg -i /root/edgeplane.deb >"$work/logs/dpkg.log" 2>&1 || die "dpkg -i failed: $(tail -n 20 "$work/logs/dpkg.log")"
note "dpkg -i: $(grep -m1 '^Setting up' "$work/logs/dpkg.log")"
# lab.yaml comes after edgeplane.yaml (lexical order): its settings win.
# Ports of their own: the container shares the host's network. The gossip
# and RPC ports stay on loopback, where no mesh key is needed.
cat >"$root/etc/edgeplane/lab.yaml" <<EOF
node_name: edgeplane-ct
bind_addr: 127.0.0.1
advertise_addr: 127.0.0.1
gossip_port: $c_gossip
rpc_port: $c_rpc
http_addr: 127.0.0.1:$c_http
profile: lan
retry_join: ["127.0.0.1:$o_gossip"]
retry_interval: 1s
EOF
in_ct chown root:edgeplane /etc/edgeplane/lab.yaml
in_ct chmod 0640 /etc/edgeplane/lab.yaml
in_ct edgeplane validate -config-dir /etc/edgeplane >/dev/null || die "the lab configuration does not validate"
t0=$(now_us)
in_ct systemctl enable --now edgeplane.service >"$work/logs/enable.log" 2>&1 ||
	die "systemctl enable --now failed: $(cat "$work/logs/enable.log")"
note "systemctl enable --now returned after $(secs_since "$t0")s"
show() { in_ct systemctl show edgeplane.service -p "$1" --value; }
unit_journal() { in_ct journalctl -u edgeplane.service --no-pager -o cat; }
state=$(show ActiveState)/$(show SubState)
# Type=notify: start returns once READY=1 came (or the start failed).
[ "$state" = active/running ] || die "after start the unit is $state"
ready=$(unit_journal | grep -c 'Started edgeplane.service' || true)
note "unit active/running (Type=notify: READY=1 received), MainPID $(show MainPID), status '$(show StatusText)'"
[ "$ready" -ge 1 ] || note "(the journal has no 'Started' line yet)"
alive_outside() {
	local st
	st=$(status_outside)
	why="outside lists edgeplane-ct as '${st:-nothing}'"
	[ "$st" = alive ]
}
wait_for "the outside agent lists edgeplane-ct alive" 60 alive_outside || die "step 1: the node did not join"
ct() { timeout 20 env EDGEPLANE_HTTP_ADDR="127.0.0.1:$c_http" "$bin" "$@"; }
ct kv put lab/systemd "written through the unit" >/dev/null || die "kv put on the container's agent failed"
d1=$(secs_since "$t_step")

# --- step 2 ------------------------------------------------------------------

step "2. systemctl reload applies a new service"
t_step=$(now_us)
pid_before=$(show MainPID)
cat >"$root/etc/edgeplane/lab-service.yaml" <<EOF
services:
  - name: lab-web
    port: 8080
    tags: [reloaded]
EOF
in_ct chown root:edgeplane /etc/edgeplane/lab-service.yaml
in_ct chmod 0640 /etc/edgeplane/lab-service.yaml
in_ct systemctl reload edgeplane.service || die "systemctl reload failed"
registered() {
	curl -sf --max-time 5 "http://127.0.0.1:$c_http/v1/agent/services" | jq -e 'has("lab-web")' >/dev/null || {
		why="the agent lists no lab-web"
		return 1
	}
}
wait_for "lab-web registered after the reload" 30 registered || die "step 2: the reload did not apply"
in_catalog() {
	curl -sf --max-time 5 "http://127.0.0.1:$o_http/v1/catalog/service/lab-web" | jq -e 'length == 1' >/dev/null || {
		why="the outside agent's catalog has no lab-web"
		return 1
	}
}
wait_for "the outside agent's catalog lists lab-web" 30 in_catalog || die "step 2: the service did not spread"
[ "$(show MainPID)" = "$pid_before" ] || die "step 2: the reload restarted the agent"
[ "$(show ActiveState)" = active ] || die "step 2: after the reload the unit is $(show ActiveState)"
unit_journal | grep -iE 'reload(ed|ing) (edgeplane|configuration)|configuration reloaded' | sed 's/^/   journal> /' || true
d2=$(secs_since "$t_step")

# --- step 3 ------------------------------------------------------------------

step "3. hardening, in the service's mount namespace"
t_step=$(now_us)
mainpid=$(show MainPID)
# in_unit CMD...: CMD in the agent's mount namespace, as root: file
# permissions do not stop root, so what fails is the mount's doing.
in_unit() { in_ct nsenter -t "$mainpid" -m "$@"; }
# as_service CMD...: the same, as the service's user.
as_service() { in_unit setpriv --reuid=edgeplane --regid=edgeplane --init-groups "$@"; }
as_service sh -c 'echo probe >/var/lib/edgeplane/.lab-probe && rm /var/lib/edgeplane/.lab-probe' ||
	die "step 3: the data dir is not writable for the service"
note "/var/lib/edgeplane: writable by the service's user"
for path in /etc/.lab-probe /etc/edgeplane/.lab-probe /etc/default/.lab-probe /usr/.lab-probe /usr/bin/.lab-probe; do
	if out=$(in_unit touch "$path" 2>&1); then
		in_unit rm -f "$path"
		die "step 3: root in the service's namespace could write $path"
	fi
	[[ $out == *"Read-only file system"* ]] || die "step 3: writing $path failed, but not for a read-only mount: $out"
	note "$path: $out"
done
# The same paths outside the service's namespace are writable by root: the
# read-only view is the unit's doing.
in_ct sh -c 'touch /etc/edgeplane/.lab-probe && rm /etc/edgeplane/.lab-probe' || die "step 3: /etc/edgeplane read-only in the container itself"
note "/etc/edgeplane: writable outside the unit's namespace"
d3=$(secs_since "$t_step")

# --- step 4 ------------------------------------------------------------------

step "4. SIGSTOP: the watchdog ($(show WatchdogUSec)) kills the hung agent and it restarts"
t_step=$(now_us)
restarts_before=$(show NRestarts)
in_ct sh -c "kill -STOP $mainpid" # procps (/bin/kill) is not installed
note "agent (PID $mainpid in the container) stopped"
restarted() {
	local pid st
	pid=$(show MainPID)
	st=$(show ActiveState)/$(show SubState)
	why="unit $st, MainPID $pid, NRestarts $(show NRestarts)"
	[ "$pid" != 0 ] && [ "$pid" != "$mainpid" ] && [ "$st" = active/running ]
}
wait_for "a new agent runs and reported READY" 150 restarted || die "step 4: the watchdog did not restart the agent"
[ "$(show NRestarts)" -gt "$restarts_before" ] || die "step 4: NRestarts did not grow"
unit_journal >"$work/logs/unit.log"
grep -i 'watchdog timeout' "$work/logs/unit.log" | sed 's/^/   journal> /'
grep -qi 'watchdog timeout' "$work/logs/unit.log" || die "step 4: the journal does not say the watchdog fired"
grep -m1 "Failed with result 'watchdog'" "$work/logs/unit.log" | sed 's/^/   journal> /'
note "MainPID $(show MainPID), NRestarts $(show NRestarts)"
wait_for "the outside agent lists edgeplane-ct alive again" 60 alive_outside || die "step 4: the node did not come back"
[ "$(ct kv get lab/systemd 2>/dev/null)" = "written through the unit" ] || die "step 4: the key written before is gone"
d4=$(secs_since "$t_step")

# --- step 5 ------------------------------------------------------------------

step "5. systemctl stop: the node leaves the mesh gracefully"
t_step=$(now_us)
t0=$(now_us)
in_ct systemctl stop edgeplane.service || die "systemctl stop failed"
note "systemctl stop returned after $(secs_since "$t0")s"
st=$(show ActiveState)/$(show Result)
[ "$st" = inactive/success ] || die "step 5: after stop the unit is $st"
note "unit inactive, result success"
left_outside() {
	local st
	st=$(status_outside)
	why="outside lists edgeplane-ct as '${st:-nothing}'"
	[ "$st" = left ]
}
wait_for "the outside agent lists edgeplane-ct as left" 30 left_outside || die "step 5: the node did not leave gracefully"
outside members | sed 's/^/   outside> /'
d5=$(secs_since "$t_step")

step "summary"
note "1. booted, installed, READY, joined: ${d1}s"
note "2. reload applied:                   ${d2}s"
note "3. hardening checked:                ${d3}s"
note "4. watchdog kill and restart:        ${d4}s"
note "5. stop, left the mesh:              ${d5}s"
note "total:                               $(secs_since "$lab_start")s"
echo "systemd lab passed"

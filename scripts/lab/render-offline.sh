#!/usr/bin/env bash
# Render lab: a node renders files from its own store when it restarts
# cut off from the mesh, and a node restarted with its links renders the
# remote instances from its very first render. Three real agents, each in
# its own network namespace on one bridge (in a namespace of its own, so
# the host's network is never touched; 10.78.0.0/24). node1 has two render
# blocks: `app` (a key) and `upstream` (the `web` instances of node2 and
# node3).
#
#   1. start three agents; node2 and node3 register `web`; app/mode is
#      written on node2; wait until node1 renders both files;
#   2. stop node1, take its link down, remove its files, start it again:
#      with no network it renders `app` from its store;
#   3. stop node1, bring its link up, remove its files, start it again:
#      the first `upstream` it writes already lists node2's and node3's
#      instances (its render waits for membership to settle), checked
#      against the block's write count.
#
#   scripts/lab/render-offline.sh [--binary PATH] [--keep]
#
# Needs root, iproute2 and curl. Every wait is bounded; namespaces and
# processes are removed on exit, and leftovers of an interrupted run are
# removed before starting. The work directory is kept on failure or with
# --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly LAB="render lab"
. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for, leftovers, parse_args, stop_pid, drop_work
binary=
keep=0
parse_args "binary" "keep" "$@"

readonly PFX=ep-rlab
readonly BRNS=$PFX-br
readonly SUBNET=10.78.0
readonly NODES=(1 2 3)
ns_of() { echo "$PFX-n$1"; }
ip_of() { echo "$SUBNET.1$1"; }

work=
failed=0
declare -A pid_of=()

die() {
	failed=1
	echo "render lab: FAIL: $*" >&2
	exit 1
}


cleanup() {
	local code=$?
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	for n in "${!pid_of[@]}"; do
		stop "$n"
	done
	leftovers
	drop_work
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root to create network namespaces"
command -v ip >/dev/null || die "needs ip (iproute2)"
command -v curl >/dev/null || die "needs curl"
leftovers

work=$(mktemp -d /tmp/ep-rlab.XXXXXX)
mkdir -p "$work/logs" "$work/out"
if [ -n "$binary" ]; then
	bin=$(realpath "$binary")
else
	step "build"
	CGO_ENABLED=0 go build -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
fi
"$bin" keygen >"$work/gossip.key"
chmod 600 "$work/gossip.key"
cat >"$work/node1.yaml" <<EOF
render:
  - name: app
    destination: $work/out/app.conf
    template: 'mode={{ key "app/mode" }}'
    wait: {min: 100ms, max: 1s}
  - name: upstream
    destination: $work/out/upstream.conf
    template: |
      {{- range service "web" }}{{ .Node }} {{ .Address }}:{{ .Port }}
      {{ end -}}
    wait: {min: 100ms, max: 1s}
EOF

on() {
	local n=$1
	shift
	timeout 20 ip netns exec "$(ns_of "$n")" "$bin" "$@"
}

# start N: starts node N, joining the two others (retried until they answer).
start() {
	local n=$1 extra=() m
	[ "$n" = 1 ] && extra+=(-config-file "$work/node1.yaml")
	for m in "${NODES[@]}"; do
		[ "$m" != "$n" ] && extra+=(-join "$(ip_of "$m")")
	done
	ip netns exec "$(ns_of "$n")" "$bin" agent -node "node$n" -bind "$(ip_of "$n")" \
		-data-dir "$work/node$n" -http-addr 127.0.0.1:8500 -encrypt-file "$work/gossip.key" \
		-profile lan -retry-interval 500ms "${extra[@]}" \
		>>"$work/logs/node$n.log" 2>&1 &
	pid_of[$n]=$!
}

stop() { stop_pid "${pid_of[$1]}"; }

serves() {
	on "$1" info >/dev/null 2>&1 || {
		why="node$1 does not answer: $(tail -n 3 "$work/logs/node$1.log")"
		return 1
	}
}

all_alive() {
	local c
	c=$(on 1 members -status alive 2>/dev/null | tail -n +2 | wc -l)
	[ "$c" = 3 ] || {
		why="node1 lists $c alive"
		return 1
	}
}

# file_is PATH WANT: the file exists and holds WANT.
file_is() {
	[ -f "$1" ] && [ "$(cat "$1")" = "$2" ] || {
		why="$1: $(cat "$1" 2>&1 || true) (want $2)"
		return 1
	}
}

# lists_both: upstream.conf names node2's and node3's instances.
lists_both() {
	grep -q "^node2 $(ip_of 2):8080$" "$work/out/upstream.conf" 2>/dev/null &&
		grep -q "^node3 $(ip_of 3):8080$" "$work/out/upstream.conf" 2>/dev/null || {
		why="upstream.conf: $(cat "$work/out/upstream.conf" 2>&1 || true)"
		return 1
	}
}

exists() { [ -f "$1" ] || { why="no $1 yet" && return 1; }; }

# writes NAME: how many times node1's block NAME wrote its file.
writes() {
	on 1 render status -format=json | jq -r --arg n "$1" '.[] | select(.Name == $n) | .Writes'
}

step "network: namespace $BRNS with a bridge; $(ns_of 1) .. $(ns_of 3)"
ip netns add "$BRNS"
ip -n "$BRNS" link add lab0 type bridge
ip -n "$BRNS" link set lab0 up
for n in "${NODES[@]}"; do
	ip netns add "$(ns_of "$n")"
	ip -n "$(ns_of "$n")" link set lo up
	ip -n "$BRNS" link add "v$n" type veth peer name eth0 netns "$(ns_of "$n")"
	ip -n "$BRNS" link set "v$n" master lab0 up
	ip -n "$(ns_of "$n")" addr add "$(ip_of "$n")/24" dev eth0
	ip -n "$(ns_of "$n")" link set eth0 up
done

step "1. three agents; web on node2 and node3; app/mode on node2"
for n in "${NODES[@]}"; do
	mkdir -p "$work/node$n"
	start "$n"
done
for n in "${NODES[@]}"; do
	wait_for "node$n serves its API" 30 serves "$n" || die "step 1: node$n did not start"
done
wait_for "node1 lists three alive" 60 all_alive || die "step 1: the mesh did not form"
for n in 2 3; do
	ip netns exec "$(ns_of "$n")" curl -sf -X PUT --data "{\"ID\":\"web$n\",\"Name\":\"web\",\"Address\":\"$(ip_of "$n")\",\"Port\":8080}" \
		http://127.0.0.1:8500/v1/agent/service/register >/dev/null || die "step 1: registering web on node$n"
done
on 2 kv put app/mode blue >/dev/null || die "step 1: kv put on node2"
wait_for "node1 renders app.conf from node2's write" 30 file_is "$work/out/app.conf" "mode=blue" || die "step 1: app.conf"
wait_for "node1 renders both web instances" 30 lists_both || die "step 1: upstream.conf"

step "2. node1 restarted with no link: it renders from its store"
stop 1
ip -n "$(ns_of 1)" link set eth0 down
rm -f "$work/out/app.conf" "$work/out/upstream.conf"
start 1
wait_for "node1 serves its API" 30 serves 1 || die "step 2: node1 did not start"
wait_for "node1, offline, renders app.conf from its store" 30 file_is "$work/out/app.conf" "mode=blue" ||
	die "step 2: app.conf not rendered offline"
note "node1's app block: $(on 1 render status -format=json | jq -c '.[] | select(.Name == "app") | {Health, Writes, WaitingFor}')"

step "3. node1 restarted with its link: its first upstream.conf lists the remote instances"
stop 1
ip -n "$(ns_of 1)" link set eth0 up
rm -f "$work/out/app.conf" "$work/out/upstream.conf"
start 1
wait_for "node1 serves its API" 30 serves 1 || die "step 3: node1 did not start"
wait_for "node1 writes upstream.conf" 40 exists "$work/out/upstream.conf" || die "step 3: upstream.conf not rendered"
first=$(cat "$work/out/upstream.conf")
w=$(writes upstream)
[ "$w" = 1 ] || die "step 3: upstream.conf was written $w times by the time it was read: the first render did not hold what the mesh holds (now: $(tr '\n' ';' <<<"$first"))"
lists_both || die "step 3: the first upstream.conf lacks a remote instance: $first"
note "first upstream.conf (write 1): $(tr '\n' ';' <<<"$first")"

step "summary"
note "total: $(secs_since "$lab_start")s"
echo "render lab: passed"

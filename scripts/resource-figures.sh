#!/usr/bin/env bash
# Resource figures of one agent: resident memory, CPU per second while
# idle, and bytes written to disk per idle hour (write_bytes of
# /proc/PID/io, extrapolated from the window), measured on one agent of a
# mesh of -nodes agents on 127.0.0.1 (distinct ports, gossip key, timing
# profile -profile) that holds -keys keys; then again once -services
# services with 10 s HTTP checks are registered on it. The README's
# resource figures come from this script; CI does not run it.
#
#   scripts/resource-figures.sh [-window 10m] [-nodes 25] [-keys 10000]
#                               [-services 100] [-settle 3m] [-profile lan]
#                               [-base-port 27000] [-binary PATH] [-keep]
#
# Durations take s, m or h. The settling time lets the writes that
# follow the key import and the registrations end (with 60 s, the idle
# window still saw about 17 MB/h of them). Agent i listens on -base-port + 3i (gossip),
# +1 (RPC) and +2 (HTTP). Goals: under 40 MB resident, under 1 % of a core
# idle, under 10 MB written per idle hour, under 20 MB per hour with the
# checks. The agents' logs go through a pipe, as to journald, so they are
# not counted as the agent's writes. Every wait is bounded; the agents are
# stopped and the work directory removed on exit (kept with -keep, or when
# a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab/lib.sh

window=10m nodes=25 keys=10000 services=100 settle=3m profile=lan base=27000 binary= keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	-window) window=${2:?-window needs a duration} && shift ;;
	-nodes) nodes=${2:?-nodes needs a number} && shift ;;
	-keys) keys=${2:?-keys needs a number} && shift ;;
	-services) services=${2:?-services needs a number} && shift ;;
	-settle) settle=${2:?-settle needs a duration} && shift ;;
	-profile) profile=${2:?-profile needs lan, wan or edge} && shift ;;
	-base-port) base=${2:?-base-port needs a port} && shift ;;
	-binary) binary=${2:?-binary needs a path} && shift ;;
	-keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*) echo "resource-figures: unknown argument $1 (see --help)" >&2 && exit 1 ;;
	esac
	shift
done

# seconds DURATION: 90s, 10m, 1h (or plain seconds) as seconds.
seconds() {
	case "$1" in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
for v in nodes keys services base; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "resource-figures: -${v/base/base-port} must be a number" >&2 && exit 1; }
done
window_s=$(seconds "$window") settle_s=$(seconds "$settle")
[[ $window_s =~ ^[0-9]+$ && $window_s -gt 0 && $settle_s =~ ^[0-9]+$ ]] ||
	{ echo "resource-figures: -window and -settle take durations such as 90s, 10m, 1h" >&2 && exit 1; }
[ "$nodes" -ge 1 ] || { echo "resource-figures: -nodes must be at least 1" >&2 && exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeplane-resources.XXXXXX")
pids=()
ok=0
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$keep" = 1 ] || [ "$ok" = 0 ]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

if [ -z "$binary" ]; then
	binary=$work/edgeplane
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$binary" ./agent/cmd/edgeplane
fi
gport() { echo $((base + 3 * $1)); }
hport() { echo $((base + 3 * $1 + 2)); }
cli() { # cli NODE ARGS...: runs a client command against agent NODE
	local n=$1
	shift
	EDGEPLANE_HTTP_ADDR=127.0.0.1:$(hport "$n") "$binary" "$@"
}

echo "# $(go version | cut -d' ' -f3-), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "# $nodes agents on 127.0.0.1, profile $profile; measured: agent 0 holding $keys keys; window ${window_s}s after ${settle_s}s settling"

step "starting $nodes agents"
key=$("$binary" keygen)
for ((i = 0; i < nodes; i++)); do
	mkdir -p "$work/n$i"
	"$binary" agent -node "rf-$i" -data-dir "$work/n$i" -bind 127.0.0.1 \
		-gossip-port "$(gport "$i")" -rpc-port $(($(gport "$i") + 1)) -http-addr "127.0.0.1:$(hport "$i")" \
		-join "127.0.0.1:$(gport 0)" -encrypt "$key" -profile "$profile" -log-level warn \
		>/dev/null 2> >(cat >"$work/n$i.log") &
	pids+=($!)
done
measured=${pids[0]}

all_alive() {
	local n
	for i in 0 $((nodes - 1)); do
		n=$(cli "$i" members -status alive 2>/dev/null | grep -c 'rf-' || true)
		[ "$n" -eq "$nodes" ] || { why="agent $i lists $n of $nodes alive" && return 1; }
	done
}
wait_for "every agent alive" 180 all_alive

step "writing $keys keys on agent 0 (8 writers)"
value=$(head -c 96 /dev/urandom | base64 -w0)
awk -v n="$keys" -v v="$value" -v dir="$work" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = dir "/keys." (i % 8) ".json"
		printf "%s{\"key\":\"config/app-%d/setting-%d\",\"flags\":0,\"value\":\"%s\"}", (i < 8 ? "[" : ","), i % 100, i, v >f
	}
	for (j = 0; j < 8 && j < n; j++) print "]" >(dir "/keys." j ".json")
}'
writers=()
for f in "$work"/keys.*.json; do
	cli 0 kv import "@$f" >/dev/null &
	writers+=($!)
done
for w in "${writers[@]}"; do wait "$w"; done
last_holds_keys() {
	local n
	n=$(cli $((nodes - 1)) kv list config/ 2>/dev/null | grep -c . || true)
	[ "$n" -ge "$keys" ] || { why="agent $((nodes - 1)) holds $n of $keys keys" && return 1; }
}
wait_for "agent $((nodes - 1)) holds the keys" 300 last_holds_keys

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$measured/stat"; }
written() { awk '/^write_bytes/ { print $2 }' "/proc/$measured/io"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$measured/status"; }

# measure LABEL: settles, then samples the measured agent for the window
# and prints one row.
printf -v header '%-26s %8s %11s %10s %15s' phase rss-MB rss-max-MB cpu-%core written-MB/h
rows=()
measure() {
	local label=$1 t0 c0 w0 rss max=0 end
	step "$label: settling ${settle_s}s, then measuring ${window_s}s"
	sleep "$settle_s"
	t0=$(now_us) c0=$(cpu_ticks) w0=$(written)
	end=$((t0 + window_s * 1000000))
	while [ "$(now_us)" -lt "$end" ]; do
		kill -0 "$measured" 2>/dev/null || { echo "the measured agent exited" >&2 && return 1; }
		rss=$(rss_kb)
		[ "$rss" -gt "$max" ] && max=$rss
		sleep 5
	done
	local secs c1 w1
	secs=$(secs_since "$t0" 3) c1=$(cpu_ticks) w1=$(written) rss=$(rss_kb)
	[ "$rss" -gt "$max" ] && max=$rss
	local row
	row=$(awk -v l="$label" -v r="$rss" -v m="$max" -v c=$((c1 - c0)) -v k="$clk" -v s="$secs" -v w=$((w1 - w0)) \
		'BEGIN { printf "%-26s %8.1f %11.1f %10.2f %15.2f", l, r / 1024, m / 1024, 100 * c / k / s, w * 3600 / s / 1e6 }')
	note "$row"
	rows+=("$row")
}

measure "idle, $keys keys"

step "registering $services services with 10 s HTTP checks on agent 0"
target="http://127.0.0.1:$(hport $((nodes > 1 ? 1 : 0)))/v1/status/leader"
for ((s = 0; s < services; s++)); do
	curl -fsS -X PUT "http://127.0.0.1:$(hport 0)/v1/agent/service/register" \
		-d "{\"Name\":\"svc-$s\",\"Port\":$((10000 + s)),\"Check\":{\"HTTP\":\"$target\",\"Interval\":\"10s\"}}" >/dev/null
done
checks_passing() {
	local n
	n=$(curl -fsS "http://127.0.0.1:$(hport 0)/v1/agent/checks" | grep -o '"Status":"passing"' | grep -c . || true)
	[ "$n" -ge "$services" ] || { why="$n of $services checks passing" && return 1; }
}
wait_for "every check passing" 120 checks_passing

measure "$services HTTP checks every 10s"

echo
echo "$header"
printf '%s\n' "${rows[@]}"
echo "goals: rss < 40 MB; cpu < 1 % of a core idle; written < 10 MB/h idle, < 20 MB/h with the checks"
ok=1

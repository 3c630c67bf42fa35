#!/usr/bin/env bash
# Mixed-architecture lab: one mesh of three real agents of three
# architectures on one host, the two ARM ones under qemu user-mode
# emulation (Debian's qemu-user-static): amd64 natively, arm64 under
# qemu-aarch64-static, armv7 (32-bit) under qemu-arm-static. Each binds
# and advertises 127.0.0.1 explicitly (-bind, -advertise) on ports of its
# own, shares a gossip key and uses the wan timing profile, whose probe
# timeouts leave room for emulation.
#
#   1. start the armv7 agent alone; write BULK keys of 3 KB and one key on
#      it; then start arm64, which joins armv7 alone and copies its store
#      (the bootstrap stream: QUIC batches sent by the emulated agent),
#      and amd64; wait until each of the three lists all three alive;
#   2. arm64 and amd64 read the key written on armv7, and all three export
#      identical BULK keys; a second key written on armv7 while the mesh
#      stands is read on arm64 and amd64;
#   3. an RPC ping (QUIC, mutual TLS) from each agent to each other one;
#   4. GET /metrics from the armv7 agent: promtool check metrics passes, the
#      counters (64-bit, on a 32-bit CPU) are well-formed numbers, and it
#      has the same metric names as the amd64 agent;
#   5. SIGTERM to armv7, then arm64, then amd64: each exits 0 within 60 s,
#      and amd64 lists the first two as left (a graceful leave), not failed.
#
# Client commands run with the binary of the agent they talk to, emulated
# too. qemu runs with QEMU_LOG=unimp, which reports what it passes to the
# kernel untranslated; the lab prints those counts (see below).
#
#   scripts/lab/mixed-arch.sh [--dist DIR] [--keep]
#
# --dist DIR takes DIR/edgeplane-linux-{amd64,arm64,armv7} from
# scripts/cross-build.sh; without it the three are built. Needs
# qemu-user-static, promtool (Debian's prometheus), curl and jq. Every wait is
# bounded; the agents are stopped on exit. The work directory (data dirs,
# logs) is kept when the lab fails or with --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

dist=
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--dist)
		dist=${2:?--dist needs a directory}
		shift
		;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "mixed-arch lab: unknown argument $1 (see --help)" >&2
		exit 1
		;;
	esac
	shift
done

. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for, free_ports

readonly ARCHS=(amd64 arm64 armv7)
declare -A QEMU=([amd64]="" [arm64]=qemu-aarch64-static [armv7]=qemu-arm-static)

# Emulation needs no QUIC setting: qemu-user copies the control messages
# quic-go sends and receives (UDP_SEGMENT for GSO, IP_TOS for ECN,
# IP_PKTINFO) without translating them, logging each as "Unsupported
# ancillary data" under QEMU_LOG=unimp, and their layout is the same on ARM
# Linux as on amd64. Step 1's bootstrap stream is the proof: the armv7
# agent sends it in GSO batches, and step 2 compares what arrived. Were
# that ever to break, QUIC_GO_DISABLE_GSO=true and QUIC_GO_DISABLE_ECN=true
# in the emulated agents' environment turn both off.
readonly BULK=200

work=
failed=0
declare -A pid=() http=() gossip=() rpc=()

die() {
	failed=1
	echo "mixed-arch lab: FAIL: $*" >&2
	exit 1
}

cleanup() {
	local code=$? a n
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	for a in "${!pid[@]}"; do
		kill -TERM "${pid[$a]}" 2>/dev/null || true
	done
	for ((n = 0; n < 100; n++)); do
		local alive=0
		for a in "${!pid[@]}"; do
			kill -0 "${pid[$a]}" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for a in "${!pid[@]}"; do
		kill -KILL "${pid[$a]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ -n "$work" ]; then
		if [ "$failed" = 1 ] || [ "$keep" = 1 ]; then
			echo "mixed-arch lab: work directory kept: $work (logs/)" >&2
			for a in "${ARCHS[@]}"; do
				[ -f "$work/logs/$a.log" ] || continue
				echo "--- $a: last lines of its log" >&2
				grep -v '^Unsupported' "$work/logs/$a.log" | tail -n 15 >&2
			done
		else
			rm -rf "$work"
		fi
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in qemu-aarch64-static qemu-arm-static promtool curl jq; do
	command -v "$tool" >/dev/null || die "needs $tool (apt-get install qemu-user-static prometheus curl jq)"
done

work=$(mktemp -d /tmp/ep-mixed.XXXXXX)
mkdir -p "$work/logs"
declare -A bin=()
if [ -z "$dist" ]; then
	step "build amd64, arm64, armv7"
	t0=$(now_us)
	scripts/cross-build.sh -o "$work/dist" "${ARCHS[@]}" >/dev/null
	dist=$work/dist
	note "built in $(secs_since "$t0")s"
fi
for a in "${ARCHS[@]}"; do
	bin[$a]=$(realpath "$dist/edgeplane-linux-$a")
	[ -x "${bin[$a]}" ] || die "no ${bin[$a]}"
done

# cmd_of ARCH: sets cmd to the command running the ARCH binary, under its
# qemu when emulated.
cmd_of() {
	local a=$1
	cmd=("${bin[$a]}")
	[ -z "${QEMU[$a]}" ] || cmd=(env QEMU_LOG=unimp "${QEMU[$a]}" "${bin[$a]}")
}
# on ARCH CMD...: a client command against ARCH's agent, with ARCH's own
# binary, bounded.
on() {
	local a=$1
	shift
	timeout 60 env EDGEPLANE_HTTP_ADDR="127.0.0.1:${http[$a]}" ${QEMU[$a]:+"${QEMU[$a]}"} "${bin[$a]}" "$@"
}

for a in "${ARCHS[@]}"; do
	note "$a: $(timeout 60 env ${QEMU[$a]:+"${QEMU[$a]}"} "${bin[$a]}" version)${QEMU[$a]:+ (under ${QEMU[$a]})}"
done
"${bin[amd64]}" keygen >"$work/gossip.key"
chmod 600 "$work/gossip.key"

# --- step 1 -----------------------------------------------------------------

step "1. armv7 under qemu-arm-static alone, $BULK keys written on it; then arm64 under qemu-aarch64-static and amd64 natively join it"
t_step=$(now_us)
read -r -a ports <<<"$(free_ports 9)" || die "no free ports"
i=0
for a in "${ARCHS[@]}"; do
	http[$a]=${ports[i]} gossip[$a]=${ports[i + 1]} rpc[$a]=${ports[i + 2]}
	i=$((i + 3))
done
start() {
	local a=$1 b joins=()
	shift
	for b in "$@"; do
		joins+=(-join "127.0.0.1:${gossip[$b]}")
	done
	mkdir -p "$work/$a"
	cmd_of "$a"
	"${cmd[@]}" agent -node "$a" -site lab -tag "arch=$a" -bind 127.0.0.1 -advertise 127.0.0.1 \
		-gossip-port "${gossip[$a]}" -rpc-port "${rpc[$a]}" -http-addr "127.0.0.1:${http[$a]}" \
		-data-dir "$work/$a" -encrypt-file "$work/gossip.key" -profile wan \
		-retry-interval 1s -reconnect-interval 5s "${joins[@]}" >"$work/logs/$a.log" 2>&1 &
	pid[$a]=$!
	note "$a: pid ${pid[$a]}, http 127.0.0.1:${http[$a]}, gossip udp ${gossip[$a]}, rpc udp ${rpc[$a]}"
}
served() {
	local a
	for a in "$@"; do
		kill -0 "${pid[$a]}" 2>/dev/null || die "the $a agent exited"
		curl -sf --max-time 5 "http://127.0.0.1:${http[$a]}/v1/agent/self" >/dev/null || {
			why="$a does not answer yet"
			return 1
		}
	done
}

start armv7 arm64 amd64
wait_for "armv7 serves its HTTP API" 90 served armv7 || die "step 1: the armv7 agent did not start"
value="written on armv7 at $(date -u +%H:%M:%S) ($$)"
out=$(on armv7 kv put lab/mixed "$value" 2>&1) || die "kv put on armv7: $out"
head -c 2304 /dev/urandom | base64 -w0 >"$work/bulk.value" # 3 KB
t0=$(now_us)
for ((i = 0; i < BULK; i++)); do
	curl -sf --max-time 20 -X PUT --data-binary @"$work/bulk.value" "http://127.0.0.1:${http[armv7]}/v1/kv/lab/bulk/$i" >/dev/null ||
		die "PUT lab/bulk/$i on armv7 failed"
done
note "armv7: $BULK keys of 3 KB written in $(secs_since "$t0")s"
# arm64 joins armv7 alone, so that it copies armv7's store.
start arm64 armv7
wait_for "arm64 serves its HTTP API" 90 served arm64 || die "step 1: the arm64 agent did not start"
start amd64 armv7 arm64
wait_for "amd64 serves its HTTP API" 90 served amd64 || die "step 1: the amd64 agent did not start"

all_alive() {
	local a out ok=0
	for a in "${ARCHS[@]}"; do
		out=$(on "$a" members -status alive 2>&1) || out=
		if [ "$(printf '%s\n' "$out" | grep -cE '^(amd64|arm64|armv7) ')" != 3 ]; then
			why+="$a lists:"$'\n'"$(on "$a" members 2>&1 || true)"$'\n'
			ok=1
		fi
	done
	return $ok
}
wait_for "each agent lists all three alive" 120 all_alive || die "step 1: the mesh did not form"
on armv7 members | sed 's/^/   armv7> /'
for a in arm64 amd64; do
	note "$a: $(grep -o 'msg="bootstrap complete".*' "$work/logs/$a.log" | head -n 1)"
done
d1=$(secs_since "$t_step")

# --- step 2 -----------------------------------------------------------------

step "2. the armv7 writes read on arm64 and amd64"
t_step=$(now_us)
# reads KEY VALUE: arm64 and amd64 both read VALUE at KEY.
reads() {
	local a got
	for a in arm64 amd64; do
		got=$(on "$a" kv get "$1" 2>/dev/null) || got=
		if [ "$got" != "$2" ]; then
			why="$a reads '${got:-nothing}' at $1"
			return 1
		fi
	done
}
wait_for "arm64 and amd64 read lab/mixed, written on armv7 before they joined" 60 reads lab/mixed "$value" ||
	die "step 2: the write did not replicate"
bulk_same() {
	local a sum
	for a in "${ARCHS[@]}"; do
		curl -sf --max-time 20 "http://127.0.0.1:${http[$a]}/v1/kv/lab/bulk/?recurse=true" |
			jq -r '.[] | .Key + " " + .Value' | LC_ALL=C sort >"$work/$a.bulk" || true
	done
	for a in arm64 amd64; do
		if ! cmp -s "$work/armv7.bulk" "$work/$a.bulk"; then
			why="$a has $(wc -l <"$work/$a.bulk") of armv7's $(wc -l <"$work/armv7.bulk") bulk keys, or different values"
			return 1
		fi
	done
	[ "$(wc -l <"$work/armv7.bulk")" = "$BULK" ] || {
		why="armv7 lists $(wc -l <"$work/armv7.bulk") bulk keys"
		return 1
	}
}
wait_for "the $BULK keys of 3 KB identical on all three" 60 bulk_same || die "step 2: the bulk keys differ"
live="written on armv7 in the mesh ($$)"
out=$(on armv7 kv put lab/mixed-live "$live" 2>&1) || die "kv put on armv7: $out"
wait_for "arm64 and amd64 read lab/mixed-live, written on armv7 since" 60 reads lab/mixed-live "$live" ||
	die "step 2: the write did not replicate"
d2=$(secs_since "$t_step")

# --- step 3 -----------------------------------------------------------------

step "3. RPC ping (QUIC, mutual TLS) between each pair, both ways"
t_step=$(now_us)
for a in "${ARCHS[@]}"; do
	for b in "${ARCHS[@]}"; do
		[ "$a" != "$b" ] || continue
		# The first call of a pair opens its QUIC connection; up to three
		# tries, as the mesh may still be exchanging certificates.
		ok=0
		for try in 1 2 3; do
			if out=$(on "$a" rpc ping -count 3 "$b" 2>&1); then
				ok=1
				break
			fi
			note "$a -> $b: try $try: $out"
		done
		[ "$ok" = 1 ] || die "rpc ping $a -> $b: $out"
		note "$a -> $b: $(printf '%s\n' "$out" | grep -o 'rtt=[^ ]*' | tr '\n' ' ')"
	done
done
d3=$(secs_since "$t_step")

# --- step 4 -----------------------------------------------------------------

step "4. /metrics of the armv7 agent: promtool check metrics"
t_step=$(now_us)
for a in armv7 amd64; do
	curl -sf --max-time 20 -D "$work/$a.headers" -o "$work/$a.metrics" "http://127.0.0.1:${http[$a]}/metrics" ||
		die "GET /metrics from $a failed"
done
type=$(awk 'tolower($1) == "content-type:" { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print }' "$work/armv7.headers")
[ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || die "armv7 /metrics: Content-Type '$type'"
promtool check metrics <"$work/armv7.metrics" || die "promtool check metrics refused the armv7 agent's /metrics"
# Counters are 64-bit words; a torn or misaligned one on 32-bit ARM shows
# as a fault (the agent dies) or as a garbage value.
bad=$(awk '
	$1 == "#" && $2 == "TYPE" && $4 == "counter" { counter[$3] = 1; next }
	/^#/ { next }
	{ name = $1; sub(/\{.*/, "", name) }
	name in counter && ($NF !~ /^[0-9]+(\.[0-9]+)?(e\+?[0-9]+)?$/) { print }
' "$work/armv7.metrics")
[ -z "$bad" ] || die "armv7 counters that are not non-negative numbers:"$'\n'"$bad"
names() { awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$1" | LC_ALL=C sort; }
missing=$(LC_ALL=C comm -23 <(names "$work/amd64.metrics") <(names "$work/armv7.metrics"))
[ -z "$missing" ] || die "metrics of the amd64 agent missing on armv7:"$'\n'"$missing"
counters=$(grep -c '^# TYPE .* counter$' "$work/armv7.metrics")
note "armv7: $(grep -vc '^#' "$work/armv7.metrics") series, $counters counters, the same $(names "$work/armv7.metrics" | wc -l) metric names as amd64; promtool passes"
grep -E '^edgeplane_(replication_deltas_total|rpc_requests_total|gossip_members)' "$work/armv7.metrics" | head -n 6 | sed 's/^/   armv7> /'
d4=$(secs_since "$t_step")

# --- step 5 -----------------------------------------------------------------

step "5. SIGTERM: each agent leaves the mesh and exits 0; the last one sees the others as left"
t_step=$(now_us)
exited() { ! kill -0 "${pid[$1]}" 2>/dev/null; }
left() {
	local st
	st=$(on amd64 members 2>/dev/null | awk -v n="$1" '$1 == n { print $3 }')
	[ "$st" = left ] || {
		why="amd64 lists $1 as '${st:-nothing}'"
		return 1
	}
}
for a in armv7 arm64 amd64; do
	kill -TERM "${pid[$a]}"
	wait_for "$a exited" 60 exited "$a" || die "step 5: $a did not exit within 60 s of SIGTERM"
	code=0
	wait "${pid[$a]}" || code=$?
	unset "pid[$a]"
	[ "$code" = 0 ] || die "step 5: $a exited with $code"
	[ "$a" = amd64 ] || wait_for "amd64 lists $a as left" 30 left "$a" || die "step 5: $a did not leave gracefully"
done
d5=$(secs_since "$t_step")

for a in arm64 armv7; do
	unimp=$(grep '^Unsupported' "$work/logs/$a.log" | sort | uniq -c | awk '{ n = $1; $1 = ""; printf "%s%d x%s", (NR > 1 ? "; " : ""), n, $0 }')
	note "$a: qemu (QEMU_LOG=unimp): ${unimp:-nothing reported}"
done

step "summary"
note "1. mesh of three formed:           ${d1}s"
note "2. armv7 writes read on the others: ${d2}s"
note "3. six RPC pings:                  ${d3}s"
note "4. armv7 /metrics checked:         ${d4}s"
note "5. three clean exits:              ${d5}s"
note "total:                             $(secs_since "$lab_start")s"
echo "mixed-arch lab passed"

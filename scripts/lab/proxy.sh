#!/usr/bin/env bash
# Service proxy lab: calls between two sites of two nodes each, through
# the upstream listener of a caller, over a WAN link that adds a delay.
# Four real agents, each in its own network namespace; sites A (a1, a2)
# and B (b1, b2) on two bridges (in a namespace of their own, so the
# host's network is never touched; 10.79.0.0/24) joined by the WAN link:
# two TAP devices forwarded by scripts/lab/wanlink with DELAY each way
# (this machine's kernel has no netem; wanlink delays every frame as
# `tc qdisc add ... netem delay DELAY` would, and a device set down cuts
# the link). a1 runs the caller, `checkout`, whose upstream `billing`
# listens on 127.0.0.1:9191; a2, b1 and b2 each run an instance of
# billing (Debian's nginx answering with its node's name) with an HTTP
# check every second.
#
#   1. start four agents and three billing instances;
#   2. calls from a1 land on a2, its own site, and add little to a direct
#      call; a direct call to site B pays the WAN's round trip;
#   3. a2's instance is killed: calls fail over to site B and pay the
#      round trip;
#   4. a2's instance comes back: calls return to it;
#   5. the WAN link is cut: calls within site A keep working, before and
#      after a1 sees site B's nodes failed.
#
#   scripts/lab/proxy.sh [--binary PATH] [--delay 15ms] [--calls 50] [--keep]
#
# Needs root, iproute2, curl, jq, nginx and Go (to build wanlink, and the
# agent unless --binary is given). Every wait is bounded; namespaces and
# processes are removed on exit, and leftovers of an interrupted run are
# removed before starting. The work directory is kept on failure or with
# --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly LAB="proxy lab"
. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for, leftovers, parse_args, stop_pid, drop_work
binary=
delay=15ms
calls=50
keep=0
parse_args "binary delay calls" "keep" "$@"

readonly PFX=ep-plab
readonly BRNS=$PFX-br
readonly NODES=(a1 a2 b1 b2)
readonly INSTANCES=(a2 b1 b2)
ns_of() { echo "$PFX-$1"; }
ip_of() {
	case $1 in
	a1) echo 10.79.0.11 ;; a2) echo 10.79.0.12 ;; b1) echo 10.79.0.21 ;; b2) echo 10.79.0.22 ;;
	esac
}
site_of() { [ "${1:0:1}" = a ] && echo siteA || echo siteB; }

PATH="$PATH:/usr/sbin"
work=
failed=0
declare -A pid_of=()
wanlink_pid=

die() {
	failed=1
	echo "proxy lab: FAIL: $*" >&2
	exit 1
}


cleanup() {
	local code=$?
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	for pid in "${pid_of[@]}"; do
		stop_pid "$pid"
	done
	if [ -n "$wanlink_pid" ]; then
		stop_pid "$wanlink_pid"
		note "$(cat "$work/logs/wanlink.log")"
	fi
	leftovers # the nginx processes too: they run in the nodes' namespaces
	drop_work
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root to create network namespaces"
for tool in ip curl jq nginx go; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
leftovers

work=$(mktemp -d /tmp/ep-plab.XXXXXX)
mkdir -p "$work/logs"
step "build"
go build -o "$work/wanlink" ./scripts/lab/wanlink
if [ -n "$binary" ]; then
	bin=$(realpath "$binary")
else
	CGO_ENABLED=0 go build -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
fi
"$bin" keygen >"$work/gossip.key"
chmod 600 "$work/gossip.key"

cat >"$work/a1.yaml" <<EOF
services:
  - name: checkout
    port: 8080
    upstreams:
      - {service: billing, local_bind: "127.0.0.1:9191", protocol: http}
communication:
  - {from: checkout, to: billing, timeout: 3s, retry: {attempts: 2, per_try_timeout: 1s},
     circuit_breaker: {consecutive_failures: 3, open_for: 5s}, locality: site_first}
EOF
for n in "${INSTANCES[@]}"; do
	mkdir -p "$work/$n/nginx"
	cat >"$work/$n.yaml" <<EOF
services:
  - name: billing
    address: $(ip_of "$n")
    port: 8081
    checks:
      - {http: "http://$(ip_of "$n"):8081/", interval: 1s, timeout: 1s}
EOF
	cat >"$work/$n/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/$n/nginx/nginx.pid;
error_log $work/$n/nginx/error.log;
events {}
http {
	access_log off;
	client_body_temp_path $work/$n/nginx/body;
	proxy_temp_path $work/$n/nginx/proxy;
	server {
		listen $(ip_of "$n"):8081;
		location / { return 200 "$n"; }
	}
}
EOF
done

# on NODE CMD...: runs CMD in NODE's namespace, bounded.
on() {
	local n=$1
	shift
	timeout 20 ip netns exec "$(ns_of "$n")" "$@"
}

start() {
	local n=$1 extra=() m
	[ -f "$work/$n.yaml" ] && extra+=(-config-file "$work/$n.yaml")
	for m in "${NODES[@]}"; do
		[ "$m" != "$n" ] && extra+=(-join "$(ip_of "$m")")
	done
	ip netns exec "$(ns_of "$n")" "$bin" agent -node "$n" -site "$(site_of "$n")" -bind "$(ip_of "$n")" \
		-data-dir "$work/$n/data" -http-addr 127.0.0.1:8500 -encrypt-file "$work/gossip.key" \
		-profile lan -retry-interval 500ms "${extra[@]}" \
		>>"$work/logs/$n.log" 2>&1 &
	pid_of[$n]=$!
}

nginx_start() { on "$1" nginx -c "$work/$1/nginx/nginx.conf" -p "$work/$1/nginx/"; }
nginx_stop() { on "$1" nginx -c "$work/$1/nginx/nginx.conf" -p "$work/$1/nginx/" -s stop 2>/dev/null; }

serves() {
	on "$1" "$bin" info >/dev/null 2>&1 || {
		why="$1 does not answer: $(tail -n 3 "$work/logs/$1.log")"
		return 1
	}
}

# alive N: a1 lists N members alive.
alive() {
	local c
	c=$(on a1 "$bin" members -status alive 2>/dev/null | tail -n +2 | wc -l)
	[ "$c" = "$1" ] || {
		why="a1 lists $c alive"
		return 1
	}
}

# passing N: a1 sees N instances of billing passing.
passing() {
	local c
	c=$(on a1 curl -sf --max-time 5 'http://127.0.0.1:8500/v1/health/service/billing?passing' | jq length)
	[ "$c" = "$1" ] || {
		why="a1 sees $c billing instances passing"
		return 1
	}
}

# call URL: one call from a1; prints "ANSWER CODE SECONDS", ANSWER being
# the instance's node or "-" when the answer is not an instance's.
call() {
	local body=$work/body code t
	read -r code t < <(on a1 curl -s --max-time 5 -o "$body" -w '%{http_code} %{time_total}\n' "$1" || echo "000 0")
	if [ "$code" = 200 ]; then
		echo "$(cat "$body") $code $t"
	else
		echo "- $code $t"
	fi
}

# run_calls NAME URL: $calls calls in a row into $work/NAME.calls; prints a
# summary: answers by node, failures, p50 and p90 in ms.
run_calls() {
	local out=$work/$1.calls i
	: >"$out"
	for ((i = 0; i < calls; i++)); do
		call "$2" >>"$out"
	done
	summary "$out"
}

summary() {
	local answers pct
	answers=$(cut -d' ' -f1,2 "$1" | sort | uniq -c | awk '{ printf "%s%s %s ×%d", (NR > 1 ? ", " : ""), $2, $3, $1 }')
	pct=$(cut -d' ' -f3 "$1" | sort -g | awk '{ t[NR] = $1 * 1000 }
		END { printf "p50 %.1f ms, p90 %.1f ms", t[int((NR + 1) / 2)], t[int(NR * 0.9 + 0.5)] }')
	echo "$(wc -l <"$1") calls: $answers; $pct"
}

# only FILE NODES: every call in FILE was answered 200 by one of NODES.
only() {
	local file=$1 pattern
	shift
	pattern="^($(
		IFS='|'
		echo "$*"
	)) 200 "
	[ "$(grep -cvE "$pattern" "$work/$file.calls")" = 0 ] ||
		die "$file: calls not answered by $*: $(grep -vE "$pattern" "$work/$file.calls" | sort | uniq -c | head -n 5 | tr '\n' ';')"
}

p50_ms() { summary "$work/$1.calls" | sed -E 's/.*p50 ([0-9.]+) ms.*/\1/'; }

# answered_by NODES...: the next call is answered by one of NODES.
answered_by() {
	local r
	r=$(call http://127.0.0.1:9191/)
	[[ " $* " == *" ${r%% *} "* ]] && [ "$(cut -d' ' -f2 <<<"$r")" = 200 ] || {
		why="last call: $r"
		return 1
	}
}

step "network: namespace $BRNS with bridges brA and brB joined by wanlink ($delay each way); $(ns_of a1) .. $(ns_of b2)"
ip netns add "$BRNS"
for br in brA brB; do
	ip -n "$BRNS" link add "$br" type bridge
	ip -n "$BRNS" link set "$br" up
done
ip -n "$BRNS" tuntap add mode tap name wanA
ip -n "$BRNS" tuntap add mode tap name wanB
ip -n "$BRNS" link set wanA master brA up
ip -n "$BRNS" link set wanB master brB up
ip netns exec "$BRNS" "$work/wanlink" -a wanA -b wanB -delay "$delay" >"$work/logs/wanlink.log" 2>&1 &
wanlink_pid=$!
for n in "${NODES[@]}"; do
	ns=$(ns_of "$n")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$BRNS" link add "v$n" type veth peer name eth0 netns "$ns"
	if [ "$(site_of "$n")" = siteA ]; then br=brA; else br=brB; fi
	ip -n "$BRNS" link set "v$n" master "$br" up
	ip -n "$ns" addr add "$(ip_of "$n")/24" dev eth0
	ip -n "$ns" link set eth0 up
	note "$n: $ns $(ip_of "$n") $(site_of "$n")"
done

step "1. four agents; billing on a2 (siteA), b1 and b2 (siteB)"
for n in "${INSTANCES[@]}"; do
	nginx_start "$n" || die "step 1: nginx on $n did not start"
done
for n in "${NODES[@]}"; do
	mkdir -p "$work/$n/data"
	start "$n"
done
for n in "${NODES[@]}"; do
	wait_for "$n serves its API" 30 serves "$n" || die "step 1: $n did not start"
done
wait_for "a1 lists four alive" 60 alive 4 || die "step 1: the mesh did not form"
wait_for "a1 sees three billing instances passing" 60 passing 3 || die "step 1: billing is not passing everywhere"
wait_for "a1's upstream answers" 30 answered_by a2 b1 b2 || die "step 1: the upstream does not answer"

step "2. calls from a1 stay in siteA"
note "direct to a2 (siteA):   $(run_calls direct-a2 "http://$(ip_of a2):8081/")"
note "direct to b1 (siteB):   $(run_calls direct-b1 "http://$(ip_of b1):8081/")"
note "through the upstream:   $(run_calls local http://127.0.0.1:9191/)"
only direct-a2 a2
only direct-b1 b1
only local a2

step "3. a2's instance killed: calls fail over to siteB"
t0=$(now_us)
nginx_stop a2 || die "step 3: nginx on a2 did not stop"
wait_for "a call is answered by siteB" 30 answered_by b1 b2 || die "step 3: no failover"
wait_for "a1 sees a2's billing critical" 30 passing 2 || die "step 3: a2's instance is not critical"
note "a2's instance critical and calls on siteB $(secs_since "$t0")s after the kill"
note "through the upstream:   $(run_calls failover http://127.0.0.1:9191/)"
only failover b1 b2

step "4. a2's instance back: calls return to siteA"
t0=$(now_us)
nginx_start a2 || die "step 4: nginx on a2 did not start"
wait_for "a1 sees three billing instances passing" 60 passing 3 || die "step 4: a2's instance is not passing again"
wait_for "a call is answered by a2" 60 answered_by a2 || die "step 4: calls did not return to a2"
note "back on a2 $(secs_since "$t0")s after its instance started"
note "through the upstream:   $(run_calls back http://127.0.0.1:9191/)"
only back a2

step "5. the WAN link cut: calls within siteA keep working"
ip -n "$BRNS" link set wanA down
note "at once:                $(run_calls cut http://127.0.0.1:9191/)"
only cut a2
wait_for "a1 lists two alive (siteB failed)" 60 alive 2 || die "step 5: a1 still sees siteB"
note "siteB seen failed:      $(run_calls cut-failed http://127.0.0.1:9191/)"
only cut-failed a2
ip -n "$BRNS" link set wanA up

step "summary"
note "direct to a2 p50 $(p50_ms direct-a2) ms, through the upstream to a2 $(p50_ms local) ms (cut: $(p50_ms cut-failed) ms)"
note "direct to b1 p50 $(p50_ms direct-b1) ms, through the upstream to siteB after failover $(p50_ms failover) ms"
note "total: $(secs_since "$lab_start")s"
echo "proxy lab: passed"

#!/usr/bin/env bash
# Partition lab: six real `edgeplane agent` processes, two sites of three,
# each node in its own network namespace. Each site's nodes hang off one
# bridge; the two site bridges are joined by one veth pair, the WAN link.
# The bridges live in a namespace of their own, so the host's network is
# never touched. Each agent serves its HTTP API on 127.0.0.1:8500 inside
# its namespace and is reached with `ip netns exec NS edgeplane ...`.
#
#   1. start the six agents; wait until every node lists six alive;
#   2. cut the WAN link; wait until each side sees the other side's three
#      as failed; keep the cut 35 s longer (memberlist forgets dead nodes
#      after 30 s with the lan profile);
#   3. during the cut, write shared keys on both sides (one side later),
#      distinct keys, and deletes; every write and read must succeed
#      locally; every acknowledged write is recorded in order;
#   4. heal the link; wait until every node lists six alive;
#   5. wait until `edgeplane kv export` is byte-identical on all six nodes,
#      then check that every acknowledged write is there unless a later
#      write or delete of its key superseded it, and deleted keys are gone.
#
#   scripts/lab/partition.sh [--membership-only] [--converge-timeout SECONDS]
#                            [--hold SECONDS] [--binary PATH] [--keep]
#
# --membership-only skips step 5. --hold keeps the cut that long after
# the failure is seen (default 35, at least 35): `--hold 600` measures the
# heal after a ten-minute cut. The agents run with the default
# reconnect_interval. Needs root and iproute2. Every wait is
# bounded; namespaces and processes are removed on exit, and leftovers of
# an interrupted run are removed before starting. The work directory (data
# dirs, logs, exports) is kept when the lab fails or with --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

membership_only=0
converge_timeout=120
hold=35 # seconds the cut is kept after the failure is seen
binary=
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--membership-only) membership_only=1 ;;
	--converge-timeout)
		converge_timeout=${2:?--converge-timeout needs a number of seconds}
		shift
		;;
	--hold)
		hold=${2:?--hold needs a number of seconds}
		shift
		;;
	--binary)
		binary=${2:?--binary needs a path}
		shift
		;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "partition lab: unknown argument $1 (see --help)" >&2
		exit 1
		;;
	esac
	shift
done
[[ $converge_timeout =~ ^[0-9]+$ ]] || { echo "partition lab: --converge-timeout must be a number of seconds" >&2 && exit 1; }
[[ $hold =~ ^[0-9]+$ ]] && [ "$hold" -ge 35 ] || { echo "partition lab: --hold must be a number of seconds, at least 35" >&2 && exit 1; }
readonly HOLD=$hold

readonly PFX=ep-lab
readonly BRNS=$PFX-br  # holds the two site bridges and the WAN link
readonly SUBNET=10.77.0 # /24, used only inside the lab's namespaces
readonly NODES=(1 2 3 4 5 6)

site_of() { if [ "$1" -le 3 ]; then echo siteA; else echo siteB; fi; }
other_site() { if [ "$1" = siteA ]; then echo siteB; else echo siteA; fi; }
ns_of() { echo "$PFX-n$1"; }
ip_of() { if [ "$1" -le 3 ]; then echo "$SUBNET.1$1"; else echo "$SUBNET.2$(($1 - 3))"; fi; }
where() { echo "$(site_of "$1") node$1"; }

. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for, leftovers

work=
failed=0
pids=()

die() {
	failed=1
	echo "partition lab: FAIL: $*" >&2
	exit 1
}


cleanup() {
	local code=$? pid n
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((n = 0; n < 50; n++)); do
		local alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	leftovers
	if [ -n "$work" ]; then
		if [ "$failed" = 1 ] || [ "$keep" = 1 ]; then
			echo "partition lab: work directory kept: $work (logs/, exports/, ops.log)" >&2
		else
			rm -rf "$work"
		fi
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root to create network namespaces"
command -v ip >/dev/null || die "needs ip (iproute2)"
leftovers

work=$(mktemp -d /tmp/ep-lab.XXXXXX)
mkdir -p "$work/logs" "$work/exports" "$work/state"
if [ -n "$binary" ]; then
	bin=$(realpath "$binary")
else
	step "build"
	t0=$(now_us)
	CGO_ENABLED=0 go build -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
	note "built in $(secs_since "$t0")s"
fi
"$bin" version | sed 's/^/   /'
# The agents bind addresses off loopback, where an agent refuses to run an
# unauthenticated mesh: they share a gossip key, kept in a file (mode 0600).
"$bin" keygen >"$work/gossip.key"
chmod 600 "$work/gossip.key"

# on N CMD... runs an edgeplane client command on node N, bounded.
on() {
	local n=$1
	shift
	timeout 20 ip netns exec "$(ns_of "$n")" "$bin" "$@"
}


# count N ARGS...: the number of members node N lists with `members ARGS`.
count() {
	local out
	out=$(on "$1" members "${@:2}" 2>&1) || {
		echo "members failed on node$1: $out"
		return 0
	}
	echo $(($(printf '%s\n' "$out" | wc -l) - 1))
}

all_alive() {
	local n c ok=0
	for n in "${NODES[@]}"; do
		c=$(count "$n" -status alive)
		if [ "$c" != 6 ]; then
			why+="$(where "$n") lists $c alive:"$'\n'"$(on "$n" members 2>&1 || true)"$'\n'
			ok=1
		fi
	done
	return $ok
}

sides_failed() {
	local n c own ok=0 site
	for n in "${NODES[@]}"; do
		site=$(site_of "$n")
		c=$(count "$n" -status failed -site "$(other_site "$site")")
		own=$(count "$n" -status alive -site "$site")
		if [ "$c" != 3 ] || [ "$own" != 3 ]; then
			why+="$(where "$n") lists $c of the other site failed and $own of its own alive:"$'\n'"$(on "$n" members 2>&1 || true)"$'\n'
			ok=1
		fi
	done
	return $ok
}

# --- the lab network -------------------------------------------------------

step "network: namespace $BRNS with bridges brA, brB and the WAN link; $(ns_of 1) .. $(ns_of 6)"
ip netns add "$BRNS"
ip -n "$BRNS" link set lo up
for br in brA brB; do
	ip -n "$BRNS" link add "$br" type bridge
	ip -n "$BRNS" link set "$br" up
done
ip -n "$BRNS" link add wanA type veth peer name wanB
ip -n "$BRNS" link set wanA master brA up
ip -n "$BRNS" link set wanB master brB up
for n in "${NODES[@]}"; do
	ns=$(ns_of "$n")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$BRNS" link add "v$n" type veth peer name eth0 netns "$ns"
	if [ "$(site_of "$n")" = siteA ]; then br=brA; else br=brB; fi
	ip -n "$BRNS" link set "v$n" master "$br" up
	ip -n "$ns" addr add "$(ip_of "$n")/24" dev eth0
	ip -n "$ns" link set eth0 up
	note "node$n: $ns $(ip_of "$n") $(site_of "$n") (bridge $br)"
done

# --- step 1: six agents ----------------------------------------------------

step "1. start six agents"
t_step=$(now_us)
for n in "${NODES[@]}"; do
	site=$(site_of "$n")
	# Each joins the first node of its site and one node of the other.
	if [ "$site" = siteA ]; then first=1 peer=$((n + 3)); else first=4 peer=$((n - 3)); fi
	joins=()
	[ "$n" != "$first" ] && joins+=(-join "$(ip_of "$first")")
	joins+=(-join "$(ip_of "$peer")")
	mkdir -p "$work/node$n"
	ip netns exec "$(ns_of "$n")" "$bin" agent -node "node$n" -site "$site" \
		-bind "$(ip_of "$n")" -data-dir "$work/node$n" -http-addr 127.0.0.1:8500 -encrypt-file "$work/gossip.key" \
		-profile lan -retry-interval 500ms "${joins[@]}" \
		>"$work/logs/node$n.log" 2>&1 &
	pids+=($!)
done
served() {
	local n
	for n in "${NODES[@]}"; do
		on "$n" info >/dev/null 2>&1 || {
			why="node$n does not answer: $(tail -n 5 "$work/logs/node$n.log")"
			return 1
		}
	done
}
wait_for "every agent serves its API" 30 served || die "step 1: an agent did not start"
wait_for "every node lists six alive" 60 all_alive || die "step 1: the mesh did not form"
d1=$(secs_since "$t_step")

# Keys written while the mesh is whole; a delete and a write during the cut
# make two of them interesting.
declare -a op_kind op_val op_node op_time
declare -A last_op # key -> index of the last acknowledged write or delete
ops=0
record() { # KIND NODE KEY VALUE
	op_kind[ops]=$1 op_node[ops]=$2 op_val[ops]=$4 op_time[ops]=$(secs_since "$lab_start" 3)
	last_op[$3]=$ops
	printf '#%d t=%ss %s %s %s %s\n' "$ops" "${op_time[ops]}" "$(where "$2")" "$1" "$3" "$4" >>"$work/ops.log"
	ops=$((ops + 1))
}
put() { # NODE KEY VALUE: write, then read it back on the same node
	local out
	out=$(on "$1" kv put "$2" "$3" 2>&1) || die "$(where "$1"): kv put $2 failed: $out"
	record put "$1" "$2" "$3"
	out=$(on "$1" kv get "$2" 2>&1) || die "$(where "$1"): kv get $2 after writing it failed: $out"
	[ "$out" = "$3" ] || die "$(where "$1"): kv get $2 = '$out' right after writing '$3'"
}
# del NODE KEY: delete, then read the key back on the same node. The read
# must answer; a value seen again right after the delete (a write of the
# key replicated from another node just then) is noted, and step 5 judges
# the outcome.
notes=0
del() {
	local out
	out=$(on "$1" kv delete "$2" 2>&1) || die "$(where "$1"): kv delete $2 failed: $out"
	record delete "$1" "$2" ""
	if out=$(on "$1" kv get "$2" 2>&1); then
		note "note: $(where "$1"): kv get $2 = '$out' right after its delete was acknowledged"
		notes=$((notes + 1))
	elif [[ $out != *"No key exists"* ]]; then
		die "$(where "$1"): kv get $2 after deleting it: $out"
	fi
}
reads_everywhere() {
	local n out
	for n in "${NODES[@]}"; do
		out=$(on "$n" kv get -recurse lab/ 2>&1) || die "$(where "$n"): kv get -recurse lab/ failed: $out"
	done
}

put 1 lab/pre/keep pre-keep
put 4 lab/pre/gone pre-gone
put 2 lab/pre/revived pre-revived
put 5 lab/shared/k4 pre-k4
if [ "$membership_only" = 0 ]; then
	pre_replicated() {
		local n k
		for n in "${NODES[@]}"; do
			for k in lab/pre/keep lab/pre/gone lab/pre/revived lab/shared/k4; do
				on "$n" kv get "$k" >/dev/null 2>&1 || {
					why="$(where "$n") does not have $k"
					return 1
				}
			done
		done
	}
	# Not fatal here: step 5 judges replication.
	wait_for "keys written before the cut visible on all six" 15 pre_replicated ||
		note "(continuing: step 5 checks the outcome)"
fi

# --- step 2: cut -----------------------------------------------------------

step "2. cut the WAN link"
t_step=$(now_us)
t_cut=$t_step
ip -n "$BRNS" link set wanA down
wait_for "each side sees the other's three failed, its own three alive" 60 sides_failed ||
	die "step 2: the sides did not see each other failed"
t_failed=$(now_us)
d2=$(secs_since "$t_step")

# --- step 3: writes during the cut -----------------------------------------

step "3. writes and reads on both sides during the cut"
t_step=$(now_us)
# Shared keys: both sides write; the later write (in this order) wins.
put 1 lab/shared/k1 a1-cut
put 4 lab/shared/k1 b1-cut-later
put 5 lab/shared/k2 b2-cut
put 2 lab/shared/k2 a2-cut-later
put 3 lab/shared/k3 a3-first
put 6 lab/shared/k3 b3-mid
# Distinct keys, one per node.
for n in "${NODES[@]}"; do
	put "$n" "lab/$(site_of "$n")/node$n" "v$n-cut"
done
# Deletes: one of a key written before the cut, on the other side from its
# writer; a write then a later delete across sides; a delete then a later
# write across sides; a write and delete on one side.
del 5 lab/pre/gone
put 2 lab/shared/k5 a5
del 4 lab/shared/k5
del 1 lab/pre/revived
put 6 lab/pre/revived b-revived
del 3 lab/shared/k4
put 2 lab/siteA/tmp tmp
del 3 lab/siteA/tmp
reads_everywhere
note "batch 1: $ops acknowledged writes and deletes so far; reads answer on all six"

# Keep the cut past memberlist's dead-node memory.
hold_until=$((t_failed + HOLD * 1000000))
note "holding the cut until ${HOLD}s after the failure was seen"
for ((i = 0; i < HOLD * 2 + 10; i++)); do
	[ "$(now_us)" -ge "$hold_until" ] && break
	sleep 0.5
done
sides_failed || {
	echo "$why" >&2
	die "step 3: after ${HOLD}s of cut the sides no longer list each other as failed"
}
note "after ${HOLD}s each side still lists the other's three as failed"

put 1 lab/shared/k3 a3-last
put 6 lab/shared/late b-late
put 3 lab/shared/late a-late-wins
for n in "${NODES[@]}"; do
	put "$n" "lab/$(site_of "$n")/node$n/late" "v$n-late"
done
reads_everywhere
d3=$(secs_since "$t_step")
note "batch 2 done: $ops acknowledged writes and deletes in all (ops.log)"

# --- step 4: heal ----------------------------------------------------------

step "4. heal the WAN link"
t_step=$(now_us)
cut_secs=$(secs_since "$t_cut")
held_secs=$(secs_since "$t_failed")
ip -n "$BRNS" link set wanA up
wait_for "every node lists six alive" 90 all_alive || die "step 4: the mesh did not heal"
d4=$(secs_since "$t_step")

# --- step 5: convergence ---------------------------------------------------

# expected prints the final state the recorded operations imply, as
# `kv get -recurse` prints it (key:value, sorted).
expected() {
	local k i
	for k in "${!last_op[@]}"; do
		i=${last_op[$k]}
		[ "${op_kind[i]}" = put ] && printf '%s:%s\n' "$k" "${op_val[i]}"
	done | LC_ALL=C sort
}

# describe I: one recorded operation, for messages.
describe() { echo "#$1 ${op_kind[$1]} on $(where "${op_node[$1]}") at ${op_time[$1]}s"; }

# verify N: node N's state against the expected one. Prints one line per
# difference; fails when there is one.
verify() {
	local state=$work/state/node$1 line k i bad=0
	declare -A have=()
	while IFS= read -r line; do
		have[${line%%:*}]=${line#*:}
	done <"$state"
	for k in "${!last_op[@]}"; do
		i=${last_op[$k]}
		if [ "${op_kind[i]}" = put ]; then
			if [ -z "${have[$k]+x}" ]; then
				echo "lost: $k='${op_val[i]}' ($(describe "$i")) is missing"
				bad=1
			elif [ "${have[$k]}" != "${op_val[i]}" ]; then
				echo "wrong: $k='${have[$k]}', want '${op_val[i]}' ($(describe "$i"), the last write)"
				bad=1
			fi
		elif [ -n "${have[$k]+x}" ]; then
			echo "resurrected: $k='${have[$k]}' is present, deleted by $(describe "$i")"
			bad=1
		fi
	done
	for k in "${!have[@]}"; do
		if [ -z "${last_op[$k]+x}" ]; then
			echo "unexpected: $k='${have[$k]}' was never written"
			bad=1
		fi
	done
	return $bad
}

snapshot() { # exports and decoded states of every node
	local n
	for n in "${NODES[@]}"; do
		on "$n" kv export >"$work/exports/node$n.json" 2>&1 || true
		on "$n" kv get -recurse >"$work/state/node$n" 2>&1 || true
	done
}

converged() {
	local n
	snapshot
	for n in "${NODES[@]}"; do
		if ! cmp -s "$work/exports/node1.json" "$work/exports/node$n.json"; then
			why="the export of node$n differs from node1's"
			return 1
		fi
	done
}

# report prints, for every key on which a node differs from the expected
# final state or from another node, the expected value and each node's ('-':
# absent); then each node's count of lost, wrong, resurrected and unexpected
# keys (details in the work directory); then the start of the export diff
# between one node of each site.
report() {
	local n
	echo "   keys where the nodes disagree or differ from the expected state (- = absent):"
	awk '
		function v(k, f) { return ((k, f) in val) ? val[k, f] : "-" }
		FNR == 1 { f++ }
		{ k = $0; sub(/:.*/, "", k); val[k, f] = substr($0, length(k) + 2); keys[k] = 1 }
		END {
			for (k in keys) {
				same = 1
				for (f = 2; f <= 7; f++) if (v(k, f) != v(k, 1)) same = 0
				if (same) continue
				printf "   %-22s", k
				for (f = 1; f <= 7; f++) printf " %-13s", v(k, f)
				printf "\n"
			}
		}' "$work/expected" "$work"/state/node{1..6} |
		{
			printf '   %-22s %-13s' key expected
			printf ' %-13s' node{1..6}
			printf '\n'
			LC_ALL=C sort
		}
	for n in "${NODES[@]}"; do
		verify "$n" >"$work/state/node$n.verify" || true
		echo "   $(where "$n"): $(awk '{ c[$1]++ } END { printf "%d lost, %d wrong, %d resurrected, %d unexpected", c["lost:"], c["wrong:"], c["resurrected:"], c["unexpected:"] }' "$work/state/node$n.verify")"
	done
	echo "   (each difference explained in $work/state/nodeN.verify)"
	echo "   diff of the exports, node1 (siteA) vs node4 (siteB), first 40 lines:"
	diff -u --label node1.json --label node4.json "$work/exports/node1.json" "$work/exports/node4.json" |
		head -n 40 | sed 's/^/     /' || true
}

d5=skipped
result=
if [ "$membership_only" = 1 ]; then
	step "5. convergence: skipped (--membership-only)"
	result="membership lab passed (convergence not checked)"
else
	step "5. convergence: every node's kv export identical, within ${converge_timeout}s"
	t_step=$(now_us)
	expected >"$work/expected"
	if ! wait_for "exports byte-identical on all six" "$converge_timeout" converged; then
		report
		die "step 5: the six nodes did not converge within ${converge_timeout}s of the heal"
	fi
	d5=$(secs_since "$t_step")s
	if ! verify 1 >"$work/state/node1.verify"; then
		LC_ALL=C sort "$work/state/node1.verify" | sed 's/^/   /'
		echo "   history of those keys (ops.log):"
		awk '{ sub(/=.*/, "", $2); print $2 }' "$work/state/node1.verify" | LC_ALL=C sort -u |
			while IFS= read -r k; do
				awk -v k="$k" '$6 == k' "$work/ops.log" | sed 's/^/     /'
			done
		die "step 5: the nodes agree, but not on the outcome of the acknowledged writes"
	fi
	note "all six agree; $(wc -l <"$work/expected") keys as expected; no acknowledged write lost"
	result="partition lab passed"
fi

step "summary"
note "1. mesh of six formed:               ${d1}s"
note "2. cut seen as failed on both sides: ${d2}s (cut for ${cut_secs}s, ${held_secs}s of it after the failure was seen)"
note "3. writes during the cut:            ${d3}s, $ops acknowledged writes and deletes, $notes notes"
note "4. healed, six alive everywhere:     ${d4}s"
note "5. converged:                        ${d5}"
note "total:                               $(secs_since "$lab_start")s"
echo "partition lab: $result"

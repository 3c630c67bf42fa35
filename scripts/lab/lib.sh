# Shared by the labs (source it): timing, step lines, bounded waits and the
# removal of a lab's network namespaces (leftovers, by the lab's PFX).
# lab_start is set when it is sourced.

now_us() { echo "${EPOCHREALTIME/./}"; }
lab_start=$(now_us)
# secs_since T [DIGITS] prints the seconds since T (from now_us), to 0.1 s
# or DIGITS decimals.
secs_since() { awk -v a="$1" -v b="$(now_us)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, (b - a) / 1e6 }'; }

step() { echo "== [$(secs_since "$lab_start")s] $*"; }
note() { echo "   $*"; }

# wait_for DESC SECONDS FUNC [ARGS]: polls FUNC every 0.5 s until it
# succeeds; FUNC sets `why` to say what is still missing. Prints the time
# taken, or returns 1 at the deadline, with why.
why=
wait_for() {
	local desc=$1 limit=$2
	shift 2
	local t0 deadline
	t0=$(now_us)
	deadline=$((t0 + limit * 1000000))
	while :; do
		why=
		if "$@"; then
			note "$desc: after $(secs_since "$t0")s"
			return 0
		fi
		if [ "$(now_us)" -ge "$deadline" ]; then
			echo "   $desc: not after ${limit}s" >&2
			printf '%s\n' "$why" | sed 's/^/   /' >&2
			return 1
		fi
		sleep 0.5
	done
}

# free_ports N prints N distinct ports between 20000 and 60999 that no TCP
# or UDP socket of this host holds (ss lists them; /proc/net when ss is
# missing).
free_ports() {
	local used picked=() p
	if command -v ss >/dev/null; then
		used=$(ss -Htuan | awk '{ n = split($5, a, ":"); print a[n] }')
	else
		used=$(awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6 2>/dev/null |
			while read -r hex; do echo $((16#$hex)); done)
	fi
	for _ in $(seq 1000); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 41000))
		if ! grep -qx "$p" <<<"$used" && [[ " ${picked[*]} " != *" $p "* ]]; then
			picked+=("$p")
			[ ${#picked[@]} -lt "$1" ] || break
		fi
	done
	[ ${#picked[@]} -eq "$1" ] || return 1
	echo "${picked[@]}"
}

# leftovers deletes the network namespaces whose names start with "$PFX-"
# (the lab's), first killing the processes that still run in them
# (agents of an earlier run that was itself killed).
leftovers() {
	local ns pid n
	for ns in $(ip netns list 2>/dev/null | awk -v p="$PFX-" 'index($1, p) == 1 { print $1 }'); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		for ((n = 0; n < 50; n++)); do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}

# lab_usage prints the lab's header comment: its help.
lab_usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# parse_args "VALUE OPTIONS" "FLAGS" ARGS...: `--opt VALUE` sets the
# variable opt (dashes as underscores) for each of VALUE OPTIONS, `--flag`
# sets flag=1 for each of FLAGS, -h and --help print the lab's help;
# anything else ends the lab with an error naming $LAB.
parse_args() {
	local values=" $1 " flags=" $2 " opt
	shift 2
	while [ $# -gt 0 ]; do
		opt=${1#--}
		if [ "$1" = -h ] || [ "$1" = --help ]; then
			lab_usage
			exit 0
		elif [[ $1 == --* && $values == *" $opt "* ]]; then
			[ $# -ge 2 ] || { echo "$LAB: $1 needs a value" >&2 && exit 1; }
			printf -v "${opt//-/_}" '%s' "$2"
			shift
		elif [[ $1 == --* && $flags == *" $opt "* ]]; then
			printf -v "${opt//-/_}" 1
		else
			echo "$LAB: unknown argument $1 (see --help)" >&2
			exit 1
		fi
		shift
	done
}

# stop_pid PID: SIGTERM, SIGKILL after 10 s, reaped.
stop_pid() {
	local n
	kill -TERM "$1" 2>/dev/null || true
	for ((n = 0; n < 100; n++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# drop_work: removes the work directory $work, kept when the lab failed
# ($failed = 1) or with --keep ($keep = 1).
drop_work() {
	[ -n "${work:-}" ] || return 0
	if [ "${failed:-0}" = 1 ] || [ "${keep:-0}" = 1 ]; then
		echo "$LAB: work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}

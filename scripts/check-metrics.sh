#!/usr/bin/env bash
# Lints a live agent's metrics with Prometheus' own checker: starts
# `edgeplane agent -dev` with a temporary data dir on free 127.0.0.1 ports,
# reads GET /metrics and GET /v1/agent/metrics?format=prometheus, checks
# their Content-Type, runs `promtool check metrics` on each (which fails on
# a format error and on every lint problem: a missing HELP, a counter not
# ending in _total, ...), then stops the agent with SIGTERM. Every wait is
# bounded.
#
#   scripts/check-metrics.sh [BINARY]
#
# BINARY defaults to a fresh build of ./agent/cmd/edgeplane. promtool comes
# with Debian's prometheus package.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

command -v promtool >/dev/null || { echo "check-metrics: promtool not found (apt-get install prometheus)" >&2; exit 1; }
command -v curl >/dev/null || { echo "check-metrics: curl not found" >&2; exit 1; }

work=$(mktemp -d)
agent_pid=
cleanup() {
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		kill -KILL "$agent_pid" 2>/dev/null || true
		wait "$agent_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "check-metrics: $*" >&2
	if [ -f "$work/agent.log" ]; then
		echo "--- agent log" >&2
		tail -n 50 "$work/agent.log" >&2
	fi
	exit 1
}

bin=${1:-}
if [ -z "$bin" ]; then
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
fi

. scripts/lab/lib.sh # free_ports

# Another process may take a port between the check and the bind: try
# three sets of ports.
addr=
for attempt in 1 2 3; do
	read -r http gossip rpc <<<"$(free_ports 3)" || fail "no free ports"
	rm -rf "$work/data" && mkdir "$work/data"
	"$bin" agent -dev -data-dir "$work/data" -http-addr "127.0.0.1:$http" -gossip-port "$gossip" -rpc-port "$rpc" \
		>"$work/agent.log" 2>&1 &
	agent_pid=$!
	for _ in $(seq 300); do # up to 30 s
		if curl -sf --max-time 5 "http://127.0.0.1:$http/v1/agent/self" >/dev/null; then
			addr=127.0.0.1:$http
			break
		fi
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1 # polling the agent with a deadline
	done
	[ -z "$addr" ] || break
	kill -KILL "$agent_pid" 2>/dev/null || true
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=
	echo "check-metrics: the agent did not serve on ports $http, $gossip, $rpc (attempt $attempt)" >&2
done
[ -n "$addr" ] || fail "the agent did not start"

# A write, so that the store and replication series are not all zero.
curl -sf --max-time 10 -X PUT --data-binary v "http://$addr/v1/kv/check-metrics" >/dev/null || fail "kv put failed"

for path in /metrics "/v1/agent/metrics?format=prometheus"; do
	curl -sf --max-time 10 -D "$work/headers" -o "$work/metrics.txt" "http://$addr$path" || fail "GET $path failed"
	type=$(awk 'tolower($1) == "content-type:" { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print }' "$work/headers")
	[ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "GET $path: Content-Type '$type'"
	if ! promtool check metrics <"$work/metrics.txt"; then
		fail "promtool check metrics refused GET $path"
	fi
	for name in edgeplane_build_info edgeplane_gossip_members edgeplane_store_index edgeplane_replication_deltas_total \
		edgeplane_http_blocking_queries edgeplane_http_requests_total edgeplane_store_commit_seconds_bucket \
		edgeplane_store_filesystem_avail_bytes process_resident_memory_bytes process_cpu_seconds_total process_open_fds; do
		grep -q "^$name[{ ]" "$work/metrics.txt" || fail "GET $path has no $name"
	done
	# Requests are counted by route template, never by path.
	grep -qF 'edgeplane_http_requests_total{route="/v1/kv/{key...}",code="2xx"}' "$work/metrics.txt" ||
		fail "GET $path does not count the KV write under its route"
	if grep -q '^edgeplane_http_requests_total{route="[^"]*check-metrics' "$work/metrics.txt"; then
		fail "GET $path counts requests by path"
	fi
	echo "check-metrics: GET $path: $(grep -vc '^#' "$work/metrics.txt") series, promtool check metrics passes"
done

kill -TERM "$agent_pid"
for _ in $(seq 300); do # up to 30 s
	kill -0 "$agent_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$agent_pid" 2>/dev/null && fail "the agent did not exit within 30 s of SIGTERM"
code=0
wait "$agent_pid" || code=$?
agent_pid=
[ "$code" -eq 0 ] || fail "the agent exited with status $code"

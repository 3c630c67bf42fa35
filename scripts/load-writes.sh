#!/usr/bin/env bash
# Runs a sustained write load on a mesh of in-process agents on 127.0.0.1
# (real gossip and RPC over QUIC, stores on disk) and reports, for each
# write, the time from its PUT returning to it being applied on every other
# agent (p50, p99, max, and how many took over 1 s), the writes not applied
# on all within a minute after the load (late), and what was dropped: the
# broadcasts full gossip queues dropped (pruned), the records the pushes
# left to anti-entropy (push-left) and the gossip packets the transports
# lost. Writes are spread round-robin over the agents. The README's
# sustained-write figures come from this script.
# Usage: scripts/load-writes.sh [RATE [DURATION [NODES]]]
#   RATE: writes per second over the mesh (default 1000)
#   DURATION: how long the load lasts, a Go duration (default 5m)
#   NODES: agents in the mesh (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-1000}" duration="${2:-5m}" nodes="${3:-5}"
echo "# $(go version), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${TMPDIR:-/tmp} on $(stat -f -c %T "${TMPDIR:-/tmp}")"
echo "# $nodes agents, $rate writes/s for $duration; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
EDGEPLANE_LOAD_RATE="$rate" EDGEPLANE_LOAD_DURATION="$duration" EDGEPLANE_LOAD_NODES="$nodes" \
	go test -run '^$' -bench '^BenchmarkSustainedWrites$' -benchtime 1x -count 1 -timeout 2h ./agent/
# The figures hold for an otherwise idle machine: say if it was not.
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Measures the agent's resident memory while four concurrent GET ?recurse
# read 300 values of 500 KB back, the figure the README's performance
# section quotes. It builds a release binary, starts it as `edgeplane agent
# -dev` on random loopback ports and runs the test that writes the values,
# reads them and checks VmHWM (from /proc/PID/status) against the default
# memory_limit. Usage: scripts/bench-kv-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/edgeplane
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" ./agent/cmd/edgeplane
echo "# $(go version), $(nproc) cores, $(uname -sr)"
EDGEPLANE_BIN="$bin" go test -count=1 -v -run '^TestLargeRecurseReadsStayUnderMemoryLimit$' ./agent/cmd/edgeplane/ |
	grep -E 'agent memory|^(--- |ok|FAIL)'

#!/usr/bin/env bash
# Loads a real agent's local HTTP API with 10,000 blocking queries and
# 10,000 idle keep-alive connections on 127.0.0.0/8, first all from
# 127.0.0.1 (one local client), then spread over other loopback addresses
# (as a process binding them could), and prints what the agent refused
# (429, connections closed at accept), its resident memory (VmHWM, VmRSS)
# and the latency of a health probe (GET /v1/agent/self) under load: the
# figures the README's performance section quotes. It builds a release
# binary and runs TestHTTPLoad in agent/cmd/edgeplane against it; about
# a minute. Usage: scripts/http-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# 20,000 client sockets in the test and as many in the agent.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bin=$(mktemp -d)/edgeplane
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" ./agent/cmd/edgeplane
echo "# $(go version), $(nproc) cores, $(uname -sr), ulimit -n $(ulimit -n)"
EDGEPLANE_BIN="$bin" EDGEPLANE_HTTP_LOAD=1 go test -count=1 -v -timeout 10m -run '^TestHTTPLoad$' ./agent/cmd/edgeplane/ |
	sed -n '/load figures:/,/while the load is held/p; /agent at rest/p; /^\(--- \|ok\|FAIL\)/p' | sed 's/^ *//'

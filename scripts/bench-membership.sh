#!/usr/bin/env bash
# Measures membership convergence on this machine: for meshes of 5 and 25
# agents on 127.0.0.1 and each timing profile (lan, wan, edge), the time
# until every member sees a new node (join-s) and a killed node as failed
# (fail-s). Without -race. Takes a few minutes (wan and edge are slow by
# design). The README's membership figures come from this script.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(go version), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
go test -run '^$' -bench Detection -benchtime "${BENCHTIME:-1x}" -timeout 30m ./gossip/

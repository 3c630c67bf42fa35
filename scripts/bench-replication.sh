#!/usr/bin/env bash
# Measures the bootstrap of a new, empty agent from one holding 100,000 keys
# (about 10 MB) on 127.0.0.1: the time it takes, the resident memory of the
# new node after it (VmRSS, peak VmHWM and the anonymous part, RssAnon) and
# what it wrote to disk, and the resident memory of the agent holding the
# keys. The agents run the release build (CGO_ENABLED=0, -trimpath, -s -w),
# without -race. The README's bootstrap figures come from this script.
# Usage: scripts/bench-replication.sh [DIR]   (DIR: where the agents' data
# dirs go, on the device to measure; default the system temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
	export TMPDIR="$1"
fi
dir="${TMPDIR:-/tmp}"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/edgeplane" ./agent/cmd/edgeplane
echo "# $(go version), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $dir on $(stat -f -c %T "$dir")"
EDGEPLANE_BIN="$bin/edgeplane" go test -run '^$' -bench 'Bootstrap100k$' -benchtime "${BENCHTIME:-5x}" -count "${COUNT:-1}" -timeout 30m ./agent/cmd/edgeplane/

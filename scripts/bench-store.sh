#!/usr/bin/env bash
# Runs the store benchmarks whose figures the README's performance section
# quotes. Usage: scripts/bench-store.sh [DIR]   (DIR: a directory on the
# device to measure; default the system temp dir, which must not be tmpfs)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
	export EDGEPLANE_BENCH_DIR="$1"
fi
dir="${EDGEPLANE_BENCH_DIR:-${TMPDIR:-/tmp}}"
fstype=$(stat -f -c %T "$dir")
if [ "$fstype" = tmpfs ]; then
	echo "refusing to benchmark fsync on tmpfs ($dir): pass a directory on a real disk" >&2
	exit 1
fi
echo "# $(go version), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $dir on $fstype"
go test -run '^$' -bench . -benchtime "${BENCHTIME:-2s}" ./store/

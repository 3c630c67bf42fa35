#!/usr/bin/env bash
# Runs the store benchmarks whose figures the README's performance section
# quotes, each beside bbolt alone doing the same writes (or, for
# PutDurableHistory, without history beside with it), in rounds that
# alternate which half runs first (the first measures slower on a busy
# disk), and prints per benchmark the min and median of the rounds, the
# medians of p50 and bytes written per op where reported, and the store's
# throughput as a fraction of bbolt's (bbolt time / store time), or
# history's cost (time with history over time without).
#
# Usage: scripts/bench-store.sh [DIR]   (DIR: a directory on the device to
# measure; default the system temp dir, which must not be tmpfs)
# Environment: ROUNDS (default 5), BENCHTIME (default 2s), BENCH (a -bench
# pattern, default all).
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/store.test" ./store/
rounds=${ROUNDS:-5}
for ((i = 1; i <= rounds; i++)); do
	(cd store && EDGEPLANE_BENCH_SWAP=$((i % 2 == 0)) "$work/store.test" -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime "${BENCHTIME:-2s}") |
		grep '^Benchmark' | tee -a "$work/out"
done
echo
echo "# $rounds rounds: min / median ns/op; store/bbolt: bbolt time over store time (1 = as fast as bbolt alone); history on/off: time with history over time without (1 = no cost)"
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function minof(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
{
	name = $1; sub(/-[0-9]+$/, "", name)
	if (!(name in n)) order[++names] = name
	v[name, ++n[name]] = $3
	for (f = 5; f <= NF; f++) {
		if ($f == "p50-ns") p50[name, n[name]] = $(f-1)
		if ($f == "B-written/op") wr[name, n[name]] = $(f-1)
	}
}
END {
	for (k = 1; k <= names; k++) {
		name = order[k]; delete a
		for (i = 1; i <= n[name]; i++) a[i] = v[name, i]
		mn[name] = minof(a, n[name]); md[name] = median(a, n[name])
		printf "%-36s %12.0f / %12.0f ns/op", name, mn[name], md[name]
		if ((name, 1) in p50) {
			delete a
			for (i = 1; i <= n[name]; i++) a[i] = p50[name, i]
			mp50[name] = median(a, n[name])
			printf "  p50 %.0f ns", mp50[name]
		}
		if ((name, 1) in wr) {
			delete a
			for (i = 1; i <= n[name]; i++) a[i] = wr[name, i]
			printf "  %.0f B written/op", median(a, n[name])
		}
		printf "\n"
	}
	for (k = 1; k <= names; k++) {
		name = order[k]
		if (name !~ /\/store$/) continue
		base = name; sub(/\/store$/, "/bbolt", base)
		if (base in md) printf "%-36s ratio %.2f (min) %.2f (median)\n", name, mn[base] / mn[name], md[base] / md[name]
	}
	for (k = 1; k <= names; k++) {
		name = order[k]
		if (name !~ /\/on-[0-9]+$/) continue
		base = name; sub(/\/on-[0-9]+$/, "/off", base)
		if (base in md) printf "%-36s history on/off %.2f (min) %.2f (median) %.2f (p50 median)\n", name, mn[name] / mn[base], md[name] / md[base], mp50[name] / mp50[base]
	}
}' "$work/out"

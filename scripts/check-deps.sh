#!/usr/bin/env bash
# Keeps the binary lean: fails when the Go modules linked into a built
# edgeplane binary differ from the checked-in list build/deps.txt, naming
# each module that entered or left, and always fails on modules that have
# no place on a small edge device (a Prometheus client, a protobuf or gRPC
# stack).
#
#   scripts/check-deps.sh [BINARY...]    check (default: build linux/amd64 and check it)
#   scripts/check-deps.sh -update        rewrite build/deps.txt from a fresh build
#
# After adding or removing a dependency on purpose, run
# `scripts/check-deps.sh -update` and commit build/deps.txt with a word on
# why the module is worth its size.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

list=build/deps.txt
# Module path prefixes that never belong in the binary.
forbidden=(
	github.com/prometheus/
	google.golang.org/protobuf
	github.com/golang/protobuf
	google.golang.org/grpc
	github.com/gogo/protobuf
)

update=
if [ "${1:-}" = -update ]; then
	update=yes
	shift
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -tags nethttpomithttp2 -trimpath -buildvcs=false -ldflags "-s -w" \
		-o "$tmp/edgeplane" ./agent/cmd/edgeplane
	binaries=("$tmp/edgeplane")
fi

# modules BINARY prints the binary's dependency modules, sorted, one a line.
modules() {
	go version -m "$1" | awk '$1 == "dep" { print $2 }' | LC_ALL=C sort -u
}

status=0
for b in "${binaries[@]}"; do
	modules "$b" >"$tmp/mods"
	for f in "${forbidden[@]}"; do
		if grep -q "^$f" "$tmp/mods"; then
			echo "check-deps: $b links $(grep "^$f" "$tmp/mods" | tr '\n' ' ')- not allowed in edgeplane" >&2
			status=1
		fi
	done
done
[ $status -eq 0 ] || exit 1

if [ -n "$update" ]; then
	{
		echo "# Go modules linked into the edgeplane binary (go version -m), one a line."
		echo "# scripts/check-deps.sh fails when a built binary's modules differ from this"
		echo "# list. After adding or removing a dependency on purpose, regenerate it with"
		echo "#   scripts/check-deps.sh -update"
		echo "# and say in the commit why the module is worth its size."
		modules "${binaries[0]}"
	} >"$list"
	echo "check-deps: wrote $list ($(grep -vc '^#' "$list") modules)"
	exit 0
fi

grep -v '^#' "$list" | LC_ALL=C sort -u >"$tmp/want"
for b in "${binaries[@]}"; do
	modules "$b" >"$tmp/mods"
	entered=$(LC_ALL=C comm -13 "$tmp/want" "$tmp/mods")
	left=$(LC_ALL=C comm -23 "$tmp/want" "$tmp/mods")
	if [ -z "$entered$left" ]; then
		echo "check-deps: $b: $(wc -l <"$tmp/mods") modules, as listed in $list"
		continue
	fi
	status=1
	echo "check-deps: $b: its modules differ from $list:" >&2
	for m in $entered; do
		echo "  + $m  entered the binary ($(go version -m "$b" | awk -v m="$m" '$1 == "dep" && $2 == m { print $3 }'))" >&2
	done
	for m in $left; do
		echo "  - $m  left the binary" >&2
	done
done
if [ $status -ne 0 ]; then
	echo "If that is intended, run scripts/check-deps.sh -update and commit $list." >&2
fi
exit $status

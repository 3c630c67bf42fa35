#!/usr/bin/env bash
# Cross-compiles the edgeplane binary: static (no cgo), -trimpath, stripped,
# stamped with version, commit and build date, for every target device.
#
#   scripts/cross-build.sh [-o DIR] [TARGET...]
#
# TARGET is one of amd64, arm64, armv7 (GOARM=7, Raspberry Pi class, Debian
# armhf) and riscv64; the default is all four. Binaries are written as
# DIR/edgeplane-linux-TARGET (DIR defaults to dist/) with their SHA-256 sums
# in DIR/SHA256SUMS and the version in DIR/VERSION, and the script prints
# each binary's size.
#
# The stamps come from the environment when set: VERSION (default: the
# latest v* tag, else 0.1.0-dev), COMMIT (default: git's short hash, with
# -dirty for uncommitted changes) and BUILD_DATE in RFC 3339 (default:
# SOURCE_DATE_EPOCH, else the commit's date, so that builds are
# reproducible). The agent's clock never reads earlier than BUILD_DATE.
#
# The arm64 binary must stay within MAX_BYTES (15 MB) and should stay
# within GOAL_BYTES (12 MB). Release builds leave out net/http's bundled
# HTTP/2 (build tag nethttpomithttp2, about 460 KB on arm64): the local
# API, the metrics listener and every client of the agent speak
# HTTP/1.1.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
if [ "${1:-}" = -o ]; then
	out=$2
	shift 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(amd64 arm64 armv7 riscv64)

readonly MAX_BYTES=15000000 GOAL_BYTES=12000000
readonly pkg=github.com/edgeplane/edgeplane/agent/version
readonly tags=nethttpomithttp2

in_git() { git rev-parse --git-dir >/dev/null 2>&1; }

version=${VERSION:-}
if [ -z "$version" ]; then
	if in_git; then
		version=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null | sed 's/^v//' || true)
	fi
	version=${version:-0.1.0-dev}
fi
commit=${COMMIT:-}
if [ -z "$commit" ]; then
	commit=unknown
	if in_git; then
		commit=$(git rev-parse --short=12 HEAD)
		[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit+=-dirty
	fi
fi
build_date=${BUILD_DATE:-}
if [ -z "$build_date" ]; then
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	elif in_git; then
		build_date=$(date -u -d "$(git log -1 --format=%cI)" +%Y-%m-%dT%H:%M:%SZ)
	else
		build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	fi
fi
# version.Floor parses it with time.RFC3339: anything else would be ignored.
if ! [[ $build_date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$ ]] ||
	! date -u -d "$build_date" >/dev/null 2>&1; then
	echo "BUILD_DATE=$build_date is not an RFC 3339 date" >&2
	exit 1
fi

ldflags="-s -w -buildid= -X $pkg.Version=$version -X $pkg.Commit=$commit -X $pkg.BuildDate=$build_date"
mkdir -p "$out"
echo "edgeplane $version, commit $commit, built $build_date ($(go version | cut -d' ' -f3))"

for t in "${targets[@]}"; do
	goarm=
	case "$t" in
	amd64 | arm64 | riscv64) goarch=$t ;;
	armv7) goarch=arm goarm=7 ;;
	*) echo "unknown target $t (amd64, arm64, armv7, riscv64)" >&2; exit 1 ;;
	esac
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		go build -tags "$tags" -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/edgeplane-linux-$t" ./agent/cmd/edgeplane
done

(cd "$out" && sha256sum edgeplane-linux-* >SHA256SUMS)
echo "$version" >"$out/VERSION" # read by scripts/package-deb.sh

status=0
printf '\n%-26s %12s %9s\n' binary bytes MB
for t in "${targets[@]}"; do
	f=$out/edgeplane-linux-$t
	size=$(stat -c %s "$f")
	note=
	if [ "$t" = arm64 ] && [ "$size" -gt "$MAX_BYTES" ]; then
		note="  over the $((MAX_BYTES / 1000000)) MB ceiling"
		status=1
	elif [ "$t" = arm64 ] && [ "$size" -gt "$GOAL_BYTES" ]; then
		note="  over the $((GOAL_BYTES / 1000000)) MB goal"
	fi
	awk -v f="edgeplane-linux-$t" -v s="$size" -v n="$note" 'BEGIN { printf "%-26s %12d %9.2f%s\n", f, s, s / 1e6, n }'
done
echo "sums: $out/SHA256SUMS"
exit $status

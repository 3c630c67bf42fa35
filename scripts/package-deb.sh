#!/usr/bin/env bash
# Builds the Debian packages from binaries made by scripts/cross-build.sh,
# with nfpm and build/nfpm.yaml: the same unit, default configuration,
# sysctl snippet and sysusers entry as scripts/install.sh installs, and the
# Prometheus alert rules (build/prometheus/edgeplane-rules.yml) under
# /usr/share/edgeplane/prometheus for the operator's Prometheus server.
#
#   scripts/package-deb.sh [-o DIR] [TARGET...]
#
# TARGET is amd64, arm64 or armv7 (Debian armhf); the default is all three.
# Reads DIR/edgeplane-linux-TARGET and DIR/VERSION (DIR defaults to dist/)
# and writes DIR/edgeplane_VERSION_DEBARCH.deb. Uses nfpm from PATH, else
# installs the pinned version with `go install`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
gopath=$(PATH="/usr/local/go/bin:$PATH" go env GOPATH 2>/dev/null || echo "$HOME/go")
export PATH="/usr/local/go/bin:$gopath/bin:$PATH"
readonly nfpm_version=v2.45.2

out=dist
if [ "${1:-}" = -o ]; then
	out=$2
	shift 2
fi
out=$(cd "$out" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(amd64 arm64 armv7)

# go install leaves the version in the binary's build info, not in --version.
if ! command -v nfpm >/dev/null || ! go version -m "$(command -v nfpm)" | grep -q "nfpm/v2[[:space:]]*$nfpm_version"; then
	echo "installing nfpm $nfpm_version"
	go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
fi
[ -f "$out/VERSION" ] || { echo "no $out/VERSION: run scripts/cross-build.sh first" >&2; exit 1; }
version=$(cat "$out/VERSION")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ln -s "$repo/build" "$stage/build"
for t in "${targets[@]}"; do
	case "$t" in
	amd64 | arm64) nfpm_arch=$t deb_arch=$t ;;
	armv7) nfpm_arch=arm7 deb_arch=armhf ;;
	*) echo "no Debian package for target $t (amd64, arm64, armv7)" >&2; exit 1 ;;
	esac
	bin=$out/edgeplane-linux-$t
	[ -f "$bin" ] || { echo "no $bin: run scripts/cross-build.sh $t first" >&2; exit 1; }
	cp "$bin" "$stage/edgeplane"
	rm -f "$out"/edgeplane_*_"$deb_arch".deb
	(cd "$stage" && NFPM_ARCH=$nfpm_arch VERSION=$version nfpm package -f build/nfpm.yaml -p deb -t "$out" >/dev/null)
	deb=$(ls "$out"/edgeplane_*_"$deb_arch".deb)
	echo "$(basename "$deb"): $(stat -c %s "$deb") bytes, $(dpkg-deb -f "$deb" Architecture) $(dpkg-deb -f "$deb" Version)"
done

#!/usr/bin/env bash
# Builds the Consul ecosystem tools the compatibility lab runs against
# edgeplane, from the Go module proxy, and caches them by version:
#
#   prometheus       upstream Prometheus 3.x, with only its Consul service
#                    discovery compiled in (Debian's package leaves Consul
#                    discovery out)
#   consul-template  HashiCorp's consul-template
#
#   scripts/lab/consul-tools.sh [DIR]
#
# prints the directory holding both binaries: DIR, or
# $EDGEPLANE_TOOL_CACHE, or /var/cache/edgeplane-ci/tools as root and
# ~/.cache/edgeplane/tools otherwise. A binary already there for the same
# version is reused, so CI builds each once per machine (Prometheus takes
# a few minutes on two cores).
set -euo pipefail

readonly PROMETHEUS_MODULE=github.com/prometheus/prometheus
readonly PROMETHEUS_VERSION=v0.316.0 # Prometheus 3.x module version
readonly CONSUL_TEMPLATE_MODULE=github.com/hashicorp/consul-template
readonly CONSUL_TEMPLATE_VERSION=v0.41.1

if [ -n "${1:-}" ]; then
	dir=$1
elif [ -n "${EDGEPLANE_TOOL_CACHE:-}" ]; then
	dir=$EDGEPLANE_TOOL_CACHE
elif [ "$(id -u)" = 0 ]; then
	dir=/var/cache/edgeplane-ci/tools
else
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/edgeplane/tools
fi
mkdir -p "$dir"

# build NAME VERSION TAGS PACKAGE@VERSION: installs PACKAGE as
# DIR/NAME-VERSION unless it is there, then links DIR/NAME to it.
build() {
	local name=$1 version=$2 tags=$3 pkg=$4 tmp
	if [ ! -x "$dir/$name-$version" ]; then
		echo "consul-tools: building $pkg (tags: ${tags:-none})" >&2
		tmp=$(mktemp -d "$dir/.build.XXXXXX")
		# A tool of its own go.mod: GOFLAGS of the repo do not apply.
		if ! GOFLAGS= GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -tags "$tags" "$pkg" >&2; then
			rm -rf "$tmp"
			echo "consul-tools: building $pkg failed" >&2
			return 1
		fi
		mv "$tmp/$(basename "${pkg%@*}")" "$dir/$name-$version"
		rm -rf "$tmp"
	fi
	ln -sfn "$name-$version" "$dir/$name"
}

build prometheus "$PROMETHEUS_VERSION" remove_all_sd,enable_consul_sd \
	"$PROMETHEUS_MODULE/cmd/prometheus@$PROMETHEUS_VERSION"
build consul-template "$CONSUL_TEMPLATE_VERSION" "" \
	"$CONSUL_TEMPLATE_MODULE@$CONSUL_TEMPLATE_VERSION"
echo "$dir"

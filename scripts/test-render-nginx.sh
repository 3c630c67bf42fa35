#!/usr/bin/env bash
# The README's nginx example, run for real with Debian's nginx: an agent
# renders an upstream file from the service catalog into a conf.d that
# nginx includes, checks it with `nginx -t` in check_mode swapped and
# reloads nginx. It then shows: instances registered reach nginx (a
# request through nginx reaches them); a value that makes the file invalid
# is refused by nginx -t, the previous file is put back byte for byte,
# nginx keeps serving and the block's check turns critical; removing the
# value makes it pass again. Every wait is bounded; only 127.0.0.1 is used.
#
#   scripts/test-render-nginx.sh [BINARY]
#
# BINARY defaults to a fresh build of ./agent/cmd/edgeplane. Needs nginx
# (apt-get install nginx-light) and curl; run as root (nginx's default
# temporary paths are root's).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:/usr/sbin:$PATH"

command -v nginx >/dev/null || { echo "test-render-nginx: nginx not found (apt-get install nginx-light)" >&2; exit 1; }
command -v curl >/dev/null || { echo "test-render-nginx: curl not found" >&2; exit 1; }

work=$(mktemp -d)
agent_pid=
cleanup() {
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		kill -KILL "$agent_pid" 2>/dev/null || true
		wait "$agent_pid" 2>/dev/null || true
	fi
	if [ -f "$work/nginx.pid" ]; then
		nginx -c "$work/nginx.conf" -p "$work/" -s stop 2>/dev/null || kill -KILL "$(cat "$work/nginx.pid")" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "test-render-nginx: $*" >&2
	for f in agent.log nginx.log; do
		if [ -f "$work/$f" ]; then
			echo "--- $f" >&2
			tail -n 40 "$work/$f" >&2
		fi
	done
	exit 1
}
# eventually CMD...: runs CMD until it succeeds, for up to 30 s.
eventually() {
	for _ in $(seq 300); do
		if "$@"; then return 0; fi
		sleep 0.1 # polling with a deadline
	done
	return 1
}

bin=${1:-}
if [ -z "$bin" ]; then
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
fi

. scripts/lab/lib.sh # free_ports
read -r http gossip rpc web <<<"$(free_ports 4)" || fail "no free ports"

mkdir -p "$work/conf.d" "$work/data" "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.log;
events {}
http {
	access_log off;
	client_body_temp_path $work/body;
	proxy_temp_path $work/proxy;
	include $work/conf.d/*.conf;
	server {
		listen 127.0.0.1:$web;
		location / {
			proxy_pass http://web;
			proxy_set_header Host 127.0.0.1;
		}
	}
}
CONF
# nginx needs the upstream before it starts; the agent replaces it.
printf 'upstream web {\n  server 127.0.0.1:1 down;\n}\n' >"$work/conf.d/upstream.conf"
nginx -c "$work/nginx.conf" -p "$work/" || fail "nginx did not start"

cat >"$work/edgeplane.yaml" <<CONF
render:
  - name: nginx-upstream
    destination: $work/conf.d/upstream.conf
    template: |
      upstream web {
      {{- range service "web"}}
        server {{.Address}}:{{.Port}};
      {{- else}}
        server 127.0.0.1:1 down;
      {{- end}}
      {{keyOrDefault "nginx/upstream-extra" ""}}
      }
    check: [nginx, -t, -q, -c, $work/nginx.conf, -p, $work/]
    check_mode: swapped
    reload: [nginx, -s, reload, -c, $work/nginx.conf, -p, $work/]
    wait: {min: 100ms, max: 1s}
CONF
"$bin" agent -dev -data-dir "$work/data" -http-addr "127.0.0.1:$http" -gossip-port "$gossip" -rpc-port "$rpc" \
	-config-file "$work/edgeplane.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
eventually curl -sf --max-time 5 "http://127.0.0.1:$http/v1/agent/self" -o /dev/null || fail "the agent did not start"
ep() { "$bin" "$@" -http-addr "127.0.0.1:$http"; }
# Outputs are read whole before grep: grep -q stops at its match, and the
# writer's broken pipe would fail the pipeline under pipefail.
health() { grep -q "\"Health\": \"$1\"" <<<"$(ep render status -format=json)"; }

# An instance of web (the agent's own HTTP API stands in for it) reaches
# nginx: the file lists it, and a request through nginx reaches it.
curl -sf --max-time 10 -X PUT --data "{\"ID\":\"web1\",\"Name\":\"web\",\"Address\":\"127.0.0.1\",\"Port\":$http}" \
	"http://127.0.0.1:$http/v1/agent/service/register" || fail "registering web failed"
eventually grep -q "server 127.0.0.1:$http;" "$work/conf.d/upstream.conf" || fail "the upstream file never listed web1: $(cat "$work/conf.d/upstream.conf")"
eventually curl -sf --max-time 5 "http://127.0.0.1:$web/v1/status/leader" -o /dev/null || fail "nginx does not proxy to web1"
eventually health passing || fail "the block is not passing: $(ep render status)"
good=$(sha256sum <"$work/conf.d/upstream.conf")

# A value that breaks nginx's configuration: nginx -t refuses it with the
# file in place, the previous file is put back, nginx keeps serving.
curl -sf --max-time 10 -X PUT --data-binary 'no_such_directive on;' "http://127.0.0.1:$http/v1/kv/nginx/upstream-extra" >/dev/null || fail "kv put failed"
eventually health critical || fail "the block did not turn critical: $(ep render status)"
[ "$(sha256sum <"$work/conf.d/upstream.conf")" = "$good" ] || fail "the previous file is not back: $(cat "$work/conf.d/upstream.conf")"
grep -q "nginx-upstream" <<<"$(ep render status)" || fail "render status does not list the block"
curl -sf --max-time 5 "http://127.0.0.1:$web/v1/status/leader" -o /dev/null || fail "nginx stopped serving"
grep -q '"CheckID":"edgeplane:render:nginx-upstream"' <<<"$(curl -sf --max-time 5 "http://127.0.0.1:$http/v1/health/state/critical")" ||
	fail "/v1/health/state/critical does not list the block's check"
grep -q 'edgeplane_render_failures_total{block="nginx-upstream",stage="check"} 1' <<<"$(curl -sf --max-time 5 "http://127.0.0.1:$http/metrics")" ||
	fail "the failure is not counted"

# Removing the value renders a valid file again.
curl -sf --max-time 10 -X DELETE "http://127.0.0.1:$http/v1/kv/nginx/upstream-extra" >/dev/null || fail "kv delete failed"
eventually health passing || fail "the block did not pass again: $(ep render status)"
grep -q "server 127.0.0.1:$http;" <<<"$(ep render once -dry)" || fail "render once -dry does not show the upstream"
echo "test-render-nginx: ok (nginx $(nginx -v 2>&1 | sed 's/.*\///'))"

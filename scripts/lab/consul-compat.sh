#!/usr/bin/env bash
# Consul compatibility lab: upstream Prometheus (consul_sd_configs) and
# consul-template against a three-node edgeplane mesh on 127.0.0.1.
#
#   node1, node2: site siteA; node3: site siteB. Each agent serves its HTTP
#   API on 127.0.0.1:1750N; node1 and node2 also serve their metrics on
#   metrics_addr 127.0.0.1:1760N (node1's behind a bearer token), node3,
#   as a node behind a NAT, on none. Services, each with a TTL check
#   reported passing:
#     web1 on node1  tags prod,v1  meta version=2  tagged address lan
#     web2 on node2  tags prod     meta version=1
#     web3 on node3  tags canary   meta version=1
#     api1 on node1
#
#   1. Prometheus, pointed at node1 with services [web], tags [prod] and
#      node_meta site=siteA, lists exactly web1 and web2 as targets with
#      __meta_consul_health, __meta_consul_service_metadata_version and
#      __meta_consul_tagged_address_lan; web2 deregistered, it drops it.
#      With services [edgeplane] it finds the three agents by their own
#      service: in job edgeplane, node1 and node2 on their metrics_addr
#      and node3 only through the relay of node1's metrics_addr
#      (/metrics?node=node3, with the token); in job edgeplane-local,
#      node3 through node1's local API (/v1/edgeplane/metrics/node3).
#      Every target is up, the relayed series are node3's, and node1
#      counts the relayed scrapes.
#   2. consul-template, pointed at node3, renders service "web",
#      "web|any", "web~_agent" (node3's own instance first) and key
#      "app/greeting"; it re-renders when web1 turns critical and when the
#      key changes.
#   3. 60 s of unrelated writes (other keys, the api service) wake none of
#      consul-template's blocking queries, counted on node3 by its
#      blocking_woken counter (/v1/agent/self Stats.http); a related write
#      afterwards still wakes one.
#   4. One template of the documented subset of functions (key,
#      keyOrDefault, keyExists, ls, tree, service with a tag and filters,
#      services, nodes, env, parseJSON, toJSON; range, with, if; the
#      fields of service, node and key entries), rendered by node3's
#      render block and by consul-template -once against node3, gives
#      the same bytes; again once node2 is killed (its instance critical,
#      its serfHealth failed).
#
#   scripts/lab/consul-compat.sh [--binary PATH] [--tools DIR] [--keep]
#
# --tools is the directory scripts/lab/consul-tools.sh prints (it builds
# the tools when none is given). Needs curl and jq. Traffic stays on
# 127.0.0.1. Every wait is bounded; processes are stopped on exit; the
# work directory (logs, renders) is kept when the lab fails or with --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=
tools=
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--binary)
		binary=${2:?--binary needs a path}
		shift
		;;
	--tools)
		tools=${2:?--tools needs a directory}
		shift
		;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "consul lab: unknown argument $1 (see --help)" >&2
		exit 1
		;;
	esac
	shift
done

readonly NODES=(1 2 3)
readonly PROM_ADDR=127.0.0.1:17590
readonly METRICS_TOKEN=lab-metrics-token-0123456789
readonly QUIET=60 # seconds of unrelated writes

. scripts/lab/lib.sh # now_us, secs_since, step, note, wait_for

work=
failed=0
pids=()
die() {
	failed=1
	echo "consul lab: FAIL: $*" >&2
	exit 1
}

cleanup() {
	local code=$? pid n alive
	trap - EXIT INT TERM
	[ "$code" -ne 0 ] && failed=1
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((n = 0; n < 100; n++)); do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ -n "$work" ]; then
		if [ "$failed" = 1 ] || [ "$keep" = 1 ]; then
			echo "consul lab: work directory kept: $work" >&2
		else
			rm -rf "$work"
		fi
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl jq; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
work=$(mktemp -d /tmp/ep-consul-lab.XXXXXX)
mkdir -p "$work/logs"

if [ -z "$tools" ]; then
	step "tools (scripts/lab/consul-tools.sh)"
	tools=$(scripts/lab/consul-tools.sh)
fi
prometheus=$tools/prometheus
consul_template=$tools/consul-template
[ -x "$prometheus" ] && [ -x "$consul_template" ] || die "no prometheus or consul-template in $tools"
if [ -n "$binary" ]; then
	bin=$(realpath "$binary")
else
	step "build"
	CGO_ENABLED=0 go build -o "$work/edgeplane" ./agent/cmd/edgeplane
	bin=$work/edgeplane
fi
"$bin" version | sed 's/^/   /'

http_of() { echo "127.0.0.1:$((17500 + $1))"; }
metrics_of() { echo "127.0.0.1:$((17600 + $1))"; }
on() { # on N CMD...: an edgeplane client command against node N, bounded
	local n=$1
	shift
	EDGEPLANE_HTTP_ADDR=$(http_of "$n") timeout 20 "$bin" "$@"
}
self_stat() { # self_stat N KEY: a counter of node N's Stats.http
	curl -fsS --max-time 5 "http://$(http_of "$1")/v1/agent/self" | jq -r ".Stats.http.$2"
}


# --- the mesh --------------------------------------------------------------

# The template of step 5: every function of the documented subset, and
# the fields of the entries they return.
readonly LAB_ENV="lab env value" # env "CTMPL_LAB" of the template
cat >"$work/compare.ctmpl" <<'TEMPLATE'
key: {{ key "ctmpl/greeting" }}
default: {{ keyOrDefault "ctmpl/missing" "fallback" }} {{ keyOrDefault "ctmpl/empty" "empty-default" }}
exists: {{ keyExists "ctmpl/greeting" }} {{ keyExists "ctmpl/missing" }}
ls:{{ range ls "ctmpl/conf" }} {{ .Key }}={{ .Value }}{{ end }}
tree:{{ range tree "ctmpl/conf" }} {{ .Key }}={{ .Value }} ({{ .Path }} flags {{ .Flags }} lock {{ .LockIndex }} session "{{ .Session }}"){{ end }}
tree json: {{ tree "ctmpl/conf" | toJSON }}
{{- with $c := key "ctmpl/json" | parseJSON }}
json: {{ $c.name }} {{ index $c.ports 0 }} {{ range $k, $v := $c.limits }}{{ $k }}={{ $v }} {{ end }}
json back: {{ toJSON $c }}
{{- end }}
env: {{ env "CTMPL_LAB" }}
{{- range service "prod.web" }}
prod: {{ .Node }} {{ .NodeAddress }} {{ .Address }}:{{ .Port }} {{ .ID }} {{ .Name }} {{ .Tags }} {{ .Status }} {{ .ServiceMeta }} {{ .Weights.Passing }}/{{ .Weights.Warning }} {{ .NodeMeta.site }} {{ .NodeTaggedAddresses.lan }} {{ .ServiceTaggedAddresses }} {{ len .NodeID }}
{{- end }}
{{- range service "web|any" }}
any: {{ .Node }} {{ .ID }} {{ .Status }} checks:{{ range .Checks }} {{ .CheckID }}={{ .Status }}{{ if .ServiceID }}/{{ .ServiceID }} {{ .ServiceTags }}{{ end }}{{ end }}
{{- end }}
{{- range service "web" "passing,warning" }}
passing,warning: {{ .ID }}{{ if .ServiceMeta.version }} version {{ .ServiceMeta.version }}{{ end }}{{ if .ServiceMeta.absent }} never{{ end }}
{{- else }}
passing,warning: none
{{- end }}
{{- range services }}
service: {{ .Name }} {{ .Tags }}
{{- end }}
{{- range nodes }}
node: {{ .Node }} {{ .Address }} {{ .Datacenter }} {{ .Meta.site }} {{ .TaggedAddresses.lan }} {{ if .ID }}id{{ end }}
{{- end }}
nodes json: {{ nodes | toJSON }}
services json: {{ services | toJSON }}
{{- if keyExists "ctmpl/missing" }}
never
{{- else if eq (keyOrDefault "ctmpl/mode" "a") "a" }}
mode a
{{- end }}
TEMPLATE
cat >"$work/render.yaml" <<EOF
render:
  - name: compare
    source: $work/compare.ctmpl
    destination: $work/render/edgeplane.txt
    create_dest_dirs: true
    wait: {min: 100ms, max: 1s}
EOF

step "1. three agents on 127.0.0.1"
(umask 077 && echo "$METRICS_TOKEN" >"$work/metrics.token")
for n in "${NODES[@]}"; do
	site=siteA
	[ "$n" = 3 ] && site=siteB
	joins=()
	[ "$n" != 1 ] && joins=(-join "127.0.0.1:17301")
	metrics=()
	case "$n" in
	1) metrics=(-metrics-addr "$(metrics_of 1)" -metrics-bearer-token-file "$work/metrics.token") ;;
	2) metrics=(-metrics-addr "$(metrics_of 2)") ;;
	3) metrics=(-config-file "$work/render.yaml") ;; # step 5's render block
	esac
	CTMPL_LAB=$LAB_ENV "$bin" agent -node "node$n" -site "$site" -bind 127.0.0.1 \
		-gossip-port "$((17300 + n))" -rpc-port "$((17400 + n))" -http-addr "$(http_of "$n")" \
		-data-dir "$work/node$n" -profile lan -retry-interval 500ms "${joins[@]}" "${metrics[@]}" \
		>"$work/logs/node$n.log" 2>&1 &
	pids+=($!)
done
all_alive() {
	local n c
	for n in "${NODES[@]}"; do
		c=$(on "$n" members -status alive 2>/dev/null | tail -n +2 | wc -l) || c=0
		if [ "$c" != 3 ]; then
			why="node$n lists $c alive; its log ends: $(tail -n 3 "$work/logs/node$n.log")"
			return 1
		fi
	done
}
wait_for "every node lists three alive" 60 all_alive || die "the mesh did not form"

register() { # register N JSON
	printf '%s' "$2" | on "$1" services register - >/dev/null || die "node$1: registering $2 failed"
}
web() { # web N ID PORT TAGS META: a web instance with a passing TTL check
	register "$1" "{\"ID\":\"$2\",\"Name\":\"web\",\"Address\":\"127.0.0.1\",\"Port\":$3,\"Tags\":$4,\"Meta\":$5,
		\"TaggedAddresses\":{\"lan\":{\"Address\":\"127.0.0.1\",\"Port\":$3}},
		\"Check\":{\"CheckID\":\"service:$2\",\"TTL\":\"10m\",\"Status\":\"passing\"}}"
}
web 1 web1 19101 '["prod","v1"]' '{"version":"2"}'
web 2 web2 19102 '["prod"]' '{"version":"1"}'
web 3 web3 19103 '["canary"]' '{"version":"1"}'
register 1 '{"ID":"api1","Name":"api","Port":19201,"Check":{"CheckID":"service:api1","TTL":"10m","Status":"passing"}}'
seen_everywhere() {
	local n c
	for n in "${NODES[@]}"; do
		c=$(curl -fsS --max-time 5 "http://$(http_of "$n")/v1/health/service/web?passing" | jq length) || c=0
		if [ "$c" != 3 ]; then
			why="node$n lists $c passing web instances"
			return 1
		fi
	done
}
wait_for "every node lists three passing web instances" 30 seen_everywhere || die "the registrations did not replicate"
on 1 kv put app/greeting hello >/dev/null

# --- Prometheus ------------------------------------------------------------

step "2. Prometheus with consul_sd_configs against node1"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1h
scrape_configs:
  - job_name: web
    consul_sd_configs:
      - server: $(http_of 1)
        services: [web]
        tags: [prod]
        node_meta:
          site: siteA
        refresh_interval: 5s
  # Every agent, found by its service "edgeplane": those Prometheus
  # reaches on their metrics_addr (the service's port); those of site
  # siteB, behind a NAT, through the relay of node1, the gateway.
  - job_name: edgeplane
    scrape_interval: 2s
    authorization:
      credentials_file: $work/metrics.token
    consul_sd_configs:
      - server: $(http_of 1)
        services: [edgeplane]
        refresh_interval: 5s
    relabel_configs:
      - source_labels: [__meta_consul_node]
        target_label: instance
      - source_labels: [__meta_consul_service_metadata_site, __meta_consul_node]
        regex: siteB;(.+)
        target_label: __param_node
      - source_labels: [__meta_consul_service_metadata_site]
        regex: siteB
        target_label: __address__
        replacement: $(metrics_of 1)
  # The same nodes through the local API of an agent on the Prometheus
  # host (here node1's): /v1/edgeplane/metrics/<node>.
  - job_name: edgeplane-local
    scrape_interval: 2s
    consul_sd_configs:
      - server: $(http_of 1)
        services: [edgeplane]
        refresh_interval: 5s
    relabel_configs:
      - source_labels: [__meta_consul_service_metadata_site]
        regex: siteB
        action: keep
      - source_labels: [__meta_consul_node]
        target_label: instance
      - source_labels: [__meta_consul_node]
        target_label: __metrics_path__
        replacement: /v1/edgeplane/metrics/\$1
      - target_label: __address__
        replacement: $(http_of 1)
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
	--web.listen-address="$PROM_ADDR" >"$work/logs/prometheus.log" 2>&1 &
pids+=($!)

targets() { curl -fsS --max-time 5 "http://$PROM_ADDR/api/v1/targets?state=any" 2>/dev/null; }
# prom_targets WANT: the discovered web targets are exactly WANT (service
# IDs, sorted, space-separated), each with the labels Consul SD sets.
prom_targets() {
	local want=$1 got labels
	labels=$(targets | jq -c '[.data.activeTargets[].discoveredLabels | select(.job == "web")]') || {
		why="Prometheus does not answer; its log ends: $(tail -n 3 "$work/logs/prometheus.log")"
		return 1
	}
	got=$(jq -r '[.[].__meta_consul_service_id] | sort | join(" ")' <<<"$labels")
	if [ "$got" != "$want" ]; then
		why="targets: '$got', want '$want'; its log ends: $(tail -n 3 "$work/logs/prometheus.log")"
		return 1
	fi
	if ! jq -e 'all(.[]; .__meta_consul_health == "passing"
			and .__meta_consul_service == "web"
			and (.__meta_consul_service_metadata_version | type) == "string"
			and .__meta_consul_tagged_address_lan == .__meta_consul_address
			and .__meta_consul_node != null
			and (.__meta_consul_tags | contains(",prod,")))' <<<"$labels" >/dev/null; then
		why="labels: $labels"
		return 1
	fi
	if ! jq -e 'any(.[]; .__meta_consul_service_id == "web1" and .__meta_consul_service_metadata_version == "2"
			and .__meta_consul_metadata_site == "siteA")' <<<"$labels" >/dev/null && [ "$want" != "web1" ]; then
		why="web1's labels lack version 2 or site siteA: $labels"
		return 1
	fi
}
wait_for "Prometheus lists web1 and web2 (prod, siteA) with Consul's labels" 60 prom_targets "web1 web2" ||
	die "Prometheus: wrong targets"
targets | jq -c '.data.activeTargets[] | select(.discoveredLabels.__meta_consul_service_id == "web1") | .discoveredLabels' |
	sed 's/^/   web1: /'
on 2 services deregister web2 >/dev/null
wait_for "Prometheus drops web2 once deregistered" 60 prom_targets "web1" || die "Prometheus kept a deregistered target"
web 2 web2 19102 '["prod"]' '{"version":"1"}'

# agents_up: Prometheus finds the three agents through their own service
# "edgeplane": it scrapes node1 and node2 on their metrics_addr, node3
# through both relays, node1's metrics_addr in the same job.
agents_up() {
	local got
	got=$(targets | jq -r '[.data.activeTargets[] | select(.labels.job | startswith("edgeplane"))
		| "\(.labels.job):\(.discoveredLabels.__meta_consul_node)=\(.health)"] | sort | join(" ")') || got=
	if [ "$got" != "edgeplane-local:node3=up edgeplane:node1=up edgeplane:node2=up edgeplane:node3=up" ]; then
		why="edgeplane targets: '$got'; errors: $(targets | jq -c '[.data.activeTargets[] | select(.lastError != "") | .lastError]')"
		return 1
	fi
}
wait_for "Prometheus scrapes node1 and node2 on metrics_addr, node3 through the relays" 60 agents_up ||
	die "Prometheus: the agents are not all up"
targets | jq -r '.data.activeTargets[] | select(.labels.job | startswith("edgeplane")) | "\(.labels.job) \(.scrapeUrl)"' |
	sed 's/^/   /'
query() { curl -fsS --max-time 5 "http://$PROM_ADDR/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
# relayed_ok: the relayed series are node3's (it holds one service, web3,
# besides its own), and node1 counts the scrapes it relayed.
relayed_ok() {
	local v
	for job in edgeplane edgeplane-local; do
		v=$(query "sum(edgeplane_catalog_local_instances{job=\"$job\",instance=\"node3\"})") || v=
		if [ "$v" != 2 ]; then
			why="$job: node3's local instances '$v', want 2 (web3, edgeplane)"
			return 1
		fi
	done
	v=$(query 'edgeplane_metrics_relayed_total{job="edgeplane",instance="node1",result="ok"}') || v=
	if [ -z "$v" ] || [ "$v" = 0 ]; then
		why="node1 counts '$v' relayed scrapes"
		return 1
	fi
	note "node1 relayed $v scrapes"
}
wait_for "the relayed series are node3's, and node1 counts them" 60 relayed_ok || die "Prometheus: wrong relayed series"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$(metrics_of 1)/metrics")
[ "$code" = 401 ] || die "node1's metrics_addr answered $code without the token, want 401"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $METRICS_TOKEN" "http://$(metrics_of 1)/v1/agent/self")
[ "$code" = 404 ] || die "node1's metrics_addr answered $code for /v1/agent/self, want 404"

# --- consul-template -------------------------------------------------------

step "3. consul-template against node3 (siteB)"
cat >"$work/in.ctmpl" <<'EOF'
passing:{{ range service "web" }} {{ .ID }}{{ end }}
any:{{ range service "web|any" }} {{ .ID }}={{ .Status }}{{ end }}
near:{{ range service "web~_agent" }} {{ .ID }}{{ end }}
key:{{ key "app/greeting" }}
EOF
"$consul_template" -consul-addr "$(http_of 3)" -template "$work/in.ctmpl:$work/out.txt" \
	-log-level info >"$work/logs/consul-template.log" 2>&1 &
pids+=($!)
# rendered LINE...: out.txt holds every LINE.
rendered() {
	local line
	for line in "$@"; do
		if ! grep -qxF -- "$line" "$work/out.txt" 2>/dev/null; then
			why="out.txt lacks '$line'; it holds: $(cat "$work/out.txt" 2>/dev/null)"
			return 1
		fi
	done
}
wait_for "renders every instance, node3's own first for web~_agent, and the key" 60 rendered \
	"passing: web1 web2 web3" "any: web1=passing web2=passing web3=passing" "key:hello" ||
	die "consul-template: wrong render"
near=$(grep '^near:' "$work/out.txt")
[[ $near == "near: web3 "* ]] || die "consul-template: web~_agent rendered '$near', node3's web3 should be first"
note "$near"

on 1 check fail -note "lab: web1 down" service:web1 >/dev/null
wait_for "re-renders when web1 turns critical" 30 rendered "passing: web2 web3" \
	"any: web1=critical web2=passing web3=passing" || die "consul-template: no re-render on critical"
on 2 kv put app/greeting "hello again" >/dev/null
wait_for "re-renders when the key changes" 30 rendered "key:hello again" || die "consul-template: no re-render on a key change"

step "4. ${QUIET}s of unrelated writes: consul-template's blocking queries on node3 stay asleep"
woken_before=$(self_stat 3 blocking_woken)
[[ $woken_before =~ ^[0-9]+$ ]] || die "node3 reports no blocking_woken counter: '$woken_before'"
t0=$(now_us)
writes=0
end=$((t0 + QUIET * 1000000))
while [ "$(now_us)" -lt "$end" ]; do
	n=$((writes % 3 + 1))
	on "$n" kv put "other/$writes" "value $writes" >/dev/null || die "node$n: kv put failed"
	register 1 "{\"ID\":\"api1\",\"Name\":\"api\",\"Port\":19201,\"Tags\":[\"round-$writes\"]}"
	writes=$((writes + 2))
	sleep 1
done
woken_after=$(self_stat 3 blocking_woken)
note "$writes unrelated writes in $(secs_since "$t0")s; node3's blocking queries woken: $((woken_after - woken_before))"
[ "$woken_after" = "$woken_before" ] || die "unrelated writes woke $((woken_after - woken_before)) blocking queries on node3"
on 1 check pass service:web1 >/dev/null
wait_for "a related write still wakes it" 30 rendered "passing: web1 web2 web3" || die "consul-template: no re-render after the quiet minute"
[ "$(self_stat 3 blocking_woken)" -gt "$woken_after" ] || die "the related write woke no blocking query on node3"

# --- one template, two renderers -------------------------------------------

step "5. the same template through node3's render block and consul-template -once"
on 1 kv put ctmpl/greeting hello >/dev/null
on 1 kv put ctmpl/empty "" >/dev/null
on 2 kv put ctmpl/conf/a 1 >/dev/null
on 2 kv put ctmpl/conf/b "two words" >/dev/null
on 1 kv put ctmpl/conf/sub/c 3 >/dev/null
on 1 kv put ctmpl/conf/sub/ "" >/dev/null # a folder: neither lists it
on 1 kv put ctmpl/json '{"name":"lab","ports":[80,443],"limits":{"b":2,"a":1.5}}' >/dev/null
# same_render: consul-template -once against node3 writes what node3's
# block wrote, byte for byte.
same_render() {
	rm -f "$work/render/consul-template.txt"
	if ! CTMPL_LAB=$LAB_ENV timeout 20 "$consul_template" -consul-addr "$(http_of 3)" -once \
		-template "$work/compare.ctmpl:$work/render/consul-template.txt" >>"$work/logs/consul-template-once.log" 2>&1; then
		why="consul-template -once failed: $(tail -n 3 "$work/logs/consul-template-once.log")"
		return 1
	fi
	if ! cmp -s "$work/render/consul-template.txt" "$work/render/edgeplane.txt"; then
		why="they differ (< consul-template, > edgeplane):
$(diff "$work/render/consul-template.txt" "$work/render/edgeplane.txt" 2>&1 | head -n 20)
node3's block: $(on 3 render status 2>&1 | tail -n +2)"
		return 1
	fi
}
wait_for "identical renders" 30 same_render || die "consul-template and edgeplane render differently"
note "$(wc -c <"$work/render/edgeplane.txt") identical bytes, $(wc -l <"$work/render/edgeplane.txt") lines"
grep -E '^(any|node):' "$work/render/edgeplane.txt" | sed 's/^/   /'
kill -KILL "${pids[1]}" # node2: its member fails, its instance turns critical
wait "${pids[1]}" 2>/dev/null || true
node2_failed() {
	if ! grep -q '^any: node2 web2 critical checks: serfHealth=critical' "$work/render/edgeplane.txt"; then
		why="node3's render: $(grep '^any: node2' "$work/render/edgeplane.txt")"
		return 1
	fi
}
wait_for "node3's render shows node2 failed" 60 node2_failed || die "node2's failure did not reach the render"
wait_for "identical renders with node2 failed" 30 same_render || die "consul-template and edgeplane render differently"

step "consul lab passed in $(secs_since "$lab_start")s"

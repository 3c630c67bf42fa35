#!/usr/bin/env bash
# Checks the Prometheus alert rules operators load for edgeplane agents
# (build/prometheus/edgeplane-rules.yml): every edgeplane_ metric they name
# is in the agent's catalogue (agent/telemetry/catalogue.go), every alert
# has a test that expects it to fire, `promtool check rules` accepts the
# file, and `promtool test rules` passes its unit tests
# (build/prometheus/edgeplane-rules.test.yml).
#
#   scripts/check-rules.sh
#
# promtool comes with Debian's prometheus package.
set -euo pipefail
cd "$(dirname "$0")/.."

rules=build/prometheus/edgeplane-rules.yml
tests=build/prometheus/edgeplane-rules.test.yml
catalogue=agent/telemetry/catalogue.go

fail() {
	echo "check-rules: $*" >&2
	exit 1
}

command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus)"
for f in "$rules" "$tests" "$catalogue"; do
	[ -f "$f" ] || fail "no $f"
done

# Metrics the agent does not expose would never fire. A histogram's
# series are named by its name and _bucket, _sum or _count.
missing=
for name in $(grep -o 'edgeplane_[a-z_]*[a-z]' "$rules" | sort -u); do
	grep -q "\"$name\"" "$catalogue" || grep -q "\"$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")\"" "$catalogue" ||
		missing="$missing $name"
done
[ -z "$missing" ] || fail "$rules names metrics that are not in $catalogue:$missing"

# Every alert has a test case that expects it (exp_alerts under its
# alertname).
alerts=$(awk '$1 == "-" && $2 == "alert:" { print $3 }' "$rules")
[ -n "$alerts" ] || fail "$rules has no alerts"
tested=$(awk '
	$1 == "alertname:" || ($1 == "-" && $2 == "alertname:") { name = $NF }
	$1 == "exp_alerts:" && name != "" { print name }
' "$tests" | sort -u)
untested=
for a in $alerts; do
	grep -qx "$a" <<<"$tested" || untested="$untested $a"
done
[ -z "$untested" ] || fail "$tests has no case in which these alerts fire:$untested"

timeout 60 promtool check rules "$rules" || fail "promtool check rules refused $rules"
timeout 120 promtool test rules "$tests" || fail "promtool test rules failed ($tests)"
echo "check-rules: $(wc -w <<<"$alerts") alerts, promtool check rules and test rules pass"

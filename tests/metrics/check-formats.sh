#!/usr/bin/env bash
# check-formats.sh METRICS-DUMP DEMO-SERVICE PYTHON3
#
# The expositions, 10 and 1,000 checks (metrics-dump) and the demo
# service's GET /metrics, in both formats, through `promtool check
# metrics` (Debian's prometheus package) and through the OpenMetrics
# parser of Debian's python3-prometheus-client, which is strict; then
# the README's scrape configuration and alerting rules through promtool.
#
# The text format must pass promtool with no complaint.  promtool 2.42
# lints OpenMetrics with the 0.0.4 parser, which reads the counter sample
# health_check_runs_total as a family of its own without help: for the
# OpenMetrics body the only complaints allowed are those, for the counter
# families whose HELP and TYPE precede them; anything else fails, and so
# does a parse error (exit 1).  Skipped (77) without promtool.
set -euo pipefail

dump=$1 demo=$2 python=$3
command -v promtool >/dev/null || { echo "promtool not installed: skipped"; exit 77; }
"$python" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
    { echo "python3-prometheus-client not installed: skipped"; exit 77; }

tmp=$(mktemp -d)
demo_pid=
cleanup() {
    [[ -z $demo_pid ]] || kill "$demo_pid" 2>/dev/null || true
    [[ -z $demo_pid ]] || wait "$demo_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# promtool on a text-format body: no complaint at all.
check_text() { # file
    local out rc=0
    out=$(promtool check metrics <"$1" 2>&1) || rc=$?
    [[ $rc -eq 0 && -z $out ]] || fail "promtool on $1 (exit $rc): $out"
}

# promtool on an OpenMetrics body: parsed, and only the known complaint.
check_om_promtool() { # file
    local out rc=0 line family
    out=$(promtool check metrics <"$1" 2>&1) || rc=$?
    [[ $rc -eq 0 || $rc -eq 3 ]] || fail "promtool could not parse $1 (exit $rc): $out"
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        [[ $line =~ ^([a-z_]+)_total\ no\ help\ text$ ]] ||
            fail "promtool on $1: $line"
        family=${BASH_REMATCH[1]}
        grep -qx "# TYPE $family counter" "$1" ||
            fail "promtool on $1: $line ($family is not a counter family)"
        grep -q "^# HELP $family " "$1" || fail "no HELP for $family in $1"
    done <<<"$out"
}

check_om_strict() { # file
    "$python" - "$1" <<'EOF' || fail "OpenMetrics parser rejected $1"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
families = list(text_string_to_metric_families(text))
names = {f.name: f.type for f in families}
assert names.get("health_check_runs") == "counter", names
assert names.get("health_check_duration_seconds") == "histogram", names
for f in families:
    if f.name == "health_check_duration_seconds":
        assert f.unit == "seconds", f.unit
EOF
}

check_pair() { # label text-file om-file
    check_text "$2"
    check_om_promtool "$3"
    check_om_strict "$3"
    echo "$1: text $(wc -c <"$2") bytes, OpenMetrics $(wc -c <"$3") bytes: ok"
}

for n in 10 1000; do
    "$dump" "$n" >"$tmp/text-$n" 2>"$tmp/text-$n.err" ||
        fail "metrics-dump $n: $(cat "$tmp/text-$n.err")"
    "$dump" "$n" --openmetrics >"$tmp/om-$n" 2>"$tmp/om-$n.err" ||
        fail "metrics-dump $n --openmetrics: $(cat "$tmp/om-$n.err")"
    check_pair "$n checks ($(cat "$tmp/text-$n.err"))" "$tmp/text-$n" "$tmp/om-$n"
done
# The body grows linearly: about 1.6 KB a check with 10-character names.
size=$(wc -c <"$tmp/text-1000")
((size < 2 * 1024 * 1024)) || fail "1,000 checks: $size bytes, over 2 MiB"

# The demo service over HTTP, as Prometheus asks for it.
# An ephemeral port (HEALTH_PORT=0), read back from the demo's log.
HEALTH_PORT=0 HEALTH_BIND=127.0.0.1 "$demo" >"$tmp/demo.log" 2>&1 &
demo_pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$tmp/demo.log")
    [[ -n $port ]] && curl -fs -o /dev/null "http://127.0.0.1:$port/live" && break
    sleep 0.1
done
[[ -n $port ]] || fail "the demo did not start (log: $(cat "$tmp/demo.log"))"
curl -fsS --max-time 5 -o "$tmp/demo-text" "http://127.0.0.1:$port/metrics" ||
    fail "GET /metrics from the demo (log: $(cat "$tmp/demo.log"))"
curl -fsS --max-time 5 -o "$tmp/demo-om" -H 'Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' \
    "http://127.0.0.1:$port/metrics" || fail "GET /metrics (OpenMetrics)"
check_pair "demo service over HTTP" "$tmp/demo-text" "$tmp/demo-om"
# The README's scrape configuration and alerting rules.
readme=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/README.md
awk '/^## Metrics/ { m = 1; next } /^## / { m = 0 }
     m && /^```yaml$/ { n++; f = 1; next } /^```$/ { f = 0 }
     m && f { print > (dir "/readme-" n ".yml") }' dir="$tmp" "$readme"
[[ -s $tmp/readme-1.yml && -s $tmp/readme-2.yml ]] ||
    fail "no scrape configuration and rules in the README's Metrics section"
promtool check config --syntax-only "$tmp/readme-1.yml" >/dev/null ||
    fail "README scrape configuration: $(promtool check config --syntax-only "$tmp/readme-1.yml" 2>&1)"
promtool check rules "$tmp/readme-2.yml" >/dev/null ||
    fail "README rules: $(promtool check rules "$tmp/readme-2.yml" 2>&1)"
echo "README: scrape configuration and alerting rules: ok"
echo "check-formats: 4 passed, 0 failed"

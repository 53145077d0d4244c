#!/usr/bin/env bash
# Issue 20: the Prometheus alert rules and the Grafana dashboard of
# docs/grafana/ are valid and use only metrics that exist. `promtool check
# rules` and `promtool test rules` (halo-alerts.test.yml: each tested rule
# fires on a series that should fire it) pass; the dashboard is JSON with
# panels; every halo_* name either file queries is a family documented in
# docs/monitor.md or docs/ingest.md (the names the processes write:
# tests/test_metrics_promtool.sh checks those against real /metrics).
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
dir=$src/docs/grafana
fail() {
  echo "test_prom_rules: FAIL: $*"
  exit 1
}
for t in promtool jq; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"; done
out=$(promtool check rules "$dir/halo-alerts.yml" 2>&1) || fail "promtool check rules: $out"
out=$(cd "$dir" && promtool test rules halo-alerts.test.yml 2>&1) || fail "promtool test rules: $out"
jq -e '.title == "halo-sync" and (.panels | length) >= 8 and all(.panels[]; (.targets | length) >= 1)' \
  "$dir/halo-sync.json" >/dev/null || fail "docs/grafana/halo-sync.json is not a dashboard with panels and targets"
docs=$(cat "$src/docs/monitor.md" "$src/docs/ingest.md")
names=$( (jq -r '.. | .expr? // empty, .definition? // empty' "$dir/halo-sync.json"; grep -E '^\s+expr:|^\s+ ' "$dir/halo-alerts.yml") |
  grep -oE '\bhalo_[a-z0-9_]+' | sed -E 's/_(bucket)$//' | sort -u)
[ -n "$names" ] || fail "no halo_ metric found in the dashboard and rules"
for n in $names; do
  grep -q "\`$n[\`{]" <<<"$docs" || grep -qE "\`…_${n#halo_ingest_}\`|\`$n\`" <<<"$docs" ||
    fail "$n is queried in docs/grafana/ but is no documented metric"
done
echo "test_prom_rules: ok ($(wc -w <<<"$names") metric names, rules checked and tested)"

#!/usr/bin/env bash
# Runs every figure of docs/BENCHMARKS.md one after the other (never two at
# once: they would measure each other) and keeps each script's output in
# OUT/NAME.txt (default /tmp/halo-bench-results). About an hour on 2 cores.
#
#   bench/run_all.sh [OUT] [NAME...]     e.g. bench/run_all.sh /tmp/r freshness_settle0
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/halo-bench-results}
shift || true
mkdir -p "$out"

declare -A cmd=(
  [store_vs_copy]="store_vs_copy.sh"
  [store_bench]="store_bench.sh"
  [api_efficiency_1]="api_efficiency.sh --fetchers 1"
  [api_efficiency_4]="api_efficiency.sh --fetchers 4"
  [naive_client]="naive_client.sh"
  [full_sync]="full_sync.sh --window 30"
  [ingest_vs_nginx]="ingest_vs_nginx.sh"
  [ingest_max_vs_nginx]="ingest_max_vs_nginx.sh"
  [freshness]="freshness.sh"
  [freshness_settle0]="freshness.sh --settle-ms 0"
  [rss_idle]="rss_idle.sh"
)
order=(store_vs_copy store_bench api_efficiency_1 api_efficiency_4 naive_client full_sync ingest_vs_nginx ingest_max_vs_nginx
  freshness freshness_settle0 rss_idle)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  [ -n "${cmd[$name]:-}" ] || { echo "run_all: unknown figure $name (${!cmd[*]})" >&2; exit 2; }
  echo "== bench/${cmd[$name]}" | tee "$out/$name.txt"
  # shellcheck disable=SC2086
  if ! bash "$here"/${cmd[$name]} 2>&1 | tee -a "$out/$name.txt"; then
    echo "run_all: $name failed" | tee -a "$out/$name.txt" >&2
  fi
done

#!/usr/bin/env bash
# halo-monitor's status page for many tenants: bench/status_render.c renders
# GET / (page 1, page 20, the unhealthy filter, a name filter), /api/status
# and /metrics from an in-memory state of N synthetic tenants (default
# 1000), R times each (default 20), and prints the median and largest
# render time and the size of each page. No PostgreSQL, no HTTP: the render
# alone (what the monitor's HTTP thread does under the state lock).
#
#   bench/status_render.sh [--tenants N] [--runs R]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
tenants=1000 runs=20
while [ $# -gt 0 ]; do
  case "$1" in
    --tenants) tenants=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_build
"$BENCH_BIN_DIR/status_render" "$tenants" "$runs"

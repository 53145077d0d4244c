#!/usr/bin/env bash
# docs/BENCHMARKS.md "docker compose": time from `up` to every service
# healthy, image sizes, and each container's RSS idle and under the storm
# (600 mutations with a fetcher killed and PostgreSQL restarted), measured by
# running tests/test_compose.sh (sim + tls profiles, 3 fetchers) with
# HALO_COMPOSE_STATS. RSS is the sum over a container's processes (docker top
# -o pid,rss; PostgreSQL's shared buffers count once per backend that touched
# them); "storm" is the largest of the samples taken every ~2 s.
#   bash bench/compose_stats.sh [RUNS]   (default 1; images are built once)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-1}
out=$(mktemp /tmp/halo-compose-stats.XXXXXX)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)"
echo "config: tests/test_compose.sh, --scale fetcher=3, profiles sim+tls, ${HALO_COMPOSE_MUTATIONS:-600} mutations"
for r in $(seq "$runs"); do
  : >"$out"
  HALO_COMPOSE_STATS=$out HALO_SRC_DIR=$top bash "$top/tests/test_compose.sh" >/dev/null \
    || { echo "run $r: tests/test_compose.sh failed" >&2; exit 1; }
  awk -F'\t' -v run="$r" '
    NF == 2 { printf "run=%s %s=%s\n", run, $1, $2 }
    NF == 3 { k = $2; if ($1 == "idle") idle[k] = $3; else if ($3 > storm[k]) storm[k] = $3 }
    END { for (k in idle) printf "run=%s container=%s rss_idle_kib=%d rss_storm_max_kib=%d\n", run, k, idle[k], storm[k] }
  ' "$out" | sort
done

#!/usr/bin/env bash
# halo-ingest's and nginx's maximum throughput on the same machine under the
# same load generator: bench/ingest_vs_nginx.sh at each connection count of
# a sweep (default 32 64 128 256; R runs each, default 3), then each
# server's best median req/s over the sweep, the ratio of the two (target
# >= 0.5) and ingest's p99 at half of its best rate (target < 10 ms), taken
# from the series where ingest had its best.
#
# Why a sweep: wrk is closed-loop, each connection sends its next request
# when the answer comes, so with C connections a server whose every answer
# waits for a disk flush cannot exceed C / latency however little CPU it
# uses, while nginx (no flush) saturates the machine at few connections. A
# server's throughput is its rate once more connections no longer raise it.
#
#   bench/ingest_max_vs_nginx.sh [--runs R] [--connections "C1 C2 ..."] [--env NAME=VALUE]...
set -euo pipefail

runs=3 list="32 64 128 256" pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --connections) list=$2; shift 2 ;;
    --env) pass+=(--env "$2"); shift 2 ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
here=$(dirname "$0")
work=$(mktemp -d /tmp/halo-bench-max.XXXXXX)
trap 'rm -rf "$work"' EXIT
for c in $list; do
  echo "##### connections=$c"
  bash "$here/ingest_vs_nginx.sh" --runs "$runs" --connections "$c" ${pass[@]+"${pass[@]}"} | tee "$work/c$c.txt"
done
# best TARGET: "req_s conns" of the connection count with the highest median.
best() {
  for c in $list; do
    grep "^median: target=$1 conns=$c " "$work/c$c.txt" | tr ' ' '\n' | sed -n 's/^req_s=//p' | sed "s/\$/ $c/"
  done | sort -g -r | head -n 1
}
read -r nginx_rps nginx_c <<<"$(best nginx)"
read -r ingest_rps ingest_c <<<"$(best ingest)"
half=$(grep "^median: target=ingest half_rate=" "$work/c$ingest_c.txt")
echo "sweep: connections=\"$list\" runs=$runs"
echo "sweep: target=nginx best_req_s=$nginx_rps at_connections=$nginx_c"
echo "sweep: target=ingest best_req_s=$ingest_rps at_connections=$ingest_c"
echo "sweep: ingest at half its best rate (connections=$ingest_c): ${half#median: target=ingest }"
awk -v a="$ingest_rps" -v b="$nginx_rps" 'BEGIN {printf "sweep: ratio_best_ingest_best_nginx=%.3f\n", a / b}'

#!/usr/bin/env bash
# Diagnosis for bench/ingest_vs_nginx.sh: where halo-ingest's CPU goes, per
# thread, under the same kind of wrk load (2 threads, C connections, default
# 32, the bench body): each thread's CPU time per accepted webhook, its share
# of one core, and its voluntary and involuntary context switches per
# webhook, over 5 s of a 10 s run (from /proc/PID/task/*/stat and status).
# The HTTP thread is "MHD-single" (libmicrohttpd's name for it); the main
# loop, the registry refresh and the journal's flusher and preparer are all
# "halo-ingest" (with no fetcher connected, the busy one is the flusher).
# Threads that used no CPU in the window are not listed.
#
#   bench/ingest_thread_cpu.sh [--runs R] [--connections C] [--env NAME=VALUE]...
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 conns=32 extra_env=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --env) extra_env+=(--env "$2"); shift 2 ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq curl wrk
bench_build
work=$(mktemp -d /tmp/halo-bench-thr.XXXXXX)
cleanup() { rm -rf "$work"; bench_stack_stop; }
trap cleanup EXIT

bench_stack_start --fetchers 0 --tickets 200 ${extra_env[@]+"${extra_env[@]}"}
bench_connect 450 3
bench_wait_webhook_ready
bench_static_webhook "$work"
pid=$(stack_pid ingest)
hz=$(getconf CLK_TCK)
# snap: one line per thread: tid comm cpu_ticks voluntary nonvoluntary
snap() {
  for t in /proc/"$pid"/task/*; do
    echo "$(basename "$t") $(tr ' ' '_' <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")" \
      "$(awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2} END {print v, n}' "$t/status")"
  done | sort
}
count() { curl -fsS "$HALO_INGEST_ADMIN_URL/metrics" | awk '/^halo_webhook_received_total/ {s += $NF} END {print s + 0}'; }
bench_machine
echo "config: runs=$runs connections=$conns body_bytes=$(wc -c <"$work/body.json") window_s=5 env=\"${extra_env[*]+${extra_env[*]}}\""
for r in $(seq 1 "$runs"); do
  wrk -t2 -c"$conns" -d10s -s "$work/post.lua" "$BENCH_HOOK" >"$work/wrk.txt" &
  wrk_pid=$!
  sleep 2
  n0=$(count)
  snap >"$work/a"
  sleep 5
  snap >"$work/b"
  n1=$(count)
  wait "$wrk_pid"
  n=$((n1 - n0))
  join "$work/a" "$work/b" | awk -v r="$r" -v n="$n" -v hz="$hz" '
    { d = $7 - $3; if (d == 0) next
      printf "run=%d tid=%s thread=%s webhooks=%d cpu_us_per_webhook=%.1f core_share=%.2f vcs_per_webhook=%.3f nvcs_per_webhook=%.3f\n",
        r, $1, $2, n, d * 1e6 / hz / n, d / hz / 5, ($8 - $4) / n, ($9 - $5) / n }'
  awk -v r="$r" -v n="$n" '/Requests\/sec/ {printf "run=%d thread=all webhooks=%d wrk_req_s=%s\n", r, n, $2}' "$work/wrk.txt"
done

#!/usr/bin/env bash
# Memory and idle CPU of each process: VmRSS (/proc/PID/status) at idle and
# under a webhook storm, and CPU time (utime + stime, /proc/PID/stat) over
# 10 s of idle (no busy loops).
#
#   bench/rss_idle.sh [--runs R] [--fetchers N] [--idle-seconds S]
#
# Each run: a fresh stack (N fetchers, default 1), halo-sim with 2,000
# tickets and its window scaled to 450 per 3 s; haloctl connect, full sync,
# the backfill of the details the list rows lack (until no row wants one),
# then 5 s to settle.
#   idle:  RSS, and CPU over S = 10 s (percent of one core);
#   storm: RSS sampled every 0.1 s (maximum kept) while halo-sim sends the
#          duplicate-heavy storm of bench/api_efficiency.sh (400 tickets x 10
#          changes, duplicates 0.5) and then /_sim/storm (5,000 full-payload
#          deliveries about random tickets, 8 connections), until the ledger
#          is empty;
#   after: RSS 5 s after the storm drained.
# halo-sim is measured too but is a test tool, not part of the product.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 fetchers=1 idle=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --idle-seconds) idle=$2; shift 2 ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
SIM_ARGS=(--tickets 2000 --sites 60 --users 200 --invoices 300 --rate-limit 450 --rate-window 3)
hz=$(getconf CLK_TCK)
trap bench_stack_stop EXIT

procs() { echo ingest; for i in $(seq 1 "$fetchers"); do echo "fetcher-$i"; done; printf "%s\n" store monitor sim; }

one_run() {
  local run=$1 p pid storm_pid maxdir t0_ticks=() t1_ticks=() i idle_rss=() storm2 deliveries
  bench_stack_start --fetchers "$fetchers" "${SIM_ARGS[@]}"
  bench_connect 450 3
  bench_wait_full_sync 300
  bench_wait_details 300
  bench_wait_webhook_ready
  sim_post /_sim/config "{\"webhook_url\":\"$BENCH_HOOK\"}" >/dev/null
  sleep 5
  local names
  mapfile -t names < <(procs)
  for i in "${!names[@]}"; do t0_ticks[i]=$(pid_cpu_ticks "$(stack_pid "${names[$i]}")"); done
  sleep "$idle"
  for i in "${!names[@]}"; do
    pid=$(stack_pid "${names[$i]}")
    t1_ticks[i]=$(pid_cpu_ticks "$pid")
    idle_rss[i]=$(pid_rss_kib "$pid")
  done

  # The storm, with RSS sampled every 0.1 s until the ledger is empty again.
  maxdir=$BENCH_STACK_DIR/rss
  mkdir -p "$maxdir"
  for p in "${names[@]}"; do echo 0 >"$maxdir/$p"; done
  (
    while [ ! -e "$maxdir/stop" ]; do
      for p in "${names[@]}"; do
        r=$(pid_rss_kib "$(stack_pid "$p")" 2>/dev/null || echo 0)
        [ "${r:-0}" -gt "$(cat "$maxdir/$p")" ] && echo "$r" >"$maxdir/$p"
      done
      sleep 0.1
    done
  ) &
  storm_pid=$!
  bench_mark_deliveries
  deliveries=$(bench_storm "$HALO_SIM_URL" 400 10 0.5 4 | jq .deliveries)
  storm2=$(sim_post /_sim/storm '{"count":5000,"concurrency":8,"entity":"tickets","payload":"full"}')
  deliveries=$((deliveries + $(jq .deliveries <<<"$storm2")))
  bench_wait_drained "$deliveries" 300 || true
  touch "$maxdir/stop"
  wait "$storm_pid" || true
  sleep 5
  for i in "${!names[@]}"; do
    p=${names[$i]}
    echo "run=$run proc=$p idle_rss_kib=${idle_rss[$i]}" \
      "idle_cpu_pct=$(awk -v d=$((t1_ticks[i] - t0_ticks[i])) -v hz="$hz" -v s="$idle" 'BEGIN {printf "%.2f", d / hz / s * 100}')" \
      "storm_max_rss_kib=$(cat "$maxdir/$p") after_rss_kib=$(pid_rss_kib "$(stack_pid "$p")")"
  done
  echo "run=$run storm: deliveries=$deliveries sim_storm=$(jq -c '{bodies, acked, failed, per_second, latency_ms}' <<<"$storm2")"
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" fetchers=$fetchers idle_s=$idle clk_tck=$hz"
bench_runs "$runs"
out=$BENCH_OUT
for p in $(procs); do
  sel=$(grep " proc=$p " <<<"$out")
  printf 'median: proc=%s idle_rss_mib=%s idle_cpu_pct=%s storm_max_rss_mib=%s after_rss_mib=%s\n' "$p" \
    "$(field idle_rss_kib <<<"$sel" | median | awk '{printf "%.1f", $1 / 1024}')" \
    "$(field idle_cpu_pct <<<"$sel" | median)" \
    "$(field storm_max_rss_kib <<<"$sel" | median | awk '{printf "%.1f", $1 / 1024}')" \
    "$(field after_rss_kib <<<"$sel" | median | awk '{printf "%.1f", $1 / 1024}')"
done

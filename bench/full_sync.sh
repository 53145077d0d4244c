#!/usr/bin/env bash
# Full-sync wall time against the rate budget's lower bound, 100,000 tickets.
#
#   bench/full_sync.sh [--runs R] [--window W] [--fetchers N] [--tickets T] [--headroom H] [--reserve S]
#                      [--users U] [--coverage] [--parallel-pages K]
#
# Halo's limit is 450 requests per 300 s; halo-sim's window is scaled down to
# W seconds (default 30: 10x faster than Halo) with the same 450, and the
# tenant is connected with the same limit and window (headroom H, default 0.9,
# so its budget is B = floor(450 * H) = 405 requests per W). Data: T tickets
# (default 100,000 = 1,000 pages), 30 sites, 100 users, 100 invoices (one
# page each). Each run is a fresh stack; `haloctl connect` ("Save And Sync"),
# then the script waits until PostgreSQL says every full sync is done.
#
# Counted (halo-sim's request log): C = every API request that used the budget
# (connect's 4 checks and every page); pages, against the lower bound
# sum(max(1, ceil(records/100))); 429s.
# Times: wall_connect = from `haloctl connect` returning to the last entity
# done in PostgreSQL (full_finished_at, the last page's transaction);
# wall_first = from the first page request to the same moment;
# requests_span = from the first page request to the last (the rest is store catching up).
# Bounds for C requests under "at most B per window W":
#   bound_rate  = C * W / B                  (the budget's sustained rate)
#   bound_burst = floor((C - 1) / B) * W     (bursting B at the start of each window: Halo's own bound)
#   limiter     = floor((C - 1) / cap) * (W + safety): the schedule halo-fetcher's
#                 rolling-window limiter allows a sync (docs/fetcher.md: cap = B less
#                 the webhook reserve S (HALO_FETCH_RESERVE, default 0.2), safety min(W/5, 1 s)),
#                 with a pipeline of no duration
# ratio_connect and ratio_first are against bound_burst.
# --parallel-pages K: HALO_SYNC_PARALLEL_PAGES=K for the fetchers (page requests
# of one sync run in flight at once; unset: the fetcher's default, 4).
# --users U: U users instead of 100. --coverage (issue 16): after the full sync,
# waits until no row wants a detail (halo-sim's default spec profile: every
# listed site, user and invoice wants one; the backfill GETs them with the
# budget the sync left) and adds: detail_rows, detail_gets (single GETs of
# sites, users, invoices in the log), full_coverage_s (the last
# detail_fetched_at minus the full sync's end), coverage_bound_s =
# detail_rows * W / B (the budget's steady rate), halo_hours = full_coverage_s
# * 300 / W / 3600 (the same at Halo's 300 s window), worst_window (the most
# counted requests in any W of the log, against B) and a coverage series
# (t_s:fetched/live every 5 s from the full sync's end).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 window=30 fetchers=1 tickets=100000 headroom=0.9 reserve=0.2 users=100 coverage=0 parallel=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --tickets) tickets=$2; shift 2 ;;
    --headroom) headroom=$2; shift 2 ;;
    --reserve) reserve=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --coverage) coverage=1; shift ;;
    --parallel-pages) parallel=$2; shift 2 ;;
    *) sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
SIM_ARGS=(--tickets "$tickets" --sites 30 --users "$users" --invoices 100 --rate-limit 450 --rate-window "$window")
trap bench_stack_stop EXIT

# coverage_run RUN T_SYNC_MS BUDGET: waits until no row wants a detail, prints the coverage line.
coverage_run() {
  local run=$1 t_sync=$2 budget=$3 deadline c series="" t next=0 full rows gets
  deadline=$(($(date +%s) + window * 400 + 600))
  while :; do
    c=$(bench_detail_coverage)
    t=$(awk -v ms=$(($(now_ms) - t_sync)) 'BEGIN {printf "%.0f", ms / 1000}')
    if [ "$t" -ge "$next" ]; then
      series+="$t:$(field fetched <<<"$c")/$(field live <<<"$c") "
      next=$((t + 5))
    fi
    [ "$(field wanting <<<"$c")" = 0 ] && break
    [ "$(date +%s)" -ge "$deadline" ] && die "detail coverage not full after $((window * 400 + 600)) s: $c"
    sleep 1
  done
  full=$(bench_psql "SELECT round((extract(epoch FROM max(f)) * 1000 - $t_sync)::numeric / 1000, 1) FROM (
      SELECT max(detail_fetched_at) AS f FROM halo.sites UNION ALL SELECT max(detail_fetched_at) FROM halo.users
      UNION ALL SELECT max(detail_fetched_at) FROM halo.invoices) m")
  rows=$(field live <<<"$c")
  gets=$(jq -s '[.[] | select(.counted and (.path | test("/(Site|Users|Invoice)/[0-9]")))] | length' "$BENCH_REQLOG")
  awk -v run="$run" -v R="$rows" -v G="$gets" -v F="$full" -v W="$window" -v B="$budget" \
    -v ww="$(reqlog_worst_window "$BENCH_REQLOG" $((window * 1000)) | grep "^tenant=$BENCH_TENANT " | field worst_window)" \
    'BEGIN { printf "coverage run=%d detail_rows=%d detail_gets=%d full_coverage_s=%.1f coverage_bound_s=%.1f", run, R, G, F, R * W / B
      printf " halo_hours=%.2f backfill_rps=%.2f budget_rps=%.2f worst_window=%d budget=%d\n", F * 300 / W / 3600, G / F, B / W, ww, B }'
  echo "coverage_series run=$run $series"
}

one_run() {
  local run=$1 t_conn t_done stats bound log counted pages n429 t_first t_last budget
  local env=(--env "HALO_FETCH_RESERVE=$reserve")
  [ -n "$parallel" ] && env+=(--env "HALO_SYNC_PARALLEL_PAGES=$parallel")
  bench_stack_start --fetchers "$fetchers" "${env[@]}" "${SIM_ARGS[@]}"
  bench_connect 450 "$window" --headroom "$headroom"
  t_conn=$(now_ms)
  bench_wait_full_sync $((window * 20 + 600))
  t_done=$(bench_psql "SELECT (extract(epoch FROM max(full_finished_at)) * 1000)::bigint FROM halo.sync_state")
  stats=$(curl -fsS "$HALO_SIM_URL/_sim/stats")
  bound=$(jq '[.counts[] | .live] | map(if . == 0 then 1 else ((. + 99) / 100 | floor) end) | add' <<<"$stats")
  log=$(jq -cs '.' "$BENCH_REQLOG")
  counted=$(jq '[.[] | select(.counted)] | length' <<<"$log")
  pages=$(jq '[.[] | select(.counted and (.path | test("page_size=100")))] | length' <<<"$log")
  n429=$(jq '[.[] | select(.status == 429)] | length' <<<"$log")
  t_first=$(jq '[.[] | select(.path | test("page_size=100")) | .ts_ms] | min' <<<"$log")
  t_last=$(jq '[.[] | select(.path | test("page_size=100")) | .ts_ms] | max' <<<"$log")
  budget=$(awk -v h="$headroom" 'BEGIN {printf "%d", 450 * h + 1e-9}')
  awk -v run="$run" -v C="$counted" -v P="$pages" -v PB="$bound" -v n429="$n429" -v W="$window" -v B="$budget" \
    -v wc="$((t_done - t_conn))" -v wf="$((t_done - t_first))" -v wr="$((t_last - t_first))" -v N="$fetchers" \
    -v S="$reserve" 'BEGIN {
      held = B * S; if (held > int(held) + 1e-9) held = int(held) + 1; else held = int(held)
      cap = B - held; if (cap < 1) cap = 1
      safety = W / 5; if (safety > 1) safety = 1
      rate = C * W / B; bursty = int((C - 1) / B) * W
      lim = int((C - 1) / cap) * (W + safety)
      printf "run=%d fetchers=%d window_s=%s budget=%d reserve=%s sync_cap=%d counted_requests=%d pages=%d pages_bound=%d http_429=%d", \
        run, N, W, B, S, cap, C, P, PB, n429
      printf " wall_connect_s=%.2f wall_first_s=%.2f requests_span_s=%.2f bound_rate_s=%.2f bound_burst_s=%.2f limiter_s=%.2f", \
        wc / 1000, wf / 1000, wr / 1000, rate, bursty, lim
      b = bursty > 0 ? bursty : 1
      printf " ratio_connect=%.3f ratio_first=%.3f ratio_limiter=%.3f\n", wc / 1000 / b, wf / 1000 / b, (lim > 0 ? wr / 1000 / lim : 0) }'
  [ "$coverage" = 1 ] && coverage_run "$run" "$t_done" "$budget"
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" tenant=\"--rate-limit 450 --rate-window $window --headroom $headroom\"" \
  "scaling=\"window 300 s -> $window s ($(awk -v w="$window" 'BEGIN {printf "%g", 300 / w}')x faster)\" fetchers=$fetchers reserve=$reserve" \
  "parallel_pages=${parallel:-default}"
bench_runs "$runs"
out=$BENCH_OUT
[ "$coverage" = 1 ] && printf 'median_coverage: runs=%s window_s=%s full_coverage_s=%s coverage_bound_s=%s halo_hours=%s worst_window_max=%s\n' \
  "$runs" "$window" "$(field full_coverage_s <<<"$out" | median)" "$(field coverage_bound_s <<<"$out" | median)" \
  "$(field halo_hours <<<"$out" | median)" "$(field worst_window <<<"$out" | sort -n | tail -n 1)"
printf 'median: runs=%s window_s=%s reserve=%s pages=%s pages_bound=%s http_429_max=%s wall_connect_s=%s wall_first_s=%s requests_span_s=%s bound_burst_s=%s limiter_s=%s ratio_connect=%s ratio_first=%s ratio_limiter=%s\n' \
  "$runs" "$window" "$reserve" "$(field pages <<<"$out" | median)" "$(field pages_bound <<<"$out" | median)" \
  "$(field http_429 <<<"$out" | sort -n | tail -n 1)" "$(field wall_connect_s <<<"$out" | median)" \
  "$(field wall_first_s <<<"$out" | median)" "$(field requests_span_s <<<"$out" | median)" \
  "$(field bound_burst_s <<<"$out" | median)" "$(field limiter_s <<<"$out" | median)" \
  "$(field ratio_connect <<<"$out" | median)" "$(field ratio_first <<<"$out" | median)" "$(field ratio_limiter <<<"$out" | median)"

#!/usr/bin/env bash
# Webhook-to-row freshness with budget available: the time from halo-sim
# creating and sending a webhook (the delivery's "timestamp") to the ticket's
# row being written in PostgreSQL (synced_at, set by halo-store's
# transaction).
#
#   bench/freshness.sh [--runs R] [--rate M] [--seconds S] [--fetchers N] [--settle-ms MS]
#                      [--during-sync TICKETS] [--window W] [--backfill on|off] [--users U]
#                      [--coverage-timeout S] [--env HALO_NAME=VALUE]...
#
# Each run: a fresh stack, halo-sim with 2,000 tickets and its window scaled
# to 450 requests per 3 s (the tenant connected with the same, headroom 0.9:
# 135 requests/s of budget against M = 10 changes/s, so the limiter never
# waits); full sync; then for S = 30 s, M times a second, one /_sim/mutate
# updating a ticket not changed before in the run, with its webhook (no
# duplicates, no batches). When the ledger is empty: per change,
# synced_at - timestamp (total), received_at - timestamp (halo-sim to ingest's
# journal; received_at is ingest's accept time in webhook_deliveries) and
# synced_at - received_at (ingest to row). synced_at is now() of store's
# transaction, i.e. its start: the commit follows within that batch's write
# time. --env passes any other setting to every process (scripts/stack.sh
# start --env), e.g. HALO_FETCH_IDLE_MS=20. not_rewritten counts changes whose row was not written after the
# webhook (must be 0). --settle-ms sets HALO_FETCH_SETTLE_MS (default: the fetcher's, 1000).
# --during-sync TICKETS: halo-sim has TICKETS tickets and a window of W s
# (default 30; the tenant the same), and the changes are sent while the
# connect's full sync runs at the limit: from the moment the sync has used
# its cap of the window (the budget less HALO_FETCH_RESERVE's share) on. The
# webhook fetches then have only the reserve (--env HALO_FETCH_RESERVE=0: none).
#
# The detail backfill (issue 16): halo-sim runs its default spec profile, so the
# list rows of sites, users and invoices lack fields and each row a page shows
# wants its detail. --backfill sets HALO_FETCH_BACKFILL (default: the fetcher's,
# on); --users U (default 200) gives the backfill enough rows to still be
# running during the storm (10,000 users = 10,000 GETs, ~74 s at the whole
# budget). Per run, besides the freshness line: `window`, the most counted
# requests of the tenant in any 3 s of halo-sim's request log (the budget is
# 405); `coverage`, sites + users + invoices sampled every second from the end
# of the full sync (t_s:fetched/live, fetched = rows with a detail_fetched_at),
# and with the backfill on, full_coverage_s = the last detail_fetched_at of the
# rows minus the full sync's end, once no row wants a detail (waiting at most
# --coverage-timeout s after the storm, default 600). 3 s is Halo's 300 s
# scaled 100x: full_coverage_s x 100 is the time at Halo's budget when the
# backfill is budget-bound (backfill_rps near 135 minus the storm's rate).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 rate=10 seconds=30 fetchers=1 settle="" extra=() during="" window=3 backfill="" users=200 cov_timeout=600
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --settle-ms) settle=$2; shift 2 ;;
    --env) extra+=(--env "$2"); shift 2 ;;
    --during-sync) during=$2; window=30; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --backfill) backfill=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --coverage-timeout) cov_timeout=$2; shift 2 ;;
    *) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl shuf
bench_build
TICKETS=2000
case "$backfill" in "" | on | off) ;; *) die "--backfill on|off" ;; esac
SIM_ARGS=(--tickets "${during:-$TICKETS}" --sites 60 --users "$users" --invoices 300 --rate-limit 450 --rate-window "$window")
count=$((rate * seconds))
[ "$count" -le "$TICKETS" ] || die "rate * seconds must be at most $TICKETS (one change per ticket)"
trap bench_stack_stop EXIT

# coverage_sampler T_SYNC_MS FILE: every second, `t_s:fetched/live` of the backfilled
# entities since the full sync's end, into FILE (runs until killed).
coverage_sampler() {
  local c
  while :; do
    c=$(bench_detail_coverage 2>/dev/null) || c=""
    [ -n "$c" ] && printf '%s:%s/%s\n' "$(awk -v ms=$(($(now_ms) - $1)) 'BEGIN {printf "%.0f", ms / 1000}')" \
      "$(field fetched <<<"$c")" "$(field live <<<"$c")" >>"$2"
    sleep 1
  done
}

# coverage_report RUN T_SYNC_MS: waits (backfill on) until no row wants a detail, then
# prints the run's coverage line.
coverage_report() {
  local run=$1 t_sync=$2 deadline=$(($(date +%s) + cov_timeout)) c full="not_reached" gets
  while [ "$backfill" != off ]; do
    c=$(bench_detail_coverage)
    if [ "$(field wanting <<<"$c")" = 0 ]; then
      full=$(bench_psql "SELECT round((extract(epoch FROM max(f)) * 1000 - $t_sync)::numeric / 1000, 1) FROM (
          SELECT max(detail_fetched_at) AS f FROM halo.sites UNION ALL SELECT max(detail_fetched_at) FROM halo.users
          UNION ALL SELECT max(detail_fetched_at) FROM halo.invoices) m")
      break
    fi
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 1
  done
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  c=$(bench_detail_coverage)
  # Backfill GETs: single-object GETs of sites, users and invoices (the storm only changes tickets).
  gets=$(jq -s '[.[] | select(.counted and (.path | test("/(Site|Users|Invoice)/[0-9]")))] | length' "$BENCH_REQLOG")
  echo "coverage run=$run backfill=${backfill:-default} $c detail_gets=$gets full_coverage_s=$full" \
    "backfill_rps=$(awk -v g="$gets" -v s="$full" 'BEGIN {if (s + 0 > 0) printf "%.1f", g / s; else print "-"}')"
  echo "coverage_series run=$run $(tr '\n' ' ' <"$BENCH_STACK_DIR/coverage.txt")"
}

# start_coverage: from the full sync's end on, samples the detail coverage in
# the background (sets one_run's t_sync and sampler).
start_coverage() {
  t_sync=$(bench_psql "SELECT (extract(epoch FROM max(full_finished_at)) * 1000)::bigint FROM halo.sync_state")
  : >"$BENCH_STACK_DIR/coverage.txt"
  coverage_sampler "$t_sync" "$BENCH_STACK_DIR/coverage.txt" &
  sampler=$!
}

one_run() {
  local run=$1 env=() samples t0 i id due now out sync_running="" t_sync sampler
  [ -n "$settle" ] && env=(--env "HALO_FETCH_SETTLE_MS=$settle")
  [ -n "$backfill" ] && env+=(--env "HALO_FETCH_BACKFILL=$backfill")
  env+=(${extra[@]+"${extra[@]}"})
  bench_stack_start --fetchers "$fetchers" ${env[@]+"${env[@]}"} "${SIM_ARGS[@]}"
  bench_connect 450 "$window"
  if [ -n "$during" ]; then
    # The sync at the limit: 300 grants in the window is past the sync cap's
    # reach of any reserve up to 0.25 (324 at 0.2), and it is still running.
    local deadline=$(($(date +%s) + 120)) used
    until used=$(bench_psql "SELECT cardinality(grants) FROM halo.rate_limits") && [ "${used:-0}" -ge 300 ]; do
      [ "$(date +%s)" -lt "$deadline" ] || die "the full sync did not reach the limit (grants in the window: ${used:-0})"
      sleep 0.1
    done
    [ "$(bench_psql "SELECT count(*) FROM halo.sync_state WHERE full_status = 'running' OR full_requested")" -gt 0 ] \
      || die "the full sync ended before the changes: use more tickets"
  else
    bench_wait_full_sync 300
    start_coverage
  fi
  bench_wait_webhook_ready
  sim_post /_sim/config "{\"webhook_url\":\"$BENCH_HOOK\"}" >/dev/null
  bench_mark_deliveries
  samples=$BENCH_STACK_DIR/samples.tsv
  : >"$samples"
  t0=$(now_ms)
  i=0
  for id in $(shuf -i 1-"$TICKETS" -n "$count"); do
    due=$((t0 + i * 1000 / rate))
    now=$(now_ms)
    [ "$due" -gt "$now" ] && sleep "$(awk -v ms=$((due - now)) 'BEGIN {printf "%.3f", ms / 1000}')"
    out=$(sim_post /_sim/mutate "{\"ops\":[{\"kind\":\"ticket_update\",\"id\":$id}],\"duplicates\":0,\"batch\":0,\"return_bodies\":true}")
    jq -r --argjson id "$id" '.bodies[0] | "\($id)\t\(.id)\t\(.timestamp)"' <<<"$out" >>"$samples"
    i=$((i + 1))
  done
  if [ -n "$during" ]; then
    sync_running=$(bench_psql "SELECT count(*) FROM halo.sync_state WHERE full_status = 'running' OR full_requested")
    bench_wait_full_sync $((window * 20 + 300))
    start_coverage
  fi
  bench_wait_drained "$count" 120 || true
  bench_psql "CREATE TABLE bench_samples (id bigint, delivery_id text, sent_at timestamptz)" >/dev/null
  psql "$HALO_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "\\copy bench_samples FROM '$samples'"
  bench_psql "WITH s AS (
      SELECT extract(epoch FROM t.synced_at - b.sent_at) * 1000 AS total,
             extract(epoch FROM d.received_at - b.sent_at) * 1000 AS to_ingest,
             extract(epoch FROM t.synced_at - d.received_at) * 1000 AS to_row,
             extract(epoch FROM t.fetched_at - d.received_at) * 1000 AS to_fetch
      FROM bench_samples b
      JOIN halo.tickets t ON t.id = b.id
      LEFT JOIN halo.webhook_deliveries d ON d.delivery_id = b.delivery_id)
    SELECT format('run=$run fetchers=$fetchers settle_ms=${settle:-default} backfill=${backfill:-default}${during:+ during_sync=$during sync_running_at_end=$sync_running} changes=%s rows=%s not_rewritten=%s'
                  ' p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s'
                  ' to_ingest_p50_ms=%s to_ingest_p99_ms=%s to_row_p50_ms=%s to_row_p99_ms=%s'
                  ' to_fetch_p50_ms=%s to_fetch_p99_ms=%s',
      (SELECT count(*) FROM bench_samples), count(*), count(*) FILTER (WHERE total < 0),
      round(percentile_cont(0.5) WITHIN GROUP (ORDER BY total)::numeric, 1),
      round(percentile_cont(0.9) WITHIN GROUP (ORDER BY total)::numeric, 1),
      round(percentile_cont(0.99) WITHIN GROUP (ORDER BY total)::numeric, 1),
      round(max(total)::numeric, 1),
      $(bench_sql_p50_p99 to_ingest to_row to_fetch))
    FROM s"
  coverage_report "$run" "$t_sync"
  echo "window run=$run $(reqlog_worst_window "$BENCH_REQLOG" $((window * 1000)) | grep "^tenant=$BENCH_TENANT ") budget=405"
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" tenant=\"--rate-limit 450 --rate-window $window (headroom 0.9)\"" \
  "load=\"$rate changes/s for $seconds s, one webhook each\" fetchers=$fetchers settle_ms=${settle:-default}" \
  "env=\"${extra[*]:-}\"" backfill="${backfill:-default}" sim_profile="spec (halo-sim's default)"
bench_runs "$runs"
out=$BENCH_OUT
printf 'median: runs=%s settle_ms=%s backfill=%s p50_ms=%s p99_ms=%s to_ingest_p50_ms=%s to_row_p50_ms=%s' "$runs" \
  "${settle:-default}" "${backfill:-default}" "$(field p50_ms <<<"$out" | median)" "$(field p99_ms <<<"$out" | median)" \
  "$(field to_ingest_p50_ms <<<"$out" | median)" "$(field to_row_p50_ms <<<"$out" | median)"
printf ' worst_window_max=%s full_coverage_s=%s\n' "$(field worst_window <<<"$out" | sort -n | tail -n 1)" \
  "$(field full_coverage_s <<<"$out" | grep -v not_reached | median || echo not_reached)"

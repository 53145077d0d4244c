#!/usr/bin/env bash
# Idle cost of many connected tenants on one stack (issue 21): CPU over an
# idle window and VmRSS of every process, PostgreSQL included, with N
# tenants (default 1,000) connected and synced, and 2 fetchers.
#
#   bench/many_tenants_idle.sh [--tenants N] [--fetchers F] [--idle-seconds S] [--runs R] [--explain]
#
# Each run: a fresh stack, halo-sim with a small data set and a budget far
# above what the fetchers use; haloctl connect of one tenant and its full
# sync; then N - 1 copies of that tenant (its registry row, sync state,
# limiter row and token, by SQL: the same Halo behind every copy) so N
# tenants are connected and synced; a webhook probe to the last copy proves
# ingest knows it. After 15 s to settle (every cache has seen the copies),
# CPU (utime + stime, /proc) over S = 30 s with no webhook and no
# incremental sync due (the copies' incremental clocks start at the copy,
# HALO_SYNC_INCREMENTAL_S = 300 s later), and RSS at the end. PostgreSQL is
# the postmaster and every backend. Also the monitor's /api/status time
# (median of 5) with N tenants, and halo-sim's requests in the window. BENCH_BUILD_DIR picks the binaries (a
# build of another commit gives the "before" figure). --explain, after the
# last run: 10 ledger rows per tenant (due tomorrow, so nobody leases them)
# and EXPLAIN ANALYZE of the fetchers' hot-path statements
# (bench/many_tenants_explain.sql) against these N tenants' rows.
set -euo pipefail
export BENCH_STACK_DIR=${BENCH_STACK_DIR:-/tmp/halo-bench-many-tenants}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-29500}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

tenants=1000 fetchers=2 idle=30 runs=1 explain=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tenants) tenants=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --idle-seconds) idle=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --explain) explain=1; shift ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
SIM_ARGS=(--tickets 20 --sites 5 --users 5 --invoices 5 --rate-limit 100000 --rate-window 1)
hz=$(getconf CLK_TCK)
trap bench_stack_stop EXIT

procs() { echo ingest; for i in $(seq 1 "$fetchers"); do echo "fetcher-$i"; done; printf "%s\n" store monitor sim; }

# pg_ticks: CPU ticks of the postmaster and its live backends.
pg_ticks() {
  local pm c sum
  pm=$(head -n 1 "$(readlink -f "$BENCH_STACK_DIR/pg")/data/postmaster.pid")
  sum=$(pid_cpu_ticks "$pm")
  for c in $(ps --ppid "$pm" -o pid=); do
    sum=$((sum + $(pid_cpu_ticks "$c" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

# pg_rss_kib: summed VmRSS of the postmaster and its backends (shared buffers counted in each).
pg_rss_kib() {
  local pm c sum
  pm=$(head -n 1 "$(readlink -f "$BENCH_STACK_DIR/pg")/data/postmaster.pid")
  sum=$(pid_rss_kib "$pm")
  for c in $(ps --ppid "$pm" -o pid=); do sum=$((sum + $(pid_rss_kib "$c" 2>/dev/null || echo 0))); done
  echo "$sum"
}

# copy_tenant N: N - 1 copies of tenant 'bench' with everything that makes it connected and synced.
copy_tenant() {
  local copy
  bench_psql "INSERT INTO halo.tenants SELECT (jsonb_populate_record(NULL::halo.tenants, to_jsonb(t)
      || jsonb_build_object('id', nextval('halo.tenants_id_seq'), 'slug', 'bench' || i))).*
    FROM halo.tenants t, generate_series(2, $1) i WHERE t.slug = 'bench'"
  for copy in sync_state rate_limits tenant_tokens; do
    bench_psql "INSERT INTO halo.$copy SELECT (jsonb_populate_record(NULL::halo.$copy, to_jsonb(s)
        || jsonb_build_object('tenant_id', n.id))).*
      FROM halo.$copy s JOIN halo.tenants o ON o.id = s.tenant_id AND o.slug = 'bench'
      JOIN halo.tenants n ON n.slug <> 'bench'"
  done
}

one_run() {
  local run=$1 i t0=() t1=() rss=() names pg0 pg1 w0 w1 hook code st
  bench_stack_start --fetchers "$fetchers" "${SIM_ARGS[@]}"
  bench_connect 450 300
  bench_wait_full_sync 300
  bench_wait_webhook_ready
  copy_tenant "$tenants"
  hook=${BENCH_HOOK/\/hooks\/bench\//\/hooks\/bench$tenants\/}
  for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -d "{\"id\":\"probe-$i\",\"event\":\"bench probe\",\"object_id\":0}" "$hook" || true)
    case "$code" in 2??) break ;; esac
    sleep 0.1
  done
  case "$code" in 2??) ;; *) die "ingest does not know tenant bench$tenants (status $code)" ;; esac
  sleep 15
  mapfile -t names < <(procs)
  for i in "${!names[@]}"; do t0[i]=$(pid_cpu_ticks "$(stack_pid "${names[$i]}")"); done
  pg0=$(pg_ticks)
  w0=$(now_ms)
  sleep "$idle"
  for i in "${!names[@]}"; do
    t1[i]=$(pid_cpu_ticks "$(stack_pid "${names[$i]}")")
    rss[i]=$(pid_rss_kib "$(stack_pid "${names[$i]}")")
  done
  pg1=$(pg_ticks)
  w1=$(now_ms)
  for i in "${!names[@]}"; do
    echo "run=$run proc=${names[$i]} rss_kib=${rss[$i]}" \
      "idle_cpu_pct=$(awk -v d=$((t1[i] - t0[i])) -v hz="$hz" -v s="$idle" 'BEGIN {printf "%.2f", d / hz / s * 100}')"
  done
  echo "run=$run proc=postgres rss_kib=$(pg_rss_kib)" \
    "idle_cpu_pct=$(awk -v d=$((pg1 - pg0)) -v hz="$hz" -v s="$idle" 'BEGIN {printf "%.2f", d / hz / s * 100}')"
  st=$(for i in 1 2 3 4 5; do
    curl -fsS -o /dev/null -w '%{time_total}\n' "http://$HALO_MONITOR_LISTEN/api/status"
  done | median)
  echo "run=$run tenants=$(bench_psql "SELECT count(*) FROM halo.tenants") monitor_api_status_ms=$(awk -v s="$st" 'BEGIN {printf "%.1f", s * 1000}')" \
    "sim_requests_in_window=$(jq -s --argjson a "$w0" --argjson b "$w1" '[.[] | select(.ts_ms >= $a and .ts_ms < $b)] | length' "$BENCH_REQLOG")"
  if [ "$explain" = 1 ] && [ "$run" = "$runs" ]; then
    bench_psql "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)
      SELECT t.id, 'ticket', o, now() + interval '1 day' FROM halo.tenants t, generate_series(1, 10) o
      ON CONFLICT DO NOTHING; ANALYZE halo.fetch_queue; ANALYZE halo.sync_state; ANALYZE halo.rate_limits"
    echo "explain: tenants=$(bench_psql "SELECT count(*) FROM halo.tenants")" \
      "fetch_queue=$(bench_psql "SELECT count(*) FROM halo.fetch_queue")" \
      "sync_state=$(bench_psql "SELECT count(*) FROM halo.sync_state")" \
      "rate_limits=$(bench_psql "SELECT count(*) FROM halo.rate_limits")" \
      "tickets=$(bench_psql "SELECT count(*) FROM halo.tickets")"
    psql "$HALO_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f "$(dirname "$0")/many_tenants_explain.sql"
  fi
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" tenants=$tenants fetchers=$fetchers idle_s=$idle clk_tck=$hz bin=$HALO_BIN_DIR"
bench_runs "$runs"
out=$BENCH_OUT
for p in $(procs) postgres; do
  sel=$(grep " proc=$p " <<<"$out")
  printf 'median: proc=%s rss_mib=%s idle_cpu_pct=%s\n' "$p" \
    "$(field rss_kib <<<"$sel" | median | awk '{printf "%.1f", $1 / 1024}')" \
    "$(field idle_cpu_pct <<<"$sel" | median)"
done

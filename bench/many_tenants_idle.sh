#!/usr/bin/env bash
# Idle cost of many connected tenants on one stack (issue 21): CPU over an
# idle window and VmRSS of every process, PostgreSQL included, with N
# tenants (default 1,000) connected and synced, and 2 fetchers.
#
#   bench/many_tenants_idle.sh [--tenants N] [--fetchers F] [--parallel P] [--idle-seconds S]
#                              [--incremental-s I] [--runs R] [--explain]
#
# Each run: a fresh stack with halo-sim --tenants N --tenant-data own (tenant
# k is Halo tenant bench-k with its own secret, its own small data set
# generated from seed + k - 1, and its own webhook target; a budget far above
# what the fetchers use); haloctl connect of each of the N tenants as a user
# does it ("Save And Sync", own name, --halo-tenant and secret), P = 8 at a
# time, timed (connect_s); every tenant's full sync, timed from the first
# connect (full_sync_s), then the detail backfill of the sites, users and
# invoices whose list rows lack fields (details_s, from the first connect:
# until no row wants its detail); each tenant's webhook URL given to its
# halo-sim tenant (/_sim/config?tenant=); a probe: a new ticket in the last tenant
# only, sent by its webhook, must reach PostgreSQL under that tenant with
# halo-sim's summary (and under no other). After 15 s to settle, CPU (utime +
# stime, /proc) over S = 30 s, and RSS at the end. No incremental sync falls
# in the window: HALO_SYNC_INCREMENTAL_S = I (default 3600) for the stack, as
# N full syncs spread over minutes would otherwise start theirs during it.
# PostgreSQL is the postmaster and every backend, also split by who spends it
# (postgres_cpu_pct_by_kind: the backends of each halo process by their
# application_name, autovacuum, walwriter, checkpointer...). Also the monitor's
# /api/status time (median of 5) with N tenants, and halo-sim's requests in
# the window. BENCH_BUILD_DIR picks the binaries (a build of another commit
# gives the "before" figure). --explain, after the last run: 10 ledger rows
# per tenant (due tomorrow, so nobody leases them) and EXPLAIN ANALYZE of the
# fetchers' hot-path statements (bench/many_tenants_explain.sql) against
# these N tenants' rows.
set -euo pipefail
export BENCH_STACK_DIR=${BENCH_STACK_DIR:-/tmp/halo-bench-many-tenants}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-29500}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

tenants=1000 fetchers=2 parallel=8 idle=30 incremental=3600 runs=1 explain=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tenants) tenants=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --idle-seconds) idle=$2; shift 2 ;;
    --incremental-s) incremental=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --explain) explain=1; shift ;;
    *) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
SIM_ARGS=(--tickets 20 --sites 5 --users 5 --invoices 5 --rate-limit 100000 --rate-window 1
  --tenants "$tenants" --tenant-data own)
hz=$(getconf CLK_TCK)
trap bench_stack_stop EXIT

procs() { echo ingest; for i in $(seq 1 "$fetchers"); do echo "fetcher-$i"; done; printf "%s\n" store monitor sim; }

# probe_last_tenant: a new ticket in the last tenant only, sent by its webhook
# (event payload: ingest fetches it); waits until PostgreSQL has it under that
# tenant with halo-sim's summary. Prints "probe_ms=…" or dies.
probe_last_tenant() {
  local slug out id summary t0 got i
  slug=$(bench_tenant_slug "$tenants")
  t0=$(now_ms)
  out=$(sim_post "/_sim/mutate?tenant=$slug" '{"ops":[{"kind":"ticket_new"}],"payload":"event"}')
  [ "$(jq '.webhooks.sent' <<<"$out")" = 1 ] || die "probe webhook not sent: $out"
  id=$(jq '.mutations[0].id' <<<"$out")
  summary=$(curl -fsS "$HALO_SIM_URL/_sim/dump?entity=tickets&tenant=$slug" | jq -r --argjson id "$id" '.tickets[] | select(.id == $id) | .summary')
  for i in $(seq 1 300); do
    got=$(bench_psql "SELECT string_agg(t.slug || '=' || k.summary, ',') FROM halo.tickets k
        JOIN halo.tenants t ON t.id = k.tenant_id WHERE k.id = $id")
    [ -n "$got" ] && break
    sleep 0.1
  done
  [ "$got" = "$slug=$summary" ] || die "probe: ticket $id of $slug in PostgreSQL as '$got', halo-sim says '$summary'"
  echo "probe_ms=$(($(now_ms) - t0))"
}

one_run() {
  local run=$1 i t0=() t1=() rss=() names pg0 pg1 w0 w1 st c0 c1 c2 c3 probe
  bench_stack_start --fetchers "$fetchers" --env "HALO_SYNC_INCREMENTAL_S=$incremental" "${SIM_ARGS[@]}"
  c0=$(now_ms)
  bench_connect_tenants "$tenants" "$parallel" 450 300
  c1=$(now_ms)
  bench_wait_full_sync 1800
  c2=$(now_ms)
  bench_wait_details 1800
  c3=$(now_ms)
  bench_sim_set_hooks
  BENCH_HOOK=$(tail -n 1 "$BENCH_STACK_DIR/hooks")
  bench_wait_webhook_ready
  probe=$(probe_last_tenant)
  echo "run=$run tenants=$tenants connect_s=$(awk -v ms=$((c1 - c0)) 'BEGIN {printf "%.1f", ms / 1000}')" \
    "connect_ms_each=$(awk -v ms=$((c1 - c0)) -v n="$tenants" -v p="$parallel" 'BEGIN {printf "%.0f", ms * p / n}')" \
    "full_sync_s=$(awk -v ms=$((c2 - c0)) 'BEGIN {printf "%.1f", ms / 1000}')" \
    "details_s=$(awk -v ms=$((c3 - c0)) 'BEGIN {printf "%.1f", ms / 1000}') $probe" \
    "tenants_with_tickets=$(bench_psql "SELECT count(DISTINCT tenant_id) FROM halo.tickets")" \
    "ticket1_summaries=$(bench_psql "SELECT count(DISTINCT summary) FROM halo.tickets WHERE id = 1")" \
    "sim_tenants_generated=$(curl -fsS "$HALO_SIM_URL/_sim/stats" | jq .tenants.generated)"
  sleep 15
  mapfile -t names < <(procs)
  for i in "${!names[@]}"; do t0[i]=$(pid_cpu_ticks "$(stack_pid "${names[$i]}")"); done
  pg0=$(bench_pg_cpu_ticks)
  bench_pg_ticks_by_pid >"$BENCH_STACK_DIR/pg_ticks.0"
  w0=$(now_ms)
  sleep "$idle"
  for i in "${!names[@]}"; do
    t1[i]=$(pid_cpu_ticks "$(stack_pid "${names[$i]}")")
    rss[i]=$(pid_rss_kib "$(stack_pid "${names[$i]}")")
  done
  pg1=$(bench_pg_cpu_ticks)
  bench_pg_ticks_by_pid >"$BENCH_STACK_DIR/pg_ticks.1"
  w1=$(now_ms)
  for i in "${!names[@]}"; do
    echo "run=$run proc=${names[$i]} rss_kib=${rss[$i]}" \
      "idle_cpu_pct=$(awk -v d=$((t1[i] - t0[i])) -v hz="$hz" -v s="$idle" 'BEGIN {printf "%.2f", d / hz / s * 100}')"
  done
  echo "run=$run proc=postgres rss_kib=$(bench_pg_rss_kib)" \
    "idle_cpu_pct=$(awk -v d=$((pg1 - pg0)) -v hz="$hz" -v s="$idle" 'BEGIN {printf "%.2f", d / hz / s * 100}')"
  echo "run=$run postgres_cpu_pct_by_kind: $(bench_pg_cpu_by_kind "$BENCH_STACK_DIR/pg_ticks.0" "$BENCH_STACK_DIR/pg_ticks.1" "$hz" "$idle")"
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
echo "config: sim=\"${SIM_ARGS[*]}\" tenants=$tenants fetchers=$fetchers parallel=$parallel idle_s=$idle" \
  "incremental_s=$incremental clk_tck=$hz bin=$HALO_BIN_DIR"
bench_runs "$runs"
out=$BENCH_OUT
for p in $(procs) postgres; do
  sel=$(grep " proc=$p " <<<"$out")
  printf 'median: proc=%s rss_mib=%s idle_cpu_pct=%s\n' "$p" \
    "$(field rss_kib <<<"$sel" | median | awk '{printf "%.1f", $1 / 1024}')" \
    "$(field idle_cpu_pct <<<"$sel" | median)"
done

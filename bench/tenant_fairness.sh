#!/usr/bin/env bash
# Storm fairness across tenants (issue 21): do a few tenants storming past
# their Halo budget slow down the webhooks of every other tenant?
#
#   bench/tenant_fairness.sh [--tenants N] [--storming S] [--storm-rate R] [--quiet-rate Q]
#                            [--duration D] [--limit L] [--window W] [--fetchers F] [--runs K] [--explain]
#
# Each run: a fresh stack (embedded PostgreSQL, halo-sim --tenants N, ingest,
# F = 2 fetchers, store). halo-sim serves N Halo tenants (bench, bench-2 ..
# bench-N, each with its own secret and its own budget of L = 30 requests per
# W = 3 s, all sharing one data set of 3,000 tickets). With the fetchers
# stopped, `haloctl connect` saves each of them (--rate-limit L --rate-window W,
# headroom 0.9) and SQL marks every full sync done (no tenant is synced: a
# webhook's fetch inserts the tenant's row), then the fetchers start. Tenants
# 1..S (default 10) storm; the other N - S are quiet. Two phases of D = 30 s:
#   quiet  Q = 8 webhooks per second in all, each to a quiet tenant drawn at
#          random, each about a ticket of that tenant not changed before;
#   storm  the same quiet load, plus each storming tenant receiving R = 40
#          webhooks per second (distinct tickets), far above the 9 per second
#          its budget admits (L x 0.9 / W), so its backlog grows all phase.
# Webhooks are POSTed straight to ingest (curl; the storm in batches of one
# curl per 100 ms). Per phase, once every quiet webhook's row is written:
# the quiet tenants' freshness, webhook received by ingest (received_at in
# webhook_deliveries) to the row written by store (synced_at), p50/p99/max, and
# from send to row (sent_*). From halo-sim's request log since the connects:
# the worst window per tenant (most counted requests in any W s; must be <= L)
# over all tenants and over the storming ones, the storming tenants' requests,
# and the 429s (must be 0). One `phase=...` line per phase and run.
# --explain, after the last run: the fetchers stopped, 10 rows due now for
# every tenant and 1,000 more for each storming one, and EXPLAIN ANALYZE of
# the former, the first fair (9a7eb86) and the current claim and next-due look (bench/tenant_fairness_explain.sql)
# as a worker holding the storming tenants blocked sends them.
set -euo pipefail
export BENCH_STACK_DIR=${BENCH_STACK_DIR:-/tmp/halo-bench-fairness}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-29600}
# Commit times of the rows (visible_*, tx_*): PostgreSQL records them only when asked.
export HALO_PG_OPTS="${HALO_PG_OPTS:-} -c track_commit_timestamp=on"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

tenants=1000 storming=10 storm_rate=40 quiet_rate=8 duration=30 limit=30 window=3 fetchers=2 runs=1 explain=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tenants) tenants=$2; shift 2 ;;
    --storming) storming=$2; shift 2 ;;
    --storm-rate) storm_rate=$2; shift 2 ;;
    --quiet-rate) quiet_rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --explain) explain=1; shift ;;
    *) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl shuf
bench_build
TICKETS=3000
[ "$storming" -lt "$tenants" ] || die "--storming must be below --tenants"
[ $((quiet_rate * duration * 2)) -le "$TICKETS" ] || die "quiet-rate * duration * 2 must be at most $TICKETS"
SIM_ARGS=(--tickets "$TICKETS" --sites 5 --users 5 --invoices 5 --rate-limit "$limit" --rate-window "$window"
  --tenants "$tenants")
trap bench_stack_stop EXIT

slug() { if [ "$1" = 1 ]; then echo "$BENCH_TENANT"; else echo "$BENCH_TENANT-$1"; fi; }

# connect_all: haloctl connect of tenants 1..N (4 at a time), each its own Halo tenant and
# secret; their webhook URLs into $BENCH_STACK_DIR/hooks (line k = tenant k).
connect_all() {
  local k
  mkdir -p "$BENCH_STACK_DIR/hook"
  for k in $(seq 1 "$tenants"); do
    (
      s=$(slug "$k") secret=$BENCH_SIM_SECRET
      [ "$k" = 1 ] || secret=$BENCH_SIM_SECRET-$k
      out=$(BENCH_SECRET=$secret haloctl connect "$s" --auth-url "$HALO_SIM_URL/auth" \
        --resource-url "$HALO_SIM_URL/api" --halo-tenant "$s" --client-id "$BENCH_SIM_CLIENT" \
        --client-secret-env BENCH_SECRET --rate-limit "$limit" --rate-window "$window" 2>&1) ||
        { echo "$out" >&2; exit 1; }
      grep -o "$HALO_PUBLIC_URL/hooks/$s/[0-9a-f]*" <<<"$out" | head -n 1 >"$BENCH_STACK_DIR/hook/$k"
    ) &
    [ $((k % 4)) = 0 ] && { wait || die "haloctl connect failed"; }
  done
  wait || die "haloctl connect failed"
  for k in $(seq 1 "$tenants"); do
    [ -s "$BENCH_STACK_DIR/hook/$k" ] || die "no webhook URL for tenant $k"
    cat "$BENCH_STACK_DIR/hook/$k"
  done >"$BENCH_STACK_DIR/hooks"
}

# post_hook URL DELIVERY TICKET: one "Ticket Changed" webhook.
post_hook() {
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"id\":\"$2\",\"event\":\"Ticket Changed\",\"object_id\":$3}" "$1" || true
}

# quiet_load PHASE FIRST_TICKET: Q webhooks per second for D s to random quiet tenants,
# ticket ids from FIRST_TICKET up; one sample line each into $BENCH_STACK_DIR/samples.tsv.
quiet_load() {
  local phase=$1 id=$2 n=$((quiet_rate * duration)) t0 i due now k d
  t0=$(now_ms)
  for i in $(seq 0 $((n - 1))); do
    due=$((t0 + i * 1000 / quiet_rate))
    now=$(now_ms)
    [ "$due" -gt "$now" ] && sleep "$(awk -v ms=$((due - now)) 'BEGIN {printf "%.3f", ms / 1000}')"
    k=$(shuf -i $((storming + 1))-"$tenants" -n 1)
    d="fair-$phase-$i"
    printf '%s\t%s\t%s\t%s\t%s\n' "$phase" "$(slug "$k")" $((id + i)) "$d" "$(now_ms)" >>"$BENCH_STACK_DIR/samples.tsv"
    post_hook "${hooks[$((k - 1))]}" "$d" $((id + i)) &
  done
  wait
}

# storm_load: R webhooks per second to each storming tenant for D s, one curl
# (parallel) per 100 ms; distinct tickets per tenant, cycling through the data set.
storm_load() {
  local ticks=$((duration * 10)) per=$(((storm_rate + 9) / 10)) t0 tick due now k cfg seq=0
  t0=$(now_ms)
  for tick in $(seq 0 $((ticks - 1))); do
    due=$((t0 + tick * 100))
    now=$(now_ms)
    [ "$due" -gt "$now" ] && sleep "$(awk -v ms=$((due - now)) 'BEGIN {printf "%.3f", ms / 1000}')"
    cfg=$BENCH_STACK_DIR/storm.$((tick % 20)).cfg
    : >"$cfg"
    for _ in $(seq 1 "$per"); do
      seq=$((seq + 1))
      for k in $(seq 1 "$storming"); do
        [ -s "$cfg" ] && echo next >>"$cfg"
        printf 'url = "%s"\nheader = "Content-Type: application/json"\ndata = "{\\"id\\":\\"storm-%s-%s\\",\\"event\\":\\"Ticket Changed\\",\\"object_id\\":%s}"\noutput = "/dev/null"\n' \
          "${hooks[$((k - 1))]}" "$k" "$seq" $(((seq - 1) % TICKETS + 1)) >>"$cfg"
      done
    done
    curl -s -Z --parallel-max 16 -K "$cfg" >/dev/null 2>&1 &
  done
  wait
}

# wait_rows PHASE TIMEOUT_S: until every quiet webhook of PHASE has its tenant's row.
wait_rows() {
  local deadline=$(($(date +%s) + $2)) left
  while :; do
    left=$(bench_psql "SELECT count(*) FROM bench_samples b JOIN halo.tenants t ON t.slug = b.slug
        LEFT JOIN halo.tickets r ON r.tenant_id = t.id AND r.id = b.id WHERE b.phase = '$1' AND r.synced_at IS NULL")
    [ "$left" = 0 ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && { say "phase $1: $left quiet rows not written after $2 s"; return 0; }
    sleep 0.5
  done
}

# load_samples: the sample file into bench_samples (replaced).
load_samples() {
  bench_psql "TRUNCATE bench_samples" >/dev/null
  psql "$HALO_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "\\copy bench_samples FROM '$BENCH_STACK_DIR/samples.tsv'"
}

# report RUN PHASE FROM_MS TO_MS: the phase's result line.
report() {
  local run=$1 phase=$2 from=$3 to=$4 log=$BENCH_STACK_DIR/reqlog.$2.jsonl win stormwin
  jq -c --argjson a "$from" --argjson b "$to" 'select(.ts_ms >= $a and .ts_ms < $b)' "$BENCH_REQLOG" >"$log"
  win=$(reqlog_worst_window "$log" $((window * 1000)))
  stormwin=$(for k in $(seq 1 "$storming"); do grep "^tenant=$(slug "$k") " <<<"$win" || true; done)
  # The quiet tickets' single-object GETs, as halo-sim received them (the first per ticket).
  jq -r 'select(.method == "GET" and (.path | test("^/api/Tickets/[0-9]+"))) |
      [.tenant, (.path | capture("^/api/Tickets/(?<id>[0-9]+)").id), .ts_ms] | @tsv' "$log" >"$log.gets"
  bench_psql "TRUNCATE bench_gets" >/dev/null
  psql "$HALO_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "\\copy bench_gets FROM '$log.gets'"
  # fresh: received by ingest to synced_at (store's transaction start, as BI
  # tools read it); the rest split it: webhook to halo-sim's GET (fetcher), GET
  # to synced_at (store's queue), synced_at to the commit (its transaction,
  # track_commit_timestamp), and received to the commit (when BI sees the row).
  bench_psql "WITH s AS (
      SELECT extract(epoch FROM r.synced_at - d.received_at) * 1000 AS fresh,
             r.synced_at - to_timestamp(b.sent_ms / 1000.0) AS sent_iv,
             g.ts_ms - extract(epoch FROM d.received_at) * 1000 AS get_ms,
             extract(epoch FROM r.synced_at) * 1000 - g.ts_ms AS store_ms,
             extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - r.synced_at) * 1000 AS tx_ms,
             extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - d.received_at) * 1000 AS visible_ms
      FROM bench_samples b JOIN halo.tenants t ON t.slug = b.slug
      LEFT JOIN halo.tickets r ON r.tenant_id = t.id AND r.id = b.id
      LEFT JOIN halo.webhook_deliveries d ON d.delivery_id = b.delivery_id
      LEFT JOIN (SELECT slug, id, min(ts_ms) AS ts_ms FROM bench_gets GROUP BY 1, 2) g ON g.slug = b.slug AND g.id = b.id
      WHERE b.phase = '$phase')
    SELECT format('phase=%s run=$run quiet_webhooks=%s rows=%s p50_ms=%s p99_ms=%s max_ms=%s sent_p50_ms=%s sent_p99_ms=%s'
      ' get_p50_ms=%s get_p99_ms=%s store_p50_ms=%s store_p99_ms=%s tx_p50_ms=%s tx_p99_ms=%s visible_p50_ms=%s visible_p99_ms=%s',
      '$phase', count(*), count(fresh),
      round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fresh)::numeric, 1),
      round(percentile_cont(0.99) WITHIN GROUP (ORDER BY fresh)::numeric, 1), round(max(fresh)::numeric, 1),
      $(bench_sql_p50_p99 'extract(epoch FROM sent_iv) * 1000' get_ms store_ms tx_ms visible_ms))
    FROM s" | tr -d '\n'
  printf ' tenants_requesting=%s worst_window_max=%s storm_worst_window_max=%s budget=%s storm_requests=%s http_429=%s\n' \
    "$(grep -c '^tenant=' <<<"$win" || true)" "$(field worst_window <<<"$win" | sort -n | tail -n 1)" \
    "$(field worst_window <<<"$stormwin" | sort -n | tail -n 1)" "$limit" \
    "$(field requests <<<"$stormwin" | awk '{s += $1} END {print s + 0}')" \
    "$(field http_429 <<<"$win" | awk '{s += $1} END {print s + 0}')"
}

# explain_claim: EXPLAIN ANALYZE of the claims against N tenants' due rows (fetchers stopped).
explain_claim() {
  local f blocked
  for f in $(seq 1 "$fetchers"); do stack kill "fetcher-$f" >/dev/null; done
  blocked=$(bench_psql "SELECT '{' || string_agg(id::text, ',') || '}' FROM halo.tenants WHERE slug = '$BENCH_TENANT'
      OR slug ~ '^$BENCH_TENANT-([0-9]+)\$' AND substring(slug FROM '[0-9]+\$')::int <= $storming")
  bench_psql "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)
      SELECT t.id, 'ticket', o, now() - interval '1 minute' FROM halo.tenants t, generate_series(1, 10) o
      UNION ALL SELECT b, 'ticket', o, now() - interval '10 minutes' FROM unnest('$blocked'::bigint[]) b, generate_series(11, 1010) o
      ON CONFLICT DO NOTHING; ANALYZE halo.fetch_queue; ANALYZE halo.rate_limits"
  echo "explain: tenants=$(bench_psql "SELECT count(*) FROM halo.tenants") blocked=$blocked" \
    "pending=$(bench_psql "SELECT count(*) FROM halo.fetch_queue WHERE state = 'pending'")"
  psql "$HALO_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v blocked="$blocked" -f "$(dirname "$0")/tenant_fairness_explain.sql"
}

one_run() {
  local run=$1 t_start t_quiet t_end hooks f # f: bench_runs (lib.sh) keeps its output file in its own f
  bench_stack_start --fetchers "$fetchers" "${SIM_ARGS[@]}"
  for f in $(seq 1 "$fetchers"); do stack kill "fetcher-$f" >/dev/null; done
  connect_all
  mapfile -t hooks <"$BENCH_STACK_DIR/hooks"
  # Connected and "synced": no full or incremental sync runs during the phases.
  bench_psql "UPDATE halo.sync_state SET full_status = 'done', full_requested = false, full_started_at = now(),
      full_finished_at = now(), incr_last_at = now(), updated_at = now()" >/dev/null
  bench_psql "CREATE TABLE bench_samples (phase text, slug text, id bigint, delivery_id text, sent_ms bigint);
      CREATE TABLE bench_gets (slug text, id bigint, ts_ms bigint)" >/dev/null
  for f in $(seq 1 "$fetchers"); do stack restart "fetcher-$f" >/dev/null; done
  export BENCH_HOOK=${hooks[$((tenants - 1))]}
  bench_wait_webhook_ready
  sleep 6 # every fetcher's tenant cache has loaded the N tenants
  : >"$BENCH_STACK_DIR/samples.tsv"
  t_start=$(now_ms)
  quiet_load quiet 1
  t_quiet=$(now_ms)
  load_samples
  wait_rows quiet 60
  storm_load &
  quiet_load storm $((quiet_rate * duration + 1))
  wait
  load_samples
  wait_rows storm 120
  t_end=$(now_ms)
  echo "run=$run tenants=$(bench_psql "SELECT count(*) FROM halo.tenants") ledger_left=$(bench_psql "SELECT count(*) FROM halo.fetch_queue")" \
    "storm_webhooks=$(bench_psql "SELECT count(*) FROM halo.webhook_deliveries WHERE delivery_id LIKE 'storm-%'")" \
    "loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  report "$run" quiet "$t_start" "$t_quiet"
  report "$run" storm "$t_quiet" "$t_end"
  [ "$explain" = 1 ] && [ "$run" = "$runs" ] && explain_claim
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" tenant=\"--rate-limit $limit --rate-window $window (headroom 0.9)\"" \
  "tenants=$tenants storming=$storming storm_rate=$storm_rate/s/tenant quiet_rate=$quiet_rate/s duration_s=$duration fetchers=$fetchers"
bench_runs "$runs"
out=$BENCH_OUT
for p in quiet storm; do
  sel=$(grep "^phase=$p " <<<"$out")
  printf 'median: phase=%s runs=%s p50_ms=%s p99_ms=%s worst_window_max=%s budget=%s http_429_max=%s\n' "$p" "$runs" \
    "$(field p50_ms <<<"$sel" | median)" "$(field p99_ms <<<"$sel" | median)" \
    "$(field worst_window_max <<<"$sel" | sort -n | tail -n 1)" "$limit" "$(field http_429 <<<"$sel" | sort -n | tail -n 1)"
done

#!/usr/bin/env bash
# Halo API efficiency of halo-sync: API requests per unique changed object
# under a duplicate-heavy webhook storm, full-sync requests against the lower
# bound sum(max(1, ceil(records/100))), and 429s, all counted from halo-sim's
# request log. Compare with bench/naive_client.sh (same simulator flags, same storm).
#
#   bench/api_efficiency.sh [--fetchers N] [--runs R] [--objects U] [--updates K]
#                           [--duplicates P] [--senders S] [--settle-ms MS]
#                           [--payload full|small|event] [--trust-payload]
#
# Each run: a fresh stack (N fetchers) and halo-sim with 2,000 tickets, 60
# sites, 200 users, 300 invoices and its rate window scaled down from 450 per
# 300 s to 450 per 3 s (the tenant is connected with the same limit and
# window, default headroom 0.9); haloctl connect; full sync; then the storm:
# U tickets, each updated K times in a row through /_sim/mutate, every
# delivery resent with probability P (same delivery id, as Halo retries) and
# 10% of them batched, from S concurrent senders. When the ledger is empty
# the script counts the API requests made after the storm began.
# stale = changed tickets whose row in PostgreSQL does not have halo-sim's
# final last_update (must be 0: fewer requests must not mean stale data).
# --payload sets the webhooks' payload type (default halo-sim's: full);
# --trust-payload connects the tenant with webhook Basic authentication and
# --trust-payload (full payloads stored without a Halo request, target 0
# requests per object; docs/security.md), and implies --payload full.
# Prints one line per run and a median line.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

fetchers=1 runs=3 objects=400 updates=10 dups=0.5 senders=4 settle="" payload="" trust=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fetchers) fetchers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --updates) updates=$2; shift 2 ;;
    --duplicates) dups=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    --settle-ms) settle=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --trust-payload) trust=1; payload=full; shift ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
SIM_ARGS=(--tickets 2000 --sites 60 --users 200 --invoices 300 --rate-limit 450 --rate-window 3)
trap bench_stack_stop EXIT

one_run() {
  local run=$1 env=() t_storm storm log stats bound full_req n429 obj_req uniq other stale drain_ms t_drain
  [ -n "$settle" ] && env=(--env "HALO_FETCH_SETTLE_MS=$settle")
  bench_stack_start --fetchers "$fetchers" ${env[@]+"${env[@]}"} "${SIM_ARGS[@]}"
  if [ -n "$trust" ]; then
    printf '%s' "bench-basic-$$" >"$BENCH_STACK_DIR/basic-pass"
    bench_connect 450 3 --basic-auth bench --basic-password-file "$BENCH_STACK_DIR/basic-pass" --trust-payload
    BENCH_HOOK_AUTH="bench:bench-basic-$$"
  else
    bench_connect 450 3
    BENCH_HOOK_AUTH=""
  fi
  bench_wait_full_sync 300
  bench_wait_webhook_ready
  sim_post /_sim/config "{\"webhook_url\":\"$BENCH_HOOK\",\"webhook_user\":\"${BENCH_HOOK_AUTH%%:*}\",\"webhook_pass\":\"${BENCH_HOOK_AUTH#*:}\"}" >/dev/null

  bench_mark_deliveries
  t_storm=$(now_ms)
  storm=$(bench_storm "$HALO_SIM_URL" "$objects" "$updates" "$dups" "$senders" "$payload")
  [ "$(jq .failed <<<"$storm")" = 0 ] || say "storm: some webhooks failed: $storm"
  # Every distinct delivery must reach the ledger (duplicates are the same delivery).
  bench_wait_drained "$(jq .deliveries <<<"$storm")" 300 || true
  t_drain=$(now_ms)
  drain_ms=$((t_drain - t_storm))

  stats=$(curl -fsS "$HALO_SIM_URL/_sim/stats")
  bound=$(jq '[.counts[] | .live] | map(if . == 0 then 1 else ((. + 99) / 100 | floor) end) | add' <<<"$stats")
  log=$(jq -cs '.' "$BENCH_REQLOG")
  full_req=$(jq --argjson t "$t_storm" \
    '[.[] | select(.counted and .ts_ms < $t and (.path | test("page_size=100")))] | length' <<<"$log")
  n429=$(jq '[.[] | select(.status == 429)] | length' <<<"$log")
  obj_req=$(jq --argjson t "$t_storm" \
    '[.[] | select(.ts_ms >= $t and (.path | test("^/api/Tickets/[0-9]+")))] | length' <<<"$log")
  uniq=$(jq --argjson t "$t_storm" '[.[] | select(.ts_ms >= $t and .status == 200 and (.path | test("^/api/Tickets/[0-9]+")))
    | .path | capture("^/api/Tickets/(?<id>[0-9]+)").id] | unique | length' <<<"$log")
  other=$(jq --argjson t "$t_storm" \
    '[.[] | select(.ts_ms >= $t and (.path | startswith("/api/")) and (.path | test("^/api/Tickets/[0-9]+") | not))]
     | length' <<<"$log")

  # Freshness of the result: halo-sim's final last_update of each changed ticket vs the row.
  curl -fsS "$HALO_SIM_URL/_sim/dump?entity=tickets" |
    jq -r --argjson n "$objects" '.tickets[] | select(.id <= $n) | "\(.id)\t\(.last_update // .lastupdate)"' |
    sort >"$BENCH_STACK_DIR/sim_last_update.tsv"
  bench_psql "SELECT id, coalesce(raw->>'last_update', raw->>'lastupdate') FROM halo.tickets
              WHERE id <= $objects AND deleted_at IS NULL" | tr '|' '\t' | sort >"$BENCH_STACK_DIR/db_last_update.tsv"
  stale=$(comm -23 "$BENCH_STACK_DIR/sim_last_update.tsv" "$BENCH_STACK_DIR/db_last_update.tsv" | wc -l)

  echo "run=$run fetchers=$fetchers objects=$objects updates_each=$updates payload=${payload:-default} trust_payload=${trust:-no} mutations=$(jq .mutations <<<"$storm")" \
    "deliveries=$(jq .deliveries <<<"$storm") bodies=$(jq .bodies <<<"$storm") storm_ms=$(jq .ms <<<"$storm")" \
    "object_requests=$obj_req objects_fetched=$uniq" \
    "requests_per_object=$(awk -v r="$obj_req" -v u="$objects" 'BEGIN {printf "%.4f", r / u}')" \
    "other_requests=$other stale=$stale full_sync_requests=$full_req full_sync_bound=$bound http_429=$n429" \
    "storm_to_drained_ms=$drain_ms"
  [ -n "${BENCH_KEEP:-}" ] || stack stop >/dev/null 2>&1 || true
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" tenant=\"--rate-limit 450 --rate-window 3 (headroom 0.9)\"" \
  "storm=\"objects=$objects updates=$updates duplicates=$dups batch=0.1 senders=$senders\"" \
  "settle_ms=${settle:-default} payload=${payload:-default} trust_payload=${trust:-no}"
out=""
for r in $(seq 1 "$runs"); do
  line=$(one_run "$r")
  echo "$line"
  out+="$line"$'\n'
done
printf 'median: fetchers=%s runs=%s requests_per_object=%s full_sync_requests=%s full_sync_bound=%s http_429_max=%s stale_max=%s\n' \
  "$fetchers" "$runs" "$(field requests_per_object <<<"$out" | median)" \
  "$(field full_sync_requests <<<"$out" | median)" "$(field full_sync_bound <<<"$out" | median)" \
  "$(field http_429 <<<"$out" | sort -n | tail -n 1)" "$(field stale <<<"$out" | sort -n | tail -n 1)"

#!/usr/bin/env bash
# Pipeline under Halo faults (issue 5): the whole stack (scripts/stack.sh)
# with 2 fetchers whose Halo timeout is 2 s (HALO_HALO_TIMEOUT_MS), and a
# halo-sim that answers 5% of API requests with a 5xx (500, 502, 503, 504
# evenly), hangs 1% for 4 s (past the fetchers' timeout), cuts 1% of bodies in
# half (malformed JSON), and revokes every token once in the middle. After the
# full sync (under the same faults), 300 random mutations of every kind with
# webhooks (20% sent twice, 20% batched). Afterwards PostgreSQL must equal
# halo-sim's dump, nothing may be dead-lettered, no process may have crashed
# or restarted, no 429, and the requests caused by the mutations must stay
# below 2 per changed object (no request storm). Prints the faults injected
# and the requests per changed object.
# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "$0")/pipeline_lib.sh"
e2e_init pipeline_faults

MUTATIONS=${HALO_PIPE_MUTATIONS:-300}
CHUNK=30
SECRET=pipe-secret-$$
TIMEOUT_MS=2000
HANG_MS=4000

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_LEASE_S=15 --env HALO_HALO_TIMEOUT_MS=$TIMEOUT_MS \
  --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id pipe-client --client-secret "$SECRET" --seed 23 \
  --tickets 300 --sites 60 --users 150 --invoices 100 --rate-limit 450 --rate-window 5
log=$HALO_STACK_DIR/log/sim-requests.jsonl

e2e_connect demo pipe-client "$SECRET" --rate-limit 450 --rate-window 5
faults="{\"rates\":{\"500\":0.0125,\"502\":0.0125,\"503\":0.0125,\"504\":0.0125,\"hang\":0.01,\"badjson\":0.01},\"hang_ms\":$HANG_MS}"
e2e_sim POST /_sim/faults "$faults" >/dev/null
e2e_log "halo-sim faults on: $faults; fetchers' Halo timeout $TIMEOUT_MS ms"
e2e_wait_full_sync 150
e2e_wait_backfill 150
e2e_log "full sync under faults: $(pl_count all "$log") requests, faults $(pl_fault_hist "$log"), statuses $(pl_status_hist "$log")"

from=$(pl_log_lines "$log")
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
payloads=(full small event)
chunks=$(((MUTATIONS + CHUNK - 1) / CHUNK))
for i in $(seq 0 $((chunks - 1))); do
  if [ "$i" = $((chunks / 2)) ]; then
    e2e_sim POST /_sim/revoke '{}' >/dev/null
    e2e_log "halo-sim revoked every token (after $((i * CHUNK)) mutations)"
  fi
  out=$HALO_STACK_DIR/mutate-$i.json
  e2e_mutate_chunk "$CHUNK" "${payloads[$((i % 3))]}" false "$out" || e2e_fail "POST /_sim/mutate failed (chunk $i)"
  e2e_record_chunk "$out"
  e2e_redeliver "$out"
  sleep 0.3
done
e2e_log "$(e2e_mutation_summary | head -n 1); ${E2E_REDELIVERED:-0} bodies redelivered"
e2e_log "kinds: $(e2e_mutation_summary | tail -n 1)"

e2e_converge 240
e2e_log "converged $E2E_CONVERGE_S s after the last mutation:"
printf '%s' "$E2E_COMPARE"

changed=$(jq -r '"\(.kind | split("_")[0]) \(.id)"' "$HALO_STACK_DIR/mutations.jsonl" | sort -u | wc -l)
mutations=$(wc -l <"$HALO_STACK_DIR/mutations.jsonl")
all=$(pl_count all "$log" "$from")
gets=$(pl_count object "$log" "$from")
lists=$(pl_count list "$log" "$from")
tokens=$(pl_count token "$log" "$from")
unauthorized=$(pl_count all "$log" "$from" 401)
e2e_log "after the full sync: $mutations mutations of $changed distinct objects caused $all Halo requests: $gets object GETs, $lists list requests, $tokens token requests ($unauthorized answered 401)"
e2e_log "  statuses: $(pl_status_hist "$log" "$from"); faults injected: $(pl_fault_hist "$log" "$from")"
per_object=$(awk -v a="$all" -v c="$changed" 'BEGIN {printf "%.3f", a / c}')
gets_per_object=$(awk -v a="$gets" -v c="$changed" 'BEGIN {printf "%.3f", a / c}')
e2e_log "  requests per changed object: $per_object (object GETs per changed object: $gets_per_object)"

e2e_check_requests 405 5000
[ "$unauthorized" -ge 1 ] || e2e_fail "no request was refused after the revocation: the revocation was not exercised"
[ "$tokens" -ge 1 ] || e2e_fail "no token request after the revocation"
awk -v a="$all" -v c="$changed" 'BEGIN {exit !(a < 2 * c)}' \
  || e2e_fail "$all requests for $changed changed objects: $per_object per object, not below 2 (request storm)"
dead=$(e2e_psql "SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed'")
[ "$dead" = 0 ] || e2e_fail "$dead dead letters"
pl_all_running || e2e_fail "a process of the stack is down"
for f in "$HALO_STACK_DIR"/log/fetcher-*.log "$HALO_STACK_DIR/log/ingest.log"; do
  starts=$(e2e_count 'msg="started"' "$f")
  [ "$starts" = 1 ] || e2e_fail "$(basename "$f" .log) started $starts times (crashed?)"
done
[ "$(e2e_count 'store ready' "$HALO_STACK_DIR/log/store.log")" = 1 ] || e2e_fail "store started more than once"
e2e_log "evidence: $(e2e_count 'fetch failed, will retry' "$HALO_STACK_DIR"/log/fetcher-*.log) fetch retries, $(e2e_count 'sync page failed' "$HALO_STACK_DIR"/log/fetcher-*.log) sync page retries, $(e2e_count 'level=error' "$HALO_STACK_DIR"/log/*.log) error lines"
e2e_log "PASS: lost=$E2E_LOST stale=$E2E_STALE phantom=$E2E_PHANTOM, $per_object requests per changed object, 0 dead letters, 0 x 429, no restart"

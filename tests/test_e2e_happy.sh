#!/usr/bin/env bash
# End to end, happy path: the whole stack (scripts/stack.sh: PostgreSQL,
# halo-sim, ingest, 2 fetchers, store, monitor) on a small tenant with a 5 s
# rate window, `haloctl connect`, the full sync, then 2,000 random mutations of
# every kind (creates, changes, deletes, restores of tickets, sites, users and
# invoices) whose webhooks go to ingest with duplicates, batches, reordering
# and all three payload shapes. Once nothing is left to do, every row of
# PostgreSQL must equal halo-sim's dump field by field (lost = stale = phantom
# = 0), halo-sim must never have answered 429 nor seen more than the budget in
# any window, and `haloctl status` must say "Webhook Successful".
# Incremental and periodic syncs are pushed out of the test's time, so every
# change must come through its webhook. Prints the counts and the time to converge.
# shellcheck source=tests/e2e_lib.sh
source "$(dirname "$0")/e2e_lib.sh"
e2e_init e2e_happy

MUTATIONS=${HALO_E2E_MUTATIONS:-2000}
CHUNK=100
SECRET=e2e-secret-$$

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_LEASE_S=15 --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id e2e-client --client-secret "$SECRET" --seed 11 \
  --tickets 300 --sites 60 --users 150 --invoices 100 --rate-limit 450 --rate-window 5 --webhook-timeout-ms 30000

e2e_connect demo e2e-client "$SECRET" --rate-limit 450 --rate-window 5
e2e_wait_full_sync 150
e2e_converge 60 # nothing mutated yet: the mirror must already equal the dump
e2e_log "after the full sync:"
printf '%s' "$E2E_COMPARE"

e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
payloads=(full small event)
chunks=$(((MUTATIONS + CHUNK - 1) / CHUNK))
t_mut=$(e2e_now_ms)
for i in $(seq 0 $((chunks - 1))); do
  out=$HALO_STACK_DIR/mutate-$i.json
  reorder=false
  [ $((i % 4)) = 3 ] && reorder=true
  e2e_mutate_chunk "$CHUNK" "${payloads[$((i % 3))]}" "$reorder" "$out"
  e2e_record_chunk "$out"
  bad=$(jq -c '[.webhooks.statuses[] | select(. != 200)] | group_by(.) | map({status: .[0], n: length})' "$out")
  [ "$bad" = "[]" ] || e2e_fail "ingest did not answer 200 to every webhook of chunk $i: $bad"
done
e2e_log "$(e2e_mutation_summary | head -n 1) in $((($(e2e_now_ms) - t_mut) / 1000)) s"
e2e_log "kinds: $(e2e_mutation_summary | tail -n 1)"

e2e_converge 240
e2e_log "converged $E2E_CONVERGE_S s after the last mutation:"
printf '%s' "$E2E_COMPARE"
e2e_check_requests 405 5000
e2e_expect_status demo "Webhook Successful" 30
e2e_log "PASS: lost=$E2E_LOST stale=$E2E_STALE phantom=$E2E_PHANTOM, converged in $E2E_CONVERGE_S s, full sync ${E2E_FULL_SYNC_S} s, $E2E_REQUESTS API requests, max $E2E_MAX_WINDOW per 5 s window, 0 x 429"

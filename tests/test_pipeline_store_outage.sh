#!/usr/bin/env bash
# Store down for several leases with PostgreSQL up (issue 19 row 4): the whole
# stack (scripts/stack.sh) with one fetcher whose lease is 3 s and whose rows
# become dead letters after 3 failed attempts. After the full sync, halo-store
# is killed (-9), 30 mutations with webhooks are made, and the store stays
# down for 15 s (5 leases: each fetched row's lease expires, an attempt is
# counted and the row is fetched again, its records queued for the store).
# Then the store starts again. Afterwards PostgreSQL must equal halo-sim's
# dump and the ledger must be empty: no dead letters, though rows ran out of
# attempts while the store was away (their data, arriving late, completes
# them). Before the fix those rows stayed dead letters.
# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "$0")/pipeline_lib.sh"
e2e_init pipeline_store_outage

SECRET=outage-secret-$$
DOWN_S=15

e2e_stack_start --fetchers 1 \
  --env HALO_FETCH_LEASE_S=3 --env HALO_FETCH_MAX_ATTEMPTS=3 \
  --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id outage-client --client-secret "$SECRET" --seed 31 \
  --tickets 40 --sites 10 --users 20 --invoices 10 --rate-limit 450 --rate-window 5

e2e_connect demo outage-client "$SECRET" --rate-limit 450 --rate-window 5
e2e_wait_full_sync 120

bash "$E2E_STACK" kill store
e2e_log "store killed; PostgreSQL stays up"
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
out=$HALO_STACK_DIR/mutate-0.json
e2e_mutate_chunk 30 full false "$out" || e2e_fail "POST /_sim/mutate failed"
e2e_record_chunk "$out"
e2e_redeliver "$out"
e2e_log "$(e2e_mutation_summary | head -n 1)"
sleep "$DOWN_S"
during=$(e2e_psql "SELECT count(*) FILTER (WHERE state = 'failed') || ' dead letters, '
                   || coalesce(max(attempts), 0) || ' attempts at most' FROM halo.fetch_queue")
expired=$(e2e_count 'expired leases reclaimed' "$HALO_STACK_DIR"/log/fetcher-*.log)
e2e_log "after ${DOWN_S} s without a store: $during; $expired reclaim passes"
[ "$expired" -ge 1 ] || e2e_fail "no lease expired while the store was down: the outage was not exercised"

bash "$E2E_STACK" restart store >/dev/null || e2e_fail "store did not start again"
e2e_log "store started again"
e2e_converge 120
e2e_log "converged $E2E_CONVERGE_S s after the restart:"
printf '%s' "$E2E_COMPARE"
dead=$(e2e_psql "SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed'")
[ "$dead" = 0 ] || e2e_fail "$dead dead letters"
e2e_log "PASS: lost=$E2E_LOST stale=$E2E_STALE phantom=$E2E_PHANTOM, 0 dead letters after a ${DOWN_S} s store outage ($during during it)"

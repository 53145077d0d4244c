#!/usr/bin/env bash
# End to end under chaos: the happy path (tests/test_e2e_happy.sh) while
# things break. halo-sim injects faults into its API (500, 502, 503, truncated
# JSON, slow answers, short hangs, token revocations) from the full sync on;
# during the 2,000 mutations the test kills -9 ingest, each of the two
# fetchers, store and monitor at random moments (each restarted after 0.5-2.5 s
# with scripts/stack.sh) and restarts PostgreSQL. Webhook bodies that did not
# get a 2xx while ingest was down are sent again, as a sender that retries
# would (same delivery ids). Afterwards PostgreSQL must still equal halo-sim's
# dump (lost = stale = phantom = 0), halo-sim must never have answered 429,
# no 5 s window of its request log may hold more than the tenant's budget, and
# the status must be "Webhook Successful". HALO_E2E_SEED replays a schedule.
# shellcheck source=tests/e2e_lib.sh
source "$(dirname "$0")/e2e_lib.sh"
e2e_init e2e_chaos

MUTATIONS=${HALO_E2E_MUTATIONS:-2000}
CHUNK=25
SECRET=e2e-secret-$$
SEED=${HALO_E2E_SEED:-$$}
RANDOM=$SEED

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_LEASE_S=10 --env HALO_HALO_TIMEOUT_MS=10000 \
  --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id e2e-client --client-secret "$SECRET" --seed 12 \
  --tickets 300 --sites 60 --users 150 --invoices 100 --rate-limit 450 --rate-window 5 --webhook-timeout-ms 30000

e2e_connect demo e2e-client "$SECRET" --rate-limit 450 --rate-window 5
faults='{"rates":{"500":0.02,"502":0.01,"503":0.01,"badjson":0.01,"slow":0.01,"hang":0.005,"revoke":0.002},"slow_ms":500,"hang_ms":3000}'
e2e_sim POST /_sim/faults "$faults" >/dev/null
e2e_log "halo-sim faults on: $faults"
e2e_wait_full_sync 150
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null

# The schedule, drawn here from the seed: the actions in a random order, each
# 3-8 s after the previous one ended, each process down for 0.5-2.5 s. It runs
# in the background while the mutations go on without pause, so every action
# lands among webhooks in flight and fetches under way.
actions=(ingest fetcher-1 store monitor postgres fetcher-2)
for k in $(seq $((${#actions[@]} - 1)) -1 1); do
  j=$((RANDOM % (k + 1))); tmp=${actions[$k]}; actions[k]=${actions[$j]}; actions[j]=$tmp
done
plan=()
for a in "${actions[@]}"; do plan+=("$a:$((3 + RANDOM % 6)):$((500 + RANDOM % 2000))"); done
e2e_log "chaos schedule (seed $SEED; action:gap s:down ms): ${plan[*]}"
(
  for p in "${plan[@]}"; do
    IFS=: read -r a gap pause <<<"$p"
    sleep "$gap"
    e2e_chaos "$a" "$pause"
  done
) &
chaos_pid=$!
E2E_BG_PIDS+=("$chaos_pid")

payloads=(full small event)
t_mut=$(e2e_now_ms)
done_n=0 i=0
# At least MUTATIONS, and on (in small chunks) until the last action is over.
while [ "$done_n" -lt "$MUTATIONS" ] || kill -0 "$chaos_pid" 2>/dev/null; do
  n=$CHUNK
  [ "$done_n" -ge "$MUTATIONS" ] && n=5
  out=$HALO_STACK_DIR/mutate-$i.json
  reorder=false
  [ $((i % 4)) = 3 ] && reorder=true
  e2e_mutate_chunk "$n" "${payloads[$((i % 3))]}" "$reorder" "$out" || e2e_fail "POST /_sim/mutate failed (chunk $i)"
  e2e_record_chunk "$out"
  e2e_redeliver "$out"
  done_n=$((done_n + $(jq .applied "$out")))
  i=$((i + 1))
  sleep 0.4
done
wait "$chaos_pid" || e2e_fail "a chaos action failed"
e2e_log "$(e2e_mutation_summary | head -n 1) in $((($(e2e_now_ms) - t_mut) / 1000)) s; ${E2E_REDELIVERED:-0} bodies redelivered"
e2e_log "kinds: $(e2e_mutation_summary | tail -n 1)"

e2e_converge 240
e2e_log "converged $E2E_CONVERGE_S s after the last mutation:"
printf '%s' "$E2E_COMPARE"
e2e_log "halo-sim faults injected: $(e2e_sim GET /_sim/faults | jq -c '.injected // .counts // .')"
e2e_evidence
e2e_check_requests 405 5000
e2e_expect_status demo "Webhook Successful" 30
e2e_log "PASS: lost=$E2E_LOST stale=$E2E_STALE phantom=$E2E_PHANTOM, converged in $E2E_CONVERGE_S s, full sync ${E2E_FULL_SYNC_S} s under faults, $E2E_REQUESTS API requests, max $E2E_MAX_WINDOW per 5 s window, 0 x 429, ${E2E_REDELIVERED:-0} bodies redelivered"

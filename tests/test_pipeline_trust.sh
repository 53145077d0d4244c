#!/usr/bin/env bash
# Pipeline, trusted full payloads (issue 17): the whole stack and halo-sim
# sending Halo's full payload. `haloctl connect --trust-payload` is refused
# without webhook Basic authentication (exit 2). With it, a storm of changes
# (new, updated and restored objects of every entity) makes zero Halo API
# requests (halo-sim's request log) and PostgreSQL equals halo-sim; an older
# payload sent after a newer one does not overwrite the row. Turned off
# (--no-trust-payload), the same payloads are fetched: one GET per object.
# HALO_PIPE_CHANGES=N changes in the storm (default 200).
# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "$0")/pipeline_lib.sh"
e2e_init pipeline_trust

CHANGES=${HALO_PIPE_CHANGES:-200}
SECRET=pipe-secret-$$
BASIC_PASS=basic-pass-$$
KINDS='["ticket_new","ticket_update","ticket_restore","site_new","site_update","user_new","user_update","invoice_new","invoice_update"]'

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_SETTLE_MS=300 --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id pipe-client --client-secret "$SECRET" --seed 29 \
  --tickets 80 --sites 12 --users 30 --invoices 20 --rate-limit 450 --rate-window 5
log=$HALO_STACK_DIR/log/sim-requests.jsonl
printf '%s' "$BASIC_PASS" >"$HALO_STACK_DIR/basic-pass"

# Refused without Basic authentication: exit 2, nothing saved.
set +e
out=$(E2E_SECRET=$SECRET "$E2E_BIN/haloctl" connect demo --auth-url "$HALO_SIM_URL/auth" \
  --resource-url "$HALO_SIM_URL/api" --halo-tenant demo --client-id pipe-client --client-secret-env E2E_SECRET \
  --trust-payload 2>&1)
code=$?
set -e
[ "$code" = 2 ] || { echo "$out"; e2e_fail "--trust-payload without Basic authentication exited $code, not 2"; }
grep -q "needs webhook Basic authentication" <<<"$out" || { echo "$out"; e2e_fail "no clear reason for the refusal"; }
[ "$(e2e_psql "SELECT count(*) FROM halo.tenants")" = 0 ] || e2e_fail "a refused connect saved the tenant"
e2e_log "--trust-payload without Basic authentication: exit 2 ($(grep -o 'needs webhook Basic authentication' <<<"$out"))"

e2e_connect demo pipe-client "$SECRET" --rate-limit 450 --rate-window 5 \
  --basic-auth halo --basic-password-file "$HALO_STACK_DIR/basic-pass" --trust-payload
[ "$(e2e_psql "SELECT trust_payload FROM halo.tenants WHERE slug = 'demo'")" = t ] || e2e_fail "trust_payload not saved"
e2e_wait_full_sync 120
e2e_converge 60
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\",\"webhook_user\":\"halo\",\"webhook_pass\":\"$BASIC_PASS\",\"payload\":\"full\"}" >/dev/null

# A storm of full payloads, trusted: no API request at all.
sleep 1
from=$(pl_log_lines "$log")
out=$(e2e_sim POST /_sim/mutate "{\"count\":$CHANGES,\"kinds\":$KINDS,\"duplicates\":0.1,\"batch\":0.1}")
jq -c '.mutations[] | {kind, id}' <<<"$out" >>"$HALO_STACK_DIR/mutations.jsonl"
[ "$(jq '.webhooks.failed' <<<"$out")" = 0 ] || e2e_fail "webhooks refused: $(jq -c '.webhooks.statuses' <<<"$out")"
objects=$(jq '[.mutations[] | "\(.kind | split("_")[0]) \(.id)"] | unique | length' <<<"$out")
e2e_converge 120
requests=$(pl_count all "$log" "$from")
e2e_log "trusted: $CHANGES changes of $objects objects converged in $E2E_CONVERGE_S s with $requests Halo requests"
[ "$requests" = 0 ] || e2e_fail "$requests Halo requests for trusted full payloads: $(pl_log_from "$log" "$from" | head -n 3)"

# An older payload after a newer one: the row keeps the newer.
id=$(e2e_psql "SELECT min(id) FROM halo.tickets WHERE deleted_at IS NULL")
old=$(e2e_sim POST /_sim/mutate "{\"ops\":[{\"kind\":\"ticket_update\",\"id\":$id}],\"webhooks\":false,\"return_bodies\":true}")
sleep 0.05
new=$(e2e_sim POST /_sim/mutate "{\"ops\":[{\"kind\":\"ticket_update\",\"id\":$id}],\"webhooks\":false,\"return_bodies\":true}")
jq -c '.mutations[] | {kind, id}' <<<"$old$new" >>"$HALO_STACK_DIR/mutations.jsonl"
post() { curl -fsS -o /dev/null -u "halo:$BASIC_PASS" -H 'Content-Type: application/json' --data-binary "$1" "$E2E_HOOK"; }
post "$(jq -c '.bodies[0]' <<<"$new")" || e2e_fail "newer payload refused"
e2e_converge 60
newer=$(jq -r '.bodies[0].ticket.last_update // .bodies[0].ticket.lastupdate' <<<"$new")
post "$(jq -c '.bodies[0]' <<<"$old")" || e2e_fail "older payload refused"
deadline=$(($(date +%s) + 30))
until [ "$(e2e_psql "SELECT count(*) FROM halo.webhook_deliveries WHERE delivery_id = '$(jq -r '.bodies[0].id' <<<"$old")'")" = 1 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the older payload never reached the ledger"
  sleep 0.5
done
e2e_converge 60
stored=$(e2e_psql "SELECT raw->>'last_update' FROM halo.tickets WHERE id = $id")
[ "$stored" = "$newer" ] || e2e_fail "ticket $id: last_update $stored after an older payload; the newer was $newer"
[ "$(pl_count all "$log" "$from")" = 0 ] || e2e_fail "Halo requests while storing trusted payloads"
e2e_log "older payload after a newer one: ticket $id keeps last_update $newer"

# Trust off: the same payloads are fetched, one GET per changed object.
# (Connect again keeps the webhook URL: it prints none, so not e2e_connect.)
out=$(E2E_SECRET=$SECRET "$E2E_BIN/haloctl" connect demo --auth-url "$HALO_SIM_URL/auth" \
  --resource-url "$HALO_SIM_URL/api" --halo-tenant demo --client-id pipe-client --client-secret-env E2E_SECRET \
  --rate-limit 450 --rate-window 5 --no-trust-payload 2>&1) || { echo "$out"; e2e_fail "haloctl connect --no-trust-payload failed"; }
grep -q "Trusted payloads: off" <<<"$out" || { echo "$out"; e2e_fail "connect does not say trusted payloads are off"; }
[ "$(e2e_psql "SELECT trust_payload FROM halo.tenants WHERE slug = 'demo'")" = f ] || e2e_fail "trust_payload not turned off"
sleep 6 # the fetchers' tenant cache and ingest's registry see the change
e2e_converge 60
from=$(pl_log_lines "$log")
out=$(e2e_sim POST /_sim/mutate "{\"count\":40,\"kinds\":$KINDS}")
jq -c '.mutations[] | {kind, id}' <<<"$out" >>"$HALO_STACK_DIR/mutations.jsonl"
objects=$(jq '[.mutations[] | "\(.kind | split("_")[0]) \(.id)"] | unique | length' <<<"$out")
e2e_converge 120
gets=$(pl_count object "$log" "$from")
e2e_log "not trusted: 40 changes of $objects objects -> $gets object GETs"
[ "$gets" -ge "$objects" ] || e2e_fail "$gets GETs for $objects objects: untrusted payloads were written directly"

e2e_check_requests 405 5000
pl_all_running || e2e_fail "a process of the stack is down"
e2e_log "PASS: trusted storm 0 requests, older payload kept out, untrusted payloads fetched"

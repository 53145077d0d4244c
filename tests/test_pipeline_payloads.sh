#!/usr/bin/env bash
# Pipeline, every webhook payload type and event naming (issue 17): the whole
# stack (real ingest, fetchers, store, PostgreSQL) and halo-sim sending the
# four payload types of Halo's webhook guide (full, small, event information
# only, custom template) with each set of event names (the seed's, those of
# live tenants: "Ticket Updated by User", "Closed", "Ticket Status Changed",
# "Ticket Deleted"; names in no alias table: "Ticket Amended", "Site Purged";
# one name that says nothing: "Action Added"). Incremental sync is off, so
# only a webhook's fetch brings a change: after each round of mutations
# PostgreSQL must equal halo-sim's dump. What cannot be fetched must end in a
# counted outcome, never a silent drop: "Action Added" with no object named is
# counted in webhook_event_stats (an "other event" of the status) and fetches
# nothing; a custom template without "event" is answered 400 and counted.
# HALO_PIPE_ROUNDS=N mutations per round (default 12).
# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "$0")/pipeline_lib.sh"
e2e_init pipeline_payloads

ROUNDS=${HALO_PIPE_ROUNDS:-12}
SECRET=pipe-secret-$$
BASIC_PASS=basic-pass-$$

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_SETTLE_MS=300 --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id pipe-client --client-secret "$SECRET" --seed 23 \
  --tickets 60 --sites 12 --users 30 --invoices 20 --rate-limit 450 --rate-window 5
log=$HALO_STACK_DIR/log/sim-requests.jsonl
printf '%s' "$BASIC_PASS" >"$HALO_STACK_DIR/basic-pass"

e2e_connect demo pipe-client "$SECRET" --rate-limit 450 --rate-window 5 \
  --basic-auth halo --basic-password-file "$HALO_STACK_DIR/basic-pass"
e2e_wait_full_sync 120
e2e_converge 60
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\",\"webhook_user\":\"halo\",\"webhook_pass\":\"$BASIC_PASS\"}" >/dev/null

# round PAYLOAD NAMES [OPS]: ROUNDS random mutations (plus OPS) sent as
# PAYLOAD with NAMES; every webhook answered 200; PostgreSQL converges.
round() {
  local payload=$1 names=$2 ops=${3:-[]} out
  out=$(e2e_sim POST /_sim/mutate \
    "{\"count\":$ROUNDS,\"ops\":$ops,\"payload\":\"$payload\",\"events\":\"$names\",\"return_bodies\":true}")
  jq -c '.mutations[] | {kind, id}' <<<"$out" >>"$HALO_STACK_DIR/mutations.jsonl"
  [ "$(jq '.errors | length' <<<"$out")" = 0 ] || e2e_fail "$payload/$names: mutate errors $(jq -c .errors <<<"$out")"
  [ "$(jq '.webhooks.failed' <<<"$out")" = 0 ] \
    || e2e_fail "$payload/$names: webhooks refused: $(jq -c '.webhooks.statuses' <<<"$out")"
  e2e_converge 90
  e2e_log "$payload/$names: $(jq -c '[.mutations[].event] | unique' <<<"$out") converged in $E2E_CONVERGE_S s"
  ROUND_OUT=$out
}

for payload in full small event custom; do
  for names in seed live unlisted anonymous; do
    # Event information only, named "Action Added": nothing names the object's entity (below).
    [ "$payload/$names" = event/anonymous ] && continue
    round "$payload" "$names"
  done
done

# The payload shapes are what the guide describes.
out=$(e2e_sim POST /_sim/mutate '{"ops":[{"kind":"ticket_update","id":3}],"payload":"event","return_bodies":true}')
jq -e '.bodies[0] | has("object_id") and has("event") and (has("ticket") | not)' <<<"$out" >/dev/null \
  || e2e_fail "an event-only delivery is not {ids, event, object_id, timestamp}: $(jq -c '.bodies[0]' <<<"$out")"
jq -c '.mutations[] | {kind, id}' <<<"$out" >>"$HALO_STACK_DIR/mutations.jsonl"
e2e_converge 60

# "Ticket Deleted" (live names): the fetch answers 404, the row gets deleted_at.
victim=$(e2e_psql "SELECT min(id) FROM halo.tickets WHERE deleted_at IS NULL")
round full live "[{\"kind\":\"ticket_delete\",\"id\":$victim}]"
[ "$(jq -r --argjson id "$victim" '.mutations[] | select(.id == $id and .kind == "ticket_delete") | .event' <<<"$ROUND_OUT")" = "Ticket Deleted" ] \
  || e2e_fail "halo-sim did not name the ticket's deletion \"Ticket Deleted\""
[ "$(e2e_psql "SELECT deleted_at IS NOT NULL FROM halo.tickets WHERE id = $victim")" = t ] \
  || e2e_fail "ticket $victim deleted with a \"Ticket Deleted\" webhook has no deleted_at"
e2e_log "Ticket Deleted: ticket $victim has deleted_at"

# Names outside the alias table are counted under their own name ("other events").
for ev in "Ticket Updated by User" "Ticket Amended" "Action Added"; do
  n=$(e2e_psql "SELECT coalesce(sum(received), 0) FROM halo.webhook_event_stats WHERE event = '$ev'")
  [ "$n" -gt 0 ] || e2e_fail "no \"$ev\" counted in webhook_event_stats"
done
haloctl_status=$("$E2E_BIN/haloctl" status demo 2>&1 || true)
grep -q "Ticket Amended" <<<"$haloctl_status" || { echo "$haloctl_status"; e2e_fail "haloctl status does not list \"Ticket Amended\""; }

# Nothing to fetch: event information only, named "Action Added" (the storm
# changes no data). Counted, and no object GET.
before=$(e2e_psql "SELECT coalesce(sum(received), 0) FROM halo.webhook_event_stats WHERE event = 'Action Added'")
from=$(pl_log_lines "$log")
storm=$(e2e_sim POST /_sim/storm '{"count":20,"concurrency":2,"entity":"tickets","payload":"event","events":"anonymous"}')
[ "$(jq .acked <<<"$storm")" = 20 ] || e2e_fail "event-only anonymous webhooks not all answered 2xx: $storm"
deadline=$(($(date +%s) + 60))
until [ "$(e2e_psql "SELECT coalesce(sum(received), 0) FROM halo.webhook_event_stats WHERE event = 'Action Added'")" -ge $((before + 20)) ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "20 event-only \"Action Added\" webhooks were not counted within 60 s"
  sleep 1
done
sleep 2
gets=$(pl_count object "$log" "$from")
[ "$gets" = 0 ] || e2e_fail "$gets object GETs for webhooks that name no entity"
e2e_log "event-only \"Action Added\": 20 counted in webhook_event_stats, 0 GETs"

# A custom template without "event": 400, counted by ingest.
storm=$(e2e_sim POST /_sim/storm '{"count":5,"concurrency":1,"entity":"tickets","payload":"custom","payload_template":"{\"ticket_id\":$object_id}"}')
[ "$(jq .failed <<<"$storm")" = 5 ] || e2e_fail "custom payloads without event were not refused: $storm"
e2e_log "custom template without event: 5 answered 400 (Halo's webhook log shows them)"

e2e_check_requests 405 5000
pl_all_running || e2e_fail "a process of the stack is down"
e2e_log "PASS: 4 payload types x 4 name sets converge; Ticket Deleted tombstones; nothing-to-fetch events counted"

#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, starts the
# whole stack (embedded PostgreSQL, halo-sim as the HaloPSA tenant, ingest,
# 2 fetchers, store, monitor) under var/demo, connects the tenant as an
# operator would (`haloctl connect`), follows the full sync, lets halo-sim send
# a minute of webhooks of every event type (with duplicates and batches),
# waits for them to be fetched, then prints `haloctl status`, the status page
# URL and three BI queries run as the read-only role. Runs until Ctrl-C, then
# stops everything (docs/demo.md).
#   HALO_DEMO_WEBHOOK_SECONDS (default 60)  how long halo-sim sends webhooks
#   HALO_DEMO_RATE (default 2)              mutations (and so webhooks) per second
#   HALO_DEMO_EXIT=1                        stop at the end instead of waiting for Ctrl-C (CI)
#   HALO_STACK_DIR (default var/demo), HALO_STACK_PORT_BASE (default 18080): see scripts/stack.sh
#   HALO_BUILD_DIR (default build): where scripts/build.sh builds
#   HALO_DEMO_NO_BUILD=1                    skip installing and building; run HALO_BIN_DIR's binaries (tests)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=${HALO_DEMO_WEBHOOK_SECONDS:-60}
rate=${HALO_DEMO_RATE:-2}

build=${HALO_BUILD_DIR:-$top/build}
if [ "${HALO_DEMO_NO_BUILD:-0}" = 1 ]; then
  export HALO_BIN_DIR=${HALO_BIN_DIR:-$build/bin}
else
  echo "== checking the Debian packages halo-sync needs (installs what is missing)"
  bash scripts/install-deps.sh
  echo "== building into $build (a minute or two the first time)"
  bash scripts/build.sh >/dev/null
  export HALO_BIN_DIR=$build/bin
fi
echo "   binaries: $(cd "$HALO_BIN_DIR" && echo *)"

export HALO_STACK_DIR=${HALO_STACK_DIR:-$top/var/demo}
stack() { bash scripts/stack.sh "$@"; }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local job
  for job in $(jobs -p); do kill "$job" 2>/dev/null || true; done
  echo
  echo "== stopping the stack (its state stays in $HALO_STACK_DIR; scripts/stack.sh destroy deletes it)"
  stack stop || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo
echo "== starting the stack under $HALO_STACK_DIR (a fresh one: the previous demo's state is deleted)"
stack destroy >/dev/null 2>&1 || true
stack start --fetchers 2 --tenant acme --client-id demo-client --client-secret demo-secret-value \
  --seed 7 --tickets 2000 --sites 150 --users 600 --invoices 500 --epoch "$(date -u +%F)"
# shellcheck disable=SC1091
source "$HALO_STACK_DIR/stack.env"
stack status

echo
echo "== haloctl connect acme   (HaloPSA's five fields: Auth URL, Resource URL, Tenant, Client ID, Client Secret)"
echo "   halo-sim plays the HaloPSA instance at $HALO_SIM_URL, with Halo's limit of 450 API requests per 5 minutes"
export DEMO_CLIENT_SECRET=demo-secret-value
out=$(haloctl connect acme --auth-url "$HALO_SIM_URL/auth" --resource-url "$HALO_SIM_URL/api" \
  --halo-tenant acme --client-id demo-client --client-secret-env DEMO_CLIENT_SECRET 2>&1) \
  || { echo "$out"; echo "demo: haloctl connect failed" >&2; exit 1; }
while IFS= read -r line; do echo "   $line"; done <<<"$out"
hook=$(grep -o "$HALO_PUBLIC_URL/hooks/acme/[0-9a-f]*" <<<"$out" | head -n 1)
[ -n "$hook" ] || { echo "demo: no webhook callback URL in haloctl's output" >&2; exit 1; }

echo
echo "== the full sync (\"Save And Sync\"), followed with: haloctl sync acme --wait"
haloctl sync acme --wait --timeout 600

echo
echo "== in \"HaloPSA\" (halo-sim): the webhook points at the callback URL, with all eleven events"
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"webhook_url\":\"$hook\"}" "$HALO_SIM_URL/_sim/config" >/dev/null
# One change of every kind first, so that every expected event is seen...
# (halo-sim sends some ticket updates as the finer "ticket status changed", as
# Halo does, so a ticket update is repeated until one goes as "Ticket Changed".)
for kind in ticket_new ticket_update site_new site_update site_delete user_new user_update user_delete \
  invoice_new invoice_update invoice_delete; do
  for _ in $(seq 1 20); do
    event=$(curl -fsS -X POST -H 'Content-Type: application/json' \
      -d "{\"count\":1,\"kinds\":[\"$kind\"]}" "$HALO_SIM_URL/_sim/mutate" | jq -r '.mutations[0].event')
    [ "$kind" != ticket_update ] || [ "$event" = "Ticket Changed" ] && break
  done
done
# ...then a stream of random changes (creates, updates, deletes, restores) for a while.
echo "   halo-sim now changes $rate objects a second for $seconds s and sends a webhook for each"
echo "   (20% sent twice, 10% batched in one POST, as Halo does)"
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"rate\":$rate,\"duration\":$seconds,\"duplicates\":0.2,\"batch\":0.1}" "$HALO_SIM_URL/_sim/workload" >/dev/null
queue() { psql "$HALO_DATABASE_URL" -X -qAt -c "SELECT count(*) FROM halo.fetch_queue WHERE state <> 'failed'" 2>/dev/null || echo "?"; }
while :; do
  w=$(curl -fsS "$HALO_SIM_URL/_sim/workload")
  printf '\r   changes made: %s, webhooks sent: %s (failed %s); waiting to be fetched: %s   ' \
    "$(jq -r .applied <<<"$w")" "$(jq -r .sent <<<"$w")" "$(jq -r .failed <<<"$w")" "$(queue)"
  [ "$(jq -r .running <<<"$w")" = true ] || break
  sleep 1
done
echo
deadline=$(($(date +%s) + 300))
while [ "$(queue)" != 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
  printf '\r   waiting to be fetched: %s   ' "$(queue)"
  sleep 1
done
printf '\r   every webhook has been fetched and stored                  \n'
sleep 3 # one refresh of the status (halo-monitor and haloctl read it from PostgreSQL)

echo
echo "== haloctl status acme"
haloctl status acme || true

bi=${HALO_DATABASE_URL/user=halo/user=halo_bi_reader}
echo
echo "== BI queries over the halo_bi views, as the read-only role halo_bi_reader:"
echo "   psql \"$bi\""
q() {
  echo
  echo "-- $1"
  psql "$bi" -X -P pager=off -c "$2"
}
q "open tickets by status and team (Halo's Closed status is never open)" \
  "SELECT status_name AS status, team, sum(open_tickets) AS open, min(oldest_occurred)::date AS oldest FROM halo_bi.open_tickets GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 8"
q "open tickets by agent" \
  "SELECT coalesce(agent_name, '(unassigned)') AS agent, sum(open_tickets) AS open FROM halo_bi.open_tickets GROUP BY 1 ORDER BY 2 DESC LIMIT 8"
q "time in status, observed changes only (status changes seen through webhooks; first-seen intervals left out)" \
  "SELECT status_name AS status, tickets, intervals, unobserved_intervals AS not_observed, justify_interval(date_trunc('minute', avg_time)) AS avg_time FROM halo_bi.status_durations WHERE NOT terminal ORDER BY status_id"
q "SLA compliance by client" \
  "SELECT client_name, sum(fix_targets) AS tickets, sum(fix_met) AS met, sum(fix_breached) AS breached, sum(fix_at_risk) AS at_risk FROM halo_bi.sla_compliance GROUP BY 1 ORDER BY 4 DESC LIMIT 5"
q "invoice aging by client (posted invoices)" \
  "SELECT client_name, invoices, invoiced, paid, due, overdue_90_plus FROM halo_bi.invoice_aging ORDER BY due DESC NULLS LAST LIMIT 5"

echo
echo "== explore"
echo "   status page:   $HALO_MONITOR_URL/        (JSON: $HALO_MONITOR_URL/api/status, Prometheus: $HALO_MONITOR_URL/metrics)"
echo "   BI as a user:  psql \"$bi\""
echo "   operator:      eval \"\$(HALO_STACK_DIR=$HALO_STACK_DIR scripts/stack.sh env)\"; haloctl status acme"
echo "   more changes:  curl -X POST -d '{\"count\":20}' $HALO_SIM_URL/_sim/mutate"
echo "   logs:          HALO_STACK_DIR=$HALO_STACK_DIR scripts/stack.sh logs [ingest|fetcher-1|store|monitor|sim]"
if [ "${HALO_DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo
echo "== the stack keeps running; Ctrl-C stops it"
while :; do
  sleep 3600 &
  wait $! || true
done

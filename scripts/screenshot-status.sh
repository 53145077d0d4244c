#!/usr/bin/env bash
# Takes docs/status-page.png: halo-monitor's status page in headless Chromium
# with four tenants, one in each webhook status (issue 7), the overview table,
# components and history (issue 20). Not part
# of the test run (it needs Chromium and a minute or two); run it by hand
# after changing the page:
#   scripts/screenshot-status.sh [OUTPUT.png]     (default docs/status-page.png)
# It starts a private stack (scripts/stack.sh, state under /tmp, removed at
# the end), connects four tenants to halo-sim with `haloctl connect`, waits
# for their full syncs and sends webhooks through halo-sim -> ingest -> fetcher:
#   acme        all eleven expected events and some more   -> Webhook Successful
#   brightline  ticket events only                         -> Webhook received no data for some events
#   contoso     all eleven, then its webhook history is moved 5 days back in
#               PostgreSQL (the only step done in SQL)     -> Webhook received no data within 4 days
#   dunder      nothing                                    -> Webhook received no data
# Installs Chromium (Debian package `chromium`) with apt-get when missing.
# HALO_BIN_DIR (default build/bin) are the binaries; HALO_SCREENSHOT_SIZE
# (default 1280,6400: the overview, the four cards of about 1150 px each,
# components and history) the window.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
png=$(realpath -m "${1:-$top/docs/status-page.png}")
size=${HALO_SCREENSHOT_SIZE:-1280,6400}
export HALO_BIN_DIR=${HALO_BIN_DIR:-$top/build/bin}
export HALO_STACK_DIR=/tmp/halo-screenshot-$$
export HALO_STACK_PORT_BASE=${HALO_STACK_PORT_BASE:-$((26000 + ($$ % 200) * 10))}
unset HALO_PG_PORT
say() { echo "screenshot: $*" >&2; }

for b in halo-sim halo-ingest halo-fetcher halo-store halo-monitor haloctl; do
  [ -x "$HALO_BIN_DIR/$b" ] || { say "$HALO_BIN_DIR/$b is missing (scripts/build.sh)"; exit 1; }
done
if ! command -v chromium >/dev/null; then
  say "installing chromium (apt-get)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fc-list 2>/dev/null | grep -q . || $sudo apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null
fi

stack() { bash "$top/scripts/stack.sh" "$@"; }
profile=""
cleanup() {
  local rc=$?
  trap - EXIT
  [ -n "$profile" ] && rm -rf "$profile"
  if [ "$rc" != 0 ]; then stack logs -n 10 2>/dev/null || true; fi
  stack destroy >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting a stack under $HALO_STACK_DIR (ports $HALO_STACK_PORT_BASE..)"
# A short lease: a fetcher that has not seen a new tenant yet gives its sync
# run back only when the lease expires.
stack start --fetchers 1 --env HALO_FETCH_LEASE_S=10 --tenant acme --client-id shot-client \
  --client-secret shot-secret --seed 3 --tickets 300 --sites 30 --users 80 --invoices 60 >/dev/null
# shellcheck disable=SC1091
source "$HALO_STACK_DIR/stack.env"

sim() { curl -fsS --max-time 60 -X POST -H 'Content-Type: application/json' --data-binary "$2" "$HALO_SIM_URL$1"; }
connect() {
  local out
  out=$(SHOT_SECRET=shot-secret haloctl connect "$1" --auth-url "$HALO_SIM_URL/auth" --resource-url "$HALO_SIM_URL/api" \
    --halo-tenant acme --client-id shot-client --client-secret-env SHOT_SECRET 2>&1) || { echo "$out" >&2; return 1; }
  grep -o "$HALO_PUBLIC_URL/hooks/$1/[0-9a-f]*" <<<"$out" | head -n 1
}
# send HOOK EVENT...: halo-sim mutations whose webhooks are these events (a
# ticket update is sometimes sent as "ticket status changed": retried).
send() {
  local hook=$1 event kind
  shift
  sim /_sim/config "{\"webhook_url\":\"$hook\"}" >/dev/null
  for event in "$@"; do
    case "$event" in
      "New Ticket Logged") kind=ticket_new ;;
      "Ticket Changed") kind=ticket_update ;;
      *) kind=$(awk '{print tolower($1) "_" ($2 == "created" ? "new" : $2 == "updated" ? "update" : "delete")}' <<<"$event") ;;
    esac
    for _ in $(seq 1 20); do
      sim /_sim/mutate "{\"count\":1,\"kinds\":[\"$kind\"],\"webhooks\":true}" | jq -e --arg e "$event" \
        'any(.mutations[]; .event == $e)' >/dev/null && break
    done
  done
}
events=("Ticket Changed" "New Ticket Logged" "Site created" "Site updated" "Site deleted" "User created"
  "User updated" "User deleted" "Invoice created" "Invoice updated" "Invoice deleted")
psql_do() { psql "$HALO_DATABASE_URL" -X -v ON_ERROR_STOP=1 -qAt -c "$1"; }

acme=$(connect acme)
brightline=$(connect brightline)
contoso=$(connect contoso)
connect dunder >/dev/null
say "connected acme, brightline, contoso and dunder; waiting for their full syncs"
for _ in $(seq 1 180); do
  [ "$(psql_do "SELECT count(*) FROM halo.sync_state WHERE full_status = 'done' AND NOT full_requested")" = 16 ] && break
  sleep 1
done

send "$contoso" "${events[@]}"
for _ in $(seq 1 60); do
  [ "$(psql_do "SELECT count(*) FROM halo.webhook_event_stats s JOIN halo.tenants t ON t.id = s.tenant_id
                WHERE t.slug = 'contoso' AND s.received > 0")" -ge 11 ] && break
  sleep 1
done
# contoso's webhook went silent 5 days ago: its history (and connect time)
# moves back, and the monitor restarts so its chart forgets those minutes.
psql_do "UPDATE halo.webhook_event_stats SET first_at = first_at - interval '5 days',
                last_at = last_at - interval '5 days'
          WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'contoso');
         UPDATE halo.webhook_deliveries SET received_at = received_at - interval '5 days'
          WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'contoso');
         UPDATE halo.tenants SET connected_at = connected_at - interval '6 days' WHERE slug = 'contoso'"
stack restart monitor >/dev/null
send "$acme" "${events[@]}"
sim /_sim/mutate '{"count":30,"webhooks":true,"duplicates":0.1}' >/dev/null # more traffic for acme's chart
send "$brightline" "New Ticket Logged" "Ticket Changed" "Ticket Changed"

want=$'acme=Webhook Successful\nbrightline=Webhook received no data for some events\ncontoso=Webhook received no data within 4 days\ndunder=Webhook received no data'
for _ in $(seq 1 90); do
  got=$(curl -fsS "$HALO_MONITOR_URL/api/status" | jq -r '.tenants[] | "\(.tenant)=\(.webhook.status)"' || true)
  [ "$got" = "$want" ] && [ "$(psql_do "SELECT count(*) FROM halo.fetch_queue")" = 0 ] && break
  sleep 1
done
[ "$got" = "$want" ] || { say "the monitor shows: $got"; exit 1; }
sleep 3 # one more refresh of the monitor, with the queue empty

profile=$(mktemp -d)
mkdir -p "$(dirname "$png")"
say "chromium --headless --screenshot=$png --window-size=$size $HALO_MONITOR_URL/"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --screenshot="$png" --window-size="$size" "$HALO_MONITOR_URL/" >/dev/null 2>&1
[ -s "$png" ] || { say "chromium wrote no screenshot"; exit 1; }
say "wrote $png"

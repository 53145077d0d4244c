#!/usr/bin/env bash
# Every webhook status of DESIGN.md 1.4, reached end to end (issue 7), and
# the "Silence" test of issue 8. The real stack (scripts/stack.sh: PostgreSQL,
# halo-sim, ingest, a fetcher, store, monitor) with three tenants connected
# to halo-sim by `haloctl connect`; halo-sim's mutations send their webhooks
# through ingest to the fetcher, which counts them in PostgreSQL:
#   quiet    nothing sent                   -> "Webhook received no data"
#   tickets  only ticket events             -> "Webhook received no data for some events",
#                                              listing the nine site, user and invoice events
#   full     one of each of the eleven      -> "Webhook Successful"
# then the clock moves: `haloctl status` and a second halo-monitor run with
# HALO_CLOCK_OFFSET_S = 4 days + 1 minute, and both say
# "Webhook received no data within 4 days" for tickets and full (quiet stays
# "no data"); 4 days - 1 hour is still "Webhook Successful". Each status is
# checked in `haloctl status --json` and in the monitor's GET /api/status.
# No timing assertion: every wait is a poll with a generous deadline.
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${HALO_BIN_DIR:-$src/build/bin}
name=test_status_e2e
t0=$(date +%s)

log() { printf '[%s +%3ss] %s\n' "$name" "$(($(date +%s) - t0))" "$*"; }
fail() {
  log "FAIL: $*"
  exit 1
}

# No database or binaries: a failure, never a skip (tests/README.md).
[ -n "${HALO_TEST_DATABASE_URL:-}" ] ||
  fail "HALO_TEST_DATABASE_URL is not set: this test needs PostgreSQL (scripts/test.sh starts one)"
for b in halo-sim halo-ingest halo-fetcher halo-store halo-monitor haloctl; do
  [ -x "$bin/$b" ] || fail "$bin/$b is not built (scripts/build.sh)"
done
for t in curl jq psql setsid; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"; done

FOUR_DAYS_S=345600
EVENTS=("Ticket Changed" "New Ticket Logged" "Site created" "Site updated" "Site deleted" "User created"
  "User updated" "User deleted" "Invoice created" "Invoice updated" "Invoice deleted")
S_NONE="Webhook received no data"
S_SOME="Webhook received no data for some events"
S_OK="Webhook Successful"
S_QUIET="Webhook received no data within 4 days"

# A private stack: state under /tmp, ports from the pid (stack +0..+7, the
# shifted monitor +8 and +9), moved on while one of them is taken.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
  local try base p ok
  for try in $(seq 0 49); do
    base=$((22000 + (($$ + try * 7) % 200) * 10))
    ok=1
    for p in $(seq "$base" $((base + 9))); do port_free "$p" || { ok=0; break; }; done
    [ "$ok" = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}
export HALO_BIN_DIR=$bin
export HALO_STACK_DIR=/tmp/halo-status-e2e-$$
HALO_STACK_PORT_BASE=$(pick_ports) || fail "no free range of 10 ports"
export HALO_STACK_PORT_BASE
unset HALO_PG_PORT
export HALO_LOG_LEVEL=${HALO_E2E_LOG_LEVEL:-info}
stack() { bash "$src/scripts/stack.sh" "$@"; }
shifted_pid=""
started=0

cleanup() {
  local rc=$? f
  trap - EXIT
  if [ -n "$shifted_pid" ]; then
    kill -TERM "$shifted_pid" 2>/dev/null || true
    wait "$shifted_pid" 2>/dev/null || true
  fi
  if [ "$started" = 1 ]; then
    if [ "$rc" != 0 ]; then
      for f in "$HALO_STACK_DIR"/log/*.log; do
        [ -f "$f" ] || continue
        echo "----- $(basename "$f") (last 20 lines)"
        tail -n 20 "$f"
      done
    fi
    stack destroy >/dev/null 2>&1 || true
  fi
  log "exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "state $HALO_STACK_DIR, ports $HALO_STACK_PORT_BASE..$((HALO_STACK_PORT_BASE + 9))"
started=1
stack start --fetchers 1 --env HALO_SYNC_INCREMENTAL_S=86400 \
  --tenant acme --client-id status-client --client-secret status-secret-$$ \
  --seed 5 --tickets 40 --sites 12 --users 20 --invoices 15 >/dev/null || fail "scripts/stack.sh start failed"
# shellcheck disable=SC1091
source "$HALO_STACK_DIR/stack.env"

sim() {
  local args=(-fsS --max-time 60 -X "$1" -H 'Content-Type: application/json')
  [ $# -ge 3 ] && args+=(--data-binary "$3")
  curl "${args[@]}" "$HALO_SIM_URL$2"
}

# connect SLUG: `haloctl connect` against halo-sim (one HaloPSA tenant, three
# halo-sync tenants); prints the webhook callback URL.
connect() {
  local out hook
  out=$(STATUS_SECRET=status-secret-$$ haloctl connect "$1" --auth-url "$HALO_SIM_URL/auth" \
    --resource-url "$HALO_SIM_URL/api" --halo-tenant acme --client-id status-client \
    --client-secret-env STATUS_SECRET 2>&1) || { echo "$out" >&2; return 1; }
  hook=$(grep -o "$HALO_PUBLIC_URL/hooks/$1/[0-9a-f]*" <<<"$out" | head -n 1)
  [ -n "$hook" ] || { echo "$out" >&2; return 1; }
  # ingest learns new tenants on its next registry refresh (2 s): until then
  # the URL is 404. An empty object is 400 once it is known (not an event).
  local code i
  for i in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$hook")
    [ "$code" = 400 ] && break
    sleep 0.2
  done
  [ "$code" = 400 ] || { echo "ingest does not know tenant $1 yet (HTTP $code)" >&2; return 1; }
  echo "$hook"
}

# send_event EVENT: one halo-sim mutation whose webhook is EVENT (a ticket
# update is sometimes sent as "ticket status changed", so retry until the
# wanted event went out); every body must be answered 200 by ingest.
send_event() {
  local event=$1 kind out try
  case "$event" in
    "New Ticket Logged") kind=ticket_new ;;
    "Ticket Changed") kind=ticket_update ;;
    *) kind=$(awk '{print tolower($1) "_" ($2 == "created" ? "new" : $2 == "updated" ? "update" : "delete")}' <<<"$event") ;;
  esac
  for try in $(seq 1 20); do
    out=$(sim POST /_sim/mutate "{\"count\":1,\"kinds\":[\"$kind\"],\"webhooks\":true}") || fail "mutate $kind"
    [ "$(jq -c '[.webhooks.statuses[] | select(. != 200)]' <<<"$out")" = "[]" ] \
      || fail "ingest did not answer 200 to the webhook of $kind: $out"
    jq -e --arg e "$event" 'any(.mutations[]; .event == $e)' <<<"$out" >/dev/null && return 0
  done
  fail "20 mutations of kind $kind never sent \"$event\": $out"
}

# send_to HOOK EVENT...: points halo-sim's webhook at HOOK and sends each event.
send_to() {
  local hook=$1 event
  shift
  sim POST /_sim/config "{\"webhook_url\":\"$hook\"}" >/dev/null || fail "cannot set the webhook URL"
  for event in "$@"; do send_event "$event"; done
}

# ctl_json [OFFSET_S]: `haloctl status --json`, with the clock shifted by OFFSET_S (default 0).
ctl_json() { HALO_CLOCK_OFFSET_S=${1:-0} haloctl status --json 2>/dev/null || true; }
api_json() { curl -fsS --max-time 10 "$1/api/status" 2>/dev/null || echo '{}'; }

# statuses JSON: "slug=status" lines of a status document, sorted.
statuses() { jq -r '[.tenants[]? | "\(.tenant)=\(.webhook.status)"] | sort | .[]' <<<"$1"; }

# expect WHAT EXPECTED CMD...: polls CMD (printing a status document) until
# its statuses equal EXPECTED; fails after 90 s. Leaves the document in $doc.
expect() {
  local what=$1 want=$2 deadline=$(($(date +%s) + 90))
  shift 2
  while :; do
    doc=$("$@")
    [ "$(statuses "$doc")" = "$want" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "wanted:"; echo "$want"; echo "got:"; statuses "$doc"
      fail "$what: statuses not reached within 90 s"
    fi
    sleep 1
  done
  log "$what: $(tr '\n' ';' <<<"$want")"
}

# check_missing DOC SLUG JSON_ARRAY: the tenant's missing events are exactly these (any order).
check_missing() {
  local got
  got=$(jq -c --arg t "$2" '[.tenants[] | select(.tenant == $t) | .webhook.missing_events[]] | sort' <<<"$1")
  [ "$got" = "$(jq -c 'sort' <<<"$3")" ] || fail "$2: missing events $got, expected $3"
}

expected_all=$(printf '%s\n' "${EVENTS[@]}" | jq -R . | jq -sc .)
not_tickets=$(jq -c 'map(select(. != "Ticket Changed" and . != "New Ticket Logged"))' <<<"$expected_all")

hook_quiet=$(connect quiet) || fail "haloctl connect quiet"
hook_tickets=$(connect tickets) || fail "haloctl connect tickets"
hook_full=$(connect full) || fail "haloctl connect full"
log "connected quiet, tickets and full to halo-sim (callback URLs under $HALO_PUBLIC_URL/hooks/)"
[ -n "$hook_quiet" ] || fail "no callback URL for quiet"

# 1. Connected, nothing sent yet: "Webhook received no data" for all three.
want=$(printf 'full=%s\nquiet=%s\ntickets=%s' "$S_NONE" "$S_NONE" "$S_NONE")
expect "haloctl status, nothing sent" "$want" ctl_json
check_missing "$doc" quiet "$expected_all"
expect "monitor /api/status, nothing sent" "$want" api_json "$HALO_MONITOR_URL"

# 2. Only ticket events for "tickets", all eleven for "full".
send_to "$hook_tickets" "New Ticket Logged" "Ticket Changed"
send_to "$hook_full" "${EVENTS[@]}"
log "sent 2 ticket events to tickets and the 11 expected events to full through halo-sim -> ingest -> fetcher"
want=$(printf 'full=%s\nquiet=%s\ntickets=%s' "$S_OK" "$S_NONE" "$S_SOME")
expect "haloctl status, webhooks sent" "$want" ctl_json
check_missing "$doc" tickets "$not_tickets"
check_missing "$doc" full "[]"
jq -e '.tenants[] | select(.tenant == "full") | [.events[] | select(.expected and .received > 0)] | length == 11' \
  <<<"$doc" >/dev/null || fail "full: not every expected event shows data"
expect "monitor /api/status, webhooks sent" "$want" api_json "$HALO_MONITOR_URL"
check_missing "$doc" tickets "$not_tickets" # the Silence test of issue 8
jq -e '.tenants[] | select(.tenant == "tickets") | .webhook.suggestion | test("creating a new invoice, site or user in HaloPSA")' \
  <<<"$doc" >/dev/null || fail "tickets: the suggestion does not say to create a new invoice, site or user"
html=$(curl -fsS --max-time 10 "$HALO_MONITOR_URL/")
for s in "$S_NONE" "$S_SOME" "$S_OK" "Invoice deleted"; do
  grep -qF "$s" <<<"$html" || fail "the status page does not show \"$s\""
done
out=$(haloctl status tickets 2>&1) && fail "haloctl status tickets: exit 0 for an unhealthy tenant"
grep -qF "Webhook status: $S_SOME" <<<"$out" || { echo "$out"; fail "haloctl status tickets (text)"; }
grep -q "Site deleted.*NO DATA YET" <<<"$out" || { echo "$out"; fail "haloctl status tickets does not list Site deleted as missing"; }

# 3. The clock moves. 4 days - 1 hour: still successful (the test does not take an hour).
want=$(printf 'full=%s\nquiet=%s\ntickets=%s' "$S_OK" "$S_NONE" "$S_SOME")
expect "haloctl status, clock +4 days -1 hour" "$want" ctl_json $((FOUR_DAYS_S - 3600))
# 4 days + 1 minute after every delivery: "no data within 4 days".
offset=$((FOUR_DAYS_S + 60))
want=$(printf 'full=%s\nquiet=%s\ntickets=%s' "$S_QUIET" "$S_NONE" "$S_QUIET")
expect "haloctl status, clock +4 days +1 min" "$want" ctl_json "$offset"
check_missing "$doc" tickets "$not_tickets" # "within 4 days" wins, the missing events are still listed
computed=$(jq -r '.tenants[0].computed_at' <<<"$doc")
shifted_day=$(date -u -d "@$(($(date +%s) + offset))" +%F)
[ "${computed:0:10}" = "$shifted_day" ] || fail "computed_at $computed is not on the shifted day $shifted_day"
HALO_CLOCK_OFFSET_S=$offset haloctl status full >/dev/null 2>&1 && fail "haloctl status full: exit 0 after 4 days of silence"

# The monitor with the same clock: a second halo-monitor on the same database
# (the first one, on the real clock, keeps saying "Webhook Successful").
mon2=127.0.0.1:$((HALO_STACK_PORT_BASE + 8))
HALO_MONITOR_LISTEN=$mon2 HALO_TELEMETRY_BIND=tcp://127.0.0.1:$((HALO_STACK_PORT_BASE + 9)) \
  HALO_CLOCK_OFFSET_S=$offset setsid "$bin/halo-monitor" </dev/null >>"$HALO_STACK_DIR/log/monitor-shifted.log" 2>&1 &
shifted_pid=$!
expect "monitor (clock +4 days +1 min) /api/status" "$want" api_json "http://$mon2"
check_missing "$doc" tickets "$not_tickets"
metrics=$(curl -fsS --max-time 10 "http://$mon2/metrics")
grep -qF "halo_webhook_status{tenant=\"full\",status=\"no_data_4_days\"} 1" <<<"$metrics" \
  || fail "/metrics of the shifted monitor: no silent-source gauge for full"
grep -qF "$S_QUIET" <(curl -fsS --max-time 10 "http://$mon2/") || fail "the shifted status page does not show \"$S_QUIET\""
grep -q "clock shifted for testing.*offset_s=$offset" "$HALO_STACK_DIR/log/monitor-shifted.log" \
  || fail "the shifted monitor did not log its clock offset"
want=$(printf 'full=%s\nquiet=%s\ntickets=%s' "$S_OK" "$S_NONE" "$S_SOME")
expect "monitor on the real clock, unchanged" "$want" api_json "$HALO_MONITOR_URL"

log "PASS: the four statuses reached through halo-sim -> ingest -> fetcher -> PostgreSQL, in haloctl status and /api/status"

#!/usr/bin/env bash
# Issue 20, metrics: both /metrics endpoints of a real stack (halo-monitor's,
# and ingest's admin listener) pass `promtool check metrics` (Debian package
# `prometheus`, installed by scripts/install-deps.sh), after a tenant was
# connected to halo-sim, received webhooks through ingest (and one refused
# webhook) and had its objects fetched and committed. Also checked: every
# family has HELP and TYPE and is written once; one webhook counter family
# (halo_webhook_received_total) and none of the old names; status codes and
# short status codes as label values; the two latency histograms per tenant;
# halo_build_info and process_start_time_seconds; no sample of -1.
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${HALO_BIN_DIR:-$src/build/bin}
name=test_metrics_promtool
t0=$(date +%s)
log() { printf '[%s +%3ss] %s\n' "$name" "$(($(date +%s) - t0))" "$*"; }
fail() {
  log "FAIL: $*"
  exit 1
}

[ -n "${HALO_TEST_DATABASE_URL:-}" ] ||
  fail "HALO_TEST_DATABASE_URL is not set: this test needs PostgreSQL (scripts/test.sh starts one)"
for b in halo-sim halo-ingest halo-fetcher halo-store halo-monitor haloctl; do
  [ -x "$bin/$b" ] || fail "$bin/$b is not built (scripts/build.sh)"
done
for t in curl jq psql promtool; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"; done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
  local try base p ok
  for try in $(seq 0 49); do
    base=$((24000 + (($$ + try * 7) % 200) * 10))
    ok=1
    for p in $(seq "$base" $((base + 9))); do port_free "$p" || { ok=0; break; }; done
    [ "$ok" = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}
export HALO_BIN_DIR=$bin
export HALO_STACK_DIR=/tmp/halo-metrics-promtool-$$
HALO_STACK_PORT_BASE=$(pick_ports) || fail "no free range of 10 ports"
export HALO_STACK_PORT_BASE
unset HALO_PG_PORT
export HALO_LOG_LEVEL=${HALO_E2E_LOG_LEVEL:-info}
stack() { bash "$src/scripts/stack.sh" "$@"; }
started=0
cleanup() {
  local rc=$? f
  trap - EXIT
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

started=1
stack start --fetchers 1 --env HALO_SYNC_INCREMENTAL_S=86400 \
  --tenant acme --client-id prom-client --client-secret prom-secret-$$ \
  --seed 7 --tickets 20 --sites 5 --users 5 --invoices 5 >/dev/null || fail "scripts/stack.sh start failed"
# shellcheck disable=SC1091
source "$HALO_STACK_DIR/stack.env"

out=$(PROM_SECRET=prom-secret-$$ haloctl connect prom --auth-url "$HALO_SIM_URL/auth" \
  --resource-url "$HALO_SIM_URL/api" --halo-tenant acme --client-id prom-client \
  --client-secret-env PROM_SECRET 2>&1) || fail "haloctl connect: $out"
hook=$(grep -o "$HALO_PUBLIC_URL/hooks/prom/[0-9a-f]*" <<<"$out" | head -n 1)
[ -n "$hook" ] || fail "no callback URL in: $out"
for i in $(seq 1 150); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$hook")
  [ "$code" = 400 ] && break
  sleep 0.2
done
[ "$code" = 400 ] || fail "ingest does not know tenant prom (HTTP $code)"
# One refused webhook (a wrong token), then real ones from halo-sim.
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "$HALO_PUBLIC_URL/hooks/prom/00000000000000000000000000000000"
curl -fsS -X POST -H 'Content-Type: application/json' --data-binary "{\"webhook_url\":\"$hook\"}" \
  "$HALO_SIM_URL/_sim/config" >/dev/null || fail "cannot set halo-sim's webhook URL"
curl -fsS -X POST -H 'Content-Type: application/json' \
  --data-binary '{"count":6,"kinds":["ticket_new","site_update","user_new"],"webhooks":true}' \
  "$HALO_SIM_URL/_sim/mutate" >/dev/null || fail "halo-sim mutate"
log "tenant prom connected, webhooks sent"

# Wait until the pipeline's telemetry reached the monitor: both histograms of prom.
deadline=$(($(date +%s) + 120))
while :; do
  mon=$(curl -fsS --max-time 10 "$HALO_MONITOR_URL/metrics" || true)
  grep -q '^halo_webhook_commit_seconds_count{tenant="prom"} [1-9]' <<<"$mon" &&
    grep -q '^halo_api_request_duration_seconds_count{tenant="prom"} [1-9]' <<<"$mon" &&
    grep -q '^halo_webhook_rejected_total{tenant="prom",reason=' <<<"$mon" &&
    grep -q '^halo_webhook_received_total{tenant="prom",event="[^"]*"} [1-9]' <<<"$mon" &&
    grep -q '^halo_webhook_status{tenant="prom",status="some_events"} 1' <<<"$mon" && break
  [ "$(date +%s)" -lt "$deadline" ] || { echo "$mon" | grep -v '^#' | head -60; fail "histograms of prom not on the monitor's /metrics within 120 s"; }
  sleep 1
done
ing=$(curl -fsS --max-time 10 "$HALO_INGEST_ADMIN_URL/metrics") || fail "ingest admin /metrics"
mkdir -p "$HALO_STACK_DIR/metrics"
printf '%s\n' "$mon" >"$HALO_STACK_DIR/metrics/monitor.prom"
printf '%s\n' "$ing" >"$HALO_STACK_DIR/metrics/ingest.prom"

for which in monitor ingest; do
  f=$HALO_STACK_DIR/metrics/$which.prom
  problems=$(promtool check metrics <"$f" 2>&1) || fail "promtool check metrics, $which: $problems"
  [ -z "$problems" ] || fail "promtool check metrics, $which: $problems"
  # Every family once, each with HELP and TYPE; every sample belongs to a TYPEd family.
  dup=$(grep '^# TYPE ' "$f" | awk '{print $3}' | sort | uniq -d)
  [ -z "$dup" ] || fail "$which: families written twice: $dup"
  for fam in $(grep '^# TYPE ' "$f" | awk '{print $3}'); do
    grep -q "^# HELP $fam " "$f" || fail "$which: $fam has no HELP"
  done
  grep -v '^#' "$f" | awk 'NF {print $NF}' | grep -qx -- '-1' && fail "$which: a sample is -1"
  grep -q '^halo_build_info{process="halo-'"$which"'",version="' "$f" || fail "$which: no halo_build_info"
  grep -q '^process_start_time_seconds [0-9]' "$f" || fail "$which: no process_start_time_seconds"
  grep -Eq 'halo_ingest_webhooks_received_total|halo_webhook_event_received_total|halo_api_429_total' "$f" &&
    fail "$which: an old metric name is still written"
  log "$which /metrics: promtool clean, $(grep -c '^# TYPE ' "$f") families"
done
grep -q '^halo_webhook_received_total{tenant="prom",event="[^"]*"} [1-9]' "$HALO_STACK_DIR/metrics/ingest.prom" ||
  fail "ingest: no halo_webhook_received_total for prom"
grep -q '^halo_api_requests_total{tenant="prom",code="200"} [1-9]' "$HALO_STACK_DIR/metrics/monitor.prom" ||
  fail "monitor: no halo_api_requests_total with the status code as a label"
grep -q '^halo_webhook_commit_seconds_bucket{tenant="prom",le="+Inf"} [1-9]' "$HALO_STACK_DIR/metrics/monitor.prom" ||
  fail "monitor: no +Inf bucket of halo_webhook_commit_seconds"
log "ok"

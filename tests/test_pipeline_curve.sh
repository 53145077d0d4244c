#!/usr/bin/env bash
# The pipeline with ZeroMQ CURVE on every link (issue 19 row 10): keys made by
# `haloctl curve-keypair` (a server pair, a client pair), given as files the
# way docker-compose.yml gives them (HALO_CURVE_SERVER_SECRET_FILE,
# HALO_CURVE_CLIENT_SECRET_FILE, the public keys as file paths). Full sync,
# 30 mutations with webhooks, then PostgreSQL must equal halo-sim's dump with
# an empty ledger (ingest -> fetcher -> store all over CURVE), and the
# monitor must have received ingest's telemetry (PUB -> SUB over CURVE).
# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "$0")/pipeline_lib.sh"
e2e_init pipeline_curve

SECRET=curve-secret-$$
keys=$(mktemp -d /tmp/halo-curve-keys-XXXXXX)
trap 'rc=$?; rm -rf "$keys"; (exit $rc); e2e_cleanup' EXIT
"$E2E_BIN/haloctl" curve-keypair "$keys/server.secret" "$keys/server.public" >/dev/null ||
  e2e_fail "haloctl curve-keypair failed"
"$E2E_BIN/haloctl" curve-keypair "$keys/client.secret" "$keys/client.public" >/dev/null ||
  e2e_fail "haloctl curve-keypair failed"
[ "$(stat -c %a "$keys/server.secret")" = 600 ] || e2e_fail "the secret key file is not 0600"
"$E2E_BIN/haloctl" curve-keypair "$keys/server.secret" "$keys/again.public" >/dev/null 2>&1 &&
  e2e_fail "haloctl curve-keypair overwrote an existing key file"

e2e_stack_start --fetchers 2 \
  --env HALO_CURVE_SERVER_SECRET_FILE="$keys/server.secret" --env HALO_CURVE_CLIENTS="$keys/client.public" \
  --env HALO_CURVE_SERVER_PUBLIC="$keys/server.public" --env HALO_CURVE_CLIENT_SECRET_FILE="$keys/client.secret" \
  --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id curve-client --client-secret "$SECRET" --seed 37 \
  --tickets 60 --sites 10 --users 20 --invoices 10 --rate-limit 450 --rate-window 5

for f in ingest store monitor fetcher-1 fetcher-2; do
  [ "$(e2e_count 'msg="zeromq curve on"' "$HALO_STACK_DIR/log/$f.log")" = 1 ] || e2e_fail "$f did not turn CURVE on"
done
e2e_connect demo curve-client "$SECRET" --rate-limit 450 --rate-window 5
e2e_wait_full_sync 120
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
out=$HALO_STACK_DIR/mutate-0.json
e2e_mutate_chunk 30 full false "$out" || e2e_fail "POST /_sim/mutate failed"
e2e_record_chunk "$out"
e2e_redeliver "$out"
e2e_converge 120
e2e_log "converged $E2E_CONVERGE_S s after the mutations:"
printf '%s' "$E2E_COMPARE"
deadline=$(($(date +%s) + 30))
until curl -fsS --max-time 5 "$HALO_MONITOR_URL/metrics" | grep -q '^halo_journal_unacked'; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the monitor got no telemetry from ingest over CURVE"
  sleep 1
done
e2e_log "PASS: lost=$E2E_LOST stale=$E2E_STALE phantom=$E2E_PHANTOM with CURVE on every ZeroMQ link; monitor has ingest's telemetry"

#!/usr/bin/env bash
# What the end-to-end tests (tests/test_e2e_*.sh) share: a private stack
# (scripts/stack.sh) under /tmp on ports derived from the test's pid, always
# torn down on exit; halo-sim control; a tenant connected with haloctl;
# mutations with webhooks, redelivering any body that did not get a 2xx (as a
# sender that retries would); convergence; the field-by-field comparison of
# PostgreSQL with halo-sim's dump (tests/e2e_compare.jq); and the checks of
# halo-sim's request log (no 429, never over budget in any window).
# Sourced, not run. Needs bash, curl, jq, psql and the built binaries.

# shellcheck disable=SC2034  # E2E_* results are read by the tests that source this file
set -euo pipefail

E2E_SRC=${HALO_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
E2E_BIN=${HALO_BIN_DIR:-$E2E_SRC/build/bin}
E2E_NAME=e2e
E2E_T0=$(date +%s)
E2E_BG_PIDS=()
E2E_STACK_STARTED=0

e2e_log() { printf '[%s +%3ss] %s\n' "$E2E_NAME" "$(($(date +%s) - E2E_T0))" "$*"; }
e2e_fail() { e2e_log "FAIL: $*"; exit 1; }
e2e_now_ms() { date +%s%3N; }

# e2e_init NAME: fails (never skips, tests/README.md) without the test
# database or the binaries; chooses the state directory and ports, installs
# the exit trap.
e2e_init() {
  E2E_NAME=$1
  [ -n "${HALO_TEST_DATABASE_URL:-}" ] ||
    e2e_fail "HALO_TEST_DATABASE_URL is not set: this test needs PostgreSQL (scripts/test.sh starts one)"
  local b t
  for b in halo-sim halo-ingest halo-fetcher halo-store halo-monitor haloctl; do
    [ -x "$E2E_BIN/$b" ] || e2e_fail "$E2E_BIN/$b is not built (scripts/build.sh)"
  done
  for t in curl jq psql setsid; do
    command -v "$t" >/dev/null || e2e_fail "$t is not installed (scripts/install-deps.sh)"
  done
  export HALO_BIN_DIR=$E2E_BIN
  export HALO_STACK_DIR=/tmp/halo-e2e-$E2E_NAME-$$
  export HALO_STACK_PORT_BASE
  HALO_STACK_PORT_BASE=$(e2e_pick_ports)
  unset HALO_PG_PORT
  export HALO_LOG_LEVEL=${HALO_E2E_LOG_LEVEL:-info}
  E2E_STACK="$E2E_SRC/scripts/stack.sh"
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
  e2e_log "state $HALO_STACK_DIR, ports $HALO_STACK_PORT_BASE..$((HALO_STACK_PORT_BASE + 7)), binaries $E2E_BIN"
}

e2e_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# e2e_pick_ports: a base in 20000..31999 from the pid (below the ephemeral
# range) whose 8 ports are free.
e2e_pick_ports() {
  local slot=$(($$ % 1000)) try base p ok
  for try in $(seq 0 99); do
    base=$((20000 + ((slot + try * 37) % 1000) * 12))
    ok=1
    for p in $(seq "$base" $((base + 7))); do e2e_port_free "$p" || { ok=0; break; }; done
    [ "$ok" = 1 ] && { echo "$base"; return 0; }
  done
  echo "no free port range" >&2
  return 1
}

# e2e_cleanup: stops background helpers and the stack; on failure prints the
# end of every log and keeps STATE/log (the database is deleted); with
# HALO_E2E_KEEP=1 a passing test keeps its whole state (stack stopped).
e2e_cleanup() {
  local rc=$? p f
  trap - EXIT
  for p in ${E2E_BG_PIDS[@]+"${E2E_BG_PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
  if [ "$E2E_STACK_STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      for f in "$HALO_STACK_DIR"/log/*.log; do
        [ -f "$f" ] || continue
        echo "----- $(basename "$f") (last 25 lines)"
        tail -n 25 "$f"
      done
      bash "$E2E_STACK" stop >/dev/null 2>&1 || true
      local pgdir
      pgdir=$(readlink -f "$HALO_STACK_DIR/pg" 2>/dev/null || true)
      case "$pgdir" in /tmp/halo-pg.*) rm -rf "$pgdir" ;; esac
      rm -rf "$HALO_STACK_DIR/pg" "$HALO_STACK_DIR/journal"
      echo "$E2E_NAME: logs kept in $HALO_STACK_DIR/log"
    elif [ "${HALO_E2E_KEEP:-0}" = 1 ]; then
      bash "$E2E_STACK" stop >/dev/null 2>&1 || true
      echo "$E2E_NAME: HALO_E2E_KEEP=1: state kept in $HALO_STACK_DIR (scripts/stack.sh destroy removes it)"
    else
      bash "$E2E_STACK" destroy >/dev/null 2>&1 || true
    fi
  fi
  e2e_log "exit $rc after $(($(date +%s) - E2E_T0)) s"
  exit "$rc"
}

# e2e_stack_start ARGS...: scripts/stack.sh start ARGS, then the stack's environment.
e2e_stack_start() {
  E2E_STACK_STARTED=1
  bash "$E2E_STACK" start "$@" >/dev/null || e2e_fail "scripts/stack.sh start failed"
  # shellcheck disable=SC1091
  source "$HALO_STACK_DIR/stack.env"
  e2e_log "stack up: $(bash "$E2E_STACK" status | grep -c running) parts running"
}

# e2e_psql SQL: one value or rows (unaligned, tuples only) from the stack's database.
e2e_psql() { psql "$HALO_DATABASE_URL" -X -v ON_ERROR_STOP=1 -qAt -c "$1"; }

# e2e_sim METHOD PATH [JSON]: a halo-sim control request; prints the answer.
e2e_sim() {
  local args=(-fsS --max-time 300 -X "$1" -H 'Content-Type: application/json')
  [ $# -ge 3 ] && args+=(--data-binary "$3")
  curl "${args[@]}" "$HALO_SIM_URL$2"
}

# e2e_connect TENANT CLIENT_ID SECRET [haloctl connect options]: connects the
# halo-sim tenant as an operator would, and waits until ingest knows it; sets
# E2E_HOOK to the callback URL. (One tenant per stack.)
e2e_connect() {
  local tenant=$1 client=$2 secret=$3 out
  shift 3
  out=$(E2E_SECRET=$secret "$E2E_BIN/haloctl" connect "$tenant" --auth-url "$HALO_SIM_URL/auth" \
    --resource-url "$HALO_SIM_URL/api" --halo-tenant "$tenant" --client-id "$client" \
    --client-secret-env E2E_SECRET "$@" 2>&1) || { echo "$out"; e2e_fail "haloctl connect failed"; }
  E2E_HOOK=$(grep -o "$HALO_PUBLIC_URL/hooks/$tenant/[0-9a-f]*" <<<"$out" | head -n 1)
  [ -n "$E2E_HOOK" ] || { echo "$out"; e2e_fail "no webhook callback URL in haloctl connect's output"; }
  # ingest re-reads the tenant registry every few seconds: until then the URL is unknown to it.
  local deadline=$(($(date +%s) + 30))
  until [ "$(curl -fsS --max-time 5 "$HALO_INGEST_URL/healthz" 2>/dev/null | jq -r '.registry_tenants // 0')" -ge 1 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "ingest's registry has no tenant 30 s after haloctl connect"
    sleep 0.5
  done
  e2e_log "connected $tenant; callback URL $HALO_PUBLIC_URL/hooks/$tenant/<token>"
}

# e2e_wait_full_sync SECONDS: until every entity's full sync is done.
e2e_wait_full_sync() {
  local deadline=$(($(date +%s) + $1)) t0 state
  t0=$(date +%s)
  while :; do
    state=$(e2e_psql "SELECT count(*) FILTER (WHERE full_status = 'done' AND NOT full_requested) || '/' || count(*)
                        || ' failed=' || count(*) FILTER (WHERE full_status = 'failed')
                        || ' seen=' || coalesce(sum(full_seen), 0) FROM halo.sync_state" 2>/dev/null || echo "?")
    case "$state" in 11/11*) break ;; esac # 4 entities and 7 reference lists (halo_entity)
    [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "full sync not done after $1 s ($state)"
    sleep 1
  done
  E2E_FULL_SYNC_S=$(($(date +%s) - t0))
  e2e_log "full sync done in ${E2E_FULL_SYNC_S} s ($state)"
}

# e2e_wait_backfill SECONDS: waits until no mirrored row wants a detail (the
# backfill of what list pages could not fill is done, docs/fetcher.md), so a
# test counting requests after it counts only its own.
e2e_wait_backfill() {
  local deadline=$(($(date +%s) + $1)) wanting
  while :; do
    wanting=$(e2e_psql "SELECT coalesce(sum(wanting), 0) FROM halo.detail_coverage" 2>/dev/null || echo "?")
    [ "$wanting" = 0 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "backfill not done after $1 s ($wanting rows wanting a detail)"
    sleep 1
  done
  e2e_log "backfill done"
}

# e2e_mutate_chunk N PAYLOAD REORDER OUT: N random mutations of every kind with
# webhooks (20% sent twice, 20% in batches); the answer (with bodies) goes to OUT.
e2e_mutate_chunk() {
  e2e_sim POST /_sim/mutate "{\"count\":$1,\"payload\":\"$2\",\"reorder\":$3,\"duplicates\":0.2,\"batch\":0.2,\"return_bodies\":true}" >"$4"
}

# e2e_redeliver OUT: POSTs again every body of a mutate answer that did not
# get a 2xx, until it does (90 s per body at most). Adds to E2E_REDELIVERED.
e2e_redeliver() {
  local out=$1 body code deadline n=0
  while IFS= read -r body; do
    n=$((n + 1))
    deadline=$(($(date +%s) + 90))
    while :; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' \
        --data-binary @- "$E2E_HOOK" <<<"$body" || true)
      case "$code" in 2??) break ;; esac
      [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "redelivery still answered '$code' after 90 s"
      sleep 0.5
    done
  done < <(jq -c '. as $r | ($r.webhooks.statuses // []) | to_entries[]
                  | select(.value < 200 or .value >= 300) | $r.bodies[.key]' "$out")
  E2E_REDELIVERED=$((${E2E_REDELIVERED:-0} + n))
}

# e2e_record_chunk OUT: adds the chunk's mutated ids and counts to the totals.
e2e_record_chunk() {
  jq -c '.mutations[] | {kind, id}' "$1" >>"$HALO_STACK_DIR/mutations.jsonl"
  jq -r '[.applied, .webhooks.deliveries, .webhooks.bodies, .webhooks.failed, (.errors | length)] | @tsv' "$1" \
    >>"$HALO_STACK_DIR/chunks.tsv"
}

# e2e_mutation_summary: one line of totals and one of counts per kind.
e2e_mutation_summary() {
  awk -F'\t' '{a += $1; d += $2; b += $3; f += $4; e += $5}
    END {printf "mutations %d, webhook deliveries %d in %d bodies, %d bodies failed (redelivered), %d mutation errors\n", a, d, b, f, e}' \
    "$HALO_STACK_DIR/chunks.tsv"
  jq -rs 'group_by(.kind) | map("\(.[0].kind)=\(length)") | join(" ")' "$HALO_STACK_DIR/mutations.jsonl"
}

# e2e_quiescent: true when nothing is left to do: the ledger is empty (no
# pending, leased or failed row), no sync is requested or running, and ingest
# has no unacknowledged or in-flight job. Sets E2E_PENDING to what is left.
e2e_quiescent() {
  local db ingest
  db=$(e2e_psql "SELECT 'queue=' || (SELECT count(*) FROM halo.fetch_queue)
                 || ' failed=' || (SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed')
                 || ' syncs=' || (SELECT count(*) FROM halo.sync_state WHERE full_requested OR full_status = 'running')" \
    2>/dev/null || echo "db=down")
  ingest=$(curl -fsS --max-time 5 "$HALO_INGEST_URL/healthz" 2>/dev/null | jq -r '"unacked=\(.unacked) inflight=\(.inflight)"' \
    || echo "ingest=down")
  E2E_PENDING="$db $ingest"
  [ "$E2E_PENDING" = "queue=0 failed=0 syncs=0 unacked=0 inflight=0" ]
}

# e2e_compare_with SIM_URL TENANT TOUCHED_JSONL OUTDIR: compares every entity
# of halo-sim at SIM_URL with the rows of TENANT (empty: every row);
# TOUCHED_JSONL holds {"kind","id"} lines of mutated objects. With
# E2E_WANTING_OK=true a field absent from a row the mirror marks as wanting
# its detail counts as partial (for tests that run without the backfill). Sets
# E2E_COMPARE (one line per entity) and
# E2E_LOST/E2E_STALE/E2E_PHANTOM/E2E_PARTIAL/E2E_DERIVED; true when all three
# errors are 0. The one comparison every test uses (tests/e2e_compare.jq).
e2e_compare_with() {
  local url=$1 tenant=$2 touched=$3 dir=$4 e line where="" prefix=""
  mkdir -p "$dir"
  [ -f "$touched" ] || : >"$touched"
  [ -n "$tenant" ] && { where="WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = '$tenant')"; prefix="$tenant "; }
  E2E_LOST=0 E2E_STALE=0 E2E_PHANTOM=0 E2E_PARTIAL=0 E2E_DERIVED=0 E2E_COMPARE=""
  for e in tickets sites users invoices; do
    curl -fsS --max-time 300 "$url/_sim/dump?entity=$e" >"$dir/sim-$e.json" || return 1
    e2e_psql "SELECT coalesce(json_agg(json_build_object('id', id, 'deleted', deleted_at IS NOT NULL, 'raw', raw,
              'wanting', detail_wanted_since IS NOT NULL)), '[]')
              FROM halo.$e $where" >"$dir/pg-$e.json" 2>/dev/null || return 1
    jq -cs --arg e "${e%s}" 'map(select(.kind | startswith($e + "_")) | .id) | unique' "$touched" >"$dir/touched-$e.json"
    jq -n -c --slurpfile sim "$dir/sim-$e.json" --slurpfile pg "$dir/pg-$e.json" \
      --slurpfile touched "$dir/touched-$e.json" --argjson wanting_ok "${E2E_WANTING_OK:-false}" \
      '$sim[0] as $sim | $pg[0] as $pg | $touched[0] as $touched | '"$(grep -v '^#' "$E2E_SRC/tests/e2e_compare.jq")" \
      >"$dir/result-$e.json" || return 1
    line=$(jq -r '"\(.entity): live \(.live), deleted \(.deleted_in_sim), rows \(.rows), touched \(.touched): lost \(.lost) stale \(.stale) phantom \(.phantom) (partial \(.partial), derived \(.derived))"' "$dir/result-$e.json")
    E2E_COMPARE+="  $prefix$line"$'\n'
    eval "$(jq -r '"E2E_LOST=$((E2E_LOST + \(.lost))) E2E_STALE=$((E2E_STALE + \(.stale))) E2E_PHANTOM=$((E2E_PHANTOM + \(.phantom))) E2E_PARTIAL=$((E2E_PARTIAL + \(.partial))) E2E_DERIVED=$((E2E_DERIVED + \(.derived)))"' "$dir/result-$e.json")"
  done
  [ "$E2E_LOST" = 0 ] && [ "$E2E_STALE" = 0 ] && [ "$E2E_PHANTOM" = 0 ]
}

# e2e_compare: e2e_compare_with for this stack's halo-sim, every row, and
# $HALO_STACK_DIR/mutations.jsonl; prints nothing, sets what it sets.
e2e_compare() {
  e2e_compare_with "$HALO_SIM_URL" "" "$HALO_STACK_DIR/mutations.jsonl" "$HALO_STACK_DIR/compare"
}

# e2e_compare_examples: the first differences of each entity (after a failed compare).
e2e_compare_examples() {
  local e
  for e in tickets sites users invoices; do
    jq -c '.examples[]' "$HALO_STACK_DIR/compare/result-$e.json" 2>/dev/null | sed "s/^/  $e: /"
  done
}

# e2e_converge SECONDS: waits until the stack is quiescent and PostgreSQL
# equals the dump; sets E2E_CONVERGE_S (from the call). Fails at the deadline.
e2e_converge() {
  local t0 deadline last="" now
  t0=$(e2e_now_ms)
  deadline=$(($(date +%s) + $1))
  while :; do
    if e2e_quiescent && e2e_compare; then break; fi
    now=$(date +%s)
    if [ "$now" -ge "$deadline" ]; then
      e2e_log "not converged after $1 s: $E2E_PENDING"
      printf '%s' "${E2E_COMPARE:-}"
      e2e_compare_examples
      e2e_psql "SELECT entity, object_id, state, attempts, last_error FROM halo.fetch_queue ORDER BY updated_at LIMIT 10" || true
      e2e_fail "PostgreSQL did not converge to halo-sim's data"
    fi
    if [ "$E2E_PENDING" != "$last" ]; then e2e_log "waiting: $E2E_PENDING"; last=$E2E_PENDING; fi
    sleep 2
  done
  E2E_CONVERGE_MS=$(($(e2e_now_ms) - t0))
  E2E_CONVERGE_S=$(awk -v ms="$E2E_CONVERGE_MS" 'BEGIN {printf "%.1f", ms / 1000}')
}

# e2e_check_requests BUDGET WINDOW_MS: halo-sim's request log file: no 429,
# and no window of WINDOW_MS holds more than BUDGET counted requests. Sets
# E2E_REQUESTS, E2E_MAX_WINDOW, E2E_429.
e2e_check_requests() {
  local budget=$1 window=$2 log=$HALO_STACK_DIR/log/sim-requests.jsonl
  [ -f "$log" ] || e2e_fail "no request log $log"
  E2E_429=$(jq -s 'map(select(.status == 429)) | length' "$log")
  E2E_REQUESTS=$(jq -s 'map(select(.counted)) | length' "$log")
  # For each counted request, how many counted requests fall within (t - window, t].
  E2E_MAX_WINDOW=$(jq -r 'select(.counted) | .ts_ms' "$log" | sort -n | awk -v w="$window" '
    { t[NR] = $1; while (t[NR] - t[lo + 1] >= w) lo++; c = NR - lo; if (c > max) { max = c; at = $1 } }
    END { printf "%d", max }')
  e2e_log "halo-sim request log: $E2E_REQUESTS API requests, $E2E_429 answered 429, at most $E2E_MAX_WINDOW in any $((window / 1000)) s window (budget $budget)"
  [ "$E2E_429" = 0 ] || e2e_fail "halo-sim answered 429 $E2E_429 times: $(jq -c 'select(.status == 429)' "$log" | head -n 3)"
  [ "$E2E_MAX_WINDOW" -le "$budget" ] || e2e_fail "$E2E_MAX_WINDOW requests in one window: over the budget of $budget"
}

# e2e_expect_status TENANT TEXT SECONDS: until `haloctl status TENANT` says TEXT.
e2e_expect_status() {
  local deadline=$(($(date +%s) + $3)) out
  while :; do
    out=$("$E2E_BIN/haloctl" status "$1" 2>&1 || true)
    if grep -qF "Webhook status: $2" <<<"$out"; then
      e2e_log "haloctl status $1: $(grep -F 'Webhook status:' <<<"$out" | sed 's/^ *//')"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$out"
      e2e_fail "haloctl status $1 does not say \"$2\""
    fi
    sleep 1
  done
}

# e2e_chaos PROC [PAUSE_MS]: kill -9 PROC (a process of the stack) and restart
# it after PAUSE_MS (default 0.5-2.5 s); for postgres, a fast shutdown and a
# start 3 s later (scripts/pg.sh).
e2e_chaos() {
  local name=$1 pause=${2:-$((500 + RANDOM % 2000))} t0
  t0=$(e2e_now_ms)
  case "$name" in
    postgres)
      bash "$E2E_SRC/scripts/pg.sh" stop "$HALO_STACK_DIR" >/dev/null
      sleep 3
      bash "$E2E_SRC/scripts/pg.sh" start "$HALO_STACK_DIR" >/dev/null || e2e_fail "PostgreSQL did not start again"
      e2e_log "chaos: PostgreSQL stopped (fast) and started again, down $(($(e2e_now_ms) - t0)) ms"
      ;;
    *)
      bash "$E2E_STACK" kill "$name"
      sleep "$(awk -v ms="$pause" 'BEGIN {printf "%.3f", ms / 1000}')"
      bash "$E2E_STACK" restart "$name" >/dev/null || e2e_fail "$name did not restart"
      e2e_log "chaos: kill -9 $name, restarted after $pause ms (up again $(($(e2e_now_ms) - t0)) ms after the kill)"
      ;;
  esac
}

# e2e_count PATTERN FILE...: lines of the files matching PATTERN (grep -E).
e2e_count() { local pat=$1; shift; cat "$@" 2>/dev/null | grep -cE -- "$pat" || true; }

# e2e_evidence: what the logs say the failures did (restarts, reconnections,
# reclaimed leases, resent jobs), to show that the chaos hit work in flight.
e2e_evidence() {
  local l=$HALO_STACK_DIR/log
  e2e_log "evidence: starts: ingest $(e2e_count 'msg="started"' "$l/ingest.log"), fetchers $(e2e_count 'msg="started"' "$l"/fetcher-*.log), store $(e2e_count 'store ready' "$l/store.log"), monitor $(e2e_count 'monitor started' "$l/monitor.log")"
  e2e_log "evidence: $(e2e_count 'expired leases reclaimed' "$l"/fetcher-*.log) expired-lease reclaims (fetchers), $(e2e_count 'lease changed' "$l/store.log") ledger rows left to a newer lease (store), $(e2e_count 'connection lost|reconnect' "$l"/*.log) PostgreSQL reconnection lines, $(e2e_count 'level=(warn|error)' "$l"/*.log) warn/error lines in all"
  e2e_log "evidence: ingest since its last start: $(curl -fsS --max-time 5 "$HALO_INGEST_ADMIN_URL/metrics" 2>/dev/null | grep -E '^halo_ingest_jobs_(sent|resent|acked)_total' | tr '\n' ' ')"
}

#!/usr/bin/env bash
# docs/BENCHMARKS.md "Issue 21: three hosts": fetchers in 1, 2, then 3
# containers of the compose stack (the real Docker engine, images built once
# per source hash, as tests/test_compose.sh, whose parts it shares through
# tests/compose_lib.sh) sharing one tenant's budget. halo-sim models Halo's
# latency (every counted API request is delayed --slow-ms, a generated
# compose override gives it --fault-rate 1 --fault-kinds slow) and a rate
# limit that one fetcher (HALO_FETCHER_CONCURRENCY workers, each one request
# at a time) cannot use up but three can exceed; the tenant is connected with
# the same limit and window (haloctl's default headroom 0.9: budget B =
# floor(0.9 L)). One stack, scaled up between phases (`up --scale
# fetcher=N --no-recreate`); each phase starts once halo-sim's window is
# empty, then a storm of M ticket updates, each a distinct ticket, sent as
# webhooks to ingest by halo-sim (/_sim/mutate), drains. From halo-sim's
# request log: the single-object GETs per second during the drain (first to
# last GET of the phase), the worst window of the tenant (must be <= B) and
# the 429s (must be 0); from PostgreSQL: every changed ticket with halo-sim's
# last-update time. One line per N and a summary on stdout, progress on
# stderr; exit 1 when a budget, a 429 or a row fails.
#   bash bench/three_hosts.sh [--mutations M] [--limit L] [--window S]
#        [--slow-ms MS] [--concurrency C] [--fetchers "1 2 3"]
#   defaults: M 1200, L 550 (B = 495: 45/s over the span of 11 s), S 10, MS 100, C 2; HALO_COMPOSE_KEEP=1 keeps the stack up
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC"
MUTATIONS=1200 LIMIT=550 WINDOW=10 SLOW_MS=100 CONCURRENCY=2 FETCHERS="1 2 3"
while [ $# -gt 0 ]; do
  case $1 in
    --mutations) MUTATIONS=$2 ;;
    --limit) LIMIT=$2 ;;
    --window) WINDOW=$2 ;;
    --slow-ms) SLOW_MS=$2 ;;
    --concurrency) CONCURRENCY=$2 ;;
    --fetchers) FETCHERS=$2 ;;
    *) echo "usage: $0 [--mutations M] [--limit L] [--window S] [--slow-ms MS] [--concurrency C] [--fetchers \"1 2 3\"]" >&2; exit 2 ;;
  esac
  shift 2
done
T0=$(date +%s)
log() { printf '[three_hosts +%3ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
for t in curl jq psql sha256sum; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"; done
now_ms() { date +%s%3N; }
WORK=$(mktemp -d /tmp/halo-three-hosts.XXXXXX)
STARTED=0
phases=$(wc -w <<<"$FETCHERS")
TICKETS=$((MUTATIONS * phases + 100))

# shellcheck source=tests/compose_lib.sh
source "$SRC/tests/compose_lib.sh"
compose_engine_start halohosts
compose_setup halohosts$$
# halo-sim: Halo's latency on every counted request, the budget, tickets
# enough for a distinct set per phase; the other entities small (their
# detail backfill would otherwise share the budget with the storms).
cat >"$WORK/three-hosts.yml" <<YML
services:
  sim:
    command: ["halo-sim", "--listen", "0.0.0.0:8090", "--tenant", "demo", "--client-id", "demo-client",
              "--client-secret", "demo-secret", "--tickets", "$TICKETS", "--sites", "10", "--users", "10",
              "--invoices", "10", "--request-log", "/var/lib/halo/sim-requests.jsonl",
              "--rate-limit", "$LIMIT", "--rate-window", "$WINDOW",
              "--fault-rate", "1", "--fault-kinds", "slow", "--slow-ms", "$SLOW_MS"]
  fetcher:
    environment:
      HALO_FETCHER_CONCURRENCY: "$CONCURRENCY"
YML
export COMPOSE_FILE=$SRC/docker-compose.yml:$WORK/three-hosts.yml

cleanup() {
  local rc=$?
  trap - EXIT
  if [ "$STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      dc --profile sim ps >&2 || true
      for s in ingest fetcher store sim; do
        echo "----- $s (last 15 lines)" >&2
        dc --profile sim logs --no-color --tail 15 "$s" 2>&1 | grep -v '^Attaching' >&2 || true
      done
    fi
    if [ "${HALO_COMPOSE_KEEP:-0}" = 1 ]; then
      log "HALO_COMPOSE_KEEP=1: project $P left up (COMPOSE_FILE=$COMPOSE_FILE ${DC[*]} -p $P down -v removes it)"
      exit "$rc"
    fi
    dc --profile sim --profile tools down -v --remove-orphans >/dev/null 2>&1 || log "warning: down -v failed"
  fi
  [ "${HALO_COMPOSE_KEEP:-0}" = 1 ] || rm -rf "$WORK"
  log "exit $rc after $(($(date +%s) - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compose_images
echo "machine: nproc=$(nproc) cpu=\"$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)\" ram_mib=$(free -m | awk '/^Mem:/ {print $2}')" \
  "kernel=$(uname -r) docker=$(docker version --format '{{.Server.Version}}') date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "head=$(git rev-parse --short HEAD 2>/dev/null || echo none) image=$HALO_IMAGE loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
echo "config: sim=\"--rate-limit $LIMIT --rate-window $WINDOW --fault-rate 1 --fault-kinds slow --slow-ms $SLOW_MS --tickets $TICKETS\"" \
  "tenant=\"--rate-limit $LIMIT --rate-window $WINDOW (headroom 0.9)\" HALO_FETCHER_CONCURRENCY=$CONCURRENCY" \
  "storm=\"$MUTATIONS distinct ticket updates per phase, payload full, webhooks from halo-sim\" fetchers=\"$FETCHERS\""
first=${FETCHERS%% *}
STARTED=1
dc --profile sim up -d --no-build --scale fetcher="$first" >"$WORK/up.log" 2>&1 \
  || { cat "$WORK/up.log" >&2; fail "docker-compose up failed"; }
compose_wait_healthy 240 "fetcher=$first ingest=1 monitor=1 postgres=1 store=1"
compose_exited_ok migrate db-roles
compose_read_ports
wait_pg 120
compose_connect_demo "$LIMIT" "$WINDOW"
BUDGET=$(admin_sql "SELECT floor(rate_limit * rate_headroom)::int FROM halo.tenants")
SPAN_MS=$((WINDOW * 1000 + (WINDOW * 200 < 1000 ? WINDOW * 200 : 1000)))
t_sync=$(date +%s)
wait_full_sync 300
log "full sync done in $(($(date +%s) - t_sync)) s; budget $BUDGET per $WINDOW s (halo-sim: $LIMIT), $TICKETS tickets"

# quiet: until halo-sim's window of the tenant is empty, nothing is queued,
# and the fetchers' longer span (window + safety) has passed too.
quiet() {
  local deadline=$(($(date +%s) + $1 + WINDOW)) used queued
  while :; do
    used=$(curl -fsS --max-time 10 "$SIM/_sim/stats" | jq '.budget.used')
    queued=$(admin_sql "SELECT count(*) FROM halo.fetch_queue")
    [ "$used" = 0 ] && [ "$queued" = 0 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail "not quiet after $1 s (window used $used, queued $queued)"
    sleep 1
  done
  sleep $(((SPAN_MS - WINDOW * 1000) / 1000 + 1))
}

# storm FIRST_ID: M ticket updates from FIRST_ID, webhooks to ingest (a body
# ingest did not take with a 2xx is sent again from the host).
storm() {
  local chunk=250 id=$1 end=$(($1 + MUTATIONS)) n outf body
  while [ "$id" -lt "$end" ]; do
    n=$((end - id < chunk ? end - id : chunk))
    outf=$WORK/mutate-$id.json
    jq -cn --argjson a "$id" --argjson n "$n" \
      '{ops: [range($a; $a + $n) | {kind: "ticket_update", id: .}], webhooks: true, return_bodies: true}' \
      | curl -fsS --max-time 300 -X POST -H 'Content-Type: application/json' --data-binary @- "$SIM/_sim/mutate" >"$outf" \
      || fail "POST /_sim/mutate failed"
    [ "$(jq .applied "$outf")" = "$n" ] || fail "halo-sim applied $(jq .applied "$outf") of $n updates: $(jq -c .errors "$outf")"
    while IFS= read -r body; do
      REDELIVERED=$((REDELIVERED + 1))
      curl -fsS -o /dev/null --max-time 15 --retry 20 --retry-all-errors --retry-delay 1 \
        -H 'Content-Type: application/json' --data-binary @- "$HOOK" <<<"$body" || fail "a redelivered webhook was refused"
    done < <(jq -c '. as $r | ($r.webhooks.statuses // []) | to_entries[] | select(.value < 200 or .value >= 300) | $r.bodies[.key]' "$outf")
    id=$((id + n))
  done
}

# rows_ok FIRST_ID: how many of the M tickets from FIRST_ID have in
# PostgreSQL halo-sim's last-update time (the version of the last change).
rows_ok() {
  local a=$1 b=$(($1 + MUTATIONS - 1))
  curl -fsS --max-time 60 "$SIM/_sim/dump?entity=tickets" >"$WORK/sim-tickets.json" || fail "GET /_sim/dump failed"
  admin_sql "SELECT coalesce(json_agg(json_build_object('id', id, 'ms', round(extract(epoch FROM last_update) * 1000)::bigint)), '[]')
             FROM halo_bi.tickets WHERE tenant = 'demo' AND id BETWEEN $a AND $b" >"$WORK/pg-tickets.json"
  jq -n --slurpfile sim "$WORK/sim-tickets.json" --slurpfile pg "$WORK/pg-tickets.json" --argjson a "$a" --argjson b "$b" '
    def halo_ms: capture("^(?<s>[0-9-]+T[0-9:]+)(\\.(?<f>[0-9]+))?") as $m
      | ($m.s + "Z" | fromdateiso8601) * 1000 + (($m.f // "0") + "000" | .[0:3] | tonumber);
    ($pg[0] | map({key: (.id | tostring), value: .ms}) | from_entries) as $rows
    | [$sim[0].tickets[] | select(.id >= $a and .id <= $b)
       | select($rows[(.id | tostring)] == ((.last_update // .lastupdate) | halo_ms))] | length'
}

# --- The phases ------------------------------------------------------------------
: >"$WORK/phases"
first_id=1 REDELIVERED=0
for n in $FETCHERS; do
  dc --profile sim up -d --no-build --no-recreate --scale fetcher="$n" >"$WORK/up.log" 2>&1 \
    || { cat "$WORK/up.log" >&2; fail "docker-compose up --scale fetcher=$n failed"; }
  compose_wait_healthy 240 "fetcher=$n ingest=1 monitor=1 postgres=1 store=1"
  quiet 120
  t_start=$(now_ms)
  storm "$first_id"
  log "fetchers=$n: $MUTATIONS updates (tickets $first_id..$((first_id + MUTATIONS - 1))) sent in $((($(now_ms) - t_start) / 1000)) s"
  deadline=$(($(date +%s) + MUTATIONS / 2 + 180))
  ok=0
  while :; do
    if [ "$(admin_sql "SELECT count(*) FROM halo.fetch_queue")" = 0 ]; then
      ok=$(rows_ok "$first_id")
      [ "$ok" = "$MUTATIONS" ] && break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { log "fetchers=$n: not drained ($ok of $MUTATIONS rows)"; break; }
    sleep 2
  done
  t_end=$(now_ms)
  log "fetchers=$n: drained, $ok of $MUTATIONS rows in $(((t_end - t_start) / 1000)) s"
  printf '%s %s %s %s\n' "$n" "$t_start" "$t_end" "$ok" >>"$WORK/phases"
  first_id=$((first_id + MUTATIONS))
done

# --- From halo-sim's request log -----------------------------------------------------
compose_sim_log "$WORK/sim-requests.jsonl"
status=0
while read -r n t_start t_end ok; do
  jq -c --argjson a "$t_start" --argjson b "$t_end" 'select(.ts_ms >= $a and .ts_ms <= $b)' \
    "$WORK/sim-requests.jsonl" >"$WORK/phase-$n.jsonl"
  read -r gets span_ms < <(jq -r 'select(.counted and .method == "GET" and (.path | test("^/api/Tickets/[0-9]+"))) | .ts_ms' \
    "$WORK/phase-$n.jsonl" | sort -n | awk 'NR == 1 {f = $1} {l = $1} END {print NR, l - f}')
  rate=$(awk -v g="$gets" -v s="$span_ms" 'BEGIN {printf "%.1f", (s > 0 ? (g - 1) * 1000 / s : 0)}')
  worst=$(worst_window "$WORK/phase-$n.jsonl" $((WINDOW * 1000)))
  n429=$(jq -s 'map(select(.status == 429)) | length' "$WORK/phase-$n.jsonl")
  lat=$(jq -r 'select(.counted) | .duration_ms' "$WORK/phase-$n.jsonl" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)] + 0}')
  echo "fetchers=$n gets=$gets drain_s=$(awk -v s="$span_ms" 'BEGIN {printf "%.1f", s / 1000}') gets_per_s=$rate" \
    "worst_window=$worst/$BUDGET 429s=$n429 rows_ok=$ok/$MUTATIONS sim_latency_p50_ms=$lat"
  echo "$n $rate" >>"$WORK/rates"
  [ "$worst" -le "$BUDGET" ] && [ "$n429" = 0 ] && [ "$ok" = "$MUTATIONS" ] || status=1
  [ "$span_ms" -ge 20000 ] || log "fetchers=$n: the drain lasted $((span_ms / 1000)) s (< 20 s: raise --mutations)"
done <"$WORK/phases"
all_worst=$(worst_window "$WORK/sim-requests.jsonl" $((WINDOW * 1000)))
all_429=$(jq -s 'map(select(.status == 429)) | length' "$WORK/sim-requests.jsonl")
[ "$all_worst" -le "$BUDGET" ] && [ "$all_429" = 0 ] || status=1
echo "summary: speedup=$(awk 'NR == 1 {r1 = $2} {printf "%s%d:%.2f", (NR > 1 ? "," : ""), $1, (r1 > 0 ? $2 / r1 : 0)}' "$WORK/rates")" \
  "(fetchers:throughput relative to the first) ceiling=$(awk -v b="$BUDGET" -v s="$SPAN_MS" 'BEGIN {printf "%.1f", b * 1000 / s}')/s" \
  "(budget $BUDGET per window+safety $((SPAN_MS / 1000)) s; halo-sim $LIMIT per $WINDOW s)" \
  "worst_window_whole_run=$all_worst/$BUDGET 429s=$all_429 redelivered=$REDELIVERED slow_ms=$SLOW_MS concurrency=$CONCURRENCY" \
  "loadavg_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\" result=$([ "$status" = 0 ] && echo pass || echo FAIL)"
exit "$status"

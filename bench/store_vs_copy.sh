#!/usr/bin/env bash
# halo-store throughput against plain COPY of the same rows.
#
#   bench/store_vs_copy.sh [--runs R] [--tickets N] [--batch B] [--samples S]
#
# Data: halo-sim's N tickets (default 100,000) as list rows, the shape a full
# sync stores. A private PostgreSQL cluster (scripts/pg.sh: Unix socket,
# fsync on unless HALO_PG_FSYNC=off) with every migration; halo-store as a
# process, fed through its PULL socket by bench/store_feed.c (BENCH_BIN_DIR;
# RECORDS batches of B = 100 rows, exactly what a fetcher sends for a list
# page; no ledger row, no checkpoint).
#   store insert: the N rows into an empty table (time from the first batch
#                 sent until PostgreSQL holds all N rows);
#   store update: the same rows again, fetched later (every row rewritten);
#   single:       S (default 200) isolated one-record batches (each sent once
#                 the previous is visible, no backlog: a webhook's fetch),
#                 p50/p99 ms from send until PostgreSQL shows the row;
#   copy:         psql \copy of the rows store wrote (same columns, values,
#                 indexes and history trigger, another tenant) into halo.tickets;
#   copy_bare:    the same \copy into bench_copy (LIKE halo.tickets INCLUDING
#                 ALL: same columns, indexes and constraints; no trigger, no
#                 foreign key): what the ticket-history trigger costs everyone.
# ratio_insert = store insert rows/s / copy rows/s (target >= 0.6); ratio_bare
# against copy_bare. Tables are truncated and a CHECKPOINT is taken before
# each timed part. One untimed store load first: on a fresh cluster the first
# writer also creates the WAL segment files (later ones recycle them), which
# made every run=1 store_insert slower than the runs after it.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 tickets=100000 batch=100 samples=200
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --tickets) tickets=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl
bench_build
work=$(mktemp -d /tmp/halo-bench-store.XXXXXX)
pgstate=$work/pg
export HALO_PG_PORT=$((BENCH_PORT_BASE + 16))
sim_port=$((BENCH_PORT_BASE + 12)) store_port=$((BENCH_PORT_BASE + 17))
sim_pid="" store_pid=""
cleanup() {
  if [ -n "$store_pid" ]; then kill "$store_pid" 2>/dev/null || true; fi
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  bash "$bench_top/scripts/pg.sh" stop "$pgstate" >/dev/null 2>&1 || true
  if [ -L "$pgstate/pg" ]; then
    case "$(readlink -f "$pgstate/pg")" in /tmp/halo-pg.*) rm -rf "$(readlink -f "$pgstate/pg")" ;; esac
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The feeder (bench/store_feed.c), built by CMake against the same codec the processes use.
feed=$BENCH_BIN_DIR/store_feed

# The rows: halo-sim's tickets as list rows (one unpaged list request), open
# and closed, with every field (--ticket-list all --list-fields rich: the rows
# these figures were first measured with, before halo-sim followed the
# spec's lean, open-only list by default).
"$HALO_BIN_DIR/halo-sim" --listen "127.0.0.1:$sim_port" --tenant "$BENCH_TENANT" --client-id "$BENCH_SIM_CLIENT" \
  --client-secret "$BENCH_SIM_SECRET" --tickets "$tickets" --rate-limit 1000000 \
  --ticket-list all --list-fields rich >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$sim_port/_sim/health" 2>/dev/null && break; sleep 0.1; done
token=$(curl -fsS -X POST -d "grant_type=client_credentials&client_id=$BENCH_SIM_CLIENT&client_secret=$BENCH_SIM_SECRET&scope=all" \
  "http://127.0.0.1:$sim_port/auth/token?tenant=$BENCH_TENANT" | jq -r .access_token)
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$sim_port/api/Tickets" | jq -c '.tickets[]' >"$work/tickets.jsonl"
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=""
[ "$(wc -l <"$work/tickets.jsonl")" = "$tickets" ] || die "expected $tickets rows from halo-sim"

HALO_DATABASE_URL=$(bash "$bench_top/scripts/pg.sh" start "$pgstate")
export HALO_DATABASE_URL
HALO_LOG_LEVEL=warn "$HALO_BIN_DIR/haloctl" db migrate >/dev/null
bench_psql "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, webhook_token_hash)
            VALUES ('$BENCH_TENANT', 'a', 'r', 'c', 's', 'h1'), ('copy', 'a', 'r', 'c', 's', 'h2')"
cols=$(bench_psql "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns
                   WHERE table_schema = 'halo' AND table_name = 'tickets'")
bench_psql "CREATE TABLE bench_copy (LIKE halo.tickets INCLUDING ALL)"
copy_select=$(sed "s/\btenant_id\b/(SELECT id FROM halo.tenants WHERE slug = 'copy')/" <<<"$cols")

HALO_STORE_BIND=tcp://127.0.0.1:$store_port HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:$((store_port + 1)) \
  HALO_LOG_LEVEL=warn "$HALO_BIN_DIR/halo-store" >"$work/store.log" 2>&1 &
store_pid=$!
sleep 0.5
kill -0 "$store_pid" 2>/dev/null || { cat "$work/store.log" >&2; die "halo-store did not start"; }

# feed_and_wait WHERE: feeds the rows, returns ms from the first batch sent
# until the last row is stored (store_feed --wait polls one row over one
# connection: store writes in arrival order), then checks count(WHERE) = tickets.
feed_and_wait() {
  local out n
  out=$("$feed" --wait "tcp://127.0.0.1:$store_port" "$BENCH_TENANT" ticket "$batch" "$work/tickets.jsonl") \
    || die "store_feed failed"
  n=$(bench_psql "SELECT count(*) FROM halo.tickets WHERE tenant_id = 1 AND $1")
  [ "$n" -eq "$tickets" ] || die "store holds $n of $tickets rows ($1)"
  field stored_ms <<<"$out"
}

rate() { awk -v n="$1" -v ms="$2" 'BEGIN {printf "%.0f", n * 1000 / ms}'; }

one_run() {
  local run=$1 ins_ms upd_ms copy_ms bare_ms mark lat
  bench_psql "TRUNCATE halo.tickets, halo.ticket_history, bench_copy" >/dev/null
  bench_psql "CHECKPOINT" >/dev/null
  ins_ms=$(feed_and_wait "true")
  mark=$(bench_psql "SELECT now()")
  bench_psql "CHECKPOINT" >/dev/null
  upd_ms=$(feed_and_wait "synced_at > '$mark'")
  lat=$("$feed" --latency "$samples" "tcp://127.0.0.1:$store_port" "$BENCH_TENANT" ticket "$work/tickets.jsonl")
  bench_psql "COPY (SELECT $copy_select FROM halo.tickets WHERE tenant_id = 1) TO STDOUT" >"$work/rows.copy"
  bench_psql "CHECKPOINT" >/dev/null
  local t0
  t0=$(now_ms)
  psql "$HALO_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "\\copy halo.tickets ($cols) FROM '$work/rows.copy'"
  copy_ms=$(($(now_ms) - t0))
  [ "$(bench_psql "SELECT count(*) FROM halo.tickets t JOIN halo.tenants n ON n.id = t.tenant_id
                   WHERE n.slug = 'copy'")" = "$tickets" ] || die "COPY did not load every row"
  bench_psql "CHECKPOINT" >/dev/null
  t0=$(now_ms)
  psql "$HALO_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "\\copy bench_copy ($cols) FROM '$work/rows.copy'"
  bare_ms=$(($(now_ms) - t0))
  echo "run=$run rows=$tickets batch=$batch store_insert_ms=$ins_ms store_insert_rows_s=$(rate "$tickets" "$ins_ms")" \
    "store_update_ms=$upd_ms store_update_rows_s=$(rate "$tickets" "$upd_ms")" \
    "single_p50_ms=$(field p50_ms <<<"$lat") single_p99_ms=$(field p99_ms <<<"$lat")" \
    "copy_ms=$copy_ms copy_rows_s=$(rate "$tickets" "$copy_ms")" \
    "copy_bare_ms=$bare_ms copy_bare_rows_s=$(rate "$tickets" "$bare_ms")" \
    "ratio_insert=$(awk -v a="$copy_ms" -v b="$ins_ms" 'BEGIN {printf "%.3f", a / b}')" \
    "ratio_update=$(awk -v a="$copy_ms" -v b="$upd_ms" 'BEGIN {printf "%.3f", a / b}')" \
    "ratio_bare=$(awk -v a="$bare_ms" -v b="$ins_ms" 'BEGIN {printf "%.3f", a / b}')"
}

feed_and_wait "true" >/dev/null # warm-up (see the top of the file)
bench_machine
echo "config: rows=$tickets halo-sim ticket list rows ($(($(wc -c <"$work/tickets.jsonl") / tickets)) bytes of JSON each), batch=$batch," \
  "PostgreSQL fsync=$(bench_psql "SHOW fsync"), Unix socket"
out=""
for r in $(seq 1 "$runs"); do
  one_run "$r" >"$work/run.out"
  cat "$work/run.out"
  out+=$(cat "$work/run.out")$'\n'
done
printf 'median: runs=%s store_insert_rows_s=%s store_update_rows_s=%s single_p50_ms=%s single_p99_ms=%s copy_rows_s=%s copy_bare_rows_s=%s ratio_insert=%s ratio_update=%s ratio_bare=%s\n' \
  "$runs" "$(field store_insert_rows_s <<<"$out" | median)" "$(field store_update_rows_s <<<"$out" | median)" \
  "$(field single_p50_ms <<<"$out" | median)" "$(field single_p99_ms <<<"$out" | median)" \
  "$(field copy_rows_s <<<"$out" | median)" "$(field copy_bare_rows_s <<<"$out" | median)" \
  "$(field ratio_insert <<<"$out" | median)" "$(field ratio_update <<<"$out" | median)" \
  "$(field ratio_bare <<<"$out" | median)"

#!/usr/bin/env bash
# store_write's two upsert methods, batch by batch: prepared multi-row
# INSERT .. VALUES .. ON CONFLICT (store's method) vs COPY into a temporary
# table then INSERT .. SELECT .. ON CONFLICT, for 100 halo-sim-shaped
# tickets per batch, each batch a whole store transaction (history trigger
# included); ROUNDS batches (default 200) as inserts, then twice as updates.
# A private PostgreSQL cluster (scripts/pg.sh: Unix socket, fsync on unless
# HALO_PG_FSYNC=off), a fresh database per run; bench/store_bench.c (built by
# CMake into BENCH_BIN_DIR) does the timing. Prints ms per batch per run and
# the medians (docs/store.md quotes them).
#
#   bench/store_bench.sh [--runs R] [--rounds N]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=5 rounds=200
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need psql
bench_build
work=$(mktemp -d /tmp/halo-bench-store-write.XXXXXX)
pgstate=$work/pg
export HALO_PG_PORT=$((BENCH_PORT_BASE + 16))
cleanup() {
  bash "$bench_top/scripts/pg.sh" stop "$pgstate" >/dev/null 2>&1 || true
  if [ -L "$pgstate/pg" ]; then
    case "$(readlink -f "$pgstate/pg")" in /tmp/halo-pg.*) rm -rf "$(readlink -f "$pgstate/pg")" ;; esac
  fi
  rm -rf "$work"
}
trap cleanup EXIT
bash "$bench_top/scripts/pg.sh" start "$pgstate" >/dev/null

bench_machine
echo "config: rounds=$rounds batch=100 tickets, PostgreSQL fsync=$(psql "$(bash "$bench_top/scripts/pg.sh" url "$pgstate" postgres)" -XAtq -c 'SHOW fsync'), Unix socket"
out=""
for r in $(seq 1 "$runs"); do
  db=bench_store_$r
  bash "$bench_top/scripts/pg.sh" createdb "$pgstate" "$db" >/dev/null
  line="run=$r $(HALO_DATABASE_URL=$(bash "$bench_top/scripts/pg.sh" url "$pgstate" "$db") \
    "$BENCH_BIN_DIR/store_bench" "$rounds")" || die "store_bench failed"
  echo "$line"
  out+="$line"$'\n'
done
echo "median: runs=$runs insert_values_ms=$(field insert_values_ms <<<"$out" | median)" \
  "insert_copy_ms=$(field insert_copy_ms <<<"$out" | median)" \
  "update_values_ms=$(field update_values_ms <<<"$out" | median)" \
  "update_copy_ms=$(field update_copy_ms <<<"$out" | median)"

#!/usr/bin/env bash
# Embedded PostgreSQL: a private initdb cluster on a Unix socket, no TCP.
#   scripts/pg.sh start STATE_DIR   start (initialising if needed); prints the conninfo
#   scripts/pg.sh stop STATE_DIR    stop it
#   scripts/pg.sh url STATE_DIR [DB] print the conninfo of database DB (default halo)
#   scripts/pg.sh createdb STATE_DIR DB   create database DB if missing
# As root, PostgreSQL runs as the unprivileged user "halopg" and its files live
# under /tmp (root's home is not readable by that user); STATE_DIR/pg links there.
# HALO_PG_FSYNC=off turns fsync off (benchmarks); HALO_PG_OPTS adds server
# options at start, e.g. "-c shared_preload_libraries=pg_stat_statements"
# (finding what an idle stack's statements cost).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|url|createdb STATE_DIR [DB]}
state=${2:?state directory required}
mkdir -p "$state"
state=$(cd "$state" && pwd)
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg.sh: PostgreSQL server not installed (run scripts/install-deps.sh)" >&2; exit 1; }
port=${HALO_PG_PORT:-5433}

if [ "$(id -u)" -eq 0 ]; then
  id halopg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin halopg
  if [ ! -L "$state/pg" ]; then
    dir=$(mktemp -d /tmp/halo-pg.XXXXXX)
    chown halopg "$dir"
    rm -rf "$state/pg"
    ln -s "$dir" "$state/pg"
  fi
  run() { runuser -u halopg -- "$@"; }
else
  mkdir -p "$state/pg"
  run() { "$@"; }
fi
pgdir=$(readlink -f "$state/pg")
data=$pgdir/data
sock=$pgdir
url() { echo "host=$sock port=$port dbname=${1:-halo} user=halo"; }

case "$cmd" in
start)
  if [ ! -f "$data/PG_VERSION" ]; then
    run "$bindir/initdb" -D "$data" -U halo -A trust -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 \
      || { cat "$pgdir/initdb.log" >&2; exit 1; }
  fi
  if ! run "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    run "$bindir/pg_ctl" -D "$data" -l "$pgdir/postgres.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$sock' -p $port -c fsync=${HALO_PG_FSYNC:-on} -c max_connections=200 ${HALO_PG_OPTS:-}" \
      start >/dev/null || { tail -n 20 "$pgdir/postgres.log" >&2; exit 1; }
  fi
  run "$bindir/psql" -h "$sock" -p "$port" -U halo -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='halo'" \
    | grep -q 1 || run "$bindir/createdb" -h "$sock" -p "$port" -U halo halo
  url halo
  ;;
stop)
  [ -f "$data/PG_VERSION" ] && run "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
url)
  url "${3:-halo}"
  ;;
createdb)
  db=${3:?database name required}
  run "$bindir/psql" -h "$sock" -p "$port" -U halo -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
    | grep -q 1 || run "$bindir/createdb" -h "$sock" -p "$port" -U halo "$db"
  url "$db"
  ;;
*)
  echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac

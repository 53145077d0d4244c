#!/usr/bin/env bash
# The local stack: embedded PostgreSQL, halo-sim, halo-ingest, N halo-fetchers,
# halo-store and halo-monitor, with all state (database, journal, logs, pids,
# generated secret key) under one directory. Used by the demo, the end-to-end
# tests and the benchmarks.
#
#   scripts/stack.sh start [--fetchers N] [--no-sim] [SIM_ARGS...]  start everything (idempotent)
#   scripts/stack.sh stop                       stop every process and PostgreSQL
#   scripts/stack.sh status                     one line per process: running or not
#   scripts/stack.sh logs [PROC]                tail the logs (all, or one: ingest, fetcher-1, ...)
#   scripts/stack.sh env                        print the environment (source it to run haloctl)
#   scripts/stack.sh restart PROC               restart one process (ingest, store, monitor, fetcher-N, sim)
#   scripts/stack.sh kill PROC                  kill -9 one process (chaos tests)
#
# HALO_STACK_DIR (default var/stack) holds the state; HALO_STACK_PORT_BASE
# (default 18080) moves every port: ingest HTTP +0, monitor +1, halo-sim +2,
# ingest ROUTER +3, store PULL +4, telemetry +5. Binaries come from
# HALO_BIN_DIR (default build/bin).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
state=${HALO_STACK_DIR:-$top/var/stack}
bin=${HALO_BIN_DIR:-$top/build/bin}
base=${HALO_STACK_PORT_BASE:-18080}
mkdir -p "$state/run" "$state/log" "$state/journal"
state=$(cd "$state" && pwd)

p_ingest=$base; p_monitor=$((base + 1)); p_sim=$((base + 2))
p_router=$((base + 3)); p_store=$((base + 4)); p_tele=$((base + 5))

secret_key() {
  if [ ! -s "$state/secret_key" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/secret_key")
  fi
  cat "$state/secret_key"
}

write_env() {
  local url
  url=$(HALO_PG_PORT=${HALO_PG_PORT:-$((base + 6))} bash "$top/scripts/pg.sh" url "$state")
  cat >"$state/stack.env" <<ENV
export HALO_DATABASE_URL="$url"
export HALO_SECRET_KEY="$(secret_key)"
export HALO_PUBLIC_URL="http://127.0.0.1:$p_ingest"
export HALO_INGEST_LISTEN="127.0.0.1:$p_ingest"
export HALO_INGEST_BIND="tcp://127.0.0.1:$p_router"
export HALO_INGEST_ENDPOINTS="tcp://127.0.0.1:$p_router"
export HALO_INGEST_JOURNAL_DIR="$state/journal"
export HALO_STORE_BIND="tcp://127.0.0.1:$p_store"
export HALO_STORE_ENDPOINT="tcp://127.0.0.1:$p_store"
export HALO_TELEMETRY_BIND="tcp://127.0.0.1:$p_tele"
export HALO_TELEMETRY_ENDPOINT="tcp://127.0.0.1:$p_tele"
export HALO_MONITOR_LISTEN="127.0.0.1:$p_monitor"
export HALO_SIM_URL="http://127.0.0.1:$p_sim"
export HALO_MONITOR_URL="http://127.0.0.1:$p_monitor"
export HALO_STACK_DIR="$state"
export HALO_LOG_LEVEL="\${HALO_LOG_LEVEL:-info}"
ENV
}

pid_of() { [ -f "$state/run/$1.pid" ] && cat "$state/run/$1.pid" || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# launch NAME CMD...: starts CMD in the background with the stack's environment.
launch() {
  local name=$1; shift
  alive "$name" && return 0
  # shellcheck disable=SC1091
  ( source "$state/stack.env"; exec "$@" ) >>"$state/log/$name.log" 2>&1 &
  echo $! >"$state/run/$name.pid"
}

wait_http() {
  local url=$1 i
  for i in $(seq 1 150); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "stack: $url did not come up" >&2
  return 1
}

start_proc() {
  local name=$1
  case "$name" in
    sim)
      local args=()
      [ -f "$state/sim.args" ] && mapfile -t args <"$state/sim.args"
      launch sim "$bin/halo-sim" --listen "127.0.0.1:$p_sim" --request-log "$state/log/sim-requests.jsonl" \
        --webhook-url "http://127.0.0.1:$p_ingest/hooks/demo/pending" "${args[@]}"
      wait_http "http://127.0.0.1:$p_sim/_sim/stats" ;;
    ingest) launch ingest "$bin/halo-ingest"; wait_http "http://127.0.0.1:$p_ingest/healthz" ;;
    store) launch store "$bin/halo-store" ;;
    monitor) launch monitor "$bin/halo-monitor"; wait_http "http://127.0.0.1:$p_monitor/healthz" ;;
    fetcher-*) launch "$name" env HALO_FETCHER_ID="$name" "$bin/halo-fetcher" ;;
    *) echo "stack: unknown process $name" >&2; return 2 ;;
  esac
}

procs() {
  local n=1
  [ -f "$state/fetchers" ] && n=$(cat "$state/fetchers")
  [ -f "$state/no-sim" ] || echo sim
  echo store monitor ingest
  for i in $(seq 1 "$n"); do echo "fetcher-$i"; done
}

stop_proc() {
  local name=$1 p i
  p=$(pid_of "$name")
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  rm -f "$state/run/$name.pid"
}

cmd=${1:-status}; shift || true
case "$cmd" in
start)
  fetchers=1
  rm -f "$state/no-sim" "$state/sim.args"
  while [ $# -gt 0 ]; do
    case "$1" in
      --fetchers) fetchers=$2; shift 2 ;;
      --no-sim) touch "$state/no-sim"; shift ;;
      *) printf '%s\n' "$1" >>"$state/sim.args"; shift ;;
    esac
  done
  echo "$fetchers" >"$state/fetchers"
  write_env
  HALO_PG_PORT=${HALO_PG_PORT:-$((base + 6))} bash "$top/scripts/pg.sh" start "$state" >/dev/null
  ( source "$state/stack.env"; "$bin/haloctl" db migrate >>"$state/log/migrate.log" 2>&1 ) \
    || { cat "$state/log/migrate.log" >&2; exit 1; }
  for p in $(procs); do start_proc "$p"; done
  echo "stack: running under $state (logs: scripts/stack.sh logs)"
  ;;
stop)
  for p in $(procs | tac); do stop_proc "$p"; done
  for f in "$state"/run/*.pid; do [ -e "$f" ] && stop_proc "$(basename "$f" .pid)"; done
  HALO_PG_PORT=${HALO_PG_PORT:-$((base + 6))} bash "$top/scripts/pg.sh" stop "$state"
  ;;
status)
  for p in $(procs); do
    if alive "$p"; then echo "$p running pid=$(pid_of "$p")"; else echo "$p stopped"; fi
  done
  ;;
logs)
  if [ $# -gt 0 ]; then tail -n 50 -f "$state/log/$1.log"; else tail -n 20 -f "$state"/log/*.log; fi
  ;;
env)
  [ -f "$state/stack.env" ] || write_env
  cat "$state/stack.env"
  ;;
restart)
  stop_proc "$1"; start_proc "$1" ;;
kill)
  p=$(pid_of "$1"); [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  rm -f "$state/run/$1.pid" ;;
*)
  echo "usage: stack.sh start|stop|status|logs|env|restart|kill" >&2; exit 2 ;;
esac

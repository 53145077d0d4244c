#!/usr/bin/env bash
# The local stack: embedded PostgreSQL, halo-sim, halo-ingest, N halo-fetchers,
# halo-store and halo-monitor, with all state (database, journal, logs, pids,
# generated secret key, settings) under one directory. Used by the demo, the
# end-to-end tests and the benchmarks.
#
#   scripts/stack.sh start [--fetchers N] [--no-sim] [--env NAME=VALUE]... [SIM_ARGS...]
#                                  start everything (idempotent: running parts are kept)
#   scripts/stack.sh stop          stop every process, then PostgreSQL (state is kept)
#   scripts/stack.sh destroy       stop, then delete the state directory and the database
#   scripts/stack.sh status        one line per process (exit 1 when one is not running)
#   scripts/stack.sh logs [PROC] [-n N]  the logs (all, or one: ingest, fetcher-1, sim, ...);
#                                  followed when stdout is a terminal, printed otherwise
#   scripts/stack.sh env           the environment, to source (`eval "$(scripts/stack.sh env)"`)
#   scripts/stack.sh restart PROC  restart one process (sim, ingest, store, monitor, fetcher-N, postgres)
#   scripts/stack.sh kill PROC     kill -9 one process (chaos tests); `restart PROC` brings it back
#
# SIM_ARGS are halo-sim flags (docs/sim.md), e.g. --tickets 300 --rate-window 5.
# --env NAME=VALUE adds a HALO_* setting for every process (e.g. HALO_FETCH_LEASE_S=10);
# it is kept in the state, so a later `restart` uses it too.
#
# HALO_STACK_DIR (default var/stack) holds the state; HALO_STACK_PORT_BASE
# (default 18080) moves every port: ingest HTTP +0, monitor HTTP +1, halo-sim
# +2, ingest ROUTER +3, store PULL +4, telemetry +5, PostgreSQL +6 (a Unix
# socket only; HALO_PG_PORT overrides), ingest admin HTTP (/metrics) +7. Binaries come from HALO_BIN_DIR
# (default build/bin). `start` records these in STATE/stack.conf; every other
# command reads them from there, so it works from any shell.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
state=${HALO_STACK_DIR:-$top/var/stack}
cmd=${1:-status}
shift || true

# Settings: from the environment at `start`, from STATE/stack.conf afterwards.
base=${HALO_STACK_PORT_BASE:-18080}
bin=${HALO_BIN_DIR:-$top/build/bin}
pg_port=${HALO_PG_PORT:-}
if [ "$cmd" != start ] && [ -f "$state/stack.conf" ]; then
  # shellcheck disable=SC1091
  source "$state/stack.conf"
fi
[ -n "$pg_port" ] || pg_port=$((base + 6))
p_ingest=$base; p_monitor=$((base + 1)); p_sim=$((base + 2))
p_router=$((base + 3)); p_store=$((base + 4)); p_tele=$((base + 5)); p_admin=$((base + 7))

say() { echo "stack: $*" >&2; }
pg() { HALO_PG_PORT=$pg_port bash "$top/scripts/pg.sh" "$@"; }

ensure_dirs() {
  mkdir -p "$state/run" "$state/log" "$state/journal"
  state=$(cd "$state" && pwd)
}

secret_key() {
  if [ ! -s "$state/secret_key" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/secret_key")
  fi
  cat "$state/secret_key"
}

write_conf() {
  cat >"$state/stack.conf" <<CONF
base=$base
bin=$bin
pg_port=$pg_port
CONF
}

# write_env: STATE/stack.env, sourced by every process the stack starts (mode 600: it holds the key).
write_env() {
  local url extra
  url=$(pg url "$state")
  extra=""
  [ -f "$state/extra.env" ] && extra=$(cat "$state/extra.env")
  (umask 077; cat >"$state/stack.env" <<ENV
export HALO_DATABASE_URL="$url"
export HALO_SECRET_KEY="$(secret_key)"
export HALO_PUBLIC_URL="http://127.0.0.1:$p_ingest"
export HALO_INGEST_LISTEN="127.0.0.1:$p_ingest"
export HALO_INGEST_ADMIN_LISTEN="127.0.0.1:$p_admin"
export HALO_INGEST_BIND="tcp://127.0.0.1:$p_router"
export HALO_INGEST_ENDPOINTS="tcp://127.0.0.1:$p_router"
export HALO_INGEST_JOURNAL_DIR="$state/journal"
export HALO_STORE_BIND="tcp://127.0.0.1:$p_store"
export HALO_STORE_ENDPOINT="tcp://127.0.0.1:$p_store"
export HALO_TELEMETRY_BIND="tcp://127.0.0.1:$p_tele"
export HALO_TELEMETRY_ENDPOINT="tcp://127.0.0.1:$p_tele"
export HALO_MONITOR_LISTEN="127.0.0.1:$p_monitor"
export HALO_LOG_LEVEL="\${HALO_LOG_LEVEL:-info}"
export HALO_SIM_URL="http://127.0.0.1:$p_sim"
export HALO_INGEST_URL="http://127.0.0.1:$p_ingest"
export HALO_INGEST_ADMIN_URL="http://127.0.0.1:$p_admin"
export HALO_MONITOR_URL="http://127.0.0.1:$p_monitor"
export HALO_STACK_DIR="$state"
export HALO_PG_PORT="$pg_port"
export PATH="$bin:\$PATH"
$extra
ENV
  )
}

pid_of() { if [ -f "$state/run/$1.pid" ]; then cat "$state/run/$1.pid"; fi; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# launch NAME CMD...: CMD in the background, in its own session (a Ctrl-C in
# the terminal reaches the caller, who stops the stack in order), with the
# stack's environment, output appended to STATE/log/NAME.log.
launch() {
  local name=$1
  shift
  alive "$name" && return 0
  [ -x "$1" ] || { say "$1 is missing (build first: scripts/build.sh)"; return 1; }
  # shellcheck disable=SC1091
  (
    source "$state/stack.env"
    case "$name" in fetcher-*) export HALO_FETCHER_ID="$name" ;; esac
    exec setsid "$@"
  ) </dev/null >>"$state/log/$name.log" 2>&1 &
  echo $! >"$state/run/$name.pid"
}

# wait_up NAME [URL]: until NAME answers URL (or, without one, stays up for a moment).
wait_up() {
  local name=$1 url=${2:-} i
  for i in $(seq 1 150); do
    if ! alive "$name"; then
      say "$name exited at start; the end of $state/log/$name.log:"
      tail -n 15 "$state/log/$name.log" >&2
      return 1
    fi
    if [ -z "$url" ]; then
      [ "$i" -ge 3 ] && return 0
    elif curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  say "$name did not come up ($url); the end of $state/log/$name.log:"
  tail -n 15 "$state/log/$name.log" >&2
  return 1
}

start_proc() {
  local name=$1 args=()
  case "$name" in
    # its own session too, so that a Ctrl-C meant for the demo does not shut PostgreSQL down first
    postgres) HALO_PG_PORT=$pg_port setsid -w bash "$top/scripts/pg.sh" start "$state" </dev/null >/dev/null ;;
    sim)
      [ -f "$state/sim.args" ] && mapfile -t args <"$state/sim.args"
      launch sim "$bin/halo-sim" --listen "127.0.0.1:$p_sim" \
        --request-log "$state/log/sim-requests.jsonl" ${args[@]+"${args[@]}"}
      wait_up sim "http://127.0.0.1:$p_sim/_sim/health" ;;
    ingest)
      launch ingest "$bin/halo-ingest"; wait_up ingest "http://127.0.0.1:$p_ingest/healthz"
      wait_up ingest "http://127.0.0.1:$p_admin/healthz" ;;
    store) launch store "$bin/halo-store"; wait_up store ;;
    monitor) launch monitor "$bin/halo-monitor"; wait_up monitor "http://127.0.0.1:$p_monitor/healthz" ;;
    fetcher-[0-9]*) launch "$name" "$bin/halo-fetcher"; wait_up "$name" ;;
    *) say "unknown process $name"; return 2 ;;
  esac
}

# procs: the processes of this stack, in start order (monitor binds the
# telemetry socket and store its PULL before the others connect).
procs() {
  local n=1 i
  [ -f "$state/fetchers" ] && n=$(cat "$state/fetchers")
  [ -f "$state/no-sim" ] || echo sim
  echo monitor store ingest
  for i in $(seq 1 "$n"); do echo "fetcher-$i"; done
}

# term_wait SECONDS NAME...: SIGTERM to each, wait for all, then SIGKILL what is left.
term_wait() {
  local secs=$1 name p i left
  shift
  for name in "$@"; do
    p=$(pid_of "$name")
    if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for i in $(seq 1 $((secs * 10))); do
    left=0
    for name in "$@"; do alive "$name" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for name in "$@"; do
    if alive "$name"; then
      say "$name did not stop within ${secs}s: kill -9"
      kill -KILL "$(pid_of "$name")" 2>/dev/null || true
    fi
    rm -f "$state/run/$name.pid"
  done
}

stop_proc() {
  case "$1" in
    postgres) pg stop "$state" ;;
    *) term_wait 10 "$1" ;;
  esac
}

# stop_all: webhooks in and out first (sim, ingest), then the fetchers, then
# store (it drains what fetchers pushed), then monitor, then PostgreSQL.
stop_all() {
  local fetch_procs=() others=() f
  [ -d "$state/run" ] || return 0
  for f in "$state"/run/*.pid; do
    [ -e "$f" ] || continue
    f=$(basename "$f" .pid)
    case "$f" in
      fetcher-*) fetch_procs+=("$f") ;;
      sim | ingest | store | monitor) ;;
      *) others+=("$f") ;;
    esac
  done
  term_wait 10 sim ingest
  [ ${#fetch_procs[@]} -gt 0 ] && term_wait 10 "${fetch_procs[@]}"
  term_wait 15 store
  term_wait 10 monitor ${others[@]+"${others[@]}"}
  [ -e "$state/pg" ] && pg stop "$state"
  return 0
}

show_status() {
  local bad=0 p
  if [ -e "$state/pg" ] && psql "$(pg url "$state" postgres)" -Atc 'SELECT 1' >/dev/null 2>&1; then
    echo "postgres  running  $(pg url "$state")"
  else
    echo "postgres  stopped"; bad=1
  fi
  for p in $(procs); do
    if alive "$p"; then
      printf '%-9s running  pid=%s\n' "$p" "$(pid_of "$p")"
    else
      printf '%-9s stopped\n' "$p"; bad=1
    fi
  done
  echo "webhooks: http://127.0.0.1:$p_ingest/hooks/...  status page: http://127.0.0.1:$p_monitor/"
  [ -f "$state/no-sim" ] || echo "halo-sim: http://127.0.0.1:$p_sim/api (control: /_sim/stats)"
  return $bad
}

case "$cmd" in
start)
  fetchers=1
  ensure_dirs
  rm -f "$state/no-sim" "$state/sim.args" "$state/extra.env"
  touch "$state/sim.args"
  while [ $# -gt 0 ]; do
    case "$1" in
      --fetchers) fetchers=${2:?--fetchers needs a number}; shift 2 ;;
      --no-sim) touch "$state/no-sim"; shift ;;
      --env)
        [[ ${2:-} =~ ^HALO_[A-Z0-9_]+=.*$ ]] || { say "--env expects HALO_NAME=VALUE"; exit 2; }
        printf 'export %q\n' "$2" >>"$state/extra.env"; shift 2 ;;
      *) printf '%s\n' "$1" >>"$state/sim.args"; shift ;;
    esac
  done
  [[ $fetchers =~ ^[0-9]+$ ]] || { say "--fetchers expects a number"; exit 2; }
  echo "$fetchers" >"$state/fetchers"
  write_conf
  write_env
  start_proc postgres
  # shellcheck disable=SC1091
  (source "$state/stack.env"; "$bin/haloctl" db migrate) >>"$state/log/migrate.log" 2>&1 \
    || { say "migrations failed:"; tail -n 20 "$state/log/migrate.log" >&2; exit 1; }
  for p in $(procs); do start_proc "$p" || { say "start failed; stopping what started"; stop_all; exit 1; }; done
  echo "stack: running under $state (scripts/stack.sh status|logs|env|stop)"
  ;;
stop)
  stop_all
  ;;
destroy)
  [ -d "$state" ] || exit 0
  [ -f "$state/stack.conf" ] || { say "$state is not a stack directory (no stack.conf): not deleting it"; exit 1; }
  stop_all
  if [ -e "$state/pg" ]; then
    pgdir=$(readlink -f "$state/pg")
    case "$pgdir" in /tmp/halo-pg.*) rm -rf "$pgdir" ;; esac
  fi
  rm -rf "$state"
  ;;
status)
  [ -d "$state" ] || { echo "no stack under $state"; exit 1; }
  show_status
  ;;
logs)
  name="" lines=20
  while [ $# -gt 0 ]; do
    case "$1" in
      -n) lines=$2; shift 2 ;;
      *) name=$1; shift ;;
    esac
  done
  files=("$state"/log/*.log)
  [ -n "$name" ] && files=("$state/log/$name.log")
  if [ -t 1 ]; then tail -n "$lines" -F "${files[@]}"; else tail -n "$lines" "${files[@]}"; fi
  ;;
env)
  [ -f "$state/stack.env" ] || { say "no stack under $state (start it first)"; exit 1; }
  cat "$state/stack.env"
  ;;
restart)
  name=${1:?restart needs a process name}
  stop_proc "$name"
  start_proc "$name"
  ;;
kill)
  name=${1:?kill needs a process name}
  p=$(pid_of "$name")
  if [ -n "$p" ]; then kill -KILL "$p" 2>/dev/null || true; fi
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state/run/$name.pid"
  ;;
*)
  echo "usage: stack.sh start|stop|destroy|status|logs|env|restart|kill (see the top of scripts/stack.sh)" >&2
  exit 2
  ;;
esac

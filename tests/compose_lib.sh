# shellcheck shell=bash
# tests/compose_lib.sh: what tests/test_compose.sh and the compose benchmarks
# (bench/three_hosts.sh) share, sourced, not run: the real Docker engine
# (../shared/tools/container-engine.sh) and the removal of stacks left by
# killed runs, the secrets of a run, the images built once per source hash,
# waiting for services to be healthy, published ports, the demo tenant
# connected with haloctl, the full sync, and the worst window of halo-sim's
# request log. The caller defines log MESSAGE and fail MESSAGE (fail exits),
# SRC (the source tree, the current directory) and WORK (its temporary
# directory); these functions set DC (the compose command), P (the project),
# ADMIN_DB, BI_DB, INGEST, SIM and HOOK.

# dc ARGS...: the compose command of this run (COMPOSE_FILE and
# COMPOSE_PROJECT_NAME in the environment choose files and project).
dc() { "${DC[@]}" "$@"; }
admin_sql() { PGPASSWORD=$(cat "$HALO_SECRETS_DIR/postgres_password") psql "$ADMIN_DB" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
bi_sql() { PGPASSWORD=$(cat "$HALO_SECRETS_DIR/db_bi_reader_password") psql "$BI_DB" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

# compose_engine_start PROJECT_PREFIX: starts the Docker engine with
# container-engine.sh (fails with the reason when it cannot), sets DC, and
# removes the stacks named PROJECT_PREFIX<pid> whose run (that pid) is gone:
# the engine restarts their containers with it.
compose_engine_start() {
  local engine="" d engine_env proj
  for d in "${HALO_SHARED_DIR:-}" "$SRC/../shared" /work/shared; do
    if [ -n "$d" ] && [ -f "$d/tools/container-engine.sh" ]; then engine=$d/tools/container-engine.sh; break; fi
  done
  [ -n "$engine" ] || fail "container-engine.sh not found (set HALO_SHARED_DIR; looked in \$HALO_SHARED_DIR, $SRC/../shared, /work/shared)"
  log "starting the Docker engine with $engine"
  engine_env=$(bash "$engine" 2>"$WORK/engine.log") \
    || fail "the Docker engine could not start: $(tail -n 5 "$WORK/engine.log" | tr '\n' ' ')"
  eval "$engine_env"
  docker info >/dev/null 2>&1 || fail "docker info fails after container-engine.sh: $(docker info 2>&1 | tail -n 2)"
  if docker compose version >/dev/null 2>&1; then
    DC=(docker compose)
  elif command -v docker-compose >/dev/null; then
    DC=(docker-compose)
  else
    fail "neither 'docker compose' nor docker-compose is installed"
  fi
  for proj in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep -E "^$1[0-9]+\$" | sort -u); do
    kill -0 "${proj#"$1"}" 2>/dev/null && continue
    log "removing the stack of an earlier, killed run: $proj"
    docker ps -a -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker rm -f >/dev/null || true
    docker volume ls -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker volume rm >/dev/null || true
    docker network ls -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker network rm >/dev/null || true
  done
  log "engine: docker $(docker version --format '{{.Server.Version}}'), compose: $("${DC[@]}" version --short 2>/dev/null || echo '?')"
}

# compose_setup PROJECT: this run's project, secrets (under WORK) and ports.
# Every published port is left to Docker (an empty HALO_*_PORT publishes on a
# port the engine binds free), read back after `up` with `compose port`: a
# port picked here could be taken by a parallel run before `up` binds it.
compose_setup() {
  export COMPOSE_PROJECT_NAME=$1
  P=$1
  export HALO_SECRETS_DIR=$WORK/secrets HALO_TLS_DIR=$WORK/tls HALO_PUBLIC_URL=https://halo-sync.test
  export HALO_INGEST_PORT='' HALO_MONITOR_PORT='' HALO_SIM_PORT='' HALO_PG_PORT='' HALO_TLS_PORT=''
  export HALO_FETCH_LEASE_S=10 HALO_LOG_LEVEL=info
  mkdir -p "$HALO_TLS_DIR"
  bash scripts/compose-secrets.sh "$HALO_SECRETS_DIR" >/dev/null
  # The store's password has blanks, quotes and a backslash: it must survive the
  # secret file, db-roles.sh and the merge into the libpq connection string.
  printf "st o're \"pw\" \\\\ %s" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$HALO_SECRETS_DIR/db_store_password"
}

# compose_images [proxy]: the runtime and sim images (and the TLS proxy's
# with "proxy"), built once per hash of what the binaries are made of and
# reused while those sources are unchanged; sets HALO_IMAGE, HALO_SIM_IMAGE,
# HALO_PROXY_IMAGE.
compose_images() {
  local src_hash proxy_hash t_build
  # tests/ and bench/ are configured by CMake but not built in the image.
  src_hash=$(find Dockerfile .dockerignore CMakeLists.txt common cli fetcher ingest monitor store sim db \
    -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  proxy_hash=$(find docker -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  export HALO_IMAGE=halo-sync:src-$src_hash HALO_SIM_IMAGE=halo-sync-sim:src-$src_hash
  export HALO_PROXY_IMAGE=halo-sync-proxy:src-$proxy_hash
  t_build=$(date +%s)
  if docker image inspect "$HALO_IMAGE" "$HALO_SIM_IMAGE" >/dev/null 2>&1; then
    log "images $HALO_IMAGE and $HALO_SIM_IMAGE exist (sources unchanged): not rebuilt"
  else
    log "building $HALO_SIM_IMAGE and $HALO_IMAGE"
    docker build -q --target sim -t "$HALO_SIM_IMAGE" . >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; fail "docker build (sim) failed"; }
    docker build -q --target runtime -t "$HALO_IMAGE" . >>"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; fail "docker build (runtime) failed"; }
    # Older builds are of no use any more, but another worktree's run may be
    # using one this minute: keep the three newest of each image (docker
    # images lists newest first), remove the rest.
    local repo
    for repo in halo-sync halo-sync-sim; do
      docker images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -E ":src-" | grep -v -e "$src_hash" \
        | tail -n +3 | xargs -r docker image rm >/dev/null 2>&1 || true
    done
  fi
  if [ "${1:-}" = proxy ] && ! docker image inspect "$HALO_PROXY_IMAGE" >/dev/null 2>&1; then
    docker build -q -t "$HALO_PROXY_IMAGE" -f docker/proxy.Dockerfile docker >>"$WORK/build.log" 2>&1 \
      || { tail -n 30 "$WORK/build.log"; fail "docker build (tls proxy) failed"; }
  fi
  log "images ready in $(($(date +%s) - t_build)) s: runtime $(docker image inspect -f '{{.Size}}' "$HALO_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
}

# status_of: "SERVICE STATUS" of every container of the project.
status_of() { docker ps -a --filter "label=com.docker.compose.project=$P" \
  --format '{{.Label "com.docker.compose.service"}} {{.Status}}'; }

# compose_wait_healthy TIMEOUT_S WANT: until the healthy containers per
# service are exactly WANT ("fetcher=3 ingest=1 ...", services sorted) and
# halo-sim is up.
compose_wait_healthy() {
  local deadline=$(($(date +%s) + $1)) st got
  while :; do
    st=$(status_of)
    got=$(awk '/\(healthy\)/ {n[$1]++} END {for (s in n) printf "%s=%d\n", s, n[s]}' <<<"$st" | sort | tr '\n' ' ')
    if [ "${got% }" = "$2" ] && grep -q '^sim Up' <<<"$st"; then return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$st"; fail "not every service healthy after $1 s (healthy: $got)"; }
    sleep 1
  done
}

# container SERVICE [NUMBER]: the id of that container of the project (default number 1).
container() { docker ps -a -q --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=$1" \
  --filter "label=com.docker.compose.container-number=${2:-1}"; }

# compose_exited_ok SERVICE...: fails unless each one-shot SERVICE exited 0.
compose_exited_ok() {
  local s c
  for s in "$@"; do
    c=$(container "$s")
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$c")" = 0 ] || fail "$s did not exit 0"
  done
}

# published_port SERVICE PORT: the host port Docker published SERVICE's PORT on.
published_port() {
  local hp
  hp=$(dc --profile sim --profile tls port "$1" "$2" 2>/dev/null | tail -n 1)
  [ -n "${hp##*:}" ] || fail "no published port for $1:$2"
  echo "${hp##*:}"
}

# compose_read_ports [tls]: every published port (again after a container
# restarts: the engine binds a restarted container's port anew); the TLS
# proxy's only with "tls".
compose_read_ports() {
  HALO_INGEST_PORT=$(published_port ingest 8080) HALO_MONITOR_PORT=$(published_port monitor 8081)
  HALO_SIM_PORT=$(published_port sim 8090) HALO_PG_PORT=$(published_port postgres 5432)
  [ "${1:-}" = tls ] && HALO_TLS_PORT=$(published_port tls 8443)
  INGEST=http://127.0.0.1:$HALO_INGEST_PORT SIM=http://127.0.0.1:$HALO_SIM_PORT
  ADMIN_DB="host=127.0.0.1 port=$HALO_PG_PORT user=halo dbname=halo connect_timeout=5"
  BI_DB="host=127.0.0.1 port=$HALO_PG_PORT user=halo_bi_reader dbname=halo connect_timeout=5"
  log "published ports (picked by Docker): ingest $HALO_INGEST_PORT, monitor $HALO_MONITOR_PORT, sim $HALO_SIM_PORT, postgres $HALO_PG_PORT${HALO_TLS_PORT:+, tls $HALO_TLS_PORT}"
}

# wait_pg TIMEOUT_S: PostgreSQL from the host, through the published port (it
# may still be starting, or recovering, when the services already report healthy).
wait_pg() {
  local deadline=$(($(date +%s) + $1))
  until admin_sql "SELECT 1" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "PostgreSQL not reachable on 127.0.0.1:$HALO_PG_PORT after $1 s: $(admin_sql 'SELECT 1' 2>&1 | head -n 1)"
    sleep 1
  done
}

# compose_connect_demo LIMIT WINDOW_S: connects tenant demo (halo-sim's) as
# an operator would, with that budget, waits until ingest knows it, and points
# halo-sim's webhooks at ingest with the same limit and window; sets HOOK
# (from the host) and TOKEN.
compose_connect_demo() {
  local out deadline
  out=$(printf '%s' demo-secret | dc --profile tools run --rm -T haloctl connect demo \
    --auth-url http://sim:8090/auth --resource-url http://sim:8090/api --halo-tenant demo \
    --client-id demo-client --client-secret-stdin --allow-insecure-http --rate-limit "$1" --rate-window "$2" 2>&1) \
    || { echo "$out"; fail "haloctl connect failed"; }
  TOKEN=$(grep -o "$HALO_PUBLIC_URL/hooks/demo/[0-9a-f]*" <<<"$out" | head -n 1 | sed 's|.*/||')
  [ -n "$TOKEN" ] || { echo "$out"; fail "no callback URL in haloctl connect's output"; }
  HOOK=$INGEST/hooks/demo/$TOKEN
  deadline=$(($(date +%s) + 30))
  until [ "$(curl -fsS --max-time 5 "$INGEST/healthz" 2>/dev/null | jq -r '.registry_tenants // 0')" -ge 1 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "ingest does not know the tenant 30 s after haloctl connect"
    sleep 0.5
  done
  curl -fsS -X POST -H 'Content-Type: application/json' "$SIM/_sim/config" \
    --data-binary "{\"webhook_url\":\"http://ingest:8080/hooks/demo/$TOKEN\",\"rate_limit\":$1,\"rate_window\":$2}" >/dev/null \
    || fail "halo-sim refused its configuration"
  log "connected demo; halo-sim's webhooks go to http://ingest:8080/hooks/demo/<token>"
}

# wait_full_sync TIMEOUT_S: until the one tenant's 11 syncs (4 entities and 7
# reference lists) are done.
wait_full_sync() {
  local deadline=$(($(date +%s) + $1)) st
  while :; do
    st=$(admin_sql "SELECT count(*) FILTER (WHERE full_status = 'done' AND NOT full_requested) || '/' || count(*) FROM halo.sync_state" 2>/dev/null || echo "?")
    [ "$st" = 11/11 ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "full sync not done after $1 s ($st)"
    sleep 1
  done
}

# compose_sim_log FILE: halo-sim's request log (--request-log in the sim container) into FILE.
compose_sim_log() {
  docker exec "$(container sim)" cat /var/lib/halo/sim-requests.jsonl >"$1" \
    || fail "cannot read halo-sim's request log"
}

# worst_window FILE WINDOW_MS: the most requests counted against the budget
# (halo-sim's request log, JSON lines with counted and ts_ms) within any
# WINDOW_MS (over (t - WINDOW_MS, t] at each request); 0 for none.
worst_window() {
  jq -r 'select(.counted) | .ts_ms' "$1" | sort -n | awk -v w="$2" '
    { t[NR] = $1; while (t[NR] - t[lo + 1] >= w) lo++; c = NR - lo; if (c > max) max = c }
    END { printf "%d", max }'
}

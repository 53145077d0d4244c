#!/usr/bin/env bash
# docker-compose.yml for real, on a real Docker engine (../shared/tools/
# container-engine.sh starts Debian's dockerd here; if it cannot, this test
# FAILS with the reason). First the file itself: every service, fetchers
# scalable, log rotation and a healthcheck everywhere, no secret in the
# configuration. Then the stack: images built once per source hash (reused
# while the sources are unchanged), `up -d --scale fetcher=3` with the sim and
# tls profiles, every service healthy, a tenant connected with `run --rm -T
# haloctl connect ... --client-secret-stdin`, halo-sim's webhooks pointed at
# ingest, a storm of changes during which one fetcher container is killed
# (and started again) and the postgres container is restarted. At the end
# every object is in PostgreSQL with halo-sim's final state, read from the
# host through the published port as halo_bi_reader (tests/compose_compare.jq,
# all rows), no 5 s window of halo-sim's request log exceeds the tenant's
# budget across the three fetchers, no secret appears in `docker inspect`,
# and the TLS proxy forwards webhooks but not /metrics (nor does ingest's public port). `down -v` always.
#   HALO_COMPOSE_MUTATIONS (default 600)   HALO_COMPOSE_KEEP=1 keeps the stack up
#   HALO_COMPOSE_STATS=FILE  appends measurements (up time, image size, each
#   container's RSS idle and during the storm) for bench/compose_stats.sh
set -euo pipefail
SRC=$(cd "${HALO_SRC_DIR:-$(dirname "$0")/..}" && pwd)
cd "$SRC"
T0=$(date +%s)
log() { printf '[compose +%3ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
for t in curl jq psql sha256sum; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"; done
MUTATIONS=${HALO_COMPOSE_MUTATIONS:-600}
WORK=$(mktemp -d /tmp/halo-compose.XXXXXX)
STARTED=0

# --- The Docker engine -------------------------------------------------------
engine=""
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
# Stacks left by earlier runs that were killed (their test pid is gone): the
# engine restarts their containers with it, so remove them.
for proj in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep -E '^halotest[0-9]+$' | sort -u); do
  kill -0 "${proj#halotest}" 2>/dev/null && continue
  log "removing the stack of an earlier, killed run: $proj"
  docker ps -a -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker rm -f >/dev/null || true
  docker volume ls -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker volume rm >/dev/null || true
  docker network ls -q --filter "label=com.docker.compose.project=$proj" | xargs -r docker network rm >/dev/null || true
done
log "engine: docker $(docker version --format '{{.Server.Version}}'), compose: $("${DC[@]}" version --short 2>/dev/null || echo '?')"

# --- Configuration of this run: own project, ports, secrets, images -----------
# Every published port is left to Docker (an empty HALO_*_PORT publishes on a
# port the engine binds free), read back after `up` with `compose port`: a
# port picked here could be taken by a parallel test before `up` binds it.
export COMPOSE_PROJECT_NAME=halotest$$
export HALO_SECRETS_DIR=$WORK/secrets HALO_TLS_DIR=$WORK/tls HALO_PUBLIC_URL=https://halo-sync.test
export HALO_INGEST_PORT= HALO_MONITOR_PORT= HALO_SIM_PORT= HALO_PG_PORT= HALO_TLS_PORT=
export HALO_FETCH_LEASE_S=10 HALO_LOG_LEVEL=info
mkdir -p "$HALO_TLS_DIR"
bash scripts/compose-secrets.sh "$HALO_SECRETS_DIR" >/dev/null
# The store's password has blanks, quotes and a backslash: it must survive the
# secret file, db-roles.sh and the merge into the libpq connection string.
printf "st o're \"pw\" \\\\ %s" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$HALO_SECRETS_DIR/db_store_password"
P=$COMPOSE_PROJECT_NAME
admin_sql() { PGPASSWORD=$(cat "$HALO_SECRETS_DIR/postgres_password") psql "$ADMIN_DB" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
bi_sql() { PGPASSWORD=$(cat "$HALO_SECRETS_DIR/db_bi_reader_password") psql "$BI_DB" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
dc() { "${DC[@]}" "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT
  if [ "$STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      dc --profile sim --profile tls ps || true
      for s in migrate db-roles ingest fetcher store monitor tls sim postgres; do
        echo "----- $s (last 25 lines)"
        dc --profile sim --profile tls logs --no-color --tail 25 "$s" 2>&1 | grep -v '^Attaching' || true
      done
    fi
    if [ "${HALO_COMPOSE_KEEP:-0}" = 1 ]; then
      log "HALO_COMPOSE_KEEP=1: project $P left up (${DC[*]} -p $P down -v removes it); state in $WORK"
      exit "$rc"
    fi
    dc --profile sim --profile tls --profile tools down -v --remove-orphans >/dev/null 2>&1 \
      || log "warning: down -v failed"
  fi
  rm -rf "$WORK"
  log "exit $rc after $(($(date +%s) - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The file itself -----------------------------------------------------------
cfg=$(dc --profile sim --profile tools --profile tls config) || fail "docker-compose config failed"
for svc in postgres migrate db-roles ingest fetcher store monitor haloctl tls sim; do
  grep -q "^  $svc:" <<<"$cfg" || fail "service $svc missing"
done
section() { awk -v s="  $1:" '$0 == s {f=1; next} /^  [a-z]/ {f=0} f' <<<"$cfg"; }
grep -q "ports:" <<<"$(section fetcher)" && fail "fetcher publishes a port: it could not scale"
grep -q "container_name" <<<"$(section fetcher)" && fail "fetcher has a container_name: it could not scale"
for svc in postgres migrate db-roles ingest fetcher store monitor tls sim; do
  grep -q "max-size" <<<"$(section "$svc")" || fail "service $svc has no log rotation (logging: max-size)"
done
for svc in postgres ingest fetcher store monitor tls; do
  grep -q "healthcheck:" <<<"$(section "$svc")" || fail "service $svc has no healthcheck"
done
for f in "$HALO_SECRETS_DIR"/*; do
  grep -qF -- "$(cat "$f")" <<<"$cfg" && fail "the value of secret $(basename "$f") is in the compose configuration"
done
if env -u HALO_PUBLIC_URL "${DC[@]}" --profile tools config -q 2>/dev/null; then
  fail "compose accepted a missing HALO_PUBLIC_URL"
fi
grep -E -i '(SECRET|PASSWORD)[A-Z_]*=' Dockerfile && fail "Dockerfile sets a secret"
grep -q 'halo-sim' <(sed -n '/AS runtime/,/AS sim/p' Dockerfile | grep COPY) && fail "runtime image ships halo-sim"
for p in .git build var secrets .env; do
  grep -qx "$p" .dockerignore || fail ".dockerignore does not leave out $p"
done
log "compose file: services, scaling, logging, healthchecks, no secret in the configuration: ok"

# --- Images: built once per source hash --------------------------------------
# What the binaries are made of (tests/ is configured by CMake but not built in the image).
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
  # Older builds of this test are of no use any more.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^halo-sync(-sim)?:src-' \
    | grep -v -e "$src_hash" | xargs -r docker image rm >/dev/null 2>&1 || true
fi
if ! docker image inspect "$HALO_PROXY_IMAGE" >/dev/null 2>&1; then
  docker build -q -t "$HALO_PROXY_IMAGE" -f docker/proxy.Dockerfile docker >>"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log"; fail "docker build (tls proxy) failed"; }
fi
log "images ready in $(($(date +%s) - t_build)) s: runtime $(docker image inspect -f '{{.Size}}' "$HALO_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"

# --- Up, and every service healthy --------------------------------------------
STARTED=1
t_up=$(date +%s)
dc --profile sim --profile tls up -d --no-build --scale fetcher=3 >"$WORK/up.log" 2>&1 \
  || { cat "$WORK/up.log"; fail "docker-compose up failed"; }
status_of() { docker ps -a --filter "label=com.docker.compose.project=$P" \
  --format '{{.Label "com.docker.compose.service"}} {{.Status}}'; }
wait_healthy() {
  local deadline=$(($(date +%s) + $1)) st want
  want="fetcher=3 ingest=1 monitor=1 postgres=1 store=1 tls=1"
  while :; do
    st=$(status_of)
    got=$(awk '/\(healthy\)/ {n[$1]++} END {for (s in n) printf "%s=%d\n", s, n[s]}' <<<"$st" | sort | tr '\n' ' ')
    if [ "${got% }" = "$want" ] && grep -q '^sim Up' <<<"$st"; then return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$st"; fail "not every service healthy after $1 s (healthy: $got)"; }
    sleep 1
  done
}
wait_healthy 240
UP_S=$(($(date +%s) - t_up))
for s in migrate db-roles; do
  c=$(docker ps -a -q --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=$s")
  [ "$(docker inspect -f '{{.State.ExitCode}}' "$c")" = 0 ] || fail "$s did not exit 0"
done
log "up: every service healthy $UP_S s after 'up' (3 fetchers; migrate and db-roles exited 0)"
# published_port SERVICE PORT: the host port Docker published SERVICE's PORT on.
published_port() {
  local hp
  hp=$(dc --profile sim --profile tls port "$1" "$2" 2>/dev/null | tail -n 1)
  [ -n "${hp##*:}" ] || fail "no published port for $1:$2"
  echo "${hp##*:}"
}
# read_ports: every published port, again after a container restarts (the
# engine binds a restarted container's port anew).
read_ports() {
  HALO_INGEST_PORT=$(published_port ingest 8080) HALO_MONITOR_PORT=$(published_port monitor 8081)
  HALO_SIM_PORT=$(published_port sim 8090) HALO_PG_PORT=$(published_port postgres 5432)
  HALO_TLS_PORT=$(published_port tls 8443)
  INGEST=http://127.0.0.1:$HALO_INGEST_PORT SIM=http://127.0.0.1:$HALO_SIM_PORT
  ADMIN_DB="host=127.0.0.1 port=$HALO_PG_PORT user=halo dbname=halo connect_timeout=5"
  BI_DB="host=127.0.0.1 port=$HALO_PG_PORT user=halo_bi_reader dbname=halo connect_timeout=5"
  log "published ports (picked by Docker): ingest $HALO_INGEST_PORT, monitor $HALO_MONITOR_PORT, sim $HALO_SIM_PORT, postgres $HALO_PG_PORT, tls $HALO_TLS_PORT"
}
read_ports

# Measurements for bench/compose_stats.sh: RSS (KiB) summed over each
# running container's processes (docker top -o pid,rss), as "PHASE<TAB>CONTAINER<TAB>KIB" lines.
stat_line() { [ -n "${HALO_COMPOSE_STATS:-}" ] && printf '%s\n' "$*" >>"$HALO_COMPOSE_STATS" || true; }
rss_sample() {
  local c name
  for c in $(docker ps -q --filter "label=com.docker.compose.project=$P"); do
    name=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}-{{index .Config.Labels "com.docker.compose.container-number"}}' "$c")
    stat_line "$1	$name	$(docker top "$c" -o pid,rss 2>/dev/null | awk 'NR > 1 {s += $2} END {print s + 0}')"
  done
}
if [ -n "${HALO_COMPOSE_STATS:-}" ]; then
  stat_line "up_to_healthy_s	$UP_S"
  stat_line "image_bytes	$(docker image inspect -f '{{.Size}}' "$HALO_IMAGE")"
  stat_line "sim_image_bytes	$(docker image inspect -f '{{.Size}}' "$HALO_SIM_IMAGE")"
  stat_line "proxy_image_bytes	$(docker image inspect -f '{{.Size}}' "$HALO_PROXY_IMAGE")"
  sleep 10
  rss_sample idle
fi

# PostgreSQL from the host, through the published port (it may still be
# starting, or recovering, when the services already report healthy).
wait_pg() {
  local deadline=$(($(date +%s) + $1))
  until admin_sql "SELECT 1" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "PostgreSQL not reachable on 127.0.0.1:$HALO_PG_PORT after $1 s: $(admin_sql 'SELECT 1' 2>&1 | head -n 1)"
    sleep 1
  done
}
wait_pg 120
# Each service runs as its own role, the superuser as none of them.
roles=$(admin_sql "SELECT string_agg(DISTINCT usename, ',' ORDER BY usename) FROM pg_stat_activity WHERE datname = 'halo' AND usename LIKE 'halo_%'")
for r in halo_fetcher halo_ingest halo_monitor halo_store; do
  grep -qw "$r" <<<"${roles//,/ }" || fail "no session of role $r (sessions: $roles)"
done
log "sessions by role: $roles"

# --- Connect the tenant as an operator would ----------------------------------
out=$(printf '%s' demo-secret | dc --profile tools run --rm -T haloctl connect demo \
  --auth-url http://sim:8090/auth --resource-url http://sim:8090/api --halo-tenant demo \
  --client-id demo-client --client-secret-stdin --allow-insecure-http --rate-limit 450 --rate-window 5 2>&1) \
  || { echo "$out"; fail "haloctl connect failed"; }
token=$(grep -o "$HALO_PUBLIC_URL/hooks/demo/[0-9a-f]*" <<<"$out" | head -n 1 | sed 's|.*/||')
[ -n "$token" ] || { echo "$out"; fail "no callback URL in haloctl connect's output"; }
HOOK=$INGEST/hooks/demo/$token
deadline=$(($(date +%s) + 30))
until [ "$(curl -fsS --max-time 5 "$INGEST/healthz" 2>/dev/null | jq -r '.registry_tenants // 0')" -ge 1 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "ingest does not know the tenant 30 s after haloctl connect"
  sleep 0.5
done
curl -fsS -X POST -H 'Content-Type: application/json' "$SIM/_sim/config" \
  --data-binary "{\"webhook_url\":\"http://ingest:8080/hooks/demo/$token\",\"rate_limit\":450,\"rate_window\":5}" >/dev/null \
  || fail "halo-sim refused its configuration"
log "connected demo; halo-sim's webhooks go to http://ingest:8080/hooks/demo/<token>"

wait_full_sync() {
  local deadline=$(($(date +%s) + $1)) st
  while :; do
    st=$(admin_sql "SELECT count(*) FILTER (WHERE full_status = 'done' AND NOT full_requested) || '/' || count(*) FROM halo.sync_state" 2>/dev/null || echo "?")
    [ "$st" = 11/11 ] && return 0 # 4 entities and 7 reference lists
    [ "$(date +%s)" -lt "$deadline" ] || fail "full sync not done after $1 s ($st)"
    sleep 1
  done
}
t_sync=$(date +%s)
wait_full_sync 240
log "full sync done in $(($(date +%s) - t_sync)) s"

# --- TLS proxy: webhooks through, /metrics not --------------------------------
TLS=https://127.0.0.1:$HALO_TLS_PORT
[ "$(curl -sk -o /dev/null -w '%{http_code}' "$TLS/healthz")" = 200 ] || fail "GET /healthz through the TLS proxy is not 200"
[ "$(curl -sk -o /dev/null -w '%{http_code}' "$TLS/metrics")" = 404 ] || fail "the TLS proxy forwards /metrics"
[ "$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary '[]' "$TLS/hooks/demo/0123456789abcdef0123456789abcdef")" = 401 ] \
  || fail "a wrong token through the TLS proxy is not 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HALO_TLS_PORT/healthz" || true)" != 200 ] \
  || fail "the TLS port answers plain HTTP"
# ingest's own public port: /metrics is 404; it is on the admin listener, the container's loopback only.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$INGEST/metrics")" = 404 ] || fail "ingest serves /metrics on its public port"
dc exec -T ingest curl -fsS --max-time 5 http://127.0.0.1:8082/metrics | grep -q '^halo_ingest_journal_ok 1' \
  || fail "ingest's admin listener (127.0.0.1:8082 in its container) does not serve /metrics"

# --- The storm, with a fetcher killed and PostgreSQL restarted -----------------
container() { docker ps -a -q --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=$1" \
  --filter "label=com.docker.compose.container-number=${2:-1}"; }
chaos() {
  sleep 6
  local f
  f=$(container fetcher 2)
  docker kill "$f" >/dev/null && log "chaos: docker kill fetcher #2"
  sleep 3
  docker start "$f" >/dev/null && log "chaos: fetcher #2 started again"
  sleep 6
  docker restart -t 10 "$(container postgres)" >/dev/null && log "chaos: postgres container restarted"
}
chaos &
chaos_pid=$!
sampler_pid=""
if [ -n "${HALO_COMPOSE_STATS:-}" ]; then
  touch "$WORK/storming"
  (while [ -f "$WORK/storming" ]; do rss_sample storm; sleep 2; done) &
  sampler_pid=$!
fi
: >"$WORK/mutations.jsonl"
done_n=0 i=0 redelivered=0 tls_sent=0
payloads=(full small event)
t_storm=$(date +%s)
while [ "$done_n" -lt "$MUTATIONS" ] || kill -0 "$chaos_pid" 2>/dev/null; do
  n=25
  [ "$done_n" -ge "$MUTATIONS" ] && n=5
  outf=$WORK/mutate-$i.json
  curl -fsS --max-time 300 -X POST -H 'Content-Type: application/json' "$SIM/_sim/mutate" \
    --data-binary "{\"count\":$n,\"payload\":\"${payloads[$((i % 3))]}\",\"duplicates\":0.2,\"batch\":0.2,\"return_bodies\":true}" \
    >"$outf" || fail "POST /_sim/mutate failed (chunk $i)"
  jq -c '.mutations[] | {kind, id}' "$outf" >>"$WORK/mutations.jsonl"
  # A body that did not get a 2xx is sent again from the host (a sender retrying).
  while IFS= read -r body; do
    redelivered=$((redelivered + 1))
    deadline=$(($(date +%s) + 90))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' --data-binary @- "$HOOK" <<<"$body" || true)" = 200 ]; do
      [ "$(date +%s)" -lt "$deadline" ] || fail "a redelivered webhook was refused for 90 s"
      sleep 0.5
    done
  done < <(jq -c '. as $r | ($r.webhooks.statuses // []) | to_entries[] | select(.value < 200 or .value >= 300) | $r.bodies[.key]' "$outf")
  # One body per chunk goes again through the TLS proxy (a duplicate: harmless).
  body=$(jq -c '.bodies[0] // empty' "$outf")
  if [ -n "$body" ]; then
    code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' --data-binary @- "$TLS/hooks/demo/$token" <<<"$body" || true)
    [ "$code" = 200 ] && tls_sent=$((tls_sent + 1))
  fi
  done_n=$((done_n + $(jq .applied "$outf")))
  i=$((i + 1))
  sleep 0.3
done
wait "$chaos_pid" || fail "a chaos action failed"
read_ports
rm -f "$WORK/storming"
[ -z "$sampler_pid" ] || wait "$sampler_pid" || true
[ "$tls_sent" -gt 0 ] || fail "no webhook got a 200 through the TLS proxy"
log "storm: $done_n mutations in $(($(date +%s) - t_storm)) s ($(jq -rs 'group_by(.kind | split("_")[0]) | map("\(.[0].kind | split("_")[0])=\(length)") | join(" ")' "$WORK/mutations.jsonl")); $redelivered bodies redelivered, $tls_sent through TLS"

# --- Convergence, read as halo_bi_reader from the host -------------------------
compare() {
  local e cols ok=0
  COMPARE=""
  for e in tickets sites users invoices; do
    case $e in
      tickets) cols="summary, status_id, agent_id, team, priority_id" ;;
      sites) cols="name, phonenumber, inactive" ;;
      users) cols="name, inactive" ;;
      invoices) cols="amountpaid, amountdue, posted" ;;
    esac
    curl -fsS --max-time 60 "$SIM/_sim/dump?entity=$e" >"$WORK/sim-$e.json" || return 1
    bi_sql "SELECT coalesce(json_agg(r), '[]') FROM (SELECT id, deleted_at IS NOT NULL AS deleted,
              round(extract(epoch FROM last_update) * 1000)::bigint AS last_update_ms, $cols
            FROM halo_bi.$e WHERE tenant = 'demo') r" >"$WORK/bi-$e.json" 2>"$WORK/bi.err" || return 1
    jq -n -c --slurpfile sim "$WORK/sim-$e.json" --slurpfile bi "$WORK/bi-$e.json" \
      '$sim[0] as $sim | $bi[0] as $bi | '"$(grep -v '^#' tests/compose_compare.jq)" >"$WORK/result-$e.json" || return 1
    COMPARE+="  $(jq -r '"\(.entity): live \(.live), rows \(.rows): lost \(.lost) stale \(.stale) phantom \(.phantom)"' "$WORK/result-$e.json")"$'\n'
    jq -e '.lost + .stale + .phantom == 0' "$WORK/result-$e.json" >/dev/null || ok=1
  done
  return $ok
}
quiescent() {
  PENDING="$(admin_sql "SELECT 'queue=' || (SELECT count(*) FROM halo.fetch_queue) || ' syncs=' || (SELECT count(*) FROM halo.sync_state WHERE full_requested OR full_status = 'running')" 2>/dev/null || echo db=down) $(curl -fsS --max-time 5 "$INGEST/healthz" 2>/dev/null | jq -r '"unacked=\(.unacked) inflight=\(.inflight)"' || echo ingest=down)"
  [ "$PENDING" = "queue=0 syncs=0 unacked=0 inflight=0" ]
}
t_conv=$(date +%s)
deadline=$((t_conv + 300))
last=""
until quiescent && compare; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    printf '%s' "${COMPARE:-}"
    for e in tickets sites users invoices; do jq -c '.examples[]?' "$WORK/result-$e.json" 2>/dev/null | sed "s/^/  $e: /"; done
    cat "$WORK/bi.err" 2>/dev/null || true
    fail "PostgreSQL did not converge to halo-sim's data within 300 s ($PENDING)"
  fi
  [ "$PENDING" != "$last" ] && { log "waiting: $PENDING"; last=$PENDING; }
  sleep 2
done
log "converged $(($(date +%s) - t_conv)) s after the storm; as halo_bi_reader through 127.0.0.1:$HALO_PG_PORT:"
printf '%s' "$COMPARE"
# halo_bi_reader reads the views and nothing else.
if bi_sql "SELECT count(*) FROM halo.tenants" >/dev/null 2>&1; then fail "halo_bi_reader can read halo.tenants"; fi

# --- The budget, across the three fetchers ------------------------------------
docker exec "$(container sim)" cat /var/lib/halo/sim-requests.jsonl >"$WORK/sim-requests.jsonl" \
  || fail "cannot read halo-sim's request log"
n429=$(jq -s 'map(select(.status == 429)) | length' "$WORK/sim-requests.jsonl")
requests=$(jq -s 'map(select(.counted)) | length' "$WORK/sim-requests.jsonl")
max_window=$(jq -r 'select(.counted) | .ts_ms' "$WORK/sim-requests.jsonl" | sort -n | awk -v w=5000 '
  { t[NR] = $1; while (t[NR] - t[lo + 1] >= w) lo++; c = NR - lo; if (c > max) max = c }
  END { printf "%d", max }')
log "halo-sim request log: $requests API requests, $n429 answered 429, at most $max_window in any 5 s window (budget 405)"
[ "$requests" -gt 0 ] || fail "halo-sim's request log holds no API request"
[ "$n429" = 0 ] || fail "halo-sim answered 429 $n429 times"
[ "$max_window" -le 405 ] || fail "$max_window requests in one 5 s window: over the budget of 405"

# --- No secret in docker inspect ----------------------------------------------
docker inspect $(docker ps -a -q --filter "label=com.docker.compose.project=$P") >"$WORK/inspect.json"
for f in "$HALO_SECRETS_DIR"/*; do
  grep -qF -- "$(cat "$f")" "$WORK/inspect.json" && fail "the value of secret $(basename "$f") shows in docker inspect"
done
log "no secret value in docker inspect of $(jq length "$WORK/inspect.json") containers"
log "PASS: up to healthy ${UP_S} s, $done_n mutations, lost=stale=phantom=0, max $max_window per 5 s window"
echo "1 passed, 0 failed"

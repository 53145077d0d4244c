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
# shellcheck source=tests/compose_lib.sh
source "$SRC/tests/compose_lib.sh"
compose_engine_start halotest

# --- Configuration of this run: own project, ports, secrets, images -----------
compose_setup halotest$$

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
compose_images proxy

# --- Up, and every service healthy --------------------------------------------
STARTED=1
t_up=$(date +%s)
dc --profile sim --profile tls up -d --no-build --scale fetcher=3 >"$WORK/up.log" 2>&1 \
  || { cat "$WORK/up.log"; fail "docker-compose up failed"; }
compose_wait_healthy 240 "fetcher=3 ingest=1 monitor=1 postgres=1 store=1 tls=1"
UP_S=$(($(date +%s) - t_up))
compose_exited_ok migrate db-roles
log "up: every service healthy $UP_S s after 'up' (3 fetchers; migrate and db-roles exited 0)"
compose_read_ports tls

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

wait_pg 120
# Each service runs as its own role, the superuser as none of them.
roles=$(admin_sql "SELECT string_agg(DISTINCT usename, ',' ORDER BY usename) FROM pg_stat_activity WHERE datname = 'halo' AND usename LIKE 'halo_%'")
for r in halo_fetcher halo_ingest halo_monitor halo_store; do
  grep -qw "$r" <<<"${roles//,/ }" || fail "no session of role $r (sessions: $roles)"
done
log "sessions by role: $roles"

# --- Connect the tenant as an operator would ----------------------------------
compose_connect_demo 450 5

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
    code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' --data-binary @- "$TLS/hooks/demo/$TOKEN" <<<"$body" || true)
    [ "$code" = 200 ] && tls_sent=$((tls_sent + 1))
  fi
  done_n=$((done_n + $(jq .applied "$outf")))
  i=$((i + 1))
  sleep 0.3
done
wait "$chaos_pid" || fail "a chaos action failed"
compose_read_ports tls
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
compose_sim_log "$WORK/sim-requests.jsonl"
n429=$(jq -s 'map(select(.status == 429)) | length' "$WORK/sim-requests.jsonl")
requests=$(jq -s 'map(select(.counted)) | length' "$WORK/sim-requests.jsonl")
max_window=$(worst_window "$WORK/sim-requests.jsonl" 5000)
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

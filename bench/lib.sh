# shellcheck shell=bash
# bench/lib.sh: helpers shared by the benchmark scripts (sourced, not run).
# Every benchmark runs against the local stack (scripts/stack.sh) with its
# state under BENCH_STACK_DIR and its ports from BENCH_PORT_BASE, built in
# BENCH_BUILD_DIR (RelWithDebInfo). Results are printed as `key=value` lines;
# docs/BENCHMARKS.md quotes them.
#
#   BENCH_BUILD_DIR  build directory (default build-bench; built when a binary is missing):
#                    the daemons in bin/, the benchmarks' C programs in bench/ (BENCH_BIN_DIR)
#   BENCH_STACK_DIR  stack state (default /tmp/halo-bench-stack)
#   BENCH_PORT_BASE  first of the stack's ports (default 28080; the scripts also use +10..+29)
#   BENCH_KEEP=1     leave the last stack running (for poking at it)
set -euo pipefail

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BUILD_DIR=${BENCH_BUILD_DIR:-$bench_top/build-bench}
BENCH_STACK_DIR=${BENCH_STACK_DIR:-/tmp/halo-bench-stack}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-28080}
export HALO_BIN_DIR=$BENCH_BUILD_DIR/bin
BENCH_BIN_DIR=$BENCH_BUILD_DIR/bench
export HALO_STACK_DIR=$BENCH_STACK_DIR
export HALO_STACK_PORT_BASE=$BENCH_PORT_BASE
BENCH_TENANT=bench
BENCH_SIM_CLIENT=bench-client
BENCH_SIM_SECRET=bench-secret-value

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

# bench_need CMD...: exits with a hint when a command is missing.
bench_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is missing (bench/README.md lists the Debian packages)"
  done
}

# bench_build: configures BENCH_BUILD_DIR (RelWithDebInfo) once and brings
# it up to date with the sources every time (make does nothing when nothing
# changed), so a figure is never measured on binaries older than the tree:
# the daemons and the C programs of bench/ (bench/CMakeLists.txt).
# BENCH_REBUILD=1 configures again.
bench_build() {
  if [ ! -f "$BENCH_BUILD_DIR/CMakeCache.txt" ] || [ -n "${BENCH_REBUILD:-}" ]; then
    say "configuring $BENCH_BUILD_DIR (RelWithDebInfo)"
    # -Werror stays for CI; at -O2 gcc adds warnings (docs/BENCHMARKS.md) a benchmark need not stop on.
    cmake -S "$bench_top" -B "$BENCH_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHALO_WERROR=OFF >/dev/null
  fi
  cmake --build "$BENCH_BUILD_DIR" -j"${HALO_BUILD_JOBS:-2}" >/dev/null || die "building $BENCH_BUILD_DIR failed"
  local b
  for b in halo-sim halo-ingest halo-fetcher halo-store halo-monitor haloctl; do
    [ -x "$HALO_BIN_DIR/$b" ] || die "$HALO_BIN_DIR/$b was not built"
  done
}

stack() { bash "$bench_top/scripts/stack.sh" "$@"; }

# bench_runs RUNS: calls the script's one_run for runs 1..RUNS, printing each
# run's lines as it ends, and leaves all of them in BENCH_OUT for the medians.
bench_runs() {
  local r f=$BENCH_STACK_DIR.run.out
  BENCH_OUT=""
  for r in $(seq 1 "$1"); do
    one_run "$r" >"$f"
    cat "$f"
    BENCH_OUT+=$(cat "$f")$'\n'
  done
  rm -f "$f"
}

# bench_stack_start [stack start args...]: a fresh stack (the old state is destroyed).
bench_stack_start() {
  stack destroy >/dev/null 2>&1 || true
  stack start "$@" --tenant "$BENCH_TENANT" --client-id "$BENCH_SIM_CLIENT" \
    --client-secret "$BENCH_SIM_SECRET" >/dev/null 2>"$BENCH_STACK_DIR.start.log" \
    || { cat "$BENCH_STACK_DIR.start.log" >&2; die "stack did not start"; }
  # shellcheck disable=SC1091
  source "$BENCH_STACK_DIR/stack.env"
  export BENCH_REQLOG=$BENCH_STACK_DIR/log/sim-requests.jsonl
}

bench_stack_stop() {
  [ -n "${BENCH_KEEP:-}" ] && { say "stack left running under $BENCH_STACK_DIR"; return 0; }
  stack destroy >/dev/null 2>&1 || true
}

# bench_psql SQL: one query against the stack's database, unaligned, no header.
bench_psql() { psql "$HALO_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

now_ms() { date +%s%3N; }

# bench_connect LIMIT WINDOW_S [haloctl args...]: "Save And Sync" against the
# stack's halo-sim; sets BENCH_HOOK (the webhook callback URL).
bench_connect() {
  local limit=$1 window=$2 out
  shift 2
  out=$(BENCH_SECRET=$BENCH_SIM_SECRET haloctl connect "$BENCH_TENANT" \
    --auth-url "$HALO_SIM_URL/auth" --resource-url "$HALO_SIM_URL/api" --halo-tenant "$BENCH_TENANT" \
    --client-id "$BENCH_SIM_CLIENT" --client-secret-env BENCH_SECRET \
    --rate-limit "$limit" --rate-window "$window" "$@" 2>&1) || { echo "$out" >&2; die "haloctl connect failed"; }
  BENCH_HOOK=$(grep -o "$HALO_PUBLIC_URL/hooks/$BENCH_TENANT/[0-9a-f]*" <<<"$out" | head -n 1)
  [ -n "$BENCH_HOOK" ] || die "no webhook URL in haloctl's output"
}

# bench_tenant_slug K: halo-sim's name of tenant K (--tenants): bench, then bench-2 .. bench-N.
bench_tenant_slug() { if [ "$1" = 1 ]; then echo "$BENCH_TENANT"; else echo "$BENCH_TENANT-$1"; fi; }

# bench_connect_one K LIMIT WINDOW_S DIR: haloctl connect of halo-sim's tenant K under its own
# name, with its own secret (SECRET-K, the first SECRET); its webhook URL into DIR/K.
bench_connect_one() {
  local slug secret=$BENCH_SIM_SECRET out
  slug=$(bench_tenant_slug "$1")
  [ "$1" = 1 ] || secret=$BENCH_SIM_SECRET-$1
  out=$(BENCH_SECRET=$secret haloctl connect "$slug" --auth-url "$HALO_SIM_URL/auth" \
    --resource-url "$HALO_SIM_URL/api" --halo-tenant "$slug" --client-id "$BENCH_SIM_CLIENT" \
    --client-secret-env BENCH_SECRET --rate-limit "$2" --rate-window "$3" 2>&1) || { echo "$out" >&2; return 1; }
  grep -o "$HALO_PUBLIC_URL/hooks/$slug/[0-9a-f]*" <<<"$out" | head -n 1 >"$4/$1"
}

# bench_connect_tenants N PARALLEL LIMIT WINDOW_S: "Save And Sync" of halo-sim's tenants 1..N
# (halo-sim --tenants N), PARALLEL haloctl processes at a time; their webhook URLs into
# $BENCH_STACK_DIR/hooks (line K = tenant K).
bench_connect_tenants() {
  local n=$1 par=$2 k running=0 dir=$BENCH_STACK_DIR/hook
  rm -rf "$dir"
  mkdir -p "$dir"
  for k in $(seq 1 "$n"); do
    bench_connect_one "$k" "$3" "$4" "$dir" &
    running=$((running + 1))
    if [ "$running" -ge "$par" ]; then
      wait -n || die "haloctl connect failed"
      running=$((running - 1))
    fi
  done
  while [ "$running" -gt 0 ]; do
    wait -n || die "haloctl connect failed"
    running=$((running - 1))
  done
  for k in $(seq 1 "$n"); do
    [ -s "$dir/$k" ] || die "no webhook URL for tenant $k"
    cat "$dir/$k"
  done >"$BENCH_STACK_DIR/hooks"
}

# bench_sim_set_hooks: gives each halo-sim tenant (--tenant-data own) the webhook URL its
# connect printed ($BENCH_STACK_DIR/hooks, line K = tenant K), as a Halo admin pastes it
# into each tenant's webhook (POST /_sim/config?tenant=NAME, 16 at a time).
bench_sim_set_hooks() {
  local k=0 url cfg=$BENCH_STACK_DIR/hooks.curl
  : >"$cfg"
  while read -r url; do
    k=$((k + 1))
    [ "$k" = 1 ] || echo next >>"$cfg"
    printf 'url = "%s/_sim/config?tenant=%s"\nheader = "Content-Type: application/json"\ndata = "{\\"webhook_url\\":\\"%s\\"}"\nfail\noutput = "/dev/null"\n' \
      "$HALO_SIM_URL" "$(bench_tenant_slug "$k")" "$url" >>"$cfg"
  done <"$BENCH_STACK_DIR/hooks"
  curl -s -Z --parallel-max 16 -K "$cfg" >/dev/null 2>&1 || die "halo-sim refused a webhook URL"
}

# bench_wait_full_sync TIMEOUT_S: until every entity's full sync is done.
bench_wait_full_sync() {
  local deadline=$(($(date +%s) + $1)) left
  while :; do
    left=$(bench_psql "SELECT count(*) FROM halo.sync_state WHERE full_status <> 'done' OR full_requested")
    [ "$left" = 0 ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && die "full sync not done after $1 s"
    sleep 0.05
  done
}

# bench_wait_webhook_ready: until ingest knows the tenant (its registry refresh)
# and answers 200 to a delivery of an unknown event (accepted, never fetched).
bench_wait_webhook_ready() {
  local i code
  for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      ${BENCH_HOOK_AUTH:+-u "$BENCH_HOOK_AUTH"} \
      -d "{\"id\":\"bench-probe-$i\",\"event\":\"bench probe\",\"object_id\":0}" "$BENCH_HOOK" || true)
    case "$code" in 2??) return 0 ;; esac
    sleep 0.1
  done
  die "ingest does not accept webhooks at $BENCH_HOOK (last status $code)"
}

# bench_wait_drained DELIVERIES TIMEOUT_S: until DELIVERIES more distinct deliveries
# than at the last bench_mark_deliveries are recorded and the ledger stayed empty for 1 s.
bench_mark_deliveries() { BENCH_DELIVERIES_BASE=$(bench_psql "SELECT count(*) FROM halo.webhook_deliveries"); }
bench_wait_drained() {
  local want=$(($1 + ${BENCH_DELIVERIES_BASE:-0})) deadline=$(($(date +%s) + $2)) got queued stable=0
  while :; do
    got=$(bench_psql "SELECT count(*) FROM halo.webhook_deliveries")
    queued=$(bench_psql "SELECT count(*) FROM halo.fetch_queue")
    if [ "$got" -ge "$want" ] && [ "$queued" = 0 ]; then
      stable=$((stable + 1))
      [ "$stable" -ge 10 ] && return 0
    else
      stable=0
    fi
    [ "$(date +%s)" -ge "$deadline" ] && { say "not drained after $2 s: deliveries=$got/$want queue=$queued"; return 1; }
    sleep 0.1
  done
}

# sim_post PATH JSON: POST to halo-sim's control API, prints the answer.
sim_post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$HALO_SIM_URL$1"; }

# bench_static_webhook DIR: one "Ticket Changed" delivery with the full ticket,
# as halo-sim sends it, in DIR/body.json, and DIR/post.lua, a wrk script
# POSTing it unchanged (the same delivery id each time: fine where only
# ingest's work per request counts).
bench_static_webhook() {
  sim_post /_sim/mutate '{"count":1,"kinds":["ticket_update"],"webhooks":false,"return_bodies":true,"payload":"full"}' |
    jq -c '.bodies[0] | if type == "array" then .[0] else . end' >"$1/body.json"
  cat >"$1/post.lua" <<LUA
local f = io.open("$1/body.json"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body; wrk.headers["Content-Type"] = "application/json"
LUA
}

# bench_storm_ops OBJECTS UPDATES FIRST_ID: the "ops" array of a duplicate-heavy
# storm: OBJECTS consecutive ticket ids from FIRST_ID, each updated UPDATES times
# in a row (so each object's webhooks arrive together, as a Halo bulk change does).
bench_storm_ops() {
  jq -cn --argjson n "$1" --argjson k "$2" --argjson first "$3" \
    '[range($first; $first + $n) as $id | range(0; $k) | {kind: "ticket_update", id: $id}]'
}

# bench_storm SIM_URL OBJECTS UPDATES DUPLICATES SENDERS [PAYLOAD]: the storm through
# /_sim/mutate from SENDERS concurrent callers (disjoint objects), with
# duplicate deliveries (same delivery id, probability DUPLICATES) and batches
# (probability 0.1), as PAYLOAD (full, small, event; default halo-sim's
# --payload). Prints one JSON summary: objects, mutations, deliveries,
# bodies, sent, failed, ms.
bench_storm() {
  local sim=$1 objects=$2 updates=$3 dups=$4 senders=$5 payload=${6:-} per i t0 dir
  per=$(((objects + senders - 1) / senders))
  dir=$(mktemp -d)
  t0=$(now_ms)
  for i in $(seq 0 $((senders - 1))); do
    local first=$((1 + i * per)) n=$per
    [ $((first + n - 1)) -gt "$objects" ] && n=$((objects - first + 1))
    [ "$n" -le 0 ] && continue
    jq -cn --argjson ops "$(bench_storm_ops "$n" "$updates" "$first")" --argjson d "$dups" --arg p "$payload" \
      '{ops: $ops, webhooks: true, duplicates: $d, batch: 0.1} + (if $p == "" then {} else {payload: $p} end)' \
      >"$dir/req.$i"
    curl -fsS -X POST -H 'Content-Type: application/json' --data-binary "@$dir/req.$i" \
      "$sim/_sim/mutate" >"$dir/out.$i" &
  done
  wait
  jq -cs --argjson objects "$objects" --argjson ms $(($(now_ms) - t0)) \
    '{objects: $objects, mutations: (map(.applied) | add), deliveries: (map(.webhooks.deliveries) | add),
      bodies: (map(.webhooks.bodies) | add), sent: (map(.webhooks.sent) | add),
      failed: (map(.webhooks.failed) | add), ms: $ms}' "$dir"/out.*
  rm -rf "$dir"
}

# reqlog_worst_window FILE WINDOW_MS: per tenant of halo-sim's request log, the most
# counted requests within any WINDOW_MS (the count over (t - WINDOW_MS, t] at each
# request), and the 429s; one line per tenant: `tenant=T requests=N worst_window=M http_429=K`.
reqlog_worst_window() {
  jq -r '[(if (.tenant // "") == "" then "-" else .tenant end), (.ts_ms | tostring), (if .counted then 1 else 0 end), .status] | @tsv' "$1" | sort -k1,1 -k2,2n |
    awk -F'\t' -v w="$2" '
      function flush() { if (tn != "") printf "tenant=%s requests=%d worst_window=%d http_429=%d\n", tn, n, max, e429 }
      $1 != tn { flush(); tn = $1; n = 0; lo = 0; max = 0; e429 = 0; delete t }
      { if ($4 == 429) e429++ }
      $3 == 1 { t[++n] = $2; while (t[n] - t[lo + 1] >= w) lo++; if (n - lo > max) max = n - lo }
      END { flush() }'
}

# bench_detail_coverage: sites, users and invoices (the entities whose list rows lack
# fields in the spec profile): `live=N wanting=W fetched=F` (halo.detail_coverage's
# wanting; fetched = rows with a detail_fetched_at).
bench_detail_coverage() {
  bench_psql "SELECT format('live=%s wanting=%s fetched=%s', sum(live), sum(wanting), sum(fetched)) FROM (
      SELECT count(*) AS live, count(*) FILTER (WHERE detail_wanted_since IS NOT NULL) AS wanting,
             count(detail_fetched_at) AS fetched FROM halo.sites WHERE deleted_at IS NULL
      UNION ALL SELECT count(*), count(*) FILTER (WHERE detail_wanted_since IS NOT NULL), count(detail_fetched_at)
        FROM halo.users WHERE deleted_at IS NULL
      UNION ALL SELECT count(*), count(*) FILTER (WHERE detail_wanted_since IS NOT NULL), count(detail_fetched_at)
        FROM halo.invoices WHERE deleted_at IS NULL) c"
}

# bench_wait_details TIMEOUT_S: waits until no site, user or invoice wants a
# detail any more (the backfill after a full sync is done); dies after TIMEOUT_S.
bench_wait_details() {
  local deadline=$(($(date +%s) + $1)) c
  while c=$(bench_detail_coverage) && [ "$(field wanting <<<"$c")" != 0 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "details still wanted after $1 s: $c"
    sleep 0.5
  done
}

# reqlog_since FILE TS_MS: request-log entries at or after TS_MS, as a JSON array.
reqlog_since() { jq -cs --argjson t "$2" '[.[] | select(.ts_ms >= $t)]' "$1"; }

# median: the median of the numbers on stdin (one per line).
median() {
  sort -g | awk '{a[NR] = $1} END { if (NR == 0) exit 1; if (NR % 2) print a[(NR + 1) / 2] + 0;
    else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# field NAME LINE...: the value of NAME=... in key=value lines on stdin.
field() { grep -o "\b$1=[^ ]*" | cut -d= -f2; }

# pid_rss_kib PID: resident set (VmRSS) in KiB.
pid_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# pid_cpu_ticks PID: utime + stime in clock ticks.
pid_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# bench_pg_pids: the stack's postmaster and its live backends, one pid a line.
bench_pg_pids() {
  local pm
  pm=$(head -n 1 "$(readlink -f "$BENCH_STACK_DIR/pg")/data/postmaster.pid")
  echo "$pm"
  ps --ppid "$pm" -o pid= | tr -d ' '
}

# bench_pg_cpu_ticks: CPU ticks (utime + stime) of the postmaster and its live backends.
bench_pg_cpu_ticks() {
  local p sum=0
  for p in $(bench_pg_pids); do sum=$((sum + $(pid_cpu_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$sum"
}

# bench_sql_p50_p99 EXPR...: SQL select-list items for a format() of
# percentiles, p50 then p99 of each EXPR (ms), rounded to 0.1.
bench_sql_p50_p99() {
  local e out=
  for e in "$@"; do
    out+="round(percentile_cont(0.5) WITHIN GROUP (ORDER BY $e)::numeric, 1), "
    out+="round(percentile_cont(0.99) WITHIN GROUP (ORDER BY $e)::numeric, 1), "
  done
  printf '%s' "${out%, }"
}

# bench_pg_ticks_by_pid: "pid kind ticks" for the postmaster and each live
# backend: kind is the application_name of a client backend (halo processes
# name their connections after themselves, common/halo_pg.c), else the
# backend type (autovacuum worker, walwriter, checkpointer...).
bench_pg_ticks_by_pid() {
  local pm pid kind
  pm=$(head -n 1 "$(readlink -f "$BENCH_STACK_DIR/pg")/data/postmaster.pid")
  echo "$pm postmaster $(pid_cpu_ticks "$pm" 2>/dev/null || echo 0)"
  psql "$HALO_DATABASE_URL" -XAtq -F' ' -c "SELECT pid, replace(CASE WHEN backend_type = 'client backend'
      THEN coalesce(nullif(application_name, ''), 'client') ELSE backend_type END, ' ', '_')
      FROM pg_stat_activity WHERE pid <> pg_backend_pid()" | while read -r pid kind; do
    echo "$pid $kind $(pid_cpu_ticks "$pid" 2>/dev/null || echo 0)"
  done
}

# bench_pg_cpu_by_kind BEFORE AFTER HZ SECONDS: percent of one core per kind
# between two bench_pg_ticks_by_pid snapshots (files), "kind=pct ..." sorted by
# use; a process that started between them counts whole, one that ended is missed.
bench_pg_cpu_by_kind() {
  awk -v hz="$3" -v s="$4" 'FNR == NR {t0[$1] = $3; next}
    {d = $3 - ($1 in t0 ? t0[$1] : 0); if (d > 0) k[$2] += d}
    END {for (x in k) printf "%s=%.2f\n", x, k[x] / hz / s * 100}' "$1" "$2" |
    sort -t= -k2 -rn | tr '\n' ' ' | sed 's/ $//'
}

# bench_pg_rss_kib: summed VmRSS of the postmaster and its backends (shared buffers counted in each).
bench_pg_rss_kib() {
  local p sum=0
  for p in $(bench_pg_pids); do sum=$((sum + $(pid_rss_kib "$p" 2>/dev/null || echo 0))); done
  echo "$sum"
}

# stack_pid NAME: pid of one stack process (sim, ingest, store, monitor, fetcher-N).
stack_pid() { cat "$BENCH_STACK_DIR/run/$1.pid"; }

# bench_machine: one line about the machine (for the raw output).
bench_machine() {
  echo "machine: nproc=$(nproc) cpu=\"$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)\"" \
    "ram_mib=$(free -m | awk '/^Mem:/ {print $2}') kernel=$(uname -r)" \
    "postgres=\"$(psql --version | awk '{print $3}')\" date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "head=$(git -C "$bench_top" rev-parse --short HEAD 2>/dev/null || echo none)" \
    "binaries_built=$(date -u -r "$HALO_BIN_DIR/halo-fetcher" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo none)" \
    "loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}

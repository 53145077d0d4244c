#!/usr/bin/env bash
# What the pipeline tests (tests/test_pipeline_*.sh) add to tests/e2e_lib.sh:
# counting halo-sim's request log by kind (token, list page, object GET) from
# a line onwards, the list pages requested per entity, a comparison of one
# tenant's rows with a halo-sim dump when several tenants share the database,
# webhook-to-row latencies, and a second halo-sim started by the test.
# These tests check the fetcher's promises of issue 5 end to end: requests
# counted, not timed; every figure is printed.
# Sourced, not run.

# shellcheck source=tests/e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# pl_log_lines FILE: number of lines of a request log (0 when missing).
pl_log_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# pl_log_from FILE LINE: the log's entries after its first LINE lines, one JSON per line.
pl_log_from() { tail -n +"$(($2 + 1))" "$1"; }

# pl_classify: reads request log lines, prints one TSV line per request:
# kind (token|list|object|other), entity resource, page_no or object id, status, ts_ms, page_size.
pl_classify() {
  jq -r '
    (.path | split("?")) as $p
    | ($p[0] | ascii_downcase) as $route
    | ($p[1] // "") as $q
    | (($q | capture("(?i)(^|&)page_no=(?<n>[0-9]+)").n) // "") as $page
    | (($q | capture("(?i)(^|&)page_size=(?<n>[0-9]+)").n) // "") as $size
    | if ($route | startswith("/auth/token")) then ["token", "", "", .status, .ts_ms, ""]
      elif ($route | test("^/api/[a-z]+/[0-9]+$")) then
        ["object", ($route | split("/")[2]), ($route | split("/")[3]), .status, .ts_ms, ""]
      elif ($route | test("^/api/[a-z]+$")) and $route != "/api/authinfo" then
        ["list", ($route | split("/")[2]), $page, .status, .ts_ms, $size]
      else ["other", $route, "", .status, .ts_ms, ""] end
    | @tsv'
}

# pl_count KIND FILE [FROM_LINE] [STATUS]: requests of that kind (token, list, object, other, all).
pl_count() {
  local kind=$1 file=$2 from=${3:-0} status=${4:-}
  pl_log_from "$file" "$from" | pl_classify \
    | awk -F'\t' -v k="$kind" -v s="$status" '(k == "all" || $1 == k) && (s == "" || $4 == s) {n++} END {print n + 0}'
}

# pl_status_hist FILE [FROM_LINE]: "status=count ..." over every request.
pl_status_hist() {
  pl_log_from "$1" "${2:-0}" | jq -r '.status' | sort -n | uniq -c | awk '{printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1}'
}

# pl_fault_hist FILE [FROM_LINE]: "fault=count ..." of the injected faults.
pl_fault_hist() {
  pl_log_from "$1" "${2:-0}" | jq -r 'select(.fault) | .fault' | sort | uniq -c \
    | awk '{printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1}'
}

# pl_sim_start NAME ARGS...: a second halo-sim (port 0, --port-file) logging
# to STATE/log/NAME.log and STATE/log/NAME-requests.jsonl; sets PL_SIM_URL and
# PL_SIM_PID; stopped by e2e_lib's exit trap.
pl_sim_start() {
  local name=$1 portfile _
  shift
  portfile=$HALO_STACK_DIR/run/$name.port
  rm -f "$portfile"
  setsid "$E2E_BIN/halo-sim" --listen 127.0.0.1:0 --port-file "$portfile" \
    --request-log "$HALO_STACK_DIR/log/$name-requests.jsonl" "$@" </dev/null >>"$HALO_STACK_DIR/log/$name.log" 2>&1 &
  PL_SIM_PID=$!
  E2E_BG_PIDS+=("$PL_SIM_PID")
  for _ in $(seq 1 150); do
    if [ -s "$portfile" ] && curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(cat "$portfile")/_sim/health"; then
      PL_SIM_URL="http://127.0.0.1:$(cat "$portfile")"
      e2e_log "second halo-sim $name at $PL_SIM_URL (pid $PL_SIM_PID)"
      return 0
    fi
    kill -0 "$PL_SIM_PID" 2>/dev/null || { tail -n 20 "$HALO_STACK_DIR/log/$name.log"; e2e_fail "halo-sim $name exited at start"; }
    sleep 0.2
  done
  e2e_fail "halo-sim $name did not come up"
}

# pl_sim URL METHOD PATH [JSON]: a control request to any halo-sim.
pl_sim() {
  local url=$1 args=(-fsS --max-time 300 -X "$2" -H 'Content-Type: application/json')
  [ $# -ge 4 ] && args+=(--data-binary "$4")
  curl "${args[@]}" "$url$3"
}

# pl_connect TENANT SIM_URL CLIENT_ID SECRET [options]: haloctl connect against
# that halo-sim; sets PL_HOOK (e2e_connect only knows the stack's halo-sim).
pl_connect() {
  local tenant=$1 url=$2 client=$3 secret=$4 out
  shift 4
  out=$(E2E_SECRET=$secret "$E2E_BIN/haloctl" connect "$tenant" --auth-url "$url/auth" \
    --resource-url "$url/api" --halo-tenant "$tenant" --client-id "$client" \
    --client-secret-env E2E_SECRET "$@" 2>&1) || { echo "$out"; e2e_fail "haloctl connect $tenant failed"; }
  PL_HOOK=$(grep -o "$HALO_PUBLIC_URL/hooks/$tenant/[0-9a-f]*" <<<"$out" | head -n 1)
  [ -n "$PL_HOOK" ] || { echo "$out"; e2e_fail "no callback URL for $tenant"; }
  e2e_log "connected $tenant to $url"
}

# pl_compare TENANT SIM_URL TOUCHED_JSONL OUTDIR: e2e_compare_with for one
# tenant of a shared database and any halo-sim; sets PL_LOST/PL_STALE/
# PL_PHANTOM/PL_COMPARE as well; true when the three are 0.
pl_compare() {
  local rc=0
  e2e_compare_with "$2" "$1" "$3" "$4" || rc=$?
  PL_LOST=$E2E_LOST PL_STALE=$E2E_STALE PL_PHANTOM=$E2E_PHANTOM PL_COMPARE=$E2E_COMPARE
  return "$rc"
}

# pl_compare_examples OUTDIR: the first differences of each entity.
pl_compare_examples() {
  local e
  for e in tickets sites users invoices; do
    jq -c '.examples[]' "$1/result-$e.json" 2>/dev/null | sed "s/^/  $e: /"
  done
}

# pl_stats NUMBERS...(stdin, one per line): "n=.. min=.. p50=.. p90=.. p99=.. max=.." (nearest rank).
pl_stats() {
  sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) { print "n=0"; exit }
    printf "n=%d min=%s p50=%s p90=%s p99=%s max=%s", NR, v[1], v[int((NR - 1) * 0.5) + 1],
      v[int((NR - 1) * 0.9) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }'
}

# pl_all_running: true when every process of the stack is running; prints the status otherwise.
pl_all_running() {
  local out
  out=$(bash "$E2E_STACK" status 2>&1) && return 0
  echo "$out"
  return 1
}

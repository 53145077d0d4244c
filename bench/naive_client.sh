#!/usr/bin/env bash
# The baseline of bench/api_efficiency.sh: a naive webhook client that GETs the
# object once per webhook delivery (no ledger, no dedup, no rate limiter), run
# against halo-sim with the same flags and the same storm. Requests and 429s
# are counted from halo-sim's request log, as for halo-sync: object_requests
# are all its API requests (429s included), counted_requests those that used
# the rate budget (halo-sim does not count a 429 against it).
#
#   bench/naive_client.sh [--runs R] [--objects U] [--updates K] [--duplicates P] [--senders S]
#
# The client is a small Python HTTP server (standard library only): for each
# delivery in a webhook body (an object or an array) it GETs
# {resource}/{Entity}/{object_id}?includedetails=true with a client-credentials
# token, then answers 200. lost = changed objects whose last GET was not a 200
# (a 429 lost that update for this client; it does not retry).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 objects=400 updates=10 dups=0.5 senders=4
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --updates) updates=$2; shift 2 ;;
    --duplicates) dups=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq curl python3
bench_build
sim_port=$((BENCH_PORT_BASE + 12)) client_port=$((BENCH_PORT_BASE + 13))
SIM_ARGS=(--tickets 2000 --sites 60 --users 200 --invoices 300 --rate-limit 450 --rate-window 3)
work=$(mktemp -d /tmp/halo-bench-naive.XXXXXX)
sim_pid="" client_pid=""
cleanup() {
  if [ -n "$client_pid" ]; then kill "$client_pid" 2>/dev/null || true; fi
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/naive.py" <<'PY'
# Naive webhook client: one GET per delivery, synchronously, then 200.
import json, sys, threading, urllib.error, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, api, auth, tenant, cid, secret = sys.argv[1:7]
RES = {"ticket": "Tickets", "site": "Site", "user": "Users", "invoice": "Invoice"}
lock = threading.Lock()
state = {"token": None, "statuses": {}, "last": {}}

def token():
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": cid,
                                   "client_secret": secret, "scope": "all"}).encode()
    with urllib.request.urlopen(f"{auth}/token?tenant={tenant}", body) as r:
        return json.load(r)["access_token"]

def get(entity, oid):
    for _ in range(2):
        with lock:
            if state["token"] is None:
                state["token"] = token()
            tok = state["token"]
        req = urllib.request.Request(f"{api}/{RES[entity]}/{oid}?includedetails=true",
                                     headers={"Authorization": "Bearer " + tok})
        try:
            with urllib.request.urlopen(req) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            if e.code == 401:
                with lock:
                    state["token"] = None
                continue
            return e.code
    return 401

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        with lock:
            out = json.dumps({"statuses": state["statuses"], "last": state["last"]}).encode()
        self.reply(200, out)
    def do_POST(self):
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        for d in data if isinstance(data, list) else [data]:
            entity = next((k for k in RES if k in d), "ticket")
            status = get(entity, int(d["object_id"]))
            with lock:
                state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
                state["last"][f"{entity}:{d['object_id']}"] = status
        self.reply(200)

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
PY

one_run() {
  local run=$1 t_storm storm log obj_req counted n429 lost stats
  : >"$work/requests.jsonl"
  "$HALO_BIN_DIR/halo-sim" --listen "127.0.0.1:$sim_port" --tenant "$BENCH_TENANT" \
    --client-id "$BENCH_SIM_CLIENT" --client-secret "$BENCH_SIM_SECRET" "${SIM_ARGS[@]}" \
    --webhook-url "http://127.0.0.1:$client_port/hook" --request-log "$work/requests.jsonl" \
    >"$work/sim.log" 2>&1 &
  sim_pid=$!
  python3 "$work/naive.py" "$client_port" "http://127.0.0.1:$sim_port/api" "http://127.0.0.1:$sim_port/auth" \
    "$BENCH_TENANT" "$BENCH_SIM_CLIENT" "$BENCH_SIM_SECRET" >"$work/client.log" 2>&1 &
  client_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$sim_port/_sim/health" 2>/dev/null &&
      curl -fsS -o /dev/null "http://127.0.0.1:$client_port/" 2>/dev/null && break
    sleep 0.1
  done
  t_storm=$(now_ms)
  storm=$(bench_storm "http://127.0.0.1:$sim_port" "$objects" "$updates" "$dups" "$senders")
  log=$(jq -cs '.' "$work/requests.jsonl")
  obj_req=$(jq --argjson t "$t_storm" '[.[] | select(.ts_ms >= $t and (.path | startswith("/api/")))] | length' <<<"$log")
  counted=$(jq --argjson t "$t_storm" '[.[] | select(.ts_ms >= $t and .counted)] | length' <<<"$log")
  n429=$(jq '[.[] | select(.status == 429)] | length' <<<"$log")
  stats=$(curl -fsS "http://127.0.0.1:$client_port/")
  lost=$(jq '[.last[] | select(. != 200)] | length' <<<"$stats")
  echo "run=$run client=naive objects=$objects updates_each=$updates mutations=$(jq .mutations <<<"$storm")" \
    "deliveries=$(jq .deliveries <<<"$storm") bodies=$(jq .bodies <<<"$storm") storm_ms=$(jq .ms <<<"$storm")" \
    "object_requests=$obj_req counted_requests=$counted" \
    "requests_per_object=$(awk -v r="$obj_req" -v u="$objects" 'BEGIN {printf "%.4f", r / u}')" \
    "http_429=$n429 objects_lost=$lost client_statuses=$(jq -c .statuses <<<"$stats")"
  kill "$client_pid" "$sim_pid" 2>/dev/null || true
  wait "$client_pid" "$sim_pid" 2>/dev/null || true
  client_pid="" sim_pid=""
}

bench_machine
echo "config: sim=\"${SIM_ARGS[*]}\" storm=\"objects=$objects updates=$updates duplicates=$dups batch=0.1 senders=$senders\""
out=""
for r in $(seq 1 "$runs"); do
  one_run "$r" >"$work/run.out"
  cat "$work/run.out"
  out+=$(cat "$work/run.out")$'\n'
done
printf 'median: client=naive runs=%s requests_per_object=%s http_429=%s objects_lost=%s\n' "$runs" \
  "$(field requests_per_object <<<"$out" | median)" "$(field http_429 <<<"$out" | median)" \
  "$(field objects_lost <<<"$out" | median)"

#!/usr/bin/env bash
# halo-ingest against nginx's static 200, same machine, same load generator:
# wrk with a Lua script POSTing a real Halo webhook body (one "Ticket Changed"
# delivery with the full ticket, taken from halo-sim), a new delivery id on
# every request.
#
#   bench/ingest_vs_nginx.sh [--runs R] [--seconds S] [--connections C] [--fetchers N] [--ingest-threads T] [--env NAME=VALUE]...
#
# nginx: `location / { return 200; }` on 127.0.0.1 (worker_processes auto,
# access log off). halo-ingest: the stack's, with a connected tenant, so every
# request is authenticated (token hash), parsed, mapped and fsync'ed to the
# journal before its 200. N fetchers (default 0) drain the journal meanwhile;
# with 0 the journal only grows (what ingest alone can take). --ingest-threads
# sets HALO_INGEST_THREADS (default: ingest's, 1), its HTTP poll threads;
# --env passes any other variable to the stack's processes (A/B of a setting).
# Per run and target: wrk -t2 -cC -dS (C = 32) for throughput and latency at
# saturation, then wrk -t1 -c1 -dS for the latency of a single connection.
# R runs (default 3), nginx and ingest alternating. ratio = ingest req/s /
# nginx req/s at C connections (target >= 0.5). Then, per run, ingest at half
# of its median saturated rate: wrk -t2 -cC -dS paced by a Lua delay() (each
# connection waits a random time of mean C/rate between requests, so the
# offered rate is about half the maximum; wrk is closed-loop, so a slow answer
# delays that connection's next request) for p50/p99 (target p99 < 10 ms).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 seconds=10 conns=32 fetchers=0 threads="" extra_env=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --fetchers) fetchers=$2; shift 2 ;;
    --ingest-threads) threads=$2; shift 2 ;;
    --env) extra_env+=(--env "$2"); shift 2 ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq psql curl wrk nginx
bench_build
nginx_port=$((BENCH_PORT_BASE + 20))
work=$(mktemp -d /tmp/halo-bench-ingest.XXXXXX)
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
  bench_stack_stop
}
trap cleanup EXIT

env=(${extra_env[@]+"${extra_env[@]}"})
[ -n "$threads" ] && env+=(--env "HALO_INGEST_THREADS=$threads")
bench_stack_start --fetchers "$fetchers" ${env[@]+"${env[@]}"} --tickets 2000 --rate-limit 450 --rate-window 3
bench_connect 450 3
bench_wait_webhook_ready

# One delivery exactly as halo-sim sends it, split around its delivery id.
sim_post /_sim/mutate '{"count":1,"kinds":["ticket_update"],"webhooks":false,"return_bodies":true,"payload":"full"}' |
  jq -c '.bodies[0] | if type == "array" then .[0] else . end' >"$work/body.json"
body_bytes=$(wc -c <"$work/body.json")
id=$(jq -r .id "$work/body.json")
prefix=$(sed "s/$id.*//" "$work/body.json")
suffix=$(sed "s/.*$id//" "$work/body.json")
cat >"$work/post.lua" <<LUA
-- POSTs the webhook body with a new delivery id per request.
local prefix = [==[$prefix]==]
local suffix = [==[$suffix]==]
local n = 0
local counter = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
function init(args) tid = tid or 0 end
function request()
  counter = counter + 1
  local body = prefix .. string.format("bench-%d-%d-%d", tid, counter, os.time()) .. suffix
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
# paced_lua RATE: post.lua plus a delay() that offers about RATE requests/s over all connections.
paced_lua() {
  cat "$work/post.lua"
  cat <<LUA
local mean_ms = $conns * 1000 / $1
math.randomseed(os.time())
-- wrk truncates the delay to whole ms: random rounding keeps the mean.
function delay() return math.floor(mean_ms + math.random()) end
LUA
}

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/" 2>/dev/null && break; sleep 0.1; done

# server_ticks NAME: CPU clock ticks (utime + stime) used so far by the server
# under test: halo-ingest, or nginx's master and workers.
server_ticks() {
  local p t=0
  if [ "$1" = ingest ]; then
    pid_cpu_ticks "$(stack_pid ingest)"
    return
  fi
  for p in $nginx_pid $(ps -o pid= --ppid "$nginx_pid"); do t=$((t + $(pid_cpu_ticks "$p"))); done
  echo "$t"
}

# wrk_run NAME URL THREADS CONNS [SCRIPT]: one wrk run; prints key=value fields
# (server_cpu_us_per_req: the server's CPU time per answered request).
wrk_run() {
  local out t0 t1
  t0=$(server_ticks "$1")
  out=$(wrk -t"$3" -c"$4" -d"${seconds}s" --latency -s "${5:-$work/post.lua}" "$2")
  t1=$(server_ticks "$1")
  echo "$out" >>"$work/wrk.raw"
  awk -v name="$1" -v c="$4" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec:/ {rps = $2}
    /^ +50%/ {p50 = $2} /^ +90%/ {p90 = $2} /^ +99%/ {p99 = $2}
    /Non-2xx or 3xx responses:/ {bad = $5}
    /requests in/ {reqs = $1}
    /Socket errors/ {err = $0; gsub(/ /, "", err)}
    END {printf "target=%s conns=%s requests=%s req_s=%s p50=%s p90=%s p99=%s non_2xx=%s server_cpu_us_per_req=%.1f%s\n",
         name, c, reqs, rps, p50, p90, p99, bad == "" ? 0 : bad, ticks * 1e6 / hz / reqs, err == "" ? "" : " " err}' <<<"$out"
}

bench_machine
echo "config: body_bytes=$body_bytes seconds=$seconds connections=$conns fetchers=$fetchers ingest_threads=${threads:-default} env=\"${extra_env[*]:-}\"" \
  "ingest=\"$HALO_INGEST_URL (journal fsync before 200)\" nginx=\"127.0.0.1:$nginx_port return 200\" wrk=\"$(wrk --version 2>&1 | head -n 1 | awk '{print $1, $2}')\""
out=""
for r in $(seq 1 "$runs"); do
  for target in nginx ingest; do
    if [ "$target" = nginx ]; then url="http://127.0.0.1:$nginx_port/hooks"; else url=$BENCH_HOOK; fi
    line="run=$r $(wrk_run "$target" "$url" 2 "$conns")"
    echo "$line"
    out+="$line"$'\n'
    line="run=$r $(wrk_run "$target" "$url" 1 1)"
    echo "$line"
    out+="$line"$'\n'
  done
done
accepted=$(curl -fsS "$HALO_INGEST_ADMIN_URL/metrics" | awk '/^halo_webhook_received_total/ {s += $NF} END {print s + 0}')
echo "ingest: webhooks_received_total=$accepted journal_bytes=$(curl -fsS "$HALO_INGEST_ADMIN_URL/metrics" | awk '/^halo_ingest_journal_bytes/ {print $2}')"
for target in nginx ingest; do
  for c in "$conns" 1; do
    sel=$(grep "target=$target conns=$c " <<<"$out")
    printf 'median: target=%s conns=%s req_s=%s p50=%s p99=%s non_2xx_max=%s server_cpu_us_per_req=%s\n' "$target" "$c" \
      "$(field req_s <<<"$sel" | median)" \
      "$(field p50 <<<"$sel" | sed 's/us$/e-3/; s/ms$//; s/s$/e3/' | median)ms" \
      "$(field p99 <<<"$sel" | sed 's/us$/e-3/; s/ms$//; s/s$/e3/' | median)ms" \
      "$(field non_2xx <<<"$sel" | sort -n | tail -n 1)" "$(field server_cpu_us_per_req <<<"$sel" | median)"
  done
done
nginx_rps=$(grep "target=nginx conns=$conns " <<<"$out" | field req_s | median)
ingest_rps=$(grep "target=ingest conns=$conns " <<<"$out" | field req_s | median)
echo "median: ratio_ingest_nginx=$(awk -v a="$ingest_rps" -v b="$nginx_rps" 'BEGIN {printf "%.3f", a / b}')"
half=$(awk -v r="$ingest_rps" 'BEGIN {printf "%d", r / 2}')
paced_lua "$half" >"$work/paced.lua"
paced=""
for r in $(seq 1 "$runs"); do
  line="run=$r offered_req_s=$half $(wrk_run ingest "$BENCH_HOOK" 2 "$conns" "$work/paced.lua")"
  echo "$line"
  paced+="$line"$'\n'
done
printf 'median: target=ingest half_rate=%s req_s=%s p50=%sms p99=%sms non_2xx_max=%s\n' "$half" \
  "$(field req_s <<<"$paced" | median)" \
  "$(field p50 <<<"$paced" | sed 's/us$/e-3/; s/ms$//; s/s$/e3/' | median)" \
  "$(field p99 <<<"$paced" | sed 's/us$/e-3/; s/ms$//; s/s$/e3/' | median)" \
  "$(field non_2xx <<<"$paced" | sort -n | tail -n 1)"

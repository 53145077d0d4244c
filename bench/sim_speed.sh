#!/usr/bin/env bash
# halo-sim speed (issue 3): time to generate a 100,000-ticket tenant (from
# start until it answers) and time to serve one list page of 100 (and one
# filtered page), measured with curl's time_total over 50 requests each on a
# kept-alive connection. Targets: generation < 5 s, a page < 5 ms.
#   bench/sim_speed.sh [TICKETS]   (default 100000)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_need curl jq
bench_build
tickets=${1:-100000}
port=$((BENCH_PORT_BASE + 29))
log=$(mktemp)
say "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r)"
start=$(date +%s%N)
"$HALO_BIN_DIR/halo-sim" --listen "127.0.0.1:$port" --tickets "$tickets" --sites 2000 --users 8000 \
  --invoices 5000 --client-id c --client-secret s --rate-limit 1000000 --rate-window 1 >"$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; rm -f "$log"' EXIT
until curl -fsS -o /dev/null "http://127.0.0.1:$port/_sim/stats" 2>/dev/null; do
  kill -0 $sim 2>/dev/null || { cat "$log" >&2; die "halo-sim exited"; }
  sleep 0.02
done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "config: tickets=$tickets build=$(basename "$BENCH_BUILD_DIR")"
echo "generate_and_listen_ms=$ready_ms"
token=$(curl -fsS -d "grant_type=client_credentials&client_id=c&client_secret=s&scope=all" \
  "http://127.0.0.1:$port/auth/token" | jq -r .access_token)
# pages: URL list for one curl process (one kept-alive connection), 50 pages spread over the tenant.
page_times() {
  local q=$1 args=() i
  for i in $(seq 1 50); do
    args+=(-o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token"
           "http://127.0.0.1:$port/api/Tickets?pageinate=true&page_size=100&page_no=$(( (i * 19) % (tickets / 100) + 1 ))$q")
  done
  curl -fsS "${args[@]}" | sort -n | awk '{a[NR]=$1} END {printf "p50_ms=%.2f p90_ms=%.2f max_ms=%.2f\n", a[int(NR*0.5)]*1000, a[int(NR*0.9)]*1000, a[NR]*1000}'
}
echo "page_of_100: $(page_times "")"
echo "page_of_100_filtered: $(page_times "&lastupdatefromdate=2026-01-01T00:00:00")"

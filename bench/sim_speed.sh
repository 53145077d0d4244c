#!/usr/bin/env bash
# halo-sim speed (issue 3): time to generate a 100,000-ticket tenant (from
# start until it answers) and time to serve one list page of 100, measured with
# curl's time_total over SIM_SPEED_REQUESTS requests per series on one
# kept-alive connection. Series: pages spread over the list (id order, as the
# fetcher's full sync reads it), deep pages (the last tenth of the list), pages
# of a lastupdatefromdate filter that keeps about a quarter of the tickets, and
# ordered pages (last update descending spread over the list; summary, deep).
# The first request of an ordered series builds that sort order (once per
# field per process): it shows in first_ms and max_ms. Targets: generation
# < 5 s, a page < 5 ms.
#   bench/sim_speed.sh [TICKETS]   (default 100000; SIM_SPEED_REQUESTS default 200)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_need curl jq
bench_build
tickets=${1:-100000}
requests=${SIM_SPEED_REQUESTS:-200}
pages=$(((tickets + 99) / 100))
[ "$pages" -ge 10 ] || die "need at least 1000 tickets"
port=$((BENCH_PORT_BASE + 29))
base="http://127.0.0.1:$port"
log=$(mktemp)
say "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r)"
start=$(date +%s%N)
"$HALO_BIN_DIR/halo-sim" --listen "127.0.0.1:$port" --tickets "$tickets" --sites 2000 --users 8000 \
  --invoices 5000 --client-id c --client-secret s --rate-limit 1000000 --rate-window 1 >"$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; rm -f "$log"' EXIT
until curl -fsS -o /dev/null "$base/_sim/stats" 2>/dev/null; do
  kill -0 $sim 2>/dev/null || { cat "$log" >&2; die "halo-sim exited"; }
  sleep 0.02
done
ready_ms=$((($(date +%s%N) - start) / 1000000))
echo "config: tickets=$tickets requests_per_series=$requests build=$(basename "$BENCH_BUILD_DIR")"
echo "generate_and_listen_ms=$ready_ms"
token=$(curl -fsS -d "grant_type=client_credentials&client_id=c&client_secret=s&scope=all" \
  "$base/auth/token" | jq -r .access_token)
auth="Authorization: Bearer $token"
# Open and closed tickets: since halo-sim follows the spec's default (open
# only, --ticket-list open) the deep pages of an open-only list are empty.
list="$base/api/Tickets?pageinate=true&page_size=100&includeclosed=true"

# series NAME QUERY FIRST_PAGE PAGE_COUNT: REQUESTS pages of QUERY drawn from
# FIRST_PAGE..FIRST_PAGE+PAGE_COUNT-1 in a scattered order, all in one curl
# process (one connection). -H is given once: curl sends every -H of a command
# line with every one of its URLs. min_bytes shows that no page was empty.
series() {
  local name=$1 query=$2 first=$3 count=$4 urls=() i
  for i in $(seq 1 "$requests"); do
    urls+=(-o /dev/null "$list&page_no=$((first + (i * 19) % count))$query")
  done
  local out
  out=$(curl -fsS -H "$auth" -w '%{time_total} %{size_download}\n' "${urls[@]}")
  sort -n <<<"$out" | awk -v name="$name" -v first="${out%% *}" '
    { t[NR] = $1; if (NR == 1 || $2 < bmin) bmin = $2 }
    function rank(p,  k) { k = NR * p; return (k == int(k)) ? k : int(k) + 1 }
    END {
      printf "%s: p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f first_ms=%.2f min_bytes=%d n=%d\n", name,
        t[rank(0.5)] * 1000, t[rank(0.9)] * 1000, t[rank(0.99)] * 1000, t[NR] * 1000, first * 1000, bmin, NR
    }'
}

since="2025-10-01T00:00:00"
filtered=$(curl -fsS -H "$auth" "$list&page_no=1&lastupdatefromdate=$since" | jq .record_count)
series page_of_100 "" 1 "$pages"
series page_of_100_deep "" $((pages - pages / 10 + 1)) $((pages / 10))
series page_of_100_filtered "&lastupdatefromdate=$since" 1 $(((filtered + 99) / 100))
series page_of_100_order_lastupdate_desc "&order=lastupdate&orderdesc=true" 1 "$pages"
series page_of_100_order_summary_deep "&order=summary" $((pages - pages / 10 + 1)) $((pages / 10))

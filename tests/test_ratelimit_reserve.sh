#!/usr/bin/env bash
# The webhook reserve of the rolling-window limiter (issue 22): halo-sim
# enforces 40 requests per rolling 20 s window; the tenant is connected with
# the same and headroom 1 (budget B = 40), the fetchers keep a quarter of it
# for webhook fetches (HALO_FETCH_RESERVE=0.25: syncs stop at 30). The
# connect's full sync (63 pages, more than two windows) bursts to its cap at
# once; while it waits for the window to move, 6 tickets change and their
# webhooks arrive. From halo-sim's request log: every one of those objects
# was fetched inside the window the sync had filled (before the first
# request of the log has left it: a sync page can go again only then), the
# sync itself never had more than 30 requests in a window, no window held
# more than 40 (list pages alone never more than 30), no 429. With HALO_FETCH_RESERVE=0 the same run fetches them
# only after the window moves (the check fails). Ordering, not timing.
# shellcheck source=tests/ratelimit_lib.sh
source "$(dirname "$0")/ratelimit_lib.sh"
e2e_init ratelimit_reserve

LIMIT=40
WINDOW=20
SPAN_MS=21000 # window + safety (min(1 s, W / 5) = 1 s): the limiter's span
SYNC_CAP=30   # 40 less ceil(40 x 0.25)
CHANGES=6
SECRET=rr-secret-$$

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_RESERVE="${RESERVE_UNDER_TEST:-0.25}" --env HALO_FETCH_BACKFILL=off \
  --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 --env HALO_FETCH_LEASE_S=60 \
  --tenant demo --client-id rr-client --client-secret "$SECRET" --seed 43 \
  --tickets 6000 --sites 30 --users 30 --invoices 30 --rate-limit $LIMIT --rate-window $WINDOW
log=$HALO_STACK_DIR/log/sim-requests.jsonl

e2e_connect demo rr-client "$SECRET" --rate-limit $LIMIT --rate-window $WINDOW --headroom 1
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null

# The sync at its cap: the window holds at least the cap's worth of grants
# (the connect's checks included) and the sync is still running.
deadline=$(($(date +%s) + 60))
until [ "$(e2e_psql "SELECT cardinality(grants) FROM halo.rate_limits")" -ge $SYNC_CAP ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the full sync did not reach its cap in 60 s"
  sleep 0.2
done
[ "$(e2e_psql "SELECT count(*) FROM halo.sync_state WHERE full_status = 'running'")" -gt 0 ] \
  || e2e_fail "no full sync running once the window was full: the test would prove nothing"
ops=$(seq 1 $CHANGES | awk '{printf "%s{\"kind\":\"ticket_update\",\"id\":%d}", (NR > 1 ? "," : ""), 100 * $1}')
out=$(e2e_sim POST /_sim/mutate "{\"ops\":[$ops],\"duplicates\":0,\"batch\":0}")
[ "$(jq '[.webhooks.statuses[] | select(. >= 200 and . < 300)] | length' <<<"$out")" = $CHANGES ] \
  || { echo "$out"; e2e_fail "ingest did not accept every webhook"; }
e2e_log "$CHANGES tickets changed while the sync waited for its window: $(e2e_psql "SELECT cardinality(grants) FROM halo.rate_limits") grants in it"

e2e_wait_full_sync 300
deadline=$(($(date +%s) + 120))
until [ "$(e2e_psql "SELECT count(*) FROM halo.fetch_queue")" = 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the webhook fetches are not done after 120 s"
  sleep 0.5
done

first=$(rl_api "$log" | head -n 1 | cut -d' ' -f1)
ids=$(seq 1 $CHANGES | awk '{printf "%s%d", (NR > 1 ? "," : ""), 100 * $1}')
fetched=$(jq -r --arg ids "$ids" 'select(.path | test("^/api/Tickets/[0-9]+")) |
    (.path | capture("^/api/Tickets/(?<id>[0-9]+)").id) as $id
    | select(($ids | split(",")) | index($id)) | "\($id) \(.ts_ms)"' "$log" | sort -k2 -n)
late=$(awk -v limit=$((first + SPAN_MS)) '$2 >= limit' <<<"$fetched" | wc -l)
sync_worst=$(jq -r 'select(.path | test("page_size=100")) | .ts_ms' "$log" | sort -n |
  awk -v w=$((WINDOW * 1000)) '{t[++n] = $1; while (t[n] - t[lo + 1] >= w) lo++; if (n - lo > max) max = n - lo} END {print max + 0}')
worst=$(rl_worst "$log" $((WINDOW * 1000)) 0)
n429=$(rl_429 "$log" | wc -l)
e2e_log "first API request at $first; the changed tickets fetched at (ms after it): $(awk -v f="$first" '{printf "%s%d", (NR > 1 ? ", " : ""), $2 - f}' <<<"$fetched"); after the window moved: $late"
e2e_log "worst ${WINDOW} s window: $worst API requests (limit $LIMIT), list pages alone $sync_worst (sync cap $SYNC_CAP), $n429 x 429"
[ "$(wc -l <<<"$fetched")" -ge $CHANGES ] || e2e_fail "not every changed ticket was fetched"
[ "$late" = 0 ] || e2e_fail "$late changed tickets waited for the next window: no reserve"
[ "$worst" -le $LIMIT ] || e2e_fail "$worst requests in one window: over $LIMIT"
[ "$sync_worst" -le $SYNC_CAP ] || e2e_fail "$sync_worst list pages in one window: the sync took the reserve"
[ "$n429" = 0 ] || e2e_fail "$n429 answers 429"
e2e_log "PASS: $CHANGES webhook fetches inside the window a full sync had filled, worst window $worst/$LIMIT, sync $sync_worst/$SYNC_CAP, 0 x 429"

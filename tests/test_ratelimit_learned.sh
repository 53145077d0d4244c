#!/usr/bin/env bash
# Learned rate limit (issue 17): halo-sim enforces 30 requests per rolling
# 3 s window and says so in Halo's words when it answers 429 ("Rate Limit
# Reached - 30 Requests per rolling 3 second window"); the tenant is
# configured at 45 per 3 s (the seed's 450 against a hosted Halo's 300,
# scaled down tenfold, same ratio). Two fetchers run a full sync and a storm
# of webhooks, more work than the budget allows. From halo-sim's request
# log: the 429s are the one that teaches and those of requests already in
# flight when it came (within 1 s of it, at most one per request the two
# fetchers can have in flight), none after them; no 3 s window holds more
# than 30 API requests (429s left out); the requests sent after them never
# exceed the learned budget (30 x 0.9 = 27 per window). The
# limiter row holds the learned limit, and `haloctl status` (text and
# JSON), the monitor's status page, /api/status and /metrics show "45
# configured, 30 learned from Halo at ...". Every figure is printed.
# shellcheck source=tests/ratelimit_lib.sh
source "$(dirname "$0")/ratelimit_lib.sh"
e2e_init ratelimit_learned

LIMIT=30
CONFIGURED=45
WINDOW=3
BUDGET=27 # floor(30 x 0.9): the learned limit with the default headroom
WEBHOOKS=300
SECRET=rl-secret-$$

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_LEASE_S=15 --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id rl-client --client-secret "$SECRET" --seed 41 \
  --tickets 2000 --sites 150 --users 150 --invoices 150 --rate-limit $LIMIT --rate-window $WINDOW
log=$HALO_STACK_DIR/log/sim-requests.jsonl

e2e_connect demo rl-client "$SECRET" --rate-limit $CONFIGURED --rate-window $WINDOW
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
storm=$(e2e_sim POST /_sim/storm "{\"count\":$WEBHOOKS,\"concurrency\":4,\"rate\":0,\"entity\":\"tickets\",\"payload\":\"small\"}")
e2e_log "storm: $(jq -c '{bodies, acked, failed, elapsed_ms}' <<<"$storm")"
[ "$(jq .acked <<<"$storm")" = "$WEBHOOKS" ] || e2e_fail "ingest did not answer 2xx to every storm webhook"

e2e_wait_full_sync 300
deadline=$(($(date +%s) + 240))
until [ "$(e2e_psql "SELECT count(*) FROM halo.fetch_queue WHERE state <> 'failed'")" = 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the storm's fetches are not done after 240 s"
  sleep 1
done
failed=$(e2e_psql "SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed'")
[ "$failed" = 0 ] || e2e_fail "$failed dead letters"

total=$(rl_api "$log" | wc -l)
mapfile -t throttled < <(rl_429 "$log")
e2e_log "halo-sim: $total API requests, ${#throttled[@]} answered 429 at ${throttled[*]:-never}; stats $(e2e_sim GET /_sim/stats | jq -c '{rate_limited, budget}')"
# Two fetchers of 4 workers, each with up to 4 sync pages in flight
# (HALO_SYNC_PARALLEL_PAGES): requests granted before the lesson reached the
# limiter row may still meet Halo's refusal (ci: 6 within 15 ms at load 12).
IN_FLIGHT_MAX=$((2 * 4 * 4))
[ "${#throttled[@]}" -ge 1 ] || e2e_fail "no 429: halo-sim's limit was never reached"
[ "${#throttled[@]}" -le "$IN_FLIGHT_MAX" ] || e2e_fail "${#throttled[@]} answers 429: more than the $IN_FLIGHT_MAX requests that can be in flight"
t429=${throttled[0]} last429=${throttled[${#throttled[@]} - 1]}
[ $((last429 - t429)) -le 1000 ] \
  || e2e_fail "a 429 $((last429 - t429)) ms after the first: the lesson did not stop the fetchers (429s at ${throttled[*]})"
worst=$(rl_worst "$log" $((WINDOW * 1000)) 0 429)
after=$(rl_worst "$log" $((WINDOW * 1000)) "$((last429 + 1))")
sent_after=$(rl_api "$log" | awk -v t="$last429" '$1 > t' | wc -l)
e2e_log "worst ${WINDOW} s window: $worst API requests (limit $LIMIT); after the 429: $sent_after requests, worst window $after (learned budget $BUDGET)"
[ "$worst" -le "$LIMIT" ] || e2e_fail "$worst requests in one window: over Halo's $LIMIT"
[ "$after" -le "$BUDGET" ] || e2e_fail "$after requests in one window after learning: over the learned budget $BUDGET"
[ "$sent_after" -ge $((2 * BUDGET)) ] || e2e_fail "only $sent_after requests after the 429: the tenant stopped"

row=$(e2e_psql "SELECT learned_limit || ' ' || learned_window_s || ' ' || throttled FROM halo.rate_limits")
e2e_log "halo.rate_limits: learned_limit learned_window_s throttled = $row"
[ "$row" = "$LIMIT $WINDOW 1" ] || e2e_fail "the limiter row does not hold the learned limit"

want="$CONFIGURED configured, $LIMIT learned from Halo at "
text=$("$E2E_BIN/haloctl" status demo 2>&1) || true
grep -F "$want" <<<"$text" || { echo "$text"; e2e_fail "haloctl status does not say \"$want...\""; }
json=$("$E2E_BIN/haloctl" status demo --json) || true # exit 1 while the webhook status is not Successful
jq -e --argjson l $LIMIT --argjson c $CONFIGURED \
  '.. | objects | select(has("rate_limit_learned")) | select(.rate_limit_learned == $l and .rate_limit_configured == $c)' \
  <<<"$json" >/dev/null || { echo "$json"; e2e_fail "haloctl status --json lacks the learned limit"; }
deadline=$(($(date +%s) + 30))
until curl -fsS "$HALO_MONITOR_URL/" | grep -qF "$want"; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "the monitor's status page does not say \"$want...\""
  sleep 1
done
curl -fsS "$HALO_MONITOR_URL/api/status" | jq -e --argjson l $LIMIT '.. | objects | select(.rate_limit_learned? == $l)' \
  >/dev/null || e2e_fail "the monitor's /api/status lacks the learned limit"
metrics=$(curl -fsS "$HALO_MONITOR_URL/metrics")
grep -E "^halo_rate_limit_effective\{tenant=\"demo\"\} $LIMIT\$" <<<"$metrics" ||
  e2e_fail "/metrics lacks halo_rate_limit_effective = $LIMIT"
grep -E "^halo_rate_limit_configured\{tenant=\"demo\"\} $CONFIGURED\$" <<<"$metrics" ||
  e2e_fail "/metrics lacks halo_rate_limit_configured = $CONFIGURED"
e2e_log "PASS: ${#throttled[@]} 429 (within $((last429 - t429)) ms) taught $LIMIT per $WINDOW s; worst window $worst <= $LIMIT; after it $after <= $BUDGET"

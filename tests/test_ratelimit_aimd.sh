#!/usr/bin/env bash
# AIMD without Halo's words (issue 17): halo-sim enforces 30 requests per
# rolling 3 s window and answers 429 with a JSON error that states no limit
# (--rate-limit-text 0); the tenant is configured at 45 per 3 s. Two fetchers
# run a full sync and a storm of webhooks, more work than 60 s can do. Each
# 429 halves the tenant's effective limit, which climbs back one request per
# quiet window up to 95 % of the limit that failed (docs/fetcher.md). From
# halo-sim's request log: 429s happened (the path ran); the climb found the
# limit again (a 429 at least 10 windows after the first: additive increase
# works); within 210 s of the first the fetchers converge: 8 windows (24 s)
# pass with no 429 while work is still waiting; the 429s are few; after the
# last one no 3 s window holds more than 30 requests. The limiter row holds the AIMD state and nothing
# learned; `haloctl status` shows it. Every figure is printed.
# shellcheck source=tests/ratelimit_lib.sh
source "$(dirname "$0")/ratelimit_lib.sh"
e2e_init ratelimit_aimd

LIMIT=30
CONFIGURED=45
WINDOW=3
CONVERGE_S=210  # converged this soon after the first 429 ...
OBSERVE_S=24    # ... that is, this long (8 windows) without one
MAX_429=15      # decreases plus the held ones of the same overshoot
CLIMB_WINDOWS=10 # the climb from half of 45 reaches Halo's 30 / 0.9 after about 13
WEBHOOKS=2000
SECRET=rl-secret-$$

e2e_stack_start --fetchers 2 \
  --env HALO_FETCH_LEASE_S=15 --env HALO_SYNC_INCREMENTAL_S=86400 --env HALO_SYNC_INVOICE_FULL_S=604800 \
  --tenant demo --client-id rl-client --client-secret "$SECRET" --seed 42 \
  --tickets 6000 --sites 150 --users 150 --invoices 150 --rate-limit $LIMIT --rate-window $WINDOW \
  --rate-limit-text 0
log=$HALO_STACK_DIR/log/sim-requests.jsonl

e2e_connect demo rl-client "$SECRET" --rate-limit $CONFIGURED --rate-window $WINDOW
e2e_sim POST /_sim/config "{\"webhook_url\":\"$E2E_HOOK\"}" >/dev/null
storm=$(e2e_sim POST /_sim/storm "{\"count\":$WEBHOOKS,\"concurrency\":4,\"rate\":0,\"entity\":\"tickets\",\"payload\":\"small\"}")
e2e_log "storm: $(jq -c '{bodies, acked, failed, elapsed_ms}' <<<"$storm")"
[ "$(jq .acked <<<"$storm")" = "$WEBHOOKS" ] || e2e_fail "ingest did not answer 2xx to every storm webhook"

# Wait for the first 429, then long enough to converge and to observe.
deadline=$(($(date +%s) + 60))
until [ -n "$(rl_429 "$log" | head -n 1)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "no 429 within 60 s: the work did not exceed Halo's limit"
  sleep 1
done
first=$(rl_429 "$log" | head -n 1)
e2e_log "first 429 at $first; waiting for $OBSERVE_S s without one (at most $CONVERGE_S s)"
while :; do
  sleep 2
  end=$(e2e_now_ms)
  last=$(rl_429 "$log" | tail -n 1)
  [ $((last - first)) -ge $((CLIMB_WINDOWS * WINDOW * 1000)) ] && [ $((end - last)) -ge $((OBSERVE_S * 1000)) ] && break
  [ $((end - first)) -lt $(((CONVERGE_S + OBSERVE_S) * 1000)) ] ||
    e2e_fail "still a 429 every < $OBSERVE_S s, $(((end - first) / 1000)) s after the first: no convergence"
done
backlog=$(e2e_psql "SELECT count(*) FROM halo.fetch_queue WHERE state <> 'failed'")
e2e_log "ledger rows still to fetch at the end: $backlog (the fetchers were never idle)"
[ "$backlog" -gt 0 ] || e2e_fail "the work ran out: no proof that the limit held under pressure"

mapfile -t throttled < <(rl_429 "$log")
total=$(rl_api "$log" | wc -l)
quiet_from=$((last + 1))
quiet_n=$(rl_api "$log" | awk -v t="$last" '$1 > t' | wc -l)
quiet_worst=$(rl_worst "$log" $((WINDOW * 1000)) "$quiet_from")
e2e_log "halo-sim: $total API requests, ${#throttled[@]} answered 429, the last $(((last - first) / 1000)) s after the first; after it $quiet_n requests in $(((end - last) / 1000)) s, worst ${WINDOW} s window $quiet_worst (limit $LIMIT)"
e2e_log "429s at (ms after the first): $(printf '%s\n' "${throttled[@]}" | awk -v f="$first" '{printf "%s%d", (NR > 1 ? " " : ""), $1 - f}')"
[ "${#throttled[@]}" -le "$MAX_429" ] || e2e_fail "${#throttled[@]} 429s: more than $MAX_429"
[ $((last - first)) -le $((CONVERGE_S * 1000)) ] || e2e_fail "a 429 $(((last - first) / 1000)) s after the first: not converged within $CONVERGE_S s"
[ "$quiet_worst" -le "$LIMIT" ] || e2e_fail "$quiet_worst requests in one window after convergence: over $LIMIT"
# Demand stayed: at least a third of Halo's limit was used after convergence.
[ "$quiet_n" -ge $(((end - last) / 1000 * LIMIT / WINDOW / 3)) ] || e2e_fail "only $quiet_n requests after the last 429"

row=$(e2e_psql "SELECT coalesce(learned_limit::text, 'none') || ' ' || (aimd_limit IS NOT NULL) || ' ' || throttled
                FROM halo.rate_limits")
e2e_log "halo.rate_limits: learned aimd throttled = $row"
[ "$row" = "none true ${#throttled[@]}" ] || e2e_fail "the limiter row does not hold the AIMD state"
text=$("$E2E_BIN/haloctl" status demo 2>&1) || true
grep -F "$CONFIGURED configured" <<<"$text" | grep -F "AIMD" ||
  { echo "$text"; e2e_fail "haloctl status does not show the AIMD state"; }
e2e_log "PASS: ${#throttled[@]} 429s, converged within $(((last - first) / 1000)) s, then $quiet_n requests in $(((end - last) / 1000)) s with none, worst window $quiet_worst <= $LIMIT"

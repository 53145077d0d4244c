#!/usr/bin/env bash
# What the learned-limit tests (tests/test_ratelimit_*.sh) add to
# tests/pipeline_lib.sh: the API requests of halo-sim's request log (token
# and authinfo requests are not counted by Halo's limit), their 429s, and
# the worst rolling window over a chosen part of them. Sourced, not run.

# shellcheck source=tests/pipeline_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_lib.sh"

# rl_api FILE: the log's API requests as "ts_ms status" lines, in time order.
rl_api() {
  jq -r 'select((.path | startswith("/api/")) and (.path | startswith("/api/authinfo") | not))
         | "\(.ts_ms) \(.status)"' "$1" | sort -n
}

# rl_worst FILE WINDOW_MS FROM_MS [SKIP_TS]: the most API requests (any
# status) in any window of WINDOW_MS among those at or after FROM_MS, the
# one request at SKIP_TS (the 429 that teaches) left out; SKIP_TS "429":
# every 429 left out (Halo does not count a request it refused).
rl_worst() {
  rl_api "$1" | awk -v w="$2" -v from="$3" -v skip="${4:--1}" '
    $1 >= from && !(skip == "429" && $2 == 429) && !($1 == skip && $2 == 429 && !skipped++) {
      t[++n] = $1; while (t[n] - t[lo + 1] >= w) lo++; if (n - lo > max) max = n - lo }
    END { printf "%d", max }'
}

# rl_429 FILE: the times of the 429 answers, one a line.
rl_429() { rl_api "$1" | awk '$2 == 429 {print $1}'; }

# rl_wait_log FILE COUNT SECONDS: until the log holds COUNT API requests.
rl_wait_log() {
  local deadline=$(($(date +%s) + $3))
  until [ "$(rl_api "$1" | wc -l)" -ge "$2" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "fewer than $2 API requests after $3 s"
    sleep 1
  done
}

#!/usr/bin/env bash
# Secret-marked configuration values never show in what a binary prints:
# for halo-ingest, halo-store, halo-monitor, halo-fetcher (when built) and
# every haloctl command, with HALO_DATABASE_URL and HALO_SECRET_KEY set to
# values holding random markers:
#   --help;  an invalid other variable (exit 2);  an over-long secret (exit 2);
#   an unreachable database (the daemons keep running or exit, haloctl exits 1);
#   a connection string libpq cannot parse because the password holds a blank.
# Nothing here needs PostgreSQL or the network. See docs/security.md.
set -euo pipefail
bin=${HALO_BIN_DIR:?HALO_BIN_DIR is not set}
work=$(mktemp -d /tmp/halo-test-security-config.XXXXXX)
trap 'rm -rf "$work"' EXIT
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
PW=pgpw$(rand) KEY=key$(rand)$(rand) APP=app$(rand) FRAG=frag$(rand) LONG=long$(rand)
markers=("$PW" "$KEY" "$APP" "$FRAG" "$LONG")
good_url="host=$work/no-such-dir port=5 user=halo password=$PW application_name=$APP connect_timeout=1"
fails=0 checks=0

# check NAME EXPECTED_EXIT(-: any) ENV... -- CMD...: runs CMD with ENV (for
# $limit seconds at most), and fails if a marker shows in its output or the
# exit code differs.
limit=3
check() {
  local name=$1 want=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local out=$work/out code
  # (in a command substitution, so that bash's "Killed" notice goes to /dev/null)
  code=$({ env -i PATH="$PATH" HOME="$work" HALO_INGEST_JOURNAL_DIR="$work/journal" "${envs[@]}" \
    timeout -s TERM -k 1 "$limit" "$@" >"$out" 2>&1 </dev/null && echo 0 || echo $?; } 2>/dev/null)
  checks=$((checks + 1))
  local m
  for m in "${markers[@]}"; do
    if grep -qF -- "${m:0:16}" "$out"; then
      echo "FAIL: $name: prints a secret-marked value (marker ${m:0:6}...):"; sed 's/^/    /' "$out" | head -5
      fails=$((fails + 1)); return
    fi
  done
  if [ "$want" != "-" ] && [ "$code" != "$want" ]; then
    echo "FAIL: $name: exit $code, expected $want:"; sed 's/^/    /' "$out" | head -5
    fails=$((fails + 1))
  fi
}

secret_env=(HALO_DATABASE_URL="$good_url" HALO_SECRET_KEY="$KEY" HALO_PUBLIC_URL=https://hooks.example.com)
long_key=$(printf "$LONG%.0s" $(seq 1 200))   # > 4096 bytes: "value too long"
daemon_env=(HALO_INGEST_LISTEN=127.0.0.1:0 HALO_INGEST_ADMIN_LISTEN=127.0.0.1:0 HALO_INGEST_BIND=tcp://127.0.0.1:* HALO_STORE_BIND=tcp://127.0.0.1:*
            HALO_MONITOR_LISTEN=127.0.0.1:0 HALO_TELEMETRY_BIND=tcp://127.0.0.1:*
            HALO_INGEST_ENDPOINTS=tcp://127.0.0.1:9 HALO_STORE_ENDPOINT=tcp://127.0.0.1:9
            HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:9)

daemons=(halo-ingest halo-store halo-monitor)
[ -x "$bin/halo-fetcher" ] && daemons+=(halo-fetcher)
for d in "${daemons[@]}"; do
  [ -x "$bin/$d" ] || { echo "FAIL: $bin/$d is not built"; exit 1; }
  check "$d --help" 0 "${secret_env[@]}" -- "$bin/$d" --help
  check "$d bad HALO_LOG_LEVEL" 2 "${secret_env[@]}" HALO_LOG_LEVEL=loud -- "$bin/$d"
  check "$d over-long HALO_DATABASE_URL" 2 "${secret_env[@]}" HALO_DATABASE_URL="$long_key" -- "$bin/$d"
  # The daemons keep running (or retrying) until the timeout stops them.
  limit=1
  check "$d unreachable database" - "${secret_env[@]}" "${daemon_env[@]}" HALO_LOG_LEVEL=debug -- "$bin/$d"
  check "$d unparsable database URL" - "${secret_env[@]}" "${daemon_env[@]}" HALO_LOG_LEVEL=debug \
    HALO_DATABASE_URL="host=$work/none user=halo password=abc $FRAG" -- "$bin/$d"
  limit=3
done
[ -x "$bin/halo-fetcher" ] &&
  check "halo-fetcher over-long HALO_SECRET_KEY" 2 "${secret_env[@]}" HALO_SECRET_KEY="$long_key" -- "$bin/halo-fetcher"
# A bad HALO_SYNC_PARALLEL_PAGES (1..16) is refused at start, naming the variable.
for v in 0 17 four; do
  [ -x "$bin/halo-fetcher" ] || break
  check "halo-fetcher HALO_SYNC_PARALLEL_PAGES=$v" 2 "${secret_env[@]}" HALO_SYNC_PARALLEL_PAGES=$v -- "$bin/halo-fetcher"
  grep -q "HALO_SYNC_PARALLEL_PAGES" "$work/out" || { echo "FAIL: HALO_SYNC_PARALLEL_PAGES=$v: not named"; fails=$((fails + 1)); }
done

echo "some-client-secret" >"$work/secret"
connect=(connect acme --auth-url https://127.0.0.1:9/auth --resource-url https://127.0.0.1:9/api
         --client-id c --client-secret-file "$work/secret")
commands=("status" "tenants" "sync acme" "retry acme" "rotate-webhook-token acme" "db migrate")
for c in "${commands[@]}" "${connect[*]}"; do
  read -r -a args <<<"$c"
  check "haloctl ${args[0]} --help" 0 "${secret_env[@]}" -- "$bin/haloctl" "${args[0]}" --help
  check "haloctl ${args[0]} bad HALO_LOG_LEVEL" 2 "${secret_env[@]}" HALO_LOG_LEVEL=loud -- "$bin/haloctl" "${args[@]}"
  check "haloctl ${args[0]} over-long HALO_DATABASE_URL" 2 "${secret_env[@]}" HALO_DATABASE_URL="$long_key" \
    -- "$bin/haloctl" "${args[@]}"
done
# Every command connects through ctl_db_connect (5 s of retries): two of them are enough.
limit=8
check "haloctl tenants unreachable database" 1 "${secret_env[@]}" HALO_LOG_LEVEL=debug -- "$bin/haloctl" tenants
for args in "tenants" "${connect[*]}"; do
  read -r -a args <<<"$args"
  check "haloctl ${args[0]} unparsable database URL" 1 "${secret_env[@]}" HALO_LOG_LEVEL=debug \
    HALO_DATABASE_URL="host=$work/none user=halo password=abc $FRAG" -- "$bin/haloctl" "${args[@]}"
done
limit=3
check "haloctl connect over-long HALO_SECRET_KEY" 2 "${secret_env[@]}" HALO_SECRET_KEY="$long_key" \
  -- "$bin/haloctl" "${connect[@]}"
check "haloctl --help" 0 "${secret_env[@]}" -- "$bin/haloctl" --help

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]

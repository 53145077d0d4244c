#!/usr/bin/env bash
# docker-compose.yml is valid, has every service, scales fetchers, refuses to
# start without secrets, and the images bake in no secret.
set -euo pipefail
cd "${HALO_SRC_DIR:-$(dirname "$0")/..}"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v docker-compose >/dev/null || fail "docker-compose not installed (scripts/install-deps.sh installs it)"

out=$(POSTGRES_PASSWORD=pw HALO_SECRET_KEY=k HALO_PUBLIC_URL=https://x docker-compose --profile sim --profile tools config)
for svc in postgres migrate ingest fetcher store monitor haloctl sim; do
  grep -q "^  $svc:" <<<"$out" || fail "service $svc missing"
done
# fetcher publishes no port and has no container_name, so --scale works.
fetcher=$(awk '/^  fetcher:/{f=1;next} /^  [a-z]/{f=0} f' <<<"$out")
grep -q "ports:" <<<"$fetcher" && fail "fetcher publishes a port: it could not scale"
grep -q "container_name" <<<"$fetcher" && fail "fetcher has a container_name: it could not scale"
# Without the secrets, compose refuses (no silent default password or key).
if env -u POSTGRES_PASSWORD -u HALO_SECRET_KEY docker-compose config -q 2>/dev/null; then
  fail "compose accepted a missing POSTGRES_PASSWORD"
fi
grep -E -i '(SECRET|PASSWORD)[A-Z_]*=' Dockerfile && fail "Dockerfile sets a secret"
grep -q 'halo-sim' <(sed -n '/AS runtime/,/AS sim/p' Dockerfile | grep COPY) && fail "runtime image ships halo-sim"
echo "1 passed, 0 failed"

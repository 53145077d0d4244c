#!/usr/bin/env bash
# The per-service PostgreSQL roles of db/migrations/008_roles.sql (grants in
# docs/security.md): on a freshly migrated database, each role does what its
# service does (statements shaped like the service's own) and is refused what
# it must not do: ingest reads no client secret and writes nothing, the
# fetcher writes no mirrored entity, the store reads no secret or token, the
# monitor reads no secret or token hash and writes no ledger, and none of them
# creates objects. Roles are taken with SET ROLE (the grants, not the
# authentication, are under test; tests/test_compose.sh logs in as each).
# Needs PostgreSQL (scripts/test.sh sets HALO_TEST_DATABASE_URL): FAILS without.
set -euo pipefail
SRC=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${HALO_BIN_DIR:-$SRC/build/bin}
base=${HALO_TEST_DATABASE_URL:-}
[ -n "$base" ] || { echo "FAIL: HALO_TEST_DATABASE_URL is unset (run scripts/test.sh)"; exit 1; }
[ -x "$BIN/haloctl" ] || { echo "FAIL: $BIN/haloctl is not built"; exit 1; }
db=halo_roles_$$
psql "$base" -X -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
trap 'psql "$base" -X -qAt -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
url="$base dbname=$db"
# Roles are cluster-wide: a parallel test migrating at the same moment can win
# the race to create one; the migration is one transaction, so try again.
for attempt in 1 2 3 4; do
  if out=$(HALO_DATABASE_URL=$url HALO_MIGRATIONS_DIR=$SRC/db/migrations "$BIN/haloctl" db migrate 2>&1); then break; fi
  [ "$attempt" -lt 4 ] || { echo "$out"; echo "FAIL: migrations"; exit 1; }
  sleep "0.$((RANDOM % 9 + 1))"
done
sql() { psql "$url" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
sql "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, webhook_token_hash)
     VALUES ('acme', 'https://a/auth', 'https://a/api', 'cid', 'v1:sealed', 'hash')" >/dev/null

passed=0 failed=0
# as ROLE OK|DENIED WHAT SQL: runs SQL as ROLE in a transaction that is rolled back.
as() {
  local role=$1 want=$2 what=$3 got out
  if out=$(psql "$url" -X -qAt -v ON_ERROR_STOP=1 -c "BEGIN; SET ROLE $role; $4; ROLLBACK;" 2>&1); then got=OK
  elif grep -q "permission denied" <<<"$out"; then got=DENIED
  else got="ERROR: $out"; fi
  if [ "$got" = "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $role $what: expected $want, got $got"
  fi
}
T="(SELECT id FROM halo.tenants WHERE slug = 'acme')"

as halo_ingest OK "reads the registry" "SELECT slug, enabled, webhook_token_hash, webhook_token_prev_hash, webhook_token_prev_until, basic_auth_hash FROM halo.tenants"
as halo_ingest DENIED "reads client secrets" "SELECT client_secret_enc FROM halo.tenants"
as halo_ingest DENIED "reads the Halo URLs" "SELECT auth_url FROM halo.tenants"
as halo_ingest DENIED "reads tokens" "SELECT * FROM halo.tenant_tokens"
as halo_ingest DENIED "writes the ledger" "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id) VALUES ($T, 'ticket', 1)"
as halo_ingest DENIED "reads the mirror" "SELECT * FROM halo.tickets"
as halo_ingest DENIED "changes a tenant" "UPDATE halo.tenants SET enabled = false"

as halo_fetcher OK "reads tenants with the sealed secret" "SELECT id, slug, client_secret_enc, rate_limit FROM halo.tenants"
as halo_fetcher OK "ledgers and leases a job" "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id) VALUES ($T, 'ticket', 1);
  UPDATE halo.fetch_queue SET state = 'leased', lease_id = nextval('halo.lease_seq'); DELETE FROM halo.fetch_queue"
as halo_fetcher OK "writes the sync state" "INSERT INTO halo.sync_state (tenant_id, entity) VALUES ($T, 'ticket');
  UPDATE halo.sync_state SET full_run_id = nextval('halo.sync_run_seq') WHERE tenant_id = $T;
  SELECT * FROM halo.sync_state FOR UPDATE"
as halo_fetcher OK "takes from the rate limiter" "INSERT INTO halo.rate_limits (tenant_id) VALUES ($T) ON CONFLICT (tenant_id) DO UPDATE SET requests = halo.rate_limits.requests + 1"
as halo_fetcher OK "stores a token" "INSERT INTO halo.tenant_tokens (tenant_id, access_token_enc, expires_at) VALUES ($T, 'v1:x', now())"
as halo_fetcher OK "records deliveries" "INSERT INTO halo.webhook_deliveries (tenant_id, delivery_id, event, entity, received_at) VALUES ($T, 'd1', 'Ticket Changed', 'ticket', now());
  INSERT INTO halo.webhook_event_stats (tenant_id, event, first_at, last_at) VALUES ($T, 'Ticket Changed', now(), now())"
as halo_fetcher OK "reads the mirror (cursors)" "SELECT max(last_update) FROM halo.tickets"
as halo_fetcher DENIED "writes a mirrored ticket" "INSERT INTO halo.tickets (tenant_id, id, raw, fetched_at) VALUES ($T, 1, '{}', now())"
as halo_fetcher DENIED "updates the mirror" "UPDATE halo.invoices SET deleted_at = now()"
as halo_fetcher DENIED "changes a tenant" "UPDATE halo.tenants SET client_id = 'x'"

as halo_store OK "writes a ticket (and its history trigger)" "INSERT INTO halo.tickets (tenant_id, id, raw, fetched_at, status_id) VALUES ($T, 1, '{}', now(), 1);
  UPDATE halo.tickets SET status_id = 2, deleted_at = NULL WHERE id = 1; SELECT count(*) FROM halo.ticket_history"
as halo_store OK "writes sites, users, invoices" "INSERT INTO halo.sites (tenant_id, id, raw, fetched_at) VALUES ($T, 1, '{}', now());
  INSERT INTO halo.users (tenant_id, id, raw, fetched_at) VALUES ($T, 1, '{}', now());
  INSERT INTO halo.invoices (tenant_id, id, raw, fetched_at) VALUES ($T, 1, '{}', now())"
as halo_store OK "keeps a rejected record" "INSERT INTO halo.store_rejects (tenant_id, entity, object_id, reason) VALUES ($T, 'ticket', 1, 'bad'); DELETE FROM halo.store_rejects"
as halo_store OK "completes the ledger and checkpoints" "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id) VALUES ($T, 'ticket', 1);
  DELETE FROM halo.fetch_queue; INSERT INTO halo.sync_state (tenant_id, entity) VALUES ($T, 'site');
  SELECT * FROM halo.sync_state FOR UPDATE; UPDATE halo.sync_state SET full_page_no = 1"
as halo_store OK "prunes old webhook deliveries (009_prune.sql)" "DELETE FROM halo.webhook_deliveries WHERE (tenant_id, delivery_id) IN (
  SELECT tenant_id, delivery_id FROM halo.webhook_deliveries WHERE received_at < now() - interval '30 days' LIMIT 5000)"
as halo_store OK "maps a slug to its tenant" "SELECT id, time_zone FROM halo.tenants WHERE slug = 'acme'"
as halo_store DENIED "reads client secrets" "SELECT client_secret_enc FROM halo.tenants"
as halo_store DENIED "reads tokens" "SELECT * FROM halo.tenant_tokens"
as halo_store DENIED "takes from the rate limiter" "UPDATE halo.rate_limits SET requests = 0"

as halo_monitor OK "reads the status" "SELECT t.id, t.slug, t.enabled, t.resource_url, t.expected_events, r.requests FROM halo.tenants t LEFT JOIN halo.rate_limits r ON r.tenant_id = t.id;
  SELECT count(*) FROM halo.webhook_event_stats; SELECT count(*) FROM halo.sync_state; SELECT count(*) FROM halo.fetch_queue;
  SELECT count(*) FROM halo.webhook_deliveries; SELECT count(*) FROM halo.webhook_pace"
as halo_monitor OK "records a status change" "INSERT INTO halo.webhook_status_changes (tenant_id, status) VALUES ($T, 'Webhook Successful')"
as halo_monitor DENIED "reads client secrets" "SELECT client_secret_enc FROM halo.tenants"
as halo_monitor DENIED "reads token hashes" "SELECT webhook_token_hash FROM halo.tenants"
as halo_monitor DENIED "reads tokens" "SELECT * FROM halo.tenant_tokens"
as halo_monitor OK "reads why records were rejected (014_monitor_rejects.sql)" "SELECT id, tenant_id, entity, object_id, reason, rejected_at FROM halo.store_rejects"
as halo_monitor DENIED "reads a rejected record's payload" "SELECT payload FROM halo.store_rejects"
as halo_monitor DENIED "writes the ledger" "DELETE FROM halo.fetch_queue"
as halo_monitor OK "keeps and prunes rejected webhooks (017_history.sql)" "INSERT INTO halo.webhook_rejects (tenant, reason, requests, rejected_at) VALUES ('acme', 'bad_token', 1, now());
  DELETE FROM halo.webhook_rejects WHERE rejected_at < now() - interval '30 days'"
as halo_monitor OK "reads the full sync runs (017_history.sql)" "SELECT run_id, outcome, error FROM halo.sync_runs"
as halo_monitor DENIED "writes the full sync runs" "DELETE FROM halo.sync_runs"

# store writes the reference data (issue 18); the BI role reads every halo_bi
# view (the names beside the ids) and none of the tables behind them.
as halo_store OK "writes the reference data" "INSERT INTO halo.statuses (tenant_id, id, name, raw, fetched_at)
  VALUES ($T, 9, 'Closed', '{}', now()); INSERT INTO halo.clients (tenant_id, id, name, raw, fetched_at)
  VALUES ($T, 1, 'C', '{}', now()); SELECT count(*) FROM halo.agents, halo.teams, halo.priorities, halo.tickettypes, halo.slas"
as halo_fetcher OK "reads the reference data" "SELECT count(*) FROM halo.statuses, halo.clients"
for v in $(sql "SELECT viewname FROM pg_views WHERE schemaname = 'halo_bi' ORDER BY 1"); do
  as halo_bi_reader OK "reads halo_bi.$v" "SELECT * FROM halo_bi.$v LIMIT 1"
done
for t in statuses agents teams priorities tickettypes slas clients tickets tenants; do
  as halo_bi_reader DENIED "reads halo.$t" "SELECT * FROM halo.$t LIMIT 1"
done
[ "$(sql "SELECT count(*) FROM pg_views WHERE schemaname = 'halo_bi'")" -ge 23 ] && passed=$((passed + 1)) ||
  { echo "FAIL: fewer than the 23 halo_bi views of docs/bi.md"; failed=$((failed + 1)); }

for r in halo_ingest halo_fetcher halo_store halo_monitor; do
  as "$r" DENIED "creates a table in halo" "CREATE TABLE halo.evil (x int)"
  as "$r" DENIED "creates a function in public" "CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"
done
sql "SELECT rolname FROM pg_roles WHERE rolname LIKE 'halo\_%' AND (rolsuper OR rolcreaterole OR rolcreatedb)" | grep -q . \
  && { echo "FAIL: a service role has a superuser, CREATEROLE or CREATEDB attribute"; failed=$((failed + 1)); } || passed=$((passed + 1))
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

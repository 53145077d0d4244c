-- 008_roles: one PostgreSQL role per service, each with only what it needs
-- (docs/security.md, "Database roles"). The role that runs the migrations owns
-- the schema and stays the operator's (haloctl's) role. The roles are created
-- here without a password: the deployment sets them from its secrets
-- (docker/db-roles.sh under compose, ALTER ROLE ... PASSWORD by hand
-- otherwise). Roles are cluster-wide; the grants are per database.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['halo_ingest', 'halo_fetcher', 'halo_store', 'halo_monitor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', r);
        END IF;
    END LOOP;
END
$$;

-- Nobody but the owner creates objects in the schemas (PostgreSQL 15 already
-- revokes CREATE on public from PUBLIC; halo and halo_bi never granted it).
REVOKE ALL ON SCHEMA halo FROM PUBLIC;
GRANT USAGE ON SCHEMA halo TO halo_ingest, halo_fetcher, halo_store, halo_monitor;

-- ingest: authenticates webhooks from the tenant registry. It reads neither
-- the sealed client secret nor the Halo URLs, and writes nothing.
GRANT SELECT (id, slug, enabled, webhook_token_hash, webhook_token_prev_hash, webhook_token_prev_until,
              basic_auth_hash) ON halo.tenants TO halo_ingest;

-- fetcher: the tenants (with the sealed secret it decrypts), the ledger and
-- the sync state (shared with store and haloctl), the rate limiter, the
-- tokens, the webhook bookkeeping; reads the mirror for incremental cursors.
GRANT SELECT ON halo.tenants TO halo_fetcher;
GRANT SELECT, INSERT, UPDATE, DELETE ON halo.fetch_queue, halo.sync_state, halo.rate_limits, halo.tenant_tokens,
    halo.webhook_deliveries, halo.webhook_event_stats, halo.webhook_pace TO halo_fetcher;
GRANT SELECT ON halo.tickets, halo.sites, halo.users, halo.invoices TO halo_fetcher;
GRANT USAGE, SELECT ON SEQUENCE halo.lease_seq, halo.sync_run_seq TO halo_fetcher;

-- store: the mirror (entity tables, ticket history through its trigger,
-- rejected records) and the ledger rows and checkpoints it completes.
GRANT SELECT (id, slug, enabled, time_zone) ON halo.tenants TO halo_store;
GRANT SELECT, INSERT, UPDATE, DELETE ON halo.tickets, halo.sites, halo.users, halo.invoices, halo.ticket_history,
    halo.store_rejects, halo.fetch_queue, halo.sync_state TO halo_store;
GRANT USAGE, SELECT ON SEQUENCE halo.lease_seq, halo.sync_run_seq, halo.store_rejects_id_seq TO halo_store;

-- monitor: reads the status of every tenant (no secret, no token hash) and
-- records webhook status changes.
GRANT SELECT (id, slug, enabled, auth_url, resource_url, halo_tenant, client_id, scope, time_zone, expected_events,
              rate_limit, rate_window_s, rate_headroom, connected_at, created_at, updated_at)
    ON halo.tenants TO halo_monitor;
GRANT SELECT ON halo.fetch_queue, halo.sync_state, halo.rate_limits, halo.webhook_deliveries,
    halo.webhook_event_stats, halo.webhook_pace, halo.sync_progress TO halo_monitor;
GRANT SELECT, INSERT ON halo.webhook_status_changes TO halo_monitor;
GRANT USAGE, SELECT ON SEQUENCE halo.webhook_status_changes_id_seq TO halo_monitor;

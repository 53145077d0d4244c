-- 001_core: tenants, the fetch ledger, webhook bookkeeping, sync state, the
-- shared rate limiter and OAuth tokens. Entity tables are in 002.
CREATE SCHEMA IF NOT EXISTS halo;

CREATE TABLE halo.tenants (
    id                        bigserial PRIMARY KEY,
    slug                      text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    enabled                   boolean NOT NULL DEFAULT true,
    auth_url                  text NOT NULL,            -- e.g. https://x.halopsa.com/auth
    resource_url              text NOT NULL,            -- e.g. https://x.halopsa.com/api
    halo_tenant               text NOT NULL DEFAULT '', -- Halo's tenant parameter ('' self-hosted)
    client_id                 text NOT NULL,
    client_secret_enc         text NOT NULL,            -- AES-256-GCM, key from HALO_SECRET_KEY
    scope                     text NOT NULL DEFAULT 'all',
    time_zone                 text NOT NULL DEFAULT 'UTC',  -- zone of Halo's zone-less dates
    webhook_token_hash        text NOT NULL,            -- sha256 hex of the current token
    webhook_token_prev_hash   text,                     -- previous token during rotation grace
    webhook_token_prev_until  timestamptz,
    basic_auth_hash           text,                     -- sha256 hex of "user:password", NULL = no Basic auth
    expected_events           text[] NOT NULL DEFAULT ARRAY[
        'Ticket Changed', 'New Ticket Logged',
        'Site created', 'Site updated', 'Site deleted',
        'User created', 'User updated', 'User deleted',
        'Invoice created', 'Invoice updated', 'Invoice deleted'],
    rate_limit                integer NOT NULL DEFAULT 450 CHECK (rate_limit > 0),
    rate_window_s             integer NOT NULL DEFAULT 300 CHECK (rate_window_s > 0),
    rate_headroom             double precision NOT NULL DEFAULT 0.9 CHECK (rate_headroom > 0 AND rate_headroom <= 1),
    connected_at              timestamptz NOT NULL DEFAULT now(),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

-- The fetch ledger: one row per (tenant, entity, object) waiting to be fetched.
-- A webhook for a key already pending or leased only sets dirty.
CREATE SEQUENCE halo.lease_seq;
CREATE TABLE halo.fetch_queue (
    tenant_id        bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    entity           text NOT NULL CHECK (entity IN ('ticket', 'site', 'user', 'invoice')),
    object_id        bigint NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'failed')),
    dirty            boolean NOT NULL DEFAULT false,   -- another webhook arrived while leased
    attempts         integer NOT NULL DEFAULT 0,
    due_at           timestamptz NOT NULL DEFAULT now(),
    lease_id         bigint,                           -- token of the current lease
    leased_by        text,
    lease_until      timestamptz,
    last_error       text,
    webhooks         integer NOT NULL DEFAULT 1,       -- webhooks coalesced into this row
    first_webhook_at timestamptz NOT NULL DEFAULT now(),  -- for freshness
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entity, object_id)
);
CREATE INDEX fetch_queue_due ON halo.fetch_queue (due_at) WHERE state = 'pending';
CREATE INDEX fetch_queue_lease ON halo.fetch_queue (lease_until) WHERE state = 'leased';

-- Every webhook delivery seen (dedup by Halo's delivery GUID), kept N days.
CREATE TABLE halo.webhook_deliveries (
    tenant_id    bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    delivery_id  text NOT NULL,
    event        text NOT NULL,
    entity       text NOT NULL,
    object_id    bigint,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id)
);
CREATE INDEX webhook_deliveries_received ON halo.webhook_deliveries (received_at);

-- Per tenant and canonical event: how many deliveries and when (monitor status).
CREATE TABLE halo.webhook_event_stats (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    event          text NOT NULL,
    received       bigint NOT NULL DEFAULT 0,
    duplicates     bigint NOT NULL DEFAULT 0,
    first_at       timestamptz NOT NULL,
    last_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event)
);

-- Full and incremental sync per tenant and entity; checkpoints are written by
-- store in the same transaction as the page they cover.
CREATE SEQUENCE halo.sync_run_seq;
CREATE TABLE halo.sync_state (
    tenant_id            bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    entity               text NOT NULL CHECK (entity IN ('ticket', 'site', 'user', 'invoice')),
    full_requested       boolean NOT NULL DEFAULT true,   -- a full sync is wanted
    full_run_id          bigint,                          -- current or last run
    full_status          text NOT NULL DEFAULT 'pending'
                         CHECK (full_status IN ('pending', 'running', 'done', 'failed')),
    full_page_no         integer NOT NULL DEFAULT 0,      -- last page committed
    full_total           bigint,                          -- record_count reported by Halo
    full_seen            bigint NOT NULL DEFAULT 0,       -- records stored in this run
    full_started_at      timestamptz,
    full_finished_at     timestamptz,
    incr_cursor          timestamptz,                     -- last-update cursor for incremental sync
    incr_last_at         timestamptz,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entity)
);

-- The global rate limiter (GCRA): theoretical arrival time per tenant.
CREATE TABLE halo.rate_limits (
    tenant_id      bigint PRIMARY KEY REFERENCES halo.tenants(id) ON DELETE CASCADE,
    tat            timestamptz NOT NULL DEFAULT now(),
    requests       bigint NOT NULL DEFAULT 0,   -- requests granted, ever
    throttled      bigint NOT NULL DEFAULT 0,   -- 429s received from Halo, ever
    last_429_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- OAuth access tokens shared by every fetcher (sealed like client secrets).
CREATE TABLE halo.tenant_tokens (
    tenant_id         bigint PRIMARY KEY REFERENCES halo.tenants(id) ON DELETE CASCADE,
    access_token_enc  text NOT NULL,
    expires_at        timestamptz NOT NULL,
    refreshed_at      timestamptz NOT NULL DEFAULT now()
);

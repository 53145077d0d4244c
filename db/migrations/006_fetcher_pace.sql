-- 006_fetcher_pace: how fast each tenant's webhooks arrive, to choose the
-- settle delay of its ledger rows (docs/fetcher.md, "Quiet and busy
-- tenants"). One row per tenant, written by the fetchers' ledger writers
-- (under the per-tenant advisory lock they already take): a GCRA over the
-- webhooks' receive times. A batch that would push tat further than the
-- burst allows is over the rate: the tenant is busy until busy_until.
CREATE TABLE halo.webhook_pace (
    tenant_id   bigint PRIMARY KEY REFERENCES halo.tenants(id) ON DELETE CASCADE,
    tat         timestamptz NOT NULL,   -- theoretical arrival time of the next webhook
    busy_until  timestamptz NOT NULL    -- while later than a webhook's receive time: busy
);

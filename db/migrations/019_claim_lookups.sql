-- 019_claim_lookups: the ledger claim (common/halo_ledger.c, halo_ledger_claim)
-- counts the rows each candidate tenant has leased now (fewest first: a
-- tenant storming past its budget has its fetches in flight). This partial
-- index makes that count a look-up of the tenant's leased rows, not a walk
-- over every leased row of every tenant or over every row of the tenant
-- (docs/scale.md, "Fairness between tenants").
CREATE INDEX fetch_queue_leased_tenant ON halo.fetch_queue (tenant_id) WHERE state = 'leased';

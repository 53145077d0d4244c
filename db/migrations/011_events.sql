-- 011_events: trusted full payloads (issue 17), opt-in per tenant.
-- halo.tenants.trust_payload: `haloctl connect --trust-payload` (refused
-- without webhook Basic authentication). When true, ingest journals the
-- object a webhook carries (only a full object: one with its entity's
-- last-update field) and the fetcher stores it without a Halo API request,
-- through the store's ordering guard (docs/security.md, "Trusted payloads").
ALTER TABLE halo.tenants ADD COLUMN trust_payload boolean NOT NULL DEFAULT false;

-- The object of the newest trusted webhook of a queued row (the JSON text as
-- Halo sent it) and its last-update field: a worker that claims the row
-- stores this instead of fetching. NULL: fetch (an untrusted or small
-- webhook since, or none carried an object). Written by common/halo_ledger.c
-- only; a payload with an older last-update never replaces a newer one.
ALTER TABLE halo.fetch_queue ADD COLUMN payload text, ADD COLUMN payload_last_update text;

GRANT SELECT (trust_payload) ON halo.tenants TO halo_ingest, halo_monitor;

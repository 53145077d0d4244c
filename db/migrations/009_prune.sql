-- 009_prune: halo-store prunes halo.webhook_deliveries older than 30 days in
-- its hourly housekeeping, as it prunes halo.store_rejects (issue 19 row 7);
-- its role needs to find and delete those rows. Nothing else changes.
GRANT SELECT, DELETE ON halo.webhook_deliveries TO halo_store;

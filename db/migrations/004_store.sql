-- 004_store: what halo-store needs beside the entity tables: the conversion
-- of Halo's date text to timestamptz in a tenant's zone, and the records it
-- refused (kept for the operator; never visible to halo_bi_reader).

-- Halo's dates come without a zone ("2026-09-01T08:00:00") and mean the
-- tenant's local time; a text that carries an offset is absolute. store
-- normalizes the text first (docs/store.md), so only these two shapes arrive.
CREATE FUNCTION halo.halo_time(t text, tz text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN NULL
                WHEN t ~ '[+-][0-9][0-9]:[0-9][0-9]$' THEN t::timestamptz
                ELSE timezone(tz, t::timestamp) END
$$;

-- A record store could not write (JSON that does not parse, a wrong-typed
-- field, a value out of range): logged, counted and kept here, while the rest
-- of its batch is written. Pruned after 30 days by store.
CREATE TABLE halo.store_rejects (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint REFERENCES halo.tenants(id) ON DELETE CASCADE,
    entity       text NOT NULL,
    object_id    bigint,
    source       text,
    reason       text NOT NULL,
    payload      text,                    -- the record's JSON, cut at 64 KiB
    fetched_at   timestamptz,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_rejects_at ON halo.store_rejects (rejected_at);

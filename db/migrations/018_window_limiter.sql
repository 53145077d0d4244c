-- 018_window_limiter: the rate limiter counts as Halo does, in a rolling
-- window (docs/fetcher.md, "The rate limiter"). Each tenant's row keeps the
-- times of the grants of the last window (+ safety): a request is granted
-- when fewer than its class's cap are in it, so a burst up to the budget goes
-- at once and nothing waits that Halo would accept. The GCRA's theoretical
-- arrival time becomes the end of a 429's pause (paused_until). Written only
-- through common/halo_limiter.c.
ALTER TABLE halo.rate_limits RENAME COLUMN tat TO paused_until;
ALTER TABLE halo.rate_limits
    ADD COLUMN grants  timestamptz[] NOT NULL DEFAULT '{}',  -- grant times within the last span, oldest first
    ADD COLUMN wait_ms bigint NOT NULL DEFAULT 0;           -- the last take's answer when refused

-- One request at now against a tenant's log: kept = the grants still inside
-- (now - span, now]; granted when fewer than cap are kept, now is past the
-- pause and, with a spacing (the backfill's steady pace), the last grant is
-- at least that old. Granted: now is logged (never before the last grant,
-- so the log stays sorted even if the clock steps back). Refused: wait_ms
-- until it would be granted. The pure C halo_limiter_window_take is its
-- specification (tests/test_halo_limiter.c runs both).
CREATE FUNCTION halo.rate_window_take(grants timestamptz[], now timestamptz, paused_until timestamptz,
                                      span_ms float8, cap integer, spacing_ms float8,
                                      OUT kept timestamptz[], OUT granted boolean, OUT wait_ms bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    span  interval := make_interval(secs => span_ms / 1000);
    ready timestamptz := now;
    n     integer;
BEGIN
    kept := ARRAY(SELECT g FROM unnest(grants) g WHERE g > now - span ORDER BY g);
    n := cardinality(kept);
    IF paused_until > ready THEN
        ready := paused_until;
    END IF;
    IF n >= greatest(cap, 1) AND kept[n - greatest(cap, 1) + 1] + span > ready THEN
        ready := kept[n - greatest(cap, 1) + 1] + span;   -- when enough grants have left the window
    END IF;
    IF n > 0 AND spacing_ms > 0 AND kept[n] + make_interval(secs => spacing_ms / 1000) > ready THEN
        ready := kept[n] + make_interval(secs => spacing_ms / 1000);
    END IF;
    IF ready <= now THEN
        kept := kept || greatest(now, kept[n]);
        granted := true;
        wait_ms := 0;
    ELSE
        granted := false;
        wait_ms := greatest(1, ceil(extract(epoch FROM ready - now) * 1000))::bigint;
    END IF;
END
$$;

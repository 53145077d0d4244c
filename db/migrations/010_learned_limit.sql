-- 010_learned_limit: the limit a tenant's Halo enforces, learned from its
-- 429 answers (docs/fetcher.md, "Learned limit and AIMD"). Hosted Halo says
-- "Rate Limit Reached - 300 Requests per rolling 5 minute window": the
-- stated limit and window are kept here and the effective limit becomes
-- min(configured, learned). A 429 without such text halves the effective
-- limit, which then climbs back one step per quiet window (AIMD): aimd_*
-- hold the value after the last decrease, the limit that got the 429 and
-- when. limit_gen counts changes, so every fetcher notices one at its next
-- limiter statement. Written only through common/halo_limiter.c.
ALTER TABLE halo.rate_limits
    ADD COLUMN learned_limit    integer CHECK (learned_limit > 0),
    ADD COLUMN learned_window_s double precision CHECK (learned_window_s > 0),
    ADD COLUMN learned_at       timestamptz,
    ADD COLUMN aimd_limit       double precision CHECK (aimd_limit > 0),
    ADD COLUMN aimd_fail        double precision,
    ADD COLUMN aimd_at          timestamptz,
    ADD COLUMN limit_gen        bigint NOT NULL DEFAULT 0;

/* mon_cache: see mon_cache.h. A look (one statement: the registry
 * generation, PostgreSQL's clock and the touches since the last look less
 * the slack), then a full load or the reload of the tenants touched, then the
 * time-dependent figures of the rest moved to now. */
#include "mon_cache.h"

#include "halo_log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One halo.status_touches row: a tenant written by the transaction started at at_us. */
typedef struct {
    int64_t tenant_id;
    int64_t at_us;
} s_touch_t;

/* A tenant's grants still in its budget window at its last load (PostgreSQL's clock, ms, oldest first). */
typedef struct {
    int64_t *ms;
    size_t n;
    int64_t window_ms;
} s_grants_t;

/* A cached report's place, for finding it by tenant id. */
typedef struct {
    int64_t tenant_id;
    size_t at;
} s_place_t;

struct _mon_cache_t {
    halo_status_report_t *reports; /* ordered by slug, as loaded */
    s_place_t *places;             /* sorted by tenant id */
    s_grants_t *grants;            /* one per report, same order */
    size_t count;
    bool loaded;       /* false: the next refresh loads everything */
    int64_t gen;       /* halo.tenants_gen at the last look */
    int64_t look_us;   /* PostgreSQL's clock at the last look */
    int64_t full_us;   /* ... at the last full load */
    int64_t pruned_us; /* ... at the last prune of old touches */
    s_touch_t *seen;   /* the touches the last look returned, sorted */
    size_t nseen;
    mon_cache_stats_t stats;
};

mon_cache_t *mon_cache_new(void)
{
    return calloc(1, sizeof(mon_cache_t));
}

/* Frees the grants of every report. */
static void s_grants_free(mon_cache_t *self)
{
    for (size_t i = 0; self->grants && i < self->count; i++)
        free(self->grants[i].ms);
    free(self->grants);
    self->grants = NULL;
}

void mon_cache_reset(mon_cache_t *self)
{
    s_grants_free(self);
    free(self->reports);
    free(self->places);
    free(self->seen);
    self->reports = NULL;
    self->places = NULL;
    self->seen = NULL;
    self->count = self->nseen = 0;
    self->loaded = false;
}

void mon_cache_destroy(mon_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mon_cache_reset(*self_p);
    free(*self_p);
    *self_p = NULL;
}

mon_cache_stats_t mon_cache_stats(const mon_cache_t *self)
{
    return self->stats;
}

static int s_cmp_i64(int64_t x, int64_t y)
{
    return (x > y) - (x < y);
}

static int s_touch_cmp(const void *a, const void *b)
{
    const s_touch_t *x = a, *y = b;
    int c = s_cmp_i64(x->tenant_id, y->tenant_id);
    return c ? c : s_cmp_i64(x->at_us, y->at_us);
}

static int s_place_cmp(const void *a, const void *b)
{
    return s_cmp_i64(((const s_place_t *)a)->tenant_id, ((const s_place_t *)b)->tenant_id);
}

static int s_id_cmp(const void *a, const void *b)
{
    return s_cmp_i64(*(const int64_t *)a, *(const int64_t *)b);
}

/* The index of tenant_id's cached report, or -1. */
static long s_cached(const mon_cache_t *self, int64_t tenant_id)
{
    s_place_t key = {tenant_id, 0};
    const s_place_t *p = self->count ? bsearch(&key, self->places, self->count, sizeof key, s_place_cmp) : NULL;
    return p ? (long)p->at : -1;
}

/* Takes reports (count of them, malloc'd) as the whole cache. 0 or -1 (out of memory; reports freed). */
static int s_take_all(mon_cache_t *self, halo_status_report_t *reports, size_t count)
{
    s_place_t *places = count ? calloc(count, sizeof *places) : NULL;
    s_grants_t *grants = count ? calloc(count, sizeof *grants) : NULL;
    if (count && (!places || !grants)) {
        free(places);
        free(grants);
        free(reports);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        places[i] = (s_place_t){reports[i].tenant_id, i};
    if (count)
        qsort(places, count, sizeof *places, s_place_cmp);
    s_grants_free(self);
    free(self->reports);
    free(self->places);
    self->reports = reports;
    self->places = places;
    self->grants = grants;
    self->count = count;
    return 0;
}

/* Runs the look: *gen, *now_us (PostgreSQL's clock) and the touches since
 * since_us (0: the last minute, for a first load, which reads everything
 * anyway) into *touches (malloc'd, sorted). 0 or -1 with err. */
static int s_look(halo_pg_t *pg, int64_t since_us, int64_t *gen, int64_t *now_us, s_touch_t **touches, size_t *n,
                  char *err, size_t errlen)
{
    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)since_us);
    const char *params[1] = {since};
    PGresult *res = halo_pg_exec(
        pg,
        "SELECT g.gen, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, s.tenant_id, "
        "(extract(epoch FROM s.at) * 1000000)::bigint FROM halo.tenants_gen g "
        "LEFT JOIN halo.status_touches s "
        "ON s.at > CASE WHEN $1::bigint > 0 THEN timestamptz 'epoch' + $1::bigint * interval '1 microsecond' "
        "ELSE clock_timestamp() - interval '1 minute' END",
        1, params);
    if (!res || PQntuples(res) < 1) {
        snprintf(err, errlen, "%s", res ? "halo.tenants_gen is empty" : halo_pg_error(pg));
        PQclear(res);
        return -1;
    }
    *gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *now_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    size_t rows = (size_t)PQntuples(res);
    *touches = calloc(rows, sizeof **touches);
    *n = 0;
    if (!*touches) {
        snprintf(err, errlen, "out of memory");
        PQclear(res);
        return -1;
    }
    for (size_t i = 0; i < rows; i++) {
        if (PQgetisnull(res, (int)i, 2))
            continue;
        (*touches)[*n].tenant_id = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        (*touches)[*n].at_us = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
        (*n)++;
    }
    PQclear(res);
    if (*n > 0)
        qsort(*touches, *n, sizeof **touches, s_touch_cmp);
    return 0;
}

/* The tenants to reload: touched and not seen by the last look; sorted,
 * unique, into ids (malloc'd). -1 when out of memory; 1 when a TRUNCATE was
 * noted (reload everything). */
static int s_stale(const mon_cache_t *self, const s_touch_t *touches, size_t n, int64_t **ids, size_t *nids)
{
    *nids = 0;
    *ids = malloc((n + 1) * sizeof **ids);
    if (!*ids)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (self->nseen && bsearch(&touches[i], self->seen, self->nseen, sizeof *touches, s_touch_cmp))
            continue;
        if (touches[i].tenant_id == 0)
            return 1;
        (*ids)[(*nids)++] = touches[i].tenant_id;
    }
    qsort(*ids, *nids, sizeof **ids, s_id_cmp);
    size_t unique = 0;
    for (size_t i = 0; i < *nids; i++)
        if (unique == 0 || (*ids)[unique - 1] != (*ids)[i])
            (*ids)[unique++] = (*ids)[i];
    *nids = unique;
    return 0;
}

/* Reloads the tenants ids and moves every other cached report to now_ms. 0,
 * 1 when a tenant reloaded is not cached (load everything), or -1 with err. */
static int s_reload(mon_cache_t *self, halo_pg_t *pg, const int64_t *ids, size_t nids, int64_t now_ms, char *err,
                    size_t errlen)
{
    halo_status_report_t *fresh = NULL;
    size_t nfresh = 0;
    if (halo_status_report_load_ids(pg, ids, nids, now_ms, &fresh, &nfresh, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < self->count; i++)
        if (nids == 0 || !bsearch(&self->reports[i].tenant_id, ids, nids, sizeof *ids, s_id_cmp))
            halo_status_report_at(&self->reports[i], now_ms);
    int rc = 0;
    for (size_t i = 0; i < nfresh; i++) {
        long at = s_cached(self, fresh[i].tenant_id);
        if (at < 0) {
            rc = 1;
            break;
        }
        self->reports[at] = fresh[i];
        free(self->grants[at].ms);
        self->grants[at] = (s_grants_t){NULL, 0, 0};
    }
    free(fresh);
    self->stats.tenants_reloaded += nfresh;
    self->stats.last_reloaded = nfresh;
    return rc;
}

/* Reads the grants in the window of the tenants loaded with a budget in use
 * (those whose grants are not known yet). 0 or -1 with err. */
static int s_load_grants(mon_cache_t *self, halo_pg_t *pg, char *err, size_t errlen)
{
    int64_t *ids = self->count ? malloc(self->count * sizeof *ids) : NULL;
    size_t n = 0;
    for (size_t i = 0; ids && i < self->count; i++)
        if (self->reports[i].budget_used > 0 && self->grants[i].window_ms == 0)
            ids[n++] = self->reports[i].tenant_id;
    char *text = n ? malloc(n * 21 + 3) : NULL;
    if (n == 0 || !text) {
        free(ids);
        free(text);
        if (n)
            snprintf(err, errlen, "out of memory");
        return n ? -1 : 0;
    }
    halo_pg_ids_text(ids, (int)n, text, n * 21 + 3);
    free(ids);
    const char *params[1] = {text};
    PGresult *res = halo_pg_exec(
        pg,
        "SELECT r.tenant_id, (coalesce(r.learned_window_s, t.rate_window_s) * 1000)::bigint, "
        "array_to_string(ARRAY(SELECT (extract(epoch FROM g) * 1000)::bigint FROM unnest(r.grants) g "
        "WHERE g > clock_timestamp() - make_interval(secs => coalesce(r.learned_window_s, t.rate_window_s)) "
        "ORDER BY g), ',') FROM halo.rate_limits r JOIN halo.tenants t ON t.id = r.tenant_id "
        "WHERE r.tenant_id = ANY($1::bigint[])",
        1, params);
    free(text);
    if (!res) {
        snprintf(err, errlen, "%s", halo_pg_error(pg));
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long at = s_cached(self, strtoll(PQgetvalue(res, row, 0), NULL, 10));
        const char *list = PQgetvalue(res, row, 2);
        size_t count = *list ? 1 : 0;
        for (const char *c = list; *c; c++)
            count += *c == ',';
        s_grants_t *g = at >= 0 ? &self->grants[at] : NULL;
        if (!g || (count && !(g->ms = malloc(count * sizeof *g->ms))))
            continue;
        g->window_ms = strtoll(PQgetvalue(res, row, 1), NULL, 10);
        for (char *end = (char *)list; g->n < count && *end; end += *end == ',')
            g->ms[g->n++] = strtoll(end, &end, 10);
    }
    PQclear(res);
    return 0;
}

/* The budget in use at PostgreSQL's now_ms of every tenant whose grants are
 * known: those left in the window (grants leave it without a write). */
static void s_budget_at(mon_cache_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->count; i++) {
        s_grants_t *g = &self->grants[i];
        if (g->window_ms == 0)
            continue;
        size_t first = 0;
        while (first < g->n && g->ms[first] <= now_ms - g->window_ms)
            first++;
        self->reports[i].budget_used = (double)(g->n - first);
        if (first == g->n) { /* nothing left: nothing to recompute until a write */
            free(g->ms);
            *g = (s_grants_t){NULL, 0, 0};
        }
    }
}

/* Deletes the touches older than MON_CACHE_KEEP_MS, at most once a minute (a failure is only logged). */
static void s_prune(mon_cache_t *self, halo_pg_t *pg, int64_t now_us)
{
    if (now_us - self->pruned_us < 60LL * 1000000)
        return;
    self->pruned_us = now_us;
    char keep[32];
    snprintf(keep, sizeof keep, "%lld", (long long)(MON_CACHE_KEEP_MS / 1000));
    const char *params[1] = {keep};
    if (halo_pg_command(pg, "DELETE FROM halo.status_touches WHERE at < now() - make_interval(secs => $1::bigint)", 1,
                        params) != 0)
        HALO_WARN("cannot prune status touches", "error=\"%s\"", halo_pg_error(pg));
}

/* The whole refresh into the cache; 0 or -1 with err. */
static int s_update(mon_cache_t *self, halo_pg_t *pg, int64_t now_ms, char *err, size_t errlen)
{
    int64_t gen = 0, now_us = 0;
    s_touch_t *touches = NULL;
    size_t n = 0;
    int64_t since_us = self->loaded ? self->look_us - MON_CACHE_SLACK_MS * 1000 : 0;
    if (s_look(pg, since_us, &gen, &now_us, &touches, &n, err, errlen) != 0)
        return -1;
    int64_t *ids = NULL;
    size_t nids = 0;
    int rc = 1; /* 1: load everything */
    if (self->loaded && gen == self->gen && now_us - self->full_us < MON_CACHE_FULL_EVERY_MS * 1000)
        rc = s_stale(self, touches, n, &ids, &nids);
    if (rc == 0)
        rc = s_reload(self, pg, ids, nids, now_ms, err, errlen);
    free(ids);
    if (rc == 1) {
        halo_status_report_t *all = NULL;
        size_t count = 0;
        rc = halo_status_report_load(pg, NULL, now_ms, &all, &count, err, errlen);
        if (rc == 0 && s_take_all(self, all, count) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        if (rc == 0) {
            self->full_us = now_us;
            self->stats.full_loads++;
            self->stats.last_reloaded = count;
        }
    }
    if (rc == 0)
        rc = s_load_grants(self, pg, err, errlen);
    if (rc != 0) {
        free(touches);
        return -1;
    }
    s_budget_at(self, now_us / 1000);
    free(self->seen);
    self->seen = touches;
    self->nseen = n;
    self->gen = gen;
    self->look_us = now_us;
    self->loaded = true;
    self->stats.refreshes++;
    s_prune(self, pg, now_us);
    return 0;
}

int mon_cache_refresh(mon_cache_t *self, halo_pg_t *pg, int64_t now_ms, halo_status_report_t **reports, size_t *count,
                      char *err, size_t errlen)
{
    *reports = NULL;
    *count = 0;
    if (s_update(self, pg, now_ms, err, errlen) != 0) {
        mon_cache_reset(self);
        return -1;
    }
    if (self->count == 0)
        return 0;
    *reports = malloc(self->count * sizeof **reports);
    if (!*reports) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*reports, self->reports, self->count * sizeof **reports);
    *count = self->count;
    return 0;
}

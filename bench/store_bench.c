/* store_bench: times the two ways store_write can upsert a batch of 100
 * halo-sim-shaped tickets (prepared multi-row INSERT .. ON CONFLICT, "values",
 * vs COPY into a temporary table then INSERT .. SELECT .. ON CONFLICT,
 * "copy"), first as inserts and then as updates, each batch a whole store
 * transaction, and prints ms per batch as key=value. The methods alternate so
 * both see the same cache and checkpoint weather. That both write the same
 * rows is a test (test_store_write's test_methods_agree); here a wrong row
 * count only makes the run fail.
 *
 *   store_bench ROUNDS
 *
 * HALO_DATABASE_URL names an empty database; every migration is applied
 * first. Built by CMake (bench/CMakeLists.txt), run by bench/store_bench.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_migrate.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "store_write.h"

#define S_BATCH 100
#define S_FETCHED_AT 1790000000000LL

/* A list page of S_BATCH tickets of tenant starting at first, version v, into
 * m (initialised here; the caller clears it). 0, or -1 when a record did not fit. */
static int s_page(halo_msg_t *m, const char *tenant, int64_t first, int v)
{
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "ticket");
    snprintf(m->u.records.source, sizeof m->u.records.source, "list");
    m->u.records.fetched_at = S_FETCHED_AT + v;
    for (int64_t id = first; id < first + S_BATCH; id++) {
        char json[1024];
        int n =
            snprintf(json, sizeof json,
                     "{\"id\":%lld,\"summary\":\"Outlook not responding v%d\",\"status_id\":%d,\"agent_id\":%d,"
                     "\"team\":\"Service Desk\",\"priority_id\":%d,\"client_id\":%lld.0,\"client_name\":\"Contoso "
                     "Dental\",\"site_id\":%lld,\"site_name\":\"Main office\",\"user_id\":%lld,\"user_name\":\"Ann "
                     "Lee\",\"tickettype_id\":1,\"dateoccurred\":\"2026-03-01T08:00:00\",\"fixbydate\":\"2026-03-02T"
                     "08:00:00\",\"last_update\":\"2026-03-0%dT09:00:00.123\"}",
                     (long long)id, v, 1 + (v + (int)id) % 4, (int)id % 12, 1 + (int)id % 4, (long long)(12 + id % 40),
                     (long long)(18 + id % 120), (long long)(3 + id % 300), 1 + v % 9);
        if (n < 0 || (size_t)n >= sizeof json || halo_msg_records_add(m, id, HALO_RECORD_UPSERT, json, (size_t)n) != 0)
            return -1;
    }
    return 0;
}

/* Writes rounds pages of version v for tenant with w; mean ms per batch, or
 * -1 on a failed write (said on stderr). */
static double s_run(store_writer_t *w, const char *tenant, int rounds, int version)
{
    int64_t total_ms = 0;
    for (int r = 0; r < rounds; r++) {
        halo_msg_t m;
        int built = s_page(&m, tenant, (int64_t)r * S_BATCH + 1, version);
        int64_t t0 = halo_clock_mono_ms();
        store_result_t rc = built == 0 ? store_writer_write(w, &m, S_FETCHED_AT, NULL) : STORE_DROPPED;
        total_ms += halo_clock_mono_ms() - t0;
        halo_msg_clear(&m);
        if (rc != STORE_OK) {
            fprintf(stderr, "store_bench: write: %s\n", built == 0 ? store_writer_error(w) : "page too large");
            return -1;
        }
    }
    return (double)total_ms / rounds;
}

/* Migrates the database, adds tenants bv and bc, times both methods and
 * checks the row counts; 0 or -1 (said on stderr). */
static int s_bench(halo_pg_t *pg, int rounds)
{
    char err[512];
    if (halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err) < 0) {
        fprintf(stderr, "store_bench: migrate: %s\n", err);
        return -1;
    }
    if (halo_pg_command(
            pg,
            "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc,"
            " webhook_token_hash) VALUES ('bv', 'a', 'r', 'c', 's', 'h1'), ('bc', 'a', 'r', 'c', 's', 'h2')",
            0, NULL) != 0) {
        fprintf(stderr, "store_bench: tenants: %s\n", halo_pg_error(pg));
        return -1;
    }
    store_writer_t *values = store_writer_new(pg), *copy = store_writer_new(pg);
    int rc = -1;
    if (!values || !copy)
        goto done;
    store_writer_set_method(copy, STORE_METHOD_COPY);
    double vi = s_run(values, "bv", rounds, 1), ci = s_run(copy, "bc", rounds, 1), vu = 0, cu = 0;
    for (int v = 2; v <= 3 && vi >= 0 && ci >= 0 && vu >= 0 && cu >= 0; v++) {
        vu += s_run(values, "bv", rounds, v) / 2;
        cu += s_run(copy, "bc", rounds, v) / 2;
    }
    if (vi < 0 || ci < 0 || vu < 0 || cu < 0)
        goto done;
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT count(*) FILTER (WHERE tenant_id = 1), count(*) FILTER (WHERE tenant_id = 2)"
                                 " FROM halo.tickets",
                                 0, NULL);
    if (!res) {
        fprintf(stderr, "store_bench: count: %s\n", halo_pg_error(pg));
        goto done;
    }
    long long want = (long long)rounds * S_BATCH, got_v = atoll(PQgetvalue(res, 0, 0)),
              got_c = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (got_v != want || got_c != want) {
        fprintf(stderr, "store_bench: rows values=%lld copy=%lld, expected %lld each\n", got_v, got_c, want);
        goto done;
    }
    printf("batches=%d batch_rows=%d insert_values_ms=%.2f insert_copy_ms=%.2f update_values_ms=%.2f "
           "update_copy_ms=%.2f\n",
           rounds, S_BATCH, vi, ci, vu, cu);
    rc = 0;
done:
    store_writer_destroy(&values);
    store_writer_destroy(&copy);
    return rc;
}

int main(int argc, char **argv)
{
    const char *url = getenv("HALO_DATABASE_URL");
    int rounds = argc == 2 ? atoi(argv[1]) : 0;
    if (rounds <= 0 || !url || !*url) {
        fprintf(stderr, "usage: HALO_DATABASE_URL=conninfo store_bench ROUNDS\n");
        return 2;
    }
    halo_log_init("store_bench", HALO_LOG_ERROR);
    char err[512];
    halo_pg_t *pg = halo_pg_new(url, 10000, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "store_bench: connect: %s\n", err);
        return 1;
    }
    int rc = s_bench(pg, rounds);
    halo_pg_destroy(&pg);
    return rc == 0 ? 0 : 1;
}

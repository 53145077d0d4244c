/* fuzz_fetcher_page: libFuzzer target for fetch_sync_parse_page, the parser
 * of a Halo list page (whatever a tenant's Halo answered, or a hostile one)
 * into a RECORDS message for store. Byte 0 picks the entity (bits 0-1) and
 * full/incremental (bit 2), byte 1 the page number; the rest is the body.
 * Properties: never a crash or leak; a refusal has a reason, an empty
 * message and leaves the run where it was; an accepted page advances the run
 * by one page, holds at most HALO_RECORDS_MAX records of the run's entity,
 * each an object whose "id" is the record's positive id, says it is the last
 * page when it has fewer rows than a full page, and its message either
 * encodes and decodes to the same records or is refused with a reason; the
 * same page parsed again is recognised as repeated (no records, last). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_sync.h"
#include "halo_entity.h"
#include "halo_events.h"
#include "halo_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const s_entities[] = {"ticket", "site", "user", "invoice"};

static void s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_fetcher_page: %s (%s)\n", what, detail ? detail : "-");
    abort();
}

/* The id of a record's JSON, or -1 when it is not an object with a whole positive id. */
static int64_t s_json_id(const char *json)
{
    json_t *obj = json_loads(json, 0, NULL);
    int64_t id = -1;
    const json_t *v = json_is_object(obj) ? json_object_get(obj, "id") : NULL;
    if (json_is_integer(v))
        id = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) >= 1 && json_real_value(v) < 9.2e18)
        id = (int64_t)json_real_value(v);
    json_decref(obj);
    return id;
}

/* Rows in the page's list (the entity's list key), -1 if there is none. */
static long s_rows(const char *entity, const char *body, size_t len)
{
    const halo_entity_t *e = halo_entity_by_name(entity);
    if (!e)
        return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *rows = json_object_get(root, e->list_key);
    long n = json_is_array(rows) ? (long)json_array_size(rows) : -1;
    json_decref(root);
    return n;
}

/* Checks an accepted page's message against the properties above. */
static void s_check_accepted(const fetch_sync_run_t *run, const fetch_sync_run_t *before, const halo_msg_t *msg,
                             bool last, long rows)
{
    const halo_records_t *r = &msg->u.records;
    if (msg->cmd != HALO_CMD_RECORDS || strcmp(msg->tenant, "acme") != 0)
        s_fail("accepted page is not a RECORDS message of the tenant", msg->tenant);
    if (run->page_no != before->page_no + 1 || r->page_no != before->page_no)
        s_fail("accepted page did not advance the run by one page", NULL);
    if (strcmp(r->entity, before->entity) != 0 || strcmp(r->source, "list") != 0)
        s_fail("records of another entity or source", r->entity);
    if (r->count > HALO_RECORDS_MAX)
        s_fail("more records than a message may hold", NULL);
    if (rows < 0 || (long)r->count > rows)
        s_fail("records from a page without a list, or more records than rows", NULL);
    if (rows < FETCH_SYNC_PAGE_SIZE && !last)
        s_fail("a short page is not the last", NULL);
    for (uint32_t i = 0; i < r->count; i++) {
        const halo_record_t *rec = &r->records[i];
        if (rec->id <= 0 || rec->op != HALO_RECORD_UPSERT || !rec->json)
            s_fail("record without a positive id or JSON", rec->json);
        /* Ids past 1e15 are not kept exactly by the 15-digit re-dump of reals (21.0 forms): known, see docs. */
        if (rec->id < 1000000000000000LL && s_json_id(rec->json) != rec->id)
            s_fail("record JSON does not carry the record's id", rec->json);
    }
    char *body = NULL, err[256] = "";
    size_t len = 0;
    if (halo_msg_encode(msg, &body, &len, err, sizeof err) != 0) {
        if (!err[0])
            s_fail("encode refused without a reason", NULL);
        return;
    }
    halo_msg_t back;
    if (halo_msg_decode(HALO_CMD_RECORDS, body, len, &back, err, sizeof err) != 0)
        s_fail("an encoded page does not decode", err);
    if (back.u.records.count != r->count)
        s_fail("decoded page has another record count", NULL);
    for (uint32_t i = 0; i < r->count; i++)
        if (back.u.records.records[i].id != r->records[i].id ||
            strcmp(back.u.records.records[i].json, r->records[i].json) != 0)
            s_fail("decoded record differs", r->records[i].json);
    halo_msg_clear(&back);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fetch_sync_run_t run;
    memset(&run, 0, sizeof run);
    snprintf(run.owner, sizeof run.owner, "fuzz/0");
    snprintf(run.entity, sizeof run.entity, "%s", s_entities[data[0] & 3]);
    run.active = true;
    run.full = (data[0] & 4) != 0;
    run.run_id = run.full ? 7 : 0;
    run.page_no = 1 + data[1];
    run.prev_first_id = run.prev_last_id = -1;
    if (!run.full)
        snprintf(run.cursor, sizeof run.cursor, "2026-01-01T00:00:00.000Z");
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    fetch_sync_run_t before = run;
    halo_msg_t msg;
    bool last = false;
    char err[256] = "";
    int rc = fetch_sync_parse_page(&run, "acme", body, len, 1790000000000LL, &msg, &last, err, sizeof err);
    if (rc != 0 && rc != -1)
        s_fail("parse returned neither 0 nor -1", NULL);
    if (rc == -1) {
        if (!err[0])
            s_fail("page refused without a reason", NULL);
        if (msg.u.records.count != 0 || run.page_no != before.page_no)
            s_fail("a refused page left records or moved the run", err);
        halo_msg_clear(&msg);
        return 0;
    }
    s_check_accepted(&run, &before, &msg, last, s_rows(before.entity, body, len));
    uint32_t first_count = msg.u.records.count;
    halo_msg_clear(&msg);

    /* The same page again (Halo repeating its last page past the end). */
    bool last2 = false;
    if (fetch_sync_parse_page(&run, "acme", body, len, 1790000000000LL, &msg, &last2, err, sizeof err) != 0)
        s_fail("a page accepted once is refused the second time", err);
    if (first_count > 0 && (msg.u.records.count != 0 || !last2))
        s_fail("a repeated page was not recognised", NULL);
    halo_msg_clear(&msg);
    return 0;
}

/* fuzz_store_normalize: libFuzzer target for store_normalize, the mapping of
 * Halo's JSON objects (whatever a Halo API answered, or a compromised one) to
 * typed column values. The first byte picks the entity and the expected id;
 * the rest is the JSON. Properties: never a crash or leak; a refusal has a
 * reason; an accepted row has the expected id and every value fits its column
 * type (integers parse whole, booleans are t/f, money is a number,
 * times re-normalize to themselves). The same bytes as a date string:
 * store_normalize_time is total (0, 1 or -1) and idempotent. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_normalize.h"

#define FUZZ_TEXT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what, const char *column, const char *value)
{
    fprintf(stderr, "fuzz_store_normalize: %s: column %s value \"%s\"\n", what, column ? column : "-",
            value ? value : "(null)");
    abort();
}

static int s_whole_integer(const char *text)
{
    char *end = NULL;
    errno = 0;
    (void)strtoll(text, &end, 10);
    return errno == 0 && end != text && *end == '\0';
}

static int s_number(const char *text)
{
    char *end = NULL;
    (void)strtod(text, &end);
    return end != text && *end == '\0';
}

/* A normalized time must normalize to itself. */
static void s_check_time(const char *column, const char *text)
{
    char again[STORE_VALUE_BUF];
    if (store_normalize_time(text, again, sizeof again) != 0 || strcmp(again, text) != 0)
        s_fail("time does not re-normalize to itself", column, text);
}

static void s_check_row(store_entity_t entity, const store_row_t *row, int64_t expect_id)
{
    if (row->id != expect_id)
        s_fail("row id differs from the record id", "id", NULL);
    size_t ncols = 0;
    const store_column_t *cols = store_entity_columns(entity, &ncols);
    if (row->ncols != ncols)
        s_fail("row has the wrong number of columns", NULL, NULL);
    for (size_t i = 0; i < ncols; i++) {
        const store_value_t *v = &row->values[i];
        if (!v->present || !v->text)
            continue;
        switch (cols[i].type) {
        case STORE_COL_INT:
        case STORE_COL_BIGINT:
            if (!s_whole_integer(v->text))
                s_fail("integer column holds a non-integer", cols[i].name, v->text);
            break;
        case STORE_COL_BOOL:
            if (strcmp(v->text, "t") != 0 && strcmp(v->text, "f") != 0)
                s_fail("boolean column holds a non-boolean", cols[i].name, v->text);
            break;
        case STORE_COL_MONEY:
            if (!s_number(v->text))
                s_fail("money column holds a non-number", cols[i].name, v->text);
            break;
        case STORE_COL_TIME: s_check_time(cols[i].name, v->text); break;
        case STORE_COL_TEXT: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    store_entity_t entity = (store_entity_t)(data[0] % STORE_ENTITY_COUNT);
    int64_t expect_id = (data[0] >> 2) + 1; /* 1..64: payloads with "id": 21.0 and without one */
    const char *json = (const char *)data + 1;
    size_t len = size - 1;

    store_row_t row;
    char err[256] = "";
    if (store_normalize(entity, json, len, expect_id, &row, err, sizeof err) == 0) {
        s_check_row(entity, &row, expect_id);
        store_row_clear(&row);
    } else if (err[0] == '\0') {
        s_fail("refused without a reason", NULL, NULL);
    }

    char text[FUZZ_TEXT_MAX + 1], out[STORE_VALUE_BUF];
    size_t n = len < FUZZ_TEXT_MAX ? len : FUZZ_TEXT_MAX;
    memcpy(text, json, n);
    text[n] = '\0';
    int rc = store_normalize_time(text, out, sizeof out);
    if (rc < -1 || rc > 1)
        s_fail("store_normalize_time returned outside -1..1", NULL, text);
    if (rc == 0)
        s_check_time("(date)", out);
    return 0;
}

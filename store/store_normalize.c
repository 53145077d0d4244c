/* store_normalize: the column tables of the four entities and the pure
 * conversion of one Halo JSON object into typed column values. */
#include "store_normalize.h"

#include "halo_time.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ID_UNSET (-1)                       /* Halo's "no value" for ids */
#define S_EXACT_DOUBLE_MAX 9007199254740992.0 /* 2^53: larger doubles are not exact ids */
#define S_MONEY_MAX 1e12                      /* numeric(14,2) holds up to 10^12 - 0.01 */

static const store_column_t s_ticket_cols[] = {
    {"summary", STORE_COL_TEXT, {"summary"}},
    {"details", STORE_COL_TEXT, {"details"}},
    {"status_id", STORE_COL_INT, {"status_id"}},
    {"agent_id", STORE_COL_INT, {"agent_id"}},
    {"team", STORE_COL_TEXT, {"team"}},
    {"priority_id", STORE_COL_INT, {"priority_id"}},
    {"tickettype_id", STORE_COL_INT, {"tickettype_id"}},
    {"sla_id", STORE_COL_INT, {"sla_id"}},
    {"category_1", STORE_COL_TEXT, {"category_1", "category1"}},
    {"client_id", STORE_COL_BIGINT, {"client_id"}},
    {"client_name", STORE_COL_TEXT, {"client_name"}},
    {"site_id", STORE_COL_BIGINT, {"site_id"}},
    {"site_name", STORE_COL_TEXT, {"site_name"}},
    {"user_id", STORE_COL_BIGINT, {"user_id"}},
    {"user_name", STORE_COL_TEXT, {"user_name"}},
    {"date_occurred", STORE_COL_TIME, {"dateoccurred"}},
    {"date_closed", STORE_COL_TIME, {"dateclosed"}},
    {"respond_by", STORE_COL_TIME, {"respondbydate"}},
    {"fix_by", STORE_COL_TIME, {"fixbydate"}},
    {"responded_at", STORE_COL_TIME, {"responsedate"}},
    {"last_update", STORE_COL_TIME, {"last_update", "lastupdate", "slastupdate", "ulastupdate", "last_modified"}},
};

static const store_column_t s_site_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"client_id", STORE_COL_BIGINT, {"client_id"}},
    {"client_name", STORE_COL_TEXT, {"client_name"}},
    {"phonenumber", STORE_COL_TEXT, {"phonenumber"}},
    {"inactive", STORE_COL_BOOL, {"inactive"}},
    {"last_update", STORE_COL_TIME, {"slastupdate", "last_update", "lastupdate", "ulastupdate", "last_modified"}},
};

static const store_column_t s_user_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"emailaddress", STORE_COL_TEXT, {"emailaddress"}},
    {"client_id", STORE_COL_BIGINT, {"client_id"}},
    {"client_name", STORE_COL_TEXT, {"client_name"}},
    {"site_id", STORE_COL_BIGINT, {"site_id"}},
    {"site_name", STORE_COL_TEXT, {"site_name"}},
    {"inactive", STORE_COL_BOOL, {"inactive"}},
    {"last_update", STORE_COL_TIME, {"ulastupdate", "last_update", "lastupdate", "slastupdate", "last_modified"}},
};

static const store_column_t s_invoice_cols[] = {
    {"invoicenumber", STORE_COL_TEXT, {"invoicenumber"}},
    {"client_id", STORE_COL_BIGINT, {"client_id"}},
    {"client_name", STORE_COL_TEXT, {"client_name"}},
    {"site_id", STORE_COL_BIGINT, {"sitenumber"}},
    {"invoice_date", STORE_COL_TIME, {"invoice_date"}},
    {"due_date", STORE_COL_TIME, {"duedate", "due_date"}},
    {"total", STORE_COL_MONEY, {"total"}},
    {"tax_total", STORE_COL_MONEY, {"tax_total"}},
    {"amountpaid", STORE_COL_MONEY, {"amountpaid"}},
    {"amountdue", STORE_COL_MONEY, {"amountdue"}},
    {"posted", STORE_COL_BOOL, {"posted"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};

/* ---- Reference data (issue 18): the lookups the BI views name ids with,
 * from the spec's list schemas (TStatus, Uname_List, SectionDetail_List,
 * Policy, RequestType_List, SlaHead, Area). None has a documented last-update
 * field in its list; last_update stays NULL unless Halo sends one, and the
 * fetch time orders writes. */
static const store_column_t s_status_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"shortname", STORE_COL_TEXT, {"shortname"}},
    {"type", STORE_COL_INT, {"type"}},
    {"sequence", STORE_COL_INT, {"sequence"}},
    {"colour", STORE_COL_TEXT, {"colour"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_agent_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"email", STORE_COL_TEXT, {"email"}},
    {"team", STORE_COL_TEXT, {"team"}},
    {"isdisabled", STORE_COL_BOOL, {"isdisabled"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_team_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"department_name", STORE_COL_TEXT, {"department_name"}},
    {"inactive", STORE_COL_BOOL, {"inactive"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_priority_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"sla_id", STORE_COL_INT, {"slaid"}},
    {"response_time", STORE_COL_MONEY, {"responsetime"}},
    {"response_units", STORE_COL_TEXT, {"responseunits"}},
    {"fix_time", STORE_COL_MONEY, {"fixtime"}},
    {"fix_units", STORE_COL_TEXT, {"fixunits"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_tickettype_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"group_name", STORE_COL_TEXT, {"group_name"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_sla_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"track_response", STORE_COL_BOOL, {"trackslaresponsetime"}},
    {"track_fix", STORE_COL_BOOL, {"trackslafixbytime"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};
static const store_column_t s_client_cols[] = {
    {"name", STORE_COL_TEXT, {"name"}},
    {"toplevel_name", STORE_COL_TEXT, {"toplevel_name"}},
    {"inactive", STORE_COL_BOOL, {"inactive"}},
    {"is_vip", STORE_COL_BOOL, {"is_vip"}},
    {"last_update", STORE_COL_TIME, {"last_modified", "last_update", "lastupdate", "slastupdate", "ulastupdate"}},
};

#define S_COLS(a)                                                                                                      \
    {                                                                                                                  \
        a, sizeof a / sizeof a[0]                                                                                      \
    }

/* Names and tables come from halo_entity; this file holds the columns. */
static const struct {
    const store_column_t *cols;
    size_t ncols;
} s_entities[STORE_ENTITY_COUNT] = {
    [STORE_TICKET] = {s_ticket_cols, sizeof s_ticket_cols / sizeof s_ticket_cols[0]},
    [STORE_SITE] = {s_site_cols, sizeof s_site_cols / sizeof s_site_cols[0]},
    [STORE_USER] = {s_user_cols, sizeof s_user_cols / sizeof s_user_cols[0]},
    [STORE_INVOICE] = {s_invoice_cols, sizeof s_invoice_cols / sizeof s_invoice_cols[0]},
    [STORE_STATUS] = S_COLS(s_status_cols),
    [STORE_AGENT] = S_COLS(s_agent_cols),
    [STORE_TEAM] = S_COLS(s_team_cols),
    [STORE_PRIORITY] = S_COLS(s_priority_cols),
    [STORE_TICKETTYPE] = S_COLS(s_tickettype_cols),
    [STORE_SLA] = S_COLS(s_sla_cols),
    [STORE_CLIENT] = S_COLS(s_client_cols),
};

int store_entity_parse(const char *name)
{
    const halo_entity_t *entity = halo_entity_by_name(name);
    return entity ? (int)entity->id : -1;
}

const char *store_entity_name(store_entity_t entity)
{
    return halo_entity_at(entity)->name;
}

const char *store_entity_table(store_entity_t entity)
{
    return halo_entity_at(entity)->table;
}

const store_column_t *store_entity_columns(store_entity_t entity, size_t *count)
{
    *count = s_entities[entity].ncols;
    return s_entities[entity].cols;
}

int store_column_index(store_entity_t entity, const char *name)
{
    for (size_t i = 0; i < s_entities[entity].ncols; i++)
        if (strcmp(s_entities[entity].cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int store_last_update_index(store_entity_t entity)
{
    return store_column_index(entity, "last_update");
}

int store_normalize_time(const char *in, char *out, size_t outlen)
{
    halo_time_t t;
    int rc = halo_time_parse(in, &t);
    return rc != 0 ? rc : halo_time_format_pg(&t, out, outlen);
}

/* An integral JSON number as int64 into *out; false for anything else. */
static bool s_integral(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) > S_EXACT_DOUBLE_MAX)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

/* Converts one present JSON value v for column col into val. NULL err on success. */
static const char *s_convert(const store_column_t *col, const json_t *v, store_value_t *val)
{
    int64_t n;
    val->text = NULL;
    if (json_is_null(v))
        return NULL;
    switch (col->type) {
    case STORE_COL_TEXT:
        if (json_is_string(v)) {
            val->text = json_string_value(v);
        } else if (s_integral(v, &n)) {
            snprintf(val->buf, sizeof val->buf, "%" PRId64, n);
            val->text = val->buf;
        } else {
            return "expected a string";
        }
        return NULL;
    case STORE_COL_INT:
    case STORE_COL_BIGINT:
        if (!s_integral(v, &n))
            return "expected an integer id";
        if (n == S_ID_UNSET)
            return NULL;
        if (col->type == STORE_COL_INT && (n < INT32_MIN || n > INT32_MAX))
            return "integer out of range";
        snprintf(val->buf, sizeof val->buf, "%" PRId64, n);
        val->text = val->buf;
        return NULL;
    case STORE_COL_BOOL:
        if (json_is_boolean(v))
            val->text = json_is_true(v) ? "t" : "f";
        else if (s_integral(v, &n) && (n == 0 || n == 1))
            val->text = n ? "t" : "f";
        else
            return "expected a boolean";
        return NULL;
    case STORE_COL_TIME: {
        if (!json_is_string(v))
            return "expected a date string";
        int rc = store_normalize_time(json_string_value(v), val->buf, sizeof val->buf);
        if (rc < 0)
            return "not a date";
        val->text = rc == 0 ? val->buf : NULL;
        return NULL;
    }
    case STORE_COL_MONEY: {
        double d;
        if (json_is_number(v)) {
            d = json_number_value(v);
        } else if (json_is_string(v) && *json_string_value(v)) {
            char *end = NULL;
            d = strtod(json_string_value(v), &end);
            if (*end != '\0')
                return "expected an amount";
        } else {
            return "expected an amount";
        }
        if (!isfinite(d) || fabs(d) >= S_MONEY_MAX)
            return "amount out of range";
        /* 15 significant digits print a double's decimal value back exactly
         * (0.1 -> "0.1"); PostgreSQL rounds to the column's 2 decimals. */
        snprintf(val->buf, sizeof val->buf, "%.15g", d);
        val->text = val->buf;
        return NULL;
    }
    }
    return "unknown column type";
}

int store_normalize_object(store_entity_t entity, json_t *obj, int64_t expect_id, store_row_t *row, char *err,
                           size_t errlen)
{
    memset(row, 0, sizeof *row);
    row->entity = entity;
    if ((int)entity < 0 || entity >= STORE_ENTITY_COUNT) {
        snprintf(err, errlen, "unknown entity");
        return -1;
    }
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    row->id = expect_id;
    json_t *id = json_object_get(obj, "id");
    if (id) {
        int64_t n;
        if (!s_integral(id, &n)) {
            snprintf(err, errlen, "field id: expected an integer");
            return -1;
        }
        if (n != expect_id) {
            snprintf(err, errlen, "field id: %" PRId64 " differs from record id %" PRId64, n, expect_id);
            return -1;
        }
    }
    json_t *deleted = json_object_get(obj, "deleted");
    row->deleted = json_is_true(deleted);
    const store_column_t *cols = s_entities[entity].cols;
    row->ncols = s_entities[entity].ncols;
    for (size_t i = 0; i < row->ncols; i++) {
        store_value_t *val = &row->values[i];
        json_t *v = NULL;
        const char *field = NULL;
        for (int f = 0; f < STORE_FIELDS_MAX && cols[i].fields[f] && !v; f++) {
            field = cols[i].fields[f];
            v = json_object_get(obj, field);
        }
        if (!v)
            continue;
        val->present = true;
        const char *problem = s_convert(&cols[i], v, val);
        if (problem) {
            snprintf(err, errlen, "field %s: %s", field, problem);
            memset(row, 0, sizeof *row);
            return -1;
        }
    }
    row->json = json_incref(obj);
    return 0;
}

int store_normalize(store_entity_t entity, const char *json, size_t len, int64_t expect_id, store_row_t *row, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    memset(row, 0, sizeof *row);
    if (!json) {
        snprintf(err, errlen, "no JSON");
        return -1;
    }
    json_t *obj = json_loadb(json, len, 0, &jerr);
    if (!obj) {
        snprintf(err, errlen, "JSON does not parse: %s at %d", jerr.text, jerr.position);
        return -1;
    }
    int rc = store_normalize_object(entity, obj, expect_id, row, err, errlen);
    json_decref(obj);
    return rc;
}

const store_value_t *store_row_value(const store_row_t *row, const char *column)
{
    int i = store_column_index(row->entity, column);
    return i < 0 ? NULL : &row->values[i];
}

void store_row_clear(store_row_t *row)
{
    if (!row)
        return;
    json_decref(row->json);
    memset(row, 0, sizeof *row);
}

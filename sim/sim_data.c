/* sim_data: the simulated tenant's data behind one lock-free API (the
 * server holds its data lock around every call): naming, the list queries
 * Halo's endpoints answer (filters on the narrow columns kept beside the
 * rows, paging capped at 100, orders kept sorted), single objects, the dump,
 * and mutations with their bookkeeping (timestamps that only grow, versions,
 * tombstones, events). How rows are stored is in sim_rows, what they contain
 * in sim_gen, how they look in JSON in sim_render. */
#include "sim_data.h"

#include "sim_gen.h"
#include "sim_render.h"
#include "sim_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MUTATION_STREAM 0x6d75 /* random stream of mutation choices, apart from the data's */
#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const s_keys[SIM_ENTITY_COUNT] = {"tickets", "sites", "users", "invoices"};
static const char *const s_singular[SIM_ENTITY_COUNT] = {"ticket", "site", "user", "invoice"};

sim_data_t *sim_data_new(const sim_data_params_t *params)
{
    if (!params || params->tickets < 0 || params->sites < 0 || params->users < 0 || params->invoices < 0 ||
        params->tickets > SIM_DATA_MAX_ROWS || params->sites > SIM_DATA_MAX_ROWS || params->users > SIM_DATA_MAX_ROWS ||
        params->invoices > SIM_DATA_MAX_ROWS || params->epoch_ms <= SIM_GEN_SPAN_MS)
        return NULL;
    sim_data_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->params = *params;
    sim_rows_init(self);
    sim_rng_seed_stream(&self->rng, params->seed, S_MUTATION_STREAM, 0, 0);
    self->last_mutation_ms = params->epoch_ms;
    if (sim_gen_dataset(self) != 0)
        sim_data_destroy(&self);
    return self;
}

void sim_data_destroy(sim_data_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_data_t *self = *self_p;
    sim_rows_free(self);
    free(self->clients);
    free(self);
    *self_p = NULL;
}

sim_entity_t sim_entity_parse(const char *name)
{
    static const struct {
        const char *name;
        sim_entity_t e;
    } map[] = {{"tickets", SIM_ENTITY_TICKETS},  {"ticket", SIM_ENTITY_TICKETS},   {"site", SIM_ENTITY_SITES},
               {"sites", SIM_ENTITY_SITES},      {"users", SIM_ENTITY_USERS},      {"user", SIM_ENTITY_USERS},
               {"invoice", SIM_ENTITY_INVOICES}, {"invoices", SIM_ENTITY_INVOICES}};
    if (!name)
        return SIM_ENTITY_NONE;
    for (size_t i = 0; i < S_COUNT(map); i++)
        if (!strcasecmp(name, map[i].name))
            return map[i].e;
    return SIM_ENTITY_NONE;
}

const char *sim_entity_key(sim_entity_t entity)
{
    return (entity >= 0 && entity < SIM_ENTITY_COUNT) ? s_keys[entity] : "";
}

const char *sim_entity_singular(sim_entity_t entity)
{
    return (entity >= 0 && entity < SIM_ENTITY_COUNT) ? s_singular[entity] : "";
}

void sim_query_init(sim_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->page_size = SIM_PAGE_SIZE_DEFAULT;
    q->page_no = 1;
    q->lastupdate_from = q->lastupdate_to = -1;
    q->date_from = q->date_to = -1;
    q->include_active = true;
    q->include_closed = -1;
}

/* A query's filters as a test on the filter columns: a row passes when
 * (flags & mask) == want and from <= filter_ms <= to. */
typedef struct {
    uint8_t mask, want;
    bool none; /* contradictory filters (open_only and closed_only...): nothing passes */
    int64_t from, to;
} s_filter_t;

/* Turns a query into a test on the filter columns of entity e. */
static void s_filter_init(const sim_data_t *self, s_filter_t *flt, sim_entity_t e, const sim_query_t *q)
{
    flt->mask = SIM_ROW_DELETED;
    flt->want = 0;
    flt->none = false;
    int64_t from = q->lastupdate_from, to = q->lastupdate_to;
    switch (e) {
    case SIM_ENTITY_TICKETS:
        /* Without a filter, the tenant's default (--ticket-list): open only, or all. */
        if (q->open_only || q->closed_only || q->include_closed == 0 ||
            (q->include_closed < 0 && self->params.profile.ticket_list == SIM_TICKETS_OPEN))
            flt->mask |= SIM_ROW_CLOSED;
        if (q->closed_only)
            flt->want |= SIM_ROW_CLOSED;
        flt->none = q->open_only && q->closed_only;
        break;
    case SIM_ENTITY_SITES:
    case SIM_ENTITY_USERS:
        if (!q->include_inactive || !q->include_active)
            flt->mask |= SIM_ROW_INACTIVE;
        if (!q->include_active)
            flt->want |= SIM_ROW_INACTIVE;
        flt->none = !q->include_inactive && !q->include_active;
        break;
    default:
        /* Invoices have no last-update filter in Halo: lastupdatefromdate is
         * ignored; the spec's invoicedatestart/invoicedateend filter the
         * invoice date unless the profile says this Halo ignores them. */
        from = self->params.profile.invoice_filter == SIM_INVOICE_FILTER_SPEC ? q->date_from : -1;
        to = self->params.profile.invoice_filter == SIM_INVOICE_FILTER_SPEC ? q->date_to : -1;
        break;
    }
    /* -1 (and anything negative) means no bound. */
    flt->from = from >= 0 ? from : INT64_MIN;
    flt->to = to >= 0 ? to : INT64_MAX;
}

/* Whether row i of t passes flt. */
static bool s_filter_pass(const s_filter_t *flt, const sim_table_t *t, size_t i)
{
    return (t->flags[i] & flt->mask) == flt->want && t->filter_ms[i] >= flt->from && t->filter_ms[i] <= flt->to;
}

json_t *sim_data_list(sim_data_t *self, sim_entity_t e, const sim_query_t *q)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return NULL;
    sim_field_t f = sim_rows_field_parse(q->order);
    const uint32_t *order = NULL; /* NULL: id order, the rows' own */
    if (f != SIM_F_ID) {
        order = sim_rows_order_get(self, e, f);
        if (!order)
            return NULL;
    }
    s_filter_t flt;
    s_filter_init(self, &flt, e, q);
    size_t first = 0, size = SIZE_MAX;
    if (q->paginate) {
        size = (size_t)(q->page_size > 0 ? q->page_size : SIM_PAGE_SIZE_DEFAULT);
        if (size > SIM_PAGE_SIZE_MAX)
            size = SIM_PAGE_SIZE_MAX;
        first = (size_t)((q->page_no > 0 ? q->page_no : 1) - 1) * size;
    }
    json_t *rows = json_array(), *out = json_object();
    if (!rows || !out)
        goto fail;
    /* One pass over the narrow columns counts the matches (record_count) and
     * renders only the page's rows. */
    const sim_table_t *t = &self->tables[e];
    size_t n = flt.none ? 0 : t->n, matched = 0;
    for (size_t k = 0; k < n; k++) {
        size_t pos = q->orderdesc ? n - 1 - k : k;
        size_t i = order ? order[pos] : pos;
        if (!s_filter_pass(&flt, t, i))
            continue;
        if (matched >= first && matched - first < size &&
            json_array_append_new(rows, sim_render_row(self, e, i, SIM_VIEW_LIST)) != 0)
            goto fail;
        matched++;
    }
    if (q->paginate) {
        /* Halo echoes the page size asked for, even when it served fewer rows. */
        json_object_set_new(out, "page_no", json_integer(q->page_no > 0 ? q->page_no : 1));
        json_object_set_new(out, "page_size", json_integer(q->page_size > 0 ? q->page_size : SIM_PAGE_SIZE_DEFAULT));
    }
    json_object_set_new(out, "record_count", json_integer((json_int_t)matched));
    json_object_set_new(out, s_keys[e], rows);
    return out;
fail:
    json_decref(rows);
    json_decref(out);
    return NULL;
}

json_t *sim_data_get(sim_data_t *self, sim_entity_t e, int64_t id, sim_view_t view)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return NULL;
    long i = sim_rows_index(self, e, id);
    if (i < 0 || sim_rows_deleted(self, e, (size_t)i))
        return NULL;
    return sim_render_row(self, e, (size_t)i, view);
}

json_t *sim_data_dump(sim_data_t *self, sim_entity_t e)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return NULL;
    json_t *live = json_array(), *deleted = json_array();
    for (size_t i = 0; i < self->tables[e].n; i++) {
        if (sim_rows_deleted(self, e, i))
            json_array_append_new(deleted, json_integer((json_int_t)sim_rows_id(e, i)));
        else
            json_array_append_new(live, sim_render_row(self, e, i, SIM_VIEW_FULL));
    }
    json_t *out = json_object();
    json_object_set_new(out, "entity", json_string(s_keys[e]));
    json_object_set_new(out, "record_count", json_integer((json_int_t)json_array_size(live)));
    json_object_set_new(out, s_keys[e], live);
    json_object_set_new(out, "deleted_ids", deleted);
    return out;
}

size_t sim_data_count(const sim_data_t *self, sim_entity_t e, bool deleted)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return 0;
    size_t c = 0;
    for (size_t i = 0; i < self->tables[e].n; i++)
        c += sim_rows_deleted(self, e, i) == deleted;
    return c;
}

/* ------------------------------------------------------------- mutations */

static const char *const s_op_names[SIM_OP_COUNT] = {"new", "update", "delete", "restore"};

bool sim_mutation_kind_parse(const char *text, sim_entity_t *entity, sim_op_t *op)
{
    if (!text)
        return false;
    const char *us = strrchr(text, '_');
    if (!us || us == text)
        return false;
    char ent[16];
    size_t len = (size_t)(us - text);
    if (len >= sizeof(ent))
        return false;
    memcpy(ent, text, len);
    ent[len] = '\0';
    sim_entity_t e = sim_entity_parse(ent);
    if (e == SIM_ENTITY_NONE)
        return false;
    for (int o = 0; o < SIM_OP_COUNT; o++) {
        if (!strcasecmp(us + 1, s_op_names[o]) || (o == SIM_OP_NEW && !strcasecmp(us + 1, "create"))) {
            *entity = e;
            *op = (sim_op_t)o;
            return true;
        }
    }
    return false;
}

/* Event names and notification ids as Halo sends them. */
void sim_mutation_event(sim_mutation_t *m, bool status_changed)
{
    sim_entity_t e = m->entity;
    sim_op_t op = m->op;
    static const char *const names[SIM_ENTITY_COUNT][SIM_OP_COUNT] = {
        /* Halo has no ticket-deleted event among the seed's: a deleted ticket
         * shows up as "Ticket Changed" and fetching it gives 404. */
        {"New Ticket Logged", "Ticket Changed", "Ticket Changed", "Ticket Changed"},
        {"Site created", "Site updated", "Site deleted", "Site updated"},
        {"User created", "User updated", "User deleted", "User updated"},
        {"Invoice created", "Invoice updated", "Invoice deleted", "Invoice updated"}};
    static const int ids[SIM_ENTITY_COUNT][SIM_OP_COUNT] = {
        {1, 2, 2, 2}, {11, 12, 13, 12}, {21, 22, 23, 22}, {31, 32, 33, 32}};
    m->event = names[e][op];
    m->notification_id = ids[e][op];
    if (status_changed) {
        m->event = "ticket status changed";
        m->notification_id = 41;
    }
}

/* Mutation time: wall now, but strictly after every earlier mutation and after
 * the object's own last update, so last-update fields only ever grow. */
static int64_t s_stamp(sim_data_t *self, int64_t now_ms, int64_t prev)
{
    int64_t t = now_ms;
    if (t <= self->last_mutation_ms)
        t = self->last_mutation_ms + 1;
    if (t <= prev)
        t = prev + 1;
    self->last_mutation_ms = t;
    return t;
}

/* The last-update field of row i of e, and its version counter in *version. */
static int64_t *s_lastupdate_ptr(sim_data_t *self, sim_entity_t e, size_t i, uint32_t **version)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        sim_ticket_row_t *t = sim_rows_row(self, e, i);
        *version = &t->version;
        return &t->lastupdate;
    }
    case SIM_ENTITY_SITES: {
        sim_site_row_t *s = sim_rows_row(self, e, i);
        *version = &s->version;
        return &s->lastupdate;
    }
    case SIM_ENTITY_USERS: {
        sim_user_row_t *u = sim_rows_row(self, e, i);
        *version = &u->version;
        return &u->lastupdate;
    }
    default: {
        sim_invoice_row_t *v = sim_rows_row(self, e, i);
        *version = &v->version;
        return &v->lastupdate;
    }
    }
}

int sim_data_mutate(sim_data_t *self, sim_entity_t e, sim_op_t op, int64_t id, int64_t now_ms, sim_mutation_t *out,
                    char *err, size_t errlen)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT || op < 0 || op >= SIM_OP_COUNT) {
        snprintf(err, errlen, "unknown mutation kind");
        return -1;
    }
    long i = -1;
    bool status_changed = false;
    if (op == SIM_OP_NEW) {
        if (id != 0) {
            snprintf(err, errlen, "new objects get the next id; do not pass one");
            return -1;
        }
        i = sim_gen_create(self, e, s_stamp(self, now_ms, 0));
        if (i < 0) {
            snprintf(err, errlen, "table full");
            return -1;
        }
    } else {
        bool want_deleted = op == SIM_OP_RESTORE;
        if (id != 0) {
            i = sim_rows_index(self, e, id);
            if (i < 0) {
                snprintf(err, errlen, "no %s %lld", s_singular[e], (long long)id);
                return -1;
            }
        } else {
            size_t n = self->tables[e].n;
            size_t start = n ? (size_t)sim_rng_range(&self->rng, 0, (int64_t)n - 1) : 0;
            for (size_t k = 0; k < n && i < 0; k++)
                if (sim_rows_deleted(self, e, (start + k) % n) == want_deleted)
                    i = (long)((start + k) % n);
            if (i < 0) {
                snprintf(err, errlen, "no %s %s to %s", want_deleted ? "deleted" : "live", s_singular[e],
                         s_op_names[op]);
                return -1;
            }
        }
        if (sim_rows_deleted(self, e, (size_t)i) != want_deleted) {
            snprintf(err, errlen, "%s %lld is %s", s_singular[e], (long long)id,
                     want_deleted ? "not deleted" : "deleted");
            return -1;
        }
        uint32_t *version;
        int64_t *lu = s_lastupdate_ptr(self, e, (size_t)i, &version);
        int64_t now = s_stamp(self, now_ms, *lu);
        if (op == SIM_OP_UPDATE) {
            sim_gen_update(self, e, (size_t)i, now, &status_changed);
        } else {
            sim_rows_set_deleted(self, e, (size_t)i, op == SIM_OP_DELETE);
            *lu = now;
        }
        (*version)++;
    }
    /* The one place rows change after generation: keep what the lists read in step. */
    sim_rows_reindex(self, e, (size_t)i);
    sim_rows_order_update(self, e, (size_t)i, op == SIM_OP_NEW);
    self->mutations++;
    memset(out, 0, sizeof(*out));
    out->entity = e;
    out->op = op;
    out->id = sim_rows_id(e, (size_t)i);
    sim_mutation_event(out, status_changed);
    return 0;
}

int sim_data_mutate_random(sim_data_t *self, const bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT], int64_t now_ms,
                           sim_mutation_t *out)
{
    static const double weights[SIM_OP_COUNT] = {2.0, 6.0, 1.5, 0.5};
    char err[128];
    /* A kind can be impossible (nothing to restore): retry a few draws. */
    for (int attempt = 0; attempt < 16; attempt++) {
        double total = 0.0;
        for (int e = 0; e < SIM_ENTITY_COUNT; e++)
            for (int o = 0; o < SIM_OP_COUNT; o++)
                if (!allowed || allowed[e][o])
                    total += weights[o];
        if (total <= 0.0)
            return -1;
        double u = sim_rng_unit(&self->rng) * total;
        for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
            for (int o = 0; o < SIM_OP_COUNT; o++) {
                if (allowed && !allowed[e][o])
                    continue;
                u -= weights[o];
                if (u < 0.0) {
                    if (sim_data_mutate(self, (sim_entity_t)e, (sim_op_t)o, 0, now_ms, out, err, sizeof(err)) == 0)
                        return 0;
                    goto next_attempt;
                }
            }
        }
    next_attempt:;
    }
    return -1;
}

int64_t sim_data_random_id(sim_data_t *self, sim_entity_t entity, sim_rng_t *rng)
{
    if (entity < 0 || entity >= SIM_ENTITY_COUNT)
        return -1;
    long i = sim_rows_pick_live(self, entity, rng);
    return i < 0 ? -1 : sim_rows_id(entity, (size_t)i);
}

uint64_t sim_data_mutations(const sim_data_t *self)
{
    return self->mutations;
}

/* sim_rows: the row tables of sim_data with the filter columns and sort
 * orders kept beside them (see sim_rows.h). A list page must not cost a pass
 * over every 200-byte row nor a sort per request: the filters read two narrow
 * columns, and each sort order asked for is built once and then kept sorted
 * by every mutation (a binary search and two memory moves). */
#include "sim_rows.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Id bases differ per entity so a client_id mistaken for a site_id shows. */
#define S_CLIENT_ID_BASE 12
#define S_SITE_ID_BASE 18
#define S_USER_ID_BASE 3
#define S_TICKET_ID_BASE 1
#define S_INVOICE_ID_BASE 1001

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(SIM_DATA_MAX_ROWS <= UINT32_MAX, "sort orders hold row indexes as uint32_t");

static const int64_t s_id_base[SIM_ENTITY_COUNT] = {S_TICKET_ID_BASE, S_SITE_ID_BASE, S_USER_ID_BASE,
                                                    S_INVOICE_ID_BASE};

void sim_rows_init(sim_data_t *self)
{
    self->tables[SIM_ENTITY_TICKETS].size = sizeof(sim_ticket_row_t);
    self->tables[SIM_ENTITY_SITES].size = sizeof(sim_site_row_t);
    self->tables[SIM_ENTITY_USERS].size = sizeof(sim_user_row_t);
    self->tables[SIM_ENTITY_INVOICES].size = sizeof(sim_invoice_row_t);
}

void sim_rows_free(sim_data_t *self)
{
    for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
        sim_table_t *t = &self->tables[e];
        free(t->rows);
        free(t->flags);
        free(t->filter_ms);
        for (int f = 0; f < SIM_F_COUNT; f++)
            free(t->order[f]);
    }
}

void *sim_rows_row(const sim_data_t *self, sim_entity_t e, size_t i)
{
    const sim_table_t *t = &self->tables[e];
    return (char *)t->rows + i * t->size;
}

/* Grows *p to cap elements of size bytes; false (and *p unchanged) when out of memory. */
static bool s_grow(void **p, size_t cap, size_t size)
{
    void *grown = realloc(*p, cap * size);
    if (!grown)
        return false;
    *p = grown;
    return true;
}

/* Appends a zeroed row; returns its index or -1 when full or out of memory. */
long sim_rows_append(sim_data_t *self, sim_entity_t e)
{
    sim_table_t *t = &self->tables[e];
    if (t->n >= SIM_DATA_MAX_ROWS)
        return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        /* Arrays already grown stay grown when a later one fails: cap is what all of them hold. */
        if (!s_grow(&t->rows, cap, t->size) || !s_grow((void **)&t->flags, cap, sizeof(*t->flags)) ||
            !s_grow((void **)&t->filter_ms, cap, sizeof(*t->filter_ms)))
            return -1;
        for (int f = 0; f < SIM_F_COUNT; f++) {
            /* A sort order that cannot grow is dropped: the next ordered list rebuilds it. */
            if (t->order[f] && !s_grow((void **)&t->order[f], cap, sizeof(*t->order[f]))) {
                free(t->order[f]);
                t->order[f] = NULL;
            }
        }
        t->cap = cap;
    }
    memset((char *)t->rows + t->n * t->size, 0, t->size);
    t->flags[t->n] = 0;
    t->filter_ms[t->n] = 0;
    return (long)t->n++;
}

int64_t sim_rows_id(sim_entity_t e, size_t index)
{
    return s_id_base[e] + (int64_t)index;
}

/* Index of id in entity e, or -1. */
long sim_rows_index(const sim_data_t *self, sim_entity_t e, int64_t id)
{
    int64_t i = id - s_id_base[e];
    if (i < 0 || (size_t)i >= self->tables[e].n)
        return -1;
    return (long)i;
}

bool sim_rows_deleted(const sim_data_t *self, sim_entity_t e, size_t i)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: return ((sim_ticket_row_t *)sim_rows_row(self, e, i))->deleted;
    case SIM_ENTITY_SITES: return ((sim_site_row_t *)sim_rows_row(self, e, i))->deleted;
    case SIM_ENTITY_USERS: return ((sim_user_row_t *)sim_rows_row(self, e, i))->deleted;
    case SIM_ENTITY_INVOICES: return ((sim_invoice_row_t *)sim_rows_row(self, e, i))->deleted;
    default: return true;
    }
}

void sim_rows_set_deleted(sim_data_t *self, sim_entity_t e, size_t i, bool deleted)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: ((sim_ticket_row_t *)sim_rows_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_SITES: ((sim_site_row_t *)sim_rows_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_USERS: ((sim_user_row_t *)sim_rows_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_INVOICES: ((sim_invoice_row_t *)sim_rows_row(self, e, i))->deleted = deleted; break;
    default: break;
    }
}

/* Refreshes row i's filter columns from the row. */
void sim_rows_reindex(sim_data_t *self, sim_entity_t e, size_t i)
{
    sim_table_t *t = &self->tables[e];
    uint8_t flags = 0;
    int64_t ms = 0;
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        const sim_ticket_row_t *r = sim_rows_row(self, e, i);
        flags = (r->deleted ? SIM_ROW_DELETED : 0) | (r->status_id == SIM_STATUS_CLOSED ? SIM_ROW_CLOSED : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_SITES: {
        const sim_site_row_t *r = sim_rows_row(self, e, i);
        flags = (r->deleted ? SIM_ROW_DELETED : 0) | (r->inactive ? SIM_ROW_INACTIVE : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_USERS: {
        const sim_user_row_t *r = sim_rows_row(self, e, i);
        flags = (r->deleted ? SIM_ROW_DELETED : 0) | (r->inactive ? SIM_ROW_INACTIVE : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_INVOICES: {
        const sim_invoice_row_t *r = sim_rows_row(self, e, i);
        flags = r->deleted ? SIM_ROW_DELETED : 0;
        ms = r->invoice_date; /* invoices have no last-update filter, only an invoice-date window */
        break;
    }
    default: return;
    }
    t->flags[i] = (uint8_t)flags;
    t->filter_ms[i] = ms;
}

/* Live row index of entity e picked at random, or -1 when there is none. */
long sim_rows_pick_live(sim_data_t *self, sim_entity_t e, sim_rng_t *r)
{
    size_t n = self->tables[e].n;
    if (n == 0)
        return -1;
    size_t start = (size_t)sim_rng_range(r, 0, (int64_t)n - 1);
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!sim_rows_deleted(self, e, i))
            return (long)i;
    }
    return -1;
}

const char *sim_rows_client_name(const sim_data_t *self, int client)
{
    return client >= 0 && client < self->nclients ? self->clients[client].name : "";
}

int64_t sim_rows_client_id(int client)
{
    return client >= 0 ? S_CLIENT_ID_BASE + client : -1;
}

sim_field_t sim_rows_field_parse(const char *name)
{
    static const struct {
        const char *name;
        sim_field_t f;
    } map[] = {{"summary", SIM_F_NAME},           {"name", SIM_F_NAME},
               {"invoicenumber", SIM_F_NAME},     {"last_update", SIM_F_LASTUPDATE},
               {"lastupdate", SIM_F_LASTUPDATE},  {"slastupdate", SIM_F_LASTUPDATE},
               {"ulastupdate", SIM_F_LASTUPDATE}, {"last_modified", SIM_F_LASTUPDATE},
               {"dateoccurred", SIM_F_DATE},      {"datecreated", SIM_F_DATE},
               {"invoice_date", SIM_F_DATE},      {"client_name", SIM_F_CLIENT},
               {"status_id", SIM_F_STATUS},       {"total", SIM_F_TOTAL}};
    if (name)
        for (size_t i = 0; i < S_COUNT(map); i++)
            if (!strcasecmp(name, map[i].name))
                return map[i].f;
    return SIM_F_ID; /* Halo ignores what it does not know */
}

/* Numeric sort key (or string via *str) of row i for field f. */
static int64_t s_key(const sim_data_t *self, sim_entity_t e, size_t i, sim_field_t f, const char **str)
{
    *str = NULL;
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        const sim_ticket_row_t *t = sim_rows_row(self, e, i);
        switch (f) {
        case SIM_F_NAME: *str = t->summary; return 0;
        case SIM_F_LASTUPDATE: return t->lastupdate;
        case SIM_F_DATE: return t->dateoccurred;
        case SIM_F_CLIENT: *str = sim_rows_client_name(self, t->client); return 0;
        case SIM_F_STATUS: return t->status_id;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_SITES: {
        const sim_site_row_t *s = sim_rows_row(self, e, i);
        switch (f) {
        case SIM_F_NAME: *str = s->name; return 0;
        case SIM_F_LASTUPDATE: return s->lastupdate;
        case SIM_F_CLIENT: *str = sim_rows_client_name(self, s->client); return 0;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_USERS: {
        const sim_user_row_t *u = sim_rows_row(self, e, i);
        switch (f) {
        case SIM_F_NAME: *str = u->first; return 0;
        case SIM_F_LASTUPDATE: return u->lastupdate;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_INVOICES: {
        const sim_invoice_row_t *v = sim_rows_row(self, e, i);
        switch (f) {
        case SIM_F_LASTUPDATE: return v->lastupdate;
        case SIM_F_DATE: return v->invoice_date;
        case SIM_F_CLIENT: *str = sim_rows_client_name(self, v->client); return 0;
        case SIM_F_TOTAL: return v->net_cents + v->tax_cents;
        default: return (int64_t)i;
        }
    }
    default: return (int64_t)i;
    }
}

/* Halo's order: by the field (strings case-insensitively), ties by id. A
 * strict total order, so an order kept sorted is unique and its reverse is
 * the descending order. */
static int s_order_cmp(int64_t ka, const char *sa, size_t ia, int64_t kb, const char *sb, size_t ib)
{
    int r;
    if (sa && sb)
        r = strcasecmp(sa, sb);
    else
        r = (ka > kb) - (ka < kb);
    if (r == 0)
        r = (ia > ib) - (ia < ib);
    return r;
}

/* Compares rows a and b of e by field f. */
static int s_row_cmp(const sim_data_t *self, sim_entity_t e, sim_field_t f, size_t a, size_t b)
{
    const char *sa, *sb;
    int64_t ka = s_key(self, e, a, f, &sa);
    int64_t kb = s_key(self, e, b, f, &sb);
    return s_order_cmp(ka, sa, a, kb, sb, b);
}

/* A row's sort key copied out for building an order: the sort then reads each
 * row once, not twice per comparison. */
typedef struct {
    int64_t key;
    const char *str; /* borrowed from the row; NULL for numeric keys */
    uint32_t row;
} s_sort_key_t;

/* qsort comparator of copied sort keys (s_order_cmp). */
static int s_sort_key_cmp(const void *a, const void *b)
{
    const s_sort_key_t *x = a, *y = b;
    return s_order_cmp(x->key, x->str, x->row, y->key, y->str, y->row);
}

/* Row indexes of e in ascending order of f, built on first use and kept
 * sorted by sim_rows_order_update(); borrowed, NULL when out of memory. */
const uint32_t *sim_rows_order_get(sim_data_t *self, sim_entity_t e, sim_field_t f)
{
    sim_table_t *t = &self->tables[e];
    if (t->order[f])
        return t->order[f];
    size_t n = t->n;
    uint32_t *order = malloc((t->cap ? t->cap : 1) * sizeof(*order));
    s_sort_key_t *keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!order || !keys) {
        free(order);
        free(keys);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i].key = s_key(self, e, i, f, &keys[i].str);
        keys[i].row = (uint32_t)i;
    }
    qsort(keys, n, sizeof(*keys), s_sort_key_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].row;
    free(keys);
    t->order[f] = order;
    return order;
}

/* Moves row i to its place in every built order of e after a mutation changed
 * it; `appended` when i is a new row, not in the orders yet. O(rows) memory
 * moves per order, far less than rebuilding it. */
void sim_rows_order_update(sim_data_t *self, sim_entity_t e, size_t i, bool appended)
{
    sim_table_t *t = &self->tables[e];
    size_t others = t->n - 1; /* entries other than i */
    for (int f = 0; f < SIM_F_COUNT; f++) {
        uint32_t *order = t->order[f];
        if (!order)
            continue;
        if (!appended) {
            size_t at = 0;
            while (at < others && order[at] != i)
                at++;
            assert(order[at] == i); /* every row is in every built order */
            memmove(order + at, order + at + 1, (others - at) * sizeof(*order));
        }
        size_t lo = 0, hi = others;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s_row_cmp(self, e, (sim_field_t)f, order[mid], i) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(order + lo + 1, order + lo, (others - lo) * sizeof(*order));
        order[lo] = (uint32_t)i;
    }
}

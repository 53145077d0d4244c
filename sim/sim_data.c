/* sim_data: the simulated tenant's objects as compact C rows, rendered to
 * Halo-shaped JSON on demand. Generation draws each object from its own
 * random stream (seed, entity, index), so one object does not change when
 * another size changes, and 100,000 tickets generate in well under a second.
 * Ids are base + index, so an id finds its row in O(1); deleted rows stay in
 * place with a flag (tombstones for /_sim/dump). A list page must not cost a
 * pass over every 200-byte row nor a sort per request: the filters read two
 * narrow columns kept beside the rows, and each sort order asked for is built
 * once and then kept sorted by every mutation. */
#include "sim_data.h"

#include "sim_util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_DAY_MS (24LL * 3600 * 1000)
#define S_HOUR_MS (3600LL * 1000)
#define S_MIN_MS (60LL * 1000)
#define S_SPAN_MS (365 * S_DAY_MS) /* generated history length */

/* Id bases differ per entity so a client_id mistaken for a site_id shows. */
#define S_CLIENT_ID_BASE 12
#define S_SITE_ID_BASE 18
#define S_USER_ID_BASE 3
#define S_TICKET_ID_BASE 1
#define S_INVOICE_ID_BASE 1001
#define S_SITES_PER_CLIENT 3
#define S_AGENTS 12
#define S_STATUS_CLOSED 9
#define S_TAX_PERCENT 20
#define S_INVOICE_LINES_MAX 5
#define S_TEXT_MAX 96

/* Per-row quirk bits, drawn once per object. */
#define Q_LASTUPDATE_NO_US 0x01u /* ticket: "lastupdate" instead of "last_update" */
#define Q_CATEGORY1 0x02u        /* ticket: "category1" instead of "category_1" */
#define Q_CLIENT_DOUBLE 0x04u    /* client_id rendered as 21.0 */
#define Q_SITE_DOUBLE 0x08u      /* site_id rendered as 18.0 */
#define Q_FRACTION 0x10u         /* dates with milliseconds */
#define Q_NO_DUEDATE 0x20u       /* invoice: duedate 1900 (empty) */
#define Q_USER_DOUBLE 0x40u      /* user_id rendered as 3.0 */

typedef struct {
    char name[S_TEXT_MAX];
} s_client_t;

typedef struct {
    int client; /* index */
    char name[S_TEXT_MAX];
    char phone[24];
    char city[32];
    int64_t lastupdate;
    int maincontact; /* user index or -1 */
    uint32_t quirks, version;
    bool inactive, deleted;
} s_site_t;

typedef struct {
    int site; /* index or -1 */
    char first[24], last[32];
    char email[160];
    char phone[24];
    char jobtitle[32];
    int64_t lastupdate;
    uint32_t quirks, version;
    bool inactive, important, deleted;
} s_user_t;

typedef struct {
    int user, site, client; /* indexes or -1 */
    int status_id, agent_id, team, priority_id, tickettype_id, sla_id, category;
    int64_t dateoccurred, fixby, respondby, response, closed, lastupdate;
    char summary[S_TEXT_MAX];
    uint32_t quirks, version;
    bool deleted;
} s_ticket_t;

typedef struct {
    int client, site; /* indexes or -1 */
    int64_t invoice_date, duedate, lastupdate;
    int64_t net_cents, tax_cents, paid_cents;
    uint32_t quirks, version;
    bool posted, deleted;
} s_invoice_t;

/* Sort fields of the list endpoints (Halo's "order" parameter). */
typedef enum { F_ID = 0, F_NAME, F_LASTUPDATE, F_DATE, F_CLIENT, F_STATUS, F_TOTAL, F_COUNT } s_field_t;

/* Bits of a row that the list filters read. */
#define S_ROW_DELETED 0x01u
#define S_ROW_INACTIVE 0x02u
#define S_ROW_CLOSED 0x04u

/* A growable array of rows of one size, plus what the list endpoints read on
 * every request: the filter columns (flags, and the date the date filters
 * compare: last update, or invoice date for invoices), refreshed by
 * s_index_row() after generation and after each mutation, the only times a
 * row changes; and per sort field, the row indexes in ascending order (NULL
 * until first asked for), with the same capacity as the rows. */
typedef struct {
    void *rows;
    uint8_t *flags;     /* S_ROW_* */
    int64_t *filter_ms; /* epoch ms */
    uint32_t *order[F_COUNT];
    size_t n, cap, size;
} s_table_t;
_Static_assert(SIM_DATA_MAX_ROWS <= UINT32_MAX, "sort orders hold row indexes as uint32_t");

struct _sim_data_t {
    sim_data_params_t params;
    s_client_t *clients;
    int nclients;
    s_table_t tables[SIM_ENTITY_COUNT];
    sim_rng_t rng; /* mutation choices */
    int64_t last_mutation_ms;
    uint64_t mutations;
};

static const int64_t s_id_base[SIM_ENTITY_COUNT] = {S_TICKET_ID_BASE, S_SITE_ID_BASE, S_USER_ID_BASE,
                                                    S_INVOICE_ID_BASE};
static const char *const s_keys[SIM_ENTITY_COUNT] = {"tickets", "sites", "users", "invoices"};
static const char *const s_singular[SIM_ENTITY_COUNT] = {"ticket", "site", "user", "invoice"};

static const char *const s_adjectives[] = {"Northwind", "Contoso",  "Blue Harbour", "Redwood",     "Silverline",
                                           "Oakfield",  "Granite",  "Summit",       "Brightwater", "Ironbridge",
                                           "Kestrel",   "Meridian", "Pinecrest",    "Harbourview", "Lakeside"};
static const char *const s_nouns[] = {"Logistics",  "Dental",     "Accountants", "Engineering", "Legal",
                                      "Properties", "Foods",      "Veterinary",  "Architects",  "Motors",
                                      "Pharmacy",   "Consulting", "Builders",    "Media",       "Care Homes"};
static const char *const s_suffixes[] = {"Ltd", "LLC", "Group", "& Co", "Inc", "Partners"};
static const char *const s_cities[] = {"Leeds", "Bristol", "Manchester", "Glasgow", "Cardiff", "Belfast",
                                       "York",  "Norwich", "Exeter",     "Dundee",  "Zürich",  "Köln"};
static const char *const s_firsts[] = {"Alice", "Bob",   "Chloé",     "Dev",  "Emma", "Farid", "Grace",  "Hiro",
                                       "Isla",  "Jamal", "Katarzyna", "Liam", "Mia",  "Noah",  "Olivia", "Priya"};
static const char *const s_lasts[] = {"Smith",    "Jones", "O'Brien", "Nguyen", "Patel", "Müller", "García",
                                      "Kowalski", "Brown", "Taylor",  "Wilson", "Evans", "Chen",   "Okafor"};
static const char *const s_jobs[] = {"Office Manager",   "Director",   "Receptionist", "Accountant",
                                     "Practice Manager", "IT Contact", "Engineer"};
static const char *const s_teams[] = {"1st Line Support", "2nd Line Support", "Projects", "Field Services",
                                      "Service Desk"};
static const char *const s_categories[] = {"Hardware", "Software", "Network", "Email", "Printing", "Access & Accounts"};
static const char *const s_problems[] = {
    "Printer not working",  "Cannot log in to email", "Laptop running slow",         "VPN keeps disconnecting",
    "New starter setup",    "Password reset",         "Outlook \"not responding\"",  "Wi-Fi down in meeting room",
    "Request: new monitor", "Backup job failed",      "Phone system – no dial tone", "Shared drive access",
    "Teams calls dropping"};
static const char *const s_items[] = {
    "Managed Service - Per User", "Microsoft 365 Business Premium", "Backup Storage 1TB",  "On-site Labour (hour)",
    "Firewall Licence",           "Remote Support (hour)",          "Laptop Dell Latitude"};
static const int s_item_cents[] = {3500, 1800, 4999, 8500, 12000, 6500, 94999};
static const int s_statuses_open[] = {1, 2, 3, 4, 5};
static const int s_priority_hours[] = {4, 8, 24, 72};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- tables */

static void *s_row(const sim_data_t *self, sim_entity_t e, size_t i)
{
    const s_table_t *t = &self->tables[e];
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
static long s_append(sim_data_t *self, sim_entity_t e)
{
    s_table_t *t = &self->tables[e];
    if (t->n >= SIM_DATA_MAX_ROWS)
        return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        /* Arrays already grown stay grown when a later one fails: cap is what all of them hold. */
        if (!s_grow(&t->rows, cap, t->size) || !s_grow((void **)&t->flags, cap, sizeof(*t->flags)) ||
            !s_grow((void **)&t->filter_ms, cap, sizeof(*t->filter_ms)))
            return -1;
        for (int f = 0; f < F_COUNT; f++) {
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

static int64_t s_id(sim_entity_t e, size_t index)
{
    return s_id_base[e] + (int64_t)index;
}

/* Index of id in entity e, or -1. */
static long s_index(const sim_data_t *self, sim_entity_t e, int64_t id)
{
    int64_t i = id - s_id_base[e];
    if (i < 0 || (size_t)i >= self->tables[e].n)
        return -1;
    return (long)i;
}

static bool s_deleted(const sim_data_t *self, sim_entity_t e, size_t i)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: return ((s_ticket_t *)s_row(self, e, i))->deleted;
    case SIM_ENTITY_SITES: return ((s_site_t *)s_row(self, e, i))->deleted;
    case SIM_ENTITY_USERS: return ((s_user_t *)s_row(self, e, i))->deleted;
    case SIM_ENTITY_INVOICES: return ((s_invoice_t *)s_row(self, e, i))->deleted;
    default: return true;
    }
}

static void s_set_deleted(sim_data_t *self, sim_entity_t e, size_t i, bool deleted)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: ((s_ticket_t *)s_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_SITES: ((s_site_t *)s_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_USERS: ((s_user_t *)s_row(self, e, i))->deleted = deleted; break;
    case SIM_ENTITY_INVOICES: ((s_invoice_t *)s_row(self, e, i))->deleted = deleted; break;
    default: break;
    }
}

/* Refreshes row i's filter columns from the row. */
static void s_index_row(sim_data_t *self, sim_entity_t e, size_t i)
{
    s_table_t *t = &self->tables[e];
    uint8_t flags = 0;
    int64_t ms = 0;
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        const s_ticket_t *r = s_row(self, e, i);
        flags = (r->deleted ? S_ROW_DELETED : 0) | (r->status_id == S_STATUS_CLOSED ? S_ROW_CLOSED : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_SITES: {
        const s_site_t *r = s_row(self, e, i);
        flags = (r->deleted ? S_ROW_DELETED : 0) | (r->inactive ? S_ROW_INACTIVE : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_USERS: {
        const s_user_t *r = s_row(self, e, i);
        flags = (r->deleted ? S_ROW_DELETED : 0) | (r->inactive ? S_ROW_INACTIVE : 0);
        ms = r->lastupdate;
        break;
    }
    case SIM_ENTITY_INVOICES: {
        const s_invoice_t *r = s_row(self, e, i);
        flags = r->deleted ? S_ROW_DELETED : 0;
        ms = r->invoice_date; /* invoices have no last-update filter, only an invoice-date window */
        break;
    }
    default: return;
    }
    t->flags[i] = (uint8_t)flags;
    t->filter_ms[i] = ms;
}

/* ------------------------------------------------------------ generation */

static uint32_t s_draw_quirks(sim_rng_t *r)
{
    uint32_t q = 0;
    if (sim_rng_chance(r, 0.3))
        q |= Q_LASTUPDATE_NO_US;
    if (sim_rng_chance(r, 0.3))
        q |= Q_CATEGORY1;
    if (sim_rng_chance(r, 0.25))
        q |= Q_CLIENT_DOUBLE;
    if (sim_rng_chance(r, 0.15))
        q |= Q_SITE_DOUBLE;
    if (sim_rng_chance(r, 0.5))
        q |= Q_FRACTION;
    if (sim_rng_chance(r, 0.1))
        q |= Q_NO_DUEDATE;
    if (sim_rng_chance(r, 0.1))
        q |= Q_USER_DOUBLE;
    return q;
}

static void s_phone(sim_rng_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "0%d %04d %04d", (int)sim_rng_range(r, 113, 199), (int)sim_rng_range(r, 0, 9999),
             (int)sim_rng_range(r, 0, 9999));
}

/* Lowercase ASCII letters of text (for e-mail addresses). */
static void s_slug(const char *text, char *buf, size_t len)
{
    size_t j = 0;
    for (const char *p = text; *p && j + 1 < len; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z')
            buf[j++] = c;
    }
    buf[j] = '\0';
}

static void s_gen_site(sim_data_t *self, size_t i, int client, int64_t lastupdate, sim_rng_t *r)
{
    s_site_t *s = s_row(self, SIM_ENTITY_SITES, i);
    s->client = client;
    snprintf(s->city, sizeof(s->city), "%s", sim_rng_pick(r, s_cities, S_COUNT(s_cities)));
    if (sim_rng_chance(r, 0.3))
        snprintf(s->name, sizeof(s->name), "Head Office");
    else
        snprintf(s->name, sizeof(s->name), "%s %s", s->city, sim_rng_chance(r, 0.5) ? "Office" : "Branch");
    s_phone(r, s->phone, sizeof(s->phone));
    s->lastupdate = lastupdate;
    s->maincontact = -1;
    s->quirks = s_draw_quirks(r);
    s->inactive = sim_rng_chance(r, 0.08);
}

static void s_gen_user(sim_data_t *self, size_t i, int site, int64_t lastupdate, sim_rng_t *r)
{
    s_user_t *u = s_row(self, SIM_ENTITY_USERS, i);
    u->site = site;
    snprintf(u->first, sizeof(u->first), "%s", sim_rng_pick(r, s_firsts, S_COUNT(s_firsts)));
    snprintf(u->last, sizeof(u->last), "%s", sim_rng_pick(r, s_lasts, S_COUNT(s_lasts)));
    char f[24], l[32], dom[48] = "example";
    s_slug(u->first, f, sizeof(f));
    s_slug(u->last, l, sizeof(l));
    if (site >= 0) {
        const s_site_t *s = s_row(self, SIM_ENTITY_SITES, (size_t)site);
        s_slug(self->clients[s->client].name, dom, sizeof(dom));
    }
    snprintf(u->email, sizeof(u->email), "%s.%s%zu@%s.test", f, l, i, dom);
    s_phone(r, u->phone, sizeof(u->phone));
    snprintf(u->jobtitle, sizeof(u->jobtitle), "%s", sim_rng_pick(r, s_jobs, S_COUNT(s_jobs)));
    u->lastupdate = lastupdate;
    u->quirks = s_draw_quirks(r);
    u->inactive = sim_rng_chance(r, 0.07);
    u->important = sim_rng_chance(r, 0.15);
}

/* Live row index of entity e picked at random, or -1 when there is none. */
static long s_pick_live(sim_data_t *self, sim_entity_t e, sim_rng_t *r)
{
    size_t n = self->tables[e].n;
    if (n == 0)
        return -1;
    size_t start = (size_t)sim_rng_range(r, 0, (int64_t)n - 1);
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!s_deleted(self, e, i))
            return (long)i;
    }
    return -1;
}

/* Fills ticket i as logged at `occurred`, last changed at lastupdate (<= now_ms). */
static void s_gen_ticket(sim_data_t *self, size_t i, int64_t occurred, int64_t lastupdate, bool fresh, sim_rng_t *r)
{
    s_ticket_t *t = s_row(self, SIM_ENTITY_TICKETS, i);
    t->user = (int)s_pick_live(self, SIM_ENTITY_USERS, r);
    if (t->user >= 0) {
        t->site = ((s_user_t *)s_row(self, SIM_ENTITY_USERS, (size_t)t->user))->site;
    } else {
        t->site = (int)s_pick_live(self, SIM_ENTITY_SITES, r);
    }
    t->client = t->site >= 0 ? ((s_site_t *)s_row(self, SIM_ENTITY_SITES, (size_t)t->site))->client : -1;
    snprintf(t->summary, sizeof(t->summary), "%s", sim_rng_pick(r, s_problems, S_COUNT(s_problems)));
    t->priority_id = (int)sim_rng_range(r, 1, 4);
    t->team = (int)sim_rng_range(r, 0, S_COUNT(s_teams) - 1);
    t->tickettype_id = (int)sim_rng_range(r, 1, 4);
    t->sla_id = sim_rng_chance(r, 0.8) ? 1 : -1;
    t->category = (int)sim_rng_range(r, 0, S_COUNT(s_categories) - 1);
    t->dateoccurred = occurred;
    t->respondby = occurred + sim_rng_range(r, 1, 8) * S_HOUR_MS;
    t->fixby = occurred + s_priority_hours[t->priority_id - 1] * S_HOUR_MS;
    t->lastupdate = lastupdate;
    t->quirks = s_draw_quirks(r);
    if (fresh) {
        t->status_id = 1;
        t->agent_id = -1;
        return;
    }
    t->agent_id = sim_rng_chance(r, 0.1) ? -1 : (int)sim_rng_range(r, 1, S_AGENTS);
    /* Older tickets are more likely closed. */
    double age = (double)(lastupdate - occurred) / (double)S_DAY_MS;
    if (sim_rng_chance(r, age > 7 ? 0.85 : 0.4)) {
        t->status_id = S_STATUS_CLOSED;
        t->closed = lastupdate;
    } else {
        t->status_id = s_statuses_open[sim_rng_range(r, 0, S_COUNT(s_statuses_open) - 1)];
    }
    if (t->status_id != 1 && sim_rng_chance(r, 0.9))
        t->response = occurred + sim_rng_range(r, 5 * S_MIN_MS,
                                               lastupdate - occurred > 6 * S_HOUR_MS ? 6 * S_HOUR_MS : 5 * S_MIN_MS);
}

/* Computes an invoice's lines (into lines when not NULL) and totals; lines are a
 * pure function of (seed, id), so they never need storing. */
static void s_invoice_lines(const sim_data_t *self, int64_t id, json_t *lines, int64_t *net, int64_t *tax)
{
    sim_rng_t r;
    sim_rng_seed_stream(&r, self->params.seed, SIM_ENTITY_INVOICES + 100, (uint64_t)id, 7);
    int n = (int)sim_rng_range(&r, 1, S_INVOICE_LINES_MAX);
    *net = 0;
    *tax = 0;
    for (int k = 0; k < n; k++) {
        int item = (int)sim_rng_range(&r, 0, S_COUNT(s_items) - 1);
        int qty = (int)sim_rng_range(&r, 1, 25);
        int64_t line_net = (int64_t)s_item_cents[item] * qty;
        int64_t line_tax = (line_net * S_TAX_PERCENT + 50) / 100;
        *net += line_net;
        *tax += line_tax;
        if (lines)
            json_array_append_new(lines, json_pack("{s:I,s:s,s:i,s:f,s:f,s:f}", "id", (json_int_t)(id * 10 + k),
                                                   "item_shortdescription", s_items[item], "qty_order", qty,
                                                   "unit_price", s_item_cents[item] / 100.0, "net_amount",
                                                   line_net / 100.0, "tax_amount", line_tax / 100.0));
    }
}

static void s_gen_invoice(sim_data_t *self, size_t i, int64_t date, int64_t lastupdate, sim_rng_t *r)
{
    s_invoice_t *v = s_row(self, SIM_ENTITY_INVOICES, i);
    v->site = (int)s_pick_live(self, SIM_ENTITY_SITES, r);
    v->client = v->site >= 0 ? ((s_site_t *)s_row(self, SIM_ENTITY_SITES, (size_t)v->site))->client
                             : (int)sim_rng_range(r, 0, self->nclients - 1);
    v->invoice_date = date - date % S_DAY_MS; /* Halo invoice dates are midnight */
    v->quirks = s_draw_quirks(r);
    v->duedate = (v->quirks & Q_NO_DUEDATE) ? 0 : v->invoice_date + 30 * S_DAY_MS;
    v->lastupdate = lastupdate;
    s_invoice_lines(self, s_id(SIM_ENTITY_INVOICES, i), NULL, &v->net_cents, &v->tax_cents);
    v->posted = sim_rng_chance(r, 0.8);
    if (v->posted && sim_rng_chance(r, 0.6))
        v->paid_cents = sim_rng_chance(r, 0.8) ? v->net_cents + v->tax_cents : (v->net_cents + v->tax_cents) / 2;
}

static int s_generate(sim_data_t *self)
{
    const sim_data_params_t *p = &self->params;
    int64_t start = p->epoch_ms - S_SPAN_MS;
    sim_rng_t r;
    self->nclients = p->sites > 0 ? (p->sites + S_SITES_PER_CLIENT - 1) / S_SITES_PER_CLIENT : 1;
    self->clients = calloc((size_t)self->nclients, sizeof(s_client_t));
    if (!self->clients)
        return -1;
    for (int c = 0; c < self->nclients; c++) {
        sim_rng_seed_stream(&r, p->seed, 99, (uint64_t)c, 0);
        snprintf(self->clients[c].name, sizeof(self->clients[c].name), "%s %s %s",
                 sim_rng_pick(&r, s_adjectives, S_COUNT(s_adjectives)), sim_rng_pick(&r, s_nouns, S_COUNT(s_nouns)),
                 sim_rng_pick(&r, s_suffixes, S_COUNT(s_suffixes)));
    }
    for (int i = 0; i < p->sites; i++) {
        if (s_append(self, SIM_ENTITY_SITES) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_SITES, (uint64_t)i, 0);
        s_gen_site(self, (size_t)i, i % self->nclients, start + sim_rng_range(&r, 0, S_SPAN_MS - 1), &r);
    }
    for (int i = 0; i < p->users; i++) {
        if (s_append(self, SIM_ENTITY_USERS) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_USERS, (uint64_t)i, 0);
        int site = p->sites > 0 ? (int)sim_rng_range(&r, 0, p->sites - 1) : -1;
        s_gen_user(self, (size_t)i, site, start + sim_rng_range(&r, 0, S_SPAN_MS - 1), &r);
        if (site >= 0) {
            s_site_t *s = s_row(self, SIM_ENTITY_SITES, (size_t)site);
            if (s->maincontact < 0)
                s->maincontact = i;
        }
    }
    for (int i = 0; i < p->tickets; i++) {
        if (s_append(self, SIM_ENTITY_TICKETS) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_TICKETS, (uint64_t)i, 0);
        /* Ids grow with time, as in Halo. */
        int64_t occurred = start + (int64_t)((double)S_SPAN_MS * i / p->tickets) + sim_rng_range(&r, 0, S_HOUR_MS);
        if (occurred >= p->epoch_ms)
            occurred = p->epoch_ms - S_HOUR_MS;
        int64_t room = p->epoch_ms - occurred;
        int64_t lastupdate = occurred + sim_rng_range(&r, 0, room < 30 * S_DAY_MS ? room : 30 * S_DAY_MS);
        s_gen_ticket(self, (size_t)i, occurred, lastupdate, false, &r);
    }
    for (int i = 0; i < p->invoices; i++) {
        if (s_append(self, SIM_ENTITY_INVOICES) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_INVOICES, (uint64_t)i, 0);
        int64_t date = start + (int64_t)((double)S_SPAN_MS * i / p->invoices);
        int64_t room = p->epoch_ms - date;
        s_gen_invoice(self, (size_t)i, date, date + sim_rng_range(&r, 0, room < 40 * S_DAY_MS ? room : 40 * S_DAY_MS),
                      &r);
    }
    for (int e = 0; e < SIM_ENTITY_COUNT; e++)
        for (size_t i = 0; i < self->tables[e].n; i++)
            s_index_row(self, (sim_entity_t)e, i);
    return 0;
}

sim_data_t *sim_data_new(const sim_data_params_t *params)
{
    if (!params || params->tickets < 0 || params->sites < 0 || params->users < 0 || params->invoices < 0 ||
        params->tickets > SIM_DATA_MAX_ROWS || params->sites > SIM_DATA_MAX_ROWS || params->users > SIM_DATA_MAX_ROWS ||
        params->invoices > SIM_DATA_MAX_ROWS || params->epoch_ms <= S_SPAN_MS)
        return NULL;
    sim_data_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->params = *params;
    self->tables[SIM_ENTITY_TICKETS].size = sizeof(s_ticket_t);
    self->tables[SIM_ENTITY_SITES].size = sizeof(s_site_t);
    self->tables[SIM_ENTITY_USERS].size = sizeof(s_user_t);
    self->tables[SIM_ENTITY_INVOICES].size = sizeof(s_invoice_t);
    sim_rng_seed_stream(&self->rng, params->seed, 0x6d75, 0, 0);
    self->last_mutation_ms = params->epoch_ms;
    if (s_generate(self) != 0)
        sim_data_destroy(&self);
    return self;
}

void sim_data_destroy(sim_data_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_data_t *self = *self_p;
    for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
        s_table_t *t = &self->tables[e];
        free(t->rows);
        free(t->flags);
        free(t->filter_ms);
        for (int f = 0; f < F_COUNT; f++)
            free(t->order[f]);
    }
    free(self->clients);
    free(self);
    *self_p = NULL;
}

/* -------------------------------------------------------------- naming */

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
}

/* ------------------------------------------------------------- rendering */

static json_t *s_idval(int64_t id, bool as_double)
{
    if (id < 0)
        return json_integer(-1);
    return as_double ? json_real((double)id) : json_integer((json_int_t)id);
}

static void s_set_date(json_t *obj, const char *key, int64_t ms, uint32_t quirks)
{
    char buf[SIM_DATE_MAX];
    sim_format_date(ms, (quirks & Q_FRACTION) != 0, buf, sizeof(buf));
    json_object_set_new(obj, key, json_string(buf));
}

static const char *s_client_name(const sim_data_t *self, int client)
{
    return client >= 0 && client < self->nclients ? self->clients[client].name : "";
}

static int64_t s_client_id(int client)
{
    return client >= 0 ? S_CLIENT_ID_BASE + client : -1;
}

static json_t *s_ticket_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const s_ticket_t *t = s_row(self, SIM_ENTITY_TICKETS, i);
    const s_site_t *site = t->site >= 0 ? s_row(self, SIM_ENTITY_SITES, (size_t)t->site) : NULL;
    const s_user_t *user = t->user >= 0 ? s_row(self, SIM_ENTITY_USERS, (size_t)t->user) : NULL;
    char uname[64] = "";
    if (user)
        snprintf(uname, sizeof(uname), "%s %s", user->first, user->last);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)s_id(SIM_ENTITY_TICKETS, i)));
    json_object_set_new(o, "summary", json_string(t->summary));
    json_object_set_new(o, "status_id", json_integer(t->status_id));
    json_object_set_new(o, "agent_id", json_integer(t->agent_id));
    json_object_set_new(o, "team", json_string(s_teams[t->team]));
    json_object_set_new(o, "priority_id", json_integer(t->priority_id));
    json_object_set_new(o, "client_id", s_idval(s_client_id(t->client), t->quirks & Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(s_client_name(self, t->client)));
    json_object_set_new(
        o, "site_id", s_idval(t->site >= 0 ? s_id(SIM_ENTITY_SITES, (size_t)t->site) : -1, t->quirks & Q_SITE_DOUBLE));
    json_object_set_new(o, "site_name", json_string(site ? site->name : ""));
    json_object_set_new(
        o, "user_id", s_idval(t->user >= 0 ? s_id(SIM_ENTITY_USERS, (size_t)t->user) : -1, t->quirks & Q_USER_DOUBLE));
    json_object_set_new(o, "user_name", json_string(uname));
    json_object_set_new(o, "tickettype_id", json_integer(t->tickettype_id));
    s_set_date(o, "dateoccurred", t->dateoccurred, t->quirks);
    s_set_date(o, "fixbydate", t->fixby, t->quirks);
    s_set_date(o, (t->quirks & Q_LASTUPDATE_NO_US) ? "lastupdate" : "last_update", t->lastupdate, t->quirks);
    if (view == SIM_VIEW_ROW)
        return o;
    s_set_date(o, "respondbydate", t->respondby, t->quirks);
    s_set_date(o, "responsedate", t->response, t->quirks);
    s_set_date(o, "dateclosed", t->closed, t->quirks);
    json_object_set_new(o, (t->quirks & Q_CATEGORY1) ? "category1" : "category_1",
                        json_string(s_categories[t->category]));
    json_object_set_new(o, "sla_id", json_integer(t->sla_id));
    json_object_set_new(o, "reportedby", json_string(user ? user->email : ""));
    json_object_set_new(o, "deleted", json_false());
    if (view == SIM_VIEW_FULL) {
        char details[512];
        snprintf(details, sizeof(details),
                 "<p>Hi team,</p><p>%s since this morning. Ticket raised by %s at %s (rev %u).</p><p>Thanks &amp; "
                 "regards</p>",
                 t->summary, uname[0] ? uname : "an agent", site ? site->name : "an unknown site", t->version);
        json_object_set_new(o, "details", json_string(details));
    }
    return o;
}

static json_t *s_address(const s_site_t *s)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "line1", "1 High Street", "line2", s->name, "line3", s->city, "postcode",
                     "AB1 2CD");
}

static json_t *s_site_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const s_site_t *s = s_row(self, SIM_ENTITY_SITES, i);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)s_id(SIM_ENTITY_SITES, i)));
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "client_id", s_idval(s_client_id(s->client), s->quirks & Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(s_client_name(self, s->client)));
    json_object_set_new(o, "inactive", json_boolean(s->inactive));
    json_object_set_new(o, "phonenumber", json_string(s->phone));
    s_set_date(o, "slastupdate", s->lastupdate, s->quirks);
    if (view == SIM_VIEW_ROW)
        return o;
    json_object_set_new(o, "maincontact_id",
                        json_integer(s->maincontact >= 0 ? s_id(SIM_ENTITY_USERS, (size_t)s->maincontact) : -1));
    json_object_set_new(o, "delivery_address", s_address(s));
    json_object_set_new(o, "invoice_address", s_address(s));
    json_object_set_new(o, "notes", json_string(""));
    return o;
}

static json_t *s_user_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const s_user_t *u = s_row(self, SIM_ENTITY_USERS, i);
    const s_site_t *site = u->site >= 0 ? s_row(self, SIM_ENTITY_SITES, (size_t)u->site) : NULL;
    char name[64];
    snprintf(name, sizeof(name), "%s %s", u->first, u->last);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)s_id(SIM_ENTITY_USERS, i)));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "emailaddress", json_string(u->email));
    json_object_set_new(
        o, "site_id", s_idval(u->site >= 0 ? s_id(SIM_ENTITY_SITES, (size_t)u->site) : -1, u->quirks & Q_SITE_DOUBLE));
    json_object_set_new(o, "site_name", json_string(site ? site->name : ""));
    json_object_set_new(o, "client_id", s_idval(site ? s_client_id(site->client) : -1, u->quirks & Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(site ? s_client_name(self, site->client) : ""));
    json_object_set_new(o, "inactive", json_boolean(u->inactive));
    json_object_set_new(o, "isimportantcontact", json_boolean(u->important));
    s_set_date(o, "ulastupdate", u->lastupdate, u->quirks);
    if (view == SIM_VIEW_ROW)
        return o;
    json_object_set_new(o, "firstname", json_string(u->first));
    json_object_set_new(o, "surname", json_string(u->last));
    json_object_set_new(o, "phonenumber", json_string(u->phone));
    json_object_set_new(o, "jobtitle", json_string(u->jobtitle));
    return o;
}

static json_t *s_invoice_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const s_invoice_t *v = s_row(self, SIM_ENTITY_INVOICES, i);
    int64_t id = s_id(SIM_ENTITY_INVOICES, i);
    int64_t total = v->net_cents + v->tax_cents;
    char number[32];
    snprintf(number, sizeof(number), "INV-%06lld", (long long)id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "invoicenumber", json_string(number));
    json_object_set_new(o, "client_id", s_idval(s_client_id(v->client), v->quirks & Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(s_client_name(self, v->client)));
    json_object_set_new(o, "sitenumber", json_integer(v->site >= 0 ? s_id(SIM_ENTITY_SITES, (size_t)v->site) : -1));
    s_set_date(o, "invoice_date", v->invoice_date, 0);
    s_set_date(o, "duedate", v->duedate, 0);
    json_object_set_new(o, "total", json_real(total / 100.0));
    json_object_set_new(o, "tax_total", json_real(v->tax_cents / 100.0));
    json_object_set_new(o, "amountpaid", json_real(v->paid_cents / 100.0));
    json_object_set_new(o, "amountdue", json_real((total - v->paid_cents) / 100.0));
    json_object_set_new(o, "posted", json_boolean(v->posted));
    s_set_date(o, "last_modified", v->lastupdate, v->quirks);
    if (view == SIM_VIEW_FULL) {
        json_t *lines = json_array();
        int64_t net, tax;
        s_invoice_lines(self, id, lines, &net, &tax);
        json_object_set_new(o, "lines", lines);
    }
    return o;
}

static json_t *s_render(const sim_data_t *self, sim_entity_t e, size_t i, sim_view_t view)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: return s_ticket_json(self, i, view);
    case SIM_ENTITY_SITES: return s_site_json(self, i, view);
    case SIM_ENTITY_USERS: return s_user_json(self, i, view);
    case SIM_ENTITY_INVOICES: return s_invoice_json(self, i, view);
    default: return NULL;
    }
}

/* -------------------------------------------------------------- queries */

static s_field_t s_field_parse(const char *name)
{
    static const struct {
        const char *name;
        s_field_t f;
    } map[] = {{"summary", F_NAME},           {"name", F_NAME},
               {"invoicenumber", F_NAME},     {"last_update", F_LASTUPDATE},
               {"lastupdate", F_LASTUPDATE},  {"slastupdate", F_LASTUPDATE},
               {"ulastupdate", F_LASTUPDATE}, {"last_modified", F_LASTUPDATE},
               {"dateoccurred", F_DATE},      {"datecreated", F_DATE},
               {"invoice_date", F_DATE},      {"client_name", F_CLIENT},
               {"status_id", F_STATUS},       {"total", F_TOTAL}};
    if (name)
        for (size_t i = 0; i < S_COUNT(map); i++)
            if (!strcasecmp(name, map[i].name))
                return map[i].f;
    return F_ID; /* Halo ignores what it does not know */
}

/* Numeric sort key (or string via *str) of row i for field f. */
static int64_t s_key(const sim_data_t *self, sim_entity_t e, size_t i, s_field_t f, const char **str)
{
    *str = NULL;
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        const s_ticket_t *t = s_row(self, e, i);
        switch (f) {
        case F_NAME: *str = t->summary; return 0;
        case F_LASTUPDATE: return t->lastupdate;
        case F_DATE: return t->dateoccurred;
        case F_CLIENT: *str = s_client_name(self, t->client); return 0;
        case F_STATUS: return t->status_id;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_SITES: {
        const s_site_t *s = s_row(self, e, i);
        switch (f) {
        case F_NAME: *str = s->name; return 0;
        case F_LASTUPDATE: return s->lastupdate;
        case F_CLIENT: *str = s_client_name(self, s->client); return 0;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_USERS: {
        const s_user_t *u = s_row(self, e, i);
        switch (f) {
        case F_NAME: *str = u->first; return 0;
        case F_LASTUPDATE: return u->lastupdate;
        default: return (int64_t)i;
        }
    }
    case SIM_ENTITY_INVOICES: {
        const s_invoice_t *v = s_row(self, e, i);
        switch (f) {
        case F_LASTUPDATE: return v->lastupdate;
        case F_DATE: return v->invoice_date;
        case F_CLIENT: *str = s_client_name(self, v->client); return 0;
        case F_TOTAL: return v->net_cents + v->tax_cents;
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
static int s_row_cmp(const sim_data_t *self, sim_entity_t e, s_field_t f, size_t a, size_t b)
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

static int s_sort_key_cmp(const void *a, const void *b)
{
    const s_sort_key_t *x = a, *y = b;
    return s_order_cmp(x->key, x->str, x->row, y->key, y->str, y->row);
}

/* Row indexes of e in ascending order of f, built on first use and kept
 * sorted by s_order_update(); borrowed, NULL when out of memory. */
static const uint32_t *s_order_get(sim_data_t *self, sim_entity_t e, s_field_t f)
{
    s_table_t *t = &self->tables[e];
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
static void s_order_update(sim_data_t *self, sim_entity_t e, size_t i, bool appended)
{
    s_table_t *t = &self->tables[e];
    size_t others = t->n - 1; /* entries other than i */
    for (int f = 0; f < F_COUNT; f++) {
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
            if (s_row_cmp(self, e, (s_field_t)f, order[mid], i) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(order + lo + 1, order + lo, (others - lo) * sizeof(*order));
        order[lo] = (uint32_t)i;
    }
}

/* A query's filters as a test on the filter columns: a row passes when
 * (flags & mask) == want and from <= filter_ms <= to. */
typedef struct {
    uint8_t mask, want;
    bool none; /* contradictory filters (open_only and closed_only...): nothing passes */
    int64_t from, to;
} s_filter_t;

static void s_filter_init(s_filter_t *flt, sim_entity_t e, const sim_query_t *q)
{
    flt->mask = S_ROW_DELETED;
    flt->want = 0;
    flt->none = false;
    int64_t from = q->lastupdate_from, to = q->lastupdate_to;
    switch (e) {
    case SIM_ENTITY_TICKETS:
        if (q->open_only || q->closed_only)
            flt->mask |= S_ROW_CLOSED;
        if (q->closed_only)
            flt->want |= S_ROW_CLOSED;
        flt->none = q->open_only && q->closed_only;
        break;
    case SIM_ENTITY_SITES:
    case SIM_ENTITY_USERS:
        if (!q->include_inactive || !q->include_active)
            flt->mask |= S_ROW_INACTIVE;
        if (!q->include_active)
            flt->want |= S_ROW_INACTIVE;
        flt->none = !q->include_inactive && !q->include_active;
        break;
    default:
        /* Invoices have no last-update filter in Halo: lastupdatefromdate is ignored. */
        from = q->date_from;
        to = q->date_to;
        break;
    }
    /* -1 (and anything negative) means no bound. */
    flt->from = from >= 0 ? from : INT64_MIN;
    flt->to = to >= 0 ? to : INT64_MAX;
}

static bool s_filter_pass(const s_filter_t *flt, const s_table_t *t, size_t i)
{
    return (t->flags[i] & flt->mask) == flt->want && t->filter_ms[i] >= flt->from && t->filter_ms[i] <= flt->to;
}

json_t *sim_data_list(sim_data_t *self, sim_entity_t e, const sim_query_t *q)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return NULL;
    s_field_t f = s_field_parse(q->order);
    const uint32_t *order = NULL; /* NULL: id order, the rows' own */
    if (f != F_ID) {
        order = s_order_get(self, e, f);
        if (!order)
            return NULL;
    }
    s_filter_t flt;
    s_filter_init(&flt, e, q);
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
    const s_table_t *t = &self->tables[e];
    size_t n = flt.none ? 0 : t->n, matched = 0;
    for (size_t k = 0; k < n; k++) {
        size_t pos = q->orderdesc ? n - 1 - k : k;
        size_t i = order ? order[pos] : pos;
        if (!s_filter_pass(&flt, t, i))
            continue;
        if (matched >= first && matched - first < size &&
            json_array_append_new(rows, s_render(self, e, i, SIM_VIEW_ROW)) != 0)
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
    long i = s_index(self, e, id);
    if (i < 0 || s_deleted(self, e, (size_t)i))
        return NULL;
    return s_render(self, e, (size_t)i, view);
}

json_t *sim_data_dump(sim_data_t *self, sim_entity_t e)
{
    if (e < 0 || e >= SIM_ENTITY_COUNT)
        return NULL;
    json_t *live = json_array(), *deleted = json_array();
    for (size_t i = 0; i < self->tables[e].n; i++) {
        if (s_deleted(self, e, i))
            json_array_append_new(deleted, json_integer((json_int_t)s_id(e, i)));
        else
            json_array_append_new(live, s_render(self, e, i, SIM_VIEW_FULL));
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
        c += s_deleted(self, e, i) == deleted;
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

static void s_update_ticket(sim_data_t *self, s_ticket_t *t, int64_t now, bool *status_changed)
{
    sim_rng_t *r = &self->rng;
    switch (sim_rng_range(r, 0, 4)) {
    case 0: { /* status change */
        int old = t->status_id;
        int next = sim_rng_chance(r, 0.35) ? S_STATUS_CLOSED
                                           : s_statuses_open[sim_rng_range(r, 0, S_COUNT(s_statuses_open) - 1)];
        if (next == old)
            next = old == S_STATUS_CLOSED ? 2 : S_STATUS_CLOSED;
        t->status_id = next;
        t->closed = next == S_STATUS_CLOSED ? now : 0;
        if (t->response <= 0 && next != 1)
            t->response = now;
        /* Halo sends the finer event only for some webhook configurations. */
        *status_changed = sim_rng_chance(r, 0.5);
        break;
    }
    case 1: t->agent_id = sim_rng_chance(r, 0.1) ? -1 : (int)sim_rng_range(r, 1, S_AGENTS); break;
    case 2: t->team = (int)sim_rng_range(r, 0, S_COUNT(s_teams) - 1); break;
    case 3: t->priority_id = (int)sim_rng_range(r, 1, 4); break;
    default:
        snprintf(t->summary, sizeof(t->summary), "%s (v%u)", sim_rng_pick(r, s_problems, S_COUNT(s_problems)),
                 t->version + 1);
        break;
    }
    t->lastupdate = now;
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

static int64_t *s_lastupdate_ptr(sim_data_t *self, sim_entity_t e, size_t i, uint32_t **version)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: {
        s_ticket_t *t = s_row(self, e, i);
        *version = &t->version;
        return &t->lastupdate;
    }
    case SIM_ENTITY_SITES: {
        s_site_t *s = s_row(self, e, i);
        *version = &s->version;
        return &s->lastupdate;
    }
    case SIM_ENTITY_USERS: {
        s_user_t *u = s_row(self, e, i);
        *version = &u->version;
        return &u->lastupdate;
    }
    default: {
        s_invoice_t *v = s_row(self, e, i);
        *version = &v->version;
        return &v->lastupdate;
    }
    }
}

/* Creates a new object of e at time now; returns its index or -1. */
static long s_create(sim_data_t *self, sim_entity_t e, int64_t now)
{
    long i = s_append(self, e);
    if (i < 0)
        return -1;
    sim_rng_t r;
    sim_rng_seed_stream(&r, self->params.seed, (uint64_t)e, (uint64_t)i, 1 + self->mutations);
    switch (e) {
    case SIM_ENTITY_TICKETS: s_gen_ticket(self, (size_t)i, now, now, true, &r); break;
    case SIM_ENTITY_SITES:
        s_gen_site(self, (size_t)i, (int)sim_rng_range(&r, 0, self->nclients - 1), now, &r);
        ((s_site_t *)s_row(self, e, (size_t)i))->inactive = false;
        break;
    case SIM_ENTITY_USERS: {
        int site = (int)s_pick_live(self, SIM_ENTITY_SITES, &r);
        s_gen_user(self, (size_t)i, site, now, &r);
        ((s_user_t *)s_row(self, e, (size_t)i))->inactive = false;
        break;
    }
    default: s_gen_invoice(self, (size_t)i, now, now, &r); break;
    }
    return i;
}

static void s_update(sim_data_t *self, sim_entity_t e, size_t i, int64_t now, bool *status_changed)
{
    sim_rng_t *r = &self->rng;
    switch (e) {
    case SIM_ENTITY_TICKETS: s_update_ticket(self, s_row(self, e, i), now, status_changed); break;
    case SIM_ENTITY_SITES: {
        s_site_t *s = s_row(self, e, i);
        if (sim_rng_chance(r, 0.1))
            s->inactive = !s->inactive;
        else if (sim_rng_chance(r, 0.5))
            s_phone(r, s->phone, sizeof(s->phone));
        else
            snprintf(s->name, sizeof(s->name), "%s %s", s->city, sim_rng_chance(r, 0.5) ? "Office" : "Branch");
        s->lastupdate = now;
        break;
    }
    case SIM_ENTITY_USERS: {
        s_user_t *u = s_row(self, e, i);
        if (sim_rng_chance(r, 0.1))
            u->inactive = !u->inactive;
        else if (sim_rng_chance(r, 0.3))
            u->important = !u->important;
        else
            snprintf(u->jobtitle, sizeof(u->jobtitle), "%s", sim_rng_pick(r, s_jobs, S_COUNT(s_jobs)));
        u->lastupdate = now;
        break;
    }
    default: {
        s_invoice_t *v = s_row(self, e, i);
        int64_t total = v->net_cents + v->tax_cents;
        v->posted = true;
        if (v->paid_cents < total)
            v->paid_cents += (total - v->paid_cents + 1) / 2;
        v->lastupdate = now;
        break;
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
        i = s_create(self, e, s_stamp(self, now_ms, 0));
        if (i < 0) {
            snprintf(err, errlen, "table full");
            return -1;
        }
    } else {
        bool want_deleted = op == SIM_OP_RESTORE;
        if (id != 0) {
            i = s_index(self, e, id);
            if (i < 0) {
                snprintf(err, errlen, "no %s %lld", s_singular[e], (long long)id);
                return -1;
            }
        } else {
            size_t n = self->tables[e].n;
            size_t start = n ? (size_t)sim_rng_range(&self->rng, 0, (int64_t)n - 1) : 0;
            for (size_t k = 0; k < n && i < 0; k++)
                if (s_deleted(self, e, (start + k) % n) == want_deleted)
                    i = (long)((start + k) % n);
            if (i < 0) {
                snprintf(err, errlen, "no %s %s to %s", want_deleted ? "deleted" : "live", s_singular[e],
                         s_op_names[op]);
                return -1;
            }
        }
        if (s_deleted(self, e, (size_t)i) != want_deleted) {
            snprintf(err, errlen, "%s %lld is %s", s_singular[e], (long long)id,
                     want_deleted ? "not deleted" : "deleted");
            return -1;
        }
        uint32_t *version;
        int64_t *lu = s_lastupdate_ptr(self, e, (size_t)i, &version);
        int64_t now = s_stamp(self, now_ms, *lu);
        if (op == SIM_OP_UPDATE) {
            s_update(self, e, (size_t)i, now, &status_changed);
        } else {
            s_set_deleted(self, e, (size_t)i, op == SIM_OP_DELETE);
            *lu = now;
        }
        (*version)++;
    }
    /* The one place rows change after generation: keep what the lists read in step. */
    s_index_row(self, e, (size_t)i);
    s_order_update(self, e, (size_t)i, op == SIM_OP_NEW);
    self->mutations++;
    memset(out, 0, sizeof(*out));
    out->entity = e;
    out->op = op;
    out->id = s_id(e, (size_t)i);
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
    long i = s_pick_live(self, entity, rng);
    return i < 0 ? -1 : s_id(entity, (size_t)i);
}

uint64_t sim_data_mutations(const sim_data_t *self)
{
    return self->mutations;
}

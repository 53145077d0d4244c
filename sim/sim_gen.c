/* sim_gen: generation of the simulated tenant. Each object is drawn from its
 * own random stream (seed, entity, index), so one object does not change when
 * another size changes, and 100,000 tickets generate in well under a second.
 * Names, cities, problems and items are British-flavoured and include
 * non-ASCII letters, quotes and '&' on purpose; about a third of the rows get
 * each of Halo's quirks (sim_rows.h). New objects and random changes come
 * from here too, so every value halo-sim invents is drawn in one place. */
#include "sim_gen.h"
#include "sim_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DAY_MS (24LL * 3600 * 1000)
#define S_HOUR_MS (3600LL * 1000)
#define S_MIN_MS (60LL * 1000)
#define S_SITES_PER_CLIENT 3
#define S_AGENTS SIM_REF_AGENTS /* the agents /Agent lists */
#define S_TAX_PERCENT 20
#define S_INVOICE_LINES_MAX 5

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

/* Draws which of Halo's quirks an object shows (SIM_Q_*). */
static uint32_t s_draw_quirks(sim_rng_t *r)
{
    uint32_t q = 0;
    if (sim_rng_chance(r, 0.3))
        q |= SIM_Q_LASTUPDATE_NO_US;
    if (sim_rng_chance(r, 0.3))
        q |= SIM_Q_CATEGORY1;
    if (sim_rng_chance(r, 0.25))
        q |= SIM_Q_CLIENT_DOUBLE;
    if (sim_rng_chance(r, 0.15))
        q |= SIM_Q_SITE_DOUBLE;
    if (sim_rng_chance(r, 0.5))
        q |= SIM_Q_FRACTION;
    if (sim_rng_chance(r, 0.1))
        q |= SIM_Q_NO_DUEDATE;
    if (sim_rng_chance(r, 0.1))
        q |= SIM_Q_USER_DOUBLE;
    return q;
}

/* A UK-style phone number. */
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

/* Fills site i of client, last changed at lastupdate. */
static void s_gen_site(sim_data_t *self, size_t i, int client, int64_t lastupdate, sim_rng_t *r)
{
    sim_site_row_t *s = sim_rows_row(self, SIM_ENTITY_SITES, i);
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

/* Fills user i at site (-1: none); the e-mail domain is the client's name. */
static void s_gen_user(sim_data_t *self, size_t i, int site, int64_t lastupdate, sim_rng_t *r)
{
    sim_user_row_t *u = sim_rows_row(self, SIM_ENTITY_USERS, i);
    u->site = site;
    snprintf(u->first, sizeof(u->first), "%s", sim_rng_pick(r, s_firsts, S_COUNT(s_firsts)));
    snprintf(u->last, sizeof(u->last), "%s", sim_rng_pick(r, s_lasts, S_COUNT(s_lasts)));
    char f[24], l[32], dom[48] = "example";
    s_slug(u->first, f, sizeof(f));
    s_slug(u->last, l, sizeof(l));
    if (site >= 0) {
        const sim_site_row_t *s = sim_rows_row(self, SIM_ENTITY_SITES, (size_t)site);
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

/* Fills ticket i as logged at `occurred`, last changed at lastupdate (<= now_ms). */
static void s_gen_ticket(sim_data_t *self, size_t i, int64_t occurred, int64_t lastupdate, bool fresh, sim_rng_t *r)
{
    sim_ticket_row_t *t = sim_rows_row(self, SIM_ENTITY_TICKETS, i);
    t->user = (int)sim_rows_pick_live(self, SIM_ENTITY_USERS, r);
    if (t->user >= 0) {
        t->site = ((sim_user_row_t *)sim_rows_row(self, SIM_ENTITY_USERS, (size_t)t->user))->site;
    } else {
        t->site = (int)sim_rows_pick_live(self, SIM_ENTITY_SITES, r);
    }
    t->client = t->site >= 0 ? ((sim_site_row_t *)sim_rows_row(self, SIM_ENTITY_SITES, (size_t)t->site))->client : -1;
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
        t->status_id = SIM_STATUS_CLOSED;
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
void sim_gen_invoice_lines(const sim_data_t *self, int64_t id, json_t *lines, int64_t *net, int64_t *tax)
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

/* Fills invoice i dated date (midnight), for a live site's client; totals from its lines. */
static void s_gen_invoice(sim_data_t *self, size_t i, int64_t date, int64_t lastupdate, sim_rng_t *r)
{
    sim_invoice_row_t *v = sim_rows_row(self, SIM_ENTITY_INVOICES, i);
    v->site = (int)sim_rows_pick_live(self, SIM_ENTITY_SITES, r);
    v->client = v->site >= 0 ? ((sim_site_row_t *)sim_rows_row(self, SIM_ENTITY_SITES, (size_t)v->site))->client
                             : (int)sim_rng_range(r, 0, self->nclients - 1);
    v->invoice_date = date - date % S_DAY_MS; /* Halo invoice dates are midnight */
    v->quirks = s_draw_quirks(r);
    v->duedate = (v->quirks & SIM_Q_NO_DUEDATE) ? 0 : v->invoice_date + 30 * S_DAY_MS;
    v->lastupdate = lastupdate;
    sim_gen_invoice_lines(self, sim_rows_id(SIM_ENTITY_INVOICES, i), NULL, &v->net_cents, &v->tax_cents);
    v->posted = sim_rng_chance(r, 0.8);
    if (v->posted && sim_rng_chance(r, 0.6))
        v->paid_cents = sim_rng_chance(r, 0.8) ? v->net_cents + v->tax_cents : (v->net_cents + v->tax_cents) / 2;
}

int sim_gen_dataset(sim_data_t *self)
{
    const sim_data_params_t *p = &self->params;
    int64_t start = p->epoch_ms - SIM_GEN_SPAN_MS;
    sim_rng_t r;
    self->nclients = p->sites > 0 ? (p->sites + S_SITES_PER_CLIENT - 1) / S_SITES_PER_CLIENT : 1;
    self->clients = calloc((size_t)self->nclients, sizeof(sim_client_row_t));
    if (!self->clients)
        return -1;
    for (int c = 0; c < self->nclients; c++) {
        sim_rng_seed_stream(&r, p->seed, 99, (uint64_t)c, 0);
        snprintf(self->clients[c].name, sizeof(self->clients[c].name), "%s %s %s",
                 sim_rng_pick(&r, s_adjectives, S_COUNT(s_adjectives)), sim_rng_pick(&r, s_nouns, S_COUNT(s_nouns)),
                 sim_rng_pick(&r, s_suffixes, S_COUNT(s_suffixes)));
    }
    for (int i = 0; i < p->sites; i++) {
        if (sim_rows_append(self, SIM_ENTITY_SITES) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_SITES, (uint64_t)i, 0);
        s_gen_site(self, (size_t)i, i % self->nclients, start + sim_rng_range(&r, 0, SIM_GEN_SPAN_MS - 1), &r);
    }
    for (int i = 0; i < p->users; i++) {
        if (sim_rows_append(self, SIM_ENTITY_USERS) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_USERS, (uint64_t)i, 0);
        int site = p->sites > 0 ? (int)sim_rng_range(&r, 0, p->sites - 1) : -1;
        s_gen_user(self, (size_t)i, site, start + sim_rng_range(&r, 0, SIM_GEN_SPAN_MS - 1), &r);
        if (site >= 0) {
            sim_site_row_t *s = sim_rows_row(self, SIM_ENTITY_SITES, (size_t)site);
            if (s->maincontact < 0)
                s->maincontact = i;
        }
    }
    for (int i = 0; i < p->tickets; i++) {
        if (sim_rows_append(self, SIM_ENTITY_TICKETS) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_TICKETS, (uint64_t)i, 0);
        /* Ids grow with time, as in Halo. */
        int64_t occurred =
            start + (int64_t)((double)SIM_GEN_SPAN_MS * i / p->tickets) + sim_rng_range(&r, 0, S_HOUR_MS);
        if (occurred >= p->epoch_ms)
            occurred = p->epoch_ms - S_HOUR_MS;
        int64_t room = p->epoch_ms - occurred;
        int64_t lastupdate = occurred + sim_rng_range(&r, 0, room < 30 * S_DAY_MS ? room : 30 * S_DAY_MS);
        s_gen_ticket(self, (size_t)i, occurred, lastupdate, false, &r);
    }
    for (int i = 0; i < p->invoices; i++) {
        if (sim_rows_append(self, SIM_ENTITY_INVOICES) < 0)
            return -1;
        sim_rng_seed_stream(&r, p->seed, SIM_ENTITY_INVOICES, (uint64_t)i, 0);
        int64_t date = start + (int64_t)((double)SIM_GEN_SPAN_MS * i / p->invoices);
        int64_t room = p->epoch_ms - date;
        s_gen_invoice(self, (size_t)i, date, date + sim_rng_range(&r, 0, room < 40 * S_DAY_MS ? room : 40 * S_DAY_MS),
                      &r);
    }
    for (int e = 0; e < SIM_ENTITY_COUNT; e++)
        for (size_t i = 0; i < self->tables[e].n; i++)
            sim_rows_reindex(self, (sim_entity_t)e, i);
    return 0;
}

/* One random change of ticket t: status, agent, team, priority or summary. */
static void s_update_ticket(sim_data_t *self, sim_ticket_row_t *t, int64_t now, bool *status_changed)
{
    sim_rng_t *r = &self->rng;
    switch (sim_rng_range(r, 0, 4)) {
    case 0: { /* status change */
        int old = t->status_id;
        int next = sim_rng_chance(r, 0.35) ? SIM_STATUS_CLOSED
                                           : s_statuses_open[sim_rng_range(r, 0, S_COUNT(s_statuses_open) - 1)];
        if (next == old)
            next = old == SIM_STATUS_CLOSED ? 2 : SIM_STATUS_CLOSED;
        t->status_id = next;
        t->closed = next == SIM_STATUS_CLOSED ? now : 0;
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

/* Creates a new object of e at time now; returns its index or -1. */
long sim_gen_create(sim_data_t *self, sim_entity_t e, int64_t now)
{
    long i = sim_rows_append(self, e);
    if (i < 0)
        return -1;
    sim_rng_t r;
    sim_rng_seed_stream(&r, self->params.seed, (uint64_t)e, (uint64_t)i, 1 + self->mutations);
    switch (e) {
    case SIM_ENTITY_TICKETS: s_gen_ticket(self, (size_t)i, now, now, true, &r); break;
    case SIM_ENTITY_SITES:
        s_gen_site(self, (size_t)i, (int)sim_rng_range(&r, 0, self->nclients - 1), now, &r);
        ((sim_site_row_t *)sim_rows_row(self, e, (size_t)i))->inactive = false;
        break;
    case SIM_ENTITY_USERS: {
        int site = (int)sim_rows_pick_live(self, SIM_ENTITY_SITES, &r);
        s_gen_user(self, (size_t)i, site, now, &r);
        ((sim_user_row_t *)sim_rows_row(self, e, (size_t)i))->inactive = false;
        break;
    }
    default: s_gen_invoice(self, (size_t)i, now, now, &r); break;
    }
    return i;
}

void sim_gen_update(sim_data_t *self, sim_entity_t e, size_t i, int64_t now, bool *status_changed)
{
    sim_rng_t *r = &self->rng;
    switch (e) {
    case SIM_ENTITY_TICKETS: s_update_ticket(self, sim_rows_row(self, e, i), now, status_changed); break;
    case SIM_ENTITY_SITES: {
        sim_site_row_t *s = sim_rows_row(self, e, i);
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
        sim_user_row_t *u = sim_rows_row(self, e, i);
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
        sim_invoice_row_t *v = sim_rows_row(self, e, i);
        int64_t total = v->net_cents + v->tax_cents;
        v->posted = true;
        if (v->paid_cents < total)
            v->paid_cents += (total - v->paid_cents + 1) / 2;
        v->lastupdate = now;
        break;
    }
    }
}

const char *sim_gen_team(int team)
{
    return team >= 0 && (size_t)team < S_COUNT(s_teams) ? s_teams[team] : "";
}

const char *sim_gen_category(int category)
{
    return category >= 0 && (size_t)category < S_COUNT(s_categories) ? s_categories[category] : "";
}

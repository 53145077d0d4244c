/* sim_render: Halo-shaped JSON of sim_data's rows, built on demand (rows
 * are compact C structs; nothing rendered is kept). Which quirks a row shows
 * was drawn once at generation (sim_rows.h), so the same object always looks
 * the same. */
#include "sim_render.h"

#include "sim_gen.h"

#include <stdio.h>

/* An id as Halo writes it: -1 for unset, sometimes as a double (21.0). */
static json_t *s_idval(int64_t id, bool as_double)
{
    if (id < 0)
        return json_integer(-1);
    return as_double ? json_real((double)id) : json_integer((json_int_t)id);
}

/* Sets key to a zone-less Halo date (1900 for none), with milliseconds when the row has that quirk. */
static void s_set_date(json_t *obj, const char *key, int64_t ms, uint32_t quirks)
{
    char buf[SIM_DATE_MAX];
    sim_format_date(ms, (quirks & SIM_Q_FRACTION) != 0, buf, sizeof(buf));
    json_object_set_new(obj, key, json_string(buf));
}

/* The five spellings of a last-update field Halo is known to use. */
static const char *const s_spellings[] = {"last_update", "lastupdate", "slastupdate", "ulastupdate", "last_modified"};

/* The key object id of entity e writes its last update under: the schema's own
 * (spec), tickets' live mix (mixed, by the row's quirk), or any spelling per
 * object (any). */
static const char *s_lastupdate_key(const sim_data_t *self, sim_entity_t e, int64_t id, uint32_t quirks)
{
    static const char *const own[SIM_ENTITY_COUNT] = {"last_update", "slastupdate", "ulastupdate", "last_modified"};
    switch (self->params.profile.spelling) {
    case SIM_SPELL_ANY: return s_spellings[(uint64_t)(id * 7 + e) % (sizeof s_spellings / sizeof s_spellings[0])];
    case SIM_SPELL_SPEC: return own[e];
    default: return e == SIM_ENTITY_TICKETS && (quirks & SIM_Q_LASTUPDATE_NO_US) ? "lastupdate" : own[e];
    }
}

/* The view a list row is rendered in when the profile lists rich rows (the single object), or view. */
static sim_view_t s_list_view(const sim_data_t *self, sim_view_t view)
{
    return view == SIM_VIEW_LIST && self->params.profile.list_fields == SIM_LIST_RICH ? SIM_VIEW_SINGLE : view;
}

/* Ticket i in view; caller owns. Faults_List carries every field below but
 * "deleted", so a spec list row is the full object without it. */
static json_t *s_ticket_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const sim_ticket_row_t *t = sim_rows_row(self, SIM_ENTITY_TICKETS, i);
    const sim_site_row_t *site = t->site >= 0 ? sim_rows_row(self, SIM_ENTITY_SITES, (size_t)t->site) : NULL;
    const sim_user_row_t *user = t->user >= 0 ? sim_rows_row(self, SIM_ENTITY_USERS, (size_t)t->user) : NULL;
    char uname[64] = "";
    if (user)
        snprintf(uname, sizeof(uname), "%s %s", user->first, user->last);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)sim_rows_id(SIM_ENTITY_TICKETS, i)));
    json_object_set_new(o, "summary", json_string(t->summary));
    json_object_set_new(o, "status_id", json_integer(t->status_id));
    json_object_set_new(o, "agent_id", json_integer(t->agent_id));
    json_object_set_new(o, "team", json_string(sim_gen_team(t->team)));
    json_object_set_new(o, "priority_id", json_integer(t->priority_id));
    json_object_set_new(o, "client_id", s_idval(sim_rows_client_id(t->client), t->quirks & SIM_Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(sim_rows_client_name(self, t->client)));
    json_object_set_new(
        o, "site_id",
        s_idval(t->site >= 0 ? sim_rows_id(SIM_ENTITY_SITES, (size_t)t->site) : -1, t->quirks & SIM_Q_SITE_DOUBLE));
    json_object_set_new(o, "site_name", json_string(site ? site->name : ""));
    json_object_set_new(
        o, "user_id",
        s_idval(t->user >= 0 ? sim_rows_id(SIM_ENTITY_USERS, (size_t)t->user) : -1, t->quirks & SIM_Q_USER_DOUBLE));
    json_object_set_new(o, "user_name", json_string(uname));
    json_object_set_new(o, "tickettype_id", json_integer(t->tickettype_id));
    s_set_date(o, "dateoccurred", t->dateoccurred, t->quirks);
    s_set_date(o, "fixbydate", t->fixby, t->quirks);
    s_set_date(o, s_lastupdate_key(self, SIM_ENTITY_TICKETS, sim_rows_id(SIM_ENTITY_TICKETS, i), t->quirks),
               t->lastupdate, t->quirks);
    view = s_list_view(self, view);
    if (view == SIM_VIEW_ROW)
        return o;
    s_set_date(o, "respondbydate", t->respondby, t->quirks);
    s_set_date(o, "responsedate", t->response, t->quirks);
    s_set_date(o, "dateclosed", t->closed, t->quirks);
    json_object_set_new(o, (t->quirks & SIM_Q_CATEGORY1) ? "category1" : "category_1",
                        json_string(sim_gen_category(t->category)));
    json_object_set_new(o, "sla_id", json_integer(t->sla_id));
    json_object_set_new(o, "reportedby", json_string(user ? user->email : ""));
    if (view != SIM_VIEW_LIST)
        json_object_set_new(o, "deleted", json_false());
    if (view == SIM_VIEW_FULL || view == SIM_VIEW_LIST) {
        char details[512];
        snprintf(details, sizeof(details),
                 "<p>Hi team,</p><p>%s since this morning. Ticket raised by %s at %s (rev %u).</p><p>Thanks &amp; "
                 "regards</p>",
                 t->summary, uname[0] ? uname : "an agent", site ? site->name : "an unknown site", t->version);
        json_object_set_new(o, "details", json_string(details));
    }
    return o;
}

/* A site's address object; caller owns. */
static json_t *s_address(const sim_site_row_t *s)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "line1", "1 High Street", "line2", s->name, "line3", s->city, "postcode",
                     "AB1 2CD");
}

/* Site i in view; caller owns. Site_List has no slastupdate and no address
 * objects (only delivery_address_line1..5): a spec list row lacks them. */
static json_t *s_site_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const sim_site_row_t *s = sim_rows_row(self, SIM_ENTITY_SITES, i);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)sim_rows_id(SIM_ENTITY_SITES, i)));
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "client_id", s_idval(sim_rows_client_id(s->client), s->quirks & SIM_Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(sim_rows_client_name(self, s->client)));
    json_object_set_new(o, "inactive", json_boolean(s->inactive));
    json_object_set_new(o, "phonenumber", json_string(s->phone));
    view = s_list_view(self, view);
    if (view != SIM_VIEW_LIST)
        s_set_date(o, s_lastupdate_key(self, SIM_ENTITY_SITES, sim_rows_id(SIM_ENTITY_SITES, i), s->quirks),
                   s->lastupdate, s->quirks);
    if (view == SIM_VIEW_ROW)
        return o;
    json_object_set_new(o, "maincontact_id",
                        json_integer(s->maincontact >= 0 ? sim_rows_id(SIM_ENTITY_USERS, (size_t)s->maincontact) : -1));
    json_object_set_new(o, "notes", json_string(""));
    if (view == SIM_VIEW_LIST)
        return o;
    json_object_set_new(o, "delivery_address", s_address(s));
    json_object_set_new(o, "invoice_address", s_address(s));
    return o;
}

/* User i in view; caller owns. Users_List has no ulastupdate and no
 * jobtitle: a spec list row lacks them. */
static json_t *s_user_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const sim_user_row_t *u = sim_rows_row(self, SIM_ENTITY_USERS, i);
    const sim_site_row_t *site = u->site >= 0 ? sim_rows_row(self, SIM_ENTITY_SITES, (size_t)u->site) : NULL;
    char name[64];
    snprintf(name, sizeof(name), "%s %s", u->first, u->last);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)sim_rows_id(SIM_ENTITY_USERS, i)));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "emailaddress", json_string(u->email));
    json_object_set_new(
        o, "site_id",
        s_idval(u->site >= 0 ? sim_rows_id(SIM_ENTITY_SITES, (size_t)u->site) : -1, u->quirks & SIM_Q_SITE_DOUBLE));
    json_object_set_new(o, "site_name", json_string(site ? site->name : ""));
    json_object_set_new(o, "client_id",
                        s_idval(site ? sim_rows_client_id(site->client) : -1, u->quirks & SIM_Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(site ? sim_rows_client_name(self, site->client) : ""));
    json_object_set_new(o, "inactive", json_boolean(u->inactive));
    json_object_set_new(o, "isimportantcontact", json_boolean(u->important));
    view = s_list_view(self, view);
    if (view != SIM_VIEW_LIST)
        s_set_date(o, s_lastupdate_key(self, SIM_ENTITY_USERS, sim_rows_id(SIM_ENTITY_USERS, i), u->quirks),
                   u->lastupdate, u->quirks);
    if (view == SIM_VIEW_ROW)
        return o;
    json_object_set_new(o, "firstname", json_string(u->first));
    json_object_set_new(o, "surname", json_string(u->last));
    json_object_set_new(o, "phonenumber", json_string(u->phone));
    if (view != SIM_VIEW_LIST)
        json_object_set_new(o, "jobtitle", json_string(u->jobtitle));
    return o;
}

/* Invoice i in view (lines only with includedetails); caller owns. The spec
 * publishes no schema for the /Invoice list ("List of InvoiceHeader", no
 * response schema): a spec list row is the lean header (number, client,
 * site, dates, posted) without money or last_modified, the behaviour seen on
 * tenants whose listed invoices lacked their totals (issue 16). */
static json_t *s_invoice_json(const sim_data_t *self, size_t i, sim_view_t view)
{
    const sim_invoice_row_t *v = sim_rows_row(self, SIM_ENTITY_INVOICES, i);
    int64_t id = sim_rows_id(SIM_ENTITY_INVOICES, i);
    int64_t total = v->net_cents + v->tax_cents;
    char number[32];
    snprintf(number, sizeof(number), "INV-%06lld", (long long)id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "invoicenumber", json_string(number));
    json_object_set_new(o, "client_id", s_idval(sim_rows_client_id(v->client), v->quirks & SIM_Q_CLIENT_DOUBLE));
    json_object_set_new(o, "client_name", json_string(sim_rows_client_name(self, v->client)));
    json_object_set_new(o, "sitenumber",
                        json_integer(v->site >= 0 ? sim_rows_id(SIM_ENTITY_SITES, (size_t)v->site) : -1));
    s_set_date(o, "invoice_date", v->invoice_date, 0);
    s_set_date(o, "duedate", v->duedate, 0);
    json_object_set_new(o, "posted", json_boolean(v->posted));
    view = s_list_view(self, view);
    if (view == SIM_VIEW_LIST)
        return o;
    json_object_set_new(o, "total", json_real(total / 100.0));
    json_object_set_new(o, "tax_total", json_real(v->tax_cents / 100.0));
    json_object_set_new(o, "amountpaid", json_real(v->paid_cents / 100.0));
    json_object_set_new(o, "amountdue", json_real((total - v->paid_cents) / 100.0));
    s_set_date(o, s_lastupdate_key(self, SIM_ENTITY_INVOICES, id, v->quirks), v->lastupdate, v->quirks);
    if (view == SIM_VIEW_FULL) {
        json_t *lines = json_array();
        int64_t net, tax;
        sim_gen_invoice_lines(self, id, lines, &net, &tax);
        json_object_set_new(o, "lines", lines);
    }
    return o;
}

json_t *sim_render_row(const sim_data_t *self, sim_entity_t e, size_t i, sim_view_t view)
{
    switch (e) {
    case SIM_ENTITY_TICKETS: return s_ticket_json(self, i, view);
    case SIM_ENTITY_SITES: return s_site_json(self, i, view);
    case SIM_ENTITY_USERS: return s_user_json(self, i, view);
    case SIM_ENTITY_INVOICES: return s_invoice_json(self, i, view);
    default: return NULL;
    }
}

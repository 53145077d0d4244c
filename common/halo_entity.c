/* halo_entity: see halo_entity.h. This file is the only production C file
 * outside halo-sim that spells the entity words and resources
 * (tests/test_entity_names.sh checks it). Sources: DESIGN.md 2.4 for
 * resources, envelopes and last-update spellings; Halo's published OpenAPI
 * spec (covenanttechnologysolutions/halopsa-rest, generator/spec/swagger.json)
 * for the list schemas. */
#include "halo_entity.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const s_ticket_wrappers[] = {"ticket", "tickets", "faults", NULL};
static const char *const s_site_wrappers[] = {"site", "sites", NULL};
static const char *const s_user_wrappers[] = {"user", "users", NULL};
static const char *const s_invoice_wrappers[] = {"invoice", "invoices", "invoiceheader", NULL};
static const char *const s_no_keys[] = {NULL}; /* reference data: no webhook wrapper */
/* Reference lists document no last-update field; any of the five spellings is read if Halo sends one. */
static const char *const s_ref_last_update[] = {"last_modified", "last_update", "lastupdate",
                                                "slastupdate",   "ulastupdate", NULL};

/* Every spelling of a last update Halo is known to use (`last_update`,
 * `lastupdate`, `slastupdate`, `ulastupdate`, `last_modified`, depending on
 * entity, endpoint and version: issue 16), for every entity: its schema's own
 * first (first found wins), then the others. */
static const char *const s_ticket_last_update[] = {"last_update", "lastupdate",    "slastupdate",
                                                   "ulastupdate", "last_modified", NULL};
static const char *const s_site_last_update[] = {"slastupdate", "last_update",   "lastupdate",
                                                 "ulastupdate", "last_modified", NULL};
static const char *const s_user_last_update[] = {"ulastupdate", "last_update",   "lastupdate",
                                                 "slastupdate", "last_modified", NULL};
static const char *const s_invoice_last_update[] = {"last_modified", "last_update", "lastupdate",
                                                    "slastupdate",   "ulastupdate", NULL};

/* Mirror columns whose Halo field is a property of the spec's list schema.
 * Faults_List has every field the tickets table reads; Site_List and
 * Users_List lack the last-update fields. The spec publishes no invoice list
 * schema (its generated client calls the list "List of InvoiceHeader"), so
 * nothing is assumed for invoices. */
static const char *const s_ticket_list_columns[] = {
    "summary",   "details",       "status_id",   "agent_id",    "team",    "priority_id",  "tickettype_id",
    "sla_id",    "category_1",    "client_id",   "client_name", "site_id", "site_name",    "user_id",
    "user_name", "date_occurred", "date_closed", "respond_by",  "fix_by",  "responded_at", "last_update",
    NULL,
};
static const char *const s_site_list_columns[] = {"name", "client_id", "client_name", "phonenumber", "inactive", NULL};
static const char *const s_user_list_columns[] = {
    "name", "emailaddress", "client_id", "client_name", "site_id", "site_name", "inactive", NULL,
};

/* Reference lists: the columns each list schema carries (every one but a last update). */
static const char *const s_status_list_columns[] = {"name", "shortname", "type", "sequence", "colour", NULL};
static const char *const s_agent_list_columns[] = {"name", "email", "team", "isdisabled", NULL};
static const char *const s_team_list_columns[] = {"name", "department_name", "inactive", NULL};
static const char *const s_priority_list_columns[] = {
    "name", "sla_id", "response_time", "response_units", "fix_time", "fix_units", NULL};
static const char *const s_tickettype_list_columns[] = {"name", "group_name", NULL};
static const char *const s_sla_list_columns[] = {"name", "track_response", "track_fix", NULL};

/* list_query, incremental_param and periodic_full_sync say what halo-fetcher
 * does: tickets are listed with includeclosed=true (the spec gives /Tickets
 * no default between open and closed: a tenant listing open ones only would
 * never mirror its closed tickets), sites and users with inactive ones;
 * invoices are filtered by the spec's invoicedatestart (an invoice-date
 * window, not a last-update filter) and fully re-listed every
 * HALO_SYNC_INVOICE_FULL_S (docs/fetcher.md). */
static const halo_entity_t s_entities[HALO_ENTITY_COUNT] = {
    [HALO_ENTITY_TICKET] = {HALO_ENTITY_TICKET, "ticket", "tickets", "/Tickets", "tickets", "read:tickets",
                            s_ticket_wrappers, s_ticket_last_update, "includeclosed=true", "lastupdatefromdate", false,
                            "Faults_List", s_ticket_list_columns, false},
    [HALO_ENTITY_SITE] = {HALO_ENTITY_SITE, "site", "sites", "/Site", "sites", "read:customers", s_site_wrappers,
                          s_site_last_update, "includeinactive=true", "lastupdatefromdate", false, "Site_List",
                          s_site_list_columns, false},
    [HALO_ENTITY_USER] = {HALO_ENTITY_USER, "user", "users", "/Users", "users", "read:customers", s_user_wrappers,
                          s_user_last_update, "includeinactive=true", "lastupdatefromdate", false, "Users_List",
                          s_user_list_columns, false},
    [HALO_ENTITY_INVOICE] = {HALO_ENTITY_INVOICE, "invoice", "invoices", "/Invoice", "invoices", "read:invoices",
                             s_invoice_wrappers, s_invoice_last_update, "", "invoicedatestart", true, NULL, NULL,
                             false},
    /* Reference data (issue 18): the lookups the BI views name ids with. The
     * spec publishes these lists as bare arrays (TStatus, Uname_List,
     * SectionDetail_List, Policy, RequestType_List, SlaHead) except /Client,
     * paginated under "clients" (Area). No last-update filter: listed in full
     * at connect and every HALO_SYNC_INVOICE_FULL_S (one page each, clients one per
     * 100). Halo
     * has no read:agents-like scope; the ticket lookups come with
     * read:tickets, clients with read:customers. */
    [HALO_ENTITY_STATUS] = {HALO_ENTITY_STATUS, "status", "statuses", "/Status", "", "read:tickets", s_no_keys,
                            s_ref_last_update, "", NULL, true, "TStatus", s_status_list_columns, true},
    [HALO_ENTITY_AGENT] = {HALO_ENTITY_AGENT, "agent", "agents", "/Agent", "", "read:tickets", s_no_keys,
                           s_ref_last_update, "includedisabled=true", NULL, true, "Uname_List", s_agent_list_columns,
                           true},
    [HALO_ENTITY_TEAM] = {HALO_ENTITY_TEAM, "team", "teams", "/Team", "", "read:tickets", s_no_keys, s_ref_last_update,
                          "includedisabled=true", NULL, true, "SectionDetail_List", s_team_list_columns, true},
    [HALO_ENTITY_PRIORITY] = {HALO_ENTITY_PRIORITY, "priority", "priorities", "/Priority", "", "read:tickets",
                              s_no_keys, s_ref_last_update, "", NULL, true, "Policy", s_priority_list_columns, true},
    [HALO_ENTITY_TICKETTYPE] = {HALO_ENTITY_TICKETTYPE, "tickettype", "tickettypes", "/TicketType", "", "read:tickets",
                                s_no_keys, s_ref_last_update, "showinactive=true", NULL, true, "RequestType_List",
                                s_tickettype_list_columns, true},
    [HALO_ENTITY_SLA] = {HALO_ENTITY_SLA, "sla", "slas", "/SLA", "", "read:tickets", s_no_keys, s_ref_last_update, "",
                         NULL, true, "SlaHead", s_sla_list_columns, true},
    [HALO_ENTITY_CLIENT] = {HALO_ENTITY_CLIENT, "client", "clients", "/Client", "clients", "read:customers", s_no_keys,
                            s_ref_last_update, "includeinactive=true", NULL, true, NULL, NULL, true},
};

size_t halo_entity_count(void)
{
    return HALO_ENTITY_COUNT;
}

const halo_entity_t *halo_entity_at(size_t index)
{
    return index < HALO_ENTITY_COUNT ? &s_entities[index] : NULL;
}

const halo_entity_t *halo_entity_by_name(const char *name)
{
    for (size_t i = 0; name && i < HALO_ENTITY_COUNT; i++)
        if (strcmp(name, s_entities[i].name) == 0)
            return &s_entities[i];
    return NULL;
}

const halo_entity_t *halo_entity_by_resource(const char *resource)
{
    if (resource && resource[0] == '/')
        resource++;
    for (size_t i = 0; resource && i < HALO_ENTITY_COUNT; i++)
        if (strcasecmp(resource, s_entities[i].resource + 1) == 0)
            return &s_entities[i];
    return NULL;
}

const halo_entity_t *halo_entity_by_wrapper(const char *key)
{
    for (size_t i = 0; key && i < HALO_ENTITY_COUNT; i++)
        for (const char *const *w = s_entities[i].wrapper_keys; *w; w++)
            if (strcasecmp(key, *w) == 0)
                return &s_entities[i];
    return NULL;
}

const halo_entity_t *halo_entity_parse(const char *text)
{
    const halo_entity_t *by_resource = halo_entity_by_resource(text);
    if (by_resource)
        return by_resource;
    for (size_t i = 0; text && i < HALO_ENTITY_COUNT; i++)
        if (strcasecmp(text, s_entities[i].name) == 0 || strcasecmp(text, s_entities[i].table) == 0 ||
            (s_entities[i].list_key[0] && strcasecmp(text, s_entities[i].list_key) == 0))
            return &s_entities[i];
    return NULL;
}

void halo_entity_names_array(const char *only, bool periodic_only, char *out, size_t outlen)
{
    size_t used = (size_t)snprintf(out, outlen, "{");
    for (size_t i = 0; i < HALO_ENTITY_COUNT && used < outlen; i++)
        if ((!only || strcmp(only, s_entities[i].name) == 0) && (!periodic_only || s_entities[i].periodic_full_sync))
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", used > 1 ? "," : "", s_entities[i].name);
    if (used < outlen)
        snprintf(out + used, outlen - used, "}");
}

bool halo_entity_list_has_column(const halo_entity_t *entity, const char *column)
{
    for (const char *const *c = entity && column ? entity->list_columns : NULL; c && *c; c++)
        if (strcmp(*c, column) == 0)
            return true;
    return false;
}

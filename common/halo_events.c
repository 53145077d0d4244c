/* halo_events: the alias table from Halo event names to (entity, op,
 * canonical event), and the names of entities in Halo's API. */
#include "halo_events.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define EVENT_NAME_MAX 128

typedef struct {
    const char *alias; /* lowercase, single-spaced */
    halo_event_map_t map;
} s_alias_t;

static const s_alias_t s_aliases[] = {
    { "ticket changed", { "ticket", "upsert", "Ticket Changed" } },
    { "ticket updated", { "ticket", "upsert", "Ticket Changed" } },
    { "new ticket logged", { "ticket", "upsert", "New Ticket Logged" } },
    { "ticket logged", { "ticket", "upsert", "New Ticket Logged" } },
    { "ticket created", { "ticket", "upsert", "New Ticket Logged" } },
    { "new ticket", { "ticket", "upsert", "New Ticket Logged" } },
    { "ticket status changed", { "ticket", "upsert", "Ticket Status Changed" } },
    { "ticket reassigned", { "ticket", "upsert", "Ticket Reassigned" } },
    { "ticket assigned", { "ticket", "upsert", "Ticket Reassigned" } },
    { "ticket priority changed", { "ticket", "upsert", "Ticket Priority Changed" } },
    { "ticket closed", { "ticket", "upsert", "Ticket Closed" } },
    { "ticket reopened", { "ticket", "upsert", "Ticket Reopened" } },
    { "ticket updated by end user", { "ticket", "upsert", "Ticket Changed" } },
    { "ticket deleted", { "ticket", "delete", "Ticket Deleted" } },
    { "site created", { "site", "upsert", "Site created" } },
    { "new site", { "site", "upsert", "Site created" } },
    { "site updated", { "site", "upsert", "Site updated" } },
    { "site changed", { "site", "upsert", "Site updated" } },
    { "site deleted", { "site", "delete", "Site deleted" } },
    { "user created", { "user", "upsert", "User created" } },
    { "new user", { "user", "upsert", "User created" } },
    { "user updated", { "user", "upsert", "User updated" } },
    { "user changed", { "user", "upsert", "User updated" } },
    { "user deleted", { "user", "delete", "User deleted" } },
    { "invoice created", { "invoice", "upsert", "Invoice created" } },
    { "new invoice", { "invoice", "upsert", "Invoice created" } },
    { "invoice updated", { "invoice", "upsert", "Invoice updated" } },
    { "invoice changed", { "invoice", "upsert", "Invoice updated" } },
    { "invoice deleted", { "invoice", "delete", "Invoice deleted" } },
};

static const char *const s_expected[] = {
    "Ticket Changed", "New Ticket Logged", "Site created",    "Site updated",    "Site deleted",    "User created",
    "User updated",   "User deleted",      "Invoice created", "Invoice updated", "Invoice deleted",
};

static const struct {
    const char *key;
    const char *entity;
} s_wrappers[] = {
    { "ticket", "ticket" }, { "tickets", "ticket" }, { "faults", "ticket" },   { "site", "site" },
    { "sites", "site" },    { "user", "user" },      { "users", "user" },      { "invoice", "invoice" },
    { "invoices", "invoice" }, { "invoiceheader", "invoice" },
};

static const struct {
    const char *entity;
    const char *resource;
    const char *list_key;
} s_entities[] = {
    { "ticket", "Tickets", "tickets" },
    { "site", "Site", "sites" },
    { "user", "Users", "users" },
    { "invoice", "Invoice", "invoices" },
};

/* Lowercases raw into out, trimming and collapsing blanks; -1 if too long. */
static int s_normalize(const char *raw, char *out, size_t cap)
{
    size_t n = 0;
    int pending_space = 0;
    for (const char *p = raw; *p; p++) {
        if (isspace((unsigned char)*p)) {
            pending_space = n > 0;
            continue;
        }
        if (pending_space) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = ' ';
            pending_space = 0;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    return 0;
}

int halo_events_map(const char *raw_event, halo_event_map_t *out)
{
    char name[EVENT_NAME_MAX];
    if (!raw_event || s_normalize(raw_event, name, sizeof name) != 0)
        return -1;
    for (size_t i = 0; i < sizeof s_aliases / sizeof s_aliases[0]; i++)
        if (strcmp(name, s_aliases[i].alias) == 0) {
            *out = s_aliases[i].map;
            return 0;
        }
    return -1;
}

const char *halo_events_entity_for_wrapper(const char *key)
{
    for (size_t i = 0; key && i < sizeof s_wrappers / sizeof s_wrappers[0]; i++)
        if (strcasecmp(key, s_wrappers[i].key) == 0)
            return s_wrappers[i].entity;
    return NULL;
}

const char *const *halo_events_expected_default(size_t *count)
{
    *count = sizeof s_expected / sizeof s_expected[0];
    return s_expected;
}

const char *halo_events_api_resource(const char *entity)
{
    for (size_t i = 0; entity && i < sizeof s_entities / sizeof s_entities[0]; i++)
        if (strcmp(entity, s_entities[i].entity) == 0)
            return s_entities[i].resource;
    return NULL;
}

const char *halo_events_list_key(const char *entity)
{
    for (size_t i = 0; entity && i < sizeof s_entities / sizeof s_entities[0]; i++)
        if (strcmp(entity, s_entities[i].entity) == 0)
            return s_entities[i].list_key;
    return NULL;
}

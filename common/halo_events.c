/* halo_events: the alias table from Halo event names to (entity, op,
 * canonical event); what it knows of entities comes from halo_entity. */
#include "halo_events.h"

#include "halo_entity.h"

#include <ctype.h>
#include <string.h>

#define EVENT_NAME_MAX 128

typedef struct {
    const char *alias; /* lowercase, single-spaced */
    halo_entity_id_t entity;
    const char *op;
    const char *canonical;
} s_alias_t;

static const s_alias_t s_aliases[] = {
    {"ticket changed", HALO_ENTITY_TICKET, "upsert", "Ticket Changed"},
    {"ticket updated", HALO_ENTITY_TICKET, "upsert", "Ticket Changed"},
    {"new ticket logged", HALO_ENTITY_TICKET, "upsert", "New Ticket Logged"},
    {"ticket logged", HALO_ENTITY_TICKET, "upsert", "New Ticket Logged"},
    {"ticket created", HALO_ENTITY_TICKET, "upsert", "New Ticket Logged"},
    {"new ticket", HALO_ENTITY_TICKET, "upsert", "New Ticket Logged"},
    {"ticket status changed", HALO_ENTITY_TICKET, "upsert", "Ticket Status Changed"},
    {"ticket reassigned", HALO_ENTITY_TICKET, "upsert", "Ticket Reassigned"},
    {"ticket assigned", HALO_ENTITY_TICKET, "upsert", "Ticket Reassigned"},
    {"ticket priority changed", HALO_ENTITY_TICKET, "upsert", "Ticket Priority Changed"},
    {"ticket closed", HALO_ENTITY_TICKET, "upsert", "Ticket Closed"},
    {"ticket reopened", HALO_ENTITY_TICKET, "upsert", "Ticket Reopened"},
    {"ticket updated by end user", HALO_ENTITY_TICKET, "upsert", "Ticket Changed"},
    /* Names live tenants send beyond the seed's eleven (the n8n HaloPSA
     * trigger's list, DESIGN.md 2.4). They keep names of their own, so a
     * tenant that only sends them is not taken for one sending the seed's. */
    {"ticket updated by user", HALO_ENTITY_TICKET, "upsert", "Ticket Updated by User"},
    {"ticket updated by a user", HALO_ENTITY_TICKET, "upsert", "Ticket Updated by User"},
    {"updated by user", HALO_ENTITY_TICKET, "upsert", "Ticket Updated by User"},
    {"closed", HALO_ENTITY_TICKET, "upsert", "Ticket Closed"},
    {"ticket status change", HALO_ENTITY_TICKET, "upsert", "Ticket Status Changed"},
    {"ticket status updated", HALO_ENTITY_TICKET, "upsert", "Ticket Status Changed"},
    {"status changed", HALO_ENTITY_TICKET, "upsert", "Ticket Status Changed"},
    {"ticket deleted", HALO_ENTITY_TICKET, "delete", "Ticket Deleted"},
    {"ticket delete", HALO_ENTITY_TICKET, "delete", "Ticket Deleted"},
    {"deleted ticket", HALO_ENTITY_TICKET, "delete", "Ticket Deleted"},
    {"ticket removed", HALO_ENTITY_TICKET, "delete", "Ticket Deleted"},
    {"site created", HALO_ENTITY_SITE, "upsert", "Site created"},
    {"new site", HALO_ENTITY_SITE, "upsert", "Site created"},
    {"site updated", HALO_ENTITY_SITE, "upsert", "Site updated"},
    {"site changed", HALO_ENTITY_SITE, "upsert", "Site updated"},
    {"site deleted", HALO_ENTITY_SITE, "delete", "Site deleted"},
    {"user created", HALO_ENTITY_USER, "upsert", "User created"},
    {"new user", HALO_ENTITY_USER, "upsert", "User created"},
    {"user updated", HALO_ENTITY_USER, "upsert", "User updated"},
    {"user changed", HALO_ENTITY_USER, "upsert", "User updated"},
    {"user deleted", HALO_ENTITY_USER, "delete", "User deleted"},
    {"invoice created", HALO_ENTITY_INVOICE, "upsert", "Invoice created"},
    {"new invoice", HALO_ENTITY_INVOICE, "upsert", "Invoice created"},
    {"invoice updated", HALO_ENTITY_INVOICE, "upsert", "Invoice updated"},
    {"invoice changed", HALO_ENTITY_INVOICE, "upsert", "Invoice updated"},
    {"invoice deleted", HALO_ENTITY_INVOICE, "delete", "Invoice deleted"},
};

static const char *const s_expected[] = {
    "Ticket Changed", "New Ticket Logged", "Site created",    "Site updated",    "Site deleted",    "User created",
    "User updated",   "User deleted",      "Invoice created", "Invoice updated", "Invoice deleted",
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
            out->entity = halo_entity_at(s_aliases[i].entity)->name;
            out->op = s_aliases[i].op;
            out->canonical = s_aliases[i].canonical;
            return 0;
        }
    return -1;
}

/* The entity an entity word of text names (its name, table, list key or a
 * wrapper key, as a whole word, any case): the first such word, or NULL. */
static const halo_entity_t *s_entity_word(const char *text)
{
    char word[EVENT_NAME_MAX];
    size_t n = 0;
    for (const char *p = text;; p++) {
        if (*p && isalpha((unsigned char)*p)) {
            if (n + 1 < sizeof word)
                word[n++] = *p;
            continue;
        }
        if (n > 0 && n + 1 < sizeof word) {
            word[n] = '\0';
            const halo_entity_t *e = halo_entity_by_wrapper(word);
            if (!e)
                e = halo_entity_parse(word);
            if (e && !e->reference) /* reference lists are listed whole, never fetched per object */
                return e;
        }
        n = 0;
        if (!*p)
            return NULL;
    }
}

/* Whether the normalized name has a word that says the object is gone. */
static int s_says_deleted(const char *name)
{
    static const char *const words[] = {"deleted", "delete", "removed"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        for (const char *p = strstr(name, words[i]); p; p = strstr(p + 1, words[i]))
            if ((p == name || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
                return 1;
    }
    return 0;
}

int halo_events_infer(const char *raw_event, const char *wrapper_entity, const char *message, halo_event_map_t *out)
{
    char name[EVENT_NAME_MAX];
    if (!raw_event || s_normalize(raw_event, name, sizeof name) != 0 || name[0] == '\0')
        return -1;
    const halo_entity_t *entity = halo_entity_by_name(wrapper_entity);
    if (entity && entity->reference)
        entity = NULL;
    if (!entity)
        entity = s_entity_word(name);
    if (!entity && message)
        entity = s_entity_word(message);
    if (!entity)
        return -1;
    out->entity = entity->name;
    out->op = s_says_deleted(name) ? "delete" : "upsert";
    out->canonical = NULL;
    return 0;
}

const char *halo_events_entity_for_wrapper(const char *key)
{
    const halo_entity_t *entity = halo_entity_by_wrapper(key);
    return entity ? entity->name : NULL;
}

/* Without it a deleted ticket is only found out by the next full sync (or a
 * later webhook about it): deleted sites, users and invoices have events of
 * their own among the seed's. */
static const char *const s_recommended[] = {"Ticket Deleted"};

const char *const *halo_events_recommended_extra(size_t *count)
{
    *count = sizeof s_recommended / sizeof s_recommended[0];
    return s_recommended;
}

const char *const *halo_events_expected_default(size_t *count)
{
    *count = sizeof s_expected / sizeof s_expected[0];
    return s_expected;
}

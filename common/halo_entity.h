/* halo_entity: the one table of the Halo entities halo-sync mirrors. Each row
 * says everything the code needs to know about an entity by name: its word
 * ("ticket"), its mirror table, its Halo resource and list envelope key, the
 * keys a webhook wraps it in, every known spelling of its last-update field,
 * the API permission that reads it, and which mirror columns a list page can
 * fill according to Halo's published spec. (The seed's events stay in
 * halo_events, which maps each event to a row of this table.) Everything that enumerates
 * entities (webhook parsing, status, the fetcher, the store, haloctl)
 * iterates or looks up this table; halo-sim keeps its own on purpose
 * (docs/sim.md). Rows are static and borrowed: never freed. */
#ifndef HALO_ENTITY_H
#define HALO_ENTITY_H

#include <stdbool.h>
#include <stddef.h>

/* The rows in table order (the order of status reports and sync arrays). */
typedef enum {
    HALO_ENTITY_TICKET = 0,
    HALO_ENTITY_SITE,
    HALO_ENTITY_USER,
    HALO_ENTITY_INVOICE,
    HALO_ENTITY_STATUS, /* reference data from here on (reference = true) */
    HALO_ENTITY_AGENT,
    HALO_ENTITY_TEAM,
    HALO_ENTITY_PRIORITY,
    HALO_ENTITY_TICKETTYPE,
    HALO_ENTITY_SLA,
    HALO_ENTITY_CLIENT,
    HALO_ENTITY_COUNT
} halo_entity_id_t;

typedef struct {
    halo_entity_id_t id;
    const char *name;                    /* singular word: messages, the ledger, sync_state.entity */
    const char *table;                   /* mirror table in schema halo */
    const char *resource;                /* Halo API path, with its leading slash ("/Tickets") */
    const char *list_key;                /* key of the row array in a list response */
    const char *permission;              /* Halo API permission that allows reading it */
    const char *const *wrapper_keys;     /* webhook payload keys that wrap one object (NULL-terminated) */
    const char *const *last_update_keys; /* every known spelling of its last-update field (NULL-terminated) */
    const char *list_query;              /* query parameters every list request adds ("includeinactive=true"), or "" */
    const char *incremental_param;       /* list parameter of an incremental pass, given the last cursor */
    bool periodic_full_sync;             /* the filter above is not a last-update one: re-list in full periodically */
    const char *list_schema;             /* the spec's list schema ("Faults_List"), NULL if none is published */
    const char *const *list_columns;     /* mirror columns a list row fills per list_schema (NULL-terminated);
                                            NULL when no list schema is published: assume none */
    bool reference;                      /* reference data (statuses, agents, clients, ...): no webhook, no
                                            incremental pass, re-listed in full with the periodic syncs; a
                                            list_key of "" means Halo answers with a bare JSON array */
} halo_entity_t;

/* Number of rows. */
size_t halo_entity_count(void);
/* Row index (0..count-1), or NULL when out of range. */
const halo_entity_t *halo_entity_at(size_t index);
/* Row named exactly name ("ticket"), or NULL. */
const halo_entity_t *halo_entity_by_name(const char *name);
/* Row of a Halo resource ("/Tickets" or "Tickets", any case), or NULL. */
const halo_entity_t *halo_entity_by_resource(const char *resource);
/* Row a webhook wrapper key names ("ticket", "faults", "InvoiceHeader": any case), or NULL. */
const halo_entity_t *halo_entity_by_wrapper(const char *key);
/* Row an operator may type: its name, table, list key or resource, any case ("Tickets"), or NULL. */
const halo_entity_t *halo_entity_parse(const char *text);
/* Writes the rows' names in table order as a PostgreSQL text[] literal
 * ("{ticket,site}"): every row, or only the one named only (none when no row
 * has that name), or (periodic_only) the rows with periodic_full_sync. */
void halo_entity_names_array(const char *only, bool periodic_only, char *out, size_t outlen);
/* True if a list page fills the mirror column of entity (by the spec's list schema). */
bool halo_entity_list_has_column(const halo_entity_t *entity, const char *column);

#endif

/* sim_data: the simulated tenant's data: clients, tickets, sites, users and
 * invoices, generated deterministically from a seed and sizes, referentially
 * consistent, rendered as Halo renders them (quirks included), queried as the
 * Halo list endpoints query them, and changed by mutations that keep track of
 * deletes. Not thread-safe: the server holds a lock around every call. */
#ifndef SIM_DATA_H
#define SIM_DATA_H

#include "sim_util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_DATA_MAX_ROWS 5000000 /* per entity, generated plus created */
#define SIM_PAGE_SIZE_MAX 100     /* Halo silently caps pages at 100 rows */
#define SIM_PAGE_SIZE_DEFAULT 50
#define SIM_DEFAULT_EPOCH_MS 1767225600000LL /* 2026-01-01T00:00:00Z: generated data ends here */

typedef enum {
    SIM_ENTITY_TICKETS = 0,
    SIM_ENTITY_SITES,
    SIM_ENTITY_USERS,
    SIM_ENTITY_INVOICES,
    SIM_ENTITY_COUNT,
    SIM_ENTITY_NONE = -1
} sim_entity_t;

typedef enum { SIM_OP_NEW = 0, SIM_OP_UPDATE, SIM_OP_DELETE, SIM_OP_RESTORE, SIM_OP_COUNT } sim_op_t;

/* How an object is rendered: the small webhook payload, a single GET, a
 * single GET with includedetails, or a row of a list page (its fields per
 * the profile's --list-fields). */
typedef enum { SIM_VIEW_ROW = 0, SIM_VIEW_SINGLE, SIM_VIEW_FULL, SIM_VIEW_LIST } sim_view_t;

/* Which fields a list row carries: the spec's list schema (Faults_List,
 * Site_List, Users_List; invoices: no published schema, see docs/sim.md), or
 * every field of the single object. */
typedef enum { SIM_LIST_SPEC = 0, SIM_LIST_RICH } sim_list_fields_t;
/* Which tickets /Tickets lists without open_only, closed_only or includeclosed. */
typedef enum { SIM_TICKETS_OPEN = 0, SIM_TICKETS_ALL } sim_ticket_list_t;
/* Last-update spellings: tickets mixing last_update and lastupdate (seen
 * live), each schema's own (spec), or any of the five per object (any). */
typedef enum { SIM_SPELL_MIXED = 0, SIM_SPELL_SPEC, SIM_SPELL_ANY } sim_spelling_t;
/* /Invoice date filters: invoicedatestart/invoicedateend honoured (spec), or ignored. */
typedef enum { SIM_INVOICE_FILTER_SPEC = 0, SIM_INVOICE_FILTER_IGNORED } sim_invoice_filter_t;

/* The Halo behaviours the spec leaves open (zero: the defaults). */
typedef struct {
    sim_list_fields_t list_fields;
    sim_ticket_list_t ticket_list;
    sim_spelling_t spelling;
    sim_invoice_filter_t invoice_filter;
} sim_profile_t;

typedef struct {
    uint64_t seed;
    int tickets, sites, users, invoices;
    int64_t epoch_ms; /* generated dates fall in the year before this instant */
    sim_profile_t profile;
} sim_data_params_t;

typedef struct {
    bool paginate;     /* pageinate=true */
    int page_size;     /* requested; capped at SIM_PAGE_SIZE_MAX */
    int page_no;       /* 1-based */
    const char *order; /* field name or NULL (id) */
    bool orderdesc;
    int64_t lastupdate_from; /* -1: no bound (tickets, sites, users only) */
    int64_t lastupdate_to;
    int64_t date_from; /* invoices: invoice_date window, -1: no bound */
    int64_t date_to;
    bool include_inactive; /* sites, users: default false */
    bool include_active;   /* sites, users: default true */
    bool open_only;        /* tickets */
    bool closed_only;
    int include_closed; /* tickets: includeclosed, -1 when absent */
} sim_query_t;

typedef struct {
    sim_entity_t entity;
    sim_op_t op;
    int64_t id;
    const char *event; /* Halo event name (static string) */
    int notification_id;
} sim_mutation_t;

typedef struct _sim_data_t sim_data_t;

/* Generates a dataset; NULL on bad sizes or no memory. */
sim_data_t *sim_data_new(const sim_data_params_t *params);
/* Frees it; safe to call twice. */
void sim_data_destroy(sim_data_t **self_p);
/* Entity of an API path segment or dump name ("Tickets", "site", "users", "Invoice"...). */
sim_entity_t sim_entity_parse(const char *name);
/* Wrapper key of an entity's lists: "tickets", "sites", "users", "invoices". */
const char *sim_entity_key(sim_entity_t entity);
/* Singular name used as webhook wrapper key: "ticket", "site", "user", "invoice". */
const char *sim_entity_singular(sim_entity_t entity);
/* Fills q with Halo's defaults (no paging, id order, active only). */
void sim_query_init(sim_query_t *q);
/* The list response {"page_no","page_size","record_count",key:[rows]}; caller owns. */
json_t *sim_data_list(sim_data_t *self, sim_entity_t entity, const sim_query_t *q);
/* One live object in the given view, or NULL when missing or deleted; caller owns. */
json_t *sim_data_get(sim_data_t *self, sim_entity_t entity, int64_t id, sim_view_t view);
/* Every live object in full view plus "deleted_ids"; caller owns. */
json_t *sim_data_dump(sim_data_t *self, sim_entity_t entity);
/* Number of live (deleted = false) or deleted (true) objects. */
size_t sim_data_count(const sim_data_t *self, sim_entity_t entity, bool deleted);
/* Parses "ticket_update" etc. into entity and op; false if unknown. */
bool sim_mutation_kind_parse(const char *text, sim_entity_t *entity, sim_op_t *op);
/* Applies one mutation of entity/op to object id (0: pick one at random, or a new id)
 * at now_ms (wall). Bumps the object's last-update field. 0 with *out filled,
 * or -1 with the reason in err (no such object, nothing to restore...). */
int sim_data_mutate(sim_data_t *self, sim_entity_t entity, sim_op_t op, int64_t id, int64_t now_ms, sim_mutation_t *out,
                    char *err, size_t errlen) __attribute__((warn_unused_result));
/* Picks a kind among the allowed ones (allowed[entity][op]; NULL: all) with
 * Halo-like weights and applies it to a random object. 0 or -1. */
int sim_data_mutate_random(sim_data_t *self, const bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT], int64_t now_ms,
                           sim_mutation_t *out) __attribute__((warn_unused_result));
/* Fills m->event and m->notification_id from m->entity and m->op (Halo's names). */
void sim_mutation_event(sim_mutation_t *m, bool status_changed);
/* Id of a random live object of entity drawn from rng, or -1 when there is none. */
int64_t sim_data_random_id(sim_data_t *self, sim_entity_t entity, sim_rng_t *rng);
/* Mutations applied since start. */
uint64_t sim_data_mutations(const sim_data_t *self);

#endif

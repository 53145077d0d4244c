/* halo_events: Halo's webhook event names mapped to what we do with them.
 * Halo names events for people ("New Ticket Logged", "ticket status
 * changed"); we map them case-insensitively, ignoring surrounding blanks, to
 * (entity, op, canonical event). The canonical names of the seed's eleven
 * events are what the webhook status is computed from. */
#ifndef HALO_EVENTS_H
#define HALO_EVENTS_H

#include <stddef.h>

typedef struct {
    const char *entity;    /* a halo_entity name: "ticket" | "site" | "user" | "invoice" */
    const char *op;        /* "upsert" | "delete" */
    const char *canonical; /* e.g. "Ticket Changed" */
} halo_event_map_t;

/* Maps raw_event; 0 and *out filled (borrowed static strings), or -1 if unknown. */
int halo_events_map(const char *raw_event, halo_event_map_t *out);
/* For an event halo_events_map does not know: the entity it names (the
 * entity of its wrapper key when wrapper_entity, a halo_entity name, is
 * given; else the first entity word of the event name; else of message, may
 * be NULL) and its op ("delete" if the name says deleted/removed, else
 * "upsert"); canonical is set to NULL (the caller keeps the raw name). 0, or
 * -1 if nothing names an entity. */
int halo_events_infer(const char *raw_event, const char *wrapper_entity, const char *message, halo_event_map_t *out);
/* Entity named by a webhook wrapper key ("ticket", "site", ...), or NULL. */
const char *halo_events_entity_for_wrapper(const char *key);
/* Events worth adding to a Halo webhook beyond the expected ones, canonical
 * names (borrowed; "Ticket Deleted": the seed has no ticket deletion event);
 * *count set. */
const char *const *halo_events_recommended_extra(size_t *count);
/* The seed's eleven events in its order (borrowed); *count set to 11. */
const char *const *halo_events_expected_default(size_t *count);

#endif

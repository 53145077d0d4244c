/* sim_webhook: Halo-shaped webhook deliveries and their sender. A delivery is
 * {"id":<guid>,"webhook_id":<guid>,"notification_id":N,"event":"Ticket Changed",
 * "object_id":N,"timestamp":"...7895915Z","ticket":{...}}; a plan turns a list
 * of deliveries into HTTP bodies (duplicated, batched into arrays, reordered);
 * the client POSTs bodies with libcurl, with HTTP Basic auth or none. */
#ifndef SIM_WEBHOOK_H
#define SIM_WEBHOOK_H

#include "sim_data.h"
#include "sim_util.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_WEBHOOK_URL_MAX 1024
#define SIM_WEBHOOK_CRED_MAX 256
#define SIM_WEBHOOK_BATCH_MAX 5 /* deliveries in one batched array */
#define SIM_WEBHOOK_TIMEOUT_MS 10000
#define SIM_STORM_MAX_THREADS 64

#define SIM_TEMPLATE_MAX 4096 /* bytes of a custom payload template */

/* The four payload types of Halo's webhook guide: the wrapper object carries
 * the full object, a list-row sized one, or nothing (event information only:
 * ids, event name, object id, timestamp); or a user template (custom). */
typedef enum { SIM_PAYLOAD_FULL = 0, SIM_PAYLOAD_SMALL, SIM_PAYLOAD_EVENT, SIM_PAYLOAD_CUSTOM } sim_payload_t;

/* Which event names deliveries carry: the seed's; those live tenants send
 * ("Ticket Updated by User", "Closed", "Ticket Status Changed", "Ticket
 * Deleted"); names in no alias table that still say the entity ("Ticket
 * Amended", "Site Purged"); or one name that says nothing ("Action Added"). */
typedef enum { SIM_NAMES_SEED = 0, SIM_NAMES_LIVE, SIM_NAMES_UNLISTED, SIM_NAMES_ANONYMOUS } sim_names_t;

typedef struct {
    char url[SIM_WEBHOOK_URL_MAX];   /* empty: webhooks disabled */
    char user[SIM_WEBHOOK_CRED_MAX]; /* empty: no Basic auth */
    char pass[SIM_WEBHOOK_CRED_MAX];
    long timeout_ms;
} sim_webhook_target_t;

typedef struct _sim_webhook_client_t sim_webhook_client_t;

/* Parses "full", "small", "event" or "custom"; false if unknown. */
bool sim_payload_parse(const char *text, sim_payload_t *out);
/* The word of a payload type ("full"...). */
const char *sim_payload_text(sim_payload_t payload);
/* Parses "seed", "live", "unlisted" or "anonymous"; false if unknown. */
bool sim_names_parse(const char *text, sim_names_t *out);
/* The word of a name set ("seed"...). */
const char *sim_names_text(sim_names_t names);
/* Gives m the event name (and notification id) of names; closed: the ticket
 * is closed after m (live names then say "Closed"). */
void sim_webhook_rename(sim_mutation_t *m, sim_names_t names, bool closed);
/* Builds one custom delivery for m from template (NULL or "": the default
 * one of docs/sim.md): each $id, $webhook_id, $notification_id, $event,
 * $entity, $object_id, $timestamp, $message and $object (object: borrowed,
 * may be NULL) becomes its JSON value. Caller owns the result; NULL with err
 * when the rendered text is not JSON. */
json_t *sim_webhook_delivery_custom(const sim_mutation_t *m, const json_t *object, const char *webhook_id,
                                    const char *template, sim_rng_t *rng, int64_t wall_ms, char *err, size_t errlen);
/* Builds one delivery for mutation m; object (stolen, may be NULL) becomes the
 * wrapper object named after the entity unless payload is SIM_PAYLOAD_EVENT.
 * Caller owns the result. */
json_t *sim_webhook_delivery(const sim_mutation_t *m, json_t *object, const char *webhook_id, sim_payload_t payload,
                             sim_rng_t *rng, int64_t wall_ms);
/* Turns the array of deliveries into an array of bodies: each delivery once,
 * plus a resend of the same delivery with probability duplicates; runs of
 * 2..SIM_WEBHOOK_BATCH_MAX deliveries become one JSON array with probability
 * batch; bodies are shuffled when reorder. Caller owns the result. */
json_t *sim_webhook_plan(const json_t *deliveries, double duplicates, double batch, bool reorder, sim_rng_t *rng);
/* Creates a client for target (copied); NULL on failure. */
sim_webhook_client_t *sim_webhook_client_new(const sim_webhook_target_t *target);
/* Frees the client; safe to call twice. */
void sim_webhook_client_destroy(sim_webhook_client_t **self_p);
/* POSTs body as application/json. Returns the HTTP status (> 0), or -1 with the
 * transport error in err. */
long sim_webhook_client_post(sim_webhook_client_t *self, const char *body, char *err, size_t errlen);

/* Sends every body of bodies to target from `concurrency` threads, at most
 * `rate` bodies per second overall (<= 0: unlimited), stopping early when
 * *stop becomes true. Returns {"bodies","sent","acked","failed","elapsed_ms",
 * "per_second","latency_ms":{"p50","p90","p99","max"}}; caller owns. */
json_t *sim_webhook_storm(const sim_webhook_target_t *target, const json_t *bodies, int concurrency, double rate,
                          atomic_bool *stop);
/* Latency percentile p (0..100) of n sorted values (nearest rank); 0 when n is 0. */
double sim_webhook_percentile(const double *sorted, size_t n, double p);

#endif

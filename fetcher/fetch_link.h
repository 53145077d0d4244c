/* fetch_link: the fetcher's side of ingest -> fetcher hand-off. One DEALER
 * per ingest endpoint (HALO_INGEST_ENDPOINTS), with Paranoid Pirate
 * heartbeats (1 s, liveness 3) and reconnects backing off up to 32 s; credit
 * flow with READY (additive: "send me `credit` more jobs"); JOBs collected
 * for the ledger and ACKed after their transaction commits. Used only by the
 * main thread. */
#ifndef FETCH_LINK_H
#define FETCH_LINK_H

#include <stdint.h>

#include "fetch_config.h"
#include "fetch_ledger.h"

#define FETCH_LINK_MAX 16

typedef struct _fetch_link_t fetch_link_t;

/* Connects to every endpoint of s->ingest_endpoints and sends READY with s->credit. NULL on failure. */
fetch_link_t *fetch_link_new(void *ctx, const fetch_settings_t *s);
/* Closes every socket; safe to call twice. */
void fetch_link_destroy(fetch_link_t **self_p);
/* Waits up to timeout_ms for messages, then takes what is ready: JOBs are
 * appended to jobs (up to max, *njobs updated), heartbeats noted, anything
 * malformed dropped and logged. Returns 0, or -1 if polling failed. */
int fetch_link_poll(fetch_link_t *self, int64_t timeout_ms, fetch_job_t *jobs, int max, int *njobs);
/* ACKs the jobs (grouped per link) and grants their credit back with READY. */
void fetch_link_ack(fetch_link_t *self, const fetch_job_t *jobs, int n);
/* Sends due heartbeats and replaces links whose ingest went silent. */
void fetch_link_tick(fetch_link_t *self, int64_t now_ms);
/* Ms until the next heartbeat or reconnect is due (>= 0). */
int64_t fetch_link_timeout(const fetch_link_t *self, int64_t now_ms);
/* Jobs buffered capacity needed: credit times links. */
int fetch_link_capacity(const fetch_link_t *self);

#endif

/* sim_reqlog: the record of every OAuth and API request the simulator
 * answered (time, tenant, method, path and query, status, whether it counted
 * against the rate limit, fault injected). Kept in memory (bounded ring, for
 * GET /_sim/requests) and optionally appended to a file as JSON lines, so
 * tests can prove the rate limit was never exceeded. Not thread-safe. */
#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_REQLOG_DEFAULT_CAP 200000

typedef struct {
    int64_t wall_ms;    /* when the request arrived */
    const char *tenant; /* "" when unknown (no valid token) */
    const char *method;
    const char *path; /* path and query as received */
    int status;
    int64_t duration_ms;
    bool counted;      /* admitted by the rate limiter */
    const char *fault; /* injected fault name or NULL */
} sim_reqlog_entry_t;

typedef struct _sim_reqlog_t sim_reqlog_t;

/* Creates a log keeping the last cap entries, appending to file when not NULL
 * (opened for append). NULL if the file cannot be opened or no memory. */
sim_reqlog_t *sim_reqlog_new(const char *file, size_t cap);
/* Closes the file and frees the log; safe to call twice. */
void sim_reqlog_destroy(sim_reqlog_t **self_p);
/* Records one request (strings are copied). */
void sim_reqlog_add(sim_reqlog_t *self, const sim_reqlog_entry_t *entry);
/* JSON array of the kept entries with wall_ms >= since_ms; caller owns. */
json_t *sim_reqlog_to_json(const sim_reqlog_t *self, int64_t since_ms);
/* Forgets the kept entries (the file is left alone). */
void sim_reqlog_clear(sim_reqlog_t *self);
/* Entries recorded since start (including ones dropped from the ring). */
uint64_t sim_reqlog_total(const sim_reqlog_t *self);

#endif

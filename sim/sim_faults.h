/* sim_faults: which failure, if any, the simulator injects into an API
 * request. Each kind has its own probability per request; a queue of forced
 * faults ("next") lets tests script exact sequences. Configured from flags
 * and at runtime from JSON (POST /_sim/faults). Not thread-safe. */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_FAULTS_DEFAULT_HANG_MS 30000
#define SIM_FAULTS_DEFAULT_SLOW_MS 2000
#define SIM_FAULTS_QUEUE_MAX 1024

typedef enum {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_500,
    SIM_FAULT_502,
    SIM_FAULT_503,
    SIM_FAULT_504,
    SIM_FAULT_HANG,    /* sleep hang_ms, then answer normally */
    SIM_FAULT_BADJSON, /* 200 with the body cut in half (truncated JSON) */
    SIM_FAULT_SLOW,    /* sleep slow_ms, then answer normally */
    SIM_FAULT_REVOKE,  /* every token becomes invalid; this request gets 401 */
    SIM_FAULT_COUNT
} sim_fault_kind_t;

typedef struct _sim_faults_t sim_faults_t;

/* Creates a fault picker with every rate 0, drawing from seed. */
sim_faults_t *sim_faults_new(uint64_t seed);
/* Frees it; safe to call twice. */
void sim_faults_destroy(sim_faults_t **self_p);
/* Name of a kind ("500", "hang", ...); "none" for SIM_FAULT_NONE. */
const char *sim_fault_name(sim_fault_kind_t kind);
/* Kind of a name; SIM_FAULT_NONE if unknown. */
sim_fault_kind_t sim_fault_parse(const char *name);
/* Spreads rate evenly over the comma-separated kinds (all kinds when NULL or
 * empty) and zeroes the others. 0, or -1 with the reason in err. */
int sim_faults_set_uniform(sim_faults_t *self, double rate, const char *kinds_csv, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Sets one kind's probability (0..1). 0 or -1. */
int sim_faults_set_rate(sim_faults_t *self, sim_fault_kind_t kind, double rate) __attribute__((warn_unused_result));
/* Sets the hang and slow durations in ms (values < 0 leave them unchanged). */
void sim_faults_set_delays(sim_faults_t *self, int64_t hang_ms, int64_t slow_ms);
/* Applies {"rate","kinds","rates":{kind:p},"next":[kind...],"hang_ms","slow_ms","clear"};
 * 0, or -1 with the reason in err (nothing is changed then). */
int sim_faults_configure_json(sim_faults_t *self, const json_t *config, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Current configuration and counters as JSON; caller owns. */
json_t *sim_faults_to_json(const sim_faults_t *self);
/* Picks the fault for one API request: queued ones first, then by rates. */
sim_fault_kind_t sim_faults_roll(sim_faults_t *self);
/* Hang duration in ms. */
int64_t sim_faults_hang_ms(const sim_faults_t *self);
/* Slow-response delay in ms. */
int64_t sim_faults_slow_ms(const sim_faults_t *self);
/* How many times kind was injected. */
uint64_t sim_faults_injected(const sim_faults_t *self, sim_fault_kind_t kind);

#endif

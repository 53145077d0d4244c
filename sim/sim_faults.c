/* sim_faults: per-kind probabilities drawn with one uniform number per
 * request (kinds are mutually exclusive), plus a FIFO of forced faults. */
#include "sim_faults.h"

#include "sim_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const s_names[SIM_FAULT_COUNT] = {"none", "500",     "502",  "503",   "504",
                                                     "hang", "badjson", "slow", "revoke"};

struct _sim_faults_t {
    double rates[SIM_FAULT_COUNT];
    uint64_t injected[SIM_FAULT_COUNT];
    sim_fault_kind_t queue[SIM_FAULTS_QUEUE_MAX];
    size_t qhead, qcount;
    int64_t hang_ms, slow_ms;
    sim_rng_t rng;
};

sim_faults_t *sim_faults_new(uint64_t seed)
{
    sim_faults_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->hang_ms = SIM_FAULTS_DEFAULT_HANG_MS;
    self->slow_ms = SIM_FAULTS_DEFAULT_SLOW_MS;
    sim_rng_seed_stream(&self->rng, seed, 0xfa17, 0, 0);
    return self;
}

void sim_faults_destroy(sim_faults_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *sim_fault_name(sim_fault_kind_t kind)
{
    if ((int)kind < 0 || kind >= SIM_FAULT_COUNT)
        return "none";
    return s_names[kind];
}

sim_fault_kind_t sim_fault_parse(const char *name)
{
    if (!name)
        return SIM_FAULT_NONE;
    for (int k = 1; k < SIM_FAULT_COUNT; k++)
        if (!strcasecmp(name, s_names[k]))
            return (sim_fault_kind_t)k;
    if (!strcasecmp(name, "truncated") || !strcasecmp(name, "malformed"))
        return SIM_FAULT_BADJSON;
    return SIM_FAULT_NONE;
}

/* Parses a comma-separated kind list into a mask; -1 on an unknown name. */
static int s_parse_kinds(const char *csv, bool mask[SIM_FAULT_COUNT], char *err, size_t errlen)
{
    memset(mask, 0, sizeof(bool) * SIM_FAULT_COUNT);
    if (!csv || !*csv) {
        for (int k = 1; k < SIM_FAULT_COUNT; k++)
            mask[k] = true;
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", csv);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        sim_fault_kind_t k = sim_fault_parse(tok);
        if (k == SIM_FAULT_NONE) {
            snprintf(err, errlen, "unknown fault kind '%s'", tok);
            return -1;
        }
        mask[k] = true;
    }
    return 0;
}

int sim_faults_set_uniform(sim_faults_t *self, double rate, const char *kinds_csv, char *err, size_t errlen)
{
    bool mask[SIM_FAULT_COUNT];
    if (rate < 0.0 || rate > 1.0) {
        snprintf(err, errlen, "fault rate must be within 0..1");
        return -1;
    }
    if (s_parse_kinds(kinds_csv, mask, err, errlen) != 0)
        return -1;
    int n = 0;
    for (int k = 1; k < SIM_FAULT_COUNT; k++)
        n += mask[k];
    for (int k = 1; k < SIM_FAULT_COUNT; k++)
        self->rates[k] = (mask[k] && n > 0) ? rate / n : 0.0;
    return 0;
}

int sim_faults_set_rate(sim_faults_t *self, sim_fault_kind_t kind, double rate)
{
    if (kind <= SIM_FAULT_NONE || kind >= SIM_FAULT_COUNT || rate < 0.0 || rate > 1.0)
        return -1;
    self->rates[kind] = rate;
    return 0;
}

void sim_faults_set_delays(sim_faults_t *self, int64_t hang_ms, int64_t slow_ms)
{
    if (hang_ms >= 0)
        self->hang_ms = hang_ms;
    if (slow_ms >= 0)
        self->slow_ms = slow_ms;
}

int sim_faults_configure_json(sim_faults_t *self, const json_t *config, char *err, size_t errlen)
{
    if (!json_is_object(config)) {
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    sim_faults_t next = *self; /* validate everything on a copy, then commit */
    if (json_is_true(json_object_get(config, "clear"))) {
        memset(next.rates, 0, sizeof(next.rates));
        next.qhead = next.qcount = 0;
    }
    json_t *rate = json_object_get(config, "rate");
    if (rate) {
        json_t *kinds = json_object_get(config, "kinds");
        char csv[256] = "";
        if (json_is_array(kinds)) {
            size_t i;
            json_t *v;
            json_array_foreach(kinds, i, v)
            {
                if (!json_is_string(v)) {
                    snprintf(err, errlen, "kinds must be strings");
                    return -1;
                }
                size_t len = strlen(csv);
                snprintf(csv + len, sizeof(csv) - len, "%s%s", len ? "," : "", json_string_value(v));
            }
        } else if (json_is_string(kinds)) {
            snprintf(csv, sizeof(csv), "%s", json_string_value(kinds));
        }
        if (!json_is_number(rate) || sim_faults_set_uniform(&next, json_number_value(rate), csv, err, errlen) != 0) {
            if (!json_is_number(rate))
                snprintf(err, errlen, "rate must be a number");
            return -1;
        }
    }
    json_t *rates = json_object_get(config, "rates");
    if (rates) {
        const char *key;
        json_t *v;
        if (!json_is_object(rates)) {
            snprintf(err, errlen, "rates must be an object");
            return -1;
        }
        json_object_foreach(rates, key, v)
        {
            sim_fault_kind_t k = sim_fault_parse(key);
            if (k == SIM_FAULT_NONE || !json_is_number(v) || sim_faults_set_rate(&next, k, json_number_value(v)) != 0) {
                snprintf(err, errlen, "bad rate for fault '%s'", key);
                return -1;
            }
        }
    }
    json_t *queue = json_object_get(config, "next");
    if (queue) {
        size_t i;
        json_t *v;
        if (!json_is_array(queue)) {
            snprintf(err, errlen, "next must be an array of fault kinds");
            return -1;
        }
        json_array_foreach(queue, i, v)
        {
            sim_fault_kind_t k = sim_fault_parse(json_string_value(v));
            if (k == SIM_FAULT_NONE && !(json_is_string(v) && !strcasecmp(json_string_value(v), "none"))) {
                snprintf(err, errlen, "unknown fault kind in next");
                return -1;
            }
            if (next.qcount == SIM_FAULTS_QUEUE_MAX) {
                snprintf(err, errlen, "too many queued faults");
                return -1;
            }
            next.queue[(next.qhead + next.qcount) % SIM_FAULTS_QUEUE_MAX] = k;
            next.qcount++;
        }
    }
    json_t *hang = json_object_get(config, "hang_ms");
    json_t *slow = json_object_get(config, "slow_ms");
    if ((hang && (!json_is_integer(hang) || json_integer_value(hang) < 0)) ||
        (slow && (!json_is_integer(slow) || json_integer_value(slow) < 0))) {
        snprintf(err, errlen, "hang_ms and slow_ms must be integers >= 0");
        return -1;
    }
    sim_faults_set_delays(&next, hang ? json_integer_value(hang) : -1, slow ? json_integer_value(slow) : -1);
    double sum = 0;
    for (int k = 1; k < SIM_FAULT_COUNT; k++)
        sum += next.rates[k];
    if (sum > 1.0 + 1e-9) {
        snprintf(err, errlen, "fault rates add up to more than 1");
        return -1;
    }
    *self = next;
    return 0;
}

json_t *sim_faults_to_json(const sim_faults_t *self)
{
    json_t *rates = json_object(), *injected = json_object(), *queue = json_array();
    for (int k = 1; k < SIM_FAULT_COUNT; k++) {
        json_object_set_new(rates, s_names[k], json_real(self->rates[k]));
        json_object_set_new(injected, s_names[k], json_integer((json_int_t)self->injected[k]));
    }
    for (size_t i = 0; i < self->qcount; i++)
        json_array_append_new(queue, json_string(s_names[self->queue[(self->qhead + i) % SIM_FAULTS_QUEUE_MAX]]));
    return json_pack("{s:o,s:o,s:o,s:I,s:I}", "rates", rates, "injected", injected, "next", queue, "hang_ms",
                     (json_int_t)self->hang_ms, "slow_ms", (json_int_t)self->slow_ms);
}

sim_fault_kind_t sim_faults_roll(sim_faults_t *self)
{
    sim_fault_kind_t kind = SIM_FAULT_NONE;
    if (self->qcount > 0) {
        kind = self->queue[self->qhead];
        self->qhead = (self->qhead + 1) % SIM_FAULTS_QUEUE_MAX;
        self->qcount--;
    } else {
        double u = sim_rng_unit(&self->rng), acc = 0.0;
        for (int k = 1; k < SIM_FAULT_COUNT; k++) {
            acc += self->rates[k];
            if (u < acc) {
                kind = (sim_fault_kind_t)k;
                break;
            }
        }
    }
    self->injected[kind]++;
    return kind;
}

int64_t sim_faults_hang_ms(const sim_faults_t *self)
{
    return self->hang_ms;
}

int64_t sim_faults_slow_ms(const sim_faults_t *self)
{
    return self->slow_ms;
}

uint64_t sim_faults_injected(const sim_faults_t *self, sim_fault_kind_t kind)
{
    if ((int)kind < 0 || kind >= SIM_FAULT_COUNT)
        return 0;
    return self->injected[kind];
}

/* sim_reqlog: a ring of request records plus an optional JSON-lines file.
 * Each line of the file is exactly the JSON object served by /_sim/requests. */
#include "sim_reqlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_REQLOG_TENANT_MAX 64
#define SIM_REQLOG_METHOD_MAX 8
#define SIM_REQLOG_FAULT_MAX 16
#define SIM_REQLOG_PATH_MAX 2048 /* longer paths are truncated in the log */

typedef struct {
    int64_t wall_ms;
    char tenant[SIM_REQLOG_TENANT_MAX];
    char method[SIM_REQLOG_METHOD_MAX];
    char fault[SIM_REQLOG_FAULT_MAX];
    char *path;
    int status;
    int64_t duration_ms;
    bool counted;
} s_entry_t;

struct _sim_reqlog_t {
    s_entry_t *ring;
    size_t cap;
    size_t head; /* oldest */
    size_t count;
    uint64_t total;
    FILE *file;
};

sim_reqlog_t *sim_reqlog_new(const char *file, size_t cap)
{
    if (cap == 0)
        cap = SIM_REQLOG_DEFAULT_CAP;
    sim_reqlog_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->ring = calloc(cap, sizeof(s_entry_t));
    if (!self->ring)
        goto fail;
    self->cap = cap;
    if (file && *file) {
        self->file = fopen(file, "a");
        if (!self->file)
            goto fail;
    }
    return self;
fail:
    free(self->ring);
    free(self);
    return NULL;
}

void sim_reqlog_clear(sim_reqlog_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        s_entry_t *e = &self->ring[(self->head + i) % self->cap];
        free(e->path);
        e->path = NULL;
    }
    self->head = 0;
    self->count = 0;
}

void sim_reqlog_destroy(sim_reqlog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_reqlog_t *self = *self_p;
    sim_reqlog_clear(self);
    if (self->file)
        fclose(self->file);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

/* The JSON form of one entry; caller owns. */
static json_t *s_entry_json(const s_entry_t *e)
{
    json_t *obj = json_pack("{s:I,s:s,s:s,s:s,s:i,s:I,s:b}", "ts_ms", (json_int_t)e->wall_ms, "tenant", e->tenant,
                            "method", e->method, "path", e->path ? e->path : "", "status", e->status, "duration_ms",
                            (json_int_t)e->duration_ms, "counted", e->counted);
    if (obj && e->fault[0])
        json_object_set_new(obj, "fault", json_string(e->fault));
    return obj;
}

void sim_reqlog_add(sim_reqlog_t *self, const sim_reqlog_entry_t *entry)
{
    s_entry_t *e;
    if (self->count == self->cap) {
        e = &self->ring[self->head];
        free(e->path);
        self->head = (self->head + 1) % self->cap;
        self->count--;
    }
    e = &self->ring[(self->head + self->count) % self->cap];
    memset(e, 0, sizeof(*e));
    e->wall_ms = entry->wall_ms;
    snprintf(e->tenant, sizeof(e->tenant), "%s", entry->tenant ? entry->tenant : "");
    snprintf(e->method, sizeof(e->method), "%s", entry->method ? entry->method : "");
    snprintf(e->fault, sizeof(e->fault), "%s", entry->fault ? entry->fault : "");
    e->path = strndup(entry->path ? entry->path : "", SIM_REQLOG_PATH_MAX);
    e->status = entry->status;
    e->duration_ms = entry->duration_ms;
    e->counted = entry->counted;
    self->count++;
    self->total++;
    if (self->file) {
        json_t *obj = s_entry_json(e);
        char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (line) {
            fprintf(self->file, "%s\n", line);
            fflush(self->file);
        }
        free(line);
        json_decref(obj);
    }
}

json_t *sim_reqlog_to_json(const sim_reqlog_t *self, int64_t since_ms)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->ring[(self->head + i) % self->cap];
        if (e->wall_ms < since_ms)
            continue;
        json_t *obj = s_entry_json(e);
        if (obj)
            json_array_append_new(arr, obj);
    }
    return arr;
}

uint64_t sim_reqlog_total(const sim_reqlog_t *self)
{
    return self->total;
}

/* mon_json: the document of GET /api/status written straight into a byte
 * buffer, without building a jansson tree per tenant and dumping it (about
 * 20 times faster for 1,000 tenants, bench/status_render.sh). The bytes are
 * those json_dumps(JSON_INDENT(2) | JSON_ENSURE_ASCII) writes for the same
 * document, each tenant being halo_status_report_to_json's object, so
 * /api/status and `haloctl status --json` stay one schema;
 * tests/test_monitor_json.c compares the two byte for byte. One difference:
 * text that is not valid UTF-8 is written with U+FFFD where jansson cannot
 * write the tenant at all. */
#ifndef MON_JSON_H
#define MON_JSON_H

#include "halo_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What /api/status says besides the tenants. */
typedef struct {
    int64_t now_ms;          /* generated_at */
    int64_t refreshed_at_ms; /* refreshed_at; < 0: null (PostgreSQL never read) */
    bool db_ok;
    const char *db_error; /* "" or NULL: null */
} mon_json_head_t;

/* The /api/status document for reports[0..count) (ending in a newline) as a
 * malloc'd string of *len bytes (caller frees); NULL when out of memory. */
char *mon_json_status(const mon_json_head_t *head, const halo_status_report_t *reports, size_t count, size_t *len);

#endif

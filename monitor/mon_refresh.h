/* mon_refresh: one pass of reading PostgreSQL for halo-monitor: every
 * tenant's report (halo_status, kept by mon_cache: only what changed is
 * read again), webhooks per minute for the chart, and the
 * recording of status changes in halo.webhook_status_changes (logged once,
 * across restarts), and the alert rules' evaluation. Connects lazily and reconnects after a failure. */
#ifndef MON_REFRESH_H
#define MON_REFRESH_H

#include "mon_alert_rules.h"
#include "mon_state.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _mon_refresh_t mon_refresh_t;

/* New refresher for conninfo (copied); does not connect yet. rules (borrowed;
 * NULL for none) are told every status change and evaluated every pass. NULL on failure. */
mon_refresh_t *mon_refresh_new(const char *conninfo, mon_alert_rules_t *rules);
/* Closes the connection and frees; safe to call twice. */
void mon_refresh_destroy(mon_refresh_t **self_p);
/* Reads everything for now_ms and publishes it into state. 0, or -1 when
 * PostgreSQL could not be read (state is told why; the last reports stay). */
int mon_refresh_run(mon_refresh_t *self, mon_state_t *state, int64_t now_ms);

#endif

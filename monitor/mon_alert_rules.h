/* mon_alert_rules: the conditions halo-monitor alerts on, evaluated on every
 * refresh from the tenant reports, and their de-duplication: a condition
 * sends one "firing" alert when it starts and one "resolved" alert when it
 * ends, never one per refresh. Conditions: a webhook status change (already
 * de-duplicated by halo.webhook_status_changes), dead letters appearing, a
 * full sync that failed (per entity and run), a queue that stopped draining,
 * a learned rate limit below the configured one, detail coverage stalled.
 * The alerts go to a mon_alerter (retries); payloads in docs/monitor.md. */
#ifndef MON_ALERT_RULES_H
#define MON_ALERT_RULES_H

#include "halo_status.h"
#include "mon_alerter.h"

#include <stddef.h>
#include <stdint.h>

/* The limit a tenant's Halo stated in its 429s (halo.rate_limits.learned_*,
 * when that column exists). */
typedef struct {
    int64_t tenant_id;
    int64_t limit;
    double window_s;
} mon_alert_learned_t;

typedef struct _mon_alert_rules_t mon_alert_rules_t;

/* New rules posting to alerter (borrowed; NULL: evaluate, send nothing); a
 * queue with work and no progress for stall_ms has stopped draining. */
mon_alert_rules_t *mon_alert_rules_new(mon_alerter_t *alerter, int64_t stall_ms);
/* Frees; safe to call twice. */
void mon_alert_rules_destroy(mon_alert_rules_t **self_p);
/* Alerts a recorded webhook status change of r (previous status sentence, missing events as a JSON array text). */
void mon_alert_rules_status_changed(mon_alert_rules_t *self, const halo_status_report_t *r, const char *previous,
                                    const char *missing_json);
/* Evaluates every other condition for the reports read at now_ms (learned: nlearned learned limits). */
void mon_alert_rules_evaluate(mon_alert_rules_t *self, const halo_status_report_t *reports, size_t count,
                              const mon_alert_learned_t *learned, size_t nlearned, int64_t now_ms);
/* Conditions firing now. */
size_t mon_alert_rules_firing(const mon_alert_rules_t *self);

#endif

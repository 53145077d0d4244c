/* mon_telemetry: the telemetry SUB socket halo-monitor binds (every
 * process's PUB connects to it) and the loop step that drains it into
 * mon_state. Malformed messages are counted and dropped, never fatal. */
#ifndef MON_TELEMETRY_H
#define MON_TELEMETRY_H

#include "mon_state.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _mon_telemetry_t mon_telemetry_t;

/* Binds a SUB socket at endpoint, feeding state (borrowed). NULL with the reason in err. */
mon_telemetry_t *mon_telemetry_new(const char *endpoint, mon_state_t *state, char *err, size_t errlen);
/* Closes the socket and its context; safe to call twice. */
void mon_telemetry_destroy(mon_telemetry_t **self_p);
/* Waits up to timeout_ms (capped at 1 s) for messages, then drains what is
 * ready (a bounded batch). Returns the number of messages handled. */
int mon_telemetry_poll(mon_telemetry_t *self, int64_t timeout_ms);

#endif

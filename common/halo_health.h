/* halo_health: a liveness signal that means "the main loop is turning", for
 * container healthchecks. Each pass of a daemon's loop calls halo_health_beat,
 * which touches the file named by HALO_HEALTH_FILE at most once a second (no
 * file, no cost, when the variable is unset); `PROGRAM --healthcheck` then
 * exits 0 only while that file is younger than HALO_HEALTH_MAX_AGE_S (default
 * 30 s). A process stuck in a call, or a loop that stopped, turns unhealthy
 * even though its pid is alive. */
#ifndef HALO_HEALTH_H
#define HALO_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#define HALO_HEALTH_DEFAULT_MAX_AGE_S 30

/* Touches the heartbeat file if the last touch is a second old or more;
 * never fails (a heartbeat that cannot be written makes the check fail). */
void halo_health_beat(void);

/* 0 when the file at path was touched within max_age_s seconds of now_s
 * (Unix seconds); -1 otherwise, with the reason in err. */
int halo_health_check(const char *path, int64_t max_age_s, int64_t now_s, char *err, size_t errlen);

/* For main(), before the configuration: with the single argument
 * --healthcheck, checks HALO_HEALTH_FILE and exits (0 fresh, 1 stale or
 * missing, 2 not configured); otherwise returns at once. */
void halo_health_handle_args(const char *progname, int argc, char **argv);

#endif

/* halo_signal: SIGINT/SIGTERM handling that only sets a flag; loops check it. */
#ifndef HALO_SIGNAL_H
#define HALO_SIGNAL_H

#include <stdbool.h>

/* Installs handlers for SIGINT and SIGTERM and ignores SIGPIPE. */
void halo_signal_install(void);
/* True once SIGINT or SIGTERM has been received (or halo_signal_raise called). */
bool halo_signal_interrupted(void);
/* Sets the flag as a signal would (tests, or a fatal loop error). */
void halo_signal_raise(void);
/* Clears the flag (tests). */
void halo_signal_reset(void);

#endif

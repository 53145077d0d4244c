/* halo_clock: monotonic and wall clocks in milliseconds that tests can drive.
 * Pure logic takes "now" as an argument; loops read the clock once per pass. */
#ifndef HALO_CLOCK_H
#define HALO_CLOCK_H

#include <stdint.h>

/* Milliseconds from an arbitrary start, never going back (or the fake value). */
int64_t halo_clock_mono_ms(void);
/* Milliseconds since the Unix epoch (or the fake value). */
int64_t halo_clock_wall_ms(void);
/* Freezes both clocks at the given values (tests). */
void halo_clock_fake(int64_t mono_ms, int64_t wall_ms);
/* Moves both fake clocks forward by delta_ms (tests). */
void halo_clock_advance(int64_t delta_ms);
/* Returns to the real clocks. */
void halo_clock_real(void);
/* Sleeps ms milliseconds of real time (interrupted early by a signal). */
void halo_clock_sleep_ms(int64_t ms);
/* Formats wall ms as ISO 8601 UTC "2026-11-27T08:00:00.123Z" into buf (>= 32 bytes). */
void halo_clock_format_iso(int64_t wall_ms, char *buf, int buflen);

#endif

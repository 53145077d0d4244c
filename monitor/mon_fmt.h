/* mon_fmt: how the status page writes text, times and durations, so every
 * part of it (overview, cards, history, components) writes them alike: a time
 * is "2026-11-27 08:00:00 UTC (3 min ago)" everywhere. */
#ifndef MON_FMT_H
#define MON_FMT_H

#include <stdint.h>
#include <stdio.h>

/* Writes text with &, <, >, " and ' escaped. */
void mon_fmt_escape(FILE *out, const char *text);
/* Writes at_ms as "YYYY-MM-DD HH:MM:SS UTC (age)", or a muted "never" when at_ms < 0. */
void mon_fmt_when(FILE *out, int64_t at_ms, int64_t now_ms);
/* Writes a duration: "12 s", "5 min", "1.5 h", "2.0 days". */
void mon_fmt_duration(FILE *out, int64_t ms);

#endif

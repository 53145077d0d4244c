/* halo_time: the one parser of Halo's date text, shared by the store (which
 * writes it to PostgreSQL) and halo-sim (which filters on it). Halo writes
 * "2026-09-01T08:00:00" without a zone (the tenant's local time), sometimes
 * with a fraction of up to 7 digits, 'Z' or an offset on webhook timestamps,
 * and "1900-01-01T00:00:00" for "no date". Pure: no clock, no locale. */
#ifndef HALO_TIME_H
#define HALO_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HALO_TIME_EMPTY_YEAR_MAX 1900 /* Halo writes 1900-01-01 (or earlier) for "no date" */
#define HALO_TIME_FRACTION_DIGITS 6   /* kept: microseconds, as PostgreSQL keeps */

/* A parsed Halo date. */
typedef struct {
    int year, month, day, hour, minute, second;
    int micros;      /* fraction of the second, truncated to microseconds */
    int frac_digits; /* digits of the fraction as written, at most 6 (0: none) */
    bool has_zone;   /* 'Z' or an offset was given */
    int offset_min;  /* minutes east of UTC when has_zone ("+05:30": 330) */
} halo_time_t;

/* Parses "YYYY-MM-DD[(T| )HH:MM[:SS][.fff...][Z|+HH[:MM]|-HH[:MM]]]", blanks
 * around it allowed. 0: a date in *out; 1: empty ("" or blank, or year 1900
 * or earlier); -1: not a date (bad syntax, month 13, 30 February...). */
int halo_time_parse(const char *text, halo_time_t *out) __attribute__((warn_unused_result));
/* The instant of t in ms since the Unix epoch; a zone-less t is read in the
 * zone zoneless_offset_min minutes east of UTC (0: UTC). */
int64_t halo_time_to_ms(const halo_time_t *t, int zoneless_offset_min);
/* Writes t as PostgreSQL reads it, "YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]";
 * a zone-less t stays zone-less, so that SQL reads it in the tenant's time
 * zone (names with daylight saving, which a fixed offset cannot express).
 * 0, or -1 when buflen is too small. */
int halo_time_format_pg(const halo_time_t *t, char *buf, size_t buflen);

#endif

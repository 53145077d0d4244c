/* halo_time: Halo's date text parsed once for every process: syntax and
 * calendar checks, "1900 or earlier means empty", fractions kept to the
 * microsecond, 'Z' and numeric offsets; then either an instant (halo-sim's
 * filters) or the text PostgreSQL reads with the tenant's zone (the store). */
#include "halo_time.h"

#include <ctype.h>
#include <stdio.h>

#define S_OFFSET_HOURS_MAX 14 /* UTC+14 (Kiribati) is the widest offset in use */
#define S_MS_PER_S 1000LL
#define S_S_PER_DAY 86400LL

/* Reads exactly n digits at *p into *out and advances; false if not digits. */
static bool s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days in month (1-12) of year, leap years included. */
static int s_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads ".fff..." at *p (at least one digit) into t's fraction; false if malformed. */
static bool s_fraction(const char **p, halo_time_t *t)
{
    static const int scale[HALO_TIME_FRACTION_DIGITS] = {100000, 10000, 1000, 100, 10, 1};
    if (!isdigit((unsigned char)**p))
        return false;
    for (; isdigit((unsigned char)**p); (*p)++)
        if (t->frac_digits < HALO_TIME_FRACTION_DIGITS) /* Halo prints 7 digits; keep microseconds */
            t->micros += (**p - '0') * scale[t->frac_digits++];
    return true;
}

/* Reads "Z" or "+HH[:MM]"/"-HH[:MM]" at *p when present; false if malformed. */
static bool s_zone(const char **p, halo_time_t *t)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        t->has_zone = true;
        return true;
    }
    if (**p != '+' && **p != '-')
        return true;
    int sign = *(*p)++ == '-' ? -1 : 1, oh, om = 0;
    if (!s_digits(p, 2, &oh))
        return false;
    if (**p == ':')
        (*p)++;
    if (isdigit((unsigned char)**p) && !s_digits(p, 2, &om))
        return false;
    if (oh > S_OFFSET_HOURS_MAX || om > 59)
        return false;
    t->has_zone = true;
    t->offset_min = sign * (oh * 60 + om);
    return true;
}

int halo_time_parse(const char *text, halo_time_t *out)
{
    halo_time_t t = {0};
    const char *p = text ? text : "";
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return 1;
    if (!s_digits(&p, 4, &t.year) || *p++ != '-' || !s_digits(&p, 2, &t.month) || *p++ != '-' ||
        !s_digits(&p, 2, &t.day))
        return -1;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!s_digits(&p, 2, &t.hour) || *p++ != ':' || !s_digits(&p, 2, &t.minute))
            return -1;
        if (*p == ':') {
            p++;
            if (!s_digits(&p, 2, &t.second))
                return -1;
        }
        if (*p == '.') {
            p++;
            if (!s_fraction(&p, &t))
                return -1;
        }
        if (!s_zone(&p, &t))
            return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        return -1;
    if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > s_days_in_month(t.year, t.month) || t.hour > 23 ||
        t.minute > 59 || t.second > 59)
        return -1;
    if (t.year <= HALO_TIME_EMPTY_YEAR_MAX)
        return 1;
    *out = t;
    return 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t halo_time_to_ms(const halo_time_t *t, int zoneless_offset_min)
{
    int offset = t->has_zone ? t->offset_min : zoneless_offset_min;
    int64_t secs = s_days_from_civil(t->year, t->month, t->day) * S_S_PER_DAY + t->hour * 3600LL + t->minute * 60LL +
                   t->second - offset * 60LL;
    return secs * S_MS_PER_S + t->micros / 1000;
}

int halo_time_format_pg(const halo_time_t *t, char *buf, size_t buflen)
{
    char frac[16] = "", zone[16] = "";
    if (t->frac_digits > 0) {
        int div = 1;
        for (int i = t->frac_digits; i < HALO_TIME_FRACTION_DIGITS; i++)
            div *= 10;
        snprintf(frac, sizeof frac, ".%0*d", t->frac_digits, t->micros / div);
    }
    if (t->has_zone) {
        int off = t->offset_min < 0 ? -t->offset_min : t->offset_min;
        snprintf(zone, sizeof zone, "%c%02d:%02d", t->offset_min < 0 ? '-' : '+', off / 60, off % 60);
    }
    int n = snprintf(buf, buflen, "%04d-%02d-%02d %02d:%02d:%02d%s%s", t->year, t->month, t->day, t->hour, t->minute,
                     t->second, frac, zone);
    return n > 0 && (size_t)n < buflen ? 0 : -1;
}

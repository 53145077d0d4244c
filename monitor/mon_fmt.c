/* mon_fmt: see mon_fmt.h. */
#include "mon_fmt.h"

#include "halo_clock.h"

void mon_fmt_escape(FILE *out, const char *text)
{
    for (const char *p = text; p && *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p, out); break;
        }
    }
}

void mon_fmt_duration(FILE *out, int64_t ms)
{
    int64_t s = ms / 1000;
    if (s < 120)
        fprintf(out, "%lld s", (long long)s);
    else if (s < 7200)
        fprintf(out, "%lld min", (long long)(s / 60));
    else if (s < 2 * 86400)
        fprintf(out, "%.1f h", (double)s / 3600.0);
    else
        fprintf(out, "%.1f days", (double)s / 86400.0);
}

void mon_fmt_when(FILE *out, int64_t at_ms, int64_t now_ms)
{
    if (at_ms < 0) {
        fputs("<span class=\"muted\">never</span>", out);
        return;
    }
    char iso[40];
    halo_clock_format_iso(at_ms, iso, sizeof iso);
    iso[19] = '\0'; /* drop milliseconds and Z */
    iso[10] = ' ';
    fprintf(out, "%s UTC <span class=\"muted\">(", iso);
    if (now_ms < at_ms) {
        fputs("in the future", out);
    } else {
        mon_fmt_duration(out, now_ms - at_ms);
        fputs(" ago", out);
    }
    fputs(")</span>", out);
}

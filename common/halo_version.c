/* halo_version: see halo_version.h. HALO_VERSION comes from common/CMakeLists.txt
 * (PROJECT_VERSION), defined for this file alone so a new version rebuilds one file. */
#include "halo_version.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HALO_VERSION
#error "HALO_VERSION must be defined by the build (common/CMakeLists.txt)"
#endif

const char *halo_version(void)
{
    return HALO_VERSION;
}

void halo_version_print(FILE *out, const char *progname)
{
    fprintf(out, "%s %s\n", progname, HALO_VERSION);
}

/* Boot time (btime of /proc/stat) in unix seconds; -1 if unknown. */
static double s_boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    double btime = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return btime;
}

double halo_version_process_start_s(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char line[1024];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    /* Field 22 (starttime, clock ticks after boot) counts from the last ')' (the name may hold blanks). */
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return -1;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    double boot = s_boot_time_s();
    if (!p || ticks <= 0 || boot < 0)
        return -1;
    return boot + strtod(p, NULL) / (double)ticks;
}

int halo_version_metrics(char *buf, size_t len, const char *process)
{
    double start = halo_version_process_start_s();
    int n = snprintf(buf, len,
                     "# HELP halo_build_info Build of this halo-sync process: always 1, the version in a label.\n"
                     "# TYPE halo_build_info gauge\n"
                     "halo_build_info{process=\"%s\",version=\"%s\"} 1\n",
                     process, HALO_VERSION);
    if (n < 0 || (size_t)n >= len)
        return -1;
    if (start >= 0) {
        int m = snprintf(buf + n, len - (size_t)n,
                         "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                         "# TYPE process_start_time_seconds gauge\n"
                         "process_start_time_seconds %.3f\n",
                         start);
        if (m < 0 || (size_t)m >= len - (size_t)n)
            return -1;
        n += m;
    }
    return n;
}

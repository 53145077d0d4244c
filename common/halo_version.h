/* halo_version: the project version, set once in CMake's project(VERSION)
 * and compiled into halo_version.c only, the `--version` line every
 * binary prints with it, and the two identity families every /metrics
 * endpoint starts with (halo_build_info, process_start_time_seconds). */
#ifndef HALO_VERSION_H
#define HALO_VERSION_H

#include <stddef.h>
#include <stdio.h>

/* The project version, "MAJOR.MINOR.PATCH" (static, borrowed). */
const char *halo_version(void);
/* Writes "PROGNAME VERSION\n" to out. */
void halo_version_print(FILE *out, const char *progname);
/* Unix time (seconds, with fractions) this process started, from
 * /proc/self/stat and /proc/stat; -1 if they cannot be read. */
double halo_version_process_start_s(void);
/* Formats the Prometheus families halo_build_info{version,process} and
 * process_start_time_seconds (absent when unknown) into buf, NUL-terminated.
 * Returns the length written, or -1 if buf is too small. */
int halo_version_metrics(char *buf, size_t len, const char *process);

#endif

/* halo_version: the project version, set once in CMake's project(VERSION)
 * and compiled into halo_version.c only, and the `--version` line every
 * binary prints with it. */
#ifndef HALO_VERSION_H
#define HALO_VERSION_H

#include <stdio.h>

/* The project version, "MAJOR.MINOR.PATCH" (static, borrowed). */
const char *halo_version(void);
/* Writes "PROGNAME VERSION\n" to out. */
void halo_version_print(FILE *out, const char *progname);

#endif

/* halo_version: see halo_version.h. HALO_VERSION comes from common/CMakeLists.txt
 * (PROJECT_VERSION), defined for this file alone so a new version rebuilds one file. */
#include "halo_version.h"

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

/* version.c - the one place the generated version header is included (see version.h): only this
 * file recompiles when the checkout's `git describe` changes. */
#include "version.h"

#include "strata_version_gen.h"

const char *strata_version(void)
{
    return STRATA_VERSION;
}

const char *strata_version_git(void)
{
    return STRATA_GIT;
}

void strata_version_print(FILE *out, const char *name)
{
    fprintf(out, "%s %s (git %s)\n", name, STRATA_VERSION, STRATA_GIT);
}

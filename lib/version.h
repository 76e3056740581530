/* version.h - the version every program reports (--version, /metrics build_info, strata version).
 */
#ifndef STRATA_VERSION_H
#define STRATA_VERSION_H

#include <stdio.h>

/* The CMake project version, "0.16.0". */
const char *strata_version(void);

/* `git describe --always --dirty` of the checkout built from ("abc1234", "abc1234-dirty"), or
 * "unknown" when it was not a git checkout. */
const char *strata_version_git(void);

/* Print "NAME VERSION (git DESCRIBE)\n" to `out`: the --version line of every program. */
void strata_version_print(FILE *out, const char *name);

#endif

/* fsutil.h - small filesystem helpers the daemons share: directories made with their parents. */
#ifndef STRATA_FSUTIL_H
#define STRATA_FSUTIL_H

#include "err.h"

/* mkdir -p: path and every missing parent, with `mode`; existing directories are fine. */
int strata_mkdir_p(const char *path, unsigned mode, struct strata_err *e);
/* The directory that will hold `file` (mkdir -p of its dirname); nothing for a bare name. */
int strata_mkdir_parent(const char *file, unsigned mode, struct strata_err *e);

#endif

/* fsutil.h - small filesystem helpers the daemons share: directories made with their parents,
 * and new files that appear whole and never replace an existing one. */
#ifndef STRATA_FSUTIL_H
#define STRATA_FSUTIL_H

#include <stddef.h>

#include "err.h"

/* mkdir -p: path and every missing parent, with `mode`; existing directories are fine. */
int strata_mkdir_p(const char *path, unsigned mode, struct strata_err *e);
/* The directory that will hold `file` (mkdir -p of its dirname); nothing for a bare name. */
int strata_mkdir_parent(const char *file, unsigned mode, struct strata_err *e);

/* 0 when nothing (not even a dangling symlink) is at `path`; STRATA_EEXIST, naming the file,
 * when something is; STRATA_EIO when it cannot be told. */
int strata_file_absent(const char *path, struct strata_err *e);
/* Create `path` holding `len` bytes of `data` with exactly `mode` (whatever the umask), or fail
 * with STRATA_EEXIST if it exists: never replaces a file, even one created meanwhile. The bytes
 * go to a temporary file beside it (mode 0600 from the start), synced, then moved in with one
 * atomic no-replace step, so after a crash `path` is either absent or whole. */
int strata_file_create(const char *path, unsigned mode, const void *data, size_t len,
                       struct strata_err *e);
/* The same, replacing whatever is at `path` (one atomic rename): after a crash `path` holds
 * either its old content or all of the new. */
int strata_file_replace(const char *path, unsigned mode, const void *data, size_t len,
                        struct strata_err *e);

#endif

/* fsutil.c - directories made with their parents. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"

int strata_mkdir_p(const char *path, unsigned mode, struct strata_err *e)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return strata_err_set(e, STRATA_EINVAL, "path too long: %.64s...", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return strata_err_set(e, STRATA_EIO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return strata_err_set(e, STRATA_EIO, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

int strata_mkdir_parent(const char *file, unsigned mode, struct strata_err *e)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", file) >= (int)sizeof(buf))
        return strata_err_set(e, STRATA_EINVAL, "path too long: %.64s...", file);
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf)
        return 0;
    *slash = '\0';
    return strata_mkdir_p(buf, mode, e);
}

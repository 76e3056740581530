/* fsutil.c - directories made with their parents; files written whole, never over old ones unless
 * asked (strata_file_replace). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int strata_file_absent(const char *path, struct strata_err *e)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return strata_err_set(e, STRATA_EEXIST, "%s exists: refusing to overwrite it", path);
    if (errno != ENOENT)
        return strata_err_set(e, STRATA_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int fsutil_write_all(int fd, const char *path, const void *data, size_t len,
                            struct strata_err *e)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return strata_err_set(e, errno == ENOSPC ? STRATA_ENOSPACE : STRATA_EIO, "write %s: %s",
                                  path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Move `tmp` to `path` unless `path` exists. renameat2 does it in one step; on a filesystem
 * without RENAME_NOREPLACE, link() is as atomic and as refusing, and unlink() drops the name
 * that is left. */
static int fsutil_move_new(const char *tmp, const char *path, struct strata_err *e)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(tmp, path) == 0) {
            unlink(tmp);
            return 0;
        }
    }
    if (errno == EEXIST)
        return strata_err_set(e, STRATA_EEXIST, "%s exists: refusing to overwrite it", path);
    return strata_err_set(e, STRATA_EIO, "create %s: %s", path, strerror(errno));
}

/* The new name must survive a crash too: sync the directory that holds it (best effort). */
static void fsutil_sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Both: the bytes to a temporary file beside path (0600 from the start), synced, then moved in;
 * replacing an existing file only when `replace`. */
static int fsutil_file_write(const char *path, unsigned mode, const void *data, size_t len,
                             bool replace, struct strata_err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return strata_err_set(e, STRATA_EINVAL, "path too long: %.64s...", path);
    /* Checked first so that nothing is written for nothing; fsutil_move_new checks again. */
    int rc = replace ? 0 : strata_file_absent(path, e);
    if (rc != 0)
        return rc;
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0)
        return strata_err_set(e, STRATA_EIO, "create %s: %s", tmp, strerror(errno));
    if (fchmod(fd, mode) != 0)
        rc = strata_err_set(e, STRATA_EIO, "chmod %s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = fsutil_write_all(fd, tmp, data, len, e);
    if (rc == 0 && fsync(fd) != 0)
        rc = strata_err_set(e, STRATA_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = strata_err_set(e, STRATA_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc == 0 && replace && rename(tmp, path) != 0)
        rc = strata_err_set(e, STRATA_EIO, "replace %s: %s", path, strerror(errno));
    else if (rc == 0 && !replace)
        rc = fsutil_move_new(tmp, path, e);
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    fsutil_sync_parent(path);
    return 0;
}

int strata_file_create(const char *path, unsigned mode, const void *data, size_t len,
                       struct strata_err *e)
{
    return fsutil_file_write(path, mode, data, len, false, e);
}

int strata_file_replace(const char *path, unsigned mode, const void *data, size_t len,
                        struct strata_err *e)
{
    return fsutil_file_write(path, mode, data, len, true, e);
}

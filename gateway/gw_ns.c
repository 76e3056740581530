/* gw_ns.c - tenant domain namespaces: created with unshare on the calling thread, pinned by a
 * bind mount as iproute2's `ip netns add` does. strata-gwd is single-threaded where it does
 * this; unshare and setns (lib/netns.c) move only the calling thread in any case. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_ns.h"
#include "netns.h"

void gw_ns_name(const char *gw, const char *domain, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "st-%s-%s", gw, domain);
    if (n >= 0 && (size_t)n < cap && n <= 200)
        return;
    uint64_t h = 1469598103934665603ull; /* FNV-1a: stable across runs and builds */
    for (const char *p = domain; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    snprintf(buf, cap, "st-%.120s-%016llx", gw, (unsigned long long)h);
}

/* As iproute2 does: GW_NS_DIR a mount point with shared propagation, so that pins made here
 * reach the other mount namespaces that are its peers (best effort: `ip netns` copes without). */
static void ns_dir_shared(void)
{
    if (mount("", GW_NS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0 || errno != EINVAL)
        return;
    if (mount(GW_NS_DIR, GW_NS_DIR, "none", MS_BIND | MS_REC, NULL) == 0)
        (void)mount("", GW_NS_DIR, "none", MS_SHARED | MS_REC, NULL);
}

/* Create a namespace and pin it at path (an empty file the bind mount covers). */
static int ns_create(const char *path, struct strata_err *e)
{
    if (mkdir(GW_NS_DIR, 0755) != 0 && errno != EEXIST)
        return strata_err_set(e, STRATA_EIO, "mkdir %s: %s", GW_NS_DIR, strerror(errno));
    ns_dir_shared();
    int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (f < 0)
        return strata_err_set(e, STRATA_EIO, "create %s: %s", path, strerror(errno));
    close(f);
    int saved, rc = strata_netns_save(&saved, e);
    if (rc != 0) {
        unlink(path);
        return rc;
    }
    if (unshare(CLONE_NEWNET) != 0)
        rc = strata_err_set(e, STRATA_EIO, "unshare(CLONE_NEWNET): %s", strerror(errno));
    else if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) != 0)
        rc = strata_err_set(e, STRATA_EIO, "bind mount %s: %s", path, strerror(errno));
    strata_netns_leave(saved);
    if (rc != 0)
        unlink(path);
    return rc;
}

int gw_ns_open(const char *name, int *fd, bool *created, struct strata_err *e)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", GW_NS_DIR, name);
    *created = false;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0) {
        /* A file left by a crash between create and mount is not a namespace: setns says. */
        int saved;
        if (strata_netns_enter(*fd, &saved, NULL) == 0) {
            strata_netns_leave(saved);
            return 0;
        }
        close(*fd);
        if (umount2(path, MNT_DETACH) != 0 && unlink(path) != 0)
            return strata_err_set(e, STRATA_EIO, "%s is not a namespace and cannot be removed",
                                  path);
        unlink(path);
    }
    int rc = ns_create(path, e);
    if (rc != 0)
        return rc;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return strata_err_set(e, STRATA_EIO, "open %s: %s", path, strerror(errno));
    *created = true;
    return 0;
}

int gw_ns_pin(const char *name, int fd, struct strata_err *e)
{
    char path[512], src[64];
    snprintf(path, sizeof(path), "%s/%s", GW_NS_DIR, name);
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (f < 0)
        return strata_err_set(e, STRATA_EIO, "create %s: %s", path, strerror(errno));
    close(f);
    if (mount(src, path, "none", MS_BIND, NULL) != 0) {
        int err = errno;
        unlink(path);
        return strata_err_set(e, STRATA_EIO, "bind mount %s: %s", path, strerror(err));
    }
    return 0;
}

int gw_ns_remove(const char *name, struct strata_err *e)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", GW_NS_DIR, name);
    if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        return strata_err_set(e, STRATA_EIO, "umount %s: %s", path, strerror(errno));
    if (unlink(path) != 0 && errno != ENOENT)
        return strata_err_set(e, STRATA_EIO, "unlink %s: %s", path, strerror(errno));
    return 0;
}

int gw_ns_list(const char *prefix, char ***names, size_t *n, struct strata_err *e)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(GW_NS_DIR);
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : strata_err_set(e, STRATA_EIO, "%s: %s", GW_NS_DIR, strerror(errno));
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(*names, cap * sizeof(*nn));
            if (nn == NULL)
                goto oom;
            *names = nn;
        }
        if (((*names)[*n] = strdup(de->d_name)) == NULL)
            goto oom;
        (*n)++;
    }
    closedir(d);
    return 0;
oom:
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
    *n = 0;
    return strata_err_set(e, STRATA_ENOMEM, "out of memory listing %s", GW_NS_DIR);
}

int gw_ns_sysctl(int ns_fd, const char *path, const char *value, struct strata_err *e)
{
    int saved, rc = strata_netns_enter(ns_fd, &saved, e);
    if (rc != 0)
        return rc;
    char p[256];
    snprintf(p, sizeof(p), "/proc/sys/%s", path);
    int f = open(p, O_WRONLY | O_CLOEXEC);
    if (f < 0 || write(f, value, strlen(value)) != (ssize_t)strlen(value))
        rc = strata_err_set(e, STRATA_EIO, "sysctl %s=%s: %s", path, value, strerror(errno));
    if (f >= 0)
        close(f);
    strata_netns_leave(saved);
    return rc;
}

/* netns.c - the calling thread in another network namespace and back (setns moves only the
 * calling thread). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"

int strata_netns_save(int *saved, struct strata_err *e)
{
    *saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*saved < 0)
        return strata_err_set(e, STRATA_EIO, "own network namespace: %s", strerror(errno));
    return 0;
}

int strata_netns_enter(int ns_fd, int *saved, struct strata_err *e)
{
    int rc = strata_netns_save(saved, e);
    if (rc != 0)
        return rc;
    if (setns(ns_fd, CLONE_NEWNET) != 0) {
        int err = errno;
        close(*saved);
        return strata_err_set(e, STRATA_EINVAL, "fd %d is not a network namespace: %s", ns_fd,
                              strerror(err));
    }
    return 0;
}

void strata_netns_leave(int saved)
{
    if (setns(saved, CLONE_NEWNET) != 0) {
        LOG_ERROR("cannot return to the own network namespace: %s", strerror(errno));
        abort();
    }
    close(saved);
}

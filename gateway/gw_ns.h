/* gw_ns.h - one network namespace per tenant domain, pinned under /run/netns so that it (and the
 * routes, rules and devices in it) outlives a restart of strata-gwd. */
#ifndef GW_NS_H
#define GW_NS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define GW_NS_DIR "/run/netns"

/* The namespace name of (gateway id, domain): "st-<gw>-<domain>" when that fits in NAME_MAX,
 * otherwise "st-<gw>-<hash of domain>". Names are what `ip netns exec` takes. */
void gw_ns_name(const char *gw, const char *domain, char *buf, size_t cap);

/* Open the namespace `name`, creating and pinning it when absent (`*created` says which).
 * Returns an O_CLOEXEC fd on the namespace in *fd. The calling thread's namespace is unchanged. */
int gw_ns_open(const char *name, int *fd, bool *created, struct strata_err *e);
/* Pin the namespace of fd (one that was unpinned while still in use) under `name` again. */
int gw_ns_pin(const char *name, int fd, struct strata_err *e);
/* Unpin and remove the namespace `name` (its devices go when the last reference does). */
int gw_ns_remove(const char *name, struct strata_err *e);
/* The names under GW_NS_DIR that start with `prefix` (caller frees each and the array). */
int gw_ns_list(const char *prefix, char ***names, size_t *n, struct strata_err *e);

/* Write a sysctl (path under /proc/sys, e.g. "net/ipv4/ip_forward") inside ns_fd. */
int gw_ns_sysctl(int ns_fd, const char *path, const char *value, struct strata_err *e);

#endif

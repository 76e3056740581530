/* netns.h - run the calling thread in another network namespace for a while: sockets opened
 * meanwhile (netlink, nftables, packet) belong to that namespace for their lifetime. */
#ifndef STRATA_NETNS_H
#define STRATA_NETNS_H

#include "err.h"

/* A descriptor on the calling thread's own network namespace, the way back for
 * strata_netns_leave. */
int strata_netns_save(int *saved, struct strata_err *e);
/* Move the calling thread into ns_fd (STRATA_EINVAL when it is not a network namespace);
 * *saved keeps the way back. */
int strata_netns_enter(int ns_fd, int *saved, struct strata_err *e);
/* Back to the saved namespace, and close it. Aborts if that fails: the thread would go on in
 * the wrong namespace, and nothing it did after could be trusted. */
void strata_netns_leave(int saved);

#endif

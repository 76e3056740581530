/* bench_tcp.h - the blocking TCP connection the benchmarks' hand-written clients (etcd HTTP,
 * SP req0) share: IPv4, no Nagle, send and receive bounded by a timeout. */
#ifndef BENCH_TCP_H
#define BENCH_TCP_H

#include "err.h"

/* Connect to host:port (IPv4 dotted quad); *fd on success. */
int bench_tcp_connect(const char *host, int port, unsigned timeout_ms, int *fd,
                      struct strata_err *e);

#endif

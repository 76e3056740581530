/* etcd_failover.h - the etcd side of the failover comparison: kill -9 the leader, time the first
 * put a survivor accepts, restart the victim on its data dir and wait until it serves again. */
#ifndef ETCD_FAILOVER_H
#define ETCD_FAILOVER_H

#include "dir_bench_failover.h"
#include "dir_bench_load.h"
#include "etcd_cluster.h"

/* Same contract as dir_bench_failover_run, against a running etcd cluster. */
int etcd_failover_run(struct etcd_cluster *c, struct dir_bench_keys *keys, unsigned count,
                      struct dir_bench_failover *out, struct strata_err *e);

#endif

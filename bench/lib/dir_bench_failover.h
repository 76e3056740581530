/* dir_bench_failover.h - time Strata leader failovers: kill -9 the leader, time the first write
 * that succeeds on a survivor, restart the victim on its data dir and wait until it caught up. */
#ifndef DIR_BENCH_FAILOVER_H
#define DIR_BENCH_FAILOVER_H

#include "dir_bench_cluster.h"
#include "dir_bench_load.h"

#define DIR_BENCH_FAILOVER_MAX 50

struct dir_bench_failover {
    unsigned n;                                /* samples taken */
    double samples_ms[DIR_BENCH_FAILOVER_MAX]; /* kill -> first successful write */
    double median_ms;
    double rejoin_ms[DIR_BENCH_FAILOVER_MAX]; /* restart -> healthy again (for the curious) */
};

/* Run `count` (<= DIR_BENCH_FAILOVER_MAX) failovers on a running, seeded cluster. Endpoints
 * written come from `keys`. Stops at the first failover that cannot complete (samples so far are
 * kept) and returns its error. */
int dir_bench_failover_run(struct dir_bench_cluster *c, struct dir_bench_keys *keys, unsigned count,
                           struct dir_bench_failover *out, struct strata_err *e);

#endif

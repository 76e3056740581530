/* dir_bench_stats.h - a closed-loop load driver for benchmarks: N client threads run one
 * operation back to back for a fixed time; latencies are kept and summarised (rate, p50, p99). */
#ifndef DIR_BENCH_STATS_H
#define DIR_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* One operation of client `ctx`. Returns 0 on success or a negative STRATA_E* code (the
 * operation is counted as an error and its latency is not recorded). */
typedef int (*dir_bench_op_fn)(void *ctx, struct strata_err *e);

struct dir_bench_result {
    unsigned clients;
    uint64_t ops;    /* successful operations */
    uint64_t errors; /* failed operations */
    double secs;     /* wall time from the common start to the last client's stop */
    double per_s;    /* ops / secs */
    double p50_ms, p99_ms, max_ms;
    double client_cpu_s;   /* CPU (user + system) this process spent during the run */
    double server_cpu_s;   /* CPU the measured servers spent (filled by the caller), or -1 */
    double idle_cpu_s;     /* CPU the other, idle system spent meanwhile (caller), or -1 */
    char first_error[300]; /* the first failure seen, for the report; "" if none */
};

/* Run `op` on `nclients` threads (thread i gets ctxs[i]) for `seconds`, all starting together.
 * Each client stops at the deadline or after `max_consecutive_errors` failures in a row (a dead
 * target should not spin for the whole run). Returns 0, or STRATA_ENOMEM / STRATA_EINTERNAL when
 * threads cannot be started; operation failures are reported in `out`, not as a return code. */
int dir_bench_drive(unsigned nclients, void **ctxs, dir_bench_op_fn op, double seconds,
                    unsigned max_consecutive_errors, struct dir_bench_result *out,
                    struct strata_err *e);

/* What one driver thread records: latencies of successful operations, and failures. */
struct dir_bench_lat {
    uint32_t *us;
    size_t n, cap;
    uint64_t errors;
    unsigned consecutive; /* failures in a row */
    uint64_t end_us;      /* when the thread stopped */
    bool oom;
    char first_err[300];
};

/* Record a success (false when out of memory: stop) or a failure (false after
 * `max_consecutive` failures in a row: stop, the target is down). */
bool dir_bench_lat_ok(struct dir_bench_lat *l, uint64_t us);
bool dir_bench_lat_err(struct dir_bench_lat *l, int rc, const struct strata_err *e,
                       unsigned max_consecutive);

/* Merge the records of a run started at t0_us (with this process at cpu0 CPU seconds) into
 * `out`, freeing their latencies. */
int dir_bench_lat_summary(struct dir_bench_lat *const *ls, unsigned n, uint64_t t0_us, double cpu0,
                          struct dir_bench_result *out, struct strata_err *e);

/* CPU seconds (user + system) this process has used. */
double dir_bench_self_cpu_s(void);

/* Monotonic clock in microseconds / milliseconds. */
uint64_t dir_bench_now_us(void);
double dir_bench_now_ms(void);

/* CPU seconds (user + system) used so far by the given processes, from /proc; -1 when one
 * cannot be read. */
double dir_bench_procs_cpu_s(const pid_t *pids, unsigned n);

/* Median of `n` values (sorted in place); 0 when n == 0. */
double dir_bench_median(double *v, unsigned n);

/* Sort n values ascending, for dir_bench_pct_u64. */
void dir_bench_sort_u64(uint64_t *v, size_t n);
/* The p-quantile (0..1, nearest rank) of n values sorted ascending; 0 when n == 0. */
uint64_t dir_bench_pct_u64(const uint64_t *sorted, size_t n, double p);

#endif

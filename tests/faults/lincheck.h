/* lincheck.h - linearizability of a register history: per key, Wing & Gong's search with Lowe's
 * memoization (as Porcupine does), and the shrinking of a violation to a minimal sub-history. */
#ifndef STRATA_LINCHECK_H
#define STRATA_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lc_history.h"

enum lc_verdict { LC_LINEARIZABLE = 0, LC_VIOLATION = 1, LC_UNKNOWN = 2 };

/* Bounds of a check; a search that reaches one answers LC_UNKNOWN instead of running on.
 * Zero fields take the defaults in brackets. */
struct lc_limits {
    uint64_t max_steps;     /* search steps for one key [50,000,000] */
    uint64_t timeout_ms;    /* the whole check, all keys [60,000] */
    uint64_t shrink_ms;     /* shrinking the violation found [5,000] */
    size_t max_cache_bytes; /* the memo of one key's search [1 GiB] */
};

/* What a search did: for tests and the performance figures. */
struct lc_stats {
    uint64_t steps;       /* loop turns: tries, linearizations and backtracks */
    uint64_t cache_hits;  /* configurations already explored (Lowe's pruning) */
    size_t cache_entries; /* configurations remembered */
    size_t cache_bytes;
};

struct lc_result {
    enum lc_verdict verdict; /* violation if one key is not linearizable, else unknown if one
                                key hit a bound, else linearizable */
    size_t keys;             /* keys with operations */
    size_t ops;              /* operations in the history */
    size_t searched;         /* operations the search had to place (see lc_check_select) */
    size_t violations;       /* keys found not linearizable */
    size_t unknowns;         /* keys whose search hit a bound (or were not reached in time) */
    uint32_t key;            /* the first violating key (or, if none, the first unknown one) */
    size_t *sub;             /* the violation's minimal sub-history: indices into h->ops, by */
    size_t nsub;             /* invocation time */
    bool shrunk;             /* the shrink reached a 1-minimal sub-history in its time (and
                                none of its searches hit a bound) */
    uint64_t shrink_checks;  /* searches the shrink ran */
    struct lc_stats stats;   /* summed over keys */
};

/* Check every key of `h` (keys are independent registers: a history is linearizable iff each
 * key's is). On a violation, shrink the first violating key's operations to a sub-history that
 * is still not linearizable but becomes linearizable when any single operation is dropped
 * (never dropping a write while a kept read returns its value), within limits->shrink_ms.
 * `limits` may be NULL. Returns 0 or STRATA_ENOMEM; the verdict is in r (free with
 * lc_result_free). */
int lc_check(const struct lc_history *h, const struct lc_limits *limits, struct lc_result *r,
             struct strata_err *e);

void lc_result_free(struct lc_result *r);

/* The operations of `idx[0..n)` (all on one key) the search must place, written to `out`
 * (room for n), in the same order: acknowledged writes, linearizable acknowledged reads, and
 * indeterminate writes whose value some kept read returns. Failed operations did not happen;
 * an indeterminate read tells nothing; ser/cs reads are not linearizable by contract; an
 * indeterminate write nobody read can always be placed last. Returns how many. */
size_t lc_check_select(const struct lc_history *h, const size_t *idx, size_t n, size_t *out);

/* Search one key's operations (already selected) starting from value `init`. Gives up with
 * LC_UNKNOWN after max_steps, at deadline_ms (CLOCK_MONOTONIC, 0 = none) or past
 * max_cache_bytes; returns LC_UNKNOWN too when memory runs out. `stats` may be NULL. */
enum lc_verdict lc_check_key(const struct lc_history *h, const size_t *idx, size_t n, uint32_t init,
                             const struct lc_limits *limits, uint64_t deadline_ms,
                             struct lc_stats *stats);

/* Milliseconds of CLOCK_MONOTONIC: the clock deadlines are given in. */
uint64_t lc_now_ms(void);

#endif

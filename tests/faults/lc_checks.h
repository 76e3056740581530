/* lc_checks.h - the history checks that need no search: acknowledged writes survive to the final
 * reads, and no node (directory or connectivity server) serves a key's versions backwards. */
#ifndef STRATA_LC_CHECKS_H
#define STRATA_LC_CHECKS_H

#include <stddef.h>

#include "err.h"
#include "lc_history.h"

/* Anomalies kept with their text; beyond this many only counted. */
#define LC_ANOMALIES_MAX 100

enum lc_anomaly_kind {
    LC_LOST_WRITE,     /* a final read misses an acknowledged write */
    LC_NODE_BACKWARDS, /* a node served an older version after a newer one */
};

struct lc_anomaly {
    enum lc_anomaly_kind kind;
    size_t op;    /* the read that shows it (index into h->ops) */
    size_t other; /* the write it misses, or the earlier read of a newer version */
    char msg[320];
};

struct lc_anomalies {
    struct lc_anomaly a[LC_ANOMALIES_MAX];
    size_t n;                           /* kept */
    size_t total;                       /* found */
    size_t lost_writes, node_backwards; /* found, by kind */
};

/* Every final read (final=1, res=ok, any mode) of key k returns a value some ok or info write of
 * k wrote (or k's initial value) such that no acknowledged write of k began after that write had
 * completed and completed before the read began. Appends to `out`. */
int lc_check_lost_writes(const struct lc_history *h, struct lc_anomalies *out,
                         struct strata_err *e);

/* For each node and key, the versions of its ser and cs reads (res=ok with ver=) never go
 * backwards: a read that began after another completed has a version at least as high. This is
 * both "serializable reads per node are monotone" (a directory node) and "a connectivity server
 * never serves an older version than one it served". Appends to `out`. */
int lc_check_monotonic(const struct lc_history *h, struct lc_anomalies *out, struct strata_err *e);

#endif

/* metrics.h - named counters, gauges and latency histograms, exported in Prometheus text format
 * over a tiny HTTP server on the daemon's libuv loop, and listable for control sockets. */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct strata_metrics;

enum strata_metric_kind { STRATA_METRIC_COUNTER, STRATA_METRIC_GAUGE, STRATA_METRIC_HISTOGRAM };

/* A latency histogram with fixed bucket bounds (100 us to 1 s, see metrics.c), the same for
 * every metric so that dashboards compare like with like. The daemon observes durations on its
 * loop thread; it is rendered as a Prometheus histogram in seconds. */
#define STRATA_HISTO_BOUNDS 12
struct strata_histo {
    uint64_t bucket[STRATA_HISTO_BOUNDS + 1]; /* per bucket, not cumulative; last: above all */
    uint64_t sum_ns;
    uint64_t count;
};
void strata_histo_observe(struct strata_histo *h, uint64_t ns);

/* A metric is a uint64_t the daemon owns and updates on its loop thread; registering makes it
 * visible as `strata_<name>` with `help`. */
int strata_metrics_new(struct strata_metrics **out);
int strata_metrics_add(struct strata_metrics *m, const char *name, enum strata_metric_kind kind,
                       const char *help, const uint64_t *value);
/* Register a counter or gauge kept in a smaller unit than Prometheus's base unit (microseconds,
 * say) and rendered as `*value * scale` (scale > 0: 1e-6 for microseconds to seconds), so that
 * the name can say `_seconds` or `_bytes` as the exposition conventions (promtool) ask. */
int strata_metrics_add_scaled(struct strata_metrics *m, const char *name,
                              enum strata_metric_kind kind, const char *help, const uint64_t *value,
                              double scale);
/* Register a histogram the daemon owns (same naming rules as strata_metrics_add). */
int strata_metrics_add_histo(struct strata_metrics *m, const char *name, const char *help,
                             const struct strata_histo *h);
/* Register the loop's busy-poll counters (strata_loop_set_busy_poll) as
 * `strata_<prefix>_busy_poll_{hits,misses,backoffs,seconds}_total`. */
int strata_metrics_add_busy_poll(struct strata_metrics *m, const char *prefix,
                                 const struct strata_loop *l);
/* Register a gauge with constant labels and value, rendered `strata_<name>{k="v",...} value`:
 * `labels` alternates label names and values and ends with NULL; values are escaped as the text
 * format requires. For facts such as build_info, not for series that change. */
int strata_metrics_add_const(struct strata_metrics *m, const char *name, const char *help,
                             const char *const *labels, uint64_t value);
/* What every daemon exports besides its own metrics: `strata_<prefix>_build_info{version,git} 1`
 * and the standard process_* metrics (start time, resident memory, CPU seconds, open fds), read
 * from /proc/self at each scrape. */
int strata_metrics_add_daemon(struct strata_metrics *m, const char *prefix);
/* Serve GET /metrics on host:port (loop thread; NULL hostport = don't serve). */
int strata_metrics_listen(struct strata_metrics *m, uv_loop_t *uv, const char *hostport,
                          struct strata_err *e);
/* Prometheus text of all metrics into a malloc'd string. */
char *strata_metrics_render(const struct strata_metrics *m);
size_t strata_metrics_count(const struct strata_metrics *m);
/* The i-th metric's name and current value (for CacheShowReply counters); for a histogram, the
 * number of observations. */
void strata_metrics_get(const struct strata_metrics *m, size_t i, const char **name,
                        uint64_t *value);
void strata_metrics_close(struct strata_metrics *m);

#endif

/* metrics.h - named counters and gauges, exported in Prometheus text format over a tiny HTTP
 * server on the daemon's libuv loop, and listable for control sockets. */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct strata_metrics;

enum strata_metric_kind { STRATA_METRIC_COUNTER, STRATA_METRIC_GAUGE };

/* A metric is a uint64_t the daemon owns and updates on its loop thread; registering makes it
 * visible as `strata_<name>` with `help`. */
int strata_metrics_new(struct strata_metrics **out);
int strata_metrics_add(struct strata_metrics *m, const char *name, enum strata_metric_kind kind,
                       const char *help, const uint64_t *value);
/* Serve GET /metrics on host:port (loop thread; NULL hostport = don't serve). */
int strata_metrics_listen(struct strata_metrics *m, uv_loop_t *uv, const char *hostport,
                          struct strata_err *e);
/* Prometheus text of all metrics into a malloc'd string. */
char *strata_metrics_render(const struct strata_metrics *m);
size_t strata_metrics_count(const struct strata_metrics *m);
/* The i-th metric's name and current value (for CacheShowReply counters). */
void strata_metrics_get(const struct strata_metrics *m, size_t i, const char **name,
                        uint64_t *value);
void strata_metrics_close(struct strata_metrics *m);

#endif

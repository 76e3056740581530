/* dir_bench_scrape.c - see dir_bench_scrape.h. The test harness's HTTP GET and Prometheus
 * sample lookup do the reading. */
#include "dir_bench_scrape.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"

int dir_bench_scrape_raft(const int *metrics_ports, int n, struct dir_bench_raft_sample *out,
                          struct strata_err *e)
{
    static const char *names[] = {
        "strata_dird_raft_append_seconds_sum",  "strata_dird_raft_append_seconds_count",
        "strata_dird_write_commit_seconds_sum", "strata_dird_write_commit_seconds_count",
        "strata_dird_write_seconds_sum",        "strata_dird_write_seconds_count"};
    double *dst[] = {&out->append_sum_s, &out->appends,     &out->commit_sum_s,
                     &out->commits,      &out->write_sum_s, &out->writes};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(dst) / sizeof(dst[0]), "names");
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++) {
        char *text = h_http_get(metrics_ports[i], "/metrics");
        if (text == NULL)
            return strata_err_set(e, STRATA_EUNAVAIL, "metrics :%d: no answer", metrics_ports[i]);
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            double v = h_metric(text, names[k]);
            if (v < 0) {
                free(text);
                return strata_err_set(e, STRATA_ENOTFOUND, "metrics :%d: no %s", metrics_ports[i],
                                      names[k]);
            }
            *dst[k] += v;
        }
        free(text);
    }
    return 0;
}

void dir_bench_raft_phase(const struct dir_bench_raft_sample *before,
                          const struct dir_bench_raft_sample *after, double writes,
                          struct dir_bench_raft_phase *out)
{
    double appends = after->appends - before->appends;
    double commits = after->commits - before->commits;
    double served = after->writes - before->writes;
    out->ok = appends > 0 && commits > 0 && served > 0;
    if (!out->ok)
        return;
    out->append_ms = (after->append_sum_s - before->append_sum_s) * 1000.0 / appends;
    out->commit_ms = (after->commit_sum_s - before->commit_sum_s) * 1000.0 / commits;
    out->server_ms = (after->write_sum_s - before->write_sum_s) * 1000.0 / served;
    out->writes_per_entry = writes / commits;
}

/* dir_bench_scrape.c - see dir_bench_scrape.h. The nodes serve Prometheus text over HTTP/1.0
 * and close the connection after the response, so reading to EOF gets all of it. */
#include "dir_bench_scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_tcp.h"

#define SCRAPE_MAX (256 * 1024)

static int scrape_one(int port, char *buf, size_t cap, struct strata_err *e)
{
    int fd;
    int rc = bench_tcp_connect("127.0.0.1", port, 2000, &fd, e);
    if (rc != 0)
        return rc;
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    size_t len = 0;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
        rc = strata_err_set(e, STRATA_EIO, "metrics :%d: send failed", port);
    while (rc == 0 && len < cap - 1) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0)
            rc = strata_err_set(e, STRATA_EIO, "metrics :%d: receive failed", port);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    if (rc == 0 && strncmp(buf, "HTTP/1.0 200", 12) != 0 && strncmp(buf, "HTTP/1.1 200", 12) != 0)
        rc = strata_err_set(e, STRATA_EPROTO, "metrics :%d: not a 200 response", port);
    return rc;
}

/* The value of the line "<name> <value>", or -1 when the text has none. */
static double metric_value(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p += nl)
        if ((p == text || p[-1] == '\n') && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
    return -1;
}

int dir_bench_scrape_raft(const int *metrics_ports, int n, struct dir_bench_raft_sample *out,
                          struct strata_err *e)
{
    static const char *names[4] = {
        "strata_dird_raft_append_seconds_sum", "strata_dird_raft_append_seconds_count",
        "strata_dird_write_commit_seconds_sum", "strata_dird_write_commit_seconds_count"};
    double *dst[4] = {&out->append_sum_s, &out->appends, &out->commit_sum_s, &out->commits};
    memset(out, 0, sizeof(*out));
    char *buf = malloc(SCRAPE_MAX);
    if (buf == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = scrape_one(metrics_ports[i], buf, SCRAPE_MAX, e);
        for (int k = 0; rc == 0 && k < 4; k++) {
            double v = metric_value(buf, names[k]);
            if (v < 0)
                rc = strata_err_set(e, STRATA_ENOTFOUND, "metrics :%d: no %s", metrics_ports[i],
                                    names[k]);
            *dst[k] += v;
        }
    }
    free(buf);
    return rc;
}

void dir_bench_raft_phase(const struct dir_bench_raft_sample *before,
                          const struct dir_bench_raft_sample *after, double writes,
                          struct dir_bench_raft_phase *out)
{
    double appends = after->appends - before->appends;
    double commits = after->commits - before->commits;
    out->ok = appends > 0 && commits > 0;
    if (!out->ok)
        return;
    out->append_ms = (after->append_sum_s - before->append_sum_s) * 1000.0 / appends;
    out->commit_ms = (after->commit_sum_s - before->commit_sum_s) * 1000.0 / commits;
    out->writes_per_entry = writes / commits;
}

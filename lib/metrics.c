/* metrics.c - a registry of counters, gauges and latency histograms owned by the daemon, rendered
 * as Prometheus text, and a deliberately tiny HTTP/1.0 server (GET /metrics only) on the daemon's
 * libuv loop.
 *
 * Teardown: strata_metrics_close() closes the listener and every open connection; the memory is
 * freed in the last libuv close callback, so the loop must run once more after it (as for every
 * libuv handle). Without a listener it frees at once. */
#include "metrics.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "procstat.h"
#include "version.h"

#define METRICS_REQ_MAX 8192 /* bytes of request we are willing to buffer */

struct metric {
    char *name; /* as registered, without the strata_ prefix */
    char *help;
    enum strata_metric_kind kind;
    const uint64_t *value;            /* counters and gauges */
    double scale;                     /* 0: *value as is; else *value * scale, as a float */
    const struct strata_histo *histo; /* histograms */
    char *labels;                     /* constant gauges: `k="v",...`, escaped */
    uint64_t const_value;             /* constant gauges */
};

/* Bucket upper bounds in microseconds: from a loopback round trip to a stalled disk. */
static const uint64_t histo_bounds_us[STRATA_HISTO_BOUNDS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

void strata_histo_observe(struct strata_histo *h, uint64_t ns)
{
    unsigned i = 0;
    while (i < STRATA_HISTO_BOUNDS && ns > histo_bounds_us[i] * 1000)
        i++;
    h->bucket[i]++;
    h->sum_ns += ns;
    h->count++;
}

struct metrics_conn {
    uv_tcp_t tcp;
    uv_write_t wreq;
    struct strata_metrics *m;
    struct metrics_conn *next, *prev;
    char *resp; /* response being written */
    size_t len; /* bytes of request in req */
    bool closing;
    char req[METRICS_REQ_MAX];
};

struct strata_metrics {
    struct metric *v;
    size_t n, cap;
    uv_tcp_t server;
    bool listening;
    bool closing;
    unsigned open_handles; /* server + connections not yet closed by libuv */
    struct metrics_conn *conns;
    bool process; /* render the process_* metrics (strata_metrics_add_daemon) */
};

int strata_metrics_new(struct strata_metrics **out)
{
    struct strata_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return STRATA_ENOMEM;
    *out = m;
    return 0;
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; we keep to letters, digits and '_'. */
static bool metrics_name_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int metrics_add(struct strata_metrics *m, const char *name, const char *help,
                       struct metric x)
{
    if (m == NULL || !metrics_name_ok(name))
        return STRATA_EINVAL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, name) == 0)
            return STRATA_EEXIST;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct metric *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return STRATA_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    char *n = strdup(name), *h = strdup(help != NULL ? help : "");
    if (n == NULL || h == NULL) {
        free(n);
        free(h);
        return STRATA_ENOMEM;
    }
    x.name = n;
    x.help = h;
    m->v[m->n++] = x;
    return 0;
}

int strata_metrics_add(struct strata_metrics *m, const char *name, enum strata_metric_kind kind,
                       const char *help, const uint64_t *value)
{
    if (value == NULL || (kind != STRATA_METRIC_COUNTER && kind != STRATA_METRIC_GAUGE))
        return STRATA_EINVAL;
    return metrics_add(m, name, help, (struct metric){.kind = kind, .value = value});
}

int strata_metrics_add_scaled(struct strata_metrics *m, const char *name,
                              enum strata_metric_kind kind, const char *help, const uint64_t *value,
                              double scale)
{
    if (value == NULL || !(scale > 0) ||
        (kind != STRATA_METRIC_COUNTER && kind != STRATA_METRIC_GAUGE))
        return STRATA_EINVAL;
    return metrics_add(m, name, help,
                       (struct metric){.kind = kind, .value = value, .scale = scale});
}

int strata_metrics_add_busy_poll(struct strata_metrics *m, const char *prefix,
                                 const struct strata_loop *l)
{
    const struct strata_loop_poll_stats *ps = strata_loop_poll_stats(l);
    const struct {
        const char *name, *help;
        const uint64_t *v;
    } tbl[] = {
        {"hits", "busy polls after a reply that caught the next event", &ps->hits},
        {"misses", "busy polls whose window closed without an event", &ps->misses},
        {"backoffs", "busy polls cut short because another thread wanted the CPU", &ps->backoffs},
    };
    for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++) {
        char name[96];
        snprintf(name, sizeof(name), "%s_busy_poll_%s_total", prefix, tbl[i].name);
        int rc = strata_metrics_add(m, name, STRATA_METRIC_COUNTER, tbl[i].help, tbl[i].v);
        if (rc != 0)
            return rc;
    }
    char name[96];
    snprintf(name, sizeof(name), "%s_busy_poll_seconds_total", prefix);
    return strata_metrics_add_scaled(m, name, STRATA_METRIC_COUNTER, "time spent busy polling",
                                     &ps->polled_us, 1e-6);
}

int strata_metrics_add_histo(struct strata_metrics *m, const char *name, const char *help,
                             const struct strata_histo *h)
{
    if (h == NULL)
        return STRATA_EINVAL;
    return metrics_add(m, name, help, (struct metric){.kind = STRATA_METRIC_HISTOGRAM, .histo = h});
}

/* A label value in the text format: backslash, double quote and newline escaped. */
static void metrics_put_label_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '"')
            fputs("\\\"", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

int strata_metrics_add_const(struct strata_metrics *m, const char *name, const char *help,
                             const char *const *labels, uint64_t value)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return STRATA_ENOMEM;
    bool ok = true;
    for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        if (!metrics_name_ok(labels[i]) || labels[i + 1] == NULL) {
            ok = false;
            break;
        }
        fprintf(f, "%s%s=\"", i > 0 ? "," : "", labels[i]);
        metrics_put_label_value(f, labels[i + 1]);
        fputc('"', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return STRATA_ENOMEM;
    }
    if (!ok) {
        free(buf);
        return STRATA_EINVAL;
    }
    int rc = metrics_add(
        m, name, help,
        (struct metric){.kind = STRATA_METRIC_GAUGE, .labels = buf, .const_value = value});
    if (rc != 0)
        free(buf);
    return rc;
}

int strata_metrics_add_daemon(struct strata_metrics *m, const char *prefix)
{
    char name[96];
    snprintf(name, sizeof(name), "%s_build_info", prefix);
    const char *labels[] = {"version", strata_version(), "git", strata_version_git(), NULL};
    int rc = strata_metrics_add_const(
        m, name, "the running build: version and git description, value always 1", labels, 1);
    if (rc == 0)
        m->process = true;
    return rc;
}

size_t strata_metrics_count(const struct strata_metrics *m)
{
    return m != NULL ? m->n : 0;
}

void strata_metrics_get(const struct strata_metrics *m, size_t i, const char **name,
                        uint64_t *value)
{
    if (m == NULL || i >= m->n) {
        *name = NULL;
        *value = 0;
        return;
    }
    *name = m->v[i].name;
    const struct metric *x = &m->v[i];
    *value = x->histo != NULL ? x->histo->count : x->labels != NULL ? x->const_value : *x->value;
}

/* HELP text escaping per the exposition format: backslash and newline. */
static void metrics_put_help(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* Buckets are cumulative in the exposition format; bounds and the sum are in seconds. */
static void metrics_put_histo(FILE *f, const char *name, const struct strata_histo *h)
{
    fprintf(f, "\n# TYPE strata_%s histogram\n", name);
    uint64_t cum = 0;
    for (unsigned i = 0; i < STRATA_HISTO_BOUNDS; i++) {
        cum += h->bucket[i];
        fprintf(f, "strata_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                (double)histo_bounds_us[i] / 1e6, cum);
    }
    fprintf(f, "strata_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    fprintf(f, "strata_%s_sum %.6f\nstrata_%s_count %" PRIu64 "\n", name, (double)h->sum_ns / 1e9,
            name, h->count);
}

/* The standard process metrics (as the Prometheus client libraries name and describe them),
 * read now; those /proc could not give are left out rather than reported as 0. */
static void metrics_put_process(FILE *f)
{
    struct strata_procstat ps;
    (void)strata_procstat_read(&ps);
    if (ps.start_time_s > 0)
        fprintf(f,
                "# HELP process_start_time_seconds Start time of the process since unix epoch in "
                "seconds.\n# TYPE process_start_time_seconds gauge\n"
                "process_start_time_seconds %.2f\n",
                ps.start_time_s);
    if (ps.rss_bytes > 0)
        fprintf(f,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %" PRIu64 "\n",
                ps.rss_bytes);
    if (ps.rss_bytes > 0) /* read with it, from /proc/self/stat */
        fprintf(f,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total %.2f\n",
                ps.cpu_s);
    if (ps.open_fds > 0)
        fprintf(f,
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\nprocess_open_fds %" PRIu64 "\n",
                ps.open_fds);
}

char *strata_metrics_render(const struct strata_metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; m != NULL && i < m->n; i++) {
        const struct metric *x = &m->v[i];
        fprintf(f, "# HELP strata_%s ", x->name);
        metrics_put_help(f, x->help);
        if (x->histo != NULL) {
            metrics_put_histo(f, x->name, x->histo);
            continue;
        }
        if (x->labels != NULL) {
            fprintf(f, "\n# TYPE strata_%s gauge\nstrata_%s{%s} %" PRIu64 "\n", x->name, x->name,
                    x->labels, x->const_value);
            continue;
        }
        fprintf(f, "\n# TYPE strata_%s %s\nstrata_%s ", x->name,
                x->kind == STRATA_METRIC_COUNTER ? "counter" : "gauge", x->name);
        if (x->scale > 0)
            fprintf(f, "%.9g\n", (double)*x->value * x->scale);
        else
            fprintf(f, "%" PRIu64 "\n", *x->value);
    }
    if (m != NULL && m->process)
        metrics_put_process(f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ------------------------------------------------------------------ HTTP */

static void metrics_release(struct strata_metrics *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].help);
        free(m->v[i].labels);
    }
    free(m->v);
    free(m);
}

static void metrics_conn_closed(uv_handle_t *h)
{
    struct metrics_conn *c = h->data;
    struct strata_metrics *m = c->m;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->resp);
    free(c);
    if (--m->open_handles == 0 && m->closing)
        metrics_release(m);
}

static void metrics_conn_close(struct metrics_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, metrics_conn_closed);
}

static void metrics_written(uv_write_t *w, int status)
{
    (void)status; /* HTTP/1.0: we close after the response whether it was written or not */
    metrics_conn_close(w->data);
}

static void metrics_respond(struct metrics_conn *c, const char *status, const char *body)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    size_t blen = strlen(body);
    char *resp = NULL;
    int n = asprintf(&resp,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, blen, body);
    if (n < 0) {
        metrics_conn_close(c);
        return;
    }
    c->resp = resp;
    uv_buf_t b = uv_buf_init(resp, (unsigned)n);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, metrics_written) != 0)
        metrics_conn_close(c);
}

/* Answer once the request head is complete; only "GET /metrics" (optionally with a query). */
static void metrics_handle(struct metrics_conn *c)
{
    c->req[c->len] = '\0';
    bool get = strncmp(c->req, "GET /metrics", 12) == 0 &&
               (c->req[12] == ' ' || c->req[12] == '?' || c->req[12] == '\r' || c->req[12] == '\n');
    if (!get) {
        metrics_respond(c, "404 Not Found", "not found: try GET /metrics\n");
        return;
    }
    char *body = strata_metrics_render(c->m);
    if (body == NULL) {
        metrics_respond(c, "500 Internal Server Error", "out of memory\n");
        return;
    }
    metrics_respond(c, "200 OK", body);
    free(body);
}

static void metrics_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct metrics_conn *c = h->data;
    /* Read straight into the request buffer, keeping one byte for the terminating NUL. */
    *buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void metrics_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct metrics_conn *c = s->data;
    if (nread < 0) {
        metrics_conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") != NULL || strstr(c->req, "\n\n") != NULL) {
        metrics_handle(c);
        return;
    }
    if (c->len >= sizeof(c->req) - 1)
        metrics_respond(c, "431 Request Header Fields Too Large", "request too large\n");
}

static void metrics_accept(uv_stream_t *server, int status)
{
    struct strata_metrics *m = server->data;
    if (status < 0 || m->closing)
        return;
    struct metrics_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->m = m;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    m->open_handles++;
    c->next = m->conns;
    if (m->conns != NULL)
        m->conns->prev = c;
    m->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, metrics_alloc, metrics_read) != 0)
        metrics_conn_close(c);
}

static void metrics_server_closed(uv_handle_t *h)
{
    struct strata_metrics *m = h->data;
    if (--m->open_handles == 0 && m->closing)
        metrics_release(m);
}

int strata_metrics_listen(struct strata_metrics *m, uv_loop_t *uv, const char *hostport,
                          struct strata_err *e)
{
    if (hostport == NULL)
        return 0;
    if (m->listening)
        return strata_err_set(e, STRATA_EEXIST, "metrics: already listening");
    char ip[16];
    uint16_t port;
    int rc = strata_hostport_parse(hostport, ip, &port, e);
    if (rc < 0)
        return rc;
    struct sockaddr_in sa;
    if (uv_ip4_addr(ip, port, &sa) != 0)
        return strata_err_set(e, STRATA_EINVAL, "metrics: bad address %s", hostport);
    uv_tcp_init(uv, &m->server);
    m->server.data = m;
    m->listening = true;
    m->open_handles++;
    int r = uv_tcp_bind(&m->server, (const struct sockaddr *)&sa, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&m->server, 16, metrics_accept);
    if (r != 0) {
        /* The handle stays initialised (and is closed by strata_metrics_close). */
        return strata_err_set(e, STRATA_EIO, "metrics: listen on %s: %s", hostport, uv_strerror(r));
    }
    LOG_INFO("metrics on http://%s/metrics", hostport);
    return 0;
}

void strata_metrics_close(struct strata_metrics *m)
{
    if (m == NULL || m->closing)
        return;
    m->closing = true;
    if (m->open_handles == 0) {
        metrics_release(m);
        return;
    }
    if (m->listening)
        uv_close((uv_handle_t *)&m->server, metrics_server_closed);
    for (struct metrics_conn *c = m->conns; c != NULL; c = c->next)
        metrics_conn_close(c);
}

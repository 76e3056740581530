/* test_metrics.c - the metrics registry, Prometheus rendering and the GET /metrics server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "procstat.h"
#include "version.h"

static void test_registry_and_render(void **state)
{
    (void)state;
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    uint64_t hits = 12, size = 3;
    assert_int_equal(strata_metrics_add(m, "cache_hits", STRATA_METRIC_COUNTER,
                                        "answers served from the cache", &hits),
                     0);
    assert_int_equal(
        strata_metrics_add(m, "cache_size", STRATA_METRIC_GAUGE, "entries\nand \\ more", &size), 0);
    assert_int_equal(strata_metrics_add(m, "cache_hits", STRATA_METRIC_GAUGE, "dup", &size),
                     STRATA_EEXIST);
    assert_int_equal(strata_metrics_add(m, "bad name", STRATA_METRIC_GAUGE, "x", &size),
                     STRATA_EINVAL);
    assert_int_equal(strata_metrics_add(m, "9lives", STRATA_METRIC_GAUGE, "x", &size),
                     STRATA_EINVAL);
    assert_int_equal(strata_metrics_add(m, "", STRATA_METRIC_GAUGE, "x", &size), STRATA_EINVAL);
    assert_int_equal(strata_metrics_add(m, "novalue", STRATA_METRIC_GAUGE, "x", NULL),
                     STRATA_EINVAL);
    assert_int_equal(strata_metrics_count(m), 2);

    const char *name;
    uint64_t v;
    hits = 13;
    strata_metrics_get(m, 0, &name, &v);
    assert_string_equal(name, "cache_hits");
    assert_int_equal(v, 13);
    strata_metrics_get(m, 1, &name, &v);
    assert_string_equal(name, "cache_size");
    assert_int_equal(v, 3);
    strata_metrics_get(m, 2, &name, &v);
    assert_null(name);

    char *text = strata_metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, "# HELP strata_cache_hits answers served from the cache\n"
                              "# TYPE strata_cache_hits counter\n"
                              "strata_cache_hits 13\n"
                              "# HELP strata_cache_size entries\\nand \\\\ more\n"
                              "# TYPE strata_cache_size gauge\n"
                              "strata_cache_size 3\n");
    free(text);
    strata_metrics_close(m); /* never listened: frees at once */

    assert_int_equal(strata_metrics_new(&m), 0);
    text = strata_metrics_render(m);
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(strata_metrics_count(m), 0);
    strata_metrics_close(m);
}

/* A constant labelled gauge: HELP, TYPE gauge, then the sample with its labels, values escaped
 * (backslash, double quote, newline) as the text format requires. */
static void test_const_labelled_gauge(void **state)
{
    (void)state;
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    const char *labels[] = {"version", "1.2.3", "git", "a\"b\\c\nd", NULL};
    assert_int_equal(strata_metrics_add_const(m, "x_build_info", "the build", labels, 1), 0);
    const char *bad[] = {"bad label", "v", NULL};
    assert_int_equal(strata_metrics_add_const(m, "y", "h", bad, 1), STRATA_EINVAL);
    const char *odd[] = {"k", NULL};
    assert_int_equal(strata_metrics_add_const(m, "z", "h", odd, 1), STRATA_EINVAL);
    assert_int_equal(strata_metrics_add_const(m, "x_build_info", "h", labels, 1), STRATA_EEXIST);
    assert_int_equal(strata_metrics_count(m), 1);
    const char *name;
    uint64_t v;
    strata_metrics_get(m, 0, &name, &v);
    assert_string_equal(name, "x_build_info");
    assert_int_equal(v, 1);
    char *text = strata_metrics_render(m);
    assert_string_equal(text, "# HELP strata_x_build_info the build\n"
                              "# TYPE strata_x_build_info gauge\n"
                              "strata_x_build_info{version=\"1.2.3\",git=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(text);
    strata_metrics_close(m);
}

/* A value kept in microseconds renders in seconds under a `_seconds` name (promtool asks for base
 * units); strata_metrics_get still gives the raw value, for cache show. */
static void test_scaled_counter(void **state)
{
    (void)state;
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    uint64_t us = 2500000;
    assert_int_equal(strata_metrics_add_scaled(m, "poll_seconds_total", STRATA_METRIC_COUNTER,
                                               "time polled", &us, 1e-6),
                     0);
    assert_int_equal(strata_metrics_add_scaled(m, "bad_scale", STRATA_METRIC_GAUGE, "x", &us, 0),
                     STRATA_EINVAL);
    assert_int_equal(strata_metrics_add_scaled(m, "no_value", STRATA_METRIC_GAUGE, "x", NULL, 1e-6),
                     STRATA_EINVAL);
    us = 2750001;
    char *text = strata_metrics_render(m);
    assert_string_equal(text, "# HELP strata_poll_seconds_total time polled\n"
                              "# TYPE strata_poll_seconds_total counter\n"
                              "strata_poll_seconds_total 2.750001\n");
    free(text);
    const char *name;
    uint64_t v;
    strata_metrics_get(m, 0, &name, &v);
    assert_int_equal(v, 2750001);
    strata_metrics_close(m);
}

/* Text of the sample `name` in `text` as a number; fails the test when it is missing. */
static double sample_of(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    assert_non_null(p);
    char type[160];
    snprintf(type, sizeof(type), "# TYPE %s ", name);
    assert_non_null(strstr(text, type));
    return strtod(p + strlen(key), NULL);
}

/* A daemon's registry: its build_info from the generated version, and the process_* metrics,
 * unprefixed as the Prometheus convention names them, read at each render. */
static void test_daemon_build_info_and_process(void **state)
{
    (void)state;
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    assert_int_equal(strata_metrics_add_daemon(m, "dird"), 0);
    char *text = strata_metrics_render(m);
    char want[256];
    snprintf(want, sizeof(want),
             "# HELP strata_dird_build_info the running build: version and git description, value "
             "always 1\n# TYPE strata_dird_build_info gauge\n"
             "strata_dird_build_info{version=\"%s\",git=\"%s\"} 1\n",
             strata_version(), strata_version_git());
    assert_memory_equal(text, want, strlen(want));
    struct timeval now;
    gettimeofday(&now, NULL);
    double start = sample_of(text, "process_start_time_seconds");
    assert_true(start > (double)now.tv_sec - 3600 && start <= (double)now.tv_sec + 1);
    assert_true(sample_of(text, "process_resident_memory_bytes") > 100000);
    assert_true(sample_of(text, "process_cpu_seconds_total") >= 0);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    /* Open fds are counted at the scrape: two more show up in the next one. */
    double fds = sample_of(text, "process_open_fds");
    assert_true(fds >= 3);
    free(text);
    int p[2];
    assert_int_equal(pipe(p), 0);
    text = strata_metrics_render(m);
    assert_true(sample_of(text, "process_open_fds") == fds + 2);
    free(text);
    close(p[0]);
    close(p[1]);
    struct strata_procstat ps;
    assert_int_equal(strata_procstat_read(&ps), 0);
    assert_true(ps.open_fds == (uint64_t)fds);
    strata_metrics_close(m);
}

/* Observations land in the bucket of the first bound they do not exceed; the rendering is
 * cumulative, in seconds, with +Inf, _sum and _count as Prometheus expects. */
static void test_histogram(void **state)
{
    (void)state;
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    struct strata_histo h = {0};
    strata_histo_observe(&h, 50 * 1000);      /* 50 us: first bucket */
    strata_histo_observe(&h, 100 * 1000);     /* on the 100 us bound: still the first */
    strata_histo_observe(&h, 100 * 1000 + 1); /* just above: the 250 us bucket */
    strata_histo_observe(&h, 3000000000ull);  /* 3 s: above every bound */
    assert_int_equal(h.count, 4);
    assert_int_equal(h.bucket[0], 2);
    assert_int_equal(h.bucket[1], 1);
    assert_int_equal(h.bucket[STRATA_HISTO_BOUNDS], 1);
    assert_int_equal(strata_metrics_add_histo(m, "disk_seconds", "disk time", &h), 0);
    assert_int_equal(strata_metrics_add_histo(m, "disk_seconds", "dup", &h), STRATA_EEXIST);
    assert_int_equal(strata_metrics_add_histo(m, "nohisto", "x", NULL), STRATA_EINVAL);
    uint64_t v = 0;
    assert_int_equal(strata_metrics_add(m, "gauge_as_histo", STRATA_METRIC_HISTOGRAM, "x", &v),
                     STRATA_EINVAL);
    const char *name;
    strata_metrics_get(m, 0, &name, &v);
    assert_string_equal(name, "disk_seconds");
    assert_int_equal(v, 4);

    char *text = strata_metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, "# HELP strata_disk_seconds disk time\n"
                              "# TYPE strata_disk_seconds histogram\n"
                              "strata_disk_seconds_bucket{le=\"0.0001\"} 2\n"
                              "strata_disk_seconds_bucket{le=\"0.00025\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.0005\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.001\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.0025\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.005\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.01\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.025\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.05\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.1\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"0.25\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"1\"} 3\n"
                              "strata_disk_seconds_bucket{le=\"+Inf\"} 4\n"
                              "strata_disk_seconds_sum 3.000250\n"
                              "strata_disk_seconds_count 4\n");
    free(text);
    strata_metrics_close(m);
}

/* ------------------------------------------------------------------ HTTP */

struct client {
    uint16_t port;
    const char *parts[4]; /* sent one after another, to exercise partial reads */
    size_t big;           /* if non-zero: send this many bytes of header junk */
    bool shut;            /* shut down the sending side after the request */
    char resp[65536];
    size_t len;
    uv_async_t *done;
    uv_async_t *sent; /* if set: signalled once the request is sent, before reading */
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    /* No cmocka asserts on this thread: failures show up as an empty response. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        for (int i = 0; i < 4 && c->parts[i] != NULL; i++) {
            if (send(fd, c->parts[i], strlen(c->parts[i]), MSG_NOSIGNAL) < 0)
                break;
            usleep(20000); /* only to split the request into separate reads, not to sync */
        }
        if (c->big > 0) {
            char junk[1024];
            memset(junk, 'x', sizeof(junk));
            for (size_t sent = 0; sent < c->big; sent += sizeof(junk))
                if (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
                    break;
        }
        if (c->shut)
            shutdown(fd, SHUT_WR);
        if (c->sent != NULL)
            uv_async_send(c->sent);
        ssize_t n;
        while (c->len < sizeof(c->resp) - 1 &&
               (n = recv(fd, c->resp + c->len, sizeof(c->resp) - 1 - c->len, 0)) > 0)
            c->len += (size_t)n;
    }
    c->resp[c->len] = '\0';
    if (fd >= 0)
        close(fd);
    uv_async_send(c->done);
    return NULL;
}

static void on_done(uv_async_t *a)
{
    uv_close((uv_handle_t *)a, NULL);
    uv_stop(a->loop);
}

static void on_sent(uv_async_t *a)
{
    bool *flag = a->data;
    *flag = true;
}

/* A port that was free a moment ago (binding to port 0 and reading it back). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Serve on a fresh loop, run one client to completion, close everything, check no handle
 * remains (the loop closes cleanly and ASan sees no leak). */
static void http_exchange(struct client *c, bool close_early)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    uint64_t served = 7;
    assert_int_equal(strata_metrics_add(m, "served", STRATA_METRIC_COUNTER, "requests", &served),
                     0);
    char hp[32];
    struct strata_err e;
    c->port = free_port();
    snprintf(hp, sizeof(hp), "127.0.0.1:%u", c->port);
    int rc = strata_metrics_listen(m, &loop, hp, &e);
    if (rc != 0)
        fail_msg("listen: %s", e.msg);
    uv_async_t done, sent;
    bool sent_flag = false;
    uv_async_init(&loop, &done, on_done);
    c->done = &done;
    if (close_early) {
        uv_async_init(&loop, &sent, on_sent);
        sent.data = &sent_flag;
        c->sent = &sent;
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, c), 0);
    if (close_early) {
        /* Close the server while the client's half request is (most likely) accepted and
         * buffered: the connection must be dropped without a response and without a leak. */
        while (!sent_flag)
            uv_run(&loop, UV_RUN_ONCE);
        for (int i = 0; i < 5; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
        strata_metrics_close(m);
        uv_close((uv_handle_t *)&sent, NULL);
        uv_run(&loop, UV_RUN_DEFAULT); /* until the client saw the close and reported */
        pthread_join(th, NULL);
    } else {
        uv_run(&loop, UV_RUN_DEFAULT); /* until the client is done (on_done stops it) */
        pthread_join(th, NULL);
        strata_metrics_close(m);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_http_get_metrics(void **state)
{
    (void)state;
    static struct client c = {.parts = {"GET /metrics HTTP/1.0\r\n", "Host: x\r\n\r\n"}};
    http_exchange(&c, false);
    assert_non_null(strstr(c.resp, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(c.resp, "Content-Type: text/plain"));
    assert_non_null(strstr(c.resp, "\r\n\r\n# HELP strata_served requests\n"));
    assert_non_null(strstr(c.resp, "strata_served 7\n"));
    /* Content-Length matches the body. */
    const char *body = strstr(c.resp, "\r\n\r\n") + 4;
    size_t cl = strtoul(strstr(c.resp, "Content-Length: ") + 16, NULL, 10);
    assert_int_equal(cl, strlen(body));
}

static void test_http_other_paths(void **state)
{
    (void)state;
    static struct client c1 = {.parts = {"GET / HTTP/1.0\r\n\r\n"}};
    http_exchange(&c1, false);
    assert_non_null(strstr(c1.resp, "HTTP/1.0 404"));
    assert_null(strstr(c1.resp, "strata_served"));
    static struct client c2 = {.parts = {"POST /metrics HTTP/1.0\r\n\r\n"}};
    http_exchange(&c2, false);
    assert_non_null(strstr(c2.resp, "HTTP/1.0 404"));
    static struct client c3 = {.parts = {"GET /metricsx HTTP/1.0\r\n\r\n"}};
    http_exchange(&c3, false);
    assert_non_null(strstr(c3.resp, "HTTP/1.0 404"));
    static struct client c4 = {.parts = {"GET /metrics?x=1 HTTP/1.1\r\n\r\n"}};
    http_exchange(&c4, false);
    assert_non_null(strstr(c4.resp, "HTTP/1.0 200"));
}

static void test_http_oversized_request(void **state)
{
    (void)state;
    /* 64 KiB of header without an end: answered (431) or cut off, never buffered unbounded. */
    static struct client c = {.parts = {"GET /metrics HTTP/1.0\r\nX: "}, .big = 65536};
    http_exchange(&c, false);
    if (c.len > 0)
        assert_non_null(strstr(c.resp, "HTTP/1.0 431"));
    assert_null(strstr(c.resp, "strata_served"));
}

static void test_http_half_request_then_eof(void **state)
{
    (void)state;
    /* The client gives up mid-request (shuts its side): the server just closes. */
    static struct client c = {.parts = {"GET /metr"}, .shut = true};
    http_exchange(&c, false);
    assert_int_equal(c.len, 0);
}

static void test_http_close_with_open_connection(void **state)
{
    (void)state;
    static struct client c = {.parts = {"GET /metr"}};
    http_exchange(&c, true);
    assert_int_equal(c.len, 0);
}

static void test_listen_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct strata_metrics *m;
    assert_int_equal(strata_metrics_new(&m), 0);
    struct strata_err e;
    assert_int_equal(strata_metrics_listen(m, &loop, NULL, &e), 0); /* not served */
    assert_int_equal(strata_metrics_listen(m, &loop, "localhost:80", &e), STRATA_EINVAL);
    assert_int_equal(strata_metrics_listen(m, &loop, "127.0.0.1:0", &e), STRATA_EINVAL);
    strata_metrics_close(m);

    /* Two servers on one port: the second fails with a message, and both close cleanly. */
    struct strata_metrics *a, *b;
    assert_int_equal(strata_metrics_new(&a), 0);
    assert_int_equal(strata_metrics_new(&b), 0);
    char hp[32];
    snprintf(hp, sizeof(hp), "127.0.0.1:%u", free_port());
    assert_int_equal(strata_metrics_listen(a, &loop, hp, &e), 0);
    assert_int_equal(strata_metrics_listen(b, &loop, hp, &e), STRATA_EIO);
    assert_non_null(strstr(e.msg, hp));
    strata_metrics_close(a);
    strata_metrics_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_and_render),
        cmocka_unit_test(test_const_labelled_gauge),
        cmocka_unit_test(test_scaled_counter),
        cmocka_unit_test(test_daemon_build_info_and_process),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_http_get_metrics),
        cmocka_unit_test(test_http_other_paths),
        cmocka_unit_test(test_http_oversized_request),
        cmocka_unit_test(test_http_half_request_then_eof),
        cmocka_unit_test(test_http_close_with_open_connection),
        cmocka_unit_test(test_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_bench_wire.c - the load generator's reply parsers (etcd HTTP, SP) and its event-driven
 * driver against a small HTTP server on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dir_bench_events.h"
#include "dir_bench_load.h"
#include "etcd_http.h"
#include "sp_req.h"

/* A listening socket on 127.0.0.1; connections complete in its backlog without accept(). */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 128), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_http_parse(void **state)
{
    (void)state;
    int port, lfd = listener(&port);
    struct etcd_http *h;
    struct strata_err e = {0};
    assert_int_equal(etcd_http_open("127.0.0.1", port, 1000, &h, &e), 0);

    const char *r1 = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                     "\r\n{\"a\"}";
    const char *r2 = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\n{\"k\r\n2\r\n\"}\r\n0\r\nX-Trailer: 1\r\n\r\n";
    char two[512];
    snprintf(two, sizeof(two), "%s%s", r1, r2);
    size_t l1 = strlen(r1), l2 = strlen(r2), used;
    int status;
    bool close_after;
    /* every prefix of a reply is incomplete, and consumes nothing */
    for (size_t n = 0; n < l1; n++)
        assert_int_equal(etcd_http_parse(h, r1, n, &used, &status, &close_after, &e),
                         ETCD_HTTP_MORE);
    for (size_t n = 0; n < l2; n++)
        assert_int_equal(etcd_http_parse(h, r2, n, &used, &status, &close_after, &e),
                         ETCD_HTTP_MORE);
    /* two replies back to back: the first is consumed alone */
    assert_int_equal(etcd_http_parse(h, two, l1 + l2, &used, &status, &close_after, &e), 0);
    assert_int_equal(used, l1);
    assert_int_equal(status, 200);
    assert_string_equal(etcd_http_body(h), "{\"a\"}");
    assert_false(close_after);
    assert_int_equal(etcd_http_parse(h, two + used, l2, &used, &status, &close_after, &e), 0);
    assert_int_equal(used, l2);
    assert_int_equal(status, 404);
    assert_string_equal(etcd_http_body(h), "{\"k\"}");

    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", /* no length */
        "SMTP 220 hello\r\n\r\n",                            /* not HTTP */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = etcd_http_parse(h, bad[i], strlen(bad[i]), &used, &status, &close_after, &e);
        assert_int_equal(rc, STRATA_EPROTO);
        assert_int_equal(used, 0);
    }
    const char *closing = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(etcd_http_parse(h, closing, strlen(closing), &used, &status, &close_after, &e),
                     0);
    assert_true(close_after);
    /* a header that never ends is refused once it is over the limit, not waited for */
    size_t big = 16384;
    char *junk = malloc(big);
    memcpy(junk, "HTTP/1.1 200 OK\r\nX: ", 21);
    memset(junk + 21, 'a', big - 21);
    assert_int_equal(etcd_http_parse(h, junk, big, &used, &status, &close_after, &e),
                     STRATA_EPROTO);
    free(junk);
    etcd_http_close(h);
    close(lfd);
}

/* An SP reply frame: 8-byte length, 4-byte request id, the envelope. */
static size_t sp_frame(uint8_t *out, uint32_t id, int status)
{
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.status = status;
    size_t blen = strata__v1__envelope__get_packed_size(&env);
    uint64_t len = 4 + blen;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(len >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(id >> (24 - 8 * i));
    strata__v1__envelope__pack(&env, out + 12);
    return 12 + blen;
}

static void test_sp_parse(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct strata_err e = {0};
    strata_env *reply = NULL;
    size_t used;
    /* an older reply (to a request that timed out) is skipped, then ours is found */
    size_t a = sp_frame(buf, 0x80000001u, 0);
    size_t b = sp_frame(buf + a, 0x80000002u, STRATA_ENOTFOUND);
    for (size_t n = 0; n < a + b; n++) {
        assert_int_equal(sp_req_parse(buf, n, 0x80000002u, &used, &reply, &e), SP_REQ_MORE);
        assert_int_equal(used, n >= a ? a : 0);
    }
    assert_int_equal(sp_req_parse(buf, a + b, 0x80000002u, &used, &reply, &e), 0);
    assert_int_equal(used, a + b);
    assert_non_null(reply);
    assert_int_equal(sp_req_status(&reply, "test", &e), STRATA_ENOTFOUND);
    assert_null(reply);
    /* a frame length no server sends breaks the stream */
    memset(buf, 0xff, 8);
    assert_int_equal(sp_req_parse(buf, 12, 1, &used, &reply, &e), STRATA_EIO);
    assert_int_equal(used, 0);
}

/* A server answering every HTTP request on its connections with 200 and a small body, until
 * `stop`; the connection accepted `drop_nth` (1-based, 0 = none) is closed after one request. */
struct mini_http {
    int lfd, port;
    unsigned drop_nth;
    atomic_bool stop;
    atomic_uint served;
    pthread_t tid;
};

static void *mini_http_main(void *arg)
{
    struct mini_http *m = arg;
    struct pollfd p[65] = {{.fd = m->lfd, .events = POLLIN}};
    char in[64][4096];
    size_t len[64] = {0};
    bool drop[64] = {false};
    unsigned n = 1, accepted = 0;
    while (!atomic_load(&m->stop)) {
        if (poll(p, n, 20) <= 0)
            continue;
        if ((p[0].revents & POLLIN) && n < 65) {
            int fd = accept(m->lfd, NULL, NULL);
            drop[n - 1] = ++accepted == m->drop_nth;
            len[n - 1] = 0;
            p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
        for (unsigned i = 1; i < n; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t k = recv(p[i].fd, in[i - 1] + len[i - 1], sizeof(in[0]) - len[i - 1] - 1, 0);
            if (k <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                continue;
            }
            len[i - 1] += (size_t)k;
            in[i - 1][len[i - 1]] = '\0';
            char *end = strstr(in[i - 1], "\r\n\r\n");
            char *cl = strstr(in[i - 1], "Content-Length: ");
            if (!end || !cl || len[i - 1] < (size_t)(end + 4 - in[i - 1]) + atoi(cl + 16))
                continue;
            len[i - 1] = 0; /* one request at a time: the client waits for each reply */
            if (drop[i - 1]) {
                close(p[i].fd);
                p[i].fd = -1;
                continue;
            }
            const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
            assert_int_equal(send(p[i].fd, r, strlen(r), MSG_NOSIGNAL), (ssize_t)strlen(r));
            atomic_fetch_add(&m->served, 1);
        }
    }
    for (unsigned i = 1; i < n; i++)
        if (p[i].fd >= 0)
            close(p[i].fd);
    return NULL;
}

static void drive_mini(unsigned nclients, unsigned nthreads, unsigned drop_nth,
                       struct dir_bench_result *r)
{
    struct mini_http m = {.drop_nth = drop_nth};
    m.lfd = listener(&m.port);
    assert_int_equal(pthread_create(&m.tid, NULL, mini_http_main, &m), 0);
    struct strata_err e = {0};
    struct dir_bench_keys keys;
    assert_int_equal(dir_bench_keys_init(&keys, 1 << 16, &e), 0);
    struct dir_bench_client cl[8] = {{0}};
    void *ctx[8];
    for (unsigned i = 0; i < nclients; i++) {
        cl[i].keys = &keys;
        assert_int_equal(etcd_http_open("127.0.0.1", m.port, 2000, &cl[i].http, &e), 0);
        ctx[i] = &cl[i];
    }
    assert_int_equal(
        dir_bench_drive_events(nclients, ctx, &dir_bench_aop_etcd_put, nthreads, 0.3, 5, r, &e), 0);
    atomic_store(&m.stop, true);
    pthread_join(m.tid, NULL);
    for (unsigned i = 0; i < nclients; i++)
        etcd_http_close(cl[i].http);
    close(m.lfd);
    assert_int_equal(r->ops, atomic_load(&keys.nok)); /* every success recorded its key */
    assert_int_equal(r->ops + (drop_nth ? 1 : 0), atomic_load(&m.served) + (drop_nth ? 1 : 0));
    dir_bench_keys_free(&keys);
}

static void test_events_drive(void **state)
{
    (void)state;
    struct dir_bench_result r;
    drive_mini(5, 2, 0, &r);
    assert_int_equal(r.clients, 5);
    assert_int_equal(r.errors, 0);
    assert_true(r.ops > 50);
    assert_true(r.secs >= 0.3 && r.secs < 5);
    assert_true(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
}

/* A connection the server drops stops that client with an error; the others run on. */
static void test_events_broken_connection(void **state)
{
    (void)state;
    struct dir_bench_result r;
    drive_mini(3, 1, 2, &r);
    assert_int_equal(r.errors, 1);
    assert_non_null(strstr(r.first_error, "connection closed"));
    assert_true(r.ops > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_parse),
        cmocka_unit_test(test_sp_parse),
        cmocka_unit_test(test_events_drive),
        cmocka_unit_test(test_events_broken_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

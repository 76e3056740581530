/* test_server_uv.c - the server's tcp:// transport (server_uv.c) against a hand-written SP
 * client, for what NNG's clients never send: split and pipelined frames, bad handshakes,
 * requests without an id, more requests than a connection may hold, a client that does not read
 * its replies, and one that leaves with requests unanswered; and the loop's busy polling after a
 * reply (strata_loop_set_busy_poll). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "loop.h"
#include "server.h"
#include "sp_wire.h"
#include "test_net_fixture.h"

/* ------------------------------------------------------------------ server on a thread */

struct usrv {
    pthread_t th;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    int port;
    atomic_int handled;
    atomic_bool hold;            /* keep requests instead of answering */
    struct strata_req *held[64]; /* loop thread only */
    int nheld;
    struct strata_server_stats stats; /* copied at stop */
    /* busy polling: the loop then runs under strata_loop_run, pinned to `cpu` if >= 0 */
    unsigned busy_poll_us;
    int cpu;
    struct strata_loop_poll_stats poll; /* copied at stop */
};

static void usrv_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    struct usrv *u = arg;
    atomic_fetch_add(&u->handled, 1);
    if (atomic_load(&u->hold)) {
        assert_true(u->nheld < 64);
        u->held[u->nheld++] = req;
        return;
    }
    strata_req_reply(req, (strata_env *)env); /* echo */
}

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);
}

static void *usrv_main(void *arg)
{
    struct usrv *u = arg;
    if (u->busy_poll_us == 0) {
        uv_run(&u->uv, UV_RUN_DEFAULT);
        return NULL;
    }
    if (u->cpu >= 0)
        pin_to(u->cpu);
    strata_loop_set_busy_poll(u->loop, u->busy_poll_us);
    strata_loop_run(u->loop);
    return NULL;
}

static void usrv_start_polling(struct usrv *u, int per_conn, unsigned busy_poll_us, int cpu)
{
    memset(u, 0, sizeof(*u));
    u->busy_poll_us = busy_poll_us;
    u->cpu = cpu;
    uv_loop_init(&u->uv);
    struct strata_err e = {0};
    assert_int_equal(strata_loop_new(&u->uv, &u->loop, &e), 0);
    u->port = tn_port("uv");
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", u->port);
    struct strata_server_opts o = {.url = url, .contexts = per_conn};
    if (strata_server_open(u->loop, &o, usrv_handler, u, &u->srv, &e) != 0)
        fail_msg("server_open: %s", e.msg);
    assert_int_equal(pthread_create(&u->th, NULL, usrv_main, u), 0);
}

static void usrv_start(struct usrv *u, int per_conn)
{
    usrv_start_polling(u, per_conn, 0, -1);
}

/* On the loop: answer what is held. */
static void usrv_release_cb(void *arg)
{
    struct usrv *u = arg;
    atomic_store(&u->hold, false);
    for (int i = 0; i < u->nheld; i++)
        strata_req_reply(u->held[i], (strata_env *)strata_req_env(u->held[i]));
    u->nheld = 0;
}

static void usrv_stop_cb(void *arg)
{
    struct usrv *u = arg;
    usrv_release_cb(u); /* replies after a client left must be harmless */
    strata_server_stats(u->srv, &u->stats);
    u->poll = *strata_loop_poll_stats(u->loop);
    strata_server_close(u->srv);
    strata_loop_close(u->loop);
}

static void usrv_stop(struct usrv *u)
{
    assert_int_equal(strata_loop_post(u->loop, usrv_stop_cb, u), 0);
    pthread_join(u->th, NULL);
    assert_int_equal(uv_loop_close(&u->uv), 0);
}

/* Poll (no sleeping as synchronisation) until `handled` reaches n. */
static bool wait_handled(struct usrv *u, int n, int timeout_ms)
{
    uint64_t deadline = strata_now_ms() + (uint64_t)timeout_ms;
    while (atomic_load(&u->handled) < n && strata_now_ms() < deadline)
        usleep(1000);
    return atomic_load(&u->handled) >= n;
}

/* ------------------------------------------------------------------ raw client */

static int raw_connect(int port, bool handshake)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    /* A small fixed receive buffer, so that replies back up to the server soon (slow reader). */
    int rcvbuf = 64 << 10;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (handshake) {
        uint8_t hs[SP_HANDSHAKE_LEN];
        sp_handshake(hs, SP_PROTO_REQ0);
        assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
        uint8_t in[SP_HANDSHAKE_LEN];
        assert_int_equal(recv(fd, in, sizeof(in), MSG_WAITALL), sizeof(in));
        assert_true(sp_handshake_ok(in, SP_PROTO_REP0));
    }
    return fd;
}

/* Frame request `id`: an envelope with identity "r-<id>-" and `pad` x's, after the request id
 * (without its top bit when !with_id, which makes it no request id at all). */
static size_t frame_req(uint8_t *out, uint32_t id, bool with_id, size_t pad)
{
    static Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    char ident[STRATA_MAX_STR + 1];
    int n = snprintf(ident, sizeof(ident), "r-%u-", id);
    memset(ident + n, 'x', pad);
    ident[(size_t)n + pad] = '\0';
    env.req_id = id;
    env.identity = ident;
    env.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    env.empty = &empty;
    uint8_t *body = NULL;
    size_t blen = 0;
    assert_int_equal(strata_msg_encode(&env, &body, &blen, NULL), 0);
    sp_req_head(out, id, blen);
    if (!with_id)
        out[SP_LEN_BYTES] &= 0x7f; /* no top bit: no request id at all */
    memcpy(out + SP_REQ_HEAD_LEN, body, blen);
    free(body);
    return SP_REQ_HEAD_LEN + blen;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Read one reply; return its request id (top bit cleared) after checking its identity. */
static uint32_t read_reply(int fd)
{
    uint8_t len8[8];
    assert_int_equal(recv(fd, len8, 8, MSG_WAITALL), 8);
    uint64_t len = sp_get_be64(len8);
    assert_true(len >= 4 && len < 4096);
    uint8_t buf[4096];
    assert_int_equal(recv(fd, buf, (size_t)len, MSG_WAITALL), (ssize_t)len);
    uint32_t id = sp_get_be32(buf);
    assert_true(id & 0x80000000u);
    id &= 0x7fffffffu;
    strata_env *rep = NULL;
    assert_int_equal(strata_msg_decode(buf + 4, (size_t)len - 4, STRATA_MSG_MAX, &rep, NULL), 0);
    char want[32];
    snprintf(want, sizeof(want), "r-%u-", id);
    assert_int_equal(rep->status, 0);
    assert_int_equal(strncmp(rep->identity, want, strlen(want)), 0);
    strata_msg_free(rep);
    return id;
}

/* ------------------------------------------------------------------ tests */

/* 200 requests in one stream, some of them trickled byte by byte, all answered once. */
static void test_pipelined_and_split(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start(&u, 256);
    int fd = raw_connect(u.port, true);
    uint8_t *buf = malloc(200 * 512);
    size_t n = 0;
    for (uint32_t i = 1; i <= 200; i++)
        n += frame_req(buf + n, i, true, i % 50);
    size_t head = 300; /* the first frames arrive one byte per write */
    for (size_t i = 0; i < head; i++)
        write_all(fd, buf + i, 1);
    write_all(fd, buf + head, n - head);
    bool seen[201] = {0};
    for (int i = 0; i < 200; i++) {
        uint32_t id = read_reply(fd);
        assert_in_range(id, 1, 200);
        assert_false(seen[id]);
        seen[id] = true;
    }
    close(fd);
    free(buf);
    usrv_stop(&u);
    assert_int_equal(u.stats.requests, 200);
    assert_int_equal(u.stats.replies, 200);
    assert_int_equal(u.stats.bad_messages, 0);
}

/* A peer that is not an SP req0 socket is disconnected; a request without an id is dropped and
 * counted, and the connection goes on. */
static void test_bad_peers(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start(&u, 256);
    int fd = raw_connect(u.port, false);
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REP0); /* a rep talking to a rep */
    write_all(fd, hs, sizeof(hs));
    uint8_t in[64];
    ssize_t r;
    size_t got = 0;
    while ((r = recv(fd, in, sizeof(in), 0)) > 0)
        got += (size_t)r;
    assert_int_equal(r, 0); /* closed by the server, after its own 8-byte handshake */
    assert_int_equal(got, SP_HANDSHAKE_LEN);
    close(fd);

    fd = raw_connect(u.port, true);
    uint8_t buf[512];
    size_t n = frame_req(buf, 5, false, 0);
    n += frame_req(buf + n, 6, true, 0);
    write_all(fd, buf, n);
    assert_int_equal(read_reply(fd), 6);
    close(fd);
    usrv_stop(&u);
    assert_int_equal(u.stats.bad_messages, 2);
    assert_int_equal(u.stats.replies, 1);
}

/* A connection holds at most `contexts` requests unanswered; the rest wait in the socket. */
static void test_per_connection_limit(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start(&u, 4);
    atomic_store(&u.hold, true);
    int fd = raw_connect(u.port, true);
    uint8_t buf[20 * 64];
    size_t n = 0;
    for (uint32_t i = 1; i <= 20; i++)
        n += frame_req(buf + n, i, true, 0);
    write_all(fd, buf, n);
    assert_true(wait_handled(&u, 4, 5000));
    /* Bounded wait for something that must not happen: a fifth request reaching the handler. */
    assert_false(wait_handled(&u, 5, 200));
    assert_int_equal(strata_loop_post(u.loop, usrv_release_cb, &u), 0);
    bool seen[21] = {0};
    for (int i = 0; i < 20; i++)
        seen[read_reply(fd)] = true;
    for (int i = 1; i <= 20; i++)
        assert_true(seen[i]);
    close(fd);
    usrv_stop(&u);
    assert_int_equal(u.stats.replies, 20);
}

/* The client leaves with requests held; their late replies go nowhere, and nothing leaks. */
static void test_client_leaves_early(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start(&u, 16);
    atomic_store(&u.hold, true);
    int fd = raw_connect(u.port, true);
    uint8_t buf[8 * 64];
    size_t n = 0;
    for (uint32_t i = 1; i <= 8; i++)
        n += frame_req(buf + n, i, true, 0);
    write_all(fd, buf, n);
    assert_true(wait_handled(&u, 8, 5000));
    close(fd);
    usrv_stop(&u); /* answers the 8 held requests first */
    assert_int_equal(u.stats.requests, 8);
}

struct writer {
    int fd;
    uint32_t count;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t buf[64 * 512];
    for (uint32_t i = 1; i <= w->count;) {
        size_t n = 0;
        for (int k = 0; k < 64 && i <= w->count; k++, i++)
            n += frame_req(buf + n, i, true, 200);
        write_all(w->fd, buf, n);
    }
    return NULL;
}

/* A client that sends much more than it reads: the server stops reading it once megabytes of
 * replies wait, and loses nothing when the client reads again. */
static void test_slow_reader(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start(&u, 256);
    int fd = raw_connect(u.port, true);
    struct writer w = {.fd = fd, .count = 60000}; /* ~14 MB each way */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    /* The server must stall short of the total: poll until the count stops moving. */
    int last = -1;
    uint64_t still_since = strata_now_ms();
    for (uint64_t deadline = strata_now_ms() + 10000; strata_now_ms() < deadline;) {
        int h = atomic_load(&u.handled);
        if (h != last) {
            last = h;
            still_since = strata_now_ms();
        } else if (strata_now_ms() - still_since > 300) {
            break;
        }
        usleep(5000);
    }
    assert_true(last > 0 && last < (int)w.count);
    for (uint32_t i = 1; i <= w.count; i++)
        assert_int_equal(read_reply(fd), i); /* one connection, echoed in order */
    pthread_join(th, NULL);
    close(fd);
    usrv_stop(&u);
    assert_int_equal(u.stats.replies, w.count);
}

/* Request after request, each sent when the last was answered, as a resolving agent does. */
static void round_trips(int fd, uint32_t n)
{
    uint8_t buf[512];
    for (uint32_t i = 1; i <= n; i++) {
        write_all(fd, buf, frame_req(buf, i, true, 0));
        assert_int_equal(read_reply(fd), i);
    }
}

/* After a reply the loop polls, so the client's next request is found without a wakeup. The
 * window is generous (5 ms) so that a client that asks again at once is never missed, bar a few
 * times on a loaded machine; there the loop may also be preempted while it polls, and then it
 * steps aside (a backoff) instead of finding the request. */
static void test_busy_poll_catches_next_request(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start_polling(&u, 16, 5000, -1);
    int fd = raw_connect(u.port, true);
    round_trips(fd, 200);
    close(fd);
    usrv_stop(&u);
    assert_int_equal(u.stats.replies, 200);
    assert_true(u.poll.hits + u.poll.backoffs > 0);
    assert_true(u.poll.misses <= 20);
    assert_true(u.poll.polled_us > 0);

    usrv_start(&u, 16); /* off: the loop never polls */
    fd = raw_connect(u.port, true);
    round_trips(fd, 50);
    close(fd);
    usrv_stop(&u);
    assert_int_equal(u.poll.hits + u.poll.misses + u.poll.backoffs + u.poll.polled_us, 0);
}

struct hog {
    atomic_bool stop;
    int cpu;
};

static void *hog_main(void *arg)
{
    struct hog *h = arg;
    pin_to(h->cpu);
    while (!atomic_load_explicit(&h->stop, memory_order_relaxed))
        ;
    return NULL;
}

/* With another thread runnable on the loop's CPU, polling would take the CPU from it: the loop
 * must step aside (a backoff) instead of spending its window, and still answer everything. */
static void test_busy_poll_steps_aside(void **state)
{
    (void)state;
    struct usrv u;
    usrv_start_polling(&u, 16, 5000, 0);
    struct hog h = {.cpu = 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hog_main, &h), 0);
    int fd = raw_connect(u.port, true);
    round_trips(fd, 50);
    close(fd);
    atomic_store(&h.stop, true);
    pthread_join(th, NULL);
    usrv_stop(&u);
    assert_int_equal(u.stats.replies, 50);
    assert_true(u.poll.backoffs > 0);
    /* Each backoff ends a poll at the hog's first turn, far short of the 5 ms window. */
    assert_int_equal(u.poll.misses, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_and_split),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_per_connection_limit),
        cmocka_unit_test(test_client_leaves_early),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_busy_poll_catches_next_request),
        cmocka_unit_test(test_busy_poll_steps_aside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_net.c - the loop bridge, rep server and req clients over real sockets, once over ipc://
 * (NNG's transport on both sides) and once over tcp:// (the server's loop transport, NNG's
 * clients): many async calls in flight, deferred replies, garbage and oversized input, dead
 * peers, close in flight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "loop.h"
#include "nng_close.h"
#include "pki.h"
#include "server.h"
#include "sp_wire.h"
#include "test_net_fixture.h"
#include "tls.h"

/* ------------------------------------------------------------------ helpers */

static strata_env *new_req(const char *identity)
{
    static Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    strata_env *env = calloc(1, sizeof(*env));
    strata__v1__envelope__init(env);
    env->identity = strdup(identity);
    env->body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    env->empty = &empty;
    return env;
}

static void free_req(strata_env *env)
{
    free(env->identity);
    free(env);
}

/* Run the loop until *flag or the deadline; returns whether *flag became true. */
static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
}

static bool run_until(uv_loop_t *uv, const bool *flag, int timeout_ms)
{
    uv_timer_t wd;
    uv_timer_init(uv, &wd);
    uv_timer_start(&wd, watchdog_cb, 20, 20);
    uint64_t deadline = strata_now_ms() + (uint64_t)timeout_ms;
    while (!*flag && strata_now_ms() < deadline)
        uv_run(uv, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(uv, UV_RUN_NOWAIT);
    return *flag;
}

/* Close the loop bridge and run until every handle is gone; the loop must close cleanly. */
static void finish_loop(uv_loop_t *uv, struct strata_loop *l)
{
    strata_loop_close(l);
    for (int i = 0; i < 1000 && uv_run(uv, UV_RUN_NOWAIT) != 0; i++)
        usleep(1000);
    assert_int_equal(uv_loop_close(uv), 0);
}

/* ------------------------------------------------------------------ echo server */

struct echo {
    int handled;
    int defer_every; /* defer one reply in N through a timer (0: never) */
    bool hold;       /* keep every request without replying */
    struct strata_req *held[128];
    int nheld;
    uv_loop_t *uv;
};

static void echo_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    struct echo *e = arg;
    e->handled++;
    if (e->hold) {
        assert_true(e->nheld < 128);
        e->held[e->nheld++] = req;
        return;
    }
    if (e->defer_every > 0 && e->handled % e->defer_every == 0) {
        tn_defer_echo(e->uv, req, 1 + (uint64_t)(e->handled % 5));
        return;
    }
    /* The echo replies with the request itself (strata_req_reply encodes before freeing it). */
    strata_req_reply(req, (strata_env *)env);
}

/* A server on its own thread, for the blocking clients. */
struct srv_thread {
    pthread_t th;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    struct echo echo;
    struct strata_server_stats stats; /* copied at stop */
    const char *url;
    size_t recv_max;
};

static void srv_thread_stop_cb(void *arg)
{
    struct srv_thread *t = arg;
    strata_server_stats(t->srv, &t->stats);
    strata_server_close(t->srv);
    strata_loop_close(t->loop);
}

static void *srv_thread_main(void *arg)
{
    struct srv_thread *t = arg;
    uv_run(&t->uv, UV_RUN_DEFAULT);
    return NULL;
}

static void srv_thread_start(struct srv_thread *t, const char *url, size_t recv_max)
{
    memset(t, 0, sizeof(*t));
    t->url = url;
    uv_loop_init(&t->uv);
    t->echo.uv = &t->uv;
    t->echo.defer_every = 3;
    struct strata_err e = {0};
    assert_int_equal(strata_loop_new(&t->uv, &t->loop, &e), 0);
    struct strata_server_opts o = {.url = url, .contexts = 8, .recv_max = recv_max};
    int rc = strata_server_open(t->loop, &o, echo_handler, &t->echo, &t->srv, &e);
    if (rc != 0)
        fail_msg("server_open: %s", e.msg);
    assert_int_equal(pthread_create(&t->th, NULL, srv_thread_main, t), 0);
}

static void srv_thread_stop(struct srv_thread *t)
{
    assert_int_equal(strata_loop_post(t->loop, srv_thread_stop_cb, t), 0);
    pthread_join(t->th, NULL);
    assert_int_equal(uv_loop_close(&t->uv), 0);
}

static void sclient_echo_ok(struct strata_sclient *c, const char *id)
{
    strata_env *req = new_req(id), *rep = NULL;
    struct strata_err e = {0};
    int rc = strata_sclient_call(c, req, 3000, &rep, &e);
    if (rc != 0)
        fail_msg("sclient call: %s", e.msg);
    assert_int_equal(rep->status, 0);
    assert_string_equal(rep->identity, id);
    assert_int_equal(rep->req_id, req->req_id);
    strata_msg_free(rep);
    free_req(req);
}

/* ------------------------------------------------------------------ tests */

static void test_sclient_roundtrip(void **state)
{
    (void)state;
    struct srv_thread t;
    srv_thread_start(&t, test_url("rt"), 0);
    struct strata_sclient *c;
    struct strata_err e = {0};
    assert_int_equal(strata_sclient_open(t.url, &c, &e), 0);
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof(id), "rt-%d", i);
        sclient_echo_ok(c, id);
    }
    strata_sclient_close(c);
    srv_thread_stop(&t);
    assert_int_equal(t.stats.requests, 50);
    assert_int_equal(t.stats.replies, 50);
    assert_int_equal(t.stats.bad_messages, 0);
}

/* Raw req0 socket: send bytes, return the reply (or NULL on timeout / error). */
static nng_msg *raw_call(const char *url, const void *buf, size_t len, int timeout_ms)
{
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    nng_msg *m = NULL;
    assert_int_equal(nng_msg_alloc(&m, 0), 0);
    assert_int_equal(nng_msg_append(m, buf, len), 0);
    if (nng_sendmsg(s, m, 0) != 0) {
        nng_msg_free(m);
        m = NULL;
    } else if (nng_recvmsg(s, &m, 0) != 0) {
        m = NULL;
    }
    strata_nng_close(s, m == NULL); /* an unanswered request: see nng_close.h */
    return m;
}

/* A req0 peer on a plain socket, for a test whose request goes unanswered: closing an NNG
 * socket then can hang in NNG 1.5.2 even after strata_nng_close's quiet time (seen once in
 * test_oversized_dropped under ASan), and a plain close cannot. Over ipc:// NNG puts a
 * message-type byte (1) before each length. */
struct raw_sp {
    int fd;
    bool ipc;
};

static struct raw_sp raw_sp_open(const char *url)
{
    struct raw_sp r = {.fd = -1, .ipc = strncmp(url, "ipc://", 6) == 0};
    if (r.ipc) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + strlen("ipc://"));
        r.fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(r.fd >= 0);
        assert_int_equal(connect(r.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(strrchr(url, ':') + 1))};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        r.fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(r.fd >= 0);
        assert_int_equal(connect(r.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REQ0);
    assert_int_equal(send(r.fd, hs, sizeof(hs), MSG_NOSIGNAL), (ssize_t)sizeof(hs));
    return r;
}

/* Send one request; false when the peer closed the connection during it. */
static bool raw_sp_send(struct raw_sp *r, uint32_t id, const void *body, size_t len)
{
    uint8_t head[1 + SP_REQ_HEAD_LEN];
    head[0] = 1;
    sp_req_head(head + 1, id, len);
    size_t hl = r->ipc ? sizeof(head) : SP_REQ_HEAD_LEN;
    const uint8_t *h = r->ipc ? head : head + 1;
    if (send(r->fd, h, hl, MSG_NOSIGNAL) != (ssize_t)hl)
        return false;
    for (size_t off = 0; off < len;) {
        ssize_t n = send(r->fd, (const uint8_t *)body + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

/* After the server's handshake: 1 when reply bytes arrive, 0 when the server closes the
 * connection without any, -1 when neither happens within timeout_ms. */
static int raw_sp_await(struct raw_sp *r, int timeout_ms)
{
    uint8_t buf[4096];
    size_t got = 0;
    uint64_t deadline = strata_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = strata_now_ms();
        if (now >= deadline)
            return -1;
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t n = recv(r->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        if (got > SP_HANDSHAKE_LEN)
            return 1;
    }
}

static void raw_sp_close(struct raw_sp *r)
{
    close(r->fd);
    r->fd = -1;
}

static void test_garbage_gets_error(void **state)
{
    (void)state;
    struct srv_thread t;
    srv_thread_start(&t, test_url("garbage"), 0);

    /* Field 1 (req_id) = 42, then a field with an invalid wire type. */
    const uint8_t garbage[] = {0x08, 0x2a, 0xff, 0xff, 0xff, 0x0f, 'j', 'u', 'n', 'k'};
    nng_msg *m = raw_call(t.url, garbage, sizeof(garbage), 3000);
    assert_non_null(m);
    strata_env *rep = NULL;
    struct strata_err e = {0};
    assert_int_equal(strata_msg_decode(nng_msg_body(m), nng_msg_len(m), STRATA_MSG_MAX, &rep, &e),
                     0);
    nng_msg_free(m);
    assert_int_equal(rep->status, STRATA_EPROTO);
    assert_int_equal(rep->req_id, 42);
    assert_non_null(strstr(rep->message, "bad request"));
    strata_msg_free(rep);

    /* A well-formed envelope without a body is invalid too, and named as such. */
    const uint8_t nobody[] = {0x08, 0x07};
    m = raw_call(t.url, nobody, sizeof(nobody), 3000);
    assert_non_null(m);
    assert_int_equal(strata_msg_decode(nng_msg_body(m), nng_msg_len(m), STRATA_MSG_MAX, &rep, &e),
                     0);
    nng_msg_free(m);
    assert_int_equal(rep->status, STRATA_EPROTO);
    assert_int_equal(rep->req_id, 7);
    strata_msg_free(rep);

    /* The server still serves. */
    struct strata_sclient *c;
    assert_int_equal(strata_sclient_open(t.url, &c, &e), 0);
    sclient_echo_ok(c, "after-garbage");
    strata_sclient_close(c);
    srv_thread_stop(&t);
    assert_int_equal(t.stats.bad_messages, 2);
}

static void test_oversized_dropped(void **state)
{
    (void)state;
    struct srv_thread t;
    srv_thread_start(&t, test_url("big"), 64 * 1024);
    size_t big = 256 * 1024;
    uint8_t *buf = calloc(1, big);
    /* The raw peer speaks the protocol: a small (garbage) request gets its error reply. */
    struct raw_sp r = raw_sp_open(t.url);
    assert_true(raw_sp_send(&r, 1, "junk", 4));
    assert_int_equal(raw_sp_await(&r, 3000), 1);
    raw_sp_close(&r);
    /* The transport drops the connection on the oversized message: no reply, the server
     * survives. */
    r = raw_sp_open(t.url);
    raw_sp_send(&r, 2, buf, big); /* the server may close while it is still being sent */
    assert_int_equal(raw_sp_await(&r, 3000), 0);
    raw_sp_close(&r);
    free(buf);
    struct strata_sclient *c;
    struct strata_err e = {0};
    assert_int_equal(strata_sclient_open(t.url, &c, &e), 0);
    sclient_echo_ok(c, "after-big");
    strata_sclient_close(c);
    srv_thread_stop(&t);
}

/* No socket file: the operator hears at once, not at the deadline. */
static void test_sclient_dead_peer_fails_at_once(void **state)
{
    (void)state;
    struct strata_sclient *c;
    struct strata_err e = {0};
    assert_int_equal(strata_sclient_open(test_url("nobody"), &c, &e), 0);
    strata_env *req = new_req("x"), *rep = NULL;
    uint64_t t0 = strata_now_ms();
    int rc = strata_sclient_call(c, req, 5000, &rep, &e);
    uint64_t dt = strata_now_ms() - t0;
    assert_int_equal(rc, STRATA_EUNAVAIL);
    assert_int_equal(e.code, STRATA_EUNAVAIL);
    assert_true(strata_sclient_refused(c));
    char want[300];
    snprintf(want, sizeof(want), "%s: %s", test_url("nobody"),
             tn_tcp ? "connection refused" : "no such socket");
    assert_string_equal(e.msg, want);
    assert_null(rep);
    assert_true(dt < 300);
    free_req(req);
    strata_sclient_close(c);

    assert_int_not_equal(strata_sclient_open("bogus://x", &c, &e), 0);
}

static void noop_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)arg;
    strata_req_reply(req, (strata_env *)env);
}

static void test_server_open_errors(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct strata_server *a, *b;
    struct strata_server_opts o = {.url = test_url("dup")};
    assert_int_equal(strata_server_open(l, &o, noop_handler, NULL, &a, &e), 0);
    assert_int_not_equal(strata_server_open(l, &o, noop_handler, NULL, &b, &e), 0);
    assert_non_null(strstr(e.msg, o.url));
    struct strata_server_opts bad = {.url = "bogus://nowhere"};
    assert_int_equal(strata_server_open(l, &bad, noop_handler, NULL, &b, &e), STRATA_EINVAL);
    assert_int_equal(strata_server_open(l, &bad, NULL, NULL, &b, &e), STRATA_EINVAL);
    strata_server_close(a);

    if (tn_tcp) {
        /* URLs the loop transports cannot use are refused with what is wrong. */
        struct strata_server_opts noport = {.url = "tcp://127.0.0.1"};
        assert_int_equal(strata_server_open(l, &noport, noop_handler, NULL, &b, &e), STRATA_EINVAL);
        assert_non_null(strstr(e.msg, "no port"));
        struct strata_aclient *c;
        assert_int_equal(strata_aclient_open(l, "tcp://:7101", &c, &e), STRATA_EINVAL);
        assert_non_null(strstr(e.msg, "no host"));
        assert_int_equal(strata_aclient_open(l, "tcp://127.0.0.1:", &c, &e), STRATA_EINVAL);
        assert_non_null(strstr(e.msg, "no port"));
        finish_loop(&uv, l);
        return;
    }
    /* A socket file left behind by a crashed daemon does not block the next start. */
    const char *url = test_url("stale");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + strlen("ipc://"));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    struct strata_server_opts so = {.url = url};
    int rc = strata_server_open(l, &so, noop_handler, NULL, &a, &e);
    if (rc != 0)
        fail_msg("stale socket: %s", e.msg);
    strata_server_close(a);
    finish_loop(&uv, l);
}

/* ---- async */

#define N_CALLS 1000
#define N_OUTSTANDING 64

struct async_run {
    struct strata_aclient *c;
    int issued, done, errors;
    int count[N_CALLS];
    uint64_t req_id[N_CALLS];
    int index_arg[N_CALLS];
    bool finished;
};

static void async_issue(struct async_run *r);
static struct async_run *async_run; /* the run in progress */

static void async_cb(int rc, strata_env *reply, void *arg)
{
    int *idx = arg;
    struct async_run *r = async_run;
    r->count[*idx]++;
    r->done++;
    if (rc != 0) {
        r->errors++;
    } else {
        char want[32];
        snprintf(want, sizeof(want), "a-%d", *idx);
        if (reply->status != 0 || strcmp(reply->identity, want) != 0 ||
            reply->req_id != r->req_id[*idx])
            r->errors++;
        strata_msg_free(reply);
    }
    if (r->done == N_CALLS)
        r->finished = true;
    else
        async_issue(r);
}

static void async_issue(struct async_run *r)
{
    if (r->issued >= N_CALLS)
        return;
    int i = r->issued++;
    char id[32];
    snprintf(id, sizeof(id), "a-%d", i);
    strata_env *req = new_req(id);
    r->index_arg[i] = i;
    assert_int_equal(strata_aclient_call(r->c, req, 5000, async_cb, &r->index_arg[i]), 0);
    r->req_id[i] = req->req_id;
    free_req(req);
}

static void test_async_many_in_flight(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct echo echo = {.uv = &uv, .defer_every = 4};
    struct strata_server_opts o = {.url = test_url("async")};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);

    struct async_run *r = calloc(1, sizeof(*r));
    async_run = r;
    assert_int_equal(strata_aclient_open(l, o.url, &r->c, &e), 0);
    assert_string_equal(strata_aclient_url(r->c), o.url);
    for (int i = 0; i < N_OUTSTANDING; i++)
        async_issue(r);
    assert_true(run_until(&uv, &r->finished, 30000));
    assert_int_equal(r->errors, 0);
    for (int i = 0; i < N_CALLS; i++)
        assert_int_equal(r->count[i], 1);
    assert_int_equal(echo.handled, N_CALLS);
    /* Distinct request ids. */
    for (int i = 1; i < N_CALLS; i++)
        assert_true(r->req_id[i] != r->req_id[i - 1]);

    strata_aclient_close(r->c);
    strata_server_close(srv);
    finish_loop(&uv, l);
    free(r);
}

struct one_call {
    int calls, rc;
    uint64_t t_done;
    bool done;
};

static void one_cb(int rc, strata_env *reply, void *arg)
{
    struct one_call *o = arg;
    o->calls++;
    o->rc = rc;
    o->t_done = strata_now_ms();
    o->done = true;
    strata_msg_free(reply);
}

static void test_aclient_dead_peer_times_out(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct strata_aclient *c;
    assert_int_equal(strata_aclient_open(l, test_url("dead"), &c, &e), 0);
    strata_env *req = new_req("x");
    struct one_call oc = {0};
    uint64_t t0 = strata_now_ms();
    assert_int_equal(strata_aclient_call(c, req, 300, one_cb, &oc), 0);
    free_req(req);
    assert_true(run_until(&uv, &oc.done, 5000));
    assert_int_equal(oc.calls, 1);
    assert_int_equal(oc.rc, STRATA_ETIMEDOUT);
    assert_in_range(oc.t_done - t0, 250, 2000);
    strata_aclient_close(c);
    assert_int_equal(oc.calls, 1);
    finish_loop(&uv, l);
}

/* A client dials from the source address it is given: with one connection admitted per address,
 * clients from two addresses are both served and a second from the first is not. */
static void test_aclient_source(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct strata_aclient *c[3];
    struct strata_aclient_opts bad = {.source = "nowhere"};
    if (!tn_tcp) {
        assert_int_equal(strata_aclient_open_opts(l, test_url("src"), &bad, &c[0], &e),
                         STRATA_EINVAL);
        assert_non_null(strstr(e.msg, "tcp://"));
        finish_loop(&uv, l);
        return;
    }
    assert_int_equal(strata_aclient_open_opts(l, test_url("src"), &bad, &c[0], &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not an IP address"));
    struct echo echo = {.uv = &uv};
    struct strata_server_opts o = {.url = test_url("src"), .max_conns_per_addr = 1};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    const char *src[3] = {"127.0.0.2", "127.0.0.3", "127.0.0.2"};
    struct one_call oc[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        struct strata_aclient_opts co = {.source = src[i]};
        assert_int_equal(strata_aclient_open_opts(l, o.url, &co, &c[i], &e), 0);
        strata_env *req = new_req("x");
        assert_int_equal(strata_aclient_call(c[i], req, i < 2 ? 5000 : 500, one_cb, &oc[i]), 0);
        free_req(req);
        assert_true(run_until(&uv, &oc[i].done, 5000));
    }
    assert_int_equal(oc[0].rc, 0);
    assert_int_equal(oc[1].rc, 0);
    assert_int_not_equal(oc[2].rc, 0); /* 127.0.0.2 holds its one connection already */
    for (int i = 0; i < 3; i++)
        strata_aclient_close(c[i]);
    strata_server_close(srv);
    finish_loop(&uv, l);
}

struct tls_call {
    bool done;
    char name[64];
};

static void tls_name_cb(int rc, strata_env *reply, void *arg)
{
    struct tls_call *r = arg;
    if (rc == 0 && reply->status == 0 && reply->identity != NULL)
        snprintf(r->name, sizeof(r->name), "%s", reply->identity);
    strata_msg_free(reply);
    r->done = true;
}

/* Replies with the name of the certificate the request came with. */
static void peer_name_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)arg;
    const struct strata_peer *p = strata_req_peer(req);
    strata_env rep = *env;
    rep.identity = (char *)(p != NULL ? p->name : "");
    strata_req_reply(req, &rep);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A context for role/name from the CA in dir (the certificate issued for 127.0.0.1). */
static struct strata_tls *tls_ctx(const char *dir, const char *role, const char *name)
{
    struct strata_err e = {0};
    const char *ip = "127.0.0.1";
    struct strata_pki_issue_opts io = {
        .dir = dir, .role = role, .name = name, .ips = &ip, .nips = 1};
    if (strata_pki_issue(&io, &e) != 0)
        fail_msg("issue %s: %s", name, e.msg);
    char ca[256], crt[256], key[256];
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    struct strata_tls_files f = {ca, crt, key};
    struct strata_tls *t = NULL;
    if (strata_tls_open(&f, &t, &e) != 0)
        fail_msg("context %s: %s", name, e.msg);
    return t;
}

/* Clients of one process each speak with the certificate they were opened with
 * (strata_aclient_opts.tls), and without one with the process's default; a client refuses a
 * server whose certificate's role it does not expect (strata_aclient_opts.server_roles). */
static void test_aclient_tls_per_client(void **state)
{
    (void)state;
    if (!tn_tcp)
        return; /* tls+tcp:// is served on the loop, like tcp:// */
    char dir[] = "/tmp/strata-testnet-pki-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(dir, &e), 0);
    struct strata_tls *srv_tls = tls_ctx(dir, "directory", "1");
    struct strata_tls *a1 = tls_ctx(dir, "agent", "a1"), *a2 = tls_ctx(dir, "agent", "a2");
    struct strata_tls *op = tls_ctx(dir, "operator", "op");
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    char url[64];
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", tn_port("tls-per-client"));
    struct strata_server_opts o = {.url = url, .tls = srv_tls};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, peer_name_handler, NULL, &srv, &e), 0);
    strata_tls_set_default(op);
    struct strata_tls *ctx[3] = {a1, a2, NULL};
    const char *want[3] = {"a1", "a2", "op"};
    struct strata_aclient *c[3];
    for (int i = 0; i < 3; i++) {
        struct strata_aclient_opts co = {.tls = ctx[i]};
        assert_int_equal(strata_aclient_open_opts(l, url, &co, &c[i], &e), 0);
    }
    for (int i = 0; i < 3; i++) {
        struct tls_call r = {0};
        strata_env *req = new_req("claimed");
        assert_int_equal(strata_aclient_call(c[i], req, 5000, tls_name_cb, &r), 0);
        free_req(req);
        assert_true(run_until(&uv, &r.done, 5000));
        assert_string_equal(r.name, want[i]);
    }
    /* an agent's client accepts connectivity servers only: this one is a directory node's */
    struct strata_aclient_opts ao = {.tls = a1, .server_roles = STRATA_ROLE_CONNECTIVITY};
    struct strata_aclient *agent;
    assert_int_equal(strata_aclient_open_opts(l, url, &ao, &agent, &e), 0);
    struct tls_call r = {0};
    strata_env *req = new_req("to the wrong server");
    assert_int_equal(strata_aclient_call(agent, req, 1000, tls_name_cb, &r), 0);
    free_req(req);
    assert_true(run_until(&uv, &r.done, 5000));
    assert_string_equal(r.name, ""); /* never answered */
    strata_aclient_close(agent);
    strata_tls_set_default(NULL);
    for (int i = 0; i < 3; i++)
        strata_aclient_close(c[i]);
    strata_server_close(srv);
    finish_loop(&uv, l);
    strata_tls_free(srv_tls);
    strata_tls_free(a1);
    strata_tls_free(a2);
    strata_tls_free(op);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_close_in_flight(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct echo echo = {.uv = &uv, .hold = true};
    struct strata_server_opts o = {.url = test_url("close"), .contexts = 16};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    struct strata_aclient *c;
    assert_int_equal(strata_aclient_open(l, o.url, &c, &e), 0);

    /* 40 calls: 16 reach the handler (and are held), the rest wait for a context. */
    struct one_call oc[40] = {{0}};
    for (int i = 0; i < 40; i++) {
        strata_env *req = new_req("held");
        assert_int_equal(strata_aclient_call(c, req, 10000, one_cb, &oc[i]), 0);
        free_req(req);
    }
    bool never = false;
    uint64_t deadline = strata_now_ms() + 5000;
    while (echo.nheld < 16 && strata_now_ms() < deadline)
        run_until(&uv, &never, 20);
    assert_int_equal(echo.nheld, 16);

    /* Closing the client fires every callback once with EUNAVAIL. */
    strata_aclient_close(c);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(oc[i].calls, 1);
        assert_int_equal(oc[i].rc, STRATA_EUNAVAIL);
    }
    /* Closing the server with requests held, then replying late: no-ops, no leaks. */
    strata_server_close(srv);
    for (int i = 0; i < echo.nheld; i += 2)
        strata_req_reply(echo.held[i], (strata_env *)strata_req_env(echo.held[i]));
    for (int i = 1; i < echo.nheld; i += 2)
        strata_req_error(echo.held[i], STRATA_EUNAVAIL, "late %d", i);
    finish_loop(&uv, l);
    for (int i = 0; i < 40; i++)
        assert_int_equal(oc[i].calls, 1);
}

/* Calls still in flight when the server goes away fail at once (NNG reports the connection
 * reset), exactly once, long before their timeout. */
static void test_server_close_fails_calls(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct echo echo = {.uv = &uv, .hold = true};
    struct strata_server_opts o = {.url = test_url("srvclose"), .contexts = 4};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    struct strata_aclient *c;
    assert_int_equal(strata_aclient_open(l, o.url, &c, &e), 0);
    struct one_call oc = {0};
    strata_env *req = new_req("x");
    assert_int_equal(strata_aclient_call(c, req, 20000, one_cb, &oc), 0);
    free_req(req);
    bool never = false;
    uint64_t deadline = strata_now_ms() + 5000;
    while (echo.nheld < 1 && strata_now_ms() < deadline)
        run_until(&uv, &never, 20);
    assert_int_equal(echo.nheld, 1);
    uint64_t t0 = strata_now_ms();
    strata_server_close(srv);
    assert_true(run_until(&uv, &oc.done, 5000));
    assert_true(strata_now_ms() - t0 < 3000);
    assert_int_equal(oc.calls, 1);
    assert_int_equal(oc.rc, STRATA_EUNAVAIL);
    strata_req_reply(echo.held[0], (strata_env *)strata_req_env(echo.held[0]));
    strata_aclient_close(c);
    finish_loop(&uv, l);
}

/* The client dials in the background: a call made before the server exists is answered once
 * it starts, and calls after a server restart reach the new one. */
static void test_aclient_redials(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    const char *url = test_url("redial");
    struct strata_aclient *c;
    assert_int_equal(strata_aclient_open(l, url, &c, &e), 0);
    struct one_call early = {0};
    strata_env *req = new_req("early");
    assert_int_equal(strata_aclient_call(c, req, 10000, one_cb, &early), 0);
    free_req(req);
    bool never = false;
    run_until(&uv, &never, 150); /* let a dial or two fail first */
    assert_false(early.done);

    struct echo echo = {.uv = &uv};
    struct strata_server_opts o = {.url = url};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    assert_true(run_until(&uv, &early.done, 8000));
    assert_int_equal(early.rc, 0);

    strata_server_close(srv);
    run_until(&uv, &never, 50);
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    /* The first call after the restart may be lost with the old connection; one succeeds. */
    int ok = 0;
    for (int i = 0; i < 20 && ok == 0; i++) {
        struct one_call oc = {0};
        req = new_req("after");
        assert_int_equal(strata_aclient_call(c, req, 3000, one_cb, &oc), 0);
        free_req(req);
        assert_true(run_until(&uv, &oc.done, 5000));
        ok = oc.rc == 0;
    }
    assert_true(ok);
    strata_aclient_close(c);
    strata_server_close(srv);
    finish_loop(&uv, l);
}

/* ---- re-entrancy: closing from inside callbacks and handlers */

struct reenter {
    struct strata_aclient *c;
    struct strata_server *srv;
    int cb_calls, recall_rc;
    bool done;
};

static void closing_cb(int rc, strata_env *reply, void *arg)
{
    struct reenter *r = arg;
    r->cb_calls++;
    assert_int_equal(rc, 0);
    strata_msg_free(reply);
    strata_aclient_close(r->c); /* frees the client once this callback returns */
    r->done = true;
}

static void recall_cb(int rc, strata_env *reply, void *arg)
{
    struct reenter *r = arg;
    r->cb_calls++;
    assert_int_equal(rc, STRATA_EUNAVAIL);
    assert_null(reply);
    strata_env *req = new_req("again");
    r->recall_rc = strata_aclient_call(r->c, req, 1000, recall_cb, r);
    free_req(req);
}

static void closing_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    struct reenter *r = arg;
    strata_server_close(r->srv);
    strata_req_reply(req, (strata_env *)env); /* a no-op now; frees the request and server */
    r->srv = NULL;
}

/* tcp:// with a host name: the client looks it up off the loop, then connects; a client closed
 * while its lookup is out is released when the lookup returns (ASan checks both). */
static void test_aclient_by_name(void **state)
{
    (void)state;
    if (!tn_tcp) /* ipc:// has no host */
        skip();
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct echo echo = {.uv = &uv};
    struct strata_server_opts o = {.url = test_url("byname")};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);
    char url[64];
    snprintf(url, sizeof(url), "tcp://localhost:%s", strrchr(o.url, ':') + 1);

    struct strata_aclient *c, *gone;
    assert_int_equal(strata_aclient_open(l, url, &c, &e), 0);
    assert_int_equal(strata_aclient_open(l, url, &gone, &e), 0);
    strata_aclient_close(gone); /* its lookup is still out */
    struct one_call oc = {0};
    strata_env *req = new_req("by-name");
    assert_int_equal(strata_aclient_call(c, req, 10000, one_cb, &oc), 0);
    free_req(req);
    assert_true(run_until(&uv, &oc.done, 15000));
    assert_int_equal(oc.rc, 0);
    assert_int_equal(echo.handled, 1);

    strata_aclient_close(c);
    strata_server_close(srv);
    finish_loop(&uv, l);
}

static void test_close_from_callbacks(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    struct strata_err e = {0};
    struct echo echo = {.uv = &uv};
    struct strata_server_opts o = {.url = test_url("reenter")};
    struct strata_server *srv;
    assert_int_equal(strata_server_open(l, &o, echo_handler, &echo, &srv, &e), 0);

    struct reenter r = {0};
    assert_int_equal(strata_aclient_open(l, o.url, &r.c, &e), 0);
    strata_env *req = new_req("x");
    assert_int_equal(strata_aclient_call(r.c, req, 3000, closing_cb, &r), 0);
    assert_true(run_until(&uv, &r.done, 5000));
    assert_int_equal(r.cb_calls, 1);

    /* A callback fired by close may try again: refused, no second callback. */
    struct reenter r2 = {0};
    assert_int_equal(strata_aclient_open(l, test_url("nobody2"), &r2.c, &e), 0);
    assert_int_equal(strata_aclient_call(r2.c, req, 3000, recall_cb, &r2), 0);
    strata_aclient_close(r2.c);
    assert_int_equal(r2.cb_calls, 1);
    assert_int_equal(r2.recall_rc, STRATA_EUNAVAIL);
    strata_server_close(srv);

    /* A handler that closes its own server, then replies. */
    struct reenter r3 = {0};
    struct strata_server_opts o3 = {.url = test_url("selfclose")};
    assert_int_equal(strata_server_open(l, &o3, closing_handler, &r3, &r3.srv, &e), 0);
    assert_int_equal(strata_aclient_open(l, o3.url, &r3.c, &e), 0);
    struct one_call oc = {0};
    assert_int_equal(strata_aclient_call(r3.c, req, 500, one_cb, &oc), 0);
    assert_true(run_until(&uv, &oc.done, 5000));
    assert_null(r3.srv);
    assert_int_equal(oc.rc, STRATA_EUNAVAIL); /* the connection went down with the server */
    strata_aclient_close(r3.c);
    free_req(req);
    finish_loop(&uv, l);
}

/* ---- loop bridge */

struct post_run {
    int seen[4];
    int order_ok;
    int total;
    bool done;
};

struct post_item {
    struct post_run *r;
    int thread, seq;
};

static void post_fn(void *arg)
{
    struct post_item *it = arg;
    /* Posts from one thread arrive in order. */
    if (it->seq == it->r->seen[it->thread])
        it->r->order_ok++;
    it->r->seen[it->thread] = it->seq + 1;
    if (++it->r->total == 4 * 5000)
        it->r->done = true;
}

struct poster {
    struct strata_loop *l;
    struct post_item items[5000];
};

static void *poster_main(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < 5000; i++)
        assert_int_equal(strata_loop_post(p->l, post_fn, &p->items[i]), 0);
    return NULL;
}

static void test_loop_post_threads(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    assert_ptr_equal(strata_loop_uv(l), &uv);
    struct post_run r = {0};
    struct poster *p = calloc(4, sizeof(*p));
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        p[t].l = l;
        for (int i = 0; i < 5000; i++)
            p[t].items[i] = (struct post_item){&r, t, i};
        pthread_create(&th[t], NULL, poster_main, &p[t]);
    }
    assert_true(run_until(&uv, &r.done, 10000));
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(r.order_ok, 4 * 5000);
    finish_loop(&uv, l);
    free(p);
}

static bool sig_seen;
static int sig_calls;

static void on_sig(void *arg)
{
    (void)arg;
    sig_calls++;
    sig_seen = true;
}

static void test_loop_signal(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    assert_int_equal(strata_loop_on_signal(l, on_sig, NULL), 0);
    kill(getpid(), SIGTERM);
    assert_true(run_until(&uv, &sig_seen, 5000));
    sig_seen = false;
    kill(getpid(), SIGINT);
    run_until(&uv, &sig_seen, 200);
    assert_int_equal(sig_calls, 1); /* once */
    finish_loop(&uv, l);
    assert_true(strata_now_us() > 0);
    assert_true(strata_wall_us() > 1600000000ull * 1000000ull);
}

int main(void)
{
    const struct CMUnitTest loop_tests[] = {
        cmocka_unit_test(test_loop_post_threads),
        cmocka_unit_test(test_loop_signal),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sclient_roundtrip),
        cmocka_unit_test(test_garbage_gets_error),
        cmocka_unit_test(test_oversized_dropped),
        cmocka_unit_test(test_sclient_dead_peer_fails_at_once),
        cmocka_unit_test(test_server_open_errors),
        cmocka_unit_test(test_async_many_in_flight),
        cmocka_unit_test(test_aclient_dead_peer_times_out),
        cmocka_unit_test(test_aclient_source),
        cmocka_unit_test(test_aclient_tls_per_client),
        cmocka_unit_test(test_close_in_flight),
        cmocka_unit_test(test_server_close_fails_calls),
        cmocka_unit_test(test_aclient_redials),
        cmocka_unit_test(test_aclient_by_name),
        cmocka_unit_test(test_close_from_callbacks),
    };
    int failed = cmocka_run_group_tests_name("loop", loop_tests, NULL, NULL);
    /* The transport tests twice: over ipc:// (NNG's transport on both sides) and over tcp://
     * (the server's own). */
    failed += cmocka_run_group_tests_name("nng_ipc", tests, NULL, teardown_all);
    tn_tcp = true;
    return failed + cmocka_run_group_tests_name("loop_tcp", tests, NULL, NULL);
}

/* test_quick.c - the loop's state lock (strata_loop_run, strata_loop_try_enter) and the server's
 * fast path (strata_server_opts.quick) over real NNG sockets: quick requests are answered on
 * NNG's threads, others on the loop, never both at once; bad input and close still behave. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "loop.h"
#include "nng_close.h"
#include "server.h"
#include "test_net_fixture.h"

/* ------------------------------------------------------------------ a server on its own thread */

struct qsrv {
    pthread_t th, loop_th;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    const char *url;
    /* touched by the handler only: the state lock must make that safe */
    long quick_off_loop, quick_on_loop, slow_off_loop, slow_on_loop, deferred;
    atomic_int inside; /* handlers running right now: must never exceed 1 */
    atomic_bool overlap;
};

/* Identities starting with 'q' may be answered on the fast path. */
static bool q_quick(const strata_env *env, void *arg)
{
    (void)arg;
    return env->identity != NULL && env->identity[0] == 'q';
}

static void q_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    struct qsrv *q = arg;
    if (atomic_fetch_add(&q->inside, 1) != 0)
        atomic_store(&q->overlap, true);
    bool on_loop = pthread_equal(pthread_self(), q->loop_th);
    bool quick = q_quick(env, NULL);
    if (quick)
        *(on_loop ? &q->quick_on_loop : &q->quick_off_loop) += 1;
    else
        *(on_loop ? &q->slow_on_loop : &q->slow_off_loop) += 1;
    usleep(10); /* widen the window in which an overlap would show */
    atomic_fetch_sub(&q->inside, 1);
    if (!quick && (q->slow_on_loop % 5) == 0) {
        /* a timer started on the loop under strata_loop_run must fire */
        tn_defer_echo(&q->uv, req, 2);
        q->deferred++;
        return;
    }
    strata_req_reply(req, (strata_env *)env);
}

static void *qsrv_main(void *arg)
{
    struct qsrv *q = arg;
    q->loop_th = pthread_self();
    strata_loop_run(q->loop);
    return NULL;
}

static void qsrv_start(struct qsrv *q, const char *url)
{
    memset(q, 0, sizeof(*q));
    q->url = url;
    uv_loop_init(&q->uv);
    struct strata_err e = {0};
    assert_int_equal(strata_loop_new(&q->uv, &q->loop, &e), 0);
    struct strata_server_opts o = {.url = url, .contexts = 16, .quick = q_quick};
    if (strata_server_open(q->loop, &o, q_handler, q, &q->srv, &e) != 0)
        fail_msg("server_open: %s", e.msg);
    assert_int_equal(pthread_create(&q->th, NULL, qsrv_main, q), 0);
}

static void qsrv_stop_cb(void *arg)
{
    struct qsrv *q = arg;
    strata_server_close(q->srv);
    strata_loop_close(q->loop);
}

/* strata_loop_run returns once every handle is closed (and frees the bridge: ASan checks). */
static void qsrv_stop(struct qsrv *q)
{
    assert_int_equal(strata_loop_post(q->loop, qsrv_stop_cb, q), 0);
    pthread_join(q->th, NULL);
    uv_run(&q->uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&q->uv), 0);
}

/* ------------------------------------------------------------------ clients */

struct caller {
    pthread_t th;
    const char *url;
    int n, ok, bad;
    char prefix; /* 'q' quick, 's' slow, 'm' mixed */
    atomic_bool *stop;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    struct strata_sclient *sc;
    struct strata_err e = {0};
    if (strata_sclient_open(c->url, &sc, &e) != 0)
        return NULL;
    static Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    for (int i = 0; i < c->n && !(c->stop && atomic_load(c->stop)); i++) {
        char id[32];
        char p = c->prefix == 'm' ? (i % 2 ? 'q' : 's') : c->prefix;
        snprintf(id, sizeof(id), "%c-%d", p, i);
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        req.identity = id;
        req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
        req.empty = &empty;
        strata_env *rep = NULL;
        if (strata_sclient_call(sc, &req, 3000, &rep, &e) == 0 && rep->status == 0 &&
            strcmp(rep->identity, id) == 0 && rep->req_id == req.req_id)
            c->ok++;
        else
            c->bad++;
        strata_msg_free(rep);
    }
    strata_sclient_close(sc);
    return NULL;
}

/* ------------------------------------------------------------------ tests */

/* Quick requests are answered off the loop thread (at least some: the loop may hold the lock
 * now and then), slow ones always on it, and no two handlers ever run at once. */
static void test_quick_and_slow(void **state)
{
    (void)state;
    struct qsrv *q = calloc(1, sizeof(*q));
    qsrv_start(q, test_url("mixed"));
    enum { THREADS = 6, CALLS = 400 };
    struct caller c[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct caller){.url = q->url, .n = CALLS, .prefix = i < 2 ? 'q' : 'm'};
        assert_int_equal(pthread_create(&c[i].th, NULL, caller_main, &c[i]), 0);
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(c[i].th, NULL);
        ok += c[i].ok;
        bad += c[i].bad;
    }
    qsrv_stop(q);
    assert_int_equal(bad, 0);
    assert_int_equal(ok, THREADS * CALLS);
    assert_false(atomic_load(&q->overlap));
    assert_true(q->quick_off_loop > 0);
    assert_int_equal(q->slow_off_loop, 0);
    assert_true(q->slow_on_loop > 0);
    assert_true(q->deferred > 0);
    assert_int_equal(q->quick_off_loop + q->quick_on_loop + q->slow_on_loop, THREADS * CALLS);
    free(q);
}

/* Garbage sent to a server with a fast path is still answered with an error (by the loop). */
static void test_quick_garbage(void **state)
{
    (void)state;
    struct qsrv *q = calloc(1, sizeof(*q));
    qsrv_start(q, test_url("garbage"));
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    assert_int_equal(nng_dial(s, q->url, NULL, 0), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
    const uint8_t junk[] = {0x08, 0x2a, 0xff, 0xff, 0xff, 0x13, 0x37};
    assert_int_equal(nng_send(s, (void *)junk, sizeof(junk), 0), 0);
    void *buf = NULL;
    size_t sz = 0;
    assert_int_equal(nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC), 0);
    strata_env *rep = NULL;
    assert_int_equal(strata_msg_decode(buf, sz, STRATA_MSG_MAX, &rep, NULL), 0);
    assert_int_not_equal(rep->status, 0);
    assert_int_equal(rep->req_id, 42); /* paired by the peeked req_id */
    strata_msg_free(rep);
    nng_free(buf, sz);
    strata_nng_close(s, false);
    qsrv_stop(q);
    free(q);
}

/* Closing the server while quick requests pour in neither hangs nor leaks. */
static void test_quick_close_under_load(void **state)
{
    (void)state;
    struct qsrv *q = calloc(1, sizeof(*q));
    qsrv_start(q, test_url("close"));
    atomic_bool stop;
    atomic_init(&stop, false);
    enum { THREADS = 4 };
    struct caller c[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct caller){.url = q->url, .n = 1000000, .prefix = 'q', .stop = &stop};
        assert_int_equal(pthread_create(&c[i].th, NULL, caller_main, &c[i]), 0);
    }
    uint64_t deadline = strata_now_ms() + 5000;
    int ok = 0;
    while (ok < 200 && strata_now_ms() < deadline) {
        ok = 0;
        for (int i = 0; i < THREADS; i++)
            ok += c[i].ok;
        usleep(1000);
    }
    assert_true(ok >= 200);
    qsrv_stop(q); /* returns: no deadlock between close and the fast path */
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(c[i].th, NULL);
    free(q);
}

static atomic_bool in_cb_go, in_cb_entered;

static void busy_cb(void *arg)
{
    (void)arg;
    atomic_store(&in_cb_entered, true);
    while (!atomic_load(&in_cb_go))
        usleep(100);
}

static void stop_cb(void *arg)
{
    strata_loop_close(arg);
}

static void *run_main(void *arg)
{
    strata_loop_run(arg);
    return NULL;
}

/* Entering was not allowed: the loop keeps its lock while it waits, and try_enter is refused. */
static void test_try_enter_not_allowed(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_main, l), 0);
    /* a post that ran proves the loop is in strata_loop_run, then idle in its wait */
    atomic_store(&in_cb_go, true);
    atomic_store(&in_cb_entered, false);
    assert_int_equal(strata_loop_post(l, busy_cb, NULL), 0);
    uint64_t deadline = strata_now_ms() + 3000;
    while (!atomic_load(&in_cb_entered) && strata_now_ms() < deadline)
        usleep(100);
    assert_true(atomic_load(&in_cb_entered));
    for (int i = 0; i < 50; i++) {
        assert_false(strata_loop_try_enter(l));
        usleep(1000);
    }
    assert_int_equal(strata_loop_post(l, stop_cb, l), 0);
    pthread_join(th, NULL);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
}

/* try_enter: refused unless the loop runs under strata_loop_run, refused while the loop thread
 * works, granted while it waits for events. */
static void test_try_enter(void **state)
{
    (void)state;
    uv_loop_t uv;
    struct strata_loop *l = tn_loop_open(&uv);
    strata_loop_allow_enter(l);
    assert_false(strata_loop_try_enter(l)); /* plain uv_run: no lock */

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_main, l), 0);
    uint64_t deadline = strata_now_ms() + 3000;
    bool entered = false;
    while (!entered && strata_now_ms() < deadline) {
        entered = strata_loop_try_enter(l);
        if (!entered)
            usleep(1000);
    }
    assert_true(entered); /* the idle loop lets us in */
    strata_loop_leave(l);

    atomic_store(&in_cb_go, false);
    atomic_store(&in_cb_entered, false);
    assert_int_equal(strata_loop_post(l, busy_cb, NULL), 0);
    while (!atomic_load(&in_cb_entered) && strata_now_ms() < deadline)
        usleep(100);
    assert_true(atomic_load(&in_cb_entered));
    assert_false(strata_loop_try_enter(l)); /* the loop is busy in a callback */
    atomic_store(&in_cb_go, true);

    assert_int_equal(strata_loop_post(l, stop_cb, l), 0);
    pthread_join(th, NULL);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_try_enter),
        cmocka_unit_test(test_try_enter_not_allowed),
        cmocka_unit_test(test_quick_and_slow),
        cmocka_unit_test(test_quick_garbage),
        cmocka_unit_test(test_quick_close_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}

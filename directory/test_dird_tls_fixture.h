/* test_dird_tls_fixture.h - what the tests of Raft over TLS share: certificates of a test CA
 * (and of another CA), transports on one libuv loop with an accept callback that records, and a
 * raw peer on a thread (tests/lib/h_tls_probe.h). Header-only (static): each test is its own
 * program. */
#ifndef TEST_DIRD_TLS_FIXTURE_H
#define TEST_DIRD_TLS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dird_tls_transport.h"
#include "h_pki.h"
#include "h_tls_probe.h"
#include "harness.h"

/* ------------------------------------------------------------------ certificates */

static struct {
    char dir[512], other[512];
    struct strata_tls *dir1, *dir2, *dir3, *agent, *op, *other2;
} P;

static inline int pki_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* writes to a closed socketpair end */
    snprintf(P.dir, sizeof(P.dir), "%s", h_tmpdir("tls-transport"));
    snprintf(P.other, sizeof(P.other), "%s", h_tmpdir("tls-other-ca"));
    if (h_pki_ca(P.dir, "Strata CA") != 0 || h_pki_ca(P.other, "Another CA") != 0)
        return -1;
    const char *ids[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++)
        if (h_pki_issue(P.dir, "directory", ids[i], "127.0.0.1") != 0)
            return -1;
    if (h_pki_issue(P.dir, "agent", "h1", NULL) != 0 ||
        h_pki_issue(P.dir, "operator", "admin", NULL) != 0 ||
        h_pki_issue(P.other, "directory", "2", "127.0.0.1") != 0)
        return -1;
    P.dir1 = h_pki_tls(P.dir, "1");
    P.dir2 = h_pki_tls(P.dir, "2");
    P.dir3 = h_pki_tls(P.dir, "3");
    P.agent = h_pki_tls(P.dir, "h1");
    P.op = h_pki_tls(P.dir, "admin");
    P.other2 = h_pki_tls(P.other, "2");
    return P.dir1 && P.dir2 && P.dir3 && P.agent && P.op && P.other2 ? 0 : -1;
}

static inline int pki_teardown(void **state)
{
    (void)state;
    struct strata_tls *all[] = {P.dir1, P.dir2, P.dir3, P.agent, P.op, P.other2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strata_tls_free(all[i]);
    return 0;
}

/* ------------------------------------------------------------------ transports on a loop */

struct node {
    struct dird_tls_transport t;
    char addr[32];
    int port;
    int accepted, closed;
    raft_id acc_id;
    char acc_addr[32];
    uv_stream_t *acc_stream;
};

static uv_loop_t loop;
static uv_timer_t ticker; /* wakes the loop while a client thread works */

static inline void tick(uv_timer_t *t)
{
    (void)t;
}

static inline void loop_setup(void)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, tick, 5, 5);
}

static inline void loop_teardown(void)
{
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static inline void node_accept(struct raft_uv_transport *rt, raft_id id, const char *address,
                               uv_stream_t *s)
{
    struct node *n = rt->data;
    n->accepted++;
    n->acc_id = id;
    snprintf(n->acc_addr, sizeof(n->acc_addr), "%s", address);
    n->acc_stream = s; /* ours now, as libraft's */
}

static inline void node_closed(struct raft_uv_transport *rt)
{
    struct node *n = rt->data;
    n->closed++;
}

static inline void node_start(struct node *n, struct strata_tls *tls, raft_id id)
{
    memset(n, 0, sizeof(*n));
    n->port = h_free_port();
    snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", n->port);
    assert_int_equal(dird_tls_transport_init(&n->t, &loop, tls), 0);
    n->t.raft.data = n;
    assert_int_equal(n->t.raft.init(&n->t.raft, id, n->addr), 0);
    assert_int_equal(n->t.raft.listen(&n->t.raft, node_accept), 0);
}

static inline void run_until(const int *counter, int want, int ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)ms;
    while (*counter < want && h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
}

static inline void run_for(int ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)ms;
    while (h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
}

static inline void free_stream(uv_handle_t *h)
{
    raft_free(h);
}

static inline void node_stop(struct node *n)
{
    if (n->acc_stream != NULL)
        uv_close((uv_handle_t *)n->acc_stream, free_stream);
    n->acc_stream = NULL;
    n->t.raft.close(&n->t.raft, node_closed);
    assert_int_equal(n->closed, 0); /* never from within close */
    run_until(&n->closed, 1, 5000);
    run_for(20);
    assert_int_equal(n->closed, 1);
    assert_null(n->t.conns);
}

/* ------------------------------------------------------------------ a raw peer on a thread */

struct raw {
    struct h_tls_probe p;
    pthread_t tid;
    atomic_int done;
};

static inline void *raw_main(void *arg)
{
    struct raw *r = arg;
    h_tls_probe_run(&r->p);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Run the probe against n until it is done, the loop turning meanwhile. */
static inline void raw_run(struct raw *r, struct node *n)
{
    r->p.port = n->port;
    assert_int_equal(pthread_create(&r->tid, NULL, raw_main, r), 0);
    uint64_t deadline = h_now_ms() + 12000;
    while (!atomic_load(&r->done) && h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    pthread_join(r->tid, NULL);
    run_for(20);
}

static inline size_t preamble(uint8_t *buf, raft_id id, const char *addr)
{
    return dird_tls_preamble_encode(buf, id, addr);
}

#endif

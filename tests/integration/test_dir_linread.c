/* test_dir_linread.c - linearizable reads on a 3-node strata-dird cluster (TLS on): a write the
 * leader acknowledged is seen at once by a linearizable read at a follower, 200 times in a row,
 * while serializable reads there may lag; a paused (SIGSTOP) old leader, resumed after a new
 * leader took a write, never answers a linearizable read with the old value.
 * With STRATA_TEST_BREAK_READ_BARRIER=1 in the environment the daemons (which inherit it) serve
 * linearizable reads from local state, the test-only defect: the test then expects to catch
 * violations and fails if it catches none (ctest runs it both ways: the test can fail). */
#include <pthread.h>
#include <unistd.h>

#include "test_dir_common.h"

#define ROUNDS 200
#define STALE_ROUNDS 6
#define EP_STALE 100000 /* the endpoint the stale-leader rounds move */

static struct td_cluster C;

/* Resolve endpoint i (by MAC) at one node. Returns 0 with *found and *ip_of (the index its IP
 * was derived from, td_ip), or -1 when the node refused or did not answer. */
static int resolve_on(struct strata_sclient *cl, const char *url, int i, bool linearizable,
                      unsigned timeout_ms, bool *found, int *ip_of)
{
    uint8_t mac[6];
    td_mac(i, mac);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    q.vni = TD_VNI;
    q.mac = (ProtobufCBinaryData){6, mac};
    Strata__V1__ResolveQuery *qs[1] = {&q};
    Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
    rq.queries = qs;
    rq.n_queries = 1;
    rq.linearizable = linearizable;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rq;
    strata_env *r = NULL;
    if (cl == NULL) {
        r = td_call(url, &req, timeout_ms);
    } else {
        struct strata_err e;
        if (strata_sclient_call(cl, &req, timeout_ms, &r, &e) != 0)
            r = NULL;
        if (r != NULL && r->status != 0) {
            strata_msg_free(r);
            r = NULL;
        }
    }
    if (r == NULL)
        return -1;
    const Strata__V1__ResolveAnswer *a =
        r->resolve_reply->n_answers == 1 ? r->resolve_reply->answers[0] : NULL;
    assert_non_null(a);
    *found = a->found;
    *ip_of = -1;
    if (a->found && a->endpoint != NULL && a->endpoint->n_ips == 1 &&
        a->endpoint->ips[0].len == 4) {
        const uint8_t *p = a->endpoint->ips[0].data;
        *ip_of = ((p[1] << 16) | (p[2] << 8) | p[3]) - 10;
    }
    strata_msg_free(r);
    return 0;
}

static int resolve_at(const char *url, int i, bool linearizable, unsigned timeout_ms, bool *found,
                      int *ip_of)
{
    return resolve_on(NULL, url, i, linearizable, timeout_ms, found, ip_of);
}

/* How many endpoints a linearizable list at url returns (-1 on refusal). */
static int list_count(const char *url, bool linearizable)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    lr.vni = TD_VNI;
    lr.linearizable = linearizable;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    strata_env *r = td_call(url, &req, 5000);
    if (r == NULL)
        return -1;
    int n = (int)r->list_reply->n_endpoints;
    strata_msg_free(r);
    return n;
}

static bool expect_broken(void)
{
    const char *s = getenv("STRATA_TEST_BREAK_READ_BARRIER");
    return s != NULL && strcmp(s, "1") == 0;
}

/* Failures of the guarantee, counted rather than asserted at once so that the broken run can
 * report them all (and so that it can succeed by finding them). */
static int violations;

static void violation(const char *fmt, int a, int b)
{
    violations++;
    fprintf(stderr, "VIOLATION: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
}

/* A write acknowledged by the leader, then at once a linearizable read at a follower: it must
 * see the write, every time. A serializable read at the other follower is allowed to lag. */
static void follower_rounds(int leader)
{
    int li = td_index_of(&C, leader);
    int f1 = (li + 1) % 3, f2 = (li + 2) % 3;
    struct strata_dirclient *dc;
    struct strata_err e;
    if (strata_dirclient_open(C.node[li].api, &dc, &e) != 0)
        fail_msg("dirclient: %s", e.msg);
    int lagged = 0, lin_list_checks = 0;
    uint64_t t0 = h_now_ms();
    for (int i = 0; i < ROUNDS; i++) {
        if (td_endpoint_add(dc, i, NULL, &e) != 0)
            fail_msg("write %d: %s", i, e.msg);
        bool found;
        int ip_of;
        if (resolve_at(C.node[f1].api, i, true, 5000, &found, &ip_of) != 0)
            fail_msg("linearizable resolve of endpoint %d at node %d refused", i, C.node[f1].id);
        if (!found)
            violation("linearizable read at follower missed acknowledged write %d (round %d)", i,
                      i);
        if (resolve_at(C.node[f2].api, i, false, 5000, &found, &ip_of) == 0 && !found)
            lagged++;
        if (i % 20 == 19) { /* the list path too */
            int n = list_count(C.node[f2].api, true);
            lin_list_checks++;
            if (n != i + 1)
                violation("linearizable list at follower: %d endpoints, want %d", n, i + 1);
        }
    }
    fprintf(stderr,
            "follower rounds: %d writes, linearizable reads at a follower all checked (%d list "
            "checks), serializable reads lagging: %d/%d, %llu ms\n",
            ROUNDS, lin_list_checks, lagged, ROUNDS, (unsigned long long)(h_now_ms() - t0));
    strata_dirclient_close(dc);
}

/* One of the leader's counters (-1 when it cannot be read). */
static double leader_metric(int li, const char *name)
{
    char *t = h_http_get(C.node[li].metrics_port, "/metrics");
    double v = t != NULL ? h_metric(t, name) : -1;
    free(t);
    return v;
}

#define SHARE_THREADS 16
#define SHARE_READS 40

struct sharer {
    const char *url;
    int first, failures;
};

static void *sharer_main(void *arg)
{
    struct sharer *s = arg;
    struct strata_sclient *cl;
    struct strata_err e;
    if (strata_sclient_open(s->url, &cl, &e) != 0) {
        s->failures = SHARE_READS;
        return NULL;
    }
    for (int k = 0; k < SHARE_READS; k++) {
        uint8_t mac[6];
        td_mac((s->first + k) % ROUNDS, mac);
        Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
        q.vni = TD_VNI;
        q.mac = (ProtobufCBinaryData){6, mac};
        Strata__V1__ResolveQuery *qs[1] = {&q};
        Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
        rq.queries = qs;
        rq.n_queries = 1;
        rq.linearizable = true;
        strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
        req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        req.resolve = &rq;
        if (strata_sclient_call(cl, &req, 5000, &rep, &e) != 0 || rep->status != 0 ||
            rep->resolve_reply->n_answers != 1 || !rep->resolve_reply->answers[0]->found)
            s->failures++;
        strata_msg_free(rep);
    }
    strata_sclient_close(cl);
    return NULL;
}

/* Concurrent linearizable reads at the leader share barriers: fewer barriers than reads. Without
 * the batching every read would cost a log entry and an fsync of its own. */
static void barrier_sharing(int leader)
{
    int li = td_index_of(&C, leader);
    double r0 = leader_metric(li, "strata_dird_linearizable_reads_total");
    double b0 = leader_metric(li, "strata_dird_read_barriers_total");
    assert_true(r0 >= 0 && b0 >= 0);
    struct sharer s[SHARE_THREADS];
    pthread_t th[SHARE_THREADS];
    for (int t = 0; t < SHARE_THREADS; t++) {
        s[t] = (struct sharer){.url = C.node[li].api, .first = t * 7};
        assert_int_equal(pthread_create(&th[t], NULL, sharer_main, &s[t]), 0);
    }
    int failures = 0;
    for (int t = 0; t < SHARE_THREADS; t++) {
        pthread_join(th[t], NULL);
        failures += s[t].failures;
    }
    double reads = leader_metric(li, "strata_dird_linearizable_reads_total") - r0;
    double barriers = leader_metric(li, "strata_dird_read_barriers_total") - b0;
    fprintf(stderr,
            "barrier sharing: %d threads, %.0f linearizable reads, %.0f barriers (%.1f "
            "reads per barrier), %d failures\n",
            SHARE_THREADS, reads, barriers, barriers > 0 ? reads / barriers : 0.0, failures);
    assert_int_equal(failures, 0);
    if (expect_broken())
        return; /* broken, reads pass no barrier and are not counted */
    assert_true(reads >= SHARE_THREADS * SHARE_READS);
    assert_true(barriers >= 1 && barriers * 1.5 <= reads);
}

/* A linearizable read sent to the paused old leader over a connection made before the pause, so
 * that it is waiting in the socket when the node resumes, beside the new leader's messages. */
struct asker {
    struct strata_sclient *cl;
    const char *url;
    int rc, ip_of;
    bool found;
};

static void *asker_main(void *arg)
{
    struct asker *a = arg;
    a->rc = resolve_on(a->cl, a->url, EP_STALE, true, 5000, &a->found, &a->ip_of);
    return NULL;
}

/* A leader cut off from both followers (they are paused) cannot confirm its leadership: a
 * linearizable read sent to it is refused (its barrier never commits; libraft steps it down after
 * an election timeout without a majority, which fails the barrier), never answered locally. */
static void isolated_leader(void)
{
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    int li = td_index_of(&C, leader);
    int before = td_log_count(C.node[li].log, "read barrier");
    for (int k = 1; k < 3; k++)
        assert_int_equal(kill(C.node[(li + k) % 3].pid, SIGSTOP), 0);
    bool found = false;
    int ip_of = -1;
    uint64_t t0 = h_now_ms();
    int rc = resolve_at(C.node[li].api, 0, true, 8000, &found, &ip_of);
    uint64_t ms = h_now_ms() - t0;
    for (int k = 1; k < 3; k++)
        assert_int_equal(kill(C.node[(li + k) % 3].pid, SIGCONT), 0);
    int failed = td_log_count(C.node[li].log, "read barrier") - before;
    fprintf(stderr,
            "isolated leader %d: linearizable read -> %s after %llu ms; failed barriers logged: "
            "%d\n",
            leader, rc == 0 ? "ANSWERED" : "refused", (unsigned long long)ms, failed);
    if (rc == 0)
        violation("a leader without a majority answered a linearizable read (found %d ip_of %d)",
                  found, ip_of);
    else if (!expect_broken())
        assert_true(failed >= 1); /* refused by the barrier's failure, as designed */
    assert_true(td_wait_leader(&C, 15000) > 0);
}

/* The classic stale leader: pause the leader, let the others elect one and take a write, resume
 * the old leader and ask it at once for a linearizable read: never the old value. */
static void stale_leader_round(int round)
{
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    int li = td_index_of(&C, leader);
    int v_old = 200000 + 2 * round, v_new = v_old + 1;
    struct strata_dirclient *dc;
    struct strata_err e;
    if (strata_dirclient_open(C.node[li].api, &dc, &e) != 0)
        fail_msg("dirclient: %s", e.msg);
    struct td_ep_cmd b;
    if (td_write(dc, td_endpoint_cmd(&b, EP_STALE, v_old), NULL, &e) != 0)
        fail_msg("write old value: %s", e.msg);
    strata_dirclient_close(dc);

    struct asker ask = {.url = C.node[li].api};
    bool warm, dummy_found;
    int dummy_ip;
    if (strata_sclient_open(C.node[li].api, &ask.cl, &e) != 0)
        fail_msg("client to node %d: %s", leader, e.msg);
    warm = resolve_on(ask.cl, NULL, EP_STALE, false, 5000, &dummy_found, &dummy_ip) == 0;
    assert_true(warm); /* the connection (and its TLS session) is up before the pause */

    pid_t paused = C.node[li].pid;
    assert_int_equal(kill(paused, SIGSTOP), 0);
    C.node[li].pid = 0; /* out of td_wait_leader's and td_urls' sight while paused */
    int nl = td_wait_leader(&C, 15000);
    if (nl <= 0 || nl == leader) {
        kill(paused, SIGCONT);
        C.node[li].pid = paused;
        fail_msg("no new leader while node %d was paused", leader);
    }
    char urls[512];
    td_urls(&C, 0, urls, sizeof(urls));
    if (strata_dirclient_open(urls, &dc, &e) != 0)
        fail_msg("dirclient: %s", e.msg);
    if (td_write(dc, td_endpoint_cmd(&b, EP_STALE, v_new), NULL, &e) != 0)
        fail_msg("write new value through the new leader: %s", e.msg);
    strata_dirclient_close(dc);

    /* Odd rounds send the read while the node is still paused (it waits in the socket); even
     * rounds right after SIGCONT. */
    pthread_t th;
    uint64_t t0 = h_now_ms();
    if (round % 2 == 1) {
        assert_int_equal(pthread_create(&th, NULL, asker_main, &ask), 0);
        usleep(50 * 1000); /* not synchronisation: lets the request reach the socket first */
        assert_int_equal(kill(paused, SIGCONT), 0);
    } else {
        assert_int_equal(kill(paused, SIGCONT), 0);
        assert_int_equal(pthread_create(&th, NULL, asker_main, &ask), 0);
    }
    C.node[li].pid = paused;
    pthread_join(th, NULL);
    strata_sclient_close(ask.cl);
    int rc = ask.rc, ip_of = ask.ip_of;
    bool found = ask.found;
    const char *what = rc != 0          ? "refused or timed out"
                       : !found         ? "NOT FOUND"
                       : ip_of == v_new ? "the new value"
                       : ip_of == v_old ? "THE OLD VALUE"
                                        : "an unknown value";
    fprintf(stderr,
            "stale leader round %d: old leader %d, new leader %d: linearizable read -> %s "
            "(%llu ms)\n",
            round, leader, nl, what, (unsigned long long)(h_now_ms() - t0));
    if (rc == 0 && (!found || ip_of != v_new))
        violation("old leader answered a linearizable read with ip_of %d, want %d", ip_of, v_new);
    /* the new leader serves it */
    int ni = td_index_of(&C, nl);
    if (resolve_at(C.node[ni].api, EP_STALE, true, 5000, &found, &ip_of) != 0 || ip_of != v_new)
        violation("the new leader's linearizable read gave ip_of %d, want %d", ip_of, v_new);
    assert_true(td_wait_leader(&C, 15000) > 0); /* all three agree again */
}

static void test_linread(void **state)
{
    (void)state;
    td_init(&C, 3, "linread");
    for (int i = 0; i < 3; i++) {
        C.node[i].metrics_port = h_free_port();
        td_start(&C, i);
    }
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    strata_dirclient_close(dc);

    follower_rounds(leader);
    barrier_sharing(td_wait_leader(&C, 15000));
    isolated_leader();
    for (int r = 0; r < STALE_ROUNDS; r++)
        stale_leader_round(r);

    fprintf(stderr, "violations: %d\n", violations);
    if (expect_broken()) {
        /* the daemons run with the barrier broken: this test must have caught it */
        assert_true(violations > 0);
    } else {
        assert_int_equal(violations, 0);
    }
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_linread)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

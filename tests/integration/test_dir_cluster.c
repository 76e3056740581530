/* test_dir_cluster.c - a 3-node strata-dird cluster elects one leader, commits 1,000 endpoint
 * writes sent round-robin to all three nodes (followers forward), every node then lists all of
 * them (read-your-writes through min_index), and validation errors come back clearly through a
 * follower; a write_batch answers each of its writes on its own. */
#include <pthread.h>

#include "test_dir_common.h"

#define N_WRITES 1000
#define N_THREADS 6

static struct td_cluster C;

struct writer {
    int t;
    bool *acked;
    uint64_t max_index;
    int failures;
    char err[512];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char urls[512];
    struct strata_dirclient *dc;
    struct strata_err e;
    /* each writer starts at a different node: writes arrive at all three APIs */
    td_urls(&C, w->t % 3, urls, sizeof(urls));
    if (strata_dirclient_open(urls, &dc, &e) != 0) {
        w->failures++;
        snprintf(w->err, sizeof(w->err), "%s", e.msg);
        return NULL;
    }
    for (int i = w->t; i < N_WRITES; i += N_THREADS) {
        uint64_t idx = 0;
        if (td_endpoint_add(dc, i, &idx, &e) == 0) {
            w->acked[i] = true;
            if (idx > w->max_index)
                w->max_index = idx;
        } else {
            w->failures++;
            snprintf(w->err, sizeof(w->err), "endpoint %d: %s", i, e.msg);
        }
    }
    strata_dirclient_close(dc);
    return NULL;
}

struct feed_waiter {
    const char *url;
    uint64_t after;
    strata_env *rep;
    uint64_t elapsed_ms;
};

static void *feed_main(void *arg)
{
    struct feed_waiter *f = arg;
    uint64_t t0 = h_now_ms();
    f->rep = td_feed(f->url, f->after, 100, 10000);
    f->elapsed_ms = h_now_ms() - t0;
    return NULL;
}

/* The change feed on a follower: every endpoint in index order, then a long-poll that a write
 * wakes. */
static void check_feed(const char *url, uint64_t max_index, struct strata_dirclient *dc)
{
    uint64_t after = 0;
    size_t endpoints = 0;
    for (;;) {
        strata_env *rep = td_feed(url, after, 300, 0);
        assert_non_null(rep);
        const Strata__V1__FeedReply *fr = rep->feed_reply;
        assert_false(fr->gap);
        assert_int_equal(fr->oldest_index, 0);
        for (size_t i = 0; i < fr->n_changes; i++) {
            assert_true(fr->changes[i]->index >= after);
            after = fr->changes[i]->index;
            if (fr->changes[i]->kind == STRATA__V1__OBJ_KIND__OBJ_ENDPOINT)
                endpoints++;
        }
        bool done = fr->n_changes == 0;
        strata_msg_free(rep);
        if (done)
            break;
    }
    assert_true(after >= max_index);
    assert_int_equal(endpoints, N_WRITES);

    struct feed_waiter f = {.url = url, .after = after};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed_main, &f), 0);
    uint64_t idx = 0;
    struct strata_err e;
    if (td_endpoint_add(dc, N_WRITES, &idx, &e) != 0)
        fail_msg("write to wake the feed: %s", e.msg);
    pthread_join(th, NULL);
    assert_non_null(f.rep);
    fprintf(stderr, "feed long-poll answered after %llu ms with %zu changes\n",
            (unsigned long long)f.elapsed_ms, f.rep->feed_reply->n_changes);
    /* Another change may land first (a node registering its API address in the member table
     * after a retry): then the long-poll rightly answers with that one; follow the feed on. */
    uint64_t t0 = h_now_ms();
    bool seen = false;
    strata_env *rep = f.rep;
    for (;;) {
        const Strata__V1__FeedReply *fr = rep->feed_reply;
        for (size_t i = 0; i < fr->n_changes; i++) {
            seen |= fr->changes[i]->index == idx;
            if (fr->changes[i]->index != idx)
                fprintf(stderr, "  change %llu (kind %d) came first\n",
                        (unsigned long long)fr->changes[i]->index, (int)fr->changes[i]->kind);
            after = fr->changes[i]->index > after ? fr->changes[i]->index : after;
        }
        strata_msg_free(rep);
        if (seen || h_now_ms() - t0 > 5000)
            break;
        rep = td_feed(url, after, 100, 5000);
        assert_non_null(rep);
    }
    assert_true(seen);
    assert_true(f.elapsed_ms < 5000);
}

static void expect_error(struct strata_dirclient *dc, Strata__V1__Command *cmd, int want,
                         const char *what)
{
    struct strata_err e = {0};
    int rc = td_write(dc, cmd, NULL, &e);
    fprintf(stderr, "%s -> %d %s\n", what, rc, e.msg);
    assert_int_equal(rc, want);
    assert_true(strlen(e.msg) > 0);
}

struct metrics_want {
    uint64_t applied;
    const char *why; /* out: what did not hold last time */
};

/* The count of histogram `name` in the metrics text `t`, or -1 when it is empty (no sample, or
 * a zero sum) or its +Inf bucket is not its count. */
static double histo_count(const char *t, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "%s_count", name);
    double n = h_metric(t, key);
    snprintf(key, sizeof(key), "%s_sum", name);
    double sum = h_metric(t, key);
    snprintf(key, sizeof(key), "%s_bucket{le=\"+Inf\"}", name);
    return n >= 1 && sum > 0 && h_metric(t, key) == n ? n : -1;
}

/* Every node's /metrics agrees with what the test did: one leader, which queued every write; all
 * applied the last write and hold every endpoint; each served a read. */
static bool metrics_pred(void *arg)
{
    struct metrics_want *w = arg;
    int leaders = 0;
    double served = 0; /* the nodes' write_seconds counts */
    for (int i = 0; i < 3; i++) {
        char *t = h_http_get(C.node[i].metrics_port, "/metrics");
        if (t == NULL) {
            w->why = "metrics endpoint did not answer";
            return false;
        }
        bool ok = true;
        if (strstr(t, "# TYPE strata_dird_writes_total counter") == NULL)
            ok = false, w->why = "no TYPE line for strata_dird_writes_total";
        if (h_metric(t, "strata_dird_applied_index") < (double)w->applied)
            ok = false, w->why = "applied_index behind the last write";
        if (h_metric(t, "strata_dird_endpoints") != N_WRITES + 1) /* + check_feed's */
            ok = false, w->why = "endpoints gauge differs from the endpoints written";
        if (h_metric(t, "strata_dird_data_dir_free_bytes") <= 0)
            ok = false, w->why = "data_dir_free_bytes not read";
        if (h_metric(t, "strata_dird_reads_total") < 1)
            ok = false, w->why = "reads_total does not count the list";
        /* Every node appended the writes' entries to its log, and each took some time. */
        if (histo_count(t, "strata_dird_raft_append_seconds") < 0)
            ok = false, w->why = "raft_append_seconds is empty or its +Inf bucket is not its count";
        /* Two writers start at each node: each node timed the writes sent to it. */
        double timed = histo_count(t, "strata_dird_write_seconds");
        if (timed < 0)
            ok = false, w->why = "write_seconds is empty or its +Inf bucket is not its count";
        else
            served += timed;
        if (h_metric(t, "strata_dird_is_leader") == 1) {
            leaders++;
            if (h_metric(t, "strata_dird_writes_total") < N_WRITES)
                ok = false, w->why = "the leader's writes_total misses writes";
            /* Batching: the leader committed the writes in at most as many entries. */
            double commits = h_metric(t, "strata_dird_write_commit_seconds_count");
            if (commits < 1 || commits > h_metric(t, "strata_dird_write_batches_total"))
                ok = false, w->why = "write_commit_seconds does not count the leader's entries";
        } else {
            /* Two of the six writers start at each follower: their writes went to the leader
             * in write_batch requests, at least one write each. */
            double fwd = h_metric(t, "strata_dird_forwarded_total"),
                   batches = h_metric(t, "strata_dird_forward_batches_total");
            if (fwd < 1 || batches < 1 || batches > fwd)
                ok = false, w->why = "a follower's forwarded/forward_batches counts are off";
        }
        free(t);
        if (!ok)
            return false;
    }
    if (leaders != 1)
        w->why = "not exactly one node reports is_leader 1";
    else if (served < N_WRITES)
        w->why = "the nodes' write_seconds counts miss writes";
    return leaders == 1 && served >= N_WRITES;
}

/* A write_batch of three endpoint_adds, the middle one taking endpoint 7's IP, sent to `url`:
 * the first and last are applied in the same Raft entry, the middle one alone is refused. */
static void check_write_batch(const char *url, int base)
{
    struct td_ep_cmd b[3];
    Strata__V1__Command *cmds[3];
    for (int k = 0; k < 3; k++) {
        cmds[k] = td_endpoint_cmd(&b[k], base + k, k == 1 ? 7 : base + k);
        cmds[k]->client_id = 0x5eed;
        cmds[k]->req_id = (uint64_t)(base + k);
    }
    Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    wb.n_cmds = 3;
    wb.cmds = cmds;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
    req.write_batch = &wb;
    strata_env *rep = td_call(url, &req, 5000);
    assert_non_null(rep);
    assert_int_equal(rep->body_case, STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY);
    Strata__V1__WriteBatchReply *br = rep->write_batch_reply;
    assert_int_equal(br->n_results, 3);
    fprintf(stderr, "write_batch via %s: %d %d(%s) %d\n", url, br->results[0]->status,
            br->results[1]->status, br->results[1]->message, br->results[2]->status);
    assert_int_equal(br->results[1]->status, STRATA_ECONFLICT);
    assert_true(strlen(br->results[1]->message) > 0);
    assert_null(br->results[1]->reply);
    for (int k = 0; k < 3; k += 2) {
        assert_int_equal(br->results[k]->status, 0);
        assert_non_null(br->results[k]->reply);
        assert_non_null(br->results[k]->reply->endpoint);
        assert_memory_equal(br->results[k]->reply->endpoint->mac.data, b[k].mac, 6);
    }
    assert_true(br->results[0]->reply->index > 0);
    assert_int_equal(br->results[0]->reply->index, br->results[2]->reply->index);
    strata_msg_free(rep);
}

static void test_cluster(void **state)
{
    (void)state;
    td_init(&C, 3, "dir-cluster");
    for (int i = 0; i < 3; i++) {
        C.node[i].metrics_port = h_free_port();
        td_start(&C, i);
    }
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader >= 1 && leader <= 3);
    fprintf(stderr, "leader: node %d\n", leader);
    int leaders = 0; /* exactly one node says it leads */
    for (int i = 0; i < 3; i++) {
        strata_env *st = td_status(C.node[i].api);
        assert_non_null(st);
        leaders += strcmp(st->cluster_status_reply->self->role, "leader") == 0;
        assert_int_equal(st->cluster_status_reply->n_members, 3);
        strata_msg_free(st);
    }
    assert_int_equal(leaders, 1);

    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;

    static bool acked[N_WRITES];
    struct writer w[N_THREADS];
    pthread_t th[N_THREADS];
    uint64_t t0 = h_now_ms();
    for (int t = 0; t < N_THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].t = t;
        w[t].acked = acked;
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    uint64_t max_index = 0;
    int failures = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        if (w[t].max_index > max_index)
            max_index = w[t].max_index;
        if (w[t].failures)
            fprintf(stderr, "writer %d: %d failures, last: %s\n", t, w[t].failures, w[t].err);
        failures += w[t].failures;
    }
    uint64_t dt = h_now_ms() - t0;
    fprintf(stderr, "%d writes in %llu ms (%.0f/s), last index %llu\n", N_WRITES,
            (unsigned long long)dt, dt ? N_WRITES * 1000.0 / (double)dt : 0.0,
            (unsigned long long)max_index);
    assert_int_equal(failures, 0);

    /* every node lists all 1,000 once it has applied the last acknowledged write */
    for (int i = 0; i < 3; i++) {
        strata_env *rep = td_list(C.node[i].api, max_index);
        assert_non_null(rep);
        assert_true(rep->list_reply->applied_index >= max_index);
        assert_int_equal(rep->list_reply->n_endpoints, N_WRITES);
        assert_true(td_list_has(rep, NULL, N_WRITES));
        strata_msg_free(rep);
    }

    check_feed(C.node[leader == 1 ? 1 : 0].api, max_index, dc);

    struct metrics_want mw = {.applied = max_index, .why = ""};
    bool metrics_ok = h_wait_until(metrics_pred, &mw, 5000);
    if (!metrics_ok)
        fprintf(stderr, "metrics: %s\n", mw.why);
    assert_true(metrics_ok);

    /* validation errors through a follower (it forwards; the leader's FSM refuses) */
    int fi = leader == 1 ? 1 : 0;
    struct strata_dirclient *fc;
    assert_int_equal(strata_dirclient_open(C.node[fi].api, &fc, &e), 0);
    uint8_t mac[6] = {0x02, 0xaa, 0, 0, 0, 1}, ip_out[4] = {172, 16, 0, 5};
    uint8_t ip_taken[4];
    td_ip(7, ip_taken); /* endpoint 7's address */
    ProtobufCBinaryData ips[1] = {{4, ip_out}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    ep.vni = 4242; /* unknown */
    ep.mac.len = 6;
    ep.mac.data = mac;
    ep.n_ips = 1;
    ep.ips = ips;
    ep.host = (char *)"h1";
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    expect_error(fc, &cmd, STRATA_ENOTFOUND, "unknown VNI");
    ep.vni = TD_VNI;
    expect_error(fc, &cmd, STRATA_EINVAL, "IP outside subnets");
    ips[0].data = ip_taken;
    expect_error(fc, &cmd, STRATA_ECONFLICT, "conflicting IP");

    /* several writes in one request, to a follower (forwarded as is) and to the leader */
    check_write_batch(C.node[fi].api, N_WRITES + 100);
    check_write_batch(C.node[td_index_of(&C, leader)].api, N_WRITES + 200);

    /* a read on the follower of a future index is bounded, with a clear error */
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    strata_env *rep = NULL;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    lr.min_index = max_index + 1000000;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    int rc = strata_dirclient_call_node(fc, 0, &req, 5000, &rep, &e);
    fprintf(stderr, "future min_index -> %d %s\n", rc, e.msg);
    assert_int_equal(rc, STRATA_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "behind"));

    strata_dirclient_close(fc);
    strata_dirclient_close(dc);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cluster)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

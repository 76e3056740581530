/* test_dir_failover.c - kill -9 the leader of a 3-node strata-dird cluster: a new leader takes
 * writes through the survivors and no acknowledged write is lost; the killed node rejoins from
 * its data dir and catches up by log; a node that misses many writes while down (with a small
 * --snapshot-threshold) catches up by snapshot install; a full SIGTERM stop and restart keeps
 * every object. */
#include <pthread.h>

#include "test_dir_common.h"

#define N_MAX 4000

static struct td_cluster C;
static bool acked[N_MAX];
static uint64_t max_index;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void note_index(uint64_t idx)
{
    pthread_mutex_lock(&mu);
    if (idx > max_index)
        max_index = idx;
    pthread_mutex_unlock(&mu);
}

struct writer {
    int from, to, step, start_node;
    int failures;
    char err[512];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char urls[512];
    struct strata_dirclient *dc;
    struct strata_err e;
    td_urls(&C, w->start_node, urls, sizeof(urls));
    if (strata_dirclient_open(urls, &dc, &e) != 0) {
        w->failures++;
        return NULL;
    }
    for (int i = w->from; i < w->to; i += w->step) {
        uint64_t idx = 0;
        if (td_endpoint_add(dc, i, &idx, &e) == 0) {
            acked[i] = true;
            note_index(idx);
        } else {
            w->failures++;
            snprintf(w->err, sizeof(w->err), "endpoint %d: %s", i, e.msg);
        }
    }
    strata_dirclient_close(dc);
    return NULL;
}

/* Write endpoints [from, to) with `threads` concurrent clients; returns the failures. */
static int write_range(int from, int to, int threads)
{
    struct writer w[8];
    pthread_t th[8];
    int failures = 0;
    for (int t = 0; t < threads; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].from = from + t;
        w[t].to = to;
        w[t].step = threads;
        w[t].start_node = t;
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        if (w[t].failures)
            fprintf(stderr, "writer %d: %d failures, last: %s\n", t, w[t].failures, w[t].err);
        failures += w[t].failures;
    }
    return failures;
}

struct caught_up {
    int node;
    int n;
};

/* The node has applied max_index and lists every acknowledged endpoint. */
static bool caught_up_pred(void *arg)
{
    struct caught_up *c = arg;
    strata_env *rep = td_list(C.node[c->node].api, max_index);
    if (rep == NULL)
        return false;
    bool ok = rep->list_reply->applied_index >= max_index && td_list_has(rep, acked, c->n);
    strata_msg_free(rep);
    return ok;
}

static void wait_caught_up(int node, int n, int timeout_ms)
{
    struct caught_up c = {node, n};
    if (!h_wait_until(caught_up_pred, &c, timeout_ms))
        fail_msg("node %d did not catch up to index %llu (log %s)", C.node[node].id,
                 (unsigned long long)max_index, C.node[node].log);
}

/* Canonical bytes of a node's endpoint list (applied index left out) for comparisons. */
static uint8_t *list_bytes(int node, size_t *len)
{
    strata_env *rep = td_list(C.node[node].api, max_index);
    if (rep == NULL)
        return NULL;
    rep->list_reply->applied_index = 0;
    *len = strata__v1__list_reply__get_packed_size(rep->list_reply);
    uint8_t *b = malloc(*len + 1);
    strata__v1__list_reply__pack(rep->list_reply, b);
    strata_msg_free(rep);
    return b;
}

/* Nodes take their snapshots in turn: no index is snapshotted by two nodes. */
static void assert_snapshots_in_turn(int a, int b)
{
    const char *needle = "snapshot taken applied=";
    uint64_t xa[256], xb[256];
    int na = td_log_scan(C.node[a].log, needle, xa, 256),
        nb = td_log_scan(C.node[b].log, needle, xb, 256);
    if (na == 0 || nb == 0)
        fail_msg("expected snapshots on nodes %d and %d, saw %d and %d", C.node[a].id, C.node[b].id,
                 na, nb);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (xa[i] == xb[j])
                fail_msg("nodes %d and %d both snapshotted at index %llu", C.node[a].id,
                         C.node[b].id, (unsigned long long)xa[i]);
}

static uint64_t t_start;
#define PHASE(name)                                                                                \
    fprintf(stderr, "[%6llu ms] %s\n", (unsigned long long)(h_now_ms() - t_start), name)

static void test_failover(void **state)
{
    (void)state;
    t_start = h_now_ms();
    td_init(&C, 3, "dir-failover");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);

    strata_dirclient_close(td_client_with_objects(&C));
    assert_int_equal(write_range(0, 300, 3), 0);
    char urls[512];
    struct strata_dirclient *dc;
    struct strata_err e;

    PHASE("300 written; kill -9 the leader");
    /* ---- kill -9 the leader; the first write that succeeds afterwards measures failover */
    int li = td_index_of(&C, leader);
    uint64_t t_kill = h_now_ms();
    td_kill9(&C, li);
    td_urls(&C, 0, urls, sizeof(urls));
    assert_int_equal(strata_dirclient_open(urls, &dc, &e), 0);
    uint64_t idx;
    int rc = td_endpoint_add(dc, 300, &idx, &e);
    uint64_t failover_ms = h_now_ms() - t_kill;
    if (rc != 0)
        fail_msg("first write after the leader's death: %s", e.msg);
    acked[300] = true;
    note_index(idx);
    /* Not closed before the end: an attempt of this client that timed out on a follower may
     * still be answered, and NNG 1.5.2's nng_close hangs when a late req0 reply lands during the
     * close (reproduced; see the report). Closed once every daemon is gone. */
    struct strata_dirclient *dc_failover = dc;
    fprintf(stderr, "failover: kill -9 of leader %d to first acknowledged write: %llu ms\n", leader,
            (unsigned long long)failover_ms);
    assert_true(failover_ms < 5000); /* the figure is printed; the bound catches a hang */
    int leader2 = td_wait_leader(&C, 10000);
    assert_true(leader2 > 0 && leader2 != leader);

    /* the operator's view: the dead node is shown unreachable, quickly (members are probed at
     * once, each for at most 800 ms) */
    {
        char cmd[512];
        char *out = NULL;
        snprintf(cmd, sizeof(cmd), "%s --directory %s --json cluster status", h_bin("strata"),
                 C.node[td_index_of(&C, leader2)].api);
        uint64_t t0 = h_now_ms();
        int st = h_run(cmd, &out);
        uint64_t took = h_now_ms() - t0;
        fprintf(stderr, "cluster status with node %d dead: %llu ms\n%s", leader,
                (unsigned long long)took, out ? out : "");
        assert_int_equal(st, 0);
        assert_non_null(out);
        char want[64];
        snprintf(want, sizeof(want), "\"leader\":%d,", leader2);
        assert_non_null(strstr(out, want));
        assert_non_null(strstr(out, "\"role\":\"unreachable\""));
        assert_true(took < 3000);
        free(out);
    }

    assert_int_equal(write_range(301, 600, 3), 0);
    for (int i = 0; i < 3; i++)
        if (C.node[i].pid > 0)
            wait_caught_up(i, 600, 10000);

    PHASE("600 written and on the survivors; restart the killed node");
    /* ---- the killed node rejoins from its data dir and catches up (by log) */
    td_start(&C, li);
    wait_caught_up(li, 600, 20000);
    assert_true(td_wait_leader(&C, 10000) > 0);

    PHASE("caught up by log; stop all, restart with --snapshot-threshold 64");
    /* ---- SIGTERM everything, restart with a small snapshot threshold: all objects intact */
    size_t len0 = 0;
    uint8_t *before = list_bytes(td_index_of(&C, leader2), &len0);
    assert_non_null(before);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    C.extra[0] = "--snapshot-threshold";
    C.extra[1] = "64";
    C.extra[2] = "--snapshot-trailing";
    C.extra[3] = "16";
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader3 = td_wait_leader(&C, 15000);
    assert_true(leader3 > 0);
    for (int i = 0; i < 3; i++) {
        wait_caught_up(i, 600, 15000);
        size_t len = 0;
        uint8_t *after = list_bytes(i, &len);
        assert_non_null(after);
        assert_int_equal(len, len0);
        assert_memory_equal(after, before, len);
        free(after);
    }

    PHASE("all intact after restart; kill -9 a follower");
    /* ---- a follower misses many entries: it must catch up by snapshot install */
    int fi = td_index_of(&C, leader3 == 1 ? 2 : 1);
    td_kill9(&C, fi);
    /* one client, one write at a time: one entry each, so the log moves far past 64 + 16 */
    assert_int_equal(write_range(600, 900, 1), 0);
    PHASE("300 more written; restart the follower");
    assert_snapshots_in_turn(td_index_of(&C, leader3), 3 - fi - td_index_of(&C, leader3));
    int installs = td_log_count(C.node[fi].log, "snapshot installed");
    td_start(&C, fi);
    wait_caught_up(fi, 900, 30000);
    if (td_log_count(C.node[fi].log, "snapshot installed") <= installs)
        fail_msg("node %d caught up without a snapshot install (log %s)", C.node[fi].id,
                 C.node[fi].log);
    /* its change feed starts at the snapshot: an old position is a gap (resynchronise) */
    strata_env *fe = td_feed(C.node[fi].api, 0, 10, 0);
    assert_non_null(fe);
    assert_true(fe->feed_reply->gap);
    assert_true(fe->feed_reply->oldest_index > 0);
    strata_msg_free(fe);

    PHASE("caught up by snapshot install; stop all and restart");
    /* ---- stop all three and start again: every object intact */
    int lid = td_wait_leader(&C, 10000);
    assert_true(lid > 0);
    free(before);
    before = list_bytes(td_index_of(&C, lid), &len0);
    assert_non_null(before);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    assert_true(td_wait_leader(&C, 15000) > 0);
    for (int i = 0; i < 3; i++) {
        wait_caught_up(i, 900, 15000);
        size_t len = 0;
        uint8_t *after = list_bytes(i, &len);
        assert_non_null(after);
        assert_int_equal(len, len0);
        assert_memory_equal(after, before, len);
        free(after);
    }
    free(before);
    PHASE("all intact; kill -9 two nodes: no majority");

    /* ---- without a majority: writes fail clearly at the client's deadline, reads still work */
    td_kill9(&C, 0);
    td_kill9(&C, 1);
    strata_env *lone = td_list(C.node[2].api, 0);
    assert_non_null(lone);
    assert_true(td_list_has(lone, acked, 900));
    strata_msg_free(lone);
    assert_int_equal(strata_dirclient_open(C.node[2].api, &dc, &e), 0);
    uint8_t mac[6], ip[4];
    td_mac(3000, mac);
    td_ip(3000, ip);
    ProtobufCBinaryData ips[1] = {{4, ip}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    ep.vni = TD_VNI;
    ep.mac.len = 6;
    ep.mac.data = mac;
    ep.n_ips = 1;
    ep.ips = ips;
    ep.host = (char *)"h1";
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    strata_env *wrep = NULL;
    uint64_t t0 = h_now_ms();
    rc = strata_dirclient_write(dc, &cmd, 1500, &wrep, &e);
    fprintf(stderr, "write without majority -> %d %s (%llu ms)\n", rc, e.msg,
            (unsigned long long)(h_now_ms() - t0));
    assert_true(rc == STRATA_EUNAVAIL || rc == STRATA_ETIMEDOUT);
    assert_true(h_now_ms() - t0 < 10000);
    PHASE("stopping");
    td_stop(&C, 2);
    strata_dirclient_close(dc); /* every daemon is gone: no late reply can arrive now */
    strata_dirclient_close(dc_failover);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_failover)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

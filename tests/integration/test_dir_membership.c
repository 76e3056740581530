/* test_dir_membership.c - a 4th strata-dird started with --join is added with ClusterAdd (sent
 * to a follower, which forwards), becomes a voter and serves reads holding all data; a member is
 * removed (status shows 3 members); leadership is transferred to a chosen node. A stopping leader
 * hands off to a voter that answers, not to one that stopped. */
#include "test_dir_common.h"

static struct td_cluster C;

static int cluster_cmd(struct strata_dirclient *dc, strata_env *req, struct strata_err *e)
{
    strata_env *rep = NULL;
    int rc = strata_dirclient_call(dc, req, 20000, &rep, e);
    if (rc == 0)
        strata_msg_free(rep);
    return rc;
}

struct member_pred {
    int node; /* ask this node */
    int id;   /* about this member */
    const char *role;
    size_t members;
};

/* The node's status lists `members` members and member `id` has role `role`. */
static bool member_pred(void *arg)
{
    struct member_pred *m = arg;
    strata_env *r = td_status(C.node[m->node].api);
    if (r == NULL)
        return false;
    const Strata__V1__ClusterStatusReply *s = r->cluster_status_reply;
    bool ok = s->n_members == m->members;
    bool found = m->role == NULL;
    for (size_t i = 0; i < s->n_members; i++)
        if (m->role != NULL && s->members[i]->id == (uint64_t)m->id)
            found = strcmp(s->members[i]->role, m->role) == 0;
    strata_msg_free(r);
    return ok && found;
}

static void test_membership(void **state)
{
    (void)state;
    td_init(&C, 3, "dir-membership");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);

    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;
    char urls[512];
    uint64_t max_index = 0, idx;
    for (int i = 0; i < 100; i++) {
        if (td_endpoint_add(dc, i, &idx, &e) != 0)
            fail_msg("endpoint %d: %s", i, e.msg);
        max_index = idx > max_index ? idx : max_index;
    }

    /* ---- node 4 starts empty and waits */
    C.node[3].join = true;
    td_start(&C, 3);
    strata_env *st = NULL;
    struct member_pred up = {.node = 3};
    (void)up;
    /* it answers status but knows no leader and is no member yet */
    for (uint64_t dl = h_now_ms() + 5000; st == NULL && h_now_ms() < dl;)
        st = td_status(C.node[3].api);
    assert_non_null(st);
    assert_int_equal(st->cluster_status_reply->leader_id, 0);
    strata_msg_free(st);

    /* ---- ClusterAdd through a follower (forwarded to the leader) */
    int fi = td_index_of(&C, leader == 1 ? 2 : 1);
    struct strata_dirclient *fc;
    assert_int_equal(strata_dirclient_open(C.node[fi].api, &fc, &e), 0);
    Strata__V1__ClusterAdd ca = STRATA__V1__CLUSTER_ADD__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    ca.id = 4;
    ca.raft = C.node[3].raft;
    ca.api = C.node[3].api;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD;
    req.cluster_add = &ca;
    if (cluster_cmd(fc, &req, &e) != 0)
        fail_msg("cluster add: %s", e.msg);
    strata_dirclient_close(fc);

    struct member_pred voter = {td_index_of(&C, leader), 4, "follower", 4};
    assert_true(h_wait_until(member_pred, &voter, 10000));
    assert_true(td_wait_leader(&C, 10000) > 0);
    /* node 4 serves reads holding all the data */
    strata_env *rep = td_list(C.node[3].api, max_index);
    assert_non_null(rep);
    assert_int_equal(rep->list_reply->n_endpoints, 100);
    assert_true(td_list_has(rep, NULL, 100));
    strata_msg_free(rep);
    /* and takes writes (forwarded when it is not the leader) */
    struct strata_dirclient *c4;
    assert_int_equal(strata_dirclient_open(C.node[3].api, &c4, &e), 0);
    if (td_endpoint_add(c4, 100, &idx, &e) != 0)
        fail_msg("write through node 4: %s", e.msg);
    strata_dirclient_close(c4);

    /* ---- remove a member that is not the leader */
    leader = td_wait_leader(&C, 10000);
    int victim = 0;
    for (int id = 1; id <= 3 && victim == 0; id++)
        if (id != leader)
            victim = id;
    Strata__V1__ClusterRemove cr = STRATA__V1__CLUSTER_REMOVE__INIT;
    strata__v1__envelope__init(&req);
    cr.id = (uint64_t)victim;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE;
    req.cluster_remove = &cr;
    if (cluster_cmd(dc, &req, &e) != 0)
        fail_msg("cluster remove %d: %s", victim, e.msg);
    struct member_pred three = {td_index_of(&C, leader), 0, NULL, 3};
    assert_true(h_wait_until(member_pred, &three, 10000));
    td_stop(&C, td_index_of(&C, victim));
    strata_dirclient_close(dc);
    td_urls(&C, 0, urls, sizeof(urls));
    assert_int_equal(strata_dirclient_open(urls, &dc, &e), 0);

    /* ---- transfer leadership to a chosen node (node 4, the newcomer) */
    int target = leader == 4 ? (victim == 1 ? 2 : 1) : 4;
    if (target == leader)
        target = 3;
    Strata__V1__ClusterTransfer ct = STRATA__V1__CLUSTER_TRANSFER__INIT;
    strata__v1__envelope__init(&req);
    ct.id = (uint64_t)target;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER;
    req.cluster_transfer = &ct;
    if (cluster_cmd(dc, &req, &e) != 0)
        fail_msg("cluster transfer to %d: %s", target, e.msg);
    assert_int_equal(td_wait_leader(&C, 10000), target);
    /* the new leader takes writes */
    if (td_endpoint_add(dc, 101, &idx, &e) != 0)
        fail_msg("write after transfer: %s", e.msg);
    strata_dirclient_close(dc);
    for (int i = 0; i < 4; i++)
        if (C.node[i].pid > 0)
            td_stop(&C, i);
}

struct applied_pred {
    int node;
    uint64_t index;
};

static bool applied_pred(void *arg)
{
    struct applied_pred *a = arg;
    strata_env *r = td_status(C.node[a->node].api);
    bool ok = r != NULL && r->cluster_status_reply->self->applied_index >= a->index;
    strata_msg_free(r);
    return ok;
}

/* Some running node leads and its status marks member `victim` unreachable; `leader` (out) is
 * that node's id. Asks every running node: under load a heartbeat can be late enough for another
 * node to win an election while the test waits. */
struct marked_pred {
    int victim, leader;
};

static bool marked_pred(void *arg)
{
    struct marked_pred *m = arg;
    for (int i = 0; i < TD_MAX_NODES; i++) {
        if (C.node[i].pid <= 0)
            continue;
        struct member_pred mp = {.node = i, .id = m->victim, .role = "unreachable", .members = 5};
        if (member_pred(&mp)) { /* only a leader marks a member unreachable */
            m->leader = C.node[i].id;
            return true;
        }
    }
    return false;
}

/* libraft's own pick for a hand-off is the first up-to-date voter in configuration order: here
 * that is a follower killed while up to date, and the leader would stop without a hand-off. */
static void test_handoff_skips_stopped_voter(void **state)
{
    (void)state;
    td_init(&C, 5, "dir-handoff");
    for (int i = 0; i < 5; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;
    uint64_t idx = 0;
    if (td_endpoint_add(dc, 1, &idx, &e) != 0)
        fail_msg("endpoint: %s", e.msg);
    strata_dirclient_close(dc);
    for (int i = 0; i < 5; i++) {
        struct applied_pred ap = {.node = i, .index = idx};
        assert_true(h_wait_until(applied_pred, &ap, 10000));
    }

    int victim = leader == 1 ? 2 : 1; /* the first voter in the configuration */
    td_kill9(&C, td_index_of(&C, victim));
    /* the leader's status marks it unreachable once it has not answered for a while */
    struct marked_pred mk = {.victim = victim};
    assert_true(h_wait_until(marked_pred, &mk, 5000));
    if (mk.leader != leader) /* then libraft's own pick may have been an answering node too */
        print_message("leadership moved from %d to %d meanwhile\n", leader, mk.leader);
    leader = mk.leader;
    int li = td_index_of(&C, leader);

    td_stop(&C, li);
    uint64_t to = 0;
    if (td_log_scan(C.node[li].log, "leadership handed off before stopping: leader=", &to, 1) != 1)
        fail_msg("leader %d stopped without a hand-off (log %s)", leader, C.node[li].log);
    assert_true(to != (uint64_t)victim && to != (uint64_t)leader && to >= 1 && to <= 5);
    assert_int_equal(td_wait_leader(&C, 10000), (int)to);
    for (int i = 0; i < 5; i++)
        if (C.node[i].pid > 0)
            td_stop(&C, i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_membership),
                                       cmocka_unit_test(test_handoff_skips_stopped_voter)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

/* test_dir_restart_reads.c - a directory node restarted after kill -9 never serves a read older
 * than one it served before (issue 23: the fault harness saw a node answer a key at version
 * 21,844 after answering it at 28,261 before its restart). After a restart a node applies its log
 * again only once a leader says what is committed; here the other two nodes are paused, so no
 * leader can: the restarted node must not answer from its empty state meanwhile, and must answer
 * with everything once they are back. */
#include "test_dir_common.h"

#include <signal.h>

#define N_EPS 20

static struct td_cluster C;

/* One ListRequest of VNI 100's endpoints to url; the reply (any status), NULL when none came. */
static strata_env *list_any(const char *url, unsigned timeout_ms)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    lr.vni = TD_VNI;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    struct strata_sclient *cl;
    struct strata_err e;
    strata_env *rep = NULL;
    if (strata_sclient_open(url, &cl, &e) != 0)
        return NULL;
    if (strata_sclient_call(cl, &req, timeout_ms, &rep, &e) != 0)
        rep = NULL;
    strata_sclient_close(cl);
    return rep;
}

static void test_restarted_node_never_goes_back(void **state)
{
    (void)state;
    td_init(&C, 3, "restart-reads");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    uint64_t index = 0;
    for (int i = 0; i < N_EPS; i++)
        assert_int_equal(td_endpoint_add(dc, i, &index, &(struct strata_err){0}), 0);
    strata_dirclient_close(dc);
    int f = (td_index_of(&C, leader) + 1) % 3; /* a follower */
    strata_env *rep = td_list(C.node[f].api, index);
    assert_non_null(rep);
    assert_true(td_list_has(rep, NULL, N_EPS)); /* served: all 20 */
    strata_msg_free(rep);

    td_kill9(&C, f);
    for (int i = 0; i < 3; i++)
        if (i != f)
            kill(C.node[i].pid, SIGSTOP);
    td_start(&C, f);
    /* Its API comes up; every answer it gives before a leader speaks must hold all 20, or be a
     * refusal. */
    int answered = 0, refused = 0;
    uint64_t until = h_now_ms() + 3000;
    while (h_now_ms() < until) {
        rep = list_any(C.node[f].api, 2500);
        if (rep == NULL)
            continue; /* not listening yet */
        if (rep->status == 0) {
            if (!td_list_has(rep, NULL, N_EPS))
                fail_msg("node %d answered %zu endpoints after its restart, after 20 before",
                         C.node[f].id, rep->list_reply->n_endpoints);
            answered++;
        } else {
            assert_int_equal(rep->status, STRATA_EUNAVAIL);
            assert_non_null(strstr(rep->message, "restarted and is catching up"));
            refused++;
        }
        strata_msg_free(rep);
    }
    fprintf(stderr, "while alone: %d refused, %d answered\n", refused, answered);
    assert_true(refused > 0);
    for (int i = 0; i < 3; i++)
        if (i != f)
            kill(C.node[i].pid, SIGCONT);
    /* a leader again: the node catches up and answers with everything */
    uint64_t deadline = h_now_ms() + 15000;
    for (;;) {
        rep = list_any(C.node[f].api, 2500);
        if (rep != NULL && rep->status == 0) {
            assert_true(td_list_has(rep, NULL, N_EPS));
            strata_msg_free(rep);
            break;
        }
        if (rep != NULL)
            strata_msg_free(rep);
        assert_true(h_now_ms() < deadline);
    }
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    assert_int_equal(td_log_count(C.node[f].log, "caught up to index"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restarted_node_never_goes_back),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

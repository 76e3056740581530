/* test_dir_any_body.c - every message type the schema has, valid as far as decoding goes, sent
 * to every node of a running strata-dird cluster, and bit-flipped variants of each to one node:
 * each must be answered (a reply type or a body the directory does not serve gets an error reply,
 * not silence or a crash), and afterwards the cluster must still agree on a leader and take a
 * write. The cluster-changing requests (add,
 * remove, transfer) are left to test_dir_membership. */
#include "test_dir_common.h"
#include "sweep.h"

static struct td_cluster C;

static bool changes_membership(int bc)
{
    return bc == STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD ||
           bc == STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE ||
           bc == STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER;
}

static void test_every_body_is_answered(void **state)
{
    (void)state;
    td_init(&C, 3, "dir-any-body");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    assert_true(td_wait_leader(&C, 15000) > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);

    unsigned refused = 0, variants = 0;
    for (int node = 0; node < 3; node++) {
        /* bit-flipped variants on the first node only: the handlers are the same */
        struct h_sweep sw = h_sweep_bodies(C.node[node].api, changes_membership, node == 0 ? 40 : 0,
                                           0x2545f4914f6cdd1dull);
        refused += sw.refused;
        variants += sw.variants;
        assert_true(h_alive(C.node[node].pid));
    }
    fprintf(stderr, "%u requests refused with a message\n", refused);
    /* the replies' own types are not requests: at least those were refused */
    assert_true(refused >= 3 * 10);
    fprintf(stderr, "%u variants answered\n", variants);
    assert_true(variants > 100);

    assert_true(td_wait_leader(&C, 10000) > 0);
    struct strata_err e;
    uint64_t idx = 0;
    if (td_endpoint_add(dc, 1, &idx, &e) != 0)
        fail_msg("write after the sweep: %s", e.msg);
    strata_dirclient_close(dc);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_body_is_answered)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

/* test_dir_snapshot_bytes.c - snapshots by size as well as by count: with --snapshot-bytes
 * small, a node snapshots long before --snapshot-threshold entries (16384 here), so the log a
 * client can grow with large entries is bounded by bytes. */
#include "test_dir_common.h"

static struct td_cluster C;

static void test_snapshot_by_bytes(void **state)
{
    (void)state;
    td_init(&C, 1, "dir-snap-bytes");
    C.extra[0] = "--snapshot-bytes";
    C.extra[1] = "65536";
    td_start(&C, 0);
    assert_true(td_wait_leader(&C, 15000) > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;
    uint64_t snap[2] = {0, 0}, t = 0;
    int i = 0;
    /* small entries (~50 bytes): 65536 bytes make ~1300, rounded down to 1024 */
    for (; i < 30000 && td_log_scan(C.node[0].log, "snapshot taken applied=", snap, 2) < 2; i++) {
        uint64_t idx;
        if (td_endpoint_add(dc, i, &idx, &e) != 0)
            fail_msg("endpoint %d: %s", i, e.msg);
    }
    td_log_scan(C.node[0].log, "snapshot threshold now ", &t, 1);
    fprintf(stderr, "%d writes; threshold %llu; snapshots at %llu and %llu\n", i,
            (unsigned long long)t, (unsigned long long)snap[0], (unsigned long long)snap[1]);
    if (snap[1] == 0 || t == 0)
        fail_msg("no threshold by bytes or fewer than two snapshots after %d writes (log %s)", i,
                 C.node[0].log);
    assert_true(t < 16384);
    /* one entry per write here, and a snapshot is asked for once the threshold is reached */
    assert_true(snap[1] - snap[0] <= t + 16);
    strata_dirclient_close(dc);
    td_stop(&C, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_by_bytes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

/* test_dir_no_quorum.c - a 3-node directory with two nodes killed: the survivor cannot elect a
 * leader, and a write from the CLI says so ("no leader: the directory has no quorum"), at once
 * rather than as a timeout at the end of --timeout-ms. */
#include "test_dir_common.h"

#include <time.h>

#include "loop.h"

static struct td_cluster C;

/* The survivor reports no leader in its cluster status. */
static bool leaderless(void *arg)
{
    const char *url = arg;
    strata_env *rep = td_status(url);
    bool none = rep != NULL && rep->cluster_status_reply != NULL &&
                rep->cluster_status_reply->leader_id == 0;
    strata_msg_free(rep);
    return none;
}

static void test_no_quorum(void **state)
{
    (void)state;
    td_init(&C, 3, "dir-no-quorum");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    char all[512];
    td_urls(&C, 0, all, sizeof(all));

    /* kill the leader and one follower */
    int li = td_index_of(&C, leader);
    int other = (li + 1) % 3, survivor = (li + 2) % 3;
    td_kill9(&C, li);
    td_kill9(&C, other);
    assert_true(h_wait_until(leaderless, C.node[survivor].api, 10000));
    /* past the two election timeouts (300 ms here) after which a node says "no quorum" */
    nanosleep(&(struct timespec){.tv_nsec = 800 * 1000000L}, NULL);

    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof(cmd), "%s --directory %s --timeout-ms 5000 domain create acme 2>&1",
             h_bin("strata"), all);
    uint64_t t0 = strata_now_ms();
    int st = h_run(cmd, &out);
    uint64_t ms = strata_now_ms() - t0;
    if (st != 1 || strstr(out, "strata: write: no leader: the directory has no quorum (1 of 3 "
                               "nodes answer") == NULL)
        fail_msg("exit %d after %llu ms: %s", st, (unsigned long long)ms, out);
    if (ms > 2000)
        fail_msg("took %llu ms: %s", (unsigned long long)ms, out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_quorum)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}

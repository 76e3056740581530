/* systest_node_dp_kernel.c - the kernel datapath against a real kernel, in a private network
 * namespace (unshare: nothing to clean up, the namespace dies with the process). Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "node_dp.h"

static struct strata_ip IP(const char *s) {
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static void
sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

struct got {
    struct node_dp_miss m;
    int n;
    char want;
};

static void on_miss(void *arg, const struct node_dp_miss *m, bool overrun)
{
    struct got *g = arg;
    if (!overrun && m != NULL && g->n == 0 && m->kind == g->want) {
        g->m = *m;
        g->n = 1;
    }
}

/* Poke traffic at dst (UDP) until a miss of `kind` arrives, up to 3 s. */
static bool wait_miss(struct node_dp_kernel *k, const char *dst, char kind, struct got *g)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, dst, &sa.sin_addr);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        (void)sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
        struct node_dp dp = node_dp_kernel(k);
        struct pollfd p = {.fd = dp.ops->miss_fd(dp.ctx), .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            g->n = 0;
            g->want = kind;
            assert_int_equal(dp.ops->miss_read(dp.ctx, on_miss, g, NULL), 0);
            if (g->n && g->m.kind == kind)
                break;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 3) {
            close(s);
            return false;
        }
    }
    close(s);
    return true;
}

static void test_kernel_dp(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    assert_int_equal(unshare(CLONE_NEWNET), 0);
    sh("ip link set lo up && ip link add und0 type bridge && ip addr add 192.0.2.1/24 dev und0 "
       "&& ip link set und0 up");
    struct node_dp_kernel_opts o = {
        .vtep = IP("192.0.2.1"), .underlay_dev = "und0", .netns_fd = -1};
    struct node_dp_kernel *k;
    struct strata_err e;
    assert_int_equal(node_dp_kernel_new(&o, &k, &e), 0);
    struct node_dp dp = node_dp_kernel(k);
    assert_int_equal(dp.ops->vn_ensure(dp.ctx, 100, &e), 0);
    assert_int_equal(dp.ops->vn_ensure(dp.ctx, 100, &e), 0); /* idempotent */
    sh("ip -d link show vx100 | grep -q 'vxlan id 100 local 192.0.2.1 dev und0'");
    sh("ip -d link show vx100 | grep -q 'nolearning proxy l2miss l3miss'");
    sh("ip link show vx100 | grep -q 'master br100'");
    sh("ip link add vm0 type veth peer name vm0h && ip addr add 10.1.0.1/24 dev vm0 && ip link "
       "set vm0 address 02:00:00:00:01:01 && ip link set vm0 up");
    assert_int_equal(dp.ops->port_enslave(dp.ctx, 100, "vm0h", &e), 0);
    sh("ip link show vm0h | grep -q 'master br100'");

    /* l3miss: an ARP for an unknown IP reaches us as RTM_GETNEIGH on vx100. */
    struct got g = {0};
    assert_true(wait_miss(k, "10.1.0.9", 'i', &g));
    assert_int_equal(g.m.vni, 100);
    struct strata_ip ip9 = IP("10.1.0.9");
    assert_true(strata_ip_equal(&g.m.ip, &ip9));

    /* Answer it: neighbour entry; the VM's ARP then resolves; the unicast frame to that MAC
     * has no FDB entry (and no flood entry) -> l2miss. */
    uint8_t mac9[6] = {2, 0, 0, 0, 0, 9};
    assert_int_equal(dp.ops->neigh_set(dp.ctx, 100, &ip9, mac9, &e), 0);
    sh("ip neigh show dev vx100 | grep -q '10.1.0.9 lladdr 02:00:00:00:00:09 PERMANENT proto "
       "171'");
    assert_true(wait_miss(k, "10.1.0.9", 'm', &g));
    assert_memory_equal(g.m.mac, mac9, 6);
    sh("ip neigh show dev vm0 | grep -q '10.1.0.9 lladdr 02:00:00:00:00:09'");

    struct strata_ip v2 = IP("192.0.2.2"), v3 = IP("192.0.2.3");
    assert_int_equal(dp.ops->fdb_set(dp.ctx, 100, mac9, &v2, &e), 0);
    assert_int_equal(dp.ops->fdb_set(dp.ctx, 100, mac9, &v3, &e), 0); /* replace: a move */
    sh("bridge fdb show dev vx100 | grep -q '02:00:00:00:00:09 dst 192.0.2.3 self extern_learn "
       "permanent'");
    struct strata_ip fl[2] = {v2, v3};
    assert_int_equal(dp.ops->flood_set(dp.ctx, 100, fl, 2, &e), 0);
    assert_int_equal(dp.ops->flood_set(dp.ctx, 100, fl + 1, 1, &e), 0);
    sh("bridge fdb show dev vx100 | grep '00:00:00:00:00:00' | grep -q 'dst 192.0.2.3'");
    sh("! bridge fdb show dev vx100 | grep '00:00:00:00:00:00' | grep -q 'dst 192.0.2.2'");

    /* Someone else's entries: not in the owned dump. */
    sh("ip neigh add 10.1.0.50 lladdr 02:00:00:00:00:50 dev vx100 nud permanent");
    sh("bridge fdb add 02:00:00:00:00:50 dev vx100 dst 192.0.2.7 self permanent");
    struct node_dp_dump d;
    assert_int_equal(dp.ops->dump_owned(dp.ctx, &d, &e), 0);
    assert_int_equal(d.n_vnis, 1);
    assert_int_equal(d.vnis[0], 100);
    assert_int_equal(d.n_neigh, 1);
    assert_int_equal(d.n_fdb, 1);
    assert_true(strata_ip_equal(&d.fdb[0].vtep, &v3));
    assert_int_equal(d.n_flood, 1);
    node_dp_dump_free(&d);

    char buf[128];
    assert_true(dp.ops->describe_ip(dp.ctx, 100, &ip9, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "192.0.2.3"));

    assert_int_equal(dp.ops->neigh_del(dp.ctx, 100, &ip9, &e), 0);
    assert_int_equal(dp.ops->neigh_del(dp.ctx, 100, &ip9, &e), 0); /* absent: fine */
    assert_int_equal(dp.ops->fdb_del(dp.ctx, 100, mac9, &e), 0);
    sh("! bridge fdb show dev vx100 | grep 02:00:00:00:00:09 | grep -q self");
    assert_int_equal(dp.ops->port_release(dp.ctx, 100, "vm0h", &e), 0);
    assert_int_equal(dp.ops->vn_release(dp.ctx, 100, &e), 0);
    sh("! ip link show vx100 2>/dev/null && ! ip link show br100 2>/dev/null");
    node_dp_kernel_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kernel_dp)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_gateway.c - L3 gateways on the real kernel: two VNs of one domain routed through a
 * gateway pair under policy, a VN of another domain with the same subnet, failover of the active
 * gateway, and a gateway restart. Namespaces: infra (directory, two csds), hosts h1, h2, h3,
 * gateways gw1, gw2 (and their domain namespaces), VMs. Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "topo.h"

static struct topo T;
static struct topo_node *h1, *h2, *h3, *gw1, *gw2;

/* A setup step: says which one failed. */
static bool step(bool ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "setup: %s failed\n", what);
    return ok;
}

/* VMs: va (VN 100, h1) and vd (VN 100, h2); vb (VN 200, h2); vc (VN 300 of another domain, h3,
 * the same subnet as VN 100). */
static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || topo_start(&T, "gateway") != 0)
        return -1;
    if ((h1 = topo_node(&T, "h1", false)) == NULL || (h2 = topo_node(&T, "h2", false)) == NULL ||
        (gw1 = topo_node(&T, "gw1", true)) == NULL || (gw2 = topo_node(&T, "gw2", true)) == NULL ||
        (h3 = topo_node(&T, "h3", false)) == NULL)
        return -1;
    const char *prov[] = {
        "domain create acme",
        "domain create other",
        "vnet create --vni 100 --domain acme",
        "vnet create --vni 200 --domain acme",
        "vnet create --vni 300 --domain other",
        "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1",
        "subnet create --vni 200 --cidr 10.2.0.0/24 --gateway 10.2.0.1",
        "subnet create --vni 300 --cidr 10.1.0.0/24 --gateway 10.1.0.1",
        "gateway add --id gw1 --vtep 192.0.2.3 --vni 100,200,300",
        "gateway add --id gw2 --vtep 192.0.2.4 --vni 100,200,300",
    };
    for (size_t i = 0; i < sizeof(prov) / sizeof(prov[0]); i++)
        if (topo_provision(&T, "%s", prov[i]) != 0)
            return -1;
    struct topo_node *all[] = {h1, h2, h3, gw1, gw2};
    for (size_t i = 0; i < 5; i++)
        if (!step(topo_node_start(&T, all[i]) == 0, all[i]->name))
            return -1;
    if (!step(
            topo_vm(&T, "va", h1, "tva", "02:00:00:00:01:05", "10.1.0.5/24", "10.1.0.1") == 0 &&
                topo_vm(&T, "vd", h2, "tvd", "02:00:00:00:01:06", "10.1.0.6/24", "10.1.0.1") == 0 &&
                topo_vm(&T, "vb", h2, "tvb", "02:00:00:00:02:07", "10.2.0.7/24", "10.2.0.1") == 0 &&
                topo_vm(&T, "vc", h3, "tvc", "02:00:00:00:03:07", "10.1.0.7/24", "10.1.0.1") == 0,
            "VM namespaces") ||
        !step(topo_attach(&T, h1, 100, "tva", "02:00:00:00:01:05", "10.1.0.5/24") == 0 &&
                  topo_attach(&T, h2, 100, "tvd", "02:00:00:00:01:06", "10.1.0.6/24") == 0 &&
                  topo_attach(&T, h2, 200, "tvb", "02:00:00:00:02:07", "10.2.0.7/24") == 0 &&
                  topo_attach(&T, h3, 300, "tvc", "02:00:00:00:03:07", "10.1.0.7/24") == 0,
              "port attach"))
        return -1;
    /* Both gateways have their VNs' interfaces up before the tests begin. */
    const char *gws[] = {"gw1", "gw2"};
    for (int i = 0; i < 2; i++)
        if (!step(topo_wait_cmd(10000,
                                "ip -n st-%s-acme addr show br200 2>/dev/null | grep -q 10.2.0.1",
                                gws[i]) &&
                      topo_wait_cmd(
                          10000, "ip -n st-%s-other addr show br300 2>/dev/null | grep -q 10.1.0.1",
                          gws[i]),
                  gws[i]))
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_cleanup();
    topo_cleanup();
    return 0;
}

/* Up to timeout_ms: the first of three consecutive lost echoes, in ms from now; -1 if none. */
static int blocked_within(const char *vm, const char *dst, int timeout_ms)
{
    uint64_t t0 = h_now_ms();
    while ((int)(h_now_ms() - t0) < timeout_ms)
        if (topo_ping(&T, vm, dst, 3, 0, 100) == 0)
            return (int)(h_now_ms() - t0);
    return -1;
}

static void policy(const char *args)
{
    TOPO_SH("%s policy %s", topo_cli(&T), args);
}

static void test_denied_until_allowed(void **state)
{
    (void)state;
    /* Within a VN, and to the VN's own gateway: fine from the start. */
    assert_true(topo_reach_within(&T, "va", "10.1.0.6", 3000) >= 0);
    assert_true(topo_reach_within(&T, "va", "10.1.0.1", 3000) >= 0);
    /* Between VNs: nothing while no policy allows it. */
    assert_int_equal(topo_ping(&T, "va", "10.2.0.7", 3, 100, 300), 0);
    assert_int_equal(topo_ping(&T, "vb", "10.1.0.5", 3, 100, 300), 0);
    /* Nor to the other VN's gateway address (the gateway's input chain). */
    assert_int_equal(topo_ping(&T, "va", "10.2.0.1", 2, 100, 300), 0);

    policy("set --domain acme --from 100 --to 200 allow");
    int took = topo_reach_within(&T, "va", "10.2.0.7", 1000);
    print_message("allow 100->200: va reaches vb after %d ms\n", took);
    assert_true(took >= 0);
    assert_int_equal(topo_ping(&T, "va", "10.2.0.7", 5, 50, 500), 5);
    /* The reverse direction may not initiate. */
    assert_int_equal(topo_ping(&T, "vb", "10.1.0.5", 3, 100, 300), 0);
    assert_int_equal(topo_ping(&T, "va", "10.1.0.6", 3, 50, 500), 3);

    policy("set --domain acme --from 100 --to 200 deny");
    took = blocked_within("va", "10.2.0.7", 1000);
    print_message("deny 100->200: blocked after %d ms\n", took);
    assert_true(took >= 0);
    assert_int_equal(topo_ping(&T, "va", "10.1.0.6", 3, 50, 500), 3);
}

/* Whether gw's kernel lets VN from_br initiate to to_br now (one look, no retry). */
static bool pair_installed(const struct topo_node *g, const char *pair)
{
    return topo_sh(NULL, "ip netns exec st-%s-acme nft list map inet strata pairs | grep -qF '%s'",
                   g->name, pair) == 0;
}

/* policy set --wait returns once both gateways serving the VNs have the rule in their kernel:
 * looked at once, right after it returns. */
static void test_policy_set_wait(void **state)
{
    (void)state;
    const char *pair = "\"br200\" . \"br100\"";
    assert_false(pair_installed(gw1, pair));
    char *out = NULL;
    int rc = topo_sh(&out,
                     "%s policy set --domain acme --from 200 --to 100 allow --wait 5s --cs %s 2>&1",
                     topo_cli(&T), T.cs_url);
    bool g1 = pair_installed(gw1, pair), g2 = pair_installed(gw2, pair);
    print_message("policy set --wait: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "applied on 2 holders"));
    assert_true(g1);
    assert_true(g2);
    free(out);
    /* Back to the state the other tests expect. */
    policy("delete --domain acme --from 200 --to 100");
    assert_true(
        topo_wait_cmd(3000,
                      "! ip netns exec st-gw1-acme nft list map inet strata pairs | grep -qF "
                      "'%s' && ! ip netns exec st-gw2-acme nft list map inet strata pairs "
                      "| grep -qF '%s'",
                      pair, pair));
}

static void test_domains_isolated(void **state)
{
    (void)state;
    policy("set --domain acme --from 100 --to 200 allow");
    policy("set --domain acme --from 200 --to 100 allow");
    assert_true(topo_reach_within(&T, "vb", "10.1.0.5", 2000) >= 0);
    /* Cross-domain policy is refused, however it is spelled. */
    char *out = NULL;
    assert_int_not_equal(
        topo_sh(&out, "%s policy set --domain acme --from 100 --to 300 allow 2>&1", topo_cli(&T)),
        0);
    free(out);
    assert_int_not_equal(
        topo_sh(&out, "%s policy set --domain other --from 300 --to 200 allow 2>&1", topo_cli(&T)),
        0);
    free(out);
    /* vc (VN 300, 10.1.0.7) is never reached: not from VN 200 through the gateway (10.1.0.7 is
     * looked up in VN 100 of acme), and vc reaches neither acme VN. */
    assert_int_equal(topo_ping(&T, "vb", "10.1.0.7", 3, 100, 300), 0);
    assert_int_equal(topo_ping(&T, "vc", "10.2.0.7", 3, 100, 300), 0);
    assert_int_equal(topo_ping(&T, "vc", "10.1.0.5", 3, 100, 300), 0);
    /* Its own gateway answers: the other domain's namespace routes for it alone. */
    assert_true(topo_reach_within(&T, "vc", "10.1.0.1", 3000) >= 0);
    TOPO_SH(
        "ip -n st-gw1-other route | grep -q 10.1.0.0/24 && ! ip -n st-gw1-other route | grep -q "
        "10.2.0.0");
    policy("delete --domain acme --from 200 --to 100");
    assert_true(blocked_within("vb", "10.1.0.5", 1000) >= 0);
}

/* Which gateway holds VN 100's gateway address now ("gw1" or "gw2"). */
static struct topo_node *holder(void)
{
    char *out = NULL;
    assert_int_equal(topo_sh(&out, "%s --json gateway list", topo_cli(&T)), 0);
    /* "holds":[{"vni":100,...}] appears inside the holder's object. */
    char *g1 = strstr(out, "\"id\":\"gw1\""), *g2 = strstr(out, "\"id\":\"gw2\"");
    assert_non_null(g1);
    assert_non_null(g2);
    char *h = strstr(out, "\"vni\":100");
    assert_non_null(h);
    struct topo_node *n = (g1 < g2) ? (h > g2 ? gw2 : gw1) : (h > g1 ? gw1 : gw2);
    free(out);
    return n;
}

/* A pinger in the background: echoes every interval_ms for count; returns its pid and a pipe
 * that will carry (answered, longest gap in ms). */
struct pinger {
    pid_t pid;
    int fd;
};

static struct pinger pinger_start(const char *vm, const char *dst, int count, int interval_ms)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int got = 0, gap = 0;
        uint64_t last = h_now_ms();
        for (int i = 0; i < count; i++) {
            uint64_t t0 = h_now_ms();
            if (topo_ping(&T, vm, dst, 1, 0, interval_ms) == 1) {
                got++;
                if ((int)(h_now_ms() - last) > gap)
                    gap = (int)(h_now_ms() - last);
                last = h_now_ms();
            }
            int rest = interval_ms - (int)(h_now_ms() - t0);
            if (rest > 0)
                usleep((useconds_t)rest * 1000);
        }
        int r[2] = {got, gap};
        _exit(write(fds[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    return (struct pinger){pid, fds[0]};
}

static void pinger_wait(struct pinger p, int *got, int *gap)
{
    int r[2] = {-1, -1};
    assert_int_equal(read(p.fd, r, sizeof(r)), sizeof(r));
    close(p.fd);
    waitpid(p.pid, NULL, 0);
    *got = r[0];
    *gap = r[1];
}

static void test_failover(void **state)
{
    (void)state;
    policy("set --domain acme --from 100 --to 200 allow");
    assert_true(topo_reach_within(&T, "va", "10.2.0.7", 2000) >= 0);
    struct topo_node *active = holder(), *other = active == gw1 ? gw2 : gw1;
    struct pinger p = pinger_start("va", "10.2.0.7", 150, 20); /* 3 s */
    usleep(500 * 1000);
    /* kill -9, then its underlay link down: the dead daemon's kernel would go on forwarding,
     * and the flow must resume through the other gateway. */
    topo_node_stop(active, true);
    TOPO_SH("ip -n %s link set eth0 down", active->ns);
    int got, gap;
    pinger_wait(p, &got, &gap);
    print_message("failover: kill -9 %s and its link down, longest gap %d ms, %d of 150 "
                  "answered\n",
                  active->name, gap, got);
    assert_true(gap < 3000);
    assert_true(got > 0);
    assert_true(holder() == other);
    assert_int_equal(topo_ping(&T, "va", "10.2.0.7", 5, 50, 500), 5);
    /* The killed gateway comes back as the standby (the address stays where it is). */
    TOPO_SH("ip -n %s link set eth0 up", active->ns);
    assert_int_equal(topo_node_start(&T, active), 0);
    assert_true(topo_wait_cmd(5000,
                              "%s --json gateway list | grep -q '\"id\":\"%s\"[^}]*\"live\":true'",
                              topo_cli(&T), active->name));
    assert_true(holder() == other);
}

static void test_restart_keeps_and_prunes(void **state)
{
    (void)state;
    /* One gateway left: its restart must not break the flow it carries. */
    struct topo_node *g = holder(), *other = g == gw1 ? gw2 : gw1;
    topo_node_stop(other, false);
    policy("set --domain acme --from 100 --to 200 allow");
    policy("set --domain acme --from 200 --to 100 allow");
    assert_true(topo_wait_cmd(2000,
                              "ip netns exec st-%s-acme nft list map inet strata pairs | grep -q "
                              "'\"br200\" . \"br100\"'",
                              g->name));
    struct pinger p = pinger_start("va", "10.2.0.7", 150, 20);
    usleep(300 * 1000);
    topo_node_stop(g, false);
    /* While it is down: a rule and a whole VN (of the other domain) go. */
    policy("delete --domain acme --from 200 --to 100");
    TOPO_SH("%s gateway add --id %s --vtep %s --vni 100,200 --replace", topo_cli(&T), g->name,
            g->vtep);
    assert_int_equal(topo_node_start(&T, g), 0);
    int got, gap;
    pinger_wait(p, &got, &gap);
    print_message("restart of %s: %d of 150 answered, longest gap %d ms\n", g->name, got, gap);
    assert_true(got >= 147);
    /* What became stale went; what was right stayed. */
    assert_true(topo_wait_cmd(3000,
                              "! ip netns exec st-%s-acme nft list map inet strata pairs | "
                              "grep -q '\"br200\" . \"br100\"'",
                              g->name));
    TOPO_SH(
        "ip netns exec st-%s-acme nft list map inet strata pairs | grep -q '\"br100\" . \"br200\"'",
        g->name);
    assert_true(topo_wait_cmd(3000, "! test -e /run/netns/st-%s-other", g->name));
    assert_int_equal(topo_ping(&T, "va", "10.2.0.7", 3, 50, 500), 3);
}

static void test_operations(void **state)
{
    (void)state;
    struct topo_node *g = holder();
    char *out = NULL;
    assert_int_equal(topo_sh(&out, "%s --json cache show --agent %s", topo_cli(&T), g->ctl), 0);
    assert_non_null(strstr(out, "ip 10.2.0.7")); /* resolved on a miss in VN 200 */
    free(out);
    assert_int_equal(topo_sh(&out, "%s --json gateway list", topo_cli(&T)), 0);
    assert_non_null(strstr(out, "\"live\""));
    assert_non_null(strstr(out, "\"holds\""));
    free(out);
    /* Metrics: the pairs in the maps, the addresses, policy changes applied and their latency
     * (this daemon restarted in the test before: a change after its start). */
    policy("set --domain acme --from 200 --to 100 allow");
    assert_true(topo_wait_cmd(2000,
                              "ip netns exec st-%s-acme nft list map inet strata pairs | grep -q "
                              "'\"br200\" . \"br100\"'",
                              g->name));
    char *m = topo_metrics(g);
    assert_non_null(m);
    assert_true(h_metric(m, "strata_gw_rules") >= 1);
    assert_true(h_metric(m, "strata_gw_routes") >= 2); /* 10.1.0.1 and 10.2.0.1 at least */
    assert_true(h_metric(m, "strata_gw_policy_updates_total") >= 1);
    assert_true(h_metric(m, "strata_gw_policy_apply_seconds_count") >= 1);
    assert_true(h_metric(m, "strata_gw_misses_total") >= 0); /* the node library's, present */
    free(m);
    /* No host may take a gateway address. */
    assert_int_not_equal(topo_sh(&out,
                                 "%s endpoint add --vni 100 --mac 02:00:00:00:09:09 --ip "
                                 "10.1.0.1 --host h1 2>&1",
                                 topo_cli(&T)),
                         0);
    free(out);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("system tests need root: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denied_until_allowed),     cmocka_unit_test(test_domains_isolated),
        cmocka_unit_test(test_policy_set_wait),          cmocka_unit_test(test_failover),
        cmocka_unit_test(test_restart_keeps_and_prunes), cmocka_unit_test(test_operations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

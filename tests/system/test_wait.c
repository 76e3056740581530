/* test_wait.c - `--wait` on the real kernel datapath: an endpoint move returns only once every
 * host holding the endpoint has the new FDB entry in its kernel (checked once, right after the
 * command returns: no polling), and names the host whose agent is paused (SIGSTOP); a policy
 * set returns only once the gateway's kernel enforces it, though that gateway takes 400 ms to
 * fetch each VnInfo (STRATA_TEST_GW_FETCH_DELAY_MS, test-only): its acknowledgement waits for the
 * VnInfo to be applied. Topology from topo.h (TLS on): four hosts, a gateway (wgw1: gateway
 * namespaces are machine-wide, the name is this test's), three directory nodes, two
 * connectivity servers. Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "topo.h"

#define NHOST 4
#define MAC_A "02:00:00:00:01:01"
static struct topo T;

static void add_vm(const char *vm, int host, const char *ifname, const char *mac, const char *ip)
{
    char ipp[32];
    snprintf(ipp, sizeof(ipp), "%s/24", ip);
    assert_int_equal(topo_vm(&T, vm, &T.nodes[host], ifname, mac, ipp, NULL), 0);
    assert_int_equal(topo_attach(&T, &T.nodes[host], 100, ifname, mac, ipp), 0);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || topo_start(&T, "wait") != 0)
        return -1;
    for (int i = 0; i < NHOST; i++) {
        char name[8];
        snprintf(name, sizeof(name), "h%d", i + 1);
        if (topo_node(&T, name, false) == NULL)
            return -1;
    }
    if (topo_provision(&T, "domain create acme") != 0 ||
        topo_provision(&T, "vnet create --vni 100 --domain acme") != 0 ||
        topo_provision(&T, "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.254") != 0)
        return -1;
    for (int i = 0; i < NHOST; i++)
        if (topo_node_start(&T, &T.nodes[i]) != 0)
            return -1;
    /* The gateway, slow on purpose; a run killed before its cleanup leaves its namespace. */
    topo_sh(NULL, "ip netns del st-wgw1-acme 2>/dev/null");
    struct topo_node *gw = topo_node(&T, "wgw1", true);
    if (gw == NULL || topo_provision(&T, "vnet create --vni 200 --domain acme") != 0 ||
        topo_provision(&T, "subnet create --vni 200 --cidr 10.2.0.0/24 --gateway 10.2.0.254") !=
            0 ||
        topo_provision(&T, "gateway add --id wgw1 --vtep %s --vni 100,200", gw->vtep) != 0)
        return -1;
    setenv("STRATA_TEST_GW_FETCH_DELAY_MS", "400", 1);
    int rc = topo_node_start(&T, gw);
    unsetenv("STRATA_TEST_GW_FETCH_DELAY_MS");
    if (rc != 0 ||
        !topo_wait_cmd(10000,
                       "ip -n st-wgw1-acme addr show br200 2>/dev/null | grep -q 10.2.0.254"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* A paused agent would not die of SIGTERM: resume it first. */
    for (int i = 0; i < NHOST; i++)
        if (T.nodes[i].pid > 0)
            kill(T.nodes[i].pid, SIGCONT);
    h_cleanup();
    topo_cleanup();
    return 0;
}

/* `strata endpoint move` of A to host `to` with --wait `wait`; its exit status, output in *out. */
static int move_wait(const char *to, const char *wait, char **out)
{
    return topo_sh(out,
                   "%s endpoint move --vni 100 --mac " MAC_A " --host %s --wait %s --cs %s 2>&1",
                   topo_cli(&T), to, wait, T.cs_url);
}

/* Whether host i's kernel FDB sends A to `vtep` now (one look, no retry). */
static bool fdb_points(int i, const char *vtep)
{
    return topo_sh(NULL, "bridge -n %s fdb show dev vx100 | grep " MAC_A " | grep -q 'dst %s '",
                   T.nodes[i].ns, vtep) == 0;
}

static void test_move_waits_for_every_kernel(void **state)
{
    (void)state;
    /* A on h1; B on h2 and C on h3 talk to it, so both hosts hold A's keys. */
    add_vm("va", 0, "tva", MAC_A, "10.1.0.1");
    add_vm("vb", 1, "tvb", "02:00:00:00:01:02", "10.1.0.2");
    add_vm("vc", 2, "tvc", "02:00:00:00:01:03", "10.1.0.3");
    assert_true(topo_ping(&T, "vb", "10.1.0.1", 3, 300, 1000) >= 1);
    assert_true(topo_ping(&T, "vc", "10.1.0.1", 3, 300, 1000) >= 1);
    assert_true(fdb_points(1, "192.0.2.1"));
    assert_true(fdb_points(2, "192.0.2.1"));

    char *out = NULL;
    uint64_t t0 = h_now_ms();
    int rc = move_wait("h4", "5s", &out);
    uint64_t took = h_now_ms() - t0;
    /* Looked at once, right now: --wait promised it is already there. */
    bool h2 = fdb_points(1, "192.0.2.4"), h3 = fdb_points(2, "192.0.2.4");
    print_message("move --wait: exit %d after %llu ms: %s", rc, (unsigned long long)took, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "applied on "));
    assert_true(h2);
    assert_true(h3);
    free(out);
}

static void test_paused_agent_is_named(void **state)
{
    (void)state;
    assert_int_equal(kill(T.nodes[2].pid, SIGSTOP), 0); /* h3 */
    char *out = NULL;
    uint64_t t0 = h_now_ms();
    int rc = move_wait("h1", "2s", &out);
    uint64_t took = h_now_ms() - t0;
    bool h2 = fdb_points(1, "192.0.2.1"), h3 = fdb_points(2, "192.0.2.1");
    print_message("move --wait 2s, h3 paused: exit %d after %llu ms: %s", rc,
                  (unsigned long long)took, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "not applied on host h3"));
    assert_null(strstr(out, "host h2")); /* h2 applied it: not a straggler */
    assert_true(took >= 2000 && took < 6000);
    assert_true(h2);
    assert_false(h3); /* the paused agent could not have written it */
    free(out);

    /* Resumed, h3 catches up; the next write waited for succeeds on every holder. */
    assert_int_equal(kill(T.nodes[2].pid, SIGCONT), 0);
    out = NULL;
    rc = move_wait("h4", "10s", &out);
    h2 = fdb_points(1, "192.0.2.4");
    h3 = fdb_points(2, "192.0.2.4");
    print_message("move --wait after SIGCONT: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_true(h2);
    assert_true(h3);
    free(out);
}

/* The gateway's pair for 100 -> 200 is in its kernel now (one look). */
static bool pair_now(void)
{
    return topo_sh(NULL, "ip netns exec st-wgw1-acme nft list map inet strata pairs | "
                         "grep -qF '\"br100\" . \"br200\"'") == 0;
}

/* A gateway acknowledges a policy change only once its kernel enforces it: with each VnInfo
 * fetch delayed 400 ms, an acknowledgement sent on receipt would let --wait return before the
 * rule is in (checked once, right after the command returns). */
static void test_policy_wait_gateway(void **state)
{
    (void)state;
    assert_false(pair_now());
    char *out = NULL;
    uint64_t t0 = h_now_ms();
    int rc = topo_sh(&out,
                     "%s policy set --domain acme --from 100 --to 200 allow --wait 5s --cs %s 2>&1",
                     topo_cli(&T), T.cs_url);
    uint64_t took = h_now_ms() - t0;
    bool in = pair_now();
    print_message("policy set --wait (gateway fetch delayed 400 ms): exit %d after %llu ms: %s", rc,
                  (unsigned long long)took, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "applied on 1 holder"));
    assert_true(in);
    assert_true(took >= 400);
    free(out);
    out = NULL;
    rc = topo_sh(&out, "%s policy delete --domain acme --from 100 --to 200 --wait 5s --cs %s 2>&1",
                 topo_cli(&T), T.cs_url);
    in = pair_now();
    print_message("policy delete --wait: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_false(in);
    free(out);
}

static void test_wait_json_and_metric(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(topo_sh(&out,
                             "%s --json endpoint move --vni 100 --mac " MAC_A
                             " --host h1 --wait 5s --cs %s",
                             topo_cli(&T), T.cs_url),
                     0);
    print_message("%s", out);
    assert_non_null(strstr(out, "\"wait\""));
    assert_non_null(strstr(out, "\"wait\":{\"applied\":true"));
    assert_non_null(strstr(out, "{\"host\":\"h2\",\"server\":\"cs1\",\"applied\":true}"));
    assert_null(strstr(out, "\"applied\":false"));
    free(out);
    /* A change is measured when its last holder acknowledged it: the first move was (h3's
     * session at cs1, left when it failed over, holds the later ones until it idles out). */
    char *m = topo_scrape(T.infra, TOPO_CSD_METRICS_PORT);
    assert_non_null(m);
    char *c = strstr(m, "strata_cs_converge_endpoint_seconds_count ");
    assert_non_null(c);
    assert_true(strtoull(c + strlen("strata_cs_converge_endpoint_seconds_count "), NULL, 10) >= 1);
    free(m);
}

static void test_wait_usage(void **state)
{
    (void)state;
    char *out = NULL;
    /* A bad duration is refused before anything is written (usage: exit 2). */
    int rc =
        topo_sh(&out, "%s endpoint move --vni 100 --mac " MAC_A " --host h4 --wait 5x --cs %s 2>&1",
                topo_cli(&T), T.cs_url);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--wait 5x"));
    free(out);
    out = NULL;
    rc = topo_sh(&out,
                 "env -u STRATA_CS %s endpoint move --vni 100 --mac " MAC_A
                 " --host h4 --wait 5s 2>&1",
                 topo_cli(&T));
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "STRATA_CS"));
    free(out);
    /* Nothing was moved: A is still on h1 (the last move). */
    assert_int_equal(
        topo_sh(&out, "%s endpoint list --vni 100 | grep " MAC_A " | grep -q h1", topo_cli(&T)), 0);
    free(out);
}

/* Delete and add again with --wait: each returns with every holder's kernel in step (the
 * holders of a deleted key stay holders of its negative answer, so the add reaches them too). */
static void test_delete_and_add_wait(void **state)
{
    (void)state;
    char *out = NULL;
    /* Gone from the VXLAN device's table (a `dst` entry); the bridge may still remember the MAC
     * it learnt on vx100, which is not Strata's. */
    int rc = topo_sh(&out, "%s endpoint delete --vni 100 --mac " MAC_A " --wait 5s --cs %s 2>&1",
                     topo_cli(&T), T.cs_url);
    bool gone2 = topo_sh(NULL, "! bridge -n %s fdb show dev vx100 | grep " MAC_A " | grep -q dst",
                         T.nodes[1].ns) == 0;
    bool gone3 = topo_sh(NULL, "! bridge -n %s fdb show dev vx100 | grep " MAC_A " | grep -q dst",
                         T.nodes[2].ns) == 0;
    print_message("delete --wait: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_true(gone2);
    assert_true(gone3);
    free(out);
    out = NULL;
    rc = topo_sh(&out,
                 "%s endpoint add --vni 100 --mac " MAC_A
                 " --ip 10.1.0.1 --host h1 --wait 5s --cs %s 2>&1",
                 topo_cli(&T), T.cs_url);
    bool h2 = fdb_points(1, "192.0.2.1"), h3 = fdb_points(2, "192.0.2.1");
    print_message("add --wait: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_true(h2);
    assert_true(h3);
    free(out);
}

/* port attach --wait: the first port of VN 100 on h4 changes the VN's flood list; the attach
 * returns once every other host of the VN floods to h4 in its kernel. */
static void test_port_attach_wait(void **state)
{
    (void)state;
    assert_int_equal(
        topo_vm(&T, "ve", &T.nodes[3], "tve", "02:00:00:00:01:05", "10.1.0.5/24", NULL), 0);
    char *out = NULL;
    int rc = topo_sh(&out,
                     "%s port attach --agent %s --vni 100 --mac 02:00:00:00:01:05 --ip 10.1.0.5/24 "
                     "--ifname tve --wait 5s --cs %s 2>&1",
                     topo_cli(&T), T.nodes[3].ctl, T.cs_url);
    bool flood[3];
    for (int i = 0; i < 3; i++)
        flood[i] = topo_sh(NULL,
                           "bridge -n %s fdb show dev vx100 | grep '^00:00:00:00:00:00' | grep -q "
                           "'dst 192.0.2.4 '",
                           T.nodes[i].ns) == 0;
    print_message("port attach --wait: exit %d: %s", rc, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "applied on "));
    for (int i = 0; i < 3; i++)
        assert_true(flood[i]);
    free(out);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("system tests need root: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_move_waits_for_every_kernel),
        cmocka_unit_test(test_paused_agent_is_named),
        cmocka_unit_test(test_policy_wait_gateway),
        cmocka_unit_test(test_wait_json_and_metric),
        cmocka_unit_test(test_wait_usage),
        cmocka_unit_test(test_delete_and_add_wait),
        cmocka_unit_test(test_port_attach_wait),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

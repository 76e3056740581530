/* test_trace.c - `strata trace` on the real kernel: the right verdict for a working same-VN flow,
 * a routed flow (naming its gateway), a flow denied by policy (naming the rule or the default), a
 * flow to an address nobody holds, a flow whose source kernel holds a wrong FDB entry, no live
 * gateway and no source agent; golden `--minimal` and `--json` output. Namespaces: infra, hosts h1
 * h2, gateways tgw1 tgw2, VMs; two domains (acme: VNs 100, 200; other: VN 300). Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "topo.h"

static struct topo T;
static struct topo_node *h1, *h2, *tgw1, *tgw2;

/* What trace prints for a flow from va (10.1.0.5, VN 100, h1); `form` is "--minimal", "--json"
 * or "--summary"; gwctl: the control socket given as --gateway-ctl.
 * The fields that vary from run to run are normalised (ages, times, versions, leader). */
static char *trace(const char *form, const char *dst, const char *gwctl)
{
    char *out = NULL;
    int rc = topo_sh(&out,
                     "%s trace %s --vni 100 --src-ip 10.1.0.5 --dst-ip %s --agent %s "
                     "--gateway-ctl %s 2>&1 | sed -E "
                     "'s/\"(age_ms|elapsed_us|version)\":[0-9]+/\"\\1\":0/g; "
                     "s/version [0-9]+/version V/g; "
                     "s/member [0-9]+ \\(leader [0-9]+, applied [0-9]+\\)/member M/g; "
                     "s/:720[12]/:720X/g; s/\\([0-9]+ ms left\\)/(N ms left)/g; "
                     "s/server [0-9]+ us/server N us/g; s/per cs[12]/per csN/g'",
                     topo_cli(&T), form, dst, h1->ctl, gwctl);
    if (rc != 0)
        fail_msg("trace %s %s: exit %d: %s", form, dst, rc, out ? out : "");
    return out;
}

/* Print trace's default (detailed) output as it is, for the log (docs/debugging.md quotes it). */
static void show(const char *dst, const char *gwctl)
{
    char *out = NULL;
    (void)topo_sh(&out,
                  "%s trace --vni 100 --src-ip 10.1.0.5 --dst-ip %s --agent %s --gateway-ctl %s "
                  "2>&1",
                  topo_cli(&T), dst, h1->ctl, gwctl);
    fprintf(stderr, "$ strata trace --vni 100 --src-ip 10.1.0.5 --dst-ip %s\n%s", dst,
            out ? out : "");
    free(out);
}

/* The gateway that holds VN 100's gateway address, as trace names it (tgw1 or tgw2: whichever
 * registered first). The gateways are not named gw1, gw2: their domain namespaces
 * (st-NAME-DOMAIN) are global, and test_gateway's must not be taken for these. */
static struct topo_node *holder(void)
{
    uint64_t t0 = h_now_ms();
    do {
        char *o = trace("--json", "10.2.0.7", "/nonexistent");
        struct topo_node *g = strstr(o, "\"gateway\":\"tgw1\"")   ? tgw1
                              : strstr(o, "\"gateway\":\"tgw2\"") ? tgw2
                                                                  : NULL;
        free(o);
        if (g != NULL)
            return g;
        usleep(100 * 1000);
    } while (h_now_ms() - t0 < 5000);
    fail_msg("no gateway holds 10.1.0.1");
    return NULL;
}

/* Poll `--minimal` output until its verdict is `want` and it says `needle` (NULL: anything):
 * the tiers converge, and a directory follower may answer before it applied a change. */
static bool verdict_is(const char *dst, const char *gwctl, const char *want, const char *needle,
                       char **last)
{
    uint64_t t0 = h_now_ms();
    size_t n = strlen(want);
    do {
        free(*last);
        *last = trace("--minimal", dst, gwctl);
        if (strncmp(*last, want, n) == 0 && (*last)[n] == ':' &&
            (needle == NULL || strstr(*last, needle) != NULL))
            return true;
        usleep(100 * 1000);
    } while (h_now_ms() - t0 < 5000);
    return false;
}

#define EXPECT_VERDICT(dst, gw, want, needle)                                                      \
    do {                                                                                           \
        char *o_ = NULL;                                                                           \
        if (!verdict_is((dst), (gw), (want), (needle), &o_))                                       \
            fail_msg("trace to %s: want %s with \"%s\", got: %s", (dst), (want), (needle), o_);    \
        free(o_);                                                                                  \
    } while (0)

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || topo_start(&T, "trace") != 0)
        return -1;
    /* A run killed before its cleanup leaves its gateways' domain namespaces pinned: a gateway
     * would adopt their stale entries and policy. */
    topo_sh(NULL, "for n in $(ls /run/netns | grep '^st-tgw[12]-'); do ip netns del $n; done");
    if ((h1 = topo_node(&T, "h1", false)) == NULL || (h2 = topo_node(&T, "h2", false)) == NULL ||
        (tgw1 = topo_node(&T, "tgw1", true)) == NULL ||
        (tgw2 = topo_node(&T, "tgw2", true)) == NULL)
        return -1;
    const char *prov[] = {
        "domain create acme",
        "domain create other",
        "vnet create --vni 100 --domain acme",
        "vnet create --vni 200 --domain acme",
        "vnet create --vni 300 --domain other",
        "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1",
        "subnet create --vni 200 --cidr 10.2.0.0/24 --gateway 10.2.0.1",
        "subnet create --vni 300 --cidr 10.3.0.0/24 --gateway 10.3.0.1",
        "gateway add --id tgw1 --vtep 192.0.2.3 --vni 100,200,300",
        "gateway add --id tgw2 --vtep 192.0.2.4 --vni 100,200,300",
    };
    for (size_t i = 0; i < sizeof(prov) / sizeof(prov[0]); i++)
        if (topo_provision(&T, "%s", prov[i]) != 0)
            return -1;
    struct topo_node *all[] = {h1, h2, tgw1, tgw2};
    for (size_t i = 0; i < 4; i++)
        if (topo_node_start(&T, all[i]) != 0)
            return -1;
    if (topo_vm(&T, "va", h1, "tva", "02:00:00:00:01:05", "10.1.0.5/24", "10.1.0.1") != 0 ||
        topo_vm(&T, "vd", h2, "tvd", "02:00:00:00:01:06", "10.1.0.6/24", "10.1.0.1") != 0 ||
        topo_vm(&T, "vb", h2, "tvb", "02:00:00:00:02:07", "10.2.0.7/24", "10.2.0.1") != 0 ||
        topo_attach(&T, h1, 100, "tva", "02:00:00:00:01:05", "10.1.0.5/24") != 0 ||
        topo_attach(&T, h2, 100, "tvd", "02:00:00:00:01:06", "10.1.0.6/24") != 0 ||
        topo_attach(&T, h2, 200, "tvb", "02:00:00:00:02:07", "10.2.0.7/24") != 0)
        return -1;
    const char *gws[] = {"tgw1", "tgw2"};
    for (int i = 0; i < 2; i++)
        if (!topo_wait_cmd(10000, "ip -n st-%s-acme addr show br200 2>/dev/null | grep -q 10.2.0.1",
                           gws[i]) ||
            !topo_wait_cmd(10000, "ip -n st-%s-acme addr show br100 2>/dev/null | grep -q 10.1.0.1",
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

/* Golden output of a fixed scenario (a routed flow denied by default, an address nobody holds),
 * compared with tests/system/golden/NAME; STRATA_GOLDEN_UPDATE=1 rewrites the file. */
static void golden(const char *name, const char *got)
{
    const char *src = getenv("STRATA_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/system/golden/%s", src ? src : ".", name);
    if (getenv("STRATA_GOLDEN_UPDATE") != NULL) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
        return;
    }
    char *want = h_read_file(path);
    if (want == NULL)
        fail_msg("no golden file %s (STRATA_SRC=%s)", path, src ? src : "unset");
    if (strcmp(want, got) != 0) {
        /* cmocka truncates long messages: the difference goes to a file and stderr. */
        char gpath[1024];
        snprintf(gpath, sizeof(gpath), "%s/%s.got", T.tmp, name);
        FILE *g = fopen(gpath, "w");
        if (g != NULL) {
            fputs(got, g);
            fclose(g);
        }
        topo_sh(NULL,
                "sed 's/},{/},\\n{/g' %s > %s.a; sed 's/},{/},\\n{/g' %s > %s.b; "
                "diff -u %s.a %s.b >&2",
                path, gpath, gpath, gpath, gpath, gpath);
        fail_msg("%s differs from the golden file (diff above; output in %s)", name, gpath);
    }
    free(want);
}

static void test_golden(void **state)
{
    (void)state;
    /* Both VMs' gateway addresses are resolved on the source host first (its ARP). */
    struct topo_node *g = holder();
    if (topo_reach_within(&T, "va", "10.1.0.1", 10000) < 0) {
        show("10.1.0.1", g->ctl); /* what every tier holds, for the log */
        fail_msg("va does not reach its gateway 10.1.0.1");
    }
    assert_true(
        topo_wait_cmd(5000, "%s --json gateway list | grep -q '\"live\":true'", topo_cli(&T)));
    char *last = NULL;
    assert_true(verdict_is("10.2.0.7", g->ctl, "denied", "default deny", &last));
    free(last);
    char *all = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&all, &len);
    const char *cases[][2] = {{"--minimal", "10.2.0.7"},
                              {"--minimal", "10.1.0.99"},
                              {"--minimal", "10.3.0.9"},
                              {"--json", "10.2.0.7"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *o = trace(cases[i][0], cases[i][1], g->ctl);
        fprintf(f, "$ trace %s --dst-ip %s\n%s", cases[i][0], cases[i][1], o);
        free(o);
    }
    fclose(f);
    /* Either gateway may hold the address (whichever registered first): the golden file names
     * tgwN at 192.0.2.G (test_routed_and_denied checks the name). Same lengths: in place. */
    const char *from[] = {"tgw1", "tgw2", "192.0.2.3", "192.0.2.4"};
    const char *to[] = {"tgwN", "tgwN", "192.0.2.G", "192.0.2.G"};
    for (size_t i = 0; i < 4; i++)
        for (char *p = strstr(all, from[i]); p != NULL; p = strstr(p, from[i]))
            memcpy(p, to[i], strlen(to[i]));
    golden("trace.txt", all);
    free(all);
}

static void test_same_vn(void **state)
{
    (void)state;
    assert_true(topo_reach_within(&T, "va", "10.1.0.6", 5000) >= 0);
    EXPECT_VERDICT("10.1.0.6", tgw1->ctl, "delivered", "at VTEP 192.0.2.2 (host h2)");
    char *o = trace("--json", "10.1.0.6", tgw1->ctl);
    assert_non_null(strstr(o, "\"verdict\":\"delivered\""));
    assert_non_null(strstr(o, "\"gateway\":null"));
    assert_non_null(strstr(o, "\"tier\":\"kernel\""));
    assert_non_null(strstr(o, "fdb dst 192.0.2.2"));
    assert_non_null(strstr(o, "\"tier\":\"agent\""));
    assert_non_null(strstr(o, "\"tier\":\"cs-cache\""));
    assert_non_null(strstr(o, "\"tier\":\"directory\""));
    free(o);
    /* --summary: the verdict, the conclusion, then one line per tier. */
    o = trace("--summary", "10.1.0.6", tgw1->ctl);
    assert_non_null(strstr(o, "verdict: delivered\nconclusion: every tier agrees"));
    assert_non_null(strstr(o, "\n  kernel     h1 vx100: lladdr 02:00:00:00:01:06"));
    assert_non_null(strstr(o, "\n  directory  member M: mac 02:00:00:00:01:06 vtep 192.0.2.2"));
    free(o);
}

static void test_unknown(void **state)
{
    (void)state;
    EXPECT_VERDICT("10.1.0.99", tgw1->ctl, "unknown-destination",
                   "no endpoint holds 10.1.0.99 in VN 100");
    /* 10.3.0.0/24 belongs to a VN of another domain: not reachable from acme. */
    EXPECT_VERDICT("10.3.0.9", tgw1->ctl, "unknown-destination", "nor of any VN of domain acme");
}

static void test_routed_and_denied(void **state)
{
    (void)state;
    struct topo_node *g = holder();
    char through[96], node[48], json[48];
    snprintf(through, sizeof(through), "through gateway %s, allowed by acme 100->200 allow",
             g->name);
    snprintf(node, sizeof(node), "\"node\":\"%s vx200\"", g->name);
    snprintf(json, sizeof(json), "\"gateway\":\"%s\"", g->name);
    TOPO_SH("%s policy set --domain acme --from 100 --to 200 allow", topo_cli(&T));
    if (topo_reach_within(&T, "va", "10.2.0.7", 10000) < 0) {
        show("10.2.0.7", g->ctl);
        fail_msg("va does not reach vb through the gateway");
    }
    EXPECT_VERDICT("10.2.0.7", g->ctl, "delivered", through);
    char *o = trace("--json", "10.2.0.7", g->ctl);
    assert_non_null(strstr(o, json));
    assert_non_null(strstr(o, "\"tier\":\"gw-kernel\""));
    assert_non_null(strstr(o, node));
    free(o);
    /* Without its control socket the gateway's kernel is said unchecked, not guessed. */
    o = trace("--minimal", "10.2.0.7", "/nonexistent/gw.sock");
    assert_non_null(strstr(o, "the gateway's kernel was not checked"));
    free(o);
    /* Nor is the other gateway's socket taken for this one's. */
    o = trace("--json", "10.2.0.7", (g == tgw1 ? tgw2 : tgw1)->ctl);
    assert_non_null(strstr(o, "is not this flow's gateway's"));
    assert_non_null(strstr(o, "the gateway's kernel was not checked"));
    free(o);
    TOPO_SH("%s policy set --domain acme --from 100 --to 200 deny", topo_cli(&T));
    EXPECT_VERDICT("10.2.0.7", g->ctl, "denied", "policy acme 100->200 deny");
    TOPO_SH("%s policy delete --domain acme --from 100 --to 200", topo_cli(&T));
    EXPECT_VERDICT("10.2.0.7", g->ctl, "denied", "default deny (no rule acme 100->200)");
    show("10.2.0.7", g->ctl);
}

static void test_wrong_kernel_entry(void **state)
{
    (void)state;
    assert_true(topo_reach_within(&T, "va", "10.1.0.6", 5000) >= 0);
    EXPECT_VERDICT("10.1.0.6", tgw1->ctl, "delivered", "every tier agrees");
    /* h1's kernel sends vd's MAC to a VTEP nobody has. */
    TOPO_SH("ip netns exec %s bridge fdb replace 02:00:00:00:01:06 dev vx100 dst 192.0.2.99 self "
            "permanent",
            h1->ns);
    char *o = trace("--minimal", "10.1.0.6", tgw1->ctl);
    if (strncmp(o, "stale:", 6) == 0) {
        assert_non_null(strstr(o, "h1's kernel sends 10.1.0.6 to VTEP 192.0.2.99, the directory "
                                  "says VTEP 192.0.2.2 (host h2)"));
    } else {
        /* The agent repaired it first: then the kernel must hold the right VTEP again. */
        print_message("the agent repaired the entry before trace ran: %s", o);
        TOPO_SH("ip netns exec %s bridge fdb show dev vx100 | grep '02:00:00:00:01:06' | grep -q "
                "'dst 192.0.2.2'",
                h1->ns);
    }
    free(o);
    show("10.1.0.6", tgw1->ctl);
    /* Put the right entry back: the flow is delivered again. */
    TOPO_SH("ip netns exec %s bridge fdb replace 02:00:00:00:01:06 dev vx100 dst 192.0.2.2 self "
            "permanent",
            h1->ns);
    EXPECT_VERDICT("10.1.0.6", tgw1->ctl, "delivered", "every tier agrees");
}

/* The audit covers the gateways too: each reports what its tenant namespaces' kernels hold (two
 * domains here), and the network after the flows above is consistent. */
static void test_audit_with_gateways(void **state)
{
    (void)state;
    assert_true(topo_reach_within(&T, "va", "10.1.0.6", 5000) >= 0);
    /* until the trace's own resolutions have settled (in-flight ones are not divergences) */
    assert_true(topo_wait_cmd(5000, "%s audit --cs %s >/dev/null 2>&1", topo_cli(&T), T.cs_url));
    char *o = NULL;
    int rc = topo_sh(&o, "%s --json audit --cs %s 2>/dev/null", topo_cli(&T), T.cs_url);
    print_message("audit: %s", o ? o : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "\"consistent\":true"));
    /* h1, h2, tgw1 and tgw2 answered, at one server or the other */
    long nodes = 0;
    for (const char *p = strstr(o, "\"nodes\":"); p != NULL; p = strstr(p + 1, "\"nodes\":"))
        nodes += strtol(p + 8, NULL, 10);
    assert_int_equal(nodes, 4);
    free(o);
    rc = topo_sh(&o, "%s audit --cs %s 2>&1", topo_cli(&T), T.cs_url);
    fprintf(stderr, "$ strata audit --cs %s\n%s", T.cs_url, o ? o : "");
    assert_int_equal(rc, 0);
    free(o);
}

/* Last (it stops daemons): no live gateway, then no source agent. */
static void test_no_gateway_and_unreachable(void **state)
{
    (void)state;
    struct topo_node *g = holder();
    topo_node_stop(tgw1, false);
    topo_node_stop(tgw2, false);
    EXPECT_VERDICT("10.2.0.7", g->ctl, "no-gateway",
                   "holds 10.1.0.1 but the directory says it is not live");
    /* A same-VN flow does not need a gateway. */
    EXPECT_VERDICT("10.1.0.6", tgw1->ctl, "delivered", "every tier agrees");
    topo_node_stop(h1, false);
    EXPECT_VERDICT("10.1.0.6", tgw1->ctl, "unreachable", "agent did not answer");
}

int main(void)
{
    if (geteuid() != 0) {
        printf("system tests need root: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_same_vn),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_routed_and_denied),
        cmocka_unit_test(test_wrong_kernel_entry),
        cmocka_unit_test(test_audit_with_gateways),
        cmocka_unit_test(test_no_gateway_and_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

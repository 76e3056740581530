/* systest_gw_domain.c - domain namespaces (gw_ns), routed interfaces (gw_l3) and inter-VN
 * policy in nftables (gw_nft) against the real kernel, with real traffic: two "VMs" (namespaces on
 * veths) in VN 100 and VN 200 of one domain namespace that routes between them. Private network and
 * mount namespaces (a tmpfs on /run/netns): nothing outlives the test. Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_l3.h"
#include "gw_nft.h"
#include "gw_ns.h"
#include "netns.h"

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

/* One ping from namespace `from` to ip: true when answered (1 s). */
static bool ping(const char *from, const char *ip)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -c1 -W1 -q %s >/dev/null 2>&1", from, ip);
    return system(cmd) == 0;
}

static int dns = -1; /* the domain namespace */
static const char *DNS = "st-gwt-acme";

static int setup(void **state)
{
    (void)state;
    struct strata_err e = {0};
    bool created;
    assert_int_equal(gw_ns_open(DNS, &dns, &created, &e), 0);
    assert_true(created);
    /* The domain namespace routes between br100 (10.1.0.1/24) and br200 (10.2.0.1/24); each
     * bridge has one VM on a veth. */
    assert_int_equal(gw_ns_sysctl(dns, "net/ipv4/ip_forward", "1", &e), 0);
    sh("ip -n %s link set lo up", DNS);
    const char *vm[] = {"va", "vb"};
    for (int i = 0; i < 2; i++) {
        int v = (i + 1) * 100;
        sh("ip netns add %s", vm[i]);
        sh("ip -n %s link add br%d type bridge && ip -n %s link set br%d up", DNS, v, DNS, v);
        sh("ip -n %s addr add 10.%d.0.1/24 dev br%d", DNS, i + 1, v);
        sh("ip -n %s link add p%d type veth peer name eth0 netns %s", DNS, v, vm[i]);
        sh("ip -n %s link set p%d master br%d up", DNS, v, v);
        sh("ip -n %s addr add 10.%d.0.5/24 dev eth0 && ip -n %s link set eth0 up", vm[i], i + 1,
           vm[i]);
        sh("ip -n %s route add default via 10.%d.0.1", vm[i], i + 1);
    }
    return 0;
}

static void test_ns_reopen(void **state)
{
    (void)state;
    struct strata_err e = {0};
    int fd;
    bool created;
    assert_int_equal(gw_ns_open(DNS, &fd, &created, &e), 0);
    assert_false(created); /* pinned: the same namespace, with its devices */
    char **names;
    size_t n;
    assert_int_equal(gw_ns_list("st-gwt-", &names, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], DNS);
    free(names[0]);
    free(names);
    int saved;
    assert_int_equal(strata_netns_enter(fd, &saved, &e), 0);
    int rc = system("ip link show br100 >/dev/null 2>&1");
    strata_netns_leave(saved);
    assert_int_equal(rc, 0);
    /* Unpinned while still open, then pinned again: the same namespace, devices and all. */
    assert_int_equal(gw_ns_remove(DNS, &e), 0);
    assert_int_equal(gw_ns_pin(DNS, fd, &e), 0);
    assert_int_equal(strata_netns_enter(fd, &saved, &e), 0);
    rc = system("ip link show br100 >/dev/null 2>&1");
    strata_netns_leave(saved);
    assert_int_equal(rc, 0);
    close(dns);
    dns = fd; /* the pinned namespace is the same one */
    char name[256];
    gw_ns_name("gw1", "acme", name, sizeof(name));
    assert_string_equal(name, "st-gw1-acme");
    char longdom[300];
    memset(longdom, 'd', sizeof(longdom) - 1);
    longdom[sizeof(longdom) - 1] = 0;
    gw_ns_name("gw1", longdom, name, sizeof(name));
    assert_true(strlen(name) < 200);
    assert_int_equal(strncmp(name, "st-gw1-", 7), 0);
}

static void test_l3(void **state)
{
    (void)state;
    struct strata_err e = {0};
    struct gw_l3 *l;
    assert_int_equal(gw_l3_open(dns, &l, &e), 0);
    assert_int_equal(gw_l3_lo_up(l, &e), 0);
    struct gw_l3_addr want[2] = {{.plen = 24}, {.plen = 24}};
    assert_int_equal(strata_ip_parse("10.1.0.1", &want[0].ip, NULL), 0);
    assert_int_equal(strata_ip_parse("10.1.1.1", &want[1].ip, NULL), 0);
    /* A bridge that is not Strata's is never touched. */
    assert_int_equal(gw_l3_sync(l, 100, want, 2, &e), STRATA_EEXIST);
    assert_int_equal(gw_l3_sync(l, 300, want, 2, &e), STRATA_ENOTFOUND);
    sh("ip -n %s link set br100 alias strata", DNS);
    /* The right address stays (the VM keeps pinging through it), the missing one comes. */
    assert_int_equal(gw_l3_sync(l, 100, want, 2, &e), 0);
    assert_int_equal(gw_l3_stats(l)->addrs_added, 1);
    assert_int_equal(gw_l3_stats(l)->addrs_removed, 0);
    assert_int_equal(gw_l3_stats(l)->macs_set, 1);
    sh("ip -n %s link show br100 | grep -q 'link/ether 02:53:54:00:00:64'", DNS);
    struct gw_l3_addr got[4];
    assert_int_equal(gw_l3_read(l, 100, got, 4, &e), 2);
    assert_true(ping("va", "10.1.0.1"));
    /* Again: nothing to do. Then one subnet goes: only its address is removed. */
    assert_int_equal(gw_l3_sync(l, 100, want, 2, &e), 0);
    assert_int_equal(gw_l3_stats(l)->addrs_added, 1);
    assert_int_equal(gw_l3_stats(l)->macs_set, 1);
    assert_int_equal(gw_l3_sync(l, 100, want, 1, &e), 0);
    assert_int_equal(gw_l3_stats(l)->addrs_removed, 1);
    assert_int_equal(gw_l3_read(l, 100, got, 4, &e), 1);
    assert_true(strata_ip_equal(&got[0].ip, &want[0].ip));
    assert_true(ping("va", "10.1.0.1"));
    uint8_t mac[6];
    gw_l3_vmac(0xabcdef, mac);
    assert_int_equal(mac[3], 0xab);
    assert_int_equal(mac[5], 0xef);
    gw_l3_free(l);
}

static void test_policy(void **state)
{
    (void)state;
    struct strata_err e = {0};
    struct gw_nft *n;
    assert_int_equal(gw_nft_open(dns, &n, &e), 0);
    assert_int_equal(gw_nft_ensure(n, &e), 0);
    assert_int_equal(gw_nft_count(n), 0);

    /* Denied unless allowed; a VN reaches its own gateway address only. */
    assert_true(ping("va", "10.1.0.1"));
    assert_false(ping("va", "10.2.0.5"));
    assert_false(ping("vb", "10.1.0.5"));
    assert_false(ping("va", "10.2.0.1"));

    /* 100 -> 200: va may start, vb's replies pass, vb may not start. */
    assert_int_equal(gw_nft_set(n, 100, 200, true, &e), 0);
    assert_int_equal(gw_nft_set(n, 100, 200, true, &e), 0); /* idempotent */
    assert_true(gw_nft_allowed(n, 100, 200));
    assert_int_equal(gw_nft_stats(n)->elements_added, 1);
    assert_true(ping("va", "10.2.0.5"));
    assert_false(ping("vb", "10.1.0.5"));
    assert_false(ping("va", "10.2.0.1"));

    /* Revoked: stops. */
    assert_int_equal(gw_nft_set(n, 100, 200, false, &e), 0);
    assert_false(ping("va", "10.2.0.5"));
    gw_nft_free(n);
}

/* A restarted gateway keeps what is right and rewrites only what differs. */
static void test_restart_reconcile(void **state)
{
    (void)state;
    struct strata_err e = {0};
    struct gw_nft *n;
    assert_int_equal(gw_nft_open(dns, &n, &e), 0);
    assert_int_equal(gw_nft_ensure(n, &e), 0);
    assert_int_equal(gw_nft_set(n, 100, 200, true, &e), 0);
    gw_nft_free(n);

    assert_int_equal(gw_nft_open(dns, &n, &e), 0);
    assert_int_equal(gw_nft_ensure(n, &e), 0);
    assert_int_equal(gw_nft_stats(n)->chains_rewritten, 0);
    assert_int_equal(gw_nft_count(n), 1); /* loaded from the kernel, not flushed */
    assert_true(gw_nft_allowed(n, 100, 200));
    assert_true(ping("va", "10.2.0.5"));

    /* Someone opened the forward chain wide: ensure puts it back, the pairs stay. */
    sh("ip netns exec %s nft 'flush chain inet strata forward; "
       "add rule inet strata forward accept'",
       DNS);
    assert_true(ping("vb", "10.1.0.5"));
    assert_int_equal(gw_nft_ensure(n, &e), 0);
    assert_int_equal(gw_nft_stats(n)->chains_rewritten, 1);
    assert_false(ping("vb", "10.1.0.5"));
    assert_true(ping("va", "10.2.0.5"));
    gw_nft_free(n);
}

static void test_sync(void **state)
{
    (void)state;
    struct strata_err e = {0};
    struct gw_nft *n;
    assert_int_equal(gw_nft_open(dns, &n, &e), 0);
    assert_int_equal(gw_nft_ensure(n, &e), 0);
    /* 10,000 pairs plus the two real ones (and a duplicate) in one transaction. */
    size_t cnt = 10003;
    struct gw_nft_pair *want = calloc(cnt, sizeof(*want));
    for (size_t i = 0; i < 10000; i++)
        want[i] = (struct gw_nft_pair){1000 + (uint32_t)i, 900000 + (uint32_t)i};
    want[10000] = (struct gw_nft_pair){100, 200};
    want[10001] = (struct gw_nft_pair){200, 100};
    want[10002] = (struct gw_nft_pair){200, 100};
    assert_int_equal(gw_nft_sync(n, want, cnt, &e), 0);
    assert_int_equal(gw_nft_count(n), 10002);
    assert_true(ping("vb", "10.1.0.5"));
    struct gw_nft_pair *got;
    size_t ngot;
    assert_int_equal(gw_nft_read(n, &got, &ngot, &e), 0);
    assert_int_equal(ngot, 10002);
    free(got);
    /* Back to one pair: only the difference goes (10,001 deletes), and 100 -> 200 stays. */
    uint64_t adds = gw_nft_stats(n)->elements_added;
    assert_int_equal(gw_nft_sync(n, &want[10000], 1, &e), 0);
    assert_int_equal(gw_nft_stats(n)->elements_added, adds);
    assert_int_equal(gw_nft_count(n), 1);
    assert_int_equal(gw_nft_read(n, &got, &ngot, &e), 0);
    assert_int_equal(ngot, 1);
    assert_int_equal(got[0].from, 100);
    assert_int_equal(got[0].to, 200);
    free(got);
    assert_false(ping("vb", "10.1.0.5"));
    free(want);
    assert_int_equal(gw_nft_remove(n, &e), 0);
    assert_int_equal(gw_nft_remove(n, &e), 0);
    assert_true(ping("vb", "10.1.0.5")); /* no table, no policy: only the test proves it went */
    gw_nft_free(n);
}

static void test_ns_remove(void **state)
{
    (void)state;
    struct strata_err e = {0};
    assert_int_equal(gw_ns_remove(DNS, &e), 0);
    assert_int_equal(gw_ns_remove(DNS, &e), 0);
    char **names;
    size_t n;
    assert_int_equal(gw_ns_list("st-gwt-", &names, &n, &e), 0);
    assert_int_equal(n, 0);
    free(names);
}

int main(void)
{
    /* Private network and mount namespaces; /run/netns a private tmpfs. */
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        perror("unshare (needs root)");
        return 1;
    }
    mkdir(GW_NS_DIR, 0755);
    if (mount("tmpfs", GW_NS_DIR, "tmpfs", 0, NULL) != 0) {
        perror("mount " GW_NS_DIR);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_reopen), cmocka_unit_test(test_l3),
        cmocka_unit_test(test_policy),    cmocka_unit_test(test_restart_reconcile),
        cmocka_unit_test(test_sync),      cmocka_unit_test(test_ns_remove),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

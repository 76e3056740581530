/* systest_agent.c - the `strata` commands that talk to a host agent (port attach/detach, trace,
 * cache show) against real strata-dird, strata-csd and strata-agentd, all inside a network
 * namespace this test creates and always deletes. Needs root (skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "h_tls.h"
#include "harness.h"

static char ns[64];
static char ctl[512];
static const char *dir;
static bool ns_made;
static char dir_url[64], cs_url[64]; /* tls+tcp:// unless STRATA_TEST_TLS=0 */

/* Run a command line inside the namespace; returns its exit status, stdout in *out. */
static int in_ns(const char *cmd, char **out)
{
    char line[2048];
    snprintf(line, sizeof(line), "ip netns exec %s %s", ns, cmd);
    return h_run(line, out);
}

/* `strata ARGS` inside the namespace; stderr is folded into *out so failures explain
 * themselves. */
static int strata(const char *args, char **out)
{
    char cmd[1536];
    snprintf(cmd, sizeof(cmd), "%s --directory %s %s 2>&1", h_bin("strata"), dir_url, args);
    return in_ns(cmd, out);
}

static void expect_ok(const char *args, const char *want)
{
    char *out = NULL;
    int st = strata(args, &out);
    if (st != 0 || (want != NULL && (out == NULL || strstr(out, want) == NULL)))
        fail_msg("strata %s: exit %d, output: %s (want %s)", args, st, out ? out : "",
                 want ? want : "success");
    free(out);
}

static bool has_leader(void *arg)
{
    (void)arg;
    char *out = NULL;
    int st = strata("--json --timeout-ms 1000 cluster status", &out);
    bool ok = st == 0 && out != NULL && strstr(out, "\"leader\":1,") != NULL;
    free(out);
    return ok;
}

static bool ctl_ready(void *arg)
{
    (void)arg;
    struct stat sb;
    return stat(ctl, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

struct poll_arg {
    const char *args, *want;
    bool present;
};

static bool output_matches(void *arg)
{
    struct poll_arg *p = arg;
    char *out = NULL;
    int st = strata(p->args, &out);
    bool has = st == 0 && out != NULL && strstr(out, p->want) != NULL;
    free(out);
    return has == p->present;
}

static void spawn_in_ns(char *const cmd[], const char *log)
{
    char *argv[32];
    int a = 0;
    argv[a++] = (char *)"/usr/bin/env";
    argv[a++] = (char *)"ip";
    argv[a++] = (char *)"netns";
    argv[a++] = (char *)"exec";
    argv[a++] = ns;
    for (int i = 0; cmd[i] != NULL && a < 31; i++)
        argv[a++] = cmd[i];
    argv[a] = NULL;
    assert_true(h_spawn(argv, log) > 0);
}

static void ns_delete(void)
{
    if (!ns_made)
        return;
    h_cleanup(); /* the daemons first: a namespace with processes in it lingers */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
    (void)h_run(cmd, NULL);
    ns_made = false;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    snprintf(ns, sizeof(ns), "cli-st-%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ip netns add %s", ns);
    if (h_run(cmd, NULL) != 0)
        return -1;
    ns_made = true;
    atexit(ns_delete);
    /* An IPv4 address on a non-loopback interface: without one, NNG cannot dial 127.0.0.1 in a
     * namespace once any interface has an IPv6 link-local address (getaddrinfo's
     * AI_ADDRCONFIG). It is also the agent's VTEP. */
    if (in_ns("ip link set lo up", NULL) != 0 ||
        in_ns("ip link add u0 type veth peer name u0p", NULL) != 0 ||
        in_ns("ip addr add 192.168.50.1/24 dev u0", NULL) != 0 ||
        in_ns("ip link set u0 up", NULL) != 0 || in_ns("ip link set u0p up", NULL) != 0)
        return -1;
    dir = h_tmpdir("cli-systest");
    char data[512], dlog[512], clog[512], alog[512], adata[512];
    snprintf(data, sizeof(data), "%s/dird", dir);
    snprintf(adata, sizeof(adata), "%s/agent", dir);
    snprintf(dlog, sizeof(dlog), "%s/dird.log", dir);
    snprintf(clog, sizeof(clog), "%s/csd.log", dir);
    snprintf(alog, sizeof(alog), "%s/agentd.log", dir);
    snprintf(ctl, sizeof(ctl), "%s/agent.sock", dir);
    mkdir(data, 0700);
    h_tls_operator();
    snprintf(dir_url, sizeof(dir_url), "%s127.0.0.1:7091", h_tls_scheme());
    snprintf(cs_url, sizeof(cs_url), "%s127.0.0.1:7391", h_tls_scheme());
    char *dird[32] = {(char *)h_bin("strata-dird"),
                      "--id",
                      "1",
                      "--data-dir",
                      data,
                      "--raft",
                      "127.0.0.1:7191",
                      "--api",
                      dir_url,
                      "--cluster",
                      "1=127.0.0.1:7191",
                      NULL};
    h_tls_args(dird, "directory", "1", NULL);
    spawn_in_ns(dird, dlog);
    char *csd[32] = {(char *)h_bin("strata-csd"),
                     "--id",
                     "cs1",
                     "--pod",
                     "a",
                     "--listen",
                     cs_url,
                     "--directory",
                     dir_url,
                     NULL};
    h_tls_args(csd, "connectivity", "cs1", NULL);
    spawn_in_ns(csd, clog);
    if (!h_wait_until(has_leader, NULL, 20000))
        return -1;
    expect_ok("domain create acme", NULL);
    expect_ok("vnet create --vni 100 --domain acme", NULL);
    expect_ok("subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1", NULL);
    expect_ok("host add --id h1 --vtep 192.168.50.1 --pod a", NULL);
    expect_ok("host add --id h2 --vtep 192.168.50.2 --pod a", NULL);
    expect_ok("endpoint add --vni 100 --mac 02:00:00:00:01:06 --ip 10.1.0.6 --host h2", NULL);
    char *agent[32] = {(char *)h_bin("strata-agentd"),
                       "--host",
                       "h1",
                       "--vtep",
                       "192.168.50.1",
                       "--pod",
                       "a",
                       "--cs",
                       cs_url,
                       "--ctl",
                       ctl,
                       "--data-dir",
                       adata,
                       NULL};
    h_tls_args(agent, "agent", "h1", NULL);
    spawn_in_ns(agent, alog);
    if (!h_wait_until(ctl_ready, NULL, 20000))
        return -1;
    return in_ns("ip link add vm1 type veth peer name vm1p", NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ns_delete();
    return 0;
}

static void test_port_trace_cache(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char args[1024];
    snprintf(args, sizeof(args),
             "--json port attach --agent %s --vni 100 --mac 02:00:00:00:01:05 --ip 10.1.0.5/24 "
             "--ifname vm1",
             ctl);
    expect_ok(args, "\"op\":\"port attach\"");
    /* the agent registered the endpoint through its connectivity server */
    struct poll_arg p = {"--json endpoint list --vni 100", "\"mac\":\"02:00:00:00:01:05\"", true};
    assert_true(h_wait_until(output_matches, &p, 10000));
    expect_ok("--json endpoint list --vni 100", "\"host\":\"h1\"");

    snprintf(args, sizeof(args),
             "--json trace --agent %s --vni 100 --src-ip 10.1.0.5 --dst-ip "
             "10.1.0.6",
             ctl);
    expect_ok(args, "\"hops\":[{");
    expect_ok(args, "192.168.50.2"); /* some hop names where 10.1.0.6 lives */
    snprintf(args, sizeof(args), "trace --agent %s --vni 100 --src-ip 10.1.0.5 --dst-ip 10.1.0.6",
             ctl);
    expect_ok(args, "TIER");

    snprintf(args, sizeof(args), "--json cache show --agent %s", ctl);
    expect_ok(args, "\"counters\":{");
    char show[128];
    snprintf(show, sizeof(show), "--json cache show --cs %s", cs_url);
    expect_ok(show, "\"entries\":[");

    snprintf(args, sizeof(args), "--json port detach --agent %s --ifname vm1", ctl);
    expect_ok(args, "\"op\":\"port detach\"");
    struct poll_arg gone = {"--json endpoint list --vni 100", "\"mac\":\"02:00:00:00:01:05\"",
                            false};
    assert_true(h_wait_until(output_matches, &gone, 10000));

    /* detaching again is an error: one line, naming the agent */
    char *out = NULL;
    snprintf(args, sizeof(args), "port detach --agent %s --ifname vm1", ctl);
    assert_int_not_equal(strata(args, &out), 0);
    assert_non_null(out);
    assert_true(strncmp(out, "strata: ", 8) == 0);
    assert_non_null(strstr(out, ctl));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_trace_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

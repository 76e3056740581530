/* itest_dird.c - the `strata` binary against a real strata-dird (one node on loopback): every
 * admin command, the JSON keys scripts rely on, exit statuses, and failures as exactly one line
 * on stderr (or one JSON error object on stdout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h_tls.h"
#include "harness.h"
#include "version.h"

static char api_url[64];
static char err_path[512];

/* Run `strata --directory API ARGS`, capturing stdout and stderr apart. */
static struct h_out strata(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s --directory %s %s", h_bin("strata"), api_url, args);
    return h_run_out(cmd, err_path);
}

/* Assert that `args` exits with success (want_ok) or failure, and that stdout holds every
 * string of `want` (NULL-terminated). */
static void expect(const char *args, bool want_ok, const char *const *want)
{
    struct h_out o = strata(args);
    if ((o.status == 0) != want_ok)
        fail_msg("strata %s: exit %d (want %s)\nstdout: %s\nstderr: %s", args, o.status,
                 want_ok ? "0" : "non-zero", o.out, o.err);
    for (; want != NULL && *want != NULL; want++)
        if (strstr(o.out, *want) == NULL)
            fail_msg("strata %s: stdout lacks %s\nstdout: %s\nstderr: %s", args, *want, o.out,
                     o.err);
    if (want_ok && o.err[0] != '\0')
        fail_msg("strata %s: succeeded but wrote to stderr: %s", args, o.err);
    h_out_free(&o);
}

/* Exactly one line, newline-terminated. */
static bool one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl != NULL && nl[1] == '\0';
}

#define OK(args, ...) expect(args, true, (const char *const[]){__VA_ARGS__, NULL})
#define FAILS(args, ...) expect(args, false, (const char *const[]){__VA_ARGS__, NULL})

static bool has_leader(void *arg)
{
    (void)arg;
    struct h_out o = strata("--json --timeout-ms 1000 cluster status");
    bool ok = o.status == 0 && strstr(o.out, "\"leader\":1,") != NULL;
    h_out_free(&o);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    const char *dir = h_tmpdir("cli-itest");
    char data[512], log[512], raft[32], cluster[64], id[] = "1";
    snprintf(data, sizeof(data), "%s/node1", dir);
    snprintf(log, sizeof(log), "%s/node1.log", dir);
    snprintf(err_path, sizeof(err_path), "%s", dir);
    int rp = h_free_port(), ap = h_free_port();
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", rp);
    h_tls_operator();
    snprintf(api_url, sizeof(api_url), "%s127.0.0.1:%d", h_tls_scheme(), ap);
    snprintf(cluster, sizeof(cluster), "1=%s", raft);
    char mk[600];
    snprintf(mk, sizeof(mk), "mkdir -p %s", data);
    if (h_run(mk, NULL) != 0)
        return -1;
    char *argv[32] = {(char *)h_bin("strata-dird"),
                      "--id",
                      id,
                      "--data-dir",
                      data,
                      "--raft",
                      raft,
                      "--api",
                      api_url,
                      "--cluster",
                      cluster,
                      NULL};
    h_tls_args(argv, "directory", id, NULL);
    if (h_spawn(argv, log) < 0)
        return -1;
    if (!h_wait_until(has_leader, NULL, 20000)) {
        fprintf(stderr, "no leader within 20 s; see %s\n", log);
        return -1;
    }
    return 0;
}

static void test_admin_and_lists(void **state)
{
    (void)state;
    OK("--json domain create acme", "\"op\":\"domain create\"", "\"index\":");
    OK("vnet create --vni 100 --domain acme --name blue", "created vnet 100");
    OK("vnet create --vni 200 --domain acme --json", "\"op\":\"vnet create\"", "\"vni\":200");
    OK("subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1", "10.1.0.0/24");
    OK("subnet create --vni 200 --cidr 10.1.0.0/24 --gateway 10.1.0.1", "10.1.0.0/24");
    OK("host add --id h1 --vtep 192.168.50.1 --pod a", "added host h1");
    OK("--json host add --id h2 --vtep 192.168.50.2 --pod a", "\"op\":\"host add\"");
    OK("--json gateway add --id gw1 --vtep 192.168.50.9 --vni 100,200", "\"vnis\":[100,200]");
    OK("--json domain list", "\"domains\":[{\"name\":\"acme\",\"version\":");
    OK("--json vnet list",
       "{\"vni\":100,\"domain\":\"acme\",\"name\":\"blue\",\"version\":", "{\"vni\":200,");
    OK("--json subnet list --vni 200",
       "\"subnets\":[{\"vni\":200,\"cidr\":\"10.1.0.0/24\",\"gateway\":\"10.1.0.1\"");
    OK("--json host list", "{\"id\":\"h1\",\"vtep\":\"192.168.50.1\",\"pod\":\"a\",\"version\":");
    OK("--json gateway list", "{\"id\":\"gw1\",\"vtep\":\"192.168.50.9\",\"vnis\":[100,200]");
    OK("host list", "HOST", "VTEP", "h2");
    /* an existing host is not silently replaced (issue 24: its endpoints would follow) */
    OK("host add --id h1 --vtep 192.168.50.1 --pod a", "added host h1"); /* the same: fine */
    FAILS("--json host add --id h1 --vtep 192.168.50.7 --pod a",
          "{\"error\":\"EEXIST\",\"message\":\"host h1 exists (VTEP 192.168.50.1, pod a)");
    OK("host add --id h7 --vtep 192.168.50.7 --pod a", "added host h7");
    OK("host add --id h7 --vtep 192.168.50.8 --pod a --replace",
       "replaced host h7: vtep 192.168.50.8, pod a, was vtep 192.168.50.7, pod a");
    FAILS("--json gateway add --id gw1 --vtep 192.168.50.9 --vni 100", "\"error\":\"EEXIST\"");
    FAILS("--json host add --id h8 --vtep 224.0.0.1 --pod a", "224.0.0.1 is a multicast address");
    FAILS("--json host add --id h8 --vtep 127.0.0.1 --pod a", "127.0.0.1 is a loopback address");
    FAILS("--json host add --id h8 --vtep 255.255.255.255 --pod a", "the broadcast address");
    /* deletes: a host or a domain still in use stays */
    OK("host delete --id h7", "deleted host h7");
    FAILS("--json host delete --id h7", "\"error\":\"ENOTFOUND\"");
    OK("domain create spare", "created domain spare");
    OK("vnet create --vni 900 --domain spare", "created vnet 900");
    FAILS("--json domain delete spare", "domain spare still has 1 VN (VNI 900): delete them first");
    OK("subnet create --vni 900 --cidr 10.90.0.0/24 --gateway 10.90.0.1", "10.90.0.0/24");
    FAILS("--json subnet delete --vni 900 --cidr 10.91.0.0/24", "\"error\":\"ENOTFOUND\"");
    OK("subnet delete --vni 900 --cidr 10.90.0.0/24", "deleted subnet 10.90.0.0/24 of vnet 900");
    /* a VN's delete says what went with it */
    OK("subnet create --vni 900 --cidr 10.92.0.0/24 --gateway 10.92.0.1", "10.92.0.0/24");
    OK("subnet create --vni 900 --cidr fd00:90::/64 --gateway fd00:90::1", "fd00:90::/64");
    FAILS("--json endpoint add --vni 900 --mac 02:00:00:00:09:01 --ip 10.92.0.255 --host h1",
          "10.92.0.255 is the broadcast address of 10.92.0.0/24 in VNI 900: pick a host address");
    OK("vnet create --vni 901 --domain spare", "created vnet 901");
    OK("policy set --domain spare --from 900 --to 901 allow", "allow");
    OK("vnet delete --vni 900", "deleted vnet 900 (index ",
       "); with it: subnets 10.92.0.0/24, fd00:90::/64; policy 900->901");
    OK("--json vnet delete --vni 901", "\"note\":\"nothing else went with it\"");
    OK("--json domain delete spare", "\"op\":\"domain delete\"");
    /* creating what exists is an error, one line on stderr */
    struct h_out o = strata("domain create acme");
    assert_int_not_equal(o.status, 0);
    assert_string_equal(o.out, "");
    assert_true(strncmp(o.err, "strata: ", 8) == 0);
    assert_true(one_line(o.err));
    h_out_free(&o);
}

static void test_endpoints_and_resolve(void **state)
{
    (void)state;
    OK("--json endpoint add --vni 100 --mac 02:00:00:00:01:05 --ip 10.1.0.5 --host h1",
       "\"op\":\"endpoint add\"", "\"vtep\":\"192.168.50.1\"");
    /* the same IP in the other VN is another endpoint */
    OK("endpoint add --vni 200 --mac 02:00:00:00:02:05 --ip 10.1.0.5 --host h2",
       "added endpoint 02:00:00:00:02:05");
    OK("--json endpoint list --vni 100",
       "\"endpoints\":[{\"vni\":100,\"mac\":\"02:00:00:00:01:05\",\"ips\":[\"10.1.0.5\"],"
       "\"host\":\"h1\",\"vtep\":\"192.168.50.1\",\"version\":");
    OK("endpoint list", "02:00:00:00:01:05", "02:00:00:00:02:05", "VTEP");
    /* the same through the leader's read barrier (a single node: it leads) */
    OK("--json endpoint list --vni 100 --linearizable", "\"mac\":\"02:00:00:00:01:05\"");
    OK("--json resolve --vni 100 --ip 10.1.0.5 --linearizable", "\"host\":\"h1\"",
       "\"tier\":\"directory\"");
    OK("--json resolve --vni 100 --ip 10.1.0.5",
       "{\"vni\":100,\"ip\":\"10.1.0.5\",\"mac\":\"02:00:00:00:01:05\",\"vtep\":\"192.168.50.1\","
       "\"host\":\"h1\",\"version\":",
       "\"verdict\":\"allow\"", "\"tier\":\"directory\"", "\"elapsed_us\":", "\"server_us\":");
    OK("--json resolve --vni 200 --mac 02:00:00:00:02:05", "\"ip\":\"10.1.0.5\"",
       "\"host\":\"h2\"");
    /* between VNs: denied until a rule allows it */
    OK("--json resolve --vni 200 --ip 10.1.0.5 --from-vni 100", "\"verdict\":\"deny\"");
    OK("--json policy set --domain acme --from 100 --to 200 allow", "\"verdict\":\"allow\"");
    OK("--json resolve --vni 200 --ip 10.1.0.5 --from-vni 100", "\"verdict\":\"allow\"");
    OK("--json policy list", "{\"domain\":\"acme\",\"from\":100,\"to\":200,\"verdict\":\"allow\"");

    FAILS("--json resolve --vni 100 --ip 10.1.0.99",
          "{\"error\":\"ENOTFOUND\",\"message\":\"no endpoint with IP 10.1.0.99 in VNI 100\"}\n");
    struct h_out o = strata("resolve --vni 100 --ip 10.1.0.99");
    assert_int_not_equal(o.status, 0);
    assert_string_equal(o.out, "");
    assert_string_equal(o.err, "strata: no endpoint with IP 10.1.0.99 in VNI 100\n");
    h_out_free(&o);
    /* MACs are echoed as the directory spells them, whatever was typed */
    OK("endpoint add --vni 100 --mac 02:00:00:00:01:0A --ip 10.1.0.10 --host h1",
       "added endpoint 02:00:00:00:01:0a in vnet 100");
    OK("endpoint delete --vni 100 --mac 02-00-00-00-01-0A", "deleted endpoint 02:00:00:00:01:0a");
    /* an endpoint that exists is changed only when asked */
    FAILS("--json endpoint add --vni 100 --mac 02:00:00:00:01:05 --ip 10.1.0.6 --host h1",
          "\"error\":\"EEXIST\"");
    OK("--json endpoint add --vni 100 --mac 02:00:00:00:01:05 --ip 10.1.0.5 --host h1",
       "\"op\":\"endpoint add\""); /* the same again: no change */
    /* an IP already claimed in the VN */
    FAILS("--json endpoint add --vni 100 --mac 02:00:00:00:01:07 --ip 10.1.0.5 --host h1",
          "{\"error\":\"E");

    FAILS("--json host delete --id h1", "host h1 still holds 1 endpoint");
    OK("--json endpoint move --vni 100 --mac 02:00:00:00:01:05 --host h2",
       "\"vtep\":\"192.168.50.2\"");
    OK("--json resolve --vni 100 --ip 10.1.0.5", "\"host\":\"h2\"");
    OK("--json endpoint delete --vni 100 --mac 02:00:00:00:01:05", "\"op\":\"endpoint delete\"");
    FAILS("--json resolve --vni 100 --ip 10.1.0.5", "\"error\":\"ENOTFOUND\"");
}

/* Gateways and policy: list keys (nobody live without a connectivity server, so nothing held),
 * the refusals that keep gateway addresses the directory's, and the deletes. */
static void test_gateways_and_policy(void **state)
{
    (void)state;
    OK("--json gateway list",
       "{\"id\":\"gw1\",\"vtep\":\"192.168.50.9\",\"vnis\":[100,200],\"live\":false,"
       "\"csd\":null,\"holds\":[],\"version\":");
    OK("gateway list", "GATEWAY", "LIVE", "HOLDS", "gw1", "100,200", "no");
    FAILS("--json endpoint add --vni 100 --mac 02:00:00:00:01:09 --ip 10.1.0.1 --host h1",
          "{\"error\":\"EDENIED\",\"message\":\"10.1.0.1 is VN 100's gateway address: only a "
          "gateway serving VN 100 holds it\"}\n");
    FAILS("--json endpoint add --vni 100 --mac 02:53:54:00:00:64 --ip 10.1.0.9 --host h1",
          "\"error\":\"EDENIED\"");
    FAILS("--json subnet create --vni 100 --cidr 10.9.0.0/24 --gateway 10.9.0.255",
          "broadcast address");
    OK("domain create other", "created domain other");
    OK("vnet create --vni 300 --domain other", "created vnet 300");
    FAILS("--json policy set --domain acme --from 100 --to 300 allow",
          "VNI 300 is in domain other, not acme");
    FAILS("--json policy delete --domain acme --from 200 --to 100",
          "{\"error\":\"ENOTFOUND\",\"message\":\"no policy from VNI 200 to VNI 100 in domain "
          "acme\"}\n");
    OK("--json policy delete --domain acme --from 100 --to 200", "\"op\":\"policy delete\"");
    OK("--json policy list", "\"policies\":[]");
    OK("--json gateway delete --id gw1", "\"op\":\"gateway delete\"", "\"id\":\"gw1\"");
    OK("--json gateway list", "\"gateways\":[]");
    FAILS("--json gateway delete --id gw1", "{\"error\":\"ENOTFOUND\"");
}

static void test_cluster_status(void **state)
{
    (void)state;
    OK("--json cluster status", "\"leader\":1,", "\"role\":\"leader\"",
       "\"term\":", "\"commit_index\":", "\"applied_index\":", "\"raft\":\"127.0.0.1:");
    OK("cluster status", "leader: 1", "ROLE", "leader");
}

/* cluster backup: what it prints; an existing FILE is one line on stderr naming --force */
static void test_cluster_backup(void **state)
{
    (void)state;
    char args[700];
    snprintf(args, sizeof(args), "cluster backup %s/cli.backup", err_path);
    OK(args, "backup written to ", "cli.backup: index ", " objects, ", " bytes (taken by leader 1");
    struct h_out o = strata(args);
    assert_int_not_equal(o.status, 0);
    assert_string_equal(o.out, "");
    assert_non_null(strstr(o.err, "exists"));
    assert_non_null(strstr(o.err, "--force"));
    assert_true(one_line(o.err));
    h_out_free(&o);
    snprintf(args, sizeof(args), "--json cluster backup --force --local %s/cli.backup", err_path);
    OK(args, "\"index\":", "\"objects\":", "\"bytes\":", "\"local\":true", "\"node\":1");
}

/* --version on every program: "NAME VERSION (git DESCRIBE)", exit 0, whatever else is given;
 * a bad --log-level is refused naming the accepted values. */
static void test_version_flags(void **state)
{
    (void)state;
    static const char *const progs[] = {"strata", "strata-dird", "strata-csd", "strata-agentd",
                                        "strata-gwd"};
    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        char cmd[1024], want[256];
        snprintf(cmd, sizeof(cmd), "%s --version", h_bin(progs[i]));
        snprintf(want, sizeof(want), "%s %s (git %s)\n", progs[i], strata_version(),
                 strata_version_git());
        char *out = NULL;
        assert_int_equal(h_run(cmd, &out), 0);
        assert_non_null(out);
        assert_string_equal(out, want);
        free(out);
        if (i == 0)
            continue;
        snprintf(cmd, sizeof(cmd), "%s --log-level loud 2>&1", h_bin(progs[i]));
        out = NULL;
        assert_int_equal(h_run(cmd, &out), 2);
        assert_non_null(out);
        if (strstr(out, "--log-level: bad value \"loud\" (one of debug, info, warn, error)") ==
            NULL)
            fail_msg("%s --log-level loud: %s", progs[i], out);
        free(out);
    }
}

/* `strata version`: the CLI's own, then each member's as it reports it itself; without a
 * directory, the CLI's alone and why (still exit 0). */
static void test_version_command(void **state)
{
    (void)state;
    char line[256], json_v[128], json_git[160];
    snprintf(line, sizeof(line), "strata %s (git %s)\n", strata_version(), strata_version_git());
    snprintf(json_v, sizeof(json_v), "\"version\":\"%s\"", strata_version());
    snprintf(json_git, sizeof(json_git), "\"git\":\"%s\"", strata_version_git());
    OK("version", line, "VERSION", "GIT", api_url, strata_version());
    OK("--json version", "\"directory_error\":null", "\"members\":[{\"id\":1,", json_v, json_git);

    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s --directory tcp://127.0.0.1:1 --timeout-ms 300 version",
             h_bin("strata"));
    char *out = NULL;
    assert_int_equal(h_run(cmd, &out), 0);
    assert_non_null(out);
    assert_memory_equal(out, line, strlen(line));
    assert_non_null(strstr(out, "directory: "));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_and_lists),     cmocka_unit_test(test_endpoints_and_resolve),
        cmocka_unit_test(test_gateways_and_policy), cmocka_unit_test(test_cluster_status),
        cmocka_unit_test(test_cluster_backup),      cmocka_unit_test(test_version_flags),
        cmocka_unit_test(test_version_command),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    h_cleanup();
    return rc;
}

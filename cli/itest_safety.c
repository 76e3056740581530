/* itest_safety.c - the binaries as an operator meets them when something is wrong: nothing
 * listening (an answer at once, not after --timeout-ms), a URL without its scheme (the same
 * words from the CLI and every daemon), and the exit-status convention (docs/cli.md). */
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
#include "loop.h"

static char err_path[512];

/* Run binary `bin` with `args`, capturing stdout and stderr apart, and timing it. */
static struct h_out run(const char *bin, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s %s", h_bin(bin), args);
    return h_run_out(cmd, err_path);
}

static int setup(void **state)
{
    (void)state;
    const char *dir = h_tmpdir("cli-safety");
    snprintf(err_path, sizeof(err_path), "%s", dir);
    h_tls_operator();
    return 0;
}

/* Nothing listens: the CLI says so at once, whatever --timeout-ms allows. */
static void test_refused_at_once(void **state)
{
    (void)state;
    char args[512], want[256];
    int port = h_free_port();
    snprintf(args, sizeof(args), "--timeout-ms 5000 --directory %s127.0.0.1:%d vnet list",
             h_tls_scheme(), port);
    struct h_out o = run("strata", args);
    snprintf(want, sizeof(want), "strata: %s127.0.0.1:%d: connection refused\n", h_tls_scheme(),
             port);
    assert_int_equal(o.status, 1);
    assert_string_equal(o.err, want);
    if (o.ms >= 1000)
        fail_msg("took %llu ms", (unsigned long long)o.ms);
    h_out_free(&o);

    /* an agent's control socket that is not there */
    o = run("strata", "--timeout-ms 5000 cache show --agent /nonexistent/agent.sock");
    assert_int_equal(o.status, 1);
    assert_string_equal(o.err, "strata: ipc:///nonexistent/agent.sock: no such socket\n");
    assert_true(o.ms < 1000);
    h_out_free(&o);

    /* two directory nodes, neither up: both tried, at once */
    snprintf(args, sizeof(args),
             "--json --timeout-ms 5000 --directory %s127.0.0.1:%d,ipc:///nonexistent/d.sock "
             "vnet list",
             h_tls_scheme(), port);
    o = run("strata", args);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.out, "{\"error\":\"EUNAVAIL\""));
    assert_non_null(strstr(o.out, "no directory node is listening"));
    assert_true(o.ms < 1000);
    h_out_free(&o);
}

/* A URL without its scheme: the same message from the CLI and each daemon, a usage error. */
static void test_url_without_scheme(void **state)
{
    (void)state;
    static const struct {
        const char *bin, *args;
    } cases[] = {
        {"strata", "--directory 127.0.0.1:7001 vnet list"},
        {"strata", "resolve --vni 100 --ip 10.1.0.5 --via 127.0.0.1:7301"},
        {"strata", "cache show --cs 127.0.0.1:7301"},
        {"strata", "cluster add 4 127.0.0.1:7104 --api 127.0.0.1:7004"},
        {"strata-dird", "--id 1 --data-dir /nonexistent --raft 127.0.0.1:7101 --api 127.0.0.1:7001 "
                        "--cluster 1=127.0.0.1:7101"},
        {"strata-csd", "--id c1 --pod a --listen 127.0.0.1:7301 --directory tcp://127.0.0.1:7001"},
        {"strata-csd", "--id c1 --pod a --listen tcp://127.0.0.1:7301 --directory 127.0.0.1:7001"},
        {"strata-agentd",
         "--host h1 --vtep 192.168.50.1 --pod a --cs 127.0.0.1:7301 --data-dir /nonexistent "
         "--ctl /nonexistent/a.sock"},
        {"strata-gwd",
         "--id g1 --vtep 192.168.50.9 --pod a --cs 127.0.0.1:7301 --data-dir /nonexistent "
         "--ctl /nonexistent/g.sock"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct h_out o = run(cases[i].bin, cases[i].args);
        if (o.status != 2 || strstr(o.err, "must be a URL like tcp://HOST:PORT") == NULL)
            fail_msg("%s %s: exit %d, stderr: %s", cases[i].bin, cases[i].args, o.status, o.err);
        h_out_free(&o);
    }
}

/* 0 success, 1 the operation failed, 2 a usage error (docs/cli.md). */
static void test_exit_status(void **state)
{
    (void)state;
    struct h_out o = run("strata", "--help");
    assert_int_equal(o.status, 0);
    h_out_free(&o);
    static const char *const usage[] = {
        "frobnicate",
        "",
        "vnet",
        "--timeout-ms x vnet list",
        "vnet create --vni 0 --domain acme",
        "endpoint add --vni 100 --mac zz --ip 10.1.0.5 --host h1",
        "--json vnet create --domain acme",
    };
    for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
        o = run("strata", usage[i]);
        if (o.status != 2)
            fail_msg("strata %s: exit %d (want 2), stderr: %s", usage[i], o.status, o.err);
        h_out_free(&o);
    }
    o = run("strata", "pki issue --dir /nonexistent --role agent --id h1");
    assert_int_equal(o.status, 1);
    h_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_at_once),
        cmocka_unit_test(test_url_without_scheme),
        cmocka_unit_test(test_exit_status),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    h_cleanup();
    return rc;
}

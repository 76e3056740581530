/* test_parse.c - the command table and parser, without a server: unknown commands, missing or
 * bad flags, and local validation (bad MAC, IP, VNI...) that must fail before any network call.
 * The context is "offline": a command that gets as far as the network fails with
 * STRATA_EINTERNAL "network used", which proves its input was accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>

#include "cli.h"

#define NET STRATA_EINTERNAL /* "reached the network": the input passed validation */

struct run_result {
    int rc;
    int net_calls;
    int exit; /* what strata would exit with */
    bool json;
    char msg[256];
    char *out;
};

/* Split `line` at blanks into argv and dispatch it offline. */
static struct run_result run(const char *line)
{
    char *copy = strdup(line);
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(copy, " "); tok != NULL && argc < 63; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;

    struct run_result r = {0};
    size_t len = 0;
    struct cli_ctx ctx;
    cli_ctx_init(&ctx);
    ctx.offline = true;
    ctx.out = open_memstream(&r.out, &len);
    struct strata_err e = {0};
    int argi = 0;
    bool help = false;
    r.rc = cli_parse_global(&ctx, argc, argv, &argi, &help, &e);
    if (r.rc == 0 && !help)
        r.rc = cli_dispatch(&ctx, argc - argi, argv + argi, &e);
    fclose(ctx.out);
    cli_ctx_close(&ctx);
    r.net_calls = ctx.net_calls;
    r.exit = cli_exit_status(&ctx, r.rc);
    r.json = ctx.json;
    snprintf(r.msg, sizeof(r.msg), "%s", e.msg);
    free(copy);
    return r;
}

struct parse_case {
    const char *line;
    int rc;
    const char *msg; /* substring of the error message (NULL: not checked) */
};

static const struct parse_case cases[] = {
    /* commands */
    {"frobnicate", STRATA_EINVAL, "unknown command \"frobnicate\""},
    {"vnet", STRATA_EINVAL, "missing subcommand (create, list, delete)"},
    {"vnet frob", STRATA_EINVAL, "unknown command \"vnet frob\""},
    {"vnet list extra", STRATA_EINVAL, "unexpected argument \"extra\""},
    /* flags */
    {"vnet create --domain acme", STRATA_EINVAL, "missing required flag --vni"},
    {"vnet create", STRATA_EINVAL, "--vni, --domain"},
    {"vnet create --vni 0 --domain acme", STRATA_EINVAL, "--vni"},
    {"vnet create --vni 16777216 --domain acme", STRATA_EINVAL, "--vni"},
    {"vnet create --vni 12x --domain acme", STRATA_EINVAL, "--vni"},
    {"vnet create --vni 5 --domain acme --bogus 1", STRATA_EINVAL, "unknown flag --bogus"},
    {"vnet create --domain acme --vni", STRATA_EINVAL, "--vni needs a value"},
    {"vnet create --vni 5 --domain a/b", STRATA_EINVAL, "domain"},
    {"vnet create --vni 5 --domain acme --name blue", NET, NULL},
    {"vnet create --vni=5 --domain=acme", NET, NULL},
    {"--timeout-ms 0 vnet list", STRATA_EINVAL, "--timeout-ms"},
    {"vnet list --json", NET, NULL},
    /* endpoints: every address is checked before anything is sent */
    {"endpoint add --vni 100 --mac zz:00:00:00:00:01 --ip 10.1.0.5 --host h1", STRATA_EINVAL,
     "bad MAC"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00 --ip 10.1.0.5 --host h1", STRATA_EINVAL,
     "bad MAC"},
    {"endpoint add --vni 100 --mac 03:00:00:00:00:01 --ip 10.1.0.5 --host h1", STRATA_EINVAL,
     "multicast"},
    {"endpoint add --vni 100 --mac 00:00:00:00:00:00 --ip 10.1.0.5 --host h1", STRATA_EINVAL,
     "all-zero"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.300 --host h1", STRATA_EINVAL,
     "10.1.0.300"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5,,10.1.0.6 --host h1",
     STRATA_EINVAL, "IP list"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5,10.1.0.5 --host h1",
     STRATA_EINVAL, "twice"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5 --host bad/host", STRATA_EINVAL,
     "host"},
    {"endpoint add --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5 --host h1", NET, NULL},
    {"endpoint add --vni 100 --mac 02-00-00-00-00-0A --ip 10.1.0.5,fd00::5 --host h1", NET, NULL},
    {"endpoint add --vni 100 --ip 10.1.0.5 --host h1", STRATA_EINVAL, "--mac"},
    {"endpoint move --vni 100 --mac 02:00:00:00:00:01 --host h2", NET, NULL},
    {"endpoint delete --vni 100 --mac 02:00:00:00:00:0g", STRATA_EINVAL, "bad MAC"},
    {"endpoint list --vni 100", NET, NULL},
    {"endpoint list", NET, NULL},
    /* the rest of the admin commands */
    {"domain create", STRATA_EINVAL, "expected NAME"},
    {"domain create acme", NET, NULL},
    {"subnet create --vni 1 --cidr 10.1.0.1/24 --gateway 10.1.0.1", STRATA_EINVAL, "host bits"},
    {"subnet create --vni 1 --cidr 10.1.0.0/24 --gateway 10.2.0.1", STRATA_EINVAL, "outside"},
    {"subnet create --vni 1 --cidr 10.1.0.0/24 --gateway fd00::1", STRATA_EINVAL, "outside"},
    {"subnet create --vni 1 --cidr 10.1.0.0/24 --gateway 10.1.0.1", NET, NULL},
    {"host add --id h1 --vtep 192.168.0.300 --pod a", STRATA_EINVAL, "192.168.0.300"},
    {"host add --id h1 --vtep 192.168.0.1 --pod a", NET, NULL},
    {"gateway add --id g1 --vtep 192.168.0.9 --vni 100,100", STRATA_EINVAL, "twice"},
    {"gateway add --id g1 --vtep 192.168.0.9 --vni 100,0", STRATA_EINVAL, "0"},
    {"gateway add --id g1 --vtep 192.168.0.9 --vni 100,200", NET, NULL},
    {"policy set --domain acme --from 100 --to 200 perhaps", STRATA_EINVAL, "allow or deny"},
    {"policy set --domain acme --from 100 --to 200", STRATA_EINVAL, "expected allow|deny"},
    {"policy set --domain acme --from 100 --to 200 allow", NET, NULL},
    {"policy set deny --domain acme --from 100 --to 200", NET, NULL},
    /* cluster: positionals before or after flags */
    {"cluster status", NET, NULL},
    {"cluster add 4", STRATA_EINVAL, "expected ID HOST:PORT"},
    {"cluster add 0 127.0.0.1:7104", STRATA_EINVAL, "member id"},
    {"cluster add 4 localhost:7104", STRATA_EINVAL, "localhost"},
    {"cluster add 4 127.0.0.1:7104 --api 127.0.0.1:7004", STRATA_EINVAL,
     "--api must be a URL like tcp://HOST:PORT (or tls+tcp://HOST:PORT, ipc://PATH), not "
     "\"127.0.0.1:7004\""},
    {"cluster add 4 127.0.0.1:7104 --api tcp://127.0.0.1:7004", NET, NULL},
    {"cluster add --api tcp://127.0.0.1:7004 4 127.0.0.1:7104", NET, NULL},
    {"cluster remove x", STRATA_EINVAL, "member id"},
    {"cluster transfer 2", NET, NULL},
    /* resolve and trace */
    {"resolve --vni 100", STRATA_EINVAL, "exactly one of --ip IP or --mac MAC"},
    {"resolve --vni 100 --ip 10.1.0.5 --mac 02:00:00:00:00:01", STRATA_EINVAL, "exactly one"},
    {"resolve --vni 100 --mac 02:00:00:00:00", STRATA_EINVAL, "bad MAC"},
    {"resolve --vni 100 --ip 10.1.0.5 --via 127.0.0.1:7301", STRATA_EINVAL,
     "--via must be a URL like tcp://HOST:PORT (or tls+tcp://HOST:PORT, ipc://PATH), not "
     "\"127.0.0.1:7301\""},
    {"resolve --vni 100 --ip 10.1.0.5 --via tcp://127.0.0.1", STRATA_EINVAL, "lacks a HOST:PORT"},
    {"resolve --vni 100 --ip 10.1.0.5 --from-vni 200 --min-index 7", NET, NULL},
    {"resolve --vni 100 --mac 02:00:00:00:00:01 --via tcp://127.0.0.1:7301", NET, NULL},
    {"resolve --vni 100 --ip 10.1.0.5 --linearizable", NET, NULL},
    {"resolve --vni 100 --ip 10.1.0.5 --linearizable --via tcp://127.0.0.1:7301", STRATA_EINVAL,
     "--linearizable reads go to the directory"},
    {"endpoint list --vni 100 --linearizable", NET, NULL},
    {"host list --linearizable --min-index 3", NET, NULL},
    {"trace --vni 100 --src-ip 10.1.0.5 --dst-ip fd00::1", STRATA_EINVAL, "families"},
    {"trace --vni 100 --src-ip 10.1.0.5 --dst-ip 10.1.0.6 --agent /tmp/a.ctl", NET, NULL},
    /* agent and caches */
    {"port attach --agent /tmp/a.ctl --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5 --ifname v0",
     STRATA_EINVAL, "prefix"},
    {"port attach --agent /tmp/a.ctl --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5/24 "
     "--ifname this-is-too-long-for-linux",
     STRATA_EINVAL, "interface name"},
    {"port attach --agent /tmp/a.ctl --vni 100 --mac 02:00:00:00:00:01 --ip 10.1.0.5/24 --ifname "
     "v0",
     NET, NULL},
    {"port detach --agent /tmp/a.ctl", STRATA_EINVAL, "--ifname"},
    {"port detach --agent /tmp/a.ctl --ifname v0", NET, NULL},
    {"cache show", STRATA_EINVAL, "exactly one of --cs URL or --agent CTL"},
    {"cache show --cs tcp://127.0.0.1:7301 --agent /tmp/a.ctl", STRATA_EINVAL, "exactly one"},
    {"cache show --cs tcp://127.0.0.1:7301", NET, NULL},
    {"cache show --cs 127.0.0.1:7301", STRATA_EINVAL,
     "--cs must be a URL like tcp://HOST:PORT (or tls+tcp://HOST:PORT, ipc://PATH), not "
     "\"127.0.0.1:7301\""},
    /* the directory's URLs: every one of the list */
    {"--directory 127.0.0.1:7001 vnet list", STRATA_EINVAL,
     "--directory (or STRATA_DIRECTORY) must be a URL like tcp://HOST:PORT"},
    {"vnet list --directory tcp://127.0.0.1:7001,127.0.0.1:7002", STRATA_EINVAL,
     "not \"127.0.0.1:7002\""},
    {"vnet list --directory tcp://127.0.0.1:7001,_ipc:///tmp/d.sock", STRATA_EINVAL,
     "must be a URL"},
    {"vnet list --directory tcp://127.0.0.1:7001,_tls+tcp://127.0.0.1:7002", STRATA_EINVAL,
     "must be a URL"},
    {"vnet list --directory tcp://127.0.0.1:7001,ipc:///tmp/d.sock", NET, NULL},
    {"cache show --agent /tmp/a.ctl", NET, NULL},
    /* pki: judged before any file is read (the directory named does not exist) */
    {"pki init", STRATA_EINVAL, "missing required flag --dir"},
    {"pki issue --dir /nonexistent --role agent", STRATA_EINVAL, "--id"},
    {"pki issue --dir /nonexistent --role admin --id h1", STRATA_EINVAL, "unknown role \"admin\""},
    {"pki issue --dir /nonexistent --role agent --id a/b", STRATA_EINVAL, "\"a/b\""},
    {"pki issue --dir /nonexistent --role agent --id h1 --ip 10.0.0.1,,10.0.0.2", STRATA_EINVAL,
     "IP list"},
    {"pki issue --dir /nonexistent --role agent --id h1 --ip 10.0.0.300", STRATA_EINVAL,
     "10.0.0.300"},
    {"pki issue --dir /nonexistent --role agent --id h1 --days 3651", STRATA_EINVAL, "--days"},
    {"pki issue --dir /nonexistent --role agent --id h1", STRATA_ENOTFOUND, "strata pki init"},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_result r = run(cases[i].line);
        if (r.rc != cases[i].rc || (cases[i].msg && strstr(r.msg, cases[i].msg) == NULL))
            fail_msg("\"%s\": rc %d msg \"%s\"; want rc %d msg ~ \"%s\"", cases[i].line, r.rc,
                     r.msg, cases[i].rc, cases[i].msg ? cases[i].msg : "");
        /* Rejected input never reaches the network; accepted input makes exactly one call
         * (pki never does: it works on local files). */
        assert_int_equal(r.net_calls, cases[i].rc == NET ? 1 : 0);
        /* Refused input is a usage error (2); anything else that fails is the operation's (1). */
        if (r.exit != (cases[i].rc == STRATA_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL))
            fail_msg("\"%s\": exit %d", cases[i].line, r.exit);
        free(r.out);
    }
}

/* One exit-status convention (docs/cli.md): 0 success, 1 the operation failed, 2 usage. */
static void test_exit_status(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int exit;
    } want[] = {
        {"vnet list --help", CLI_EXIT_OK},
        {"frobnicate", CLI_EXIT_USAGE},
        {"vnet", CLI_EXIT_USAGE},
        {"--timeout-ms x vnet list", CLI_EXIT_USAGE},
        {"vnet create --vni 0 --domain acme", CLI_EXIT_USAGE},
        {"endpoint add --vni 100 --mac zz --ip 10.1.0.5 --host h1", CLI_EXIT_USAGE},
        {"--directory 127.0.0.1:7001 vnet list", CLI_EXIT_USAGE},
        {"vnet list", CLI_EXIT_FAIL}, /* offline: "network used", an operation's failure */
        {"pki issue --dir /nonexistent --role agent --id h1", CLI_EXIT_FAIL},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct run_result r = run(want[i].line);
        if (r.exit != want[i].exit)
            fail_msg("\"%s\": exit %d (rc %d, %s), want %d", want[i].line, r.exit, r.rc, r.msg,
                     want[i].exit);
        free(r.out);
    }
    /* an EINVAL that a server gave, after a network call, is the operation's failure */
    struct cli_ctx ctx;
    cli_ctx_init(&ctx);
    ctx.net_calls = 1;
    assert_int_equal(cli_exit_status(&ctx, STRATA_EINVAL), CLI_EXIT_FAIL);
}

/* STRATA_DIRECTORY is judged like --directory, before any network call. */
static void test_directory_env(void **state)
{
    (void)state;
    setenv("STRATA_DIRECTORY", "127.0.0.1:7001", 1);
    struct run_result r = run("vnet list");
    unsetenv("STRATA_DIRECTORY");
    assert_int_equal(r.rc, STRATA_EINVAL);
    assert_int_equal(r.net_calls, 0);
    assert_non_null(strstr(r.msg, "STRATA_DIRECTORY) must be a URL like tcp://HOST:PORT"));
    free(r.out);
}

static void test_global_flags_anywhere(void **state)
{
    (void)state;
    struct run_result r = run("vnet list --json");
    assert_true(r.json);
    free(r.out);
    r = run("--json vnet list");
    assert_true(r.json);
    free(r.out);
    r = run("vnet list");
    assert_false(r.json);
    free(r.out);
}

static void test_help(void **state)
{
    (void)state;
    struct run_result r = run("vnet create --help");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.net_calls, 0);
    assert_non_null(strstr(r.out, "usage: strata vnet create --vni N --domain NAME [--name S]"));
    assert_non_null(strstr(r.out, "--domain NAME"));
    free(r.out);
    /* --help wins even when required flags are missing or values are bad. */
    r = run("endpoint add --mac zz -h");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: strata endpoint add"));
    free(r.out);
    r = run("vnet --help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "strata vnet delete --vni N"));
    assert_null(strstr(r.out, "endpoint"));
    free(r.out);
    r = run("resolve --help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "(--ip IP | --mac MAC)"));
    free(r.out);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_help_top(f);
    fclose(f);
    for (size_t i = 0; i < cli_ncmds; i++)
        assert_non_null(strstr(buf, cli_cmds[i].help));
    free(buf);
}

/* Every spelling of /work/shared/INTERFACE.md names a command of the table. */
static void test_interface_spellings(void **state)
{
    (void)state;
    static const char *const spellings[] = {
        "cluster status", "cluster add",   "cluster remove",  "cluster transfer", "domain create",
        "domain list",    "vnet create",   "vnet list",       "vnet delete",      "subnet create",
        "subnet list",    "host add",      "host list",       "gateway add",      "gateway list",
        "endpoint add",   "endpoint move", "endpoint delete", "endpoint list",    "policy set",
        "policy list",    "resolve",       "trace",           "port attach",      "port detach",
        "cache show",     "pki init",      "pki issue",
    };
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "%s --help", spellings[i]);
        struct run_result r = run(line);
        if (r.rc != 0)
            fail_msg("%s: %s", spellings[i], r.msg);
        char want[80];
        snprintf(want, sizeof(want), "usage: strata %s", spellings[i]);
        assert_non_null(strstr(r.out, want));
        free(r.out);
    }
}

static void test_synopsis(void **state)
{
    (void)state;
    static const struct {
        const char *group, *sub, *want;
    } cases[] = {
        {"cluster", "add", "ID HOST:PORT [--api URL]"},
        {"policy", "set", "--domain NAME --from VNI --to VNI allow|deny"},
        {"endpoint", "add", "--vni N --mac MAC --ip IP[,IP...] --host NAME [--replace]"},
        {"endpoint", "list", "[--vni N] [--min-index N] [--linearizable]"},
        {"port", "attach", "--agent CTL --vni N --mac MAC --ip IP/PLEN --ifname IF"},
        {"cache", "show", "(--cs URL | --agent CTL)"},
        {"cluster", "status", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cli_cmd *c = NULL;
        for (size_t k = 0; k < cli_ncmds; k++)
            if (strcmp(cli_cmds[k].group, cases[i].group) == 0 && cli_cmds[k].sub &&
                strcmp(cli_cmds[k].sub, cases[i].sub) == 0)
                c = &cli_cmds[k];
        assert_non_null(c);
        char buf[512];
        cli_synopsis(c, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* pki init and issue end to end, offline: the files written, and the JSON that says so. */
static void test_pki(void **state)
{
    (void)state;
    char dir[64], line[256], want[256];
    snprintf(dir, sizeof(dir), "/tmp/strata-cli-pki-XXXXXX");
    assert_non_null(mkdtemp(dir));

    snprintf(line, sizeof(line), "--json pki init --dir %s/ca", dir);
    struct run_result r = run(line);
    if (r.rc != 0)
        fail_msg("%s: %s", line, r.msg);
    snprintf(want, sizeof(want), "{\"ca\":\"%s/ca/ca.crt\",\"key\":\"%s/ca/ca.key\"}\n", dir, dir);
    assert_string_equal(r.out, want);
    free(r.out);

    r = run(line);
    assert_int_equal(r.rc, STRATA_EEXIST);
    assert_non_null(strstr(r.msg, "ca.key exists"));
    free(r.out);

    snprintf(line, sizeof(line),
             "pki issue --dir %s/ca --role directory --id 1 --json --ip "
             "192.0.2.1,fd00::1 --days 90",
             dir);
    r = run(line);
    if (r.rc != 0)
        fail_msg("%s: %s", line, r.msg);
    snprintf(want, sizeof(want),
             "{\"cert\":\"%s/ca/1.crt\",\"key\":\"%s/ca/1.key\",\"role\":\"directory\","
             "\"id\":\"1\",\"ips\":[\"192.0.2.1\",\"fd00::1\"],\"days\":90}\n",
             dir, dir);
    assert_string_equal(r.out, want);
    assert_int_equal(r.net_calls, 0);
    free(r.out);

    snprintf(line, sizeof(line), "pki issue --dir %s/ca --role agent --id h1", dir);
    r = run(line);
    assert_int_equal(r.rc, 0);
    snprintf(want, sizeof(want), "wrote %s/ca/h1.key", dir);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "OU=agent, CN=h1, valid 825 days\n"));
    free(r.out);
    r = run(line);
    assert_int_equal(r.rc, STRATA_EEXIST);
    assert_non_null(strstr(r.msg, "h1.key"));
    free(r.out);

    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_ctl_url(void **state)
{
    (void)state;
    char buf[128];
    cli_ctl_url("/run/strata/agentd.ctl", buf, sizeof(buf));
    assert_string_equal(buf, "ipc:///run/strata/agentd.ctl");
    cli_ctl_url("ipc:///tmp/x", buf, sizeof(buf));
    assert_string_equal(buf, "ipc:///tmp/x");
    cli_ctl_url("tcp://127.0.0.1:9", buf, sizeof(buf));
    assert_string_equal(buf, "tcp://127.0.0.1:9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table), cmocka_unit_test(test_global_flags_anywhere),
        cmocka_unit_test(test_help),        cmocka_unit_test(test_interface_spellings),
        cmocka_unit_test(test_synopsis),    cmocka_unit_test(test_ctl_url),
        cmocka_unit_test(test_pki),         cmocka_unit_test(test_directory_env),
        cmocka_unit_test(test_exit_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_flags.c - table-driven flag parsing: forms, errors naming the flag, usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flags.h"
#include "log.h"
#include "version.h"

struct opts {
    const char *data_dir;
    const char *raft;
    uint64_t id;
    uint64_t election_ms;
    uint32_t vni;
    bool join;
    bool json;
};

static struct opts o;

static const struct strata_flag tbl[] = {
    {"id", STRATA_FLAG_U64, &o.id, "N", "this node's id", true, 1, 1000},
    {"data-dir", STRATA_FLAG_STR, &o.data_dir, "DIR", "where Raft keeps its log", true, 0, 0},
    {"raft", STRATA_FLAG_STR, &o.raft, "HOST:PORT", "Raft address", false, 0, 0},
    {"election-ms", STRATA_FLAG_U64, &o.election_ms, "MS", "election timeout", false, 100, 0},
    {"vni", STRATA_FLAG_VNI, &o.vni, NULL, "virtual network", false, 0, 0},
    {"join", STRATA_FLAG_BOOL, &o.join, NULL, "wait to be added", false, 0, 0},
    {"json", STRATA_FLAG_BOOL, &o.json, NULL, "print JSON", false, 0, 0},
    STRATA_FLAGS_END,
};

static void reset_opts(void)
{
    o = (struct opts){.raft = "127.0.0.1:9001", .election_ms = 1000};
}

/* Parse a NULL-terminated argument list starting at index 1 (index 0 is the program). */
static int parse(struct strata_err *e, int *argi, const char *const *args)
{
    static char *argv[32];
    int argc = 0;
    argv[argc++] = "prog";
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    *argi = 1;
    strata_err_clear(e);
    reset_opts();
    return strata_flags_parse(tbl, argc, argv, argi, e);
}
#define PARSE(...) parse(&e, &argi, (const char *const[]){__VA_ARGS__, NULL})

static void test_both_forms_and_defaults(void **state)
{
    (void)state;
    struct strata_err e;
    int argi;
    assert_int_equal(PARSE("--id", "3", "--data-dir=/tmp/d", "--vni=5001", "--join"), 0);
    assert_int_equal(argi, 6);
    assert_int_equal(o.id, 3);
    assert_string_equal(o.data_dir, "/tmp/d");
    assert_string_equal(o.raft, "127.0.0.1:9001"); /* default kept */
    assert_int_equal(o.election_ms, 1000);
    assert_int_equal(o.vni, 5001);
    assert_true(o.join);
    assert_false(o.json);

    /* Stops at the first positional argument and leaves it at argi; "--" ends flags too. */
    assert_int_equal(PARSE("--data-dir", "d", "--id=1", "vnet", "create", "--vni", "7"), 0);
    assert_int_equal(argi, 4);
    assert_int_equal(o.vni, 0);
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--", "--json"), 0);
    assert_int_equal(argi, 4);
    assert_false(o.json);
    /* Last one wins; a value may contain '='. */
    assert_int_equal(PARSE("--id=1", "--id=2", "--data-dir=a=b"), 0);
    assert_int_equal(o.id, 2);
    assert_string_equal(o.data_dir, "a=b");
    /* "-" alone is positional. */
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "-"), 0);
    assert_int_equal(argi, 3);
}

static void test_errors_name_the_flag(void **state)
{
    (void)state;
    struct strata_err e;
    int argi;
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--bogus", "x"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--bogus"));
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--bogus=1"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--bogus"));
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "-x"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "-x"));
    /* Prefixes are not abbreviations. */
    assert_int_equal(PARSE("--id=1", "--data=d"), STRATA_EINVAL);
    assert_int_equal(PARSE("--id=1", "--data-dirx=d"), STRATA_EINVAL);

    assert_int_equal(PARSE("--id=1", "--data-dir"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--data-dir needs a value"));
    assert_int_equal(PARSE("--data-dir", "--id=1"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--data-dir needs a value"));
    assert_int_equal(PARSE("--id=1", "--data-dir="), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--data-dir"));

    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--json=true"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--json takes no value"));
    /* A bool does not swallow the next argument. */
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--json", "true"), 0);
    assert_true(o.json);
    assert_int_equal(argi, 4);
}

static void test_numbers_and_ranges(void **state)
{
    (void)state;
    struct strata_err e;
    int argi;
    assert_int_equal(PARSE("--id=1000", "--data-dir=d"), 0);
    assert_int_equal(o.id, 1000);
    assert_int_equal(PARSE("--id=1001", "--data-dir=d"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--id"));
    assert_non_null(strstr(e.msg, "1..1000"));
    assert_int_equal(PARSE("--id=0", "--data-dir=d"), STRATA_EINVAL);
    assert_int_equal(PARSE("--id=-1", "--data-dir=d"), STRATA_EINVAL);
    assert_int_equal(PARSE("--id=1x", "--data-dir=d"), STRATA_EINVAL);
    assert_int_equal(PARSE("--id=", "--data-dir=d"), STRATA_EINVAL);
    /* max 0 = no upper bound; min still applies. */
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--election-ms=18446744073709551615"), 0);
    assert_true(o.election_ms == UINT64_MAX);
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--election-ms=18446744073709551616"),
                     STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--election-ms"));
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--election-ms=99"), STRATA_EINVAL);
    /* VNI range */
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--vni", "16777215"), 0);
    assert_int_equal(o.vni, 16777215);
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--vni", "16777216"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--vni"));
    assert_int_equal(PARSE("--id=1", "--data-dir=d", "--vni", "0"), STRATA_EINVAL);
}

static void test_required_and_help(void **state)
{
    (void)state;
    struct strata_err e;
    int argi;
    assert_int_equal(PARSE("--json"), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--id"));
    assert_non_null(strstr(e.msg, "--data-dir"));
    assert_int_equal(PARSE("--id=4"), STRATA_EINVAL);
    assert_null(strstr(e.msg, "--id"));
    assert_non_null(strstr(e.msg, "--data-dir"));
    /* Required flags after a positional argument do not count. */
    assert_int_equal(PARSE("cmd", "--id=1", "--data-dir=d"), STRATA_EINVAL);

    assert_int_equal(PARSE("--help"), STRATA_ENOTFOUND);
    assert_int_equal(PARSE("--id=1", "-h"), STRATA_ENOTFOUND);
    /* No flags at all, none required: fine. */
    static const struct strata_flag empty[] = {STRATA_FLAGS_END};
    char *argv[] = {"prog", "x", NULL};
    argi = 1;
    assert_int_equal(strata_flags_parse(empty, 2, argv, &argi, &e), 0);
    assert_int_equal(argi, 1);
    argi = 2;
    assert_int_equal(strata_flags_parse(empty, 2, argv, &argi, &e), 0);
    assert_int_equal(argi, 2);
}

/* What strata_flags_usage prints for `t` (free it). */
static char *usage_of(const struct strata_flag *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    strata_flags_usage(f, t);
    fclose(f);
    return buf;
}

static void test_usage(void **state)
{
    (void)state;
    reset_opts();
    char *buf = usage_of(tbl);
    assert_non_null(strstr(buf, "  --id N"));
    assert_non_null(strstr(buf, "this node's id (required)\n"));
    assert_non_null(strstr(buf, "--data-dir DIR"));
    assert_non_null(strstr(buf, "where Raft keeps its log (required)\n"));
    assert_non_null(strstr(buf, "Raft address (default: 127.0.0.1:9001)\n"));
    assert_non_null(strstr(buf, "election timeout (default: 1000)\n"));
    assert_non_null(strstr(buf, "--vni VNI"));
    assert_non_null(strstr(buf, "  --join "));
    /* Help texts start in one aligned column. */
    int col = -1, lines = 0;
    for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
        const char *h = NULL;
        for (size_t i = 0; tbl[i].name != NULL; i++)
            if ((h = strstr(l, tbl[i].help)) != NULL && h < strchr(l, '\n'))
                break;
        assert_non_null(h);
        if (col < 0)
            col = (int)(h - l);
        assert_int_equal((int)(h - l), col);
        lines++;
    }
    assert_int_equal(lines, 7);
    free(buf);
}

/* A help text that states its own default (the stored value being only a marker) is not
 * followed by the stored one: dir-bench printed "(default: the daemon's own) (default:
 * 18446744073709551615)". */
static void test_usage_own_default(void **state)
{
    (void)state;
    uint64_t poll = UINT64_MAX, secs = 5;
    const struct strata_flag t[] = {
        {"busy-poll-us", STRATA_FLAG_U64, &poll, "US", "polling (default: the daemon's own)", false,
         0, 0},
        {"seconds", STRATA_FLAG_U64, &secs, "S", "duration", false, 0, 0},
        STRATA_FLAGS_END,
    };
    char *buf = usage_of(t);
    assert_non_null(strstr(buf, "polling (default: the daemon's own)\n"));
    assert_null(strstr(buf, "18446744073709551615"));
    assert_non_null(strstr(buf, "duration (default: 5)\n"));
    free(buf);
}

/* --version answers before anything else is judged (a missing required flag included): the
 * program's name, the version and git's description, on stdout, and exit status 0. */
static void test_version(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        struct strata_err e;
        int argi;
        PARSE("--json", "--version");
        _exit(99); /* not reached: --version exits */
    }
    close(fds[1]);
    char out[256] = "";
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char want[256];
    snprintf(want, sizeof(want), "lib_test_flags %s (git %s)\n", strata_version(),
             strata_version_git());
    assert_string_equal(out, want);
    /* From CMake's project(): three numbers. */
    unsigned a, b, c;
    assert_int_equal(sscanf(strata_version(), "%u.%u.%u", &a, &b, &c), 3);
    assert_true(strata_version_git()[0] != '\0');
}

/* A choice flag: one of the values listed in its metavar; anything else is refused with an
 * error naming them all. STRATA_LOG_FLAG_ROW is the one every daemon has. */
static void test_choice_and_log_level(void **state)
{
    (void)state;
    int level = -1;
    const struct strata_flag t[] = {STRATA_LOG_FLAG_ROW(&level), STRATA_FLAGS_END};
    struct strata_err e = {0};
    char *argv[] = {"prog",        "--log-level", "warn",         "--log-level=debug",
                    "--log-level", "loud",        "--log-level=", NULL};
    int argi = 1;
    assert_int_equal(strata_flags_parse(t, 3, argv, &argi, &e), 0);
    assert_int_equal(level, STRATA_LOG_WARN);
    argi = 3;
    assert_int_equal(strata_flags_parse(t, 4, argv, &argi, &e), 0);
    assert_int_equal(level, STRATA_LOG_DEBUG);
    argi = 4;
    assert_int_equal(strata_flags_parse(t, 6, argv, &argi, &e), STRATA_EINVAL);
    assert_string_equal(e.msg, "--log-level: bad value \"loud\" (one of debug, info, warn, error)");
    assert_int_equal(level, STRATA_LOG_DEBUG);
    argi = 6;
    assert_int_equal(strata_flags_parse(t, 7, argv, &argi, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "one of debug, info, warn, error"));

    /* The help lists the values; a stored choice is shown as the default. */
    char *buf = usage_of(t);
    assert_non_null(strstr(buf, "--log-level debug|info|warn|error"));
    assert_null(strstr(buf, "(default: debug)")); /* the row's help states its own default */
    free(buf);
    int color = 1;
    const struct strata_flag t2[] = {
        {"color", STRATA_FLAG_CHOICE, &color, "never|auto|always", "colors", false, 0, 0},
        STRATA_FLAGS_END,
    };
    buf = usage_of(t2);
    assert_non_null(strstr(buf, "colors (default: auto)\n"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_forms_and_defaults),
        cmocka_unit_test(test_errors_name_the_flag),
        cmocka_unit_test(test_numbers_and_ranges),
        cmocka_unit_test(test_required_and_help),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_usage_own_default),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_choice_and_log_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

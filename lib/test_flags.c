/* test_flags.c - table-driven flag parsing: forms, errors naming the flag, usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flags.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_forms_and_defaults),
        cmocka_unit_test(test_errors_name_the_flag),
        cmocka_unit_test(test_numbers_and_ranges),
        cmocka_unit_test(test_required_and_help),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_usage_own_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

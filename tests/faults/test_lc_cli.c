/* test_lc_cli.c - strata-lincheck's verdicts, exit statuses and its account of a violation,
 * run in-process on history files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_cli.h"
#include "lincheck.h"

struct run {
    int status;
    char *out, *err;
};

static char tmp_path[64];

static void write_history(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/lc-cli-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* strata-lincheck ARGS... (NULL-terminated), with the history file appended when `text`. */
static struct run run_cli(const char *text, ...)
{
    char *argv[16] = {"strata-lincheck"};
    int argc = 1;
    va_list ap;
    va_start(ap, text);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 14;)
        argv[argc++] = a;
    va_end(ap);
    if (text != NULL) {
        write_history(text);
        argv[argc++] = tmp_path;
    }
    struct run r = {0};
    size_t no, ne;
    FILE *out = open_memstream(&r.out, &no), *err = open_memstream(&r.err, &ne);
    assert_non_null(out);
    assert_non_null(err);
    r.status = lc_cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    if (text != NULL)
        unlink(tmp_path);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void assert_has(const char *s, const char *want)
{
    if (strstr(s, want) == NULL)
        fail_msg("'%s' not in:\n%s", want, s);
}

/* Balanced braces and brackets outside strings, one line: a cheap sanity check of the JSON. */
static void assert_json_shape(const char *s)
{
    int depth = 0;
    bool str = false;
    for (const char *p = s; *p != '\0'; p++) {
        if (str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                str = false;
            continue;
        }
        if (*p == '"')
            str = true;
        else if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            assert_true(--depth >= 0);
        else if (*p == '\n')
            assert_true(p[1] == '\0' && depth == 0);
    }
    assert_int_equal(depth, 0);
    assert_false(str);
}

static void test_linearizable(void **state)
{
    (void)state;
    struct run r = run_cli("proc=1 op=write key=a val=1 t0=0 t1=50 res=ok\n"
                           "proc=2 op=read key=a val=1 t0=10 t1=60 res=ok\n"
                           "proc=3 op=read key=b val=absent t0=10 t1=60 res=ok final=1\n",
                           NULL);
    assert_int_equal(r.status, 0);
    assert_json_shape(r.out);
    assert_has(r.out, "{\"ops\":3,\"keys\":2,\"verdict\":\"linearizable\",\"time_ms\":");
    assert_has(r.out, "\"key\":null,\"sub_history\":[]");
    assert_has(r.out, "\"lost_writes\":0,\"node_backwards\":0,\"anomalies\":[]}");
    assert_string_equal(r.err, "");
    run_free(&r);
}

/* A violation: exit 1, the key and its minimal sub-history in the JSON, and on stderr the same
 * sub-history as history lines, which strata-lincheck judges a violation on their own. */
static void test_violation_and_its_sub_history(void **state)
{
    (void)state;
    struct run r = run_cli("op=init key=ep1 val=h0\n"
                           "proc=1 op=write key=ep1 val=h1 t0=0 t1=10 res=ok\n"
                           "proc=9 op=write key=ep2 val=h5 t0=0 t1=10 res=ok\n"
                           "proc=2 op=write key=ep1 val=h2 t0=15 t1=25 res=ok\n"
                           "proc=3 op=read key=ep1 val=h2 t0=26 t1=28 res=ok\n"
                           "proc=3 op=read key=ep1 val=h1 t0=30 t1=40 res=ok\n",
                           NULL);
    assert_int_equal(r.status, 1);
    assert_json_shape(r.out);
    assert_has(r.out, "\"verdict\":\"violation\"");
    assert_has(r.out, "\"violating_keys\":1,\"unknown_keys\":0,\"key\":\"ep1\",\"sub_history\":["
                      "{\"line\":2,\"proc\":1,\"op\":\"write\",\"key\":\"ep1\",\"val\":\"h1\","
                      "\"t0\":0,\"t1\":10,\"res\":\"ok\"},{\"line\":4,");
    assert_has(r.out,
               "{\"line\":6,\"proc\":3,\"op\":\"read\",\"key\":\"ep1\",\"val\":\"h1\",\"t0\":"
               "30,\"t1\":40,\"res\":\"ok\",\"mode\":\"lin\"}],\"sub_history_minimal\":true");
    assert_has(r.err, "key ep1 is not linearizable; a minimal sub-history (3 ops):\n"
                      "  op=init key=ep1 val=h0\n"
                      "  proc=1 op=write key=ep1 val=h1 t0=0 t1=10 res=ok   # line 2\n");
    /* the account, pasted into a file of its own, fails again */
    char *sub = strdup(strchr(r.err, '\n') + 1);
    run_free(&r);
    r = run_cli(sub, NULL);
    assert_int_equal(r.status, 1);
    assert_has(r.out, "{\"ops\":3,\"keys\":1,\"verdict\":\"violation\"");
    free(sub);
    run_free(&r);
}

/* The simple checks alone make a violation too, with their messages. */
static void test_anomalies_are_violations(void **state)
{
    (void)state;
    struct run r = run_cli("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                           "proc=1 op=write key=a val=2 t0=20 t1=30 res=ok\n"
                           "proc=2 op=read key=a val=1 t0=40 t1=50 res=ok mode=cs node=c1 "
                           "ver=1 final=1\n",
                           NULL);
    assert_int_equal(r.status, 1);
    assert_json_shape(r.out);
    assert_has(r.out, "\"verdict\":\"violation\",\"time_ms\":");
    assert_has(r.out, "\"linearizability\":\"linearizable\"");
    assert_has(r.out, "\"lost_writes\":1,\"node_backwards\":0,\"anomalies\":[{\"kind\":\"lost-"
                      "write\",\"line\":3,\"msg\":\"final read (line 3) of a returned 1, but");
    assert_has(r.err, "that write is lost\n");
    run_free(&r);
}

static void test_unknown_and_bad_input(void **state)
{
    (void)state;
    /* a search past its bound: exit 2, verdict unknown */
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "proc=%d op=write key=a val=v%d t0=%d t1=%d res=ok\n"
                              "proc=%d op=read key=a val=v%d t0=%d t1=%d res=ok\n",
                              i % 3, i, 10 * i, 10 * i + 3, 3 + i % 3, i, 10 * i + 4, 10 * i + 8);
    struct run r = run_cli(text, "--max-steps", "1", NULL);
    assert_int_equal(r.status, 2);
    assert_has(r.out, "\"verdict\":\"unknown\"");
    assert_has(r.out, "\"unknown_keys\":1,\"key\":\"a\",\"sub_history\":[]");
    assert_has(r.err, "1 key(s) not decided within the bounds (first: a)");
    run_free(&r);
    r = run_cli(text, NULL); /* and decided without the bound */
    assert_int_equal(r.status, 0);
    run_free(&r);
    free(text);

    r = run_cli("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                "proc=1 op=write key=a val=2 t0=20 t1=30 res=sure\n",
                NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    assert_has(r.err, ": line 2: res=sure: expected one of ok|fail|info\n");
    run_free(&r);
    r = run_cli(NULL, "/nonexistent/history", NULL);
    assert_int_equal(r.status, 2);
    assert_has(r.err, "/nonexistent/history: No such file or directory");
    run_free(&r);
    r = run_cli(NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_has(r.err, "expected one HISTORY file");
    run_free(&r);
    r = run_cli(NULL, "--max-steps", "0", "h", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
    r = run_cli(NULL, "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "usage: strata-lincheck [flags] HISTORY");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linearizable),
        cmocka_unit_test(test_violation_and_its_sub_history),
        cmocka_unit_test(test_anomalies_are_violations),
        cmocka_unit_test(test_unknown_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

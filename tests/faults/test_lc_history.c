/* test_lc_history.c - the history line format: what it reads, what it refuses (with the line),
 * and that a printed operation reads back the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_history.h"

static const char *const good =
    "# a comment, then a blank line\n"
    "\n"
    "op=init key=10/10.0.0.5 val=h0\n"
    "proc=1 op=write key=10/10.0.0.5 val=h1.7 t0=100 t1=250 res=ok # moved to h1\n"
    "proc=2 op=read key=10/10.0.0.5 val=h1.7 t0=120 t1=300 res=ok\n"
    "  proc=3\top=read key=10/10.0.0.5 val=absent t0=-5 t1=0 res=ok mode=ser node=dird-2 "
    "ver=17\n"
    "proc=4 op=write key=ep-9 val=h2 t0=400 res=info\n"
    "proc=5 op=write key=ep-9 val=h3 t0=400 t1=900 res=info\n"
    "proc=6 op=read key=ep-9 t0=400 t1=500 res=fail\n"
    "proc=7 op=read key=ep-9 val=h3 t0=1000 t1=1001 res=ok mode=cs node=csd-1 ver=3 final=1\n"
    "proc=8 op=write key=ep-9 val=absent t0=2000 t1=2001 res=ok\n";

static void test_parse_good(void **state)
{
    (void)state;
    struct lc_history h;
    struct strata_err e;
    lc_history_init(&h);
    if (lc_history_parse_str(&h, good, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(h.n, 8);
    assert_int_equal(h.keys.n - 1, 2);
    const struct lc_op *w = &h.ops[0], *ser = &h.ops[2], *info = &h.ops[3], *cs = &h.ops[6];
    assert_int_equal(w->line, 4);
    assert_int_equal(w->kind, LC_WRITE);
    assert_int_equal(w->outcome, LC_OK);
    assert_string_equal(lc_history_key(&h, w->key), "10/10.0.0.5");
    assert_string_equal(lc_history_value(&h, w->value), "h1.7");
    assert_int_equal(h.ops[1].value, w->value);
    assert_string_equal(lc_history_value(&h, h.init[w->key]), "h0");
    assert_true(w->invoke == 100 && w->complete == 250);
    assert_int_equal(ser->value, LC_ABSENT);
    assert_int_equal(ser->mode, LC_MODE_SER);
    assert_string_equal(lc_history_node(&h, ser->node), "dird-2");
    assert_true(ser->has_version && ser->version == 17 && ser->invoke == -5);
    /* indeterminate: never completes, whatever t1 says */
    assert_true(info->complete == LC_T_INF && h.ops[4].complete == LC_T_INF);
    assert_int_equal(h.ops[5].outcome, LC_FAIL);
    assert_true(cs->mode == LC_MODE_CS && cs->final && cs->version == 3);
    assert_false(w->final || w->has_version);
    assert_int_equal(h.ops[7].value, LC_ABSENT); /* a delete */
    assert_int_equal(lc_history_check_procs(&h, &e), 0);
    lc_history_free(&h);
}

static void test_print_reads_back(void **state)
{
    (void)state;
    struct lc_history h, back;
    struct strata_err e;
    lc_history_init(&h);
    lc_history_init(&back);
    assert_int_equal(lc_history_parse_str(&h, good, &e), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    for (size_t i = 0; i < h.n; i++) {
        lc_op_print(f, &h, &h.ops[i]);
        fputc('\n', f);
    }
    fclose(f);
    if (lc_history_parse_str(&back, buf, &e) != 0)
        fail_msg("%s in:\n%s", e.msg, buf);
    assert_int_equal(back.n, h.n);
    for (size_t i = 0; i < h.n; i++) {
        const struct lc_op *a = &h.ops[i], *b = &back.ops[i];
        assert_string_equal(lc_history_key(&h, a->key), lc_history_key(&back, b->key));
        assert_string_equal(lc_history_value(&h, a->value), lc_history_value(&back, b->value));
        assert_string_equal(lc_history_node(&h, a->node), lc_history_node(&back, b->node));
        assert_true(a->proc == b->proc && a->kind == b->kind && a->outcome == b->outcome &&
                    a->mode == b->mode && a->invoke == b->invoke && a->complete == b->complete &&
                    a->final == b->final && a->has_version == b->has_version &&
                    a->version == b->version);
    }
    free(buf);
    lc_history_free(&h);
    lc_history_free(&back);
}

/* What the harness writes with lc_op_in_print, the parser reads as the same operations. */
static void test_harness_lines_read_back(void **state)
{
    (void)state;
    const struct lc_op_in ops[] = {
        {.proc = 1,
         .kind = LC_WRITE,
         .key = "7/10.0.0.9",
         .value = "h2.41",
         .invoke = 5,
         .complete = 9,
         .outcome = LC_OK},
        {.proc = 2,
         .kind = LC_WRITE,
         .key = "ep-3",
         .value = "absent",
         .invoke = -3,
         .complete = 4000,
         .outcome = LC_INFO},
        {.proc = 3,
         .kind = LC_READ,
         .key = "ep-3",
         .value = NULL,
         .invoke = 1,
         .complete = 2,
         .outcome = LC_FAIL},
        {.proc = 4,
         .kind = LC_READ,
         .key = "ep-3",
         .value = "h9",
         .invoke = 10,
         .complete = 12,
         .outcome = LC_OK,
         .mode = LC_MODE_CS,
         .node = "csd-2",
         .final = true,
         .has_version = true,
         .version = 18446744073709551615ull},
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        lc_op_in_print(f, &ops[i]);
        fputc('\n', f);
    }
    fclose(f);
    struct lc_history h;
    struct strata_err e;
    lc_history_init(&h);
    if (lc_history_parse_str(&h, buf, &e) != 0)
        fail_msg("%s in:\n%s", e.msg, buf);
    assert_int_equal(h.n, 4);
    for (size_t i = 0; i < h.n; i++) {
        const struct lc_op *b = &h.ops[i];
        const struct lc_op_in *a = &ops[i];
        assert_string_equal(lc_history_key(&h, b->key), a->key);
        assert_string_equal(lc_history_value(&h, b->value), a->value != NULL ? a->value : "absent");
        assert_string_equal(lc_history_node(&h, b->node), a->node != NULL ? a->node : "");
        assert_true(a->proc == b->proc && a->kind == b->kind && a->outcome == b->outcome &&
                    a->mode == b->mode && a->invoke == b->invoke && a->final == b->final &&
                    a->has_version == b->has_version && a->version == b->version);
        assert_true(b->complete == (a->outcome == LC_INFO ? LC_T_INF : a->complete));
    }
    assert_non_null(strstr(buf, "t0=-3 t1=4000 res=info")); /* when the client gave up */
    free(buf);
    lc_history_free(&h);
}

/* Each bad line is refused with its line number and a message naming the problem, and adds
 * nothing: the operations before it stay, no key or value is left behind. */
static void test_parse_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"proc=1 op=write key=a val=1 t0=0 t1=1", "missing res="},
        {"proc=1 op=write key=a val=1 t1=1 res=ok", "missing t0="},
        {"op=write key=a val=1 t0=0 t1=1 res=ok", "missing proc="},
        {"proc=1 key=a val=1 t0=0 t1=1 res=ok", "missing op="},
        {"proc=1 op=write val=1 t0=0 t1=1 res=ok", "missing key="},
        {"proc=1 op=write key=a t0=0 t1=1 res=ok", "a write needs val="},
        {"proc=1 op=read key=a t0=0 t1=1 res=ok", "an ok read needs val="},
        {"proc=1 op=write key=a val=1 t0=0 res=ok", "only res=info may lack it"},
        {"proc=1 op=write key=a val=1 t0=5 t1=4 res=ok", "t1 4 is before t0 5"},
        {"proc=1 op=delete key=a val=1 t0=0 t1=1 res=ok", "op=delete: expected one of"},
        {"proc=1 op=write key=a val=1 t0=0 t1=1 res=maybe", "res=maybe: expected one of"},
        {"proc=1 op=read key=a val=1 t0=0 t1=1 res=ok mode=fast", "mode=fast"},
        {"proc=1 op=read key=a val=1 t0=0 t1=1 res=ok mode=ser", "a ser read needs node="},
        {"proc=1 op=write key=a val=1 t0=0 t1=1 res=ok final=1", "are for reads"},
        {"proc=1 op=read key=a val=1 t0=0 t1=1 res=ok final=2", "final=2"},
        {"proc=-1 op=write key=a val=1 t0=0 t1=1 res=ok", "proc=-1"},
        {"proc=4294967296 op=write key=a val=1 t0=0 t1=1 res=ok", "proc=4294967296"},
        {"proc=1 op=write key=a val=1 t0=1x t1=1 res=ok", "t0=1x is not a time"},
        {"proc=1 op=write key=a val=1 t0=0 t1=99999999999999999999 res=ok", "is not a time"},
        {"proc=1 op=read key=a val=1 t0=0 t1=1 res=ok ver=v2", "ver=v2"},
        {"proc=1 op=write key=a val=1 t0=0 t1=1 res=ok colour=red", "unknown field 'colour'"},
        {"proc=1 op=write key=a val=1 key=b t0=0 t1=1 res=ok", "key= given twice"},
        {"proc=1 op=write key=a val=1 t0=0 t1=1 res=ok junk", "'junk' is not name=value"},
        {"proc=1 op=write key= val=1 t0=0 t1=1 res=ok", "key is empty"},
        {"proc=1 op=write key=a val=x=y t0=0 t1=1 res=ok", "value holds"},
        {"proc=1 op=write key=a val=caf\xc3\xa9 t0=0 t1=1 res=ok", "not printable ASCII"},
        {"proc=1 op=read key=a val=1 t0=0 t1=1 res=ok mode=cs node=c\x01", "node holds"},
        {"op=init key=a", "missing val="},
        {"op=init key=a val=1 t0=3", "op=init takes only key= and val="},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lc_history h;
        struct strata_err e;
        lc_history_init(&h);
        char text[600];
        snprintf(text, sizeof(text), "proc=9 op=write key=z val=q t0=0 t1=1 res=ok\n# c\n%s\n",
                 bad[i].line);
        int rc = lc_history_parse_str(&h, text, &e);
        if (rc != STRATA_EINVAL || strncmp(e.msg, "line 3: ", 8) != 0 ||
            strstr(e.msg, bad[i].want) == NULL)
            fail_msg("'%s': rc %d, '%s' (want line 3: ...%s...)", bad[i].line, rc, e.msg,
                     bad[i].want);
        assert_int_equal(h.n, 1);
        assert_int_equal(h.keys.n, 2); /* "" and z */
        assert_int_equal(h.values.n, 2);
        lc_history_free(&h);
    }
    /* a token past its bound, a line past its bound */
    struct lc_history h;
    struct strata_err e;
    char *line = malloc(LC_LINE_MAX + 100);
    assert_non_null(line);
    memset(line, 'k', LC_LINE_MAX + 50);
    memcpy(line, "proc=1 op=write val=1 t0=0 t1=1 res=ok key=", 43);
    line[43 + LC_TOKEN_MAX + 1] = '\0';
    lc_history_init(&h);
    assert_int_equal(lc_history_parse_line(&h, line, 7, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "line 7: key is 256 bytes long, max 255"));
    line[43 + LC_TOKEN_MAX + 1] = 'k';
    line[LC_LINE_MAX + 1] = '\0';
    assert_int_equal(lc_history_parse_line(&h, line, 8, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "line 8: 4097 bytes long, max 4096"));
    assert_int_equal(h.n, 0);
    free(line);
    lc_history_free(&h);
}

static void test_processes_are_sequential(void **state)
{
    (void)state;
    struct lc_history h;
    struct strata_err e;
    lc_history_init(&h);
    /* an indeterminate op does not hold its process; lines need not be in time order */
    assert_int_equal(lc_history_parse_str(&h,
                                          "proc=1 op=write key=a val=2 t0=20 t1=30 res=ok\n"
                                          "proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                          "proc=1 op=write key=a val=3 t0=35 res=info\n"
                                          "proc=1 op=read key=a val=3 t0=40 t1=50 res=ok\n",
                                          &e),
                     0);
    assert_int_equal(lc_history_check_procs(&h, &e), 0);
    assert_int_equal(
        lc_history_parse_str(&h, "proc=1 op=read key=a val=3 t0=45 t1=60 res=fail\n", &e), 0);
    h.ops[h.n - 1].line = 9;
    assert_int_equal(lc_history_check_procs(&h, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "line 9: process 1 invokes at 45 before its operation of "
                                  "line 4 completed (50)"));
    lc_history_free(&h);
}

static void test_parse_file(void **state)
{
    (void)state;
    char path[] = "/tmp/lc-history-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "proc=1 op=write key=a val=1 t0=0 t1=1 res=ok\n"
                               "proc=2 op=read key=a val=1 t0=2 t1=3 res=ok"; /* no newline */
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    struct lc_history h;
    struct strata_err e;
    lc_history_init(&h);
    if (lc_history_parse_file(&h, path, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(h.n, 2);
    lc_history_free(&h);
    /* a NUL byte inside a line */
    assert_int_equal(write(fd, "\nproc=3 op=read key=a\0 val=1 t0=4 t1=5 res=ok\n", 47), 47);
    lc_history_init(&h);
    assert_int_equal(lc_history_parse_file(&h, path, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, ": line 3: a NUL byte"));
    assert_non_null(strstr(e.msg, path));
    lc_history_free(&h);
    close(fd);
    unlink(path);
    lc_history_init(&h);
    assert_int_equal(lc_history_parse_file(&h, path, &e), STRATA_EIO);
    assert_non_null(strstr(e.msg, "No such file"));
    lc_history_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_print_reads_back),
        cmocka_unit_test(test_parse_refuses), cmocka_unit_test(test_processes_are_sequential),
        cmocka_unit_test(test_parse_file),    cmocka_unit_test(test_harness_lines_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

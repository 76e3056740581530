/* test_lc_checks.c - the checks without search: lost acknowledged writes at the final reads,
 * versions a node serves going backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_checks.h"

typedef int (*check_fn)(const struct lc_history *, struct lc_anomalies *, struct strata_err *);

/* Run `fn` on `text`; the anomalies found (the caller frees). */
static struct lc_anomalies *run(check_fn fn, const char *text)
{
    struct lc_history h;
    struct strata_err e;
    struct lc_anomalies *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    lc_history_init(&h);
    if (lc_history_parse_str(&h, text, &e) != 0)
        fail_msg("parse: %s", e.msg);
    assert_int_equal(fn(&h, a, &e), 0);
    lc_history_free(&h);
    return a;
}

static size_t count(check_fn fn, const char *text)
{
    struct lc_anomalies *a = run(fn, text);
    size_t n = a->total;
    free(a);
    return n;
}

/* The only anomaly's message contains `want`. */
static void assert_one(check_fn fn, const char *text, const char *want)
{
    struct lc_anomalies *a = run(fn, text);
    if (a->total != 1 || strstr(a->a[0].msg, want) == NULL)
        fail_msg("%zu anomalies, first '%s'; want one with '%s'", a->total,
                 a->total ? a->a[0].msg : "", want);
    free(a);
}

#define W(p, v, t0, t1) "proc=" #p " op=write key=a val=" #v " t0=" #t0 " t1=" #t1 " res=ok\n"

static void test_final_reads_keep_acknowledged_writes(void **state)
{
    (void)state;
    /* the last acknowledged write, or one concurrent with it, or a later indeterminate one */
    assert_int_equal(
        count(lc_check_lost_writes,
              W(1, 1, 0, 10)
                  W(2, 2, 20, 30) "proc=3 op=read key=a val=2 t0=50 t1=60 res=ok final=1\n"),
        0);
    assert_int_equal(
        count(lc_check_lost_writes,
              W(1, 1, 0, 25)
                  W(2, 2, 20, 30) "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok final=1\n"),
        0);
    assert_int_equal(count(lc_check_lost_writes,
                           W(1, 1, 0, 10) "proc=2 op=write key=a val=2 t0=5 res=info\n"
                                          "proc=3 op=read key=a val=2 t0=50 t1=60 res=ok "
                                          "mode=cs node=c1 final=1\n"),
                     0);
    /* nothing written: the initial value */
    assert_int_equal(count(lc_check_lost_writes,
                           "op=init key=a val=h0\n"
                           "proc=3 op=read key=a val=h0 t0=50 t1=60 res=ok final=1\n"),
                     0);
    /* reads not marked final are not this check's business */
    assert_int_equal(count(lc_check_lost_writes,
                           W(1, 1, 0, 10)
                               W(2, 2, 20, 30) "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok\n"),
                     0);
    /* a write after the final read does not count against it */
    assert_int_equal(
        count(lc_check_lost_writes,
              W(1, 1, 0, 10) "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok final=1\n" W(2, 2, 70,
                                                                                         80)),
        0);
}

static void test_lost_writes_found(void **state)
{
    (void)state;
    assert_one(lc_check_lost_writes,
               W(1, 1, 0, 10)
                   W(2, 2, 20,
                     30) "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok mode=ser node=d3 final=1\n",
               "final read (line 3) of a returned 1, but the acknowledged write of 2 (line 2) "
               "began after every write of 1 had completed: that write is lost");
    assert_one(lc_check_lost_writes,
               "op=init key=a val=h0\n" W(
                   2, 2, 20, 30) "proc=3 op=read key=a val=h0 t0=50 t1=60 res=ok final=1\n",
               "returned its initial value h0, but the acknowledged write of 2 (line 2)");
    assert_one(lc_check_lost_writes,
               W(2, 2, 20, 30) "proc=3 op=read key=a val=absent t0=50 t1=60 res=ok final=1\n",
               "returned its initial value absent, but the acknowledged write of 2");
    assert_one(lc_check_lost_writes,
               "proc=1 op=write key=a val=1 t0=0 t1=10 res=fail\n"
               "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok final=1\n",
               "returned 1, written only by failed writes");
    assert_one(lc_check_lost_writes,
               W(1, 1, 0, 10) "proc=3 op=read key=a val=7 t0=50 t1=60 res=ok final=1\n",
               "returned 7, a value never written to it");
    /* one per final read, per node */
    assert_int_equal(
        count(lc_check_lost_writes,
              W(1, 1, 0, 10)
                  W(2, 2, 20, 30) "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok final=1\n"
                                  "proc=4 op=read key=a val=1 t0=50 t1=60 res=ok mode=cs node=c1 "
                                  "final=1\n"
                                  "proc=5 op=read key=a val=2 t0=50 t1=60 res=ok mode=cs node=c2 "
                                  "final=1\n"),
        2);
}

#define R(p, node, ver, t0, t1)                                                                    \
    "proc=" #p " op=read key=a val=x t0=" #t0 " t1=" #t1 " res=ok mode=ser node=" #node            \
    " ver=" #ver "\n"
#define C(p, node, ver, t0, t1)                                                                    \
    "proc=" #p " op=read key=a val=x t0=" #t0 " t1=" #t1 " res=ok mode=cs node=" #node             \
    " ver=" #ver "\n"

static void test_versions_per_node(void **state)
{
    (void)state;
    /* monotone per node; other nodes may lag; concurrent reads may come back in any order */
    assert_int_equal(count(lc_check_monotonic,
                           R(1, d1, 3, 0, 10) R(1, d1, 5, 20, 30) R(2, d2, 1, 40, 50)
                               R(3, d1, 4, 25, 35) C(1, c1, 9, 0, 5) C(2, c1, 9, 6, 8)),
                     0);
    assert_one(lc_check_monotonic, R(1, d1, 5, 0, 10) R(2, d1, 4, 20, 30),
               "directory node d1 served a at version 4 (line 2) after serving version 5 (line "
               "1)");
    /* another client, the same connectivity server: still backwards */
    assert_one(lc_check_monotonic,
               C(1, c1, 2, 0, 10) C(2, c1, 7, 12, 14) C(3, c1, 3, 20, 30) C(1, c2, 1, 40, 50),
               "connectivity server c1 served a at version 3 (line 3) after serving version 7 "
               "(line 2)");
    /* reads without a version, failed reads and linearizable reads are not counted */
    assert_int_equal(count(lc_check_monotonic,
                           R(1, d1, 5, 0, 10) "proc=2 op=read key=a val=x t0=20 t1=30 res=ok "
                                              "mode=ser node=d1\n"
                                              "proc=2 op=read key=a val=x t0=40 t1=50 res=fail "
                                              "mode=ser node=d1 ver=1\n"
                                              "proc=2 op=read key=a val=x t0=60 t1=70 res=ok "
                                              "ver=1\n"),
                     0);
}

/* Many keys and nodes with one backwards read each: all found, the first LC_ANOMALIES_MAX
 * kept, the rest counted. */
static void test_many(void **state)
{
    (void)state;
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int k = 0; k < 150; k++)
        n += (size_t)snprintf(text + n, cap - n,
                              "proc=1 op=read key=k%d val=x t0=%d t1=%d res=ok mode=cs node=c%d "
                              "ver=9\n"
                              "proc=2 op=read key=k%d val=x t0=%d t1=%d res=ok mode=cs node=c%d "
                              "ver=8\n",
                              k, 10 * k, 10 * k + 1, k % 3, k, 10 * k + 2, 10 * k + 3, k % 3);
    struct lc_anomalies *a = run(lc_check_monotonic, text);
    assert_int_equal(a->total, 150);
    assert_int_equal(a->n, LC_ANOMALIES_MAX);
    assert_int_equal(a->node_backwards, 150);
    assert_int_equal(a->lost_writes, 0);
    free(a);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_reads_keep_acknowledged_writes),
        cmocka_unit_test(test_lost_writes_found),
        cmocka_unit_test(test_versions_per_node),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

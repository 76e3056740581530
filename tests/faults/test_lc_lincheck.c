/* test_lc_lincheck.c - the linearizability checker on hand-built classic anomalies, on random
 * histories of a simulated register (and their mutations), and on large histories. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lincheck.h"

/* ---------------------------------------------------------------- helpers */

struct checked {
    struct lc_history h;
    struct lc_result r;
};

static void check_text(struct checked *c, const char *text, const struct lc_limits *lim)
{
    struct strata_err e;
    lc_history_init(&c->h);
    if (lc_history_parse_str(&c->h, text, &e) != 0)
        fail_msg("parse: %s", e.msg);
    assert_int_equal(lc_history_check_procs(&c->h, &e), 0);
    assert_int_equal(lc_check(&c->h, lim, &c->r, &e), 0);
}

static void checked_free(struct checked *c)
{
    lc_result_free(&c->r);
    lc_history_free(&c->h);
}

static enum lc_verdict verdict_of(const char *text)
{
    struct checked c;
    check_text(&c, text, NULL);
    enum lc_verdict v = c.r.verdict;
    checked_free(&c);
    return v;
}

/* The verdict of the sub-history (indices into h->ops) without sub[drop], by the shrink's rule:
 * a write stays while a kept read returns its value (then LC_VIOLATION: nothing could go). */
static enum lc_verdict verdict_without(const struct lc_history *h, const size_t *sub, size_t n,
                                       size_t drop, uint32_t init)
{
    const struct lc_op *d = &h->ops[sub[drop]];
    if (d->kind == LC_WRITE)
        for (size_t i = 0; i < n; i++)
            if (i != drop && h->ops[sub[i]].kind == LC_READ && h->ops[sub[i]].value == d->value)
                return LC_VIOLATION; /* may not go */
    size_t *rest = malloc(n * sizeof(*rest)), *sel = malloc(n * sizeof(*sel)), m = 0;
    for (size_t i = 0; i < n; i++)
        if (i != drop)
            rest[m++] = sub[i];
    size_t k = lc_check_select(h, rest, m, sel);
    enum lc_verdict v = lc_check_key(h, sel, k, init, NULL, 0, NULL);
    free(rest);
    free(sel);
    return v;
}

/* A violation whose sub-history has `want` operations (0: any), fails on its own and is
 * 1-minimal: dropping any single operation that may go leaves a linearizable history. */
static void assert_minimal_violation(const char *text, size_t want)
{
    struct checked c;
    check_text(&c, text, NULL);
    assert_int_equal(c.r.verdict, LC_VIOLATION);
    assert_true(c.r.shrunk);
    if (want != 0)
        assert_int_equal(c.r.nsub, want);
    uint32_t init = c.r.key < c.h.ninit ? c.h.init[c.r.key] : LC_ABSENT;
    assert_int_equal(lc_check_key(&c.h, c.r.sub, c.r.nsub, init, NULL, 0, NULL), LC_VIOLATION);
    for (size_t i = 0; i < c.r.nsub; i++) {
        const struct lc_op *op = &c.h.ops[c.r.sub[i]];
        bool needed_write = false;
        for (size_t j = 0; op->kind == LC_WRITE && j < c.r.nsub; j++)
            needed_write |= j != i && c.h.ops[c.r.sub[j]].kind == LC_READ &&
                            c.h.ops[c.r.sub[j]].value == op->value;
        if (!needed_write && verdict_without(&c.h, c.r.sub, c.r.nsub, i, init) != LC_LINEARIZABLE)
            fail_msg("sub-history not minimal: line %" PRIu32 " could go", op->line);
    }
    checked_free(&c);
}

/* ---------------------------------------------------------------- linearizable by hand */

static void test_empty_and_sequential(void **state)
{
    (void)state;
    assert_int_equal(verdict_of(""), LC_LINEARIZABLE);
    assert_int_equal(verdict_of("proc=1 op=read key=a val=absent t0=0 t1=1 res=ok\n"
                                "proc=1 op=write key=a val=x t0=2 t1=3 res=ok\n"
                                "proc=1 op=read key=a val=x t0=4 t1=5 res=ok\n"
                                "proc=1 op=write key=a val=absent t0=6 t1=7 res=ok\n"
                                "proc=1 op=read key=a val=absent t0=8 t1=9 res=ok\n"),
                     LC_LINEARIZABLE);
    /* the initial value, from an init line */
    assert_int_equal(verdict_of("op=init key=a val=h1\n"
                                "proc=1 op=read key=a val=h1 t0=0 t1=1 res=ok\n"),
                     LC_LINEARIZABLE);
    assert_int_equal(verdict_of("proc=1 op=read key=a val=h1 t0=0 t1=1 res=ok\n"), LC_VIOLATION);
}

static void test_concurrent_writes_and_reads(void **state)
{
    (void)state;
    /* w1 and w2 overlap; a read sees 2, a later one 1: order w2, w1 */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=50 res=ok\n"
                                "proc=2 op=write key=a val=2 t0=10 t1=60 res=ok\n"
                                "proc=3 op=read key=a val=2 t0=20 t1=30 res=ok\n"
                                "proc=4 op=read key=a val=1 t0=40 t1=70 res=ok\n"),
                     LC_LINEARIZABLE);
    /* a read overlapping a write may see the old or the new value */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=1 op=write key=a val=2 t0=20 t1=50 res=ok\n"
                                "proc=2 op=read key=a val=1 t0=25 t1=30 res=ok\n"
                                "proc=3 op=read key=a val=2 t0=26 t1=31 res=ok\n"
                                "proc=2 op=read key=a val=2 t0=35 t1=40 res=ok\n"),
                     LC_LINEARIZABLE);
    /* operations that touch (one returns when the other is invoked) count as concurrent */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=2 op=read key=a val=absent t0=10 t1=20 res=ok\n"),
                     LC_LINEARIZABLE);
}

static void test_indeterminate_write_that_took_effect(void **state)
{
    (void)state;
    /* w2 timed out but took effect, long after its client gave up */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=2 op=write key=a val=2 t0=20 t1=25 res=info\n"
                                "proc=3 op=read key=a val=1 t0=30 t1=40 res=ok\n"
                                "proc=3 op=read key=a val=2 t0=500 t1=510 res=ok\n"
                                "proc=3 op=read key=a val=2 t0=600 t1=610 res=ok\n"),
                     LC_LINEARIZABLE);
    /* ... or never did */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=2 op=write key=a val=2 t0=20 res=info\n"
                                "proc=3 op=read key=a val=1 t0=500 t1=510 res=ok\n"),
                     LC_LINEARIZABLE);
    /* ... even after a read of the same value, written by another write or there from the
     * start: the indeterminate write need not have taken effect before that read */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=1 res=ok\n"
                                "proc=2 op=write key=a val=1 t0=0 res=info\n"
                                "proc=3 op=read key=a val=1 t0=2 t1=3 res=ok\n"
                                "proc=3 op=write key=a val=2 t0=4 t1=5 res=ok\n"
                                "proc=3 op=read key=a val=1 t0=10 t1=11 res=ok\n"),
                     LC_LINEARIZABLE);
    assert_int_equal(verdict_of("op=init key=a val=1\n"
                                "proc=2 op=write key=a val=1 t0=0 res=info\n"
                                "proc=3 op=read key=a val=1 t0=2 t1=3 res=ok\n"
                                "proc=3 op=write key=a val=2 t0=4 t1=5 res=ok\n"
                                "proc=3 op=read key=a val=1 t0=10 t1=11 res=ok\n"),
                     LC_LINEARIZABLE);
    /* a failed write and an indeterminate read tell nothing */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=fail\n"
                                "proc=2 op=read key=a val=1 t0=20 res=info\n"
                                "proc=3 op=read key=a val=absent t0=30 t1=40 res=ok\n"),
                     LC_LINEARIZABLE);
    /* serializable and cache reads are not held to linearizability */
    assert_int_equal(
        verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                   "proc=2 op=read key=a val=absent t0=20 t1=30 res=ok mode=ser node=d2\n"
                   "proc=2 op=read key=a val=absent t0=40 t1=50 res=ok mode=cs node=c1\n"),
        LC_LINEARIZABLE);
}

/* ---------------------------------------------------------------- the classic anomalies */

static void test_stale_read(void **state)
{
    (void)state;
    const char *h = "proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                    "proc=9 op=write key=b val=7 t0=0 t1=10 res=ok\n"
                    "proc=1 op=write key=a val=2 t0=20 t1=30 res=ok\n"
                    "proc=2 op=read key=a val=2 t0=35 t1=38 res=ok\n"
                    "proc=3 op=read key=a val=1 t0=40 t1=50 res=ok\n";
    assert_int_equal(verdict_of(h), LC_VIOLATION);
    /* w1, w2, the stale read: the other key and the fresh read are not part of it */
    assert_minimal_violation(h, 3);
    /* stale: absent after an acknowledged create */
    assert_minimal_violation("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                             "proc=2 op=read key=a val=absent t0=20 t1=30 res=ok\n",
                             2);
}

static void test_lost_update(void **state)
{
    (void)state;
    /* two clients move the endpoint one after the other; the second move is acknowledged and
     * then gone: every later read sees the first */
    const char *h = "proc=1 op=write key=ep1 val=h1 t0=0 t1=10 res=ok\n"
                    "proc=2 op=write key=ep1 val=h2 t0=15 t1=25 res=ok\n"
                    "proc=3 op=read key=ep1 val=h1 t0=30 t1=40 res=ok\n"
                    "proc=3 op=read key=ep1 val=h1 t0=50 t1=60 res=ok final=1\n";
    assert_int_equal(verdict_of(h), LC_VIOLATION);
    assert_minimal_violation(h, 3);
    /* a failed write that took effect anyway */
    assert_minimal_violation("proc=1 op=write key=a val=1 t0=0 t1=10 res=fail\n"
                             "proc=2 op=read key=a val=1 t0=20 t1=30 res=ok\n",
                             1);
}

static void test_indeterminate_write_disappears(void **state)
{
    (void)state;
    /* the timed-out write of 2 was read, so it took effect; then 1 is back, never rewritten */
    const char *h = "proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                    "proc=2 op=write key=a val=2 t0=20 res=info\n"
                    "proc=3 op=read key=a val=2 t0=30 t1=40 res=ok\n"
                    "proc=3 op=read key=a val=1 t0=50 t1=60 res=ok\n";
    assert_int_equal(verdict_of(h), LC_VIOLATION);
    assert_minimal_violation(h, 4);
    /* the same with the two reads concurrent: either order is fine */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=2 op=write key=a val=2 t0=20 res=info\n"
                                "proc=3 op=read key=a val=2 t0=30 t1=60 res=ok\n"
                                "proc=4 op=read key=a val=1 t0=50 t1=70 res=ok\n"),
                     LC_LINEARIZABLE);
}

static void test_reads_out_of_order(void **state)
{
    (void)state;
    /* two concurrent writes; reads see 1, then 2, then 1 again */
    const char *h = "proc=1 op=write key=a val=1 t0=0 t1=100 res=ok\n"
                    "proc=2 op=write key=a val=2 t0=0 t1=100 res=ok\n"
                    "proc=3 op=read key=a val=1 t0=10 t1=20 res=ok\n"
                    "proc=4 op=read key=a val=2 t0=30 t1=40 res=ok\n"
                    "proc=5 op=read key=a val=1 t0=50 t1=60 res=ok\n";
    assert_int_equal(verdict_of(h), LC_VIOLATION);
    assert_minimal_violation(h, 5);
    /* 2 then 1 (w2 before w1) is fine, and so is 1 then 2 */
    assert_int_equal(verdict_of("proc=1 op=write key=a val=1 t0=0 t1=100 res=ok\n"
                                "proc=2 op=write key=a val=2 t0=0 t1=100 res=ok\n"
                                "proc=3 op=read key=a val=2 t0=10 t1=20 res=ok\n"
                                "proc=4 op=read key=a val=1 t0=30 t1=40 res=ok\n"),
                     LC_LINEARIZABLE);
    /* a read returning what a later write (invoked after the read returned) writes */
    assert_int_equal(verdict_of("proc=1 op=read key=a val=1 t0=0 t1=10 res=ok\n"
                                "proc=2 op=write key=a val=1 t0=20 t1=30 res=ok\n"),
                     LC_VIOLATION);
}

/* Many concurrent writes then two reads that cannot both hold: without Lowe's memo the search
 * tries 16! orders; with it, each (set of writes placed, last value) once. */
static void test_memo_bounds_search(void **state)
{
    (void)state;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "proc=%d op=write key=a val=w%d t0=0 t1=100 res=ok\n", i, i);
    snprintf(text + n, sizeof(text) - n,
             "proc=90 op=read key=a val=w0 t0=200 t1=210 res=ok\n"
             "proc=90 op=read key=a val=w1 t0=220 t1=230 res=ok\n");
    struct checked c;
    struct lc_limits lim = {.max_steps = 20000000};
    check_text(&c, text, &lim);
    assert_int_equal(c.r.verdict, LC_VIOLATION);
    assert_int_equal(c.r.nsub, 4); /* w0, w1, both reads */
    print_message("16 concurrent writes: %" PRIu64 " steps, %" PRIu64 " memo hits\n",
                  c.r.stats.steps, c.r.stats.cache_hits);
    assert_true(c.r.stats.cache_hits > 0);
    checked_free(&c);
}

/* ---------------------------------------------------------------- random histories */

struct sim_op {
    uint32_t proc, key;
    int64_t invoke, complete, at; /* at: when it took effect (INT64_MAX: never) */
    uint32_t value;               /* written (i + 1 for op i), or read (0 absent) */
    enum lc_kind kind;
    enum lc_outcome outcome;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int by_at(const void *a, const void *b)
{
    const struct sim_op *x = *(struct sim_op *const *)a, *y = *(struct sim_op *const *)b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* A linearizable history by construction: each operation takes effect at one instant within
 * its interval (an indeterminate write at any instant after its invocation, or never; a failed
 * one never), and reads return what the register holds then. A client whose operation is
 * indeterminate retires; a new one takes its place. */
static struct sim_op *simulate(uint64_t seed, size_t n, uint32_t keys, uint32_t procs,
                               unsigned info_pct)
{
    struct sim_op *ops = calloc(n, sizeof(*ops));
    struct sim_op **byat = calloc(n, sizeof(*byat));
    int64_t *clock = calloc(procs, sizeof(*clock));
    uint32_t *id = calloc(procs, sizeof(*id)), *reg = calloc(keys, sizeof(*reg));
    assert_non_null(ops);
    assert_non_null(byat);
    assert_non_null(clock);
    assert_non_null(id);
    assert_non_null(reg);
    for (uint32_t p = 0; p < procs; p++)
        id[p] = p;
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = (uint32_t)(rng_next(&s) % procs);
        struct sim_op *o = &ops[i];
        o->proc = id[p];
        o->key = (uint32_t)(rng_next(&s) % keys);
        o->kind = rng_next(&s) % 2 ? LC_WRITE : LC_READ;
        o->invoke = clock[p] + (int64_t)(rng_next(&s) % 20);
        o->complete = o->invoke + 1 + (int64_t)(rng_next(&s) % 60);
        clock[p] = o->complete + 1;
        o->at = o->invoke + (int64_t)(rng_next(&s) % (uint64_t)(o->complete - o->invoke + 1));
        o->outcome = LC_OK;
        unsigned roll = (unsigned)(rng_next(&s) % 100);
        if (roll < info_pct) {
            o->outcome = LC_INFO;
            id[p] += procs; /* retire the client */
            int64_t late = (int64_t)(rng_next(&s) % 2000);
            o->at = rng_next(&s) % 3 == 0 ? INT64_MAX : o->invoke + late;
        } else if (roll < 2 * info_pct && o->kind == LC_WRITE) {
            o->outcome = LC_FAIL;
            o->at = INT64_MAX;
        }
        o->value = o->kind == LC_WRITE ? (uint32_t)i + 1 : 0;
        byat[i] = o;
    }
    qsort(byat, n, sizeof(*byat), by_at);
    for (size_t i = 0; i < n && byat[i]->at != INT64_MAX; i++) {
        if (byat[i]->kind == LC_WRITE)
            reg[byat[i]->key] = byat[i]->value;
        else
            byat[i]->value = reg[byat[i]->key];
    }
    free(byat);
    free(clock);
    free(id);
    free(reg);
    return ops;
}

static void sim_history(struct lc_history *h, const struct sim_op *ops, size_t n)
{
    lc_history_init(h);
    for (size_t i = 0; i < n; i++) {
        char key[16], val[16];
        snprintf(key, sizeof(key), "k%" PRIu32, ops[i].key);
        snprintf(val, sizeof(val), "v%" PRIu32, ops[i].value);
        struct lc_op_in in = {.proc = ops[i].proc,
                              .kind = ops[i].kind,
                              .key = key,
                              .value = ops[i].value == 0 ? "absent" : val,
                              .invoke = ops[i].invoke,
                              .complete = ops[i].complete,
                              .outcome = ops[i].outcome};
        struct strata_err e;
        if (lc_history_add(h, &in, &e) != 0)
            fail_msg("add: %s", e.msg);
        h->ops[h->n - 1].line = (uint32_t)i + 1;
    }
}

static enum lc_verdict sim_check(const struct sim_op *ops, size_t n, struct lc_result *r,
                                 const struct lc_limits *lim)
{
    struct lc_history h;
    struct strata_err e;
    sim_history(&h, ops, n);
    assert_int_equal(lc_history_check_procs(&h, &e), 0);
    assert_int_equal(lc_check(&h, lim, r, &e), 0);
    enum lc_verdict v = r->verdict;
    lc_history_free(&h);
    return v;
}

/* Is op `i` in the result's sub-history (ops are added in order: index i is op i)? */
static bool in_sub(const struct lc_result *r, size_t i)
{
    for (size_t j = 0; j < r->nsub; j++)
        if (r->sub[j] == i)
            return true;
    return false;
}

/* A stale value for read r: the value of an acknowledged write w1 that completed before another
 * acknowledged write w2 began, w2 having completed before r began (0: absent, when w2 is the
 * first). Returns false when r has no such w2. */
static bool stale_value(const struct sim_op *ops, size_t n, size_t r, uint32_t *value)
{
    for (size_t j = 0; j < n; j++) {
        const struct sim_op *w2 = &ops[j];
        if (w2->kind != LC_WRITE || w2->outcome != LC_OK || w2->key != ops[r].key ||
            w2->complete >= ops[r].invoke)
            continue;
        *value = 0;
        for (size_t k = 0; k < n; k++) {
            const struct sim_op *w1 = &ops[k];
            if (w1->kind == LC_WRITE && w1->outcome == LC_OK && w1->key == ops[r].key &&
                w1->complete < w2->invoke)
                *value = w1->value;
        }
        if (*value != ops[r].value)
            return true;
    }
    return false;
}

static void test_random_histories_and_mutations(void **state)
{
    (void)state;
    const size_t n = 80;
    unsigned stale_tested = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        struct sim_op *ops = simulate(seed, n, 3, 4, 5);
        struct lc_result r;
        if (sim_check(ops, n, &r, NULL) != LC_LINEARIZABLE)
            fail_msg("seed %" PRIu64 ": a simulated register's history judged %d", seed, r.verdict);
        lc_result_free(&r);
        /* the first acknowledged read made to return a value never written */
        size_t rd = 0;
        while (rd < n && (ops[rd].kind != LC_READ || ops[rd].outcome != LC_OK))
            rd++;
        if (rd == n) {
            free(ops);
            continue;
        }
        uint32_t kept = ops[rd].value;
        ops[rd].value = 100000;
        assert_int_equal(sim_check(ops, n, &r, NULL), LC_VIOLATION);
        assert_true(in_sub(&r, rd));
        assert_int_equal(r.nsub, 1); /* the read alone already fails */
        lc_result_free(&r);
        ops[rd].value = kept;
        /* the last read that can be made stale */
        for (size_t i = n; i-- > 0;) {
            uint32_t v;
            if (ops[i].kind != LC_READ || ops[i].outcome != LC_OK || !stale_value(ops, n, i, &v))
                continue;
            ops[i].value = v;
            if (sim_check(ops, n, &r, NULL) != LC_VIOLATION)
                fail_msg("seed %" PRIu64 ": stale read of op %zu not found", seed, i);
            assert_true(in_sub(&r, i));
            assert_true(r.shrunk);
            assert_true(r.nsub >= 2 && r.nsub <= 6);
            lc_result_free(&r);
            stale_tested++;
            break;
        }
        free(ops);
    }
    print_message("300 random histories linearizable; never-written and %u stale mutations "
                  "caught\n",
                  stale_tested);
    assert_true(stale_tested > 200);
}

/* ---------------------------------------------------------------- against brute force */

struct bf_op {
    int64_t invoke, complete;
    int kind, value; /* value 0: absent */
};

/* Linearizable by the definition: some op that no remaining op precedes in real time goes
 * next, if legal. No memo, no pruning, no bounds: the oracle. */
static bool bf_lin(const struct bf_op *ops, int n, unsigned done, int state)
{
    if (done == (1u << n) - 1)
        return true;
    for (int x = 0; x < n; x++) {
        if (done >> x & 1)
            continue;
        bool minimal = true;
        for (int y = 0; y < n && minimal; y++)
            minimal = (done >> y & 1) || y == x || ops[y].complete >= ops[x].invoke;
        if (!minimal)
            continue;
        if (ops[x].kind == LC_READ && ops[x].value != state)
            continue;
        if (bf_lin(ops, n, done | 1u << x, ops[x].kind == LC_WRITE ? ops[x].value : state))
            return true;
    }
    return false;
}

/* Small random histories, half with repeated values (so none of the unique-value shortcuts
 * may apply blindly), half with unique ones (so they do), failed and indeterminate operations
 * and initial values: the checker agrees with the oracle on every one. */
static void test_matches_brute_force(void **state)
{
    (void)state;
    static const char *vals[] = {"absent", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"};
    uint64_t s = 12345;
    unsigned lin = 0, non = 0;
    for (int round = 0; round < 20000; round++) {
        int n = 2 + (int)(rng_next(&s) % 7), init = (int)(rng_next(&s) % 2);
        struct lc_history h;
        struct bf_op bf[8];
        int nbf = 0;
        lc_history_init(&h);
        if (init != 0)
            assert_int_equal(lc_history_set_init(&h, "k", vals[init], NULL), 0);
        for (int i = 0; i < n; i++) {
            int64_t t0 = (int64_t)(rng_next(&s) % 20), t1 = t0 + (int64_t)(rng_next(&s) % 8);
            enum lc_kind kind = rng_next(&s) % 2 ? LC_WRITE : LC_READ;
            bool unique = round % 2 == 1;
            int v = (int)(rng_next(&s) % (unique ? (unsigned)n + 1 : 4));
            if (unique && kind == LC_WRITE)
                v = i + 1;
            int roll = (int)(rng_next(&s) % 100);
            enum lc_outcome out = roll < 70 ? LC_OK : roll < 85 ? LC_INFO : LC_FAIL;
            struct lc_op_in in = {.proc = (uint32_t)i,
                                  .kind = kind,
                                  .key = "k",
                                  .value = vals[v],
                                  .invoke = t0,
                                  .complete = t1,
                                  .outcome = out};
            assert_int_equal(lc_history_add(&h, &in, NULL), 0);
            if (out == LC_OK || (out == LC_INFO && kind == LC_WRITE))
                bf[nbf++] = (struct bf_op){t0, out == LC_INFO ? INT64_MAX : t1, kind, v};
        }
        bool want = bf_lin(bf, nbf, 0, init);
        struct lc_result r;
        assert_int_equal(lc_check(&h, NULL, &r, NULL), 0);
        if (r.verdict != (want ? LC_LINEARIZABLE : LC_VIOLATION)) {
            for (size_t i = 0; i < h.n; i++) {
                lc_op_print(stderr, &h, &h.ops[i]);
                fputc('\n', stderr);
            }
            fail_msg("round %d (init %s): checker says %d, brute force %s", round, vals[init],
                     r.verdict, want ? "linearizable" : "not");
        }
        /* the shrunk sub-history fails by the oracle too */
        struct bf_op sub[8];
        for (size_t i = 0; i < r.nsub; i++) {
            const struct lc_op *op = &h.ops[r.sub[i]];
            int v = 0;
            while (strcmp(vals[v], lc_history_value(&h, op->value)) != 0)
                v++;
            sub[i] = (struct bf_op){op->invoke, op->complete, op->kind, v};
        }
        if (!want && bf_lin(sub, (int)r.nsub, 0, init))
            fail_msg("round %d: the sub-history of %zu ops is linearizable", round, r.nsub);
        *(want ? &lin : &non) += 1;
        lc_result_free(&r);
        lc_history_free(&h);
    }
    print_message("20000 small histories agree with brute force: %u linearizable, %u not\n", lin,
                  non);
    assert_true(lin > 2000 && non > 2000);
}

/* ---------------------------------------------------------------- size */

static void perf_run(const char *what, size_t n, uint32_t keys, uint32_t procs, unsigned info)
{
    struct sim_op *ops = simulate(42, n, keys, procs, info);
    struct lc_result r;
    uint64_t t0 = lc_now_ms();
    enum lc_verdict v = sim_check(ops, n, &r, NULL);
    uint64_t ms = lc_now_ms() - t0;
    print_message("%s: %zu ops, %" PRIu32 " keys, %" PRIu32 " clients, %u%% indeterminate: %s "
                  "in %" PRIu64 " ms, %zu placed, %" PRIu64 " steps, %zu memo entries, %zu KiB "
                  "(bound 60000 ms, not asserted)\n",
                  what, n, keys, procs, info, v == LC_LINEARIZABLE ? "linearizable" : "?", ms,
                  r.searched, r.stats.steps, r.stats.cache_entries, r.stats.cache_bytes / 1024);
    assert_int_equal(v, LC_LINEARIZABLE);
    lc_result_free(&r);
    /* the same history with one stale read near the end */
    for (size_t i = n; i-- > 0;) {
        uint32_t val;
        if (ops[i].kind != LC_READ || ops[i].outcome != LC_OK || !stale_value(ops, n, i, &val))
            continue;
        ops[i].value = val;
        t0 = lc_now_ms();
        v = sim_check(ops, n, &r, NULL);
        print_message("%s, one stale read: violation found and shrunk to %zu ops in %" PRIu64
                      " ms (%" PRIu64 " shrink searches)\n",
                      what, r.nsub, lc_now_ms() - t0, r.shrink_checks);
        assert_int_equal(v, LC_VIOLATION);
        assert_true(in_sub(&r, i));
        lc_result_free(&r);
        break;
    }
    free(ops);
}

static void test_performance(void **state)
{
    (void)state;
    perf_run("8 keys", 10000, 8, 5, 1);
    perf_run("1 key", 5000, 1, 5, 1);
}

static void test_bounds_answer_unknown(void **state)
{
    (void)state;
    struct sim_op *ops = simulate(7, 5000, 1, 5, 1);
    struct lc_result r;
    struct lc_limits lim = {.max_steps = 1};
    assert_int_equal(sim_check(ops, 5000, &r, &lim), LC_UNKNOWN);
    assert_int_equal(r.unknowns, 1);
    assert_int_equal(r.nsub, 0);
    lc_result_free(&r);
    lim = (struct lc_limits){.max_cache_bytes = 1};
    assert_int_equal(sim_check(ops, 5000, &r, &lim), LC_UNKNOWN);
    lc_result_free(&r);
    free(ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_sequential),
        cmocka_unit_test(test_concurrent_writes_and_reads),
        cmocka_unit_test(test_indeterminate_write_that_took_effect),
        cmocka_unit_test(test_stale_read),
        cmocka_unit_test(test_lost_update),
        cmocka_unit_test(test_indeterminate_write_disappears),
        cmocka_unit_test(test_reads_out_of_order),
        cmocka_unit_test(test_memo_bounds_search),
        cmocka_unit_test(test_random_histories_and_mutations),
        cmocka_unit_test(test_matches_brute_force),
        cmocka_unit_test(test_performance),
        cmocka_unit_test(test_bounds_answer_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

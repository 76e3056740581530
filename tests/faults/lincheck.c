/* lincheck.c - a history's linearizability: the per-key partition, the operations each key's
 * search must place, and the shrinking of a violation to a minimal failing sub-history. */
#include "lincheck.h"

#include <stdlib.h>
#include <string.h>

#define LC_DEFAULT_TIMEOUT_MS 60000u
#define LC_DEFAULT_SHRINK_MS 5000u

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t lc_check_select(const struct lc_history *h, const size_t *idx, size_t n, size_t *out)
{
    /* Values some linearizable read returned: an indeterminate write of any other value can be
     * placed after every operation, where nothing observes it, so it needs no search. Sorted,
     * not a table of all the history's values: a key's cost stays its own size. */
    uint32_t *read = malloc((n + 1) * sizeof(*read));
    size_t nread = 0, m = 0;
    for (size_t i = 0; read != NULL && i < n; i++) {
        const struct lc_op *op = &h->ops[idx[i]];
        if (op->kind == LC_READ && op->outcome == LC_OK && op->mode == LC_MODE_LIN)
            read[nread++] = op->value;
    }
    if (read != NULL)
        qsort(read, nread, sizeof(*read), by_u32);
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = &h->ops[idx[i]];
        bool keep;
        if (op->kind == LC_READ)
            keep = op->outcome == LC_OK && op->mode == LC_MODE_LIN;
        else if (op->outcome == LC_INFO) /* without the list (no memory), keep: still correct */
            keep = read == NULL || bsearch(&op->value, read, nread, sizeof(*read), by_u32) != NULL;
        else
            keep = op->outcome == LC_OK;
        if (keep)
            out[m++] = idx[i];
    }
    free(read);
    return m;
}

static int by_invoke(const void *a, const void *b, void *arg)
{
    const struct lc_history *h = arg;
    const struct lc_op *x = &h->ops[*(const size_t *)a], *y = &h->ops[*(const size_t *)b];
    if (x->invoke != y->invoke)
        return x->invoke < y->invoke ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* ---------------------------------------------------------------- shrinking */

struct shrink {
    const struct lc_history *h;
    const struct lc_limits *limits;
    uint32_t init;
    uint64_t deadline_ms;
    size_t *cur, ncur;
    size_t *cand, *sel; /* scratch, room for ncur */
    uint32_t *nread;    /* per value: reads of it in cur outside the chunk */
    uint64_t checks;
    bool unsure; /* a search hit a bound: what it kept may not be needed */
};

/* Does cur without [from, to) still fail? A write in the chunk stays while a read outside it
 * returns its value: dropping it would turn the violation into a read of a value never
 * written, true but no explanation. Returns the candidate's length (ncur when nothing can go). */
static size_t shrink_candidate(struct shrink *s, size_t from, size_t to)
{
    const struct lc_history *h = s->h;
    for (size_t i = 0; i < s->ncur; i++) {
        const struct lc_op *op = &h->ops[s->cur[i]];
        if (op->kind == LC_READ && (i < from || i >= to))
            s->nread[op->value]++;
    }
    size_t m = 0;
    for (size_t i = 0; i < s->ncur; i++) {
        const struct lc_op *op = &h->ops[s->cur[i]];
        if (i < from || i >= to || (op->kind == LC_WRITE && s->nread[op->value] > 0))
            s->cand[m++] = s->cur[i];
    }
    for (size_t i = 0; i < s->ncur; i++)
        s->nread[h->ops[s->cur[i]].value] = 0;
    return m;
}

static bool shrink_fails(struct shrink *s, size_t m)
{
    size_t k = lc_check_select(s->h, s->cand, m, s->sel);
    s->checks++;
    enum lc_verdict v = lc_check_key(s->h, s->sel, k, s->init, s->limits, s->deadline_ms, NULL);
    s->unsure |= v == LC_UNKNOWN;
    return v == LC_VIOLATION;
}

/* Greedy, chunks halving down to single operations (ddmin without complements): cur keeps
 * failing throughout; returns true when no single operation can go any more. */
static bool shrink_run(struct shrink *s)
{
    size_t c = s->ncur / 2 > 0 ? s->ncur / 2 : 1;
    for (;;) {
        bool changed = false;
        for (size_t i = 0; i < s->ncur;) {
            if (lc_now_ms() >= s->deadline_ms)
                return false;
            size_t to = i + c < s->ncur ? i + c : s->ncur;
            size_t m = shrink_candidate(s, i, to);
            if (m < s->ncur && shrink_fails(s, m)) {
                memcpy(s->cur, s->cand, m * sizeof(*s->cur));
                s->ncur = m;
                changed = true;
            } else {
                i = to;
            }
        }
        if (c == 1 && !changed)
            return true;
        if (!changed)
            c /= 2;
        else if (c > s->ncur / 2)
            c = s->ncur / 2 > 0 ? s->ncur / 2 : 1;
    }
}

/* Shrink r->sub (a failing key's selected operations) in place. */
static int lc_shrink(const struct lc_history *h, const struct lc_limits *limits, uint32_t init,
                     struct lc_result *r)
{
    uint64_t ms = limits != NULL && limits->shrink_ms ? limits->shrink_ms : LC_DEFAULT_SHRINK_MS;
    struct shrink s = {.h = h,
                       .limits = limits,
                       .init = init,
                       .deadline_ms = lc_now_ms() + ms,
                       .cur = r->sub,
                       .ncur = r->nsub};
    s.cand = malloc((r->nsub + 1) * sizeof(*s.cand));
    s.sel = malloc((r->nsub + 1) * sizeof(*s.sel));
    s.nread = calloc(h->values.n + 1, sizeof(*s.nread));
    int rc = 0;
    if (s.cand == NULL || s.sel == NULL || s.nread == NULL)
        rc = STRATA_ENOMEM;
    else
        r->shrunk = shrink_run(&s) && !s.unsure;
    r->nsub = s.ncur;
    r->shrink_checks = s.checks;
    free(s.cand);
    free(s.sel);
    free(s.nread);
    return rc;
}

/* ---------------------------------------------------------------- the whole history */

int lc_check(const struct lc_history *h, const struct lc_limits *limits, struct lc_result *r,
             struct strata_err *e)
{
    memset(r, 0, sizeof(*r));
    r->ops = h->n;
    uint64_t timeout =
        limits != NULL && limits->timeout_ms ? limits->timeout_ms : LC_DEFAULT_TIMEOUT_MS;
    uint64_t deadline = lc_now_ms() + timeout;
    uint32_t nkeys = h->keys.n;
    size_t *start, *byk, *sel = malloc((h->n + 1) * sizeof(*sel));
    if (sel == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (lc_history_by_key(h, &start, &byk, e) != 0) {
        free(sel);
        return STRATA_ENOMEM;
    }

    uint32_t violating = 0;
    for (uint32_t k = 0; k < nkeys; k++) {
        size_t n = start[k + 1] - start[k];
        if (n == 0)
            continue;
        r->keys++;
        size_t m = lc_check_select(h, byk + start[k], n, sel);
        r->searched += m;
        uint32_t init = k < h->ninit ? h->init[k] : LC_ABSENT;
        enum lc_verdict v = lc_now_ms() >= deadline
                                ? LC_UNKNOWN
                                : lc_check_key(h, sel, m, init, limits, deadline, &r->stats);
        if (v == LC_VIOLATION && r->violations++ == 0) {
            violating = k;
            r->sub = malloc((m + 1) * sizeof(*r->sub));
            if (r->sub != NULL)
                memcpy(r->sub, sel, m * sizeof(*sel));
            r->nsub = r->sub != NULL ? m : 0;
        } else if (v == LC_UNKNOWN && r->unknowns++ == 0) {
            r->key = k;
        }
    }
    free(start);
    free(byk);
    free(sel);
    if (r->violations > 0) {
        r->verdict = LC_VIOLATION;
        r->key = violating;
        if (r->sub == NULL)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
        qsort_r(r->sub, r->nsub, sizeof(*r->sub), by_invoke, (void *)h);
        uint32_t init = violating < h->ninit ? h->init[violating] : LC_ABSENT;
        if (lc_shrink(h, limits, init, r) != 0)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    } else {
        r->verdict = r->unknowns > 0 ? LC_UNKNOWN : LC_LINEARIZABLE;
    }
    return 0;
}

void lc_result_free(struct lc_result *r)
{
    free(r->sub);
    r->sub = NULL;
    r->nsub = 0;
}

/* lc_checks.c - lost acknowledged writes at the final reads, versions served backwards per node. */
#include "lc_checks.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void anomaly_add(struct lc_anomalies *out, enum lc_anomaly_kind kind, size_t op,
                        size_t other, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void anomaly_add(struct lc_anomalies *out, enum lc_anomaly_kind kind, size_t op,
                        size_t other, const char *fmt, ...)
{
    out->total++;
    *(kind == LC_LOST_WRITE ? &out->lost_writes : &out->node_backwards) += 1;
    if (out->n == LC_ANOMALIES_MAX)
        return;
    struct lc_anomaly *a = &out->a[out->n++];
    a->kind = kind;
    a->op = op;
    a->other = other;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- lost writes */

/* One final read r of a key whose operations are ops[idx[0..n)]. */
static void lost_write_read(const struct lc_history *h, const size_t *idx, size_t n, size_t ri,
                            uint32_t init, struct lc_anomalies *out)
{
    const struct lc_op *r = &h->ops[ri];
    /* The acknowledged write that must come before r and began last: whatever r returns must
     * have been written no earlier than that. */
    const struct lc_op *last = NULL;
    size_t last_i = 0;
    bool written = false, failed_only = true;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *w = &h->ops[idx[i]];
        if (w->kind == LC_WRITE && w->outcome == LC_OK && w->complete < r->invoke &&
            (last == NULL || w->invoke > last->invoke)) {
            last = w;
            last_i = idx[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *w = &h->ops[idx[i]];
        if (w->kind != LC_WRITE || w->value != r->value || w->invoke > r->complete)
            continue;
        written = true;
        if (w->outcome == LC_FAIL)
            continue;
        failed_only = false;
        if (last == NULL || w->complete >= last->invoke)
            return;
    }
    if (r->value == init && last == NULL)
        return;
    const char *key = lc_history_key(h, r->key), *val = lc_history_value(h, r->value);
    if (written && !failed_only) /* written, but every such write was overwritten */
        anomaly_add(out, LC_LOST_WRITE, ri, last_i,
                    "final read (line %" PRIu32 ") of %s returned %s, but the acknowledged write "
                    "of %s (line %" PRIu32 ") began after every write of %s had completed: "
                    "that write is lost",
                    r->line, key, val, lc_history_value(h, last->value), last->line, val);
    else if (r->value == init && !written)
        anomaly_add(out, LC_LOST_WRITE, ri, last_i,
                    "final read (line %" PRIu32 ") of %s returned its initial value %s, but the "
                    "acknowledged write of %s (line %" PRIu32 ") completed before it began: "
                    "that write is lost",
                    r->line, key, val, lc_history_value(h, last->value), last->line);
    else
        anomaly_add(out, LC_LOST_WRITE, ri, last != NULL ? last_i : ri,
                    "final read (line %" PRIu32 ") of %s returned %s, %s", r->line, key, val,
                    written ? "written only by failed writes" : "a value never written to it");
}

int lc_check_lost_writes(const struct lc_history *h, struct lc_anomalies *out, struct strata_err *e)
{
    size_t *start, *idx;
    if (lc_history_by_key(h, &start, &idx, e) != 0)
        return STRATA_ENOMEM;
    for (uint32_t k = 0; k < h->keys.n; k++) {
        const size_t *ops = idx + start[k];
        size_t n = start[k + 1] - start[k];
        uint32_t init = k < h->ninit ? h->init[k] : LC_ABSENT;
        for (size_t i = 0; i < n; i++) {
            const struct lc_op *r = &h->ops[ops[i]];
            if (r->kind == LC_READ && r->final && r->outcome == LC_OK)
                lost_write_read(h, ops, n, ops[i], init, out);
        }
    }
    free(start);
    free(idx);
    return 0;
}

/* ---------------------------------------------------------------- versions per node */

static int by_node_key_invoke(const void *a, const void *b, void *arg)
{
    const struct lc_history *h = arg;
    const struct lc_op *x = &h->ops[*(const size_t *)a], *y = &h->ops[*(const size_t *)b];
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->invoke != y->invoke)
        return x->invoke < y->invoke ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int by_complete(const void *a, const void *b, void *arg)
{
    const struct lc_history *h = arg;
    const struct lc_op *x = &h->ops[*(const size_t *)a], *y = &h->ops[*(const size_t *)b];
    if (x->complete != y->complete)
        return x->complete < y->complete ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* One node's reads of one key, by invocation (inv) and by completion (done). */
static void monotonic_group(const struct lc_history *h, const size_t *inv, size_t *done, size_t n,
                            struct lc_anomalies *out)
{
    qsort_r(done, n, sizeof(*done), by_complete, (void *)h);
    size_t j = 0, best = 0;
    bool have = false;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *r = &h->ops[inv[i]];
        for (; j < n && h->ops[done[j]].complete < r->invoke; j++)
            if (!have || h->ops[done[j]].version > h->ops[best].version) {
                best = done[j];
                have = true;
            }
        if (have && r->version < h->ops[best].version) {
            const struct lc_op *b = &h->ops[best];
            anomaly_add(out, LC_NODE_BACKWARDS, inv[i], best,
                        "%s %s served %s at version %" PRIu64 " (line %" PRIu32
                        ") after serving version %" PRIu64 " (line %" PRIu32 ")",
                        r->mode == LC_MODE_CS ? "connectivity server" : "directory node",
                        lc_history_node(h, r->node), lc_history_key(h, r->key), r->version, r->line,
                        b->version, b->line);
        }
    }
}

int lc_check_monotonic(const struct lc_history *h, struct lc_anomalies *out, struct strata_err *e)
{
    size_t *inv = malloc((h->n + 1) * sizeof(*inv)), *done = malloc((h->n + 1) * sizeof(*done));
    if (inv == NULL || done == NULL) {
        free(inv);
        free(done);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct lc_op *r = &h->ops[i];
        if (r->kind == LC_READ && r->mode != LC_MODE_LIN && r->outcome == LC_OK && r->has_version)
            inv[m++] = i;
    }
    qsort_r(inv, m, sizeof(*inv), by_node_key_invoke, (void *)h);
    for (size_t g = 0; g < m;) {
        size_t end = g + 1;
        while (end < m && h->ops[inv[end]].node == h->ops[inv[g]].node &&
               h->ops[inv[end]].key == h->ops[inv[g]].key)
            end++;
        for (size_t i = g; i < end; i++)
            done[i] = inv[i];
        monotonic_group(h, inv + g, done + g, end - g, out);
        g = end;
    }
    free(inv);
    free(done);
    return 0;
}

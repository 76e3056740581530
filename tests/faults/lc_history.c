/* lc_history.c - histories of register operations: interning, validation, the line format. */
#include "lc_history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- interned strings */

static uint64_t strtab_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int strtab_init(struct lc_strtab *t, const char *reserved)
{
    memset(t, 0, sizeof(*t));
    t->str = calloc(16, sizeof(*t->str));
    t->slot = calloc(32, sizeof(*t->slot));
    if (t->str == NULL || t->slot == NULL || (t->str[0] = strdup(reserved)) == NULL)
        return STRATA_ENOMEM;
    t->n = 1;
    t->cap = 16;
    t->nslot = 32;
    return 0;
}

static void strtab_free(struct lc_strtab *t)
{
    for (uint32_t i = 0; t->str != NULL && i < t->n; i++)
        free(t->str[i]);
    free(t->str);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

/* The slot holding `s`, or the empty slot where it would go. */
static uint32_t *strtab_slot(const struct lc_strtab *t, const char *s)
{
    uint32_t mask = t->nslot - 1, i = (uint32_t)strtab_hash(s) & mask;
    while (t->slot[i] != 0 && strcmp(t->str[t->slot[i]], s) != 0)
        i = (i + 1) & mask;
    return &t->slot[i];
}

static int strtab_grow(struct lc_strtab *t)
{
    if (t->n == t->cap) {
        char **s = realloc(t->str, 2 * (size_t)t->cap * sizeof(*s));
        if (s == NULL)
            return STRATA_ENOMEM;
        t->str = s;
        t->cap *= 2;
    }
    if (2 * (t->n + 1) > t->nslot) {
        uint32_t *old = t->slot, nold = t->nslot;
        t->slot = calloc(2 * (size_t)nold, sizeof(*t->slot));
        if (t->slot == NULL) {
            t->slot = old;
            return STRATA_ENOMEM;
        }
        t->nslot = 2 * nold;
        for (uint32_t i = 0; i < nold; i++)
            if (old[i] != 0)
                *strtab_slot(t, t->str[old[i]]) = old[i];
        free(old);
    }
    return 0;
}

/* The id of `s`, added when new; the reserved name maps to 0. */
static int strtab_intern(struct lc_strtab *t, const char *s, uint32_t *id)
{
    if (strcmp(s, t->str[0]) == 0) {
        *id = 0;
        return 0;
    }
    uint32_t *slot = strtab_slot(t, s);
    if (*slot != 0) {
        *id = *slot;
        return 0;
    }
    if (strtab_grow(t) != 0)
        return STRATA_ENOMEM;
    slot = strtab_slot(t, s); /* the table may have moved */
    if ((t->str[t->n] = strdup(s)) == NULL)
        return STRATA_ENOMEM;
    *slot = t->n;
    *id = t->n++;
    return 0;
}

/* ---------------------------------------------------------------- history */

void lc_history_init(struct lc_history *h)
{
    memset(h, 0, sizeof(*h));
    /* Allocation failures here surface at the first add (strtab_intern on a NULL table would
     * crash, so check there). */
    (void)strtab_init(&h->keys, "");
    (void)strtab_init(&h->values, "absent");
    (void)strtab_init(&h->nodes, "");
}

void lc_history_free(struct lc_history *h)
{
    free(h->ops);
    free(h->init);
    strtab_free(&h->keys);
    strtab_free(&h->values);
    strtab_free(&h->nodes);
    memset(h, 0, sizeof(*h));
}

static bool history_usable(const struct lc_history *h)
{
    return h->keys.str != NULL && h->values.str != NULL && h->nodes.str != NULL &&
           h->keys.slot != NULL && h->values.slot != NULL && h->nodes.slot != NULL;
}

/* A token the line format can carry: 1..LC_TOKEN_MAX bytes of printable ASCII but space and
 * '=' (so that it prints into the format and into JSON as it is). */
static int token_check(const char *what, const char *s, struct strata_err *e)
{
    size_t n = strlen(s);
    if (n == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s is empty", what);
    if (n > LC_TOKEN_MAX)
        return strata_err_set(e, STRATA_EINVAL, "%s is %zu bytes long, max %d", what, n,
                              LC_TOKEN_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '=')
            return strata_err_set(e, STRATA_EINVAL,
                                  "%s holds a space, '=' or a byte that is not printable ASCII",
                                  what);
    }
    return 0;
}

/* Grow init[] to cover key ids up to `key`. */
static int history_init_cover(struct lc_history *h, uint32_t key)
{
    if (key < h->ninit)
        return 0;
    size_t n = h->ninit == 0 ? 16 : h->ninit;
    while (n <= key)
        n *= 2;
    uint32_t *p = realloc(h->init, n * sizeof(*p));
    if (p == NULL)
        return STRATA_ENOMEM;
    memset(p + h->ninit, 0, (n - h->ninit) * sizeof(*p));
    h->init = p;
    h->ninit = n;
    return 0;
}

static int history_key(struct lc_history *h, const char *key, uint32_t *id, struct strata_err *e)
{
    int rc = token_check("key", key, e);
    if (rc != 0)
        return rc;
    if (strtab_intern(&h->keys, key, id) != 0 || history_init_cover(h, *id) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    return 0;
}

static int history_value(struct lc_history *h, const char *v, uint32_t *id, struct strata_err *e)
{
    if (v == NULL) {
        *id = LC_ABSENT;
        return 0;
    }
    int rc = token_check("value", v, e);
    if (rc != 0)
        return rc;
    if (strtab_intern(&h->values, v, id) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    return 0;
}

int lc_history_set_init(struct lc_history *h, const char *key, const char *value,
                        struct strata_err *e)
{
    uint32_t k, v;
    int rc;
    if (!history_usable(h))
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (key == NULL || value == NULL)
        return strata_err_set(e, STRATA_EINVAL, "an initial value needs a key and a value");
    if ((rc = token_check("value", value, e)) != 0 || (rc = history_key(h, key, &k, e)) != 0 ||
        (rc = history_value(h, value, &v, e)) != 0)
        return rc;
    h->init[k] = v;
    return 0;
}

int lc_history_add(struct lc_history *h, const struct lc_op_in *in, struct strata_err *e)
{
    if (!history_usable(h))
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (in->kind != LC_WRITE && in->kind != LC_READ)
        return strata_err_set(e, STRATA_EINVAL, "op is neither write nor read");
    if (in->outcome != LC_OK && in->outcome != LC_FAIL && in->outcome != LC_INFO)
        return strata_err_set(e, STRATA_EINVAL, "unknown outcome %d", (int)in->outcome);
    if (in->mode != LC_MODE_LIN && in->mode != LC_MODE_SER && in->mode != LC_MODE_CS)
        return strata_err_set(e, STRATA_EINVAL, "unknown mode %d", (int)in->mode);
    if (in->kind == LC_WRITE && in->value == NULL)
        return strata_err_set(e, STRATA_EINVAL, "a write needs val= (absent to delete)");
    if (in->kind == LC_READ && in->outcome == LC_OK && in->value == NULL)
        return strata_err_set(e, STRATA_EINVAL, "an ok read needs val= (absent for none)");
    if (in->kind == LC_WRITE && (in->mode != LC_MODE_LIN || in->final))
        return strata_err_set(e, STRATA_EINVAL, "mode= and final= are for reads");
    if (in->mode != LC_MODE_LIN && in->node == NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "a %s read needs node=", in->mode == LC_MODE_SER ? "ser" : "cs");
    if (in->invoke == LC_T_INF)
        return strata_err_set(e, STRATA_EINVAL, "t0 cannot be infinite");
    if (in->outcome != LC_INFO && in->complete == LC_T_INF)
        return strata_err_set(e, STRATA_EINVAL, "only an info op may lack t1");
    if (in->complete < in->invoke)
        return strata_err_set(e, STRATA_EINVAL, "t1 %" PRId64 " is before t0 %" PRId64,
                              in->complete, in->invoke);
    int rc;
    if (in->node != NULL && (rc = token_check("node", in->node, e)) != 0)
        return rc;
    if (h->n == h->cap) {
        size_t cap = h->cap == 0 ? 256 : 2 * h->cap;
        struct lc_op *ops = realloc(h->ops, cap * sizeof(*ops));
        if (ops == NULL)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
        h->ops = ops;
        h->cap = cap;
    }
    struct lc_op op = {
        .proc = in->proc,
        .invoke = in->invoke,
        .complete = in->outcome == LC_INFO ? LC_T_INF : in->complete,
        .version = in->version,
        .kind = (uint8_t)in->kind,
        .outcome = (uint8_t)in->outcome,
        .mode = (uint8_t)in->mode,
        .final = in->final,
        .has_version = in->has_version,
    };
    /* Every check before interning: a refused op leaves no key or value behind. */
    if ((rc = token_check("key", in->key, e)) != 0 ||
        (in->value != NULL && (rc = token_check("value", in->value, e)) != 0))
        return rc;
    if ((rc = history_key(h, in->key, &op.key, e)) != 0 ||
        (rc = history_value(h, in->value, &op.value, e)) != 0)
        return rc;
    if (in->node != NULL && strtab_intern(&h->nodes, in->node, &op.node) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    h->ops[h->n++] = op;
    return 0;
}

int lc_history_by_key(const struct lc_history *h, size_t **startp, size_t **idxp,
                      struct strata_err *e)
{
    uint32_t nkeys = h->keys.n;
    size_t *start = calloc((size_t)nkeys + 1, sizeof(*start));
    size_t *idx = malloc((h->n + 1) * sizeof(*idx));
    if (start == NULL || idx == NULL) {
        free(start);
        free(idx);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < h->n; i++) /* a counting sort, stable */
        start[h->ops[i].key + 1]++;
    for (uint32_t k = 0; k < nkeys; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < h->n; i++)
        idx[start[h->ops[i].key]++] = i;
    for (uint32_t k = nkeys; k > 0; k--) /* the fill advanced each start to the next one's */
        start[k] = start[k - 1];
    start[0] = 0;
    *startp = start;
    *idxp = idx;
    return 0;
}

const char *lc_history_key(const struct lc_history *h, uint32_t key)
{
    return key < h->keys.n ? h->keys.str[key] : "?";
}

const char *lc_history_value(const struct lc_history *h, uint32_t value)
{
    return value < h->values.n ? h->values.str[value] : "?";
}

const char *lc_history_node(const struct lc_history *h, uint32_t node)
{
    return node < h->nodes.n ? h->nodes.str[node] : "?";
}

/* ---------------------------------------------------------------- printing */

void lc_op_in_print(FILE *out, const struct lc_op_in *in)
{
    static const char *res[] = {"ok", "fail", "info"}, *mode[] = {"lin", "ser", "cs"};
    fprintf(out, "proc=%" PRIu32 " op=%s key=%s", in->proc, in->kind == LC_WRITE ? "write" : "read",
            in->key);
    if (in->value != NULL)
        fprintf(out, " val=%s", in->value);
    fprintf(out, " t0=%" PRId64, in->invoke);
    if (in->complete != LC_T_INF)
        fprintf(out, " t1=%" PRId64, in->complete);
    fprintf(out, " res=%s", res[in->outcome % 3]);
    if (in->mode != LC_MODE_LIN)
        fprintf(out, " mode=%s", mode[in->mode % 3]);
    if (in->node != NULL)
        fprintf(out, " node=%s", in->node);
    if (in->has_version)
        fprintf(out, " ver=%" PRIu64, in->version);
    if (in->final)
        fprintf(out, " final=1");
}

void lc_op_print(FILE *out, const struct lc_history *h, const struct lc_op *op)
{
    struct lc_op_in in = {
        .proc = op->proc,
        .kind = op->kind,
        .key = lc_history_key(h, op->key),
        .value =
            op->kind == LC_WRITE || op->outcome == LC_OK ? lc_history_value(h, op->value) : NULL,
        .invoke = op->invoke,
        .complete = op->complete,
        .outcome = op->outcome,
        .mode = op->mode,
        .node = op->node != 0 ? lc_history_node(h, op->node) : NULL,
        .final = op->final,
        .has_version = op->has_version,
        .version = op->version,
    };
    lc_op_in_print(out, &in);
}

void lc_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void lc_op_print_json(FILE *out, const struct lc_history *h, const struct lc_op *op)
{
    static const char *res[] = {"ok", "fail", "info"}, *mode[] = {"lin", "ser", "cs"};
    fprintf(out, "{\"line\":%" PRIu32 ",\"proc\":%" PRIu32 ",\"op\":\"%s\",\"key\":", op->line,
            op->proc, op->kind == LC_WRITE ? "write" : "read");
    lc_json_str(out, lc_history_key(h, op->key));
    if (op->kind == LC_WRITE || op->outcome == LC_OK) {
        fprintf(out, ",\"val\":");
        lc_json_str(out, lc_history_value(h, op->value));
    }
    fprintf(out, ",\"t0\":%" PRId64, op->invoke);
    if (op->complete != LC_T_INF)
        fprintf(out, ",\"t1\":%" PRId64, op->complete);
    fprintf(out, ",\"res\":\"%s\"", res[op->outcome]);
    if (op->kind == LC_READ)
        fprintf(out, ",\"mode\":\"%s\"", mode[op->mode]);
    if (op->node != 0) {
        fprintf(out, ",\"node\":");
        lc_json_str(out, lc_history_node(h, op->node));
    }
    if (op->has_version)
        fprintf(out, ",\"ver\":%" PRIu64, op->version);
    if (op->final)
        fprintf(out, ",\"final\":true");
    fputc('}', out);
}

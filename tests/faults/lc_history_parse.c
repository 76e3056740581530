/* lc_history_parse.c - reading the history line format (name=value fields) with line numbers. */
#include "lc_history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The fields of one line, each at most once. */
enum { F_PROC, F_OP, F_KEY, F_VAL, F_T0, F_T1, F_RES, F_MODE, F_NODE, F_VER, F_FINAL, F_COUNT };
static const char *const field_names[F_COUNT] = {"proc", "op",   "key",  "val", "t0",   "t1",
                                                 "res",  "mode", "node", "ver", "final"};

static int parse_i64(const char *name, const char *s, int64_t *out, struct strata_err *e)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == INT64_MAX)
        return strata_err_set(e, STRATA_EINVAL, "%s=%s is not a time (a 64-bit integer)", name, s);
    *out = v;
    return 0;
}

static int parse_u64(const char *name, const char *s, uint64_t max, uint64_t *out,
                     struct strata_err *e)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return strata_err_set(e, STRATA_EINVAL, "%s=%s is not an unsigned integer", name, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return strata_err_set(e, STRATA_EINVAL, "%s=%s is not an integer in 0..%" PRIu64, name, s,
                              max);
    *out = v;
    return 0;
}

/* The index of `s` in the '|'-separated `choices`, or -1. */
static int choice(const char *s, const char *choices)
{
    int i = 0;
    size_t n = strlen(s);
    for (const char *p = choices;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return i;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

static int parse_choice(const char *name, const char *s, const char *choices, int *out,
                        struct strata_err *e)
{
    if ((*out = choice(s, choices)) < 0)
        return strata_err_set(e, STRATA_EINVAL, "%s=%s: expected one of %s", name, s, choices);
    return 0;
}

/* Split `line` (a copy we own) into fields; `f[i]` is NULL when absent. */
static int split_fields(char *line, const char *f[F_COUNT], struct strata_err *e)
{
    for (char *save = NULL, *tok = strtok_r(line, " \t\r", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (tok[0] == '#') /* a comment to the end of the line */
            break;
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            return strata_err_set(e, STRATA_EINVAL, "'%.40s' is not name=value", tok);
        *eq = '\0';
        int i = 0;
        while (i < F_COUNT && strcmp(field_names[i], tok) != 0)
            i++;
        if (i == F_COUNT)
            return strata_err_set(e, STRATA_EINVAL,
                                  "unknown field '%.40s' (proc op key val t0 t1 res mode node "
                                  "ver final)",
                                  tok);
        if (f[i] != NULL)
            return strata_err_set(e, STRATA_EINVAL, "%s= given twice", tok);
        f[i] = eq + 1;
    }
    return 0;
}

static int require(const char *f[F_COUNT], int i, const char *why, struct strata_err *e)
{
    if (f[i] == NULL)
        return strata_err_set(e, STRATA_EINVAL, "missing %s= (%s)", field_names[i], why);
    return 0;
}

/* The fields of an "op=init" line: key= and val= only. */
static int parse_init(struct lc_history *h, const char *f[F_COUNT], struct strata_err *e)
{
    for (int i = 0; i < F_COUNT; i++)
        if (f[i] != NULL && i != F_OP && i != F_KEY && i != F_VAL)
            return strata_err_set(e, STRATA_EINVAL,
                                  "op=init takes only key= and val=, not %s=", field_names[i]);
    if (require(f, F_KEY, "init", e) != 0 || require(f, F_VAL, "init", e) != 0)
        return STRATA_EINVAL;
    return lc_history_set_init(h, f[F_KEY], f[F_VAL], e);
}

static int parse_fields(struct lc_history *h, const char *f[F_COUNT], uint32_t lineno,
                        struct strata_err *e)
{
    int op, res = LC_OK, mode = LC_MODE_LIN;
    if (require(f, F_OP, "write, read or init", e) != 0 ||
        parse_choice("op", f[F_OP], "write|read|init", &op, e) != 0)
        return STRATA_EINVAL;
    if (op == 2)
        return parse_init(h, f, e);
    uint64_t proc, ver = 0, fin = 0;
    struct lc_op_in in = {.kind = op == 0 ? LC_WRITE : LC_READ, .complete = LC_T_INF};
    if (require(f, F_PROC, "the client", e) != 0 || require(f, F_KEY, "the register", e) != 0 ||
        require(f, F_T0, "invocation time", e) != 0 ||
        require(f, F_RES, "ok, fail or info", e) != 0)
        return STRATA_EINVAL;
    if (parse_u64("proc", f[F_PROC], UINT32_MAX, &proc, e) != 0 ||
        parse_choice("res", f[F_RES], "ok|fail|info", &res, e) != 0 ||
        parse_i64("t0", f[F_T0], &in.invoke, e) != 0)
        return STRATA_EINVAL;
    if (f[F_T1] != NULL && parse_i64("t1", f[F_T1], &in.complete, e) != 0)
        return STRATA_EINVAL;
    if (f[F_T1] == NULL && res != LC_INFO)
        return strata_err_set(e, STRATA_EINVAL, "missing t1= (only res=info may lack it)");
    if (f[F_MODE] != NULL && parse_choice("mode", f[F_MODE], "lin|ser|cs", &mode, e) != 0)
        return STRATA_EINVAL;
    if (f[F_VER] != NULL && parse_u64("ver", f[F_VER], UINT64_MAX, &ver, e) != 0)
        return STRATA_EINVAL;
    if (f[F_FINAL] != NULL && parse_u64("final", f[F_FINAL], 1, &fin, e) != 0)
        return STRATA_EINVAL;
    if (in.kind == LC_WRITE && (f[F_MODE] != NULL || f[F_FINAL] != NULL || f[F_NODE] != NULL))
        return strata_err_set(e, STRATA_EINVAL, "mode=, node= and final= are for reads");
    in.proc = (uint32_t)proc;
    in.key = f[F_KEY];
    in.value = f[F_VAL];
    in.outcome = (enum lc_outcome)res;
    in.mode = (enum lc_mode)mode;
    in.node = f[F_NODE];
    in.final = fin != 0;
    in.has_version = f[F_VER] != NULL;
    in.version = ver;
    if (lc_history_add(h, &in, e) != 0)
        return STRATA_EINVAL;
    h->ops[h->n - 1].line = lineno;
    return 0;
}

int lc_history_parse_line(struct lc_history *h, const char *line, uint32_t lineno,
                          struct strata_err *e)
{
    struct strata_err inner;
    strata_err_clear(&inner);
    const char *p = line + strspn(line, " \t\r");
    if (*p == '\0' || *p == '#')
        return 0;
    size_t n = strlen(line);
    if (n > LC_LINE_MAX)
        return strata_err_set(e, STRATA_EINVAL, "line %" PRIu32 ": %zu bytes long, max %d", lineno,
                              n, LC_LINE_MAX);
    char buf[LC_LINE_MAX + 1];
    memcpy(buf, line, n + 1);
    const char *f[F_COUNT] = {0};
    if (split_fields(buf, f, &inner) != 0 || parse_fields(h, f, lineno, &inner) != 0)
        return strata_err_set(e, inner.code != 0 ? inner.code : STRATA_EINVAL,
                              "line %" PRIu32 ": %s", lineno, inner.msg);
    return 0;
}

int lc_history_parse_str(struct lc_history *h, const char *text, struct strata_err *e)
{
    char line[LC_LINE_MAX + 2];
    uint32_t lineno = 0;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (n > LC_LINE_MAX)
            return strata_err_set(e, STRATA_EINVAL, "line %" PRIu32 ": %zu bytes long, max %d",
                                  lineno, n, LC_LINE_MAX);
        memcpy(line, p, n);
        line[n] = '\0';
        int rc = lc_history_parse_line(h, line, lineno, e);
        if (rc != 0)
            return rc;
        p += n + (nl != NULL);
    }
    return 0;
}

int lc_history_parse_file(struct lc_history *h, const char *path, struct strata_err *e)
{
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return strata_err_set(e, STRATA_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    uint32_t lineno = 0;
    int rc = 0;
    struct strata_err inner;
    ssize_t n;
    while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (memchr(line, '\0', (size_t)n) != NULL)
            rc = strata_err_set(e, STRATA_EINVAL, "%s: line %" PRIu32 ": a NUL byte", path, lineno);
        else if ((rc = lc_history_parse_line(h, line, lineno, &inner)) != 0)
            strata_err_set(e, rc, "%s: %s", path, inner.msg);
    }
    free(line);
    if (rc == 0 && ferror(in))
        rc = strata_err_set(e, STRATA_EIO, "%s: read error", path);
    fclose(in);
    if (rc == 0 && (rc = lc_history_check_procs(h, &inner)) != 0)
        strata_err_set(e, rc, "%s: %s", path, inner.msg);
    return rc;
}

/* ---------------------------------------------------------------- sequential processes */

static int by_proc_invoke(const void *a, const void *b, void *arg)
{
    const struct lc_history *h = arg;
    const struct lc_op *x = &h->ops[*(const size_t *)a], *y = &h->ops[*(const size_t *)b];
    if (x->proc != y->proc)
        return x->proc < y->proc ? -1 : 1;
    if (x->invoke != y->invoke)
        return x->invoke < y->invoke ? -1 : 1;
    return x->complete < y->complete ? -1 : x->complete > y->complete;
}

int lc_history_check_procs(const struct lc_history *h, struct strata_err *e)
{
    size_t *idx = malloc((h->n + 1) * sizeof(*idx)), m = 0;
    if (idx == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n; i++)
        if (h->ops[i].outcome != LC_INFO)
            idx[m++] = i;
    qsort_r(idx, m, sizeof(*idx), by_proc_invoke, (void *)h);
    int rc = 0;
    for (size_t i = 1; i < m && rc == 0; i++) {
        const struct lc_op *a = &h->ops[idx[i - 1]], *b = &h->ops[idx[i]];
        if (a->proc == b->proc && b->invoke < a->complete)
            rc = strata_err_set(e, STRATA_EINVAL,
                                "line %" PRIu32 ": process %" PRIu32 " invokes at %" PRId64
                                " before its operation of line %" PRIu32 " completed (%" PRId64
                                "): a process is sequential",
                                b->line, b->proc, b->invoke, a->line, a->complete);
    }
    free(idx);
    return rc;
}

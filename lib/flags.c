/* flags.c - table-driven parsing and --help text for command-line flags (see flags.h). */
#include "flags.h"

#include <errno.h> /* program_invocation_short_name */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "man.h"
#include "version.h"

static size_t flags_count(const struct strata_flag *tbl)
{
    size_t n = 0;
    while (tbl[n].name != NULL)
        n++;
    return n;
}

const struct strata_flags_about *strata_flags_about(const struct strata_flag *tbl)
{
    return tbl[flags_count(tbl)].dst;
}

/* Find the entry for "--name" or "--name=value" (arg without the dashes); `*value` receives the
 * text after '=' or NULL. */
static const struct strata_flag *flags_find(const struct strata_flag *tbl, const char *arg,
                                            const char **value)
{
    const char *eq = strchr(arg, '=');
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    *value = eq != NULL ? eq + 1 : NULL;
    for (const struct strata_flag *f = tbl; f->name != NULL; f++)
        if (strlen(f->name) == len && memcmp(f->name, arg, len) == 0)
            return f;
    return NULL;
}

/* A value of a STRATA_FLAG_CHOICE flag: its index in the '|'-separated metavar. */
static int flags_store_choice(const struct strata_flag *f, const char *value, struct strata_err *e)
{
    const char *p = f->metavar != NULL ? f->metavar : "";
    size_t vlen = strlen(value);
    for (int i = 0;; i++) {
        size_t len = strcspn(p, "|");
        if (len == vlen && memcmp(p, value, len) == 0) {
            *(int *)f->dst = i;
            return 0;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    char accepted[128];
    size_t n = 0;
    for (p = f->metavar != NULL ? f->metavar : ""; *p && n + 3 < sizeof(accepted); p++) {
        if (*p == '|') {
            accepted[n++] = ',';
            accepted[n++] = ' ';
        } else {
            accepted[n++] = *p;
        }
    }
    accepted[n] = '\0';
    return strata_err_set(e, STRATA_EINVAL, "--%s: bad value \"%.64s\" (one of %s)", f->name, value,
                          accepted);
}

static int flags_store(const struct strata_flag *f, const char *value, struct strata_err *e)
{
    struct strata_err pe;
    switch (f->type) {
    case STRATA_FLAG_STR:
        if (*value == '\0')
            return strata_err_set(e, STRATA_EINVAL, "--%s: empty value", f->name);
        *(const char **)f->dst = value;
        return 0;
    case STRATA_FLAG_U64: {
        uint64_t v;
        if (strata_u64_parse(value, f->min, f->max != 0 ? f->max : UINT64_MAX, &v, &pe) < 0)
            return strata_err_set(e, STRATA_EINVAL, "--%s: %s", f->name, pe.msg);
        *(uint64_t *)f->dst = v;
        return 0;
    }
    case STRATA_FLAG_VNI: {
        uint32_t v;
        if (strata_vni_parse(value, &v, &pe) < 0)
            return strata_err_set(e, STRATA_EINVAL, "--%s: %s", f->name, pe.msg);
        *(uint32_t *)f->dst = v;
        return 0;
    }
    case STRATA_FLAG_BOOL:
        *(bool *)f->dst = true;
        return 0;
    case STRATA_FLAG_CHOICE:
        return flags_store_choice(f, value, e);
    }
    return strata_err_set(e, STRATA_EINTERNAL, "--%s: unknown flag type %d", f->name, f->type);
}

/* After parsing: name every required flag that was not given, in table order. */
static int flags_check_required(const struct strata_flag *tbl, const bool *seen,
                                struct strata_err *e)
{
    char missing[200] = "";
    size_t len = 0, nmissing = 0;
    for (size_t i = 0; tbl[i].name != NULL; i++) {
        if (!tbl[i].required || seen[i])
            continue;
        int w = snprintf(missing + len, sizeof(missing) - len, "%s--%s", nmissing ? ", " : "",
                         tbl[i].name);
        if (w > 0)
            len += (size_t)w < sizeof(missing) - len ? (size_t)w : sizeof(missing) - len - 1;
        nmissing++;
    }
    if (nmissing == 0)
        return 0;
    return strata_err_set(e, STRATA_EINVAL, "missing required flag%s %s", nmissing > 1 ? "s" : "",
                          missing);
}

int strata_flags_parse(const struct strata_flag *tbl, int argc, char **argv, int *argi,
                       struct strata_err *e)
{
    size_t n = flags_count(tbl);
    bool *seen = calloc(n + 1, sizeof(*seen));
    if (seen == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    int rc = 0, i = *argi;
    while (i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            rc = strata_err_set(e, STRATA_ENOTFOUND, "help requested");
            goto out;
        }
        if (strcmp(arg, "--version") == 0) {
            strata_version_print(stdout, program_invocation_short_name);
            exit(fflush(stdout) == 0 ? 0 : 1);
        }
        if (strcmp(arg, "--help-man") == 0 && strata_flags_about(tbl) != NULL) {
            int mrc = strata_flags_man(stdout, tbl);
            exit(mrc == 0 && fflush(stdout) == 0 ? 0 : 1);
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* first positional argument ("-" alone is one too, by convention) */
        if (arg[1] != '-') {
            rc = strata_err_set(e, STRATA_EINVAL, "unknown flag %s (flags are --name)", arg);
            goto out;
        }
        const char *value;
        const struct strata_flag *f = flags_find(tbl, arg + 2, &value);
        if (f == NULL) {
            rc = strata_err_set(e, STRATA_EINVAL, "unknown flag %.64s", arg);
            goto out;
        }
        i++;
        if (f->type == STRATA_FLAG_BOOL) {
            if (value != NULL) {
                rc = strata_err_set(e, STRATA_EINVAL, "--%s takes no value", f->name);
                goto out;
            }
        } else if (value == NULL) {
            /* A following "--flag" is a forgotten value, not a value that starts with dashes. */
            if (i >= argc || strncmp(argv[i], "--", 2) == 0) {
                rc = strata_err_set(e, STRATA_EINVAL, "--%s needs a value (%s)", f->name,
                                    f->metavar != NULL ? f->metavar : "VALUE");
                goto out;
            }
            value = argv[i++];
        }
        rc = flags_store(f, value, e);
        if (rc < 0)
            goto out;
        seen[f - tbl] = true;
    }
    *argi = i;
    rc = flags_check_required(tbl, seen, e);
out:
    free(seen);
    return rc;
}

const char *strata_flags_metavar(const struct strata_flag *f)
{
    if (f->type == STRATA_FLAG_BOOL)
        return "";
    if (f->metavar != NULL)
        return f->metavar;
    return f->type == STRATA_FLAG_STR ? "VALUE" : f->type == STRATA_FLAG_VNI ? "VNI" : "N";
}

/* " (default: NAME)" for the i-th value of a STRATA_FLAG_CHOICE flag. */
static void flags_default_choice(const struct strata_flag *f, int i, char *buf, size_t n)
{
    const char *p = f->metavar;
    for (; p != NULL && i > 0; i--) {
        p = strchr(p, '|');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p != NULL)
        snprintf(buf, n, " (default: %.*s)", (int)strcspn(p, "|"), p);
}

void strata_flags_default(const struct strata_flag *f, char *buf, size_t n)
{
    buf[0] = '\0';
    /* A help text that states its default itself (e.g. "the daemon's own", where the stored
     * value is only a marker) is not followed by the stored one. */
    bool says_default = f->help != NULL && strstr(f->help, "(default") != NULL;
    if (f->required) {
        snprintf(buf, n, " (required)");
    } else if (f->dst != NULL && !says_default) {
        if (f->type == STRATA_FLAG_STR && *(const char *const *)f->dst != NULL)
            snprintf(buf, n, " (default: %s)", *(const char *const *)f->dst);
        else if (f->type == STRATA_FLAG_U64)
            snprintf(buf, n, " (default: %" PRIu64 ")", *(const uint64_t *)f->dst);
        else if (f->type == STRATA_FLAG_VNI && *(const uint32_t *)f->dst != 0)
            snprintf(buf, n, " (default: %" PRIu32 ")", *(const uint32_t *)f->dst);
        else if (f->type == STRATA_FLAG_CHOICE && *(const int *)f->dst >= 0)
            flags_default_choice(f, *(const int *)f->dst, buf, n);
    }
}

void strata_flags_usage(FILE *out, const struct strata_flag *tbl)
{
    int width = 0;
    for (const struct strata_flag *f = tbl; f->name != NULL; f++) {
        const char *mv = strata_flags_metavar(f);
        int w = (int)(strlen(f->name) + 2 + (*mv ? 1 + strlen(mv) : 0));
        if (w > width)
            width = w;
    }
    for (const struct strata_flag *f = tbl; f->name != NULL; f++) {
        char left[128], def[160];
        const char *mv = strata_flags_metavar(f);
        snprintf(left, sizeof(left), "--%s%s%s", f->name, *mv ? " " : "", mv);
        strata_flags_default(f, def, sizeof(def));
        fprintf(out, "  %-*s   %s%s\n", width, left, f->help != NULL ? f->help : "", def);
    }
}

int strata_flags_main(const struct strata_flag *tbl, int argc, char **argv, const char *prog)
{
    struct strata_err e = {0};
    int argi = 1;
    int rc = strata_flags_parse(tbl, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: %s [flags]\n", prog);
        strata_flags_usage(stdout, tbl);
        return 0;
    }
    if (rc == 0 && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        return 2;
    }
    return -1;
}

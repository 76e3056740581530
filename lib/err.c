/* err.c - the one table mapping STRATA_E* codes to symbolic names and human text. */
#include "err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct err_entry {
    const char *name;
    const char *text;
};

/* Indexed by -code. The names are the JSON "error" keys scripts match on: never rename. */
static const struct err_entry err_table[] = {
    [0] = {"OK", "success"},
    [-STRATA_EINVAL] = {"EINVAL", "invalid argument"},
    [-STRATA_ENOMEM] = {"ENOMEM", "out of memory"},
    [-STRATA_ENOTFOUND] = {"ENOTFOUND", "not found"},
    [-STRATA_EEXIST] = {"EEXIST", "already exists"},
    [-STRATA_ECONFLICT] = {"ECONFLICT", "conflicts with an existing object"},
    [-STRATA_ENOTLEADER] = {"ENOTLEADER", "not the leader"},
    [-STRATA_EUNAVAIL] = {"EUNAVAIL", "service unavailable"},
    [-STRATA_ETIMEDOUT] = {"ETIMEDOUT", "timed out"},
    [-STRATA_EIO] = {"EIO", "I/O error"},
    [-STRATA_ENOSPACE] = {"ENOSPACE", "no space left"},
    [-STRATA_EPROTO] = {"EPROTO", "protocol error"},
    [-STRATA_ETOOBIG] = {"ETOOBIG", "too big"},
    [-STRATA_EDENIED] = {"EDENIED", "permission denied"},
    [-STRATA_EBUSY] = {"EBUSY", "busy, try again"},
    [-STRATA_EINTERNAL] = {"EINTERNAL", "internal error"},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == 1 - STRATA_ECODE_MIN,
               "err_table must have one entry per code");

static const struct err_entry *err_lookup(int code)
{
    if (code > 0 || code < STRATA_ECODE_MIN)
        return NULL;
    return &err_table[-code];
}

const char *strata_strerror(int code)
{
    const struct err_entry *ent = err_lookup(code);
    return ent ? ent->text : "unknown error";
}

const char *strata_errname(int code)
{
    const struct err_entry *ent = err_lookup(code);
    return ent ? ent->name : "EUNKNOWN";
}

int strata_err_set(struct strata_err *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    /* Formatted apart, then copied: an argument may be e->msg itself ("--x: %s", e->msg). */
    char raw[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    /* vsnprintf truncates and always NUL-terminates for a non-zero size. */
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    e->code = code;
    if (n < 0) {
        snprintf(e->msg, sizeof(e->msg), "%s", strata_strerror(code));
        return code;
    }
    /* Control characters from the input a message echoes (a name typed with an escape
     * sequence, a hostile client's bytes) are written as \xNN: messages reach terminals and
     * logs, and one line must stay one line (issue 24). */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p != '\0'; p++) {
        bool ctl = *p < 0x20 || *p == 0x7f;
        if (o + (ctl ? 4 : 1) >= sizeof(e->msg))
            break;
        if (ctl)
            o += (size_t)snprintf(e->msg + o, sizeof(e->msg) - o, "\\x%02x", *p);
        else
            e->msg[o++] = (char)*p;
    }
    e->msg[o] = '\0';
    return code;
}

void strata_err_clear(struct strata_err *e)
{
    if (e == NULL)
        return;
    e->code = STRATA_OK;
    e->msg[0] = '\0';
}

/* out.c - tables, JSON and field formatting for the CLI. */
#include "out.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* ---------------------------------------------------------------- JSON */

void cli_json_init(struct cli_json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = true;
}

/* Length of a valid UTF-8 sequence starting at s, or 0 if the bytes there are not one
 * (overlongs, surrogates and code points above U+10FFFF are invalid). */
static int json_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min, cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void cli_json_escape(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (c < 0x20) {
                fprintf(f, "\\u%04x", c);
            } else if (c < 0x80) {
                fputc(c, f);
            } else {
                int n = json_utf8_len(s);
                if (n == 0) {
                    fputs("\\ufffd", f);
                } else {
                    fwrite(s, 1, (size_t)n, f);
                    s += n - 1;
                }
            }
        }
        s++;
    }
    fputc('"', f);
}

/* Separator and key before a value at the current level. */
static void json_pre(struct cli_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    if (key != NULL) {
        cli_json_escape(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open(struct cli_json *j, const char *key, char c)
{
    json_pre(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < CLI_JSON_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void json_close(struct cli_json *j, char c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}

void cli_json_obj_begin(struct cli_json *j, const char *key)
{
    json_open(j, key, '{');
}

void cli_json_obj_end(struct cli_json *j)
{
    json_close(j, '}');
}

void cli_json_arr_begin(struct cli_json *j, const char *key)
{
    json_open(j, key, '[');
}

void cli_json_arr_end(struct cli_json *j)
{
    json_close(j, ']');
}

void cli_json_str(struct cli_json *j, const char *key, const char *s)
{
    json_pre(j, key);
    if (s == NULL)
        fputs("null", j->f);
    else
        cli_json_escape(j->f, s);
}

void cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
    json_pre(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
    json_pre(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void cli_json_bool(struct cli_json *j, const char *key, bool v)
{
    json_pre(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_null(struct cli_json *j, const char *key)
{
    json_pre(j, key);
    fputs("null", j->f);
}

void cli_json_finish(struct cli_json *j)
{
    fputc('\n', j->f);
}

/* ---------------------------------------------------------------- tables */

struct cli_table {
    int ncols;
    size_t nrows, cap;
    char **cells; /* (nrows + 1) * ncols: row 0 is the header */
};

static char *table_dup(const char *s)
{
    char *d = strdup(s != NULL && s[0] != '\0' ? s : "-");
    if (d == NULL)
        abort(); /* the CLI cannot do anything useful without memory */
    return d;
}

static void table_append(struct cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
        if (t->cells == NULL)
            abort();
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = table_dup(cells[i]);
    t->nrows++;
}

struct cli_table *cli_table_new(int ncols, const char *const *headers)
{
    struct cli_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->ncols = ncols;
    table_append(t, headers);
    return t;
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
    table_append(t, cells);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
    size_t width[32] = {0};
    int nc = t->ncols < 32 ? t->ncols : 32;
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < nc; c++) {
            size_t l = strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (l > width[c])
                width[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < nc; c++) {
            const char *cell = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c == nc - 1)
                fputs(cell, f); /* no trailing blanks */
            else
                fprintf(f, "%-*s  ", (int)width[c], cell);
        }
        fputc('\n', f);
    }
}

void cli_table_free(struct cli_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* ---------------------------------------------------------------- fields */

const char *cli_fmt_ip(const ProtobufCBinaryData *b, char *buf)
{
    struct strata_ip ip;
    if (b == NULL || b->len == 0)
        return strcpy(buf, "-");
    if (strata_ip_from_bytes(b->data, b->len, &ip, NULL) != 0)
        return strcpy(buf, "?");
    return strata_ip_format(&ip, buf);
}

const char *cli_fmt_mac(const ProtobufCBinaryData *b, char *buf)
{
    if (b == NULL || b->len == 0)
        return strcpy(buf, "-");
    if (b->len != 6)
        return strcpy(buf, "?");
    return strata_mac_format(b->data, buf);
}

const char *cli_verdict_name(Strata__V1__Verdict v)
{
    switch (v) {
    case STRATA__V1__VERDICT__VERDICT_ALLOW:
        return "allow";
    case STRATA__V1__VERDICT__VERDICT_DENY:
        return "deny";
    default:
        return "unknown";
    }
}

const char *cli_fmt_ips(ProtobufCBinaryData *ips, size_t n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char one[48];
        cli_fmt_ip(&ips[i], one);
        size_t need = strlen(one) + (i ? 1 : 0);
        if (off + need + 4 > len) { /* keep room for "..." and the NUL */
            snprintf(buf + off, len - off, "...");
            break;
        }
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", one);
    }
    return buf;
}

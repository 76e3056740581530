/* view.c - views printed as tables or as JSON from one column list per section (see view.h). */
#include "view.h"

#include <stdarg.h>
#include <stdio.h>

#include "cmd_common.h"

#define VIEW_MAX_COLS 16
#define VIEW_CELL_TEXT 1024 /* a table cell longer than this is cut: tables are for reading */

static enum cli_col_kind view_kind(const struct cli_col *col)
{
    return (enum cli_col_kind)(col->kind & CLI_COL_KIND_MASK);
}

static bool view_null(const struct cli_col *col, const struct cli_cell *c)
{
    return c->null ||
           ((view_kind(col) == CLI_COL_STR || view_kind(col) == CLI_COL_NAME) && c->s == NULL);
}

/* One cell as a JSON value under `key` (NULL in an array). */
static void view_json_cell(struct cli_json *j, const char *key, const struct cli_col *col,
                           const struct cli_cell *c)
{
    if (view_null(col, c)) {
        if (!(col->kind & CLI_COL_OPTIONAL))
            cli_json_null(j, key);
        return;
    }
    switch (view_kind(col)) {
    case CLI_COL_STR:
    case CLI_COL_NAME:
        cli_json_str(j, key, c->s);
        break;
    case CLI_COL_U64:
        cli_json_u64(j, key, c->u);
        break;
    case CLI_COL_BOOL:
        cli_json_bool(j, key, c->b);
        break;
    case CLI_COL_STRS:
    case CLI_COL_U32S:
    case CLI_COL_ROWS:
        cli_json_arr_begin(j, key);
        for (size_t k = 0; k < c->n; k++) {
            if (view_kind(col) == CLI_COL_STRS)
                cli_json_str(j, NULL, c->strs[k]);
            else if (view_kind(col) == CLI_COL_U32S)
                cli_json_u64(j, NULL, c->u32s[k]);
            else
                cli_view_json_obj(j, NULL, c->sub, c->nsub, &c->rows[k * c->nsub]);
        }
        cli_json_arr_end(j);
        break;
    }
}

void cli_view_json_obj(struct cli_json *j, const char *key, const struct cli_col *cols,
                       size_t ncols, const struct cli_cell *cells)
{
    cli_json_obj_begin(j, key);
    for (size_t i = 0; i < ncols; i++)
        view_json_cell(j, cols[i].key, &cols[i], &cells[i]);
    cli_json_obj_end(j);
}

/* A table cell's text, appended to as it is built; what does not fit is cut. */
struct view_text {
    char buf[VIEW_CELL_TEXT];
    size_t off;
};

static void view_put(struct view_text *t, const char *fmt, ...)
{
    if (t->off >= sizeof(t->buf) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->off, sizeof(t->buf) - t->off, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->off += (size_t)n < sizeof(t->buf) - t->off ? (size_t)n : sizeof(t->buf) - 1 - t->off;
}

static void view_text_cell(struct view_text *t, const struct cli_col *col,
                           const struct cli_cell *c);

static void view_text_value(struct view_text *t, const struct cli_col *col,
                            const struct cli_cell *c)
{
    switch (view_kind(col)) {
    case CLI_COL_STR:
    case CLI_COL_NAME:
        view_put(t, "%s", c->s);
        break;
    case CLI_COL_U64:
        view_put(t, "%llu", (unsigned long long)c->u);
        break;
    case CLI_COL_BOOL:
        view_put(t, "%s", c->b ? "yes" : "no");
        break;
    case CLI_COL_STRS:
        for (size_t k = 0; k < c->n; k++)
            view_put(t, "%s%s", k ? "," : "", c->strs[k]);
        break;
    case CLI_COL_U32S:
        for (size_t k = 0; k < c->n; k++)
            view_put(t, "%s%u", k ? "," : "", c->u32s[k]);
        break;
    case CLI_COL_ROWS:
        for (size_t k = 0; k < c->n; k++)
            for (size_t i = 0; i < c->nsub; i++) {
                view_put(t, "%s", i ? ":" : k ? " " : "");
                view_text_cell(t, &c->sub[i], &c->rows[k * c->nsub + i]);
            }
        break;
    }
}

static void view_text_cell(struct view_text *t, const struct cli_col *col, const struct cli_cell *c)
{
    size_t start = t->off;
    if (!view_null(col, c))
        view_text_value(t, col, c);
    if (t->off == start)
        view_put(t, "-"); /* as the table shows any empty cell, nested ones too */
}

static void view_section_begin(struct cli_view *v, const struct cli_col *cols, size_t ncols,
                               const char *key)
{
    v->cols = cols;
    v->ncols = ncols < VIEW_MAX_COLS ? ncols : VIEW_MAX_COLS;
    v->map = ncols == 2 && view_kind(&cols[0]) == CLI_COL_NAME;
    if (v->ctx->json) {
        if (v->map)
            cli_json_obj_begin(&v->j, key);
        else
            cli_json_arr_begin(&v->j, key);
        return;
    }
    const char *hdr[VIEW_MAX_COLS];
    for (size_t i = 0; i < v->ncols; i++)
        hdr[i] = cols[i].head;
    v->t = cli_table_new((int)v->ncols, hdr);
}

static void view_section_end(struct cli_view *v)
{
    if (v->ctx->json) {
        if (v->map)
            cli_json_obj_end(&v->j);
        else
            cli_json_arr_end(&v->j);
        return;
    }
    cli_table_print(v->t, v->ctx->out);
    cli_table_free(v->t);
    v->t = NULL;
}

void cli_view_begin_top(struct cli_view *v, struct cli_ctx *ctx, const struct cli_view_top *top,
                        const struct cli_col *cols, size_t ncols, const char *key)
{
    v->ctx = ctx;
    v->t = NULL;
    if (ctx->json) {
        cli_json_init(&v->j, ctx->out);
        cli_json_obj_begin(&v->j, NULL);
        for (size_t i = 0; i < top->ncols; i++)
            view_json_cell(&v->j, top->cols[i].key, &top->cols[i], &top->cells[i]);
    } else if (top->title != NULL) {
        fprintf(ctx->out, "%s\n", top->title);
    }
    view_section_begin(v, cols, ncols, key);
}

void cli_view_begin(struct cli_view *v, struct cli_ctx *ctx, const struct cli_col *cols,
                    size_t ncols, const char *array_key, uint64_t applied_index)
{
    static const struct cli_col applied[] = {{NULL, "applied_index", CLI_COL_U64}};
    const struct cli_cell cell = {.u = applied_index};
    const struct cli_view_top top = {.cols = applied, .ncols = 1, .cells = &cell};
    cli_view_begin_top(v, ctx, &top, cols, ncols, array_key);
}

void cli_view_row(struct cli_view *v, const struct cli_cell *cells)
{
    if (v->ctx->json) {
        if (!v->map)
            cli_view_json_obj(&v->j, NULL, v->cols, v->ncols, cells);
        else if (!view_null(&v->cols[0], &cells[0]))
            view_json_cell(&v->j, cells[0].s, &v->cols[1], &cells[1]);
        return;
    }
    struct view_text text[VIEW_MAX_COLS];
    const char *row[VIEW_MAX_COLS];
    for (size_t i = 0; i < v->ncols; i++) {
        text[i].off = 0;
        text[i].buf[0] = '\0';
        view_text_cell(&text[i], &v->cols[i], &cells[i]);
        row[i] = text[i].buf;
    }
    cli_table_row(v->t, row);
}

void cli_view_next(struct cli_view *v, const struct cli_col *cols, size_t ncols, const char *key)
{
    view_section_end(v);
    if (!v->ctx->json)
        fputc('\n', v->ctx->out);
    view_section_begin(v, cols, ncols, key);
}

void cli_view_end(struct cli_view *v)
{
    view_section_end(v);
    if (v->ctx->json)
        cmd_json_end(&v->j);
}

void cli_view_record(struct cli_ctx *ctx, const struct cli_col *cols, size_t ncols,
                     const struct cli_cell *cells)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_view_json_obj(&j, NULL, cols, ncols, cells);
        cli_json_finish(&j);
        return;
    }
    static const char *const hdr[] = {"KEY", "VALUE"};
    struct cli_table *t = cli_table_new(2, hdr);
    for (size_t i = 0; i < ncols; i++) {
        struct view_text text = {.off = 0};
        view_text_cell(&text, &cols[i], &cells[i]);
        const char *row[2] = {cols[i].head, text.buf};
        cli_table_row(t, row);
    }
    cli_table_print(t, ctx->out);
    cli_table_free(t);
}

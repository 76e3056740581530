/* view.c - list views printed as a table or as JSON from one column list (see view.h). */
#include "view.h"

#include <stdio.h>

#include "cmd_common.h"

#define VIEW_MAX_COLS 16

void cli_view_begin(struct cli_view *v, struct cli_ctx *ctx, const struct cli_col *cols,
                    size_t ncols, const char *array_key, uint64_t applied_index)
{
    v->ctx = ctx;
    v->cols = cols;
    v->ncols = ncols < VIEW_MAX_COLS ? ncols : VIEW_MAX_COLS;
    v->t = NULL;
    if (ctx->json) {
        cli_json_init(&v->j, ctx->out);
        cli_json_obj_begin(&v->j, NULL);
        cli_json_u64(&v->j, "applied_index", applied_index);
        cli_json_arr_begin(&v->j, array_key);
        return;
    }
    const char *hdr[VIEW_MAX_COLS];
    for (size_t i = 0; i < v->ncols; i++)
        hdr[i] = cols[i].head;
    v->t = cli_table_new((int)v->ncols, hdr);
}

void cli_view_json_obj(struct cli_json *j, const char *key, const struct cli_col *cols,
                       size_t ncols, const struct cli_cell *cells)
{
    cli_json_obj_begin(j, key);
    for (size_t i = 0; i < ncols; i++) {
        const struct cli_cell *c = &cells[i];
        switch (cols[i].kind) {
        case CLI_COL_STR:
            cli_json_str(j, cols[i].key, c->s);
            break;
        case CLI_COL_U64:
            cli_json_u64(j, cols[i].key, c->u);
            break;
        case CLI_COL_STRS:
            cli_json_arr_begin(j, cols[i].key);
            for (size_t k = 0; k < c->n; k++)
                cli_json_str(j, NULL, c->strs[k]);
            cli_json_arr_end(j);
            break;
        }
    }
    cli_json_obj_end(j);
}

void cli_view_row(struct cli_view *v, const struct cli_cell *cells)
{
    if (v->ctx->json) {
        cli_view_json_obj(&v->j, NULL, v->cols, v->ncols, cells);
        return;
    }
    char nums[VIEW_MAX_COLS][24], joined[VIEW_MAX_COLS][1024];
    const char *row[VIEW_MAX_COLS];
    for (size_t i = 0; i < v->ncols; i++) {
        const struct cli_cell *c = &cells[i];
        switch (v->cols[i].kind) {
        case CLI_COL_STR:
            row[i] = c->s != NULL ? c->s : "-";
            break;
        case CLI_COL_U64:
            row[i] = cmd_u64(c->u, nums[i]);
            break;
        case CLI_COL_STRS: {
            size_t off = 0;
            joined[i][0] = '\0';
            for (size_t k = 0; k < c->n && off < sizeof(joined[i]); k++)
                off += (size_t)snprintf(joined[i] + off, sizeof(joined[i]) - off, "%s%s",
                                        k ? "," : "", c->strs[k]);
            row[i] = joined[i];
            break;
        }
        }
    }
    cli_table_row(v->t, row);
}

void cli_view_end(struct cli_view *v)
{
    if (v->ctx->json) {
        cli_json_arr_end(&v->j);
        cmd_json_end(&v->j);
        return;
    }
    cli_table_print(v->t, v->ctx->out);
    cli_table_free(v->t);
    v->t = NULL;
}

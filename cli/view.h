/* view.h - one column list per list view drives both its table and its JSON, so the two cannot
 * drift: a row is given once, as cells, and printed as a table row or a JSON object. */
#ifndef STRATA_CLI_VIEW_H
#define STRATA_CLI_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "out.h"

enum cli_col_kind {
    CLI_COL_STR,  /* cell.s; NULL is "-" in the table and null in JSON */
    CLI_COL_U64,  /* cell.u */
    CLI_COL_STRS, /* cell.strs[cell.n]: a JSON array, joined with "," in the table */
};

struct cli_col {
    const char *head; /* the table's header */
    const char *key;  /* the JSON key (INTERFACE.md's, where it names them) */
    enum cli_col_kind kind;
};

#define CLI_NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))

struct cli_cell {
    const char *s;
    uint64_t u;
    const char *const *strs;
    size_t n;
};

/* A view being printed: a table, or {"applied_index": N, "<array_key>": [ ... ]} with --json. */
struct cli_view {
    struct cli_ctx *ctx;
    const struct cli_col *cols;
    size_t ncols;
    struct cli_json j;
    struct cli_table *t;
};

void cli_view_begin(struct cli_view *v, struct cli_ctx *ctx, const struct cli_col *cols,
                    size_t ncols, const char *array_key, uint64_t applied_index);
/* One row: cells[ncols], in the columns' order. */
void cli_view_row(struct cli_view *v, const struct cli_cell *cells);
void cli_view_end(struct cli_view *v);

/* One row as a JSON object under `key` (NULL in an array), for a command that reports the object
 * it wrote with the same keys as the list shows it. */
void cli_view_json_obj(struct cli_json *j, const char *key, const struct cli_col *cols,
                       size_t ncols, const struct cli_cell *cells);

#endif

/* view.h - one column list per view drives both its table and its JSON, so the two cannot
 * drift: a row is given once, as cells, and printed as a table row or a JSON object. */
#ifndef STRATA_CLI_VIEW_H
#define STRATA_CLI_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "out.h"

enum cli_col_kind {
    CLI_COL_STR,  /* cell.s; NULL is "-" in the table and null in JSON */
    CLI_COL_U64,  /* cell.u */
    CLI_COL_STRS, /* cell.strs[cell.n]: a JSON array, joined with "," in the table */
    CLI_COL_U32S, /* cell.u32s[cell.n]: a JSON array of numbers, joined with "," in the table */
    CLI_COL_BOOL, /* cell.b: true/false in JSON, yes/no in the table */
    /* cell.rows[cell.n * cell.nsub], each row under the columns cell.sub[cell.nsub]: a JSON
     * array of objects; in the table a row's cells are joined with ":" and rows with " " */
    CLI_COL_ROWS,
    /* Only as a section's first column: cell.s names the row, and the section is a JSON object
     * of name: value (the row's one other column) instead of an array, for a set of counters
     * whose names are data; in the table an ordinary column. */
    CLI_COL_NAME,
};

/* Or'd into a column's kind: a null cell leaves the key out of the JSON rather than writing
 * null, for a key that only some rows carry (INTERFACE.md's "error" of an unreachable member). */
#define CLI_COL_OPTIONAL 0x100
#define CLI_COL_KIND_MASK 0xff

struct cli_col {
    const char *head; /* the table's header */
    const char *key;  /* the JSON key (INTERFACE.md's, where it names them) */
    int kind;         /* enum cli_col_kind, perhaps | CLI_COL_OPTIONAL */
};

#define CLI_NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))

struct cli_cell {
    const char *s;
    uint64_t u;
    bool b;
    bool null; /* no value: null in JSON, "-" in the table (a STR says so with s NULL) */
    const char *const *strs;
    const uint32_t *u32s;
    const struct cli_col *sub; /* ROWS: the rows' columns */
    size_t nsub;
    const struct cli_cell *rows;
    size_t n; /* how many strs, u32s or rows */
};

/* A view being printed: tables, or one JSON object holding an array (or name: value object)
 * per section. */
struct cli_view {
    struct cli_ctx *ctx;
    const struct cli_col *cols; /* the current section's */
    size_t ncols;
    bool map; /* the current section's first column is CLI_COL_NAME */
    struct cli_json j;
    struct cli_table *t;
};

/* {"applied_index": N, "<array_key>": [ ... ]} with --json, else a table. */
void cli_view_begin(struct cli_view *v, struct cli_ctx *ctx, const struct cli_col *cols,
                    size_t ncols, const char *array_key, uint64_t applied_index);

/* What a view's top level holds besides its sections. */
struct cli_view_top {
    const char *title;          /* a line printed above the table; not in JSON (NULL: none) */
    const struct cli_col *cols; /* keys written before the first section; not in the table */
    size_t ncols;
    const struct cli_cell *cells;
};

/* As cli_view_begin, with the top level given by `top` instead of {"applied_index"}. */
void cli_view_begin_top(struct cli_view *v, struct cli_ctx *ctx, const struct cli_view_top *top,
                        const struct cli_col *cols, size_t ncols, const char *key);
/* One row: cells[ncols], in the current section's columns' order. */
void cli_view_row(struct cli_view *v, const struct cli_cell *cells);
/* End the current section and begin another under `key` of the same JSON object; in the table
 * output, a second table after a blank line. */
void cli_view_next(struct cli_view *v, const struct cli_col *cols, size_t ncols, const char *key);
void cli_view_end(struct cli_view *v);

/* One object shown alone (`resolve`): with --json the object, else a KEY VALUE table with a row
 * per column (the head names it). */
void cli_view_record(struct cli_ctx *ctx, const struct cli_col *cols, size_t ncols,
                     const struct cli_cell *cells);

/* One row as a JSON object under `key` (NULL in an array), for a command that reports the object
 * it wrote with the same keys as the list shows it. */
void cli_view_json_obj(struct cli_json *j, const char *key, const struct cli_col *cols,
                       size_t ncols, const struct cli_cell *cells);

#endif

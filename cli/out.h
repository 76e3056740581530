/* out.h - the CLI's output: aligned tables for people, a small streaming JSON emitter for
 * scripts, and the text forms of wire fields (IP/MAC bytes, verdicts). */
#ifndef STRATA_CLI_OUT_H
#define STRATA_CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "strata.pb-c.h"

/* ---- JSON. Compact, one object per line. Keys are passed with each value; inside an array
 * pass key NULL. Strings are escaped (quotes, backslash, control characters) and invalid UTF-8
 * bytes become U+FFFD so the output is always valid JSON. */
#define CLI_JSON_DEPTH 16

struct cli_json {
    FILE *f;
    int depth;
    bool first[CLI_JSON_DEPTH]; /* no value written yet at this level */
};

void cli_json_init(struct cli_json *j, FILE *f);
void cli_json_obj_begin(struct cli_json *j, const char *key);
void cli_json_obj_end(struct cli_json *j);
void cli_json_arr_begin(struct cli_json *j, const char *key);
void cli_json_arr_end(struct cli_json *j);
/* s NULL writes null. */
void cli_json_str(struct cli_json *j, const char *key, const char *s);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t v);
void cli_json_i64(struct cli_json *j, const char *key, int64_t v);
void cli_json_bool(struct cli_json *j, const char *key, bool v);
void cli_json_null(struct cli_json *j, const char *key);
/* Write `s` as a JSON string literal (with quotes). */
void cli_json_escape(FILE *f, const char *s);
/* Ends the top-level value with a newline. */
void cli_json_finish(struct cli_json *j);

/* ---- tables: headers and rows of strings, printed with aligned columns. */
struct cli_table;

struct cli_table *cli_table_new(int ncols, const char *const *headers);
/* Append a row of exactly ncols cells (copied; NULL prints "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* ---- text forms of wire fields; "-" when empty. buf sizes: 48 for IPs, 18 for MACs. */
const char *cli_fmt_ip(const ProtobufCBinaryData *b, char *buf);
const char *cli_fmt_mac(const ProtobufCBinaryData *b, char *buf);
const char *cli_verdict_name(Strata__V1__Verdict v);
/* Comma-joined list of IP byte strings into buf (truncated with "..." if it does not fit). */
const char *cli_fmt_ips(ProtobufCBinaryData *ips, size_t n, char *buf, size_t len);

#endif

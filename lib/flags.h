/* flags.h - table-driven command-line flags: one declaration gives the parser, the validation
 * and the --help text, for every daemon and the CLI. */
#ifndef STRATA_FLAGS_H
#define STRATA_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

enum strata_flag_type {
    STRATA_FLAG_STR,  /* const char ** */
    STRATA_FLAG_U64,  /* uint64_t *, checked against [min, max] */
    STRATA_FLAG_BOOL, /* bool *, takes no value */
    STRATA_FLAG_VNI,  /* uint32_t *, 1..16777215 */
    /* int *: the index of the value in metavar, which lists the accepted values separated by '|'
     * ("debug|info|warn|error"), so that the help shows them and an error can name them. */
    STRATA_FLAG_CHOICE,
};

struct strata_flag {
    const char *name; /* without leading dashes: "data-dir" matches --data-dir X and --data-dir=X */
    enum strata_flag_type type;
    void *dst;           /* receives the value; keeps its default when the flag is absent */
    const char *metavar; /* "DIR", "HOST:PORT" for help */
    const char *help;
    bool required;
    uint64_t min, max; /* for STRATA_FLAG_U64; max 0 = no bound */
};
/* Terminates a flag table. (Kept on one line: clang-format would spread it over four.) */
/* clang-format off */
#define STRATA_FLAGS_END {0}
/* clang-format on */

/* Parse argv[*argi..] against `tbl` until the first non-flag argument (left at *argi) or "--".
 * Unknown flags, missing values, bad numbers and missing required flags are errors naming the
 * flag. `--help` returns STRATA_ENOTFOUND after printing nothing: the caller prints usage.
 * `--version` prints "PROGRAM VERSION (git DESCRIBE)" on stdout and exits 0 at once: it needs
 * nothing else from the command line, and answering here gives every program the same line. */
int strata_flags_parse(const struct strata_flag *tbl, int argc, char **argv, int *argi,
                       struct strata_err *e);

/* For a program's main, whose arguments are all flags: parse argv[1..] against `tbl`. Returns -1
 * to go on; otherwise the status to exit with, after printing the usage (--help: 0) or the error
 * as "PROG: message" (2). */
int strata_flags_main(const struct strata_flag *tbl, int argc, char **argv, const char *prog);

/* Print one line per flag: "  --data-dir DIR   where Raft keeps its log (required)". */
void strata_flags_usage(FILE *out, const struct strata_flag *tbl);

#endif

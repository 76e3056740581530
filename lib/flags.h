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
/* What a program's man page says besides its flags: declared once, next to its flag table, whose
 * terminator carries it (STRATA_FLAGS_END_ABOUT), so that `--help-man` needs nothing else. */
struct strata_flags_about {
    const char *name;        /* "strata-dird" (not argv[0]: the page names the installed program) */
    int section;             /* 8 for the daemons */
    const char *summary;     /* one line, for the NAME section: "the directory node ..." */
    const char *description; /* paragraphs separated by blank lines (man.h's strata_man_text) */
    const char *const *env;  /* optional: VARIABLE, what it does, ..., NULL */
    const char *const *files; /* optional: PATH, what it is, ..., NULL */
    const char *see_also; /* optional: more for SEE ALSO ("systemd unit strata-dird@.service") */
};

/* Terminates a flag table. (Kept on one line: clang-format would spread it over four.) The _ABOUT
 * form also carries the program's description (a const struct strata_flags_about *) in dst:
 * tables of programs that have a man page end with it. */
/* clang-format off */
#define STRATA_FLAGS_END {0}
#define STRATA_FLAGS_END_ABOUT(about) {.dst = (void *)(about)}
/* clang-format on */

/* The description a table's terminator carries, or NULL. */
const struct strata_flags_about *strata_flags_about(const struct strata_flag *tbl);

/* Parse argv[*argi..] against `tbl` until the first non-flag argument (left at *argi) or "--".
 * Unknown flags, missing values, bad numbers and missing required flags are errors naming the
 * flag. `--help` returns STRATA_ENOTFOUND after printing nothing: the caller prints usage.
 * `--version` prints "PROGRAM VERSION (git DESCRIBE)" on stdout and exits 0 at once: it needs
 * nothing else from the command line, and answering here gives every program the same line.
 * `--help-man`, when the table ends with STRATA_FLAGS_END_ABOUT, prints the program's man page
 * (man.h) on stdout and exits 0 the same way; for other tables it is an unknown flag. */
int strata_flags_parse(const struct strata_flag *tbl, int argc, char **argv, int *argi,
                       struct strata_err *e);

/* For a program's main, whose arguments are all flags: parse argv[1..] against `tbl`. Returns -1
 * to go on; otherwise the status to exit with, after printing the usage (--help: 0) or the error
 * as "PROG: message" (2). */
int strata_flags_main(const struct strata_flag *tbl, int argc, char **argv, const char *prog);

/* Print one line per flag: "  --data-dir DIR   where Raft keeps its log (required)". */
void strata_flags_usage(FILE *out, const struct strata_flag *tbl);

/* What follows a flag's help in the usage and the man page: " (required)", " (default: X)" with
 * the value dst holds now, or "" (no default, or the help states its own). Into buf. */
void strata_flags_default(const struct strata_flag *f, char *buf, size_t n);

/* The metavar shown for a flag: "" for a bool, else its metavar or one for its type ("N"). */
const char *strata_flags_metavar(const struct strata_flag *f);

#endif

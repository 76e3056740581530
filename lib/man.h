/* man.h - man pages in troff (the man macros), written from the same flag tables as --help. */
#ifndef STRATA_MAN_H
#define STRATA_MAN_H

#include <stdio.h>

#include "flags.h"

/* Every installed program, for each page's SEE ALSO: "strata(1)", "strata-dird(8)", ... */
extern const char *const strata_man_programs[];

/* ".TH NAME SECTION" with the project's version as the source, and the NAME section
 * ("name \- summary"). No date: the same sources give the same page. */
void strata_man_head(FILE *out, const char *name, int section, const char *summary);

/* Prose as troff text: a blank line starts a new paragraph (.PP), a line that starts with
 * "  " is set as an indented example (no filling); backslashes, a leading '.' or '\'' and the
 * dashes of "--flag" are escaped, so that the text cannot run a request and copies as typed. */
void strata_man_text(FILE *out, const char *text);

/* One inline piece of text, escaped as strata_man_text does (no line breaks in `s`). */
void strata_man_escape(FILE *out, const char *s);

/* A name typed as it is (a program, a flag, a path): every dash a minus, not a hyphen. */
void strata_man_literal(FILE *out, const char *s);

/* One tagged paragraph per flag of `tbl` (its dst real pointers or NULL): "--name METAVAR",
 * then the help and the default or "(required)", as strata_flags_usage says them. */
void strata_man_flags(FILE *out, const struct strata_flag *tbl);

/* Tagged paragraphs (ENVIRONMENT, FILES) from a list: TAG, text, TAG, text, ..., NULL. */
void strata_man_pairs(FILE *out, const char *const *pairs);

/* The SEE ALSO section: every program of strata_man_programs but `self`, then `extra`
 * (NULL: none), e.g. "systemd unit strata\-dird@.service". */
void strata_man_see_also(FILE *out, const char *self, const char *extra);

/* The whole section-8 page of a daemon whose table ends with STRATA_FLAGS_END_ABOUT: NAME,
 * SYNOPSIS (the required flags), DESCRIPTION, OPTIONS (with --help, --version, --help-man),
 * ENVIRONMENT, FILES, SEE ALSO. Returns STRATA_EINVAL when the table carries no description. */
int strata_flags_man(FILE *out, const struct strata_flag *tbl);

#endif

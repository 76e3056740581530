/* lc_cli.h - strata-lincheck's program: check a history file, print a JSON verdict. */
#ifndef STRATA_LC_CLI_H
#define STRATA_LC_CLI_H

#include <stdio.h>

/* Run `strata-lincheck [flags] HISTORY`: the JSON verdict on `out`, a readable account of a
 * violation and errors on `err`. Returns the exit status: 0 linearizable and every simple check
 * holds, 1 a violation (of either), 2 unknown (a bound was reached) or unusable input. */
int lc_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif

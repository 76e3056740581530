/* strata-lincheck - checks a fault-injection run's history (docs/reliability.md); not installed. */
#include <stdio.h>

#include "lc_cli.h"

int main(int argc, char **argv)
{
    return lc_cli_main(argc, argv, stdout, stderr);
}

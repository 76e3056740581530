/* nng_close.c - the one place that knows how long NNG 1.5.2 needs before a safe close. */
#include "nng_close.h"

#include <time.h>

/* Measured: 100 ms removed every hang of the standalone reproductions and of lib_test_net. */
#define STRATA_NNG_QUIET_NS (100L * 1000 * 1000)

void strata_nng_close(nng_socket s, bool busy)
{
    if (busy) {
        struct timespec quiet = {.tv_sec = 0, .tv_nsec = STRATA_NNG_QUIET_NS};
        nanosleep(&quiet, NULL);
    }
    nng_close(s);
}

/* nng_close.h - closing an NNG socket around NNG 1.5.2's close hang (see PITFALLS). */
#ifndef STRATA_NNG_CLOSE_H
#define STRATA_NNG_CLOSE_H

#include <nng/nng.h>
#include <stdbool.h>

/* Close `s`. When `busy` (operations were just stopped, or a request went unanswered so that a
 * late reply or the peer's close may still land), wait ~100 ms of quiet first: NNG 1.5.2's
 * nng_close can otherwise hang forever (reproduced with busy contexts and with a timed-out req0
 * request). Blocks the calling thread for that long. */
void strata_nng_close(nng_socket s, bool busy);

#endif

/* cs_bench_resolve.h - cached resolutions against a connectivity server, closed-loop on the
 * event driver (dir_bench_events.h): each client one lean SP connection (sp_req.h), in plaintext
 * or over TLS, asking for the same key again and again. The same client code on both sides is
 * what makes a TLS / plaintext ratio mean something. */
#ifndef CS_BENCH_RESOLVE_H
#define CS_BENCH_RESOLVE_H

#include <stdint.h>
#include <sys/types.h>

#include "dir_bench_stats.h"
#include "err.h"

struct strata_tls;

struct cs_bench_resolve_opts {
    int port;               /* strata-csd --listen on 127.0.0.1 */
    struct strata_tls *tls; /* tls+tcp:// as this context (an operator's), or NULL: tcp:// */
    pid_t server;           /* its process, whose CPU is measured */
    unsigned clients, threads;
    double seconds;
    uint32_t vni;
    uint8_t ip[4]; /* the key resolved; must be found */
};

/* Connect the clients (handshakes before the clock starts), run, close. Operation failures are
 * in `out` (errors, first_error), not in the return code. */
int cs_bench_resolve_run(const struct cs_bench_resolve_opts *o, struct dir_bench_result *out,
                         struct strata_err *e);

#endif

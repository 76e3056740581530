/* dir_bench_events.h - the closed-loop load driver on epoll: a few threads carry all clients,
 * each client one connection with one request outstanding at a time. This is how etcd's own
 * benchmark tool loads a cluster (goroutines on Go's network poller), and on a 2-core machine it
 * leaves the servers the CPU that a thread per client spends on being woken for every reply. */
#ifndef DIR_BENCH_EVENTS_H
#define DIR_BENCH_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "dir_bench_stats.h"
#include "err.h"

#define DIR_BENCH_MORE 1 /* a reply is not all in yet */

struct strata_tls_conn;

/* One operation split in two, on a client that is already connected. */
struct dir_bench_aop {
    /* The client's connected socket, or -1. */
    int (*fd)(void *ctx);
    /* The TLS session on that socket (handshake done), or NULL: then the driver encrypts the
     * requests and decrypts what arrives, and `request` and `reply` see plaintext. The hook
     * itself may be NULL (plaintext only). */
    struct strata_tls_conn *(*tls)(void *ctx);
    /* Start the next operation: its request bytes, which stay valid until the next call. */
    int (*request)(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e);
    /* Look at the bytes received since the request: DIR_BENCH_MORE, or the operation's result
     * (0 or a negative STRATA_E* code) once its reply is all in, `*used` bytes long. A negative
     * result with *used == 0 means the stream is broken: the client stops. */
    int (*reply)(void *ctx, const uint8_t *in, size_t len, size_t *used, struct strata_err *e);
};

/* Run `op` on `nclients` clients (ctxs[i]) spread over `nthreads` threads for `seconds`; as
 * dir_bench_drive otherwise. Requests still out at the deadline are waited for (10 s at most). */
int dir_bench_drive_events(unsigned nclients, void **ctxs, const struct dir_bench_aop *op,
                           unsigned nthreads, double seconds, unsigned max_consecutive_errors,
                           struct dir_bench_result *out, struct strata_err *e);

#endif

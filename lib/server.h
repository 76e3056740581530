/* server.h - a request/reply server (NNG's rep0 protocol) whose requests are decoded, validated
 * and handed to the libuv loop; the handler may reply at any later time (after a Raft commit, a
 * long-poll, an upstream call). */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H

#include "loop.h"
#include "msg.h"

struct strata_server;
struct strata_req; /* one request in flight; owned by the handler until replied */

/* Called on the loop thread with a decoded, validated request. `env` belongs to the request and
 * is freed when it is replied to. The handler must eventually call strata_req_reply (or _error). */
typedef void (*strata_server_handler)(struct strata_req *req, const strata_env *env, void *arg);

struct strata_server_opts {
    /* tcp://127.0.0.1:7001 and tls+tcp://... are served on the loop thread itself (server_uv.c:
     * NNG's wire protocol without NNG's threads, inside TLS for tls+tcp://); other schemes
     * (ipc:///run/strata/agent.sock) by NNG. Clients are NNG req0 sockets for tcp://. */
    const char *url;
    /* requests in flight at once: per connection over tcp://, per server otherwise; default 64 */
    int contexts;
    size_t recv_max; /* default STRATA_MSG_MAX */
    /* Limits of the tcp:// transport, so that no client can hold the daemon's memory or file
     * descriptors (server_uv.c); 0 takes the default. A connection whose replies wait unread
     * (queue_max bytes; or it has some and all connections together have queue_total_max) has
     * no further request handled, not even one it already sent, until its client reads. */
    size_t queue_max;       /* default 4 MiB */
    size_t queue_total_max; /* default 64 MiB */
    /* Input buffers grown for frames of more than 128 KiB, all connections together: a
     * connection whose frame does not fit is not read (its frame deadline runs) until another
     * large frame is done. Default 64 MiB. */
    size_t input_total_max;
    /* Connections beyond these are closed at once (counted in stats.refused). max_conns
     * defaults to 3/4 of RLIMIT_NOFILE (the rest is left for the daemon's own files), at most
     * 4096; max_conns_per_addr (one source address) to 256. */
    int max_conns;
    int max_conns_per_addr;
    /* Deadlines (stats.timed_out): the SP handshake must arrive within handshake_ms (default
     * 5 s); a frame, once begun, must be complete within frame_ms (30 s); a connection with
     * no request unanswered and nothing received or delivered for idle_ms (10 min) is closed.
     * A request a handler keeps (a long-poll) is never timed out. */
    unsigned handshake_ms;
    unsigned frame_ms;
    unsigned idle_ms;
    /* tls+tcp:// (served like tcp://, on the loop, with the same limits): the context, NULL for
     * strata_tls_default(); and the roles of the peers accepted, 0 for any (each request is
     * then authorized by its peer, strata_req_peer). */
    struct strata_tls *tls;
    unsigned tls_roles;
    /* Local (unix-domain) sockets, ipc:// unix:// abstract://, serve only their owner: root and
     * this process's effective uid. The socket file is made 0600 whatever the umask, before the
     * listener accepts a connection (NNG chmods it between bind and listen: a connect before
     * then is refused, ECONNREFUSED), and its mode and owner are checked once it listens; and
     * every request is checked against its peer's credentials (SO_PEERCRED, taken when the peer
     * connected), since a mode can be widened later, abstract sockets have none, and a parent
     * directory may let others in. A request from another uid is answered STRATA_EDENIED,
     * naming the uid refused, before it is decoded; it never reaches the handler (counted in
     * stats.denied). Set ipc_any_user to serve every local user instead (the file 0666, no uid
     * check): only for a socket that must be open to all, since a client's identity is
     * otherwise only what it claims. Refused (STRATA_EINVAL) with any other scheme. */
    bool ipc_any_user;
};

/* Listen on opts->url. Malformed or oversized messages are answered with an error (when they can
 * be paired with a request) or dropped, and counted; they never reach the handler. */
int strata_server_open(struct strata_loop *loop, const struct strata_server_opts *opts,
                       strata_server_handler h, void *arg, struct strata_server **out,
                       struct strata_err *e);

/* Reply on the loop thread. `reply` is encoded at once (its req_id is set from the request); the
 * caller keeps ownership of `reply`. The request object is freed. */
void strata_req_reply(struct strata_req *req, strata_env *reply);
/* Reply with status `code` and a message. */
void strata_req_error(struct strata_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The request's envelope (valid until replied). */
const strata_env *strata_req_env(struct strata_req *req);
/* The authenticated peer that sent the request (tls+tcp://), or NULL over a transport without
 * TLS. Valid until replied. */
struct strata_peer;
const struct strata_peer *strata_req_peer(struct strata_req *req);
/* Time the request reached the server (strata_now_us). */
uint64_t strata_req_arrival_us(struct strata_req *req);

/* Ask to learn when the connection a held request came on closes while the request is still
 * unanswered (the client process died, or its socket was closed): cb(req, arg) then runs once,
 * on the loop thread, in the loop turn the close is seen (a killed process's socket is closed by
 * its kernel at once, so this is how a daemon notices a peer's death within milliseconds). The
 * request is still the handler's: cb must reply to it (the reply goes nowhere) or arrange to.
 * Replying first cancels the watch. Not called when the server itself closes. One watch per
 * request (a second call replaces the first). Returns 0 when watching; STRATA_EUNAVAIL when the
 * connection has closed already (act as if cb ran); STRATA_EINVAL when the transport cannot
 * tell (ipc:// through NNG, whose pipes are not visible per request): callers
 * need another way there, such as a lease. */
typedef void (*strata_req_close_fn)(struct strata_req *req, void *arg);
int strata_req_on_close(struct strata_req *req, strata_req_close_fn cb, void *arg);

/* Counters: requests, replies, decode errors, requests refused because of their peer's uid
 * (local sockets: ipc_any_user); over tcp:// also connections refused (over a cap) and closed
 * for a missed deadline, and the most bytes of replies that ever waited for one client; over
 * tls+tcp:// the connections whose TLS handshake or stream failed (no certificate, another CA, a
 * role not accepted, plaintext). */
struct strata_server_stats {
    uint64_t requests, replies, bad_messages, denied;
    uint64_t refused, timed_out, queued_peak;
    uint64_t tls_failed;
};
void strata_server_stats(struct strata_server *s, struct strata_server_stats *st);
/* Export the counters as metrics `strata_<prefix>_requests_total` and so on (metrics.h). */
struct strata_metrics;
int strata_server_metrics(struct strata_server *s, struct strata_metrics *m, const char *prefix);

/* Stop receiving, answer nothing further, release the socket (see PITFALLS: aio_stop, quiet,
 * close). Requests still held by handlers become no-ops when replied. Call on the loop thread. */
void strata_server_close(struct strata_server *s);

#endif

/* client.h - NNG req clients: an asynchronous one whose completions run on the libuv loop (for
 * daemons), and a blocking one (for the CLI, tests and benchmarks). */
#ifndef STRATA_CLIENT_H
#define STRATA_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "msg.h"

struct strata_tls;

/* ---- asynchronous (daemons) */
struct strata_aclient;

/* Called on the loop thread. rc is 0 (then `reply` is the decoded reply, owned by the callee:
 * free with strata_msg_free; its status may still be non-zero) or a transport error
 * (STRATA_ETIMEDOUT, STRATA_EUNAVAIL, STRATA_EPROTO) with reply NULL. */
typedef void (*strata_aclient_cb)(int rc, strata_env *reply, void *arg);

/* Dial `url` (non-blocking: keeps retrying in the background). Requests are never resent by
 * NNG (REQ_RESENDTIME infinite): the caller decides whether to retry. */
int strata_aclient_open(struct strata_loop *loop, const char *url, struct strata_aclient **out,
                        struct strata_err *e);
/* How to dial, beyond the URL (tcp:// and tls+tcp:// only); zeroed fields are
 * strata_aclient_open's choices. */
struct strata_aclient_opts {
    /* tls+tcp://: the context to speak as; NULL: strata_tls_default(). For a process that is
     * several identities at once, such as a load generator whose simulated agents each hold
     * their own certificate. */
    struct strata_tls *tls;
    /* The local IP address to dial from (its port is the kernel's); NULL: the kernel's choice.
     * A simulated agent dials from its own address, as a real one does from its host's: a
     * server caps the connections of one address (server.h). */
    const char *source;
    /* tls+tcp://: the roles the server's certificate may have (a mask of enum strata_role), 0 for
     * directory or connectivity: an agent dials connectivity servers only, a connectivity server
     * and a forwarding follower directory nodes only. */
    unsigned server_roles;
};
/* strata_aclient_open with `o`. A source address with any other URL, or one that is not an IP
 * address, is STRATA_EINVAL. */
int strata_aclient_open_opts(struct strata_loop *loop, const char *url,
                             const struct strata_aclient_opts *o, struct strata_aclient **out,
                             struct strata_err *e);
/* Send `req` (encoded at once; caller keeps ownership) with a fresh req_id; cb fires exactly once
 * on the loop thread, after at most timeout_ms. */
int strata_aclient_call(struct strata_aclient *c, strata_env *req, unsigned timeout_ms,
                        strata_aclient_cb cb, void *arg);
const char *strata_aclient_url(struct strata_aclient *c);
/* Why the last connection to the server failed or dropped ("connection refused", a TLS
 * verification error...); "" while connected or when unknown (NNG transports). */
const char *strata_aclient_why(struct strata_aclient *c);
/* Cancel in-flight calls (their callbacks fire with STRATA_EUNAVAIL) and close. Loop thread. */
void strata_aclient_close(struct strata_aclient *c);

/* ---- blocking (CLI, tests, benches) */
struct strata_sclient;

/* tls+tcp:// URLs use strata_tls_default(); _tls names the context (a test speaking as
 * several identities). */
int strata_sclient_open(const char *url, struct strata_sclient **out, struct strata_err *e);
int strata_sclient_open_tls(const char *url, struct strata_tls *tls, struct strata_sclient **out,
                            struct strata_err *e);
/* Send and wait up to timeout_ms. On success *reply is owned by the caller (strata_msg_free).
 * A reply with non-zero status is returned as success of the call: check (*reply)->status. */
int strata_sclient_call(struct strata_sclient *c, strata_env *req, unsigned timeout_ms,
                        strata_env **reply, struct strata_err *e);
/* The same with the envelope already encoded (its req_id `id`, at most 31 bits): for tests that
 * send bytes protobuf-c would not encode. */
int strata_sclient_call_bytes(struct strata_sclient *c, const uint8_t *buf, size_t len, uint64_t id,
                              unsigned timeout_ms, strata_env **reply, struct strata_err *e);
/* The last call failed at once because nothing listens at the URL (a refused connection, a
 * missing ipc:// socket file): STRATA_EUNAVAIL, "URL: connection refused" or "URL: no such
 * socket", and nothing was sent. Until a first reply, each call checks this before sending:
 * NNG's dialer alone would retry in the background until the deadline. */
bool strata_sclient_refused(const struct strata_sclient *c);
void strata_sclient_close(struct strata_sclient *c);

#endif

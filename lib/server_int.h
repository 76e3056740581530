/* server_int.h - what server.c (the API and NNG's transports) shares with server_uv.c (tcp://
 * spoken on the libuv loop); not for other modules. */
#ifndef STRATA_SERVER_INT_H
#define STRATA_SERVER_INT_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "server.h"
#include "sp_wire.h"
#include "tls.h"

struct srv_ctx;  /* NNG transport: one context */
struct uvs;      /* loop transport: the listener and its connections */
struct uvs_conn; /* loop transport: one connection */

/* Where a request's reply goes: an NNG context, or a loop-transport connection with the SP
 * backtrace (the request id) that the reply must carry back. */
struct srv_to {
    struct srv_ctx *c;
    struct uvs_conn *conn;
    uint8_t bt_len;
    uint8_t bt[SP_BACKTRACE_MAX];
};

struct strata_req {
    struct strata_server *s;
    struct srv_to to;
    strata_env *env;
    uint64_t arrival_us;
    /* strata_req_on_close: the watch, linked on to.conn's list while set */
    /* the TLS peer that sent it (a copy: the connection may close first) */
    bool has_peer;
    struct strata_peer peer;
    strata_req_close_fn on_close;
    void *on_close_arg;
    struct strata_req *wnext, **wpprev;
};

struct strata_server {
    struct strata_loop *loop;
    size_t recv_max;
    strata_server_handler handler;
    void *arg;
    atomic_bool closed; /* set on the loop; read by NNG's aio callbacks too */
    int held;           /* strata_req objects not yet replied */
    struct strata_server_stats stats;
    /* NNG transport */
    nng_socket sock;
    struct srv_ctx *ctxs;
    int nctx;
    atomic_int posted; /* srv_ctx_done items queued on the loop */
    /* a local socket serving only root and owner_uid (our euid): ipc_any_user unset */
    bool owner_only;
    uint32_t owner_uid;
    /* loop transport (tcp://) */
    struct uvs *uv;
};

/* server.c: decode one request that arrived for `to`. Returns the request (counted as held) or
 * NULL after answering a bad message with an error. */
struct strata_req *srv_take(struct strata_server *s, const struct srv_to *to, const uint8_t *body,
                            size_t len);
/* Free the server once it is closed and nothing refers to it any more. */
void srv_maybe_free(struct strata_server *s);

/* server_uv.c */
/* Listen on opts->url with the limits of opts (0: the defaults, see server_uv.c). */
int uvs_open(struct strata_server *s, const struct strata_server_opts *opts, unsigned per_conn,
             struct strata_err *e);
/* Queue an encoded reply (copied) for to->conn; it leaves at the end of this loop turn. */
void uvs_send(const struct srv_to *to, const uint8_t *buf, size_t len);
/* A request of `conn` was answered or abandoned. */
void uvs_release(struct uvs_conn *conn);
/* Watch req's connection for its close (strata_req_on_close); and stop watching. */
int uvs_watch(struct strata_req *req);
void uvs_unwatch(struct strata_req *req);
void uvs_close(struct uvs *u);
/* Whether every handle is closed, so that uvs_free may run. */
bool uvs_closed(const struct uvs *u);
void uvs_free(struct uvs *u);

#endif

/* server.c - an NNG rep0 server: N contexts receive concurrently on NNG's threads, every
 * completion is handed to the libuv loop, where requests are decoded, validated and given to the
 * handler, which replies whenever it likes.
 *
 * Each context is a small state machine with exactly one operation in flight on its aio and one
 * completion path (aio callback -> strata_loop_post -> srv_ctx_done on the loop):
 *   RECV --(request decoded)--> HELD (a strata_req owns it) --(reply)--> SEND --> RECV
 *   RECV --(bad message)--> SEND (error reply) --> RECV
 * Handler-visible state is touched on the loop thread only. One exception, for speed: a finished
 * SEND is turned back into a RECV by the aio callback itself on NNG's thread (it needs nothing of
 * the loop's, and a second loop hop per request cost up to a quarter of the request rate); while
 * the context is in SEND nobody else touches it, and `closed` is atomic. During close, send
 * completions go to the loop as before. (nng_aio_stop in close waits for a running callback and
 * rejects later submissions, so a recv resubmitted while closing is cancelled or refused.)
 *
 * Teardown (strata_server_close, loop thread), per PITFALLS (nng_close can hang otherwise):
 *   1. closed = true: no context is resubmitted and replies become no-ops;
 *   2. nng_aio_stop on every aio: aborts the pending recv/send and waits for its callback, which
 *      has then posted its srv_ctx_done (still queued on the loop);
 *   3. ~100 ms of quiet, then nng_close (closes the contexts too);
 *   4. the queued srv_ctx_done items run later and only count themselves down;
 *   5. the server's memory (contexts, aios) is freed once no posted item and no strata_req held by
 *      a handler refers to it any more (srv_maybe_free), so a late reply is safe.
 *
 * tcp:// URLs do not use NNG's transport but server_uv.c, which speaks the same wire protocol on
 * the loop thread; what both share (decoding, error replies, the request object) is here.
 *
 * Local sockets (ipc://, unix://, abstract://) serve their owner only (server.h, ipc_any_user):
 * the file's mode is NNG's NNG_OPT_IPC_PERMISSIONS, which NNG 1.5.2 applies with chmod() after
 * bind() and before listen() (src/platform/posix/posix_ipclisten.c), so while the file is still
 * as wide as the umask left it nobody can connect (ECONNREFUSED), and connect() checks the mode
 * of the moment; we check the result with lstat() rather than trust it (nng.h: "Check before
 * you rely on this for security"). The peer's uid is then checked per request on the loop,
 * before decoding (srv_peer_allowed). */
#include "server.h"
#include "server_int.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "nng_close.h"

enum srv_ctx_state { CTX_RECV, CTX_HELD, CTX_SEND, CTX_IDLE };

struct srv_ctx {
    struct strata_server *s;
    nng_ctx ctx;
    nng_aio *aio;
    enum srv_ctx_state state;
};

void srv_maybe_free(struct strata_server *s)
{
    if (!s->closed || atomic_load(&s->posted) != 0 || s->held != 0)
        return;
    if (s->uv != NULL) {
        if (!uvs_closed(s->uv))
            return; /* its last handle's close callback calls again */
        uvs_free(s->uv);
    }
    for (int i = 0; i < s->nctx; i++)
        if (s->ctxs[i].aio != NULL) {
            /* a send refused while close was stopping the aio leaves its message attached */
            nng_msg *m = nng_aio_get_msg(s->ctxs[i].aio);
            if (m != NULL)
                nng_msg_free(m);
            nng_aio_free(s->ctxs[i].aio);
        }
    free(s->ctxs);
    free(s);
}

/* A failed send leaves the message with us: free it. */
static void srv_drop_unsent(struct srv_ctx *c)
{
    nng_msg *m = nng_aio_get_msg(c->aio);
    if (m != NULL)
        nng_msg_free(m);
    nng_aio_set_msg(c->aio, NULL);
}

static void srv_ctx_recv(struct srv_ctx *c)
{
    c->state = CTX_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

/* Send an encoded reply on the context; the completion brings it back to RECV. */
static void srv_ctx_send(struct srv_ctx *c, const uint8_t *buf, size_t len)
{
    nng_msg *m;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
        if (m != NULL)
            nng_msg_free(m);
        /* Nothing can be answered: drop the request, the client times out. */
        LOG_ERROR("server: out of memory for a reply");
        srv_ctx_recv(c);
        return;
    }
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
}

/* Read field 1 (req_id, varint) from a raw envelope without decoding it, so that even an
 * invalid request gets an error reply its client can pair. Returns 0 when absent. */
static uint64_t srv_peek_req_id(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t key = 0;
        for (int shift = 0; i < len && shift < 64; shift += 7) {
            uint8_t b = p[i++];
            key |= (uint64_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                goto have_key;
        }
        return 0;
    have_key:;
        uint64_t v = 0;
        switch (key & 7) {
        case 0:
            for (int shift = 0; i < len && shift < 64; shift += 7) {
                uint8_t b = p[i++];
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                    if ((key >> 3) == 1)
                        return v;
                    goto next;
                }
            }
            return 0;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2:
            for (int shift = 0; i < len && shift < 64; shift += 7) {
                uint8_t b = p[i++];
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                    if (v > len - i)
                        return 0;
                    i += v;
                    goto next;
                }
            }
            return 0;
        default:
            return 0;
        }
    next:;
    }
    return 0;
}

/* Send an encoded reply to where its request came from. */
static void srv_send(const struct srv_to *to, const uint8_t *buf, size_t len)
{
    if (to->conn != NULL)
        uvs_send(to, buf, len);
    else
        srv_ctx_send(to->c, buf, len);
}

/* Encode and send an error envelope. Error replies carry an Empty body so that they pass the
 * receiver's structural validation like any other message. */
static void srv_send_error(const struct srv_to *to, uint64_t req_id, int code, const char *msg)
{
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    env.req_id = req_id;
    env.status = code;
    env.message = (char *)msg;
    env.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    env.empty = &empty;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (strata_msg_encode(&env, &buf, &len, NULL) != 0) {
        LOG_ERROR("server: cannot encode an error reply");
        if (to->c != NULL)
            srv_ctx_recv(to->c);
        return;
    }
    srv_send(to, buf, len);
    free(buf);
}

/* The request object for a decoded envelope received for `to` (NULL when out of memory). */
static struct strata_req *srv_req_new(struct strata_server *s, const struct srv_to *to,
                                      strata_env *env)
{
    struct strata_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->s = s;
    req->to = *to;
    req->env = env;
    req->arrival_us = strata_now_us();
    return req;
}

struct strata_req *srv_take(struct strata_server *s, const struct srv_to *to, const uint8_t *body,
                            size_t len)
{
    s->stats.requests++;

    strata_env *env = NULL;
    struct strata_err err = {0};
    int rc = strata_msg_decode_req(body, len, s->recv_max, &env, &err);
    if (rc != 0) {
        s->stats.bad_messages++;
        uint64_t req_id = srv_peek_req_id(body, len);
        /* Rate-limited: a misbehaving peer must not flood the log. */
        if (s->stats.bad_messages <= 10 || s->stats.bad_messages % 1000 == 0)
            LOG_WARN("server: bad request #%llu (%zu bytes, req_id %llu): %s",
                     (unsigned long long)s->stats.bad_messages, len, (unsigned long long)req_id,
                     err.msg);
        char text[STRATA_MAX_STR + 1]; /* the bound peers validate */
        snprintf(text, sizeof(text), "bad request: %.240s", err.msg[0] ? err.msg : "undecodable");
        srv_send_error(to, req_id, rc, text);
        return NULL;
    }
    struct strata_req *req = srv_req_new(s, to, env);
    if (req == NULL) {
        uint64_t req_id = env->req_id;
        strata_msg_free(env);
        srv_send_error(to, req_id, STRATA_ENOMEM, "server out of memory");
        return NULL;
    }
    if (to->c != NULL)
        to->c->state = CTX_HELD;
    s->held++;
    return req;
}

/* Whether the peer that sent m on a local socket may use the server (root or its owner); one
 * that may not is answered STRATA_EDENIED, naming its uid, and counted. */
static bool srv_peer_allowed(struct srv_ctx *c, nng_msg *m)
{
    struct strata_server *s = c->s;
    if (!s->owner_only)
        return true;
    nng_pipe p = nng_msg_get_pipe(m);
    uint64_t uid = 0;
    int rv = nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid);
    if (rv == 0 && (uid == 0 || uid == s->owner_uid))
        return true;
    s->stats.requests++;
    s->stats.denied++;
    char text[STRATA_MAX_STR + 1], owner[32] = "";
    if (s->owner_uid != 0)
        snprintf(owner, sizeof(owner), " and uid %u", (unsigned)s->owner_uid);
    if (rv != 0) /* the connection is gone (the reply goes nowhere) or not a local socket's */
        snprintf(text, sizeof(text), "local socket: the peer's uid is unknown (%s): refused",
                 nng_strerror(rv));
    else
        snprintf(text, sizeof(text),
                 "local socket: uid %llu may not use it (only root%s, its owner, may)",
                 (unsigned long long)uid, owner);
    if (s->stats.denied <= 10 || s->stats.denied % 1000 == 0) {
        uint64_t pid = 0;
        (void)nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid);
        LOG_WARN("server: request refused (#%llu): %s; pid %llu",
                 (unsigned long long)s->stats.denied, text, (unsigned long long)pid);
    }
    struct srv_to to = {.c = c};
    srv_send_error(&to, srv_peek_req_id(nng_msg_body(m), nng_msg_len(m)), STRATA_EDENIED, text);
    return false;
}

/* On the loop: a request received on context c. */
static void srv_handle_msg(struct srv_ctx *c, nng_msg *m)
{
    if (!srv_peer_allowed(c, m)) {
        nng_msg_free(m);
        return;
    }
    struct srv_to to = {.c = c};
    struct strata_req *req = srv_take(c->s, &to, nng_msg_body(m), nng_msg_len(m));
    nng_msg_free(m);
    /* The handler may reply (and free req) before returning: touch nothing afterwards. */
    if (req != NULL)
        c->s->handler(req, req->env, c->s->arg);
}

/* Release a replied (or abandoned) request; the context moves on (or stays idle after close). */
static void srv_req_done(struct strata_req *req)
{
    struct strata_server *s = req->s;
    struct uvs_conn *conn = req->to.conn;
    if (req->on_close != NULL)
        uvs_unwatch(req);
    strata_msg_free(req->env);
    free(req);
    s->held--;
    if (conn != NULL)
        uvs_release(conn);
}

/* A request answered after close: nothing is sent; the server may now be freed. */
static void srv_req_abandon(struct strata_req *req)
{
    struct strata_server *s = req->s;
    if (req->to.c != NULL)
        req->to.c->state = CTX_IDLE;
    srv_req_done(req);
    srv_maybe_free(s);
}

static void srv_post_done(struct srv_ctx *c);

/* On the loop: one completion of a context's aio. */
static void srv_ctx_done(void *arg)
{
    struct srv_ctx *c = arg;
    struct strata_server *s = c->s;
    atomic_fetch_sub(&s->posted, 1);
    int rv = nng_aio_result(c->aio);

    if (c->state == CTX_SEND) {
        if (rv != 0)
            srv_drop_unsent(c);
        if (s->closed) {
            c->state = CTX_IDLE;
            srv_maybe_free(s);
            return;
        }
        srv_ctx_recv(c);
        return;
    }

    /* CTX_RECV */
    if (rv != 0) {
        if (s->closed || rv == NNG_ECLOSED) {
            c->state = CTX_IDLE;
            srv_maybe_free(s);
            return;
        }
        LOG_WARN("server: receive failed: %s", nng_strerror(rv));
        srv_ctx_recv(c);
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    nng_aio_set_msg(c->aio, NULL);
    if (s->closed) {
        nng_msg_free(m);
        c->state = CTX_IDLE;
        srv_maybe_free(s);
        return;
    }
    srv_handle_msg(c, m);
}

/* On an NNG thread: never block. A finished send goes straight back to receiving (see the top of
 * this file); everything else is handed over to the loop. */
static void srv_aio_cb(void *arg)
{
    struct srv_ctx *c = arg;
    if (c->state == CTX_SEND && !atomic_load(&c->s->closed)) {
        if (nng_aio_result(c->aio) != 0)
            srv_drop_unsent(c);
        srv_ctx_recv(c);
        return;
    }
    srv_post_done(c);
}

static void srv_post_done(struct srv_ctx *c)
{
    atomic_fetch_add(&c->s->posted, 1);
    if (strata_loop_post(c->s->loop, srv_ctx_done, c) != 0) {
        /* The loop is gone (misuse: server outlived its loop). Nothing safe to do but drop. */
        atomic_fetch_sub(&c->s->posted, 1);
    }
}

static int srv_nng_err(struct strata_err *e, const char *what, const char *url, int rv)
{
    return strata_err_set(e, rv == NNG_EADDRINUSE ? STRATA_EUNAVAIL : STRATA_EINVAL,
                          "server %s: %s: %s", url, what, nng_strerror(rv));
}

/* A unix-domain socket URL of NNG's: *path is its file, NULL for an abstract socket. */
static bool srv_local_url(const char *url, const char **path)
{
    *path = NULL;
    if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "unix://", 7) == 0) {
        *path = strstr(url, "://") + 3;
        return true;
    }
    return strncmp(url, "abstract://", 11) == 0;
}

/* Listen on opts->url; a local socket with the mode and peer policy of server.h. */
static int srv_listen(struct strata_server *s, const struct strata_server_opts *opts,
                      struct strata_err *e)
{
    const char *path;
    if (!srv_local_url(opts->url, &path)) {
        int rv = nng_listen(s->sock, opts->url, NULL, 0);
        return rv == 0 ? 0 : srv_nng_err(e, "listen", opts->url, rv);
    }
    unsigned mode = opts->ipc_any_user ? 0666 : 0600;
    nng_listener l;
    int rv = nng_listener_create(&l, s->sock, opts->url);
    if (rv != 0)
        return srv_nng_err(e, "listen", opts->url, rv);
    /* applied between bind and listen, whatever the umask (the top of this file) */
    if ((rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int)mode)) != 0)
        return srv_nng_err(e, "socket permissions", opts->url, rv);
    if ((rv = nng_listener_start(l, 0)) != 0)
        return srv_nng_err(e, "listen", opts->url, rv);
    if (path != NULL) {
        struct stat st;
        if (lstat(path, &st) != 0)
            return strata_err_set(e, STRATA_EIO, "server %s: cannot check the socket file: %s",
                                  opts->url, strerror(errno));
        if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != mode || st.st_uid != geteuid())
            return strata_err_set(e, STRATA_EINTERNAL,
                                  "server %s: the socket file has mode %04o and owner %u once "
                                  "listening, want a socket %04o owned by %u",
                                  opts->url, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                                  mode, (unsigned)geteuid());
    }
    s->owner_only = !opts->ipc_any_user;
    s->owner_uid = (uint32_t)geteuid();
    return 0;
}

int strata_server_open(struct strata_loop *loop, const struct strata_server_opts *opts,
                       strata_server_handler h, void *arg, struct strata_server **out,
                       struct strata_err *e)
{
    if (opts == NULL || opts->url == NULL || h == NULL)
        return strata_err_set(e, STRATA_EINVAL, "server: missing url or handler");
    const char *path;
    if (opts->ipc_any_user && !srv_local_url(opts->url, &path))
        return strata_err_set(e, STRATA_EINVAL,
                              "server %s: ipc_any_user is for ipc://, unix:// or abstract://",
                              opts->url);
    struct strata_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "server: out of memory");
    s->loop = loop;
    s->handler = h;
    s->arg = arg;
    s->recv_max = opts->recv_max ? opts->recv_max : STRATA_MSG_MAX;
    int contexts = opts->contexts > 0 ? opts->contexts : 64;
    atomic_init(&s->posted, 0);
    atomic_init(&s->closed, false);
    if (strncmp(opts->url, "tcp://", 6) == 0 || strata_tls_url(opts->url)) {
        int rc = uvs_open(s, opts, (unsigned)contexts, e);
        if (rc != 0 && s->uv == NULL)
            free(s); /* else its handles' close callbacks free it */
        else if (rc == 0)
            *out = s;
        return rc;
    }
    s->nctx = contexts;
    s->ctxs = calloc((size_t)s->nctx, sizeof(*s->ctxs));
    if (s->ctxs == NULL) {
        free(s);
        return strata_err_set(e, STRATA_ENOMEM, "server: out of memory");
    }

    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        free(s->ctxs);
        free(s);
        return srv_nng_err(e, "rep0 open", opts->url, rv);
    }
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->recv_max)) != 0) {
        rv = srv_nng_err(e, "set recv max", opts->url, rv);
        goto fail;
    }
    for (int i = 0; i < s->nctx; i++) {
        struct srv_ctx *c = &s->ctxs[i];
        c->s = s;
        c->state = CTX_IDLE;
        if ((rv = nng_aio_alloc(&c->aio, srv_aio_cb, c)) != 0 ||
            (rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
            rv = srv_nng_err(e, "context", opts->url, rv);
            goto fail;
        }
    }
    if ((rv = srv_listen(s, opts, e)) != 0)
        goto fail;
    for (int i = 0; i < s->nctx; i++)
        srv_ctx_recv(&s->ctxs[i]);
    *out = s;
    return 0;

fail:
    /* No operation was started: closing the socket and freeing the aios is safe. */
    nng_close(s->sock);
    for (int i = 0; i < s->nctx; i++)
        if (s->ctxs[i].aio != NULL)
            nng_aio_free(s->ctxs[i].aio);
    free(s->ctxs);
    free(s);
    return rv;
}

const struct strata_peer *strata_req_peer(struct strata_req *req)
{
    return req->has_peer ? &req->peer : NULL;
}

const strata_env *strata_req_env(struct strata_req *req)
{
    return req->env;
}

uint64_t strata_req_arrival_us(struct strata_req *req)
{
    return req->arrival_us;
}

int strata_req_on_close(struct strata_req *req, strata_req_close_fn cb, void *arg)
{
    if (req->to.conn == NULL || cb == NULL)
        return STRATA_EINVAL; /* NNG: its pipes are not ours to watch */
    if (req->on_close != NULL)
        uvs_unwatch(req);
    req->on_close = cb;
    req->on_close_arg = arg;
    int rc = uvs_watch(req);
    if (rc != 0)
        req->on_close = NULL;
    return rc;
}

/* The request is released after its reply is sent: a loop-transport connection must stay
 * referenced until then. */
void strata_req_reply(struct strata_req *req, strata_env *reply)
{
    struct strata_server *s = req->s;
    if (s->closed) {
        srv_req_abandon(req);
        return;
    }
    uint64_t req_id = req->env->req_id;
    reply->req_id = req_id;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct strata_err err = {0};
    int rc = strata_msg_encode(reply, &buf, &len, &err);
    if (rc != 0) {
        LOG_ERROR("server: cannot encode reply: %s", err.msg);
        srv_send_error(&req->to, req_id, STRATA_EINTERNAL, "server could not encode its reply");
    } else {
        s->stats.replies++;
        srv_send(&req->to, buf, len);
        free(buf);
    }
    srv_req_done(req);
}

void strata_req_error(struct strata_req *req, int code, const char *fmt, ...)
{
    struct strata_server *s = req->s;
    if (s->closed) {
        srv_req_abandon(req);
        return;
    }
    char text[STRATA_MAX_STR + 1]; /* the bound peers validate */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    s->stats.replies++;
    srv_send_error(&req->to, req->env->req_id, code, text);
    srv_req_done(req);
}

void strata_server_stats(struct strata_server *s, struct strata_server_stats *st)
{
    *st = s->stats;
}

int strata_server_metrics(struct strata_server *s, struct strata_metrics *m, const char *prefix)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } tbl[] = {
        {"requests_total", "requests received", offsetof(struct strata_server_stats, requests)},
        {"bad_messages_total", "malformed or oversized messages, answered with an error or dropped",
         offsetof(struct strata_server_stats, bad_messages)},
        {"connections_refused_total", "connections closed at once: over a connection cap",
         offsetof(struct strata_server_stats, refused)},
        {"timed_out_total", "connections closed for a missed deadline (handshake, frame, idle)",
         offsetof(struct strata_server_stats, timed_out)},
        {"tls_failed_total",
         "TLS connections dropped: no certificate, another CA's, a role not accepted, plaintext",
         offsetof(struct strata_server_stats, tls_failed)},
        {"denied_local_total", "local-socket requests refused for their peer's uid",
         offsetof(struct strata_server_stats, denied)},
    };
    for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++) {
        char name[96];
        snprintf(name, sizeof(name), "%s_%s", prefix, tbl[i].name);
        int rc = strata_metrics_add(m, name, STRATA_METRIC_COUNTER, tbl[i].help,
                                    (const uint64_t *)((const char *)&s->stats + tbl[i].off));
        if (rc != 0)
            return rc;
    }
    return 0;
}

void strata_server_close(struct strata_server *s)
{
    if (s == NULL || s->closed)
        return;
    s->closed = true;
    if (s->uv != NULL) {
        uvs_close(s->uv);
        srv_maybe_free(s);
        return;
    }
    for (int i = 0; i < s->nctx; i++)
        nng_aio_stop(s->ctxs[i].aio);
    strata_nng_close(s->sock, true); /* contexts were just stopped while busy */
    /* Contexts held by handlers (CTX_HELD) stay referenced until their late reply. */
    srv_maybe_free(s);
}

/* client_uv.c - strata_aclient's transport for tcp:// URLs: an SP req0 client (sp_wire.h) run
 * by the libuv loop, for the same reason as server_uv.c: NNG's own transport hands every call
 * from the loop to its threads and back, several context switches each way, and a follower
 * forwarding writes or a connectivity server asking the directory pays that on every call.
 *
 * One connection, dialled in the background and redialled (100 ms, doubling to 2 s) whenever
 * it drops; a host name is looked up again at each dial, off the loop. Calls made while it is down
 * wait for it, each until its own deadline (one timer for all). Calls already sent when the
 * connection drops fail at once with STRATA_EUNAVAIL, as NNG reports a reset; nothing is ever
 * resent. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "client_int.h"
#include "log.h"
#include "sp_uv.h"
#include "sp_wire.h"
#include "tls.h"

#define UVC_RETRY_MIN_MS 100
#define UVC_RETRY_MAX_MS 2000

struct uvc_call {
    struct uvc_call *next, *prev; /* c->calls, in call order */
    uint64_t req_id;
    uint64_t deadline_ms; /* 0: none */
    bool sent;            /* on the current connection */
    uint8_t *frame;       /* length, request id and envelope, until sent */
    size_t frame_len;
    strata_aclient_cb cb;
    void *arg;
};

struct uvc_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct uvc *c;
    bool up, closing; /* up: handshake done */
    uint8_t *in;      /* plaintext */
    size_t in_len, in_cap;
    struct strata_tls_conn *tls; /* tls+tcp:// */
};

/* A name lookup on libuv's thread pool: a slow resolver must not stall the loop, which also runs
 * Raft and serves every request of the daemon. */
struct uvc_gai {
    uv_getaddrinfo_t req;
    struct uvc *c;
};

struct uvc {
    struct strata_loop *loop;
    char *url;
    struct sp_tcp_addr addr;
    struct uvc_gai *gai;   /* lookup in flight (counted in handles) */
    struct uvc_conn *conn; /* NULL while waiting to redial */
    uv_timer_t tmo;        /* the earliest call deadline */
    uv_timer_t retry;      /* the next dial */
    unsigned retry_ms;
    struct uvc_call *calls, *last;
    uint64_t next_req_id;
    struct strata_tls *tls; /* tls+tcp:// */
    char tls_why[160];      /* the last TLS failure, logged when it changes */
    char why[160];          /* why the last connection failed or dropped; "" once one is up */
    bool has_source;        /* dial from `source` (strata_aclient_opts.source) */
    unsigned server_roles;  /* strata_aclient_opts.server_roles */
    struct sockaddr_storage source;
    bool closed;
    int in_cb;   /* > 0 while a callback runs: do not free under it */
    int handles; /* open handles (timers, connections) and the lookup in flight */
};

static void uvc_dial(struct uvc *c);
static int uvc_tls_flush(struct uvc_conn *k);
static void uvc_conn_drop(struct uvc_conn *k, const char *why);

/* ---------------------------------------------------------------- lifetime */

static void uvc_maybe_free(struct uvc *c)
{
    if (c->closed && c->in_cb == 0 && c->handles == 0) {
        free(c->url);
        free(c);
    }
}

static void uvc_handle_closed(uv_handle_t *h)
{
    struct uvc *c = h->data;
    c->handles--;
    uvc_maybe_free(c);
}

static void uvc_unlink(struct uvc *c, struct uvc_call *k)
{
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    else
        c->last = k->prev;
    k->next = k->prev = NULL;
}

/* Fire the callback (once) and free the call. The callback may call again or close. */
static void uvc_finish(struct uvc *c, struct uvc_call *k, int rc, strata_env *reply)
{
    uvc_unlink(c, k);
    strata_aclient_cb cb = k->cb;
    void *arg = k->arg;
    free(k->frame);
    free(k);
    c->in_cb++;
    cb(rc, reply, arg);
    c->in_cb--;
}

/* ---------------------------------------------------------------- timeouts */

static void uvc_tmo_cb(uv_timer_t *t);

/* Aim the timer at the earliest deadline. Answered calls do not re-aim it (a scan of every call
 * per reply): a timer that fires for a call already answered just aims again. */
static void uvc_arm(struct uvc *c)
{
    uint64_t first = 0;
    for (struct uvc_call *k = c->calls; k != NULL; k = k->next)
        if (k->deadline_ms != 0 && (first == 0 || k->deadline_ms < first))
            first = k->deadline_ms;
    if (first == 0) {
        uv_timer_stop(&c->tmo);
        return;
    }
    uint64_t now = strata_now_ms();
    uv_timer_start(&c->tmo, uvc_tmo_cb, first > now ? first - now : 0, 0);
}

static void uvc_tmo_cb(uv_timer_t *t)
{
    struct uvc *c = t->data;
    uint64_t now = strata_now_ms();
    struct uvc_call *k = c->calls;
    while (k != NULL && !c->closed) {
        struct uvc_call *next = k->next;
        if (k->deadline_ms != 0 && k->deadline_ms <= now)
            uvc_finish(c, k, STRATA_ETIMEDOUT, NULL);
        k = next; /* a callback only appends calls or closes (then we stop) */
    }
    if (!c->closed)
        uvc_arm(c);
    uvc_maybe_free(c);
}

/* ---------------------------------------------------------------- sending */

static void uvc_written(void *data, int status)
{
    struct uvc_conn *k = data;
    if (status < 0 && status != UV_ECANCELED && !k->closing)
        uvc_conn_drop(k, uv_strerror(status));
}

/* Send the session's records (and handshake messages). 0 or a libuv error. */
static int uvc_tls_flush(struct uvc_conn *k)
{
    size_t len = 0;
    uint8_t *ct = strata_tls_conn_output(k->tls, &len);
    if (ct == NULL)
        return 0;
    int rc = sp_uv_write((uv_stream_t *)&k->tcp, ct, len, uvc_written, k);
    if (rc != 0)
        free(ct);
    return rc < 0 ? rc : 0;
}

/* Send a malloc'd frame on the connection; it is consumed (*frame is NULL) unless this fails,
 * which happens only when out of memory: a failed socket is reported by uvc_written, never here,
 * so callers need not expect callbacks of other calls to run under them. */
static int uvc_write(struct uvc_conn *k, uint8_t **frame, size_t len)
{
    if (k->tls != NULL) { /* encrypted now; the records leave with uvc_tls_flush */
        struct strata_err e;
        if (strata_tls_conn_write(k->tls, *frame, len, &e) != 0)
            return UV_ENOMEM; /* a failed session is reported by the read side */
        free(*frame);
        *frame = NULL;
        return uvc_tls_flush(k);
    }
    int rc = sp_uv_write((uv_stream_t *)&k->tcp, *frame, len, uvc_written, k);
    if (rc < 0)
        return rc;
    if (rc == 1)
        free(*frame);
    *frame = NULL;
    return 0;
}

static void uvc_send_pending(struct uvc *c)
{
    struct uvc_conn *k = c->conn;
    for (struct uvc_call *call = c->calls; call != NULL; call = call->next) {
        if (call->sent)
            continue;
        int rc = uvc_write(k, &call->frame, call->frame_len);
        if (rc != 0) {
            uvc_conn_drop(k, uv_strerror(rc));
            return;
        }
        call->sent = true;
    }
}

/* ---------------------------------------------------------------- receiving */

static void uvc_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct uvc_conn *k = h->data;
    if (k->tls != NULL) { /* ciphertext, handed to the session at once */
        *b = sp_uv_tls_scratch();
        return;
    }
    sp_uv_input(&k->in, &k->in_cap, k->in_len, b);
}

/* A TLS failure, logged once while it stays the same (a client redials every 2 s). */
static void uvc_tls_failed(struct uvc_conn *k, const char *why)
{
    struct uvc *c = k->c;
    if (strcmp(c->tls_why, why) != 0) {
        LOG_WARN("client %s: %s", c->url, why);
        snprintf(c->tls_why, sizeof(c->tls_why), "%s", why);
    }
    uvc_conn_drop(k, why);
}

/* Decrypt the ciphertext just read into the input. 0, or -1 when the connection dropped. */
static int uvc_tls_pull(struct uvc_conn *k, const uv_buf_t *b, ssize_t n)
{
    struct strata_err e;
    if (strata_tls_conn_input(k->tls, b->base, (size_t)n) != 0) {
        uvc_conn_drop(k, "out of memory");
        return -1;
    }
    int got = strata_tls_conn_read_all(k->tls, &k->in, &k->in_len, &k->in_cap, &e);
    if (got == STRATA_ENOMEM) {
        uvc_conn_drop(k, "out of memory");
        return -1;
    }
    if (got != 0) {
        uvc_tls_failed(k, e.msg);
        return -1;
    }
    if (strata_tls_conn_ready(k->tls))
        k->c->tls_why[0] = '\0';
    int rc = uvc_tls_flush(k);
    if (rc != 0) {
        uvc_conn_drop(k, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* One reply: find its call (it may have timed out already) and finish it. */
static void uvc_reply(struct uvc *c, const uint8_t *msg, size_t len)
{
    uint32_t id = sp_get_be32(msg);
    struct uvc_call *k = c->calls;
    while (k != NULL && !(k->sent && (uint32_t)(k->req_id | 0x80000000u) == id))
        k = k->next;
    if (k == NULL)
        return;
    strata_env *reply = NULL;
    struct strata_err err = {0};
    int rc = client_decode_reply(msg + 4, len - 4, &reply, &err);
    if (rc == 0 && reply->req_id != k->req_id)
        rc = client_wrong_id(&reply, k->req_id, &err);
    if (rc != 0)
        LOG_WARN("client %s: %s", c->url, err.msg);
    uvc_finish(c, k, rc, reply);
}

static void uvc_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct uvc_conn *k = st->data;
    struct uvc *c = k->c;
    if (n < 0) {
        uvc_conn_drop(k, n == UV_EOF ? "closed by the server" : uv_strerror((int)n));
        return;
    }
    if (k->tls == NULL)
        k->in_len += (size_t)n;
    else if (n > 0 && uvc_tls_pull(k, b, n) != 0)
        return;
    size_t off = 0;
    if (!k->up) {
        enum sp_frame h = sp_handshake_next(k->in, k->in_len, SP_PROTO_REP0);
        if (h == SP_FRAME_MORE)
            return;
        if (h == SP_FRAME_BAD) {
            uvc_conn_drop(k, "not an SP rep0 server");
            return;
        }
        k->up = true;
        c->why[0] = '\0';
        c->retry_ms = UVC_RETRY_MIN_MS;
        off = SP_HANDSHAKE_LEN;
        uvc_send_pending(c);
    }
    c->in_cb++; /* keeps c while callbacks run; k lives until its close callback */
    while (!k->closing && !c->closed) {
        size_t len;
        enum sp_frame f =
            sp_frame_next(k->in + off, k->in_len - off, 4, STRATA_MSG_MAX + SP_BACKTRACE_MAX, &len);
        if (f == SP_FRAME_MORE)
            break;
        if (f == SP_FRAME_BAD) {
            uvc_conn_drop(k, "bad reply length");
            break;
        }
        uvc_reply(c, k->in + off + SP_LEN_BYTES, len);
        off += SP_LEN_BYTES + len;
    }
    c->in_cb--;
    if (!k->closing) {
        memmove(k->in, k->in + off, k->in_len - off);
        k->in_len -= off;
    }
    uvc_maybe_free(c);
}

/* ---------------------------------------------------------------- connection */

static void uvc_conn_closed(uv_handle_t *h)
{
    struct uvc_conn *k = h->data;
    struct uvc *c = k->c;
    free(k->in);
    strata_tls_conn_free(k->tls);
    free(k);
    c->handles--;
    uvc_maybe_free(c);
}

static void uvc_retry_cb(uv_timer_t *t)
{
    uvc_dial(t->data);
}

/* The connection is gone: calls sent on it fail, the others wait for the next one. */
static void uvc_conn_drop(struct uvc_conn *k, const char *why)
{
    struct uvc *c = k->c;
    if (k->closing)
        return;
    k->closing = true;
    if (k->up)
        LOG_DEBUG("client %s: connection lost: %s", c->url, why);
    snprintf(c->why, sizeof(c->why), "%s", why);
    uv_close((uv_handle_t *)&k->tcp, uvc_conn_closed);
    c->conn = NULL;
    if (c->closed)
        return;
    uv_timer_start(&c->retry, uvc_retry_cb, c->retry_ms, 0);
    c->retry_ms = c->retry_ms * 2 > UVC_RETRY_MAX_MS ? UVC_RETRY_MAX_MS : c->retry_ms * 2;
    c->in_cb++;
    struct uvc_call *call = c->calls;
    while (call != NULL && !c->closed) {
        struct uvc_call *next = call->next;
        if (call->sent)
            uvc_finish(c, call, STRATA_EUNAVAIL, NULL);
        call = next;
    }
    c->in_cb--;
}

static void uvc_connect_cb(uv_connect_t *req, int status)
{
    struct uvc_conn *k = req->data;
    if (k->closing)
        return;
    if (status < 0) {
        uvc_conn_drop(k, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&k->tcp, 1);
    struct strata_err e;
    struct strata_tls_conn_opts to = {.roles = k->c->server_roles, .host = k->c->addr.host};
    if (k->c->tls != NULL && strata_tls_conn_new(k->c->tls, &to, &k->tls, &e) != 0) {
        uvc_tls_failed(k, e.msg);
        return;
    }
    if (k->tls != NULL) /* the ClientHello */
        strata_tls_conn_read(k->tls, NULL, 0, &e);
    uint8_t *hs = malloc(SP_HANDSHAKE_LEN);
    int rc = UV_ENOMEM;
    if (hs != NULL) {
        sp_handshake(hs, SP_PROTO_REQ0);
        rc = uvc_write(k, &hs, SP_HANDSHAKE_LEN);
        free(hs); /* NULL unless the write failed */
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&k->tcp, uvc_alloc_cb, uvc_read_cb);
    if (rc != 0)
        uvc_conn_drop(k, uv_strerror(rc));
}

static void uvc_connect_to(struct uvc *c, const struct sockaddr_storage *ss)
{
    struct uvc_conn *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        LOG_WARN("client %s: out of memory", c->url);
        uv_timer_start(&c->retry, uvc_retry_cb, UVC_RETRY_MAX_MS, 0);
        return;
    }
    k->c = c;
    k->tcp.data = k;
    k->creq.data = k;
    uv_tcp_init(strata_loop_uv(c->loop), &k->tcp);
    c->handles++;
    c->conn = k;
    int rc = c->has_source ? uv_tcp_bind(&k->tcp, (const struct sockaddr *)&c->source, 0) : 0;
    if (rc == 0)
        rc = uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)ss, uvc_connect_cb);
    if (rc != 0)
        uvc_conn_drop(k, uv_strerror(rc));
}

static void uvc_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct uvc_gai *g = req->data;
    struct uvc *c = g->c;
    free(g);
    c->gai = NULL;
    c->handles--;
    if (!c->closed && status < 0) {
        LOG_WARN("client %s: %s", c->url, uv_strerror(status));
        snprintf(c->why, sizeof(c->why), "%s", uv_strerror(status));
        uv_timer_start(&c->retry, uvc_retry_cb, UVC_RETRY_MAX_MS, 0);
    } else if (!c->closed) {
        struct sockaddr_storage ss;
        sp_tcp_pick(res, &ss);
        uvc_connect_to(c, &ss);
    }
    uv_freeaddrinfo(res);
    uvc_maybe_free(c);
}

static void uvc_dial(struct uvc *c)
{
    if (c->closed || c->conn != NULL || c->gai != NULL)
        return;
    struct sockaddr_storage ss;
    if (sp_tcp_numeric(&c->addr, &ss) == 0) { /* the usual case: no lookup at all */
        uvc_connect_to(c, &ss);
        return;
    }
    struct uvc_gai *g = calloc(1, sizeof(*g));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int rc = g == NULL ? UV_ENOMEM : 0;
    if (rc == 0) {
        g->c = c;
        g->req.data = g;
        rc = uv_getaddrinfo(strata_loop_uv(c->loop), &g->req, uvc_gai_cb, c->addr.host,
                            c->addr.port, &hints);
    }
    if (rc != 0) {
        free(g);
        LOG_WARN("client %s: %s", c->url, uv_strerror(rc));
        uv_timer_start(&c->retry, uvc_retry_cb, UVC_RETRY_MAX_MS, 0);
        return;
    }
    c->gai = g;
    c->handles++;
}

/* ---------------------------------------------------------------- API */

int uvc_open(struct strata_loop *loop, const char *url, const struct strata_aclient_opts *o,
             struct uvc **out, struct strata_err *e)
{
    struct sp_tcp_addr addr;
    struct strata_err why = {0};
    struct sockaddr_storage src = {0};
    int rc = sp_tcp_split(url, &addr, &why);
    if (rc == 0 && addr.host[0] == '\0')
        rc = strata_err_set(&why, STRATA_EINVAL, "no host");
    if (rc == 0 && o->source != NULL &&
        uv_ip4_addr(o->source, 0, (struct sockaddr_in *)&src) != 0 &&
        uv_ip6_addr(o->source, 0, (struct sockaddr_in6 *)&src) != 0)
        rc = strata_err_set(&why, STRATA_EINVAL, "source '%.64s' is not an IP address", o->source);
    if (rc != 0)
        return strata_err_set(e, rc, "client %s: %s", url, why.msg);
    struct uvc *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        return strata_err_set(e, STRATA_ENOMEM, "client %s: out of memory", url);
    }
    if (strata_tls_url(url) && (c->tls = o->tls) == NULL) {
        free(c->url);
        free(c);
        return strata_err_set(e, STRATA_EINVAL,
                              "client %s: tls+tcp:// needs --tls-ca, --tls-cert and --tls-key",
                              url);
    }
    c->addr = addr;
    c->has_source = o->source != NULL;
    c->server_roles = o->server_roles != 0 ? o->server_roles : STRATA_ROLE_SERVERS;
    c->source = src;
    c->loop = loop;
    c->retry_ms = UVC_RETRY_MIN_MS;
    uv_loop_t *uv = strata_loop_uv(loop);
    uv_timer_init(uv, &c->tmo);
    uv_timer_init(uv, &c->retry);
    c->tmo.data = c->retry.data = c;
    c->handles = 2;
    uvc_dial(c);
    *out = c;
    return 0;
}

const char *uvc_url(const struct uvc *c)
{
    return c->url;
}

const char *uvc_why(const struct uvc *c)
{
    return c->why;
}

int uvc_call(struct uvc *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb, void *arg)
{
    if (c->closed)
        return STRATA_EUNAVAIL;
    struct uvc_call *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return STRATA_ENOMEM;
    k->req_id = ++c->next_req_id & 0x7fffffffu; /* also the SP request id */
    if (k->req_id == 0)
        k->req_id = c->next_req_id = 1;
    req->req_id = k->req_id;
    size_t blen = 0;
    int rc = strata_msg_encode_after(req, SP_REQ_HEAD_LEN, &k->frame, &blen, NULL);
    if (rc != 0) {
        free(k);
        return rc;
    }
    sp_req_head(k->frame, (uint32_t)k->req_id, blen);
    k->frame_len = SP_REQ_HEAD_LEN + blen;
    k->cb = cb;
    k->arg = arg;
    if (timeout_ms != 0)
        k->deadline_ms = strata_now_ms() + timeout_ms;
    k->prev = c->last;
    if (c->last != NULL)
        c->last->next = k;
    else
        c->calls = k;
    c->last = k;
    if (k->deadline_ms != 0 && (!uv_is_active((uv_handle_t *)&c->tmo) ||
                                uv_timer_get_due_in(&c->tmo) > (uint64_t)timeout_ms))
        uv_timer_start(&c->tmo, uvc_tmo_cb, timeout_ms, 0);
    /* Out of memory leaves the call queued: it goes out on the next connection or times out. */
    if (c->conn != NULL && c->conn->up && uvc_write(c->conn, &k->frame, k->frame_len) == 0)
        k->sent = true;
    return 0;
}

void uvc_close(struct uvc *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->conn != NULL) {
        struct uvc_conn *k = c->conn;
        k->closing = true;
        c->conn = NULL;
        uv_close((uv_handle_t *)&k->tcp, uvc_conn_closed);
    }
    if (c->gai != NULL) /* its callback still runs (cancelled or done) and releases it */
        uv_cancel((uv_req_t *)&c->gai->req);
    uv_close((uv_handle_t *)&c->tmo, uvc_handle_closed);
    uv_close((uv_handle_t *)&c->retry, uvc_handle_closed);
    /* Callbacks may call again (refused now) or close again (no-op). */
    c->in_cb++;
    while (c->calls != NULL)
        uvc_finish(c, c->calls, STRATA_EUNAVAIL, NULL);
    c->in_cb--;
    uvc_maybe_free(c);
}

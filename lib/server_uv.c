/* server_uv.c - strata_server's transport for tcp:// URLs: NNG's wire protocol (SP rep0 over
 * TCP, see sp_wire.h) spoken by the libuv loop itself, so clients are NNG req0 sockets as before.
 *
 * Why not NNG's own TCP transport: it receives on a poller thread, completes on a taskq thread,
 * hands the request to the loop and the reply back again. Measured on this 2-vCPU VM that was
 * ~10 context switches per request on the server, which cost more CPU than the request itself
 * (docs/benchmarks.md). Here the loop thread reads, handles and answers; replies made during
 * one loop turn leave in one write per connection, at the end of the turn.
 *
 * A connection holds at most `per_conn` requests unanswered, and stops reading (so TCP pushes
 * back on the client) while it does or while 4 MiB of replies wait for the client to read them.
 * A message longer than recv_max (plus its backtrace) or a bad handshake closes the connection,
 * as NNG does; a request without a request id is dropped; an undecodable one is answered with
 * an error (server.c). Everything here runs on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "server_int.h"
#include "sp_uv.h"

#define UVS_WQ_MAX (4u << 20) /* bytes of replies queued for a client before it is not read */
#define UVS_FLUSH_AT (256u << 10)

struct uvs_conn {
    uv_tcp_t tcp;
    struct uvs *u;
    struct uvs_conn *next, **pprev; /* u->conns */
    struct uvs_conn *dnext;         /* u->dirty */
    bool dirty, parse_again;        /* on u->dirty: replies to flush, input to parse */
    bool handshaken, reading, closing;
    bool parsing;  /* in uvs_parse: releases must not re-enter it */
    unsigned held; /* requests not yet answered */
    uint8_t *in;   /* received, not yet parsed */
    size_t in_len, in_cap;
    uint8_t *out; /* replies of this loop turn */
    size_t out_len, out_cap;
};

struct uvs {
    struct strata_server *s;
    uv_tcp_t lis;
    uv_idle_t idle;   /* while replies wait: keeps the loop from blocking before the flush */
    uv_check_t check; /* ... and flushes them at the end of the turn they were made in */
    bool armed;
    int handles; /* handles whose close callback has not run */
    int conns_n; /* connection objects not yet freed */
    struct uvs_conn *conns, *dirty;
    unsigned per_conn;
    size_t frame_max;
};

static void uvs_conn_close(struct uvs_conn *conn);
static void uvs_parse(struct uvs_conn *conn);
static void uvs_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

/* ---------------------------------------------------------------- output */

static void uvs_flush_cb_idle(uv_idle_t *h);
static void uvs_flush_cb_check(uv_check_t *h);

static void uvs_mark(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    if (!conn->dirty) {
        conn->dirty = true;
        conn->dnext = u->dirty;
        u->dirty = conn;
    }
    if (!u->armed) {
        u->armed = true;
        uv_idle_start(&u->idle, uvs_flush_cb_idle);
        uv_check_start(&u->check, uvs_flush_cb_check);
    }
}

static void uvs_update_reading(struct uvs_conn *conn);

static void uvs_written(void *data, int status)
{
    struct uvs_conn *conn = data;
    if (conn->closing)
        return;
    if (status < 0) {
        LOG_DEBUG("server: write to a client failed: %s", uv_strerror(status));
        uvs_conn_close(conn);
        return;
    }
    uvs_update_reading(conn);
}

/* Send what the connection has queued: straight away when the socket takes it all (the buffer
 * is kept for the next turn), else the buffer goes to libuv's write queue. */
static void uvs_conn_flush(struct uvs_conn *conn)
{
    if (conn->closing || conn->out_len == 0)
        return;
    int rc = sp_uv_write((uv_stream_t *)&conn->tcp, conn->out, conn->out_len, uvs_written, conn);
    if (rc == 1) {
        conn->out_len = 0;
        return;
    }
    if (rc < 0) {
        LOG_ERROR("server: cannot write to a client (%s); dropping the connection",
                  uv_strerror(rc));
        uvs_conn_close(conn);
        return;
    }
    conn->out = NULL; /* the write owns it now */
    conn->out_len = conn->out_cap = 0;
    uvs_update_reading(conn);
}

static void uvs_flush(struct uvs *u)
{
    if (u->dirty != NULL)
        strata_loop_expect(u->s->loop); /* a client just answered may well ask again at once */
    while (u->dirty != NULL) {
        struct uvs_conn *conn = u->dirty;
        u->dirty = conn->dnext;
        conn->dirty = false;
        if (conn->parse_again) {
            conn->parse_again = false;
            uvs_parse(conn); /* may mark it dirty again: the loop comes back to it */
        }
        uvs_conn_flush(conn);
    }
    if (u->armed) {
        u->armed = false;
        uv_idle_stop(&u->idle);
        uv_check_stop(&u->check);
    }
}

static void uvs_flush_cb_idle(uv_idle_t *h)
{
    uvs_flush(h->data);
}

static void uvs_flush_cb_check(uv_check_t *h)
{
    uvs_flush(h->data);
}

void uvs_send(const struct srv_to *to, const uint8_t *buf, size_t len)
{
    struct uvs_conn *conn = to->conn;
    if (conn->closing)
        return;
    size_t need = SP_LEN_BYTES + to->bt_len + len;
    if (sp_uv_reserve(&conn->out, &conn->out_cap, conn->out_len, need) != 0) {
        LOG_ERROR("server: out of memory for a reply; dropping the connection");
        uvs_conn_close(conn);
        return;
    }
    uint8_t *p = conn->out + conn->out_len;
    sp_put_be64(p, (uint64_t)to->bt_len + len);
    memcpy(p + SP_LEN_BYTES, to->bt, to->bt_len);
    memcpy(p + SP_LEN_BYTES + to->bt_len, buf, len);
    conn->out_len += need;
    if (conn->out_len >= UVS_FLUSH_AT)
        uvs_conn_flush(conn);
    else
        uvs_mark(conn);
}

/* ---------------------------------------------------------------- input */

static void uvs_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct uvs_conn *conn = h->data;
    sp_uv_input(&conn->in, &conn->in_cap, conn->in_len, b);
}

/* Whether the connection may take more input: not too many requests unanswered, and the client
 * reads its replies. */
static void uvs_update_reading(struct uvs_conn *conn)
{
    if (conn->closing)
        return;
    bool want = conn->held < conn->u->per_conn &&
                uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) < UVS_WQ_MAX;
    if (want && !conn->reading) {
        if (conn->in_len > 0) {
            conn->parse_again = true; /* requests read before the pause come first */
            uvs_mark(conn);
        }
        conn->reading = uv_read_start((uv_stream_t *)&conn->tcp, uvs_alloc_cb, uvs_read_cb) == 0;
    } else if (!want && conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
}

static void uvs_bad(struct uvs_conn *conn, const char *what, size_t len)
{
    struct strata_server *s = conn->u->s;
    s->stats.bad_messages++;
    if (s->stats.bad_messages <= 10 || s->stats.bad_messages % 1000 == 0)
        LOG_WARN("server: bad message #%llu from a client (%zu bytes): %s",
                 (unsigned long long)s->stats.bad_messages, len, what);
}

/* One complete message. */
static void uvs_message(struct uvs_conn *conn, const uint8_t *msg, size_t len)
{
    struct strata_server *s = conn->u->s;
    unsigned bt = sp_backtrace_len(msg, len);
    if (bt == 0) {
        uvs_bad(conn, "no request id", len); /* nothing to pair an answer with */
        return;
    }
    struct srv_to to = {.conn = conn, .bt_len = (uint8_t)bt};
    memcpy(to.bt, msg, bt);
    struct strata_req *req = srv_take(s, &to, msg + bt, len - bt);
    if (req == NULL)
        return; /* answered with an error */
    conn->held++;
    /* The handler may reply (and release req) before returning. */
    s->handler(req, req->env, s->arg);
}

static void uvs_parse(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    size_t off = 0;
    conn->parsing = true;
    if (!conn->handshaken) {
        if (conn->in_len < SP_HANDSHAKE_LEN)
            goto out;
        if (!sp_handshake_ok(conn->in, SP_PROTO_REQ0)) {
            uvs_bad(conn, "not an SP req0 peer", conn->in_len);
            uvs_conn_close(conn);
            goto out;
        }
        conn->handshaken = true;
        off = SP_HANDSHAKE_LEN;
    }
    while (!conn->closing && !u->s->closed && conn->held < u->per_conn) {
        if (conn->in_len - off < SP_LEN_BYTES)
            break;
        uint64_t len = sp_get_be64(conn->in + off);
        if (len > u->frame_max) {
            uvs_bad(conn, "oversized; connection dropped", (size_t)len);
            uvs_conn_close(conn);
            break;
        }
        if (conn->in_len - off - SP_LEN_BYTES < len)
            break;
        uvs_message(conn, conn->in + off + SP_LEN_BYTES, (size_t)len);
        off += SP_LEN_BYTES + (size_t)len;
    }
out:
    conn->parsing = false;
    if (conn->closing)
        return;
    memmove(conn->in, conn->in + off, conn->in_len - off);
    conn->in_len -= off;
    uvs_update_reading(conn);
}

static void uvs_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct uvs_conn *conn = st->data;
    if (n < 0) {
        if (n != UV_EOF)
            LOG_DEBUG("server: read from a client failed: %s", uv_strerror((int)n));
        uvs_conn_close(conn);
        return;
    }
    conn->in_len += (size_t)n;
    uvs_parse(conn);
}

void uvs_release(struct uvs_conn *conn)
{
    conn->held--;
    if (conn->closing) {
        /* closed earlier: freed by whichever comes last, this or the close callback */
        if (conn->held == 0 && conn->tcp.data == NULL) {
            conn->u->conns_n--;
            free(conn);
        }
        return;
    }
    if (!conn->reading && !conn->parsing)
        uvs_update_reading(conn);
}

/* ---------------------------------------------------------------- connections */

static void uvs_conn_closed(uv_handle_t *h)
{
    struct uvs_conn *conn = h->data;
    struct uvs *u = conn->u;
    h->data = NULL; /* marks the close callback as done */
    free(conn->in);
    free(conn->out);
    conn->in = conn->out = NULL;
    u->handles--;
    if (conn->held == 0) {
        u->conns_n--;
        free(conn);
    }
    if (u->s->closed)
        srv_maybe_free(u->s);
}

static void uvs_conn_close(struct uvs_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->reading = false;
    struct uvs *u = conn->u;
    *conn->pprev = conn->next;
    if (conn->next != NULL)
        conn->next->pprev = conn->pprev;
    if (conn->dirty)
        for (struct uvs_conn **pp = &u->dirty; *pp != NULL; pp = &(*pp)->dnext)
            if (*pp == conn) {
                *pp = conn->dnext;
                break;
            }
    conn->dirty = false;
    uv_close((uv_handle_t *)&conn->tcp, uvs_conn_closed);
}

static void uvs_on_connection(uv_stream_t *lis, int status)
{
    struct uvs *u = lis->data;
    if (status < 0) {
        LOG_WARN("server: accept failed: %s", uv_strerror(status));
        return;
    }
    struct uvs_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL || uv_tcp_init(lis->loop, &conn->tcp) != 0) {
        free(conn);
        LOG_ERROR("server: out of memory for a connection");
        return;
    }
    conn->u = u;
    conn->tcp.data = conn;
    u->handles++;
    u->conns_n++;
    conn->next = u->conns;
    conn->pprev = &u->conns;
    if (u->conns != NULL)
        u->conns->pprev = &conn->next;
    u->conns = conn;
    if (uv_accept(lis, (uv_stream_t *)&conn->tcp) != 0) {
        uvs_conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1); /* as NNG: requests are small and latency-bound */
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REP0);
    if (sp_uv_reserve(&conn->out, &conn->out_cap, 0, sizeof(hs)) != 0) {
        uvs_conn_close(conn);
        return;
    }
    memcpy(conn->out, hs, sizeof(hs));
    conn->out_len = sizeof(hs);
    uvs_mark(conn);
    uvs_update_reading(conn);
}

/* ---------------------------------------------------------------- listener */

static void uvs_handle_closed(uv_handle_t *h)
{
    struct uvs *u = h->data;
    u->handles--;
    if (u->s->closed)
        srv_maybe_free(u->s);
}

/* A listening socket, made by hand so that a failure (address in use) leaves no libuv handle
 * to close asynchronously behind. */
static int uvs_listen_fd(const char *url, int *out, struct strata_err *e)
{
    struct sp_tcp_addr a;
    struct sockaddr_storage ss;
    struct strata_err why = {0};
    int rc = sp_tcp_split(url, &a, &why);
    if (rc == 0)
        rc = sp_tcp_resolve(&a, &ss, &why);
    if (rc != 0)
        return strata_err_set(e, rc, "server %s: %s", url, why.msg);
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return strata_err_set(e, err == EADDRINUSE ? STRATA_EUNAVAIL : STRATA_EINVAL,
                              "server %s: listen: %s", url, strerror(err));
    }
    *out = fd;
    return 0;
}

int uvs_open(struct strata_server *s, const char *url, unsigned per_conn, struct strata_err *e)
{
    int fd = -1;
    int rc = uvs_listen_fd(url, &fd, e);
    if (rc != 0)
        return rc;
    struct uvs *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        close(fd);
        return strata_err_set(e, STRATA_ENOMEM, "server: out of memory");
    }
    uv_loop_t *uv = strata_loop_uv(s->loop);
    u->s = s;
    u->per_conn = per_conn;
    u->frame_max = s->recv_max + SP_BACKTRACE_MAX;
    uv_tcp_init(uv, &u->lis);
    uv_idle_init(uv, &u->idle);
    uv_check_init(uv, &u->check);
    u->lis.data = u->idle.data = u->check.data = u;
    u->handles = 3;
    s->uv = u;
    int uerr = uv_tcp_open(&u->lis, fd);
    if (uerr == 0)
        uerr = uv_listen((uv_stream_t *)&u->lis, 128, uvs_on_connection);
    if (uerr != 0) {
        /* Not expected once the socket listens; the handles close asynchronously, and the
         * server is freed by the last close callback, so the caller must not free it. */
        rc = strata_err_set(e, STRATA_EINTERNAL, "server %s: listen: %s", url, uv_strerror(uerr));
        s->closed = true;
        uvs_close(u);
        return rc;
    }
    return 0;
}

void uvs_close(struct uvs *u)
{
    while (u->conns != NULL)
        uvs_conn_close(u->conns);
    if (u->armed) {
        u->armed = false;
        uv_idle_stop(&u->idle);
        uv_check_stop(&u->check);
    }
    uv_close((uv_handle_t *)&u->lis, uvs_handle_closed);
    uv_close((uv_handle_t *)&u->idle, uvs_handle_closed);
    uv_close((uv_handle_t *)&u->check, uvs_handle_closed);
}

bool uvs_closed(const struct uvs *u)
{
    return u->handles == 0 && u->conns_n == 0;
}

void uvs_free(struct uvs *u)
{
    free(u);
}

/* server_uv.c - strata_server's transport for tcp:// URLs: NNG's wire protocol (SP rep0 over
 * TCP, see sp_wire.h) spoken by the libuv loop itself, so clients are NNG req0 sockets as before.
 *
 * Why not NNG's own TCP transport: it receives on a poller thread, completes on a taskq thread,
 * hands the request to the loop and the reply back again. Measured on this 2-vCPU VM that was
 * ~10 context switches per request on the server, which cost more CPU than the request itself
 * (docs/benchmarks.md). Here the loop thread reads, handles and answers; replies made during
 * one loop turn leave in one write per connection, at the end of the turn.
 *
 * What a client can make the server hold is bounded (issue 22), since clients are not trusted:
 *  - requests: at most `per_conn` unanswered per connection;
 *  - replies: a connection whose client does not read them stops having requests handled, even
 *    those already read, once queue_max bytes wait (or once it has some waiting while all
 *    connections together have queue_total_max): a small request can ask for a large reply,
 *    so a full input buffer of them used to make gigabytes. While a connection may not have
 *    requests handled it is not read either, so TCP pushes back on the client; it resumes
 *    when its client reads (uvs_written) or a handler answers (uvs_release). And once a
 *    connection has had UVS_TURN_BYTES of replies made in one go, or all of them together
 *    UVS_TURN_TOTAL in this loop turn, the rest of its input waits in a queue (u->later) for
 *    a later turn, so that the other clients are served between, in turn;
 *  - input: the buffer holds at most one frame of the largest size and a read's worth more
 *    (uvs_alloc_cb), and shrinks back after a large frame; idle connections' buffers are freed.
 *    Buffers grown past UVS_IN_KEEP for large frames share a budget (input_total_max): a
 *    connection whose frame does not fit is not read until another's large frame is done
 *    (uvs_wake); its frame's deadline runs meanwhile, so nobody holds the budget for long;
 *  - connections: at most max_conns on the listener (at the cap, the connection idle longest
 *    makes room) and max_conns_per_addr from one address; the others are closed as soon as
 *    accepted;
 *  - time: a sweep timer closes a connection without an SP handshake after handshake_ms, one
 *    whose frame has not been completed frame_ms after it began (a slow drip), and one that
 *    has no request unanswered and has neither received nor delivered anything for idle_ms.
 *    A request a handler keeps (a long-poll) is never timed out: its connection is not idle.
 * Admission and the deadlines are in server_uv_limits.c; the frame parser, shared with the
 * client, in sp_wire.h (sp_frame_next).
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
#include "server_uv_int.h"

static void uvs_parse(struct uvs_conn *conn);
static void uvs_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

/* ---------------------------------------------------------------- output */

static void uvs_flush_cb_idle(uv_idle_t *h);
static void uvs_flush_cb_check(uv_check_t *h);

static void uvs_arm(struct uvs *u)
{
    if (!u->armed) {
        u->armed = true;
        uv_idle_start(&u->idle, uvs_flush_cb_idle);
        uv_check_start(&u->check, uvs_flush_cb_check);
    }
}

void uvs_mark(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    if (!conn->dirty) {
        conn->dirty = true;
        conn->dnext = u->dirty;
        u->dirty = conn;
    }
    uvs_arm(u);
}

/* The connection has had its go: the rest of its input is parsed at a later flush, behind the
 * connections already waiting (u->later is a queue: round robin). */
static void uvs_yield(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    if (!conn->yielded) {
        conn->yielded = true;
        conn->lnext = NULL;
        *u->later_tail = conn;
        u->later_tail = &conn->lnext;
    }
    uvs_arm(u);
}

/* Bytes of replies waiting for the client: this turn's, and those in libuv's write queue. */
static size_t uvs_queued(const struct uvs_conn *conn)
{
    if (conn->closing)
        return 0;
    return conn->out_len + uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp);
}

/* Bring the listener's total of waiting replies (and the peak) up to date with conn's. */
void uvs_account(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    size_t q = uvs_queued(conn);
    u->queued = u->queued - conn->counted + q;
    conn->counted = q;
    if (q > u->s->stats.queued_peak)
        u->s->stats.queued_peak = q;
}

void uvs_written(void *data, int status)
{
    struct uvs_conn *conn = data;
    if (conn->closing)
        return;
    if (status < 0) {
        LOG_DEBUG("server: write to a client failed: %s", uv_strerror(status));
        uvs_conn_close(conn);
        return;
    }
    conn->active_ms = uvs_now(conn->u);
    uvs_account(conn);
    uvs_update_reading(conn); /* the client reads: it may have more requests handled */
}

/* Send what the connection has queued: straight away when the socket takes it all (the buffer
 * is kept for the next turn), else the buffer goes to libuv's write queue. */
static void uvs_conn_flush(struct uvs_conn *conn)
{
    if (conn->tls != NULL && !conn->closing) {
        uvs_tls_flush(conn);
        return;
    }
    if (conn->closing || conn->out_len == 0)
        return;
    int rc = sp_uv_write((uv_stream_t *)&conn->tcp, conn->out, conn->out_len, uvs_written, conn);
    if (rc == 1) {
        conn->out_len = 0;
        if (conn->out_cap > UVS_FLUSH_AT) { /* grown by a large reply: do not keep it */
            free(conn->out);
            conn->out = NULL;
            conn->out_cap = 0;
        }
        conn->active_ms = uvs_now(conn->u);
        uvs_account(conn);
        uvs_update_reading(conn); /* requests held back by this turn's replies may go on */
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
    uvs_account(conn);
    uvs_update_reading(conn);
}

static void uvs_flush(struct uvs *u)
{
    /* Those that yielded go on now, in turn, until this turn's replies reach UVS_TURN_TOTAL;
     * the others keep their place at the front of the queue, and whoever yields again goes
     * behind them. */
    u->turn_made = 0;
    while (u->later != NULL && u->turn_made < UVS_TURN_TOTAL) {
        struct uvs_conn *conn = u->later;
        u->later = conn->lnext;
        if (u->later == NULL)
            u->later_tail = &u->later;
        conn->yielded = false;
        uvs_parse(conn); /* marks it dirty when it made replies */
    }
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
    if (u->armed && u->later == NULL) { /* else the loop must not block before the next flush */
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
    conn->made += need;
    conn->u->turn_made += need;
    uint8_t *p = conn->out + conn->out_len;
    sp_put_be64(p, (uint64_t)to->bt_len + len);
    memcpy(p + SP_LEN_BYTES, to->bt, to->bt_len);
    memcpy(p + SP_LEN_BYTES + to->bt_len, buf, len);
    conn->out_len += need;
    uvs_account(conn);
    if (conn->out_len >= UVS_FLUSH_AT)
        uvs_conn_flush(conn);
    else
        uvs_mark(conn);
}

/* ---------------------------------------------------------------- input */

/* Length of the frame that starts the input (header included), or 0 while unknown. The input
 * always starts with a frame: uvs_parse moves what it leaves to the front. */
static size_t uvs_frame_len(const struct uvs_conn *conn)
{
    size_t len;
    if (!conn->handshaken ||
        sp_frame_next(conn->in, conn->in_len, 0, conn->u->frame_max, &len) == SP_FRAME_BAD)
        return 0;
    return len > 0 ? SP_LEN_BYTES + len : 0;
}

/* The capacity the next read needs: a chunk more than the input holds, or the rest of the
 * frame it begins when that is longer, rounded up to chunks. Growing to fit (not by doubling)
 * keeps the buffer within one frame of the largest size and two chunks. */
static size_t uvs_in_want(const struct uvs_conn *conn)
{
    size_t want = conn->in_len + SP_UV_READ_CHUNK;
    size_t frame = uvs_frame_len(conn);
    if (frame > want)
        want = frame;
    want = (want + SP_UV_READ_CHUNK - 1) / SP_UV_READ_CHUNK * SP_UV_READ_CHUNK;
    return want > conn->in_cap ? want : conn->in_cap;
}

/* Whether the next read's buffer fits the budget of large-frame buffers. */
static bool uvs_in_fits(const struct uvs_conn *conn)
{
    size_t want = uvs_in_want(conn);
    if (want <= UVS_IN_KEEP || want == conn->big)
        return true;
    return conn->u->in_big - conn->big + want <= conn->u->input_total_max;
}

static void uvs_wake(struct uvs *u);

/* Set the input buffer (capacity cap) and count it against the budget when large. */
void uvs_in_set(struct uvs_conn *conn, uint8_t *in, size_t cap)
{
    struct uvs *u = conn->u;
    size_t big = cap > UVS_IN_KEEP ? cap : 0;
    bool less = big < conn->big;
    u->in_big = u->in_big - conn->big + big;
    conn->big = big;
    conn->in = in;
    conn->in_cap = cap;
    if (less)
        uvs_wake(u);
}

/* Grow the input buffer to what the next read needs. 0, or -1 when out of memory. */
static int uvs_in_grow(struct uvs_conn *conn)
{
    size_t want = uvs_in_want(conn);
    if (want == conn->in_cap)
        return 0;
    uint8_t *in = realloc(conn->in, want);
    if (in == NULL)
        return -1;
    uvs_in_set(conn, in, want);
    return 0;
}

/* The buffer was grown (and counted) by uvs_update_reading when its frame was let in; this
 * grows small buffers only. */
static void uvs_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct uvs_conn *conn = h->data;
    if (conn->tls != NULL) { /* ciphertext: decrypted into `in` by uvs_tls_pull at once */
        *b = sp_uv_tls_scratch();
        return;
    }
    if (uvs_in_want(conn) <= UVS_IN_KEEP && uvs_in_grow(conn) != 0) {
        *b = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS: the connection closes */
        return;
    }
    *b = uv_buf_init((char *)conn->in + conn->in_len, (unsigned)(conn->in_cap - conn->in_len));
}

/* After a large frame: give the memory back, keeping what small requests need. */
static void uvs_in_shrink(struct uvs_conn *conn)
{
    if (conn->in_cap <= UVS_IN_KEEP || conn->in_len > UVS_IN_KEEP - SP_UV_READ_CHUNK)
        return;
    uint8_t *in = realloc(conn->in, UVS_IN_KEEP);
    if (in != NULL)
        uvs_in_set(conn, in, UVS_IN_KEEP);
}

/* Free the input buffer (empty, or of a closing connection). */
void uvs_in_free(struct uvs_conn *conn)
{
    free(conn->in);
    uvs_in_set(conn, NULL, 0);
}

static void uvs_set_starved(struct uvs_conn *conn, bool starved)
{
    if (conn->starved != starved)
        conn->u->starved_n += starved ? 1 : -1;
    conn->starved = starved;
}

/* Whether another request of the connection may be handled now: few enough are unanswered, and
 * its client reads its replies (one that does not must not make the server produce more). */
static bool uvs_may_take(const struct uvs_conn *conn)
{
    const struct uvs *u = conn->u;
    if (conn->held >= u->per_conn)
        return false;
    size_t q = uvs_queued(conn);
    if (q >= u->queue_max)
        return false;
    return u->queued < u->queue_total_max || q < UVS_FAIR_SHARE;
}

/* Read the connection while its requests may be handled, so that TCP pushes back on a client
 * whose requests must wait. Not while parsing: uvs_parse calls this when it is done. */
void uvs_update_reading(struct uvs_conn *conn)
{
    if (conn->closing || conn->parsing)
        return;
    bool was_starved = conn->starved;
    /* Room for a large frame is taken now, not at the next read, so that the connections let
     * in before that read are counted. */
    bool take = uvs_may_take(conn);
    bool fits = take && uvs_in_fits(conn) && uvs_in_grow(conn) == 0;
    uvs_set_starved(conn, take && !fits);
    bool want = take && fits && !conn->yielded;
    if (want && !conn->reading) {
        if (conn->in_len > 0) {
            conn->parse_again = true; /* requests read before the pause come first */
            if (!was_starved)         /* a pause for replies was ours, not the client's */
                conn->frame_ms = uvs_now(conn->u);
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
    if (conn->tls != NULL) {
        req->peer = *strata_tls_conn_peer(conn->tls);
        req->has_peer = true;
    }
    conn->held++;
    /* The handler may reply (and release req) before returning. */
    s->handler(req, req->env, s->arg);
}

static void uvs_parse(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    size_t off = 0, made = conn->made;
    conn->parsing = true;
    if (conn->tls != NULL && uvs_tls_pull(conn) != 0)
        goto out;
    if (!conn->handshaken) {
        enum sp_frame h = sp_handshake_next(conn->in, conn->in_len, SP_PROTO_REQ0);
        if (h == SP_FRAME_MORE)
            goto out;
        if (h == SP_FRAME_BAD) {
            uvs_bad(conn, "not an SP req0 peer", conn->in_len);
            uvs_conn_close(conn);
            goto out;
        }
        conn->handshaken = true;
        off = SP_HANDSHAKE_LEN;
    }
    while (!conn->closing && !u->s->closed && uvs_may_take(conn)) {
        size_t len;
        enum sp_frame f = sp_frame_next(conn->in + off, conn->in_len - off, 0, u->frame_max, &len);
        if (f == SP_FRAME_MORE)
            break;
        if (f == SP_FRAME_BAD) {
            uvs_bad(conn, "oversized; connection dropped", conn->in_len - off);
            uvs_conn_close(conn);
            break;
        }
        if (conn->made - made >= UVS_TURN_BYTES || u->turn_made >= UVS_TURN_TOTAL) {
            uvs_yield(conn);
            break;
        }
        uvs_message(conn, conn->in + off + SP_LEN_BYTES, len);
        off += SP_LEN_BYTES + len;
    }
out:
    conn->parsing = false;
    if (conn->closing)
        return;
    if (off > 0) {
        memmove(conn->in, conn->in + off, conn->in_len - off);
        conn->in_len -= off;
        conn->frame_ms = uvs_now(u); /* what is left began in the last read */
        uvs_in_shrink(conn);
    }
    uvs_update_reading(conn);
}

static void uvs_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct uvs_conn *conn = st->data;
    if (n < 0) {
        if (n != UV_EOF)
            LOG_DEBUG("server: read from a client failed: %s", uv_strerror((int)n));
        uvs_conn_close(conn);
        return;
    }
    if (n == 0)
        return; /* EAGAIN */
    conn->active_ms = uvs_now(conn->u);
    if (conn->in_len == 0)
        conn->frame_ms = conn->active_ms; /* a frame begins */
    if (conn->tls == NULL)
        conn->in_len += (size_t)n;
    else if (strata_tls_conn_input(conn->tls, b->base, (size_t)n) != 0) {
        LOG_ERROR("server: out of memory for a TLS connection's input");
        uvs_conn_close(conn);
        return;
    }
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
    conn->active_ms = uvs_now(conn->u);
    if (!conn->reading)
        uvs_update_reading(conn);
}

/* ---------------------------------------------------------------- close watches */

int uvs_watch(struct strata_req *req)
{
    struct uvs_conn *conn = req->to.conn;
    if (conn->closing)
        return STRATA_EUNAVAIL;
    req->wnext = conn->watchers;
    req->wpprev = &conn->watchers;
    if (conn->watchers != NULL)
        conn->watchers->wpprev = &req->wnext;
    conn->watchers = req;
    return 0;
}

void uvs_unwatch(struct strata_req *req)
{
    if (req->wpprev != NULL) {
        *req->wpprev = req->wnext;
        if (req->wnext != NULL)
            req->wnext->wpprev = req->wpprev;
    }
    req->wnext = NULL;
    req->wpprev = NULL;
    req->on_close = NULL;
}

/* The connection is closed: tell the handlers watching their requests. Run from the close
 * callback, not from uvs_conn_close, whose callers (a failed write in the middle of a reply,
 * the sweep) must not have arbitrary handler code run under them; and before the connection
 * may be freed (a watcher's reply releases its request, and with it perhaps the last hold). */
static void uvs_fire_watchers(struct uvs_conn *conn)
{
    bool quiet = conn->u->s->closed; /* the server's own close is not the client's */
    while (conn->watchers != NULL) {
        struct strata_req *req = conn->watchers;
        strata_req_close_fn cb = req->on_close;
        void *arg = req->on_close_arg;
        uvs_unwatch(req);
        if (!quiet)
            cb(req, arg); /* may reply: req is gone afterwards */
    }
}

/* ---------------------------------------------------------------- connections */

static void uvs_conn_closed(uv_handle_t *h)
{
    struct uvs_conn *conn = h->data;
    struct uvs *u = conn->u;
    uvs_fire_watchers(conn);
    h->data = NULL; /* marks the close callback as done */
    free(conn->out);
    conn->out = NULL;
    strata_tls_conn_free(conn->tls);
    conn->tls = NULL;
    u->handles--;
    if (conn->held == 0) {
        u->conns_n--;
        free(conn);
    }
    if (u->s->closed)
        srv_maybe_free(u->s);
}

void uvs_conn_close(struct uvs_conn *conn)
{
    if (conn->closing)
        return;
    struct uvs *u = conn->u;
    conn->closing = true; /* before uvs_account: nothing waits for it any more */
    conn->reading = false;
    uvs_account(conn);
    uvs_set_starved(conn, false);
    uvs_in_free(conn); /* libuv reads no more once closing */
    conn->in_len = 0;
    uvs_peer_release(conn);
    u->open_n--;
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
    if (conn->yielded)
        for (struct uvs_conn **pp = &u->later; *pp != NULL; pp = &(*pp)->lnext)
            if (*pp == conn) {
                *pp = conn->lnext;
                if (u->later_tail == &conn->lnext)
                    u->later_tail = pp;
                break;
            }
    conn->yielded = false;
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
    conn->accepted_ms = conn->active_ms = uvs_now(u);
    u->handles++;
    u->conns_n++;
    u->open_n++;
    conn->next = u->conns;
    conn->pprev = &u->conns;
    if (u->conns != NULL)
        u->conns->pprev = &conn->next;
    u->conns = conn;
    if (uv_accept(lis, (uv_stream_t *)&conn->tcp) != 0 || !uvs_admit(conn)) {
        uvs_conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1); /* as NNG: requests are small and latency-bound */
    if (u->tls != NULL) {
        struct strata_tls_conn_opts to = {.server = true, .roles = u->tls_roles};
        struct strata_err te;
        if (strata_tls_conn_new(u->tls, &to, &conn->tls, &te) != 0) {
            LOG_ERROR("server: %s", te.msg);
            uvs_conn_close(conn);
            return;
        }
    }
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

/* Room was made for large frames: connections waiting for it may read again. */
static void uvs_wake(struct uvs *u)
{
    if (u->starved_n == 0 || u->s->closed)
        return;
    for (struct uvs_conn *conn = u->conns; conn != NULL; conn = conn->next)
        if (conn->starved)
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

int uvs_open(struct strata_server *s, const struct strata_server_opts *o, unsigned per_conn,
             struct strata_err *e)
{
    const char *url = o->url;
    struct strata_tls *tls = NULL;
    if (strata_tls_url(url)) {
        tls = o->tls != NULL ? o->tls : strata_tls_default();
        if (tls == NULL)
            return strata_err_set(e, STRATA_EINVAL,
                                  "server %s: tls+tcp:// needs --tls-ca, --tls-cert and --tls-key",
                                  url);
    }
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
    u->later_tail = &u->later;
    u->per_conn = per_conn;
    u->frame_max = s->recv_max + SP_BACKTRACE_MAX;
    u->tls = tls;
    u->tls_roles = o->tls_roles;
    uvs_set_limits(u, o);
    uv_tcp_init(uv, &u->lis);
    uv_idle_init(uv, &u->idle);
    uv_check_init(uv, &u->check);
    uv_timer_init(uv, &u->sweep);
    u->lis.data = u->idle.data = u->check.data = u->sweep.data = u;
    u->handles = 4;
    s->uv = u;
    int uerr = uv_tcp_open(&u->lis, fd);
    if (uerr == 0)
        uerr = uv_listen((uv_stream_t *)&u->lis, UVS_LISTEN_BACKLOG, uvs_on_connection);
    if (uerr == 0) {
        uint64_t period = uvs_sweep_period(u);
        uerr = uv_timer_start(&u->sweep, uvs_sweep_cb, period, period);
    }
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
    uv_close((uv_handle_t *)&u->sweep, uvs_handle_closed);
}

bool uvs_closed(const struct uvs *u)
{
    return u->handles == 0 && u->conns_n == 0;
}

void uvs_free(struct uvs *u)
{
    free(u);
}

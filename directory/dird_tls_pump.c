/* dird_tls_pump.c - Raft over TLS after the handshake: a connection's hand-off to libraft (a
 * socketpair, one end libraft's) and the pump between libraft and the TLS session, both ways,
 * with backpressure (dird_tls_conn.c says how much). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dird.h"
#include "dird_tls_conn.h"
#include "log.h"
#include "sp_uv.h"

static char tc_read_buf[64u << 10]; /* what a read brings, from TCP or from libraft */

static void tc_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* ------------------------------------------------------------------ writing */

static void tc_tcp_written(void *data, int status)
{
    struct dird_tls_conn *c = data;
    if (c->state == TC_CLOSING)
        return;
    if (status < 0) {
        LOG_DEBUG("raft TLS: %s: write failed: %s", c->who, uv_strerror(status));
        dird_tls_close(c);
        return;
    }
    if (c->pipe_paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= c->t->queue_max / 2 &&
        uv_read_start((uv_stream_t *)&c->pipe, dird_tls_alloc, tc_pipe_read) == 0)
        c->pipe_paused = false;
}

/* Whether `q` bytes queued towards one side are too many; keeps the peak. */
static bool tc_over(struct dird_tls_conn *c, size_t q)
{
    if (q > c->t->queue_peak)
        c->t->queue_peak = q;
    return q > c->t->queue_max;
}

/* Send the ciphertext the session holds (handshake messages, records) to the peer. 0, or -1
 * when c was closed. */
int dird_tls_flush(struct dird_tls_conn *c)
{
    size_t len = 0;
    uint8_t *ct = strata_tls_conn_output(c->tls, &len);
    if (ct == NULL)
        return 0;
    int rc = sp_uv_write((uv_stream_t *)&c->tcp, ct, len, tc_tcp_written, c);
    if (rc != 0)
        free(ct); /* 1: all sent at once; < 0: nothing queued */
    if (rc < 0) {
        LOG_DEBUG("raft TLS: %s: write failed: %s", c->who, uv_strerror(rc));
        dird_tls_close(c);
        return -1;
    }
    if (rc == 0 && tc_over(c, uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp)) &&
        c->pipe_open && !c->pipe_paused) {
        uv_read_stop((uv_stream_t *)&c->pipe); /* libraft's writes wait in its own queue */
        c->pipe_paused = true;
    }
    return 0;
}

static void tc_pipe_written(void *data, int status)
{
    struct dird_tls_conn *c = data;
    if (c->state == TC_CLOSING)
        return;
    if (status < 0) { /* libraft closed its end */
        LOG_DEBUG("raft TLS: %s: libraft's end closed: %s", c->who, uv_strerror(status));
        dird_tls_close(c);
        return;
    }
    if (c->tcp_paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) <= c->t->queue_max / 2 &&
        uv_read_start((uv_stream_t *)&c->tcp, dird_tls_alloc, dird_tls_tcp_read) == 0)
        c->tcp_paused = false;
}

/* Plaintext for libraft: on an accepted connection, straight to libraft's reader (see
 * tc_feed_start); else into the socketpair when it takes it, or queued (copied). 0, or -1 when c
 * was closed. */
int dird_tls_to_raft(struct dird_tls_conn *c, const uint8_t *data, size_t len)
{
    if (c->rs != NULL) {
        dird_transport_feed(c->rs, c->raft_alloc, c->raft_read, (const char *)data, len);
        if (!uv_is_closing((uv_handle_t *)c->rs))
            return 0;
        c->rs = NULL; /* libraft refused what it read, and closed its end */
        LOG_DEBUG("raft TLS: %s: closed by libraft", c->who);
        dird_tls_close(c);
        return -1;
    }
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int w = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
    if (w == (int)len)
        return 0;
    if (w < 0 && w != UV_EAGAIN) {
        LOG_DEBUG("raft TLS: %s: libraft's end closed: %s", c->who, uv_strerror(w));
        dird_tls_close(c);
        return -1;
    }
    size_t sent = w > 0 ? (size_t)w : 0;
    uint8_t *copy = malloc(len - sent);
    if (copy == NULL) {
        LOG_ERROR("raft TLS: %s: out of memory; closing the connection", c->who);
        dird_tls_close(c);
        return -1;
    }
    memcpy(copy, data + sent, len - sent);
    int rc = sp_uv_write((uv_stream_t *)&c->pipe, copy, len - sent, tc_pipe_written, c);
    if (rc != 0)
        free(copy);
    if (rc < 0) {
        dird_tls_close(c);
        return -1;
    }
    if (rc == 0 && tc_over(c, uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe)) &&
        !c->tcp_paused) {
        uv_read_stop((uv_stream_t *)&c->tcp); /* the peer's TCP window fills: it slows down */
        c->tcp_paused = true;
    }
    return 0;
}

/* ------------------------------------------------------------------ the hand-off */

void dird_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(tc_read_buf, sizeof(tc_read_buf));
}

/* Plaintext from libraft, for the peer. */
static void tc_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct dird_tls_conn *c = s->data;
    if (n < 0) { /* libraft closed its end (UV_EOF), or it broke */
        LOG_DEBUG("raft TLS: %s: closed by libraft (%s)", c->who, uv_strerror((int)n));
        c->rs = NULL; /* closed, perhaps freed already */
        dird_tls_close(c);
        return;
    }
    struct strata_err e;
    if (n > 0 && strata_tls_conn_write(c->tls, buf->base, (size_t)n, &e) != 0) {
        LOG_WARN("raft TLS: %s: %s; closing the connection", c->who, e.msg);
        dird_tls_close(c);
        return;
    }
    dird_tls_flush(c);
}

static void tc_free_raft_stream(uv_handle_t *h)
{
    raft_free(h);
}

/* libraft has taken an accepted connection's end and started reading it. Instead of writing what
 * the peer sends into the socketpair for libraft to read back (two syscalls and a turn of the
 * loop per message, and libraft reads each message in three exact pieces, a syscall each),
 * hand it to libraft's read callback directly, in the pieces it asks for, as dird_transport.c
 * does on TCP. This relies on libraft 0.15 (uv_recv.c): it reads its inbound streams with one
 * alloc and one read callback, never writes to them, and closes one only inside that read
 * callback (a bad message, EOF: seen at once, dird_tls_to_raft) or when its raft_io closes, which
 * closes this transport right after (then nothing is fed again). Its end stays a real stream:
 * libraft closes it, and our end reads the EOF. test_raft_stream_ends checks these. */
static void tc_feed_start(struct dird_tls_conn *c, uv_stream_t *rs)
{
    if (uv_is_closing((uv_handle_t *)rs) || rs->read_cb == NULL || rs->alloc_cb == NULL)
        return; /* refused at once; or not reading: the socketpair carries it */
    c->rs = rs;
    c->raft_alloc = rs->alloc_cb;
    c->raft_read = rs->read_cb;
    uv_read_stop(rs);
}

/* The peer is verified and bound to c->id: a socketpair, one end to libraft, the other pumped.
 * 0, or -1 when c was closed. */
int dird_tls_handoff(struct dird_tls_conn *c)
{
    struct dird_tls_transport *t = c->t;
    int sv[2];
    uv_pipe_t *rs = raft_malloc(sizeof(*rs));
    if (rs == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        LOG_WARN("raft TLS: %s: no socketpair for libraft: %s", c->who,
                 rs == NULL ? "out of memory" : strerror(errno));
        raft_free(rs);
        dird_tls_close(c);
        return -1;
    }
    uv_pipe_init(t->uv, &c->pipe, 0);
    c->pipe.data = c;
    c->pipe_open = true;
    c->handles++;
    uv_pipe_init(t->uv, rs, 0);
    int rv = uv_pipe_open(&c->pipe, sv[0]);
    if (rv != 0)
        close(sv[0]);
    int rv2 = rv == 0 ? uv_pipe_open(rs, sv[1]) : rv;
    if (rv2 != 0)
        close(sv[1]);
    if (rv == 0)
        rv = rv2;
    if (rv == 0)
        rv = uv_read_start((uv_stream_t *)&c->pipe, dird_tls_alloc, tc_pipe_read);
    if (rv != 0) {
        LOG_WARN("raft TLS: %s: cannot set up libraft's stream: %s", c->who, uv_strerror(rv));
        uv_close((uv_handle_t *)rs, tc_free_raft_stream);
        dird_tls_close(c);
        return -1;
    }
    uv_timer_stop(&c->timer);
    c->state = TC_RUNNING;
    t->established++;
    LOG_INFO("raft TLS: %s: node %llu (raft address %s) verified", c->who,
             (unsigned long long)c->id, c->address);
    if (c->inbound) {
        c->pending = false;
        t->pending--;
        uint8_t ack[DIRD_TLS_ACK_LEN];
        struct strata_err e;
        dird_tls_ack_encode(ack);
        if (strata_tls_conn_write(c->tls, ack, sizeof(ack), &e) != 0) {
            uv_close((uv_handle_t *)rs, tc_free_raft_stream);
            dird_tls_close(c);
            return -1;
        }
        t->accept_cb(&t->raft, c->id, c->address, (uv_stream_t *)rs);
        tc_feed_start(c, (uv_stream_t *)rs);
    } else {
        struct raft_uv_connect *req = c->req;
        c->req = NULL;
        req->cb(req, (uv_stream_t *)rs, 0);
    }
    return 0;
}

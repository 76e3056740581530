/* dird_transport.c - libraft's TCP transport, with TCP_NODELAY and one read per message.
 *
 * libraft 0.15 leaves Nagle's algorithm on. A leader pipelines AppendEntries, and a follower
 * answers each one: with Nagle, a small message sent while an earlier one is unacknowledged
 * waits for the peer's delayed ACK, up to 40 ms. That showed as a 45 ms p99 on writes under
 * load (dir-bench, 64 clients). This wraps the stock transport and sets the option on each
 * stream it hands to libraft, accepted or connected.
 *
 * libraft also reads each incoming message in three exact-sized pieces (a 16-byte preamble,
 * the header, the payload), and libuv reads again whenever a read fills the buffer it was
 * given: one message cost four read(2) calls, the last failing with EAGAIN (strace under
 * dir-bench). On this kind of guest a syscall costs ~17 us, a fifth of a write's CPU. So on
 * the streams libraft reads (the accepted ones; it only writes on those it connects) the
 * wrapper reads whatever has arrived into one buffer and hands it to libraft's own callbacks
 * in the pieces they ask for. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

struct tp_connect {
    struct raft_uv_connect req; /* first: the inner transport's callback gets this pointer */
    struct raft_uv_connect *orig;
    raft_uv_connect_cb cb;
};

static void tp_nodelay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP && uv_tcp_nodelay((uv_tcp_t *)stream, 1) != 0)
        LOG_WARN("raft transport: cannot set TCP_NODELAY");
}

/* libraft's read callbacks for its inbound streams: two static functions of libraft, the
 * same for every stream, captured from the first stream it starts reading. The buffer is
 * shared because a read is handed on before the loop reads again, and strata-dird runs one
 * Raft loop. */
static struct {
    uv_alloc_cb alloc;
    uv_read_cb read;
    char buf[64 * 1024];
} tp_recv;

static void tp_recv_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(tp_recv.buf, sizeof(tp_recv.buf));
}

/* Feeds data to libraft's reader in the pieces its alloc callback asks for. It stops when
 * libraft closes the stream (a bad message, or Raft shutting down). */
void dird_transport_feed(uv_stream_t *stream, uv_alloc_cb alloc, uv_read_cb read, const char *data,
                         size_t len)
{
    while (len > 0 && !uv_is_closing((uv_handle_t *)stream)) {
        uv_buf_t piece = uv_buf_init(NULL, 0);
        alloc((uv_handle_t *)stream, len, &piece);
        if (piece.base == NULL || piece.len == 0) {
            read(stream, UV_ENOBUFS, &piece);
            return;
        }
        size_t n = piece.len < len ? piece.len : len;
        memcpy(piece.base, data, n);
        read(stream, (ssize_t)n, &piece);
        data += n;
        len -= n;
    }
}

static void tp_recv_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (nread <= 0)
        tp_recv.read(stream, nread, buf); /* EOF or an error: libraft closes the stream */
    else
        dird_transport_feed(stream, tp_recv.alloc, tp_recv.read, buf->base, (size_t)nread);
}

/* Called after libraft took an accepted stream; it has started reading it, or closed it. */
static void tp_recv_wrap(uv_stream_t *stream)
{
    if (uv_is_closing((uv_handle_t *)stream) || stream->read_cb == NULL ||
        stream->read_cb == tp_recv_read)
        return;
    if (tp_recv.read == NULL) {
        tp_recv.alloc = stream->alloc_cb;
        tp_recv.read = stream->read_cb;
    } else if (tp_recv.alloc != stream->alloc_cb || tp_recv.read != stream->read_cb) {
        return; /* not the reader we know: leave it reading its own way */
    }
    uv_read_stop(stream);
    if (uv_read_start(stream, tp_recv_alloc, tp_recv_read) != 0) {
        LOG_WARN("raft transport: cannot restart reading; closing the connection");
        tp_recv.read(stream, UV_EIO, NULL);
    }
}

static struct dird_transport *tp_of(struct raft_uv_transport *outer)
{
    return outer->impl;
}

static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct dird_transport *tp = tp_of(t);
    int rv = tp->inner.init(&tp->inner, id, address);
    if (rv != 0)
        memcpy(t->errmsg, tp->inner.errmsg, sizeof(t->errmsg));
    return rv;
}

static void tp_accepted(struct raft_uv_transport *inner, raft_id id, const char *address,
                        struct uv_stream_s *stream)
{
    struct dird_transport *tp = inner->data;
    tp_nodelay(stream);
    tp->accept_cb(&tp->outer, id, address, stream);
    tp_recv_wrap(stream);
}

static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct dird_transport *tp = tp_of(t);
    tp->accept_cb = cb;
    int rv = tp->inner.listen(&tp->inner, tp_accepted);
    if (rv != 0)
        memcpy(t->errmsg, tp->inner.errmsg, sizeof(t->errmsg));
    return rv;
}

static void tp_connected(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    struct tp_connect *w = (struct tp_connect *)req;
    struct raft_uv_connect *orig = w->orig;
    raft_uv_connect_cb cb = w->cb;
    free(w);
    if (status == 0)
        tp_nodelay(stream);
    cb(orig, stream, status);
}

static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct dird_transport *tp = tp_of(t);
    struct tp_connect *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return RAFT_NOMEM;
    w->orig = req;
    w->cb = cb;
    req->cb = cb;
    int rv = tp->inner.connect(&tp->inner, &w->req, id, address, tp_connected);
    if (rv != 0) {
        memcpy(t->errmsg, tp->inner.errmsg, sizeof(t->errmsg));
        free(w);
    }
    return rv;
}

static void tp_closed(struct raft_uv_transport *inner)
{
    struct dird_transport *tp = inner->data;
    tp->close_cb(&tp->outer);
}

static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct dird_transport *tp = tp_of(t);
    tp->close_cb = cb;
    tp->inner.close(&tp->inner, tp_closed);
}

int dird_transport_init(struct dird_transport *tp, uv_loop_t *uv)
{
    memset(tp, 0, sizeof(*tp));
    int rv = raft_uv_tcp_init(&tp->inner, uv);
    if (rv != 0)
        return rv;
    tp->inner.data = tp;
    tp->outer.impl = tp;
    tp->outer.init = tp_init;
    tp->outer.listen = tp_listen;
    tp->outer.connect = tp_connect;
    tp->outer.close = tp_close;
    return 0;
}

void dird_transport_release(struct dird_transport *tp)
{
    raft_uv_tcp_close(&tp->inner);
}

/* dird_transport.c - libraft's TCP transport with TCP_NODELAY on every connection.
 *
 * libraft 0.15 leaves Nagle's algorithm on. A leader pipelines AppendEntries, and a follower
 * answers each one: with Nagle, a small message sent while an earlier one is unacknowledged
 * waits for the peer's delayed ACK, up to 40 ms. That showed as a 45 ms p99 on writes under
 * load (dir-bench, 64 clients). This wraps the stock transport and sets the option on each
 * stream it hands to libraft, accepted or connected; nothing else changes. */
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

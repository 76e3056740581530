/* dird_tls_conn.c - one connection of Raft over TLS (dird_tls_transport.h): dialled or accepted,
 * its handshake, its identity binding, its refusal or its hand-off (dird_tls_pump.c), its end.
 *
 * Ownership: a connection owns its TCP handle, its deadline timer and, once handed off, its end
 * of the socketpair (`pipe`); libraft owns the other end. Either side ending ends the other: a
 * TCP or TLS failure, or the peer's close, closes our handles, and libraft sees EOF on a stream
 * it accepted (delivered to its reader, dird_tls_pump.c) or fails its next write on one it
 * dialled (the socketpair's other end is gone) and closes it; libraft closing its end shows here
 * as EOF on `pipe` (or at once, when it closes inside its reader), and the TCP connection is
 * closed. Messages in flight then are lost, as with the stock transport; Raft resends. The
 * connection is freed in the last close callback of its handles, after answering a dial still
 * unanswered (RAFT_CANCELED when the transport closes, else RAFT_NOCONNECTION).
 *
 * Backpressure: each direction stops reading its source while more than t->queue_max bytes wait
 * to be written to its destination, and starts again below half of it. Memory per connection is
 * bounded by that and one read (64 KiB) per direction; libraft's own write queue is libraft's.
 *
 * Everything runs on the Raft loop's thread: the scratch buffers are shared by all connections,
 * each read being consumed before the callback returns. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dird_tls_conn.h"
#include "log.h"

static uint8_t tc_plain_buf[64u << 10]; /* decrypted, on its way to libraft */

/* ------------------------------------------------------------------ life and death */

static void tc_handle_closed(uv_handle_t *h)
{
    struct dird_tls_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct dird_tls_transport *t = c->t;
    struct raft_uv_connect *req = c->req;
    *c->pprev = c->next;
    if (c->next != NULL)
        c->next->pprev = c->pprev;
    strata_tls_conn_free(c->tls);
    free(c);
    if (req != NULL)
        req->cb(req, NULL, t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    dird_tls_transport_maybe_closed(t);
}

/* Close every handle of c; it is freed when the last one's callback runs. */
void dird_tls_close(struct dird_tls_conn *c)
{
    if (c->state == TC_CLOSING)
        return;
    c->state = TC_CLOSING;
    if (c->rs != NULL && !c->t->closing) { /* as a socket's end would show: EOF */
        uv_stream_t *rs = c->rs;
        uv_buf_t none = uv_buf_init(NULL, 0);
        c->rs = NULL;
        c->raft_read(rs, UV_EOF, &none); /* libraft closes its end */
    }
    if (c->pending) {
        c->pending = false;
        c->t->pending--;
    }
    uv_close((uv_handle_t *)&c->tcp, tc_handle_closed);
    uv_close((uv_handle_t *)&c->timer, tc_handle_closed);
    if (c->pipe_open)
        uv_close((uv_handle_t *)&c->pipe, tc_handle_closed);
}

void dird_tls_conn_close_all(struct dird_tls_transport *t)
{
    for (struct dird_tls_conn *c = t->conns; c != NULL; c = c->next)
        dird_tls_close(c); /* unlinked only in the close callbacks: the walk is safe */
}

/* Refuse c: count, log (rate-limited), send what TLS has to say (an alert), close. */
static void tc_refuse(struct dird_tls_conn *c, enum dird_tls_refusal why, const char *msg)
{
    size_t len = 0;
    uint8_t *ct = c->tls != NULL ? strata_tls_conn_output(c->tls, &len) : NULL;
    if (ct != NULL) {
        uv_buf_t b = uv_buf_init((char *)ct, (unsigned)len);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: we close anyway */
        free(ct);
    }
    dird_tls_refused(c->t, why, c->who, msg);
    dird_tls_close(c);
}

static void tc_deadline(uv_timer_t *timer)
{
    struct dird_tls_conn *c = timer->data;
    if (c->state == TC_CONNECTING) { /* a peer down or unreachable: libraft retries */
        LOG_DEBUG("raft TLS: %s: no TCP connection within %u ms", c->who, c->t->handshake_ms);
        dird_tls_close(c);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "not through the TLS handshake and preamble within %u ms",
             c->t->handshake_ms);
    tc_refuse(c, DIRD_TLS_REFUSED_TIMEOUT, msg);
}

static struct dird_tls_conn *tc_new(struct dird_tls_transport *t, bool inbound)
{
    struct dird_tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->t = t;
    c->inbound = inbound;
    c->state = inbound ? TC_HANDSHAKE : TC_CONNECTING;
    c->next = t->conns;
    if (c->next != NULL)
        c->next->pprev = &c->next;
    c->pprev = &t->conns;
    t->conns = c;
    uv_tcp_init(t->uv, &c->tcp);
    uv_timer_init(t->uv, &c->timer);
    c->tcp.data = c->timer.data = c->pipe.data = c;
    c->handles = 2;
    uv_timer_start(&c->timer, tc_deadline, t->handshake_ms, 0);
    return c;
}

/* ------------------------------------------------------------------ reading the peer */

/* The handshake is through (our CA, a directory certificate): the dialler checks the acceptor is
 * the node it dialled, then says who it is. 0, or -1 when c was closed. */
static int tc_verified(struct dird_tls_conn *c)
{
    c->verified = true;
    if (c->inbound)
        return 0; /* its claim comes in the preamble */
    const struct strata_peer *p = strata_tls_conn_peer(c->tls);
    char msg[160];
    if (!dird_tls_name_is_id(p->name, c->id)) {
        snprintf(msg, sizeof(msg), "node %llu answered with the certificate of directory '%s'",
                 (unsigned long long)c->id, p->name);
        tc_refuse(c, DIRD_TLS_REFUSED_IDENTITY, msg);
        return -1;
    }
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    size_t n = dird_tls_preamble_encode(pre, c->t->id, c->t->address);
    struct strata_err e;
    if (n == 0 || strata_tls_conn_write(c->tls, pre, n, &e) != 0) {
        LOG_WARN("raft TLS: %s: cannot send the preamble", c->who);
        dird_tls_close(c);
        return -1;
    }
    return 0;
}

/* The acceptor: the preamble is all in pre[0, used); check the claim against the certificate.
 * 0, or -1 when c was closed. */
static int tc_preamble(struct dird_tls_conn *c)
{
    size_t used = 0;
    struct strata_err e;
    raft_id id = 0;
    char address[DIRD_TLS_ADDR_MAX + 1];
    int rc = dird_tls_preamble_decode(c->pre, c->pre_len, &used, &id, address, &e);
    if (rc == DIRD_TLS_MORE)
        return 0;
    if (rc != 0) {
        tc_refuse(c, DIRD_TLS_REFUSED_PREAMBLE, e.msg);
        return -1;
    }
    const struct strata_peer *p = strata_tls_conn_peer(c->tls);
    if (!dird_tls_name_is_id(p->name, id)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "directory '%s' claims to be node %llu", p->name,
                 (unsigned long long)id);
        tc_refuse(c, DIRD_TLS_REFUSED_IDENTITY, msg);
        return -1;
    }
    c->id = id;
    snprintf(c->address, sizeof(c->address), "%s", address);
    size_t extra = c->pre_len - used; /* Raft bytes that came with the preamble */
    c->pre_len = used;
    if (dird_tls_handoff(c) != 0)
        return -1;
    return extra > 0 ? dird_tls_to_raft(c, c->pre + used, extra) : 0;
}

/* The dialler: the ack is all in. 0, or -1 when c was closed. */
static int tc_ack(struct dird_tls_conn *c)
{
    uint8_t want[DIRD_TLS_ACK_LEN];
    dird_tls_ack_encode(want);
    if (memcmp(c->pre, want, sizeof(want)) != 0) {
        tc_refuse(c, DIRD_TLS_REFUSED_PREAMBLE, "the acceptor's answer is not a Strata Raft ack");
        return -1;
    }
    return dird_tls_handoff(c);
}

/* Decrypted bytes: the preamble or ack first, then libraft's. 0, or -1 when c was closed. */
static int tc_plaintext(struct dird_tls_conn *c, const uint8_t *data, size_t len)
{
    if (c->state == TC_RUNNING)
        return dird_tls_to_raft(c, data, len);
    size_t want = c->inbound ? DIRD_TLS_PREAMBLE_MAX : DIRD_TLS_ACK_LEN;
    size_t take = len < want - c->pre_len ? len : want - c->pre_len;
    memcpy(c->pre + c->pre_len, data, take);
    c->pre_len += take;
    int rc = 0;
    if (c->inbound)
        rc = tc_preamble(c);
    else if (c->pre_len == DIRD_TLS_ACK_LEN)
        rc = tc_ack(c);
    if (rc != 0 || take == len)
        return rc;
    if (c->state != TC_RUNNING) { /* cannot be: a full buffer decodes or fails */
        tc_refuse(c, DIRD_TLS_REFUSED_PREAMBLE, "oversized preamble");
        return -1;
    }
    return dird_tls_to_raft(c, data + take, len - take);
}

/* The session failed: during the handshake, a refusal; afterwards, the end of the connection. */
static void tc_tls_failed(struct dird_tls_conn *c, int rc, const struct strata_err *e)
{
    if (c->state != TC_RUNNING) {
        tc_refuse(c,
                  strata_tls_conn_refused(c->tls) != NULL ? DIRD_TLS_REFUSED_ROLE
                                                          : DIRD_TLS_REFUSED_HANDSHAKE,
                  e->msg);
        return;
    }
    if (rc == STRATA_EUNAVAIL)
        LOG_DEBUG("raft TLS: %s: %s", c->who, e->msg);
    else
        LOG_WARN("raft TLS: %s: %s; closing the connection", c->who, e->msg);
    dird_tls_close(c);
}

/* Decrypt all the session can, handing it on; then send what the session has to send. */
static void tc_pull(struct dird_tls_conn *c)
{
    struct strata_err e;
    for (;;) {
        ssize_t n = strata_tls_conn_read(c->tls, tc_plain_buf, sizeof(tc_plain_buf), &e);
        if (n < 0) {
            tc_tls_failed(c, (int)n, &e);
            return;
        }
        if (!c->verified && strata_tls_conn_ready(c->tls) && tc_verified(c) != 0)
            return;
        if (n == 0)
            break;
        if (tc_plaintext(c, tc_plain_buf, (size_t)n) != 0)
            return;
    }
    dird_tls_flush(c);
}

void dird_tls_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct dird_tls_conn *c = s->data;
    if (n < 0) {
        if (c->state == TC_RUNNING) {
            LOG_DEBUG("raft TLS: %s: closed (%s)", c->who, uv_strerror((int)n));
            dird_tls_close(c);
        } else {
            tc_refuse(c, DIRD_TLS_REFUSED_HANDSHAKE,
                      n == UV_EOF ? "closed by the peer before the handshake and preamble were "
                                    "through (refused there?)"
                                  : uv_strerror((int)n));
        }
        return;
    }
    if (n == 0)
        return;
    if (strata_tls_conn_input(c->tls, buf->base, (size_t)n) != 0) {
        LOG_ERROR("raft TLS: %s: out of memory; closing the connection", c->who);
        dird_tls_close(c);
        return;
    }
    tc_pull(c);
}

/* TCP is up (either way): start the TLS session on it. */
static void tc_start_tls(struct dird_tls_conn *c)
{
    struct strata_tls_conn_opts o = {.server = c->inbound, .roles = STRATA_ROLE_DIRECTORY};
    struct strata_err e;
    c->state = TC_HANDSHAKE;
    if (uv_tcp_nodelay(&c->tcp, 1) != 0) /* Nagle: dird_transport.c says why */
        LOG_WARN("raft TLS: %s: cannot set TCP_NODELAY", c->who);
    if (strata_tls_conn_new(c->t->tls, &o, &c->tls, &e) != 0) {
        LOG_ERROR("raft TLS: %s: %s", c->who, e.msg);
        dird_tls_close(c);
        return;
    }
    int rv = uv_read_start((uv_stream_t *)&c->tcp, dird_tls_alloc, dird_tls_tcp_read);
    if (rv != 0) {
        LOG_WARN("raft TLS: %s: cannot read: %s", c->who, uv_strerror(rv));
        dird_tls_close(c);
        return;
    }
    if (!c->inbound) { /* the ClientHello */
        strata_tls_conn_read(c->tls, NULL, 0, &e);
        dird_tls_flush(c);
    }
}

/* ------------------------------------------------------------------ accept and dial */

void dird_tls_conn_accept(struct dird_tls_transport *t)
{
    struct dird_tls_conn *c = tc_new(t, true);
    if (c == NULL) {
        LOG_ERROR("raft TLS: out of memory for an incoming connection");
        return;
    }
    snprintf(c->who, sizeof(c->who), "connection from ?");
    int rv = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp);
    if (rv != 0) {
        LOG_WARN("raft TLS: accept: %s", uv_strerror(rv));
        dird_tls_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    char ip[64] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        uv_ip4_name(sin, ip, sizeof(ip));
        snprintf(c->who, sizeof(c->who), "connection from %s:%u", ip, ntohs(sin->sin_port));
    }
    if (t->pending >= DIRD_TLS_PENDING_MAX) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%u connections already in their handshake",
                 DIRD_TLS_PENDING_MAX);
        tc_refuse(c, DIRD_TLS_REFUSED_BUSY, msg);
        return;
    }
    c->pending = true;
    t->pending++;
    tc_start_tls(c);
}

static void tc_connected(uv_connect_t *creq, int status)
{
    struct dird_tls_conn *c = creq->data;
    if (c->state == TC_CLOSING)
        return;
    if (status != 0) { /* the peer is down: libraft retries, nothing to shout about */
        LOG_DEBUG("raft TLS: %s: %s", c->who, uv_strerror(status));
        dird_tls_close(c);
        return;
    }
    tc_start_tls(c);
}

int dird_tls_conn_dial(struct dird_tls_transport *t, struct raft_uv_connect *req, raft_id id,
                       const char *address)
{
    char ip[16];
    uint16_t port;
    struct strata_err e;
    struct sockaddr_in sa;
    if (strlen(address) > DIRD_TLS_ADDR_MAX || strata_hostport_parse(address, ip, &port, &e) != 0 ||
        uv_ip4_addr(ip, port, &sa) != 0) {
        snprintf(t->raft.errmsg, sizeof(t->raft.errmsg), "node %llu: bad address %.64s",
                 (unsigned long long)id, address);
        return RAFT_NOCONNECTION;
    }
    struct dird_tls_conn *c = tc_new(t, false);
    if (c == NULL) {
        snprintf(t->raft.errmsg, sizeof(t->raft.errmsg), "out of memory");
        return RAFT_NOMEM;
    }
    c->id = id;
    snprintf(c->address, sizeof(c->address), "%s", address);
    snprintf(c->who, sizeof(c->who), "connection to node %llu at %s", (unsigned long long)id,
             address);
    c->connect.data = c;
    int rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, tc_connected);
    if (rv != 0) { /* libraft retries after its delay; the callback must not run */
        snprintf(t->raft.errmsg, sizeof(t->raft.errmsg), "connect to %s: %s", address,
                 uv_strerror(rv));
        dird_tls_close(c);
        return RAFT_NOCONNECTION;
    }
    c->req = req;
    return 0;
}

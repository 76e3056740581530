/* dird_tls_transport.c - the libraft transport of Raft over TLS (dird_tls_transport.h): its
 * listener, its dials and its close, the preamble's format and the refusals' accounting. Each
 * connection's life (handshake, identity, hand-off, pumping) is dird_tls_conn.c's.
 *
 * libraft 0.15's own TCP transport believes whatever node id and address a connection's first
 * bytes claim, from anyone who reaches the port (and allocates the address length they claim).
 * This one hands libraft nothing before a TLS handshake between directory certificates of our CA
 * and the binding of the claimed id to the certificate's name. */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "dird_tls_transport.h"
#include "log.h"

/* ------------------------------------------------------------------ preamble */

static const uint8_t preamble_magic[4] = {'S', 'R', 'F', 'T'};
static const uint8_t ack_magic[4] = {'S', 'R', 'F', 'A'};

size_t dird_tls_preamble_encode(uint8_t *buf, raft_id id, const char *address)
{
    size_t alen = strlen(address);
    if (alen == 0 || alen > DIRD_TLS_ADDR_MAX)
        return 0;
    memcpy(buf, preamble_magic, 4);
    buf[4] = (uint8_t)(DIRD_TLS_PREAMBLE_VERSION >> 8);
    buf[5] = (uint8_t)DIRD_TLS_PREAMBLE_VERSION;
    for (int i = 0; i < 8; i++)
        buf[6 + i] = (uint8_t)(id >> (56 - 8 * i));
    buf[14] = (uint8_t)alen;
    memcpy(buf + DIRD_TLS_PREAMBLE_MIN, address, alen);
    return DIRD_TLS_PREAMBLE_MIN + alen;
}

int dird_tls_preamble_decode(const uint8_t *buf, size_t len, size_t *used, raft_id *id,
                             char address[DIRD_TLS_ADDR_MAX + 1], struct strata_err *e)
{
    *used = 0;
    /* judge each field as soon as it is in: a peer cannot hold us with a wrong beginning */
    if (memcmp(buf, preamble_magic, len < 4 ? len : 4) != 0)
        return strata_err_set(e, STRATA_EPROTO, "not a Strata Raft preamble");
    if (len < 6)
        return DIRD_TLS_MORE;
    unsigned version = (unsigned)buf[4] << 8 | buf[5];
    if (version != DIRD_TLS_PREAMBLE_VERSION)
        return strata_err_set(e, STRATA_EPROTO, "preamble version %u (this node speaks %u)",
                              version, DIRD_TLS_PREAMBLE_VERSION);
    if (len < DIRD_TLS_PREAMBLE_MIN)
        return DIRD_TLS_MORE;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | buf[6 + i];
    size_t alen = buf[14];
    if (v == 0)
        return strata_err_set(e, STRATA_EPROTO, "preamble claims node id 0");
    if (alen == 0 || alen > DIRD_TLS_ADDR_MAX)
        return strata_err_set(e, STRATA_EPROTO, "preamble address of %zu bytes (1..%d)", alen,
                              DIRD_TLS_ADDR_MAX);
    if (len < DIRD_TLS_PREAMBLE_MIN + alen)
        return DIRD_TLS_MORE;
    memcpy(address, buf + DIRD_TLS_PREAMBLE_MIN, alen);
    address[alen] = '\0';
    char ip[16];
    uint16_t port;
    struct strata_err ae;
    if (memchr(address, '\0', alen) != NULL || strata_hostport_parse(address, ip, &port, &ae) != 0)
        return strata_err_set(e, STRATA_EPROTO, "preamble address is not IPv4 a.b.c.d:port");
    *id = v;
    *used = DIRD_TLS_PREAMBLE_MIN + alen;
    return 0;
}

void dird_tls_ack_encode(uint8_t *buf)
{
    memcpy(buf, ack_magic, 4);
    buf[4] = (uint8_t)(DIRD_TLS_PREAMBLE_VERSION >> 8);
    buf[5] = (uint8_t)DIRD_TLS_PREAMBLE_VERSION;
}

bool dird_tls_name_is_id(const char *name, uint64_t id)
{
    char want[24];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)id);
    return id != 0 && strcmp(name, want) == 0;
}

/* ------------------------------------------------------------------ refusals */

static const char *const refusal_names[DIRD_TLS_REFUSED_N] = {
    "handshake", "role", "identity", "preamble", "timeout", "busy",
};

const char *dird_tls_refusal_name(enum dird_tls_refusal r)
{
    return (unsigned)r < DIRD_TLS_REFUSED_N ? refusal_names[r] : "?";
}

void dird_tls_refused(struct dird_tls_transport *t, enum dird_tls_refusal why, const char *who,
                      const char *msg)
{
    t->refused[why]++;
    /* a peer retrying once a second, or a scanner, must not fill the log: one line per cause
     * per period, saying how many went unlogged */
    uint64_t now = uv_now(t->uv);
    struct dird_tls_log_limit *l = &t->log_limit[why];
    if (l->logged && now - l->last_ms < DIRD_TLS_LOG_EVERY_MS) {
        l->unlogged++;
        return;
    }
    char more[64] = "";
    if (l->unlogged > 0)
        snprintf(more, sizeof(more), ", %llu not logged since the last line",
                 (unsigned long long)l->unlogged);
    LOG_WARN("raft TLS: refused %s (%s): %s [%llu refused for this cause%s]", who,
             refusal_names[why], msg, (unsigned long long)t->refused[why], more);
    l->logged = true;
    l->last_ms = now;
    l->unlogged = 0;
}

/* ------------------------------------------------------------------ the transport */

static struct dird_tls_transport *tt_of(struct raft_uv_transport *raft)
{
    return raft->impl;
}

static int tt_init(struct raft_uv_transport *raft, raft_id id, const char *address)
{
    struct dird_tls_transport *t = tt_of(raft);
    if (strlen(address) > DIRD_TLS_ADDR_MAX) {
        snprintf(raft->errmsg, sizeof(raft->errmsg), "raft address %.64s is too long", address);
        return RAFT_INVALID;
    }
    t->id = id;
    snprintf(t->address, sizeof(t->address), "%s", address);
    /* the listener's handle exists from here on, so that close always has one to close */
    int rv = uv_tcp_init(t->uv, &t->listener);
    if (rv != 0) {
        snprintf(raft->errmsg, sizeof(raft->errmsg), "uv_tcp_init: %s", uv_strerror(rv));
        return RAFT_IOERR;
    }
    t->listener.data = t;
    t->listener_open = true;
    return 0;
}

static void tt_connection(uv_stream_t *listener, int status)
{
    struct dird_tls_transport *t = listener->data;
    if (status != 0) {
        LOG_WARN("raft TLS: accept failed: %s", uv_strerror(status));
        return;
    }
    if (!t->closing)
        dird_tls_conn_accept(t);
}

static int tt_listen(struct raft_uv_transport *raft, raft_uv_accept_cb cb)
{
    struct dird_tls_transport *t = tt_of(raft);
    char ip[16];
    uint16_t port;
    struct strata_err e;
    struct sockaddr_in sa;
    if (strata_hostport_parse(t->address, ip, &port, &e) != 0 || uv_ip4_addr(ip, port, &sa) != 0) {
        snprintf(raft->errmsg, sizeof(raft->errmsg), "raft address %s: %.200s", t->address, e.msg);
        return RAFT_INVALID;
    }
    t->accept_cb = cb;
    int rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&t->listener, 128, tt_connection);
    if (rv != 0) {
        snprintf(raft->errmsg, sizeof(raft->errmsg), "listen on %s: %s", t->address,
                 uv_strerror(rv));
        return RAFT_IOERR;
    }
    return 0;
}

static int tt_connect(struct raft_uv_transport *raft, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct dird_tls_transport *t = tt_of(raft);
    req->cb = cb;
    return dird_tls_conn_dial(t, req, id, address);
}

void dird_tls_transport_maybe_closed(struct dird_tls_transport *t)
{
    if (!t->closing || t->listener_open || t->conns != NULL || t->close_cb == NULL)
        return;
    raft_uv_transport_close_cb cb = t->close_cb;
    t->close_cb = NULL;
    cb(&t->raft);
}

static void tt_listener_closed(uv_handle_t *h)
{
    struct dird_tls_transport *t = h->data;
    t->listener_open = false;
    dird_tls_transport_maybe_closed(t);
}

/* Stop listening, close every connection (dials not answered get RAFT_CANCELED); cb once the
 * last handle is closed, which is never within this call. */
static void tt_close(struct raft_uv_transport *raft, raft_uv_transport_close_cb cb)
{
    struct dird_tls_transport *t = tt_of(raft);
    t->closing = true;
    t->close_cb = cb;
    dird_tls_conn_close_all(t);
    if (t->listener_open)
        uv_close((uv_handle_t *)&t->listener, tt_listener_closed);
    else
        dird_tls_transport_maybe_closed(t);
}

int dird_tls_transport_init(struct dird_tls_transport *t, uv_loop_t *uv, struct strata_tls *tls)
{
    memset(t, 0, sizeof(*t));
    t->uv = uv;
    t->tls = tls;
    t->handshake_ms = DIRD_TLS_HANDSHAKE_MS;
    t->queue_max = DIRD_TLS_QUEUE_MAX;
    t->raft.impl = t;
    t->raft.init = tt_init;
    t->raft.listen = tt_listen;
    t->raft.connect = tt_connect;
    t->raft.close = tt_close;
    return 0;
}

/* sp_req.c - a blocking SP req0 client over TCP, written by hand (wire format: lib/sp_wire.h),
 * in plaintext or through one TLS session (lib/tls.h) on the same socket. */
#include "sp_req.h"

#include "bench_tcp.h"
#include "sp_wire.h"
#include "tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define SP_IN_CAP (64u << 10)

struct sp_req {
    int fd;
    char host[64];
    int port;
    unsigned timeout_ms;
    uint32_t next_id;
    uint8_t *in; /* received bytes (plaintext) not yet consumed: [off, len) */
    size_t off, len, cap;
    struct strata_tls *tls;       /* NULL: plaintext */
    struct strata_tls_conn *sess; /* the connection's session, with tls */
};

/* Close the connection (the next call reconnects). */
static void sp_drop(struct sp_req *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    strata_tls_conn_free(s->sess);
    s->sess = NULL;
}

/* Write the iovecs to the socket as they are. */
static int sp_send_raw(struct sp_req *s, struct iovec *iov, int n, struct strata_err *e)
{
    while (n > 0) {
        ssize_t w = writev(s->fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return strata_err_set(e, STRATA_EIO, "send to %s:%d: %s", s->host, s->port,
                                  w < 0 ? strerror(errno) : "closed");
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Send what the session holds for the peer (records, handshake messages). */
static int sp_tls_flush(struct sp_req *s, struct strata_err *e)
{
    size_t len = 0;
    uint8_t *ct = strata_tls_conn_output(s->sess, &len);
    if (ct == NULL)
        return strata_tls_conn_pending(s->sess) == 0
                   ? 0
                   : strata_err_set(e, STRATA_ENOMEM, "out of memory");
    struct iovec iov = {.iov_base = ct, .iov_len = len};
    int rc = sp_send_raw(s, &iov, 1, e);
    free(ct);
    return rc;
}

/* Send the iovecs' bytes, encrypted first when the connection is TLS. */
static int sp_send_all(struct sp_req *s, struct iovec *iov, int n, struct strata_err *e)
{
    if (s->sess == NULL)
        return sp_send_raw(s, iov, n, e);
    for (int i = 0; i < n; i++) {
        int rc = strata_tls_conn_write(s->sess, iov[i].iov_base, iov[i].iov_len, e);
        if (rc)
            return rc;
    }
    return sp_tls_flush(s, e);
}

static int sp_recv_failed(struct sp_req *s, ssize_t r, struct strata_err *e)
{
    return strata_err_set(e, r == 0 ? STRATA_EIO : STRATA_ETIMEDOUT, "receive from %s:%d: %s",
                          s->host, s->port, r == 0 ? "connection closed" : strerror(errno));
}

/* Receive once into s->in[len, cap), which has room: plaintext, decrypted first when the
 * connection is TLS (the session may already hold some, and answers the handshake). */
static int sp_recv_some(struct sp_req *s, struct strata_err *e)
{
    for (;;) {
        if (s->sess != NULL) {
            struct strata_err te;
            ssize_t got = strata_tls_conn_read(s->sess, s->in + s->len, s->cap - s->len, &te);
            if (got < 0)
                return strata_err_set(e, (int)got, "%s:%d: %s", s->host, s->port, te.msg);
            int rc = sp_tls_flush(s, e);
            if (rc)
                return rc;
            if (got > 0) {
                s->len += (size_t)got;
                return 0;
            }
        }
        uint8_t ct[16384];
        uint8_t *buf = s->sess != NULL ? ct : s->in + s->len;
        size_t room = s->sess != NULL ? sizeof(ct) : s->cap - s->len;
        ssize_t r = recv(s->fd, buf, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sp_recv_failed(s, r, e);
        if (s->sess == NULL) {
            s->len += (size_t)r;
            return 0;
        }
        if (strata_tls_conn_input(s->sess, ct, (size_t)r) != 0)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
}

/* Make at least `want` unconsumed bytes available in s->in. */
static int sp_fill(struct sp_req *s, size_t want, struct strata_err *e)
{
    if (s->len - s->off >= want)
        return 0;
    if (want > s->cap) {
        uint8_t *n = malloc(want);
        if (!n)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
        memcpy(n, s->in + s->off, s->len - s->off);
        free(s->in);
        s->in = n;
        s->len -= s->off;
        s->off = 0;
        s->cap = want;
    } else if (s->cap - s->off < want) {
        memmove(s->in, s->in + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    while (s->len - s->off < want) {
        int rc = sp_recv_some(s, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int sp_connect(struct sp_req *s, struct strata_err *e)
{
    int fd = -1;
    int rc = bench_tcp_connect(s->host, s->port, s->timeout_ms, &fd, e);
    if (rc)
        return rc;
    s->fd = fd;
    s->off = s->len = 0;
    if (s->tls != NULL) {
        /* the server's certificate must name the address dialled, as for any client */
        struct strata_tls_conn_opts o = {.roles = STRATA_ROLE_SERVERS, .host = s->host};
        rc = strata_tls_conn_new(s->tls, &o, &s->sess, e);
        if (rc) {
            sp_drop(s);
            return rc;
        }
        struct strata_err te;
        strata_tls_conn_read(s->sess, NULL, 0, &te); /* the ClientHello */
    }
    uint8_t hdr[SP_HANDSHAKE_LEN];
    sp_handshake(hdr, SP_PROTO_REQ0);
    struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
    rc = sp_send_all(s, &iov, 1, e);
    if (!rc)
        rc = sp_fill(s, 8, e);
    if (!rc) {
        if (sp_handshake_next(s->in + s->off, s->len - s->off, SP_PROTO_REP0) != SP_FRAME_OK)
            rc = strata_err_set(e, STRATA_EPROTO, "%s:%d is not an SP rep0 server", s->host,
                                s->port);
        s->off += 8;
    }
    if (rc)
        sp_drop(s);
    return rc;
}

int sp_req_open(const char *host, int port, unsigned timeout_ms, struct sp_req **out,
                struct strata_err *e)
{
    return sp_req_open_tls(host, port, timeout_ms, NULL, out, e);
}

int sp_req_open_tls(const char *host, int port, unsigned timeout_ms, struct strata_tls *tls,
                    struct sp_req **out, struct strata_err *e)
{
    struct sp_req *s = calloc(1, sizeof(*s));
    uint8_t *in = malloc(SP_IN_CAP);
    if (!s || !in) {
        free(s);
        free(in);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->port = port;
    s->timeout_ms = timeout_ms;
    s->fd = -1;
    s->in = in;
    s->cap = SP_IN_CAP;
    s->tls = tls;
    s->next_id = (uint32_t)getpid() * 2654435761u;
    int rc = sp_connect(s, e);
    if (rc) {
        sp_req_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sp_req_close(struct sp_req *s)
{
    if (!s)
        return;
    sp_drop(s);
    free(s->in);
    free(s);
}

int sp_req_fd(const struct sp_req *s)
{
    return s->fd;
}

struct strata_tls_conn *sp_req_tls(const struct sp_req *s)
{
    return s->sess;
}

int sp_req_frame(struct sp_req *s, const strata_env *req, uint8_t **frame, size_t *len,
                 uint32_t *id, struct strata_err *e)
{
    size_t blen = 0;
    int rc = strata_msg_encode_after(req, SP_REQ_HEAD_LEN, frame, &blen, e);
    if (rc)
        return rc;
    *id = ++s->next_id | 0x80000000u;
    sp_req_head(*frame, *id, blen);
    *len = SP_REQ_HEAD_LEN + blen;
    return 0;
}

int sp_req_parse(const uint8_t *in, size_t len, uint32_t id, size_t *used, strata_env **reply,
                 struct strata_err *e)
{
    *used = 0;
    *reply = NULL;
    for (;;) {
        size_t mlen;
        enum sp_frame f = sp_frame_next(in, len, 4, STRATA_MSG_MAX + 4, &mlen);
        if (f == SP_FRAME_MORE)
            return SP_REQ_MORE;
        if (f == SP_FRAME_BAD)
            return strata_err_set(e, STRATA_EIO, "reply of %llu bytes",
                                  (unsigned long long)sp_get_be64(in));
        uint32_t got = sp_get_be32(in + 8);
        const uint8_t *body = in + 12;
        in += SP_LEN_BYTES + mlen;
        len -= SP_LEN_BYTES + mlen;
        *used += SP_LEN_BYTES + mlen;
        if (got == id) /* older replies, to requests that timed out, are skipped */
            return strata_msg_decode(body, mlen - 4, STRATA_MSG_MAX, reply, e);
    }
}

int sp_req_status(strata_env **reply, const char *who, struct strata_err *e)
{
    if ((*reply)->status == 0)
        return 0;
    int rc =
        strata_err_set(e, (*reply)->status, "%s: %s", who,
                       (*reply)->message && *(*reply)->message ? (*reply)->message
                                                               : strata_strerror((*reply)->status));
    strata_msg_free(*reply);
    *reply = NULL;
    return rc;
}

/* Receive the reply to request `id`. */
static int sp_recv_reply(struct sp_req *s, uint32_t id, strata_env **reply, struct strata_err *e)
{
    for (size_t want = 8;;) {
        int rc = sp_fill(s, want, e);
        if (rc)
            return rc;
        size_t used = 0;
        rc = sp_req_parse(s->in + s->off, s->len - s->off, id, &used, reply, e);
        s->off += used;
        if (rc != SP_REQ_MORE)
            return rc;
        /* a whole frame header is there when its body is what is missing */
        want = s->len - s->off >= 8 ? 8 + (size_t)sp_get_be64(s->in + s->off) : 8;
    }
}

int sp_req_call(struct sp_req *s, const strata_env *req, strata_env **reply, struct strata_err *e)
{
    *reply = NULL;
    int rc = s->fd >= 0 ? 0 : sp_connect(s, e);
    uint8_t *frame = NULL;
    size_t flen = 0;
    uint32_t id = 0;
    if (!rc)
        rc = sp_req_frame(s, req, &frame, &flen, &id, e);
    if (!rc) {
        struct iovec iov = {.iov_base = frame, .iov_len = flen};
        rc = sp_send_all(s, &iov, 1, e);
        if (!rc)
            rc = sp_recv_reply(s, id, reply, e);
        if (rc && rc != STRATA_EPROTO && s->fd >= 0)
            sp_drop(s); /* a half-read stream cannot be resynchronised */
    }
    free(frame);
    if (!rc && (*reply)->status != 0) { /* the name is only formatted for an error */
        char who[80];
        snprintf(who, sizeof(who), "%s:%d", s->host, s->port);
        rc = sp_req_status(reply, who, e);
    }
    return rc;
}

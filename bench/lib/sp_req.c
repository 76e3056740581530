/* sp_req.c - a blocking SP req0 client over TCP, written by hand (wire format: lib/sp_wire.h). */
#include "sp_req.h"

#include "bench_tcp.h"
#include "sp_wire.h"

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
    uint8_t *in; /* received bytes not yet consumed: [off, len) */
    size_t off, len, cap;
};

static int sp_send_all(struct sp_req *s, struct iovec *iov, int n, struct strata_err *e)
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
        ssize_t r = recv(s->fd, s->in + s->len, s->cap - s->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return strata_err_set(e, r == 0 ? STRATA_EIO : STRATA_ETIMEDOUT,
                                  "receive from %s:%d: %s", s->host, s->port,
                                  r == 0 ? "connection closed" : strerror(errno));
        s->len += (size_t)r;
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
    uint8_t hdr[SP_HANDSHAKE_LEN];
    sp_handshake(hdr, SP_PROTO_REQ0);
    struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
    rc = sp_send_all(s, &iov, 1, e);
    if (!rc)
        rc = sp_fill(s, 8, e);
    if (!rc) {
        if (!sp_handshake_ok(s->in + s->off, SP_PROTO_REP0))
            rc = strata_err_set(e, STRATA_EPROTO, "%s:%d is not an SP rep0 server", s->host,
                                s->port);
        s->off += 8;
    }
    if (rc) {
        close(s->fd);
        s->fd = -1;
    }
    return rc;
}

int sp_req_open(const char *host, int port, unsigned timeout_ms, struct sp_req **out,
                struct strata_err *e)
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
    if (s->fd >= 0)
        close(s->fd);
    free(s->in);
    free(s);
}

/* Receive the reply to request `id` (older replies, to requests that timed out, are skipped). */
static int sp_recv_reply(struct sp_req *s, uint32_t id, strata_env **reply, struct strata_err *e)
{
    for (;;) {
        int rc = sp_fill(s, 8, e);
        if (rc)
            return rc;
        uint64_t mlen = sp_get_be64(s->in + s->off);
        if (mlen < 4 || mlen > STRATA_MSG_MAX + 4)
            return strata_err_set(e, STRATA_EIO, "%s:%d: reply of %llu bytes", s->host, s->port,
                                  (unsigned long long)mlen);
        if ((rc = sp_fill(s, 8 + (size_t)mlen, e)) != 0)
            return rc;
        const uint8_t *p = s->in + s->off + 8;
        uint32_t got = sp_get_be32(p);
        s->off += 8 + (size_t)mlen;
        if (got == id)
            return strata_msg_decode(p + 4, (size_t)mlen - 4, STRATA_MSG_MAX, reply, e);
    }
}

int sp_req_call(struct sp_req *s, const strata_env *req, strata_env **reply, struct strata_err *e)
{
    *reply = NULL;
    int rc = s->fd >= 0 ? 0 : sp_connect(s, e);
    uint8_t *body = NULL;
    size_t blen = 0;
    if (!rc)
        rc = strata_msg_encode(req, &body, &blen, e);
    if (!rc) {
        uint32_t id = ++s->next_id | 0x80000000u;
        uint8_t head[SP_REQ_HEAD_LEN];
        sp_req_head(head, id, blen);
        struct iovec iov[2] = {{.iov_base = head, .iov_len = sizeof(head)},
                               {.iov_base = body, .iov_len = blen}};
        rc = sp_send_all(s, iov, 2, e);
        if (!rc)
            rc = sp_recv_reply(s, id, reply, e);
        if (rc && rc != STRATA_EPROTO && s->fd >= 0) {
            close(s->fd); /* a half-read stream cannot be resynchronised */
            s->fd = -1;
        }
    }
    free(body);
    if (!rc && (*reply)->status != 0) {
        rc = strata_err_set(e, (*reply)->status, "%s:%d: %s", s->host, s->port,
                            (*reply)->message && *(*reply)->message
                                ? (*reply)->message
                                : strata_strerror((*reply)->status));
        strata_msg_free(*reply);
        *reply = NULL;
    }
    return rc;
}

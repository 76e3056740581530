/* client_tls.c - the blocking client's transport for tls+tcp:// URLs (CLI, tests, benches): an
 * SP req0 client over one TLS session on a plain socket, waiting with poll(2) against each
 * call's deadline. Connected at the first call and again after any failure; one call at a time,
 * never resent. NNG's own TLS transport is not used: it is mbedTLS, slow to handshake, and would
 * be a second TLS stack with a second notion of who the peer is (tls.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "sp_wire.h"
#include "tls.h"

struct sct {
    char *url;
    struct sp_tcp_addr addr;
    struct strata_tls *tls;
    int fd;
    struct strata_tls_conn *sess;
    bool up;      /* the server's SP handshake arrived */
    bool refused; /* the last call found nothing listening */
    uint8_t *in;  /* plaintext received, not yet parsed */
    size_t in_len, in_cap;
};

static void sct_disconnect(struct sct *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    strata_tls_conn_free(c->sess);
    c->sess = NULL;
    c->up = false;
    c->in_len = 0;
}

static int sct_left(uint64_t deadline)
{
    uint64_t now = strata_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for `ev` on the socket until the deadline. 0, or an error. */
static int sct_wait(struct sct *c, short ev, uint64_t deadline, struct strata_err *e)
{
    for (;;) {
        int left = sct_left(deadline);
        if (left == 0)
            return strata_err_set(e, STRATA_ETIMEDOUT, "%s: no reply in time", c->url);
        struct pollfd p = {.fd = c->fd, .events = ev};
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return strata_err_set(e, STRATA_EIO, "%s: poll: %s", c->url, strerror(errno));
    }
}

/* Send what the session has for the peer. */
static int sct_flush(struct sct *c, uint64_t deadline, struct strata_err *e)
{
    size_t len = 0;
    uint8_t *buf = strata_tls_conn_output(c->sess, &len);
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR))
            rc = sct_wait(c, POLLOUT, deadline, e);
        else
            rc = strata_err_set(e, STRATA_EUNAVAIL, "%s: send: %s", c->url, strerror(errno));
    }
    free(buf);
    return rc;
}

/* Receive once and decrypt into the input. 0, or an error. */
static int sct_recv(struct sct *c, uint64_t deadline, struct strata_err *e)
{
    uint8_t ct[16384];
    ssize_t n;
    for (;;) {
        n = recv(c->fd, ct, sizeof(ct), 0);
        if (n > 0)
            break;
        if (n == 0)
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: closed by the server", c->url);
        if (errno != EAGAIN && errno != EINTR)
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: recv: %s", c->url, strerror(errno));
        int rc = sct_wait(c, POLLIN, deadline, e);
        if (rc != 0)
            return rc;
    }
    if (strata_tls_conn_input(c->sess, ct, (size_t)n) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "%s: out of memory", c->url);
    struct strata_err te;
    int rc = strata_tls_conn_read_all(c->sess, &c->in, &c->in_len, &c->in_cap, &te);
    if (rc != 0)
        return strata_err_set(e, rc, "%s: %s", c->url, te.msg);
    return sct_flush(c, deadline, e);
}

static int sct_connect(struct sct *c, uint64_t deadline, struct strata_err *e)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int g = getaddrinfo(c->addr.host, c->addr.port, &hints, &res);
    if (g != 0)
        return strata_err_set(e, STRATA_EUNAVAIL, "%s: %s", c->url, gai_strerror(g));
    struct sockaddr_storage ss;
    sp_tcp_pick(res, &ss);
    freeaddrinfo(res);
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return strata_err_set(e, STRATA_EIO, "%s: socket: %s", c->url, strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno == ECONNREFUSED) {
            c->refused = true;
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: connection refused", c->url);
        }
        if (errno != EINPROGRESS)
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: connect: %s", c->url, strerror(errno));
        int rc = sct_wait(c, POLLOUT, deadline, e);
        if (rc != 0)
            return rc;
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err == ECONNREFUSED) {
            c->refused = true;
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: connection refused", c->url);
        }
        if (err != 0)
            return strata_err_set(e, STRATA_EUNAVAIL, "%s: connect: %s", c->url, strerror(err));
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    struct strata_tls_conn_opts o = {.roles = STRATA_ROLE_SERVERS, .host = c->addr.host};
    int rc = strata_tls_conn_new(c->tls, &o, &c->sess, e);
    if (rc != 0)
        return rc;
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REQ0);
    struct strata_err te;
    strata_tls_conn_read(c->sess, NULL, 0, &te); /* the ClientHello */
    if ((rc = strata_tls_conn_write(c->sess, hs, sizeof(hs), e)) != 0 ||
        (rc = sct_flush(c, deadline, e)) != 0)
        return rc;
    while (c->in_len < SP_HANDSHAKE_LEN)
        if ((rc = sct_recv(c, deadline, e)) != 0)
            return rc;
    if (!sp_handshake_ok(c->in, SP_PROTO_REP0))
        return strata_err_set(e, STRATA_EPROTO, "%s: not an SP rep0 server", c->url);
    memmove(c->in, c->in + SP_HANDSHAKE_LEN, c->in_len - SP_HANDSHAKE_LEN);
    c->in_len -= SP_HANDSHAKE_LEN;
    c->up = true;
    return 0;
}

int sct_open(const char *url, struct strata_tls *t, struct sct **out, struct strata_err *e)
{
    if (t == NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "client %s: tls+tcp:// needs --tls-ca, --tls-cert and --tls-key",
                              url);
    struct sct *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        return strata_err_set(e, STRATA_ENOMEM, "client: out of memory");
    }
    struct strata_err why;
    int rc = sp_tcp_split(url, &c->addr, &why);
    if (rc == 0 && c->addr.host[0] == '\0')
        rc = strata_err_set(&why, STRATA_EINVAL, "no host");
    if (rc != 0) {
        free(c->url);
        free(c);
        return strata_err_set(e, rc, "client %s: %s", url, why.msg);
    }
    c->tls = t;
    c->fd = -1;
    *out = c;
    return 0;
}

int sct_call(struct sct *c, const uint8_t *body, size_t len, uint32_t id, unsigned timeout_ms,
             strata_env **reply, struct strata_err *e)
{
    uint64_t deadline = strata_now_ms() + timeout_ms;
    int rc = 0;
    c->refused = false;
    if (!c->up) {
        sct_disconnect(c);
        rc = sct_connect(c, deadline, e);
    }
    uint8_t head[SP_REQ_HEAD_LEN];
    sp_req_head(head, id, len);
    if (rc == 0 && (rc = strata_tls_conn_write(c->sess, head, sizeof(head), e)) == 0 &&
        (rc = strata_tls_conn_write(c->sess, body, len, e)) == 0)
        rc = sct_flush(c, deadline, e);
    while (rc == 0) {
        size_t mlen;
        enum sp_frame f =
            sp_frame_next(c->in, c->in_len, 4, STRATA_MSG_MAX + SP_BACKTRACE_MAX, &mlen);
        if (f == SP_FRAME_BAD) {
            rc = strata_err_set(e, STRATA_EPROTO, "%s: bad reply length", c->url);
            break;
        }
        if (f == SP_FRAME_MORE) {
            rc = sct_recv(c, deadline, e);
            continue;
        }
        const uint8_t *msg = c->in + SP_LEN_BYTES;
        bool ours = sp_get_be32(msg) == (id | 0x80000000u);
        strata_env *env = NULL;
        if (ours)
            rc = client_decode_reply(msg + 4, mlen - 4, &env, e);
        memmove(c->in, c->in + SP_LEN_BYTES + mlen, c->in_len - SP_LEN_BYTES - mlen);
        c->in_len -= SP_LEN_BYTES + mlen;
        if (ours && rc == 0) {
            *reply = env;
            return 0;
        }
    }
    sct_disconnect(c); /* a late reply must not be taken for the next call's */
    return rc;
}

bool sct_refused(const struct sct *c)
{
    return c->refused;
}

void sct_close(struct sct *c)
{
    if (c == NULL)
        return;
    sct_disconnect(c);
    free(c->in);
    free(c->url);
    free(c);
}

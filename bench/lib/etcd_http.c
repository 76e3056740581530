/* etcd_http.c - keep-alive HTTP/1.1 POST client (plain TCP, blocking, one request at a time). */
#include "etcd_http.h"

#include "bench_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP_HEAD_MAX 8192
#define HTTP_BODY_MAX (1u << 20)

struct etcd_http {
    int fd;
    char host[64];
    int port;
    unsigned timeout_ms;
    /* received bytes not yet consumed: [off, len) of in */
    char *in;
    size_t off, len, cap;
    /* the current reply body */
    char *body;
    size_t blen, bcap;
    char *out; /* request buffer */
    size_t ocap;
};

size_t etcd_base64(const void *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int http_connect(struct etcd_http *h, struct strata_err *e)
{
    int rc = bench_tcp_connect(h->host, h->port, h->timeout_ms, &h->fd, e);
    h->off = h->len = 0;
    return rc;
}

static void http_disconnect(struct etcd_http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->off = h->len = 0;
}

int etcd_http_open(const char *host, int port, unsigned timeout_ms, struct etcd_http **out,
                   struct strata_err *e)
{
    struct etcd_http *h = calloc(1, sizeof(*h));
    if (!h)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    h->fd = -1;
    snprintf(h->host, sizeof(h->host), "%s", host);
    h->port = port;
    h->timeout_ms = timeout_ms;
    int rc = http_connect(h, e);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void etcd_http_close(struct etcd_http *h)
{
    if (!h)
        return;
    http_disconnect(h);
    free(h->in);
    free(h->body);
    free(h->out);
    free(h);
}

static int grow(char **buf, size_t *cap, size_t need, struct strata_err *e)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    *buf = p;
    *cap = c;
    return 0;
}

/* Read more bytes into the input buffer (compacting it first). */
static int fill(struct etcd_http *h, struct strata_err *e)
{
    if (h->off > 0) {
        memmove(h->in, h->in + h->off, h->len - h->off);
        h->len -= h->off;
        h->off = 0;
    }
    int rc = grow(&h->in, &h->cap, h->len + 16384, e);
    if (rc)
        return rc;
    ssize_t n;
    do
        n = recv(h->fd, h->in + h->len, h->cap - h->len, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return strata_err_set(e, STRATA_EUNAVAIL, "%s:%d closed the connection", h->host, h->port);
    if (n < 0)
        return strata_err_set(e, errno == EAGAIN ? STRATA_ETIMEDOUT : STRATA_EIO,
                              "recv from %s:%d: %s", h->host, h->port, strerror(errno));
    h->len += (size_t)n;
    return 0;
}

/* Return a pointer to the next line (without CRLF) and consume it. */
static int read_line(struct etcd_http *h, char **line, struct strata_err *e)
{
    for (;;) {
        /* h->in is NULL until the first fill */
        char *nl = h->len > h->off ? memchr(h->in + h->off, '\n', h->len - h->off) : NULL;
        if (nl) {
            char *start = h->in + h->off;
            *nl = '\0';
            if (nl > start && nl[-1] == '\r')
                nl[-1] = '\0';
            h->off = (size_t)(nl + 1 - h->in);
            *line = start;
            return 0;
        }
        if (h->len - h->off > HTTP_HEAD_MAX)
            return strata_err_set(e, STRATA_EPROTO, "HTTP header line too long");
        int rc = fill(h, e);
        if (rc)
            return rc;
    }
}

/* Append exactly n body bytes from the stream. Lines returned by read_line may be moved by
 * fill(), so callers copy what they need before reading on. */
static int read_body(struct etcd_http *h, size_t n, struct strata_err *e)
{
    if (h->blen + n > HTTP_BODY_MAX)
        return strata_err_set(e, STRATA_ETOOBIG, "HTTP reply over %u bytes", HTTP_BODY_MAX);
    int rc = grow(&h->body, &h->bcap, h->blen + n + 1, e);
    if (rc)
        return rc;
    while (n > 0) {
        if (h->off == h->len && (rc = fill(h, e)))
            return rc;
        size_t k = h->len - h->off < n ? h->len - h->off : n;
        memcpy(h->body + h->blen, h->in + h->off, k);
        h->blen += k;
        h->off += k;
        n -= k;
    }
    h->body[h->blen] = '\0';
    return 0;
}

static int read_reply(struct etcd_http *h, int *status, bool *close_after, struct strata_err *e)
{
    char *line = NULL;
    int rc = read_line(h, &line, e);
    if (rc)
        return rc;
    int major, minor;
    if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, status) != 3)
        return strata_err_set(e, STRATA_EPROTO, "bad HTTP status line '%.60s'", line);
    long long clen = -1;
    bool chunked = false;
    *close_after = false;
    for (;;) {
        if ((rc = read_line(h, &line, e)))
            return rc;
        if (!line[0])
            break;
        if (!strncasecmp(line, "Content-Length:", 15))
            clen = atoll(line + 15);
        else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line, "chunked"))
            chunked = true;
        else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line, "close"))
            *close_after = true;
    }
    h->blen = 0;
    if ((rc = grow(&h->body, &h->bcap, 1, e)))
        return rc;
    h->body[0] = '\0';
    if (!chunked) {
        if (clen < 0)
            return strata_err_set(e, STRATA_EPROTO, "HTTP reply without length");
        return read_body(h, (size_t)clen, e);
    }
    for (;;) {
        if ((rc = read_line(h, &line, e)))
            return rc;
        unsigned long n = strtoul(line, NULL, 16);
        if (n == 0)
            break;
        if ((rc = read_body(h, n, e)) || (rc = read_line(h, &line, e)))
            return rc;
    }
    /* trailers, up to the empty line */
    do
        if ((rc = read_line(h, &line, e)))
            return rc;
    while (line[0]);
    return 0;
}

static int send_all(struct etcd_http *h, const char *p, size_t n, struct strata_err *e)
{
    while (n > 0) {
        ssize_t k = send(h->fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return strata_err_set(e, STRATA_EUNAVAIL, "send to %s:%d: %s", h->host, h->port,
                                  strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int etcd_http_post(struct etcd_http *h, const char *path, const char *body, size_t blen,
                   int *status, const char **resp, size_t *rlen, struct strata_err *e)
{
    int rc = grow(&h->out, &h->ocap, blen + 512, e);
    if (rc)
        return rc;
    int hl = snprintf(h->out, h->ocap,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, h->host, h->port, blen);
    if (hl < 0 || (size_t)hl + blen > h->ocap)
        return strata_err_set(e, STRATA_EINVAL, "request path too long");
    memcpy(h->out + hl, body, blen);

    for (int attempt = 0;; attempt++) {
        bool close_after = false;
        if (h->fd < 0)
            rc = http_connect(h, e);
        if (!rc)
            rc = send_all(h, h->out, (size_t)hl + blen, e);
        if (!rc)
            rc = read_reply(h, status, &close_after, e);
        if (rc || close_after)
            http_disconnect(h);
        /* Retry once on a connection the server dropped while idle; not on a timeout, where
         * the request may still be executing. */
        if (rc && rc != STRATA_ETIMEDOUT && attempt == 0) {
            rc = 0;
            continue;
        }
        if (rc)
            return rc;
        *resp = h->body;
        if (rlen)
            *rlen = h->blen;
        return 0;
    }
}

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

/* The line at in[*pos..len) without its CRLF (or bare LF), *pos moved past it; false when the
 * line is not all there yet. */
static bool next_line(const char *in, size_t len, size_t *pos, const char **line, size_t *llen)
{
    const char *nl = *pos < len ? memchr(in + *pos, '\n', len - *pos) : NULL;
    if (!nl)
        return false;
    *line = in + *pos;
    *llen = (size_t)(nl - *line);
    if (*llen > 0 && (*line)[*llen - 1] == '\r')
        (*llen)--;
    *pos = (size_t)(nl + 1 - in);
    return true;
}

static bool header_is(const char *line, size_t llen, const char *name)
{
    size_t n = strlen(name);
    return llen >= n && strncasecmp(line, name, n) == 0;
}

/* Whether the header's value contains `word` (case-insensitive). */
static bool header_has(const char *line, size_t llen, size_t from, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = from; i + w <= llen; i++)
        if (strncasecmp(line + i, word, w) == 0)
            return true;
    return false;
}

/* A number in the line from `from` on, in base 10 or 16; -1 when there is none. */
static long long header_num(const char *line, size_t llen, size_t from, int base)
{
    char tmp[32];
    size_t n = llen > from ? llen - from : 0;
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, line + from, n);
    tmp[n] = '\0';
    char *end;
    long long v = strtoll(tmp, &end, base);
    return end == tmp || v < 0 ? -1 : v;
}

static int body_add(struct etcd_http *h, const char *p, size_t n, struct strata_err *e)
{
    if (h->blen + n > HTTP_BODY_MAX)
        return strata_err_set(e, STRATA_ETOOBIG, "HTTP reply over %u bytes", HTTP_BODY_MAX);
    int rc = grow(&h->body, &h->bcap, h->blen + n + 1, e);
    if (rc)
        return rc;
    memcpy(h->body + h->blen, p, n);
    h->blen += n;
    h->body[h->blen] = '\0';
    return 0;
}

/* The chunked body at in[*pos..len) into h->body, trailers skipped. */
static int parse_chunked(struct etcd_http *h, const char *in, size_t len, size_t *pos,
                         struct strata_err *e)
{
    const char *line;
    size_t llen;
    for (;;) {
        if (!next_line(in, len, pos, &line, &llen))
            return ETCD_HTTP_MORE;
        long long n = header_num(line, llen, 0, 16);
        if (n < 0)
            return strata_err_set(e, STRATA_EPROTO, "bad HTTP chunk size");
        if (n == 0)
            break;
        if ((size_t)n > HTTP_BODY_MAX || len - *pos < (size_t)n + 2)
            return (size_t)n > HTTP_BODY_MAX
                       ? strata_err_set(e, STRATA_ETOOBIG, "HTTP chunk of %lld bytes", n)
                       : ETCD_HTTP_MORE;
        int rc = body_add(h, in + *pos, (size_t)n, e);
        if (rc)
            return rc;
        *pos += (size_t)n;
        if (!next_line(in, len, pos, &line, &llen)) /* the CRLF after the data */
            return ETCD_HTTP_MORE;
    }
    do
        if (!next_line(in, len, pos, &line, &llen))
            return ETCD_HTTP_MORE;
    while (llen > 0);
    return 0;
}

int etcd_http_parse(struct etcd_http *h, const char *in, size_t len, size_t *used, int *status,
                    bool *close_after, struct strata_err *e)
{
    size_t pos = 0, llen;
    const char *line;
    *used = 0;
    h->blen = 0;
    int rc = grow(&h->body, &h->bcap, 1, e);
    if (rc)
        return rc;
    h->body[0] = '\0';
    if (!next_line(in, len, &pos, &line, &llen))
        return len > HTTP_HEAD_MAX ? strata_err_set(e, STRATA_EPROTO, "HTTP header too long")
                                   : ETCD_HTTP_MORE;
    char sl[64];
    snprintf(sl, sizeof(sl), "%.*s", (int)(llen < 63 ? llen : 63), line);
    int major, minor;
    if (sscanf(sl, "HTTP/%d.%d %d", &major, &minor, status) != 3)
        return strata_err_set(e, STRATA_EPROTO, "bad HTTP status line '%s'", sl);
    long long clen = -1;
    bool chunked = false;
    *close_after = false;
    for (;;) {
        if (!next_line(in, len, &pos, &line, &llen))
            return len > HTTP_HEAD_MAX ? strata_err_set(e, STRATA_EPROTO, "HTTP header too long")
                                       : ETCD_HTTP_MORE;
        if (llen == 0)
            break;
        if (header_is(line, llen, "Content-Length:"))
            clen = header_num(line, llen, 15, 10);
        else if (header_is(line, llen, "Transfer-Encoding:") &&
                 header_has(line, llen, 18, "chunked"))
            chunked = true;
        else if (header_is(line, llen, "Connection:") && header_has(line, llen, 11, "close"))
            *close_after = true;
    }
    if (chunked) {
        rc = parse_chunked(h, in, len, &pos, e);
    } else if (clen < 0) {
        rc = strata_err_set(e, STRATA_EPROTO, "HTTP reply without length");
    } else if (len - pos < (size_t)clen) {
        rc = (size_t)clen > HTTP_BODY_MAX
                 ? strata_err_set(e, STRATA_ETOOBIG, "HTTP reply over %u bytes", HTTP_BODY_MAX)
                 : ETCD_HTTP_MORE;
    } else {
        rc = body_add(h, in + pos, (size_t)clen, e);
        pos += (size_t)clen;
    }
    if (rc == 0)
        *used = pos;
    return rc;
}

/* Read one whole reply, re-parsing what has arrived each time more does (replies are small). */
static int read_reply(struct etcd_http *h, int *status, bool *close_after, struct strata_err *e)
{
    for (;;) {
        size_t used = 0;
        int rc = etcd_http_parse(h, h->in ? h->in + h->off : "", h->len - h->off, &used, status,
                                 close_after, e);
        h->off += used;
        if (rc != ETCD_HTTP_MORE)
            return rc;
        if ((rc = fill(h, e)))
            return rc;
    }
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

int etcd_http_fd(const struct etcd_http *h)
{
    return h->fd;
}

const char *etcd_http_body(const struct etcd_http *h)
{
    return h->body;
}

int etcd_http_request(struct etcd_http *h, const char *path, const char *body, size_t blen,
                      const char **req, size_t *len, struct strata_err *e)
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
    *req = h->out;
    *len = (size_t)hl + blen;
    return 0;
}

int etcd_http_post(struct etcd_http *h, const char *path, const char *body, size_t blen,
                   int *status, const char **resp, size_t *rlen, struct strata_err *e)
{
    const char *req;
    size_t qlen;
    int rc = etcd_http_request(h, path, body, blen, &req, &qlen, e);
    if (rc)
        return rc;
    for (int attempt = 0;; attempt++) {
        bool close_after = false;
        if (h->fd < 0)
            rc = http_connect(h, e);
        if (!rc)
            rc = send_all(h, req, qlen, e);
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

/* etcd_http.h - a minimal keep-alive HTTP/1.1 client over one TCP socket, enough to drive etcd's
 * JSON gateway (POST with a Content-Length body; replies with Content-Length or chunked). */
#ifndef ETCD_HTTP_H
#define ETCD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct etcd_http;

/* Connect to host:port (IPv4 dotted quad). `timeout_ms` bounds connect and every later
 * send/receive. */
int etcd_http_open(const char *host, int port, unsigned timeout_ms, struct etcd_http **out,
                   struct strata_err *e);
void etcd_http_close(struct etcd_http *h);

/* POST `body` (JSON) to `path` and read the whole reply. On success returns 0 with the HTTP
 * status in *status and the body in the client's buffer (*resp, NUL-terminated, valid until the
 * next call). A broken connection is reopened once before giving up. */
int etcd_http_post(struct etcd_http *h, const char *path, const char *body, size_t blen,
                   int *status, const char **resp, size_t *rlen, struct strata_err *e);

/* The parts of etcd_http_post, for drivers that multiplex many connections on one thread. */
#define ETCD_HTTP_MORE 1 /* etcd_http_parse: the reply is not all there yet */

/* The connected socket, or -1 after a transport error (etcd_http_post reconnects). */
int etcd_http_fd(const struct etcd_http *h);

/* Format the POST request in the client's buffer: *req is valid until the next call. */
int etcd_http_request(struct etcd_http *h, const char *path, const char *body, size_t blen,
                      const char **req, size_t *len, struct strata_err *e);

/* Parse one reply from the `len` bytes received: ETCD_HTTP_MORE when it is incomplete, else 0
 * with the HTTP status, *used bytes consumed and the body in etcd_http_body(h), or an error
 * (the stream cannot be resynchronised after one). */
int etcd_http_parse(struct etcd_http *h, const char *in, size_t len, size_t *used, int *status,
                    bool *close_after, struct strata_err *e);
const char *etcd_http_body(const struct etcd_http *h);

/* Standard base64 of `n` bytes into `out` (room for 4 * ((n + 2) / 3) + 1); returns the length. */
size_t etcd_base64(const void *in, size_t n, char *out);

#endif

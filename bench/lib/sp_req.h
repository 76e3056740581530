/* sp_req.h - a lean blocking client of an NNG rep0 server over TCP: it speaks the SP wire
 * protocol itself on one socket, with no threads of its own, so that the directory benchmark's
 * load generator costs about as little CPU per request as its hand-written etcd HTTP client.
 * With a TLS context it speaks tls+tcp:// the same way: one lib/tls.h session over the socket,
 * as lib/client_tls.c does, so that TLS and plaintext are measured with the same client. */
#ifndef SP_REQ_H
#define SP_REQ_H

#include <stdint.h>

#include "err.h"
#include "msg.h"

struct sp_req;

/* Connect to host:port (IPv4 dotted quad) and exchange the SP header (we are req0, the peer must
 * be rep0). `timeout_ms` bounds the connect and every later send and receive. */
int sp_req_open(const char *host, int port, unsigned timeout_ms, struct sp_req **out,
                struct strata_err *e);
/* The same over TLS (tls+tcp://) speaking as `tls`; NULL: plaintext. The handshakes (TLS, then
 * SP) are done when it returns; the server's certificate must name `host` (an IP SAN). */
struct strata_tls;
int sp_req_open_tls(const char *host, int port, unsigned timeout_ms, struct strata_tls *tls,
                    struct sp_req **out, struct strata_err *e);
void sp_req_close(struct sp_req *s);

/* Send one request envelope and wait for its reply. Returns 0 with *reply (free it with
 * strata_msg_free) when the server answered with status 0; otherwise the server's status and
 * message, or the transport error (after which the connection is closed and reopened on the
 * next call). */
int sp_req_call(struct sp_req *s, const strata_env *req, strata_env **reply, struct strata_err *e);

/* The parts of sp_req_call, for drivers that multiplex many connections on one thread. */
#define SP_REQ_MORE 1 /* sp_req_parse: no whole reply to `id` yet */

/* The connected socket, or -1 between a transport error and the next call. */
int sp_req_fd(const struct sp_req *s);
/* The connection's TLS session (its bytes on sp_req_fd are ciphertext), or NULL in plaintext.
 * A driver that multiplexes the socket itself encrypts the frames and decrypts the replies
 * through it. */
struct strata_tls_conn *sp_req_tls(const struct sp_req *s);

/* Frame `req` as the connection's next request: *frame (malloc'd, the caller frees it) holds
 * the SP header and the envelope, *id the request id its reply will carry. */
int sp_req_frame(struct sp_req *s, const strata_env *req, uint8_t **frame, size_t *len,
                 uint32_t *id, struct strata_err *e);

/* Look for the reply to `id` in the `len` bytes received: SP_REQ_MORE when it is not all there
 * yet, else 0 with *reply or a negative code (a decode error leaves the stream usable; an
 * impossible frame length does not). *used counts the bytes consumed, replies to older ids
 * included. */
int sp_req_parse(const uint8_t *in, size_t len, uint32_t id, size_t *used, strata_env **reply,
                 struct strata_err *e);

/* 0 when *reply carries status 0; otherwise frees it and returns its status and message. */
int sp_req_status(strata_env **reply, const char *who, struct strata_err *e);

#endif

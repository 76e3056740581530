/* sp_req.h - a lean blocking client of an NNG rep0 server over TCP: it speaks the SP wire
 * protocol itself on one socket, with no threads of its own, so that the directory benchmark's
 * load generator costs about as little CPU per request as its hand-written etcd HTTP client. */
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
void sp_req_close(struct sp_req *s);

/* Send one request envelope and wait for its reply. Returns 0 with *reply (free it with
 * strata_msg_free) when the server answered with status 0; otherwise the server's status and
 * message, or the transport error (after which the connection is closed and reopened on the
 * next call). */
int sp_req_call(struct sp_req *s, const strata_env *req, strata_env **reply, struct strata_err *e);

#endif

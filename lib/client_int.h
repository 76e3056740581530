/* client_int.h - what client.c (the API and NNG's transports) shares with client_uv.c (tcp://
 * spoken on the libuv loop); not for other modules. */
#ifndef STRATA_CLIENT_INT_H
#define STRATA_CLIENT_INT_H

#include <stdbool.h>

#include "client.h"

/* client.c */
int client_decode_reply(const void *buf, size_t len, strata_env **out, struct strata_err *e);
int client_wrong_id(strata_env **env, uint64_t want_id, struct strata_err *e);

/* client_uv.c: the asynchronous client's loop transport, with strata_aclient's semantics;
 * o->tls is the context of tls+tcp:// URLs (NULL there is an error), o->source as in
 * strata_aclient_opts. */
struct uvc;
struct strata_tls;
int uvc_open(struct strata_loop *loop, const char *url, const struct strata_aclient_opts *o,
             struct uvc **out, struct strata_err *e);
const char *uvc_url(const struct uvc *c);
const char *uvc_why(const struct uvc *c);
int uvc_call(struct uvc *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb, void *arg);
void uvc_close(struct uvc *c);

/* client_tls.c: the blocking client's transport for tls+tcp:// URLs. */
struct sct;
int sct_open(const char *url, struct strata_tls *t, struct sct **out, struct strata_err *e);
/* Send `body` (an encoded envelope) as SP request `id` and wait for its reply. */
int sct_call(struct sct *c, const uint8_t *body, size_t len, uint32_t id, unsigned timeout_ms,
             strata_env **reply, struct strata_err *e);
/* The last call failed because nothing accepted the connection. */
bool sct_refused(const struct sct *c);
void sct_close(struct sct *c);

#endif

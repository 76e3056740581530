/* client.c - NNG req0 clients: the asynchronous one (one context per call, completions run on
 * the libuv loop) and the blocking one (CLI, tests, benches).
 *
 * Asynchronous call state machine, one operation in flight on the call's aio and one completion
 * path (aio callback on an NNG thread -> strata_loop_post -> ac_call_done on the loop):
 *   SEND (times out at the deadline) --ok--> RECV (remaining time) --> callback
 * Every failure goes straight to the callback, which fires exactly once.
 *
 * Teardown (strata_aclient_close, loop thread):
 *   1. closed = true: new calls are refused (STRATA_EUNAVAIL);
 *   2. nng_aio_stop on every in-flight call's aio: the operation is aborted and its callback has
 *      run, so exactly one ac_call_done per call is queued on the loop;
 *   3. every in-flight callback fires now with STRATA_EUNAVAIL and the call is marked cancelled;
 *   4. ~100 ms of quiet when calls were stopped (PITFALLS: nng_close can hang otherwise), then
 *      nng_close;
 *   5. the queued ac_call_done items free their aio (after nng_close, as PITFALLS asks) and the
 *      last one frees the client. */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <netdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nng_close.h"
#include "sp_wire.h"
#include "tls.h"

/* ------------------------------------------------------------------ shared helpers */

static int client_map_nng(int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT:
        return STRATA_ETIMEDOUT;
    case NNG_ENOMEM:
        return STRATA_ENOMEM;
    case NNG_EMSGSIZE:
        return STRATA_ETOOBIG;
    case NNG_EPROTO:
        return STRATA_EPROTO;
    default: /* closed, cancelled, refused, reset...: the peer cannot be reached */
        return STRATA_EUNAVAIL;
    }
}

/* Open a req0 socket with the options every Strata client needs: bounded receive size, no
 * automatic resend (requests are not all idempotent); and, when `dial`, dialing `url` in the
 * background. */
static int client_socket_open(const char *url, bool dial, nng_socket *sock, struct strata_err *e)
{
    int rv = nng_req0_open(sock);
    if (rv != 0)
        return strata_err_set(e, STRATA_EINTERNAL, "client %s: req0 open: %s", url,
                              nng_strerror(rv));
    if ((rv = nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, STRATA_MSG_MAX)) != 0 ||
        (rv = nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0) {
        nng_close(*sock);
        return strata_err_set(e, STRATA_EINTERNAL, "client %s: options: %s", url, nng_strerror(rv));
    }
    /* Non-blocking: a blocking dial fails at once when the peer is down; this one retries. */
    if (dial && (rv = nng_dial(*sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        nng_close(*sock);
        return strata_err_set(e, STRATA_EINVAL, "client %s: dial: %s", url, nng_strerror(rv));
    }
    return 0;
}

/* Decode a reply. An error reply (status != 0) is accepted
 * even when it fails body validation (a peer may answer an error without a body): callers only
 * read its status and message then. Never when it fails the wire check: a string with a NUL
 * (its text cut short) or a message protobuf-c would decode at great cost. */
int client_decode_reply(const void *buf, size_t len, strata_env **out, struct strata_err *e)
{
    strata_env *env = NULL;
    struct strata_err derr = {0};
    int rc = strata_msg_decode(buf, len, STRATA_MSG_MAX, &env, &derr);
    if (rc != 0 && len <= STRATA_MSG_MAX &&
        strata_msg_wire_check(&strata__v1__envelope__descriptor, buf, len, STRATA_MAX_ELEMS,
                              NULL) == 0) {
        env = strata__v1__envelope__unpack(NULL, len, buf);
        if (env != NULL && env->status != 0)
            rc = 0;
        else if (env != NULL) {
            strata__v1__envelope__free_unpacked(env, NULL);
            env = NULL;
        }
    }
    if (rc != 0)
        return strata_err_set(e, STRATA_EPROTO, "invalid reply: %s", derr.msg);
    *out = env;
    return 0;
}

int client_wrong_id(strata_env **env, uint64_t want_id, struct strata_err *e)
{
    uint64_t got = (*env)->req_id;
    strata_msg_free(*env);
    *env = NULL;
    return strata_err_set(e, STRATA_EPROTO, "reply for request %llu, expected %llu",
                          (unsigned long long)got, (unsigned long long)want_id);
}

/* ------------------------------------------------------------------ asynchronous client */

enum ac_state { AC_SEND, AC_RECV };

struct ac_call {
    struct strata_aclient *c;
    nng_ctx ctx;
    nng_aio *aio;
    enum ac_state state;
    bool cancelled; /* close fired the callback; only cleanup remains */
    uint64_t req_id;
    uint64_t deadline_ms; /* 0: none */
    strata_aclient_cb cb;
    void *arg;
    struct ac_call *prev, *next;
};

struct strata_aclient {
    struct uvc *uv; /* tcp:// (client_uv.c); then nothing below is used */
    struct strata_loop *loop;
    nng_socket sock;
    char *url;
    uint64_t next_req_id;
    struct ac_call *calls; /* in flight, callback not fired yet */
    int live;              /* ac_call objects not yet freed */
    int in_cb;             /* > 0 while ac_finish runs a callback: do not free under it */
    bool closed;
};

static void ac_maybe_free(struct strata_aclient *c)
{
    if (c->closed && c->live == 0 && c->in_cb == 0) {
        free(c->url);
        free(c);
    }
}

static void ac_unlink(struct ac_call *k)
{
    struct strata_aclient *c = k->c;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static void ac_call_free(struct ac_call *k)
{
    struct strata_aclient *c = k->c;
    nng_msg *m = nng_aio_get_msg(k->aio);
    if (m != NULL)
        nng_msg_free(m);
    nng_ctx_close(k->ctx); /* harmless after nng_close */
    nng_aio_free(k->aio);
    free(k);
    c->live--;
}

/* Fire the callback (once) and release the call. The callback runs last: it may start new
 * calls or close the client. */
static void ac_finish(struct ac_call *k, int rc, strata_env *reply)
{
    struct strata_aclient *c = k->c;
    strata_aclient_cb cb = k->cb;
    void *arg = k->arg;
    ac_unlink(k);
    ac_call_free(k);
    /* The callback may close the client: in_cb keeps it allocated until we are done here. */
    c->in_cb++;
    cb(rc, reply, arg);
    c->in_cb--;
    ac_maybe_free(c);
}

static void ac_call_done(void *arg)
{
    struct ac_call *k = arg;
    struct strata_aclient *c = k->c;
    if (k->cancelled) {
        ac_call_free(k);
        ac_maybe_free(c);
        return;
    }
    int rv = nng_aio_result(k->aio);
    if (rv != 0) {
        ac_finish(k, client_map_nng(rv), NULL);
        return;
    }
    if (k->state == AC_SEND) {
        nng_duration t = NNG_DURATION_INFINITE;
        if (k->deadline_ms != 0) {
            uint64_t now = strata_now_ms();
            if (now >= k->deadline_ms) {
                ac_finish(k, STRATA_ETIMEDOUT, NULL);
                return;
            }
            t = (nng_duration)(k->deadline_ms - now);
        }
        k->state = AC_RECV;
        nng_aio_set_timeout(k->aio, t);
        nng_ctx_recv(k->ctx, k->aio);
        return;
    }
    nng_msg *m = nng_aio_get_msg(k->aio);
    nng_aio_set_msg(k->aio, NULL);
    strata_env *reply = NULL;
    struct strata_err err = {0};
    int rc = client_decode_reply(nng_msg_body(m), nng_msg_len(m), &reply, &err);
    nng_msg_free(m);
    if (rc == 0 && reply->req_id != k->req_id)
        rc = client_wrong_id(&reply, k->req_id, &err);
    if (rc != 0)
        LOG_WARN("client %s: %s", c->url, err.msg);
    ac_finish(k, rc, reply);
}

static void ac_aio_cb(void *arg)
{
    struct ac_call *k = arg;
    if (strata_loop_post(k->c->loop, ac_call_done, k) != 0)
        LOG_ERROR("client %s: loop closed before the client: a call is lost", k->c->url);
}

int strata_aclient_open(struct strata_loop *loop, const char *url, struct strata_aclient **out,
                        struct strata_err *e)
{
    struct strata_aclient_opts o = {0};
    return strata_aclient_open_opts(loop, url, &o, out, e);
}

int strata_aclient_open_opts(struct strata_loop *loop, const char *url,
                             const struct strata_aclient_opts *o, struct strata_aclient **out,
                             struct strata_err *e)
{
    bool uv = strncmp(url, "tcp://", 6) == 0 || strata_tls_url(url);
    if (!uv && o->source != NULL)
        return strata_err_set(e, STRATA_EINVAL, "client %s: a source address needs tcp://", url);
    struct strata_aclient_opts uo = *o;
    if (uo.tls == NULL)
        uo.tls = strata_tls_default();
    struct strata_aclient *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        return strata_err_set(e, STRATA_ENOMEM, "client: out of memory");
    }
    c->loop = loop;
    if (uv) {
        int rc = uvc_open(loop, url, &uo, &c->uv, e);
        free(c->url); /* uvc keeps its own */
        c->url = NULL;
        if (rc != 0)
            free(c);
        else
            *out = c;
        return rc;
    }
    int rc = client_socket_open(url, true, &c->sock, e);
    if (rc != 0) {
        free(c->url);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

const char *strata_aclient_url(struct strata_aclient *c)
{
    if (c->uv != NULL)
        return uvc_url(c->uv);
    return c->url;
}

const char *strata_aclient_why(struct strata_aclient *c)
{
    return c->uv != NULL ? uvc_why(c->uv) : "";
}

/* Returns 0 when the callback will fire; on any other return it will not. timeout_ms 0 means
 * no deadline (long-polls carry their own). */
int strata_aclient_call(struct strata_aclient *c, strata_env *req, unsigned timeout_ms,
                        strata_aclient_cb cb, void *arg)
{
    if (c->uv != NULL)
        return uvc_call(c->uv, req, timeout_ms, cb, arg);
    if (c->closed)
        return STRATA_EUNAVAIL;
    struct ac_call *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return STRATA_ENOMEM;
    k->c = c;
    k->cb = cb;
    k->arg = arg;
    k->req_id = ++c->next_req_id;
    req->req_id = k->req_id;
    if (timeout_ms != 0)
        k->deadline_ms = strata_now_ms() + timeout_ms;

    uint8_t *buf = NULL;
    size_t len = 0;
    nng_msg *m = NULL;
    struct strata_err err = {0};
    int rc = strata_msg_encode(req, &buf, &len, &err);
    if (rc != 0) {
        free(k);
        return rc;
    }
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0 && (rv = nng_msg_append(m, buf, len)) != 0)
        nng_msg_free(m);
    free(buf);
    if (rv != 0) {
        free(k);
        return STRATA_ENOMEM;
    }
    if ((rv = nng_aio_alloc(&k->aio, ac_aio_cb, k)) != 0) {
        nng_msg_free(m);
        free(k);
        return STRATA_ENOMEM;
    }
    if ((rv = nng_ctx_open(&k->ctx, c->sock)) != 0) {
        nng_msg_free(m);
        nng_aio_free(k->aio);
        free(k);
        return client_map_nng(rv);
    }
    k->state = AC_SEND;
    k->next = c->calls;
    if (c->calls != NULL)
        c->calls->prev = k;
    c->calls = k;
    c->live++;
    nng_aio_set_msg(k->aio, m);
    nng_aio_set_timeout(k->aio, timeout_ms ? (nng_duration)timeout_ms : NNG_DURATION_INFINITE);
    nng_ctx_send(k->ctx, k->aio);
    return 0;
}

void strata_aclient_close(struct strata_aclient *c)
{
    if (c == NULL || c->closed)
        return;
    c->closed = true;
    if (c->uv != NULL) {
        /* Callbacks fired by the close may still call strata_aclient_call (refused): the
         * wrapper goes after them. */
        uvc_close(c->uv);
        free(c);
        return;
    }
    struct ac_call *list = c->calls;
    c->calls = NULL;
    bool stopped = list != NULL;
    for (struct ac_call *k = list; k != NULL; k = k->next)
        nng_aio_stop(k->aio);
    /* Callbacks may start calls (refused now) or close again (no-op): take each call off the
     * detached list before firing it. */
    while (list != NULL) {
        struct ac_call *k = list;
        list = k->next;
        k->prev = k->next = NULL;
        k->cancelled = true;
        k->cb(STRATA_EUNAVAIL, NULL, k->arg);
    }
    strata_nng_close(c->sock, stopped);
    ac_maybe_free(c);
}

/* ------------------------------------------------------------------ blocking client */

struct strata_sclient {
    struct sct *tls; /* tls+tcp:// (client_tls.c); else NNG */
    nng_socket sock;
    char *url;
    uint64_t next_req_id;
    /* A request was sent and its reply never read (timeout, error): a late reply may still
     * arrive, and NNG 1.5.2's nng_close can hang if it lands while the socket closes. */
    bool unanswered;
    bool answered; /* a reply came: the peer exists, no more probing */
    bool refused;  /* the last call found nothing listening */
    bool dialed;   /* NNG's dialer exists (it then reconnects by itself) */
};

/* Connect `fd` to `sa`, waiting until the deadline. 0, or the errno of the failure (ETIMEDOUT
 * when the deadline passed first). */
static int client_probe_connect(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return errno;
    for (;;) {
        uint64_t now = strata_now_ms();
        if (now >= deadline)
            return ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            return err;
        }
    }
}

/* Does anything listen at a tcp:// `url`? NNG's background dialer would retry a refused
 * connection until the call's deadline; the operator should hear at once. (A blocking nng_dial
 * would know too, but would wait without bound on an unreachable host.) STRATA_EUNAVAIL with
 * "URL: connection refused", else 0 (also when the answer is not known by the deadline: the
 * call then finds out). */
static int client_probe(const char *url, uint64_t deadline, struct strata_err *e)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = 0;
    if (strncmp(url, "tcp://", 6) == 0) {
        struct sp_tcp_addr a;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
        if (sp_tcp_split(url, &a, NULL) != 0 || a.host[0] == '\0' ||
            getaddrinfo(a.host, a.port, &hints, &res) != 0)
            return 0;
        sp_tcp_pick(res, &ss);
        freeaddrinfo(res);
        len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    } else {
        return 0;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int err = client_probe_connect(fd, (struct sockaddr *)&ss, len, deadline);
    close(fd);
    if (err == ECONNREFUSED)
        return strata_err_set(e, STRATA_EUNAVAIL, "%s: connection refused", url);
    return 0;
}

/* The blocking client's first dial of an ipc:// URL: synchronous, so that a missing socket
 * file or a stale one (its daemon gone) is known at once; NNG redials by itself afterwards. */
static int client_dial_now(struct strata_sclient *c, struct strata_err *e)
{
    int rv = nng_dial(c->sock, c->url, NULL, 0);
    if (rv == 0) {
        c->dialed = true;
        return 0;
    }
    c->refused = rv == NNG_ENOENT || rv == NNG_ECONNREFUSED;
    struct stat st;
    /* NNG reports a missing file as refused too */
    if (c->refused && stat(c->url + 6, &st) != 0 && errno == ENOENT)
        return strata_err_set(e, STRATA_EUNAVAIL, "%s: no such socket", c->url);
    if (c->refused)
        return strata_err_set(e, STRATA_EUNAVAIL, "%s: connection refused", c->url);
    if (rv == NNG_EADDRINVAL || rv == NNG_EINVAL)
        return strata_err_set(e, STRATA_EINVAL, "%s: dial: %s", c->url, nng_strerror(rv));
    return strata_err_set(e, client_map_nng(rv), "%s: dial: %s", c->url, nng_strerror(rv));
}

int strata_sclient_open(const char *url, struct strata_sclient **out, struct strata_err *e)
{
    return strata_sclient_open_tls(url, strata_tls_default(), out, e);
}

int strata_sclient_open_tls(const char *url, struct strata_tls *tls, struct strata_sclient **out,
                            struct strata_err *e)
{
    struct strata_sclient *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        return strata_err_set(e, STRATA_ENOMEM, "client: out of memory");
    }
    /* ipc://: dialed at the first call, blocking (a local socket answers at once). */
    c->dialed = strncmp(url, "ipc://", 6) != 0;
    int rc = strata_tls_url(url) ? sct_open(url, tls, &c->tls, e)
                                 : client_socket_open(url, c->dialed, &c->sock, e);
    if (rc != 0) {
        free(c->url);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* One call at a time per sclient (req0 on the socket itself: a new request cancels the old). */
int strata_sclient_call(struct strata_sclient *c, strata_env *req, unsigned timeout_ms,
                        strata_env **reply, struct strata_err *e)
{
    /* 31 bits: over tls+tcp:// it is also the SP request id */
    uint64_t id = ++c->next_req_id & 0x7fffffffu;
    if (id == 0)
        id = c->next_req_id = 1;
    req->req_id = id;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = strata_msg_encode(req, &buf, &len, e);
    if (rc != 0)
        return rc;
    rc = strata_sclient_call_bytes(c, buf, len, id, timeout_ms, reply, e);
    free(buf);
    return rc;
}

int strata_sclient_call_bytes(struct strata_sclient *c, const uint8_t *buf, size_t len, uint64_t id,
                              unsigned timeout_ms, strata_env **reply, struct strata_err *e)
{
    uint64_t deadline = strata_now_ms() + timeout_ms;
    int rc;
    if (c->tls != NULL)
        return sct_call(c->tls, buf, len, (uint32_t)(id & 0x7fffffffu), timeout_ms, reply, e);
    nng_msg *m = NULL;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0 && (rv = nng_msg_append(m, buf, len)) != 0)
        nng_msg_free(m);
    if (rv != 0)
        return strata_err_set(e, STRATA_ENOMEM, "%s: out of memory", c->url);

    c->refused = false;
    if (!c->dialed && (rc = client_dial_now(c, e)) != 0) {
        nng_msg_free(m);
        return rc;
    }
    if (!c->answered && (rc = client_probe(c->url, deadline, e)) != 0) {
        nng_msg_free(m);
        c->refused = true;
        return rc;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
    c->unanswered = true; /* until its reply is read */
    if ((rv = nng_sendmsg(c->sock, m, 0)) != 0) {
        nng_msg_free(m);
        rc = client_map_nng(rv);
        return strata_err_set(e, rc, "%s: %s", c->url,
                              rc == STRATA_ETIMEDOUT ? "not reachable (send timed out)"
                                                     : nng_strerror(rv));
    }
    for (;;) {
        uint64_t now = strata_now_ms();
        if (now >= deadline)
            return strata_err_set(e, STRATA_ETIMEDOUT, "%s: no reply within %u ms", c->url,
                                  timeout_ms);
        nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)(deadline - now));
        if ((rv = nng_recvmsg(c->sock, &m, 0)) != 0) {
            rc = client_map_nng(rv);
            if (rc == STRATA_ETIMEDOUT)
                return strata_err_set(e, rc, "%s: no reply within %u ms", c->url, timeout_ms);
            return strata_err_set(e, rc, "%s: %s", c->url, nng_strerror(rv));
        }
        strata_env *env = NULL;
        rc = client_decode_reply(nng_msg_body(m), nng_msg_len(m), &env, e);
        nng_msg_free(m);
        if (rc != 0)
            return rc;
        /* req0 pairs replies by its own id, so a stale reply is not expected; skip it anyway. */
        if (env->req_id != id) {
            LOG_WARN("client %s: dropping a reply to request %llu", c->url,
                     (unsigned long long)env->req_id);
            strata_msg_free(env);
            continue;
        }
        c->unanswered = false;
        c->answered = true;
        *reply = env;
        return 0;
    }
}

bool strata_sclient_refused(const struct strata_sclient *c)
{
    return c->tls != NULL ? sct_refused(c->tls) : c->refused;
}

void strata_sclient_close(struct strata_sclient *c)
{
    if (c == NULL)
        return;
    if (c->tls != NULL)
        sct_close(c->tls);
    else
        strata_nng_close(c->sock, c->unanswered);
    free(c->url);
    free(c);
}

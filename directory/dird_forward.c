/* dird_forward.c - a follower proxies writes and cluster commands to the leader's API, keeping
 * one asynchronous client per leader URL, and relays the leader's reply to the requester. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

static struct strata_aclient *peer_client(struct dird *d, const char *url)
{
    for (struct dird_fwd_peer *p = d->peers; p != NULL; p = p->next)
        if (strcmp(p->url, url) == 0)
            return p->c;
    struct dird_fwd_peer *p = calloc(1, sizeof(*p));
    struct strata_err e;
    if (p == NULL)
        return NULL;
    snprintf(p->url, sizeof(p->url), "%s", url);
    if (strata_aclient_open(d->loop, url, &p->c, &e) != 0) {
        LOG_WARN("cannot open client to leader %s: %s", url, e.msg);
        free(p);
        return NULL;
    }
    p->next = d->peers;
    d->peers = p;
    return p->c;
}

/* A request being proxied. It follows the leader: when this node sees the leader change while
 * the request is out, the old call is abandoned (its reply dropped) and the request goes to the
 * new leader, or is handled here if this node now leads. A client thus gets its answer about one
 * election after a leader's death instead of after its own timeout. */
struct fwd_req {
    struct fwd_req *next;
    struct strata_req *req;
    const strata_env *env;
    uint64_t target;     /* leader the current call went to (0 = waiting for a leader) */
    uint64_t refused_by; /* a leader that answered "not leader": wait for another */
    uint64_t deadline_ms;
    struct fwd_call *call;
};

/* One aclient call; outlives its fwd_req when abandoned (fr == NULL). */
struct fwd_call {
    struct dird *d;
    struct fwd_req *fr;
    char url[256];
};

static void fwd_unlink(struct dird *d, struct fwd_req *fr)
{
    for (struct fwd_req **pp = (struct fwd_req **)&d->fwds; *pp != NULL; pp = &(*pp)->next)
        if (*pp == fr) {
            *pp = fr->next;
            return;
        }
}

static void fwd_detach(struct fwd_req *fr)
{
    if (fr->call != NULL)
        fr->call->fr = NULL;
    fr->call = NULL;
}

static void fwd_finish_error(struct dird *d, struct fwd_req *fr, int code, const char *msg)
{
    fwd_detach(fr);
    fwd_unlink(d, fr);
    dird_reply_error(fr->req, code, "%s", msg);
    free(fr);
}

static void fwd_done(int rc, strata_env *reply, void *arg)
{
    struct fwd_call *call = arg;
    struct fwd_req *fr = call->fr;
    struct dird *d = call->d;
    if (fr == NULL) { /* re-routed or answered already */
        if (reply != NULL)
            strata_msg_free(reply);
        free(call);
        return;
    }
    fr->call = NULL;
    if (rc == 0 && reply->status == STRATA_ENOTLEADER && strata_now_ms() < fr->deadline_ms) {
        /* it lost leadership after we sent: wait for the next leader (dird_forward_poll) */
        fr->refused_by = fr->target;
        fr->target = 0;
        strata_msg_free(reply);
        free(call);
        return;
    }
    fwd_unlink(d, fr);
    if (rc != 0) {
        /* The write may or may not have reached the leader: EUNAVAIL makes the client retry
         * with the same ids, which the FSM deduplicates. */
        dird_reply_error(fr->req, STRATA_EUNAVAIL, "leader %s unreachable: %s", call->url,
                         strata_strerror(rc));
    } else {
        strata_req_reply(fr->req, reply);
        strata_msg_free(reply);
    }
    free(fr);
    free(call);
}

/* Send fr to the current leader, hand it to the local handlers if we lead, or leave it waiting
 * for a leader. */
static void fwd_route(struct dird *d, struct fwd_req *fr)
{
    uint64_t lid;
    const char *api;
    dird_leader(d, &lid, &api);
    if (dird_is_leader(d)) {
        fwd_detach(fr);
        fwd_unlink(d, fr);
        struct strata_req *req = fr->req;
        const strata_env *env = fr->env;
        free(fr);
        dird_api_handle(req, env, d);
        return;
    }
    if (lid == 0 || lid == d->cfg.id || api == NULL || lid == fr->refused_by)
        return;
    struct strata_aclient *c = peer_client(d, api);
    struct fwd_call *call = calloc(1, sizeof(*call));
    if (c == NULL || call == NULL) {
        free(call);
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, "cannot reach the leader");
        return;
    }
    call->d = d;
    call->fr = fr;
    snprintf(call->url, sizeof(call->url), "%s", api);
    /* A shallow copy: the client overwrites req_id, which the server still needs. */
    strata_env copy = *fr->env;
    copy.identity = (char *)DIRD_FWD_IDENTITY;
    uint64_t now = strata_now_ms();
    unsigned left = fr->deadline_ms > now ? (unsigned)(fr->deadline_ms - now) : 1;
    if (strata_aclient_call(c, &copy, left, fwd_done, call) != 0) {
        free(call);
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, "cannot send to the leader");
        return;
    }
    fr->call = call;
    fr->target = lid;
    d->m_forwarded++;
}

bool dird_forward(struct dird *d, struct strata_req *req, const strata_env *env)
{
    struct fwd_req *fr = calloc(1, sizeof(*fr));
    if (fr == NULL)
        return false;
    fr->req = req;
    fr->env = env;
    fr->deadline_ms = strata_now_ms() + DIRD_FWD_TIMEOUT_MS;
    fr->next = d->fwds;
    d->fwds = fr;
    fwd_route(d, fr);
    return true;
}

void dird_forward_poll(struct dird *d, uint64_t now_ms)
{
    uint64_t lid;
    const char *api;
    dird_leader(d, &lid, &api);
    struct fwd_req *next;
    for (struct fwd_req *fr = d->fwds; fr != NULL; fr = next) {
        next = fr->next;
        if (now_ms >= fr->deadline_ms) {
            fwd_finish_error(d, fr, STRATA_EUNAVAIL,
                             lid == 0 ? "no leader known" : "leader did not answer in time");
            continue;
        }
        if (lid != 0 && lid != fr->target && lid != fr->refused_by) {
            fwd_detach(fr); /* the leader changed while the request was out: follow it */
            fwd_route(d, fr);
        }
    }
}

struct fwd_cmd_ctx {
    struct dird *d;
    void (*cb)(struct dird *d, int rc, void *arg);
    void *arg;
};

static void fwd_cmd_done(int rc, strata_env *reply, void *arg)
{
    struct fwd_cmd_ctx *f = arg;
    if (rc == 0) {
        rc = reply->status;
        strata_msg_free(reply);
    }
    f->cb(f->d, rc, f->arg);
    free(f);
}

int dird_forward_cmd(struct dird *d, const Strata__V1__Command *cmd,
                     void (*cb)(struct dird *d, int rc, void *arg), void *arg)
{
    uint64_t lid;
    const char *api;
    dird_leader(d, &lid, &api);
    if (lid == 0 || api == NULL || lid == d->cfg.id)
        return STRATA_ENOTLEADER;
    struct strata_aclient *c = peer_client(d, api);
    struct fwd_cmd_ctx *f = calloc(1, sizeof(*f));
    if (c == NULL || f == NULL) {
        free(f);
        return STRATA_EUNAVAIL;
    }
    f->d = d;
    f->cb = cb;
    f->arg = arg;
    Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    wr.cmd = (Strata__V1__Command *)cmd;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    env.write = &wr;
    env.identity = (char *)DIRD_FWD_IDENTITY;
    int rc = strata_aclient_call(c, &env, DIRD_FWD_TIMEOUT_MS, fwd_cmd_done, f);
    if (rc != 0)
        free(f);
    return rc;
}

void dird_forward_close(struct dird *d)
{
    while (d->fwds != NULL)
        fwd_finish_error(d, d->fwds, STRATA_EUNAVAIL, "directory node shutting down");
    while (d->peers != NULL) {
        struct dird_fwd_peer *p = d->peers;
        d->peers = p->next;
        strata_aclient_close(p->c);
        free(p);
    }
}

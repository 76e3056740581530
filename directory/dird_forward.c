/* dird_forward.c - a follower proxies writes and cluster commands to the leader's API, keeping
 * one asynchronous client per leader URL, and relays the leader's reply to the requester.
 * Single writes are not sent one by one: the writes that arrive in one loop turn go to the
 * leader as one write_batch request (dird_forward_flush). Each proxied write costs the follower
 * and the leader an NNG exchange of its own otherwise, and that was most of a follower's CPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

static struct dird_fwd_peer *peer_get(struct dird *d, const char *url)
{
    for (struct dird_fwd_peer *p = d->peers; p != NULL; p = p->next)
        if (strcmp(p->url, url) == 0)
            return p;
    struct dird_fwd_peer *p = calloc(1, sizeof(*p));
    struct strata_err e;
    if (p == NULL)
        return NULL;
    snprintf(p->url, sizeof(p->url), "%s", url);
    struct strata_aclient_opts ao = {.server_roles = STRATA_ROLE_DIRECTORY};
    if (strata_aclient_open_opts(d->loop, url, &ao, &p->c, &e) != 0) {
        LOG_WARN("cannot open client to leader %s: %s", url, e.msg);
        free(p);
        return NULL;
    }
    p->next = d->peers;
    d->peers = p;
    return p;
}

/* A request being proxied. It follows the leader: when this node sees the leader change while
 * the request is out, the old call is abandoned (its reply dropped) and the request goes to the
 * new leader, or is handled here if this node now leads. A client thus gets its answer about one
 * election after a leader's death instead of after its own timeout. */
struct fwd_req {
    struct fwd_req *next, **pprev; /* d->fwds (doubly linked: a batch finishes many at once) */
    struct fwd_req *qnext;         /* d->fwd_q, while queued for this turn's batch */
    bool queued;
    struct strata_req *req;
    const strata_env *env;
    uint64_t target;     /* leader the current call went to (0 = waiting for a leader) */
    uint64_t refused_by; /* a leader that answered "not leader": wait for another */
    uint64_t deadline_ms;
    struct fwd_call *call;
    unsigned slot; /* in call->frs */
};

/* One aclient call carrying one request, or a batch of single writes (batched). It outlives
 * the requests it carries when they are abandoned (their slots are then NULL). */
struct fwd_call {
    struct dird *d;
    bool batched;
    unsigned n;
    char url[256];
    struct fwd_req *frs[];
};

static void fwd_route(struct dird *d, struct fwd_req *fr);

/* The leader's API URL (and *lid its id) when another node leads; NULL when this node leads or
 * no leader with an API address is known. */
static const char *fwd_remote_leader(struct dird *d, uint64_t *lid)
{
    const char *api;
    dird_leader(d, lid, &api);
    if (dird_is_leader(d) || *lid == 0 || *lid == d->cfg.id)
        return NULL;
    return api;
}

/* Has this node known no leader for longer than an election takes (one to two election
 * timeouts)? Then the directory has no quorum, and holding requests for a leader only turns the
 * client's answer into a timeout: say so at once, in words dirclient recognises ("no leader"). */
static bool fwd_no_quorum(struct dird *d, uint64_t now_ms, char *msg, size_t n)
{
    uint64_t since = d->leaderless_since_ms;
    if (since == 0 || now_ms < since + 2 * d->cfg.election_ms)
        return false;
    snprintf(msg, n,
             "no leader: the directory has no quorum (node %llu has known no leader for %llu ms)",
             (unsigned long long)d->cfg.id, (unsigned long long)(now_ms - since));
    return true;
}

/* What is left of a deadline, as a call timeout (at least 1 ms: the call then fails at once). */
static unsigned fwd_left_ms(uint64_t deadline_ms)
{
    uint64_t now = strata_now_ms();
    return deadline_ms > now ? (unsigned)(deadline_ms - now) : 1;
}

static void fwd_unqueue(struct dird *d, struct fwd_req *fr)
{
    for (struct fwd_req **pp = &d->fwd_q; *pp != NULL; pp = &(*pp)->qnext)
        if (*pp == fr) {
            *pp = fr->qnext;
            break;
        }
    fr->queued = false;
}

static void fwd_unlink(struct dird *d, struct fwd_req *fr)
{
    if (fr->queued)
        fwd_unqueue(d, fr);
    *fr->pprev = fr->next;
    if (fr->next != NULL)
        fr->next->pprev = fr->pprev;
}

static void fwd_detach(struct fwd_req *fr)
{
    if (fr->call != NULL)
        fr->call->frs[fr->slot] = NULL;
    fr->call = NULL;
}

static void fwd_finish_error(struct dird *d, struct fwd_req *fr, int code, const char *msg)
{
    fwd_detach(fr);
    fwd_unlink(d, fr);
    dird_write_observe(d, fr->req);
    dird_reply_error(fr->req, code, "%s", msg);
    free(fr);
}

static void fwd_finish_reply(struct dird *d, struct fwd_req *fr, strata_env *reply)
{
    fwd_detach(fr);
    fwd_unlink(d, fr);
    dird_write_observe(d, fr->req);
    strata_req_reply(fr->req, reply);
    free(fr);
}

/* Answer fr from its slot of a write_batch reply, as the leader would answer a single write. */
static void fwd_finish_result(struct dird *d, struct fwd_req *fr, const strata_env *reply)
{
    const Strata__V1__WriteBatchReply *br = reply->write_batch_reply;
    const Strata__V1__WriteResult *r = br->results[fr->slot];
    if (r->status != 0) {
        fwd_finish_error(d, fr, r->status,
                         r->message && *r->message ? r->message : strata_strerror(r->status));
        return;
    }
    Strata__V1__WriteReply empty = STRATA__V1__WRITE_REPLY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_REPLY;
    rep.write_reply = r->reply != NULL ? r->reply : &empty;
    fwd_finish_reply(d, fr, &rep);
}

static void fwd_done(int rc, strata_env *reply, void *arg)
{
    struct fwd_call *call = arg;
    struct dird *d = call->d;
    int status = rc != 0 ? rc : reply->status;
    char msg[320];
    if (rc != 0)
        /* The write may or may not have reached the leader: EUNAVAIL makes the client retry
         * with the same ids, which the FSM deduplicates. */
        snprintf(msg, sizeof(msg), "leader %s unreachable: %s", call->url, strata_strerror(rc));
    else
        snprintf(msg, sizeof(msg), "%s",
                 reply->message && *reply->message ? reply->message : strata_strerror(status));
    /* A leader from before write_batch refuses it as undecodable: send singly from now on. */
    bool unsupported = call->batched && rc == 0 && status == STRATA_EPROTO;
    if (unsupported)
        for (struct dird_fwd_peer *p = d->peers; p != NULL; p = p->next)
            if (strcmp(p->url, call->url) == 0 && !p->no_batch) {
                LOG_WARN("leader %s does not take write_batch (%s): forwarding writes singly",
                         call->url, msg);
                p->no_batch = true;
            }
    bool malformed = call->batched && status == 0 &&
                     (reply->body_case != STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY ||
                      reply->write_batch_reply->n_results != call->n);
    uint64_t now = strata_now_ms();
    for (unsigned i = 0; i < call->n; i++) {
        struct fwd_req *fr = call->frs[i];
        if (fr == NULL) /* re-routed or answered already */
            continue;
        fr->call = NULL;
        if (status == STRATA_ENOTLEADER && now < fr->deadline_ms) {
            /* it lost leadership after we sent: wait for the next leader (dird_forward_poll) */
            fr->refused_by = fr->target;
            fr->target = 0;
        } else if (unsupported) {
            fr->target = 0;
            fwd_route(d, fr);
        } else if (rc != 0) {
            fwd_finish_error(d, fr, STRATA_EUNAVAIL, msg);
        } else if (!call->batched) {
            fwd_finish_reply(d, fr, reply);
        } else if (status != 0) {
            fwd_finish_error(d, fr, status, msg);
        } else if (malformed) {
            fwd_finish_error(d, fr, STRATA_EPROTO, "the leader sent a malformed batch reply");
        } else {
            fwd_finish_result(d, fr, reply); /* its slot is i, set when the batch was sent */
        }
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(call);
}

static struct fwd_call *fwd_call_new(struct dird *d, unsigned n, bool batched, const char *url)
{
    struct fwd_call *call = calloc(1, sizeof(*call) + n * sizeof(call->frs[0]));
    if (call == NULL)
        return NULL;
    call->d = d;
    call->n = n;
    call->batched = batched;
    snprintf(call->url, sizeof(call->url), "%s", url);
    return call;
}

/* Send fr to the current leader (single writes: queue it for this turn's batch), hand it to the
 * local handlers if we lead, or leave it waiting for a leader. */
static void fwd_route(struct dird *d, struct fwd_req *fr)
{
    if (dird_is_leader(d)) {
        fwd_detach(fr);
        fwd_unlink(d, fr);
        struct strata_req *req = fr->req;
        const strata_env *env = fr->env;
        free(fr);
        dird_api_handle(req, env, d);
        return;
    }
    uint64_t lid;
    const char *api = fwd_remote_leader(d, &lid);
    char why[160];
    if (lid == 0 && fwd_no_quorum(d, strata_now_ms(), why, sizeof(why))) {
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, why);
        return;
    }
    if (api == NULL || lid == fr->refused_by)
        return;
    struct dird_fwd_peer *p = peer_get(d, api);
    if (p == NULL) {
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, "cannot reach the leader");
        return;
    }
    fr->target = lid;
    if (fr->env->body_case == STRATA__V1__ENVELOPE__BODY_WRITE && !p->no_batch) {
        fr->queued = true; /* in reverse order of arrival: dird_forward_flush turns it round */
        fr->qnext = d->fwd_q;
        d->fwd_q = fr;
        return;
    }
    struct fwd_call *call = fwd_call_new(d, 1, false, api);
    if (call == NULL) {
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, "cannot send to the leader");
        return;
    }
    /* A shallow copy: the client overwrites req_id, which the server still needs. */
    strata_env copy = *fr->env;
    copy.identity = (char *)DIRD_FWD_IDENTITY;
    unsigned left = fwd_left_ms(fr->deadline_ms);
    call->frs[0] = fr;
    fr->call = call;
    fr->slot = 0;
    if (strata_aclient_call(p->c, &copy, left, fwd_done, call) != 0) {
        fr->call = NULL;
        free(call);
        fwd_finish_error(d, fr, STRATA_EUNAVAIL, "cannot send to the leader");
        return;
    }
    d->m_forwarded++;
}

/* Send up to STRATA_MAX_BATCH queued writes, all meant for leader `lid`, as one request. */
static struct fwd_req *fwd_send_batch(struct dird *d, struct fwd_req *list, uint64_t lid,
                                      struct dird_fwd_peer *p)
{
    unsigned n = 0;
    for (struct fwd_req *fr = list; fr != NULL && fr->target == lid && n < STRATA_MAX_BATCH;
         fr = fr->qnext)
        n++;
    struct fwd_call *call = fwd_call_new(d, n, true, p->url);
    Strata__V1__Command **cmds = calloc(n, sizeof(*cmds));
    uint64_t deadline = 0;
    for (unsigned i = 0; i < n; i++) {
        struct fwd_req *fr = list;
        list = fr->qnext;
        fr->qnext = NULL;
        if (call == NULL || cmds == NULL) {
            fwd_finish_error(d, fr, STRATA_ENOMEM, "out of memory");
            continue;
        }
        call->frs[i] = fr;
        fr->call = call;
        fr->slot = i;
        cmds[i] = fr->env->write->cmd;
        if (fr->deadline_ms > deadline)
            deadline = fr->deadline_ms;
    }
    if (call == NULL || cmds == NULL) {
        free(call);
        free(cmds);
        return list;
    }
    Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    wb.n_cmds = n;
    wb.cmds = cmds;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
    env.write_batch = &wb;
    env.identity = (char *)DIRD_FWD_IDENTITY;
    int rc = strata_aclient_call(p->c, &env, fwd_left_ms(deadline), fwd_done, call);
    free(cmds);
    if (rc != 0) {
        for (unsigned i = 0; i < n; i++)
            fwd_finish_error(d, call->frs[i], STRATA_EUNAVAIL, "cannot send to the leader");
        free(call);
        return list;
    }
    d->m_forwarded += n;
    d->m_fwd_batches++;
    return list;
}

void dird_forward_flush(struct dird *d)
{
    struct fwd_req *list = NULL;
    while (d->fwd_q != NULL) { /* back to arrival order */
        struct fwd_req *fr = d->fwd_q;
        d->fwd_q = fr->qnext;
        fr->qnext = list;
        fr->queued = false;
        list = fr;
    }
    while (list != NULL) {
        uint64_t lid;
        const char *api = fwd_remote_leader(d, &lid);
        struct dird_fwd_peer *p = NULL;
        if (api != NULL && list->target == lid)
            p = peer_get(d, api);
        if (p == NULL || p->no_batch) {
            /* the leader changed since it was queued: route it again (it may queue again,
             * for the next turn) */
            struct fwd_req *fr = list;
            list = fr->qnext;
            fr->qnext = NULL;
            fr->target = 0;
            fwd_route(d, fr);
            continue;
        }
        list = fwd_send_batch(d, list, lid, p);
    }
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
    if (d->fwds != NULL)
        d->fwds->pprev = &fr->next;
    d->fwds = fr;
    fr->pprev = &d->fwds;
    fwd_route(d, fr);
    return true;
}

void dird_forward_poll(struct dird *d, uint64_t now_ms)
{
    if (d->fwd_q != NULL)
        dird_forward_flush(d);
    uint64_t lid;
    const char *api;
    dird_leader(d, &lid, &api);
    struct fwd_req *next;
    char why[160];
    bool no_quorum = lid == 0 && fwd_no_quorum(d, now_ms, why, sizeof(why));
    for (struct fwd_req *fr = d->fwds; fr != NULL; fr = next) {
        next = fr->next;
        if (no_quorum) {
            fwd_finish_error(d, fr, STRATA_EUNAVAIL, why);
            continue;
        }
        if (now_ms >= fr->deadline_ms) {
            fwd_finish_error(d, fr, STRATA_EUNAVAIL,
                             lid == 0 ? "no leader known" : "leader did not answer in time");
            continue;
        }
        /* queued ones are routed afresh when their batch is sent */
        if (!fr->queued && lid != 0 && lid != fr->target && lid != fr->refused_by) {
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
    const char *api = fwd_remote_leader(d, &lid);
    if (api == NULL)
        return STRATA_ENOTLEADER;
    struct dird_fwd_peer *p = peer_get(d, api);
    struct fwd_cmd_ctx *f = calloc(1, sizeof(*f));
    if (p == NULL || f == NULL) {
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
    int rc = strata_aclient_call(p->c, &env, DIRD_FWD_TIMEOUT_MS, fwd_cmd_done, f);
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

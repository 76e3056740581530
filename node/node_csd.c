/* node_csd.c - a node's connectivity-server client: HostRegister, batched resolves, the
 * UpdatesRequest long-poll, and failover to the next server of --cs within a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_csd.h"
#include "tls.h"

#define CSD_MAX_SERVERS 16
/* After every server failed in a row, wait before the next round: CSD_BACKOFF_MIN_MS, doubling
 * to CSD_BACKOFF_MAX_MS, each +-25% so that a thousand hosts cut off together do not come back
 * in step. While the wait grows each round is logged; then once per CSD_LOG_EVERY_MS. */
#define CSD_BACKOFF_MIN_MS 300
#define CSD_BACKOFF_MAX_MS 10000
#define CSD_LOG_EVERY_MS 60000

/* A resolve queued by one core: its answer goes back to that core. */
struct csd_ask {
    struct node *n;
    struct node_key key;
};

/* The resolver context given to one core. */
struct csd_bind {
    struct node_csd *c;
    struct node *n;
};

struct node_csd {
    struct strata_loop *loop;
    struct csd_bind nodes[NODE_CSD_MAX_NODES];
    size_t n_nodes;
    struct node_csd_hooks h;
    struct node_csd_opts o;
    uint32_t *vnis; /* o.vnis, owned */
    char identity[80];
    struct strata_aclient *cl[CSD_MAX_SERVERS];
    char *urls[CSD_MAX_SERVERS];
    size_t n, cur;
    uint64_t gen; /* bumped on failover: completions of an older generation are stale */
    uint64_t session, after_seq;
    bool registered, registering, polling, closing, check_on;
    unsigned holds;     /* node_csd_hold without release: the next poll waits */
    bool poll_deferred; /* a poll is due once the holds are released */
    bool hold_expired;  /* held for NODE_CSD_HOLD_MAX_MS: poll regardless */
    uv_timer_t hold_timer;
    uint64_t failovers;
    unsigned streak;        /* failed attempts in a row (0 once registered) */
    uint64_t down_since_ms; /* uv_now at the first of them */
    uint64_t last_log_ms;   /* when the backoff was last logged */
    unsigned last_delay_ms; /* the wait logged then */
    uint64_t jitter;        /* xorshift state */
    struct csd_ask *q;      /* keys to resolve at the end of this loop iteration */
    size_t qn, qcap;
    uv_check_t check;
    uv_timer_t retry;
};

struct csd_call {
    struct node_csd *c;
    uint64_t gen;
    strata_aclient_cb cb;
    void *arg;
};

static void csd_register(struct node_csd *c);
static void csd_poll(struct node_csd *c);
static void csd_retry_cb(uv_timer_t *t);

/* Why server i failed: what its connection saw ("connection refused", a TLS error), else the
 * call's error ("timed out"). */
static const char *csd_why(struct node_csd *c, size_t i, int rc)
{
    const char *why = strata_aclient_why(c->cl[i]);
    return *why ? why : strata_strerror(rc);
}

/* One more failed attempt (`why`, at server i): register again, at once while some server of
 * the list has not been tried since the last success, else after the backoff. */
static void csd_retry_later(struct node_csd *c, size_t i, const char *why)
{
    uint64_t now = uv_now(strata_loop_uv(c->loop));
    if (c->streak++ == 0) {
        c->down_since_ms = now;
        c->last_delay_ms = 0;
    }
    if (c->streak <= c->n) {
        if (c->n > 1)
            LOG_WARN("csd %s: %s: failing over to %s", c->urls[i], why, c->urls[c->cur]);
        else
            LOG_WARN("csd %s: %s: registering again", c->urls[i], why);
        csd_register(c);
        return;
    }
    unsigned round = (c->streak - c->n - 1) / (unsigned)c->n;
    unsigned delay = round >= 6 ? CSD_BACKOFF_MAX_MS : CSD_BACKOFF_MIN_MS << round;
    if (delay > CSD_BACKOFF_MAX_MS)
        delay = CSD_BACKOFF_MAX_MS;
    c->jitter ^= c->jitter << 13;
    c->jitter ^= c->jitter >> 7;
    c->jitter ^= c->jitter << 17;
    unsigned jittered = delay - delay / 4 + (unsigned)(c->jitter % (delay / 2 + 1));
    if (delay > c->last_delay_ms || now - c->last_log_ms >= CSD_LOG_EVERY_MS) {
        LOG_WARN("no connectivity server answers (%s: %s) for %.1f s, %u attempts: next in %.1f s",
                 c->urls[i], why, (double)(now - c->down_since_ms) / 1000.0, c->streak,
                 jittered / 1000.0);
        c->last_log_ms = now;
        c->last_delay_ms = delay;
    }
    uv_timer_start(&c->retry, csd_retry_cb, jittered, 0);
}

static void csd_failover(struct node_csd *c, uint64_t gen, int rc)
{
    if (c->closing || gen != c->gen)
        return; /* already moved on from that server */
    c->gen++;
    c->failovers++;
    size_t old = c->cur;
    c->cur = (c->cur + 1) % c->n;
    c->registered = false;
    c->registering = false;
    csd_retry_later(c, old, csd_why(c, old, rc));
}

static void csd_call_done(int rc, strata_env *reply, void *arg)
{
    struct csd_call *k = arg;
    if (rc != 0)
        csd_failover(k->c, k->gen, rc);
    k->cb(rc, reply, k->arg);
    free(k);
}

int node_csd_call(struct node_csd *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb,
                  void *arg)
{
    if (c->closing)
        return STRATA_EUNAVAIL;
    struct csd_call *k = malloc(sizeof(*k));
    if (k == NULL)
        return STRATA_ENOMEM;
    *k = (struct csd_call){c, c->gen, cb, arg};
    req->identity = c->identity;
    int rc = strata_aclient_call(c->cl[c->cur], req, timeout_ms, csd_call_done, k);
    if (rc != 0)
        free(k);
    return rc;
}

/* ---- resolves */

static void csd_answer_from_pb(const Strata__V1__ResolveAnswer *an, struct node_answer *out)
{
    memset(out, 0, sizeof(*out));
    out->status = an->status;
    out->found = an->found;
    out->denied = an->verdict == STRATA__V1__VERDICT__VERDICT_DENY;
    out->version = an->version;
    out->negative_ttl_ms = an->negative_ttl_ms;
    if (!an->found)
        return;
    const Strata__V1__Endpoint *ep = an->endpoint;
    if (ep == NULL || ep->mac.len != 6 ||
        strata_ip_from_bytes(ep->vtep.data, ep->vtep.len, &out->vtep, NULL) != 0) {
        out->found = false; /* unusable: treat as absent rather than install garbage */
        return;
    }
    memcpy(out->mac, ep->mac.data, 6);
    if (ep->version > out->version)
        out->version = ep->version;
}

struct csd_batch {
    struct node_csd *c;
    size_t n;
    struct csd_ask keys[];
};

static void csd_batch_done(int rc, strata_env *reply, void *arg)
{
    struct csd_batch *b = arg;
    const Strata__V1__ResolveReply *rr =
        rc == 0 && reply->status == 0 &&
                reply->body_case == STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY
            ? reply->resolve_reply
            : NULL;
    if (rr == NULL || rr->n_answers != b->n) {
        if (rc == 0)
            LOG_WARN("resolve failed: %s", reply->message ? reply->message : "bad reply");
        for (size_t i = 0; i < b->n; i++)
            node_answer_failed(b->keys[i].n, &b->keys[i].key);
    } else {
        for (size_t i = 0; i < b->n; i++) {
            struct node_answer ans;
            csd_answer_from_pb(rr->answers[i], &ans);
            node_answer(b->keys[i].n, &b->keys[i].key, &ans);
        }
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(b);
}

static void csd_flush_batch(struct node_csd *c, const struct csd_ask *keys, size_t n)
{
    struct csd_batch *b = malloc(sizeof(*b) + n * sizeof(b->keys[0]));
    Strata__V1__ResolveQuery *qs = calloc(n, sizeof(*qs));
    Strata__V1__ResolveQuery **qp = calloc(n, sizeof(*qp));
    if (b == NULL || qs == NULL || qp == NULL) {
        for (size_t i = 0; i < n; i++)
            node_answer_failed(keys[i].n, &keys[i].key);
        free(b);
        free(qs);
        free(qp);
        return;
    }
    b->c = c;
    b->n = n;
    memcpy(b->keys, keys, n * sizeof(keys[0]));
    for (size_t i = 0; i < n; i++) {
        struct node_key *k = &b->keys[i].key;
        strata__v1__resolve_query__init(&qs[i]);
        qs[i].vni = k->vni;
        qs[i].from_vni = k->vni;
        if (k->kind == NODE_KEY_IP) {
            qs[i].ip.data = k->ip.a;
            qs[i].ip.len = strata_ip_len(&k->ip);
        } else {
            qs[i].mac.data = k->mac;
            qs[i].mac.len = 6;
        }
        qp[i] = &qs[i];
    }
    Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
    rq.queries = qp;
    rq.n_queries = n;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = &rq;
    if (node_csd_call(c, &env, c->o.call_timeout_ms, csd_batch_done, b) != 0) {
        for (size_t i = 0; i < n; i++)
            node_answer_failed(keys[i].n, &keys[i].key);
        free(b);
    }
    free(qs);
    free(qp);
}

static void csd_check_cb(uv_check_t *h)
{
    struct node_csd *c = h->data;
    uv_check_stop(&c->check);
    c->check_on = false;
    size_t n = c->qn;
    c->qn = 0;
    struct csd_ask *keys = c->q;
    c->q = NULL;
    c->qcap = 0;
    for (size_t off = 0; off < n; off += STRATA_MAX_BATCH) {
        size_t m = n - off < STRATA_MAX_BATCH ? n - off : STRATA_MAX_BATCH;
        csd_flush_batch(c, keys + off, m);
    }
    free(keys);
}

static int csd_resolve(void *ctx, const struct node_key *key)
{
    struct csd_bind *bind = ctx;
    struct node_csd *c = bind->c;
    if (c->closing)
        return STRATA_EUNAVAIL;
    if (c->qn == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 64;
        struct csd_ask *q = realloc(c->q, cap * sizeof(*q));
        if (q == NULL)
            return STRATA_ENOMEM;
        c->q = q;
        c->qcap = cap;
    }
    c->q[c->qn++] = (struct csd_ask){bind->n, *key};
    if (!c->check_on) {
        c->check_on = true;
        uv_check_start(&c->check, csd_check_cb);
    }
    return 0;
}

int node_csd_attach(struct node_csd *c, struct node *n, struct strata_err *e)
{
    if (c->n_nodes == NODE_CSD_MAX_NODES)
        return strata_err_set(e, STRATA_ENOSPACE, "at most %d cores", NODE_CSD_MAX_NODES);
    struct csd_bind *b = &c->nodes[c->n_nodes++];
    *b = (struct csd_bind){c, n};
    n->res = (struct node_resolver){csd_resolve, b};
    return 0;
}

static struct node *csd_node_of(struct node_csd *c, uint32_t vni)
{
    struct node *n = c->h.node_of != NULL ? c->h.node_of(c->h.arg, vni) : NULL;
    for (size_t i = 0; n == NULL && i < c->n_nodes; i++)
        if (node_vn_find(c->nodes[i].n, vni) != NULL)
            n = c->nodes[i].n;
    return n != NULL ? n : c->n_nodes > 0 ? c->nodes[0].n : NULL;
}

static void csd_resync_all(struct node_csd *c)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        node_resync(c->nodes[i].n);
}

/* ---- VN info and flood lists */

struct csd_vn_info {
    node_csd_vn_info_cb cb;
    void *arg;
    uint32_t vni;
};

static void csd_vn_info_done(int rc, strata_env *reply, void *arg)
{
    struct csd_vn_info *f = arg;
    if (rc == 0 && reply->status == 0 &&
        reply->body_case == STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY) {
        f->cb(f->arg, 0, reply->vn_info_reply);
    } else {
        if (rc == 0)
            LOG_WARN("vn info vni=%u: %s", f->vni, reply->message ? reply->message : "bad reply");
        f->cb(f->arg, rc != 0 ? rc : reply->status != 0 ? reply->status : STRATA_EPROTO, NULL);
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(f);
}

int node_csd_fetch_vn_info(struct node_csd *c, uint32_t vni, node_csd_vn_info_cb cb, void *arg)
{
    struct csd_vn_info *f = malloc(sizeof(*f));
    if (f == NULL)
        return STRATA_ENOMEM;
    *f = (struct csd_vn_info){cb, arg, vni};
    Strata__V1__VnInfoRequest vr = STRATA__V1__VN_INFO_REQUEST__INIT;
    vr.vni = vni;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_VN_INFO;
    env.vn_info = &vr;
    int rc = node_csd_call(c, &env, c->o.call_timeout_ms, csd_vn_info_done, f);
    if (rc != 0)
        free(f);
    return rc;
}

/* The VTEPs of a flood list (VnInfoReply or Update); caller frees; NULL when out of memory. */
static struct strata_ip *csd_vteps(ProtobufCBinaryData *b, size_t n, size_t *m)
{
    struct strata_ip *v = calloc(n + 1, sizeof(*v));
    *m = 0;
    for (size_t i = 0; v != NULL && i < n; i++)
        if (strata_ip_from_bytes(b[i].data, b[i].len, &v[*m], NULL) == 0)
            (*m)++;
    return v;
}

static void csd_flood_set(struct node_csd *c, uint32_t vni, ProtobufCBinaryData *b, size_t n)
{
    struct node *core = csd_node_of(c, vni);
    size_t m;
    struct strata_ip *v = csd_vteps(b, n, &m);
    struct strata_err e;
    if (core != NULL && v != NULL && node_update_flood(core, vni, v, m, &e) != 0)
        LOG_WARN("flood list vni=%u: %s", vni, e.msg);
    free(v);
}

struct csd_flood {
    struct node_csd *c;
    uint32_t vni;
};

static void csd_flood_done(void *arg, int rc, const Strata__V1__VnInfoReply *vr)
{
    struct csd_flood *f = arg;
    if (rc == 0)
        csd_flood_set(f->c, f->vni, vr->flood_vteps, vr->n_flood_vteps);
    free(f);
}

void node_csd_fetch_flood(struct node_csd *c, uint32_t vni)
{
    struct csd_flood *f = malloc(sizeof(*f));
    if (f == NULL)
        return;
    *f = (struct csd_flood){c, vni};
    if (node_csd_fetch_vn_info(c, vni, csd_flood_done, f) != 0)
        free(f);
}

/* ---- registration and the update stream */

static void csd_retry_cb(uv_timer_t *t)
{
    csd_register(t->data);
}

static void csd_register_done(int rc, strata_env *reply, void *arg)
{
    struct node_csd *c = arg;
    if (c->closing || rc != 0)
        goto out; /* a transport failure already failed over and registers again */
    c->registering = false;
    if (reply->status != 0 || reply->body_case != STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY) {
        char why[200];
        snprintf(why, sizeof(why), "HostRegister refused: %s",
                 reply->message && *reply->message ? reply->message
                                                   : strata_strerror(reply->status));
        if (c->streak == 0)
            LOG_WARN("csd %s: %s", c->urls[c->cur], why);
        csd_retry_later(c, c->cur, why);
        goto out;
    }
    c->session = reply->host_register_reply->session;
    c->registered = true;
    if (c->streak > c->n)
        LOG_INFO("registered at %s (session %llu) after %.1f s without a server, %u attempts",
                 c->urls[c->cur], (unsigned long long)c->session,
                 (double)(uv_now(strata_loop_uv(c->loop)) - c->down_since_ms) / 1000.0, c->streak);
    else
        LOG_INFO("registered at %s (session %llu)", c->urls[c->cur],
                 (unsigned long long)c->session);
    c->streak = 0;
    if (c->h.registered != NULL)
        c->h.registered(c->h.arg, reply->host_register_reply);
    csd_resync_all(c); /* a new server knows nothing of what we hold */
    csd_poll(c);
out:
    if (reply != NULL)
        strata_msg_free(reply);
}

static void csd_register(struct node_csd *c)
{
    if (c->closing || c->registering)
        return;
    c->registering = true;
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    hr.host = (char *)c->o.host;
    hr.pod = (char *)c->o.pod;
    hr.vtep.data = c->o.vtep.a;
    hr.vtep.len = strata_ip_len(&c->o.vtep);
    hr.gateway = c->o.gateway;
    hr.vnis = c->vnis;
    hr.n_vnis = c->o.n_vnis;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    env.host_register = &hr;
    int rc = node_csd_call(c, &env, c->o.call_timeout_ms, csd_register_done, c);
    if (rc != 0) {
        c->registering = false;
        csd_retry_later(c, c->cur, strata_strerror(rc));
    }
}

static void csd_key_of(const Strata__V1__Update *u, struct node_key *k)
{
    struct strata_ip ip;
    if (u->ip.len != 0 && strata_ip_from_bytes(u->ip.data, u->ip.len, &ip, NULL) == 0)
        node_key_ip(k, u->vni, &ip);
    else if (u->mac.len == 6)
        node_key_mac(k, u->vni, u->mac.data);
    else
        k->kind = 0;
}

static void csd_apply(struct node_csd *c, const Strata__V1__Update *u)
{
    struct node *a = csd_node_of(c, u->vni);
    struct node_key k = {0};
    if (a == NULL)
        return;
    csd_key_of(u, &k);
    switch (u->kind) {
    case STRATA__V1__UPDATE_KIND__UPD_ENDPOINT:
    case STRATA__V1__UPDATE_KIND__UPD_INVALIDATE: {
        Strata__V1__ResolveAnswer an = STRATA__V1__RESOLVE_ANSWER__INIT;
        an.found = u->kind == STRATA__V1__UPDATE_KIND__UPD_ENDPOINT && u->endpoint != NULL;
        an.endpoint = u->endpoint;
        an.verdict = u->verdict;
        struct node_answer ans;
        csd_answer_from_pb(&an, &ans);
        if (k.kind != 0) {
            node_update_endpoint(a, &k, &ans);
            break;
        }
        /* No key named: every key of the endpoint. */
        if (u->endpoint == NULL)
            break;
        for (size_t i = 0; i < u->endpoint->n_ips; i++) {
            struct strata_ip ip;
            if (strata_ip_from_bytes(u->endpoint->ips[i].data, u->endpoint->ips[i].len, &ip,
                                     NULL) != 0)
                continue;
            node_key_ip(&k, u->vni, &ip);
            node_update_endpoint(a, &k, &ans);
        }
        if (u->endpoint->mac.len == 6) {
            node_key_mac(&k, u->vni, u->endpoint->mac.data);
            node_update_endpoint(a, &k, &ans);
        }
        break;
    }
    case STRATA__V1__UPDATE_KIND__UPD_FLOOD:
        csd_flood_set(c, u->vni, u->flood_vteps, u->n_flood_vteps);
        break;
    case STRATA__V1__UPDATE_KIND__UPD_RESYNC:
        csd_resync_all(c);
        break;
    default:
        /* Not the core's: the daemon's own kinds (a gateway's), in stream order. */
        if (c->h.update != NULL)
            c->h.update(c->h.arg, u);
        break;
    }
}

static void csd_poll_done(int rc, strata_env *reply, void *arg)
{
    struct csd_call *k = arg; /* only its gen is read: c and gen */
    struct node_csd *c = k->c;
    uint64_t gen = k->gen;
    free(k);
    c->polling = false;
    if (c->closing)
        goto out;
    if (gen != c->gen) {
        csd_poll(c);
        goto out;
    }
    if (rc != 0)
        goto out; /* failed over: the new registration restarts the poll */
    if (reply->status != 0 || reply->body_case != STRATA__V1__ENVELOPE__BODY_UPDATES_REPLY) {
        char why[200];
        snprintf(why, sizeof(why), "updates refused: %s",
                 reply->message && *reply->message ? reply->message : "bad reply");
        if (c->streak == 0)
            LOG_WARN("csd %s: %s: registering again", c->urls[c->cur], why);
        c->registered = false;
        csd_retry_later(c, c->cur, why);
        goto out;
    }
    const Strata__V1__UpdatesReply *ur = reply->updates_reply;
    if (ur->resync || ur->session != c->session) {
        /* The server lost our stream (or restarted): register again, which resyncs. */
        LOG_INFO("updates: resync asked by %s", c->urls[c->cur]);
        c->registered = false;
        csd_register(c);
        goto out;
    }
    for (size_t i = 0; i < ur->n_updates; i++) {
        const Strata__V1__Update *u = ur->updates[i];
        if (u->seq <= c->after_seq)
            continue;
        if (c->after_seq != 0 && u->seq > c->after_seq + 1) {
            /* Sequence numbers are contiguous per session: a hole means lost updates. */
            LOG_WARN("updates: gap after seq %llu (got %llu): resynchronising",
                     (unsigned long long)c->after_seq, (unsigned long long)u->seq);
            c->after_seq = u->seq - 1;
            c->registered = false;
            csd_register(c);
            goto out;
        }
        c->after_seq = u->seq;
        csd_apply(c, u);
    }
    csd_poll(c);
out:
    if (reply != NULL)
        strata_msg_free(reply);
}

static void csd_poll_cb(int rc, strata_env *reply, void *arg)
{
    csd_poll_done(rc, reply, arg);
}

static void csd_poll(struct node_csd *c)
{
    if (c->closing || !c->registered || c->polling)
        return;
    if (c->holds > 0 && !c->hold_expired) {
        c->poll_deferred = true; /* it would acknowledge what is not applied yet */
        return;
    }
    struct csd_call *k = malloc(sizeof(*k));
    if (k == NULL)
        return;
    *k = (struct csd_call){c, c->gen, NULL, NULL};
    Strata__V1__UpdatesRequest ur = STRATA__V1__UPDATES_REQUEST__INIT;
    ur.host = (char *)c->o.host;
    ur.session = c->session;
    ur.after_seq = c->after_seq;
    ur.wait_ms = c->o.poll_wait_ms;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES;
    env.updates = &ur;
    c->polling = true;
    if (node_csd_call(c, &env, c->o.poll_wait_ms + c->o.call_timeout_ms, csd_poll_cb, k) != 0) {
        c->polling = false;
        free(k);
    }
}

static void csd_hold_cb(uv_timer_t *t)
{
    struct node_csd *c = t->data;
    c->hold_expired = true;
    if (c->poll_deferred) {
        c->poll_deferred = false;
        csd_poll(c);
    }
}

void node_csd_hold(struct node_csd *c)
{
    if (c->closing || c->holds++ > 0)
        return;
    c->hold_expired = false;
    uv_timer_start(&c->hold_timer, csd_hold_cb, NODE_CSD_HOLD_MAX_MS, 0);
}

void node_csd_release(struct node_csd *c)
{
    if (c->holds == 0 || --c->holds > 0 || c->closing)
        return;
    uv_timer_stop(&c->hold_timer);
    c->hold_expired = false;
    if (c->poll_deferred) {
        c->poll_deferred = false;
        csd_poll(c);
    }
}

/* ---- lifecycle */

int node_csd_new(struct strata_loop *loop, const struct node_csd_opts *o,
                 const struct node_csd_hooks *h, struct node_csd **out, struct strata_err *e)
{
    struct node_csd *c = calloc(1, sizeof(*c));
    if (c == NULL || (o->n_vnis > 0 && (c->vnis = calloc(o->n_vnis, sizeof(*c->vnis))) == NULL)) {
        free(c);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    c->loop = loop;
    c->o = *o;
    if (o->n_vnis > 0)
        memcpy(c->vnis, o->vnis, o->n_vnis * sizeof(*c->vnis));
    c->o.vnis = c->vnis;
    if (h != NULL)
        c->h = *h;
    snprintf(c->identity, sizeof(c->identity), "%s:%s", o->gateway ? "gw" : "host", o->host);
    char *list = strdup(o->urls);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        if (c->n == CSD_MAX_SERVERS) {
            rc = strata_err_set(e, STRATA_EINVAL, "--cs: at most %d servers", CSD_MAX_SERVERS);
            break;
        }
        c->urls[c->n] = strdup(tok);
        struct strata_aclient_opts co = o->client;
        if (co.server_roles == 0) /* an agent's or gateway's servers are connectivity servers */
            co.server_roles = STRATA_ROLE_CONNECTIVITY;
        rc = strata_aclient_open_opts(loop, tok, &co, &c->cl[c->n], e);
        if (rc == 0)
            c->n++;
        else
            free(c->urls[c->n]);
    }
    free(list);
    if (rc == 0 && c->n == 0)
        rc = strata_err_set(e, STRATA_EINVAL, "--cs: no server given");
    if (rc != 0) {
        for (size_t i = 0; i < c->n; i++) {
            strata_aclient_close(c->cl[i]);
            free(c->urls[i]);
        }
        free(c->vnis);
        free(c);
        return rc;
    }
    uv_loop_t *uv = strata_loop_uv(loop);
    uv_check_init(uv, &c->check);
    c->check.data = c;
    uv_timer_init(uv, &c->retry);
    c->retry.data = c;
    uv_timer_init(uv, &c->hold_timer);
    c->hold_timer.data = c;
    c->jitter = uv_hrtime() | 1;
    *out = c;
    return 0;
}

void node_csd_start(struct node_csd *c)
{
    csd_register(c);
}

bool node_csd_registered(const struct node_csd *c)
{
    return c->registered;
}

const char *node_csd_current_url(const struct node_csd *c)
{
    return c->urls[c->cur];
}

uint64_t *node_csd_failovers(struct node_csd *c)
{
    return &c->failovers;
}

void node_csd_close(struct node_csd *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_check_stop(&c->check);
    uv_timer_stop(&c->retry);
    uv_close((uv_handle_t *)&c->check, NULL);
    uv_close((uv_handle_t *)&c->retry, NULL);
    uv_timer_stop(&c->hold_timer);
    uv_close((uv_handle_t *)&c->hold_timer, NULL);
    for (size_t i = 0; i < c->n; i++)
        strata_aclient_close(c->cl[i]); /* in-flight callbacks fire with EUNAVAIL */
}

void node_csd_free(struct node_csd *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->urls[i]);
    free(c->q);
    free(c->vnis);
    free(c);
}

/* agent_csd.c - the agent's connectivity-server client: HostRegister, batched resolves, the
 * UpdatesRequest long-poll, and failover to the next server of --cs within a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "log.h"

#define CSD_MAX_SERVERS 16
#define CSD_RETRY_MS 300

struct agent_csd {
    struct strata_loop *loop;
    struct agent *a;
    struct agent_csd_opts o;
    char identity[80];
    struct strata_aclient *cl[CSD_MAX_SERVERS];
    char *urls[CSD_MAX_SERVERS];
    size_t n, cur;
    uint64_t gen; /* bumped on failover: completions of an older generation are stale */
    uint64_t session, after_seq;
    bool registered, registering, polling, closing, check_on;
    uint64_t failovers;
    agent_csd_registered_cb on_registered;
    void *on_registered_arg;
    struct agent_key *q; /* keys to resolve at the end of this loop iteration */
    size_t qn, qcap;
    uv_check_t check;
    uv_timer_t retry;
};

struct csd_call {
    struct agent_csd *c;
    uint64_t gen;
    strata_aclient_cb cb;
    void *arg;
};

static void csd_register(struct agent_csd *c);
static void csd_poll(struct agent_csd *c);

static void csd_failover(struct agent_csd *c, uint64_t gen)
{
    if (c->closing || gen != c->gen)
        return; /* already moved on from that server */
    c->gen++;
    c->failovers++;
    size_t old = c->cur;
    c->cur = (c->cur + 1) % c->n;
    c->registered = false;
    c->registering = false;
    LOG_WARN("csd %s failed: failing over to %s", c->urls[old], c->urls[c->cur]);
    csd_register(c);
}

static void csd_call_done(int rc, strata_env *reply, void *arg)
{
    struct csd_call *k = arg;
    if (rc != 0)
        csd_failover(k->c, k->gen);
    k->cb(rc, reply, k->arg);
    free(k);
}

int agent_csd_call(struct agent_csd *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb,
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

static void csd_answer_from_pb(const Strata__V1__ResolveAnswer *an, struct agent_answer *out)
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
    struct agent_csd *c;
    size_t n;
    struct agent_key keys[];
};

static void csd_batch_done(int rc, strata_env *reply, void *arg)
{
    struct csd_batch *b = arg;
    struct agent *a = b->c->a;
    const Strata__V1__ResolveReply *rr =
        rc == 0 && reply->status == 0 &&
                reply->body_case == STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY
            ? reply->resolve_reply
            : NULL;
    if (rr == NULL || rr->n_answers != b->n) {
        if (rc == 0)
            LOG_WARN("resolve failed: %s", reply->message ? reply->message : "bad reply");
        for (size_t i = 0; i < b->n; i++)
            agent_answer_failed(a, &b->keys[i]);
    } else {
        for (size_t i = 0; i < b->n; i++) {
            struct agent_answer ans;
            csd_answer_from_pb(rr->answers[i], &ans);
            agent_answer(a, &b->keys[i], &ans);
        }
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(b);
}

static void csd_flush_batch(struct agent_csd *c, const struct agent_key *keys, size_t n)
{
    struct csd_batch *b = malloc(sizeof(*b) + n * sizeof(b->keys[0]));
    Strata__V1__ResolveQuery *qs = calloc(n, sizeof(*qs));
    Strata__V1__ResolveQuery **qp = calloc(n, sizeof(*qp));
    if (b == NULL || qs == NULL || qp == NULL) {
        for (size_t i = 0; i < n; i++)
            agent_answer_failed(c->a, &keys[i]);
        free(b);
        free(qs);
        free(qp);
        return;
    }
    b->c = c;
    b->n = n;
    memcpy(b->keys, keys, n * sizeof(keys[0]));
    for (size_t i = 0; i < n; i++) {
        strata__v1__resolve_query__init(&qs[i]);
        qs[i].vni = b->keys[i].vni;
        qs[i].from_vni = b->keys[i].vni;
        if (b->keys[i].kind == AGENT_KEY_IP) {
            qs[i].ip.data = b->keys[i].ip.a;
            qs[i].ip.len = strata_ip_len(&b->keys[i].ip);
        } else {
            qs[i].mac.data = b->keys[i].mac;
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
    if (agent_csd_call(c, &env, c->o.call_timeout_ms, csd_batch_done, b) != 0) {
        for (size_t i = 0; i < n; i++)
            agent_answer_failed(c->a, &keys[i]);
        free(b);
    }
    free(qs);
    free(qp);
}

static void csd_check_cb(uv_check_t *h)
{
    struct agent_csd *c = h->data;
    uv_check_stop(&c->check);
    c->check_on = false;
    size_t n = c->qn;
    c->qn = 0;
    struct agent_key *keys = c->q;
    c->q = NULL;
    c->qcap = 0;
    for (size_t off = 0; off < n; off += STRATA_MAX_BATCH) {
        size_t m = n - off < STRATA_MAX_BATCH ? n - off : STRATA_MAX_BATCH;
        csd_flush_batch(c, keys + off, m);
    }
    free(keys);
}

static int csd_resolve(void *ctx, const struct agent_key *key)
{
    struct agent_csd *c = ctx;
    if (c->closing)
        return STRATA_EUNAVAIL;
    if (c->qn == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 64;
        struct agent_key *q = realloc(c->q, cap * sizeof(*q));
        if (q == NULL)
            return STRATA_ENOMEM;
        c->q = q;
        c->qcap = cap;
    }
    c->q[c->qn++] = *key;
    if (!c->check_on) {
        c->check_on = true;
        uv_check_start(&c->check, csd_check_cb);
    }
    return 0;
}

struct agent_resolver agent_csd_resolver(struct agent_csd *c)
{
    return (struct agent_resolver){csd_resolve, c};
}

/* ---- flood lists */

struct csd_flood {
    struct agent_csd *c;
    uint32_t vni;
};

static void csd_flood_done(int rc, strata_env *reply, void *arg)
{
    struct csd_flood *f = arg;
    if (rc == 0 && reply->status == 0 &&
        reply->body_case == STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY) {
        const Strata__V1__VnInfoReply *vr = reply->vn_info_reply;
        struct strata_ip *v = calloc(vr->n_flood_vteps + 1, sizeof(*v));
        size_t m = 0;
        for (size_t i = 0; v != NULL && i < vr->n_flood_vteps; i++)
            if (strata_ip_from_bytes(vr->flood_vteps[i].data, vr->flood_vteps[i].len, &v[m],
                                     NULL) == 0)
                m++;
        struct strata_err e;
        if (v != NULL && agent_update_flood(f->c->a, f->vni, v, m, &e) != 0)
            LOG_WARN("flood list vni=%u: %s", f->vni, e.msg);
        free(v);
    } else if (rc == 0) {
        LOG_WARN("vn info vni=%u: %s", f->vni, reply->message ? reply->message : "bad reply");
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(f);
}

void agent_csd_fetch_flood(struct agent_csd *c, uint32_t vni)
{
    struct csd_flood *f = malloc(sizeof(*f));
    if (f == NULL)
        return;
    *f = (struct csd_flood){c, vni};
    Strata__V1__VnInfoRequest vr = STRATA__V1__VN_INFO_REQUEST__INIT;
    vr.vni = vni;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_VN_INFO;
    env.vn_info = &vr;
    if (agent_csd_call(c, &env, c->o.call_timeout_ms, csd_flood_done, f) != 0)
        free(f);
}

/* ---- registration and the update stream */

static void csd_retry_cb(uv_timer_t *t)
{
    csd_register(t->data);
}

static void csd_register_done(int rc, strata_env *reply, void *arg)
{
    struct agent_csd *c = arg;
    if (c->closing || rc != 0)
        goto out; /* a transport failure already failed over and registers again */
    c->registering = false;
    if (reply->status != 0 || reply->body_case != STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY) {
        LOG_WARN("HostRegister at %s: %s", c->urls[c->cur],
                 reply->message && *reply->message ? reply->message
                                                   : strata_strerror(reply->status));
        uv_timer_start(&c->retry, csd_retry_cb, CSD_RETRY_MS, 0);
        goto out;
    }
    c->session = reply->host_register_reply->session;
    c->registered = true;
    LOG_INFO("registered at %s (session %llu)", c->urls[c->cur], (unsigned long long)c->session);
    if (c->on_registered != NULL)
        c->on_registered(c->on_registered_arg);
    agent_resync(c->a); /* a new server knows nothing of what we hold */
    csd_poll(c);
out:
    if (reply != NULL)
        strata_msg_free(reply);
}

static void csd_register(struct agent_csd *c)
{
    if (c->closing || c->registering)
        return;
    c->registering = true;
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    hr.host = (char *)c->o.host;
    hr.pod = (char *)c->o.pod;
    hr.vtep.data = c->o.vtep.a;
    hr.vtep.len = strata_ip_len(&c->o.vtep);
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    env.host_register = &hr;
    if (agent_csd_call(c, &env, c->o.call_timeout_ms, csd_register_done, c) != 0) {
        c->registering = false;
        uv_timer_start(&c->retry, csd_retry_cb, CSD_RETRY_MS, 0);
    }
}

static void csd_key_of(const Strata__V1__Update *u, struct agent_key *k)
{
    struct strata_ip ip;
    if (u->ip.len != 0 && strata_ip_from_bytes(u->ip.data, u->ip.len, &ip, NULL) == 0)
        agent_key_ip(k, u->vni, &ip);
    else if (u->mac.len == 6)
        agent_key_mac(k, u->vni, u->mac.data);
    else
        k->kind = 0;
}

static void csd_apply(struct agent_csd *c, const Strata__V1__Update *u)
{
    struct agent *a = c->a;
    struct agent_key k = {0};
    csd_key_of(u, &k);
    switch (u->kind) {
    case STRATA__V1__UPDATE_KIND__UPD_ENDPOINT:
    case STRATA__V1__UPDATE_KIND__UPD_INVALIDATE: {
        Strata__V1__ResolveAnswer an = STRATA__V1__RESOLVE_ANSWER__INIT;
        an.found = u->kind == STRATA__V1__UPDATE_KIND__UPD_ENDPOINT && u->endpoint != NULL;
        an.endpoint = u->endpoint;
        an.verdict = u->verdict;
        struct agent_answer ans;
        csd_answer_from_pb(&an, &ans);
        if (k.kind != 0) {
            agent_update_endpoint(a, &k, &ans);
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
            agent_key_ip(&k, u->vni, &ip);
            agent_update_endpoint(a, &k, &ans);
        }
        if (u->endpoint->mac.len == 6) {
            agent_key_mac(&k, u->vni, u->endpoint->mac.data);
            agent_update_endpoint(a, &k, &ans);
        }
        break;
    }
    case STRATA__V1__UPDATE_KIND__UPD_FLOOD: {
        struct strata_ip *v = calloc(u->n_flood_vteps + 1, sizeof(*v));
        size_t m = 0;
        for (size_t i = 0; v != NULL && i < u->n_flood_vteps; i++)
            if (strata_ip_from_bytes(u->flood_vteps[i].data, u->flood_vteps[i].len, &v[m], NULL) ==
                0)
                m++;
        struct strata_err e;
        if (v != NULL && agent_update_flood(a, u->vni, v, m, &e) != 0)
            LOG_WARN("flood vni=%u: %s", u->vni, e.msg);
        free(v);
        break;
    }
    case STRATA__V1__UPDATE_KIND__UPD_RESYNC:
        agent_resync(a);
        break;
    default:
        break;
    }
}

static void csd_poll_done(int rc, strata_env *reply, void *arg)
{
    struct csd_call *k = arg; /* only its gen is read: c and gen */
    struct agent_csd *c = k->c;
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
        LOG_WARN("updates: %s: registering again",
                 reply->message && *reply->message ? reply->message : "bad reply");
        c->registered = false;
        uv_timer_start(&c->retry, csd_retry_cb, CSD_RETRY_MS, 0);
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

static void csd_poll(struct agent_csd *c)
{
    if (c->closing || !c->registered || c->polling)
        return;
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
    if (agent_csd_call(c, &env, c->o.poll_wait_ms + c->o.call_timeout_ms, csd_poll_cb, k) != 0) {
        c->polling = false;
        free(k);
    }
}

/* ---- lifecycle */

int agent_csd_new(struct strata_loop *loop, struct agent *a, const struct agent_csd_opts *o,
                  agent_csd_registered_cb cb, void *arg, struct agent_csd **out,
                  struct strata_err *e)
{
    struct agent_csd *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    c->loop = loop;
    c->a = a;
    c->o = *o;
    c->on_registered = cb;
    c->on_registered_arg = arg;
    snprintf(c->identity, sizeof(c->identity), "host:%s", o->host);
    char *list = strdup(o->urls);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        if (c->n == CSD_MAX_SERVERS) {
            rc = strata_err_set(e, STRATA_EINVAL, "--cs: at most %d servers", CSD_MAX_SERVERS);
            break;
        }
        c->urls[c->n] = strdup(tok);
        rc = strata_aclient_open(loop, tok, &c->cl[c->n], e);
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
        free(c);
        return rc;
    }
    uv_loop_t *uv = strata_loop_uv(loop);
    uv_check_init(uv, &c->check);
    c->check.data = c;
    uv_timer_init(uv, &c->retry);
    c->retry.data = c;
    *out = c;
    return 0;
}

void agent_csd_start(struct agent_csd *c)
{
    csd_register(c);
}

bool agent_csd_registered(const struct agent_csd *c)
{
    return c->registered;
}

const char *agent_csd_current_url(const struct agent_csd *c)
{
    return c->urls[c->cur];
}

uint64_t *agent_csd_failovers(struct agent_csd *c)
{
    return &c->failovers;
}

void agent_csd_close(struct agent_csd *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_check_stop(&c->check);
    uv_timer_stop(&c->retry);
    uv_close((uv_handle_t *)&c->check, NULL);
    uv_close((uv_handle_t *)&c->retry, NULL);
    for (size_t i = 0; i < c->n; i++)
        strata_aclient_close(c->cl[i]); /* in-flight callbacks fire with EUNAVAIL */
}

void agent_csd_free(struct agent_csd *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->urls[i]);
    free(c->q);
    free(c);
}

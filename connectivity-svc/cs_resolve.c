/* cs_resolve.c - an agent's ResolveRequest: authorize every VN it names, answer each query from
 * the cache or (once per key, batched) from the directory, record the asker in the key's
 * interest set so later changes reach it, and reply when the last answer is in. */
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "log.h"

struct rans {
    int status;
    char *msg;
    bool found;
    uint8_t mac[6];
    uint8_t vtep_len;
    uint8_t vtep[16];
    const char *host; /* interned by the cache (never freed while the server runs) or NULL */
    char *host_own;   /* when the answer was not cacheable */
    uint64_t version;
    uint32_t neg_ttl_ms;
    int verdict;
};

struct job {
    struct cs *cs;
    struct strata_req *req;
    const strata_env *env;
    struct cs_ident id;
    uint32_t sid;    /* session id, or UINT32_MAX for the operator */
    uint64_t sepoch; /* ... and its epoch: the session may end while the job waits */
    size_t n, outstanding, auth_next;
    uint32_t asking_vni; /* the VN whose membership the directory is being asked about */
    bool upstream;       /* some answer came from the directory */
    struct rans a[];     /* one per query, allocated with the job: one malloc per request */
};

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->a[i].msg);
        free(j->a[i].host_own);
    }
    free(j);
}

static void job_reply(struct job *j)
{
    struct cs *cs = j->cs;
    /* the reply's arrays in one block (this is the hot path of every cached answer) */
    size_t n = j->n;
    char *block = malloc(n * (sizeof(Strata__V1__ResolveAnswer) + sizeof(void *) +
                              sizeof(Strata__V1__Endpoint) + sizeof(ProtobufCBinaryData)));
    if (block == NULL) {
        strata_req_error(j->req, STRATA_ENOMEM, "out of memory");
        job_free(j);
        return;
    }
    Strata__V1__ResolveAnswer *ans = (Strata__V1__ResolveAnswer *)block;
    Strata__V1__Endpoint *ep = (Strata__V1__Endpoint *)(ans + n);
    ProtobufCBinaryData *ips = (ProtobufCBinaryData *)(ep + n);
    Strata__V1__ResolveAnswer **ap = (Strata__V1__ResolveAnswer **)(ips + n);
    const Strata__V1__ResolveRequest *rq = j->env->resolve;
    for (size_t i = 0; i < j->n; i++) {
        const Strata__V1__ResolveQuery *q = rq->queries[i];
        struct rans *r = &j->a[i];
        strata__v1__resolve_answer__init(&ans[i]);
        ap[i] = &ans[i];
        ans[i].status = r->status;
        ans[i].message = r->msg;
        if (r->status != 0)
            continue;
        ans[i].found = r->found;
        ans[i].version = r->version;
        ans[i].verdict = r->verdict;
        if (!r->found) {
            ans[i].negative_ttl_ms = r->neg_ttl_ms;
            continue;
        }
        strata__v1__endpoint__init(&ep[i]);
        ep[i].vni = q->vni;
        ep[i].mac.data = r->mac;
        ep[i].mac.len = 6;
        if (q->ip.len) {
            ips[i] = q->ip;
            ep[i].ips = &ips[i];
            ep[i].n_ips = 1;
        }
        ep[i].host = (char *)(r->host ? r->host : "");
        ep[i].vtep.data = r->vtep;
        ep[i].vtep.len = r->vtep_len;
        ep[i].version = r->version;
        ans[i].endpoint = &ep[i];
    }
    Strata__V1__ResolveReply rr = STRATA__V1__RESOLVE_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    rr.answers = ap;
    rr.n_answers = j->n;
    rr.applied_index = cs->feed_index;
    rr.tier = (char *)(j->upstream ? "cs-directory" : "cs-cache");
    rr.elapsed_us = strata_now_us() - strata_req_arrival_us(j->req);
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY;
    env.resolve_reply = &rr;
    strata_req_reply(j->req, &env);
    free(block);
    job_free(j);
}

/* Fill answer r from a cache entry and make the asker a holder of it. */
static void from_entry(struct job *j, struct rans *r, struct cs_entry *e, uint64_t now_ms)
{
    r->found = e->found;
    r->version = e->version;
    if (e->found) {
        memcpy(r->mac, e->mac, 6);
        r->vtep_len = e->vtep_len;
        memcpy(r->vtep, e->vtep, e->vtep_len);
        r->host = cs_cache_host_name(j->cs->cache, e->host);
    } else {
        r->neg_ttl_ms = e->expire_ms > now_ms ? (uint32_t)(e->expire_ms - now_ms) : 0;
    }
    /* An ended session's id may belong to another one by now: record only a live asker. */
    if (j->sid != UINT32_MAX && cs_agents_lookup(j->cs->agents, j->sid, j->sepoch) != NULL &&
        cs_cache_holder_add(j->cs->cache, e, j->sid) < 0)
        LOG_WARN("resolve: out of memory recording interest");
}

static void waiter_done(void *arg, uint32_t idx, int status, const char *msg, struct cs_entry *e,
                        const Strata__V1__ResolveAnswer *ans)
{
    struct job *j = arg;
    struct rans *r = &j->a[idx];
    r->status = status;
    if (status != 0) {
        r->msg = strdup(msg && *msg ? msg : strata_strerror(status));
    } else if (e != NULL) {
        from_entry(j, r, e, strata_now_ms());
        r->verdict = ans ? ans->verdict : STRATA__V1__VERDICT__VERDICT_ALLOW;
    } else if (ans != NULL) {
        /* answered but not cacheable: pass it on as the directory said */
        r->found = ans->found && ans->endpoint && ans->endpoint->mac.len == 6;
        r->version = ans->version;
        r->verdict = ans->verdict;
        r->neg_ttl_ms = ans->negative_ttl_ms;
        if (r->found) {
            memcpy(r->mac, ans->endpoint->mac.data, 6);
            if (ans->endpoint->vtep.len == 4 || ans->endpoint->vtep.len == 16) {
                r->vtep_len = (uint8_t)ans->endpoint->vtep.len;
                memcpy(r->vtep, ans->endpoint->vtep.data, r->vtep_len);
            }
            r->host_own = strdup(ans->endpoint->host ? ans->endpoint->host : "");
            r->host = r->host_own;
        }
    }
    if (--j->outstanding == 0)
        job_reply(j);
}

/* Answer what the cache can; send the rest upstream. */
static void job_lookup(struct job *j)
{
    struct cs *cs = j->cs;
    const Strata__V1__ResolveRequest *rq = j->env->resolve;
    uint64_t now = strata_now_ms();
    j->outstanding = 1; /* held by this function so replies cannot fire before it returns */
    for (size_t i = 0; i < j->n; i++) {
        const Strata__V1__ResolveQuery *q = rq->queries[i];
        struct rans *r = &j->a[i];
        struct cs_key k;
        if (q->mac.len == 6 && q->ip.len == 0) {
            cs_key_mac(q->vni, q->mac.data, &k);
        } else if (q->mac.len == 0 && cs_key_ip(q->vni, q->ip.data, q->ip.len, &k) == 0) {
        } else {
            r->status = STRATA_EINVAL;
            r->msg = strdup("a query names exactly one of ip (4 or 16 bytes) or mac (6 bytes)");
            continue;
        }
        uint32_t from = q->from_vni == q->vni ? 0 : q->from_vni;
        int verdict = from == 0 ? STRATA__V1__VERDICT__VERDICT_ALLOW
                                : cs_verdict_get(cs->cache, from, q->vni);
        struct cs_entry *e = verdict >= 0 ? cs_cache_lookup(cs->cache, &k, now) : NULL;
        if (e != NULL) {
            if (e->found)
                cs->ctr.hits++;
            else
                cs->ctr.negative_hits++;
            from_entry(j, r, e, now);
            r->verdict = verdict;
            continue;
        }
        cs->ctr.misses++;
        j->outstanding++;
        j->upstream = true;
        int rc = cs_up_resolve(cs->up, &k, from, waiter_done, j, (uint32_t)i);
        if (rc != 0) {
            j->outstanding--;
            r->status = rc;
            r->msg = strdup(strata_strerror(rc));
        }
    }
    if (--j->outstanding == 0)
        job_reply(j);
}

static void job_auth(struct job *j);

static void auth_checked(void *arg, int rc)
{
    struct job *j = arg;
    if (rc == 0) {
        job_auth(j);
        return;
    }
    struct strata_err e;
    if (rc == STRATA_EDENIED)
        cs_auth_vni_refused(&j->id, j->asking_vni, &e);
    else
        strata_err_set(&e, rc, "cannot check VN membership: %s", strata_strerror(rc));
    j->cs->ctr.denied += rc == STRATA_EDENIED;
    strata_req_error(j->req, e.code, "%s", e.msg);
    job_free(j);
}

/* Every VN a query names (its own and its source VN) must have a port of the asker. */
static void job_auth(struct job *j)
{
    struct cs *cs = j->cs;
    const Strata__V1__ResolveRequest *rq = j->env->resolve;
    struct cs_session *s =
        j->sid == UINT32_MAX ? NULL : cs_agents_lookup(cs->agents, j->sid, j->sepoch);
    uint64_t now = strata_now_ms();
    for (; j->auth_next < j->n; j->auth_next++) {
        const Strata__V1__ResolveQuery *q = rq->queries[j->auth_next];
        uint32_t vnis[2] = {q->vni, q->from_vni};
        for (int v = 0; v < 2; v++) {
            if (vnis[v] == 0)
                continue;
            struct strata_err e;
            int rc = cs_auth_vni(&j->id, s, vnis[v], now, &e);
            if (rc == CS_AUTH_ASK) {
                j->asking_vni = vnis[v];
                cs_ports_check_vni(cs, s, vnis[v], auth_checked, j);
                return;
            }
            if (rc != 0) {
                cs->ctr.denied++;
                strata_req_error(j->req, e.code, "%s", e.msg);
                job_free(j);
                return;
            }
        }
    }
    job_lookup(j);
}

void cs_resolve_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                       const struct cs_ident *id, struct cs_session *s)
{
    cs->ctr.resolve_requests++;
    const Strata__V1__ResolveRequest *rq = env->resolve;
    if (rq->n_queries == 0 || rq->n_queries > STRATA_MAX_BATCH) {
        strata_req_error(req, STRATA_EINVAL, "a resolve carries 1..%d queries, not %zu",
                         STRATA_MAX_BATCH, rq->n_queries);
        return;
    }
    if (rq->linearizable) {
        /* answers come from the cache, which lags the directory: saying yes would be a lie */
        strata_req_error(req, STRATA_EINVAL,
                         "a connectivity server answers from its cache: ask the directory for a "
                         "linearizable read");
        return;
    }
    struct job *j = calloc(1, sizeof(*j) + rq->n_queries * sizeof(j->a[0]));
    if (j == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    j->cs = cs;
    j->req = req;
    j->env = env;
    j->id = *id;
    j->sid = s ? s->id : UINT32_MAX;
    j->sepoch = s ? s->epoch : 0;
    j->n = rq->n_queries;
    job_auth(j);
}

bool cs_value_of_answer(const Strata__V1__ResolveAnswer *ans, struct cs_value *v)
{
    const Strata__V1__Endpoint *ep = ans->endpoint;
    if (ans->status != 0 || !ans->found || ep == NULL || ep->mac.len != 6)
        return false;
    *v = (struct cs_value){.found = true, .host = ep->host};
    memcpy(v->mac, ep->mac.data, 6);
    if (ep->vtep.len == 4 || ep->vtep.len == 16) {
        v->vtep_len = (uint8_t)ep->vtep.len;
        memcpy(v->vtep, ep->vtep.data, ep->vtep.len);
    }
    v->version = ep->version ? ep->version : ans->version;
    return true;
}

struct cs_entry *cs_resolve_learn(struct cs *cs, const struct cs_key *k, uint32_t from_vni,
                                  const Strata__V1__ResolveAnswer *ans)
{
    if (ans->status != 0)
        return NULL;
    if (from_vni != 0 && from_vni != k->vni)
        cs_verdict_put(cs->cache, from_vni, k->vni, ans->verdict);
    struct cs_value v = {0};
    uint64_t now = strata_now_ms();
    if (cs_value_of_answer(ans, &v)) {
        /* stored below */
    } else if (ans->found) {
        return NULL; /* a positive answer without a usable endpoint: do not keep it */
    } else {
        uint64_t ttl = cs->negative_ttl_ms;
        if (ans->negative_ttl_ms != 0 && ans->negative_ttl_ms < ttl)
            ttl = ans->negative_ttl_ms;
        if (ttl == 0)
            return NULL;
        v.version = ans->version;
        v.expire_ms = now + ttl;
    }
    struct cs_entry *e = NULL;
    int rc = cs_cache_put(cs->cache, k, &v, now, &e);
    return rc < 0 ? NULL : e;
}

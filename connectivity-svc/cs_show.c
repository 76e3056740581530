/* cs_show.c - what strata-csd tells about itself (cache show, counters, Prometheus metrics) and
 * the briefly cached VN information agents ask for (subnets, gateways, flood list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "log.h"

#define SHOW_MAX_ENTRIES 20000 /* most recently used first; keeps the reply well under 4 MiB */
#define SHOW_MAX_HOLDERS 32    /* per entry */
#define SHOW_MAX_HOLDERS_TOTAL 100000 /* per reply */
#define VNINFO_TTL_MS 1000
#define VNINFO_MAX 4096

/* ---------------------------------------------------------------- counters and metrics */

static const struct {
    const char *name;
    size_t off;
    enum strata_metric_kind kind;
    const char *help;
} counters[] = {
#define C(f, k, h)                                                                                 \
    {                                                                                              \
#f, offsetof(struct cs_counters, f), STRATA_METRIC_##k, h                                  \
    }
    C(hits, COUNTER, "resolutions answered from the cache"),
    C(misses, COUNTER, "resolutions sent to the directory"),
    C(negative_hits, COUNTER, "negative answers served from the cache"),
    C(evictions, COUNTER, "cache entries dropped by the LRU bound"),
    C(entries, GAUGE, "cached keys"),
    C(cache_bytes, GAUGE, "bytes held by the cache structures"),
    C(upstream_requests, COUNTER, "resolve requests sent to the directory"),
    C(upstream_errors, COUNTER, "failed directory resolve requests"),
    C(updates_pushed, COUNTER, "endpoint updates queued to agents"),
    C(invalidations_pushed, COUNTER, "invalidations queued to agents"),
    C(floods_pushed, COUNTER, "flood list updates queued to agents"),
    C(resyncs_pushed, COUNTER, "resynchronisations asked of agents"),
    C(feed_index, GAUGE, "last directory index applied from the feed"),
    C(feed_changes, COUNTER, "feed changes applied"),
    C(feed_gaps, COUNTER, "feed gaps (full resynchronisations)"),
    C(feed_stalls, COUNTER, "times the feed made no progress and the cache was flushed"),
    C(feed_to_leader, COUNTER, "times the feed moved to the node its replies named as leader"),
    C(feed_stalled, GAUGE, "1 while the feed makes no progress (lookups go to the directory)"),
    C(sessions, GAUGE, "agent sessions"),
    C(parked, GAUGE, "agents' long-polls waiting for updates"),
    C(resolve_requests, COUNTER, "resolve requests from agents and operators"),
    C(denied, COUNTER, "requests refused by authorization"),
    C(sessions_expired, COUNTER, "agent sessions ended after --session-idle-s without requests"),
    C(sessions_refused, COUNTER, "requests refused because --session-max sessions exist"),
    C(gw_registered, COUNTER, "gateway registrations accepted (and declared live)"),
    C(gw_refused, COUNTER, "gateway registrations refused (no directory record, other VTEP)"),
    C(gw_dead_closed, COUNTER, "gateways declared dead: the connection of their poll closed"),
    C(gw_dead_lease, COUNTER, "gateways declared dead: no request within the lease"),
    C(gw_live_writes, COUNTER, "gateway_live writes sent to the directory"),
    C(gw_live_errors, COUNTER, "gateway_live writes that failed"),
    C(gw_live, GAUGE, "gateways this server last declared live"),
    C(vninfo_pushed, COUNTER, "VN information changes queued to gateways (UPD_VNINFO)"),
    C(audits, COUNTER, "audits run (strata audit)"),
    C(audit_divergences, GAUGE, "divergences the last audit through this server found"),
#undef C
};

void cs_show_refresh(struct cs *cs)
{
    cs->ctr.entries = cs_cache_count(cs->cache);
    cs->ctr.cache_bytes = cs_cache_bytes(cs->cache);
    cs->ctr.evictions = cs_cache_evictions(cs->cache);
    cs->ctr.sessions = cs_agents_count(cs->agents);
    cs->ctr.feed_index = cs->feed_index;
}

int cs_show_metrics(struct cs *cs, struct strata_err *e)
{
    if (strata_metrics_new(&cs->metrics) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "metrics: out of memory");
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "cs_%s%s", counters[i].name,
                 counters[i].kind == STRATA_METRIC_COUNTER ? "_total" : "");
        const uint64_t *v = (const uint64_t *)((const char *)&cs->ctr + counters[i].off);
        int rc = strata_metrics_add(cs->metrics, name, counters[i].kind, counters[i].help, v);
        if (rc != 0)
            return strata_err_set(e, rc, "metrics: cannot add %s", name);
    }
    if (strata_metrics_add_histo(cs->metrics, "cs_upstream_resolve_seconds",
                                 "directory resolve requests: sent to answered (or failed)",
                                 &cs->ctr.upstream_latency) != 0 ||
        strata_metrics_add_histo(cs->metrics, "cs_converge_endpoint_seconds",
                                 "endpoint changes (new value, invalidation): seen on the feed to "
                                 "acknowledged (applied) by their last holder",
                                 &cs->ctr.converge[CS_CONVERGE_ENDPOINT]) != 0 ||
        strata_metrics_add_histo(cs->metrics, "cs_converge_flood_seconds",
                                 "flood list changes: seen on the feed to acknowledged (applied) "
                                 "by the last host of the VN",
                                 &cs->ctr.converge[CS_CONVERGE_FLOOD]) != 0 ||
        strata_metrics_add_histo(cs->metrics, "cs_converge_vninfo_seconds",
                                 "VN information and policy changes: seen on the feed to "
                                 "acknowledged by the last gateway serving the VN",
                                 &cs->ctr.converge[CS_CONVERGE_VNINFO]) != 0 ||
        strata_metrics_add_busy_poll(cs->metrics, "cs", cs->loop) != 0 ||
        strata_metrics_add_daemon(cs->metrics, "cs") != 0)
        return strata_err_set(e, STRATA_ENOMEM, "metrics: out of memory");
    if (cs->metrics_addr != NULL)
        return strata_metrics_listen(cs->metrics, cs->uv, cs->metrics_addr, e);
    return 0;
}

/* ---------------------------------------------------------------- cache show */

struct show_ctx {
    struct cs *cs;
    uint64_t now;
    size_t n;
    Strata__V1__CacheEntry *ce;
    Strata__V1__CacheEntry **cep;
    char (*text)[64 + 160];
    char **holders; /* all holder name pointers, borrowed from sessions */
    size_t nholders;
};

static void show_visit(struct cs_entry *e, void *arg)
{
    struct show_ctx *c = arg;
    if (c->n >= SHOW_MAX_ENTRIES)
        return;
    Strata__V1__CacheEntry *ce = &c->ce[c->n];
    strata__v1__cache_entry__init(ce);
    ce->vni = e->vni;
    ce->key = cs_entry_key_text(e, c->text[c->n]);
    ce->value = cs_entry_value_text(c->cs->cache, e, c->text[c->n] + 64);
    ce->version = e->version;
    ce->age_ms = c->now > e->stored_ms ? c->now - e->stored_ms : 0;
    ce->found = e->found;
    if (e->found) {
        ce->mac.data = e->mac;
        ce->mac.len = 6;
        ce->vtep.data = e->vtep;
        ce->vtep.len = e->vtep_len;
    }
    /* Holder lists are capped so that a cache of popular keys still fits in one reply. */
    uint32_t nh = cs_iset_count(&e->holders);
    if (nh > SHOW_MAX_HOLDERS)
        nh = SHOW_MAX_HOLDERS;
    if (c->nholders + nh > SHOW_MAX_HOLDERS_TOTAL)
        nh = 0;
    if (nh > 0) {
        char **h = realloc(c->holders, (c->nholders + nh) * sizeof(char *));
        if (h != NULL) {
            c->holders = h;
            /* pointers into c->holders are fixed up after the walk (realloc may move it) */
            const uint32_t *ids = cs_iset_ids(&e->holders);
            for (uint32_t i = 0; i < nh; i++) {
                struct cs_session *s = cs_agents_by_id(c->cs->agents, ids[i]);
                h[c->nholders + i] = s ? s->host : (char *)"?";
            }
            ce->holders = (char **)(uintptr_t)c->nholders; /* offset for now */
            ce->n_holders = nh;
            c->nholders += nh;
        }
    }
    c->cep[c->n] = ce;
    c->n++;
}

void cs_show_handle(struct cs *cs, struct strata_req *req, const Strata__V1__CacheShowRequest *q)
{
    cs_show_refresh(cs);
    /* A keyed request (trace) looks one key up without touching its LRU position. */
    struct cs_key k;
    bool keyed = q != NULL && q->ip.len > 0;
    if (keyed && cs_key_ip(q->vni, q->ip.data, q->ip.len, &k) != 0) {
        strata_req_error(req, STRATA_EINVAL, "cache show: an IP is 4 or 16 bytes, not %zu",
                         q->ip.len);
        return;
    }
    size_t cap = keyed ? 1 : cs_cache_count(cs->cache);
    if (cap > SHOW_MAX_ENTRIES)
        cap = SHOW_MAX_ENTRIES;
    struct show_ctx c = {.cs = cs, .now = strata_now_ms()};
    c.ce = calloc(cap + 1, sizeof(*c.ce));
    c.cep = calloc(cap + 1, sizeof(*c.cep));
    c.text = calloc(cap + 1, sizeof(*c.text));
    size_t nt = sizeof(counters) / sizeof(counters[0]), nc = nt + 2;
    Strata__V1__Counter *ctr = calloc(nc, sizeof(*ctr));
    Strata__V1__Counter **ctrp = calloc(nc, sizeof(*ctrp));
    if (c.ce == NULL || c.cep == NULL || c.text == NULL || ctr == NULL || ctrp == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        goto out;
    }
    if (keyed) {
        struct cs_entry *e = cs_cache_find(cs->cache, &k);
        if (e != NULL)
            show_visit(e, &c);
    } else {
        cs_cache_foreach(cs->cache, show_visit, &c);
    }
    for (size_t i = 0; i < c.n; i++)
        if (c.ce[i].n_holders)
            c.ce[i].holders = c.holders + (uintptr_t)c.ce[i].holders;
    for (size_t i = 0; i < nc; i++) {
        strata__v1__counter__init(&ctr[i]);
        ctrp[i] = &ctr[i];
    }
    for (size_t i = 0; i < nt; i++) {
        ctr[i].name = (char *)counters[i].name;
        ctr[i].value = *(const uint64_t *)((const char *)&cs->ctr + counters[i].off);
    }
    /* The histogram's totals, under the names cache show always gave them. */
    ctr[nt].name = (char *)"upstream_latency_us_sum";
    ctr[nt].value = cs->ctr.upstream_latency.sum_ns / 1000;
    ctr[nt + 1].name = (char *)"upstream_latency_us_count";
    ctr[nt + 1].value = cs->ctr.upstream_latency.count;
    Strata__V1__CacheShowReply r = STRATA__V1__CACHE_SHOW_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    r.entries = c.cep;
    r.n_entries = c.n;
    r.counters = ctrp;
    r.n_counters = nc;
    env.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY;
    env.cache_show_reply = &r;
    strata_req_reply(req, &env);
out:
    free(c.ce);
    free(c.cep);
    free(c.text);
    free(c.holders);
    free(ctr);
    free(ctrp);
}

/* ---------------------------------------------------------------- VN info */

struct vninfo_slot {
    uint32_t vni;
    uint64_t until_ms;
    strata_env *reply; /* the directory's reply, re-sent as is */
};

struct cs_vninfo {
    struct vninfo_slot *v;
    size_t n;
};

void cs_vninfo_forget(struct cs *cs, uint32_t vni)
{
    struct cs_vninfo *vi = cs->vninfo;
    if (vi == NULL)
        return;
    for (size_t i = 0; i < vi->n;) {
        if (vni == 0 || vi->v[i].vni == vni) {
            strata_msg_free(vi->v[i].reply);
            vi->v[i] = vi->v[--vi->n];
        } else {
            i++;
        }
    }
}

void cs_vninfo_free(struct cs *cs)
{
    if (cs->vninfo == NULL)
        return;
    cs_vninfo_forget(cs, 0);
    free(cs->vninfo->v);
    free(cs->vninfo);
    cs->vninfo = NULL;
}

static struct vninfo_slot *vninfo_find(struct cs *cs, uint32_t vni)
{
    struct cs_vninfo *vi = cs->vninfo;
    uint64_t now = strata_now_ms();
    for (size_t i = 0; vi != NULL && i < vi->n; i++)
        if (vi->v[i].vni == vni)
            return now < vi->v[i].until_ms ? &vi->v[i] : NULL;
    return NULL;
}

static void vninfo_store(struct cs *cs, uint32_t vni, strata_env *reply)
{
    if (cs->vninfo == NULL && (cs->vninfo = calloc(1, sizeof(*cs->vninfo))) == NULL)
        goto drop;
    struct cs_vninfo *vi = cs->vninfo;
    cs_vninfo_forget(cs, vni);
    if (vi->n >= VNINFO_MAX)
        cs_vninfo_forget(cs, 0);
    struct vninfo_slot *v = realloc(vi->v, (vi->n + 1) * sizeof(*v));
    if (v == NULL)
        goto drop;
    vi->v = v;
    vi->v[vi->n++] = (struct vninfo_slot){vni, strata_now_ms() + VNINFO_TTL_MS, reply};
    return;
drop:
    strata_msg_free(reply);
}

struct vnreq {
    struct cs *cs;
    struct strata_req *req;
    const strata_env *renv;
    struct cs_ident id;
    uint32_t sid;
    uint64_t feed_at_send;
    int node; /* asked at the feed's node (cs_feed_node), then the next ones */
    strata_env env;
    Strata__V1__VnInfoRequest vr;
};

static void vninfo_reply(int rc, strata_env *reply, void *arg)
{
    struct vnreq *r = arg;
    if (rc != 0) {
        strata_req_error(r->req, STRATA_EUNAVAIL, "directory unreachable: %s", strata_strerror(rc));
    } else if (reply->status != 0) {
        strata_req_error(r->req, reply->status, "%s", reply->message ? reply->message : "");
    } else {
        strata_req_reply(r->req, reply);
        /* cache only what no feed change can have overtaken in flight */
        if (r->cs->feed_index == r->feed_at_send) {
            vninfo_store(r->cs, r->vr.vni, reply);
            reply = NULL;
        }
    }
    if (reply)
        strata_msg_free(reply);
    free(r);
}

static void vninfo_fetch(struct vnreq *r)
{
    struct vninfo_slot *slot = vninfo_find(r->cs, r->vr.vni);
    if (slot != NULL) {
        strata_req_reply(r->req, slot->reply);
        free(r);
        return;
    }
    r->feed_at_send = r->cs->feed_index;
    r->vr.min_index = r->cs->feed_index;
    r->node = cs_feed_node(r->cs);
    cs_up_call(r->cs->up, &r->env, 700, 5000, r->node >= 0 ? &r->node : NULL, vninfo_reply, r);
}

static void vninfo_checked(void *arg, int rc)
{
    struct vnreq *r = arg;
    if (rc != 0) {
        struct strata_err e;
        if (rc == STRATA_EDENIED) {
            r->cs->ctr.denied++;
            cs_auth_vni_refused(&r->id, r->vr.vni, &e);
        } else {
            strata_err_set(&e, rc, "cannot check VN membership: %s", strata_strerror(rc));
        }
        strata_req_error(r->req, e.code, "%s", e.msg);
        free(r);
        return;
    }
    vninfo_fetch(r);
}

void cs_vninfo_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                      const struct cs_ident *id, struct cs_session *s)
{
    uint32_t vni = env->vn_info->vni;
    struct strata_err e;
    int rc = cs_auth_vni(id, s, vni, strata_now_ms(), &e);
    if (rc < 0) {
        cs->ctr.denied++;
        strata_req_error(req, e.code, "%s", e.msg);
        return;
    }
    struct vnreq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    r->cs = cs;
    r->req = req;
    r->renv = env;
    r->id = *id;
    r->sid = s ? s->id : UINT32_MAX;
    strata__v1__envelope__init(&r->env);
    strata__v1__vn_info_request__init(&r->vr);
    r->vr.vni = vni;
    r->env.identity = (char *)"operator";
    r->env.body_case = STRATA__V1__ENVELOPE__BODY_VN_INFO;
    r->env.vn_info = &r->vr;
    if (rc == CS_AUTH_ASK)
        cs_ports_check_vni(cs, s, vni, vninfo_checked, r);
    else
        vninfo_fetch(r);
}

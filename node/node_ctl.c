/* node_ctl.c - a node daemon's control socket (CacheShowRequest, TraceRequest, then the daemon's
 * own requests through its hook) and its counters as metrics: the debug surfaces are part of
 * the daemon. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "node_daemon.h"

struct ctl_counter {
    const char *name;
    size_t off;
};

#define CTL_C(f)                                                                                   \
    {                                                                                              \
#f, offsetof(struct node_counters, f)                                                      \
    }
static const struct ctl_counter ctl_counters[] = {
    CTL_C(misses),         CTL_C(l2miss),          CTL_C(l3miss),          CTL_C(resolves),
    CTL_C(coalesced),      CTL_C(negative_cached), CTL_C(updates_applied), CTL_C(invalidations),
    CTL_C(installs),       CTL_C(resyncs),         CTL_C(removals),        CTL_C(kept),
    CTL_C(install_errors), CTL_C(overruns),
};
#define CTL_N (sizeof(ctl_counters) / sizeof(ctl_counters[0]))

static uint64_t *ctl_counter_ptr(struct node *core, size_t i)
{
    return (uint64_t *)((char *)&core->c + ctl_counters[i].off);
}

/* Counter i summed over the domains. */
static uint64_t ctl_counter_sum(const struct node_daemon *d, size_t i)
{
    uint64_t v = 0;
    for (size_t j = 0; j < d->n_doms; j++)
        v += *ctl_counter_ptr(&d->doms[j]->core, i);
    return v;
}

/* Domain 0's counters are PREFIX_NAME_total (what strata-agentd always exported); further
 * domains' PREFIX_dN_NAME_total. */
void node_ctl_metrics_domain(struct node_daemon *d, size_t j)
{
    if (d->metrics == NULL)
        return;
    char help[96];
    snprintf(help, sizeof(help), "%s counter", d->o.name);
    for (size_t i = 0; i < CTL_N; i++) {
        char name[96], dom[24] = "";
        if (j > 0)
            snprintf(dom, sizeof(dom), "d%zu_", j);
        snprintf(name, sizeof(name), "%s_%s%s_total", d->o.metrics_prefix, dom,
                 ctl_counters[i].name);
        strata_metrics_add(d->metrics, name, STRATA_METRIC_COUNTER, help,
                           ctl_counter_ptr(&d->doms[j]->core, i));
    }
}

int node_ctl_metrics(struct node_daemon *d, struct strata_err *e)
{
    if (strata_metrics_new(&d->metrics) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (size_t j = 0; j < d->n_doms; j++)
        node_ctl_metrics_domain(d, j);
    char name[80];
    snprintf(name, sizeof(name), "%s_cs_failovers_total", d->o.metrics_prefix);
    strata_metrics_add(d->metrics, name, STRATA_METRIC_COUNTER,
                       "failovers to another connectivity server", node_csd_failovers(d->csd));
    if (strata_metrics_add_daemon(d->metrics, d->o.metrics_prefix) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (d->o.metrics_addr != NULL)
        return strata_metrics_listen(d->metrics, &d->uv, d->o.metrics_addr, e);
    return 0;
}

/* ---- cache show */

static void ctl_entry_value(const struct node_daemon *d, const struct node_entry *ent, char *buf,
                            size_t cap, uint64_t now)
{
    char m[STRATA_MAC_STRLEN], v[STRATA_IP_STRLEN];
    switch (ent->state) {
    case NODE_POSITIVE:
        snprintf(buf, cap, "mac %s vtep %s%s%s", strata_mac_format(ent->mac, m),
                 strata_ip_format(&ent->vtep, v),
                 strata_ip_equal(&ent->vtep, &d->o.csd.vtep) ? " (local)" : "",
                 ent->verifying ? " verifying" : "");
        break;
    case NODE_NEGATIVE:
        snprintf(buf, cap, "negative (%lld ms left)",
                 (long long)(ent->expires_ms > now ? ent->expires_ms - now : 0));
        break;
    default:
        snprintf(buf, cap, "resolving");
    }
}

struct ctl_show {
    struct node_daemon *d;
    Strata__V1__CacheEntry *ents;
    Strata__V1__CacheEntry **ptrs;
    char (*texts)[2][96];
    size_t n, cap;
    uint64_t now;
};

static void ctl_show_visit(struct node_entry *ent, void *arg)
{
    struct ctl_show *s = arg;
    if (ent->key.kind == NODE_KEY_FDB || s->n == s->cap)
        return;
    Strata__V1__CacheEntry *ce = &s->ents[s->n];
    strata__v1__cache_entry__init(ce);
    ce->vni = ent->key.vni;
    node_key_format(&ent->key, s->texts[s->n][0], sizeof(s->texts[0][0]));
    ctl_entry_value(s->d, ent, s->texts[s->n][1], sizeof(s->texts[0][1]), s->now);
    ce->key = s->texts[s->n][0];
    ce->value = s->texts[s->n][1];
    ce->version = ent->version;
    ce->age_ms = ent->updated_ms != 0 && s->now > ent->updated_ms ? s->now - ent->updated_ms : 0;
    s->ptrs[s->n] = ce;
    s->n++;
}

static void ctl_cache_show(struct node_daemon *d, struct strata_req *req)
{
    struct ctl_show s = {.d = d, .now = strata_now_ms()};
    for (size_t j = 0; j < d->n_doms; j++)
        s.cap += d->doms[j]->core.n_entries;
    s.ents = calloc(s.cap + 1, sizeof(*s.ents));
    s.ptrs = calloc(s.cap + 1, sizeof(*s.ptrs));
    s.texts = calloc(s.cap + 1, sizeof(*s.texts));
    Strata__V1__Counter cs[CTL_N + 1];
    Strata__V1__Counter *cp[CTL_N + 1];
    if (s.ents == NULL || s.ptrs == NULL || s.texts == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < d->n_doms; j++)
        node_table_each(&d->doms[j]->core, ctl_show_visit, &s);
    for (size_t i = 0; i < CTL_N; i++) {
        strata__v1__counter__init(&cs[i]);
        cs[i].name = (char *)ctl_counters[i].name;
        cs[i].value = ctl_counter_sum(d, i);
        cp[i] = &cs[i];
    }
    strata__v1__counter__init(&cs[CTL_N]);
    cs[CTL_N].name = "cs_failovers";
    cs[CTL_N].value = *node_csd_failovers(d->csd);
    cp[CTL_N] = &cs[CTL_N];
    Strata__V1__CacheShowReply r = STRATA__V1__CACHE_SHOW_REPLY__INIT;
    r.entries = s.ptrs;
    r.n_entries = s.n;
    r.counters = cp;
    r.n_counters = CTL_N + 1;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY;
    env.cache_show_reply = &r;
    strata_req_reply(req, &env);
out:
    free(s.ents);
    free(s.ptrs);
    free(s.texts);
}

/* ---- trace */

#define CTL_HOPS 3
struct ctl_trace {
    struct node_daemon *d;
    struct strata_req *req;
    Strata__V1__TraceHop hops[CTL_HOPS];
    char text[CTL_HOPS][4][160];
    uint8_t mac[CTL_HOPS][6];
    struct strata_ip vtep[CTL_HOPS];
    size_t n;
    uint64_t t0_us;
};

static Strata__V1__TraceHop *ctl_hop(struct ctl_trace *t, const char *tier, const char *node)
{
    Strata__V1__TraceHop *h = &t->hops[t->n];
    strata__v1__trace_hop__init(h);
    snprintf(t->text[t->n][0], sizeof(t->text[0][0]), "%s", tier);
    snprintf(t->text[t->n][1], sizeof(t->text[0][1]), "%s", node);
    h->tier = t->text[t->n][0];
    h->node = t->text[t->n][1];
    h->action = t->text[t->n][2];
    h->result = t->text[t->n][3];
    t->n++;
    return h;
}

/* Hop h holds mac (at vtep, NULL when it has no FDB entry): for machines, beside the text. */
static void ctl_hop_holds(struct ctl_trace *t, Strata__V1__TraceHop *h, const uint8_t mac[6],
                          const struct strata_ip *vtep)
{
    size_t i = (size_t)(h - t->hops);
    h->present = true;
    memcpy(t->mac[i], mac, 6);
    h->mac.data = t->mac[i];
    h->mac.len = 6;
    if (vtep != NULL) {
        t->vtep[i] = *vtep;
        h->vtep.data = t->vtep[i].a;
        h->vtep.len = strata_ip_len(&t->vtep[i]);
    }
}

static void ctl_trace_reply(struct ctl_trace *t)
{
    Strata__V1__TraceHop *hp[CTL_HOPS];
    for (size_t i = 0; i < t->n; i++)
        hp[i] = &t->hops[i];
    Strata__V1__TraceReply r = STRATA__V1__TRACE_REPLY__INIT;
    r.hops = hp;
    r.n_hops = t->n;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_TRACE_REPLY;
    env.trace_reply = &r;
    strata_req_reply(t->req, &env);
    free(t);
}

static void ctl_trace_done(int rc, strata_env *reply, void *arg)
{
    struct ctl_trace *t = arg;
    uint64_t el = strata_now_us() - t->t0_us;
    const Strata__V1__ResolveReply *rr =
        rc == 0 && reply->status == 0 &&
                reply->body_case == STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY &&
                reply->resolve_reply->n_answers == 1
            ? reply->resolve_reply
            : NULL;
    Strata__V1__TraceHop *h = ctl_hop(t, rr != NULL && rr->tier && *rr->tier ? rr->tier : "cs",
                                      node_csd_current_url(t->d->csd));
    snprintf(t->text[t->n - 1][2], sizeof(t->text[0][2]), "resolve as host:%s", t->d->o.csd.host);
    h->elapsed_us = el;
    char *res = t->text[t->n - 1][3];
    size_t cap = sizeof(t->text[0][3]);
    if (rr == NULL) {
        snprintf(res, cap, "error: %s",
                 rc != 0                             ? strata_strerror(rc)
                 : reply->message && *reply->message ? reply->message
                                                     : strata_strerror(reply->status));
    } else {
        const Strata__V1__ResolveAnswer *an = rr->answers[0];
        h->version = an->version;
        const char *verdict = an->verdict == STRATA__V1__VERDICT__VERDICT_ALLOW  ? "allow"
                              : an->verdict == STRATA__V1__VERDICT__VERDICT_DENY ? "deny"
                                                                                 : "unknown";
        struct strata_ip vt;
        char m[STRATA_MAC_STRLEN], v[STRATA_IP_STRLEN];
        if (an->found && an->endpoint != NULL && an->endpoint->mac.len == 6 &&
            strata_ip_from_bytes(an->endpoint->vtep.data, an->endpoint->vtep.len, &vt, NULL) == 0)
            snprintf(res, cap, "mac %s vtep %s host %s verdict %s (server %llu us)",
                     strata_mac_format(an->endpoint->mac.data, m), strata_ip_format(&vt, v),
                     an->endpoint->host ? an->endpoint->host : "?", verdict,
                     (unsigned long long)rr->elapsed_us);
        else
            snprintf(res, cap, "not found%s%s", an->message && *an->message ? ": " : "",
                     an->message ? an->message : "");
    }
    if (reply != NULL)
        strata_msg_free(reply);
    ctl_trace_reply(t);
}

static void ctl_trace(struct node_daemon *d, struct strata_req *req,
                      const Strata__V1__TraceRequest *tr)
{
    struct strata_ip dst;
    struct strata_err e;
    if (!strata_vni_valid(tr->vni) ||
        strata_ip_from_bytes(tr->dst_ip.data, tr->dst_ip.len, &dst, &e) != 0) {
        strata_req_error(req, STRATA_EINVAL, "trace needs a VNI and a destination IP");
        return;
    }
    struct node_domain *dom = node_daemon_domain_of(d, tr->vni);
    if (dom == NULL && d->n_doms > 0)
        dom = d->doms[0]; /* no VN record: the kernel and the server still have something to say */
    struct ctl_trace *t = dom != NULL ? calloc(1, sizeof(*t)) : NULL;
    if (t == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    t->d = d;
    t->req = req;
    char node[96];
    snprintf(node, sizeof(node), "%s vx%u", d->o.csd.host, tr->vni);
    Strata__V1__TraceHop *h = ctl_hop(t, "kernel", node);
    char ds[STRATA_IP_STRLEN];
    snprintf(t->text[0][2], sizeof(t->text[0][2]), "neighbour lookup %s",
             strata_ip_format(&dst, ds));
    struct node *core = &dom->core;
    struct node_dp_described dd = {0};
    if (core->dp.ops->describe_ip(core->dp.ctx, tr->vni, &dst, t->text[0][3], sizeof(t->text[0][3]),
                                  &dd))
        ctl_hop_holds(t, h, dd.mac, dd.has_vtep ? &dd.vtep : NULL);
    h = ctl_hop(t, d->o.metrics_prefix, d->o.csd.host);
    snprintf(t->text[1][2], sizeof(t->text[1][2]), "held entry ip %s", ds);
    struct node_key k;
    node_key_ip(&k, tr->vni, &dst);
    struct node_entry *ent = node_table_find(core, &k);
    uint64_t now = strata_now_ms();
    if (ent == NULL) {
        snprintf(t->text[1][3], sizeof(t->text[1][3]), "none (the next miss resolves it)");
    } else {
        ctl_entry_value(d, ent, t->text[1][3], sizeof(t->text[1][3]), now);
        if (ent->state == NODE_POSITIVE)
            ctl_hop_holds(t, h, ent->mac, &ent->vtep);
        h->version = ent->version;
        h->age_ms = now > ent->updated_ms ? now - ent->updated_ms : 0;
    }
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    q.vni = tr->vni;
    q.ip.data = dst.a;
    q.ip.len = strata_ip_len(&dst);
    q.from_vni = tr->vni;
    Strata__V1__ResolveQuery *qp = &q;
    Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
    rq.queries = &qp;
    rq.n_queries = 1;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = &rq;
    t->t0_us = strata_now_us();
    if (node_csd_call(d->csd, &env, 1000, ctl_trace_done, t) != 0)
        ctl_trace_reply(t); /* the local hops are still worth showing */
}

static void ctl_handle(struct strata_req *req, const strata_env *env, void *arg)
{
    struct node_daemon *d = arg;
    if (d->stopping) {
        strata_req_error(req, STRATA_EUNAVAIL, "%s stopping", d->o.name);
        return;
    }
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW:
        ctl_cache_show(d, req);
        break;
    case STRATA__V1__ENVELOPE__BODY_TRACE:
        ctl_trace(d, req, env->trace);
        break;
    default:
        if (d->h.ctl == NULL || !d->h.ctl(d->h.arg, req, env))
            strata_req_error(req, STRATA_EINVAL, "the %s control socket does not serve %s",
                             d->o.name, strata_msg_type_name(env->body_case));
    }
}

int node_ctl_open(struct node_daemon *d, struct strata_err *e)
{
    char url[PATH_MAX + 8];
    snprintf(url, sizeof(url), "ipc://%s", d->o.ctl_path);
    (void)unlink(d->o.ctl_path); /* a stale socket of a previous run */
    /* Root and this daemon's uid only, as every local socket of lib/server.c (ipc_any_user
     * unset: the file is 0600 whatever the umask, and each request's peer uid is checked): a
     * port attach takes any interface of the host, the underlay too. */
    struct strata_server_opts so = {.url = url, .contexts = 16};
    return strata_server_open(d->loop, &so, ctl_handle, d, &d->srv, e);
}

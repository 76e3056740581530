/* cmd_trace.c - `strata trace`: walks one flow through every tier with the daemons' own queries
 * (the source agent's TraceRequest, the connectivity server's cache dump, the directory's lists,
 * resolve and cluster status, a gateway's TraceRequest) and hands what they said to
 * trace_decide. It never guesses what a tier holds: a tier it cannot ask says so in its hop. */
#include "cmd_common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "trace.h"

/* The gateway's default control socket (strata-gwd --ctl, gateway/gw_main.c). */
#define TRACE_GW_CTL_FMT "/run/strata/gw-%s.sock"

/* What one run gathered; the facts point into these buffers and replies. */
struct trace_run {
    struct cli_ctx *ctx;
    const struct cli_args *a;
    struct strata_ip src, dst, gw_ip;
    struct trace_report r;
    struct trace_facts f;
    strata_env *vnets, *subnets, *gateways, *hosts, *policies;
    char src_host[64], domain[64], gw_addr[STRATA_IP_STRLEN], gateway[64], gw_ctl[512];
    char key_host[64], dst_host[64], dir_err[256], agent_err[256], gw_err[256];
    char cs_url[256];
};

static struct trace_hop *trace_hop(struct trace_run *t, const char *tier, const char *node,
                                   const char *action_fmt, ...)
    __attribute__((format(printf, 4, 5)));
static struct trace_hop *trace_hop(struct trace_run *t, const char *tier, const char *node,
                                   const char *action_fmt, ...)
{
    static struct trace_hop spare; /* past TRACE_MAX_HOPS: written, never printed */
    struct trace_hop *h = t->r.n_hops < TRACE_MAX_HOPS ? &t->r.hops[t->r.n_hops++] : &spare;
    memset(h, 0, sizeof(*h));
    snprintf(h->tier, sizeof(h->tier), "%s", tier);
    snprintf(h->node, sizeof(h->node), "%s", node != NULL ? node : "-");
    va_list ap;
    va_start(ap, action_fmt);
    vsnprintf(h->action, sizeof(h->action), action_fmt, ap);
    va_end(ap);
    return h;
}

/* The hop's result (truncated to its buffer: one table cell). */
static void hop_result(struct trace_hop *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void hop_result(struct trace_hop *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->result, sizeof(h->result), fmt, ap);
    va_end(ap);
}
#define HOP_RESULT hop_result

/* ---- the directory's objects */

static const Strata__V1__Vnet *trace_vnet(const struct trace_run *t, uint32_t vni)
{
    const Strata__V1__ListReply *l = t->vnets->list_reply;
    for (size_t i = 0; i < l->n_vnets; i++)
        if (l->vnets[i]->vni == vni)
            return l->vnets[i];
    return NULL;
}

/* The subnet of `vni` that holds ip, or NULL. */
static const Strata__V1__Subnet *trace_subnet_of(const struct trace_run *t, uint32_t vni,
                                                 const struct strata_ip *ip)
{
    const Strata__V1__ListReply *l = t->subnets->list_reply;
    for (size_t i = 0; i < l->n_subnets; i++) {
        const Strata__V1__Subnet *s = l->subnets[i];
        struct strata_cidr c;
        if (s->vni == vni &&
            strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &c, NULL) == 0 &&
            strata_cidr_contains(&c, ip))
            return s;
    }
    return NULL;
}

/* The VN of the source's domain whose subnet holds dst (0: none). */
static uint32_t trace_dst_vn(const struct trace_run *t, const char *domain)
{
    const Strata__V1__ListReply *l = t->vnets->list_reply;
    for (size_t i = 0; i < l->n_vnets; i++)
        if (strcmp(l->vnets[i]->domain, domain) == 0 &&
            trace_subnet_of(t, l->vnets[i]->vni, &t->dst) != NULL)
            return l->vnets[i]->vni;
    return 0;
}

/* Every directory read of trace is linearizable (docs/directory.md): a follower that has not
 * applied the last change yet would make a tier that has look wrong, or one that has not look
 * right. */
static int trace_lists(struct trace_run *t, struct strata_err *e)
{
    static const Strata__V1__ObjKind kinds[] = {
        STRATA__V1__OBJ_KIND__OBJ_VNET, STRATA__V1__OBJ_KIND__OBJ_SUBNET,
        STRATA__V1__OBJ_KIND__OBJ_GATEWAY, STRATA__V1__OBJ_KIND__OBJ_HOST,
        STRATA__V1__OBJ_KIND__OBJ_POLICY};
    strata_env **out[] = {&t->vnets, &t->subnets, &t->gateways, &t->hosts, &t->policies};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int rc = cmd_list(t->ctx, kinds[i], 0, 0, true, out[i], e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* "member 2 (leader 1, applied 57)" of the node that answers. */
static void trace_dir_node(struct trace_run *t, char *buf, size_t cap)
{
    Strata__V1__ClusterStatusRequest cs = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &cs;
    strata_env *r = NULL;
    struct strata_err e = {0};
    if (cli_dir_call(t->ctx, &req, STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY, &r, &e) != 0) {
        snprintf(buf, cap, "directory (status: %.100s)", e.msg);
        return;
    }
    const Strata__V1__ClusterStatusReply *s = r->cluster_status_reply;
    if (s->self != NULL)
        snprintf(buf, cap, "member %llu (leader %llu, applied %llu)",
                 (unsigned long long)s->self->id, (unsigned long long)s->leader_id,
                 (unsigned long long)s->self->applied_index);
    else
        snprintf(buf, cap, "directory (leader %llu)", (unsigned long long)s->leader_id);
    strata_msg_free(r);
}

/* Resolve ip in vni (from from_vni) at the directory into ep; adds the hop. */
static int trace_dir_resolve(struct trace_run *t, uint32_t vni, uint32_t from_vni,
                             const struct strata_ip *ip, struct trace_dir_ep *ep, char *host,
                             size_t host_cap, Strata__V1__Verdict *verdict, struct strata_err *e)
{
    char node[160], is[STRATA_IP_STRLEN];
    trace_dir_node(t, node, sizeof(node));
    struct trace_hop *h = trace_hop(t, "directory", node, "resolve ip %s in vni %u from %u",
                                    strata_ip_format(ip, is), vni, from_vni);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    q.vni = vni;
    q.from_vni = from_vni;
    q.ip.data = (uint8_t *)ip->a;
    q.ip.len = strata_ip_len(ip);
    Strata__V1__ResolveQuery *qs[1] = {&q};
    Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
    rq.queries = qs;
    rq.n_queries = 1;
    rq.linearizable = true; /* as trace_lists */
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rq;
    strata_env *r = NULL;
    uint64_t t0 = cli_now_us();
    int rc = cli_dir_call(t->ctx, &req, STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY, &r, e);
    h->elapsed_us = cli_now_us() - t0;
    if (rc == 0 && r->resolve_reply->n_answers != 1)
        rc =
            strata_err_set(e, STRATA_EPROTO, "%zu answers to 1 query", r->resolve_reply->n_answers);
    if (rc != 0) {
        HOP_RESULT(h, "error: %s", e->msg);
        strata_msg_free(r);
        return rc;
    }
    const Strata__V1__ResolveAnswer *an = r->resolve_reply->answers[0];
    const Strata__V1__Endpoint *x = an->endpoint;
    *verdict = an->verdict;
    h->version = an->version;
    if (an->status != 0) {
        HOP_RESULT(h, "error: %s", an->message[0] ? an->message : strata_strerror(an->status));
    } else if (!an->found || x == NULL || x->mac.len != 6 ||
               strata_ip_from_bytes(x->vtep.data, x->vtep.len, &ep->vtep, NULL) != 0) {
        HOP_RESULT(h, "not found (applied index %llu)",
                   (unsigned long long)r->resolve_reply->applied_index);
    } else {
        ep->found = true;
        memcpy(ep->mac, x->mac.data, 6);
        ep->version = x->version ? x->version : an->version;
        h->version = ep->version;
        snprintf(host, host_cap, "%s", x->host);
        ep->host = host;
        char m[STRATA_MAC_STRLEN], v[STRATA_IP_STRLEN];
        HOP_RESULT(h, "mac %s vtep %s host %s verdict %s", strata_mac_format(ep->mac, m),
                   strata_ip_format(&ep->vtep, v), host, cli_verdict_name(an->verdict));
    }
    strata_msg_free(r);
    return 0;
}

/* ---- node daemons' control sockets */

/* What a hop of a daemon's TraceReply says it holds, for the verdict. */
static void trace_held_of(const Strata__V1__TraceHop *h, struct trace_held *out)
{
    *out = (struct trace_held){.answered = true, .version = h->version};
    if (!h->present)
        return;
    out->present = true;
    if (h->mac.len == 6) {
        out->has_mac = true;
        memcpy(out->mac, h->mac.data, 6);
    }
    out->has_vtep = strata_ip_from_bytes(h->vtep.data, h->vtep.len, &out->vtep, NULL) == 0;
}

static struct trace_hop *trace_hop_copy(struct trace_run *t, const char *tier,
                                        const Strata__V1__TraceHop *h)
{
    struct trace_hop *o = trace_hop(t, tier, h->node, "%s", h->action);
    HOP_RESULT(o, "%s", h->result);
    o->version = h->version;
    o->age_ms = h->age_ms;
    o->elapsed_us = h->elapsed_us;
    return o;
}

/* Ask a node daemon's control socket for its TraceRequest hops about ip in vni. */
static int trace_node_call(struct trace_run *t, const char *ctl, uint32_t vni,
                           const struct strata_ip *ip, strata_env **r, struct strata_err *e)
{
    char url[600];
    cli_ctl_url(ctl, url, sizeof(url));
    Strata__V1__TraceRequest tq = STRATA__V1__TRACE_REQUEST__INIT;
    tq.vni = vni;
    tq.src_ip.data = t->src.a;
    tq.src_ip.len = strata_ip_len(&t->src);
    tq.dst_ip.data = (uint8_t *)ip->a;
    tq.dst_ip.len = strata_ip_len(ip);
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_TRACE;
    req.trace = &tq;
    return cli_peer_call(t->ctx, url, &req, STRATA__V1__ENVELOPE__BODY_TRACE_REPLY,
                         (unsigned)t->ctx->timeout_ms, r, e);
}

/* The source host's agent: its kernel entry, its held entry, a live resolve at its server. */
static void trace_agent(struct trace_run *t, const char *ctl, const struct strata_ip *key)
{
    strata_env *r = NULL;
    struct strata_err e = {0};
    char ks[STRATA_IP_STRLEN];
    strata_ip_format(key, ks);
    if (trace_node_call(t, ctl, t->a->vni, key, &r, &e) != 0) {
        snprintf(t->agent_err, sizeof(t->agent_err), "%s", e.msg);
        t->f.agent = (struct trace_held){.error = t->agent_err};
        struct trace_hop *h = trace_hop(t, "agent", ctl, "trace ip %s", ks);
        HOP_RESULT(h, "not reachable: %s", e.msg);
        return;
    }
    const Strata__V1__TraceReply *tr = r->trace_reply;
    for (size_t i = 0; i < tr->n_hops; i++) {
        const Strata__V1__TraceHop *h = tr->hops[i];
        /* node_ctl.c's order: kernel, the agent's held entry, the server's live answer. */
        if (i == 0) {
            trace_hop_copy(t, "kernel", h);
            trace_held_of(h, &t->f.kernel);
            snprintf(t->src_host, sizeof(t->src_host), "%.*s", (int)strcspn(h->node, " "), h->node);
        } else if (i == 1) {
            trace_hop_copy(t, "agent", h);
            trace_held_of(h, &t->f.agent);
            /* A negative answer held while the directory has the address is a stale one. */
            if (!h->present && strncmp(h->result, "negative", 8) == 0)
                t->f.agent.negative = true;
        } else {
            trace_hop_copy(t, h->tier, h);
            if (strstr(h->node, "://") != NULL)
                snprintf(t->cs_url, sizeof(t->cs_url), "%s", h->node);
        }
    }
    strata_msg_free(r);
}

/* The connectivity server's cached entry for ip (cache show: the server's own dump). */
static void trace_cs_cache(struct trace_run *t, const struct strata_ip *ip)
{
    char ks[80], is[STRATA_IP_STRLEN];
    snprintf(ks, sizeof(ks), "ip %s", strata_ip_format(ip, is));
    if (t->cs_url[0] == 0) {
        t->f.cs = (struct trace_held){.error = "no server named by the agent"};
        return;
    }
    struct trace_hop *h =
        trace_hop(t, "cs-cache", t->cs_url, "cached entry %s in vni %u", ks, t->a->vni);
    /* The keyed form: one entry, not the whole cache (a server that predates it sends the
     * whole dump, which the loop below searches the same way). */
    Strata__V1__CacheShowRequest cs = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    cs.vni = t->a->vni;
    cs.ip.data = (uint8_t *)ip->a;
    cs.ip.len = strata_ip_len(ip);
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cs;
    strata_env *r = NULL;
    struct strata_err e = {0};
    uint64_t t0 = cli_now_us();
    if (cli_peer_call(t->ctx, t->cs_url, &req, STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY,
                      (unsigned)t->ctx->timeout_ms, &r, &e) != 0) {
        HOP_RESULT(h, "not reachable from here: %s", e.msg);
        t->f.cs = (struct trace_held){.error = "not reachable"};
        return;
    }
    h->elapsed_us = cli_now_us() - t0;
    t->f.cs = (struct trace_held){.answered = true};
    const Strata__V1__CacheShowReply *cr = r->cache_show_reply;
    HOP_RESULT(h, "not cached");
    for (size_t i = 0; i < cr->n_entries; i++) {
        const Strata__V1__CacheEntry *c = cr->entries[i];
        if (c->vni != t->a->vni || strcmp(c->key, ks) != 0)
            continue;
        char holders[96] = "";
        size_t off = 0;
        for (size_t k = 0; k < c->n_holders && off < sizeof(holders); k++)
            off += (size_t)snprintf(holders + off, sizeof(holders) - off, "%s%s", k ? "," : "",
                                    c->holders[k]);
        HOP_RESULT(h, "%s, holders %s", c->value, c->n_holders ? holders : "none");
        h->version = c->version;
        h->age_ms = c->age_ms;
        t->f.cs.version = c->version;
        if (c->found) {
            t->f.cs.present = true;
            t->f.cs.has_mac = c->mac.len == 6;
            if (t->f.cs.has_mac)
                memcpy(t->f.cs.mac, c->mac.data, 6);
            t->f.cs.has_vtep =
                strata_ip_from_bytes(c->vtep.data, c->vtep.len, &t->f.cs.vtep, NULL) == 0;
        } else if (strcmp(c->value, "absent") == 0) {
            /* A cached negative answer while the directory has the address: stale too. */
            t->f.cs.negative = true;
        } else {
            /* A server that predates the found field: its version is all it says. */
            t->f.cs.present = true;
        }
        break;
    }
    strata_msg_free(r);
}

/* ---- routed flows */

/* Which registered gateway's VTEP holds the source VN's gateway address, and is it live. */
static void trace_gateway(struct trace_run *t)
{
    struct trace_hop *h =
        trace_hop(t, "gateway", "directory", "who holds %s for vni %u", t->gw_addr, t->a->vni);
    if (!t->f.key.found) {
        HOP_RESULT(h, "nobody: no gateway serves vni %u", t->a->vni);
        return;
    }
    const Strata__V1__ListReply *l = t->gateways->list_reply;
    for (size_t i = 0; i < l->n_gateways; i++) {
        const Strata__V1__Gateway *g = l->gateways[i];
        struct strata_ip v;
        if (strata_ip_from_bytes(g->vtep.data, g->vtep.len, &v, NULL) != 0 ||
            !strata_ip_equal(&v, &t->f.key.vtep))
            continue;
        snprintf(t->gateway, sizeof(t->gateway), "%s", g->id);
        t->f.gateway = t->r.gateway = t->gateway;
        t->f.gateway_live = g->live;
        snprintf(h->node, sizeof(h->node), "%s", g->id);
        h->version = g->version;
        char vs[STRATA_IP_STRLEN];
        HOP_RESULT(h, "gateway %s (vtep %s), %s%s%s", g->id, strata_ip_format(&v, vs),
                   g->live ? "live" : "not live", g->csd[0] ? " per " : "", g->csd);
        return;
    }
    HOP_RESULT(h, "host %s, which is no registered gateway", t->f.key.host);
}

static void trace_policy(struct trace_run *t)
{
    uint32_t from = t->a->vni, to = t->f.dst_vni;
    struct trace_hop *h = trace_hop(t, "policy", t->domain, "vni %u -> vni %u", from, to);
    const Strata__V1__ListReply *l = t->policies->list_reply;
    for (size_t i = 0; i < l->n_policies; i++) {
        const Strata__V1__Policy *p = l->policies[i];
        if (strcmp(p->domain, t->domain) != 0 || p->from_vni != from || p->to_vni != to)
            continue;
        t->f.policy_found = true;
        t->f.policy_allow = p->verdict == STRATA__V1__VERDICT__VERDICT_ALLOW;
        t->f.policy_version = p->version;
        h->version = p->version;
        HOP_RESULT(h, "rule %s %u->%u %s", p->domain, from, to, cli_verdict_name(p->verdict));
        return;
    }
    HOP_RESULT(h, "no rule: default deny");
}

/* The gateway's own kernel entry for the destination, through its control socket. */
static void trace_gateway_kernel(struct trace_run *t)
{
    char node[96], is[STRATA_IP_STRLEN];
    snprintf(node, sizeof(node), "%s vx%u", t->gateway, t->f.dst_vni);
    strata_ip_format(&t->dst, is);
    const char *ctl = t->a->gateway_ctl;
    if (ctl == NULL) {
        snprintf(t->gw_ctl, sizeof(t->gw_ctl), TRACE_GW_CTL_FMT, t->gateway);
        ctl = t->gw_ctl;
    }
    strata_env *r = NULL;
    struct strata_err e = {0};
    bool here = strstr(ctl, "://") != NULL || access(ctl, F_OK) == 0;
    if (!here || trace_node_call(t, ctl, t->f.dst_vni, &t->dst, &r, &e) != 0) {
        snprintf(t->gw_err, sizeof(t->gw_err), "%s", here ? e.msg : "no such socket");
        t->f.gw_kernel = (struct trace_held){.error = t->gw_err};
        struct trace_hop *h = trace_hop(t, "gw-kernel", node, "neighbour lookup %s", is);
        HOP_RESULT(h, "not checked: control socket %s not reachable from here (%s)", ctl,
                   t->gw_err);
        return;
    }
    const Strata__V1__TraceReply *tr = r->trace_reply;
    /* The socket must be the flow's gateway's: another gateway's kernel says nothing of this
     * flow. node_ctl.c names its kernel hop "ID vxN". */
    size_t idlen = strlen(t->gateway);
    if (tr->n_hops > 0 &&
        (strncmp(tr->hops[0]->node, t->gateway, idlen) != 0 || tr->hops[0]->node[idlen] != ' ')) {
        snprintf(t->gw_err, sizeof(t->gw_err), "it is %.*s's, not %s's",
                 (int)strcspn(tr->hops[0]->node, " "), tr->hops[0]->node, t->gateway);
        t->f.gw_kernel = (struct trace_held){.error = t->gw_err};
        struct trace_hop *h = trace_hop(t, "gw-kernel", node, "neighbour lookup %s", is);
        HOP_RESULT(h, "not checked: control socket %s is not this flow's gateway's (%s)", ctl,
                   t->gw_err);
        strata_msg_free(r);
        return;
    }
    if (tr->n_hops > 0) { /* node_ctl.c's first hop: the kernel */
        trace_hop_copy(t, "gw-kernel", tr->hops[0]);
        trace_held_of(tr->hops[0], &t->f.gw_kernel);
    }
    for (size_t i = 1; i < tr->n_hops; i++)
        trace_hop_copy(t, i == 1 ? "gw-agent" : tr->hops[i]->tier, tr->hops[i]);
    strata_msg_free(r);
}

/* ---- the command */

static int trace_mode(const struct cli_args *a, enum trace_mode *m, struct strata_err *e)
{
    if (a->trace_detailed + a->trace_summary + a->trace_minimal > 1)
        return strata_err_set(e, STRATA_EINVAL,
                              "trace: give at most one of --detailed, --summary, --minimal");
    *m = a->trace_summary   ? TRACE_MODE_SUMMARY
         : a->trace_minimal ? TRACE_MODE_MINIMAL
                            : TRACE_MODE_DETAILED;
    return 0;
}

/* The source host's own VTEP, from the directory's host list. */
static void trace_src_vtep(struct trace_run *t)
{
    const Strata__V1__ListReply *l = t->hosts->list_reply;
    for (size_t i = 0; i < l->n_hosts; i++)
        if (strcmp(l->hosts[i]->id, t->src_host) == 0 &&
            strata_ip_from_bytes(l->hosts[i]->vtep.data, l->hosts[i]->vtep.len, &t->f.src_vtep,
                                 NULL) == 0)
            t->f.has_src_vtep = true;
}

/* Everything but the agent's hops, which come first: decides routed or not. */
static int trace_plan(struct trace_run *t, struct strata_err *e)
{
    const Strata__V1__Vnet *vn = trace_vnet(t, t->a->vni);
    if (vn == NULL)
        return strata_err_set(e, STRATA_ENOTFOUND, "trace: VN %u does not exist", t->a->vni);
    snprintf(t->domain, sizeof(t->domain), "%s", vn->domain);
    t->f.domain = t->domain;
    t->f.dst_vni = t->a->vni;
    if (trace_subnet_of(t, t->a->vni, &t->dst) != NULL ||
        (trace_subnet_of(t, t->a->vni, &t->src) == NULL && trace_dst_vn(t, t->domain) == 0 &&
         t->subnets->list_reply->n_subnets == 0))
        return 0; /* same VN (or a VN without subnets: only same-VN flows exist) */
    t->f.routed = true;
    t->f.dst_vni = trace_dst_vn(t, t->domain);
    const Strata__V1__Subnet *s = trace_subnet_of(t, t->a->vni, &t->src);
    if (s != NULL && strata_ip_from_bytes(s->gateway.data, s->gateway.len, &t->gw_ip, NULL) == 0) {
        strata_ip_format(&t->gw_ip, t->gw_addr);
        t->f.gw_addr = t->gw_addr;
    }
    return 0;
}

static int trace_run(struct trace_run *t, const char *agent_ctl, struct strata_err *e)
{
    struct strata_err le = {0};
    int rc = trace_lists(t, &le);
    if (rc != 0 && rc != STRATA_ETIMEDOUT && rc != STRATA_EUNAVAIL && rc != STRATA_EBUSY) {
        *e = le; /* not the network: a local fault (TLS files, an offline test) */
        return rc;
    }
    if (rc != 0) {
        snprintf(t->dir_err, sizeof(t->dir_err), "%s", le.msg);
        t->f.dir_error = t->dir_err;
        struct trace_hop *h = trace_hop(t, "directory", t->ctx->directory, "list");
        HOP_RESULT(h, "not reachable: %s", le.msg);
        trace_agent(t, agent_ctl, &t->dst);
        return 0;
    }
    t->f.dir_answered = true;
    rc = trace_plan(t, e);
    if (rc != 0)
        return rc;
    t->r.dst_vni = t->f.dst_vni;
    /* What the source host resolves: the destination, or for a routed flow its gateway. */
    const struct strata_ip *key = t->f.routed ? &t->gw_ip : &t->dst;
    if (t->f.routed && t->f.gw_addr == NULL)
        key = &t->dst;
    trace_agent(t, agent_ctl, key);
    trace_src_vtep(t);
    trace_cs_cache(t, key);
    Strata__V1__Verdict v;
    if (!t->f.routed || t->f.gw_addr != NULL) {
        rc = trace_dir_resolve(t, t->a->vni, t->a->vni, key, &t->f.key, t->key_host,
                               sizeof(t->key_host), &v, &le);
        if (rc != 0) {
            snprintf(t->dir_err, sizeof(t->dir_err), "%s", le.msg);
            t->f.dir_error = t->dir_err;
            t->f.dir_answered = false;
            return 0;
        }
    }
    if (!t->f.routed || t->f.dst_vni == 0 || t->f.gw_addr == NULL)
        return 0;
    trace_gateway(t);
    trace_policy(t);
    if (trace_dir_resolve(t, t->f.dst_vni, t->a->vni, &t->dst, &t->f.dst_ep, t->dst_host,
                          sizeof(t->dst_host), &v, &le) != 0) {
        snprintf(t->dir_err, sizeof(t->dir_err), "%s", le.msg);
        t->f.dir_error = t->dir_err;
        t->f.dir_answered = false;
        return 0;
    }
    if (t->f.gateway != NULL)
        trace_gateway_kernel(t);
    return 0;
}

int cli_trace(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    enum trace_mode mode = TRACE_MODE_DETAILED;
    struct trace_run *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    t->ctx = ctx;
    t->a = a;
    int rc = trace_mode(a, &mode, e);
    if (rc == 0)
        rc = strata_ip_parse(a->src_ip, &t->src, e);
    if (rc == 0)
        rc = strata_ip_parse(a->dst_ip, &t->dst, e);
    if (rc == 0 && t->src.family != t->dst.family)
        rc = strata_err_set(e, STRATA_EINVAL, "--src-ip and --dst-ip are of different families");
    char ctl[400];
    if (rc == 0 && a->agent != NULL)
        snprintf(ctl, sizeof(ctl), "%s", a->agent);
    else if (rc == 0)
        rc = cli_default_agent(ctl, sizeof(ctl), e);
    if (rc == 0) {
        t->r.vni = t->r.dst_vni = a->vni;
        t->r.src_ip = a->src_ip;
        t->r.dst_ip = a->dst_ip;
        t->f.dst = a->dst_ip;
        t->f.src_vni = a->vni;
        t->f.src_host = t->src_host;
        t->f.agent.answered = true; /* until trace_agent says otherwise */
        rc = trace_run(t, ctl, e);
    }
    if (rc == 0) {
        trace_decide(&t->f, &t->r.outcome);
        trace_print(ctx->out, &t->r, mode, ctx->json);
    }
    strata_env *reps[] = {t->vnets, t->subnets, t->gateways, t->hosts, t->policies};
    for (size_t i = 0; i < sizeof(reps) / sizeof(reps[0]); i++)
        if (reps[i] != NULL)
            strata_msg_free(reps[i]);
    free(t);
    return rc;
}

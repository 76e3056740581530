/* gw_vn.c - the VNs a gateway serves: the list comes with each HostRegister reply (the
 * directory's record of this gateway), each VN's domain, subnets, flood list and policies from
 * VnInfo, refetched when the connectivity server pushes UPD_VNINFO. Applying a VnInfo changes
 * only what differs: the VN's devices are ensured, its interface's addresses synced, and the
 * domain's policy pairs synced. A VN no longer served is released (its devices go). */
#include <stdlib.h>
#include <string.h>

#include "gwd.h"
#include "log.h"

struct gw_vn *gw_vn_find(struct gwd *g, uint32_t vni)
{
    for (size_t i = 0; i < g->n_vns; i++)
        if (g->vns[i].vni == vni)
            return &g->vns[i];
    return NULL;
}

struct gw_vn *gw_vn_get(struct gwd *g, uint32_t vni)
{
    struct gw_vn *v = gw_vn_find(g, vni);
    if (v != NULL)
        return v;
    if (g->n_vns == g->cap_vns) {
        size_t nc = g->cap_vns ? g->cap_vns * 2 : 16;
        struct gw_vn *nv = realloc(g->vns, nc * sizeof(*nv));
        if (nv == NULL)
            return NULL;
        g->vns = nv, g->cap_vns = nc;
    }
    v = &g->vns[g->n_vns++];
    memset(v, 0, sizeof(*v));
    v->vni = vni;
    return v;
}

static void vn_forget(struct gwd *g, struct gw_vn *v)
{
    for (; v->refetch_holds > 0; v->refetch_holds--)
        node_csd_release(g->nd.csd); /* nothing left to apply */
    free(v->rules);
    *v = g->vns[--g->n_vns];
}

static void count_routes(struct gwd *g)
{
    uint64_t routes = 0, rules = 0;
    for (size_t i = 0; i < g->n_vns; i++)
        if (g->vns[i].applied)
            routes += g->vns[i].n_addrs;
    for (size_t i = 0; i < g->n_doms; i++)
        rules += gw_nft_count(g->doms[i]->nft);
    g->c.routes = routes;
    g->c.rules = rules;
}

/* The VN's devices go; the kernel drops their entries with them. */
static void vn_release(struct gwd *g, struct gw_vn *v)
{
    struct gw_dom *dom = v->dom;
    struct strata_err e;
    if (dom != NULL) {
        struct node *core = &dom->nd->core;
        node_drop_vn(core, v->vni);
        node_vn_remove(core, v->vni);
        if (core->dp.ops->vn_release(core->dp.ctx, v->vni, &e) != 0)
            LOG_WARN("VN %u: release: %s", v->vni, e.msg);
    }
    LOG_INFO("VN %u: no longer served here, released", v->vni);
    g->c.vns_released++;
    vn_forget(g, v); /* its pairs leave the domain's map at the next gw_dom_policy_sync */
}

struct fetch {
    struct gwd *g;
    uint32_t vni;
    unsigned holds; /* node_csd_hold taken for the updates this fetch applies */
    bool timed;     /* `timer` was used (STRATA_TEST_GW_FETCH_DELAY_MS): close it to free */
    uv_timer_t timer;
};

static void vn_fetch_closed(uv_handle_t *h)
{
    free(h->data);
}

static void vn_fetch_free(struct fetch *f)
{
    if (f->timed)
        uv_close((uv_handle_t *)&f->timer, vn_fetch_closed);
    else
        free(f);
}

/* STRATA_TEST_GW_FETCH_DELAY_MS=N: a TEST-ONLY delay of N ms before each VnInfo fetch, so that
 * a test tells a poll acknowledged once the VnInfo is applied (node_csd_hold) from one
 * acknowledged at once (tests/system/test_wait.c). */
static unsigned vn_test_delay_ms(void)
{
    static int ms = -1;
    if (ms < 0) {
        const char *s = getenv("STRATA_TEST_GW_FETCH_DELAY_MS");
        ms = s != NULL ? atoi(s) : 0;
        ms = ms < 0 ? 0 : ms > 5000 ? 5000 : ms;
        if (ms > 0)
            LOG_ERROR("STRATA_TEST_GW_FETCH_DELAY_MS=%d: TEST-ONLY: every VnInfo fetch waits %d ms",
                      ms, ms);
    }
    return (unsigned)ms;
}

static int vn_apply(struct gwd *g, struct gw_vn *v, const Strata__V1__VnInfoReply *r,
                    struct strata_err *e)
{
    if (r->vnet == NULL || r->vnet->domain == NULL || r->vnet->domain[0] == '\0')
        return strata_err_set(e, STRATA_EPROTO, "VnInfo without the VN's domain");
    /* It names a namespace (a file under /run/netns): only what the directory accepts. */
    int rc = strata_name_check(r->vnet->domain, "VnInfo domain", e);
    if (rc != 0)
        return rc;
    struct gw_dom *dom;
    rc = gw_dom_get(g, r->vnet->domain, &dom, e);
    if (rc != 0)
        return rc;
    if (v->dom != NULL && v->dom != dom)
        return strata_err_set(e, STRATA_ECONFLICT, "VN %u changed domain: restart the gateway",
                              v->vni);
    v->dom = dom;
    struct node *core = &dom->nd->core;
    if ((rc = core->dp.ops->vn_ensure(core->dp.ctx, v->vni, e)) != 0)
        return rc;
    /* The bridge itself is the VN's one local port: misses on it are resolved. */
    struct node_vn *nv = node_vn_get(core, v->vni);
    if (nv == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    nv->ports = 1;
    v->n_addrs = 0;
    for (size_t i = 0; i < r->n_subnets && v->n_addrs < GW_MAX_SUBNETS; i++) {
        const Strata__V1__Subnet *s = r->subnets[i];
        struct gw_l3_addr *a = &v->addrs[v->n_addrs];
        if (s->gateway.len == 0 ||
            strata_ip_from_bytes(s->gateway.data, s->gateway.len, &a->ip, NULL) != 0)
            continue;
        a->plen = (uint8_t)s->plen;
        v->n_addrs++;
    }
    if ((rc = gw_l3_sync(dom->l3, v->vni, v->addrs, v->n_addrs, e)) != 0)
        return rc;
    struct strata_ip vteps[256];
    size_t nv_ = 0;
    for (size_t i = 0; i < r->n_flood_vteps && nv_ < 256; i++)
        if (strata_ip_from_bytes(r->flood_vteps[i].data, r->flood_vteps[i].len, &vteps[nv_],
                                 NULL) == 0)
            nv_++;
    if ((rc = node_update_flood(core, v->vni, vteps, nv_, e)) != 0)
        return rc;
    struct gw_rule *rules = calloc(r->n_policies ? r->n_policies : 1, sizeof(*rules));
    if (rules == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_policies; i++)
        rules[i] = (struct gw_rule){r->policies[i]->from_vni, r->policies[i]->to_vni,
                                    r->policies[i]->verdict == STRATA__V1__VERDICT__VERDICT_ALLOW};
    free(v->rules);
    v->rules = rules;
    v->n_rules = r->n_policies;
    v->applied = true;
    return gw_dom_policy_sync(g, dom, e);
}

static void vn_fetch(struct gwd *g, struct gw_vn *v, unsigned holds);

static void vn_release_holds(struct gwd *g, unsigned holds)
{
    for (; holds > 0; holds--)
        node_csd_release(g->nd.csd);
}

static void vn_fetched(void *arg, int rc, const Strata__V1__VnInfoReply *r)
{
    struct fetch *f = arg;
    struct gwd *g = f->g;
    struct gw_vn *v = gw_vn_find(g, f->vni);
    unsigned holds = f->holds;
    vn_fetch_free(f);
    if (v == NULL)
        goto out;
    v->fetching = false;
    if (!v->served)
        goto out;
    struct strata_err e = {0};
    if (rc != 0) {
        g->c.vn_info_errors++;
        if (!v->warned)
            LOG_WARN("VN %u: VnInfo failed: %s: retrying", v->vni, strata_strerror(rc));
        v->warned = true;
        goto out; /* the retry timer asks again */
    }
    if (vn_apply(g, v, r, &e) != 0) {
        g->c.apply_errors++;
        v->applied = false;
        if (!v->warned) /* retried every second: the counter says it goes on */
            LOG_WARN("VN %u: %s (retrying every %d ms; logged once)", v->vni, e.msg, GW_RETRY_MS);
        v->warned = true;
    } else {
        if (v->warned)
            LOG_INFO("VN %u: applied after failures", v->vni);
        v->warned = false;
    }
    if (v->applied && v->pending_us != 0) {
        uint64_t now = strata_wall_us();
        g->c.policy_updates++;
        if (now > v->pending_us)
            strata_histo_observe(&g->policy_apply, (now - v->pending_us) * 1000);
        v->pending_us = 0;
    }
    count_routes(g);
    if (v->refetch) {
        unsigned next = v->refetch_holds;
        v->refetch = false;
        v->refetch_holds = 0;
        vn_fetch(g, v, next);
    }
out:
    /* The updates that asked for this fetch are applied (or failed: the retry timer asks
     * again): their acknowledgement may go. */
    vn_release_holds(g, holds);
}

static void vn_fetch_send(struct fetch *f)
{
    struct gwd *g = f->g;
    struct gw_vn *v = gw_vn_find(g, f->vni);
    if (v != NULL && node_csd_fetch_vn_info(g->nd.csd, f->vni, vn_fetched, f) == 0)
        return;
    if (v != NULL)
        v->fetching = false;
    vn_release_holds(g, f->holds);
    vn_fetch_free(f);
}

static void vn_fetch_timer(uv_timer_t *t)
{
    vn_fetch_send(t->data);
}

/* Fetch and apply v's VnInfo. `holds`: acknowledgements the caller held (node_csd_hold) for
 * the updates this fetch applies; released once it is applied (or failed). */
static void vn_fetch(struct gwd *g, struct gw_vn *v, unsigned holds)
{
    if (v->fetching) {
        v->refetch = true;
        v->refetch_holds += holds; /* the fetch in flight may predate their change */
        return;
    }
    struct fetch *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        vn_release_holds(g, holds);
        return;
    }
    *f = (struct fetch){.g = g, .vni = v->vni, .holds = holds};
    v->fetching = true;
    g->c.vn_info_fetches++;
    unsigned delay = vn_test_delay_ms();
    if (delay == 0) {
        vn_fetch_send(f);
        return;
    }
    f->timed = true;
    uv_timer_init(&g->nd.uv, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, vn_fetch_timer, delay, 0);
}

void gw_vn_served(struct gwd *g, const uint32_t *vnis, size_t n)
{
    for (size_t i = 0; i < g->n_vns; i++)
        g->vns[i].served = false;
    for (size_t i = 0; i < n; i++) {
        struct gw_vn *v = gw_vn_get(g, vnis[i]);
        if (v == NULL)
            continue;
        v->served = true;
        vn_fetch(g, v, 0); /* after a failover too: changes may have been missed meanwhile */
    }
    size_t released = 0;
    for (size_t i = 0; i < g->n_vns;) {
        if (!g->vns[i].served) {
            vn_release(g, &g->vns[i]); /* moves the last one here */
            released++;
        } else {
            i++;
        }
    }
    /* One sync per domain for all the VNs that went, not one per VN. */
    for (size_t i = 0; released > 0 && i < g->n_doms; i++) {
        struct strata_err e;
        if (!g->doms[i]->unpinned && gw_dom_policy_sync(g, g->doms[i], &e) != 0)
            LOG_WARN("policy: %s", e.msg);
    }
    gw_dom_retire_empty(g);
    count_routes(g);
}

void gw_vn_refresh(struct gwd *g, uint32_t vni, uint64_t committed_us)
{
    struct gw_vn *v = gw_vn_find(g, vni);
    if (v == NULL || !v->served)
        return;
    if (v->pending_us == 0 || (committed_us != 0 && committed_us < v->pending_us))
        v->pending_us = committed_us;
    /* UPD_VNINFO: acknowledge it (the next poll) only once applied, so that a convergence wait
     * (strata policy set --wait) means "in this gateway's kernel". */
    node_csd_hold(g->nd.csd);
    vn_fetch(g, v, 1);
}

void gw_vn_retry(struct gwd *g)
{
    /* Without a server the client backs off and says why; asking each VN every second only
     * adds failures. Registering asks for every VN again. */
    if (!node_csd_registered(g->nd.csd))
        return;
    for (size_t i = 0; i < g->n_vns; i++)
        if (g->vns[i].served && !g->vns[i].applied)
            vn_fetch(g, &g->vns[i], 0);
}

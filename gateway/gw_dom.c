/* gw_dom.c - tenant domains on a gateway: a pinned namespace each (gw_ns), holding the domain's
 * VN devices and node core (a kernel datapath opened inside it), its routed interfaces (gw_l3)
 * and its policy table (gw_nft). A namespace per domain, not routing tables: overlapping subnets
 * of two domains then never meet in one routing table, neighbour table or conntrack table, and
 * nothing needs a rule per VN (docs/gateway.md has the measurements). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_ns.h"
#include "gwd.h"
#include "log.h"

/* The sysctls of a routing namespace: forward, and no reverse-path filter (a VN's return path
 * is its own interface anyway; strict rp_filter only costs a lookup). */
static const char *const DOM_SYSCTLS[][2] = {
    {"net/ipv4/ip_forward", "1"},
    {"net/ipv6/conf/all/forwarding", "1"},
    {"net/ipv4/conf/all/rp_filter", "0"},
    {"net/ipv4/conf/default/rp_filter", "0"},
};

static int dom_make(struct gwd *g, const char *name, int fd, struct gw_dom **out,
                    struct strata_err *e)
{
    if (g->n_doms == NODE_DAEMON_MAX_DOMAINS)
        return strata_err_set(e, STRATA_ENOSPACE, "at most %d domains per gateway",
                              NODE_DAEMON_MAX_DOMAINS);
    struct gw_dom *dom = calloc(1, sizeof(*dom));
    if (dom == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    snprintf(dom->ns, sizeof(dom->ns), "%s", name);
    dom->ns_fd = fd;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(DOM_SYSCTLS) / sizeof(DOM_SYSCTLS[0]); i++)
        rc = gw_ns_sysctl(fd, DOM_SYSCTLS[i][0], DOM_SYSCTLS[i][1], e);
    if (rc == 0)
        rc = gw_l3_open(fd, &dom->l3, e);
    if (rc == 0)
        rc = gw_l3_lo_up(dom->l3, e);
    if (rc == 0)
        rc = gw_nft_open(fd, &dom->nft, e);
    if (rc == 0)
        rc = gw_nft_ensure(dom->nft, e);
    struct node_dp_kernel_opts ko = {.vtep = g->vtep,
                                     .underlay_dev = g->underlay,
                                     .mtu = (uint32_t)g->mtu,
                                     .netns_fd = fd,
                                     .bridge_endpoint = true};
    if (rc == 0)
        rc = node_daemon_add_kernel(&g->nd, &ko, &dom->nd, e);
    if (rc != 0) {
        gw_nft_free(dom->nft);
        gw_l3_free(dom->l3);
        free(dom);
        return rc;
    }
    g->doms[g->n_doms++] = dom;
    *out = dom;
    LOG_INFO("domain namespace %s ready (%zu policy pairs kept)", name, gw_nft_count(dom->nft));
    return 0;
}

int gw_dom_discover(struct gwd *g, struct strata_err *e)
{
    char prefix[256], **names;
    size_t n;
    snprintf(prefix, sizeof(prefix), "st-%s-", g->id);
    int rc = gw_ns_list(prefix, &names, &n, e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int fd;
        bool created;
        struct gw_dom *dom;
        if (rc == 0 && (rc = gw_ns_open(names[i], &fd, &created, e)) == 0 &&
            (rc = dom_make(g, names[i], fd, &dom, e)) != 0)
            close(fd);
        free(names[i]);
    }
    free(names);
    return rc;
}

int gw_dom_get(struct gwd *g, const char *domain, struct gw_dom **out, struct strata_err *e)
{
    char name[256];
    gw_ns_name(g->id, domain, name, sizeof(name));
    for (size_t i = 0; i < g->n_doms; i++) {
        struct gw_dom *dom = g->doms[i];
        if (strcmp(dom->ns, name) != 0)
            continue;
        if (dom->unpinned) {
            int rc = gw_ns_pin(name, dom->ns_fd, e);
            if (rc != 0)
                return rc;
            dom->unpinned = false;
            if ((rc = gw_nft_ensure(dom->nft, e)) != 0)
                return rc;
        }
        *out = dom;
        return 0;
    }
    int fd;
    bool created;
    int rc = gw_ns_open(name, &fd, &created, e);
    if (rc != 0)
        return rc;
    if ((rc = dom_make(g, name, fd, out, e)) != 0)
        close(fd);
    return rc;
}

int gw_dom_policy_sync(struct gwd *g, struct gw_dom *dom, struct strata_err *e)
{
    size_t n = 0, cap = 0;
    struct gw_nft_pair *pairs = NULL;
    for (size_t i = 0; i < g->n_vns; i++) {
        const struct gw_vn *v = &g->vns[i];
        if (v->dom != dom || !v->served || !v->applied)
            continue;
        for (size_t j = 0; j < v->n_rules; j++) {
            const struct gw_rule *r = &v->rules[j];
            /* Each rule is listed by both its VNs: take it from its source, and only when the
             * destination is served here too (a pair needs both interfaces). */
            if (r->from != v->vni || !r->allow)
                continue;
            const struct gw_vn *to = gw_vn_find(g, r->to);
            if (to == NULL || to->dom != dom || !to->served || !to->applied)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct gw_nft_pair *np = realloc(pairs, nc * sizeof(*np));
                if (np == NULL) {
                    free(pairs);
                    return strata_err_set(e, STRATA_ENOMEM, "out of memory");
                }
                pairs = np, cap = nc;
            }
            pairs[n++] = (struct gw_nft_pair){r->from, r->to};
        }
    }
    int rc = gw_nft_sync(dom->nft, pairs, n, e);
    free(pairs);
    return rc;
}

void gw_dom_retire_empty(struct gwd *g)
{
    for (size_t i = 0; i < g->n_doms; i++) {
        struct gw_dom *dom = g->doms[i];
        bool used = false;
        for (size_t j = 0; j < g->n_vns && !used; j++)
            used = g->vns[j].dom == dom;
        if (used || dom->unpinned)
            continue;
        struct strata_err e;
        if (gw_nft_remove(dom->nft, &e) != 0 || gw_ns_remove(dom->ns, &e) != 0) {
            LOG_WARN("domain namespace %s: %s", dom->ns, e.msg);
            continue;
        }
        dom->unpinned = true;
        LOG_INFO("domain namespace %s: no VN served here any more, unpinned", dom->ns);
    }
}

uint32_t *gw_dom_vnis(struct gwd *g, const struct node_domain *nd, size_t *n)
{
    (void)g;
    struct node_dp_dump d = {0};
    struct strata_err e;
    *n = 0;
    if (nd->core.dp.ops->dump_owned(nd->core.dp.ctx, &d, &e) != 0) {
        LOG_WARN("reconcile: %s", e.msg);
        return NULL;
    }
    uint32_t *v = d.vnis;
    *n = d.n_vnis;
    d.vnis = NULL;
    d.n_vnis = 0;
    node_dp_dump_free(&d);
    return v;
}

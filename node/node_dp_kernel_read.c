/* node_dp_kernel_read.c - what the kernel backend reads: the owned-state dump (for reconcile),
 * the flood entries of one device, the trace description of an IP, and the RTNLGRP_NEIGH
 * subscription that carries l2miss/l3miss. Only Strata's own devices and entries count. */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node_dp_kernel_priv.h"

static const uint8_t kernel_zero[6];

/* ---- dumps */

struct kernel_bridge {
    uint32_t vni;
    int ifindex;
};

struct kernel_collect {
    struct node_dp_kernel *k;
    struct node_dp_dump *d;
    size_t cap_vnis, cap_neigh, cap_fdb, cap_flood;
    struct kernel_bridge *brs; /* owned bridges named br<VNI> */
    size_t n_brs, cap_brs;
    int only_ifindex; /* > 0: keep entries of this device only */
    bool all;         /* un-owned entries too, flood entries not (dump_all) */
    bool oom;
};

static void *kernel_grow(struct kernel_collect *c, void **arr, size_t *n, size_t *cap, size_t sz)
{
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * sz);
    if (p == NULL) {
        c->oom = true;
        return NULL;
    }
    *arr = p;
    *cap = ncap;
    return (char *)p + (*n)++ * sz;
}

#define KC_PUSH(c, arr, n, cap)                                                                    \
    ((c)->d->n < (c)->cap                                                                          \
         ? &(c)->d->arr[(c)->d->n++]                                                               \
         : kernel_grow(c, (void **)&(c)->d->arr, &(c)->d->n, &(c)->cap, sizeof(*(c)->d->arr)))

static void kernel_collect_link(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_collect *c = arg;
    struct strata_nl_link l;
    if (strata_nl_parse_link(nh, &l) != 0 || !strata_nl_link_owned(&l))
        return;
    unsigned vni;
    char tail;
    if (strcmp(l.kind, "bridge") == 0 && sscanf(l.name, "br%u%c", &vni, &tail) == 1) {
        struct kernel_bridge *b =
            c->n_brs < c->cap_brs
                ? &c->brs[c->n_brs++]
                : kernel_grow(c, (void **)&c->brs, &c->n_brs, &c->cap_brs, sizeof(*c->brs));
        if (b != NULL)
            *b = (struct kernel_bridge){vni, l.ifindex};
        return;
    }
    if (strcmp(l.kind, "vxlan") != 0 || !strata_vni_valid(l.vni))
        return;
    (void)kernel_vn_put(c->k, l.vni, l.ifindex, 0);
    uint32_t *slot = KC_PUSH(c, vnis, n_vnis, cap_vnis);
    if (slot != NULL)
        *slot = l.vni;
}

static void kernel_collect_neigh(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_collect *c = arg;
    struct strata_nl_neigh n;
    uint32_t vni;
    if (strata_nl_parse_neigh(nh, &n) != 0 || !n.has_mac || !n.has_dst ||
        kernel_vn_of_ifindex(c->k, n.ifindex, &vni) != 0)
        return;
    bool owned = strata_nl_neigh_owned(&n);
    if ((!owned && !c->all) || (c->only_ifindex > 0 && n.ifindex != c->only_ifindex))
        return;
    if (n.family == AF_BRIDGE) {
        bool flood = memcmp(n.mac, kernel_zero, 6) == 0;
        if (flood && c->all)
            return;
        struct node_dp_fdb *f =
            flood ? KC_PUSH(c, flood, n_flood, cap_flood) : KC_PUSH(c, fdb, n_fdb, cap_fdb);
        if (f == NULL)
            return;
        f->vni = vni;
        memcpy(f->mac, n.mac, 6);
        f->vtep = n.dst;
        f->owned = owned;
        return;
    }
    struct node_dp_neigh *ne = KC_PUSH(c, neigh, n_neigh, cap_neigh);
    if (ne == NULL)
        return;
    ne->vni = vni;
    ne->ip = n.dst;
    memcpy(ne->mac, n.mac, 6);
    ne->owned = owned;
}

static int kernel_dump(struct node_dp_kernel *k, int type, int family, strata_nl_cb cb,
                       struct kernel_collect *c, struct strata_err *e)
{
    if (strata_nl_enc_dump(k->buf, sizeof(k->buf), 0, type, family) == 0)
        return strata_err_set(e, STRATA_EINTERNAL, "cannot encode dump");
    if (type == RTM_GETNEIGH && family == AF_BRIDGE)
        k->fdb_dumps++;
    return strata_nl_dump(k->req, k->buf, cb, c, e);
}

/* After a full dump: every VN's bridge (ours only) and flood list are known. */
static void kernel_learn_from_dump(struct node_dp_kernel *k, struct kernel_collect *c)
{
    for (size_t i = 0; i < k->n_vns; i++) {
        struct kernel_vn *v = &k->vns[i];
        v->br = 0;
        for (size_t j = 0; j < c->n_brs; j++)
            if (c->brs[j].vni == v->vni)
                v->br = c->brs[j].ifindex;
        v->n_flood = 0;
        v->flood_known = true;
        for (size_t j = 0; j < c->d->n_flood && v->flood_known; j++)
            if (c->d->flood[j].vni == v->vni &&
                kernel_flood_learned(v, &c->d->flood[j].vtep, 1) != 0)
                v->flood_known = false; /* out of memory: learn again on the next flood_set */
    }
}

static int kernel_dump_any(struct node_dp_kernel *k, bool all, struct node_dp_dump *d,
                           struct strata_err *e)
{
    memset(d, 0, sizeof(*d));
    struct kernel_collect c = {.k = k, .d = d, .all = all};
    int rc = kernel_dump(k, RTM_GETLINK, AF_UNSPEC, kernel_collect_link, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_INET, kernel_collect_neigh, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_INET6, kernel_collect_neigh, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_BRIDGE, kernel_collect_neigh, &c, e);
    if (rc == 0 && c.oom)
        rc = strata_err_set(e, STRATA_ENOMEM, "dump: out of memory");
    /* Only an owned dump's flood entries are the VN's flood list (an audit's leaves them out). */
    if (rc == 0 && !all)
        kernel_learn_from_dump(k, &c);
    else if (rc != 0)
        node_dp_dump_free(d);
    free(c.brs);
    return rc;
}

int kernel_dump_owned(void *ctx, struct node_dp_dump *d, struct strata_err *e)
{
    return kernel_dump_any(ctx, false, d, e);
}

int kernel_dump_all(void *ctx, struct node_dp_dump *d, struct strata_err *e)
{
    return kernel_dump_any(ctx, true, d, e);
}

int kernel_flood_learn(struct node_dp_kernel *k, struct kernel_vn *v, struct strata_err *e)
{
    struct node_dp_dump d = {0};
    struct kernel_collect c = {.k = k, .d = &d, .only_ifindex = v->vx};
    if (strata_nl_enc_fdb_dump_dev(k->buf, sizeof(k->buf), 0, v->vx) == 0)
        return strata_err_set(e, STRATA_EINTERNAL, "cannot encode fdb dump");
    k->fdb_dumps++;
    int rc = strata_nl_dump(k->req, k->buf, kernel_collect_neigh, &c, e);
    if (rc == 0 && c.oom)
        rc = strata_err_set(e, STRATA_ENOMEM, "fdb dump: out of memory");
    v->n_flood = 0;
    v->flood_known = false;
    for (size_t i = 0; rc == 0 && i < d.n_flood; i++)
        if (kernel_flood_learned(v, &d.flood[i].vtep, 1) != 0)
            rc = strata_err_set(e, STRATA_ENOMEM, "out of memory");
    v->flood_known = rc == 0;
    node_dp_dump_free(&d);
    return rc;
}

/* ---- trace */

struct kernel_describe {
    int ifindex;
    struct strata_ip ip;
    bool found;
    uint8_t mac[6];
    uint16_t state;
    bool fdb_found;
    struct strata_ip vtep;
};

static void kernel_describe_cb(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_describe *x = arg;
    struct strata_nl_neigh n;
    if (strata_nl_parse_neigh(nh, &n) != 0 || n.ifindex != x->ifindex || !n.has_dst)
        return;
    if (n.family == AF_BRIDGE) {
        if (x->found && n.has_mac && memcmp(n.mac, x->mac, 6) == 0) {
            x->fdb_found = true;
            x->vtep = n.dst;
        }
        return;
    }
    if (strata_ip_equal(&n.dst, &x->ip) && n.has_mac) {
        x->found = true;
        memcpy(x->mac, n.mac, 6);
        x->state = n.state;
    }
}

bool kernel_describe_ip(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf, size_t cap,
                        struct node_dp_described *out)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL) {
        snprintf(buf, cap, "no vxlan device for vni %u", vni);
        return false;
    }
    struct kernel_describe x = {.ifindex = v->vx, .ip = *ip};
    struct strata_err e;
    int fam = ip->family == 4 ? AF_INET : AF_INET6;
    if (strata_nl_enc_dump(k->buf, sizeof(k->buf), 0, RTM_GETNEIGH, fam) == 0 ||
        strata_nl_dump(k->req, k->buf, kernel_describe_cb, &x, &e) != 0 ||
        strata_nl_enc_fdb_dump_dev(k->buf, sizeof(k->buf), 0, v->vx) == 0 ||
        (k->fdb_dumps++, strata_nl_dump(k->req, k->buf, kernel_describe_cb, &x, &e)) != 0) {
        snprintf(buf, cap, "dump failed");
        return false;
    }
    if (!x.found) {
        snprintf(buf, cap, "no neighbour entry on vx%u", vni);
        return false;
    }
    if (out != NULL) {
        *out = (struct node_dp_described){.found = true, .has_vtep = x.fdb_found, .vtep = x.vtep};
        memcpy(out->mac, x.mac, 6);
    }
    char ms[STRATA_MAC_STRLEN], vs[STRATA_IP_STRLEN];
    const char *st = (x.state & NUD_PERMANENT) ? "PERMANENT"
                     : (x.state & NUD_NOARP)   ? "NOARP"
                                               : "not-connected";
    if (x.fdb_found)
        snprintf(buf, cap, "lladdr %s %s, fdb dst %s", strata_mac_format(x.mac, ms), st,
                 strata_ip_format(&x.vtep, vs));
    else
        snprintf(buf, cap, "lladdr %s %s, no fdb entry (local or missing)",
                 strata_mac_format(x.mac, ms), st);
    return true;
}

/* ---- misses */

/* Datagrams read per readable event: under a miss storm the loop still serves the control
 * socket and the csd client between reads (the poll is level-triggered: the rest waits). */
#define KERNEL_MISS_READ_MAX 256

int kernel_miss_fd(void *ctx)
{
    struct node_dp_kernel *k = ctx;
    return strata_nl_fd(k->sub);
}

struct kernel_miss_ctx {
    struct node_dp_kernel *k;
    node_dp_miss_cb cb;
    void *arg;
};

static void kernel_miss_cb(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_miss_ctx *m = arg;
    struct strata_nl_neigh n;
    struct node_dp_miss miss = {0};
    /* Only RTM_GETNEIGH on our own vxlan devices; NDA_VNI may be bogus, the ifindex is not. */
    if (nh->nlmsg_type != RTM_GETNEIGH || strata_nl_parse_neigh(nh, &n) != 0 ||
        kernel_vn_of_ifindex(m->k, n.ifindex, &miss.vni) != 0)
        return;
    if ((n.family == AF_INET || n.family == AF_INET6) && n.has_dst && !n.has_mac) {
        /* The bridge's own IPv6 link-local and multicast traffic misses too: never endpoints. */
        if (n.dst.family == 6 &&
            (n.dst.a[0] == 0xff || (n.dst.a[0] == 0xfe && (n.dst.a[1] & 0xc0) == 0x80)))
            return;
        miss.kind = 'i';
        miss.ip = n.dst;
    } else if (n.has_mac && !n.has_dst) {
        /* l2miss: NDA_LLADDR only. Its ndm_family is not reliably AF_BRIDGE (kernel 6.18 sends
         * AF_INET), so the attributes decide. */
        miss.kind = 'm';
        memcpy(miss.mac, n.mac, 6);
    } else {
        return;
    }
    m->cb(m->arg, &miss, false);
}

int kernel_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_miss_ctx m = {k, cb, arg};
    bool overrun = false;
    int rc = strata_nl_recv_max(k->sub, KERNEL_MISS_READ_MAX, kernel_miss_cb, &m, &overrun, e);
    if (overrun)
        cb(arg, NULL, true);
    return rc;
}

/* node_dp_kernel.c - the kernel datapath: vx<VNI> + br<VNI> per VN, neighbour and FDB entries
 * through lib/nl, and the RTNLGRP_NEIGH subscription that carries l2miss/l3miss. */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node_dp.h"
#include "log.h"
#include "nl/nl.h"

#define KERNEL_MAX_VN 4096
#define KERNEL_RCVBUF (8 << 20) /* misses come in bursts: a small buffer means ENOBUFS */

struct kernel_vn {
    uint32_t vni;
    int vx, br;
};

struct node_dp_kernel {
    struct strata_nl *req, *sub;
    struct node_dp_kernel_opts o;
    char underlay[IF_NAMESIZE];
    struct kernel_vn vns[KERNEL_MAX_VN];
    size_t n_vns;
    int announce_fd; /* packet socket for node_dp_announce_arp, -1 until first use */
    char buf[STRATA_NL_MSG_MAX];
};

static const uint8_t kernel_zero[6];

static struct kernel_vn *kernel_vn_find(struct node_dp_kernel *k, uint32_t vni)
{
    for (size_t i = 0; i < k->n_vns; i++)
        if (k->vns[i].vni == vni)
            return &k->vns[i];
    return NULL;
}

static int kernel_vn_of_ifindex(const struct node_dp_kernel *k, int ifindex, uint32_t *vni)
{
    for (size_t i = 0; i < k->n_vns; i++)
        if (k->vns[i].vx == ifindex) {
            *vni = k->vns[i].vni;
            return 0;
        }
    return STRATA_ENOTFOUND;
}

static struct kernel_vn *kernel_vn_put(struct node_dp_kernel *k, uint32_t vni, int vx, int br)
{
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL) {
        if (k->n_vns == KERNEL_MAX_VN)
            return NULL;
        v = &k->vns[k->n_vns++];
        v->vni = vni;
    }
    v->vx = vx;
    v->br = br;
    return v;
}

static int kernel_req(struct node_dp_kernel *k, size_t len, const char *what, struct strata_err *e)
{
    if (len == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s: cannot encode", what);
    int rc = strata_nl_request(k->req, k->buf, e);
    if (rc != 0 && e != NULL) {
        char m[sizeof(e->msg)];
        snprintf(m, sizeof(m), "%s", e->msg);
        strata_err_set(e, rc, "%s: %s", what, m);
    }
    return rc;
}

static int kernel_vn_ensure(void *ctx, uint32_t vni, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    char vxn[IF_NAMESIZE], brn[IF_NAMESIZE];
    snprintf(vxn, sizeof(vxn), "vx%u", vni);
    snprintf(brn, sizeof(brn), "br%u", vni);
    int rc;
    if (if_nametoindex(brn) == 0) {
        rc = kernel_req(k, strata_nl_enc_bridge_new(k->buf, sizeof(k->buf), 0, brn, k->o.mtu),
                        "create bridge", e);
        if (rc != 0 && rc != STRATA_EEXIST)
            return rc;
    }
    if (if_nametoindex(vxn) == 0) {
        struct strata_nl_vxlan v = {.name = vxn, .vni = vni, .local = k->o.vtep, .mtu = k->o.mtu};
        if (k->underlay[0] != '\0' && (v.link = if_nametoindex(k->underlay)) == 0)
            return strata_err_set(e, STRATA_ENOTFOUND, "underlay device %s not found", k->underlay);
        rc = kernel_req(k, strata_nl_enc_vxlan_new(k->buf, sizeof(k->buf), 0, &v), "create vxlan",
                        e);
        if (rc != 0 && rc != STRATA_EEXIST)
            return rc;
    }
    int br = (int)if_nametoindex(brn), vx = (int)if_nametoindex(vxn);
    if (br == 0 || vx == 0)
        return strata_err_set(e, STRATA_ENOTFOUND, "devices of vni %u vanished", vni);
    if (kernel_vn_put(k, vni, vx, br) == NULL)
        return strata_err_set(e, STRATA_ENOSPACE, "too many VNs");
    rc = kernel_req(k, strata_nl_enc_link_alias(k->buf, sizeof(k->buf), 0, vx, STRATA_NL_ALIAS),
                    "mark vxlan", e);
    if (rc == 0)
        rc = kernel_req(k, strata_nl_enc_link_alias(k->buf, sizeof(k->buf), 0, br, STRATA_NL_ALIAS),
                        "mark bridge", e);
    if (rc == 0)
        rc = kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, vx, br, 1),
                        "enslave vxlan", e);
    if (rc != 0)
        return rc;
    return kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, br, -1, 1), "bridge up",
                      e);
}

static int kernel_vn_release(void *ctx, uint32_t vni, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    char name[IF_NAMESIZE];
    const char *fmt[2] = {"vx%u", "br%u"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), fmt[i], vni);
        int idx = (int)if_nametoindex(name);
        if (idx == 0)
            continue;
        int rc =
            kernel_req(k, strata_nl_enc_link_del(k->buf, sizeof(k->buf), 0, idx), "delete link", e);
        if (rc != 0 && rc != STRATA_ENOTFOUND)
            return rc;
    }
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v != NULL)
        *v = k->vns[--k->n_vns];
    return 0;
}

static int kernel_port_enslave(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL)
        return strata_err_set(e, STRATA_ENOTFOUND, "no devices for vni %u", vni);
    int idx = (int)if_nametoindex(ifname);
    if (idx == 0)
        return strata_err_set(e, STRATA_ENOTFOUND, "interface %s not found", ifname);
    return kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, idx, v->br, 1),
                      "enslave port", e);
}

static int kernel_port_release(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    (void)vni;
    struct node_dp_kernel *k = ctx;
    int idx = (int)if_nametoindex(ifname);
    if (idx == 0)
        return 0; /* the VM's interface is already gone */
    int rc = kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, idx, 0, -1),
                        "release port", e);
    return rc == STRATA_ENOTFOUND ? 0 : rc;
}

static int kernel_vx(struct node_dp_kernel *k, uint32_t vni, struct strata_err *e)
{
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL)
        return strata_err_set(e, STRATA_ENOTFOUND, "no vxlan device for vni %u", vni);
    return v->vx;
}

static int kernel_neigh_set(void *ctx, uint32_t vni, const struct strata_ip *ip,
                            const uint8_t mac[6], struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    int vx = kernel_vx(k, vni, e);
    if (vx < 0)
        return vx;
    return kernel_req(k, strata_nl_enc_neigh(k->buf, sizeof(k->buf), 0, true, vx, ip, mac),
                      "neigh set", e);
}

static int kernel_neigh_del(void *ctx, uint32_t vni, const struct strata_ip *ip,
                            struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    int vx = kernel_vx(k, vni, e);
    if (vx < 0)
        return vx == STRATA_ENOTFOUND ? 0 : vx;
    int rc = kernel_req(k, strata_nl_enc_neigh(k->buf, sizeof(k->buf), 0, false, vx, ip, NULL),
                        "neigh del", e);
    return rc == STRATA_ENOTFOUND ? 0 : rc;
}

static int kernel_fdb_set(void *ctx, uint32_t vni, const uint8_t mac[6],
                          const struct strata_ip *vtep, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    int vx = kernel_vx(k, vni, e);
    if (vx < 0)
        return vx;
    return kernel_req(k, strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, true, false, vx, mac, vtep),
                      "fdb set", e);
}

static int kernel_fdb_del(void *ctx, uint32_t vni, const uint8_t mac[6], struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    int vx = kernel_vx(k, vni, e);
    if (vx < 0)
        return vx == STRATA_ENOTFOUND ? 0 : vx;
    int rc = kernel_req(
        k, strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, false, false, vx, mac, NULL), "fdb del", e);
    return rc == STRATA_ENOTFOUND ? 0 : rc;
}

/* ---- dumps */

struct kernel_collect {
    struct node_dp_kernel *k;
    struct node_dp_dump *d;
    size_t cap_vnis, cap_neigh, cap_fdb, cap_flood;
    int only_ifindex; /* > 0: keep entries of this device only */
    bool oom;
};

#define KC_PUSH(c, arr, n, cap)                                                                    \
    ((c)->d->n < (c)->cap                                                                          \
         ? &(c)->d->arr[(c)->d->n++]                                                               \
         : kernel_grow(c, (void **)&(c)->d->arr, &(c)->d->n, &(c)->cap, sizeof(*(c)->d->arr)))

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

static void kernel_collect_link(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_collect *c = arg;
    struct strata_nl_link l;
    if (strata_nl_parse_link(nh, &l) != 0 || strcmp(l.kind, "vxlan") != 0 ||
        !strata_nl_link_owned(&l) || !strata_vni_valid(l.vni))
        return;
    char brn[IF_NAMESIZE];
    snprintf(brn, sizeof(brn), "br%u", l.vni);
    (void)kernel_vn_put(c->k, l.vni, l.ifindex, (int)if_nametoindex(brn));
    uint32_t *slot = KC_PUSH(c, vnis, n_vnis, cap_vnis);
    if (slot != NULL)
        *slot = l.vni;
}

static void kernel_collect_neigh(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_collect *c = arg;
    struct strata_nl_neigh n;
    uint32_t vni;
    if (strata_nl_parse_neigh(nh, &n) != 0 || !strata_nl_neigh_owned(&n) || !n.has_mac ||
        !n.has_dst || kernel_vn_of_ifindex(c->k, n.ifindex, &vni) != 0)
        return;
    if (c->only_ifindex > 0 && n.ifindex != c->only_ifindex)
        return;
    if (n.family == AF_BRIDGE) {
        bool flood = memcmp(n.mac, kernel_zero, 6) == 0;
        struct node_dp_fdb *f =
            flood ? KC_PUSH(c, flood, n_flood, cap_flood) : KC_PUSH(c, fdb, n_fdb, cap_fdb);
        if (f == NULL)
            return;
        f->vni = vni;
        memcpy(f->mac, n.mac, 6);
        f->vtep = n.dst;
        return;
    }
    struct node_dp_neigh *ne = KC_PUSH(c, neigh, n_neigh, cap_neigh);
    if (ne == NULL)
        return;
    ne->vni = vni;
    ne->ip = n.dst;
    memcpy(ne->mac, n.mac, 6);
}

static int kernel_dump(struct node_dp_kernel *k, int type, int family, strata_nl_cb cb,
                       struct kernel_collect *c, struct strata_err *e)
{
    if (strata_nl_enc_dump(k->buf, sizeof(k->buf), 0, type, family) == 0)
        return strata_err_set(e, STRATA_EINTERNAL, "cannot encode dump");
    return strata_nl_dump(k->req, k->buf, cb, c, e);
}

static int kernel_dump_owned(void *ctx, struct node_dp_dump *d, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    memset(d, 0, sizeof(*d));
    struct kernel_collect c = {.k = k, .d = d};
    int rc = kernel_dump(k, RTM_GETLINK, AF_UNSPEC, kernel_collect_link, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_INET, kernel_collect_neigh, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_INET6, kernel_collect_neigh, &c, e);
    if (rc == 0)
        rc = kernel_dump(k, RTM_GETNEIGH, AF_BRIDGE, kernel_collect_neigh, &c, e);
    if (rc == 0 && c.oom)
        rc = strata_err_set(e, STRATA_ENOMEM, "dump: out of memory");
    if (rc != 0)
        node_dp_dump_free(d);
    return rc;
}

static int kernel_flood_set(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                            struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    int vx = kernel_vx(k, vni, e);
    if (vx < 0)
        return vx;
    struct node_dp_dump d = {0};
    struct kernel_collect c = {.k = k, .d = &d, .only_ifindex = vx};
    int rc = kernel_dump(k, RTM_GETNEIGH, AF_BRIDGE, kernel_collect_neigh, &c, e);
    for (size_t i = 0; rc == 0 && i < d.n_flood; i++) {
        bool keep = false;
        for (size_t j = 0; j < n; j++)
            keep = keep || strata_ip_equal(&vteps[j], &d.flood[i].vtep);
        if (!keep)
            rc = kernel_req(k,
                            strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, false, false, vx,
                                              kernel_zero, &d.flood[i].vtep),
                            "flood del", e);
    }
    for (size_t j = 0; rc == 0 && j < n; j++) {
        bool have = false;
        for (size_t i = 0; i < d.n_flood; i++)
            have = have || strata_ip_equal(&vteps[j], &d.flood[i].vtep);
        if (!have)
            rc = kernel_req(k,
                            strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, true, true, vx,
                                              kernel_zero, &vteps[j]),
                            "flood add", e);
    }
    node_dp_dump_free(&d);
    return rc;
}

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

static bool kernel_describe_ip(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf,
                               size_t cap)
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
        strata_nl_enc_dump(k->buf, sizeof(k->buf), 0, RTM_GETNEIGH, AF_BRIDGE) == 0 ||
        strata_nl_dump(k->req, k->buf, kernel_describe_cb, &x, &e) != 0) {
        snprintf(buf, cap, "dump failed");
        return false;
    }
    if (!x.found) {
        snprintf(buf, cap, "no neighbour entry on vx%u", vni);
        return false;
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

static int kernel_announce(void *ctx, uint32_t vni, const struct strata_ip *ip,
                           const uint8_t mac[6], struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    return node_dp_announce_arp(&k->announce_fd, vni, ip, mac, e);
}

static int kernel_miss_fd(void *ctx);
static int kernel_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e);

static const struct node_dp_ops kernel_ops = {
    .vn_ensure = kernel_vn_ensure,
    .vn_release = kernel_vn_release,
    .port_enslave = kernel_port_enslave,
    .port_release = kernel_port_release,
    .neigh_set = kernel_neigh_set,
    .neigh_del = kernel_neigh_del,
    .fdb_set = kernel_fdb_set,
    .fdb_del = kernel_fdb_del,
    .flood_set = kernel_flood_set,
    .dump_owned = kernel_dump_owned,
    .describe_ip = kernel_describe_ip,
    .announce = kernel_announce,
    .miss_fd = kernel_miss_fd,
    .miss_read = kernel_miss_read,
};

int node_dp_kernel_new(const struct node_dp_kernel_opts *o, struct node_dp_kernel **out,
                       struct strata_err *e)
{
    struct node_dp_kernel *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    k->o = *o;
    k->announce_fd = -1;
    if (o->underlay_dev != NULL)
        snprintf(k->underlay, sizeof(k->underlay), "%s", o->underlay_dev);
    int rc = strata_nl_open(0, 0, &k->req, e);
    if (rc == 0)
        rc = strata_nl_open(1u << (RTNLGRP_NEIGH - 1), KERNEL_RCVBUF, &k->sub, e);
    if (rc != 0) {
        node_dp_kernel_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void node_dp_kernel_free(struct node_dp_kernel *k)
{
    if (k == NULL)
        return;
    strata_nl_close(k->req);
    strata_nl_close(k->sub);
    if (k->announce_fd >= 0)
        close(k->announce_fd);
    free(k);
}

struct node_dp node_dp_kernel(struct node_dp_kernel *k)
{
    return (struct node_dp){.ops = &kernel_ops, .ctx = k};
}

static int kernel_miss_fd(void *ctx)
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

static int kernel_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_miss_ctx m = {k, cb, arg};
    bool overrun = false;
    int rc = strata_nl_recv(k->sub, kernel_miss_cb, &m, &overrun, e);
    if (overrun)
        cb(arg, NULL, true);
    return rc;
}

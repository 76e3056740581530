/* node_dp_kernel.c - the kernel datapath: vx<VNI> + br<VNI> per VN, neighbour and FDB entries
 * through lib/nl, optionally in another network namespace (a gateway's tenant domain). It
 * touches only devices carrying Strata's mark: a same-named device of someone else is refused,
 * never adopted, relabelled, enslaved, brought down or deleted. Reads: node_dp_kernel_read.c. */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"
#include "nl/nl_addr.h"
#include "node_dp_kernel_priv.h"

#define KERNEL_RCVBUF (8 << 20) /* misses come in bursts: a small buffer means ENOBUFS */

/* The subscription's buffer: KERNEL_RCVBUF, or (test-only, tests/system/test_agent_faults.c)
 * STRATA_TEST_NL_RCVBUF bytes, small enough to overflow on purpose. */
static int kernel_rcvbuf(void)
{
    const char *s = getenv("STRATA_TEST_NL_RCVBUF");
    long v = s != NULL ? strtol(s, NULL, 10) : 0;
    if (v <= 0 || v > KERNEL_RCVBUF)
        return KERNEL_RCVBUF;
    LOG_WARN("STRATA_TEST_NL_RCVBUF: miss subscription buffer %ld bytes (test only)", v);
    return (int)v;
}

static const uint8_t kernel_zero[6];

struct kernel_vn *kernel_vn_find(struct node_dp_kernel *k, uint32_t vni)
{
    for (size_t i = 0; i < k->n_vns; i++)
        if (k->vns[i].vni == vni)
            return &k->vns[i];
    return NULL;
}

int kernel_vn_of_ifindex(const struct node_dp_kernel *k, int ifindex, uint32_t *vni)
{
    for (size_t i = 0; i < k->n_vns; i++)
        if (k->vns[i].vx == ifindex) {
            *vni = k->vns[i].vni;
            return 0;
        }
    return STRATA_ENOTFOUND;
}

struct kernel_vn *kernel_vn_put(struct node_dp_kernel *k, uint32_t vni, int vx, int br)
{
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL) {
        if (k->n_vns == KERNEL_MAX_VN)
            return NULL;
        v = &k->vns[k->n_vns++];
        memset(v, 0, sizeof(*v));
        v->vni = vni;
    }
    if (v->vx != vx) {
        v->flood_known = false; /* another device: what we knew is not about it */
        v->n_flood = 0;
    }
    v->vx = vx;
    v->br = br;
    return v;
}

static void kernel_vn_forget(struct node_dp_kernel *k, uint32_t vni)
{
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL)
        return;
    free(v->flood);
    *v = k->vns[--k->n_vns];
}

int kernel_flood_learned(struct kernel_vn *v, const struct strata_ip *vteps, size_t n)
{
    if (v->n_flood + n > v->cap_flood) {
        size_t cap = v->cap_flood ? v->cap_flood * 2 : 8;
        while (cap < v->n_flood + n)
            cap *= 2;
        struct strata_ip *p = realloc(v->flood, cap * sizeof(*p));
        if (p == NULL)
            return STRATA_ENOMEM;
        v->flood = p;
        v->cap_flood = cap;
    }
    memcpy(v->flood + v->n_flood, vteps, n * sizeof(*vteps));
    v->n_flood += n;
    return 0;
}

static int kernel_req_on(struct node_dp_kernel *k, struct strata_nl *sock, size_t len,
                         const char *what, struct strata_err *e)
{
    if (len == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s: cannot encode", what);
    int rc = strata_nl_request(sock, k->buf, e);
    if (rc != 0 && e != NULL) {
        char m[sizeof(e->msg)];
        snprintf(m, sizeof(m), "%s", e->msg);
        strata_err_set(e, rc, "%s: %s", what, m);
    }
    return rc;
}

static int kernel_req(struct node_dp_kernel *k, size_t len, const char *what, struct strata_err *e)
{
    return kernel_req_on(k, k->req, len, what, e);
}

/* ---- links: looked up through the datapath's namespace (never if_nametoindex: that answers
 * for the caller's namespace) */

struct kernel_link_q {
    bool found;
    struct strata_nl_link l;
};

static void kernel_link_cb(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_link_q *q = arg;
    if (strata_nl_parse_link(nh, &q->l) == 0)
        q->found = true;
}

/* 0 and *out, STRATA_ENOTFOUND (no message), or another error (with one). */
static int kernel_link_get(struct node_dp_kernel *k, int ifindex, const char *name,
                           struct strata_nl_link *out, struct strata_err *e)
{
    struct kernel_link_q q = {0};
    struct strata_err e2;
    if (strata_nl_enc_link_get(k->buf, sizeof(k->buf), 0, ifindex, name) == 0)
        return strata_err_set(e, STRATA_EINVAL, "bad interface name");
    int rc = strata_nl_get(k->req, k->buf, kernel_link_cb, &q, &e2);
    if (rc == STRATA_ENOTFOUND || (rc == 0 && !q.found))
        return STRATA_ENOTFOUND;
    if (rc != 0)
        return strata_err_set(e, rc, "%s: %s", name != NULL ? name : "link", e2.msg);
    *out = q.l;
    return 0;
}

static int kernel_refuse(const struct strata_nl_link *l, struct strata_err *e)
{
    return strata_err_set(e, STRATA_EEXIST,
                          "%s exists and is not Strata's (alias \"%s\"): remove or rename it",
                          l->name, l->alias);
}

/* Our device `name`: 0 and its ifindex in *idx, 0 and *idx 0 when absent, STRATA_EEXIST when
 * it exists without our mark. */
static int kernel_owned_dev(struct node_dp_kernel *k, const char *name, int *idx,
                            struct strata_err *e)
{
    struct strata_nl_link l;
    *idx = 0;
    int rc = kernel_link_get(k, 0, name, &l, e);
    if (rc == STRATA_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (!strata_nl_link_owned(&l))
        return kernel_refuse(&l, e);
    *idx = l.ifindex;
    return 0;
}

/* Create `name` (bridge, or vxlan for vni) and mark it: the kernel ignores an alias given at
 * creation, so the mark is a second request. */
static int kernel_create(struct node_dp_kernel *k, const char *name, uint32_t vni, int *idx,
                         struct strata_err *e)
{
    int rc;
    if (vni == 0) {
        rc = kernel_req(k, strata_nl_enc_bridge_new(k->buf, sizeof(k->buf), 0, name, k->o.mtu),
                        "create bridge", e);
    } else {
        struct strata_nl_vxlan v = {.name = name, .vni = vni, .local = k->o.vtep, .mtu = k->o.mtu};
        /* The underlay device and the UDP socket belong to the caller's namespace; the device
         * is born in the datapath's (IFLA_NET_NS_FD), where its misses are then reported. */
        if (k->underlay[0] != '\0' && (v.link = if_nametoindex(k->underlay)) == 0)
            return strata_err_set(e, STRATA_ENOTFOUND, "underlay device %s not found", k->underlay);
        v.in_netns = k->und != NULL;
        v.netns_fd = k->o.netns_fd;
        rc = kernel_req_on(k, k->und != NULL ? k->und : k->req,
                           strata_nl_enc_vxlan_new(k->buf, sizeof(k->buf), 0, &v), "create vxlan",
                           e);
    }
    if (rc != 0)
        return rc;
    struct strata_nl_link l;
    rc = kernel_link_get(k, 0, name, &l, e);
    if (rc != 0)
        return rc == STRATA_ENOTFOUND ? strata_err_set(e, rc, "%s vanished", name) : rc;
    *idx = l.ifindex;
    return kernel_req(
        k, strata_nl_enc_link_alias(k->buf, sizeof(k->buf), 0, l.ifindex, STRATA_NL_ALIAS),
        "mark device", e);
}

static int kernel_vn_ensure(void *ctx, uint32_t vni, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    char vxn[IF_NAMESIZE], brn[IF_NAMESIZE];
    snprintf(vxn, sizeof(vxn), "vx%u", vni);
    snprintf(brn, sizeof(brn), "br%u", vni);
    int br, vx;
    /* Both checked before anything is created: a refusal leaves the kernel as it was. */
    int rc = kernel_owned_dev(k, brn, &br, e);
    if (rc == 0)
        rc = kernel_owned_dev(k, vxn, &vx, e);
    if (rc != 0)
        return rc;
    bool fresh_vx = vx == 0;
    if (br == 0 && (rc = kernel_create(k, brn, 0, &br, e)) != 0)
        return rc;
    if (vx == 0 && (rc = kernel_create(k, vxn, vni, &vx, e)) != 0)
        return rc;
    struct kernel_vn *v = kernel_vn_put(k, vni, vx, br);
    if (v == NULL)
        return strata_err_set(e, STRATA_ENOSPACE, "too many VNs");
    if (fresh_vx) {
        v->flood_known = true; /* a new device has no flood entries */
        v->n_flood = 0;
    }
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
        struct strata_nl_link l;
        int rc = kernel_link_get(k, 0, name, &l, e);
        if (rc == STRATA_ENOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        if (!strata_nl_link_owned(&l)) {
            LOG_WARN("release vni=%u: %s is not Strata's (alias \"%s\"): left alone", vni, name,
                     l.alias);
            continue;
        }
        rc = kernel_req(k, strata_nl_enc_link_del(k->buf, sizeof(k->buf), 0, l.ifindex),
                        "delete link", e);
        if (rc != 0 && rc != STRATA_ENOTFOUND)
            return rc;
    }
    kernel_vn_forget(k, vni);
    return 0;
}

/* ---- ports */

struct kernel_addr_q {
    int ifindex;
    bool found;
    struct strata_ip first;
};

static void kernel_addr_cb(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_addr_q *q = arg;
    struct strata_nl_addr a;
    if (q->found || strata_nl_parse_addr(nh, &a) != 0 || a.ifindex != q->ifindex)
        return;
    if (a.ip.family == 6 && a.ip.a[0] == 0xfe && (a.ip.a[1] & 0xc0) == 0x80)
        return; /* link-local: every interface that is up has one */
    q->found = true;
    q->first = a.ip;
}

/* A VM's port is a veth or a tap that carries no address of the host's: anything else (the
 * underlay above all) would join the host's own network to the VN (issue 24). */
static int kernel_port_check(struct node_dp_kernel *k, const struct strata_nl_link *port,
                             struct strata_err *e)
{
    if (strcmp(port->kind, "veth") != 0 && strcmp(port->kind, "tun") != 0)
        return strata_err_set(
            e, STRATA_EINVAL, "%s is a%s %s device: only veth and tap interfaces are VM ports",
            port->name, port->kind[0] ? "" : " plain", port->kind[0] ? port->kind : "network");
    struct kernel_addr_q q = {.ifindex = port->ifindex};
    struct strata_err e2;
    strata_nl_enc_addr_dump(k->buf, sizeof(k->buf), 0);
    int rc = strata_nl_dump(k->req, k->buf, kernel_addr_cb, &q, &e2);
    if (rc != 0)
        return strata_err_set(e, rc, "addresses of %s: %s", port->name, e2.msg);
    char a[STRATA_IP_STRLEN];
    if (q.found)
        return strata_err_set(e, STRATA_EINVAL,
                              "%s carries %s: a VM port carries no address of the host (the "
                              "underlay?)",
                              port->name, strata_ip_format(&q.first, a));
    return 0;
}

static int kernel_port_enslave(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    char brn[IF_NAMESIZE];
    snprintf(brn, sizeof(brn), "br%u", vni);
    int br;
    int rc = kernel_owned_dev(k, brn, &br, e);
    if (rc != 0)
        return rc;
    if (br == 0)
        return strata_err_set(e, STRATA_ENOTFOUND, "no devices for vni %u", vni);
    struct strata_nl_link port, master;
    rc = kernel_link_get(k, 0, ifname, &port, e);
    if (rc == STRATA_ENOTFOUND)
        return strata_err_set(e, rc, "interface %s not found", ifname);
    if (rc == 0 && port.master != br)
        rc = kernel_port_check(k, &port, e);
    if (rc != 0)
        return rc;
    /* Taking a port from someone else's bridge would break their network. */
    if (port.master != 0 && port.master != br &&
        kernel_link_get(k, port.master, NULL, &master, e) == 0 && !strata_nl_link_owned(&master))
        return strata_err_set(e, STRATA_EEXIST,
                              "%s is on %s, which is not Strata's: take it off first", ifname,
                              master.name);
    return kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, port.ifindex, br, 1),
                      "enslave port", e);
}

static int kernel_port_release(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    (void)vni;
    struct node_dp_kernel *k = ctx;
    struct strata_nl_link port, master;
    int rc = kernel_link_get(k, 0, ifname, &port, e);
    if (rc == STRATA_ENOTFOUND)
        return 0; /* the VM's interface is already gone */
    if (rc != 0)
        return rc;
    if (port.master == 0)
        return 0;
    rc = kernel_link_get(k, port.master, NULL, &master, e);
    if (rc == STRATA_ENOTFOUND || (rc == 0 && !strata_nl_link_owned(&master)))
        return 0; /* moved to someone else's bridge meanwhile: theirs now */
    if (rc != 0)
        return rc;
    rc = kernel_req(k, strata_nl_enc_link_set(k->buf, sizeof(k->buf), 0, port.ifindex, 0, -1),
                    "release port", e);
    return rc == STRATA_ENOTFOUND ? 0 : rc;
}

/* ---- entries */

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
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL)
        return 0;
    int rc = kernel_req(k, strata_nl_enc_neigh(k->buf, sizeof(k->buf), 0, false, v->vx, ip, NULL),
                        "neigh del", e);
    if (rc == 0 || rc == STRATA_ENOTFOUND) {
        rc = 0;
        /* A bridge endpoint got the answer too (announce): it goes with the key. */
        if (k->o.bridge_endpoint && v->br > 0)
            rc = kernel_req(k,
                            strata_nl_enc_neigh(k->buf, sizeof(k->buf), 0, false, v->br, ip, NULL),
                            "bridge neigh del", e);
    }
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

static bool kernel_ip_in(const struct strata_ip *ip, const struct strata_ip *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strata_ip_equal(ip, &v[i]))
            return true;
    return false;
}

static int kernel_flood_set(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                            struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL)
        return strata_err_set(e, STRATA_ENOTFOUND, "no vxlan device for vni %u", vni);
    int rc = v->flood_known ? 0 : kernel_flood_learn(k, v, e);
    for (size_t i = 0; rc == 0 && i < v->n_flood;) {
        if (kernel_ip_in(&v->flood[i], vteps, n)) {
            i++;
            continue;
        }
        rc = kernel_req(k,
                        strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, false, false, v->vx,
                                          kernel_zero, &v->flood[i]),
                        "flood del", e);
        if (rc == STRATA_ENOTFOUND)
            rc = 0; /* gone already: the goal */
        if (rc == 0)
            v->flood[i] = v->flood[--v->n_flood];
    }
    for (size_t j = 0; rc == 0 && j < n; j++) {
        if (kernel_ip_in(&vteps[j], v->flood, v->n_flood))
            continue;
        rc = kernel_req(
            k,
            strata_nl_enc_fdb(k->buf, sizeof(k->buf), 0, true, true, v->vx, kernel_zero, &vteps[j]),
            "flood add", e);
        if (rc == 0 && kernel_flood_learned(v, &vteps[j], 1) != 0)
            v->flood_known = false; /* out of memory: relearn next time */
    }
    if (rc != 0)
        v->flood_known = false; /* unsure what the kernel has now: ask it next time */
    return rc;
}

/* ---- announce */

struct kernel_ports {
    int skip; /* the vxlan device: nothing crosses the underlay */
    int v[256];
    size_t n;
};

static void kernel_ports_cb(const struct nlmsghdr *nh, void *arg)
{
    struct kernel_ports *p = arg;
    struct strata_nl_link l;
    if (strata_nl_parse_link(nh, &l) == 0 && l.ifindex != p->skip &&
        p->n < sizeof(p->v) / sizeof(p->v[0]))
        p->v[p->n++] = l.ifindex;
}

static int kernel_announce(void *ctx, uint32_t vni, const struct strata_ip *ip,
                           const uint8_t mac[6], struct strata_err *e)
{
    struct node_dp_kernel *k = ctx;
    struct kernel_vn *v = kernel_vn_find(k, vni);
    if (v == NULL || v->br <= 0)
        return 0; /* no bridge (yet): nobody local to tell */
    if (k->o.bridge_endpoint)
        return kernel_req(k, strata_nl_enc_neigh(k->buf, sizeof(k->buf), 0, true, v->br, ip, mac),
                          "bridge neigh set", e);
    /* The bridge's ports, listed by the kernel (filtered on IFLA_MASTER) in our namespace. */
    struct kernel_ports p = {.skip = v->vx};
    if (strata_nl_enc_link_dump_master(k->buf, sizeof(k->buf), 0, v->br) == 0)
        return strata_err_set(e, STRATA_EINTERNAL, "cannot encode link dump");
    int rc = strata_nl_dump(k->req, k->buf, kernel_ports_cb, &p, e);
    if (rc != 0)
        return rc;
    return node_dp_announce_arp(k->announce_fd, p.v, p.n, ip, mac, e);
}

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
    .dump_all = kernel_dump_all,
    .describe_ip = kernel_describe_ip,
    .announce = kernel_announce,
    .miss_fd = kernel_miss_fd,
    .miss_read = kernel_miss_read,
};

/* ---- lifecycle */

/* The sockets of the datapath's namespace: netlink request and subscription, packet socket. A
 * socket belongs to the namespace it was created in, whatever the thread does afterwards. */
static int kernel_open_sockets(struct node_dp_kernel *k, struct strata_err *e)
{
    int rc = strata_nl_open(0, 0, &k->req, e);
    if (rc == 0)
        rc = strata_nl_open(1u << (RTNLGRP_NEIGH - 1), kernel_rcvbuf(), &k->sub, e);
    if (rc == 0 && (k->announce_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)) < 0)
        rc = strata_err_set(e, STRATA_EIO, "packet socket: %s", strerror(errno));
    return rc;
}

/* kernel_open_sockets inside netns_fd: setns on this thread, then back. */
static int kernel_open_in_netns(struct node_dp_kernel *k, struct strata_err *e)
{
    int self, rc = strata_netns_enter(k->o.netns_fd, &self, e);
    if (rc != 0)
        return rc;
    rc = kernel_open_sockets(k, e);
    strata_netns_leave(self);
    return rc;
}

int node_dp_kernel_new(const struct node_dp_kernel_opts *o, struct node_dp_kernel **out,
                       struct strata_err *e)
{
    struct node_dp_kernel *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    k->o = *o;
    k->o.underlay_dev = NULL; /* copied below: the caller's string need not live on */
    k->announce_fd = -1;
    if (o->underlay_dev != NULL)
        snprintf(k->underlay, sizeof(k->underlay), "%s", o->underlay_dev);
    int rc;
    if (o->netns_fd >= 0) {
        rc = strata_nl_open(0, 0, &k->und, e);
        if (rc == 0)
            rc = kernel_open_in_netns(k, e);
    } else {
        rc = kernel_open_sockets(k, e);
    }
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
    strata_nl_close(k->und);
    if (k->announce_fd >= 0)
        close(k->announce_fd);
    for (size_t i = 0; i < k->n_vns; i++)
        free(k->vns[i].flood);
    free(k);
}

struct node_dp node_dp_kernel(struct node_dp_kernel *k)
{
    return (struct node_dp){.ops = &kernel_ops, .ctx = k};
}

uint64_t node_dp_kernel_fdb_dumps(const struct node_dp_kernel *k)
{
    return k->fdb_dumps;
}

/* gw_l3.c - br<VNI>'s MAC and addresses in a domain namespace, changed by difference. */
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw_l3.h"
#include "gw_ns.h"
#include "netns.h"
#include "nl/nl.h"
#include "nl/nl_addr.h"

#define GW_L3_ADDR_MAX 64 /* addresses on one VN's interface (subnets per VN) */

struct gw_l3 {
    struct strata_nl *nl;
    uint32_t seq;
    struct gw_l3_stats st;
};

void gw_l3_vmac(uint32_t vni, uint8_t mac[6])
{
    mac[0] = 0x02, mac[1] = 0x53, mac[2] = 0x54;
    mac[3] = (uint8_t)(vni >> 16), mac[4] = (uint8_t)(vni >> 8), mac[5] = (uint8_t)vni;
}

int gw_l3_open(int ns_fd, struct gw_l3 **out, struct strata_err *e)
{
    struct gw_l3 *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    int saved, rc = strata_netns_enter(ns_fd, &saved, e);
    if (rc == 0) {
        rc = strata_nl_open(0, 0, &l->nl, e);
        strata_netns_leave(saved);
    }
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void gw_l3_free(struct gw_l3 *l)
{
    if (l == NULL)
        return;
    strata_nl_close(l->nl);
    free(l);
}

const struct gw_l3_stats *gw_l3_stats(const struct gw_l3 *l)
{
    return &l->st;
}

/* ---- the bridge: ifindex, ownership, MAC */
struct link_find {
    const char *name;
    int ifindex;
    bool owned;
    uint8_t mac[6];
};

static int link_mac_attr(const struct nlattr *attr, void *data)
{
    if (mnl_attr_get_type(attr) == IFLA_ADDRESS && mnl_attr_get_payload_len(attr) == 6)
        memcpy(data, mnl_attr_get_payload(attr), 6);
    return MNL_CB_OK;
}

static void link_cb(const struct nlmsghdr *nh, void *arg)
{
    struct link_find *f = arg;
    struct strata_nl_link l;
    if (strata_nl_parse_link(nh, &l) != 0 || strcmp(l.name, f->name) != 0)
        return;
    f->ifindex = l.ifindex;
    f->owned = strata_nl_link_owned(&l);
    mnl_attr_parse(nh, sizeof(struct ifinfomsg), link_mac_attr, f->mac);
}

/* One link by name (RTM_GETLINK of that link alone, not a dump of all). */
static int link_get(struct gw_l3 *l, const char *name, struct link_find *f, struct strata_err *e)
{
    char buf[STRATA_NL_MSG_MAX];
    *f = (struct link_find){.name = name};
    if (strata_nl_enc_link_get(buf, sizeof(buf), ++l->seq, 0, name) == 0)
        return strata_err_set(e, STRATA_EINVAL, "bad interface name %s", name);
    struct strata_err e2;
    int rc = strata_nl_get(l->nl, buf, link_cb, f, &e2);
    if (rc == 0 && f->ifindex == 0)
        rc = STRATA_ENOTFOUND;
    if (rc == STRATA_ENOTFOUND)
        return strata_err_set(e, rc, "%s does not exist in the domain namespace", name);
    if (rc != 0 && e != NULL)
        *e = e2;
    f->name = NULL; /* the caller's name need not outlive the call */
    return rc;
}

static int bridge_find(struct gw_l3 *l, uint32_t vni, struct link_find *f, struct strata_err *e)
{
    char name[IF_NAMESIZE];
    snprintf(name, sizeof(name), "br%u", vni);
    int rc = link_get(l, name, f, e);
    if (rc == 0 && !f->owned)
        rc = strata_err_set(e, STRATA_EEXIST, "%s is not Strata's: not touching it", name);
    return rc;
}

int gw_l3_lo_up(struct gw_l3 *l, struct strata_err *e)
{
    struct link_find f;
    int rc = link_get(l, "lo", &f, e);
    if (rc != 0)
        return rc;
    char buf[STRATA_NL_MSG_MAX];
    strata_nl_enc_link_set(buf, sizeof(buf), ++l->seq, f.ifindex, -1, 1);
    return strata_nl_request(l->nl, buf, e);
}

/* ---- addresses */
struct addr_list {
    int ifindex;
    struct gw_l3_addr a[GW_L3_ADDR_MAX];
    size_t n;
    bool truncated;
};

static void addr_cb(const struct nlmsghdr *nh, void *arg)
{
    struct addr_list *al = arg;
    struct strata_nl_addr a;
    if (strata_nl_parse_addr(nh, &a) != 0 || a.ifindex != al->ifindex)
        return;
    if (a.ip.family == 6 && a.ip.a[0] == 0xfe && (a.ip.a[1] & 0xc0) == 0x80)
        return; /* link-local: the kernel's */
    if (al->n == GW_L3_ADDR_MAX) {
        al->truncated = true;
        return;
    }
    al->a[al->n++] = (struct gw_l3_addr){a.ip, a.plen};
}

static int addrs_dump(struct gw_l3 *l, int ifindex, struct addr_list *al, struct strata_err *e)
{
    char buf[STRATA_NL_MSG_MAX];
    memset(al, 0, sizeof(*al));
    al->ifindex = ifindex;
    strata_nl_enc_addr_dump(buf, sizeof(buf), ++l->seq);
    int rc = strata_nl_dump(l->nl, buf, addr_cb, al, e);
    if (rc == 0 && al->truncated)
        rc = strata_err_set(e, STRATA_ETOOBIG, "more than %d addresses on one VN's interface",
                            GW_L3_ADDR_MAX);
    return rc;
}

static bool addr_in(const struct gw_l3_addr *a, const struct gw_l3_addr *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].plen == a->plen && strata_ip_equal(&set[i].ip, &a->ip))
            return true;
    return false;
}

int gw_l3_read(struct gw_l3 *l, uint32_t vni, struct gw_l3_addr *out, size_t cap,
               struct strata_err *e)
{
    struct link_find f;
    struct addr_list al;
    int rc = bridge_find(l, vni, &f, e);
    if (rc == 0)
        rc = addrs_dump(l, f.ifindex, &al, e);
    if (rc != 0)
        return rc;
    size_t n = al.n < cap ? al.n : cap;
    memcpy(out, al.a, n * sizeof(*out));
    return (int)n;
}

int gw_l3_sync(struct gw_l3 *l, uint32_t vni, const struct gw_l3_addr *addrs, size_t n,
               struct strata_err *e)
{
    struct link_find f;
    int rc = bridge_find(l, vni, &f, e);
    if (rc != 0)
        return rc;
    char buf[STRATA_NL_MSG_MAX];
    uint8_t mac[6];
    gw_l3_vmac(vni, mac);
    if (memcmp(f.mac, mac, 6) != 0) {
        strata_nl_enc_link_mac(buf, sizeof(buf), ++l->seq, f.ifindex, mac);
        if ((rc = strata_nl_request(l->nl, buf, e)) != 0)
            return rc;
        l->st.macs_set++;
    }
    struct addr_list al;
    if ((rc = addrs_dump(l, f.ifindex, &al, e)) != 0)
        return rc;
    for (size_t i = 0; i < al.n; i++) {
        if (addr_in(&al.a[i], addrs, n))
            continue;
        strata_nl_enc_addr(buf, sizeof(buf), ++l->seq, false, f.ifindex, &al.a[i].ip, al.a[i].plen);
        if ((rc = strata_nl_request(l->nl, buf, e)) != 0 && rc != STRATA_ENOTFOUND)
            return rc;
        l->st.addrs_removed++;
    }
    for (size_t i = 0; i < n; i++) {
        if (addr_in(&addrs[i], al.a, al.n))
            continue;
        if (strata_nl_enc_addr(buf, sizeof(buf), ++l->seq, true, f.ifindex, &addrs[i].ip,
                               addrs[i].plen) == 0)
            return strata_err_set(e, STRATA_EINVAL, "bad gateway address for VN %u", vni);
        if ((rc = strata_nl_request(l->nl, buf, e)) != 0 && rc != STRATA_EEXIST)
            return rc;
        l->st.addrs_added++;
    }
    return 0;
}

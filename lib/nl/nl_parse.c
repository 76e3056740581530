/* nl_parse.c - decoding of RTM_*NEIGH and RTM_*LINK messages, and the ownership rule. */
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nl.h"

struct nl_parse_tb {
    const struct nlattr *tb[64];
    uint16_t max;
};

static int nl_parse_attr_cb(const struct nlattr *attr, void *data)
{
    struct nl_parse_tb *t = data;
    uint16_t type = mnl_attr_get_type(attr);
    if (type < t->max && type < 64)
        t->tb[type] = attr;
    return MNL_CB_OK;
}

int strata_nl_parse_neigh(const struct nlmsghdr *nh, struct strata_nl_neigh *out)
{
    if (nh == NULL || out == NULL)
        return STRATA_EINVAL;
    if (nh->nlmsg_type != RTM_NEWNEIGH && nh->nlmsg_type != RTM_DELNEIGH &&
        nh->nlmsg_type != RTM_GETNEIGH)
        return STRATA_EPROTO;
    if (nh->nlmsg_len < mnl_nlmsg_size(sizeof(struct ndmsg)))
        return STRATA_EPROTO;
    memset(out, 0, sizeof(*out));
    const struct ndmsg *ndm = mnl_nlmsg_get_payload(nh);
    out->type = nh->nlmsg_type;
    out->family = ndm->ndm_family;
    out->ifindex = ndm->ndm_ifindex;
    out->state = ndm->ndm_state;
    out->flags = ndm->ndm_flags;
    struct nl_parse_tb t = {.max = NDA_MAX + 1};
    if (mnl_attr_parse(nh, sizeof(*ndm), nl_parse_attr_cb, &t) < 0)
        return STRATA_EPROTO;
    if (t.tb[NDA_DST] != NULL) {
        uint16_t len = mnl_attr_get_payload_len(t.tb[NDA_DST]);
        if (strata_ip_from_bytes(mnl_attr_get_payload(t.tb[NDA_DST]), len, &out->dst, NULL) == 0)
            out->has_dst = true;
    }
    if (t.tb[NDA_LLADDR] != NULL && mnl_attr_get_payload_len(t.tb[NDA_LLADDR]) == 6) {
        memcpy(out->mac, mnl_attr_get_payload(t.tb[NDA_LLADDR]), 6);
        out->has_mac = true;
    }
    if (t.tb[NDA_PROTOCOL] != NULL && mnl_attr_get_payload_len(t.tb[NDA_PROTOCOL]) >= 1)
        out->protocol = mnl_attr_get_u8(t.tb[NDA_PROTOCOL]);
    return 0;
}

bool strata_nl_neigh_owned(const struct strata_nl_neigh *n)
{
    if (n->family == AF_BRIDGE)
        return (n->flags & NTF_EXT_LEARNED) != 0;
    return n->protocol == STRATA_NL_PROTO;
}

static void nl_parse_str(const struct nlattr *a, char *dst, size_t cap)
{
    size_t len = mnl_attr_get_payload_len(a);
    const char *s = mnl_attr_get_payload(a);
    size_t n = strnlen(s, len);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void nl_parse_linkinfo(const struct nlattr *li, struct strata_nl_link *out)
{
    struct nl_parse_tb t = {.max = IFLA_INFO_MAX + 1};
    if (mnl_attr_parse_nested(li, nl_parse_attr_cb, &t) < 0)
        return;
    if (t.tb[IFLA_INFO_KIND] != NULL)
        nl_parse_str(t.tb[IFLA_INFO_KIND], out->kind, sizeof(out->kind));
    if (strcmp(out->kind, "vxlan") == 0 && t.tb[IFLA_INFO_DATA] != NULL) {
        struct nl_parse_tb d = {.max = IFLA_VXLAN_MAX + 1};
        if (mnl_attr_parse_nested(t.tb[IFLA_INFO_DATA], nl_parse_attr_cb, &d) >= 0 &&
            d.tb[IFLA_VXLAN_ID] != NULL && mnl_attr_get_payload_len(d.tb[IFLA_VXLAN_ID]) == 4)
            out->vni = mnl_attr_get_u32(d.tb[IFLA_VXLAN_ID]);
    }
}

int strata_nl_parse_link(const struct nlmsghdr *nh, struct strata_nl_link *out)
{
    if (nh == NULL || out == NULL)
        return STRATA_EINVAL;
    if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK)
        return STRATA_EPROTO;
    if (nh->nlmsg_len < mnl_nlmsg_size(sizeof(struct ifinfomsg)))
        return STRATA_EPROTO;
    memset(out, 0, sizeof(*out));
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nh);
    out->type = nh->nlmsg_type;
    out->ifindex = ifi->ifi_index;
    out->flags = ifi->ifi_flags;
    struct nl_parse_tb t = {.max = IFLA_MAX + 1};
    if (mnl_attr_parse(nh, sizeof(*ifi), nl_parse_attr_cb, &t) < 0)
        return STRATA_EPROTO;
    if (t.tb[IFLA_IFNAME] != NULL)
        nl_parse_str(t.tb[IFLA_IFNAME], out->name, sizeof(out->name));
    if (t.tb[IFLA_IFALIAS] != NULL)
        nl_parse_str(t.tb[IFLA_IFALIAS], out->alias, sizeof(out->alias));
    if (t.tb[IFLA_MASTER] != NULL && mnl_attr_get_payload_len(t.tb[IFLA_MASTER]) == 4)
        out->master = (int)mnl_attr_get_u32(t.tb[IFLA_MASTER]);
    if (t.tb[IFLA_LINKINFO] != NULL)
        nl_parse_linkinfo(t.tb[IFLA_LINKINFO], out);
    return 0;
}

bool strata_nl_link_owned(const struct strata_nl_link *l)
{
    return strcmp(l->alias, STRATA_NL_ALIAS) == 0;
}

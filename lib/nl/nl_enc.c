/* nl_enc.c - pure rtnetlink encoders: each writes one request into the caller's buffer (the FRR
 * zebra way: deciding what to install, encoding it and sending it are three separate steps). */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nl.h"

static struct nlmsghdr *nl_enc_header(void *buf, size_t cap, uint32_t seq, uint16_t type,
                                      uint16_t flags)
{
    if (buf == NULL || cap < STRATA_NL_MSG_MAX)
        return NULL;
    memset(buf, 0, STRATA_NL_MSG_MAX);
    struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
    nh->nlmsg_type = type;
    nh->nlmsg_flags = NLM_F_REQUEST | flags;
    nh->nlmsg_seq = seq;
    return nh;
}

static struct ifinfomsg *nl_enc_ifinfo(struct nlmsghdr *nh, int ifindex)
{
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    return ifi;
}

static bool nl_enc_name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) < IF_NAMESIZE;
}

size_t strata_nl_enc_vxlan_new(void *buf, size_t cap, uint32_t seq, const struct strata_nl_vxlan *v)
{
    if (v == NULL || !nl_enc_name_ok(v->name) || !strata_vni_valid(v->vni) ||
        (v->local.family != 4 && v->local.family != 6))
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, 0);
    mnl_attr_put_strz(nh, IFLA_IFNAME, v->name);
    mnl_attr_put_strz(nh, IFLA_IFALIAS, STRATA_NL_ALIAS);
    if (v->mtu != 0)
        mnl_attr_put_u32(nh, IFLA_MTU, v->mtu);
    struct nlattr *li = mnl_attr_nest_start(nh, IFLA_LINKINFO);
    mnl_attr_put_strz(nh, IFLA_INFO_KIND, "vxlan");
    struct nlattr *data = mnl_attr_nest_start(nh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nh, IFLA_VXLAN_ID, v->vni);
    if (v->local.family == 4)
        mnl_attr_put(nh, IFLA_VXLAN_LOCAL, 4, v->local.a);
    else
        mnl_attr_put(nh, IFLA_VXLAN_LOCAL6, 16, v->local.a);
    mnl_attr_put_u16(nh, IFLA_VXLAN_PORT, htons(STRATA_NL_VXLAN_PORT));
    mnl_attr_put_u8(nh, IFLA_VXLAN_LEARNING, 0);
    mnl_attr_put_u8(nh, IFLA_VXLAN_PROXY, 1);
    mnl_attr_put_u8(nh, IFLA_VXLAN_L2MISS, 1);
    mnl_attr_put_u8(nh, IFLA_VXLAN_L3MISS, 1);
    if (v->link != 0)
        mnl_attr_put_u32(nh, IFLA_VXLAN_LINK, v->link);
    mnl_attr_nest_end(nh, data);
    mnl_attr_nest_end(nh, li);
    if (v->in_netns)
        mnl_attr_put_u32(nh, IFLA_NET_NS_FD, (uint32_t)v->netns_fd);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_bridge_new(void *buf, size_t cap, uint32_t seq, const char *name, uint32_t mtu)
{
    if (!nl_enc_name_ok(name))
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, 0);
    mnl_attr_put_strz(nh, IFLA_IFNAME, name);
    mnl_attr_put_strz(nh, IFLA_IFALIAS, STRATA_NL_ALIAS);
    if (mtu != 0)
        mnl_attr_put_u32(nh, IFLA_MTU, mtu);
    struct nlattr *li = mnl_attr_nest_start(nh, IFLA_LINKINFO);
    mnl_attr_put_strz(nh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nh, li);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_set(void *buf, size_t cap, uint32_t seq, int ifindex, int master, int up)
{
    if (ifindex <= 0)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_NEWLINK, 0);
    if (nh == NULL)
        return 0;
    struct ifinfomsg *ifi = nl_enc_ifinfo(nh, ifindex);
    if (up >= 0) {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = up ? IFF_UP : 0;
    }
    if (master >= 0)
        mnl_attr_put_u32(nh, IFLA_MASTER, (uint32_t)master);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_alias(void *buf, size_t cap, uint32_t seq, int ifindex, const char *alias)
{
    if (ifindex <= 0 || alias == NULL || strlen(alias) >= 128)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_NEWLINK, 0);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, ifindex);
    mnl_attr_put_strz(nh, IFLA_IFALIAS, alias);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_del(void *buf, size_t cap, uint32_t seq, int ifindex)
{
    if (ifindex <= 0)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_DELLINK, 0);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, ifindex);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_get(void *buf, size_t cap, uint32_t seq, int ifindex, const char *name)
{
    if (ifindex <= 0 && !nl_enc_name_ok(name))
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_GETLINK, 0);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, ifindex > 0 ? ifindex : 0);
    if (ifindex <= 0)
        mnl_attr_put_strz(nh, IFLA_IFNAME, name);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_dump_master(void *buf, size_t cap, uint32_t seq, int master)
{
    if (master <= 0)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_GETLINK, NLM_F_DUMP);
    if (nh == NULL)
        return 0;
    nl_enc_ifinfo(nh, 0);
    mnl_attr_put_u32(nh, IFLA_MASTER, (uint32_t)master);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_fdb_dump_dev(void *buf, size_t cap, uint32_t seq, int ifindex)
{
    if (ifindex <= 0)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, RTM_GETNEIGH, NLM_F_DUMP);
    if (nh == NULL)
        return 0;
    /* An ndmsg header would dump every device (the kernel reads the port only from an
     * ifinfomsg-sized header when strict checking is off). */
    struct ifinfomsg *ifi = nl_enc_ifinfo(nh, ifindex);
    ifi->ifi_family = AF_BRIDGE;
    return nh->nlmsg_len;
}

static struct ndmsg *nl_enc_ndmsg(struct nlmsghdr *nh, uint8_t family, int ifindex, uint16_t state,
                                  uint8_t flags)
{
    struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nh, sizeof(*ndm));
    ndm->ndm_family = family;
    ndm->ndm_ifindex = ifindex;
    ndm->ndm_state = state;
    ndm->ndm_flags = flags;
    return ndm;
}

size_t strata_nl_enc_neigh(void *buf, size_t cap, uint32_t seq, bool add, int ifindex,
                           const struct strata_ip *ip, const uint8_t mac[6])
{
    if (ifindex <= 0 || ip == NULL || (ip->family != 4 && ip->family != 6) || (add && mac == NULL))
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, add ? RTM_NEWNEIGH : RTM_DELNEIGH,
                                        add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    if (nh == NULL)
        return 0;
    /* PERMANENT: the ANCHORS rule - an entry in a non-CONNECTED state swallows ARP silently. */
    nl_enc_ndmsg(nh, ip->family == 4 ? AF_INET : AF_INET6, ifindex, NUD_PERMANENT, 0);
    mnl_attr_put(nh, NDA_DST, strata_ip_len(ip), ip->a);
    if (add) {
        mnl_attr_put(nh, NDA_LLADDR, 6, mac);
        mnl_attr_put_u8(nh, NDA_PROTOCOL, STRATA_NL_PROTO);
    }
    return nh->nlmsg_len;
}

size_t strata_nl_enc_fdb(void *buf, size_t cap, uint32_t seq, bool add, bool append, int ifindex,
                         const uint8_t mac[6], const struct strata_ip *dst)
{
    if (ifindex <= 0 || mac == NULL || (add && dst == NULL) ||
        (dst != NULL && dst->family != 4 && dst->family != 6))
        return 0;
    uint16_t flags = 0;
    if (add)
        flags = NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_REPLACE);
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, add ? RTM_NEWNEIGH : RTM_DELNEIGH, flags);
    if (nh == NULL)
        return 0;
    nl_enc_ndmsg(nh, AF_BRIDGE, ifindex, NUD_PERMANENT | NUD_NOARP, NTF_SELF | NTF_EXT_LEARNED);
    mnl_attr_put(nh, NDA_LLADDR, 6, mac);
    if (dst != NULL)
        mnl_attr_put(nh, NDA_DST, strata_ip_len(dst), dst->a);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_dump(void *buf, size_t cap, uint32_t seq, int type, int family)
{
    if (type != RTM_GETLINK && type != RTM_GETNEIGH)
        return 0;
    struct nlmsghdr *nh = nl_enc_header(buf, cap, seq, (uint16_t)type, NLM_F_DUMP);
    if (nh == NULL)
        return 0;
    if (type == RTM_GETLINK) {
        struct ifinfomsg *ifi = nl_enc_ifinfo(nh, 0);
        ifi->ifi_family = (uint8_t)family;
    } else {
        nl_enc_ndmsg(nh, (uint8_t)family, 0, 0, 0);
    }
    return nh->nlmsg_len;
}

/* nl_addr.c - rtnetlink interface addresses and link MACs (the gateway's per-VN interface). */
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "nl.h"
#include "nl_addr.h"

size_t strata_nl_enc_addr(void *buf, size_t cap, uint32_t seq, bool add, int ifindex,
                          const struct strata_ip *ip, uint8_t plen)
{
    if (buf == NULL || cap < STRATA_NL_MSG_MAX || ifindex <= 0 || ip == NULL ||
        (ip->family != 4 && ip->family != 6) || plen > (ip->family == 4 ? 32 : 128))
        return 0;
    memset(buf, 0, STRATA_NL_MSG_MAX);
    struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
    nh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
    nh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    nh->nlmsg_seq = seq;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nh, sizeof(*ifa));
    ifa->ifa_family = ip->family == 4 ? AF_INET : AF_INET6;
    ifa->ifa_prefixlen = plen;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    size_t len = ip->family == 4 ? 4 : 16;
    mnl_attr_put(nh, IFA_LOCAL, len, ip->a);
    mnl_attr_put(nh, IFA_ADDRESS, len, ip->a);
    return nh->nlmsg_len;
}

size_t strata_nl_enc_addr_dump(void *buf, size_t cap, uint32_t seq)
{
    if (buf == NULL || cap < STRATA_NL_MSG_MAX)
        return 0;
    memset(buf, 0, STRATA_NL_MSG_MAX);
    struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
    nh->nlmsg_type = RTM_GETADDR;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nh->nlmsg_seq = seq;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nh, sizeof(*ifa));
    ifa->ifa_family = AF_UNSPEC;
    return nh->nlmsg_len;
}

size_t strata_nl_enc_link_mac(void *buf, size_t cap, uint32_t seq, int ifindex,
                              const uint8_t mac[6])
{
    if (buf == NULL || cap < STRATA_NL_MSG_MAX || ifindex <= 0 || mac == NULL)
        return 0;
    memset(buf, 0, STRATA_NL_MSG_MAX);
    struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
    nh->nlmsg_type = RTM_NEWLINK;
    nh->nlmsg_flags = NLM_F_REQUEST;
    nh->nlmsg_seq = seq;
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    mnl_attr_put(nh, IFLA_ADDRESS, 6, mac);
    return nh->nlmsg_len;
}

struct addr_tb {
    const struct nlattr *local, *address;
};

static int addr_attr(const struct nlattr *attr, void *data)
{
    struct addr_tb *t = data;
    if (mnl_attr_get_type(attr) == IFA_LOCAL)
        t->local = attr;
    else if (mnl_attr_get_type(attr) == IFA_ADDRESS)
        t->address = attr;
    return MNL_CB_OK;
}

int strata_nl_parse_addr(const struct nlmsghdr *nh, struct strata_nl_addr *out)
{
    if (nh == NULL || out == NULL)
        return STRATA_EINVAL;
    if ((nh->nlmsg_type != RTM_NEWADDR && nh->nlmsg_type != RTM_DELADDR) ||
        nh->nlmsg_len < mnl_nlmsg_size(sizeof(struct ifaddrmsg)))
        return STRATA_EPROTO;
    memset(out, 0, sizeof(*out));
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nh);
    out->type = nh->nlmsg_type;
    out->ifindex = (int)ifa->ifa_index;
    out->plen = ifa->ifa_prefixlen;
    out->scope = ifa->ifa_scope;
    struct addr_tb t = {0};
    if (mnl_attr_parse(nh, sizeof(*ifa), addr_attr, &t) < 0)
        return STRATA_EPROTO;
    const struct nlattr *a = t.local ? t.local : t.address;
    if (a == NULL || strata_ip_from_bytes(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a),
                                          &out->ip, NULL) != 0)
        return STRATA_EPROTO;
    if ((ifa->ifa_family == AF_INET) != (out->ip.family == 4))
        return STRATA_EPROTO;
    return 0;
}

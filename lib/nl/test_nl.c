/* test_nl.c - the rtnetlink encoders write the expected messages (parsed back with libmnl) and
 * the parsers and ownership rule read them correctly. No sockets, no root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nl/nl.h"

struct tb {
    const struct nlattr *a[64];
};

static int tb_cb(const struct nlattr *attr, void *data)
{
    struct tb *t = data;
    if (mnl_attr_get_type(attr) < 64)
        t->a[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
}

static struct strata_ip ip4(const char *s)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static void test_vxlan_new(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    struct strata_nl_vxlan v = {
        .name = "vx100", .vni = 100, .local = ip4("192.0.2.1"), .link = 7, .mtu = 1450};
    size_t len = strata_nl_enc_vxlan_new(buf, sizeof(buf), 9, &v);
    assert_true(len > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    assert_int_equal(nh->nlmsg_len, len);
    assert_int_equal(nh->nlmsg_type, RTM_NEWLINK);
    assert_int_equal(nh->nlmsg_seq, 9);
    assert_true(nh->nlmsg_flags & NLM_F_CREATE);
    assert_true(nh->nlmsg_flags & NLM_F_EXCL);
    struct tb t = {0};
    assert_true(mnl_attr_parse(nh, sizeof(struct ifinfomsg), tb_cb, &t) >= 0);
    assert_string_equal(mnl_attr_get_str(t.a[IFLA_IFNAME]), "vx100");
    assert_string_equal(mnl_attr_get_str(t.a[IFLA_IFALIAS]), STRATA_NL_ALIAS);
    assert_int_equal(mnl_attr_get_u32(t.a[IFLA_MTU]), 1450);
    struct tb li = {0}, d = {0};
    assert_true(mnl_attr_parse_nested(t.a[IFLA_LINKINFO], tb_cb, &li) >= 0);
    assert_string_equal(mnl_attr_get_str(li.a[IFLA_INFO_KIND]), "vxlan");
    assert_true(mnl_attr_parse_nested(li.a[IFLA_INFO_DATA], tb_cb, &d) >= 0);
    assert_int_equal(mnl_attr_get_u32(d.a[IFLA_VXLAN_ID]), 100);
    assert_memory_equal(mnl_attr_get_payload(d.a[IFLA_VXLAN_LOCAL]), v.local.a, 4);
    assert_int_equal(ntohs(mnl_attr_get_u16(d.a[IFLA_VXLAN_PORT])), 4789);
    assert_int_equal(mnl_attr_get_u8(d.a[IFLA_VXLAN_LEARNING]), 0);
    assert_int_equal(mnl_attr_get_u8(d.a[IFLA_VXLAN_PROXY]), 1);
    assert_int_equal(mnl_attr_get_u8(d.a[IFLA_VXLAN_L2MISS]), 1);
    assert_int_equal(mnl_attr_get_u8(d.a[IFLA_VXLAN_L3MISS]), 1);
    assert_int_equal(mnl_attr_get_u32(d.a[IFLA_VXLAN_LINK]), 7);

    /* The link parser reads back what matters to reconcile. */
    struct strata_nl_link l;
    assert_int_equal(strata_nl_parse_link(nh, &l), 0);
    assert_string_equal(l.name, "vx100");
    assert_string_equal(l.kind, "vxlan");
    assert_int_equal(l.vni, 100);
    assert_true(strata_nl_link_owned(&l));

    /* Bad input encodes nothing. */
    v.vni = 0;
    assert_int_equal(strata_nl_enc_vxlan_new(buf, sizeof(buf), 1, &v), 0);
    v.vni = 100;
    assert_int_equal(strata_nl_enc_vxlan_new(buf, 64, 1, &v), 0);
    v.name = "a-name-longer-than-ifnamsiz";
    assert_int_equal(strata_nl_enc_vxlan_new(buf, sizeof(buf), 1, &v), 0);
}

static void test_link_set_and_bridge(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    assert_true(strata_nl_enc_bridge_new(buf, sizeof(buf), 1, "br100", 0) > 0);
    struct strata_nl_link l;
    assert_int_equal(strata_nl_parse_link((struct nlmsghdr *)buf, &l), 0);
    assert_string_equal(l.kind, "bridge");
    assert_string_equal(l.name, "br100");

    assert_true(strata_nl_enc_link_set(buf, sizeof(buf), 2, 5, 9, 1) > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nh);
    assert_int_equal(ifi->ifi_index, 5);
    assert_int_equal(ifi->ifi_change, IFF_UP);
    assert_int_equal(ifi->ifi_flags, IFF_UP);
    assert_int_equal(strata_nl_parse_link(nh, &l), 0);
    assert_int_equal(l.master, 9);

    assert_true(strata_nl_enc_link_set(buf, sizeof(buf), 2, 5, -1, 0) > 0);
    ifi = mnl_nlmsg_get_payload(nh);
    assert_int_equal(ifi->ifi_change, IFF_UP);
    assert_int_equal(ifi->ifi_flags, 0);
    struct tb t = {0};
    assert_true(mnl_attr_parse(nh, sizeof(*ifi), tb_cb, &t) >= 0);
    assert_null(t.a[IFLA_MASTER]);

    assert_true(strata_nl_enc_link_alias(buf, sizeof(buf), 3, 5, STRATA_NL_ALIAS) > 0);
    assert_int_equal(strata_nl_parse_link(nh, &l), 0);
    assert_int_equal(l.ifindex, 5);
    assert_true(strata_nl_link_owned(&l));

    assert_true(strata_nl_enc_link_del(buf, sizeof(buf), 3, 5) > 0);
    assert_int_equal(nh->nlmsg_type, RTM_DELLINK);
    assert_int_equal(strata_nl_enc_link_del(buf, sizeof(buf), 3, 0), 0);
}

static void test_neigh(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    uint8_t mac[6] = {2, 0, 0, 0, 0, 7};
    struct strata_ip ip = ip4("10.1.0.7");
    assert_true(strata_nl_enc_neigh(buf, sizeof(buf), 4, true, 12, &ip, mac) > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    assert_int_equal(nh->nlmsg_type, RTM_NEWNEIGH);
    assert_true(nh->nlmsg_flags & NLM_F_REPLACE);
    struct strata_nl_neigh n;
    assert_int_equal(strata_nl_parse_neigh(nh, &n), 0);
    assert_int_equal(n.family, AF_INET);
    assert_int_equal(n.ifindex, 12);
    assert_int_equal(n.state, NUD_PERMANENT);
    assert_true(n.has_dst && strata_ip_equal(&n.dst, &ip));
    assert_true(n.has_mac);
    assert_memory_equal(n.mac, mac, 6);
    assert_true(strata_nl_neigh_owned(&n));

    struct strata_ip ip6;
    assert_int_equal(strata_ip_parse("fd00::7", &ip6, NULL), 0);
    assert_true(strata_nl_enc_neigh(buf, sizeof(buf), 4, false, 12, &ip6, NULL) > 0);
    assert_int_equal(nh->nlmsg_type, RTM_DELNEIGH);
    assert_int_equal(strata_nl_parse_neigh(nh, &n), 0);
    assert_int_equal(n.family, AF_INET6);
    assert_false(n.has_mac);
    assert_false(strata_nl_neigh_owned(&n)); /* no protocol mark on a delete */
    assert_int_equal(strata_nl_enc_neigh(buf, sizeof(buf), 4, true, 12, &ip, NULL), 0);
}

static void test_fdb(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    uint8_t mac[6] = {2, 0, 0, 0, 0, 7}, zero[6] = {0};
    struct strata_ip vtep = ip4("192.0.2.2");
    assert_true(strata_nl_enc_fdb(buf, sizeof(buf), 5, true, false, 12, mac, &vtep) > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    assert_true(nh->nlmsg_flags & NLM_F_REPLACE);
    assert_false(nh->nlmsg_flags & NLM_F_APPEND);
    struct strata_nl_neigh n;
    assert_int_equal(strata_nl_parse_neigh(nh, &n), 0);
    assert_int_equal(n.family, AF_BRIDGE);
    assert_int_equal(n.flags, NTF_SELF | NTF_EXT_LEARNED);
    assert_int_equal(n.state, NUD_PERMANENT | NUD_NOARP);
    assert_memory_equal(n.mac, mac, 6);
    assert_true(strata_ip_equal(&n.dst, &vtep));
    assert_true(strata_nl_neigh_owned(&n));

    assert_true(strata_nl_enc_fdb(buf, sizeof(buf), 5, true, true, 12, zero, &vtep) > 0);
    assert_true(nh->nlmsg_flags & NLM_F_APPEND);
    assert_false(nh->nlmsg_flags & NLM_F_REPLACE);

    assert_true(strata_nl_enc_fdb(buf, sizeof(buf), 5, false, false, 12, zero, &vtep) > 0);
    assert_int_equal(nh->nlmsg_type, RTM_DELNEIGH);
    /* An un-owned FDB entry (no NTF_EXT_LEARNED) is not ours. */
    n.flags = NTF_SELF;
    assert_false(strata_nl_neigh_owned(&n));
}

static void test_miss_parse(void **state)
{
    (void)state;
    /* A kernel l3miss: RTM_GETNEIGH AF_INET, NUD_STALE, NDA_DST. */
    char buf[256] = {0};
    struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
    nh->nlmsg_type = RTM_GETNEIGH;
    struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nh, sizeof(*ndm));
    ndm->ndm_family = AF_INET;
    ndm->ndm_ifindex = 33;
    ndm->ndm_state = NUD_STALE;
    uint8_t a[4] = {10, 1, 0, 9};
    mnl_attr_put(nh, NDA_DST, 4, a);
    struct strata_nl_neigh n;
    assert_int_equal(strata_nl_parse_neigh(nh, &n), 0);
    assert_int_equal(n.type, RTM_GETNEIGH);
    assert_int_equal(n.ifindex, 33);
    assert_true(n.has_dst);
    assert_int_equal(n.dst.family, 4);
    assert_false(n.has_mac);

    /* Truncated and foreign messages are refused, not crashed on. */
    nh->nlmsg_len = sizeof(*nh) + 2;
    assert_int_equal(strata_nl_parse_neigh(nh, &n), STRATA_EPROTO);
    nh->nlmsg_type = RTM_NEWROUTE;
    assert_int_equal(strata_nl_parse_neigh(nh, &n), STRATA_EPROTO);
}

static void test_dump(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    assert_true(strata_nl_enc_dump(buf, sizeof(buf), 1, RTM_GETNEIGH, AF_BRIDGE) > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    assert_true((nh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP);
    assert_int_equal(((struct ndmsg *)mnl_nlmsg_get_payload(nh))->ndm_family, AF_BRIDGE);
    assert_int_equal(strata_nl_enc_dump(buf, sizeof(buf), 1, RTM_NEWROUTE, 0), 0);
}

/* A message whose nlmsg_len runs past what arrived is refused before libmnl sees it (fuzz_nl
 * found libmnl reading 0xe2e2e2e2 bytes on from one). */
static void test_lengths(void **state)
{
    (void)state;
    char buf[64] = {0};
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    h->nlmsg_len = 32;
    struct nlmsghdr *h2 = (struct nlmsghdr *)(buf + 32);
    h2->nlmsg_len = 32;
    assert_true(strata_nl_lengths_ok(buf, 64));
    h2->nlmsg_len = 0xe2e2e2e2u;
    assert_false(strata_nl_lengths_ok(buf, 64));
    h2->nlmsg_len = 8; /* shorter than a header */
    assert_false(strata_nl_lengths_ok(buf, 64));
    h2->nlmsg_len = 33;
    assert_false(strata_nl_lengths_ok(buf, 64));
}

static void test_link_get_and_filtered_dumps(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    struct tb t = {0};
    /* by name */
    assert_true(strata_nl_enc_link_get(buf, sizeof(buf), 3, 0, "br100") > 0);
    assert_int_equal(nh->nlmsg_type, RTM_GETLINK);
    assert_false(nh->nlmsg_flags & NLM_F_DUMP);
    assert_true(mnl_attr_parse(nh, sizeof(struct ifinfomsg), tb_cb, &t) >= 0);
    assert_string_equal(mnl_attr_get_str(t.a[IFLA_IFNAME]), "br100");
    /* by index: no name */
    assert_true(strata_nl_enc_link_get(buf, sizeof(buf), 3, 7, NULL) > 0);
    assert_int_equal(((struct ifinfomsg *)mnl_nlmsg_get_payload(nh))->ifi_index, 7);
    assert_int_equal(strata_nl_enc_link_get(buf, sizeof(buf), 3, 0, NULL), 0);
    /* links of one master */
    assert_true(strata_nl_enc_link_dump_master(buf, sizeof(buf), 4, 9) > 0);
    assert_true(nh->nlmsg_flags & NLM_F_DUMP);
    memset(&t, 0, sizeof(t));
    assert_true(mnl_attr_parse(nh, sizeof(struct ifinfomsg), tb_cb, &t) >= 0);
    assert_int_equal(mnl_attr_get_u32(t.a[IFLA_MASTER]), 9);
    assert_int_equal(strata_nl_enc_link_dump_master(buf, sizeof(buf), 4, 0), 0);
    /* the FDB of one device: an ifinfomsg-sized header naming it */
    assert_true(strata_nl_enc_fdb_dump_dev(buf, sizeof(buf), 5, 11) > 0);
    assert_int_equal(nh->nlmsg_type, RTM_GETNEIGH);
    assert_true(nh->nlmsg_flags & NLM_F_DUMP);
    assert_int_equal(nh->nlmsg_len, mnl_nlmsg_size(sizeof(struct ifinfomsg)));
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nh);
    assert_int_equal(ifi->ifi_family, AF_BRIDGE);
    assert_int_equal(ifi->ifi_index, 11);
    assert_int_equal(strata_nl_enc_fdb_dump_dev(buf, sizeof(buf), 5, 0), 0);
}

static void test_vxlan_new_in_netns(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    struct strata_nl_vxlan v = {.name = "vx100", .vni = 100, .local = ip4("192.0.2.1")};
    struct tb t = {0};
    assert_true(strata_nl_enc_vxlan_new(buf, sizeof(buf), 1, &v) > 0);
    assert_true(mnl_attr_parse((struct nlmsghdr *)buf, sizeof(struct ifinfomsg), tb_cb, &t) >= 0);
    assert_null(t.a[IFLA_NET_NS_FD]); /* not asked: the caller's namespace */
    v.in_netns = true;
    v.netns_fd = 0; /* a valid descriptor number too */
    memset(&t, 0, sizeof(t));
    assert_true(strata_nl_enc_vxlan_new(buf, sizeof(buf), 1, &v) > 0);
    assert_true(mnl_attr_parse((struct nlmsghdr *)buf, sizeof(struct ifinfomsg), tb_cb, &t) >= 0);
    assert_non_null(t.a[IFLA_NET_NS_FD]);
    assert_int_equal(mnl_attr_get_u32(t.a[IFLA_NET_NS_FD]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_get_and_filtered_dumps),
        cmocka_unit_test(test_vxlan_new_in_netns),
        cmocka_unit_test(test_vxlan_new),
        cmocka_unit_test(test_link_set_and_bridge),
        cmocka_unit_test(test_neigh),
        cmocka_unit_test(test_fdb),
        cmocka_unit_test(test_miss_parse),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

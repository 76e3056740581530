/* test_nl_addr.c - address and link-MAC encoders, read back by the address parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "nl.h"
#include "nl_addr.h"

static struct strata_ip ip_of(const char *s)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static void test_addr_roundtrip(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    struct strata_ip ip = ip_of("10.1.0.1");
    size_t len = strata_nl_enc_addr(buf, sizeof(buf), 7, true, 12, &ip, 24);
    assert_true(len > 0);
    const struct nlmsghdr *nh = (const void *)buf;
    assert_int_equal(nh->nlmsg_type, RTM_NEWADDR);
    assert_true(nh->nlmsg_flags & NLM_F_CREATE);
    assert_int_equal(nh->nlmsg_seq, 7);
    struct strata_nl_addr a;
    assert_int_equal(strata_nl_parse_addr(nh, &a), 0);
    assert_int_equal(a.ifindex, 12);
    assert_int_equal(a.plen, 24);
    assert_true(strata_ip_equal(&a.ip, &ip));

    struct strata_ip ip6 = ip_of("fd00:1::1");
    len = strata_nl_enc_addr(buf, sizeof(buf), 8, false, 3, &ip6, 64);
    assert_true(len > 0);
    assert_int_equal(nh->nlmsg_type, RTM_DELADDR);
    assert_int_equal(strata_nl_parse_addr(nh, &a), 0);
    assert_int_equal(a.ip.family, 6);
    assert_int_equal(a.plen, 64);
    assert_true(strata_ip_equal(&a.ip, &ip6));
}

static void test_addr_refused(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    struct strata_ip ip = ip_of("10.1.0.1"), none = {0};
    assert_int_equal(strata_nl_enc_addr(buf, sizeof(buf), 1, true, 0, &ip, 24), 0);
    assert_int_equal(strata_nl_enc_addr(buf, sizeof(buf), 1, true, 1, &ip, 33), 0);
    assert_int_equal(strata_nl_enc_addr(buf, sizeof(buf), 1, true, 1, &none, 8), 0);
    assert_int_equal(strata_nl_enc_addr(buf, 16, 1, true, 1, &ip, 24), 0);
    uint8_t mac[6] = {2, 0x53, 0x54, 0, 0, 100};
    assert_int_equal(strata_nl_enc_link_mac(buf, sizeof(buf), 1, 0, mac), 0);
    /* Not an address message, and one cut short. */
    assert_true(strata_nl_enc_link_mac(buf, sizeof(buf), 1, 4, mac) > 0);
    struct strata_nl_addr a;
    assert_int_equal(strata_nl_parse_addr((const void *)buf, &a), STRATA_EPROTO);
    strata_nl_enc_addr(buf, sizeof(buf), 1, true, 1, &ip, 24);
    ((struct nlmsghdr *)buf)->nlmsg_len = mnl_nlmsg_size(sizeof(struct ifaddrmsg));
    assert_int_equal(strata_nl_parse_addr((const void *)buf, &a), STRATA_EPROTO);
}

static int mac_attr(const struct nlattr *attr, void *data)
{
    if (mnl_attr_get_type(attr) == IFLA_ADDRESS && mnl_attr_get_payload_len(attr) == 6)
        memcpy(data, mnl_attr_get_payload(attr), 6);
    return MNL_CB_OK;
}

static void test_link_mac(void **state)
{
    (void)state;
    char buf[STRATA_NL_MSG_MAX];
    uint8_t mac[6] = {2, 0x53, 0x54, 0, 0, 100}, got[6] = {0};
    assert_true(strata_nl_enc_link_mac(buf, sizeof(buf), 1, 9, mac) > 0);
    const struct nlmsghdr *nh = (const void *)buf;
    assert_int_equal(nh->nlmsg_type, RTM_NEWLINK);
    assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nh))->ifi_index, 9);
    mnl_attr_parse(nh, sizeof(struct ifinfomsg), mac_attr, got);
    assert_memory_equal(got, mac, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_roundtrip),
        cmocka_unit_test(test_addr_refused),
        cmocka_unit_test(test_link_mac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

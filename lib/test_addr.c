/* test_addr.c - the address parsers accept exactly the documented forms and name what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

/* ------------------------------------------------------------------ MAC */

static void mac_ok(const char *s, const uint8_t want[6])
{
    uint8_t mac[6];
    struct strata_err e;
    strata_err_clear(&e);
    int rc = strata_mac_parse(s, mac, &e);
    if (rc != 0)
        fail_msg("\"%s\" rejected: %s", s, e.msg);
    assert_memory_equal(mac, want, 6);
}

static void mac_bad(const char *s)
{
    uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
    struct strata_err e;
    strata_err_clear(&e);
    if (strata_mac_parse(s, mac, &e) != STRATA_EINVAL)
        fail_msg("\"%s\" accepted", s ? s : "(null)");
    assert_int_equal(e.code, STRATA_EINVAL);
    assert_true(strlen(e.msg) > 0);
    /* Untouched on failure. */
    static const uint8_t orig[6] = {1, 2, 3, 4, 5, 6};
    assert_memory_equal(mac, orig, 6);
}

static void test_mac_parse_valid(void **state)
{
    (void)state;
    static const uint8_t m1[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t m2[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    mac_ok("02:00:00:00:00:01", m1);
    mac_ok("02-00-00-00-00-01", m1);
    mac_ok("AA:BB:CC:DD:EE:FF", m2);
    mac_ok("aa:bb:cc:dd:ee:ff", m2);
    mac_ok("Aa-bB-cC-Dd-eE-Ff", m2);
    mac_ok("ff:ff:ff:ff:ff:ff", bc); /* syntactically fine; unicast is a separate check */
}

static void test_mac_parse_invalid(void **state)
{
    (void)state;
    mac_bad(NULL);
    mac_bad("");
    mac_bad("02:00:00:00:00");       /* 5 groups */
    mac_bad("02:00:00:00:00:01:02"); /* 7 groups */
    mac_bad("02:00:00-00:00:01");    /* mixed separators */
    mac_bad("02-00-00-00-00:01");    /* mixed separators, last one */
    mac_bad("02.00.00.00.00.01");    /* wrong separator */
    mac_bad("0200.0000.0001");       /* Cisco form */
    mac_bad("020000000001");         /* no separators */
    mac_bad("g2:00:00:00:00:01");    /* non-hex */
    mac_bad("02:00:00:00:00:0x");    /* non-hex at the end */
    mac_bad("2:0:0:0:0:1");          /* one digit groups */
    mac_bad("002:00:00:00:00:01");   /* three digit group */
    mac_bad(" 02:00:00:00:00:01");   /* leading space */
    mac_bad("02:00:00:00:00:01 ");   /* trailing space */
    mac_bad("02:00:00:00:00:01\n");  /* trailing newline */
    mac_bad("02::00:00:00:00:01");   /* empty group */
    mac_bad("02:00:00:00:00:1");     /* short last group */
    mac_bad("+2:00:00:00:00:01");    /* sign */
    mac_bad("02:00:00:00:00:01:");   /* trailing separator */
}

static void test_mac_format_and_unicast(void **state)
{
    (void)state;
    char buf[STRATA_MAC_STRLEN];
    static const uint8_t m[6] = {0xAA, 0x0B, 0x00, 0xff, 0x10, 0x01};
    assert_string_equal(strata_mac_format(m, buf), "aa:0b:00:ff:10:01");

    uint8_t back[6];
    assert_int_equal(strata_mac_parse(buf, back, NULL), 0);
    assert_memory_equal(back, m, 6);

    static const uint8_t uni[6] = {0x02, 0, 0, 0, 0, 1};
    static const uint8_t zero[6] = {0};
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t mcast6[6] = {0x33, 0x33, 0, 0, 0, 1};
    static const uint8_t oui[6] = {0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e};
    assert_true(strata_mac_is_unicast(uni));
    assert_true(strata_mac_is_unicast(oui));
    assert_false(strata_mac_is_unicast(zero));
    assert_false(strata_mac_is_unicast(bcast));
    assert_false(strata_mac_is_unicast(mcast));
    assert_false(strata_mac_is_unicast(mcast6));
}

/* ------------------------------------------------------------------ IP */

static void ip_ok(const char *s, int family, const char *canon)
{
    struct strata_ip ip;
    struct strata_err e;
    strata_err_clear(&e);
    if (strata_ip_parse(s, &ip, &e) != 0)
        fail_msg("\"%s\" rejected: %s", s, e.msg);
    assert_int_equal(ip.family, family);
    char buf[STRATA_IP_STRLEN];
    assert_string_equal(strata_ip_format(&ip, buf), canon);
    assert_int_equal(strata_ip_len(&ip), family == 4 ? 4 : 16);
}

static void ip_bad(const char *s)
{
    struct strata_ip ip = {.family = 9};
    struct strata_err e;
    strata_err_clear(&e);
    if (strata_ip_parse(s, &ip, &e) != STRATA_EINVAL)
        fail_msg("\"%s\" accepted", s ? s : "(null)");
    assert_int_equal(e.code, STRATA_EINVAL);
    assert_int_equal(ip.family, 9);
}

static void test_ip_parse(void **state)
{
    (void)state;
    ip_ok("10.1.0.7", 4, "10.1.0.7");
    ip_ok("0.0.0.0", 4, "0.0.0.0");
    ip_ok("255.255.255.255", 4, "255.255.255.255");
    ip_ok("::", 6, "::");
    ip_ok("::1", 6, "::1");
    ip_ok("fd00::1", 6, "fd00::1");
    ip_ok("FD00:0:0:0:0:0:0:1", 6, "fd00::1");
    ip_ok("fe80::1", 6, "fe80::1");
    ip_ok("::ffff:10.0.0.1", 6, "::ffff:10.0.0.1");
    ip_ok("2001:db8:85a3:8d3:1319:8a2e:370:7348", 6, "2001:db8:85a3:8d3:1319:8a2e:370:7348");

    ip_bad(NULL);
    ip_bad("");
    ip_bad(":: ");
    ip_bad(" ::");
    ip_bad("1.2.3");
    ip_bad("1.2.3.4.5");
    ip_bad("256.1.1.1");
    ip_bad("1.2.3.256");
    ip_bad(" 1.2.3.4");
    ip_bad("1.2.3.4 ");
    ip_bad("1.2.3.4\n");
    ip_bad("1.2.3.4/32");
    ip_bad("01.2.3.4"); /* leading zero: octal in some parsers */
    ip_bad("0x1.2.3.4");
    ip_bad("1..3.4");
    ip_bad("-1.2.3.4");
    ip_bad("fe80::1%eth0");
    ip_bad("fe80::1%1");
    ip_bad("1:2:3:4:5:6:7:8:9");
    ip_bad(":::");
    ip_bad("1::2::3");
    ip_bad("localhost");
    ip_bad("10.1.0.7:80");
    ip_bad("[::1]");
    ip_bad("0000:0000:0000:0000:0000:0000:0000:0000:0000"); /* too long */
}

static void test_ip_bytes_equal(void **state)
{
    (void)state;
    static const uint8_t v4[4] = {10, 1, 0, 7};
    static const uint8_t v6[16] = {0xfd, 0, [15] = 1};
    struct strata_ip a, b;
    struct strata_err e;
    assert_int_equal(strata_ip_from_bytes(v4, 4, &a, &e), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(strata_ip_parse("10.1.0.7", &b, &e), 0);
    assert_true(strata_ip_equal(&a, &b));
    assert_int_equal(strata_ip_from_bytes(v6, 16, &a, &e), 0);
    assert_int_equal(a.family, 6);
    assert_false(strata_ip_equal(&a, &b));
    assert_int_equal(strata_ip_parse("fd00::1", &b, &e), 0);
    assert_true(strata_ip_equal(&a, &b));

    assert_int_equal(strata_ip_from_bytes(v6, 0, &a, &e), STRATA_EINVAL);
    assert_int_equal(strata_ip_from_bytes(v6, 5, &a, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "5 bytes"));
    assert_int_equal(strata_ip_from_bytes(v6, 15, &a, &e), STRATA_EINVAL);
    assert_int_equal(strata_ip_from_bytes(v6, 17, &a, &e), STRATA_EINVAL);

    struct strata_ip unset = {0};
    char buf[STRATA_IP_STRLEN];
    assert_string_equal(strata_ip_format(&unset, buf), "?");
    assert_int_equal(strata_ip_len(&unset), 0);

    /* IPv4 10.0.0.1 and the IPv6 address with the same leading bytes differ. */
    struct strata_ip x = {.family = 4, .a = {10, 0, 0, 1}}, y = {.family = 6, .a = {10, 0, 0, 1}};
    assert_false(strata_ip_equal(&x, &y));
}

/* ------------------------------------------------------------------ CIDR */

static void test_cidr_parse(void **state)
{
    (void)state;
    struct strata_cidr c;
    struct strata_err e;
    char buf[STRATA_IP_STRLEN + 4];

    assert_int_equal(strata_cidr_parse("10.1.0.0/24", &c, &e), 0);
    assert_int_equal(c.ip.family, 4);
    assert_int_equal(c.plen, 24);
    assert_string_equal(strata_cidr_format(&c, buf), "10.1.0.0/24");
    assert_int_equal(strata_cidr_parse("0.0.0.0/0", &c, &e), 0);
    assert_int_equal(c.plen, 0);
    assert_int_equal(strata_cidr_parse("10.1.0.1/32", &c, &e), 0);
    assert_int_equal(strata_cidr_parse("10.1.0.128/25", &c, &e), 0);
    assert_int_equal(strata_cidr_parse("fd00::/64", &c, &e), 0);
    assert_int_equal(c.ip.family, 6);
    assert_string_equal(strata_cidr_format(&c, buf), "fd00::/64");
    assert_int_equal(strata_cidr_parse("fd00::1/128", &c, &e), 0);
    assert_int_equal(strata_cidr_parse("::/0", &c, &e), 0);

    assert_int_equal(strata_cidr_parse("10.1.0.1/24", &c, &e), STRATA_EINVAL);
    assert_string_equal(e.msg, "10.1.0.1/24 has host bits set (did you mean 10.1.0.0/24?)");
    assert_int_equal(strata_cidr_parse("10.1.0.129/25", &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "10.1.0.128/25"));
    assert_int_equal(strata_cidr_parse("fd00::1/64", &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "fd00::/64"));
    assert_int_equal(strata_cidr_parse("1.0.0.0/0", &c, &e), STRATA_EINVAL);

    static const char *const bad[] = {
        "10.1.0.0/33",
        "fd00::/129",
        "10.1.0.0",
        "10.1.0.0/",
        "/24",
        "10.1.0.0/-1",
        "10.1.0.0/+8",
        "10.1.0.0/8x",
        "10.1.0.0/ 8",
        "10.1.0/24",
        "10.1.0.0/24/1",
        "",
        "fe80::%eth0/64",
        "10.1.0.0/99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strata_err_clear(&e);
        if (strata_cidr_parse(bad[i], &c, &e) != STRATA_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_true(strlen(e.msg) > 0);
    }
    assert_int_equal(strata_cidr_parse("10.1.0.0", &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(strata_cidr_parse("10.1.0.0/33", &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "0..32"));
    assert_int_equal(strata_cidr_parse("fd00::/129", &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "0..128"));
}

static void test_ipplen_parse(void **state)
{
    (void)state;
    struct strata_ip ip;
    uint8_t plen;
    struct strata_err e;
    char buf[STRATA_IP_STRLEN];
    assert_int_equal(strata_ipplen_parse("10.1.0.5/24", &ip, &plen, &e), 0);
    assert_string_equal(strata_ip_format(&ip, buf), "10.1.0.5");
    assert_int_equal(plen, 24);
    assert_int_equal(strata_ipplen_parse("fd00::5/64", &ip, &plen, &e), 0);
    assert_int_equal(plen, 64);
    assert_int_equal(strata_ipplen_parse("10.1.0.5", &ip, &plen, &e), STRATA_EINVAL);
    assert_int_equal(strata_ipplen_parse("10.1.0.5/33", &ip, &plen, &e), STRATA_EINVAL);
    assert_int_equal(strata_ipplen_parse("bad/24", &ip, &plen, &e), STRATA_EINVAL);
}

static void test_cidr_contains_from_bytes(void **state)
{
    (void)state;
    struct strata_cidr c;
    struct strata_ip ip;
    struct strata_err e;
    assert_int_equal(strata_cidr_parse("10.1.0.0/23", &c, &e), 0);
    strata_ip_parse("10.1.1.255", &ip, &e);
    assert_true(strata_cidr_contains(&c, &ip));
    strata_ip_parse("10.1.2.0", &ip, &e);
    assert_false(strata_cidr_contains(&c, &ip));
    strata_ip_parse("fd00::1", &ip, &e);
    assert_false(strata_cidr_contains(&c, &ip));
    assert_int_equal(strata_cidr_parse("0.0.0.0/0", &c, &e), 0);
    strata_ip_parse("1.2.3.4", &ip, &e);
    assert_true(strata_cidr_contains(&c, &ip));
    assert_int_equal(strata_cidr_parse("fd00:1::/33", &c, &e), 0);
    strata_ip_parse("fd00:1:7fff::1", &ip, &e);
    assert_true(strata_cidr_contains(&c, &ip));
    strata_ip_parse("fd00:1:8000::1", &ip, &e);
    assert_false(strata_cidr_contains(&c, &ip));

    static const uint8_t net[4] = {10, 1, 0, 0}, host[4] = {10, 1, 0, 1};
    assert_int_equal(strata_cidr_from_bytes(net, 4, 24, &c, &e), 0);
    assert_int_equal(c.plen, 24);
    assert_int_equal(strata_cidr_from_bytes(net, 4, 33, &c, &e), STRATA_EINVAL);
    assert_int_equal(strata_cidr_from_bytes(host, 4, 24, &c, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "host bits"));
    assert_int_equal(strata_cidr_from_bytes(host, 4, 32, &c, &e), 0);
    assert_int_equal(strata_cidr_from_bytes(net, 3, 24, &c, &e), STRATA_EINVAL);
    static const uint8_t v6[16] = {0xfd};
    assert_int_equal(strata_cidr_from_bytes(v6, 16, 128, &c, &e), 0);
    assert_int_equal(strata_cidr_from_bytes(v6, 16, 129, &c, &e), STRATA_EINVAL);
    assert_int_equal(strata_cidr_from_bytes(v6, 16, 0xffffffffu, &c, &e), STRATA_EINVAL);
}

/* ------------------------------------------------------------------ numbers, VNI, names */

static void test_vni_parse(void **state)
{
    (void)state;
    uint32_t vni = 77;
    struct strata_err e;
    assert_int_equal(strata_vni_parse("1", &vni, &e), 0);
    assert_int_equal(vni, 1);
    assert_int_equal(strata_vni_parse("16777215", &vni, &e), 0);
    assert_int_equal(vni, 16777215);
    assert_int_equal(strata_vni_parse("5001", &vni, &e), 0);
    assert_int_equal(vni, 5001);
    static const char *const bad[] = {"0",    "16777216", "-1",         "12x",
                                      "",     " 1",       "1 ",         "+1",
                                      "0x10", "1e3",      "4294967297", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vni = 77;
        if (strata_vni_parse(bad[i], &vni, &e) != STRATA_EINVAL)
            fail_msg("VNI \"%s\" accepted", bad[i]);
        assert_int_equal(vni, 77);
        assert_non_null(strstr(e.msg, "VNI"));
    }
    assert_int_equal(strata_vni_parse(NULL, &vni, &e), STRATA_EINVAL);
    assert_false(strata_vni_valid(0));
    assert_true(strata_vni_valid(1));
    assert_true(strata_vni_valid(STRATA_VNI_MAX));
    assert_false(strata_vni_valid(STRATA_VNI_MAX + 1));
    assert_false(strata_vni_valid(UINT32_MAX));
}

static void test_u64_parse(void **state)
{
    (void)state;
    uint64_t v = 5;
    struct strata_err e;
    assert_int_equal(strata_u64_parse("0", 0, 10, &v, &e), 0);
    assert_int_equal(v, 0);
    assert_int_equal(strata_u64_parse("18446744073709551615", 0, UINT64_MAX, &v, &e), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(strata_u64_parse("18446744073709551616", 0, UINT64_MAX, &v, &e),
                     STRATA_EINVAL);
    assert_int_equal(strata_u64_parse("99999999999999999999999", 0, UINT64_MAX, &v, &e),
                     STRATA_EINVAL);
    assert_int_equal(strata_u64_parse("10", 0, 10, &v, &e), 0);
    assert_int_equal(strata_u64_parse("11", 0, 10, &v, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "0..10"));
    assert_int_equal(strata_u64_parse("4", 5, 10, &v, &e), STRATA_EINVAL);
    assert_int_equal(strata_u64_parse("007", 0, 10, &v, &e), 0);
    assert_int_equal(v, 7);
    /* max 0 = unbounded */
    assert_int_equal(strata_u64_parse("123456789012", 0, 0, &v, &e), 0);
    assert_true(v == 123456789012ull);
    v = 5;
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x1", "1.0", "١"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (strata_u64_parse(bad[i], 0, 100, &v, &e) != STRATA_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(v, 5);
    }
    assert_int_equal(strata_u64_parse(NULL, 0, 100, &v, &e), STRATA_EINVAL);
}

static void test_hostport_parse(void **state)
{
    (void)state;
    char ip[16] = "unchanged";
    uint16_t port = 0;
    struct strata_err e;
    assert_int_equal(strata_hostport_parse("127.0.0.1:9001", ip, &port, &e), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(port, 9001);
    assert_int_equal(strata_hostport_parse("255.255.255.255:65535", ip, &port, &e), 0);
    assert_string_equal(ip, "255.255.255.255");
    assert_int_equal(port, 65535);
    assert_int_equal(strata_hostport_parse("10.0.0.1:1", ip, &port, &e), 0);
    assert_int_equal(port, 1);

    static const char *const bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        ":9001",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:80x",
        "localhost:80",
        "[::1]:80",
        "::1:80",
        "1.2.3:80",
        "127.0.0.1: 80",
        " 127.0.0.1:80",
        "1.2.3.4.5:80",
        "1111.2.3.4:80",
        "tcp://127.0.0.1:80",
        "127.0.0.1:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(ip, "unchanged");
        if (strata_hostport_parse(bad[i], ip, &port, &e) != STRATA_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_string_equal(ip, "unchanged");
    }
    assert_int_equal(strata_hostport_parse(NULL, ip, &port, &e), STRATA_EINVAL);
}

static void test_name_check(void **state)
{
    (void)state;
    struct strata_err e;
    assert_int_equal(strata_name_check("h1", "host", &e), 0);
    assert_int_equal(strata_name_check("A-z_0.9", "host", &e), 0);
    assert_int_equal(strata_name_check("a", "host", &e), 0);
    char long63[64], long64[65];
    memset(long63, 'x', 63);
    long63[63] = '\0';
    memset(long64, 'x', 64);
    long64[64] = '\0';
    assert_int_equal(strata_name_check(long63, "host", &e), 0);
    assert_int_equal(strata_name_check(long64, "host", &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "host"));
    assert_int_equal(strata_name_check("", "pod", &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "pod"));
    assert_int_equal(strata_name_check(NULL, "pod", &e), STRATA_EINVAL);
    static const char *const bad[] = {"a b", "a/b", "a:b", "a\nb", "ä", "a\"", "a,b", "a=b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strata_name_check(bad[i], "domain", &e) != STRATA_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
    assert_non_null(strstr(e.msg, "domain"));
}

/* One check of URL flags for every daemon and the CLI. */
static void test_url_check(void **state)
{
    (void)state;
    struct strata_err e = {0};
    assert_int_equal(strata_url_check("tcp://127.0.0.1:7001", "--cs", &e), 0);
    assert_int_equal(strata_url_check("tls+tcp://dir1.example:7001", "--cs", &e), 0);
    assert_int_equal(strata_url_check("tcp://[::1]:7001", "--cs", &e), 0);
    assert_int_equal(strata_url_check("tcp://:7001", "--listen", &e), 0); /* every address */
    assert_int_equal(strata_url_check("ipc:///run/strata/cs.sock", "--cs", &e), 0);
    assert_int_equal(strata_url_check("127.0.0.1:7001", "--cs", &e), STRATA_EINVAL);
    assert_string_equal(e.msg, "--cs must be a URL like tcp://HOST:PORT (or tls+tcp://HOST:PORT, "
                               "ipc://PATH), not \"127.0.0.1:7001\"");
    assert_int_equal(strata_url_check("http://a:1", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_url_check("tcp://127.0.0.1", "--cs", &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "lacks a HOST:PORT"));
    assert_int_equal(strata_url_check("tcp://127.0.0.1:70000", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_url_check("tcp://127.0.0.1:x", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_url_check("ipc://", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_url_check("", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_url_check(NULL, "--cs", &e), STRATA_EINVAL);

    assert_int_equal(strata_urls_check("tcp://a:1, tls+tcp://b:2 ,ipc:///x", "--cs", &e), 0);
    assert_int_equal(strata_urls_check("tcp://a:1,b:2", "--cs", &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not \"b:2\""));
    assert_int_equal(strata_urls_check(" , ", "--cs", &e), STRATA_EINVAL);
    assert_int_equal(strata_urls_check("", "--cs", &e), STRATA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mac_parse_valid),
        cmocka_unit_test(test_mac_parse_invalid),
        cmocka_unit_test(test_mac_format_and_unicast),
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_ip_bytes_equal),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_ipplen_parse),
        cmocka_unit_test(test_cidr_contains_from_bytes),
        cmocka_unit_test(test_vni_parse),
        cmocka_unit_test(test_u64_parse),
        cmocka_unit_test(test_hostport_parse),
        cmocka_unit_test(test_name_check),
        cmocka_unit_test(test_url_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

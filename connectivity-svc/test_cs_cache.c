/* test_cs_cache.c - the answer cache: versions never go back, negative answers expire, the LRU
 * bound holds and reports evictions, value-MAC lookups find every key a MAC answers, and an
 * entry stays compact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cs_cache.h"
#include "strata.pb-c.h"

static const uint8_t MAC1[6] = {0x02, 0, 0, 0, 0, 1};
static const uint8_t MAC2[6] = {0x02, 0, 0, 0, 0, 2};
static const uint8_t IP1[4] = {10, 1, 0, 7};
static const uint8_t IP2[4] = {10, 1, 0, 8};
static const uint8_t VTEP1[4] = {192, 168, 0, 1};

static struct cs_value pos(const uint8_t mac[6], uint64_t version)
{
    struct cs_value v = {.found = true, .vtep_len = 4, .host = "h1", .version = version};
    memcpy(v.mac, mac, 6);
    memcpy(v.vtep, VTEP1, 4);
    return v;
}

static void test_put_lookup_versions(void **state)
{
    (void)state;
    struct cs_cache *c = cs_cache_new(100);
    struct cs_key k;
    cs_key_ip(100, IP1, 4, &k);
    assert_null(cs_cache_lookup(c, &k, 0));
    struct cs_value v = pos(MAC1, 10);
    struct cs_entry *e = NULL;
    assert_int_equal(cs_cache_put(c, &k, &v, 0, &e), CS_PUT_STORED);
    assert_non_null(e);
    assert_ptr_equal(cs_cache_lookup(c, &k, 5), e);
    assert_memory_equal(e->mac, MAC1, 6);
    assert_string_equal(cs_cache_host_name(c, e->host), "h1");
    /* an older answer never replaces a newer one */
    struct cs_value old = pos(MAC2, 9);
    assert_int_equal(cs_cache_put(c, &k, &old, 1, NULL), CS_PUT_STALE);
    assert_memory_equal(e->mac, MAC1, 6);
    struct cs_value newer = pos(MAC2, 11);
    assert_int_equal(cs_cache_put(c, &k, &newer, 1, NULL), CS_PUT_STORED);
    assert_memory_equal(e->mac, MAC2, 6);
    assert_int_equal(e->version, 11);
    char buf[160];
    assert_string_equal(cs_entry_key_text(e, buf), "ip 10.1.0.7");
    assert_string_equal(cs_entry_value_text(c, e, buf),
                        "mac 02:00:00:00:00:02 vtep 192.168.0.1 host h1");
    /* the same address in another VN is another key */
    struct cs_key k2;
    cs_key_ip(101, IP1, 4, &k2);
    assert_null(cs_cache_find(c, &k2));
    assert_int_equal(cs_cache_count(c), 1);
    cs_cache_free(c);
}

static void test_negative_expiry(void **state)
{
    (void)state;
    struct cs_cache *c = cs_cache_new(100);
    struct cs_key k;
    cs_key_mac(100, MAC1, &k);
    struct cs_value neg = {.found = false, .version = 5, .expire_ms = 1000};
    struct cs_entry *e;
    assert_int_equal(cs_cache_put(c, &k, &neg, 0, &e), CS_PUT_STORED);
    assert_int_equal(cs_cache_holder_add(c, e, 7), 1);
    assert_non_null(cs_cache_lookup(c, &k, 999));
    assert_null(cs_cache_lookup(c, &k, 1000)); /* expired: not served */
    assert_ptr_equal(cs_cache_find(c, &k), e); /* but kept with its holders */
    assert_true(cs_iset_has(&e->holders, 7));
    /* becoming positive keeps the holders and joins the value-MAC index */
    struct cs_value v = pos(MAC1, 6);
    assert_int_equal(cs_cache_put(c, &k, &v, 1000, NULL), CS_PUT_STORED);
    assert_true(cs_iset_has(&e->holders, 7));
    size_t n;
    struct cs_entry **by = cs_cache_by_value_mac(c, 100, MAC1, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(by[0], e);
    free(by);
    cs_cache_free(c);
}

static void test_value_mac_index(void **state)
{
    (void)state;
    struct cs_cache *c = cs_cache_new(100);
    struct cs_key km, k1, k2;
    cs_key_mac(100, MAC1, &km);
    cs_key_ip(100, IP1, 4, &k1);
    cs_key_ip(100, IP2, 4, &k2);
    struct cs_value v1 = pos(MAC1, 3), v2 = pos(MAC2, 4);
    cs_cache_put(c, &km, &v1, 0, NULL);
    cs_cache_put(c, &k1, &v1, 0, NULL);
    cs_cache_put(c, &k2, &v2, 0, NULL);
    size_t n;
    struct cs_entry **by = cs_cache_by_value_mac(c, 100, MAC1, &n);
    assert_int_equal(n, 2);
    free(by);
    /* k2 moves from MAC2 to MAC1 */
    struct cs_value v3 = pos(MAC1, 5);
    cs_cache_put(c, &k2, &v3, 0, NULL);
    by = cs_cache_by_value_mac(c, 100, MAC1, &n);
    assert_int_equal(n, 3);
    free(by);
    by = cs_cache_by_value_mac(c, 100, MAC2, &n);
    assert_int_equal(n, 0);
    free(by);
    /* removal unlinks from both indexes */
    cs_cache_remove(c, cs_cache_find(c, &k1));
    assert_null(cs_cache_find(c, &k1));
    by = cs_cache_by_value_mac(c, 100, MAC1, &n);
    assert_int_equal(n, 2);
    free(by);
    by = cs_cache_by_value_mac(c, 200, MAC1, &n); /* other VN */
    assert_int_equal(n, 0);
    free(by);
    cs_cache_free(c);
}

static int evicted;
static uint32_t evicted_holder;
static void on_evict(struct cs_entry *e, void *arg)
{
    (void)arg;
    evicted++;
    if (cs_iset_count(&e->holders))
        evicted_holder = cs_iset_ids(&e->holders)[0];
}

static void test_lru_bound(void **state)
{
    (void)state;
    struct cs_cache *c = cs_cache_new(3);
    cs_cache_on_evict(c, on_evict, NULL);
    struct cs_key k[5];
    for (int i = 0; i < 3; i++) {
        uint8_t ip[4] = {10, 0, 0, (uint8_t)i};
        cs_key_ip(1, ip, 4, &k[i]);
        struct cs_value v = pos(MAC1, 1);
        struct cs_entry *e;
        cs_cache_put(c, &k[i], &v, 0, &e);
        cs_cache_holder_add(c, e, 100 + i);
    }
    /* touch 0 so 1 is the least recently used */
    assert_non_null(cs_cache_lookup(c, &k[0], 0));
    uint8_t ip3[4] = {10, 0, 0, 3};
    cs_key_ip(1, ip3, 4, &k[3]);
    struct cs_value v = pos(MAC1, 1);
    cs_cache_put(c, &k[3], &v, 0, NULL);
    assert_int_equal(evicted, 1);
    assert_int_equal(evicted_holder, 101);
    assert_null(cs_cache_find(c, &k[1]));
    assert_non_null(cs_cache_find(c, &k[0]));
    assert_int_equal(cs_cache_count(c), 3);
    assert_int_equal(cs_cache_evictions(c), 1);
    cs_cache_free(c);
}

static void test_many_and_compact(void **state)
{
    (void)state;
    assert_true(sizeof(struct cs_entry) <= 128);
    struct cs_cache *c = cs_cache_new(200000);
    for (uint32_t i = 0; i < 100000; i++) {
        uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        struct cs_key k;
        cs_key_ip(100 + i % 7, ip, 4, &k);
        struct cs_value v = pos(MAC1, i + 1);
        v.mac[5] = (uint8_t)i;
        v.host = i % 2 ? "h1" : "h2";
        assert_int_equal(cs_cache_put(c, &k, &v, 0, NULL), CS_PUT_STORED);
    }
    assert_int_equal(cs_cache_count(c), 100000);
    size_t per = cs_cache_bytes(c) / 100000;
    print_message("cache bytes per entry: %zu\n", per);
    assert_true(per < 200);
    for (uint32_t i = 0; i < 100000; i += 997) {
        uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        struct cs_key k;
        cs_key_ip(100 + i % 7, ip, 4, &k);
        struct cs_entry *e = cs_cache_lookup(c, &k, 0);
        assert_non_null(e);
        assert_int_equal(e->version, i + 1);
    }
    cs_cache_clear(c, NULL, NULL);
    assert_int_equal(cs_cache_count(c), 0);
    cs_cache_free(c);
}

static void test_verdicts(void **state)
{
    (void)state;
    struct cs_cache *c = cs_cache_new(10);
    assert_int_equal(cs_verdict_get(c, 1, 2), -1);
    for (uint32_t i = 1; i < 200; i++)
        assert_int_equal(cs_verdict_put(c, i, i + 1, i % 2 ? 1 : 2), 0);
    assert_int_equal(cs_verdict_get(c, 1, 2), 1);
    assert_int_equal(cs_verdict_get(c, 2, 3), 2);
    assert_int_equal(cs_verdict_get(c, 2, 1), -1);
    cs_verdict_flush(c);
    assert_int_equal(cs_verdict_get(c, 1, 2), -1);
    cs_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_lookup_versions), cmocka_unit_test(test_negative_expiry),
        cmocka_unit_test(test_value_mac_index),     cmocka_unit_test(test_lru_bound),
        cmocka_unit_test(test_many_and_compact),    cmocka_unit_test(test_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

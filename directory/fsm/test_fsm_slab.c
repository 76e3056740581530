/* test_fsm_slab.c - the FSM's slab allocator: classes, reuse, chunk bounds, tables, protobuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir_fsm_slab.h"
#include "msg.h"

#define CHUNK ((uintptr_t)2 << 20)

static void test_sizes_and_reuse(void **state)
{
    (void)state;
    struct dir_slab *s = dir_slab_new();
    assert_int_equal(dir_slab_in_use(s), 0);
    for (size_t n = 0; n <= 512; n++) {
        uint8_t *p = dir_slab_alloc(s, n);
        assert_non_null(p);
        assert_true(dir_slab_owns(s, p));
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xa5, n); /* the whole request is usable (ASan checks the bytes) */
        size_t used = dir_slab_in_use(s);
        assert_true(used >= (n ? n : 1));
        dir_slab_free(s, p);
        assert_int_equal(dir_slab_in_use(s), 0);
        /* The freed object is the next one of its class. */
        assert_ptr_equal(dir_slab_alloc(s, n), p);
        dir_slab_free(s, p);
    }
    /* Beyond the largest class: malloc's, released through the slab all the same. */
    void *big = dir_slab_alloc(s, 513);
    assert_false(dir_slab_owns(s, big));
    assert_int_equal(dir_slab_in_use(s), 0);
    dir_slab_free(s, big);
    dir_slab_free(s, NULL);
    dir_slab_destroy(s);
    dir_slab_destroy(NULL);
}

/* 48 does not divide a 2 MiB chunk: no object may straddle two chunks (whose classes differ). */
static void test_chunk_bounds(void **state)
{
    (void)state;
    struct dir_slab *s = dir_slab_new();
    size_t n = 3 * (CHUNK / 48) + 7;
    uint8_t **v = calloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i] = dir_slab_alloc(s, 48);
        assert_int_equal((uintptr_t)v[i] / CHUNK, ((uintptr_t)v[i] + 47) / CHUNK);
        memset(v[i], (int)(i & 0xff), 48);
        /* Another class in between takes chunks of its own. */
        if (i % 1000 == 0)
            dir_slab_free(s, dir_slab_alloc(s, 200));
    }
    assert_true(dir_slab_mapped(s) >= 4 * CHUNK);
    for (size_t i = 0; i < n; i++) { /* nothing overlapped */
        for (size_t j = 0; j < 48; j++)
            assert_int_equal(v[i][j], i & 0xff);
    }
    for (size_t i = 0; i < n; i++)
        dir_slab_free(s, v[i]);
    assert_int_equal(dir_slab_in_use(s), 0);
    free(v);
    dir_slab_destroy(s);
}

static void test_tables(void **state)
{
    (void)state;
    struct dir_slab *s = dir_slab_new();
    size_t small = 128, large = (size_t)1 << 20, two = 3 * (size_t)CHUNK;
    uint64_t *a = dir_slab_table(s, small);
    uint64_t *b = dir_slab_table(s, large);
    uint64_t *c = dir_slab_table(s, two);
    assert_true(dir_slab_owns(s, b) && dir_slab_owns(s, c));
    assert_int_equal((uintptr_t)b % CHUNK, 0);
    for (size_t i = 0; i < small / 8; i++)
        assert_int_equal(a[i], 0);
    for (size_t i = 0; i < large / 8; i++) {
        assert_int_equal(b[i], 0);
        b[i] = i + 1;
    }
    c[two / 8 - 1] = 1;
    dir_slab_table_free(s, b, large);
    /* The next table of that size reuses the chunk, zeroed again. */
    uint64_t *b2 = dir_slab_table(s, large);
    assert_ptr_equal(b2, b);
    for (size_t i = 0; i < large / 8; i++)
        assert_int_equal(b2[i], 0);
    dir_slab_table_free(s, a, small);
    dir_slab_table_free(s, b2, large);
    dir_slab_table_free(s, c, two);
    dir_slab_table_free(s, NULL, large);
    assert_int_equal(dir_slab_in_use(s), 0);
    dir_slab_destroy(s);
}

/* Unpacked messages live in the slab and are freed into it. */
static void test_protobuf(void **state)
{
    (void)state;
    struct dir_slab *s = dir_slab_new();
    ProtobufCAllocator a = dir_slab_pb(s);
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    uint8_t mac[6] = {2, 0, 0, 0, 0, 1}, ip[4] = {10, 0, 0, 1};
    ProtobufCBinaryData ips[1] = {{sizeof(ip), ip}};
    ep.vni = 100;
    ep.mac = (ProtobufCBinaryData){sizeof(mac), mac};
    ep.n_ips = 1;
    ep.ips = ips;
    ep.host = "h1";
    uint8_t buf[128];
    size_t len = strata__v1__endpoint__pack(&ep, buf);
    Strata__V1__Endpoint *copy = strata__v1__endpoint__unpack(&a, len, buf);
    assert_non_null(copy);
    assert_true(dir_slab_owns(s, copy));
    assert_true(dir_slab_owns(s, copy->host));
    assert_string_equal(copy->host, "h1");
    assert_memory_equal(copy->mac.data, mac, sizeof(mac));
    assert_true(dir_slab_in_use(s) > sizeof(*copy));
    strata__v1__endpoint__free_unpacked(copy, &a);
    assert_int_equal(dir_slab_in_use(s), 0);
    dir_slab_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_reuse),
        cmocka_unit_test(test_chunk_bounds),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_protobuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_arena.c - the bump allocator: alignment, overflow blocks, growth on reset, protobuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "msg.h"

static void test_alloc_reset_grow(void **state)
{
    (void)state;
    struct strata_arena a;
    strata_arena_init(&a, 1); /* raised to the minimum block */
    assert_int_equal(a.cap, 4096);
    uint8_t *first = strata_arena_alloc(&a, 1);
    assert_non_null(first);
    size_t total = 0;
    for (size_t n = 1; n < 300; n++) { /* 45 KiB: most of it in extra blocks */
        uint8_t *p = strata_arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, (int)n, n);
        total += (n + 15) & ~(size_t)15;
    }
    assert_true(a.extra_bytes > 0);
    strata_arena_reset(&a);
    /* The block grew to what the round needed: the same round now fits in it. */
    assert_true(a.cap >= total);
    assert_int_equal(a.used, 0);
    assert_int_equal(a.extra_bytes, 0);
    for (size_t n = 1; n < 300; n++)
        assert_non_null(strata_arena_alloc(&a, n));
    assert_int_equal(a.extra_bytes, 0);
    /* A huge round is served, but the block kept is bounded. */
    strata_arena_reset(&a);
    assert_non_null(strata_arena_alloc(&a, 4 * STRATA_ARENA_KEEP));
    strata_arena_reset(&a);
    assert_true(a.cap <= STRATA_ARENA_KEEP);
    strata_arena_fini(&a);
    strata_arena_fini(&a); /* twice is harmless */
}

static void test_protobuf(void **state)
{
    (void)state;
    struct strata_arena a;
    strata_arena_init(&a, 256);
    ProtobufCAllocator pb = strata_arena_pb(&a);
    Strata__V1__CommandBatch b = STRATA__V1__COMMAND_BATCH__INIT;
    Strata__V1__Command c[20], *cp[20];
    Strata__V1__Endpoint ep[20];
    uint8_t mac[6] = {2, 0, 0, 0, 0, 0};
    for (int i = 0; i < 20; i++) {
        strata__v1__command__init(&c[i]);
        strata__v1__endpoint__init(&ep[i]);
        ep[i].vni = 100 + (uint32_t)i;
        ep[i].mac = (ProtobufCBinaryData){6, mac};
        ep[i].host = "host-with-a-name";
        c[i].op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
        c[i].endpoint_add = &ep[i];
        c[i].req_id = (uint64_t)i;
        cp[i] = &c[i];
    }
    b.n_cmds = 20;
    b.cmds = cp;
    uint8_t buf[4096];
    size_t len = strata__v1__command_batch__pack(&b, buf);
    for (int round = 0; round < 3; round++) {
        Strata__V1__CommandBatch *d = strata__v1__command_batch__unpack(&pb, len, buf);
        assert_non_null(d);
        assert_int_equal(d->n_cmds, 20);
        assert_int_equal(d->cmds[19]->endpoint_add->vni, 119);
        assert_string_equal(d->cmds[7]->endpoint_add->host, "host-with-a-name");
        strata_arena_reset(&a);
    }
    /* Garbage fails to decode and leaves nothing behind after the reset. */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof(junk));
    assert_null(strata__v1__command_batch__unpack(&pb, sizeof(junk), junk));
    strata_arena_reset(&a);
    assert_int_equal(a.used, 0);
    strata_arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_reset_grow),
        cmocka_unit_test(test_protobuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

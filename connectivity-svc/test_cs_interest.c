/* test_cs_interest.c - small id sets: inline storage, spill to the heap and back, no duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cs_interest.h"

static void test_inline_and_heap(void **state)
{
    (void)state;
    struct cs_iset s = {0};
    assert_int_equal(cs_iset_count(&s), 0);
    assert_int_equal(cs_iset_add(&s, 5), 1);
    assert_int_equal(cs_iset_add(&s, 5), 0);
    assert_int_equal(cs_iset_add(&s, 6), 1);
    assert_int_equal(cs_iset_heap_bytes(&s), 0);
    for (uint32_t i = 10; i < 1010; i++)
        assert_int_equal(cs_iset_add(&s, i), 1);
    assert_int_equal(cs_iset_count(&s), 1002);
    assert_true(cs_iset_heap_bytes(&s) >= 1002 * sizeof(uint32_t));
    assert_true(cs_iset_has(&s, 500));
    assert_false(cs_iset_has(&s, 7));
    for (uint32_t i = 10; i < 1010; i++)
        assert_int_equal(cs_iset_del(&s, i), 1);
    assert_int_equal(cs_iset_del(&s, 10), 0);
    assert_int_equal(cs_iset_count(&s), 2);
    assert_int_equal(cs_iset_heap_bytes(&s), 0); /* back inline */
    assert_true(cs_iset_has(&s, 5) && cs_iset_has(&s, 6));
    const uint32_t *ids = cs_iset_ids(&s);
    assert_true((ids[0] == 5 && ids[1] == 6) || (ids[0] == 6 && ids[1] == 5));
    cs_iset_clear(&s);
    assert_int_equal(cs_iset_count(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_inline_and_heap)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

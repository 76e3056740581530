/* test_dird_snapshot.c - snapshots in turn: each voter's slices, and who never waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dird.h"

/* Over several windows every index belongs to exactly one of three voters, in runs of
 * threshold/3, so no two voters ever snapshot at the same index. */
static void test_one_voter_per_index(void **state)
{
    (void)state;
    const uint64_t t = 64;
    unsigned turns[3] = {0};
    for (uint64_t i = 0; i < 5 * t; i++) {
        unsigned owners = 0;
        for (unsigned p = 0; p < 3; p++)
            if (dird_snapshot_turn(i, t, p, 3)) {
                owners++;
                turns[p]++;
            }
        assert_int_equal(owners, 1);
    }
    for (unsigned p = 0; p < 3; p++)
        assert_true(turns[p] >= 5 * (t / 3)); /* each gets its slice in every window */
    assert_true(dird_snapshot_turn(0, t, 0, 3));
    assert_false(dird_snapshot_turn(0, t, 1, 3));
    assert_true(dird_snapshot_turn(t / 3, t, 1, 3));
    assert_true(dird_snapshot_turn(2 * (t / 3), t, 2, 3));
    assert_true(dird_snapshot_turn(t, t, 0, 3)); /* the next window starts over */
}

/* A node never waits more than one threshold past the one libraft applies. */
static void test_wait_bounded(void **state)
{
    (void)state;
    const uint64_t t = 16384;
    for (unsigned n = 2; n <= 5; n++)
        for (unsigned p = 0; p < n; p++)
            for (uint64_t from = 0; from < 3 * t; from += 997) {
                uint64_t i = from;
                while (!dird_snapshot_turn(i, t, p, n))
                    i++;
                assert_true(i - from <= t);
            }
}

/* A lone voter, a position outside the voters (not a voter) and a tiny threshold never wait. */
static void test_never_waits(void **state)
{
    (void)state;
    for (uint64_t i = 0; i < 100; i++) {
        assert_true(dird_snapshot_turn(i, 64, 0, 1));
        assert_true(dird_snapshot_turn(i, 64, 3, 3));
        assert_true(dird_snapshot_turn(i, 2, 1, 3));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_voter_per_index),
        cmocka_unit_test(test_wait_bounded),
        cmocka_unit_test(test_never_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_fsm_map.c - the FSM's hash map: every key found, replaced, deleted and iterated once,
 * including while a doubling is under way (it moves the old table a few buckets at a time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir_fsm_map.h"
#include "dir_fsm_slab.h"

#define N 200000

static void key_of(uint32_t i, uint8_t k[6])
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull;
    for (int j = 0; j < 6; j++)
        k[j] = (uint8_t)(x >> (8 * j));
}

static int vals[N]; /* key i maps to &vals[i] */

/* An empty map on a slab of its own; dir_map_fini and dir_slab_destroy(m->slab) end it. */
static void map_new(struct dir_map *m)
{
    dir_map_init(m, dir_slab_new());
}

static void map_end(struct dir_map *m)
{
    struct dir_slab *s = m->slab;
    dir_map_fini(m);
    dir_slab_destroy(s);
}

static size_t count_iter(const struct dir_map *m, uint64_t *sum)
{
    struct dir_map_iter it = {0};
    size_t n = 0;
    int *v;
    *sum = 0;
    while ((v = dir_map_next(m, &it)) != NULL) {
        n++;
        *sum += (uint64_t)(v - vals);
    }
    return n;
}

/* A doubling of a large table allocates the new one and moves only a few buckets (a small one
 * moves at once); the map answers for every key meanwhile, and the move ends long before the
 * next doubling. */
static void test_incremental_doubling(void **state)
{
    (void)state;
    struct dir_map m;
    map_new(&m);
    uint8_t k[6];
    uint32_t i = 0;
    size_t doublings_seen = 0;
    for (; i < N; i++) {
        size_t nb = m.nb;
        key_of(i, k);
        assert_null(dir_map_put(&m, k, 6, &vals[i]));
        if (nb > 0 && nb < 65536 && m.nb == 2 * nb) /* small tables move at once */
            assert_null(m.ob);
        if (nb >= 65536 && m.nb == 2 * nb) { /* this insert started a doubling */
            doublings_seen++;
            assert_non_null(m.ob);
            assert_int_equal(m.onb, nb);
            assert_true(m.mig <= 128); /* not a full rehash in one call */
            /* Mid-move: every key so far is found, wherever it is now. */
            for (uint32_t j = 0; j <= i; j += 7) {
                key_of(j, k);
                assert_ptr_equal(dir_map_get(&m, k, 6), &vals[j]);
            }
            uint64_t sum;
            assert_int_equal(count_iter(&m, &sum), i + 1);
            assert_int_equal(sum, (uint64_t)i * (i + 1) / 2);
        }
        if (m.ob == NULL && nb >= 65536 && m.nb == nb)
            assert_int_equal(m.onb, 0);
    }
    assert_true(doublings_seen >= 3); /* 65536 -> 131072 -> 262144 -> 524288 buckets */
    assert_int_equal(m.n, N);
    map_end(&m);
}

/* Replacing and deleting keys while the old table still holds some of them. */
static void test_changes_while_moving(void **state)
{
    (void)state;
    struct dir_map m;
    map_new(&m);
    uint8_t k[6];
    uint32_t i = 0;
    /* Fill until a doubling of a 65536-bucket table has just started. */
    for (;; i++) {
        size_t nb = m.nb;
        key_of(i, k);
        dir_map_put(&m, k, 6, &vals[i]);
        if (nb == 65536 && m.nb == 2 * nb)
            break;
    }
    uint32_t filled = i + 1;
    assert_non_null(m.ob);
    /* Replace every 5th key: the old value comes back, nothing is added. */
    for (uint32_t j = 0; j < filled; j += 5) {
        key_of(j, k);
        assert_ptr_equal(dir_map_put(&m, k, 6, &vals[j]), &vals[j]);
    }
    assert_int_equal(m.n, filled);
    assert_non_null(m.ob); /* replacing moves nothing */
    /* Delete every 3rd key: found wherever it is, then gone; the others stay. */
    for (uint32_t j = 0; j < filled; j += 3) {
        key_of(j, k);
        assert_ptr_equal(dir_map_del(&m, k, 6), &vals[j]);
        assert_null(dir_map_get(&m, k, 6));
    }
    assert_null(m.ob); /* the deletes finished the move */
    size_t left = 0;
    uint64_t want = 0;
    for (uint32_t j = 0; j < filled; j++) {
        key_of(j, k);
        if (j % 3 == 0) {
            assert_null(dir_map_get(&m, k, 6));
        } else {
            assert_ptr_equal(dir_map_get(&m, k, 6), &vals[j]);
            left++;
            want += j;
        }
    }
    uint64_t sum;
    assert_int_equal(m.n, left);
    assert_int_equal(count_iter(&m, &sum), left);
    assert_int_equal(sum, want);
    map_end(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental_doubling),
        cmocka_unit_test(test_changes_while_moving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_dird_recv.c - the cut of AppendEntries at this node's snapshot (dird_recv_trim). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "dird.h"

/* n entries in one batch (as libraft's receiver makes them), terms from terms[]. */
static void make_args(struct raft_append_entries *a, raft_index prev, raft_term prev_term,
                      const raft_term *terms, unsigned n)
{
    memset(a, 0, sizeof(*a));
    a->prev_log_index = prev;
    a->prev_log_term = prev_term;
    a->n_entries = n;
    a->entries = raft_malloc(n * sizeof(a->entries[0]));
    uint8_t *batch = raft_malloc(8 * n);
    for (unsigned i = 0; i < n; i++) {
        a->entries[i] = (struct raft_entry){.term = terms[i], .type = RAFT_COMMAND};
        a->entries[i].buf.base = batch + 8 * i;
        a->entries[i].buf.len = 8;
        memset(batch + 8 * i, (int)(prev + 1 + i), 8);
        a->entries[i].batch = batch;
    }
}

static void free_args(struct raft_append_entries *a)
{
    if (a->n_entries > 0)
        raft_free(a->entries[0].batch);
    raft_free(a->entries);
}

static struct raft_log log_with_snapshot(raft_index s, raft_term t, raft_index offset)
{
    struct raft_log l;
    memset(&l, 0, sizeof(l));
    l.offset = offset;
    l.snapshot.last_index = s;
    l.snapshot.last_term = t;
    return l;
}

/* The reported case: the log starts at 2 (snapshot at 5), the leader sends from index 1. */
static void test_from_one_cut_at_snapshot(void **state)
{
    (void)state;
    struct raft_log l = log_with_snapshot(5, 2, 1);
    const raft_term terms[] = {1, 1, 2, 2, 2, 3, 3};
    struct raft_append_entries a;
    make_args(&a, 0, 0, terms, 7);
    assert_int_equal(dird_recv_trim(&l, &a), 5);
    assert_int_equal(a.prev_log_index, 5);
    assert_int_equal(a.prev_log_term, 2);
    assert_int_equal(a.n_entries, 2);
    assert_int_equal(a.entries[0].term, 3);
    assert_int_equal(((uint8_t *)a.entries[0].buf.base)[0], 6); /* entry 6 now comes first */
    assert_int_equal(((uint8_t *)a.entries[1].buf.base)[0], 7);
    free_args(&a); /* the batch is still owned through the kept entries (ASan: no leak) */
}

/* Everything in the message is in the snapshot: an empty append at the snapshot. */
static void test_all_in_snapshot(void **state)
{
    (void)state;
    struct raft_log l = log_with_snapshot(4, 2, 3);
    const raft_term terms[] = {1, 2, 2};
    struct raft_append_entries a;
    make_args(&a, 1, 1, terms, 3);
    assert_int_equal(dird_recv_trim(&l, &a), 3);
    assert_int_equal(a.prev_log_index, 4);
    assert_int_equal(a.n_entries, 0);
    assert_null(a.entries); /* batch and array freed by the cut (ASan would report a leak) */
}

/* Left alone: no snapshot, starts at or after it, ends before it, or another history. */
static void test_left_alone(void **state)
{
    (void)state;
    const raft_term terms[] = {2, 2, 3};
    struct raft_append_entries a;
    struct {
        raft_index snap, prev;
        raft_term snap_term;
    } cases[] = {{0, 0, 0}, {5, 5, 2}, {5, 7, 2}, {9, 1, 3}, {3, 0, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raft_log l = log_with_snapshot(cases[i].snap, cases[i].snap_term, 1);
        make_args(&a, cases[i].prev, 1, terms, 3);
        assert_int_equal(dird_recv_trim(&l, &a), 0);
        assert_int_equal(a.prev_log_index, cases[i].prev);
        assert_int_equal(a.n_entries, 3);
        free_args(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_one_cut_at_snapshot),
        cmocka_unit_test(test_all_in_snapshot),
        cmocka_unit_test(test_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_fsm_fuzz.c - mutated commands against the FSM: whatever passes the API's validation must
 * apply without a memory error (this runs under ASan+UBSan in ./ci/test), and the state it leaves
 * must survive a snapshot and restore unchanged.
 *
 * Seeds are the well-formed commands of a scripted session (every op, with conflicts, moves and
 * deletes). Each round packs a few of them, mutates the bytes (bit flips, byte overwrites,
 * truncation, splices of two seeds), decodes what still decodes, validates it as a WriteRequest
 * the way strata-dird does, and applies it after the unit tests' base state. Deterministic: the
 * generator is seeded, so a failure reproduces with its round number. */
#include "dir_fsm_fuzz.h"

#define FZ_ROUNDS 1500
#define FZ_CMDS_PER_ROUND 12

static uint8_t *fz_mutate(const struct fz_seed *s, size_t *len)
{
    size_t cap = s->len + 64;
    uint8_t *b = malloc(cap);
    memcpy(b, s->buf, s->len);
    size_t n = s->len;
    switch (fz_next() % 5) {
    case 0: /* untouched: the seed itself, on a state that differs from the session's */
        break;
    case 1: /* flip a few bits */
        for (int k = 1 + (int)(fz_next() % 4); k > 0 && n > 0; k--)
            b[fz_next() % n] ^= (uint8_t)(1u << (fz_next() % 8));
        break;
    case 2: /* overwrite a byte with an interesting value */
        if (n > 0) {
            static const uint8_t v[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x3a, 0x2f};
            b[fz_next() % n] = v[fz_next() % sizeof(v)];
        }
        break;
    case 3: /* truncate */
        n = n ? (size_t)(fz_next() % n) : 0;
        break;
    default: { /* splice the tail of another seed */
        const struct fz_seed *o = &seeds[fz_next() % nseeds];
        size_t at = n ? (size_t)(fz_next() % n) : 0,
               from = o->len ? (size_t)(fz_next() % o->len) : 0;
        size_t take = o->len - from < cap - at ? o->len - from : cap - at;
        memcpy(b + at, o->buf + from, take);
        n = at + take;
        break;
    }
    }
    *len = n;
    return b;
}

static void fz_round(unsigned round, size_t *applied)
{
    struct t_fsm *t = t_new();
    t_base(t);
    for (int k = 0; k < FZ_CMDS_PER_ROUND; k++) {
        size_t len;
        uint8_t *b = fz_mutate(&seeds[fz_next() % nseeds], &len);
        *applied += fz_apply_bytes(t, b, len);
        free(b);
    }
    const char *bad = fz_check_roundtrip(t->f);
    if (bad != NULL)
        fail_msg("round %u: %s", round, bad);
    t_free(t);
}

static void test_fuzz_apply(void **state)
{
    (void)state;
    fz_collect();
    assert_true(nseeds >= 30);
    size_t applied = 0;
    for (unsigned i = 0; i < FZ_ROUNDS; i++)
        fz_round(i, &applied);
    /* the mutations must leave enough valid commands to exercise apply, not just the decoder */
    fprintf(stderr, "fuzz: %zu of %u commands validated and applied\n", applied,
            FZ_ROUNDS * FZ_CMDS_PER_ROUND);
    assert_true(applied > (size_t)FZ_ROUNDS * FZ_CMDS_PER_ROUND / 4);
    fz_seeds_free();
}

/* A snapshot arrives from the leader or from disk: mutated, it must be refused or restore a state
 * that itself survives a snapshot and restore. */
static void test_fuzz_restore(void **state)
{
    (void)state;
    fz_collect();
    uint8_t *snap = NULL;
    size_t slen = 0;
    struct strata_err e;
    assert_int_equal(fz_session_snapshot(&snap, &slen, &e), 0);
    unsigned restored = 0;
    for (unsigned round = 0; round < 2000; round++) {
        struct fz_seed s = {snap, slen};
        size_t len;
        uint8_t *b = fz_mutate(&s, &len);
        struct dir_fsm *r = dir_fsm_new();
        if (dir_fsm_restore(r, b, len, &e) == 0) {
            restored++;
            const char *bad = fz_check_roundtrip(r);
            if (bad != NULL)
                fail_msg("round %u: a restored snapshot: %s", round, bad);
        }
        dir_fsm_free(r);
        free(b);
    }
    fprintf(stderr, "fuzz: %u of 2000 mutated snapshots restored\n", restored);
    free(snap);
    fz_seeds_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fuzz_apply),
                                       cmocka_unit_test(test_fuzz_restore)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_fsm_fuzz.c - mutated commands against the FSM: whatever passes the API's validation must
 * apply without a memory error (this runs under ASan+UBSan in ./ci/test), and the state it leaves
 * must survive a snapshot and restore unchanged.
 *
 * Seeds are the well-formed commands of a scripted session (every op, with conflicts, moves and
 * deletes). Each round packs a few of them, mutates the bytes (bit flips, byte overwrites,
 * truncation, splices of two seeds), decodes what still decodes, validates it as a WriteRequest
 * the way strata-dird does, and applies it after the unit tests' base state. Deterministic: the
 * generator is seeded, so a failure reproduces with its round number. */
#include "dir_fsm_testutil.h"

#define FZ_MAX_SEEDS 128
#define FZ_ROUNDS 1500
#define FZ_CMDS_PER_ROUND 12

struct fz_seed {
    uint8_t *buf;
    size_t len;
};

static struct fz_seed seeds[FZ_MAX_SEEDS];
static size_t nseeds;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t fz_next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fz_record(struct t_fsm *t, const Strata__V1__Command *c)
{
    (void)t;
    assert_true(nseeds < FZ_MAX_SEEDS);
    size_t n = strata__v1__command__get_packed_size(c);
    seeds[nseeds].buf = malloc(n ? n : 1);
    seeds[nseeds].len = strata__v1__command__pack(c, seeds[nseeds].buf);
    nseeds++;
}

/* A session touching every kind of object, its conflicts and its deletes. */
static void fz_collect(void)
{
    struct t_fsm *t = t_new();
    t->client_id = 7;
    t->rec = fz_record;
    t_base(t);
    const uint32_t gw_vnis[] = {100, 200};
    t_gw(t, "gw1", "192.168.0.9", gw_vnis, 2);
    t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.10,fd00:1::10", "h1");
    t_ep(t, 100, "02:00:00:00:00:02", "10.1.0.11", "h2");
    t_ep(t, 100, "02:00:00:00:00:03", "10.1.0.10", "h1"); /* IP conflict */
    t_ep(t, 200, "02:00:00:00:00:01", "10.2.0.10", "h1"); /* same MAC, other VN */
    t_ep(t, 300, "02:00:00:00:00:04", "10.1.0.10", "h2"); /* same IP, other domain */
    t_ep(t, 100, "02:00:00:00:00:05", "10.9.0.1", "h1");  /* outside every subnet */
    t_ep(t, 999, "02:00:00:00:00:06", "10.1.0.12", "h1"); /* unknown VNI */
    t_move(t, 100, "02:00:00:00:00:01", "h2");
    t_move(t, 100, "02:00:00:00:00:09", "h2");
    t_del(t, 100, "02:00:00:00:00:02");
    t_policy(t, "acme", 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW);
    t_policy(t, "acme", 200, 100, STRATA__V1__VERDICT__VERDICT_DENY);
    t_member(t, 1, "127.0.0.1:7001", "tcp://127.0.0.1:7101");
    t_member(t, 2, "127.0.0.1:7002", "tcp://127.0.0.1:7102");
    t_member_del(t, 2);
    t_subnet(t, 200, "10.3.0.0/16", "10.3.0.1");
    t_vnet(t, 400, "other", "y");
    t_vnet_del(t, 200);
    t_host(t, "h3", "fd00::3", "podB");
    t_free(t);
}

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
        Strata__V1__Command *c = strata__v1__command__unpack(NULL, len, b);
        free(b);
        if (c == NULL)
            continue;
        /* what strata-dird accepts from a client: a WriteRequest that validates */
        Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
        strata_env env = STRATA__V1__ENVELOPE__INIT;
        wr.cmd = c;
        env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
        env.write = &wr;
        struct strata_err e;
        if (strata_msg_validate(&env, &e) == 0) {
            dir_fsm_apply_cmd(t->f, t->index++, c, &t->res);
            (*applied)++;
        }
        strata__v1__command__free_unpacked(c, NULL);
    }
    /* the state survives a snapshot and restore unchanged */
    uint8_t *snap = NULL;
    size_t slen = 0;
    struct strata_err e;
    assert_int_equal(dir_fsm_snapshot(t->f, &snap, &slen, &e), 0);
    struct dir_fsm *r = dir_fsm_new();
    if (dir_fsm_restore(r, snap, slen, &e) != 0)
        fail_msg("round %u: restore: %s", round, e.msg);
    char *d1 = dir_fsm_dump(t->f), *d2 = dir_fsm_dump(r);
    if (strcmp(d1, d2) != 0)
        fail_msg("round %u: the restored state differs from the snapshotted one", round);
    free(d1);
    free(d2);
    free(snap);
    dir_fsm_free(r);
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
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fuzz_apply)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

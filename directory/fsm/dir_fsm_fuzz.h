/* dir_fsm_fuzz.h - what the FSM's mutation test (test_fsm_fuzz.c) and its libFuzzer target
 * (fuzz/fuzz_fsm_apply.c) share: seed commands from a scripted session, one command taken as a
 * client's write, and the snapshot round-trip check. Header-only, like dir_fsm_testutil.h. */
#ifndef DIR_FSM_FUZZ_H
#define DIR_FSM_FUZZ_H

#include "dir_fsm_testutil.h"

#define FZ_MAX_SEEDS 128

struct fz_seed {
    uint8_t *buf;
    size_t len;
};

static struct fz_seed seeds[FZ_MAX_SEEDS];
static size_t nseeds;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t fz_next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static inline void fz_record(struct t_fsm *t, const Strata__V1__Command *c)
{
    (void)t;
    assert_true(nseeds < FZ_MAX_SEEDS);
    size_t n = strata__v1__command__get_packed_size(c);
    seeds[nseeds].buf = malloc(n ? n : 1);
    seeds[nseeds].len = strata__v1__command__pack(c, seeds[nseeds].buf);
    nseeds++;
}

/* A session touching every kind of object, its conflicts and its deletes. */
static inline void fz_collect(void)
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

static inline void fz_seeds_free(void)
{
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].buf);
    nseeds = 0;
}

/* One command's bytes, taken as strata-dird takes a client's write: decoded, validated as a
 * WriteRequest, applied when valid. Returns whether it reached apply. */
static inline bool fz_apply_bytes(struct t_fsm *t, const uint8_t *b, size_t len)
{
    /* as a command reaches the FSM from the API: checked on the wire, unknown fields dropped */
    struct strata_err we;
    if (strata_msg_wire_check(&strata__v1__command__descriptor, b, len, STRATA_MAX_REQ_ELEMS,
                              &we) != 0)
        return false;
    Strata__V1__Command *c = strata__v1__command__unpack(NULL, len, b);
    if (c == NULL)
        return false;
    strata_msg_strip_unknown(&c->base, NULL);
    Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    wr.cmd = c;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    env.write = &wr;
    struct strata_err e;
    bool ok = strata_msg_validate(&env, &e) == 0;
    if (ok)
        dir_fsm_apply_cmd(t->f, t->index++, c, &t->res);
    strata__v1__command__free_unpacked(c, NULL);
    return ok;
}

/* The snapshot of the scripted session's state: the base state, then every seed applied (after
 * fz_collect). Caller frees *buf. */
static inline int fz_session_snapshot(uint8_t **buf, size_t *len, struct strata_err *e)
{
    struct t_fsm *t = t_new();
    t_base(t);
    for (size_t i = 0; i < nseeds; i++)
        fz_apply_bytes(t, seeds[i].buf, seeds[i].len);
    int rc = dir_fsm_snapshot(t->f, buf, len, e);
    t_free(t);
    return rc;
}

/* The state comes back from a snapshot and restore with the same canonical dump. NULL when it
 * does, else what went wrong (static text). */
static inline const char *fz_check_roundtrip(const struct dir_fsm *f)
{
    uint8_t *snap = NULL;
    size_t slen = 0;
    struct strata_err e;
    if (dir_fsm_snapshot(f, &snap, &slen, &e) != 0)
        return "snapshot failed";
    struct dir_fsm *r = dir_fsm_new();
    const char *bad = NULL;
    if (dir_fsm_restore(r, snap, slen, &e) != 0) {
        bad = "restore failed";
    } else {
        char *d1 = dir_fsm_dump(f), *d2 = dir_fsm_dump(r);
        if (strcmp(d1, d2) != 0)
            bad = "the restored state differs from the snapshotted one";
        free(d1);
        free(d2);
    }
    free(snap);
    dir_fsm_free(r);
    return bad;
}

#endif

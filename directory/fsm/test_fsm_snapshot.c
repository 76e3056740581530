/* test_fsm_snapshot.c - snapshot/restore round trips, corrupt snapshots, a randomized history. */
#include "dir_fsm_testutil.h"

static int teardown(void **state)
{
    if (*state)
        t_free(*state);
    return 0;
}

static void populate(struct t_fsm *t)
{
    t_base(t);
    t->client_id = 9;
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.7,fd00:1::7", "h1"), 0);
    assert_int_equal(t_ep(t, 300, "02:00:00:00:00:01", "10.1.0.7", "h2"), 0);
    assert_int_equal(t_ep(t, 200, "02:00:00:00:00:02", "10.2.0.9", "h2"), 0);
    uint32_t vnis[] = {100, 200};
    assert_int_equal(t_gw(t, "gw1", "fd00::99", vnis, 2), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:03", "10.1.0.3", "gw1"), 0);
    assert_int_equal(t_policy(t, "acme", 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW), 0);
    assert_int_equal(t_member(t, 1, "127.0.0.1:9001", "tcp://127.0.0.1:7001"), 0);
    assert_int_equal(t_domain(t, "acme"), STRATA_EEXIST); /* a remembered failure */
    t->client_id = 0;
    /* a live gateway: its liveness and the gateway endpoints it holds go into the snapshot */
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_non_null(
        dir_fsm_endpoint_by_mac(t->f, 200, (const uint8_t[6]){2, 0x53, 0x54, 0, 0, 200}));
}

/* Snapshot `t`, restore into a fresh FSM, compare dumps and re-encodings; returns the copy. */
static struct t_fsm *round_trip(struct t_fsm *t)
{
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    struct strata_err e = {0};
    assert_int_equal(dir_fsm_snapshot(t->f, &buf, &len, &e), 0);
    struct t_fsm *c = t_new();
    assert_int_equal(dir_fsm_restore(c->f, buf, len, &e), 0);
    assert_int_equal(c->nchg, 0); /* a restore announces nothing */
    char *d1 = dir_fsm_dump(t->f), *d2 = dir_fsm_dump(c->f);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    assert_int_equal(dir_fsm_snapshot(c->f, &buf2, &len2, &e), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len); /* deterministic encoding */
    free(buf);
    free(buf2);
    c->index = dir_fsm_applied(c->f) + 1;
    return c;
}

static void test_round_trip(void **state)
{
    struct t_fsm *t = t_new();
    *state = t;
    populate(t);
    struct t_fsm *c = round_trip(t);
    char *d = dir_fsm_dump(c->f);
    assert_non_null(strstr(d, "endpoint vni=100 mac=02:00:00:00:00:01 ips=10.1.0.7,fd00:1::7 "
                              "host=h1 vtep=192.168.0.1"));
    assert_non_null(strstr(d, "flood=192.168.0.1,fd00::99"));
    assert_non_null(strstr(d, "dedup client=9 req=8 status=-4"));
    free(d);
    /* the restored copy works: dedup remembered, indexes rebuilt, conflicts detected */
    struct dir_result res;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = "fresh";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    cmd.client_id = 9;
    cmd.req_id = 8;
    dir_fsm_apply_cmd(c->f, c->index++, &cmd, &res);
    assert_true(res.duplicate);
    assert_null(dir_fsm_vnet(c->f, 0));
    assert_int_equal(t_ep(c, 100, "02:00:00:00:00:09", "10.1.0.7", "h2"), STRATA_ECONFLICT);
    assert_int_equal(t_vnet_del(c, 100), STRATA_ECONFLICT);
    assert_int_equal(t_host(c, "h9", "192.168.0.1", "p"), STRATA_ECONFLICT);
    /* the same further commands on both give the same state */
    t->index = c->index;
    assert_int_equal(t_move(t, 100, "02:00:00:00:00:01", "h2"), 0);
    assert_int_equal(t_move(c, 100, "02:00:00:00:00:01", "h2"), 0);
    assert_int_equal(t_host(t, "h2", "192.168.7.2", "podA"), 0);
    assert_int_equal(t_host(c, "h2", "192.168.7.2", "podA"), 0);
    char *d1 = dir_fsm_dump(t->f), *d2 = dir_fsm_dump(c->f);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    /* restoring over a populated FSM replaces everything */
    struct t_fsm *empty = t_new();
    uint8_t *buf;
    size_t len;
    assert_int_equal(dir_fsm_snapshot(empty->f, &buf, &len, NULL), 0);
    assert_int_equal(dir_fsm_restore(c->f, buf, len, NULL), 0);
    assert_int_equal(dir_fsm_count(c->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 0);
    assert_int_equal(dir_fsm_applied(c->f), 0);
    assert_null(dir_fsm_host(c->f, "h1"));
    free(buf);
    t_free(empty);
    t_free(c);
}

static void test_corrupt(void **state)
{
    struct t_fsm *t = t_new();
    *state = t;
    populate(t);
    uint8_t *buf;
    size_t len;
    struct strata_err e = {0};
    assert_int_equal(dir_fsm_snapshot(t->f, &buf, &len, &e), 0);
    char *before = dir_fsm_dump(t->f);
    /* every truncation fails and leaves the state as it was */
    for (size_t l = 0; l < len; l++) {
        memset(&e, 0, sizeof(e));
        int rc = dir_fsm_restore(t->f, buf, l, &e);
        if (rc == 0)
            fail_msg("restore of %zu of %zu bytes succeeded", l, len);
        assert_true(e.code < 0);
        assert_true(e.msg[0] != 0);
    }
    /* garbage: random bytes, and single flipped bytes */
    srand(7);
    uint8_t junk[4096];
    for (int i = 0; i < 200; i++) {
        size_t l = (size_t)(rand() % (int)sizeof(junk));
        for (size_t j = 0; j < l; j++)
            junk[j] = (uint8_t)rand();
        assert_int_not_equal(dir_fsm_restore(t->f, junk, l, &e), 0);
    }
    uint8_t *copy = malloc(len);
    int accepted = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= 0x5a;
        struct t_fsm *o = t_new();
        /* A flip may still decode to a consistent state (a changed name): then it must be
         * internally consistent, i.e. survive its own round trip. */
        if (dir_fsm_restore(o->f, copy, len, &e) == 0) {
            accepted++;
            t_free(round_trip(o));
        }
        t_free(o);
    }
    print_message("%d of %zu single-byte corruptions decoded to a consistent state\n", accepted,
                  len);
    assert_true(accepted < (int)len);
    free(copy);
    char *after = dir_fsm_dump(t->f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(buf);
    /* a snapshot that decodes but breaks the rules: endpoint on an unknown host */
    Strata__V1__DirSnapshot s = STRATA__V1__DIR_SNAPSHOT__INIT;
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__Endpoint *eps[] = {&ep};
    uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
    ep.vni = 100;
    ep.mac.data = mac;
    ep.mac.len = 6;
    ep.host = "ghost";
    ep.version = 1;
    s.applied_index = 5;
    s.endpoints = eps;
    s.n_endpoints = 1;
    s.magic = 0x53444952u;
    len = strata__v1__dir_snapshot__get_packed_size(&s);
    buf = malloc(len);
    strata__v1__dir_snapshot__pack(&s, buf);
    assert_int_not_equal(dir_fsm_restore(t->f, buf, len, &e), 0);
    assert_non_null(strstr(e.msg, "endpoint"));
    free(buf);
}

/* ---------------------------------------------------------------- randomized history */

struct rng {
    uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((r->s >> 33) % n);
}

/* Flood lists as the change feed announced them, per VNI (1..8). */
struct feed_view {
    char flood[9][256];
    size_t nflood_changes;
    uint64_t last_index;
};

static struct feed_view fv;

static void feed_hook(void *arg, const Strata__V1__Change *c)
{
    t_hook(arg, c);
    assert_true(c->index >= fv.last_index); /* ordered by index */
    fv.last_index = c->index;
    if (c->kind != STRATA__V1__OBJ_KIND__OBJ_VNET)
        return;
    char *known = fv.flood[c->vnet->vni];
    if (c->deleted || c->vnet->version == c->index) { /* created or deleted: empty list */
        assert_int_equal(c->n_flood_vteps, 0);
        known[0] = 0;
        return;
    }
    /* a flood-list announcement is only made when the list really changes */
    char now[256];
    t_flood(c, now, sizeof(now));
    assert_string_not_equal(now, known);
    snprintf(known, sizeof(fv.flood[0]), "%s", now);
    fv.nflood_changes++;
}

static void random_command(struct t_fsm *t, struct rng *r)
{
    static const char *doms[] = {"d0", "d1", "d2"};
    char mac[32], ips[128], id[16], vtep[32], cidr[48], gw[48];
    uint32_t vni = 1 + rnd(r, 8);
    snprintf(mac, sizeof(mac), "02:00:00:00:00:%02x", rnd(r, 24));
    switch (rnd(r, 20)) {
    case 0:
        t_domain(t, doms[rnd(r, 3)]);
        break;
    case 1:
        t_vnet(t, vni, doms[rnd(r, 3)], "vn");
        break;
    case 2:
        if (rnd(r, 4) == 0)
            t_vnet_del(t, vni);
        break;
    case 3:
        if (rnd(r, 2))
            snprintf(cidr, sizeof(cidr), "10.%u.%u.0/24", vni, rnd(r, 2));
        else
            snprintf(cidr, sizeof(cidr), "fd00:%u::/%u", vni, 48 + 16 * rnd(r, 2));
        snprintf(gw, sizeof(gw), "10.%u.0.1", vni);
        t_subnet(t, vni, cidr, rnd(r, 2) ? gw : NULL);
        break;
    case 4:
    case 5:
        snprintf(id, sizeof(id), "h%u", rnd(r, 6));
        snprintf(vtep, sizeof(vtep), "192.168.%u.%u", rnd(r, 2), 1 + rnd(r, 8));
        t_host(t, id, vtep, rnd(r, 2) ? "pa" : "pb");
        break;
    case 6: {
        uint32_t vnis[3] = {1 + rnd(r, 8), 1 + rnd(r, 8), 1 + rnd(r, 8)};
        snprintf(id, sizeof(id), "g%u", rnd(r, 2));
        snprintf(vtep, sizeof(vtep), "fd99::%u", 1 + rnd(r, 4));
        t_gw(t, id, vtep, vnis, rnd(r, 4));
        break;
    }
    case 7:
    case 8:
    case 9:
    case 10:
    case 11: {
        size_t l = 0;
        ips[0] = 0;
        for (uint32_t i = 0, n = rnd(r, 3); i < n; i++) {
            if (rnd(r, 4))
                l += (size_t)snprintf(ips + l, sizeof(ips) - l, "%s10.%u.%u.%u", i ? "," : "", vni,
                                      rnd(r, 2), 2 + rnd(r, 30));
            else
                l += (size_t)snprintf(ips + l, sizeof(ips) - l, "%sfd00:%u::%x", i ? "," : "", vni,
                                      2 + rnd(r, 30));
        }
        snprintf(id, sizeof(id), "%s%u", rnd(r, 8) ? "h" : "g", rnd(r, 6));
        t_ep(t, vni, mac, ips, id);
        break;
    }
    case 12:
    case 13:
        snprintf(id, sizeof(id), "h%u", rnd(r, 6));
        t_move(t, vni, mac, id);
        break;
    case 14:
    case 15:
        t_del(t, vni, mac);
        break;
    case 16:
        t_policy(t, doms[rnd(r, 3)], vni, 1 + rnd(r, 8),
                 rnd(r, 2) ? STRATA__V1__VERDICT__VERDICT_ALLOW
                           : STRATA__V1__VERDICT__VERDICT_DENY);
        break;
    case 17:
        snprintf(vtep, sizeof(vtep), "127.0.0.1:%u", 9000 + rnd(r, 3));
        if (rnd(r, 3))
            t_member(t, 1 + rnd(r, 3), vtep, "tcp://127.0.0.1:7000");
        else
            t_member_del(t, 1 + rnd(r, 3));
        break;
    default: /* a retry of a recent request */
        if (t->req_id > 3) {
            uint64_t keep = t->req_id;
            t->req_id -= 1 + rnd(r, 3);
            size_t n = t->nchg;
            t_del(t, vni, mac);
            assert_true(t->res.duplicate);
            assert_int_equal(t->nchg, n);
            t->req_id = keep;
        }
        break;
    }
}

/* Every endpoint's keys lead back to it and no version is newer than the applied index. */
static void check_consistency(struct t_fsm *t)
{
    Strata__V1__ListReply l;
    uint64_t applied = dir_fsm_applied(t->f);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, 0, &l), 0);
    for (size_t i = 0; i < l.n_endpoints; i++) {
        const Strata__V1__Endpoint *e = l.endpoints[i];
        assert_true(e->version >= 1 && e->version <= applied);
        assert_ptr_equal(dir_fsm_endpoint_by_mac(t->f, e->vni, e->mac.data), e);
        for (size_t j = 0; j < e->n_ips; j++) {
            struct strata_ip ip;
            assert_int_equal(strata_ip_from_bytes(e->ips[j].data, e->ips[j].len, &ip, NULL), 0);
            assert_ptr_equal(dir_fsm_endpoint_by_ip(t->f, e->vni, &ip), e);
        }
        const Strata__V1__Host *h = dir_fsm_host(t->f, e->host);
        const Strata__V1__Gateway *g = dir_fsm_gateway(t->f, e->host);
        const ProtobufCBinaryData *vt = h ? &h->vtep : &g->vtep;
        assert_int_equal(vt->len, e->vtep.len);
        assert_memory_equal(vt->data, e->vtep.data, vt->len);
    }
    assert_int_equal(l.n_endpoints, dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT));
    dir_fsm_list_release(&l);
    /* the feed's view of every flood list matches the FSM's */
    for (uint32_t vni = 1; vni <= 8; vni++) {
        Strata__V1__VnInfoReply vi;
        if (dir_fsm_vn_info(t->f, vni, &vi) == 0) {
            Strata__V1__Change c = STRATA__V1__CHANGE__INIT;
            char now[256];
            c.flood_vteps = vi.flood_vteps;
            c.n_flood_vteps = vi.n_flood_vteps;
            assert_string_equal(t_flood(&c, now, sizeof(now)), fv.flood[vni]);
        }
        dir_fsm_vn_info_release(&vi);
    }
}

static void test_random(void **state)
{
    struct t_fsm *t = t_new(), *u = t_new();
    *state = t;
    memset(&fv, 0, sizeof(fv));
    dir_fsm_set_change_hook(t->f, feed_hook, t);
    struct rng r = {20261123};
    t->client_id = 42;
    u->client_id = 42;
    int ok = 0;
    for (int i = 0; i < 4000; i++) {
        struct rng r2 = r;
        random_command(t, &r);
        random_command(u, &r2); /* the same history on a second replica */
        assert_int_equal(t->res.status, u->res.status);
        ok += t->res.status == 0;
        if (t->nchg > T_MAX_CHANGES - 64)
            t_clear_changes(t);
        t_clear_changes(u);
        if (i % 500 == 499) {
            check_consistency(t);
            t_free(round_trip(t));
        }
    }
    print_message("4000 commands: %d succeeded, %zu endpoints, %zu flood-list changes\n", ok,
                  dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), fv.nflood_changes);
    assert_true(ok > 1000);
    assert_true(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT) > 20);
    assert_true(fv.nflood_changes > 20);
    check_consistency(t);
    char *d1 = dir_fsm_dump(t->f), *d2 = dir_fsm_dump(u->f);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    /* restored copy and original stay equal under more random commands */
    struct t_fsm *c = round_trip(t);
    c->client_id = t->client_id;
    c->req_id = t->req_id;
    for (int i = 0; i < 1000; i++) {
        struct rng r2 = r;
        random_command(t, &r);
        random_command(c, &r2);
        assert_int_equal(t->res.status, c->res.status);
        t_clear_changes(t);
        t_clear_changes(c);
    }
    d1 = dir_fsm_dump(t->f);
    d2 = dir_fsm_dump(c->f);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    t_free(c);
    t_free(u);
}

/* The dump of t as a new cluster restored at `index` holds it: the applied line changed, the
 * member lines gone, everything else the same. */
static char *dump_rebased(const struct t_fsm *t, uint64_t index)
{
    char *d = dir_fsm_dump(t->f), *out = calloc(1, strlen(d) + 32), *o = out;
    o += sprintf(o, "applied %llu\n", (unsigned long long)index);
    for (char *line = strchr(d, '\n') + 1, *eol; *line; line = eol + 1) {
        eol = strchr(line, '\n');
        if (strncmp(line, "member ", 7) != 0) {
            memcpy(o, line, (size_t)(eol - line + 1));
            o += eol - line + 1;
        }
    }
    free(d);
    return out;
}

static void test_rebase_for_new_cluster(void **state)
{
    struct t_fsm *t = t_new();
    *state = t;
    populate(t);
    assert_non_null(dir_fsm_member(t->f, 1));
    uint8_t *buf = NULL, *nb = NULL;
    size_t len = 0, nlen = 0, objects = 0;
    struct strata_err e = {0};
    assert_int_equal(dir_fsm_snapshot(t->f, &buf, &len, &e), 0);
    uint64_t applied = dir_fsm_applied(t->f), index = applied + 100;

    assert_int_equal(dir_fsm_snapshot_rebase(buf, len, index, &nb, &nlen, &objects, &e), 0);
    struct t_fsm *c = t_new();
    assert_int_equal(dir_fsm_restore(c->f, nb, nlen, &e), 0);
    assert_int_equal(dir_fsm_applied(c->f), index);
    assert_null(dir_fsm_member(c->f, 1)); /* the old cluster's addresses are gone */
    assert_int_equal(objects, dir_fsm_objects(t->f));
    assert_int_equal(objects, dir_fsm_objects(c->f));
    assert_true(objects >= 10);
    char *want = dump_rebased(t, index), *got = dir_fsm_dump(c->f);
    assert_string_equal(want, got);
    free(want);
    free(got);
    /* the new cluster goes on from there: the next entry is past the index */
    c->index = index + 1;
    assert_int_equal(t_domain(c, "fresh"), 0);
    assert_int_equal(t_ep(c, 100, "02:00:00:00:00:0a", "10.1.0.10", "h1"), 0);
    assert_int_equal(dir_fsm_applied(c->f), index + 2);
    t_free(c);
    free(nb);

    /* the index may not go back below what the state has applied: object versions past it */
    nb = NULL;
    assert_int_equal(dir_fsm_snapshot_rebase(buf, len, applied - 1, &nb, &nlen, NULL, &e),
                     STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "below its applied index"));
    assert_null(nb);
    /* the same index is fine */
    assert_int_equal(dir_fsm_snapshot_rebase(buf, len, applied, &nb, &nlen, NULL, &e), 0);
    free(nb);
    /* a cut snapshot is refused, at every length */
    for (size_t n = 0; n < len; n += 1 + n / 16) {
        nb = NULL;
        if (dir_fsm_snapshot_rebase(buf, n, index, &nb, &nlen, NULL, &e) == 0)
            fail_msg("snapshot cut to %zu of %zu bytes: accepted", n, len);
        assert_null(nb);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_round_trip, teardown),
        cmocka_unit_test_teardown(test_corrupt, teardown),
        cmocka_unit_test_teardown(test_random, teardown),
        cmocka_unit_test_teardown(test_rebase_for_new_cluster, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

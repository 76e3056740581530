/* node_dp_conformance.c - the datapath conformance cases: what every backend of node_dp.h must
 * do, checked through the backend's inspection hooks (node_dp_conformance.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "loop.h"
#include "node_dp_conformance.h"

static struct node_dp_conf *conf; /* the backend of the running group */

struct conf_fx {
    struct node_dp dp;
};

static struct strata_ip conf_ip(const char *s)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static const uint8_t MAC9[6] = {2, 0, 0, 0, 0, 9}, MAC10[6] = {2, 0, 0, 0, 0, 0x10},
                     MAC50[6] = {2, 0, 0, 0, 0, 0x50};

static int conf_setup(void **state)
{
    static struct conf_fx fx;
    memset(&fx, 0, sizeof(fx));
    conf->open(conf, &fx.dp);
    *state = &fx;
    return 0;
}

static int conf_teardown(void **state)
{
    (void)state;
    conf->close(conf);
    return 0;
}

#define OPS(fx) (fx)->dp.ops
#define CTX(fx) (fx)->dp.ctx

static void conf_ensure(struct conf_fx *fx, uint32_t vni)
{
    struct strata_err e = {0};
    int rc = OPS(fx)->vn_ensure(CTX(fx), vni, &e);
    if (rc != 0)
        fail_msg("vn_ensure %u: %s", vni, e.msg);
}

static void conf_master_is(const char *ifname, const char *want)
{
    char m[32];
    conf->port_master(conf, ifname, m, sizeof(m));
    if (strcmp(m, want) != 0)
        fail_msg("%s: master '%s', want '%s'", ifname, m, want);
}

/* Same set, any order. */
static void conf_flood_is(uint32_t vni, const struct strata_ip *want, size_t n)
{
    struct strata_ip got[16];
    size_t m = conf->flood(conf, vni, got, 16);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        bool in = false;
        for (size_t j = 0; j < m; j++)
            in = in || strata_ip_equal(&want[i], &got[j]);
        assert_true(in);
    }
}

static void test_ensure_release_idempotent(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    conf_ensure(fx, 100);
    assert_true(conf->has_dev(conf, "vx100"));
    assert_true(conf->has_dev(conf, "br100"));
    assert_true(conf->dev_owned(conf, "vx100"));
    assert_true(conf->dev_owned(conf, "br100"));
    conf_master_is("vx100", "br100");
    assert_int_equal(OPS(fx)->vn_release(CTX(fx), 100, &e), 0);
    assert_int_equal(OPS(fx)->vn_release(CTX(fx), 100, &e), 0);
    assert_false(conf->has_dev(conf, "vx100"));
    assert_false(conf->has_dev(conf, "br100"));
    conf_ensure(fx, 100); /* and again from nothing */
    assert_true(conf->has_dev(conf, "vx100"));
}

static void test_neigh_fdb_set_replace_del(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    struct strata_ip ip9 = conf_ip("10.1.0.9"), v2 = conf_ip("192.0.2.2"),
                     v3 = conf_ip("192.0.2.3"), vt;
    uint8_t mac[6];
    assert_int_equal(OPS(fx)->neigh_set(CTX(fx), 100, &ip9, MAC9, &e), 0);
    assert_true(conf->neigh(conf, 100, &ip9, mac));
    assert_memory_equal(mac, MAC9, 6);
    assert_int_equal(OPS(fx)->neigh_set(CTX(fx), 100, &ip9, MAC10, &e), 0); /* replace */
    assert_true(conf->neigh(conf, 100, &ip9, mac));
    assert_memory_equal(mac, MAC10, 6);
    assert_int_equal(OPS(fx)->fdb_set(CTX(fx), 100, MAC9, &v2, &e), 0);
    assert_int_equal(OPS(fx)->fdb_set(CTX(fx), 100, MAC9, &v3, &e), 0); /* a move */
    assert_true(conf->fdb(conf, 100, MAC9, &vt));
    assert_true(strata_ip_equal(&vt, &v3));
    char buf[160];
    struct node_dp_described dd;
    assert_true(OPS(fx)->describe_ip(CTX(fx), 100, &ip9, buf, sizeof(buf), &dd));
    assert_true(dd.found);
    assert_memory_equal(dd.mac, MAC10, 6);
    assert_int_equal(OPS(fx)->neigh_del(CTX(fx), 100, &ip9, &e), 0);
    assert_int_equal(OPS(fx)->neigh_del(CTX(fx), 100, &ip9, &e), 0); /* absent: fine */
    assert_false(conf->neigh(conf, 100, &ip9, mac));
    assert_false(OPS(fx)->describe_ip(CTX(fx), 100, &ip9, buf, sizeof(buf), NULL));
    assert_int_equal(OPS(fx)->fdb_del(CTX(fx), 100, MAC9, &e), 0);
    assert_int_equal(OPS(fx)->fdb_del(CTX(fx), 100, MAC9, &e), 0);
    assert_false(conf->fdb(conf, 100, MAC9, &vt));
}

static void test_flood_difference_without_dumps(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    struct strata_ip v2 = conf_ip("192.0.2.2"), v3 = conf_ip("192.0.2.3"),
                     v4 = conf_ip("192.0.2.4");
    uint64_t dumps0 = conf->fdb_dumps != NULL ? conf->fdb_dumps(conf) : 0;
    const struct strata_ip all[3] = {v2, v3, v4};
    const char *steps[] = {"01", "1", "12", "21", "", "201"}; /* indices into all */
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct strata_ip v[3];
        size_t n = 0;
        for (const char *p = steps[i]; *p != '\0'; p++)
            v[n++] = all[*p - '0'];
        assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, v, n, &e), 0);
        conf_flood_is(100, v, n);
    }
    /* The backend knows what it installed on a device it made: no FDB dump at all. */
    if (conf->fdb_dumps != NULL)
        assert_int_equal(conf->fdb_dumps(conf), dumps0);
    /* The startup dump teaches it the flood list of every VN: no dump after it either. */
    struct node_dp_dump d;
    assert_int_equal(OPS(fx)->dump_owned(CTX(fx), &d, &e), 0);
    node_dp_dump_free(&d);
    uint64_t dumps1 = conf->fdb_dumps != NULL ? conf->fdb_dumps(conf) : 0;
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, &v2, 1, &e), 0);
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, &v3, 1, &e), 0);
    conf_flood_is(100, &v3, 1);
    if (conf->fdb_dumps != NULL)
        assert_int_equal(conf->fdb_dumps(conf), dumps1);
    if (conf->reopen == NULL)
        return;
    /* A restarted daemon that ensures an existing device learns its flood list once (a dump of
     * that device: v3 must go although this object never added it), then keeps it. */
    conf->reopen(conf, &fx->dp);
    conf_ensure(fx, 100);
    uint64_t dumps2 = conf->fdb_dumps != NULL ? conf->fdb_dumps(conf) : 0;
    struct strata_ip v24[2] = {v2, v4};
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, v24, 2, &e), 0);
    conf_flood_is(100, v24, 2);
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, &v4, 1, &e), 0);
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, v24, 2, &e), 0);
    conf_flood_is(100, v24, 2);
    if (conf->fdb_dumps != NULL)
        assert_int_equal(conf->fdb_dumps(conf), dumps2 + 1);
}

static void test_dump_owned_exactly(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    conf->foreign_vn(conf, 300);
    struct strata_ip ip9 = conf_ip("10.1.0.9"), ip50 = conf_ip("10.1.0.50"),
                     v2 = conf_ip("192.0.2.2"), v3 = conf_ip("192.0.2.3");
    assert_int_equal(OPS(fx)->neigh_set(CTX(fx), 100, &ip9, MAC9, &e), 0);
    assert_int_equal(OPS(fx)->fdb_set(CTX(fx), 100, MAC9, &v3, &e), 0);
    assert_int_equal(OPS(fx)->flood_set(CTX(fx), 100, &v2, 1, &e), 0);
    conf->foreign_neigh(conf, 100, &ip50, MAC50);
    struct node_dp_dump d;
    assert_int_equal(OPS(fx)->dump_owned(CTX(fx), &d, &e), 0);
    assert_int_equal(d.n_vnis, 1);
    assert_int_equal(d.vnis[0], 100);
    assert_int_equal(d.n_neigh, 1);
    assert_true(strata_ip_equal(&d.neigh[0].ip, &ip9));
    assert_memory_equal(d.neigh[0].mac, MAC9, 6);
    assert_int_equal(d.n_fdb, 1);
    assert_memory_equal(d.fdb[0].mac, MAC9, 6);
    assert_true(strata_ip_equal(&d.fdb[0].vtep, &v3));
    assert_int_equal(d.n_flood, 1);
    assert_true(strata_ip_equal(&d.flood[0].vtep, &v2));
    node_dp_dump_free(&d);
    /* The audit's dump: theirs too (marked so), flood entries not. (The kernel may hold entries
     * of its own on the device too, IPv6 ones: none of them is Strata's.) */
    assert_int_equal(OPS(fx)->dump_all(CTX(fx), &d, &e), 0);
    assert_int_equal(d.n_flood, 0);
    bool seen9 = false, seen50 = false, fdb9 = false;
    for (size_t i = 0; i < d.n_neigh; i++) {
        seen9 = seen9 || (strata_ip_equal(&d.neigh[i].ip, &ip9) && d.neigh[i].owned);
        seen50 = seen50 || (strata_ip_equal(&d.neigh[i].ip, &ip50) && !d.neigh[i].owned);
        assert_true(!d.neigh[i].owned || strata_ip_equal(&d.neigh[i].ip, &ip9));
    }
    for (size_t i = 0; i < d.n_fdb; i++) {
        assert_true(memcmp(d.fdb[i].mac, (uint8_t[6]){0}, 6) != 0);
        fdb9 = fdb9 || (memcmp(d.fdb[i].mac, MAC9, 6) == 0 && d.fdb[i].owned);
    }
    assert_true(seen9 && seen50 && fdb9);
    node_dp_dump_free(&d);
    uint8_t mac[6];
    assert_true(conf->neigh(conf, 100, &ip50, mac)); /* theirs: still there */
}

static void test_foreign_devices_refused_untouched(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e = {0};
    conf->foreign_vn(conf, 200);
    assert_int_equal(OPS(fx)->vn_ensure(CTX(fx), 200, &e), STRATA_EEXIST);
    /* The message names the device and says what to do. */
    assert_true(strstr(e.msg, "200 exists and is not Strata's") != NULL);
    assert_true(strstr(e.msg, "remove or rename it") != NULL);
    assert_true(conf->has_dev(conf, "vx200") && conf->has_dev(conf, "br200"));
    assert_false(conf->dev_owned(conf, "vx200")); /* never relabelled */
    assert_false(conf->dev_owned(conf, "br200"));
    conf_master_is("vx200", ""); /* never enslaved */
    assert_int_equal(OPS(fx)->vn_release(CTX(fx), 200, &e), 0);
    assert_true(conf->has_dev(conf, "vx200") && conf->has_dev(conf, "br200")); /* not deleted */
    struct node_dp_dump d;
    assert_int_equal(OPS(fx)->dump_owned(CTX(fx), &d, &e), 0);
    assert_int_equal(d.n_vnis, 0);
    node_dp_dump_free(&d);
    /* A port on their bridge: not taken, not released; their bridge takes no port of ours. */
    conf->add_port(conf, "cfp1");
    conf->add_port(conf, "cfp2");
    conf->port_to(conf, "cfp1", 200);
    conf_ensure(fx, 100);
    assert_int_equal(OPS(fx)->port_enslave(CTX(fx), 100, "cfp1", &e), STRATA_EEXIST);
    assert_true(strstr(e.msg, "not Strata's") != NULL);
    conf_master_is("cfp1", "br200");
    assert_int_equal(OPS(fx)->port_release(CTX(fx), 200, "cfp1", &e), 0);
    conf_master_is("cfp1", "br200");
    assert_int_not_equal(OPS(fx)->port_enslave(CTX(fx), 200, "cfp2", &e), 0);
    conf_master_is("cfp2", "");
}

static void test_port_enslave_release(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf->add_port(conf, "cfp0");
    assert_int_not_equal(OPS(fx)->port_enslave(CTX(fx), 100, "cfp0", &e), 0); /* no devices */
    conf_ensure(fx, 100);
    assert_int_equal(OPS(fx)->port_enslave(CTX(fx), 100, "cfp0", &e), 0);
    assert_int_equal(OPS(fx)->port_enslave(CTX(fx), 100, "cfp0", &e), 0);
    conf_master_is("cfp0", "br100");
    assert_int_equal(OPS(fx)->port_release(CTX(fx), 100, "cfp0", &e), 0);
    assert_int_equal(OPS(fx)->port_release(CTX(fx), 100, "cfp0", &e), 0);
    conf_master_is("cfp0", "");
}

struct conf_got {
    struct node_dp_miss m;
    bool got;
    char want;
};

static void conf_on_miss(void *arg, const struct node_dp_miss *m, bool overrun)
{
    struct conf_got *g = arg;
    if (!overrun && m != NULL && !g->got && m->kind == g->want) {
        g->m = *m;
        g->got = true;
    }
}

/* Provoke until a miss of `kind` comes through miss_fd/miss_read (5 s deadline, no sleeps: the
 * poll on the miss descriptor is the wait). */
static struct node_dp_miss conf_wait_miss(struct conf_fx *fx, uint32_t vni, char kind,
                                          const struct strata_ip *ip, const uint8_t mac[6])
{
    struct conf_got g = {.want = kind};
    uint64_t deadline = strata_now_ms() + 5000;
    while (!g.got && strata_now_ms() < deadline) {
        conf->provoke_miss(conf, vni, kind, ip, mac);
        struct pollfd p = {.fd = OPS(fx)->miss_fd(CTX(fx)), .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            assert_int_equal(OPS(fx)->miss_read(CTX(fx), conf_on_miss, &g, NULL), 0);
    }
    if (!g.got)
        fail_msg("no '%c' miss on vni %u within 5 s", kind, vni);
    return g.m;
}

static void test_misses_through_ops(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    struct strata_ip ip9 = conf_ip("10.1.0.9");
    struct node_dp_miss m = conf_wait_miss(fx, 100, 'i', &ip9, NULL);
    assert_int_equal(m.vni, 100);
    assert_true(strata_ip_equal(&m.ip, &ip9));
    /* Answered: the IP resolves, the frame to its MAC has no FDB entry: l2miss. */
    assert_int_equal(OPS(fx)->neigh_set(CTX(fx), 100, &ip9, MAC9, &e), 0);
    m = conf_wait_miss(fx, 100, 'm', &ip9, MAC9);
    assert_int_equal(m.vni, 100);
    assert_memory_equal(m.mac, MAC9, 6);
}

static void test_announce(void **state)
{
    struct conf_fx *fx = *state;
    struct strata_err e;
    conf_ensure(fx, 100);
    struct strata_ip ip9 = conf_ip("10.1.0.9");
    uint8_t mac[6];
    assert_int_equal(OPS(fx)->neigh_set(CTX(fx), 100, &ip9, MAC9, &e), 0);
    assert_int_equal(OPS(fx)->announce(CTX(fx), 100, &ip9, MAC9, &e), 0);
    if (!conf->bridge_endpoint) {
        assert_false(conf->bridge_neigh(conf, 100, &ip9, mac)); /* the ports are told */
        return;
    }
    /* A bridge endpoint asked: the answer is in the bridge's own table, and goes with the key. */
    assert_true(conf->bridge_neigh(conf, 100, &ip9, mac));
    assert_memory_equal(mac, MAC9, 6);
    assert_int_equal(OPS(fx)->neigh_del(CTX(fx), 100, &ip9, &e), 0);
    assert_false(conf->bridge_neigh(conf, 100, &ip9, mac));
}

static void test_placement(void **state)
{
    struct conf_fx *fx = *state;
    if (conf->check_placement == NULL) {
        skip();
        return;
    }
    conf_ensure(fx, 100);
    conf->check_placement(conf, 100);
}

int node_dp_conformance_run(struct node_dp_conf *c)
{
    conf = c;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ensure_release_idempotent, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_neigh_fdb_set_replace_del, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_flood_difference_without_dumps, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_dump_owned_exactly, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_devices_refused_untouched, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_port_enslave_release, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_misses_through_ops, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_announce, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_placement, conf_setup, conf_teardown),
    };
    return _cmocka_run_group_tests(c->name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

/* test_node_miss.c - the node core against the in-memory datapath and a fake resolver:
 * coalescing, negative TTL, pushed updates touching exactly the affected entries, flood lists,
 * and reconcile after a restart (keeps correct entries, removes stale owned ones, never touches
 * un-owned ones). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node.h"

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

struct fake_res {
    struct node_key asked[64];
    size_t n;
};

static int fake_resolve(void *ctx, const struct node_key *k)
{
    struct fake_res *r = ctx;
    if (r->n < 64)
        r->asked[r->n] = *k;
    r->n++;
    return 0;
}

struct fx {
    struct node a;
    struct node_dp_mem *m;
    struct fake_res r;
    size_t installs_seen;
};

static void on_install(void *arg, const struct node_entry *ent)
{
    (void)ent;
    ((struct fx *)arg)->installs_seen++;
}

static struct strata_ip IP(const char *s) {
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static const uint8_t MAC1[6] = {2, 0, 0, 0, 0, 1},
                     MAC2[6] = {2, 0, 0, 0, 0, 2}, MAC3[6] = {2, 0, 0, 0, 0, 3},
                     MAC4[6] = {2, 0, 0, 0, 0, 4};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = node_dp_mem_new();
    struct strata_ip self = IP("192.0.2.1");
    struct node_resolver res = {fake_resolve, &f->r};
    fake_now = 1000;
    assert_int_equal(node_init(&f->a, node_dp_mem(f->m), res, &self, 2000, fake_clock), 0);
    f->a.on_install = on_install;
    f->a.on_install_arg = f;
    /* VN 100 has a port here, so its device exists. */
    assert_int_equal(f->a.dp.ops->vn_ensure(f->m, 100, NULL), 0);
    node_vn_get(&f->a, 100)->ports = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    node_fini(&f->a);
    node_dp_mem_free(f->m);
    free(f);
    return 0;
}

static struct node_answer ans_pos(const uint8_t mac[6], const char *vtep, uint64_t version)
{
    struct node_answer a = {.found = true, .version = version};
    memcpy(a.mac, mac, 6);
    a.vtep = IP(vtep);
    return a;
}

static void miss_ip(struct fx *f, const char *ip)
{
    struct node_key k;
    struct strata_ip x = IP(ip);
    node_key_ip(&k, 100, &x);
    node_miss_handle(&f->a, &k, 1);
}

static void answer_ip(struct fx *f, const char *ip, const struct node_answer *ans)
{
    struct node_key k;
    struct strata_ip x = IP(ip);
    node_key_ip(&k, 100, &x);
    node_answer(&f->a, &k, ans);
}

static void test_miss_coalesce_install(void **state)
{
    struct fx *f = *state;
    miss_ip(f, "10.1.0.7");
    miss_ip(f, "10.1.0.7");
    miss_ip(f, "10.1.0.7");
    assert_int_equal(f->r.n, 1);
    assert_int_equal(f->a.c.coalesced, 2);
    assert_int_equal(f->a.c.l3miss, 3);
    struct node_answer a = ans_pos(MAC1, "192.0.2.2", 10);
    answer_ip(f, "10.1.0.7", &a);
    uint8_t mac[6];
    struct strata_ip ip = IP("10.1.0.7"), vtep;
    assert_true(node_dp_mem_neigh(f->m, 100, &ip, mac));
    assert_memory_equal(mac, MAC1, 6);
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, &vtep));
    assert_true(strata_ip_equal(&vtep, &a.vtep));
    assert_int_equal(f->installs_seen, 1);
    assert_int_equal(f->a.c.installs, 1);
    /* The answer is announced to the VN's local VMs once (the ARP the device consumed). */
    assert_int_equal(node_dp_mem_announced(f->m), 1);
    /* An l2miss for a MAC is its own key and its own resolve. */
    struct node_key mk;
    node_key_mac(&mk, 100, MAC2);
    node_miss_handle(&f->a, &mk, 1);
    assert_int_equal(f->r.n, 2);
    assert_int_equal(f->r.asked[1].kind, NODE_KEY_MAC);
    struct node_answer b = ans_pos(MAC2, "192.0.2.3", 11);
    node_answer(&f->a, &mk, &b);
    assert_true(node_dp_mem_fdb(f->m, 100, MAC2, &vtep));
    assert_int_equal(node_dp_mem_count(f->m), 3);
    assert_int_equal(node_dp_mem_announced(f->m), 1); /* a MAC answer has no ARP to answer */
}

static void test_negative_ttl(void **state)
{
    struct fx *f = *state;
    miss_ip(f, "10.1.0.9");
    struct node_answer neg = {.found = false, .negative_ttl_ms = 500};
    answer_ip(f, "10.1.0.9", &neg);
    assert_int_equal(node_dp_mem_count(f->m), 0);
    /* The VM's ARP retries within the TTL do not reach the server. */
    fake_now += 200;
    miss_ip(f, "10.1.0.9");
    miss_ip(f, "10.1.0.9");
    assert_int_equal(f->r.n, 1);
    assert_int_equal(f->a.c.negative_cached, 2);
    fake_now += 400;
    miss_ip(f, "10.1.0.9");
    assert_int_equal(f->r.n, 2);
    /* A denied answer installs nothing either; no TTL in the answer uses the agent's. */
    struct node_answer deny = ans_pos(MAC1, "192.0.2.2", 3);
    deny.denied = true;
    answer_ip(f, "10.1.0.9", &deny);
    assert_int_equal(node_dp_mem_count(f->m), 0);
    fake_now += 1999;
    miss_ip(f, "10.1.0.9");
    assert_int_equal(f->r.n, 2);
    fake_now += 2;
    miss_ip(f, "10.1.0.9");
    assert_int_equal(f->r.n, 3);
    /* A transport failure remembers nothing: the next miss asks again. */
    struct node_key k;
    struct strata_ip x = IP("10.1.0.9");
    node_key_ip(&k, 100, &x);
    node_answer_failed(&f->a, &k);
    miss_ip(f, "10.1.0.9");
    assert_int_equal(f->r.n, 4);
}

static void install3(struct fx *f)
{
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10), a2 = ans_pos(MAC2, "192.0.2.3", 11),
                       a3 = ans_pos(MAC3, "192.0.2.1", 12); /* MAC3 is local */
    miss_ip(f, "10.1.0.1");
    miss_ip(f, "10.1.0.2");
    miss_ip(f, "10.1.0.3");
    answer_ip(f, "10.1.0.1", &a1);
    answer_ip(f, "10.1.0.2", &a2);
    answer_ip(f, "10.1.0.3", &a3);
}

static void test_local_endpoint_no_fdb(void **state)
{
    struct fx *f = *state;
    install3(f);
    struct strata_ip ip3 = IP("10.1.0.3");
    assert_true(node_dp_mem_neigh(f->m, 100, &ip3, NULL));
    assert_false(node_dp_mem_fdb(f->m, 100, MAC3, NULL));
    assert_int_equal(node_dp_mem_count(f->m), 5); /* 3 neigh + 2 fdb */
}

static void test_update_rewrites_exactly(void **state)
{
    struct fx *f = *state;
    install3(f);
    uint64_t w0 = node_dp_mem_writes(f->m);
    /* Endpoint 10.1.0.1 moved to 192.0.2.4: one FDB rewrite, nothing else. */
    struct node_key k;
    struct strata_ip ip1 = IP("10.1.0.1"), ip2 = IP("10.1.0.2"), v;
    node_key_ip(&k, 100, &ip1);
    struct node_answer mv = ans_pos(MAC1, "192.0.2.4", 20);
    node_update_endpoint(&f->a, &k, &mv);
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, &v));
    assert_true(strata_ip_equal(&v, &mv.vtep));
    assert_int_equal(node_dp_mem_writes(f->m) - w0, 2); /* neigh set + fdb set */
    assert_int_equal(f->a.c.updates_applied, 1);
    /* A stale (older) update is ignored. */
    struct node_answer old = ans_pos(MAC1, "192.0.2.2", 15);
    node_update_endpoint(&f->a, &k, &old);
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, &v));
    assert_true(strata_ip_equal(&v, &mv.vtep));
    /* Invalidate 10.1.0.2: its neighbour and FDB entries go; the others stay. */
    w0 = node_dp_mem_writes(f->m);
    node_key_ip(&k, 100, &ip2);
    node_update_invalidate(&f->a, &k);
    assert_false(node_dp_mem_neigh(f->m, 100, &ip2, NULL));
    assert_false(node_dp_mem_fdb(f->m, 100, MAC2, NULL));
    assert_int_equal(node_dp_mem_writes(f->m) - w0, 2);
    assert_true(node_dp_mem_neigh(f->m, 100, &ip1, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, NULL));
    assert_int_equal(node_dp_mem_count(f->m), 3);
    /* ...and the key is asked again, to stay among the server's holders of it. */
    assert_int_equal(f->r.n, 4);
    assert_true(node_table_find(&f->a, &k)->inflight);
    struct node_answer neg = {.found = false};
    node_answer(&f->a, &k, &neg);
    /* The endpoint reappears (migrated to another host): the update for the invalidated key
     * installs it again at once. */
    struct node_answer back = ans_pos(MAC2, "192.0.2.9", 30);
    node_update_endpoint(&f->a, &k, &back);
    assert_true(node_dp_mem_neigh(f->m, 100, &ip2, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC2, &v));
    assert_true(strata_ip_equal(&v, &back.vtep));
    node_update_invalidate(&f->a, &k);
    assert_int_equal(node_dp_mem_count(f->m), 3);
    /* Updates for keys not held change nothing. */
    struct strata_ip ipx = IP("10.1.0.99");
    node_key_ip(&k, 100, &ipx);
    w0 = node_dp_mem_writes(f->m);
    node_update_endpoint(&f->a, &k, &mv);
    node_update_invalidate(&f->a, &k);
    assert_int_equal(node_dp_mem_writes(f->m), w0);
}

static void test_shared_fdb(void **state)
{
    struct fx *f = *state;
    /* The same MAC held as an IP key and a MAC key: invalidating one keeps the FDB entry. */
    miss_ip(f, "10.1.0.1");
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10);
    answer_ip(f, "10.1.0.1", &a1);
    struct node_key mk, ik;
    node_key_mac(&mk, 100, MAC1);
    node_miss_handle(&f->a, &mk, 1);
    node_answer(&f->a, &mk, &a1);
    struct strata_ip ip1 = IP("10.1.0.1");
    node_key_ip(&ik, 100, &ip1);
    node_update_invalidate(&f->a, &ik);
    assert_false(node_dp_mem_neigh(f->m, 100, &ip1, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, NULL));
    node_update_invalidate(&f->a, &mk);
    assert_false(node_dp_mem_fdb(f->m, 100, MAC1, NULL));
    assert_int_equal(node_dp_mem_count(f->m), 0);
}

static void test_flood(void **state)
{
    struct fx *f = *state;
    struct strata_ip l1[3] = {IP("192.0.2.2"), IP("192.0.2.1"), IP("192.0.2.3")};
    assert_int_equal(node_update_flood(&f->a, 100, l1, 3, NULL), 0);
    struct strata_ip out[8];
    assert_int_equal(node_dp_mem_flood(f->m, 100, out, 8), 2); /* never our own VTEP */
    uint64_t w0 = node_dp_mem_writes(f->m);
    struct strata_ip l2[2] = {IP("192.0.2.3"), IP("192.0.2.5")};
    assert_int_equal(node_update_flood(&f->a, 100, l2, 2, NULL), 0);
    assert_int_equal(node_dp_mem_flood(f->m, 100, out, 8), 2);
    assert_int_equal(node_dp_mem_writes(f->m) - w0, 2); /* one removed, one added */
    bool has5 = strata_ip_equal(&out[0], &l2[1]) || strata_ip_equal(&out[1], &l2[1]);
    assert_true(has5);
    /* A VN without ports here: remembered, not programmed. */
    assert_int_equal(node_update_flood(&f->a, 300, l2, 2, NULL), 0);
    assert_false(node_dp_mem_vn(f->m, 300));
    assert_int_equal(node_vn_find(&f->a, 300)->n_flood, 2);
}

static void test_resync(void **state)
{
    struct fx *f = *state;
    install3(f);
    miss_ip(f, "10.1.0.9");
    struct node_answer neg = {.found = false};
    answer_ip(f, "10.1.0.9", &neg);
    f->r.n = 0;
    node_resync(&f->a);
    assert_int_equal(f->r.n, 3); /* the three positives; the negative is forgotten */
    /* Same answers: the kernel is left alone. */
    uint64_t w0 = node_dp_mem_writes(f->m);
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10), a2 = ans_pos(MAC2, "192.0.2.3", 11),
                       a3 = ans_pos(MAC3, "192.0.2.1", 12);
    answer_ip(f, "10.1.0.1", &a1);
    answer_ip(f, "10.1.0.2", &a2);
    size_t ann0 = node_dp_mem_announced(f->m);
    answer_ip(f, "10.1.0.3", &a3);
    assert_int_equal(node_dp_mem_writes(f->m), w0);
    assert_int_equal(f->a.c.kept, 3);
    assert_int_equal(node_dp_mem_announced(f->m), ann0); /* nothing new: nothing announced */
}

static void test_reconcile(void **state)
{
    struct fx *f = *state;
    struct strata_ip ip1 = IP("10.1.0.1"), ip2 = IP("10.1.0.2"), ip3 = IP("10.1.0.3"),
                     ip4 = IP("10.1.0.4"), v2 = IP("192.0.2.2"), v3 = IP("192.0.2.3"),
                     v9 = IP("192.0.2.9"), v;
    /* What a previous run left: ip1 correct, ip2 deleted meanwhile, ip3 moved to v9. */
    node_dp_mem_put_neigh(f->m, 100, &ip1, MAC1, true);
    node_dp_mem_put_fdb(f->m, 100, MAC1, &v2, true);
    node_dp_mem_put_neigh(f->m, 100, &ip2, MAC2, true);
    node_dp_mem_put_fdb(f->m, 100, MAC2, &v3, true);
    node_dp_mem_put_neigh(f->m, 100, &ip3, MAC3, true);
    node_dp_mem_put_fdb(f->m, 100, MAC3, &v3, true);
    /* Someone else's entries on the same device: never touched. */
    node_dp_mem_put_neigh(f->m, 100, &ip4, MAC4, false);
    node_dp_mem_put_fdb(f->m, 100, MAC4, &v2, false);
    /* A VN that lost its last port while the agent was down. */
    node_dp_mem_put_neigh(f->m, 200, &ip1, MAC1, true);

    uint32_t keep[] = {100};
    assert_int_equal(node_reconcile(&f->a, keep, 1, NULL), 0);
    assert_false(node_dp_mem_vn(f->m, 200));
    assert_int_equal(f->r.n, 3);
    uint64_t w0 = node_dp_mem_writes(f->m);
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10), gone = {.found = false},
                       a3 = ans_pos(MAC3, "192.0.2.9", 30);
    answer_ip(f, "10.1.0.1", &a1);
    assert_int_equal(node_dp_mem_writes(f->m), w0); /* kept: not rewritten */
    answer_ip(f, "10.1.0.2", &gone);
    answer_ip(f, "10.1.0.3", &a3);
    assert_true(node_dp_mem_neigh(f->m, 100, &ip1, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC1, &v));
    assert_true(strata_ip_equal(&v, &v2));
    assert_false(node_dp_mem_neigh(f->m, 100, &ip2, NULL));
    assert_false(node_dp_mem_fdb(f->m, 100, MAC2, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC3, &v));
    assert_true(strata_ip_equal(&v, &v9));
    assert_true(node_dp_mem_neigh(f->m, 100, &ip4, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC4, NULL));
    assert_int_equal(f->a.c.kept, 1);
}

/* A resync (ENOBUFS) while the kernel lost some held entries: the reconcile's dump shows what is
 * missing, and the answers reinstall it even though the values did not change; what is still
 * there is not rewritten. */
static void test_resync_repairs_lost_entries(void **state)
{
    struct fx *f = *state;
    install3(f);
    struct strata_ip ip1 = IP("10.1.0.1"), ip2 = IP("10.1.0.2"), v;
    struct strata_err e;
    /* The kernel loses 10.1.0.1's neighbour entry and 10.1.0.2's FDB entry. */
    assert_int_equal(f->a.dp.ops->neigh_del(f->m, 100, &ip1, &e), 0);
    assert_int_equal(f->a.dp.ops->fdb_del(f->m, 100, MAC2, &e), 0);
    f->r.n = 0;
    uint32_t keep[] = {100};
    assert_int_equal(node_reconcile(&f->a, keep, 1, NULL), 0);
    assert_int_equal(f->r.n, 3);
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10), a2 = ans_pos(MAC2, "192.0.2.3", 11),
                       a3 = ans_pos(MAC3, "192.0.2.1", 12);
    answer_ip(f, "10.1.0.1", &a1);
    answer_ip(f, "10.1.0.2", &a2);
    uint64_t w0 = node_dp_mem_writes(f->m);
    answer_ip(f, "10.1.0.3", &a3); /* intact: left alone */
    assert_int_equal(node_dp_mem_writes(f->m), w0);
    assert_true(node_dp_mem_neigh(f->m, 100, &ip1, NULL));
    assert_true(node_dp_mem_fdb(f->m, 100, MAC2, &v));
    assert_true(strata_ip_equal(&v, &a2.vtep));
    assert_true(node_dp_mem_neigh(f->m, 100, &ip2, NULL));
    assert_int_equal(f->a.c.kept, 1);
}

/* A miss that arrives while a resync's resolve of the same key is in flight is answered by it
 * as a miss (on_install), with no second resolve. */
static void test_miss_joins_resync_resolve(void **state)
{
    struct fx *f = *state;
    install3(f);
    size_t seen = f->installs_seen;
    f->r.n = 0;
    node_resync(&f->a);
    assert_int_equal(f->r.n, 3);
    miss_ip(f, "10.1.0.1");
    assert_int_equal(f->r.n, 3); /* coalesced */
    struct node_answer a1 = ans_pos(MAC1, "192.0.2.2", 10);
    answer_ip(f, "10.1.0.1", &a1);
    assert_int_equal(f->installs_seen, seen + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_coalesce_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_endpoint_no_fdb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_rewrites_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_fdb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_repairs_lost_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_miss_joins_resync_resolve, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_node_audit.c - the audit's view of a node against the in-memory datapath: a node whose
 * kernel matches what it holds has the digest its server computes from the same answers; a
 * wrong, a missing and an extra entry each change it and show in the details; entries that are
 * not Strata's and that no key holds are not its business; a repair rewrites a held key's
 * entries (replacing another program's) and removes an extra one through its negative answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static uint64_t fake_clock(void)
{
    return 1000;
}

struct fx {
    struct node a;
    struct node_dp_mem *m;
    struct node_key asked[16];
    size_t n_asked;
};

static int fake_resolve(void *ctx, const struct node_key *k)
{
    struct fx *f = ctx;
    if (f->n_asked < 16)
        f->asked[f->n_asked++] = *k;
    return 0;
}

static struct strata_ip IP(const char *s) {
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static const uint8_t MAC1[6] = {2, 0, 0, 0, 0, 1},
                     MAC2[6] = {2, 0, 0, 0, 0, 2}, MAC9[6] = {2, 0, 0, 0, 0, 9};

static struct node_answer ans(const uint8_t mac[6], const char *vtep, uint64_t version)
{
    struct node_answer a = {.found = true, .version = version};
    memcpy(a.mac, mac, 6);
    a.vtep = IP(vtep);
    return a;
}

/* Hold ip -> (mac, vtep) at version as an answered miss would. */
static void hold(struct fx *f, const char *ip, const uint8_t mac[6], const char *vtep,
                 uint64_t version)
{
    struct node_key k;
    struct strata_ip a = IP(ip);
    node_key_ip(&k, 100, &a);
    node_miss_handle(&f->a, &k, 1);
    struct node_answer an = ans(mac, vtep, version);
    node_answer(&f->a, &k, &an);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = node_dp_mem_new();
    struct strata_ip self = IP("192.0.2.1");
    struct node_resolver res = {fake_resolve, f};
    assert_int_equal(node_init(&f->a, node_dp_mem(f->m), res, &self, 2000, fake_clock), 0);
    assert_int_equal(f->a.dp.ops->vn_ensure(f->m, 100, NULL), 0);
    node_vn_get(&f->a, 100)->ports = 1;
    hold(f, "10.1.0.2", MAC2, "192.0.2.2", 7);  /* remote: neighbour + FDB */
    hold(f, "10.1.0.11", MAC1, "192.0.2.1", 5); /* local: neighbour only */
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

static void collect(struct fx *f, struct node_audit *au)
{
    struct node_dp_dump d;
    struct strata_err e;
    assert_int_equal(f->a.dp.ops->dump_all(f->m, &d, &e), 0);
    assert_int_equal(node_audit_collect(&f->a, &d, au, &e), 0);
    node_dp_dump_free(&d);
}

/* The server's digest of the answers it gave: what lib/audit.h computes from its cache. */
static uint64_t server_digest(void)
{
    struct strata_audit_digest d = {0};
    struct strata_audit_item it = {.vni = 100,
                                   .key_len = 4,
                                   .key = {10, 1, 0, 2},
                                   .vtep_len = 4,
                                   .vtep = {192, 0, 2, 2},
                                   .version = 7};
    memcpy(it.mac, MAC2, 6);
    strata_audit_add(&d, &it);
    it = (struct strata_audit_item){.vni = 100,
                                    .key_len = 4,
                                    .key = {10, 1, 0, 11},
                                    .vtep_len = 4,
                                    .vtep = {192, 0, 2, 1},
                                    .version = 5};
    memcpy(it.mac, MAC1, 6);
    strata_audit_add(&d, &it);
    return d.sum;
}

static const struct node_audit_item *item(const struct node_audit *au, const char *ip)
{
    struct strata_ip a = IP(ip);
    for (size_t i = 0; i < au->n; i++)
        if (au->items[i].key.kind == NODE_KEY_IP && strata_ip_equal(&au->items[i].key.ip, &a))
            return &au->items[i];
    return NULL;
}

static void test_healthy_digest_is_the_servers(void **state)
{
    struct fx *f = *state;
    struct node_audit au;
    collect(f, &au);
    assert_int_equal(au.n_parts, 1);
    assert_int_equal(au.parts[0].keys, 2);
    assert_true(au.parts[0].digest == server_digest());
    node_audit_free(&au);
}

static void test_wrong_missing_extra(void **state)
{
    struct fx *f = *state;
    struct strata_ip v99 = IP("192.0.2.99"), ip2 = IP("10.1.0.2"), ip11 = IP("10.1.0.11"),
                     ip50 = IP("10.1.0.50");
    /* wrong: another program points MAC2 elsewhere; missing: the local entry is gone; extra: an
     * entry of Strata's nobody holds; and one not Strata's, which is not the audit's business. */
    node_dp_mem_put_fdb(f->m, 100, MAC2, &v99, false);
    assert_int_equal(f->a.dp.ops->neigh_del(f->m, 100, &ip11, NULL), 0);
    node_dp_mem_put_neigh(f->m, 100, &ip50, MAC9, true);
    struct strata_ip ip60 = IP("10.1.0.60");
    node_dp_mem_put_neigh(f->m, 100, &ip60, MAC9, false);
    struct node_audit au;
    collect(f, &au);
    assert_int_equal(au.parts[0].keys, 3);
    assert_true(au.parts[0].digest != server_digest());
    const struct node_audit_item *w = item(&au, "10.1.0.2"), *m = item(&au, "10.1.0.11"),
                                 *x = item(&au, "10.1.0.50");
    assert_non_null(w);
    assert_true(w->held && w->in_kernel && !w->kernel_owned);
    assert_true(strata_ip_equal(&w->kernel_vtep, &v99));
    assert_non_null(m);
    assert_true(m->held && !m->in_kernel);
    assert_non_null(x);
    assert_true(!x->held && x->in_kernel && x->kernel_owned);
    assert_null(item(&au, "10.1.0.60"));
    node_audit_free(&au);

    /* Repair: the held keys are asked again and their answers rewrite the kernel (Strata's
     * entry replacing the other program's); the extra one is adopted and its negative answer
     * removes it. */
    struct node_dp_dump d;
    struct strata_err e;
    assert_int_equal(f->a.dp.ops->dump_all(f->m, &d, &e), 0);
    struct node_key k2, k11, k50;
    node_key_ip(&k2, 100, &ip2);
    node_key_ip(&k11, 100, &ip11);
    node_key_ip(&k50, 100, &ip50);
    f->n_asked = 0;
    assert_true(node_audit_repair(&f->a, &d, &k2));
    assert_true(node_audit_repair(&f->a, &d, &k11));
    assert_true(node_audit_repair(&f->a, &d, &k50));
    node_dp_dump_free(&d);
    assert_int_equal(f->n_asked, 3);
    struct node_answer a2 = ans(MAC2, "192.0.2.2", 7), a11 = ans(MAC1, "192.0.2.1", 5);
    struct node_answer none = {.found = false, .version = 9};
    node_answer(&f->a, &k2, &a2);
    node_answer(&f->a, &k11, &a11);
    node_answer(&f->a, &k50, &none);
    collect(f, &au);
    assert_int_equal(au.parts[0].keys, 2);
    assert_true(au.parts[0].digest == server_digest());
    const struct node_audit_item *w2 = item(&au, "10.1.0.2");
    assert_true(w2->kernel_owned);
    node_audit_free(&au);
    uint8_t mac[6];
    assert_false(node_dp_mem_neigh(f->m, 100, &ip50, mac));
    assert_true(node_dp_mem_neigh(f->m, 100, &ip60, mac)); /* not Strata's: untouched */
}

/* A VN of more than STRATA_AUDIT_BUCKETS keys is reported per bucket: a wrong entry changes one
 * bucket's digest, and the details of that bucket hold it and few others. */
static void test_large_vn_buckets(void **state)
{
    struct fx *f = *state;
    char ip[32];
    for (int i = 0; i < 200; i++) {
        snprintf(ip, sizeof(ip), "10.1.1.%d", i);
        uint8_t mac[6] = {2, 0, 0, 1, 0, (uint8_t)i};
        hold(f, ip, mac, "192.0.2.2", 100 + (uint64_t)i);
    }
    struct node_audit before, after;
    collect(f, &before);
    uint32_t keys = 0;
    for (size_t i = 0; i < before.n_parts; i++) {
        assert_true(before.parts[i].bucket < STRATA_AUDIT_BUCKETS);
        keys += before.parts[i].keys;
    }
    assert_int_equal(keys, 202);
    assert_true(before.n_parts > 32);
    struct strata_ip v99 = IP("192.0.2.99");
    uint8_t mac7[6] = {2, 0, 0, 1, 0, 7};
    node_dp_mem_put_fdb(f->m, 100, mac7, &v99, false);
    collect(f, &after);
    assert_int_equal(after.n_parts, before.n_parts);
    size_t changed = 0, at = 0;
    for (size_t i = 0; i < after.n_parts; i++) {
        assert_int_equal(after.parts[i].bucket, before.parts[i].bucket);
        if (after.parts[i].digest != before.parts[i].digest) {
            changed++;
            at = i;
        }
    }
    assert_int_equal(changed, 1);
    size_t detailed = 0;
    bool has7 = false;
    struct strata_ip ip7 = IP("10.1.1.7");
    for (size_t i = 0; i < after.n; i++) {
        if (!node_audit_wanted(&after.items[i], &after.parts[at], 1))
            continue;
        detailed++;
        has7 = has7 || strata_ip_equal(&after.items[i].key.ip, &ip7);
    }
    assert_true(has7);
    assert_true(detailed < 20); /* its bucket's keys, not the VN's 202 */
    node_audit_free(&before);
    node_audit_free(&after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy_digest_is_the_servers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_missing_extra, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_vn_buckets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

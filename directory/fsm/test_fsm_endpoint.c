/* test_fsm_endpoint.c - endpoint add/move/delete, conflicts, tombstones and flood-list changes. */
#include "dir_fsm_testutil.h"

#define MAC1 "02:00:00:00:00:01"
#define MAC2 "02:00:00:00:00:02"
#define MAC3 "02:00:00:00:00:03"

static int setup(void **state)
{
    struct t_fsm *t = t_new();
    t_base(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    t_free(*state);
    return 0;
}

static const Strata__V1__Endpoint *ep_get(struct t_fsm *t, uint32_t vni, const char *mac)
{
    uint8_t m[6];
    t_mac(mac, m);
    return dir_fsm_endpoint_by_mac(t->f, vni, m);
}

static const Strata__V1__Endpoint *ep_by_ip(struct t_fsm *t, uint32_t vni, const char *ip)
{
    struct strata_ip a;
    assert_int_equal(strata_ip_parse(ip, &a, NULL), 0);
    return dir_fsm_endpoint_by_ip(t->f, vni, &a);
}

static void test_add_errors(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_ep(t, 999, MAC1, "10.1.0.5", "h1"), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown VNI 999");
    assert_int_equal(t_ep(t, 100, "03:00:00:00:00:01", "10.1.0.5", "h1"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "unicast"));
    assert_int_equal(t_ep(t, 100, "00:00:00:00:00:00", "10.1.0.5", "h1"), STRATA_EINVAL);
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.5", "nohost"), STRATA_ENOTFOUND);
    assert_non_null(strstr(t->res.msg, "nohost"));
    assert_int_equal(t_ep(t, 100, MAC1, "10.9.0.1", "h1"), STRATA_EINVAL);
    assert_string_equal(t->res.msg, "10.9.0.1 is outside every subnet of VNI 100");
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.5,fd00:2::1", "h1"), STRATA_EINVAL);
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.5,10.1.0.5", "h1"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "twice"));
    /* too many IPs */
    char ips[512] = "";
    for (int i = 0; i < STRATA_MAX_IPS + 1; i++) {
        size_t l = strlen(ips);
        snprintf(ips + l, sizeof(ips) - l, "%s10.1.0.%d", i ? "," : "", 10 + i);
    }
    assert_int_equal(t_ep(t, 100, MAC1, ips, "h1"), STRATA_EINVAL);
    /* a VN without subnets refuses every IP */
    assert_int_equal(t_vnet(t, 400, "acme", "bare"), 0);
    assert_int_equal(t_ep(t, 400, MAC1, "10.1.0.5", "h1"), STRATA_EINVAL);
    assert_string_equal(t->res.msg, "10.1.0.5 is outside every subnet of VNI 400");
    t_clear_changes(t);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 0);
    /* exactly STRATA_MAX_IPS is fine */
    char *last = strrchr(ips, ',');
    *last = 0;
    assert_int_equal(t_ep(t, 100, MAC1, ips, "h1"), 0);
    assert_int_equal(ep_get(t, 100, MAC1)->n_ips, STRATA_MAX_IPS);
}

/* The subnet's network and broadcast addresses are nobody's; point-to-point prefixes have
 * neither, and IPv6 has no broadcast. */
static void test_add_reserved_addrs(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.0", "h1"), STRATA_EINVAL);
    assert_string_equal(t->res.msg,
                        "10.1.0.0 is the network address of 10.1.0.0/24 in VNI 100: pick a host "
                        "address");
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7,10.1.0.255", "h1"), STRATA_EINVAL);
    assert_string_equal(t->res.msg,
                        "10.1.0.255 is the broadcast address of 10.1.0.0/24 in VNI 100: pick a "
                        "host address");
    assert_null(ep_get(t, 100, MAC1));
    assert_int_equal(t_ep(t, 100, MAC1, "fd00:1::", "h1"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "network address of fd00:1::/64"));
    assert_int_equal(t_ep(t, 100, MAC1, "fd00:1::ffff:ffff:ffff:ffff", "h1"), 0);
    assert_int_equal(t_subnet(t, 100, "10.7.0.0/31", NULL), 0);
    assert_int_equal(t_ep(t, 100, MAC2, "10.7.0.0,10.7.0.1,10.1.0.254", "h1"), 0);
}

static void test_add_and_conflict(void **state)
{
    struct t_fsm *t = *state;
    uint64_t at = t->index;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7,fd00:1::7", "h1"), 0);
    assert_int_equal(t->res.index, at);
    const Strata__V1__Endpoint *e = ep_get(t, 100, MAC1);
    assert_non_null(e);
    assert_int_equal(e->version, at);
    assert_string_equal(e->host, "h1");
    char a[STRATA_IP_STRLEN];
    assert_string_equal(t_ipstr(&e->vtep, a), "192.168.0.1");
    assert_ptr_equal(ep_by_ip(t, 100, "10.1.0.7"), e);
    assert_ptr_equal(ep_by_ip(t, 100, "fd00:1::7"), e);
    assert_null(ep_by_ip(t, 300, "10.1.0.7"));
    /* endpoint change, then VN 100's flood list gains h1 */
    assert_int_equal(t->nchg, 2);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT);
    assert_false(t->chg[0]->deleted);
    assert_int_equal(t->chg[0]->endpoint->version, at);
    assert_int_equal(t->chg[1]->kind, STRATA__V1__OBJ_KIND__OBJ_VNET);
    assert_int_equal(t->chg[1]->index, at);
    assert_int_equal(t->chg[1]->vnet->vni, 100);
    char fl[256];
    assert_string_equal(t_flood(t->chg[1], fl, sizeof(fl)), "192.168.0.1");
    /* another MAC claiming the IP */
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.8,10.1.0.7", "h2"), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "10.1.0.7 already belongs to 02:00:00:00:00:01 in VNI 100");
    assert_null(ep_get(t, 100, MAC2));
    assert_null(ep_by_ip(t, 100, "10.1.0.8"));
    /* the same IP in another VN (overlapping address spaces) is fine */
    assert_int_equal(t_ep(t, 300, MAC2, "10.1.0.7", "h2"), 0);
    assert_int_equal(t_ep(t, 300, MAC1, "10.1.0.8", "h2"), 0); /* same MAC too */
    assert_string_equal(ep_by_ip(t, 300, "10.1.0.7")->host, "h2");
    assert_string_equal(ep_by_ip(t, 100, "10.1.0.7")->host, "h1");
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 3);
}

static void test_upsert(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7,10.1.0.8", "h1"), 0);
    t_clear_changes(t);
    /* identical re-registration: success, no change, version kept */
    uint64_t v = ep_get(t, 100, MAC1)->version;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7,10.1.0.8", "h1"), 0);
    assert_int_equal(t->nchg, 0);
    assert_int_equal(ep_get(t, 100, MAC1)->version, v);
    /* new IPs and host: replaced; the dropped IP is free again */
    uint64_t at = t->index;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.8,10.1.0.9", "h2"), 0);
    const Strata__V1__Endpoint *e = ep_get(t, 100, MAC1);
    assert_int_equal(e->version, at);
    assert_string_equal(e->host, "h2");
    assert_int_equal(e->n_ips, 2);
    assert_null(ep_by_ip(t, 100, "10.1.0.7"));
    assert_ptr_equal(ep_by_ip(t, 100, "10.1.0.9"), e);
    /* endpoint change + flood (h1 -> h2) */
    assert_int_equal(t->nchg, 2);
    char fl[256];
    assert_string_equal(t_flood(t->chg[1], fl, sizeof(fl)), "192.168.0.2");
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.7", "h1"), 0);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 2);
    /* an endpoint without IPs (pure L2) */
    assert_int_equal(t_ep(t, 100, MAC3, "", "h1"), 0);
    assert_int_equal(ep_get(t, 100, MAC3)->n_ips, 0);
}

static void test_move(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_move(t, 999, MAC1, "h2"), STRATA_ENOTFOUND);
    assert_int_equal(t_move(t, 100, MAC1, "h2"), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "no endpoint 02:00:00:00:00:01 in VNI 100");
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7", "h1"), 0);
    assert_int_equal(t_move(t, 100, MAC1, "nohost"), STRATA_ENOTFOUND);
    t_clear_changes(t);
    assert_int_equal(t_move(t, 100, MAC1, "h1"), 0); /* already there: no change */
    assert_int_equal(t->nchg, 0);
    uint64_t at = t->index;
    assert_int_equal(t_move(t, 100, MAC1, "h2"), 0);
    const Strata__V1__Endpoint *e = ep_get(t, 100, MAC1);
    assert_int_equal(e->version, at);
    assert_string_equal(e->host, "h2");
    char a[STRATA_IP_STRLEN];
    assert_string_equal(t_ipstr(&e->vtep, a), "192.168.0.2");
    assert_ptr_equal(ep_by_ip(t, 100, "10.1.0.7"), e); /* IPs kept */
    assert_int_equal(t->nchg, 2);
    assert_int_equal(t->chg[0]->endpoint->version, at);
    char fl[256];
    assert_string_equal(t_flood(t->chg[1], fl, sizeof(fl)), "192.168.0.2");
}

static void test_delete(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_del(t, 100, MAC1), STRATA_ENOTFOUND);
    assert_int_equal(t_del(t, 999, MAC1), STRATA_ENOTFOUND);
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7", "h1"), 0);
    uint64_t v = ep_get(t, 100, MAC1)->version;
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.8", "h1"), 0);
    t_clear_changes(t);
    uint64_t at = t->index;
    assert_int_equal(t_del(t, 100, MAC1), 0);
    assert_null(ep_get(t, 100, MAC1));
    assert_null(ep_by_ip(t, 100, "10.1.0.7"));
    /* a tombstone with the last value; h1 still holds MAC2: flood unchanged */
    assert_int_equal(t->nchg, 1);
    assert_true(t->chg[0]->deleted);
    assert_int_equal(t->chg[0]->index, at);
    assert_int_equal(t->chg[0]->endpoint->version, v);
    assert_int_equal(t->chg[0]->endpoint->n_ips, 1);
    assert_string_equal(t->chg[0]->endpoint->host, "h1");
    assert_int_equal(t_del(t, 100, MAC1), STRATA_ENOTFOUND);
    /* the last endpoint of h1 in VN 100: the flood list empties */
    assert_int_equal(t_del(t, 100, MAC2), 0);
    assert_int_equal(t->nchg, 3);
    assert_int_equal(t->chg[2]->kind, STRATA__V1__OBJ_KIND__OBJ_VNET);
    assert_int_equal(t->chg[2]->n_flood_vteps, 0);
    /* the IP can be claimed by another MAC now */
    assert_int_equal(t_ep(t, 100, MAC3, "10.1.0.7", "h2"), 0);
}

/* Flood-list changes are announced exactly when the set of VTEPs changes. */
static void test_flood(void **state)
{
    struct t_fsm *t = *state;
    char fl[256];
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.5", "h1"), 0);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 1);
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.2", "h1"), 0); /* h1 again: no flood change */
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 1);
    assert_int_equal(t_ep(t, 100, MAC3, "10.1.0.3", "h2"), 0);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 2);
    assert_string_equal(t_flood(t->chg[t->nchg - 1], fl, sizeof(fl)), "192.168.0.1,192.168.0.2");
    assert_int_equal(t_move(t, 100, MAC3, "h1"), 0); /* h2 leaves */
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 3);
    assert_string_equal(t_flood(t->chg[t->nchg - 1], fl, sizeof(fl)), "192.168.0.1");
    assert_int_equal(t_move(t, 100, MAC3, "h2"), 0); /* h2 is back */
    assert_int_equal(t_del(t, 100, MAC1), 0);        /* h1 still has MAC2 */
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 4);
    /* a gateway serving VN 100 joins its flood list, VN 200 too (empty before) */
    uint32_t vnis[] = {100, 200};
    t_clear_changes(t);
    assert_int_equal(t_gw(t, "gw1", "10.0.0.1", vnis, 2), 0);
    assert_int_equal(t->nchg, 3);
    assert_string_equal(t_flood(t->chg[1], fl, sizeof(fl)), "10.0.0.1,192.168.0.1,192.168.0.2");
    assert_string_equal(t_flood(t->chg[2], fl, sizeof(fl)), "10.0.0.1");
    /* an endpoint on the gateway (gateways are hosts too): its VTEP is already listed */
    t_clear_changes(t);
    assert_int_equal(t_ep(t, 200, MAC1, "10.2.0.5", "gw1"), 0);
    assert_int_equal(t->nchg, 1);
    char a[STRATA_IP_STRLEN];
    assert_string_equal(t_ipstr(&ep_get(t, 200, MAC1)->vtep, a), "10.0.0.1");
    /* the gateway stops serving 200 but holds an endpoint there: still listed */
    uint32_t only[] = {100};
    assert_int_equal(t_gw(t, "gw1", "10.0.0.1", only, 1), 0);
    assert_int_equal(t->nchg, 2);
    Strata__V1__VnInfoReply vi;
    assert_int_equal(dir_fsm_vn_info(t->f, 200, &vi), 0);
    assert_int_equal(vi.n_flood_vteps, 1);
    assert_int_equal(vi.n_gateways, 0);
    dir_fsm_vn_info_release(&vi);
    assert_int_equal(dir_fsm_vn_info(t->f, 100, &vi), 0);
    assert_int_equal(vi.n_flood_vteps, 3);
    assert_int_equal(vi.n_gateways, 1);
    dir_fsm_vn_info_release(&vi);
}

/* A host re-IP moves the VTEP of every endpoint on it and of the flood lists it is in. */
static void test_host_reip(void **state)
{
    struct t_fsm *t = *state;
    char fl[256], a[STRATA_IP_STRLEN];
    assert_int_equal(t_ep(t, 200, MAC1, "10.2.0.5", "h1"), 0);
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.5", "h1"), 0);
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.6", "h1"), 0);
    assert_int_equal(t_ep(t, 100, MAC3, "10.1.0.7", "h2"), 0);
    t_clear_changes(t);
    uint64_t at = t->index;
    assert_int_equal(t_host(t, "h1", "192.168.1.1", "podA"), 0);
    /* host, its three endpoints in key order, then flood lists of VN 100 and 200 */
    assert_int_equal(t->nchg, 6);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_HOST);
    assert_int_equal(t->chg[1]->endpoint->vni, 100);
    assert_int_equal(t->chg[1]->endpoint->mac.data[5], 1);
    assert_int_equal(t->chg[2]->endpoint->mac.data[5], 2);
    assert_int_equal(t->chg[3]->endpoint->vni, 200);
    for (int i = 1; i <= 3; i++) {
        assert_string_equal(t_ipstr(&t->chg[i]->endpoint->vtep, a), "192.168.1.1");
        assert_int_equal(t->chg[i]->endpoint->version, at);
        assert_int_equal(t->chg[i]->index, at);
    }
    assert_int_equal(t->chg[4]->vnet->vni, 100);
    assert_string_equal(t_flood(t->chg[4], fl, sizeof(fl)), "192.168.0.2,192.168.1.1");
    assert_int_equal(t->chg[5]->vnet->vni, 200);
    assert_string_equal(t_flood(t->chg[5], fl, sizeof(fl)), "192.168.1.1");
    assert_string_equal(t_ipstr(&ep_get(t, 100, MAC1)->vtep, a), "192.168.1.1");
    assert_string_equal(t_ipstr(&ep_get(t, 100, MAC3)->vtep, a), "192.168.0.2");
    /* a pod change alone moves nothing */
    t_clear_changes(t);
    assert_int_equal(t_host(t, "h1", "192.168.1.1", "podB"), 0);
    assert_int_equal(t->nchg, 1);
    /* a gateway re-IP re-points its endpoints too */
    uint32_t vnis[] = {100};
    assert_int_equal(t_gw(t, "gw1", "10.0.0.1", vnis, 1), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:09", "10.1.0.9", "gw1"), 0);
    t_clear_changes(t);
    assert_int_equal(t_gw(t, "gw1", "10.0.0.2", vnis, 1), 0);
    assert_int_equal(t->nchg, 3); /* gateway, endpoint, flood */
    assert_string_equal(t_ipstr(&ep_get(t, 100, "02:00:00:00:00:09")->vtep, a), "10.0.0.2");
    assert_string_equal(t_flood(t->chg[2], fl, sizeof(fl)), "10.0.0.2,192.168.0.2,192.168.1.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_reserved_addrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_reip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

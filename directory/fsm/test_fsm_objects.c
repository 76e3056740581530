/* test_fsm_objects.c - domains, VNs, subnets, hosts, gateways, policies and members. */
#include "dir_fsm_testutil.h"

static int setup(void **state)
{
    *state = t_new();
    return 0;
}

static int teardown(void **state)
{
    t_free(*state);
    return 0;
}

static void test_domain(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_domain(t, "acme"), 0);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_DOMAIN);
    assert_string_equal(t->chg[0]->domain->name, "acme");
    assert_int_equal(t->chg[0]->domain->version, 1);
    assert_int_equal(t->chg[0]->index, 1);
    assert_int_equal(t_domain(t, "acme"), STRATA_EEXIST);
    assert_non_null(strstr(t->res.msg, "acme"));
    assert_int_equal(t_domain(t, "bad name!"), STRATA_EINVAL);
    assert_int_equal(t_domain(t, ""), STRATA_EINVAL);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN), 1);
    assert_int_equal(dir_fsm_applied(t->f), 4);
}

static void test_vnet_create(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_vnet(t, 100, "nope", "web"), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown domain nope");
    assert_int_equal(t_domain(t, "acme"), 0);
    assert_int_equal(t_vnet(t, 100, "acme", "web"), 0);
    const Strata__V1__Vnet *v = dir_fsm_vnet(t->f, 100);
    assert_non_null(v);
    assert_string_equal(v->domain, "acme");
    assert_string_equal(v->name, "web");
    assert_int_equal(v->version, 3);
    assert_int_equal(t_vnet(t, 100, "acme", "again"), STRATA_EEXIST);
    assert_string_equal(t->res.msg, "VNI 100 already exists (domain acme)");
    assert_int_equal(t_vnet(t, 0, "acme", "zero"), STRATA_EINVAL);
    assert_int_equal(t_vnet(t, 16777216, "acme", "big"), STRATA_EINVAL);
    assert_int_equal(t_vnet(t, 16777215, "acme", ""), 0); /* the name is optional */
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 0), 2);
}

static void test_vnet_delete(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    assert_int_equal(t_vnet_del(t, 999), STRATA_ENOTFOUND);
    assert_non_null(strstr(t->res.msg, "999"));
    assert_int_equal(t_policy(t, "acme", 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW), 0);
    assert_int_equal(t_policy(t, "acme", 200, 100, STRATA__V1__VERDICT__VERDICT_DENY), 0);
    uint32_t vnis[] = {100, 200};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", vnis, 2), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:02", "10.1.0.6", "h1"), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:03", "10.1.0.7", "h2"), 0);
    assert_int_equal(t_vnet_del(t, 100), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "VNI 100 still has 3 endpoints");
    assert_int_equal(t_del(t, 100, "02:00:00:00:00:01"), 0);
    assert_int_equal(t_del(t, 100, "02:00:00:00:00:02"), 0);
    assert_int_equal(t_del(t, 100, "02:00:00:00:00:03"), 0);
    t_clear_changes(t);
    uint64_t at = t->index;
    assert_int_equal(t_vnet_del(t, 100), 0);
    assert_null(dir_fsm_vnet(t->f, 100));
    assert_string_equal(t->res.msg, "with it: subnets 10.1.0.0/24, fd00:1::/64; policies "
                                    "100->200, 200->100; gw1 no longer serves it");
    /* two subnet tombstones, two policy tombstones, the gateway without 100, the VN tombstone */
    assert_int_equal(t->nchg, 6);
    for (size_t i = 0; i < t->nchg; i++)
        assert_int_equal(t->chg[i]->index, at);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_SUBNET, 1), 2);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_POLICY, 1), 2);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, 0), 1);
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_VNET, 1), 1);
    assert_int_equal(t->chg[5]->vnet->vni, 100);
    const Strata__V1__Gateway *g = dir_fsm_gateway(t->f, "gw1");
    assert_int_equal(g->n_vnis, 1);
    assert_int_equal(g->vnis[0], 200);
    assert_int_equal(g->version, at);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_SUBNET), 2);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_POLICY), 0);
    /* the VNI can be created again, empty */
    assert_int_equal(t_vnet(t, 100, "other", "reborn"), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), STRATA_EINVAL);
    assert_int_equal(t_vnet_del(t, 100), 0);
    assert_string_equal(t->res.msg, "nothing else went with it");
}

/* A VN with more than the note can name: counts instead, never a cut-off list. */
static void test_vnet_delete_note_counts(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    char cidr[32], gw[16];
    uint32_t vni[] = {100};
    for (int i = 0; i < 12; i++) {
        snprintf(cidr, sizeof(cidr), "10.%d.0.0/16", 100 + i);
        assert_int_equal(t_subnet(t, 100, cidr, NULL), 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(gw, sizeof(gw), "gateway-%d", i);
        assert_int_equal(t_gw(t, gw,
                              i == 0   ? "192.168.9.1"
                              : i == 1 ? "192.168.9.2"
                                       : "192.168.9.3",
                              vni, 1),
                         0);
    }
    assert_int_equal(t_vnet_del(t, 100), 0);
    assert_string_equal(t->res.msg, "with it: 14 subnets; 3 gateways no longer serve it");
}

static void test_subnet(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    assert_int_equal(t_subnet(t, 999, "10.9.0.0/24", NULL), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown VNI 999");
    assert_int_equal(t_subnet(t, 100, "10.3.0.5/24", NULL), STRATA_EINVAL); /* host bits */
    assert_int_equal(t_subnet(t, 100, "10.3.0.0/33", NULL), STRATA_EINVAL);
    assert_int_equal(t_subnet(t, 100, "10.3.0.0/24", "10.4.0.1"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "outside"));
    assert_int_equal(t_subnet(t, 100, "10.3.0.0/24", "fd00::1"), STRATA_EINVAL);
    /* overlaps within one VN: identical, wider, narrower */
    assert_int_equal(t_subnet(t, 100, "10.1.0.0/24", NULL), STRATA_ECONFLICT);
    assert_int_equal(t_subnet(t, 100, "10.0.0.0/8", NULL), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "10.0.0.0/8 overlaps 10.1.0.0/24 in VNI 100");
    assert_int_equal(t_subnet(t, 100, "10.1.0.128/25", NULL), STRATA_ECONFLICT);
    assert_int_equal(t_subnet(t, 100, "fd00:1::/48", NULL), STRATA_ECONFLICT);
    assert_int_equal(t->nchg, 0);
    /* neighbours, and the same CIDR in another VN */
    assert_int_equal(t_subnet(t, 100, "10.1.1.0/24", "10.1.1.254"), 0);
    assert_int_equal(t_subnet(t, 200, "10.1.0.0/24", NULL), 0);
    assert_int_equal(t_subnet(t, 200, "fd00:1::/64", NULL), 0);
    assert_int_equal(t->nchg, 3);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_SUBNET);
    assert_int_equal(t->chg[0]->subnet->plen, 24);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_SUBNET), 7);
    Strata__V1__VnInfoReply vi;
    assert_int_equal(dir_fsm_vn_info(t->f, 100, &vi), 0);
    assert_int_equal(vi.n_subnets, 3);
    char a[STRATA_IP_STRLEN];
    /* sorted: IPv4 before IPv6, by address */
    assert_string_equal(t_ipstr(&vi.subnets[0]->prefix, a), "10.1.0.0");
    assert_string_equal(t_ipstr(&vi.subnets[1]->prefix, a), "10.1.1.0");
    assert_string_equal(t_ipstr(&vi.subnets[2]->prefix, a), "fd00:1::");
    dir_fsm_vn_info_release(&vi);
}

static void test_host(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    assert_int_equal(t_host(t, "h3", "192.168.0.3", "podB"), 0);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_HOST);
    /* identical re-registration: success, no change, version kept */
    uint64_t v = dir_fsm_host(t->f, "h3")->version;
    assert_int_equal(t_host(t, "h3", "192.168.0.3", "podB"), 0);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(dir_fsm_host(t->f, "h3")->version, v);
    /* another host's VTEP */
    assert_int_equal(t_host(t, "h4", "192.168.0.3", "podB"), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "VTEP 192.168.0.3 already belongs to host h3");
    assert_int_equal(t_host(t, "h3", "192.168.0.1", "podB"), STRATA_ECONFLICT);
    assert_int_equal(t_host(t, "bad id", "192.168.0.9", "podB"), STRATA_EINVAL);
    assert_int_equal(t_host(t, "h5", "192.168.0.9", ""), STRATA_EINVAL);
    assert_int_equal(t_host(t, "h5", "0.0.0.0", "podB"), STRATA_EINVAL);
    assert_int_equal(t->nchg, 1);
    /* IPv6 VTEP, pod change */
    assert_int_equal(t_host(t, "h6", "fd00::6", "podB"), 0);
    assert_int_equal(t_host(t, "h6", "fd00::6", "podC"), 0);
    assert_string_equal(dir_fsm_host(t->f, "h6")->pod, "podC");
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_HOST), 4);
    /* the old VTEP of a re-IP'd host is free again */
    assert_int_equal(t_host(t, "h6", "fd00::7", "podC"), 0);
    assert_int_equal(t_host(t, "h7", "fd00::6", "podC"), 0);
}

static void test_gateway(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    uint32_t bad[] = {100, 999};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", bad, 2), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown VNI 999");
    assert_int_equal(t_gw(t, "gw1", "192.168.0.1", NULL, 0), STRATA_ECONFLICT); /* h1's VTEP */
    assert_int_equal(t_gw(t, "h1", "192.168.9.1", NULL, 0), STRATA_EEXIST);
    uint32_t vnis[] = {200, 100, 200};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", vnis, 3), 0);
    const Strata__V1__Gateway *g = dir_fsm_gateway(t->f, "gw1");
    assert_int_equal(g->n_vnis, 2); /* sorted, unique */
    assert_int_equal(g->vnis[0], 100);
    assert_int_equal(g->vnis[1], 200);
    /* gateway change + flood changes of VN 100 and 200 */
    assert_int_equal(t->nchg, 3);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_GATEWAY);
    assert_int_equal(t->chg[1]->vnet->vni, 100);
    assert_int_equal(t->chg[2]->vnet->vni, 200);
    char fl[256];
    assert_string_equal(t_flood(t->chg[1], fl, sizeof(fl)), "192.168.9.1");
    /* same set in another order: no change */
    uint32_t same[] = {100, 200};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", same, 2), 0);
    assert_int_equal(t->nchg, 3);
    assert_int_equal(t_host(t, "gw1", "192.168.9.9", "podA"), STRATA_EEXIST);
    /* stop serving 200: its flood list empties */
    t_clear_changes(t);
    uint32_t only[] = {100};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", only, 1), 0);
    assert_int_equal(t->nchg, 2);
    assert_int_equal(t->chg[1]->vnet->vni, 200);
    assert_int_equal(t->chg[1]->n_flood_vteps, 0);
    Strata__V1__VnInfoReply vi;
    assert_int_equal(dir_fsm_vn_info(t->f, 100, &vi), 0);
    assert_int_equal(vi.n_gateways, 1);
    assert_int_equal(vi.n_flood_vteps, 1);
    dir_fsm_vn_info_release(&vi);
    assert_int_equal(dir_fsm_vn_info(t->f, 999, &vi), STRATA_ENOTFOUND);
    dir_fsm_vn_info_release(&vi);
}

/* Command.create_only (the CLI's default): the same object again is no change; a different one
 * is refused, and nothing moves; without it (a connectivity server registering its agent, an
 * entry of an older log) it is replaced, as before. */
static void test_create_only(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), 0);
    t->create_only = true;
    t_clear_changes(t);
    assert_int_equal(t_host(t, "h1", "192.168.0.1", "podA"), 0);
    assert_int_equal(t->nchg, 0);
    assert_int_equal(t_host(t, "h1", "192.168.0.9", "podA"), STRATA_EEXIST);
    assert_string_equal(t->res.msg, "host h1 exists (VTEP 192.168.0.1, pod podA): replacing it "
                                    "moves its endpoints; say so with --replace");
    assert_int_equal(t->nchg, 0);
    uint32_t vnis[] = {100};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", vnis, 1), 0);
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", vnis, 1), 0);
    assert_int_equal(t_gw(t, "gw1", "192.168.9.2", vnis, 1), STRATA_EEXIST);
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", NULL, 0), STRATA_EEXIST);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.6", "h1"), STRATA_EEXIST);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h2"), STRATA_EEXIST);
    assert_non_null(strstr(t->res.msg, "exists in VNI 100 (on host h1)"));
    const Strata__V1__Host *h = dir_fsm_host(t->f, "h1");
    assert_int_equal(h->vtep.data[3], 1);
    /* replacing, explicitly */
    t->create_only = false;
    assert_int_equal(t_host(t, "h1", "192.168.0.9", "podA"), 0);
    assert_int_equal(dir_fsm_host(t->f, "h1")->vtep.data[3], 9);
    assert_int_equal(t_gw(t, "gw1", "192.168.9.2", vnis, 1), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.6", "h2"), 0);
}

static int del_host(struct t_fsm *t, const char *id)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__HostDelete h = STRATA__V1__HOST_DELETE__INIT;
    h.id = (char *)id;
    c.op_case = STRATA__V1__COMMAND__OP_HOST_DELETE;
    c.host_delete = &h;
    return t_apply(t, &c);
}

static int del_domain(struct t_fsm *t, const char *name)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__DomainDelete d = STRATA__V1__DOMAIN_DELETE__INIT;
    d.name = (char *)name;
    c.op_case = STRATA__V1__COMMAND__OP_DOMAIN_DELETE;
    c.domain_delete = &d;
    return t_apply(t, &c);
}

/* Deletes refuse while the object is in use, and free its name and VTEP once it is not. */
static void test_host_and_domain_delete(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), 0);
    assert_int_equal(del_host(t, "h1"), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "host h1 still holds 1 endpoint: move or delete them first");
    assert_int_equal(del_host(t, "h9"), STRATA_ENOTFOUND);
    t_clear_changes(t);
    assert_int_equal(del_host(t, "h2"), 0);
    assert_null(dir_fsm_host(t->f, "h2"));
    assert_int_equal(t->nchg, 1);
    assert_true(t->chg[0]->deleted);
    /* its VTEP is free for another host */
    assert_int_equal(t_host(t, "h3", "192.168.0.2", "podA"), 0);
    assert_int_equal(del_domain(t, "acme"), STRATA_ECONFLICT);
    assert_non_null(strstr(t->res.msg, "domain acme still has 2 VNs (VNI 100, ...)"));
    assert_int_equal(del_domain(t, "nope"), STRATA_ENOTFOUND);
    assert_int_equal(t_vnet_del(t, 300), 0);
    assert_int_equal(del_domain(t, "other"), 0);
    assert_int_equal(t_vnet(t, 301, "other", "x"), STRATA_ENOTFOUND);
}

static int del_subnet(struct t_fsm *t, uint32_t vni, const char *cidr)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Subnet s = STRATA__V1__SUBNET__INIT;
    struct strata_cidr cc;
    assert_int_equal(strata_cidr_parse(cidr, &cc, NULL), 0);
    s.vni = vni;
    s.prefix = (ProtobufCBinaryData){strata_ip_len(&cc.ip), cc.ip.a};
    s.plen = cc.plen;
    c.op_case = STRATA__V1__COMMAND__OP_SUBNET_DELETE;
    c.subnet_delete = &s;
    return t_apply(t, &c);
}

/* The endpoint holding VN vni's gateway addresses (NULL: none), found by one of them. */
static const Strata__V1__Endpoint *gw_ep(struct t_fsm *t, uint32_t vni, const char *ip)
{
    struct strata_ip a;
    assert_int_equal(strata_ip_parse(ip, &a, NULL), 0);
    return dir_fsm_endpoint_by_ip(t->f, vni, &a);
}

/* A subnet goes when no endpoint has an address in it; its gateway address goes with it. */
static void test_subnet_delete(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    uint32_t vnis[] = {100};
    assert_int_equal(t_gw(t, "gw1", "192.168.9.1", vnis, 1), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_int_equal(t_subnet(t, 100, "10.9.0.0/24", "10.9.0.1"), 0);
    assert_int_equal(gw_ep(t, 100, "10.1.0.1")->n_ips, 2);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.5", "h1"), 0);
    assert_int_equal(del_subnet(t, 100, "10.1.0.0/24"), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg, "subnet 10.1.0.0/24 of VNI 100 is in use: endpoint "
                                    "02:00:00:00:00:01 has 10.1.0.5");
    assert_int_equal(del_subnet(t, 100, "10.8.0.0/24"), STRATA_ENOTFOUND);
    assert_int_equal(del_subnet(t, 999, "10.8.0.0/24"), STRATA_ENOTFOUND);
    assert_int_equal(del_subnet(t, 100, "10.9.0.0/24"), 0);
    assert_int_equal(gw_ep(t, 100, "10.1.0.1")->n_ips, 1); /* 10.9.0.1 went with it */
    assert_null(gw_ep(t, 100, "10.9.0.1"));
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:02", "10.9.0.5", "h1"), STRATA_EINVAL);
    /* and it can be made again */
    assert_int_equal(t_subnet(t, 100, "10.9.0.0/24", "10.9.0.1"), 0);
}

static void test_policy(void **state)
{
    struct t_fsm *t = *state;
    t_base(t);
    const Strata__V1__Verdict A = STRATA__V1__VERDICT__VERDICT_ALLOW;
    const Strata__V1__Verdict D = STRATA__V1__VERDICT__VERDICT_DENY;
    assert_int_equal(t_policy(t, "nope", 100, 200, A), STRATA_ENOTFOUND);
    assert_int_equal(t_policy(t, "acme", 100, 999, A), STRATA_EINVAL);
    assert_string_equal(t->res.msg, "unknown VNI 999");
    assert_int_equal(t_policy(t, "acme", 100, 300, A), STRATA_EINVAL);
    assert_string_equal(t->res.msg, "VNI 300 is in domain other, not acme");
    assert_int_equal(t_policy(t, "other", 100, 300, A), STRATA_EINVAL);
    assert_int_equal(t_policy(t, "acme", 100, 100, D), STRATA_EINVAL);
    assert_int_equal(t_policy(t, "acme", 100, 200, STRATA__V1__VERDICT__VERDICT_UNKNOWN),
                     STRATA_EINVAL);
    assert_int_equal(t->nchg, 0);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), D);
    assert_int_equal(t_policy(t, "acme", 100, 200, A), 0);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(t->chg[0]->policy->verdict, A);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), A);
    assert_int_equal(dir_fsm_verdict(t->f, 200, 100), D);  /* rules are directional */
    assert_int_equal(t_policy(t, "acme", 100, 200, A), 0); /* unchanged: no event */
    assert_int_equal(t->nchg, 1);
    assert_int_equal(t_policy(t, "acme", 100, 200, D), 0); /* upsert */
    assert_int_equal(t->nchg, 2);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), D);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_POLICY), 1);
}

static void test_member(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_member(t, 0, "127.0.0.1:9001", "tcp://127.0.0.1:7001"), STRATA_EINVAL);
    assert_int_equal(t_member(t, 1, "localhost:9001", "tcp://127.0.0.1:7001"), STRATA_EINVAL);
    assert_int_equal(t_member(t, 1, "127.0.0.1:9001", "tcp://127.0.0.1:7001"), 0);
    assert_int_equal(t_member(t, 2, "127.0.0.1:9002", ""), 0);
    assert_int_equal(t->nchg, 2);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_MEMBER);
    assert_int_equal(t_member(t, 2, "127.0.0.1:9002", ""), 0);
    assert_int_equal(t->nchg, 2);
    assert_int_equal(t_member(t, 2, "127.0.0.1:9002", "tcp://127.0.0.1:7002"), 0);
    assert_int_equal(t->nchg, 3);
    assert_string_equal(dir_fsm_member(t->f, 2)->api, "tcp://127.0.0.1:7002");
    assert_int_equal(t_member_del(t, 3), STRATA_ENOTFOUND);
    assert_int_equal(t_member_del(t, 1), 0);
    assert_true(t->chg[3]->deleted);
    assert_null(dir_fsm_member(t->f, 1));
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_MEMBER), 1);
}

static void test_bad_commands(void **state)
{
    struct t_fsm *t = *state;
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    assert_int_equal(t_apply(t, &c), STRATA_EINVAL); /* no op */
    c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    assert_int_equal(t_apply(t, &c), STRATA_EINVAL); /* op without body */
    dir_fsm_apply_cmd(t->f, t->index++, NULL, &t->res);
    assert_int_equal(t->res.status, STRATA_EINVAL);
    /* an older index is a bug in the caller: refused, nothing applied */
    struct dir_result res;
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = "late";
    c.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    c.domain_create = &d;
    dir_fsm_apply_cmd(t->f, 1, &c, &res);
    assert_int_equal(res.status, STRATA_EINTERNAL);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN), 0);
    /* several commands of one batch share an index */
    uint64_t i = dir_fsm_applied(t->f);
    dir_fsm_apply_cmd(t->f, i, &c, &res);
    assert_int_equal(res.status, 0);
    d.name = "late2";
    dir_fsm_apply_cmd(t->f, i, &c, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN), 2);
    dir_fsm_set_applied(t->f, i + 10);
    assert_int_equal(dir_fsm_applied(t->f), i + 10);
    dir_fsm_set_applied(t->f, 1); /* never goes back */
    assert_int_equal(dir_fsm_applied(t->f), i + 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vnet_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vnet_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vnet_delete_note_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subnet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_and_domain_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subnet_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

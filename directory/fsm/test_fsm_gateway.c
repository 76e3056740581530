/* test_fsm_gateway.c - gateway addresses held by the directory (holder choice and every
 * recompute trigger), gateway liveness and deletion, the refusals that keep gateway addresses
 * the directory's, policy deletion, and snapshots carrying all of it. */
#include "dir_fsm_testutil.h"

static const uint32_t V100[] = {100}, V100_200[] = {100, 200}, V200[] = {200};

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

/* VN vni's gateway endpoint, or NULL. */
static const Strata__V1__Endpoint *gwep(struct t_fsm *t, uint32_t vni)
{
    uint8_t mac[6];
    strata_gw_mac(vni, mac);
    return dir_fsm_endpoint_by_mac(t->f, vni, mac);
}

static const char *holder(struct t_fsm *t, uint32_t vni)
{
    const Strata__V1__Endpoint *ep = gwep(t, vni);
    return ep ? ep->host : "-";
}

/* The endpoint changes recorded since the last clear, as "vni:host:vtep" or "vni:deleted". */
static const char *ep_changes(struct t_fsm *t, char *buf, size_t len)
{
    char a[STRATA_IP_STRLEN];
    buf[0] = 0;
    for (size_t i = 0; i < t->nchg; i++) {
        const Strata__V1__Change *c = t->chg[i];
        if (c->kind != STRATA__V1__OBJ_KIND__OBJ_ENDPOINT)
            continue;
        size_t l = strlen(buf);
        if (c->deleted)
            snprintf(buf + l, len - l, "%s%u:deleted", l ? " " : "", c->endpoint->vni);
        else
            snprintf(buf + l, len - l, "%s%u:%s:%s", l ? " " : "", c->endpoint->vni,
                     c->endpoint->host, t_ipstr(&c->endpoint->vtep, a));
    }
    return buf;
}

static void test_mac(void **state)
{
    (void)state;
    uint8_t mac[6];
    char m[STRATA_MAC_STRLEN];
    strata_gw_mac(0x123456, mac);
    assert_string_equal(strata_mac_format(mac, m), "02:53:54:12:34:56");
    assert_true(strata_mac_is_gw(mac));
    assert_true(strata_mac_is_unicast(mac));
    mac[2] = 0x55;
    assert_false(strata_mac_is_gw(mac));
}

/* Nobody live: no endpoint. Then sticky holding, the smallest id when the holder goes, a dead
 * holder kept while nobody live can take over, and deletion when it stops serving the VN. */
static void test_holder_choice(void **state)
{
    struct t_fsm *t = *state;
    char buf[512], a[STRATA_IP_STRLEN];
    assert_int_equal(t_gw(t, "gwb", "10.9.0.2", V100, 1), 0);
    assert_int_equal(t_gw(t, "gwa", "10.9.0.1", V100, 1), 0);
    assert_int_equal(t_gw(t, "gwc", "10.9.0.3", V100, 1), 0);
    assert_null(gwep(t, 100)); /* registered, none live */
    assert_int_equal(dir_fsm_gateways_live(t->f), 0);
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gwb", true, "cs1"), 0);
    assert_int_equal(dir_fsm_gateways_live(t->f), 1);
    const Strata__V1__Endpoint *ep = gwep(t, 100);
    assert_non_null(ep);
    assert_string_equal(ep->host, "gwb");
    assert_string_equal(t_ipstr(&ep->vtep, a), "10.9.0.2");
    assert_int_equal(ep->n_ips, 1); /* fd00:1::/64 has no gateway address */
    assert_string_equal(t_ipstr(&ep->ips[0], a), "10.1.0.1");
    assert_int_equal(ep->version, t->index - 1);
    /* the gateway change, then the endpoint it caused, in the same entry */
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_GATEWAY);
    assert_true(t->chg[0]->gateway->live);
    assert_string_equal(t->chg[0]->gateway->csd, "cs1");
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:gwb:10.9.0.2");
    assert_int_equal(t->chg[1]->index, t->chg[0]->index);
    /* a smaller id coming alive does not take the addresses (sticky) */
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gwa", true, "cs2"), 0);
    assert_string_equal(holder(t, 100), "gwb");
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "");
    assert_int_equal(t_gw_live(t, "gwc", true, "cs1"), 0);
    assert_int_equal(dir_fsm_gateways_live(t->f), 3);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY), 3);
    /* the holder dies: the live one with the smallest id takes over, one endpoint change */
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gwb", false, "cs1"), 0);
    assert_int_equal(dir_fsm_gateways_live(t->f), 2);
    assert_string_equal(holder(t, 100), "gwa");
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:gwa:10.9.0.1");
    /* gwb back: stays with gwa */
    assert_int_equal(t_gw_live(t, "gwb", true, "cs1"), 0);
    assert_string_equal(holder(t, 100), "gwa");
    assert_int_equal(t_gw_live(t, "gwa", false, "cs2"), 0);
    assert_string_equal(holder(t, 100), "gwb");
    /* the last live ones die: with nobody to take over, the holder keeps the addresses (its
     * kernel may still route: a restart of its daemon must not cut the VN off) */
    assert_int_equal(t_gw_live(t, "gwc", false, "cs1"), 0);
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gwb", false, "cs1"), 0);
    assert_string_equal(holder(t, 100), "gwb");
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "");
    /* the same declaration again changes nothing */
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gwb", false, "cs1"), 0);
    assert_int_equal(t->nchg, 0);
    /* a live one appears: it takes over from the dead holder */
    assert_int_equal(t_gw_live(t, "gwc", true, "cs1"), 0);
    assert_string_equal(holder(t, 100), "gwc");
    /* the holder stops serving the VN and nobody else is live: the endpoint goes */
    assert_int_equal(t_gw_live(t, "gwc", false, "cs1"), 0);
    assert_string_equal(holder(t, 100), "gwc");
    t_clear_changes(t);
    assert_int_equal(t_gw(t, "gwc", "10.9.0.3", V200, 1), 0);
    assert_null(gwep(t, 100));
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:deleted");
}

static void test_live_rules(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_gw_live(t, "nope", true, "cs1"), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown gateway nope");
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100, 1), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, ""), STRATA_EINVAL);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    /* re-registered at cs2: a late "dead" from cs1 must not undo it */
    assert_int_equal(t_gw_live(t, "gw1", true, "cs2"), 0);
    t_clear_changes(t);
    assert_int_equal(t_gw_live(t, "gw1", false, "cs1"), STRATA_ECONFLICT);
    assert_non_null(strstr(t->res.msg, "declared live by connectivity server cs2, not cs1"));
    assert_int_equal(t->nchg, 0);
    assert_true(dir_fsm_gateway(t->f, "gw1")->live);
    /* an operator's gateway_add keeps liveness and may not set it */
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100_200, 2), 0);
    assert_true(dir_fsm_gateway(t->f, "gw1")->live);
    assert_string_equal(dir_fsm_gateway(t->f, "gw1")->csd, "cs2");
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Gateway g = STRATA__V1__GATEWAY__INIT;
    struct strata_ip ip;
    g.id = "gw2";
    g.vtep = t_ipb("10.9.0.2", &ip);
    g.live = true;
    c.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
    c.gateway_add = &g;
    assert_int_equal(t_apply(t, &c), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "gateway_live"));
}

/* Each input of the rule recomputes: the served set, a re-IP, a subnet, deletion of the VN and
 * of the gateway. */
static void test_triggers(void **state)
{
    struct t_fsm *t = *state;
    char buf[512], a[STRATA_IP_STRLEN];
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100_200, 2), 0);
    assert_int_equal(t_gw(t, "gw2", "10.9.0.2", V100, 1), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_int_equal(t_gw_live(t, "gw2", true, "cs1"), 0);
    assert_string_equal(holder(t, 100), "gw1");
    assert_string_equal(holder(t, 200), "gw1");
    /* gateway_add: gw1 stops serving 100 -> gw2 takes it; 200 untouched */
    t_clear_changes(t);
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V200, 1), 0);
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:gw2:10.9.0.2");
    /* gateway_add: a re-IP re-points what it holds */
    t_clear_changes(t);
    assert_int_equal(t_gw(t, "gw1", "10.9.0.11", V200, 1), 0);
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "200:gw1:10.9.0.11");
    /* subnet_create: a second gateway address joins the endpoint */
    t_clear_changes(t);
    assert_int_equal(t_subnet(t, 100, "10.3.0.0/24", "10.3.0.254"), 0);
    const Strata__V1__Endpoint *ep = gwep(t, 100);
    assert_int_equal(ep->n_ips, 2);
    assert_string_equal(t_ipstr(&ep->ips[0], a), "10.1.0.1");
    assert_string_equal(t_ipstr(&ep->ips[1], a), "10.3.0.254");
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:gw2:10.9.0.2");
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    Strata__V1__ResolveAnswer ans;
    struct strata_ip ip;
    q.vni = 100;
    q.ip = t_ipb("10.3.0.254", &ip);
    dir_fsm_resolve(t->f, &q, &ans);
    assert_true(ans.found);
    assert_string_equal(ans.endpoint->host, "gw2");
    /* a subnet without a gateway address changes nothing */
    t_clear_changes(t);
    assert_int_equal(t_subnet(t, 100, "fd00:2::/64", NULL), 0);
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "");
    /* gateway_delete: gw2 goes, nobody else serves 100 -> the endpoint goes */
    t_clear_changes(t);
    assert_int_equal(t_gw_del(t, "gw2"), 0);
    assert_null(gwep(t, 100));
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "100:deleted");
    assert_int_equal(t_count_kind(t, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, 1), 1);
    assert_null(dir_fsm_gateway(t->f, "gw2"));
    /* vnet_delete: the gateway endpoint does not hold the VN back, and goes with it */
    assert_non_null(gwep(t, 200));
    t_clear_changes(t);
    assert_int_equal(t_vnet_del(t, 200), 0);
    assert_string_equal(ep_changes(t, buf, sizeof(buf)), "200:deleted");
    assert_int_equal(dir_fsm_gateway(t->f, "gw1")->n_vnis, 0);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 0);
}

static void test_gateway_delete(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_gw_del(t, "gw1"), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "unknown gateway gw1");
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100_200, 2), 0);
    assert_int_equal(t_gw(t, "gw2", "10.9.0.2", V100, 1), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_int_equal(t_gw_live(t, "gw2", true, "cs1"), 0);
    /* an endpoint of its own (not a gateway address) holds it back */
    assert_int_equal(t_ep(t, 200, "02:00:00:00:00:07", "10.2.0.7", "gw1"), 0);
    assert_int_equal(t_gw_del(t, "gw1"), STRATA_ECONFLICT);
    assert_string_equal(t->res.msg,
                        "gateway gw1 still holds 1 endpoint: move or delete them first");
    assert_int_equal(t_del(t, 200, "02:00:00:00:00:07"), 0);
    assert_int_equal(t_gw_del(t, "gw1"), 0);
    assert_string_equal(holder(t, 100), "gw2");
    assert_null(gwep(t, 200));
    /* its id and VTEP are free again */
    assert_int_equal(t_host(t, "gw1", "10.9.0.1", "podA"), 0);
}

static void test_refusals(void **state)
{
    struct t_fsm *t = *state;
    /* a host may not hold a gateway address, not even beside its own */
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.7,10.1.0.1", "h1"), STRATA_EDENIED);
    assert_string_equal(t->res.msg,
                        "10.1.0.1 is VN 100's gateway address: only a gateway serving VN 100 "
                        "holds it");
    /* ... not even a gateway (the directory places the endpoint) */
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100, 1), 0);
    assert_int_equal(t_ep(t, 100, "02:00:00:00:00:01", "10.1.0.1", "gw1"), STRATA_EDENIED);
    /* the same address in another domain's VN is an ordinary one there */
    assert_int_equal(t_subnet(t, 300, "10.4.0.0/24", NULL), 0);
    assert_int_equal(t_ep(t, 300, "02:00:00:00:00:01", "10.4.0.1", "h1"), 0);
    /* the gateway MAC range */
    assert_int_equal(t_ep(t, 100, "02:53:54:00:00:64", "10.1.0.9", "h1"), STRATA_EDENIED);
    assert_non_null(strstr(t->res.msg, "02:53:54:00:00:64"));
    assert_int_equal(t_ep(t, 100, "02:53:54:00:00:01", "10.1.0.9", "h1"), STRATA_EDENIED);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_int_equal(t_move(t, 100, "02:53:54:00:00:64", "h1"), STRATA_EDENIED);
    assert_int_equal(t_del(t, 100, "02:53:54:00:00:64"), STRATA_EDENIED);
    assert_string_equal(holder(t, 100), "gw1");
    /* subnets: the gateway is a host address, and not one an endpoint already holds */
    assert_int_equal(t_subnet(t, 200, "10.5.0.0/24", "10.5.0.0"), STRATA_EINVAL);
    assert_string_equal(t->res.msg,
                        "gateway 10.5.0.0 is the network address of 10.5.0.0/24: pick a host "
                        "address");
    assert_int_equal(t_subnet(t, 200, "10.5.0.0/24", "10.5.0.255"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "broadcast address"));
    assert_int_equal(t_subnet(t, 200, "fd00:5::/64", "fd00:5::"), STRATA_EINVAL);
    assert_int_equal(t_subnet(t, 200, "10.6.0.0/31", "10.6.0.0"), 0); /* point to point */
    assert_int_equal(t_subnet(t, 200, "fd00:5::/64", "fd00:5::ffff:ffff:ffff:ffff"), 0);
    assert_int_equal(t_ep(t, 300, "02:00:00:00:00:02", "10.1.0.9", "h1"), 0);
    assert_int_equal(t_subnet(t, 300, "10.1.0.0/16", "10.1.0.9"), STRATA_ECONFLICT); /* overlap */
    assert_int_equal(t_vnet(t, 400, "other", "y"), 0);
    assert_int_equal(t_subnet(t, 400, "10.7.0.0/24", NULL), 0);
    assert_int_equal(t_ep(t, 400, "02:00:00:00:00:02", "10.7.0.1", "h1"), 0);
    assert_int_equal(t_subnet(t, 400, "10.8.0.0/24", "10.7.0.1"), STRATA_EINVAL); /* outside */
    assert_int_equal(t_subnet(t, 400, "10.7.0.0/16", "10.7.0.1"), STRATA_ECONFLICT);
    /* policies: both VNs in the named domain, and two different ones */
    assert_int_equal(t_policy(t, "acme", 100, 300, STRATA__V1__VERDICT__VERDICT_ALLOW),
                     STRATA_EINVAL);
    assert_string_equal(t->res.msg, "VNI 300 is in domain other, not acme");
    assert_int_equal(t_policy(t, "other", 100, 300, STRATA__V1__VERDICT__VERDICT_ALLOW),
                     STRATA_EINVAL);
    assert_string_equal(t->res.msg, "VNI 100 is in domain acme, not other");
    assert_int_equal(t_policy(t, "acme", 100, 100, STRATA__V1__VERDICT__VERDICT_ALLOW),
                     STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "to itself"));
}

static void test_gw_addr_limit(void **state)
{
    struct t_fsm *t = *state;
    char cidr[32], gw[32];
    for (int i = 0; i < STRATA_MAX_IPS - 1; i++) { /* VN 200 has one already */
        snprintf(cidr, sizeof(cidr), "10.20.%d.0/24", i);
        snprintf(gw, sizeof(gw), "10.20.%d.1", i);
        assert_int_equal(t_subnet(t, 200, cidr, gw), 0);
    }
    assert_int_equal(t_subnet(t, 200, "10.21.0.0/24", "10.21.0.1"), STRATA_EINVAL);
    assert_non_null(strstr(t->res.msg, "gateway addresses"));
    assert_int_equal(t_subnet(t, 200, "10.21.0.0/24", NULL), 0);
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V200, 1), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs1"), 0);
    assert_int_equal(gwep(t, 200)->n_ips, STRATA_MAX_IPS);
}

static void test_policy_delete(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_policy_del(t, "acme", 100, 200), STRATA_ENOTFOUND);
    assert_string_equal(t->res.msg, "no policy from VNI 100 to VNI 200 in domain acme");
    assert_int_equal(t_policy_del(t, "nope", 100, 200), STRATA_ENOTFOUND);
    assert_int_equal(t_policy(t, "acme", 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW), 0);
    assert_int_equal(t_policy(t, "acme", 200, 100, STRATA__V1__VERDICT__VERDICT_DENY), 0);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), STRATA__V1__VERDICT__VERDICT_ALLOW);
    /* a gateway serving 100 sees both rules naming it */
    Strata__V1__VnInfoReply vi;
    assert_int_equal(dir_fsm_vn_info(t->f, 100, &vi), 0);
    assert_int_equal(vi.n_policies, 2);
    assert_int_equal(vi.policies[0]->from_vni, 100);
    assert_int_equal(vi.policies[1]->from_vni, 200);
    dir_fsm_vn_info_release(&vi);
    assert_int_equal(dir_fsm_vn_info(t->f, 300, &vi), 0);
    assert_int_equal(vi.n_policies, 0);
    dir_fsm_vn_info_release(&vi);
    assert_int_equal(t_policy_del(t, "other", 100, 200), STRATA_ENOTFOUND); /* not its domain */
    t_clear_changes(t);
    assert_int_equal(t_policy_del(t, "acme", 100, 200), 0);
    assert_int_equal(t->nchg, 1);
    assert_int_equal(t->chg[0]->kind, STRATA__V1__OBJ_KIND__OBJ_POLICY);
    assert_true(t->chg[0]->deleted);
    assert_int_equal(t->chg[0]->policy->from_vni, 100);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), STRATA__V1__VERDICT__VERDICT_DENY);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_POLICY), 1);
    assert_int_equal(t_policy_del(t, "acme", 100, 200), STRATA_ENOTFOUND);
}

/* Liveness and held addresses survive a snapshot; a snapshot whose gateway endpoint disagrees
 * with its gateways is refused; one from before liveness existed loads with none live. */
static void test_snapshot(void **state)
{
    struct t_fsm *t = *state;
    assert_int_equal(t_gw(t, "gw2", "10.9.0.2", V100_200, 2), 0);
    assert_int_equal(t_gw(t, "gw1", "10.9.0.1", V100_200, 2), 0);
    assert_int_equal(t_gw_live(t, "gw2", true, "cs1"), 0);
    assert_int_equal(t_gw_live(t, "gw1", true, "cs2"), 0); /* gw2 keeps holding: sticky */
    uint8_t *buf;
    size_t len;
    struct strata_err e = {0};
    assert_int_equal(dir_fsm_snapshot(t->f, &buf, &len, &e), 0);
    struct t_fsm *c = t_new();
    assert_int_equal(dir_fsm_restore(c->f, buf, len, &e), 0);
    char *d1 = dir_fsm_dump(t->f), *d2 = dir_fsm_dump(c->f);
    assert_string_equal(d1, d2);
    assert_non_null(strstr(d2, "live=1 csd=cs2"));
    free(d1);
    free(d2);
    assert_true(dir_fsm_gateway(c->f, "gw1")->live);
    assert_string_equal(dir_fsm_gateway(c->f, "gw1")->csd, "cs2");
    assert_string_equal(holder(c, 100), "gw2");
    /* the restored copy goes on like the original: stickiness came through */
    c->index = t->index;
    assert_int_equal(t_gw_live(c, "gw2", false, "cs1"), 0);
    assert_string_equal(holder(c, 100), "gw1");
    t_free(c);
    Strata__V1__DirSnapshot *s = strata__v1__dir_snapshot__unpack(NULL, len, buf);
    assert_non_null(s);
    /* tampered: gw2 not live, yet holding */
    assert_string_equal(s->gateways[1]->id, "gw2");
    s->gateways[1]->live = false;
    uint8_t *b2 = malloc(strata__v1__dir_snapshot__get_packed_size(s));
    size_t l2 = strata__v1__dir_snapshot__pack(s, b2);
    c = t_new();
    assert_int_equal(dir_fsm_restore(c->f, b2, l2, &e), STRATA_EPROTO);
    assert_non_null(strstr(e.msg, "gateway endpoint"));
    free(b2);
    /* from before liveness: no gateway live, no gateway endpoint; loads, and works */
    for (size_t i = 0; i < s->n_gateways; i++) {
        s->gateways[i]->live = false;
        s->gateways[i]->csd[0] = '\0';
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n_endpoints; i++)
        if (!strata_mac_is_gw(s->endpoints[i]->mac.data))
            s->endpoints[k++] = s->endpoints[i];
    size_t nold = s->n_endpoints;
    s->n_endpoints = k;
    b2 = malloc(strata__v1__dir_snapshot__get_packed_size(s));
    l2 = strata__v1__dir_snapshot__pack(s, b2);
    s->n_endpoints = nold;
    assert_int_equal(dir_fsm_restore(c->f, b2, l2, &e), 0);
    assert_null(gwep(c, 100));
    c->index = t->index;
    assert_int_equal(t_gw_live(c, "gw2", true, "cs1"), 0);
    assert_string_equal(holder(c, 100), "gw2");
    free(b2);
    t_free(c);
    strata__v1__dir_snapshot__free_unpacked(s, NULL);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mac),
        cmocka_unit_test_setup_teardown(test_holder_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gw_addr_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_fsm_query.c - verdicts, resolve (IPv4, IPv6, MAC, across VNs), lists, counts, dedup. */
#include "dir_fsm_testutil.h"

#define MAC1 "02:00:00:00:00:01"
#define MAC2 "02:00:00:00:00:02"

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

static void test_verdict(void **state)
{
    struct t_fsm *t = *state;
    const Strata__V1__Verdict A = STRATA__V1__VERDICT__VERDICT_ALLOW;
    const Strata__V1__Verdict D = STRATA__V1__VERDICT__VERDICT_DENY;
    const Strata__V1__Verdict U = STRATA__V1__VERDICT__VERDICT_UNKNOWN;
    assert_int_equal(dir_fsm_verdict(t->f, 100, 100), A);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), D); /* same domain, no rule */
    assert_int_equal(dir_fsm_verdict(t->f, 100, 300), D); /* different domains */
    assert_int_equal(dir_fsm_verdict(t->f, 100, 999), U);
    assert_int_equal(dir_fsm_verdict(t->f, 999, 100), U);
    assert_int_equal(t_policy(t, "acme", 200, 100, A), 0);
    assert_int_equal(dir_fsm_verdict(t->f, 200, 100), A);
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), D);
    assert_int_equal(t_policy(t, "acme", 100, 200, D), 0); /* an explicit deny */
    assert_int_equal(dir_fsm_verdict(t->f, 100, 200), D);
}

static void resolve(struct t_fsm *t, uint32_t vni, const char *ip, const char *mac, uint32_t from,
                    Strata__V1__ResolveAnswer *ans)
{
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    struct strata_ip a;
    uint8_t m[6];
    q.vni = vni;
    q.from_vni = from;
    if (ip)
        q.ip = t_ipb(ip, &a);
    if (mac) {
        t_mac(mac, m);
        q.mac.data = m;
        q.mac.len = 6;
    }
    dir_fsm_resolve(t->f, &q, ans);
}

static void test_resolve(void **state)
{
    struct t_fsm *t = *state;
    Strata__V1__ResolveAnswer ans;
    char a[STRATA_IP_STRLEN], m[STRATA_MAC_STRLEN];
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7,fd00:1::7", "h1"), 0);
    uint64_t v1 = t->res.index;
    assert_int_equal(t_ep(t, 300, MAC2, "10.1.0.7", "h2"), 0); /* same IP, other VN */
    uint64_t v2 = t->res.index;
    assert_int_equal(t_policy(t, "acme", 200, 100, STRATA__V1__VERDICT__VERDICT_ALLOW), 0);

    resolve(t, 100, "10.1.0.7", NULL, 0, &ans);
    assert_int_equal(ans.status, 0);
    assert_true(ans.found);
    assert_string_equal(strata_mac_format(ans.endpoint->mac.data, m), MAC1);
    assert_string_equal(t_ipstr(&ans.endpoint->vtep, a), "192.168.0.1");
    assert_int_equal(ans.version, v1);
    assert_int_equal(ans.verdict, STRATA__V1__VERDICT__VERDICT_ALLOW);

    resolve(t, 100, "fd00:1::7", NULL, 0, &ans); /* IPv6 */
    assert_true(ans.found);
    assert_string_equal(strata_mac_format(ans.endpoint->mac.data, m), MAC1);

    resolve(t, 300, "10.1.0.7", NULL, 0, &ans); /* overlapping space: VN 300's owner */
    assert_true(ans.found);
    assert_string_equal(strata_mac_format(ans.endpoint->mac.data, m), MAC2);
    assert_string_equal(ans.endpoint->host, "h2");
    assert_int_equal(ans.version, v2);

    resolve(t, 100, NULL, MAC1, 0, &ans); /* by MAC */
    assert_true(ans.found);
    assert_int_equal(ans.endpoint->n_ips, 2);

    resolve(t, 100, "10.1.0.7", NULL, 200, &ans); /* 200 -> 100 allowed by rule */
    assert_int_equal(ans.verdict, STRATA__V1__VERDICT__VERDICT_ALLOW);
    resolve(t, 100, "10.1.0.7", NULL, 300, &ans); /* other domain */
    assert_true(ans.found);
    assert_int_equal(ans.verdict, STRATA__V1__VERDICT__VERDICT_DENY);
    resolve(t, 200, "10.1.0.7", NULL, 100, &ans); /* not there: negative */
    assert_false(ans.found);
    assert_int_equal(ans.status, 0);
    assert_null(ans.endpoint);
    assert_int_equal(ans.version, dir_fsm_applied(t->f));
    assert_int_equal(ans.negative_ttl_ms, 2000);
    resolve(t, 100, "fd00:1::8", NULL, 0, &ans);
    assert_false(ans.found);
    resolve(t, 100, NULL, MAC2, 0, &ans);
    assert_false(ans.found);

    resolve(t, 999, "10.1.0.7", NULL, 0, &ans);
    assert_int_equal(ans.status, STRATA_ENOTFOUND);
    assert_non_null(strstr(ans.message, "VNI"));
    assert_false(ans.found);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    q.vni = 100;
    dir_fsm_resolve(t->f, &q, &ans);
    assert_int_equal(ans.status, STRATA_EINVAL);
    uint8_t three[3] = {1, 2, 3};
    q.ip.data = three;
    q.ip.len = 3;
    dir_fsm_resolve(t->f, &q, &ans);
    assert_int_equal(ans.status, STRATA_EINVAL);

    /* a move is visible at once, with the new version */
    assert_int_equal(t_move(t, 100, MAC1, "h2"), 0);
    resolve(t, 100, "10.1.0.7", NULL, 0, &ans);
    assert_string_equal(t_ipstr(&ans.endpoint->vtep, a), "192.168.0.2");
    assert_int_equal(ans.version, t->res.index);
}

static void test_list(void **state)
{
    struct t_fsm *t = *state;
    Strata__V1__ListReply l;
    char m[STRATA_MAC_STRLEN];
    assert_int_equal(t_ep(t, 300, MAC2, "10.1.0.9", "h2"), 0);
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.8", "h1"), 0);
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7", "h1"), 0);
    /* Sorted by (VNI, MAC) as numbers: the first MAC byte weighs most (not the last). */
    assert_int_equal(t_ep(t, 100, "00:00:00:00:00:ff", "10.1.0.6", "h1"), 0);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, 0, &l), 0);
    assert_int_equal(l.n_endpoints, 4);
    assert_int_equal(l.applied_index, dir_fsm_applied(t->f));
    assert_int_equal(l.endpoints[0]->vni, 100);
    assert_string_equal(strata_mac_format(l.endpoints[0]->mac.data, m), "00:00:00:00:00:ff");
    assert_string_equal(strata_mac_format(l.endpoints[1]->mac.data, m), MAC1);
    assert_string_equal(strata_mac_format(l.endpoints[2]->mac.data, m), MAC2);
    assert_int_equal(l.endpoints[3]->vni, 300);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, 300, &l), 0);
    assert_int_equal(l.n_endpoints, 1);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, 999, &l),
                     STRATA_ENOTFOUND);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_SUBNET, 100, &l), 0);
    assert_int_equal(l.n_subnets, 2);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_SUBNET, 0, &l), 0);
    assert_int_equal(l.n_subnets, 4);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_VNET, 0, &l), 0);
    assert_int_equal(l.n_vnets, 3);
    assert_int_equal(l.vnets[0]->vni, 100);
    assert_int_equal(l.vnets[2]->vni, 300);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN, 0, &l), 0);
    assert_int_equal(l.n_domains, 2);
    assert_string_equal(l.domains[0]->name, "acme");
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_HOST, 0, &l), 0);
    assert_int_equal(l.n_hosts, 2);
    assert_string_equal(l.hosts[1]->id, "h2");
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, 0, &l), 0);
    assert_int_equal(l.n_gateways, 0);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_POLICY, 0, &l), 0);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_MEMBER, 0, &l), 0);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_list(t->f, STRATA__V1__OBJ_KIND__OBJ_NONE, 0, &l), STRATA_EINVAL);
    dir_fsm_list_release(&l);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), 4);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_VNET), 3);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_HOST), 2);
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_NONE), 0);
}

/* The same (client, req) applied twice: one change, the same result, duplicate set. */
static void test_dedup(void **state)
{
    struct t_fsm *t = *state;
    t->client_id = 77;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7", "h1"), 0);
    struct dir_result first = t->res;
    size_t nchg = t->nchg;
    assert_false(first.duplicate);
    t->req_id--; /* replay the same request id */
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.7", "h1"), 0);
    assert_true(t->res.duplicate);
    assert_int_equal(t->res.index, first.index);
    assert_int_equal(t->nchg, nchg);
    /* a replay is not re-evaluated: even a different body gets the first result */
    t->req_id--;
    assert_int_equal(t_ep(t, 100, MAC1, "10.1.0.99", "h2"), 0);
    assert_true(t->res.duplicate);
    const uint8_t mac1[6] = {2, 0, 0, 0, 0, 1};
    assert_string_equal(dir_fsm_endpoint_by_mac(t->f, 100, mac1)->host, "h1");
    /* failures are remembered too */
    assert_int_equal(t_domain(t, "acme"), STRATA_EEXIST);
    struct dir_result fail = t->res;
    t->req_id--;
    assert_int_equal(t_domain(t, "acme"), STRATA_EEXIST);
    assert_true(t->res.duplicate);
    assert_string_equal(t->res.msg, fail.msg);
    assert_int_equal(t->res.index, fail.index);
    /* another client with the same req id is a different write */
    t->client_id = 78;
    t->req_id = 0;
    assert_int_equal(t_ep(t, 100, MAC2, "10.1.0.8", "h1"), 0);
    assert_false(t->res.duplicate);
    /* client 0: never deduplicated */
    t->client_id = 0;
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = "zeta";
    c.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    c.domain_create = &d;
    assert_int_equal(t_apply(t, &c), 0);
    assert_int_equal(t_apply(t, &c), STRATA_EEXIST);
    assert_false(t->res.duplicate);
}

/* The dedup memory is bounded: the oldest entries are forgotten first. */
static void test_dedup_bound(void **state)
{
    struct t_fsm *t = *state;
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__MemberSet m = STRATA__V1__MEMBER_SET__INIT;
    m.id = 1;
    m.raft = "127.0.0.1:9001";
    m.api = "";
    c.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    c.member_set = &m;
    c.client_id = 5;
    struct dir_result res;
    for (uint64_t i = 1; i <= DIR_FSM_DEDUP_MAX + 10; i++) {
        c.req_id = i;
        dir_fsm_apply_cmd(t->f, t->index++, &c, &res);
        assert_false(res.duplicate);
    }
    c.req_id = 11; /* still remembered */
    dir_fsm_apply_cmd(t->f, t->index++, &c, &res);
    assert_true(res.duplicate);
    c.req_id = 10; /* forgotten: applied again, which pushes 11 out */
    dir_fsm_apply_cmd(t->f, t->index++, &c, &res);
    assert_false(res.duplicate);
    c.req_id = 11;
    dir_fsm_apply_cmd(t->f, t->index++, &c, &res);
    assert_false(res.duplicate);
    c.req_id = DIR_FSM_DEDUP_MAX + 10;
    dir_fsm_apply_cmd(t->f, t->index++, &c, &res);
    assert_true(res.duplicate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_fsm_scale.c - 100k endpoints: apply, resolve and snapshot at scale (prints the rates). */
#include <time.h>

#include "dir_fsm_testutil.h"

#define N_VNS 100
#define N_HOSTS 1000
#define N_EPS 100000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ep_ip(uint32_t i, struct strata_ip *ip)
{
    memset(ip, 0, sizeof(*ip));
    ip->family = 4;
    ip->a[0] = 10;
    ip->a[1] = (uint8_t)(i % N_VNS);
    ip->a[2] = (uint8_t)((i / N_VNS + 1) >> 8); /* + 1: 10.v.0.0 is the subnet's network address */
    ip->a[3] = (uint8_t)(i / N_VNS + 1);
}

static void test_scale(void **state)
{
    (void)state;
    struct t_fsm *t = t_new();
    dir_fsm_set_change_hook(t->f, NULL, NULL); /* measure the FSM, not the recorder */
    char name[64], addr[64];
    assert_int_equal(t_domain(t, "acme"), 0);
    for (uint32_t v = 0; v < N_VNS; v++) {
        assert_int_equal(t_vnet(t, 1000 + v, "acme", "vn"), 0);
        snprintf(addr, sizeof(addr), "10.%u.0.0/16", v);
        assert_int_equal(t_subnet(t, 1000 + v, addr, NULL), 0);
    }
    for (uint32_t h = 0; h < N_HOSTS; h++) {
        snprintf(name, sizeof(name), "host%u", h);
        snprintf(addr, sizeof(addr), "172.16.%u.%u", h / 250, 1 + h % 250);
        assert_int_equal(t_host(t, name, addr, "pod"), 0);
    }
    double t0 = now_s();
    for (uint32_t i = 0; i < N_EPS; i++) {
        Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
        Strata__V1__Endpoint e = STRATA__V1__ENDPOINT__INIT;
        uint8_t mac[6] = {2, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        struct strata_ip ip;
        ep_ip(i, &ip);
        ProtobufCBinaryData b = {4, ip.a};
        snprintf(name, sizeof(name), "host%u", (i * 7) % N_HOSTS);
        e.vni = 1000 + i % N_VNS;
        e.mac.data = mac;
        e.mac.len = 6;
        e.ips = &b;
        e.n_ips = 1;
        e.host = name;
        c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
        c.endpoint_add = &e;
        c.client_id = 1;
        c.req_id = i + 1;
        if (t_apply(t, &c) != 0)
            fail_msg("endpoint %u: %s", i, t->res.msg);
    }
    double t1 = now_s();
    assert_int_equal(dir_fsm_count(t->f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), N_EPS);
    size_t found = 0;
    const int rounds = 3;
    for (int r = 0; r < rounds; r++) {
        for (uint32_t i = 0; i < N_EPS; i++) {
            Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
            Strata__V1__ResolveAnswer a;
            struct strata_ip ip;
            ep_ip(i, &ip);
            q.vni = 1000 + i % N_VNS;
            q.ip.data = ip.a;
            q.ip.len = 4;
            dir_fsm_resolve(t->f, &q, &a);
            found += a.found && a.endpoint->mac.data[5] == (uint8_t)i;
        }
    }
    double t2 = now_s();
    assert_int_equal(found, (size_t)rounds * N_EPS);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dir_fsm_snapshot(t->f, &buf, &len, NULL), 0);
    double t3 = now_s();
    struct dir_fsm *c = dir_fsm_new();
    assert_int_equal(dir_fsm_restore(c, buf, len, NULL), 0);
    double t4 = now_s();
    assert_int_equal(dir_fsm_count(c, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT), N_EPS);
    print_message("%d endpoints: apply %.0f/s, resolve %.0f/s, snapshot %zu bytes in %.2fs, "
                  "restore %.2fs\n",
                  N_EPS, N_EPS / (t1 - t0), rounds * N_EPS / (t2 - t1), len, t3 - t2, t4 - t3);
    free(buf);
    dir_fsm_free(c);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

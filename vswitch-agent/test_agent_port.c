/* test_agent_port.c - the ports file and the restart path: a restarted agent reads its ports,
 * recreates (or reuses its own) devices and enslaves them, and drops the devices of VNs whose last
 * port went away while it was down. In-memory datapath: no root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"

static uint64_t clock_ms(void)
{
    return 1;
}

static int never_resolve(void *ctx, const struct node_key *k)
{
    (void)k;
    (*(int *)ctx)++;
    return 0;
}

static void test_restore_from_ports_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/agent-port-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct agentd d;
    struct node core;
    memset(&d, 0, sizeof(d));
    d.a = &core;
    snprintf(d.state_path, sizeof(d.state_path), "%s/ports", dir);
    FILE *f = fopen(d.state_path, "w");
    assert_non_null(f);
    fprintf(f, "tva 100 02:00:00:00:01:01 10.1.0.1/24\n"
               "garbage line\n"
               "tvb 200 02:00:00:00:02:01 10.1.0.1/24\n"
               "tvc 100 02:00:00:00:01:03 10.1.0.3/24\n"
               "bad 0 02:00:00:00:01:04 10.1.0.4/24\n");
    fclose(f);
    struct strata_err e;
    assert_int_equal(agent_port_load(&d, &e), 0);
    assert_int_equal(d.n_ports, 3);
    size_t n;
    uint32_t *v = agent_port_vnis(&d, &n);
    assert_int_equal(n, 2);

    struct node_dp_mem *m = node_dp_mem_new();
    int asked = 0;
    struct strata_ip self;
    assert_int_equal(strata_ip_parse("192.0.2.1", &self, NULL), 0);
    struct node_resolver res = {never_resolve, &asked};
    assert_int_equal(node_init(d.a, node_dp_mem(m), res, &self, 1000, clock_ms), 0);
    /* A VN whose last port left while the agent was down, with an owned entry. */
    struct strata_ip ip;
    uint8_t mac[6] = {2, 0, 0, 0, 3, 1};
    assert_int_equal(strata_ip_parse("10.3.0.1", &ip, NULL), 0);
    node_dp_mem_put_neigh(m, 300, &ip, mac, true);
    assert_int_equal(node_reconcile(d.a, v, n, &e), 0);
    assert_false(node_dp_mem_vn(m, 300));
    assert_int_equal(agent_port_restore(&d, &e), 0);
    assert_true(node_dp_mem_vn(m, 100));
    assert_true(node_dp_mem_vn(m, 200));
    assert_true(node_dp_mem_port(m, 100, "tva"));
    assert_true(node_dp_mem_port(m, 100, "tvc"));
    assert_true(node_dp_mem_port(m, 200, "tvb"));
    assert_int_equal(node_vn_find(d.a, 100)->ports, 2);
    assert_int_equal(node_vn_find(d.a, 200)->ports, 1);
    /* Restoring twice changes nothing in the datapath (idempotent). */
    uint64_t w = node_dp_mem_writes(m);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(
            d.a->dp.ops->port_enslave(d.a->dp.ctx, d.ports[i].vni, d.ports[i].ifname, &e), 0);
    assert_int_equal(node_dp_mem_writes(m), w);

    free(v);
    free(d.ports);
    node_fini(d.a);
    node_dp_mem_free(m);
    unlink(d.state_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_restore_from_ports_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

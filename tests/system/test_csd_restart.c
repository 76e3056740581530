/* test_csd_restart.c - a connectivity server killed (SIGKILL) and restarted under 1,000 simulated
 * agents converges (issue 23): every agent (bench/lib/storm_agents.c: the real agent's client and
 * core, each on its own connection, address and, with TLS, certificate) registers again, its
 * long-poll parks at the new server, and every agent resolves an address again, within a
 * generous bound after the kill (the server stays down DOWN_MS first, so every agent is backing
 * off when it returns, as strata-agentd does: node/node_csd.c). One strata-dird, one strata-csd,
 * all on loopback; hosts and ports are provisioned before the agents start. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirclient.h"
#include "h_tls.h"
#include "harness.h"
#include "log.h"
#include "loop.h"
#include "storm_agents.h"

#define N_AGENTS 1000
#define VNI 300
#define DOWN_MS 3000   /* the server stays dead this long */
#define BOUND_MS 30000 /* restart to converged: generous (measured: see docs/reliability.md) */

static char DIR_API[64], CS_URL[64], CS_LOG[300], CS_METRICS[32];
static int CS_PORT, CS_METRICS_PORT;
static pid_t CSD;
static const char *TMP;

static int cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli(const char *fmt, ...)
{
    char args[512], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s --directory %s %s", h_bin("strata"), DIR_API, args);
    char *out = NULL;
    int rc = h_run(line, &out);
    if (rc != 0)
        fprintf(stderr, "%s: exit %d: %s\n", line, rc, out ? out : "");
    free(out);
    return rc;
}

static void csd_spawn(void)
{
    char *argv[24] = {(char *)h_bin("strata-csd"),
                      "--id",
                      "cs1",
                      "--pod",
                      "p1",
                      "--listen",
                      CS_URL,
                      "--directory",
                      DIR_API,
                      "--metrics",
                      CS_METRICS};
    int n = 11;
    h_tls_argv(argv, &n, "connectivity", "cs1", NULL);
    argv[n] = NULL;
    CSD = h_spawn(argv, CS_LOG);
}

/* The pod as it stands before its server restarts: every host and its port already in the
 * directory (two batched writes, where 2,000 single ones would be the agents' cold start). */
static int seed(void)
{
    struct strata_dirclient *dc;
    struct strata_err e;
    if (strata_dirclient_open(DIR_API, &dc, &e) != 0) {
        fprintf(stderr, "seed: %s\n", e.msg);
        return -1;
    }
    static Strata__V1__Command cmd[N_AGENTS], *cmdp[N_AGENTS];
    static Strata__V1__Host host[N_AGENTS];
    static Strata__V1__Endpoint ep[N_AGENTS];
    static char names[N_AGENTS][32];
    static uint8_t macs[N_AGENTS][6];
    static struct strata_ip ips[N_AGENTS], vteps[N_AGENTS];
    static ProtobufCBinaryData ipb[N_AGENTS];
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (unsigned i = 0; i < N_AGENTS; i++) {
            storm_agent_host("h", i, names[i], sizeof(names[i]));
            storm_agent_addr(i, macs[i], &ips[i], &vteps[i]);
            strata__v1__command__init(&cmd[i]);
            cmdp[i] = &cmd[i];
            if (pass == 0) {
                strata__v1__host__init(&host[i]);
                host[i].id = names[i];
                host[i].vtep = (ProtobufCBinaryData){4, vteps[i].a};
                host[i].pod = (char *)"p1";
                cmd[i].op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
                cmd[i].host_add = &host[i];
            } else {
                strata__v1__endpoint__init(&ep[i]);
                ep[i].vni = VNI;
                ep[i].mac = (ProtobufCBinaryData){6, macs[i]};
                ipb[i] = (ProtobufCBinaryData){4, ips[i].a};
                ep[i].ips = &ipb[i];
                ep[i].n_ips = 1;
                ep[i].host = names[i];
                cmd[i].op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
                cmd[i].endpoint_add = &ep[i];
            }
        }
        Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
        wb.cmds = cmdp;
        wb.n_cmds = N_AGENTS;
        strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
        req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
        req.write_batch = &wb;
        rc = strata_dirclient_call(dc, &req, 30000, &rep, &e);
        for (size_t j = 0; rc == 0 && j < rep->write_batch_reply->n_results; j++)
            if (rep->write_batch_reply->results[j]->status != 0) {
                rc = -1;
                snprintf(e.msg, sizeof(e.msg), "%s", rep->write_batch_reply->results[j]->message);
            }
        if (rc != 0)
            fprintf(stderr, "seed pass %d: %s\n", pass, e.msg);
        if (rep != NULL)
            strata_msg_free(rep);
    }
    strata_dirclient_close(dc);
    return rc;
}

static double csd_parked(void)
{
    char *text = h_http_get(CS_METRICS_PORT, "/metrics");
    double v = text != NULL ? h_metric(text, "strata_cs_parked") : -1;
    free(text);
    return v;
}

static int setup(void **state)
{
    (void)state;
    /* Plaintext: 1,000 TLS handshakes on each side take the clients' one thread and the
     * server's tens of seconds under the sanitizers on 2 shared cores, and what this test is
     * about (a server that lost everything, agents backing off and coming back) does not depend
     * on them; storm-bench measures the TLS storm on a release build (docs/benchmarks.md). */
    h_tls_force(false);
    TMP = h_tmpdir("csd-restart");
    h_tls_operator(); /* the CLI's certificate, when TLS is on */
    char raft[32], ddir[400], log[400], cluster[64];
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", h_free_port());
    snprintf(DIR_API, sizeof(DIR_API), "%s127.0.0.1:%d", h_tls_scheme(), h_free_port());
    snprintf(ddir, sizeof(ddir), "%s/dird", TMP);
    snprintf(log, sizeof(log), "%s/dird.log", TMP);
    snprintf(cluster, sizeof(cluster), "1=%s", raft);
    char *argv[24] = {(char *)h_bin("strata-dird"),
                      "--id",
                      "1",
                      "--data-dir",
                      ddir,
                      "--raft",
                      raft,
                      "--api",
                      DIR_API,
                      "--cluster",
                      cluster};
    int n = 11;
    h_tls_argv(argv, &n, "directory", "1", NULL);
    argv[n] = NULL;
    if (h_spawn(argv, log) <= 0 || !h_wait_until(h_dir_has_leader, DIR_API, 20000))
        return -1;
    if (cli("domain create d1") != 0 || cli("vnet create --vni %d --domain d1", VNI) != 0 ||
        cli("subnet create --vni %d --cidr 10.200.0.0/16 --gateway 10.200.255.254", VNI) != 0 ||
        seed() != 0)
        return -1;
    CS_PORT = h_free_port();
    CS_METRICS_PORT = h_free_port();
    snprintf(CS_URL, sizeof(CS_URL), "%s127.0.0.1:%d", h_tls_scheme(), CS_PORT);
    snprintf(CS_METRICS, sizeof(CS_METRICS), "127.0.0.1:%d", CS_METRICS_PORT);
    snprintf(CS_LOG, sizeof(CS_LOG), "%s/csd.log", TMP);
    csd_spawn();
    return CSD > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_cleanup();
    return 0;
}

/* Wait until every agent registered after since_us and the server holds N parked polls; the
 * moment (strata_now_us), or 0 at the deadline. */
static uint64_t wait_registered(struct storm_agents *ag, uint64_t *t, uint64_t since_us,
                                unsigned timeout_ms, unsigned *regs)
{
    uint64_t deadline = strata_now_ms() + timeout_ms;
    while (strata_now_ms() < deadline) {
        storm_agents_registered(ag, t);
        *regs = 0;
        for (unsigned i = 0; i < N_AGENTS; i++)
            *regs += t[i] > since_us;
        if (*regs == N_AGENTS && csd_parked() >= N_AGENTS)
            return strata_now_us();
        usleep(20 * 1000);
    }
    return 0;
}

/* Ask every agent to resolve its successor's address; the moment all had an answer installed,
 * or 0 at the deadline. */
static uint64_t resolve_all(struct storm_agents *ag, uint64_t *t, unsigned timeout_ms,
                            unsigned *got)
{
    uint64_t since = strata_now_us();
    storm_agents_resolve(ag);
    uint64_t deadline = strata_now_ms() + timeout_ms;
    while (strata_now_ms() < deadline) {
        storm_agents_answered(ag, t);
        *got = 0;
        for (unsigned i = 0; i < N_AGENTS; i++)
            *got += t[i] > since;
        if (*got == N_AGENTS)
            return strata_now_us();
        usleep(20 * 1000);
    }
    return 0;
}

static void test_csd_kill9_restart_converges(void **state)
{
    (void)state;
    static uint64_t t[N_AGENTS];
    struct strata_tls **tls = NULL;
    if (h_tls()) {
        tls = calloc(N_AGENTS, sizeof(*tls));
        assert_non_null(tls);
        for (unsigned i = 0; i < N_AGENTS; i++) {
            char host[32];
            storm_agent_host("h", i, host, sizeof(host));
            tls[i] = h_tls_ctx("agent", host);
            assert_non_null(tls[i]);
        }
    }
    strata_log_init("agents", STRATA_LOG_WARN); /* 1,000 agents' registrations are not news */
    struct storm_agents_opts o = {.url = CS_URL,
                                  .n = N_AGENTS,
                                  .prefix = "h",
                                  .tls = tls,
                                  /* strata-agentd's are 500 and 1000: under the
                                   * sanitizers, with the server and all 1,000 clients on 2
                                   * shared cores, a 500 ms deadline turns late replies into
                                   * re-registrations (directory writes) that feed the delay.
                                   * The backoff is the agent's own. */
                                  .call_timeout_ms = 2000,
                                  .poll_wait_ms = 5000,
                                  .vni = VNI};
    struct storm_agents *ag = NULL;
    struct strata_err e;
    uint64_t t0 = strata_now_us();
    if (storm_agents_start(&o, &ag, &e) != 0)
        fail_msg("agents: %s", e.msg);
    unsigned regs = 0, got = 0;
    uint64_t t1 = wait_registered(ag, t, 0, 60000, &regs);
    uint64_t ports_deadline = strata_now_ms() + 30000;
    while (storm_agents_ports(ag) < N_AGENTS && strata_now_ms() < ports_deadline)
        usleep(20 * 1000);
    uint64_t ports = storm_agents_ports(ag);
    print_message("cold: %u agents registered and parked in %.0f ms (%s), %llu ports\n", regs,
                  t1 ? (double)(t1 - t0) / 1000.0 : -1.0, h_tls() ? "TLS" : "plaintext",
                  (unsigned long long)ports);
    assert_true(t1 != 0);
    assert_int_equal(ports, N_AGENTS);
    uint64_t r0 = strata_now_us(), r1 = resolve_all(ag, t, 30000, &got);
    print_message("cold: %u agents resolved in %.0f ms\n", got,
                  r1 ? (double)(r1 - r0) / 1000.0 : -1.0);
    assert_true(r1 != 0);

    /* The fault: SIGKILL, then a server that knows nothing, on the same address. */
    uint64_t t_kill = strata_now_us();
    h_kill9(CSD);
    /* Down for DOWN_MS (a supervisor's restart delay): every agent fails, then backs off. */
    while (strata_now_us() - t_kill < DOWN_MS * 1000ull)
        usleep(50 * 1000);
    uint64_t t_spawn = strata_now_us();
    csd_spawn();
    assert_true(CSD > 0);
    got = 0;
    uint64_t t_back = wait_registered(ag, t, t_kill, BOUND_MS, &regs);
    double reg_ms = t_back ? (double)(t_back - t_kill) / 1000.0 : -1.0;
    print_message("restart: server down %.0f ms; all registered again %.0f ms after its start\n",
                  (double)(t_spawn - t_kill) / 1000.0,
                  t_back ? (double)(t_back - t_spawn) / 1000.0 : -1.0);
    uint64_t a0 = strata_now_us(), a1 = t_back ? resolve_all(ag, t, BOUND_MS, &got) : 0;
    double res_ms = a1 ? (double)(a1 - t_kill) / 1000.0 : -1.0;
    print_message("restart (kill -9): %u/%d agents registered again and parked in %.0f ms; "
                  "%u/%d resolved again %.0f ms after the kill (%.0f ms for the resolves)\n",
                  regs, N_AGENTS, reg_ms, got, N_AGENTS, res_ms,
                  a1 ? (double)(a1 - a0) / 1000.0 : -1.0);
    assert_true(t_back != 0);
    assert_true(a1 != 0);
    assert_true(res_ms <= BOUND_MS);
    storm_agents_stop(ag);
    free(tls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csd_kill9_restart_converges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_cs_server.c - strata-csd against a real 3-node strata-dird cluster on loopback, spoken to
 * with the agent protocol directly: miss then hit, targeted pushes on move and delete, refusals,
 * a connectivity server dying under its agents, the directory leader dying under the cache, and
 * every message type answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above */
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "addr.h"
#include "client.h"
#include "dirclient.h"
#include "h_tls.h"
#include "harness.h"
#include "msg.h"
#include "sweep.h"

#define NODES 3

static struct {
    char raft[NODES][32], api[NODES][64], dirs[NODES][256], logs[NODES][256];
    pid_t dird[NODES];
    char urls[256];
    char cs_url[2][64], cs_log[2][256];
    int metrics_port[2]; /* each csd serves --metrics on 127.0.0.1 */
    pid_t csd[2];
    struct strata_dirclient *dc;
    uint64_t session[3]; /* h1, h2 at cs1; h1 at cs2 */
} T;

/* ---------------------------------------------------------------- plumbing */

static strata_env *call(const char *url, strata_env *req, unsigned timeout_ms)
{
    struct strata_sclient *c;
    struct strata_err e;
    strata_env *rep = NULL;
    if (strata_sclient_open_tls(url, h_tls_ident(req->identity), &c, &e) != 0)
        return NULL;
    if (strata_sclient_call(c, req, timeout_ms, &rep, &e) != 0)
        rep = NULL;
    strata_sclient_close(c);
    return rep;
}

static void dir_write(Strata__V1__Command *cmd)
{
    strata_env *rep = NULL;
    struct strata_err e;
    if (strata_dirclient_write(T.dc, cmd, 20000, &rep, &e) != 0)
        fail_msg("directory write: %s", e.msg);
    strata_msg_free(rep);
}

static void parse_ip(const char *s, uint8_t out[4])
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(s, &ip, NULL), 0);
    memcpy(out, ip.a, 4);
}

static void mac_of(int i, uint8_t mac[6])
{
    uint8_t m[6] = {0x02, 0, 0, 0, 0, (uint8_t)i};
    memcpy(mac, m, 6);
}

static void dir_setup(void)
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = (char *)"t1";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    dir_write(&cmd);
    for (uint32_t vni = 100; vni <= 200; vni += 100) {
        Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
        strata__v1__command__init(&cmd);
        vn.vni = vni;
        vn.domain = (char *)"t1";
        cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
        cmd.vnet_create = &vn;
        dir_write(&cmd);
        uint8_t pfx[4] = {10, (uint8_t)(vni / 100), 0, 0};
        Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
        strata__v1__command__init(&cmd);
        sn.vni = vni;
        sn.prefix.len = 4;
        sn.prefix.data = pfx;
        sn.plen = 24;
        cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
        cmd.subnet_create = &sn;
        dir_write(&cmd);
    }
    const char *hosts[][2] = {{"h3", "192.168.0.3"}, {"h4", "192.168.0.4"}};
    for (int i = 0; i < 2; i++) {
        uint8_t vtep[4];
        parse_ip(hosts[i][1], vtep);
        Strata__V1__Host h = STRATA__V1__HOST__INIT;
        strata__v1__command__init(&cmd);
        h.id = (char *)hosts[i][0];
        h.vtep.len = 4;
        h.vtep.data = vtep;
        h.pod = (char *)"p2";
        cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
        cmd.host_add = &h;
        dir_write(&cmd);
    }
}

/* endpoint MAC 02:..:<i> with one IP on a host, written to the directory directly */
static void dir_endpoint(int i, uint32_t vni, const char *ip, const char *host)
{
    uint8_t mac[6], a[4];
    mac_of(i, mac);
    parse_ip(ip, a);
    ProtobufCBinaryData ips[1] = {{4, a}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    ep.vni = vni;
    ep.mac.len = 6;
    ep.mac.data = mac;
    ep.n_ips = 1;
    ep.ips = ips;
    ep.host = (char *)host;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    dir_write(&cmd);
}

static bool cluster_has_leader(void *arg)
{
    int *leader = arg;
    for (int i = 0; i < NODES; i++) {
        if (T.dird[i] <= 0)
            continue;
        Strata__V1__ClusterStatusRequest sr = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
        req.cluster_status = &sr;
        strata_env *r = call(T.api[i], &req, 1000);
        bool ok = r && r->status == 0 && r->cluster_status_reply->leader_id != 0;
        if (ok)
            *leader = (int)r->cluster_status_reply->leader_id;
        if (r)
            strata_msg_free(r);
        if (ok)
            return true;
    }
    return false;
}

static void start_csd(int i)
{
    char id[16], metrics[32];
    snprintf(id, sizeof(id), "cs%d", i + 1);
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", T.metrics_port[i]);
    char *argv[32] = {(char *)h_bin("strata-csd"),
                      "--id",
                      id,
                      "--pod",
                      "p1",
                      "--listen",
                      T.cs_url[i],
                      "--directory",
                      T.urls,
                      "--negative-ttl-ms",
                      "5000",
                      "--metrics",
                      metrics,
                      NULL};
    h_tls_args(argv, "connectivity", id, NULL);
    T.csd[i] = h_spawn(argv, T.cs_log[i]);
    assert_true(T.csd[i] > 0);
}

static strata_env *cs_show(int i, const char *ident)
{
    Strata__V1__CacheShowRequest cr = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.identity = (char *)ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cr;
    return call(T.cs_url[i], &req, 2000);
}

static bool csd_up(void *arg)
{
    strata_env *r = cs_show(*(int *)arg, "operator");
    bool ok = r && r->status == 0;
    if (r)
        strata_msg_free(r);
    return ok;
}

static strata_env *resolve_at(const char *url, const char *ident, uint32_t vni, const char *ip,
                              int mac_i, unsigned timeout_ms)
{
    uint8_t a[4], mac[6];
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    q.vni = vni;
    if (ip != NULL) {
        parse_ip(ip, a);
        q.ip.data = a;
        q.ip.len = 4;
    } else {
        mac_of(mac_i, mac);
        q.mac.data = mac;
        q.mac.len = 6;
    }
    rr.queries = &qp;
    rr.n_queries = 1;
    req.identity = (char *)ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    return call(url, &req, timeout_ms);
}

static strata_env *host_register(int cs, const char *ident, const char *host, const char *vtep_s)
{
    uint8_t vtep[4];
    parse_ip(vtep_s, vtep);
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    hr.host = (char *)host;
    hr.vtep.data = vtep;
    hr.vtep.len = 4;
    hr.pod = (char *)"p1";
    req.identity = (char *)ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    req.host_register = &hr;
    return call(T.cs_url[cs], &req, 10000);
}

static strata_env *port_register(int cs, const char *ident, int mac_i, const char *ip,
                                 const char *host, const char *vtep_s)
{
    uint8_t mac[6], a[4], vtep[4];
    mac_of(mac_i, mac);
    parse_ip(ip, a);
    ProtobufCBinaryData ips[1] = {{4, a}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    ep.vni = 100;
    ep.mac.data = mac;
    ep.mac.len = 6;
    ep.ips = ips;
    ep.n_ips = 1;
    ep.host = (char *)host;
    if (vtep_s != NULL) {
        parse_ip(vtep_s, vtep);
        ep.vtep.data = vtep;
        ep.vtep.len = 4;
    }
    pr.endpoint = &ep;
    req.identity = (char *)ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
    req.port_register = &pr;
    return call(T.cs_url[cs], &req, 10000);
}

static strata_env *updates(int cs, const char *host, uint64_t session, uint64_t after,
                           unsigned wait_ms)
{
    char ident[80];
    snprintf(ident, sizeof(ident), "host:%s", host);
    Strata__V1__UpdatesRequest ur = STRATA__V1__UPDATES_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    ur.host = (char *)host;
    ur.session = session;
    ur.after_seq = after;
    ur.wait_ms = wait_ms;
    req.identity = ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES;
    req.updates = &ur;
    return call(T.cs_url[cs], &req, wait_ms + 3000);
}

/* Highest seq queued so far for a session (drains without waiting). */
static uint64_t drain(int cs, const char *host, uint64_t session)
{
    uint64_t after = 0;
    for (;;) {
        strata_env *r = updates(cs, host, session, after, 0);
        assert_non_null(r);
        assert_int_equal(r->status, 0);
        size_t n = r->updates_reply->n_updates;
        if (n > 0)
            after = r->updates_reply->updates[n - 1]->seq;
        strata_msg_free(r);
        if (n == 0)
            return after;
    }
}

static bool ip_is(const ProtobufCBinaryData *b, const char *s)
{
    uint8_t a[4];
    parse_ip(s, a);
    return b->len == 4 && memcmp(b->data, a, 4) == 0;
}

/* Wait up to timeout_ms for an update of `kind` about ip; *after advances. Returns it (copied
 * fields) or false. */
static bool wait_update(int cs, const char *host, uint64_t session, uint64_t *after,
                        Strata__V1__UpdateKind kind, const char *ip, const char *want_vtep,
                        int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < deadline) {
        unsigned wait = (unsigned)(deadline - h_now_ms());
        strata_env *r = updates(cs, host, session, *after, wait);
        if (r == NULL || r->status != 0) {
            if (r)
                strata_msg_free(r);
            return false;
        }
        bool hit = false;
        for (size_t i = 0; i < r->updates_reply->n_updates; i++) {
            const Strata__V1__Update *u = r->updates_reply->updates[i];
            *after = u->seq;
            if (u->kind != kind || !ip_is(&u->ip, ip))
                continue;
            if (want_vtep != NULL && (u->endpoint == NULL || !ip_is(&u->endpoint->vtep, want_vtep)))
                continue;
            assert_true(u->committed_us > 0);
            hit = true;
        }
        strata_msg_free(r);
        if (hit)
            return true;
    }
    return false;
}

static uint64_t show_counter(int cs, const char *name)
{
    strata_env *r = cs_show(cs, "operator");
    uint64_t v = UINT64_MAX;
    for (size_t i = 0; r && r->status == 0 && i < r->cache_show_reply->n_counters; i++)
        if (strcmp(r->cache_show_reply->counters[i]->name, name) == 0)
            v = r->cache_show_reply->counters[i]->value;
    if (r)
        strata_msg_free(r);
    return v;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof(T));
    const char *base = h_tmpdir("cs-server");
    h_tls_operator();
    char cluster[256] = "";
    size_t off = 0, uoff = 0;
    for (int i = 0; i < NODES; i++) {
        snprintf(T.raft[i], sizeof(T.raft[i]), "127.0.0.1:%d", h_free_port());
        snprintf(T.api[i], sizeof(T.api[i]), "%s127.0.0.1:%d", h_tls_scheme(), h_free_port());
        snprintf(T.dirs[i], sizeof(T.dirs[i]), "%s/dird%d", base, i + 1);
        snprintf(T.logs[i], sizeof(T.logs[i]), "%s/dird%d.log", base, i + 1);
        off += (size_t)snprintf(cluster + off, sizeof(cluster) - off, "%s%d=%s", i ? "," : "",
                                i + 1, T.raft[i]);
        uoff +=
            (size_t)snprintf(T.urls + uoff, sizeof(T.urls) - uoff, "%s%s", i ? "," : "", T.api[i]);
    }
    for (int i = 0; i < NODES; i++) {
        char id[8];
        snprintf(id, sizeof(id), "%d", i + 1);
        char *argv[32] = {(char *)h_bin("strata-dird"),
                          "--id",
                          id,
                          "--data-dir",
                          T.dirs[i],
                          "--raft",
                          T.raft[i],
                          "--api",
                          T.api[i],
                          "--cluster",
                          cluster,
                          "--election-timeout-ms",
                          "300",
                          "--heartbeat-ms",
                          "50",
                          NULL};
        h_tls_args(argv, "directory", id, NULL);
        T.dird[i] = h_spawn(argv, T.logs[i]);
        assert_true(T.dird[i] > 0);
    }
    int leader = 0;
    assert_true(h_wait_until(cluster_has_leader, &leader, 20000));
    struct strata_err e;
    assert_int_equal(strata_dirclient_open(T.urls, &T.dc, &e), 0);
    dir_setup();
    dir_endpoint(10, 100, "10.1.0.10", "h3"); /* A: resolved by h1, moved, deleted */
    dir_endpoint(13, 100, "10.1.0.13", "h3"); /* D: first asked after the leader dies */
    dir_endpoint(14, 100, "10.1.0.14", "h3"); /* asked by many at once */
    dir_endpoint(20, 200, "10.2.0.20", "h3"); /* in a VN the agents have no port in */
    for (int i = 0; i < 2; i++) {
        snprintf(T.cs_url[i], sizeof(T.cs_url[i]), "%s127.0.0.1:%d", h_tls_scheme(), h_free_port());
        snprintf(T.cs_log[i], sizeof(T.cs_log[i]), "%s/csd%d.log", base, i + 1);
        T.metrics_port[i] = h_free_port();
        start_csd(i);
        int idx = i;
        assert_true(h_wait_until(csd_up, &idx, 10000));
    }
    /* two agents at cs1, each with one port */
    const char *vteps[2] = {"192.168.0.1", "192.168.0.2"};
    for (int i = 0; i < 2; i++) {
        char host[8], ident[16], ip[16];
        snprintf(host, sizeof(host), "h%d", i + 1);
        snprintf(ident, sizeof(ident), "host:%s", host);
        snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
        strata_env *r = host_register(0, ident, host, vteps[i]);
        assert_non_null(r);
        if (r->status != 0)
            fail_msg("HostRegister %s: %s", host, r->message);
        assert_int_equal(r->body_case, STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY);
        T.session[i] = r->host_register_reply->session;
        assert_true(T.session[i] != 0);
        strata_msg_free(r);
        r = port_register(0, ident, i + 1, ip, host, NULL);
        assert_non_null(r);
        if (r->status != 0)
            fail_msg("PortRegister %s: %s", host, r->message);
        strata_msg_free(r);
    }
    return 0;
}

static bool one_parked(void *arg)
{
    (void)arg;
    uint64_t v = show_counter(1, "parked");
    return v != UINT64_MAX && v >= 1;
}

static void *park_thread(void *arg)
{
    (void)arg;
    strata_env *r = updates(1, "h1", T.session[2], 1000000, 20000);
    if (r)
        strata_msg_free(r);
    return NULL;
}

static int teardown(void **state)
{
    (void)state;
    int rc = 0;
    /* an agent's long-poll is parked at cs2 when it is told to stop */
    pthread_t th;
    bool parked = false;
    if (T.csd[1] > 0 && T.session[2] != 0) {
        pthread_create(&th, NULL, park_thread, NULL);
        parked = h_wait_until(one_parked, NULL, 5000);
        if (!parked)
            rc = -1;
    }
    for (int i = 0; i < 2; i++) {
        if (T.csd[i] > 0) {
            /* SIGTERM with agents' long-polls parked: a clean exit (status 0) */
            int st = h_stop(T.csd[i], 10000);
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                fprintf(stderr, "csd%d exit status 0x%x (log %s)\n", i + 1, st, T.cs_log[i]);
                rc = -1;
            }
        }
    }
    if (T.session[2] != 0)
        pthread_join(th, NULL);
    (void)parked;
    strata_dirclient_close(T.dc);
    for (int i = 0; i < NODES; i++)
        if (T.dird[i] > 0)
            h_stop(T.dird[i], 10000);
    return rc;
}

/* ---------------------------------------------------------------- tests */

/* One counter of csd i's Prometheus metrics (-1 when it cannot be read). */
static double cs_metric(int i, const char *name)
{
    char *t = h_http_get(T.metrics_port[i], "/metrics");
    double v = t != NULL ? h_metric(t, name) : -1;
    free(t);
    return v;
}

static void test_miss_then_hit(void **state)
{
    (void)state;
    double requests0 = cs_metric(0, "strata_cs_resolve_requests_total"),
           hits0 = cs_metric(0, "strata_cs_hits_total"),
           misses0 = cs_metric(0, "strata_cs_misses_total"),
           neg0 = cs_metric(0, "strata_cs_negative_hits_total");
    assert_true(requests0 >= 0 && hits0 >= 0 && misses0 >= 0 && neg0 >= 0);
    strata_env *r = resolve_at(T.cs_url[0], "host:h1", 100, "10.1.0.10", 0, 5000);
    assert_non_null(r);
    if (r->status != 0)
        fail_msg("resolve: %s", r->message);
    const Strata__V1__ResolveReply *rr = r->resolve_reply;
    assert_string_equal(rr->tier, "cs-directory");
    assert_int_equal(rr->n_answers, 1);
    assert_true(rr->answers[0]->found);
    assert_true(ip_is(&rr->answers[0]->endpoint->vtep, "192.168.0.3"));
    assert_int_equal(rr->answers[0]->endpoint->mac.data[5], 10);
    assert_int_equal(rr->answers[0]->verdict, STRATA__V1__VERDICT__VERDICT_ALLOW);
    strata_msg_free(r);

    r = resolve_at(T.cs_url[0], "host:h1", 100, "10.1.0.10", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->resolve_reply->tier, "cs-cache");
    assert_true(ip_is(&r->resolve_reply->answers[0]->endpoint->vtep, "192.168.0.3"));
    strata_msg_free(r);

    /* by MAC too (h1 then holds both keys of A) */
    r = resolve_at(T.cs_url[0], "host:h1", 100, NULL, 10, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_true(r->resolve_reply->answers[0]->found);
    strata_msg_free(r);

    /* a negative answer is cached too */
    r = resolve_at(T.cs_url[0], "host:h1", 100, "10.1.0.99", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_false(r->resolve_reply->answers[0]->found);
    assert_string_equal(r->resolve_reply->tier, "cs-directory");
    strata_msg_free(r);
    r = resolve_at(T.cs_url[0], "host:h1", 100, "10.1.0.99", 0, 5000);
    assert_non_null(r);
    assert_false(r->resolve_reply->answers[0]->found);
    assert_string_equal(r->resolve_reply->tier, "cs-cache");
    assert_true(r->resolve_reply->answers[0]->negative_ttl_ms > 0);
    strata_msg_free(r);

    /* h2 asks about h1's port, not about A */
    r = resolve_at(T.cs_url[0], "host:h2", 100, "10.1.0.1", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_true(r->resolve_reply->answers[0]->found);
    strata_msg_free(r);

    /* the metrics endpoint counts what just happened: 6 requests, the two cache answers as one
     * hit and one negative hit, and at least the two first misses */
    assert_int_equal((int)(cs_metric(0, "strata_cs_resolve_requests_total") - requests0), 6);
    assert_true(cs_metric(0, "strata_cs_hits_total") - hits0 >= 1);
    assert_int_equal((int)(cs_metric(0, "strata_cs_negative_hits_total") - neg0), 1);
    assert_true(cs_metric(0, "strata_cs_misses_total") - misses0 >= 2);
    /* Directory round trips are a histogram in seconds, and cache show gives its count and sum
     * under the names it always had: the same figures (nothing resolves in between). */
    double timed = cs_metric(0, "strata_cs_upstream_resolve_seconds_count");
    assert_true(timed >= 2);
    assert_int_equal(show_counter(0, "upstream_latency_us_count"), (uint64_t)timed);
    double sum_s = cs_metric(0, "strata_cs_upstream_resolve_seconds_sum");
    assert_true(sum_s > 0 && sum_s < timed * 5.0); /* seconds, not microseconds */
    uint64_t sum_us = show_counter(0, "upstream_latency_us_sum");
    assert_true(sum_us + 1 >= (uint64_t)(sum_s * 1e6) && sum_us <= (uint64_t)(sum_s * 1e6) + 1);
}

static pthread_barrier_t barrier;

static void *concurrent_resolve(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&barrier);
    strata_env *r = resolve_at(T.cs_url[0], "host:h2", 100, "10.1.0.14", 0, 5000);
    bool ok = r && r->status == 0 && r->resolve_reply->answers[0]->found;
    if (r)
        strata_msg_free(r);
    return ok ? arg : NULL;
}

/* Many agents missing on one key at once cost the directory one query. */
static void test_concurrent_misses_coalesce(void **state)
{
    (void)state;
    enum { N = 16 };
    uint64_t before = show_counter(0, "upstream_requests");
    assert_true(before != UINT64_MAX);
    pthread_t th[N];
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, concurrent_resolve, (void *)(uintptr_t)(i + 1));
    int ok = 0;
    for (int i = 0; i < N; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        ok += ret != NULL;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(ok, N);
    assert_int_equal(show_counter(0, "upstream_requests") - before, 1);
}

struct show_want {
    const char *key, *value_has; /* value_has NULL: the key must be absent */
    char holders[128];
};

static bool show_pred(void *arg)
{
    struct show_want *w = arg;
    strata_env *r = cs_show(0, "operator");
    if (r == NULL || r->status != 0) {
        if (r)
            strata_msg_free(r);
        return false;
    }
    bool found = false, ok = false;
    const Strata__V1__CacheShowReply *s = r->cache_show_reply;
    for (size_t i = 0; i < s->n_entries; i++) {
        const Strata__V1__CacheEntry *ce = s->entries[i];
        if (ce->vni != 100 || strcmp(ce->key, w->key) != 0)
            continue;
        found = true;
        ok = w->value_has != NULL && strstr(ce->value, w->value_has) != NULL;
        w->holders[0] = '\0';
        for (size_t h = 0; h < ce->n_holders; h++) {
            strncat(w->holders, ce->holders[h], sizeof(w->holders) - strlen(w->holders) - 2);
            strcat(w->holders, " ");
        }
    }
    strata_msg_free(r);
    return w->value_has == NULL ? !found : ok;
}

static void test_move_and_delete_reach_holders_only(void **state)
{
    (void)state;
    uint64_t a1 = drain(0, "h1", T.session[0]);
    uint64_t a2 = drain(0, "h2", T.session[1]);

    /* A moves from h3 to h4 */
    uint8_t mac[6];
    mac_of(10, mac);
    Strata__V1__EndpointMove mv = STRATA__V1__ENDPOINT_MOVE__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    mv.vni = 100;
    mv.mac.data = mac;
    mv.mac.len = 6;
    mv.host = (char *)"h4";
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
    cmd.endpoint_move = &mv;
    dir_write(&cmd);

    struct show_want w = {.key = "ip 10.1.0.10", .value_has = "vtep 192.168.0.4"};
    assert_true(h_wait_until(show_pred, &w, 5000));
    assert_string_equal(w.holders, "h1 ");

    assert_true(wait_update(0, "h1", T.session[0], &a1, STRATA__V1__UPDATE_KIND__UPD_ENDPOINT,
                            "10.1.0.10", "192.168.0.4", 5000));
    /* h2 never asked about A: nothing about it may reach h2 */
    assert_false(wait_update(0, "h2", T.session[1], &a2, STRATA__V1__UPDATE_KIND__UPD_ENDPOINT,
                             "10.1.0.10", NULL, 700));

    /* A is deleted: its holder is told to drop it */
    Strata__V1__EndpointDelete del = STRATA__V1__ENDPOINT_DELETE__INIT;
    strata__v1__command__init(&cmd);
    del.vni = 100;
    del.mac.data = mac;
    del.mac.len = 6;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    cmd.endpoint_delete = &del;
    dir_write(&cmd);
    assert_true(wait_update(0, "h1", T.session[0], &a1, STRATA__V1__UPDATE_KIND__UPD_INVALIDATE,
                            "10.1.0.10", NULL, 5000));
    assert_false(wait_update(0, "h2", T.session[1], &a2, STRATA__V1__UPDATE_KIND__UPD_INVALIDATE,
                             "10.1.0.10", NULL, 500));
    struct show_want gone = {.key = "ip 10.1.0.10", .value_has = NULL};
    assert_true(h_wait_until(show_pred, &gone, 5000));

    /* a negative answer that becomes positive reaches its holder */
    dir_endpoint(99, 100, "10.1.0.99", "h3");
    assert_true(wait_update(0, "h1", T.session[0], &a1, STRATA__V1__UPDATE_KIND__UPD_ENDPOINT,
                            "10.1.0.99", "192.168.0.3", 5000));
}

/* Cache show for one key (what strata trace asks): vni and IP bytes. */
static strata_env *cs_show_key(uint32_t vni, const uint8_t *ip, size_t len)
{
    Strata__V1__CacheShowRequest cr = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    cr.vni = vni;
    cr.ip.data = (uint8_t *)ip;
    cr.ip.len = len;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cr;
    return call(T.cs_url[0], &req, 2000);
}

static void test_cache_show_keyed(void **state)
{
    (void)state;
    /* 10.1.0.99 is cached at h3 (the test before): exactly that entry, with its answer. */
    uint8_t a[4];
    parse_ip("10.1.0.99", a);
    strata_env *r = cs_show_key(100, a, 4);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    const Strata__V1__CacheShowReply *s = r->cache_show_reply;
    assert_int_equal(s->n_entries, 1);
    assert_string_equal(s->entries[0]->key, "ip 10.1.0.99");
    assert_true(s->entries[0]->found);
    assert_int_equal(s->entries[0]->mac.len, 6);
    uint8_t v[4];
    parse_ip("192.168.0.3", v);
    assert_int_equal(s->entries[0]->vtep.len, 4);
    assert_memory_equal(s->entries[0]->vtep.data, v, 4);
    assert_true(s->n_counters > 0);
    strata_msg_free(r);
    /* A key nobody asked for: no entry (and it is not looked up at the directory). */
    uint64_t before = show_counter(0, "upstream_requests");
    parse_ip("10.1.0.250", a);
    r = cs_show_key(100, a, 4);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->cache_show_reply->n_entries, 0);
    strata_msg_free(r);
    assert_int_equal(show_counter(0, "upstream_requests"), before);
    /* Not an IP: refused. */
    r = cs_show_key(100, a, 3);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EINVAL);
    strata_msg_free(r);
}

static void test_refusals(void **state)
{
    (void)state;
    /* no port of h1 in VN 200 */
    strata_env *r = resolve_at(T.cs_url[0], "host:h1", 200, "10.2.0.20", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    /* a port for another host, or on another host's VTEP */
    r = port_register(0, "host:h1", 50, "10.1.0.50", "h2", NULL);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    r = port_register(0, "host:h1", 50, "10.1.0.50", "h1", "192.168.0.2");
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    assert_string_equal(r->message, "host h1 may only register endpoints on its own VTEP");
    strata_msg_free(r);
    /* registering as someone else, or with another host's VTEP */
    r = host_register(0, "host:h1", "h2", "192.168.0.2");
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    r = host_register(0, "host:h5", "h5", "192.168.0.3");
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    /* cache show is the operator's; in plaintext, a request claiming no identity is refused
     * (under TLS the certificate is the identity: test_tls_authz has clients without one) */
    r = cs_show(0, "host:h1");
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    if (h_tls())
        return;
    r = cs_show(0, "");
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
}

/* An agent configured with both servers: the first that answers. */
static strata_env *agent_resolve(const char *ident, const char *ip)
{
    for (int i = 0; i < 2; i++) {
        strata_env *r = resolve_at(T.cs_url[i], ident, 100, ip, 0, 1000);
        if (r != NULL && r->status == 0)
            return r;
        if (r)
            strata_msg_free(r);
    }
    return NULL;
}

static void test_server_dies(void **state)
{
    (void)state;
    strata_env *r = agent_resolve("host:h1", "10.1.0.2");
    assert_non_null(r);
    strata_msg_free(r);
    h_kill9(T.csd[0]);
    T.csd[0] = 0;
    r = agent_resolve("host:h1", "10.1.0.2");
    assert_non_null(r);
    assert_true(r->resolve_reply->answers[0]->found);
    assert_true(ip_is(&r->resolve_reply->answers[0]->endpoint->vtep, "192.168.0.2"));
    strata_msg_free(r);
    /* its update stream moves too: an unknown session is told to resynchronise */
    r = updates(1, "h1", T.session[0], 5, 0);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_true(r->updates_reply->resync);
    assert_true(r->updates_reply->session != 0);
    strata_msg_free(r);
    r = host_register(1, "host:h1", "h1", "192.168.0.1");
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    T.session[2] = r->host_register_reply->session;
    strata_msg_free(r);
}

static bool miss_answered(void *arg)
{
    (void)arg;
    strata_env *r = resolve_at(T.cs_url[1], "host:h1", 100, "10.1.0.13", 0, 2000);
    bool ok = r && r->status == 0 && r->resolve_reply->answers[0]->status == 0 &&
              r->resolve_reply->answers[0]->found;
    if (r)
        strata_msg_free(r);
    return ok;
}

static void test_directory_leader_dies(void **state)
{
    (void)state;
    strata_env *r = resolve_at(T.cs_url[1], "host:h1", 100, "10.1.0.2", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    strata_msg_free(r);
    int leader = 0;
    assert_true(cluster_has_leader(&leader));
    assert_true(leader >= 1 && leader <= NODES);
    h_kill9(T.dird[leader - 1]);
    T.dird[leader - 1] = 0;
    /* cached answers keep flowing at once */
    uint64_t t0 = h_now_ms();
    r = resolve_at(T.cs_url[1], "host:h1", 100, "10.1.0.2", 0, 1000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->resolve_reply->tier, "cs-cache");
    assert_true(r->resolve_reply->answers[0]->found);
    strata_msg_free(r);
    assert_true(h_now_ms() - t0 < 1000); /* no waiting on the dead leader */
    /* a miss is answered again once a node answers */
    assert_true(h_wait_until(miss_answered, NULL, 15000));
}

/* Every message type the schema has (valid as far as decoding goes), as host h1: each gets a
 * reply, a refusal carries a message, and the server still answers a resolve afterwards. */
static void test_every_body_is_answered(void **state)
{
    (void)state;
    struct h_sweep sw = h_sweep_bodies(T.cs_url[1], NULL, 40, 0x9e3779b97f4a7c15ull);
    assert_true(sw.refused >= 10); /* replies' own types, the directory's requests */
    assert_true(sw.variants > 100);
    assert_true(h_alive(T.csd[1]));
    strata_env *r = resolve_at(T.cs_url[1], "host:h1", 100, "10.1.0.2", 0, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    strata_msg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_then_hit),
        cmocka_unit_test(test_concurrent_misses_coalesce),
        cmocka_unit_test(test_move_and_delete_reach_holders_only),
        cmocka_unit_test(test_cache_show_keyed),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_server_dies),
        cmocka_unit_test(test_directory_leader_dies),
        cmocka_unit_test(test_every_body_is_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* agent-sim - N simulated host agents in one process, speaking the agent protocol to a
 * connectivity server with no kernel underneath: each registers its host and one port, resolves
 * the given keys, then long-polls its update stream. For load and convergence measurements
 * (bench/cs-bench.c drives it through its stdout).
 *
 * stdout, one JSON object per line:
 *   {"event":"ready",...}      every agent has registered and resolved its keys
 *   {"event":"converged","version":V,"first_us":T,"last_us":T,...}   all N agents received the
 *                              UPD_ENDPOINT carrying endpoint version V (wall clock, us)
 *   {"agents":N,...}           the summary, last, when it stops (--max-ms, --expect-versions,
 *                              SIGTERM) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "flags.h"
#include "loop.h"
#include "msg.h"

#define SETUP_WINDOW 64
#define NCLIENTS 4
#define MAX_KEYS 16
#define MAX_VERSIONS 1024
#define POLL_WAIT_MS 10000

enum { ST_REG, ST_PORT, ST_RES, ST_POLL };

struct agent {
    int i;
    int state;
    bool started, ready;
    int errors;
    char host[32], ident[40];
    uint8_t vtep[4], mac[6], ip[4];
    uint64_t session, after, last_version;
    uv_timer_t retry;
};

struct vrec {
    uint64_t version;
    uint32_t count;
    uint64_t first_us, last_us;
};

static struct {
    const char *cs, *prefix, *keys_arg;
    uint64_t n, base, max_ms, expect;
    uint32_t vni;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_aclient *cl[NCLIENTS];
    struct agent *a;
    uint64_t next_start, ready, resolved, found, updates, resyncs, errors;
    uint64_t by_kind[5];
    uint64_t t0_ms, ready_ms;
    uint8_t keys[MAX_KEYS][4];
    int nkeys;
    struct vrec v[MAX_VERSIONS];
    int nv, converged;
    uv_timer_t deadline;
} S;

static void agent_step(struct agent *a);

static void finish(void)
{
    printf("{\"agents\":%llu,\"ready\":%llu,\"setup_ms\":%llu,\"resolved\":%llu,\"found\":%llu,"
           "\"updates\":%llu,\"endpoint\":%llu,\"invalidate\":%llu,\"flood\":%llu,\"resyncs\":%llu,"
           "\"errors\":%llu,\"versions\":%d,\"converged\":%d}\n",
           (unsigned long long)S.n, (unsigned long long)S.ready,
           (unsigned long long)(S.ready_ms ? S.ready_ms - S.t0_ms : 0),
           (unsigned long long)S.resolved, (unsigned long long)S.found,
           (unsigned long long)S.updates, (unsigned long long)S.by_kind[1],
           (unsigned long long)S.by_kind[2], (unsigned long long)S.by_kind[3],
           (unsigned long long)S.resyncs, (unsigned long long)S.errors, S.nv, S.converged);
    fflush(stdout);
    _exit(0); /* a load tool: the kernel reclaims sockets faster than an orderly NNG teardown */
}

static void on_signal(void *arg)
{
    (void)arg;
    finish();
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void record_version(struct agent *a, uint64_t version)
{
    if (version <= a->last_version)
        return;
    a->last_version = version;
    uint64_t now = strata_wall_us();
    struct vrec *r = NULL;
    for (int k = 0; k < S.nv; k++)
        if (S.v[k].version == version)
            r = &S.v[k];
    if (r == NULL) {
        if (S.nv == MAX_VERSIONS)
            return;
        r = &S.v[S.nv++];
        r->version = version;
        r->first_us = now;
    }
    r->count++;
    r->last_us = now;
    if (r->count == S.n) {
        printf("{\"event\":\"converged\",\"version\":%llu,\"agents\":%u,\"first_us\":%llu,"
               "\"last_us\":%llu}\n",
               (unsigned long long)version, r->count, (unsigned long long)r->first_us,
               (unsigned long long)r->last_us);
        fflush(stdout);
        if (S.expect && (uint64_t)++S.converged >= S.expect)
            finish();
    }
}

static void start_next(void)
{
    while (S.next_start < S.n) {
        struct agent *a = &S.a[S.next_start++];
        a->started = true;
        agent_step(a);
        return;
    }
}

static void retry_cb(uv_timer_t *t)
{
    agent_step(t->data);
}

static void agent_failed(struct agent *a, const char *what, int rc, const strata_env *rep)
{
    S.errors++;
    if (++a->errors <= 3 || a->errors % 100 == 0)
        fprintf(stderr, "agent-sim: %s %s: %s\n", a->host, what,
                rep && rep->message ? rep->message : strata_strerror(rc ? rc : rep->status));
    uv_timer_start(&a->retry, retry_cb, 200, 0);
}

static void on_reply(int rc, strata_env *rep, void *arg)
{
    struct agent *a = arg;
    static const char *names[] = {"HostRegister", "PortRegister", "Resolve", "Updates"};
    if (rc != 0 || rep->status != 0) {
        /* an already registered port is fine on a second run */
        if (!(rc == 0 && a->state == ST_PORT && rep->status == STRATA_EEXIST)) {
            agent_failed(a, names[a->state], rc, rep);
            if (rep)
                strata_msg_free(rep);
            return;
        }
    }
    switch (a->state) {
    case ST_REG:
        a->session = rep->host_register_reply->session;
        a->state = ST_PORT;
        break;
    case ST_PORT:
        a->state = ST_RES;
        break;
    case ST_RES:
        S.resolved++;
        for (size_t k = 0; k < rep->resolve_reply->n_answers; k++)
            S.found += rep->resolve_reply->answers[k]->found;
        a->state = ST_POLL;
        if (!a->ready) {
            a->ready = true;
            if (++S.ready == S.n) {
                S.ready_ms = strata_now_ms();
                printf("{\"event\":\"ready\",\"agents\":%llu,\"setup_ms\":%llu}\n",
                       (unsigned long long)S.n, (unsigned long long)(S.ready_ms - S.t0_ms));
                fflush(stdout);
            }
            start_next();
        }
        break;
    case ST_POLL: {
        const Strata__V1__UpdatesReply *ur = rep->updates_reply;
        if (ur->resync) {
            S.resyncs++;
            a->session = ur->session;
            a->state = ST_RES; /* re-resolve what it holds */
            break;
        }
        for (size_t k = 0; k < ur->n_updates; k++) {
            const Strata__V1__Update *u = ur->updates[k];
            a->after = u->seq;
            S.updates++;
            if (u->kind < 5)
                S.by_kind[u->kind]++;
            if (u->kind == STRATA__V1__UPDATE_KIND__UPD_ENDPOINT && u->endpoint != NULL)
                record_version(a, u->endpoint->version);
        }
        break;
    }
    }
    strata_msg_free(rep);
    agent_step(a);
}

static void agent_step(struct agent *a)
{
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.identity = a->ident;
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    ProtobufCBinaryData ipb = {4, a->ip};
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    Strata__V1__ResolveQuery q[MAX_KEYS], *qp[MAX_KEYS];
    Strata__V1__UpdatesRequest up = STRATA__V1__UPDATES_REQUEST__INIT;
    unsigned timeout = 10000;
    switch (a->state) {
    case ST_REG:
        hr.host = a->host;
        hr.vtep.data = a->vtep;
        hr.vtep.len = 4;
        hr.pod = (char *)"p1";
        env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
        env.host_register = &hr;
        break;
    case ST_PORT:
        ep.vni = S.vni;
        ep.mac.data = a->mac;
        ep.mac.len = 6;
        ep.ips = &ipb;
        ep.n_ips = 1;
        ep.host = a->host;
        pr.endpoint = &ep;
        env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
        env.port_register = &pr;
        break;
    case ST_RES:
        for (int k = 0; k < S.nkeys; k++) {
            strata__v1__resolve_query__init(&q[k]);
            q[k].vni = S.vni;
            q[k].ip.data = S.keys[k];
            q[k].ip.len = 4;
            qp[k] = &q[k];
        }
        rr.queries = qp;
        rr.n_queries = (size_t)S.nkeys;
        env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        env.resolve = &rr;
        break;
    default:
        up.host = a->host;
        up.session = a->session;
        up.after_seq = a->after;
        up.wait_ms = POLL_WAIT_MS;
        env.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES;
        env.updates = &up;
        timeout = POLL_WAIT_MS + 5000;
        break;
    }
    int rc = strata_aclient_call(S.cl[a->i % NCLIENTS], &env, timeout, on_reply, a);
    if (rc != 0)
        agent_failed(a, "call", rc, NULL);
}

int main(int argc, char **argv)
{
    struct strata_err e = {0};
    S.n = 100;
    S.vni = 100;
    S.prefix = "sim";
    S.max_ms = 120000;
    const struct strata_flag flags[] = {
        {"cs", STRATA_FLAG_STR, &S.cs, "URL", "the connectivity server", true, 0, 0},
        {"agents", STRATA_FLAG_U64, &S.n, "N", "simulated agents (default 100)", false, 1, 60000},
        {"prefix", STRATA_FLAG_STR, &S.prefix, "NAME", "host names are NAME<i> (default sim)",
         false, 0, 0},
        {"base", STRATA_FLAG_U64, &S.base, "B",
         "first agent number (VTEPs, MACs and IPs derive from it)", false, 0, 60000},
        {"vni", STRATA_FLAG_VNI, &S.vni, "VNI", "the VN every port is in (default 100)", false, 0,
         0},
        {"resolve", STRATA_FLAG_STR, &S.keys_arg, "IP[,IP...]", "keys every agent resolves", false,
         0, 0},
        {"max-ms", STRATA_FLAG_U64, &S.max_ms, "MS", "stop after this long (default 120000)", false,
         100, 3600000},
        {"expect-versions", STRATA_FLAG_U64, &S.expect, "K",
         "stop once K endpoint versions reached every agent", false, 0, 1000000},
        STRATA_FLAGS_END,
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: agent-sim [flags]\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "agent-sim: %s\n", e.msg);
        strata_flags_usage(stderr, flags);
        return 2;
    }
    if (S.keys_arg != NULL) {
        char *dup = strdup(S.keys_arg), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t && S.nkeys < MAX_KEYS;
             t = strtok_r(NULL, ",", &save)) {
            struct strata_ip ip;
            if (strata_ip_parse(t, &ip, &e) != 0 || ip.family != 4) {
                fprintf(stderr, "agent-sim: --resolve %s: IPv4 only\n", t);
                return 2;
            }
            memcpy(S.keys[S.nkeys++], ip.a, 4);
        }
        free(dup);
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&S.uv);
    if (strata_loop_new(&S.uv, &S.loop, &e) != 0) {
        fprintf(stderr, "agent-sim: %s\n", e.msg);
        return 1;
    }
    for (int c = 0; c < NCLIENTS; c++)
        if (strata_aclient_open(S.loop, S.cs, &S.cl[c], &e) != 0) {
            fprintf(stderr, "agent-sim: %s\n", e.msg);
            return 1;
        }
    strata_loop_on_signal(S.loop, on_signal, NULL);
    S.a = calloc(S.n, sizeof(*S.a));
    for (uint64_t k = 0; k < S.n; k++) {
        struct agent *a = &S.a[k];
        uint64_t i = S.base + k + 1;
        a->i = (int)k;
        snprintf(a->host, sizeof(a->host), "%s%llu", S.prefix, (unsigned long long)i);
        snprintf(a->ident, sizeof(a->ident), "host:%s", a->host);
        uint8_t vtep[4] = {172, 16, (uint8_t)(i >> 8), (uint8_t)i};
        uint8_t mac[6] = {0x02, 0xaa, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        uint8_t ip[4] = {10, 200, (uint8_t)(i >> 8), (uint8_t)i};
        memcpy(a->vtep, vtep, 4);
        memcpy(a->mac, mac, 6);
        memcpy(a->ip, ip, 4);
        uv_timer_init(&S.uv, &a->retry);
        a->retry.data = a;
    }
    uv_timer_init(&S.uv, &S.deadline);
    uv_timer_start(&S.deadline, on_deadline, S.max_ms, 0);
    S.t0_ms = strata_now_ms();
    for (int k = 0; k < SETUP_WINDOW; k++)
        start_next();
    uv_run(&S.uv, UV_RUN_DEFAULT);
    finish();
}

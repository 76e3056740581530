/* storm_agents.c - see storm_agents.h; with opts.vni each agent also runs a node core on a
 * datapath that installs nothing. Teardown: a post to the loop closes every client (their
 * handles close, in-flight callbacks fire), then the bridge; strata_loop_run returns when no
 * handle is left, and the clients (and cores) are freed after it. */
#include "storm_agents.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "node_csd.h"

struct storm_agent {
    struct storm_agents *s;
    unsigned i;
    struct node_csd *csd;
    char host[32], source[16];
    _Atomic uint64_t reg_us;
    /* opts.vni: the core, its port, and the last answer to storm_agents_resolve */
    struct node core;
    bool core_on, port_sent;
    _Atomic bool port_ok;
    _Atomic uint64_t ans_us;
};

struct storm_agents {
    struct storm_agents_opts o;
    struct storm_agent *a;
    uv_loop_t uv;
    struct strata_loop *loop;
    pthread_t tid;
    /* startup handshake with the caller */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;
    int rc;
    struct strata_err e;
};

void storm_agent_host(const char *prefix, unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "%s%u", prefix, i + 1);
}

/* ---- the agents' datapath: accepts every write, installs nothing, reports no miss */

static int null_vn(void *ctx, uint32_t vni, struct strata_err *e)
{
    (void)ctx, (void)vni, (void)e;
    return 0;
}
static int null_port(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    (void)ctx, (void)vni, (void)ifname, (void)e;
    return 0;
}
static int null_neigh_set(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                          struct strata_err *e)
{
    (void)ctx, (void)vni, (void)ip, (void)mac, (void)e;
    return 0;
}
static int null_neigh_del(void *ctx, uint32_t vni, const struct strata_ip *ip, struct strata_err *e)
{
    (void)ctx, (void)vni, (void)ip, (void)e;
    return 0;
}
static int null_fdb_set(void *ctx, uint32_t vni, const uint8_t mac[6], const struct strata_ip *vtep,
                        struct strata_err *e)
{
    (void)ctx, (void)vni, (void)mac, (void)vtep, (void)e;
    return 0;
}
static int null_fdb_del(void *ctx, uint32_t vni, const uint8_t mac[6], struct strata_err *e)
{
    (void)ctx, (void)vni, (void)mac, (void)e;
    return 0;
}
static int null_flood_set(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                          struct strata_err *e)
{
    (void)ctx, (void)vni, (void)vteps, (void)n, (void)e;
    return 0;
}
static int null_dump(void *ctx, struct node_dp_dump *out, struct strata_err *e)
{
    (void)ctx, (void)e;
    memset(out, 0, sizeof(*out));
    return 0;
}
static bool null_describe(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf,
                          size_t cap)
{
    (void)ctx, (void)vni, (void)ip;
    snprintf(buf, cap, "simulated agent");
    return false;
}
static int null_miss_fd(void *ctx)
{
    (void)ctx;
    return -1;
}
static int null_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e)
{
    (void)ctx, (void)cb, (void)arg, (void)e;
    return 0;
}
static const struct node_dp_ops null_dp_ops = {
    .vn_ensure = null_vn,
    .vn_release = null_vn,
    .port_enslave = null_port,
    .port_release = null_port,
    .neigh_set = null_neigh_set,
    .neigh_del = null_neigh_del,
    .fdb_set = null_fdb_set,
    .fdb_del = null_fdb_del,
    .flood_set = null_flood_set,
    .dump_owned = null_dump,
    .describe_ip = null_describe,
    .miss_fd = null_miss_fd,
    .miss_read = null_miss_read,
};

/* ---- agent i's port and resolution */

void storm_agent_addr(unsigned i, uint8_t mac[6], struct strata_ip *ip, struct strata_ip *vtep)
{
    unsigned k = i + 1;
    const uint8_t m[6] = {0x02, 0x5a, 0, 0, (uint8_t)(k >> 8), (uint8_t)k};
    memcpy(mac, m, 6);
    memset(ip, 0, sizeof(*ip));
    ip->family = 4;
    ip->a[0] = 10;
    ip->a[1] = 200;
    ip->a[2] = (uint8_t)(k >> 8);
    ip->a[3] = (uint8_t)k;
    if (vtep == NULL)
        return;
    /* 172.16.0.0/16: one distinct VTEP per host */
    memset(vtep, 0, sizeof(*vtep));
    vtep->family = 4;
    vtep->a[0] = 172;
    vtep->a[1] = 16;
    vtep->a[2] = (uint8_t)(k >> 8);
    vtep->a[3] = (uint8_t)k;
}

static void agent_addr(unsigned i, uint8_t mac[6], struct strata_ip *ip)
{
    storm_agent_addr(i, mac, ip, NULL);
}

static void port_done(int rc, strata_env *reply, void *arg)
{
    struct storm_agent *a = arg;
    bool ok = rc == 0 && reply != NULL && reply->status == 0;
    if (reply != NULL)
        strata_msg_free(reply);
    if (ok)
        atomic_store(&a->port_ok, true);
    else
        a->port_sent = false; /* again at the next registration */
}

static void port_send(struct storm_agent *a, const Strata__V1__HostRegisterReply *reply)
{
    (void)reply;
    if (!a->core_on || a->port_sent || atomic_load(&a->port_ok))
        return;
    uint8_t mac[6];
    struct strata_ip ip, vtep = a->core.self_vtep;
    agent_addr(a->i, mac, &ip);
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ProtobufCBinaryData ipb = {.data = ip.a, .len = strata_ip_len(&ip)};
    ep.vni = a->s->o.vni;
    ep.mac.data = mac;
    ep.mac.len = 6;
    ep.ips = &ipb;
    ep.n_ips = 1;
    ep.host = a->host;
    ep.vtep.data = vtep.a;
    ep.vtep.len = strata_ip_len(&vtep);
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    pr.endpoint = &ep;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
    env.port_register = &pr;
    a->port_sent = node_csd_call(a->csd, &env, 2000, port_done, a) == 0;
}

static void on_install(void *arg, const struct node_entry *ent)
{
    (void)ent;
    struct storm_agent *a = arg;
    atomic_store(&a->ans_us, strata_now_us());
}

static void on_registered(void *arg, const Strata__V1__HostRegisterReply *reply)
{
    struct storm_agent *a = arg;
    atomic_store(&a->reg_us, strata_now_us());
    port_send(a, reply);
}

static uint64_t agent_now_ms(void)
{
    return strata_now_ms();
}

/* Agent i's client: the real agent's, with the options strata-agentd gives it. */
static int agent_open(struct storm_agents *s, unsigned i, struct strata_err *e)
{
    struct storm_agent *a = &s->a[i];
    storm_agent_host(s->o.prefix, i, a->host, sizeof(a->host));
    unsigned k = i + 1;
    /* Its own address, as each host of a pod has: a server admits 256 connections from one. */
    snprintf(a->source, sizeof(a->source), "127.1.%u.%u", (k >> 8) & 255, k & 255);
    struct node_csd_opts co = {
        .host = a->host,
        .pod = "p1",
        .urls = s->o.url,
        .call_timeout_ms = s->o.call_timeout_ms,
        .poll_wait_ms = s->o.poll_wait_ms,
        .client = {.tls = s->o.tls != NULL ? s->o.tls[i] : NULL, .source = a->source}};
    uint8_t mac[6];
    struct strata_ip ip;
    storm_agent_addr(i, mac, &ip, &co.vtep);
    struct node_csd_hooks h = {.registered = on_registered, .arg = a};
    a->s = s;
    a->i = i;
    int rc = node_csd_new(s->loop, &co, &h, &a->csd, e);
    if (rc != 0 || s->o.vni == 0)
        return rc;
    struct node_dp dp = {.ops = &null_dp_ops, .ctx = a};
    struct node_resolver none = {0};
    if (node_init(&a->core, dp, none, &co.vtep, 1000, agent_now_ms) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory"); /* the caller closes csd */
    a->core_on = true;
    a->core.on_install = on_install;
    a->core.on_install_arg = a;
    return node_csd_attach(a->csd, &a->core, e);
}

static void started(struct storm_agents *s, int rc)
{
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->started = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *storm_main(void *arg)
{
    struct storm_agents *s = arg;
    uv_loop_init(&s->uv);
    int rc = strata_loop_new(&s->uv, &s->loop, &s->e);
    unsigned opened = 0;
    for (; rc == 0 && opened < s->o.n; opened++)
        rc = agent_open(s, opened, &s->e);
    if (rc != 0) {
        for (unsigned i = 0; i < opened; i++)
            node_csd_close(s->a[i].csd);
        if (s->loop != NULL)
            strata_loop_close(s->loop);
    } else {
        for (unsigned i = 0; i < s->o.n; i++)
            node_csd_start(s->a[i].csd);
    }
    started(s, rc);
    if (s->loop != NULL)
        strata_loop_run(s->loop); /* until storm_agents_stop (or the failed start) closed all */
    for (unsigned i = 0; i < opened; i++) {
        node_csd_free(s->a[i].csd);
        if (s->a[i].core_on)
            node_fini(&s->a[i].core);
    }
    uv_loop_close(&s->uv);
    return NULL;
}

int storm_agents_start(const struct storm_agents_opts *o, struct storm_agents **out,
                       struct strata_err *e)
{
    struct storm_agents *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->a = calloc(o->n, sizeof(*s->a))) == NULL) {
        free(s);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    s->o = *o;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->tid, NULL, storm_main, s) != 0) {
        free(s->a);
        free(s);
        return strata_err_set(e, STRATA_EINTERNAL, "pthread_create failed");
    }
    pthread_mutex_lock(&s->mu);
    while (!s->started)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->rc != 0) {
        int rc = strata_err_set(e, s->rc, "%s", s->e.msg);
        pthread_join(s->tid, NULL);
        free(s->a);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

uint64_t storm_agents_registered(struct storm_agents *s, uint64_t *reg_us)
{
    uint64_t regs = 0;
    for (unsigned i = 0; i < s->o.n; i++) {
        reg_us[i] = atomic_load(&s->a[i].reg_us);
        regs += reg_us[i] != 0;
    }
    return regs;
}

uint64_t storm_agents_ports(struct storm_agents *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->o.n; i++)
        n += atomic_load(&s->a[i].port_ok);
    return n;
}

static void resolve_on_loop(void *arg)
{
    struct storm_agents *s = arg;
    uint64_t now = strata_now_us();
    for (unsigned i = 0; i < s->o.n; i++) {
        struct storm_agent *a = &s->a[i];
        if (!a->core_on)
            continue;
        uint8_t mac[6];
        struct strata_ip ip;
        agent_addr((i + 1) % s->o.n, mac, &ip);
        struct node_key k;
        node_key_ip(&k, s->o.vni, &ip);
        node_miss_handle(&a->core, &k, now);
    }
}

void storm_agents_resolve(struct storm_agents *s)
{
    (void)strata_loop_post(s->loop, resolve_on_loop, s);
}

uint64_t storm_agents_answered(struct storm_agents *s, uint64_t *ans_us)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->o.n; i++) {
        ans_us[i] = atomic_load(&s->a[i].ans_us);
        n += ans_us[i] != 0;
    }
    return n;
}

static void stop_on_loop(void *arg)
{
    struct storm_agents *s = arg;
    for (unsigned i = 0; i < s->o.n; i++)
        node_csd_close(s->a[i].csd);
    strata_loop_close(s->loop);
}

void storm_agents_stop(struct storm_agents *s)
{
    if (s == NULL)
        return;
    strata_loop_post(s->loop, stop_on_loop, s);
    pthread_join(s->tid, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->a);
    free(s);
}

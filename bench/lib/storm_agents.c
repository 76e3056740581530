/* storm_agents.c - see storm_agents.h. Teardown: a post to the loop closes every client (their
 * handles close, in-flight callbacks fire), then the bridge; strata_loop_run returns when no
 * handle is left, and the clients are freed after it. */
#include "storm_agents.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "node_csd.h"

struct storm_agent {
    struct node_csd *csd;
    char host[32], source[16];
    _Atomic uint64_t reg_us;
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

static void on_registered(void *arg, const Strata__V1__HostRegisterReply *reply)
{
    (void)reply;
    struct storm_agent *a = arg;
    atomic_store(&a->reg_us, strata_now_us());
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
    co.vtep.family = 4; /* 172.16.0.0/16: one distinct VTEP per host */
    co.vtep.a[0] = 172;
    co.vtep.a[1] = 16;
    co.vtep.a[2] = (uint8_t)(k >> 8);
    co.vtep.a[3] = (uint8_t)k;
    struct node_csd_hooks h = {.registered = on_registered, .arg = a};
    return node_csd_new(s->loop, &co, &h, &a->csd, e);
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
    for (unsigned i = 0; i < opened; i++)
        node_csd_free(s->a[i].csd);
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

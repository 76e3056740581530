/* node_daemon.c - the runtime around one or more node cores: the loop, miss polling through the
 * datapath's ops, reconcile at start, the csd client, the control socket and clean shutdown on
 * SIGTERM (which leaves the kernel's entries in place so traffic keeps flowing across a
 * restart).
 *
 * Teardown order (on SIGTERM, on the loop): the daemon's stopping hook (answers what it parked),
 * miss polls, the csd client (its in-flight calls complete with EUNAVAIL), the control server,
 * metrics, the loop's signal and async handles; node_daemon_fini then frees the cores and their
 * datapaths once the loop has run the close callbacks. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_daemon.h"

static int daemon_poll(struct node_daemon *d, struct node_domain *dom, struct strata_err *e);

static uint64_t daemon_now_ms(void)
{
    return strata_now_ms();
}

static void daemon_registered(void *arg, const Strata__V1__HostRegisterReply *reply)
{
    struct node_daemon *d = arg;
    if (d->h.registered != NULL)
        d->h.registered(d->h.arg, reply);
}

/* The runtime answers audits itself (every daemon's kernel is audited the same way); other
 * kinds the core does not handle are the daemon's. */
static void daemon_update(void *arg, const Strata__V1__Update *u)
{
    struct node_daemon *d = arg;
    if (u->kind == STRATA__V1__UPDATE_KIND__UPD_AUDIT)
        node_audit_update(d, u);
    else if (d->h.update != NULL)
        d->h.update(d->h.arg, u);
}

int node_daemon_init(struct node_daemon *d, const struct node_daemon_opts *o,
                     const struct node_daemon_hooks *h, struct strata_err *e)
{
    memset(d, 0, sizeof(*d));
    d->o = *o;
    if (h != NULL)
        d->h = *h;
    uv_loop_init(&d->uv);
    int rc = strata_loop_new(&d->uv, &d->loop, e);
    if (rc != 0)
        return rc;
    struct node_csd_hooks ch = {.registered = daemon_registered, .update = daemon_update, .arg = d};
    return node_csd_new(d->loop, &d->o.csd, &ch, &d->csd, e);
}

int node_daemon_add_domain(struct node_daemon *d, struct node_dp dp, void (*dp_free)(void *),
                           struct node_domain **out, struct strata_err *e)
{
    if (d->n_doms == NODE_DAEMON_MAX_DOMAINS)
        return strata_err_set(e, STRATA_ENOSPACE, "at most %d domains", NODE_DAEMON_MAX_DOMAINS);
    if (dp.ops->miss_fd == NULL || dp.ops->miss_read == NULL)
        return strata_err_set(e, STRATA_EINVAL, "datapath without a miss subscription");
    struct node_domain *dom = calloc(1, sizeof(*dom));
    struct node_resolver none = {0};
    if (dom == NULL ||
        node_init(&dom->core, dp, none, &d->o.csd.vtep, d->o.negative_ttl_ms, daemon_now_ms) != 0) {
        free(dom);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    int rc = node_csd_attach(d->csd, &dom->core, e);
    if (rc != 0) {
        node_fini(&dom->core);
        free(dom);
        return rc;
    }
    dom->dp_free = dp_free;
    dom->d = d;
    dom->id = (unsigned)d->n_doms;
    d->doms[d->n_doms++] = dom;
    if (d->started) {
        node_ctl_metrics_domain(d, dom->id);
        if ((rc = daemon_poll(d, dom, e)) != 0)
            return rc; /* the domain stays listed: fini frees it */
    }
    if (out != NULL)
        *out = dom;
    return 0;
}

static void daemon_kernel_free(void *ctx)
{
    node_dp_kernel_free(ctx);
}

int node_daemon_add_kernel(struct node_daemon *d, const struct node_dp_kernel_opts *o,
                           struct node_domain **out, struct strata_err *e)
{
    struct node_dp_kernel *k;
    int rc = node_dp_kernel_new(o, &k, e);
    if (rc != 0)
        return rc;
    rc = node_daemon_add_domain(d, node_dp_kernel(k), daemon_kernel_free, out, e);
    if (rc != 0)
        node_dp_kernel_free(k);
    return rc;
}

struct node_domain *node_daemon_domain_of(struct node_daemon *d, uint32_t vni)
{
    for (size_t i = 0; i < d->n_doms; i++)
        if (node_vn_find(&d->doms[i]->core, vni) != NULL)
            return d->doms[i];
    return NULL;
}

static int daemon_reconcile_one(struct node_daemon *d, struct node_domain *dom,
                                struct strata_err *e)
{
    size_t n = 0;
    uint32_t *v = d->h.keep_vnis != NULL ? d->h.keep_vnis(d->h.arg, dom, &n) : NULL;
    int rc = node_reconcile(&dom->core, v, n, e);
    free(v);
    return rc;
}

int node_daemon_reconcile(struct node_daemon *d, struct strata_err *e)
{
    int first = 0;
    for (size_t i = 0; i < d->n_doms; i++) {
        struct strata_err e2;
        int rc = daemon_reconcile_one(d, d->doms[i], &e2);
        if (rc != 0) {
            LOG_WARN("reconcile (domain %zu): %s", i, e2.msg);
            if (first == 0) {
                first = rc;
                if (e != NULL)
                    *e = e2;
            }
        }
    }
    return first;
}

/* A full resync (dump + re-resolve of everything held) costs the loop milliseconds per thousand
 * entries: under a storm that overflows the socket on every read, one per gap is enough. */
#define NODE_DAEMON_RESYNC_GAP_MS 1000

static void daemon_resync_timer(uv_timer_t *t)
{
    struct node_domain *dom = t->data;
    dom->resync_pending = false;
    dom->last_resync_ms = strata_now_ms();
    /* Once per burst, not once per ENOBUFS: a storm must not also flood the log. */
    LOG_WARN("miss notifications lost (domain %u, %llu overruns): full resync", dom->id,
             (unsigned long long)dom->burst_overruns);
    dom->burst_overruns = 0;
    struct strata_err e;
    if (daemon_reconcile_one(dom->d, dom, &e) != 0)
        LOG_WARN("resync: %s", e.msg);
}

static void daemon_overrun(struct node_domain *dom)
{
    dom->core.c.overruns++;
    dom->burst_overruns++;
    if (dom->resync_pending || !dom->polling)
        return;
    uint64_t now = strata_now_ms(), next = dom->last_resync_ms + NODE_DAEMON_RESYNC_GAP_MS;
    dom->resync_pending = true;
    /* Not from inside the read: the misses read with the overrun are handled first. */
    uv_timer_start(&dom->resync_timer, daemon_resync_timer,
                   dom->last_resync_ms != 0 && next > now ? next - now : 0, 0);
}

static void daemon_on_miss(void *arg, const struct node_dp_miss *m, bool overrun)
{
    struct node_domain *dom = arg;
    struct node *core = &dom->core;
    if (overrun) {
        /* Notifications were lost: re-dump the datapath and re-resolve everything held. */
        daemon_overrun(dom);
        return;
    }
    struct node_vn *vn = node_vn_find(core, m->vni);
    if (vn == NULL || vn->ports == 0)
        return; /* a device being torn down */
    struct node_key k;
    if (m->kind == 'i')
        node_key_ip(&k, m->vni, &m->ip);
    else
        node_key_mac(&k, m->vni, m->mac);
    node_miss_handle(core, &k, strata_now_us());
}

static void daemon_miss_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct node_domain *dom = h->data;
    struct node *core = &dom->core;
    struct strata_err e;
    if (status < 0) {
        /* The kernel reports ENOBUFS on a netlink socket as a socket error (POLLERR), and libuv
         * answers POLLERR by stopping the poll: without a restart the agent would never read
         * a miss again. The read below returns the error (clearing it) and counts the
         * overrun. */
        if (!dom->polling)
            return;
        uv_poll_start(h, UV_READABLE, daemon_miss_readable);
    }
    if (core->dp.ops->miss_read(core->dp.ctx, daemon_on_miss, dom, &e) != 0)
        LOG_WARN("miss subscription: %s", e.msg);
}

static void daemon_on_signal(void *arg)
{
    struct node_daemon *d = arg;
    if (d->stopping)
        return;
    d->stopping = true;
    LOG_INFO("SIGTERM: stopping (kernel entries stay)");
    if (d->h.stopping != NULL)
        d->h.stopping(d->h.arg); /* what waits is answered before the servers go */
    for (size_t i = 0; i < d->n_doms; i++) {
        struct node_domain *dom = d->doms[i];
        if (!dom->polling)
            continue;
        uv_poll_stop(&dom->miss_poll);
        uv_close((uv_handle_t *)&dom->miss_poll, NULL);
        uv_close((uv_handle_t *)&dom->resync_timer, NULL);
        dom->polling = false;
    }
    node_csd_close(d->csd);
    if (d->srv != NULL) {
        strata_server_close(d->srv);
        d->srv = NULL;
    }
    if (d->metrics != NULL) {
        strata_metrics_close(d->metrics);
        d->metrics = NULL;
    }
    strata_loop_close(d->loop);
}

static int daemon_poll(struct node_daemon *d, struct node_domain *dom, struct strata_err *e)
{
    int fd = dom->core.dp.ops->miss_fd(dom->core.dp.ctx);
    if (fd < 0 || uv_poll_init(&d->uv, &dom->miss_poll, fd) != 0)
        return strata_err_set(e, STRATA_EIO, "cannot poll the miss subscription");
    dom->miss_poll.data = dom;
    uv_timer_init(&d->uv, &dom->resync_timer);
    dom->resync_timer.data = dom;
    dom->polling = true;
    uv_poll_start(&dom->miss_poll, UV_READABLE, daemon_miss_readable);
    return 0;
}

int node_daemon_start(struct node_daemon *d, struct strata_err *e)
{
    for (size_t i = 0; i < d->n_doms; i++)
        if (daemon_poll(d, d->doms[i], e) != 0)
            return e ? e->code : STRATA_EIO;
    d->started = true;
    int rc = node_ctl_metrics(d, e);
    if (rc == 0)
        rc = node_ctl_open(d, e);
    if (rc == 0 && strata_loop_on_signal(d->loop, daemon_on_signal, d) != 0)
        rc = strata_err_set(e, STRATA_EIO, "cannot catch SIGTERM");
    if (rc != 0)
        return rc;
    node_csd_start(d->csd);
    return 0;
}

void node_daemon_run(struct node_daemon *d)
{
    uv_run(&d->uv, UV_RUN_DEFAULT);
    uv_run(&d->uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&d->uv) != 0)
        LOG_WARN("loop closed with handles still open");
}

void node_daemon_fini(struct node_daemon *d)
{
    node_csd_free(d->csd);
    d->csd = NULL;
    for (size_t i = 0; i < d->n_doms; i++) {
        struct node_domain *dom = d->doms[i];
        node_fini(&dom->core);
        if (dom->dp_free != NULL)
            dom->dp_free(dom->core.dp.ctx);
        free(dom);
    }
    d->n_doms = 0;
}

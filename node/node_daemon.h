/* node_daemon.h - the daemon runtime shared by strata-agentd and strata-gwd: one libuv loop, one
 * or more domains (a core and its datapath, e.g. one per tenant network namespace), the
 * connectivity-server client, miss polling, reconcile at start, and the control socket (cache
 * show, trace, metrics). A daemon adds its own requests and reactions through hooks. */
#ifndef NODE_DAEMON_H
#define NODE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "loop.h"
#include "metrics.h"
#include "node.h"
#include "node_csd.h"
#include "server.h"

#define NODE_DAEMON_MAX_DOMAINS NODE_CSD_MAX_NODES

struct node_daemon;

/* One core and the datapath it drives. The runtime polls the datapath's misses and feeds them to
 * the core; it never knows which backend it has. */
struct node_domain {
    struct node core;
    void (*dp_free)(void *dp_ctx); /* called at node_daemon_fini; NULL: the caller frees */
    uv_poll_t miss_poll;
    bool polling;
    /* ENOBUFS: one resync (and one log line) per burst of overruns, at most one per
     * NODE_DAEMON_RESYNC_GAP_MS; the timer lives while polling does. */
    uv_timer_t resync_timer;
    bool resync_pending;
    uint64_t burst_overruns, last_resync_ms;
    struct node_daemon *d;
    unsigned id; /* 0, 1, ...: the order of node_daemon_add_domain */
};

/* The daemon's own behaviour; every hook may be NULL. All run on the loop. */
struct node_daemon_hooks {
    /* A control-socket request the runtime does not serve (it serves CacheShowRequest and
     * TraceRequest): handle it (reply now or later) and return true, or return false and the
     * runtime refuses it. Not called while stopping. */
    bool (*ctl)(void *arg, struct strata_req *req, const strata_env *env);
    /* After each HostRegister (start, failover): re-register what the daemon announces (ports,
     * gateway addresses), fetch VN information. */
    void (*registered)(void *arg, const Strata__V1__HostRegisterReply *reply);
    /* A pushed update of a kind the core does not handle. */
    void (*update)(void *arg, const Strata__V1__Update *u);
    /* The VNs of domain `dom` whose owned devices must stay at reconcile (at start and after lost
     * miss notifications); caller frees; NULL = none. */
    uint32_t *(*keep_vnis)(void *arg, const struct node_domain *dom, size_t *n);
    /* SIGTERM, before the servers and the csd client close: answer what waits. */
    void (*stopping)(void *arg);
    void *arg;
};

struct node_daemon_opts {
    const char *name;           /* "strata-agentd": logs and error texts */
    const char *metrics_prefix; /* "agent": metrics are PREFIX_misses_total, ... */
    const char *ctl_path;       /* control socket path (ipc://) */
    const char *metrics_addr;   /* HOST:PORT or NULL */
    struct node_csd_opts csd;   /* host, pod, urls, vtep, gateway, vnis, timeouts */
    uint32_t negative_ttl_ms;
};

struct node_daemon {
    struct node_daemon_opts o;
    struct node_daemon_hooks h;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct node_csd *csd;
    struct strata_server *srv;
    struct strata_metrics *metrics;
    struct node_domain *doms[NODE_DAEMON_MAX_DOMAINS];
    size_t n_doms;
    bool started; /* node_daemon_start ran: domains added later are polled at once */
    bool stopping;
};

/* The loop and the csd client; no domain yet. The strings of o must outlive d. */
int node_daemon_init(struct node_daemon *d, const struct node_daemon_opts *o,
                     const struct node_daemon_hooks *h, struct strata_err *e);
/* A domain on datapath dp (its ops carry the miss subscription); dp_free(dp.ctx) at fini. After
 * node_daemon_start too (a gateway meets a new tenant domain): then polled and counted at once. */
int node_daemon_add_domain(struct node_daemon *d, struct node_dp dp, void (*dp_free)(void *),
                           struct node_domain **out, struct strata_err *e);
/* A domain on a new kernel datapath (o->netns_fd: its namespace; -1 = ours). */
int node_daemon_add_kernel(struct node_daemon *d, const struct node_dp_kernel_opts *o,
                           struct node_domain **out, struct strata_err *e);
/* Restart without disruption: reconcile every domain against keep_vnis (reports the first error
 * and goes on with the other domains). */
int node_daemon_reconcile(struct node_daemon *d, struct strata_err *e);
/* Poll misses, serve metrics and the control socket, stop on SIGTERM, register at the csd. */
int node_daemon_start(struct node_daemon *d, struct strata_err *e);
/* Run the loop until SIGTERM closed everything. */
void node_daemon_run(struct node_daemon *d);
/* Free the domains and the client (after run, or after a failed start). */
void node_daemon_fini(struct node_daemon *d);
/* The domain whose core holds vni's VN record, or NULL. */
struct node_domain *node_daemon_domain_of(struct node_daemon *d, uint32_t vni);

/* ---- audit (node_audit_report.c): answer an UPD_AUDIT with an AuditReport */
void node_audit_update(struct node_daemon *d, const Strata__V1__Update *u);

/* ---- control socket and metrics (node_ctl.c) */
int node_ctl_open(struct node_daemon *d, struct strata_err *e);
int node_ctl_metrics(struct node_daemon *d, struct strata_err *e);
/* Register domain j's counters (node_ctl_metrics does it for the domains added before start). */
void node_ctl_metrics_domain(struct node_daemon *d, size_t j);

#endif

/* agentd.h - strata-agentd, the daemon around the agent core: connectivity-server client, ports,
 * control socket, and the kernel datapath's miss socket on the libuv loop. */
#ifndef AGENTD_H
#define AGENTD_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"
#include "client.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"

/* ---- connectivity-server client (agent_csd.c) */
struct agent_csd;
struct agent_csd_opts {
    const char *host, *pod, *urls; /* urls: "tcp://a:1,tcp://b:2" */
    struct strata_ip vtep;
    unsigned call_timeout_ms; /* resolve / register; failover after one failure */
    unsigned poll_wait_ms;    /* UpdatesRequest.wait_ms */
};
/* Called (loop thread) each time a HostRegister succeeds: at start and after a failover. */
typedef void (*agent_csd_registered_cb)(void *arg);

int agent_csd_new(struct strata_loop *loop, struct agent *a, const struct agent_csd_opts *o,
                  agent_csd_registered_cb cb, void *arg, struct agent_csd **out,
                  struct strata_err *e);
/* The agent core's resolver (batches every key queued during one loop iteration). */
struct agent_resolver agent_csd_resolver(struct agent_csd *c);
/* Start: HostRegister, then the UpdatesRequest long-poll loop. */
void agent_csd_start(struct agent_csd *c);
/* Any request as this host (identity host:NAME) to the current server; a transport failure
 * also fails over to the next server. */
int agent_csd_call(struct agent_csd *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb,
                   void *arg);
/* Fetch VnInfo for vni and install its flood list. */
void agent_csd_fetch_flood(struct agent_csd *c, uint32_t vni);
const char *agent_csd_current_url(const struct agent_csd *c);
/* True once HostRegister succeeded at the current server (false again after a failover, until
 * the next server accepted it): a server refuses ports of a host it has not registered. */
bool agent_csd_registered(const struct agent_csd *c);
uint64_t *agent_csd_failovers(struct agent_csd *c);
void agent_csd_close(struct agent_csd *c);
void agent_csd_free(struct agent_csd *c);

/* ---- ports (agent_port.c) */
struct agent_port {
    char ifname[IF_NAMESIZE];
    uint32_t vni;
    uint8_t mac[6];
    struct strata_ip ip;
    uint8_t plen;
};

struct agentd {
    const char *host, *pod, *cs_urls, *ctl, *metrics_addr, *underlay, *data_dir;
    struct strata_ip vtep;
    uint64_t negative_ttl_ms, mtu;
    uv_loop_t *uv;
    struct strata_loop *loop;
    struct agent a;
    struct agent_dp_kernel *kdp;
    struct agent_csd *csd;
    struct strata_server *srv;
    struct strata_metrics *metrics;
    uv_poll_t miss_poll;
    struct agent_port *ports;
    size_t n_ports;
    char state_path[PATH_MAX];
    bool stopping;
    /* port attaches that arrived before HostRegister succeeded: sent once it does, failed at
     * the deadline (agent_port.c) */
    struct port_op *pending;
    uv_timer_t pending_timer;
};

/* Load the ports file (missing = none). */
int agent_port_load(struct agentd *d, struct strata_err *e);
/* Restart: devices and enslavement for every known port (idempotent). */
int agent_port_restore(struct agentd *d, struct strata_err *e);
/* After each HostRegister: PortRegister every port again (and the parked attaches, whose
 * requesters are answered then) and refetch flood lists. */
void agent_port_reregister(struct agentd *d);
/* Set up the parked-attach deadline timer (before the loop runs) / fail parked attaches with
 * STRATA_EUNAVAIL and close the timer (on shutdown). */
void agent_port_init(struct agentd *d);
void agent_port_close(struct agentd *d);
/* The VNIs of the ports we hold (for reconcile); caller frees. */
uint32_t *agent_port_vnis(const struct agentd *d, size_t *n);
/* Control-socket requests (reply asynchronously). */
void agent_port_attach(struct agentd *d, struct strata_req *req, const Strata__V1__PortAttach *pa);
void agent_port_detach(struct agentd *d, struct strata_req *req, const Strata__V1__PortDetach *pd);

/* ---- control socket (agent_ctl.c) */
int agent_ctl_open(struct agentd *d, struct strata_err *e);
/* Register the core's counters as metrics. */
int agent_ctl_metrics(struct agentd *d, struct strata_err *e);

#endif

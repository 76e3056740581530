/* agentd.h - strata-agentd, the host agent: the node daemon runtime (node/node_daemon.h) with
 * one kernel domain, plus what is truly host-specific: VM ports and their file. */
#ifndef AGENTD_H
#define AGENTD_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "node_daemon.h"

/* ---- ports (agent_port.c) */
struct agent_port {
    char ifname[IF_NAMESIZE];
    uint32_t vni;
    uint8_t mac[6];
    struct strata_ip ip;
    uint8_t plen;
    bool plugged; /* on its bridge and counted in its VN's ports (a restore may have failed) */
};

struct agentd {
    const char *host, *pod, *cs_urls, *ctl, *metrics_addr, *underlay, *data_dir;
    struct strata_ip vtep;
    uint64_t negative_ttl_ms, mtu;
    struct node_daemon nd;
    struct node *a; /* the one core (domain 0 of nd) */
    struct agent_port *ports;
    size_t n_ports;
    char state_path[PATH_MAX];
    /* port attaches that arrived before HostRegister succeeded: sent once it does, failed at
     * the deadline (agent_port.c) */
    struct port_op *pending;
    uv_timer_t pending_timer;
};

/* Load the ports file (missing = none). */
int agent_port_load(struct agentd *d, struct strata_err *e);
/* Restart: devices and enslavement for every known port (idempotent). */
int agent_port_restore(struct agentd *d, struct strata_err *e);
/* The node_daemon_hooks of the agent (arg: the agentd). */
extern const struct node_daemon_hooks agent_port_hooks;
/* After each HostRegister: PortRegister every port again (and the parked attaches, whose
 * requesters are answered then) and refetch flood lists. */
void agent_port_reregister(void *arg, const Strata__V1__HostRegisterReply *reply);
/* Set up the parked-attach deadline timer (before the loop runs) / fail parked attaches with
 * STRATA_EUNAVAIL and close the timer (on shutdown). */
void agent_port_init(struct agentd *d);
void agent_port_close(void *arg);
/* The VNIs of the ports we hold (for reconcile); caller frees. */
uint32_t *agent_port_vnis(const struct agentd *d, size_t *n);
/* Control-socket requests (reply asynchronously). */
void agent_port_attach(struct agentd *d, struct strata_req *req, const Strata__V1__PortAttach *pa);
void agent_port_detach(struct agentd *d, struct strata_req *req, const Strata__V1__PortDetach *pd);

#endif

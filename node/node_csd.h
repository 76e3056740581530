/* node_csd.h - a node's connectivity-server client: HostRegister (as a host or a gateway),
 * batched resolves, the UpdatesRequest long-poll and failover, serving one or more cores. */
#ifndef NODE_CSD_H
#define NODE_CSD_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "loop.h"
#include "node.h"

/* Cores one client serves (a gateway runs one per tenant-domain namespace). */
#define NODE_CSD_MAX_NODES 64

struct node_csd;
struct node_csd_opts {
    const char *host, *pod, *urls; /* urls: "tcp://a:1,tcp://b:2" */
    struct strata_ip vtep;
    bool gateway;         /* HostRegister.gateway: an L3 gateway, not a host */
    const uint32_t *vnis; /* HostRegister.vnis (a gateway's VNs); copied */
    size_t n_vnis;
    unsigned call_timeout_ms; /* resolve / register; failover after one failure */
    unsigned poll_wait_ms;    /* UpdatesRequest.wait_ms */
    /* How to dial each server (client.h); zeroed: the daemon's TLS context, any source
     * address. A load generator simulating many nodes gives each its own certificate and
     * address. */
    struct strata_aclient_opts client;
};

/* What the daemon around the client reacts to; every hook may be NULL. Called on the loop. */
struct node_csd_hooks {
    /* Each time a HostRegister succeeds (start, failover, server-asked resync), before the held
     * keys are re-resolved: the reply may say more than the session (a gateway's VNs). */
    void (*registered)(void *arg, const Strata__V1__HostRegisterReply *reply);
    /* A pushed update of a kind the core does not handle (not ENDPOINT, INVALIDATE, FLOOD,
     * RESYNC): the gateway's own kinds. In stream order, after the updates before it. */
    void (*update)(void *arg, const Strata__V1__Update *u);
    /* The core that holds `vni` (several cores); NULL, or a NULL answer: the first core whose
     * VN records know vni, else the first core. */
    struct node *(*node_of)(void *arg, uint32_t vni);
    void *arg;
};

int node_csd_new(struct strata_loop *loop, const struct node_csd_opts *o,
                 const struct node_csd_hooks *h, struct node_csd **out, struct strata_err *e);
/* Serve core n: sets n->res so that its resolves go through this client (batched with every
 * other key queued in this loop iteration) and their answers come back to n. */
int node_csd_attach(struct node_csd *c, struct node *n, struct strata_err *e);
/* Start: HostRegister, then the UpdatesRequest long-poll loop. */
void node_csd_start(struct node_csd *c);
/* Any request as this node (identity host:NAME, or gw:NAME for a gateway) to the current server; a
 * transport failure also fails over to the next server. */
int node_csd_call(struct node_csd *c, strata_env *req, unsigned timeout_ms, strata_aclient_cb cb,
                  void *arg);
/* VnInfo for vni: cb gets 0 and the reply (valid during the call), or an error and NULL. */
typedef void (*node_csd_vn_info_cb)(void *arg, int rc, const Strata__V1__VnInfoReply *r);
int node_csd_fetch_vn_info(struct node_csd *c, uint32_t vni, node_csd_vn_info_cb cb, void *arg);
/* Fetch VnInfo for vni and install its flood list in the core that holds vni. */
void node_csd_fetch_flood(struct node_csd *c, uint32_t vni);
const char *node_csd_current_url(const struct node_csd *c);
/* True once HostRegister succeeded at the current server (false again after a failover, until
 * the next server accepted it): a server refuses ports of a host it has not registered. */
bool node_csd_registered(const struct node_csd *c);
uint64_t *node_csd_failovers(struct node_csd *c);
/* An update the daemon applies asynchronously (a gateway fetching VnInfo, then programming its
 * kernel): the next UpdatesRequest acknowledges everything received so far (after_seq), so it
 * is held back until every hold is released, and "acknowledged" keeps meaning "applied" for the
 * server's convergence waits. A hold lasts at most NODE_CSD_HOLD_MAX_MS, after which the poll
 * goes anyway: a gateway must poll within its lease (CS_GW_LEASE_MS, 2.5 s) or be declared
 * dead. */
#define NODE_CSD_HOLD_MAX_MS 1000
void node_csd_hold(struct node_csd *c);
void node_csd_release(struct node_csd *c);
/* Stop: in-flight calls complete with STRATA_EUNAVAIL; free after the loop ran them. */
void node_csd_close(struct node_csd *c);
void node_csd_free(struct node_csd *c);

#endif

/* gwd.h - strata-gwd, the L3 gateway, on the node runtime (node/): which VNs it serves (from
 * its connectivity server), one namespace and node core per tenant domain, each VN's routed
 * interface, and the domain's inter-VN policy in nftables. */
#ifndef GWD_H
#define GWD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_l3.h"
#include "gw_nft.h"
#include "metrics.h"
#include "node_daemon.h"

#define GW_MAX_SUBNETS 64 /* gateway addresses per VN */

/* One tenant domain: its namespace and what lives in it. */
struct gw_dom {
    char ns[256]; /* st-<gateway>-<domain> */
    int ns_fd;
    struct node_domain *nd; /* core and kernel datapath inside the namespace */
    struct gw_l3 *l3;
    struct gw_nft *nft;
    bool unpinned; /* no VN served any more: the namespace was unpinned */
};

/* A policy rule as the gateway needs it. */
struct gw_rule {
    uint32_t from, to;
    bool allow;
};

/* One VN this gateway serves, or served before a restart (its devices are still there). */
/* How often VNs whose information could not be fetched or applied are asked again. */
#define GW_RETRY_MS 1000

struct gw_vn {
    uint32_t vni;
    bool served;            /* in the directory's list of this gateway's VNs */
    bool applied;           /* devices, addresses and policy installed from a VnInfo */
    bool fetching, refetch; /* a VnInfo request in flight / asked again meanwhile */
    bool warned;            /* a failed VnInfo was logged: the next ones are not, until one works */
    uint64_t pending_us;    /* wall clock of the change that asked for the refetch (latency) */
    unsigned refetch_holds; /* acknowledgements held (node_csd_hold) until the refetch applies */
    struct gw_dom *dom;
    struct gw_l3_addr addrs[GW_MAX_SUBNETS];
    size_t n_addrs;
    struct gw_rule *rules; /* policies whose from or to is this VN */
    size_t n_rules;
};

struct gwd_counters {
    uint64_t vn_info_fetches, vn_info_errors, policy_updates, apply_errors, vns_released, routes,
        rules;
};

struct gwd {
    const char *id, *pod, *cs_urls, *ctl, *metrics_addr, *underlay, *data_dir;
    struct strata_ip vtep;
    uint64_t mtu;
    struct node_daemon nd;
    struct gw_vn *vns;
    size_t n_vns, cap_vns;
    struct gw_dom *doms[NODE_DAEMON_MAX_DOMAINS];
    size_t n_doms;
    bool registered_once;
    struct gwd_counters c;
    struct strata_histo policy_apply; /* change seen by the csd -> enforced here */
};

/* ---- domains (gw_dom.c) */
/* The domain namespaces this gateway left at its last run (st-<id>-*): opened with their
 * devices, so that reconcile keeps what is right. Call before node_daemon_reconcile. */
int gw_dom_discover(struct gwd *g, struct strata_err *e);
/* The domain named `domain` (its namespace, core, interfaces and policy table, made when
 * missing). */
int gw_dom_get(struct gwd *g, const char *domain, struct gw_dom **out, struct strata_err *e);
/* Make the domain's nftables pairs exactly the allowed rules between VNs it serves. */
int gw_dom_policy_sync(struct gwd *g, struct gw_dom *dom, struct strata_err *e);
/* A domain left with no VN: its policy table goes and its namespace is unpinned (it dies with
 * the daemon's last reference to it). */
void gw_dom_retire_empty(struct gwd *g);
/* The VNs whose devices exist in dom (keep_vnis at reconcile); caller frees. */
uint32_t *gw_dom_vnis(struct gwd *g, const struct node_domain *nd, size_t *n);

/* ---- VNs (gw_vn.c) */
struct gw_vn *gw_vn_find(struct gwd *g, uint32_t vni);
struct gw_vn *gw_vn_get(struct gwd *g, uint32_t vni);
/* The VNs this gateway serves now: fetch what is new, release what is gone. */
void gw_vn_served(struct gwd *g, const uint32_t *vnis, size_t n);
/* Refetch one VN's information (a pushed UPD_VNINFO); committed_us: when the change was seen. */
void gw_vn_refresh(struct gwd *g, uint32_t vni, uint64_t committed_us);
/* Ask again for every served VN whose information is not applied (a timer calls it). */
void gw_vn_retry(struct gwd *g);

/* ---- metrics and hooks (gw_main.c wires them) */
extern const struct node_daemon_hooks gwd_hooks;
int gwd_metrics(struct gwd *g, struct strata_err *e);

#endif

/* node_dp_conformance.h - one conformance suite for every backend of node_dp.h (the NNG way):
 * the same cases run against the in-memory backend (unit test) and the kernel (system test). */
#ifndef NODE_DP_CONFORMANCE_H
#define NODE_DP_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node_dp.h"

/* A backend under test. Inspection hooks see the datapath independently of its ops (the kernel:
 * `ip`/`bridge` in the datapath's namespace) and count entries of any owner. Hooks run inside
 * cmocka cases and fail them on error. */
struct node_dp_conf {
    const char *name;
    bool bridge_endpoint; /* open the datapath with that option */
    bool netns;           /* kernel: the datapath in a second namespace (netns_fd) */
    /* A fresh, empty datapath for one case (kernel: fresh namespaces); close undoes it. */
    void (*open)(struct node_dp_conf *c, struct node_dp *dp);
    void (*close)(struct node_dp_conf *c);
    bool (*has_dev)(struct node_dp_conf *c, const char *name); /* "vx100", "br100" */
    bool (*dev_owned)(struct node_dp_conf *c, const char *name);
    bool (*neigh)(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip, uint8_t mac[6]);
    bool (*bridge_neigh)(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                         uint8_t mac[6]);
    bool (*fdb)(struct node_dp_conf *c, uint32_t vni, const uint8_t mac[6], struct strata_ip *vtep);
    size_t (*flood)(struct node_dp_conf *c, uint32_t vni, struct strata_ip *out, size_t cap);
    /* Which bridge ifname is on: "br100", or "" for none. */
    void (*port_master)(struct node_dp_conf *c, const char *ifname, char *out, size_t cap);
    /* Another program's state: devices vx<VNI>+br<VNI> without Strata's mark, entries without
     * it on our vx<VNI>, an interface (a VM port), that interface on a bridge. */
    void (*foreign_vn)(struct node_dp_conf *c, uint32_t vni);
    void (*foreign_neigh)(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                          const uint8_t mac[6]);
    void (*add_port)(struct node_dp_conf *c, const char *ifname);
    void (*port_to)(struct node_dp_conf *c, const char *ifname, uint32_t vni);
    /* Make the datapath see traffic that misses (kind 'i': to ip; 'm': to mac, whose ip the
     * datapath answers with a neighbour entry already). Called repeatedly until a miss comes. */
    void (*provoke_miss)(struct node_dp_conf *c, uint32_t vni, char kind,
                         const struct strata_ip *ip, const uint8_t mac[6]);
    /* A new datapath object over the same state, as after a daemon restart (NULL: the backend
     * keeps no state outside its object). */
    void (*reopen)(struct node_dp_conf *c, struct node_dp *dp);
    /* FDB dumps so far by the current object; NULL when the backend never dumps. */
    uint64_t (*fdb_dumps)(struct node_dp_conf *c);
    /* Kernel + netns: the devices are in the datapath's namespace and not in the caller's, and
     * the vxlan's UDP socket is in the caller's (link-netns). NULL elsewhere. */
    void (*check_placement)(struct node_dp_conf *c, uint32_t vni);
    void *priv;
};

/* Run every case against c (a cmocka group named after c->name); 0 when all passed. */
int node_dp_conformance_run(struct node_dp_conf *c);

#endif

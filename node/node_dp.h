/* node_dp.h - a node's datapath behind a table of function pointers: a kernel backend (lib/nl)
 * and an in-memory backend that records what would be installed (for tests without root). */
#ifndef NODE_DP_H
#define NODE_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

/* One owned neighbour entry (IP -> MAC on vx<VNI>). */
struct node_dp_neigh {
    uint32_t vni;
    struct strata_ip ip;
    uint8_t mac[6];
    bool owned; /* always, in dump_owned's */
};
/* One owned FDB entry (MAC -> VTEP on vx<VNI>); a flood entry has the all-zero MAC. */
struct node_dp_fdb {
    uint32_t vni;
    uint8_t mac[6];
    struct strata_ip vtep;
    bool owned; /* always, in dump_owned's */
};
/* What the datapath holds that Strata owns (ownership rule: lib/nl/nl.h). */
struct node_dp_dump {
    uint32_t *vnis; /* VNs with an owned vxlan device */
    size_t n_vnis;
    struct node_dp_neigh *neigh;
    size_t n_neigh;
    struct node_dp_fdb *fdb; /* unicast MACs */
    size_t n_fdb;
    struct node_dp_fdb *flood; /* all-zero MAC */
    size_t n_flood;
};
void node_dp_dump_free(struct node_dp_dump *d);
/* The dump's unicast FDB entry of mac in vni, or NULL (a linear search: reconcile, repairs). */
const struct node_dp_fdb *node_dp_dump_fdb(const struct node_dp_dump *d, uint32_t vni,
                                           const uint8_t mac[6]);

/* Misses seen on a Strata vxlan device: kind is 'i' (NDA_DST ip, l3miss) or 'm' (NDA_LLADDR
 * mac, l2miss); `overrun` (miss NULL) reports lost notifications instead: resynchronise. */
struct node_dp_miss {
    uint32_t vni;
    char kind;
    struct strata_ip ip;
    uint8_t mac[6];
};
typedef void (*node_dp_miss_cb)(void *arg, const struct node_dp_miss *miss, bool overrun);

/* What the datapath holds for one IP (describe_ip). */
struct node_dp_described {
    bool found;
    uint8_t mac[6];
    bool has_vtep; /* an FDB entry for mac: vtep is its destination */
    struct strata_ip vtep;
};

/* Every operation is idempotent: ensuring what exists, deleting what is absent, succeed. */
struct node_dp_ops {
    /* Create vx<VNI> and br<VNI> (or reuse Strata's own), vx enslaved, both up. A device of that
     * name that is not Strata's is refused (STRATA_EEXIST, naming it) and left untouched. */
    int (*vn_ensure)(void *ctx, uint32_t vni, struct strata_err *e);
    /* Delete both devices if they are Strata's (their neighbour and FDB entries go with them);
     * a device that is not Strata's is left alone. */
    int (*vn_release)(void *ctx, uint32_t vni, struct strata_err *e);
    /* Put ifname on br<VNI> (Strata's) and up; refused when ifname is on a bridge that is not
     * Strata's. Release takes it off only a Strata bridge. */
    int (*port_enslave)(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e);
    int (*port_release)(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e);
    int (*neigh_set)(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                     struct strata_err *e);
    int (*neigh_del)(void *ctx, uint32_t vni, const struct strata_ip *ip, struct strata_err *e);
    int (*fdb_set)(void *ctx, uint32_t vni, const uint8_t mac[6], const struct strata_ip *vtep,
                   struct strata_err *e);
    int (*fdb_del)(void *ctx, uint32_t vni, const uint8_t mac[6], struct strata_err *e);
    /* Make the VN's flood entries exactly `vteps` (adds and removes only the difference, from
     * state it keeps: not a dump per call). */
    int (*flood_set)(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                     struct strata_err *e);
    int (*dump_owned)(void *ctx, struct node_dp_dump *out, struct strata_err *e);
    /* Every neighbour and unicast FDB entry on Strata's own VXLAN devices, Strata's or not (each
     * says which), without flood entries: what the audit compares, since the kernel applies an
     * entry whoever wrote it. Changes nothing the backend remembers. */
    int (*dump_all)(void *ctx, struct node_dp_dump *out, struct strata_err *e);
    /* Human text of what the datapath has for an IP (neighbour + its FDB) in `buf`, and the
     * same in `out` (may be NULL) for machines; returns true when an entry exists. For trace. */
    bool (*describe_ip)(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf, size_t cap,
                        struct node_dp_described *out);
    /* Tell the VN's local VMs that ip is at mac (after installing the answer to a miss, so that
     * a VM waiting on the ARP the VXLAN device consumed need not wait for its retransmit).
     * Best effort: a failure costs that VM one ARP retransmit, nothing else. With a bridge
     * endpoint (a gateway) the bridge is who asked: the answer goes into br<VNI>'s table. */
    int (*announce)(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                    struct strata_err *e);
    /* The miss subscription, behind the table so that a daemon never knows its backend: a
     * descriptor to poll (readable when misses wait), and a read that drains without blocking,
     * calling cb for each miss (or once with overrun when some were lost). */
    int (*miss_fd)(void *ctx);
    int (*miss_read)(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e);
};

/* The kernel backend's announcement (node_dp_announce.c): a gratuitous ARP reply out of each of
 * the n interfaces (the ports of br<VNI>, never the VXLAN device) on packet socket fd. */
int node_dp_announce_arp(int fd, const int *ifindexes, size_t n, const struct strata_ip *ip,
                         const uint8_t mac[6], struct strata_err *e);

struct node_dp {
    const struct node_dp_ops *ops;
    void *ctx;
};

/* ---- in-memory backend (node_dp_mem.c) */
struct node_dp_mem;
struct node_dp_mem *node_dp_mem_new(void);
void node_dp_mem_free(struct node_dp_mem *m);
struct node_dp node_dp_mem(struct node_dp_mem *m);
/* Test hooks: what is installed, and how many write operations ran. */
bool node_dp_mem_vn(const struct node_dp_mem *m, uint32_t vni);
bool node_dp_mem_port(const struct node_dp_mem *m, uint32_t vni, const char *ifname);
bool node_dp_mem_neigh(const struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                       uint8_t mac_out[6]);
bool node_dp_mem_fdb(const struct node_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                     struct strata_ip *vtep_out);
size_t node_dp_mem_flood(const struct node_dp_mem *m, uint32_t vni, struct strata_ip *out,
                         size_t cap);
size_t node_dp_mem_count(const struct node_dp_mem *m);     /* neigh + fdb + flood entries */
size_t node_dp_mem_announced(const struct node_dp_mem *m); /* announce calls so far */
uint64_t node_dp_mem_writes(const struct node_dp_mem *m);
/* Pre-populate as a previous run (owned) or another program (un-owned) would have. */
void node_dp_mem_put_neigh(struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                           const uint8_t mac[6], bool owned);
void node_dp_mem_put_fdb(struct node_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                         const struct strata_ip *vtep, bool owned);
/* Make the datapath report a miss (or, miss NULL, lost misses) through miss_fd/miss_read, as
 * the kernel would; STRATA_ENOSPACE when the queue is full. */
int node_dp_mem_inject_miss(struct node_dp_mem *m, const struct node_dp_miss *miss);
/* Devices of vni that another program made (vn_ensure must refuse them), and a port on some
 * bridge (a foreign one: port_enslave must refuse to take it). */
void node_dp_mem_put_foreign_vn(struct node_dp_mem *m, uint32_t vni);
void node_dp_mem_put_port(struct node_dp_mem *m, uint32_t vni, const char *ifname);
bool node_dp_mem_vn_owned(const struct node_dp_mem *m, uint32_t vni);
uint32_t node_dp_mem_port_vni(const struct node_dp_mem *m, const char *ifname); /* 0: none */
/* The kernel backend's bridge_endpoint option: announce records the entry on br<VNI>. */
void node_dp_mem_set_bridge_endpoint(struct node_dp_mem *m, bool on);
bool node_dp_mem_bridge_neigh(const struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                              uint8_t mac_out[6]);

/* ---- kernel backend (node_dp_kernel.c, node_dp_kernel_read.c)
 * Ownership: it creates vx<VNI>/br<VNI> marked as Strata's (lib/nl/nl.h) and never adopts,
 * relabels, enslaves, brings down or deletes a device without that mark: vn_ensure refuses one
 * with STRATA_EEXIST naming it. */
struct node_dp_kernel;
struct node_dp_kernel_opts {
    struct strata_ip vtep;
    const char *underlay_dev; /* NULL = none; looked up in the caller's namespace */
    uint32_t mtu;             /* 0 = kernel default */
    /* The namespace of br<VNI>, vx<VNI>, their entries and the miss subscription (a gateway's
     * tenant domain); -1 = the caller's. Always set it: 0 is a descriptor. The vxlan devices'
     * UDP sockets stay in the caller's (underlay) namespace. Borrowed: the caller closes it. */
    int netns_fd;
    /* The bridge itself is the endpoint that asked (a gateway): announce installs the answer as
     * an owned neighbour entry on br<VNI> instead of telling the bridge's ports. */
    bool bridge_endpoint;
};
/* Opens its netlink sockets in netns_fd (setns on the calling thread and back: call it from the
 * daemon's one thread, before others exist or while none depends on this thread's namespace). */
int node_dp_kernel_new(const struct node_dp_kernel_opts *o, struct node_dp_kernel **out,
                       struct strata_err *e);
void node_dp_kernel_free(struct node_dp_kernel *k);
struct node_dp node_dp_kernel(struct node_dp_kernel *k);
/* FDB dumps sent so far (flood lists are learned once per VN, then kept: tests assert it). */
uint64_t node_dp_kernel_fdb_dumps(const struct node_dp_kernel *k);

#endif

/* agent_dp.h - the agent's datapath behind a table of function pointers: a kernel backend (lib/nl)
 * and an in-memory backend that records what would be installed (for tests without root). */
#ifndef AGENT_DP_H
#define AGENT_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

/* One owned neighbour entry (IP -> MAC on vx<VNI>). */
struct agent_dp_neigh {
    uint32_t vni;
    struct strata_ip ip;
    uint8_t mac[6];
};
/* One owned FDB entry (MAC -> VTEP on vx<VNI>); a flood entry has the all-zero MAC. */
struct agent_dp_fdb {
    uint32_t vni;
    uint8_t mac[6];
    struct strata_ip vtep;
};
/* What the datapath holds that Strata owns (ownership rule: lib/nl/nl.h). */
struct agent_dp_dump {
    uint32_t *vnis; /* VNs with an owned vxlan device */
    size_t n_vnis;
    struct agent_dp_neigh *neigh;
    size_t n_neigh;
    struct agent_dp_fdb *fdb; /* unicast MACs */
    size_t n_fdb;
    struct agent_dp_fdb *flood; /* all-zero MAC */
    size_t n_flood;
};
void agent_dp_dump_free(struct agent_dp_dump *d);

/* Every operation is idempotent: ensuring what exists, deleting what is absent, succeed. */
struct agent_dp_ops {
    /* Create (or adopt) vx<VNI> and br<VNI>, vx enslaved, both up. */
    int (*vn_ensure)(void *ctx, uint32_t vni, struct strata_err *e);
    /* Delete both devices (their neighbour and FDB entries go with them). */
    int (*vn_release)(void *ctx, uint32_t vni, struct strata_err *e);
    int (*port_enslave)(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e);
    int (*port_release)(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e);
    int (*neigh_set)(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                     struct strata_err *e);
    int (*neigh_del)(void *ctx, uint32_t vni, const struct strata_ip *ip, struct strata_err *e);
    int (*fdb_set)(void *ctx, uint32_t vni, const uint8_t mac[6], const struct strata_ip *vtep,
                   struct strata_err *e);
    int (*fdb_del)(void *ctx, uint32_t vni, const uint8_t mac[6], struct strata_err *e);
    /* Make the VN's flood entries exactly `vteps` (adds and removes only the difference). */
    int (*flood_set)(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                     struct strata_err *e);
    int (*dump_owned)(void *ctx, struct agent_dp_dump *out, struct strata_err *e);
    /* Human text of what the datapath has for an IP (neighbour + its FDB) in `buf`; returns
     * true when an entry exists. For trace. */
    bool (*describe_ip)(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf, size_t cap);
    /* Tell the VN's local VMs that ip is at mac (after installing the answer to a miss, so that
     * a VM waiting on the ARP the VXLAN device consumed need not wait for its retransmit).
     * Best effort: a failure costs that VM one ARP retransmit, nothing else. */
    int (*announce)(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                    struct strata_err *e);
};

/* The kernel backend's announcement (agent_dp_announce.c): a gratuitous ARP reply out of every
 * port of br<VNI> except the VXLAN device. *fd is a packet socket, opened on first use. */
int agent_dp_announce_arp(int *fd, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                          struct strata_err *e);

struct agent_dp {
    const struct agent_dp_ops *ops;
    void *ctx;
};

/* ---- in-memory backend (agent_dp_mem.c) */
struct agent_dp_mem;
struct agent_dp_mem *agent_dp_mem_new(void);
void agent_dp_mem_free(struct agent_dp_mem *m);
struct agent_dp agent_dp_mem(struct agent_dp_mem *m);
/* Test hooks: what is installed, and how many write operations ran. */
bool agent_dp_mem_vn(const struct agent_dp_mem *m, uint32_t vni);
bool agent_dp_mem_port(const struct agent_dp_mem *m, uint32_t vni, const char *ifname);
bool agent_dp_mem_neigh(const struct agent_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                        uint8_t mac_out[6]);
bool agent_dp_mem_fdb(const struct agent_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                      struct strata_ip *vtep_out);
size_t agent_dp_mem_flood(const struct agent_dp_mem *m, uint32_t vni, struct strata_ip *out,
                          size_t cap);
size_t agent_dp_mem_count(const struct agent_dp_mem *m);     /* neigh + fdb + flood entries */
size_t agent_dp_mem_announced(const struct agent_dp_mem *m); /* announce calls so far */
uint64_t agent_dp_mem_writes(const struct agent_dp_mem *m);
/* Pre-populate as a previous run (owned) or another program (un-owned) would have. */
void agent_dp_mem_put_neigh(struct agent_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                            const uint8_t mac[6], bool owned);
void agent_dp_mem_put_fdb(struct agent_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                          const struct strata_ip *vtep, bool owned);

/* ---- kernel backend (agent_dp_kernel.c) */
struct agent_dp_kernel;
struct agent_dp_kernel_opts {
    struct strata_ip vtep;
    const char *underlay_dev; /* NULL = none */
    uint32_t mtu;             /* 0 = kernel default */
};
/* Misses seen on a Strata vxlan device: kind is 'i' (NDA_DST ip, l3miss) or 'm' (NDA_LLADDR
 * mac, l2miss); `overrun` reports lost notifications (ENOBUFS) instead. */
struct agent_dp_miss {
    uint32_t vni;
    char kind;
    struct strata_ip ip;
    uint8_t mac[6];
};
typedef void (*agent_dp_miss_cb)(void *arg, const struct agent_dp_miss *miss, bool overrun);

int agent_dp_kernel_new(const struct agent_dp_kernel_opts *o, struct agent_dp_kernel **out,
                        struct strata_err *e);
void agent_dp_kernel_free(struct agent_dp_kernel *k);
struct agent_dp agent_dp_kernel(struct agent_dp_kernel *k);
/* The subscription socket (RTNLGRP_NEIGH) to poll; call _read when readable. */
int agent_dp_kernel_miss_fd(struct agent_dp_kernel *k);
int agent_dp_kernel_miss_read(struct agent_dp_kernel *k, agent_dp_miss_cb cb, void *arg,
                              struct strata_err *e);

#endif

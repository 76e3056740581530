/* node_dp_kernel_priv.h - the kernel backend's state, shared by its two files (devices and
 * writes: node_dp_kernel.c; dumps, describe and misses: node_dp_kernel_read.c). Not public. */
#ifndef NODE_DP_KERNEL_PRIV_H
#define NODE_DP_KERNEL_PRIV_H

#include "node_dp.h"
#include "nl/nl.h"

#define KERNEL_MAX_VN 4096

struct kernel_vn {
    uint32_t vni;
    int vx, br; /* br 0: no bridge of ours */
    /* The VN's flood entries as the kernel has them, learned once (a dump of this device, or
     * the startup dump) and kept by flood_set, so a flood-list update sends only the change. */
    bool flood_known;
    struct strata_ip *flood;
    size_t n_flood, cap_flood;
};

struct node_dp_kernel {
    struct strata_nl *req, *sub; /* in the datapath's namespace (o.netns_fd) */
    struct strata_nl *und; /* in the caller's namespace when o.netns_fd >= 0: creates vxlans */
    struct node_dp_kernel_opts o;
    char underlay[IF_NAMESIZE];
    struct kernel_vn vns[KERNEL_MAX_VN];
    size_t n_vns;
    int announce_fd; /* packet socket in the datapath's namespace */
    uint64_t fdb_dumps;
    char buf[STRATA_NL_MSG_MAX];
};

struct kernel_vn *kernel_vn_find(struct node_dp_kernel *k, uint32_t vni);
int kernel_vn_of_ifindex(const struct node_dp_kernel *k, int ifindex, uint32_t *vni);
struct kernel_vn *kernel_vn_put(struct node_dp_kernel *k, uint32_t vni, int vx, int br);
/* Replace v's known flood list (learned from a dump). */
int kernel_flood_learned(struct kernel_vn *v, const struct strata_ip *vteps, size_t n);
/* Learn v's flood entries from a dump of its vxlan device only. */
int kernel_flood_learn(struct node_dp_kernel *k, struct kernel_vn *v, struct strata_err *e);

int kernel_dump_owned(void *ctx, struct node_dp_dump *d, struct strata_err *e);
int kernel_dump_all(void *ctx, struct node_dp_dump *d, struct strata_err *e);
bool kernel_describe_ip(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf, size_t cap,
                        struct node_dp_described *out);
int kernel_miss_fd(void *ctx);
int kernel_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e);

#endif

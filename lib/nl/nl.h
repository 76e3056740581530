/* nl.h - rtnetlink for the VXLAN datapath: pure encoders, parsers, ownership rule, socket I/O. */
#ifndef STRATA_NL_H
#define STRATA_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

struct nlmsghdr;

/* Ownership marks (the one place that defines them, see strata_nl_neigh_owned):
 * - neighbour entries (AF_INET/AF_INET6) carry NDA_PROTOCOL = STRATA_NL_PROTO;
 * - FDB entries (AF_BRIDGE, NTF_SELF) carry NTF_EXT_LEARNED (the vxlan driver keeps no protocol
 *   for FDB entries; FRR marks its remote MACs the same way);
 * - links (vx<VNI>, br<VNI>) carry IFLA_IFALIAS = STRATA_NL_ALIAS. */
#define STRATA_NL_PROTO 0xab
#define STRATA_NL_ALIAS "strata"
#define STRATA_NL_VXLAN_PORT 4789

/* Every encoder needs at least this much room; it returns 0 when `cap` is smaller. */
#define STRATA_NL_MSG_MAX 512

/* ---- pure encoders: write one request into buf (nlmsg_seq = seq), return its length or 0. */

struct strata_nl_vxlan {
    const char *name;
    uint32_t vni;
    struct strata_ip local; /* our VTEP */
    uint32_t link;          /* underlay ifindex (IFLA_VXLAN_LINK), 0 = none */
    uint32_t mtu;           /* 0 = kernel default */
    /* Create it in another namespace (IFLA_NET_NS_FD): sent from a socket in the underlay, the
     * device lives in netns_fd while its UDP socket stays in the underlay (PITFALLS). */
    bool in_netns;
    int netns_fd;
};
/* RTM_NEWLINK create vxlan: id, local, dstport 4789, nolearning, proxy, l2miss, l3miss. */
size_t strata_nl_enc_vxlan_new(void *buf, size_t cap, uint32_t seq,
                               const struct strata_nl_vxlan *v);
/* RTM_NEWLINK create a bridge. */
size_t strata_nl_enc_bridge_new(void *buf, size_t cap, uint32_t seq, const char *name,
                                uint32_t mtu);
/* RTM_NEWLINK on ifindex: master (>0 set, 0 = nomaster, <0 unchanged), up (1 up, 0 down, <0
 * unchanged). */
size_t strata_nl_enc_link_set(void *buf, size_t cap, uint32_t seq, int ifindex, int master, int up);
/* RTM_NEWLINK setting IFLA_IFALIAS (the kernel ignores an alias given at creation). */
size_t strata_nl_enc_link_alias(void *buf, size_t cap, uint32_t seq, int ifindex,
                                const char *alias);
size_t strata_nl_enc_link_del(void *buf, size_t cap, uint32_t seq, int ifindex);
/* RTM_GETLINK of one link, by ifindex (> 0) or else by name: send with strata_nl_get. */
size_t strata_nl_enc_link_get(void *buf, size_t cap, uint32_t seq, int ifindex, const char *name);
/* RTM_GETLINK dump of the links enslaved to `master` only (the kernel filters on IFLA_MASTER). */
size_t strata_nl_enc_link_dump_master(void *buf, size_t cap, uint32_t seq, int master);

/* RTM_NEWNEIGH (add: replace, NUD_PERMANENT, owned) or RTM_DELNEIGH of ip -> mac on ifindex. */
size_t strata_nl_enc_neigh(void *buf, size_t cap, uint32_t seq, bool add, int ifindex,
                           const struct strata_ip *ip, const uint8_t mac[6]);
/* RTM_NEWNEIGH/DELNEIGH AF_BRIDGE NTF_SELF mac -> dst on the vxlan ifindex, NUD_PERMANENT|
 * NUD_NOARP, owned. `append` (NLM_F_APPEND) is for all-zero-MAC flood entries, where several
 * destinations share one MAC; for a delete, dst selects which one. */
size_t strata_nl_enc_fdb(void *buf, size_t cap, uint32_t seq, bool add, bool append, int ifindex,
                         const uint8_t mac[6], const struct strata_ip *dst);
/* Dump request: RTM_GETLINK (family AF_UNSPEC) or RTM_GETNEIGH (AF_INET, AF_INET6, AF_BRIDGE). */
size_t strata_nl_enc_dump(void *buf, size_t cap, uint32_t seq, int type, int family);
/* RTM_GETNEIGH AF_BRIDGE dump of one device's FDB (the kernel filters on the port ifindex: an
 * ifinfomsg header, as iproute2's `bridge fdb show dev` sends), not the whole table. */
size_t strata_nl_enc_fdb_dump_dev(void *buf, size_t cap, uint32_t seq, int ifindex);

/* ---- parsers */

struct strata_nl_neigh {
    int type; /* RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH (= a miss) */
    uint8_t family;
    int ifindex;
    uint16_t state;
    uint8_t flags;
    uint8_t protocol;
    bool has_dst; /* NDA_DST: the IP (neigh, l3miss) or the VTEP (fdb) */
    struct strata_ip dst;
    bool has_mac; /* NDA_LLADDR (6 bytes) */
    uint8_t mac[6];
};
/* Parse an RTM_*NEIGH message; STRATA_EPROTO when it is not one or is malformed. */
int strata_nl_parse_neigh(const struct nlmsghdr *nh, struct strata_nl_neigh *out);
/* Whether Strata installed this neighbour/FDB entry (see the marks above). */
bool strata_nl_neigh_owned(const struct strata_nl_neigh *n);

struct strata_nl_link {
    int type; /* RTM_NEWLINK / RTM_DELLINK */
    int ifindex;
    char name[IF_NAMESIZE];
    char kind[16]; /* "vxlan", "bridge", "" */
    char alias[64];
    uint32_t vni; /* vxlan only */
    int master;   /* 0 = none */
    unsigned flags;
};
int strata_nl_parse_link(const struct nlmsghdr *nh, struct strata_nl_link *out);
bool strata_nl_link_owned(const struct strata_nl_link *l);

/* ---- socket I/O (libmnl) */

struct strata_nl;
typedef void (*strata_nl_cb)(const struct nlmsghdr *nh, void *arg);

/* Open a NETLINK_ROUTE socket. groups: a bitmask of (1 << (RTNLGRP_x - 1)), 0 for a request
 * socket; rcvbuf: SO_RCVBUF(FORCE) bytes, 0 = default. A subscription socket is non-blocking. */
int strata_nl_open(unsigned groups, int rcvbuf, struct strata_nl **out, struct strata_err *e);
void strata_nl_close(struct strata_nl *n);
int strata_nl_fd(const struct strata_nl *n);

/* Send one encoded request with NLM_F_ACK (fresh seq) and wait for the ack. Kernel errors map
 * to STRATA_EEXIST (EEXIST), STRATA_ENOTFOUND (ENOENT, ENODEV), STRATA_EIO (others). */
int strata_nl_request(struct strata_nl *n, void *msg, struct strata_err *e);
/* Send a non-dump get (e.g. strata_nl_enc_link_get) with NLM_F_ACK and call cb for the answer;
 * STRATA_ENOTFOUND when there is no such object. */
int strata_nl_get(struct strata_nl *n, void *msg, strata_nl_cb cb, void *arg, struct strata_err *e);
/* Send a dump request and call cb for every message of the answer. */
int strata_nl_dump(struct strata_nl *n, void *msg, strata_nl_cb cb, void *arg,
                   struct strata_err *e);
/* Drain a subscription socket without blocking, calling cb for each notification. Lost
 * notifications (ENOBUFS) set *overrun: the caller must resynchronise from a dump. */
/* Every message in len bytes has an nlmsg_len of at least a header and within what arrived
 * (libmnl 1.0.4 takes nlmsg_len as an int: 2 GiB or more passes its own check). */
bool strata_nl_lengths_ok(const char *buf, size_t len);
int strata_nl_recv(struct strata_nl *n, strata_nl_cb cb, void *arg, bool *overrun,
                   struct strata_err *e);
/* strata_nl_recv reading at most max datagrams (0: no bound), so that a caller on an event loop
 * under a notification storm returns to its other work; what is left keeps the fd readable. */
int strata_nl_recv_max(struct strata_nl *n, unsigned max, strata_nl_cb cb, void *arg, bool *overrun,
                       struct strata_err *e);

#endif

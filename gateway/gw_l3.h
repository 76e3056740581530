/* gw_l3.h - a VN's routed interface on a gateway: br<VNI> in the domain namespace carries the
 * VN's virtual gateway MAC and the gateway address of each of the VN's subnets. */
#ifndef GW_L3_H
#define GW_L3_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

struct gw_l3_addr {
    struct strata_ip ip;
    uint8_t plen;
};

/* The VN's virtual gateway MAC, 02:53:54 followed by the VNI: every gateway serving the VN uses
 * it, so a failover changes only the VTEP that hosts send to, never a MAC a VM has cached. The
 * directory reserves the prefix (no endpoint may claim it). */
void gw_l3_vmac(uint32_t vni, uint8_t mac[6]);

struct gw_l3_stats {
    uint64_t addrs_added, addrs_removed, macs_set;
};

struct gw_l3;
/* Netlink inside ns_fd (the fd stays the caller's). */
int gw_l3_open(int ns_fd, struct gw_l3 **out, struct strata_err *e);
void gw_l3_free(struct gw_l3 *l);
/* Bring the namespace's loopback up (a fresh namespace has it down). */
int gw_l3_lo_up(struct gw_l3 *l, struct strata_err *e);
/* Make br<VNI> (which must exist and be Strata's) carry the virtual MAC and exactly addrs (IPv4
 * and global IPv6; link-local addresses are the kernel's): only the difference is changed, so a
 * restart keeps every address that is right and routes never blink. */
int gw_l3_sync(struct gw_l3 *l, uint32_t vni, const struct gw_l3_addr *addrs, size_t n,
               struct strata_err *e);
/* Up to cap addresses that br<VNI> holds now (for checks and tests); returns how many, or <0. */
int gw_l3_read(struct gw_l3 *l, uint32_t vni, struct gw_l3_addr *out, size_t cap,
               struct strata_err *e);
const struct gw_l3_stats *gw_l3_stats(const struct gw_l3 *l);

#endif

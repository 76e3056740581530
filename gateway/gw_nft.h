/* gw_nft.h - the inter-VN policy of one tenant domain, enforced by nftables inside the domain's
 * namespace and programmed in-process with libnftables. */
#ifndef GW_NFT_H
#define GW_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* In the domain namespace, table inet strata:
 * - map pairs (ifname . ifname : verdict): one element "br<FROM>" . "br<TO>" : accept per
 *   allowed (from, to) VN pair; a policy change is one element added or deleted, and the lookup
 *   is one hash probe whatever the number of pairs;
 * - chain forward (policy drop): established and related traffic passes (replies, ICMP errors),
 *   then iifname . oifname vmap @pairs: a connection may start only where a pair allows it;
 * - chain input: a VN reaches only its own gateway addresses, not those of the domain's other
 *   VNs (which would otherwise be a way around the policy to the gateway itself). */
#define GW_NFT_TABLE "strata"

struct gw_nft_pair {
    uint32_t from, to;
};

struct gw_nft_stats {
    uint64_t elements_added, elements_deleted, chains_rewritten, commands, errors;
};

struct gw_nft;
/* A context whose every command runs inside ns_fd (the fd stays the caller's). */
int gw_nft_open(int ns_fd, struct gw_nft **out, struct strata_err *e);
void gw_nft_free(struct gw_nft *n);
/* Make the table, map and chains Strata's: create what is missing, rewrite (atomically) only a
 * chain whose rules differ, and load the allowed pairs the kernel holds. Never flushes the map:
 * connections already allowed keep flowing through a restart. */
int gw_nft_ensure(struct gw_nft *n, struct strata_err *e);
/* Allow (or stop allowing) connections from VN `from` to VN `to`. Idempotent. */
int gw_nft_set(struct gw_nft *n, uint32_t from, uint32_t to, bool allow, struct strata_err *e);
/* Make the allowed pairs exactly want[0..cnt): the difference, in one transaction. */
int gw_nft_sync(struct gw_nft *n, const struct gw_nft_pair *want, size_t cnt, struct strata_err *e);
/* What gw_nft believes the kernel holds (after ensure, kept by set and sync). */
size_t gw_nft_count(const struct gw_nft *n);
bool gw_nft_allowed(const struct gw_nft *n, uint32_t from, uint32_t to);
/* Read the pairs back from the kernel (for checks and tests); caller frees *out. */
int gw_nft_read(struct gw_nft *n, struct gw_nft_pair **out, size_t *cnt, struct strata_err *e);
/* Remove the table (a domain the gateway no longer serves). */
int gw_nft_remove(struct gw_nft *n, struct strata_err *e);
const struct gw_nft_stats *gw_nft_stats(const struct gw_nft *n);

#endif

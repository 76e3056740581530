/* audit.h - the audit's digest, computed the same way by a node over what its kernel holds and
 * by its connectivity server over what it believes the node holds: one hash per key, summed. */
#ifndef STRATA_AUDIT_H
#define STRATA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

/* One key as the digest sees it: the key, the value a kernel applies for it, the version held. */
struct strata_audit_item {
    uint32_t vni;
    uint8_t key_len; /* 6: a MAC key; 4 or 16: an IP key */
    uint8_t key[16];
    uint8_t mac[6];
    uint8_t vtep_len; /* 0: no VTEP */
    uint8_t vtep[16];
    uint64_t version;
};

/* A VN of more keys than this is reported in this many buckets (by key), so that one divergent
 * key costs its bucket's details, not the VN's; a smaller one is one part, STRATA_AUDIT_WHOLE. */
#define STRATA_AUDIT_BUCKETS 64
#define STRATA_AUDIT_WHOLE STRATA_AUDIT_BUCKETS
/* The bucket of an item's key (its VN and address only, never its value). */
uint32_t strata_audit_bucket(const struct strata_audit_item *it);

/* The item's hash: its fields in a fixed order (unused bytes excluded), mixed so that a sum of
 * hashes does not cancel out for related keys. */
uint64_t strata_audit_hash(const struct strata_audit_item *it);

/* A VN's digest: how many keys and the sum of their hashes (order does not matter, so neither
 * side sorts anything). */
struct strata_audit_digest {
    uint32_t keys;
    uint64_t sum;
};
static inline void strata_audit_add(struct strata_audit_digest *d,
                                    const struct strata_audit_item *it)
{
    d->keys++;
    d->sum += strata_audit_hash(it);
}

#endif

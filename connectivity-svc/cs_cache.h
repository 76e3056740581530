/* cs_cache.h - the connectivity server's answer cache: (VNI, MAC) and (VNI, IP) keys to compact,
 * versioned answers with their interest sets, LRU-bounded; plus the inter-VN verdict cache. Pure:
 * no sockets, no clocks (callers pass now_ms). */
#ifndef CS_CACHE_H
#define CS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_interest.h"

enum cs_key_kind { CS_KEY_MAC = 1, CS_KEY_IP4 = 2, CS_KEY_IP6 = 3 };

/* A normalised key: unused bytes of b are zero so keys compare with memcmp. */
struct cs_key {
    uint32_t vni;
    uint8_t kind;
    uint8_t b[16]; /* MAC in b[0..5], IPv4 in b[0..3], IPv6 in b[0..15] */
};

/* An answer as stored. host is copied (interned) on store. */
struct cs_value {
    bool found;
    uint8_t mac[6];
    uint8_t vtep_len; /* 0, 4 or 16 */
    uint8_t vtep[16];
    const char *host;
    uint64_t version;   /* endpoint version, or the applied index that proved absence */
    uint64_t expire_ms; /* negative answers: not served at or after this time; 0 for positive */
};

/* One cached key: a fixed 112-byte struct (entries live in chunks; their addresses are stable
 * until removal). Fields are read-only for callers except through the functions below. */
struct cs_entry {
    uint32_t vni;
    uint8_t kind, found, vtep_len, _pad;
    uint8_t key[16];
    uint8_t mac[6];
    uint16_t _pad2;
    uint8_t vtep[16];
    uint32_t host; /* interned host name (cs_cache_host_name); 0 = none */
    uint32_t self; /* this entry's slot */
    uint64_t version;
    uint64_t stored_ms; /* when the current value was stored */
    uint64_t expire_ms;
    uint32_t lru_prev, lru_next; /* slot links, 0 = none */
    uint32_t hnext, mnext;       /* key chain, value-MAC chain */
    struct cs_iset holders;      /* agent session ids that were given this answer */
};

struct cs_cache;

/* max_entries > 0: the LRU bound. Returns NULL when out of memory. */
struct cs_cache *cs_cache_new(size_t max_entries);
void cs_cache_free(struct cs_cache *c);
/* Called with an entry the LRU is about to drop (so its holders can be told). */
void cs_cache_on_evict(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg);

void cs_key_mac(uint32_t vni, const uint8_t mac[6], struct cs_key *k);
/* len 4 or 16; STRATA_EINVAL otherwise. */
int cs_key_ip(uint32_t vni, const uint8_t *ip, size_t len, struct cs_key *k);
void cs_entry_key(const struct cs_entry *e, struct cs_key *k);
/* Wire length of a key's address (6, 4 or 16). */
size_t cs_key_len(uint8_t kind);

/* The entry for k whatever its state, without touching the LRU; NULL if absent. */
struct cs_entry *cs_cache_find(struct cs_cache *c, const struct cs_key *k);
/* An entry that may be served now: present and not an expired negative. Marks it most recently
 * used. NULL otherwise. */
struct cs_entry *cs_cache_lookup(struct cs_cache *c, const struct cs_key *k, uint64_t now_ms);

enum { CS_PUT_STORED = 1, CS_PUT_STALE = 2 };
/* Store v under k unless the entry already holds a higher version (then CS_PUT_STALE and the
 * entry is unchanged: a cache never goes back in time). Inserting may evict the least recently
 * used entry. *out (optional) receives the entry. Returns CS_PUT_* or STRATA_ENOMEM. */
int cs_cache_put(struct cs_cache *c, const struct cs_key *k, const struct cs_value *v,
                 uint64_t now_ms, struct cs_entry **out);
/* Drop an entry (its holders are forgotten). */
void cs_cache_remove(struct cs_cache *c, struct cs_entry *e);
/* Remove every entry, calling fn (optional) on each first. */
void cs_cache_clear(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg);

int cs_cache_holder_add(struct cs_cache *c, struct cs_entry *e, uint32_t id);
void cs_cache_holder_del(struct cs_cache *c, struct cs_entry *e, uint32_t id);

/* Positive entries whose value is (vni, mac): the MAC key and every IP key answered by it.
 * Returns a malloc'd array (caller frees) of *n entries; NULL with *n = 0 when none. Entries stay
 * valid while the caller modifies or removes them one at a time. */
struct cs_entry **cs_cache_by_value_mac(struct cs_cache *c, uint32_t vni, const uint8_t mac[6],
                                        size_t *n);
/* Visit every entry, most recently used first. fn must not add or remove entries. */
void cs_cache_foreach(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg);

size_t cs_cache_count(const struct cs_cache *c);
/* Bytes held by the cache's own structures (entries, hash buckets, interest sets, host names). */
size_t cs_cache_bytes(const struct cs_cache *c);
uint64_t cs_cache_evictions(const struct cs_cache *c);
/* An interned host name ("" for 0). */
const char *cs_cache_host_name(const struct cs_cache *c, uint32_t id);

/* "ip 10.1.0.7" / "mac 02:00:00:00:00:01" into buf[64]. */
char *cs_entry_key_text(const struct cs_entry *e, char *buf);
/* "mac 02:.. vtep 192.168.0.2 host h2" or "absent" into buf[160]. */
char *cs_entry_value_text(const struct cs_cache *c, const struct cs_entry *e, char *buf);

/* ---- inter-VN verdicts, per (from_vni, to_vni), as the directory last said. */
/* The verdict (Strata__V1__Verdict value) or -1 when not cached. */
int cs_verdict_get(const struct cs_cache *c, uint32_t from_vni, uint32_t to_vni);
int cs_verdict_put(struct cs_cache *c, uint32_t from_vni, uint32_t to_vni, int verdict);
void cs_verdict_flush(struct cs_cache *c);

#endif

/* audit.c - the audit's per-key hash (FNV-1a over the fields, then a 64-bit finaliser). */
#include <string.h>

#include "audit.h"

static uint64_t audit_fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t strata_audit_hash(const struct strata_audit_item *it)
{
    uint8_t buf[4 + 1 + 16 + 6 + 1 + 16 + 8];
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        buf[n++] = (uint8_t)(it->vni >> (8 * i));
    buf[n++] = it->key_len;
    size_t kl = it->key_len <= 16 ? it->key_len : 16;
    memcpy(buf + n, it->key, kl);
    n += kl;
    memcpy(buf + n, it->mac, 6);
    n += 6;
    size_t vl = it->vtep_len <= 16 ? it->vtep_len : 16;
    buf[n++] = (uint8_t)vl;
    memcpy(buf + n, it->vtep, vl);
    n += vl;
    for (int i = 0; i < 8; i++)
        buf[n++] = (uint8_t)(it->version >> (8 * i));
    uint64_t h = audit_fnv(1469598103934665603ull, buf, n);
    /* splitmix64's finaliser: every input bit reaches every output bit. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

uint32_t strata_audit_bucket(const struct strata_audit_item *it)
{
    uint8_t buf[4 + 1 + 16];
    size_t kl = it->key_len <= 16 ? it->key_len : 16;
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(it->vni >> (8 * i));
    buf[4] = (uint8_t)kl;
    memcpy(buf + 5, it->key, kl);
    uint64_t h = audit_fnv(1469598103934665603ull, buf, 5 + kl);
    return (uint32_t)((h ^ (h >> 32)) % STRATA_AUDIT_BUCKETS);
}

/* cs_cache.c - entries live in fixed chunks addressed by 32-bit slots (stable addresses, no
 * per-entry malloc); two chained hash tables share the slot links: one by key, one by the value's
 * (VNI, MAC) so a feed change finds every key it answers; an intrusive LRU list bounds the size. */
#include "cs_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NIL 0u

struct cs_cache {
    size_t max;
    struct cs_entry **chunks;
    uint32_t nchunks, chunks_cap;
    uint32_t high;      /* slots 1..high-1 have been handed out at least once */
    uint32_t free_head; /* free slots chained through hnext */
    uint32_t count;
    uint32_t *kb, *mb;           /* bucket heads by key and by value MAC */
    uint32_t nbuckets;           /* power of two */
    uint32_t lru_head, lru_tail; /* head = most recently used */
    uint64_t evictions;
    size_t iset_bytes;
    void (*evict_fn)(struct cs_entry *e, void *arg);
    void *evict_arg;

    /* interned host names: names[0] = "" */
    char **names;
    uint32_t nnames, names_cap;
    uint32_t *nb; /* open addressing of name ids; 0 = empty */
    uint32_t nb_size;
    size_t names_bytes;

    /* verdicts: open addressing keyed (from << 32 | to) + 1 so that 0 means empty */
    uint64_t *vkeys;
    uint8_t *vvals;
    uint32_t v_size, v_count;
};

static inline struct cs_entry *slot(const struct cs_cache *c, uint32_t i)
{
    return &c->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(uint32_t vni, uint8_t kind, const uint8_t b[16])
{
    uint64_t w0, w1;
    memcpy(&w0, b, 8);
    memcpy(&w1, b + 8, 8);
    return mix64(((uint64_t)vni << 8 | kind) ^ mix64(w0 ^ mix64(w1 + 0x9e3779b97f4a7c15ULL)));
}

static uint64_t hash_mac(uint32_t vni, const uint8_t mac[6])
{
    uint8_t b[16] = {0};
    memcpy(b, mac, 6);
    return hash_bytes(vni, 0xff, b);
}

void cs_key_mac(uint32_t vni, const uint8_t mac[6], struct cs_key *k)
{
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = CS_KEY_MAC;
    memcpy(k->b, mac, 6);
}

int cs_key_ip(uint32_t vni, const uint8_t *ip, size_t len, struct cs_key *k)
{
    if (len != 4 && len != 16)
        return STRATA_EINVAL;
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = len == 4 ? CS_KEY_IP4 : CS_KEY_IP6;
    memcpy(k->b, ip, len);
    return 0;
}

void cs_entry_key(const struct cs_entry *e, struct cs_key *k)
{
    memset(k, 0, sizeof(*k));
    k->vni = e->vni;
    k->kind = e->kind;
    memcpy(k->b, e->key, 16);
}

size_t cs_key_len(uint8_t kind)
{
    return kind == CS_KEY_MAC ? 6 : kind == CS_KEY_IP4 ? 4 : 16;
}

struct cs_cache *cs_cache_new(size_t max_entries)
{
    struct cs_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max = max_entries ? max_entries : 1;
    c->high = 1;
    c->nbuckets = 1024;
    c->kb = calloc(c->nbuckets, sizeof(uint32_t));
    c->mb = calloc(c->nbuckets, sizeof(uint32_t));
    c->names_cap = 16;
    c->names = calloc(c->names_cap, sizeof(char *));
    c->nb_size = 64;
    c->nb = calloc(c->nb_size, sizeof(uint32_t));
    c->v_size = 64;
    c->vkeys = calloc(c->v_size, sizeof(uint64_t));
    c->vvals = calloc(c->v_size, 1);
    if (c->kb == NULL || c->mb == NULL || c->names == NULL || c->nb == NULL || c->vkeys == NULL ||
        c->vvals == NULL || (c->names[0] = strdup("")) == NULL) {
        cs_cache_free(c);
        return NULL;
    }
    c->nnames = 1;
    return c;
}

void cs_cache_free(struct cs_cache *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = c->lru_head; i != NIL;) {
        struct cs_entry *e = slot(c, i);
        i = e->lru_next;
        cs_iset_clear(&e->holders);
    }
    for (uint32_t i = 0; i < c->nchunks; i++)
        free(c->chunks[i]);
    free(c->chunks);
    free(c->kb);
    free(c->mb);
    for (uint32_t i = 0; i < c->nnames; i++)
        free(c->names[i]);
    free(c->names);
    free(c->nb);
    free(c->vkeys);
    free(c->vvals);
    free(c);
}

void cs_cache_on_evict(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg)
{
    c->evict_fn = fn;
    c->evict_arg = arg;
}

/* ---- host names */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int names_grow(struct cs_cache *c)
{
    uint32_t size = c->nb_size * 2;
    uint32_t *nb = calloc(size, sizeof(uint32_t));
    if (nb == NULL)
        return STRATA_ENOMEM;
    for (uint32_t id = 1; id < c->nnames; id++) {
        uint32_t h = name_hash(c->names[id]) & (size - 1);
        while (nb[h] != 0)
            h = (h + 1) & (size - 1);
        nb[h] = id;
    }
    free(c->nb);
    c->nb = nb;
    c->nb_size = size;
    return 0;
}

/* The id of name, interning it on first use; 0 for NULL/"" or out of memory (the entry then
 * simply shows no host). */
static uint32_t name_intern(struct cs_cache *c, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    uint32_t h = name_hash(name) & (c->nb_size - 1);
    for (; c->nb[h] != 0; h = (h + 1) & (c->nb_size - 1))
        if (strcmp(c->names[c->nb[h]], name) == 0)
            return c->nb[h];
    if ((c->nnames + 1) * 2 > c->nb_size) {
        if (names_grow(c) != 0)
            return 0;
        return name_intern(c, name);
    }
    if (c->nnames == c->names_cap) {
        char **n = realloc(c->names, c->names_cap * 2 * sizeof(char *));
        if (n == NULL)
            return 0;
        c->names = n;
        c->names_cap *= 2;
    }
    char *dup = strdup(name);
    if (dup == NULL)
        return 0;
    uint32_t id = c->nnames++;
    c->names[id] = dup;
    c->names_bytes += strlen(dup) + 1;
    c->nb[h] = id;
    return id;
}

const char *cs_cache_host_name(const struct cs_cache *c, uint32_t id)
{
    return id < c->nnames ? c->names[id] : "";
}

/* ---- slots, hashing, LRU */

static int slot_alloc(struct cs_cache *c, uint32_t *out)
{
    if (c->free_head != NIL) {
        *out = c->free_head;
        c->free_head = slot(c, *out)->hnext;
        return 0;
    }
    if ((c->high >> CHUNK_SHIFT) >= c->nchunks) {
        if (c->nchunks == c->chunks_cap) {
            uint32_t cap = c->chunks_cap ? c->chunks_cap * 2 : 8;
            struct cs_entry **ch = realloc(c->chunks, cap * sizeof(*ch));
            if (ch == NULL)
                return STRATA_ENOMEM;
            c->chunks = ch;
            c->chunks_cap = cap;
        }
        struct cs_entry *chunk = malloc(CHUNK_SIZE * sizeof(struct cs_entry));
        if (chunk == NULL)
            return STRATA_ENOMEM;
        c->chunks[c->nchunks++] = chunk;
    }
    *out = c->high++;
    return 0;
}

static uint32_t kbucket(const struct cs_cache *c, const struct cs_entry *e)
{
    return (uint32_t)hash_bytes(e->vni, e->kind, e->key) & (c->nbuckets - 1);
}

static uint32_t mbucket(const struct cs_cache *c, uint32_t vni, const uint8_t mac[6])
{
    return (uint32_t)hash_mac(vni, mac) & (c->nbuckets - 1);
}

static void chain_unlink(struct cs_cache *c, uint32_t *heads, uint32_t b, uint32_t idx, bool bymac)
{
    uint32_t *p = &heads[b];
    while (*p != NIL) {
        struct cs_entry *x = slot(c, *p);
        if (*p == idx) {
            *p = bymac ? x->mnext : x->hnext;
            return;
        }
        p = bymac ? &x->mnext : &x->hnext;
    }
}

static void mac_link(struct cs_cache *c, struct cs_entry *e)
{
    uint32_t b = mbucket(c, e->vni, e->mac);
    e->mnext = c->mb[b];
    c->mb[b] = e->self;
}

static void mac_unlink(struct cs_cache *c, struct cs_entry *e)
{
    chain_unlink(c, c->mb, mbucket(c, e->vni, e->mac), e->self, true);
    e->mnext = NIL;
}

/* Double the bucket arrays when the load passes 1, keeping lookups short. */
static void maybe_grow(struct cs_cache *c)
{
    if (c->count < c->nbuckets || c->nbuckets >= (1u << 30))
        return;
    uint32_t n = c->nbuckets * 2;
    uint32_t *kb = calloc(n, sizeof(uint32_t)), *mb = calloc(n, sizeof(uint32_t));
    if (kb == NULL || mb == NULL) {
        free(kb);
        free(mb);
        return; /* keep working with longer chains */
    }
    free(c->kb);
    free(c->mb);
    c->kb = kb;
    c->mb = mb;
    c->nbuckets = n;
    for (uint32_t i = c->lru_head; i != NIL;) {
        struct cs_entry *e = slot(c, i);
        uint32_t b = kbucket(c, e);
        e->hnext = c->kb[b];
        c->kb[b] = i;
        if (e->found)
            mac_link(c, e);
        i = e->lru_next;
    }
}

static void lru_unlink(struct cs_cache *c, struct cs_entry *e)
{
    if (e->lru_prev != NIL)
        slot(c, e->lru_prev)->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next != NIL)
        slot(c, e->lru_next)->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NIL;
}

static void lru_push_front(struct cs_cache *c, struct cs_entry *e)
{
    e->lru_prev = NIL;
    e->lru_next = c->lru_head;
    if (c->lru_head != NIL)
        slot(c, c->lru_head)->lru_prev = e->self;
    c->lru_head = e->self;
    if (c->lru_tail == NIL)
        c->lru_tail = e->self;
}

struct cs_entry *cs_cache_find(struct cs_cache *c, const struct cs_key *k)
{
    uint32_t b = (uint32_t)hash_bytes(k->vni, k->kind, k->b) & (c->nbuckets - 1);
    for (uint32_t i = c->kb[b]; i != NIL;) {
        struct cs_entry *e = slot(c, i);
        if (e->vni == k->vni && e->kind == k->kind && memcmp(e->key, k->b, 16) == 0)
            return e;
        i = e->hnext;
    }
    return NULL;
}

struct cs_entry *cs_cache_lookup(struct cs_cache *c, const struct cs_key *k, uint64_t now_ms)
{
    struct cs_entry *e = cs_cache_find(c, k);
    if (e == NULL || (!e->found && now_ms >= e->expire_ms))
        return NULL;
    if (c->lru_head != e->self) {
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
    return e;
}

void cs_cache_remove(struct cs_cache *c, struct cs_entry *e)
{
    chain_unlink(c, c->kb, kbucket(c, e), e->self, false);
    if (e->found)
        mac_unlink(c, e);
    lru_unlink(c, e);
    c->iset_bytes -= cs_iset_heap_bytes(&e->holders);
    cs_iset_clear(&e->holders);
    uint32_t idx = e->self;
    memset(e, 0, sizeof(*e));
    e->hnext = c->free_head;
    c->free_head = idx;
    c->count--;
}

static void set_value(struct cs_cache *c, struct cs_entry *e, const struct cs_value *v,
                      uint64_t now_ms)
{
    bool relink = e->found != v->found || (v->found && memcmp(e->mac, v->mac, 6) != 0);
    if (relink && e->found)
        mac_unlink(c, e);
    e->found = v->found;
    memcpy(e->mac, v->found ? v->mac : (const uint8_t[6]){0}, 6);
    e->vtep_len = v->found ? v->vtep_len : 0;
    memset(e->vtep, 0, sizeof(e->vtep));
    if (e->vtep_len)
        memcpy(e->vtep, v->vtep, e->vtep_len);
    e->host = v->found ? name_intern(c, v->host) : 0;
    e->version = v->version;
    e->stored_ms = now_ms;
    e->expire_ms = v->found ? 0 : v->expire_ms;
    if (relink && e->found)
        mac_link(c, e);
}

int cs_cache_put(struct cs_cache *c, const struct cs_key *k, const struct cs_value *v,
                 uint64_t now_ms, struct cs_entry **out)
{
    if (v->vtep_len != 0 && v->vtep_len != 4 && v->vtep_len != 16)
        return STRATA_EINVAL;
    struct cs_entry *e = cs_cache_find(c, k);
    if (e != NULL) {
        if (out)
            *out = e;
        if (v->version < e->version)
            return CS_PUT_STALE;
        set_value(c, e, v, now_ms);
        if (c->lru_head != e->self) {
            lru_unlink(c, e);
            lru_push_front(c, e);
        }
        return CS_PUT_STORED;
    }
    while (c->count >= c->max && c->lru_tail != NIL) {
        struct cs_entry *victim = slot(c, c->lru_tail);
        if (c->evict_fn)
            c->evict_fn(victim, c->evict_arg);
        cs_cache_remove(c, victim);
        c->evictions++;
    }
    uint32_t idx;
    if (slot_alloc(c, &idx) != 0)
        return STRATA_ENOMEM;
    e = slot(c, idx);
    memset(e, 0, sizeof(*e));
    e->self = idx;
    e->vni = k->vni;
    e->kind = k->kind;
    memcpy(e->key, k->b, 16);
    uint32_t b = kbucket(c, e);
    e->hnext = c->kb[b];
    c->kb[b] = idx;
    set_value(c, e, v, now_ms);
    lru_push_front(c, e);
    c->count++;
    maybe_grow(c);
    if (out)
        *out = e;
    return CS_PUT_STORED;
}

void cs_cache_clear(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg)
{
    while (c->lru_head != NIL) {
        struct cs_entry *e = slot(c, c->lru_head);
        if (fn)
            fn(e, arg);
        cs_cache_remove(c, e);
    }
}

int cs_cache_holder_add(struct cs_cache *c, struct cs_entry *e, uint32_t id)
{
    size_t before = cs_iset_heap_bytes(&e->holders);
    int rc = cs_iset_add(&e->holders, id);
    c->iset_bytes += cs_iset_heap_bytes(&e->holders) - before;
    return rc;
}

void cs_cache_holder_del(struct cs_cache *c, struct cs_entry *e, uint32_t id)
{
    size_t before = cs_iset_heap_bytes(&e->holders);
    cs_iset_del(&e->holders, id);
    c->iset_bytes -= before - cs_iset_heap_bytes(&e->holders);
}

struct cs_entry **cs_cache_by_value_mac(struct cs_cache *c, uint32_t vni, const uint8_t mac[6],
                                        size_t *n)
{
    size_t cnt = 0, cap = 0;
    struct cs_entry **v = NULL;
    for (uint32_t i = c->mb[mbucket(c, vni, mac)]; i != NIL;) {
        struct cs_entry *e = slot(c, i);
        i = e->mnext;
        if (e->vni != vni || memcmp(e->mac, mac, 6) != 0)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 4;
            struct cs_entry **nv = realloc(v, cap * sizeof(*nv));
            if (nv == NULL)
                break;
            v = nv;
        }
        v[cnt++] = e;
    }
    *n = cnt;
    return v;
}

void cs_cache_foreach(struct cs_cache *c, void (*fn)(struct cs_entry *e, void *arg), void *arg)
{
    for (uint32_t i = c->lru_head; i != NIL;) {
        struct cs_entry *e = slot(c, i);
        i = e->lru_next;
        fn(e, arg);
    }
}

size_t cs_cache_count(const struct cs_cache *c)
{
    return c->count;
}

size_t cs_cache_bytes(const struct cs_cache *c)
{
    return sizeof(*c) + (size_t)c->nchunks * CHUNK_SIZE * sizeof(struct cs_entry) +
           (size_t)c->chunks_cap * sizeof(void *) + 2 * (size_t)c->nbuckets * sizeof(uint32_t) +
           c->iset_bytes + c->names_bytes + (size_t)c->names_cap * sizeof(char *) +
           (size_t)c->nb_size * sizeof(uint32_t) + (size_t)c->v_size * (sizeof(uint64_t) + 1);
}

uint64_t cs_cache_evictions(const struct cs_cache *c)
{
    return c->evictions;
}

char *cs_entry_key_text(const struct cs_entry *e, char *buf)
{
    if (e->kind == CS_KEY_MAC) {
        char m[STRATA_MAC_STRLEN];
        snprintf(buf, 64, "mac %s", strata_mac_format(e->key, m));
    } else {
        struct strata_ip ip;
        char s[STRATA_IP_STRLEN];
        strata_ip_from_bytes(e->key, cs_key_len(e->kind), &ip, NULL);
        snprintf(buf, 64, "ip %s", strata_ip_format(&ip, s));
    }
    return buf;
}

char *cs_entry_value_text(const struct cs_cache *c, const struct cs_entry *e, char *buf)
{
    if (!e->found) {
        snprintf(buf, 160, "absent");
        return buf;
    }
    char m[STRATA_MAC_STRLEN], v[STRATA_IP_STRLEN] = "?";
    struct strata_ip ip;
    if (e->vtep_len && strata_ip_from_bytes(e->vtep, e->vtep_len, &ip, NULL) == 0)
        strata_ip_format(&ip, v);
    snprintf(buf, 160, "mac %s vtep %s host %s", strata_mac_format(e->mac, m), v,
             cs_cache_host_name(c, e->host));
    return buf;
}

/* ---- verdicts */

static uint32_t vslot(const struct cs_cache *c, uint64_t key)
{
    uint32_t h = (uint32_t)mix64(key) & (c->v_size - 1);
    while (c->vkeys[h] != 0 && c->vkeys[h] != key)
        h = (h + 1) & (c->v_size - 1);
    return h;
}

int cs_verdict_get(const struct cs_cache *c, uint32_t from_vni, uint32_t to_vni)
{
    uint64_t key = ((uint64_t)from_vni << 32 | to_vni) + 1;
    uint32_t h = vslot(c, key);
    return c->vkeys[h] == key ? c->vvals[h] : -1;
}

int cs_verdict_put(struct cs_cache *c, uint32_t from_vni, uint32_t to_vni, int verdict)
{
    if ((c->v_count + 1) * 2 > c->v_size) {
        uint32_t size = c->v_size * 2;
        uint64_t *k = calloc(size, sizeof(uint64_t));
        uint8_t *v = calloc(size, 1);
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            return STRATA_ENOMEM;
        }
        uint64_t *ok = c->vkeys;
        uint8_t *ov = c->vvals;
        uint32_t osize = c->v_size;
        c->vkeys = k;
        c->vvals = v;
        c->v_size = size;
        for (uint32_t i = 0; i < osize; i++) {
            if (ok[i] == 0)
                continue;
            uint32_t h = vslot(c, ok[i]);
            c->vkeys[h] = ok[i];
            c->vvals[h] = ov[i];
        }
        free(ok);
        free(ov);
    }
    uint64_t key = ((uint64_t)from_vni << 32 | to_vni) + 1;
    uint32_t h = vslot(c, key);
    if (c->vkeys[h] == 0)
        c->v_count++;
    c->vkeys[h] = key;
    c->vvals[h] = (uint8_t)verdict;
    return 0;
}

void cs_verdict_flush(struct cs_cache *c)
{
    memset(c->vkeys, 0, c->v_size * sizeof(uint64_t));
    c->v_count = 0;
}

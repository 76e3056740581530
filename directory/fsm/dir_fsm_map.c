/* dir_fsm_map.c - chained hash map with FNV-1a hashing and incremental doubling (dir_fsm_map.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"
#include "dir_fsm_slab.h"

static uint64_t map_hash(const void *key, size_t klen)
{
    const uint8_t *p = key;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    /* Final mix so that keys differing only in late bytes spread over the low bits too. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void dir_map_init(struct dir_map *m, struct dir_slab *slab)
{
    memset(m, 0, sizeof(*m));
    m->slab = slab;
}

/* Buckets of the old table moved per insert or delete. A doubling starts when the entries reach
 * 3/4 of the old table's buckets (onb), and the next one only at 3/4 of the new table's (2 onb):
 * 3/4 onb inserts later at least, which move 48 onb buckets, of onb. Moving more per change
 * shortens the time in which lookups look in two tables: with 8, writes lost 1-3 % (dir-bench).
 * Tables under MAP_STEP_MIN buckets move at once: their rehash takes a few ms at most. */
#define MAP_STEP 64
#define MAP_STEP_MIN ((size_t)1 << 16)

static void map_free_chains(struct dir_map *m, struct dir_map_node **b, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        struct dir_map_node *n = b[i];
        while (n) {
            struct dir_map_node *next = n->next;
            dir_slab_free(m->slab, n);
            n = next;
        }
    }
}

void dir_map_fini(struct dir_map *m)
{
    map_free_chains(m, m->b, m->nb);
    dir_slab_table_free(m->slab, m->b, m->nb * sizeof(*m->b));
    if (m->ob) {
        map_free_chains(m, m->ob, m->onb);
        dir_slab_table_free(m->slab, m->ob, m->onb * sizeof(*m->ob));
    }
    dir_map_init(m, m->slab);
}

/* The slot in chain `pp` that holds the key, or the chain's terminating NULL slot. */
static struct dir_map_node **chain_slot(struct dir_map_node **pp, uint64_t h, const void *key,
                                        size_t klen)
{
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

/* The slot holding the key, in the old table if it is still there, else in the new one; when
 * absent, the end of its chain in the new table. NULL for a map that never had a table. */
static struct dir_map_node **map_slot(const struct dir_map *m, uint64_t h, const void *key,
                                      size_t klen)
{
    if (!m->nb)
        return NULL;
    if (m->ob) {
        size_t i = h & (m->onb - 1);
        if (i >= m->mig) {
            struct dir_map_node **pp = chain_slot(&m->ob[i], h, key, klen);
            if (*pp)
                return pp;
        }
    }
    return chain_slot(&m->b[h & (m->nb - 1)], h, key, klen);
}

/* Move up to k buckets of the old table into the new one; free it when it is empty. */
static void map_step(struct dir_map *m, size_t k)
{
    if (!m->ob)
        return;
    for (; k > 0 && m->mig < m->onb; k--, m->mig++) {
        struct dir_map_node *n = m->ob[m->mig];
        m->ob[m->mig] = NULL;
        while (n) {
            struct dir_map_node *next = n->next;
            size_t s = n->hash & (m->nb - 1);
            n->next = m->b[s];
            m->b[s] = n;
            n = next;
        }
    }
    if (m->mig == m->onb) {
        dir_slab_table_free(m->slab, m->ob, m->onb * sizeof(*m->ob));
        m->ob = NULL;
        m->onb = m->mig = 0;
    }
}

static void map_grow(struct dir_map *m)
{
    map_step(m, SIZE_MAX); /* never two old tables (not reached: see MAP_STEP) */
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct dir_map_node **b = dir_slab_table(m->slab, nb * sizeof(*b));
    if (m->nb) {
        m->ob = m->b;
        m->onb = m->nb;
        m->mig = 0;
    }
    m->b = b;
    m->nb = nb;
    if (m->onb < MAP_STEP_MIN)
        map_step(m, SIZE_MAX);
}

void *dir_map_get(const struct dir_map *m, const void *key, size_t klen)
{
    struct dir_map_node **pp = map_slot(m, map_hash(key, klen), key, klen);
    return pp && *pp ? (*pp)->val : NULL;
}

void *dir_map_put(struct dir_map *m, const void *key, size_t klen, void *val)
{
    uint64_t h = map_hash(key, klen);
    struct dir_map_node **pp = map_slot(m, h, key, klen);
    if (pp && *pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    if (m->n + 1 > m->nb - m->nb / 4 || !m->nb)
        map_grow(m);
    map_step(m, MAP_STEP);
    pp = chain_slot(&m->b[h & (m->nb - 1)], h, key, klen); /* the key is in neither table */
    struct dir_map_node *n = dir_slab_alloc(m->slab, sizeof(*n) + klen);
    n->next = NULL;
    n->hash = h;
    n->val = val;
    n->klen = (uint32_t)klen;
    memcpy(n->key, key, klen);
    *pp = n;
    m->n++;
    return NULL;
}

void *dir_map_del(struct dir_map *m, const void *key, size_t klen)
{
    struct dir_map_node **pp = map_slot(m, map_hash(key, klen), key, klen);
    if (!pp || !*pp)
        return NULL;
    struct dir_map_node *n = *pp;
    void *val = n->val;
    *pp = n->next;
    dir_slab_free(m->slab, n);
    m->n--;
    map_step(m, MAP_STEP);
    return val;
}

/* Buckets 0..nb-1 of the new table, then those of the old one (moved ones are empty). */
void *dir_map_next(const struct dir_map *m, struct dir_map_iter *it)
{
    if (it->node)
        it->node = it->node->next;
    while (!it->node) {
        if (it->b < m->nb)
            it->node = m->b[it->b];
        else if (m->ob && it->b < m->nb + m->onb)
            it->node = m->ob[it->b - m->nb];
        else
            return NULL;
        it->b++;
    }
    return it->node->val;
}

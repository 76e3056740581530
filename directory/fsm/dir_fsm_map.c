/* dir_fsm_map.c - chained hash map with FNV-1a hashing and doubling growth. */
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

void dir_map_fini(struct dir_map *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        struct dir_map_node *n = m->b[i];
        while (n) {
            struct dir_map_node *next = n->next;
            dir_slab_free(m->slab, n);
            n = next;
        }
    }
    dir_slab_table_free(m->slab, m->b, m->nb * sizeof(*m->b));
    dir_map_init(m, m->slab);
}

static struct dir_map_node **map_slot(const struct dir_map *m, uint64_t h, const void *key,
                                      size_t klen)
{
    if (!m->nb)
        return NULL;
    struct dir_map_node **pp = &m->b[h & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

static void map_grow(struct dir_map *m)
{
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct dir_map_node **b = dir_slab_table(m->slab, nb * sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        struct dir_map_node *n = m->b[i];
        while (n) {
            struct dir_map_node *next = n->next;
            size_t s = n->hash & (nb - 1);
            n->next = b[s];
            b[s] = n;
            n = next;
        }
    }
    dir_slab_table_free(m->slab, m->b, m->nb * sizeof(*m->b));
    m->b = b;
    m->nb = nb;
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
    if (m->n + 1 > m->nb - m->nb / 4 || !m->nb) {
        map_grow(m);
        pp = map_slot(m, h, key, klen);
    }
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
    return val;
}

void *dir_map_next(const struct dir_map *m, struct dir_map_iter *it)
{
    if (it->node)
        it->node = it->node->next;
    while (!it->node) {
        if (it->b >= m->nb)
            return NULL;
        it->node = m->b[it->b++];
    }
    return it->node->val;
}

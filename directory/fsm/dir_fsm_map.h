/* dir_fsm_map.h - a small chained hash map from byte-string keys to pointers (FSM indexes). */
#ifndef DIR_FSM_MAP_H
#define DIR_FSM_MAP_H

#include <stddef.h>
#include <stdint.h>

struct dir_slab;

struct dir_map_node {
    struct dir_map_node *next;
    uint64_t hash;
    void *val;
    uint32_t klen;
    uint8_t key[];
};

/* Iteration order is arbitrary: callers that need determinism sort what they collect.
 *
 * The map doubles incrementally: a full rehash of N entries stopped the directory's loop for
 * ~37 ms at 786k entries, 98 ms at 1.6M and 212 ms at 3.1M (and an endpoint insert can grow two
 * maps at once), which at a few million endpoints outlasts an election timeout. So a doubling
 * of a large table only allocates the new one; each later insert or delete moves a few buckets
 * of the old one (long done before the next doubling), and lookups look in both meanwhile. */
struct dir_map {
    struct dir_map_node **b;  /* the table new keys go to */
    size_t nb, n;             /* its buckets; the entries in both tables */
    struct dir_map_node **ob; /* while doubling: the previous table, emptied from bucket 0 up */
    size_t onb, mig;          /* its buckets, and the first one not yet moved */
    struct dir_slab *slab;    /* where nodes and buckets live */
};

struct dir_map_iter {
    size_t b;
    struct dir_map_node *node;
};

/* An empty map whose nodes and buckets are allocated from `slab`. */
void dir_map_init(struct dir_map *m, struct dir_slab *slab);
/* Frees the map's nodes, not the values. */
void dir_map_fini(struct dir_map *m);
void *dir_map_get(const struct dir_map *m, const void *key, size_t klen);
/* Insert or replace; returns the previous value (NULL when the key was new). */
void *dir_map_put(struct dir_map *m, const void *key, size_t klen, void *val);
/* Remove; returns the removed value (NULL when absent). */
void *dir_map_del(struct dir_map *m, const void *key, size_t klen);
/* Next value or NULL at the end; start with a zeroed iterator. No changes while iterating. */
void *dir_map_next(const struct dir_map *m, struct dir_map_iter *it);

#endif

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

/* Iteration order is arbitrary: callers that need determinism sort what they collect. */
struct dir_map {
    struct dir_map_node **b;
    size_t nb, n;
    struct dir_slab *slab; /* where nodes and buckets live */
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

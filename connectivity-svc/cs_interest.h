/* cs_interest.h - compact sets of small ids (agent sessions holding a key, VNIs a host uses):
 * a couple inline, growing to the heap, so that a cache entry stays small. Pure. */
#ifndef CS_INTEREST_H
#define CS_INTEREST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_ISET_INLINE 2

/* Zero-initialised is an empty set. Ids are any uint32_t. Order is insertion order except after
 * a removal (the last id takes the removed one's place). */
struct cs_iset {
    uint32_t n;
    uint32_t cap; /* 0: ids live in u.in; otherwise u.heap holds cap ids */
    union {
        uint32_t in[CS_ISET_INLINE];
        uint32_t *heap;
    } u;
};

/* Add id: returns 1 when added, 0 when already present, STRATA_ENOMEM on allocation failure. */
int cs_iset_add(struct cs_iset *s, uint32_t id);
/* Remove id: returns 1 when removed, 0 when absent. Shrinks back inline when small. */
int cs_iset_del(struct cs_iset *s, uint32_t id);
bool cs_iset_has(const struct cs_iset *s, uint32_t id);
static inline uint32_t cs_iset_count(const struct cs_iset *s)
{
    return s->n;
}
/* The ids, valid until the next add/del. */
static inline const uint32_t *cs_iset_ids(const struct cs_iset *s)
{
    return s->cap ? s->u.heap : s->u.in;
}
/* Release heap storage; the set becomes empty. */
void cs_iset_clear(struct cs_iset *s);
/* Heap bytes held (for memory accounting). */
static inline size_t cs_iset_heap_bytes(const struct cs_iset *s)
{
    return (size_t)s->cap * sizeof(uint32_t);
}

#endif

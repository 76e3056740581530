/* cs_interest.c - small id sets: linear scans are the fastest thing for the handful of holders a
 * key usually has; only keys held by many agents spill to a heap array. */
#include "cs_interest.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

bool cs_iset_has(const struct cs_iset *s, uint32_t id)
{
    const uint32_t *ids = cs_iset_ids(s);
    for (uint32_t i = 0; i < s->n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int cs_iset_add(struct cs_iset *s, uint32_t id)
{
    if (cs_iset_has(s, id))
        return 0;
    if (s->cap == 0 && s->n < CS_ISET_INLINE) {
        s->u.in[s->n++] = id;
        return 1;
    }
    if (s->cap == 0) {
        uint32_t cap = CS_ISET_INLINE * 4;
        uint32_t *h = malloc(cap * sizeof(*h));
        if (h == NULL)
            return STRATA_ENOMEM;
        memcpy(h, s->u.in, s->n * sizeof(*h));
        s->u.heap = h;
        s->cap = cap;
    } else if (s->n == s->cap) {
        uint32_t cap = s->cap * 2;
        uint32_t *h = realloc(s->u.heap, cap * sizeof(*h));
        if (h == NULL)
            return STRATA_ENOMEM;
        s->u.heap = h;
        s->cap = cap;
    }
    s->u.heap[s->n++] = id;
    return 1;
}

int cs_iset_del(struct cs_iset *s, uint32_t id)
{
    uint32_t *ids = s->cap ? s->u.heap : s->u.in;
    for (uint32_t i = 0; i < s->n; i++) {
        if (ids[i] != id)
            continue;
        ids[i] = ids[--s->n];
        if (s->cap && s->n <= CS_ISET_INLINE) {
            uint32_t *h = s->u.heap;
            memcpy(s->u.in, h, s->n * sizeof(*h));
            free(h);
            s->cap = 0;
        }
        return 1;
    }
    return 0;
}

void cs_iset_clear(struct cs_iset *s)
{
    if (s->cap)
        free(s->u.heap);
    memset(s, 0, sizeof(*s));
}

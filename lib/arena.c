/* arena.c - bump allocation with extra blocks for overflow (see arena.h). */
#include <stdlib.h>

#include "arena.h"
#include "poison.h"

#define ARENA_ALIGN 16
#define ARENA_MIN 4096

struct strata_arena_extra {
    struct strata_arena_extra *next;
    size_t pad; /* keeps the payload 16-byte aligned */
};

void strata_arena_init(struct strata_arena *a, size_t cap)
{
    *a = (struct strata_arena){.cap = cap < ARENA_MIN ? ARENA_MIN : cap};
}

static void *arena_extra(struct strata_arena *a, size_t n)
{
    struct strata_arena_extra *x = malloc(sizeof(*x) + n);
    if (!x)
        return NULL;
    x->next = a->extra;
    a->extra = x;
    a->extra_bytes += n;
    return x + 1;
}

void *strata_arena_alloc(struct strata_arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!a->buf) {
        a->buf = malloc(a->cap);
        if (!a->buf)
            return NULL;
        STRATA_POISON(a->buf, a->cap); /* under ASan, only what was handed out is usable */
    }
    if (n > a->cap - a->used)
        return arena_extra(a, n);
    void *p = a->buf + a->used;
    a->used += n;
    STRATA_UNPOISON(p, n);
    return p;
}

void strata_arena_reset(struct strata_arena *a)
{
    size_t need = a->used + a->extra_bytes;
    while (a->extra) {
        struct strata_arena_extra *x = a->extra;
        a->extra = x->next;
        free(x);
    }
    a->extra_bytes = 0;
    a->used = 0;
    if (!a->buf)
        return;
    if (need > a->cap && a->cap < STRATA_ARENA_KEEP) { /* next time in one block */
        size_t cap = need < STRATA_ARENA_KEEP ? need : STRATA_ARENA_KEEP;
        STRATA_UNPOISON(a->buf, a->cap);
        free(a->buf);
        a->buf = malloc(cap);
        a->cap = a->buf ? cap : a->cap; /* on failure the next alloc tries the old size */
        if (!a->buf)
            return;
    }
    STRATA_POISON(a->buf, a->cap); /* a use after reset is an error ASan reports */
}

void strata_arena_fini(struct strata_arena *a)
{
    strata_arena_reset(a);
    if (a->buf)
        STRATA_UNPOISON(a->buf, a->cap);
    free(a->buf);
    *a = (struct strata_arena){0};
}

static void *arena_pb_alloc(void *data, size_t n)
{
    return strata_arena_alloc(data, n);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

ProtobufCAllocator strata_arena_pb(struct strata_arena *a)
{
    return (ProtobufCAllocator){
        .alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = a};
}

/* arena.h - a bump allocator for short-lived decodes: many small allocations, one release. */
#ifndef STRATA_ARENA_H
#define STRATA_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Decoding a message with protobuf-c allocates once per submessage, bytes field and string, and
 * frees each again: for a Raft entry of a dozen endpoint writes that is ~100 mallocs and frees on
 * every node. An arena hands out memory by bumping a pointer and takes it all back at once.
 *
 * Memory comes from one block; what does not fit goes into extra blocks, and the next reset
 * grows the block to what the last round needed (up to STRATA_ARENA_KEEP), so that a steady load
 * runs from one block. Single-threaded: one owner. */
struct strata_arena_extra;

struct strata_arena {
    uint8_t *buf;
    size_t cap, used;
    size_t extra_bytes; /* what went to extra blocks since the last reset */
    struct strata_arena_extra *extra;
};

#define STRATA_ARENA_KEEP ((size_t)1 << 20) /* largest block kept across resets */

/* An empty arena; the first allocation takes a block of `cap` bytes (at least 4 KiB). */
void strata_arena_init(struct strata_arena *a, size_t cap);
/* `n` bytes aligned to 16, valid until the next reset; NULL when out of memory. */
void *strata_arena_alloc(struct strata_arena *a, size_t n);
/* Takes back everything allocated; keeps (and may grow) the block. */
void strata_arena_reset(struct strata_arena *a);
/* Releases all memory; the arena may be initialised again. */
void strata_arena_fini(struct strata_arena *a);
/* A protobuf-c allocator on the arena: free is a no-op (a reset releases). Do not call
 * *__free_unpacked on what it decoded with another allocator. */
ProtobufCAllocator strata_arena_pb(struct strata_arena *a);

#endif

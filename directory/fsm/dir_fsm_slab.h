/* dir_fsm_slab.h - the FSM's own allocator for what it keeps: size-class slabs in huge pages. */
#ifndef DIR_FSM_SLAB_H
#define DIR_FSM_SLAB_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Why not malloc: under a write load every node's FSM grows by a few hundred bytes per endpoint,
 * in six to eight small objects (the unpacked message, its bytes and strings, two index nodes).
 * glibc's heap grows a 4 KiB page at a time, and on this kind of virtual machine each first touch
 * of a page costs 10-20 us: about a tenth of the directory's CPU at 18k writes/s (perf, session 8).
 * A slab keeps objects of one size class together in 2 MiB chunks advised for transparent huge
 * pages (MADV_HUGEPAGE: honoured in THP's default "madvise" mode), so growth faults once per
 * 2 MiB, lookups touch fewer TLB entries, and small objects carry no per-object header.
 *
 * A slab belongs to one FSM and is used from that FSM's thread only (no locks); a helper thread
 * faults its next chunks in ahead of need (dir_fsm_slab_warm.h) and shares only that. Memory
 * returns to the slab's free lists, not to the system, until dir_slab_destroy: the directory's
 * state mostly grows, and a freed endpoint's memory is reused by the next one. Allocations larger
 * than the largest class, and every allocation once the reserved address range is used up (or when
 * it could not be reserved), fall through to malloc; dir_slab_free tells them apart by address. */
struct dir_slab;

/* A new, empty slab. Aborts when out of memory (as every FSM allocation does). */
struct dir_slab *dir_slab_new(void);
/* Unmaps everything the slab handed out: every object from it becomes invalid. NULL is a no-op.
 * Objects that fell through to malloc must have been freed by their owners before. */
void dir_slab_destroy(struct dir_slab *s);

/* At least `n` bytes, aligned to 16; never NULL (aborts when out of memory). */
void *dir_slab_alloc(struct dir_slab *s, size_t n);
/* Zeroed `n` bytes. */
void *dir_slab_zalloc(struct dir_slab *s, size_t n);
/* Release what dir_slab_alloc returned (from this slab). NULL is a no-op. */
void dir_slab_free(struct dir_slab *s, void *p);

/* A zeroed array of `n` bytes for a hash table's buckets. Large ones take whole chunks (huge
 * pages: a lookup's bucket costs no TLB miss of its own), and freed ones stay resident and are
 * zeroed for the next table of the same size. Release with dir_slab_table_free and the same
 * `n`. */
void *dir_slab_table(struct dir_slab *s, size_t n);
void dir_slab_table_free(struct dir_slab *s, void *p, size_t n);

/* A protobuf-c allocator drawing from the slab, for unpacking and freeing the FSM's objects. */
ProtobufCAllocator dir_slab_pb(struct dir_slab *s);

/* Bytes of slab memory handed out and not freed, and bytes of chunks taken from the reserve
 * (what the FSM's objects occupy, and what that costs in address space made usable). */
size_t dir_slab_in_use(const struct dir_slab *s);
size_t dir_slab_mapped(const struct dir_slab *s);
/* Whether `p` lies in this slab's chunks (false for what fell through to malloc). */
bool dir_slab_owns(const struct dir_slab *s, const void *p);

#endif

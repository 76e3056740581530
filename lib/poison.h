/* poison.h - mark memory an allocator of ours holds as unusable, for AddressSanitizer builds. */
#ifndef STRATA_POISON_H
#define STRATA_POISON_H

/* Our own allocators (the FSM's slab, lib/arena) hand out pieces of big blocks, which ASan sees
 * as one live allocation: poisoning what is not handed out lets it report a use after free or
 * reset, and an overflow into a neighbour. Without ASan these are no-ops. Regions should start
 * 8-byte aligned (ASan's granule). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STRATA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define STRATA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define STRATA_POISON(p, n) ((void)(p), (void)(n))
#define STRATA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#endif

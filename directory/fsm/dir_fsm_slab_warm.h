/* dir_fsm_slab_warm.h - a thread that faults a slab's next chunks in before the FSM needs them. */
#ifndef DIR_FSM_SLAB_WARM_H
#define DIR_FSM_SLAB_WARM_H

#include <stddef.h>

/* Why: the first write into a fresh 2 MiB chunk is a transparent-huge-page fault, and the FSM
 * takes it on the directory's event loop. The kernel zeroes the whole huge page there, and on a
 * guest whose free memory goes back to the host (Firecracker's balloon here) each 4 KiB of it is
 * also a fault in the host: 4.5-5 ms per chunk, measured with a bare mmap probe, where 4 KiB pages
 * fault in 0.17 ms at most. Under writes a node's loop stopped that long 25 times in 5 s. The
 * warmer makes the next chunks of the reserve usable (mprotect) and populates them
 * (MADV_POPULATE_WRITE, which maps the pages without changing a byte of them, so it is safe even
 * if the owner starts on a chunk while it is being populated). When it cannot run (no thread,
 * a kernel before 5.14), the owner commits chunks itself and faults them in as before. */
struct dir_slab_warm;

/* Start warming the chunks of `chunk` bytes at `base` (at most `nchunks_max` of them). NULL
 * when no thread could be started: the caller does without. */
struct dir_slab_warm *dir_slab_warm_start(char *base, size_t chunk, size_t nchunks_max);
/* Stop the thread and wait for it; NULL is a no-op. */
void dir_slab_warm_stop(struct dir_slab_warm *w);
/* Chunks [0, ready) are committed and faulted in (acquire: the owner may use them at once). */
size_t dir_slab_warm_ready(const struct dir_slab_warm *w);
/* The owner now uses chunks [0, used): warm the next few after them. */
void dir_slab_warm_want(struct dir_slab_warm *w, size_t used);

#endif

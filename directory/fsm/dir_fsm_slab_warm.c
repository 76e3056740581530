/* dir_fsm_slab_warm.c - a thread that faults a slab's next chunks in (see dir_fsm_slab_warm.h).
 *
 * The owner (the FSM's thread) publishes how many chunks it uses; the warmer keeps the next
 * SLAB_WARM_AHEAD chunks committed and populated and publishes how far it got (`ready`). The
 * only shared state is that pair, under a mutex, plus `ready` as an atomic the owner reads
 * without locking on its fast path. The warmer never writes into a chunk: MADV_POPULATE_WRITE
 * maps zeroed pages without storing anything, so a chunk the owner overtook and started to fill
 * meanwhile keeps its contents. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "dir_fsm_slab_warm.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Chunks kept ready beyond those in use: 8 MiB, a few seconds of growth under heavy writes
 * (a new endpoint costs the slab ~250 bytes) and room for a hash table's doubling. */
#define SLAB_WARM_AHEAD 4

struct dir_slab_warm {
    char *base;
    size_t chunk, max;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t used, want; /* under mu: the owner's chunks, and where warming should reach */
    bool stop;         /* under mu */
    atomic_size_t ready;
};

/* Commit and populate chunk i; false when the commit is refused (strict overcommit): then the
 * owner's own mprotect fails too, and the slab falls back to malloc as it always did. A kernel
 * without MADV_POPULATE_WRITE leaves the chunk committed but unpopulated: no worse than before. */
static bool warm_chunk(struct dir_slab_warm *w, size_t i)
{
    char *p = w->base + i * w->chunk;
    if (mprotect(p, w->chunk, PROT_READ | PROT_WRITE) != 0)
        return false;
    (void)madvise(p, w->chunk, MADV_HUGEPAGE);
    (void)madvise(p, w->chunk, MADV_POPULATE_WRITE);
    return true;
}

static void *warm_main(void *arg)
{
    struct dir_slab_warm *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        size_t r = atomic_load_explicit(&w->ready, memory_order_relaxed);
        size_t i = r > w->used ? r : w->used; /* chunks the owner took first are its own */
        if (i >= w->want) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        bool ok = warm_chunk(w, i);
        pthread_mutex_lock(&w->mu);
        if (!ok)
            break;
        atomic_store_explicit(&w->ready, i + 1, memory_order_release);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct dir_slab_warm *dir_slab_warm_start(char *base, size_t chunk, size_t nchunks_max)
{
    struct dir_slab_warm *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->base = base;
    w->chunk = chunk;
    w->max = nchunks_max;
    atomic_init(&w->ready, 0);
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, warm_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void dir_slab_warm_stop(struct dir_slab_warm *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

size_t dir_slab_warm_ready(const struct dir_slab_warm *w)
{
    return atomic_load_explicit(&w->ready, memory_order_acquire);
}

void dir_slab_warm_want(struct dir_slab_warm *w, size_t used)
{
    size_t want = used + SLAB_WARM_AHEAD < w->max ? used + SLAB_WARM_AHEAD : w->max;
    pthread_mutex_lock(&w->mu);
    w->used = used;
    w->want = want;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

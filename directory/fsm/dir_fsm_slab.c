/* dir_fsm_slab.c - size-class slabs carved from one reserved address range (see dir_fsm_slab.h).
 *
 * Layout: at creation the slab reserves SLAB_RESERVE bytes of address space (PROT_NONE: no memory
 * is committed). Chunks of SLAB_CHUNK bytes are made usable one at a time as classes run out; each
 * chunk serves one size class, recorded in chunk_class[], so a free needs only the address. A
 * class hands out its current chunk by bumping a pointer and reuses freed objects first (a LIFO
 * list threaded through them). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dir_fsm_int.h"
#include "dir_fsm_slab.h"
#include "dir_fsm_slab_warm.h"
#include "poison.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define SLAB_CHUNK ((size_t)2 << 20) /* one transparent huge page on x86-64 and arm64 */
#define SLAB_GRAIN 16
#define SLAB_MAX 512

/* Address space only: 64 GiB is room for tens of millions of endpoints. Smaller reserves are
 * tried when a limit (RLIMIT_AS) refuses it. */
static const size_t slab_reserves[] = {(size_t)64 << 30, (size_t)4 << 30, (size_t)256 << 20};

/* Classes step by 16 bytes up to 128, then by a quarter: wasted tail under 20 %. */
static const uint16_t slab_sizes[] = {16,  32,  48,  64,  80,  96,  112, 128,
                                      160, 192, 224, 256, 320, 384, 448, 512};
#define SLAB_NCLASS (sizeof(slab_sizes) / sizeof(slab_sizes[0]))
/* (n + 15) / 16 -> the smallest class of at least n bytes */
static const uint8_t slab_class_of[SLAB_MAX / SLAB_GRAIN + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11,
    12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15};
#define SLAB_TABLE_CLASS 0xff      /* chunk_class of a chunk that belongs to a table */
#define SLAB_TABLE_MIN (256 << 10) /* smaller tables are ordinary allocations */
#define SLAB_TABLE_RUNS 32

struct slab_class {
    void *free;       /* freed objects, LIFO */
    char *bump, *end; /* unused tail of the class's current chunk */
};

struct dir_slab {
    char *base;           /* SLAB_CHUNK-aligned start of the reserve; NULL: malloc only */
    size_t nchunks_max;   /* chunks the reserve holds */
    size_t nchunks;       /* chunks made usable so far (from base upwards) */
    uint8_t *chunk_class; /* class of each usable chunk */
    void *map;            /* the reservation as mmap returned it, and its length */
    size_t map_len;
    size_t in_use;
    struct {
        size_t first, n;     /* chunks */
    } runs[SLAB_TABLE_RUNS]; /* freed tables' chunks, kept resident for the next table */
    size_t nruns;
    struct slab_class cls[SLAB_NCLASS];
    struct dir_slab_warm *warm; /* faults the next chunks in off this thread; NULL: none */
    bool warm_tried;            /* started with the second chunk: most test slabs need one */
};

static void slab_reserve(struct dir_slab *s)
{
    for (size_t i = 0; i < sizeof(slab_reserves) / sizeof(slab_reserves[0]); i++) {
        /* One chunk more than needed, so that an aligned start can be chosen inside. */
        size_t len = slab_reserves[i] + SLAB_CHUNK;
        void *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            continue;
        uintptr_t a = ((uintptr_t)m + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1);
        s->map = m;
        s->map_len = len;
        s->base = (char *)a;
        s->nchunks_max = slab_reserves[i] / SLAB_CHUNK;
        s->chunk_class = dir_xcalloc(s->nchunks_max, 1);
#if defined(__SANITIZE_ADDRESS__)
        /* LeakSanitizer scans the heap, not our mappings: without this, what only the slab's
         * objects point to would be reported as leaked. */
        __lsan_register_root_region(s->map, s->map_len);
#endif
        return;
    }
}

struct dir_slab *dir_slab_new(void)
{
    struct dir_slab *s = dir_xcalloc(1, sizeof(*s));
    slab_reserve(s);
    return s;
}

void dir_slab_destroy(struct dir_slab *s)
{
    if (!s)
        return;
    dir_slab_warm_stop(s->warm); /* before the unmap: it may be populating a chunk */
    if (s->map) {
#if defined(__SANITIZE_ADDRESS__)
        __lsan_unregister_root_region(s->map, s->map_len);
        STRATA_UNPOISON(s->base, s->nchunks * SLAB_CHUNK);
#endif
        munmap(s->map, s->map_len);
    }
    free(s->chunk_class);
    free(s);
}

/* Make the next `n` chunks of the reserve usable, marked `c`; NULL when the reserve is used up. */
static char *slab_chunks(struct dir_slab *s, size_t n, unsigned c)
{
    if (!s->base || s->nchunks_max - s->nchunks < n)
        return NULL;
    char *chunk = s->base + s->nchunks * SLAB_CHUNK;
    if (!s->warm_tried && s->nchunks > 0) {
        s->warm_tried = true;
        s->warm = dir_slab_warm_start(s->base, SLAB_CHUNK, s->nchunks_max);
    }
    /* Warmed chunks are committed and populated already (dir_fsm_slab_warm.h); the others are
     * committed here and fault in as they are first written. */
    if (s->warm == NULL || dir_slab_warm_ready(s->warm) < s->nchunks + n) {
        if (mprotect(chunk, n * SLAB_CHUNK, PROT_READ | PROT_WRITE) != 0)
            return NULL; /* commit refused (strict overcommit): malloc decides from here on */
        /* Advice only: without THP the chunk is ordinary pages, and the slab works the same. */
        (void)madvise(chunk, n * SLAB_CHUNK, MADV_HUGEPAGE);
    }
    memset(s->chunk_class + s->nchunks, (int)c, n);
    s->nchunks += n;
    if (s->warm != NULL)
        dir_slab_warm_want(s->warm, s->nchunks);
    return chunk;
}

/* A fresh chunk for class `c`; false when the reserve is used up. */
static bool slab_chunk(struct dir_slab *s, unsigned c)
{
    char *chunk = slab_chunks(s, 1, c);
    if (!chunk)
        return false;
    STRATA_POISON(chunk, SLAB_CHUNK);
    s->cls[c].bump = chunk;
    s->cls[c].end = chunk + SLAB_CHUNK;
    return true;
}

bool dir_slab_owns(const struct dir_slab *s, const void *p)
{
    return s->base && (const char *)p >= s->base &&
           (const char *)p < s->base + s->nchunks * SLAB_CHUNK;
}

void *dir_slab_alloc(struct dir_slab *s, size_t n)
{
    if (n > SLAB_MAX)
        return dir_xmalloc(n);
    unsigned c = slab_class_of[(n + SLAB_GRAIN - 1) / SLAB_GRAIN];
    struct slab_class *k = &s->cls[c];
    size_t size = slab_sizes[c];
    void *p = k->free;
    if (p) {
        STRATA_UNPOISON(p, size);
        memcpy(&k->free, p, sizeof(void *));
    } else {
        /* Sizes such as 48 do not divide a chunk: its last few bytes stay unused. */
        if ((size_t)(k->end - k->bump) < size && !slab_chunk(s, c))
            return dir_xmalloc(size);
        p = k->bump;
        k->bump += size;
        STRATA_UNPOISON(p, size);
    }
    s->in_use += size;
    return p;
}

void *dir_slab_zalloc(struct dir_slab *s, size_t n)
{
    if (n > SLAB_MAX) /* calloc knows when fresh pages are zero already */
        return dir_xcalloc(1, n);
    return memset(dir_slab_alloc(s, n), 0, n);
}

void dir_slab_free(struct dir_slab *s, void *p)
{
    if (!p)
        return;
    if (!dir_slab_owns(s, p)) {
        free(p);
        return;
    }
    unsigned c = s->chunk_class[(size_t)((char *)p - s->base) / SLAB_CHUNK];
    if (c == SLAB_TABLE_CLASS) {
        fprintf(stderr, "dir_slab: %p is a table: release it with dir_slab_table_free\n", p);
        abort();
    }
    struct slab_class *k = &s->cls[c];
#if defined(__SANITIZE_ADDRESS__)
    /* What malloc's free would catch under ASan: a double free, or a pointer into an object. */
    if (__asan_address_is_poisoned(p) || ((char *)p - s->base) % SLAB_CHUNK % slab_sizes[c]) {
        fprintf(stderr, "dir_slab: bad free of %p (class %u)\n", p, slab_sizes[c]);
        abort();
    }
#endif
    memcpy(p, &k->free, sizeof(void *));
    k->free = p;
    STRATA_POISON(p, slab_sizes[c]);
    s->in_use -= slab_sizes[c];
}

void *dir_slab_table(struct dir_slab *s, size_t n)
{
    if (n < SLAB_TABLE_MIN)
        return dir_slab_zalloc(s, n);
    size_t nc = (n + SLAB_CHUNK - 1) / SLAB_CHUNK;
    for (size_t i = 0; i < s->nruns; i++) {
        if (s->runs[i].n == nc) { /* kept resident: zeroed here, no page faults */
            char *p = s->base + s->runs[i].first * SLAB_CHUNK;
            s->runs[i] = s->runs[--s->nruns];
            STRATA_UNPOISON(p, nc * SLAB_CHUNK);
            return memset(p, 0, n);
        }
    }
    char *p = slab_chunks(s, nc, SLAB_TABLE_CLASS);
    return p ? p : dir_xcalloc(1, n);
}

void dir_slab_table_free(struct dir_slab *s, void *p, size_t n)
{
    if (!p)
        return;
    if (n < SLAB_TABLE_MIN || !dir_slab_owns(s, p)) {
        dir_slab_free(s, p);
        return;
    }
    size_t nc = (n + SLAB_CHUNK - 1) / SLAB_CHUNK;
    if (s->nruns < SLAB_TABLE_RUNS) {
        /* Kept resident, not given back (MADV_DONTNEED): the next table of this size would
         * fault every huge page in again on the loop, 4.5-5 ms each on this kind of VM, where
         * zeroing 2 MiB takes ~0.1 ms. Tables double, so what is kept is at most the size of the
         * tables in use. */
        s->runs[s->nruns].first = (size_t)((char *)p - s->base) / SLAB_CHUNK;
        s->runs[s->nruns].n = nc;
        s->nruns++;
    } else { /* never reused: its memory goes back, its address space stays unused */
        (void)madvise(p, nc * SLAB_CHUNK, MADV_DONTNEED);
    }
    STRATA_POISON(p, nc * SLAB_CHUNK);
}

static void *slab_pb_alloc(void *data, size_t n)
{
    return dir_slab_alloc(data, n);
}

static void slab_pb_free(void *data, void *p)
{
    dir_slab_free(data, p);
}

ProtobufCAllocator dir_slab_pb(struct dir_slab *s)
{
    return (ProtobufCAllocator){.alloc = slab_pb_alloc, .free = slab_pb_free, .allocator_data = s};
}

size_t dir_slab_in_use(const struct dir_slab *s)
{
    return s->in_use;
}

size_t dir_slab_mapped(const struct dir_slab *s)
{
    return s->nchunks * SLAB_CHUNK;
}

/* test_fsm_slab_warm.c - the slab's warmer faults the next chunks in before the FSM uses them,
 * and never disturbs a chunk in use (dir_fsm_slab_warm.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cmocka.h>

#include "dir_fsm_slab.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK ((size_t)2 << 20)
#define OBJ 512 /* the largest class: 4096 objects a chunk */

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static bool populate_supported(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    bool ok = madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
    munmap(p, 4096);
    return ok;
}

static size_t resident_pages(const char *p, size_t len)
{
    static unsigned char vec[CHUNK / 4096];
    if (mincore((void *)p, len, vec) != 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < len / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* Once the slab is on its second chunk, the chunk after its last is faulted in without anyone
 * writing to it; used, it reads as zeroes and keeps what is written. */
static void test_warms_ahead(void **state)
{
    (void)state;
    if (!populate_supported())
        skip(); /* a kernel before 5.14: the slab faults chunks in itself, as before */
    struct dir_slab *s = dir_slab_new();
    char *first = dir_slab_alloc(s, OBJ);
    if (dir_slab_mapped(s) == 0) { /* no reserve (address space limit): malloc only */
        dir_slab_free(s, first);
        dir_slab_destroy(s);
        skip();
    }
    char *base = (char *)((uintptr_t)first & ~(uintptr_t)(CHUNK - 1));
    assert_ptr_equal(first, base); /* a fresh slab starts at its reserve */
    while (dir_slab_mapped(s) < 2 * CHUNK)
        dir_slab_alloc(s, OBJ);
    char *next = base + dir_slab_mapped(s);
    uint64_t deadline = now_ms() + 10000;
    while (resident_pages(next, CHUNK) < CHUNK / 4096 && now_ms() < deadline) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL); /* polling the kernel's page table until the deadline */
    }
    assert_int_equal(resident_pages(next, CHUNK), CHUNK / 4096);

    /* The owner now takes it: zeroes, then what it writes. */
    size_t before = dir_slab_mapped(s);
    char *p = NULL;
    while (dir_slab_mapped(s) == before)
        p = dir_slab_zalloc(s, OBJ);
    assert_ptr_equal(p, next);
    for (size_t i = 0; i < OBJ; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0x5a, OBJ);
    assert_int_equal(p[OBJ - 1], 0x5a);
    dir_slab_destroy(s);
}

/* The owner allocating faster than the warmer populates takes chunks itself, some of them
 * while the warmer works on them: every object keeps its contents. 64 MiB in 512-byte objects,
 * then a check of each, then teardown with the warmer possibly mid-chunk. */
static void test_owner_overtakes(void **state)
{
    (void)state;
    enum { N = 64 * 2048 };
    struct dir_slab *s = dir_slab_new();
    char **objs = malloc(N * sizeof(*objs));
    assert_non_null(objs);
    for (size_t i = 0; i < N; i++) {
        objs[i] = dir_slab_alloc(s, OBJ);
        memset(objs[i], (int)(i * 31 % 251) + 1, OBJ);
    }
    for (size_t i = 0; i < N; i++) {
        unsigned char want = (unsigned char)((i * 31 % 251) + 1);
        assert_int_equal((unsigned char)objs[i][0], want);
        assert_int_equal((unsigned char)objs[i][OBJ - 1], want);
    }
    for (size_t i = 0; i < N; i += 2)
        dir_slab_free(s, objs[i]);
    free(objs);
    dir_slab_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warms_ahead),
        cmocka_unit_test(test_owner_overtakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

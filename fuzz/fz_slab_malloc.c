/* fz_slab_malloc.c - linked into fuzz_fsm_apply with -Wl,--wrap=mmap: refuses the FSM slab's
 * address-space reservation (dir_fsm_slab.c slab_reserve), so that every FSM allocation falls
 * through to malloc, the slab's documented fallback.
 *
 * Why: each dir_fsm_new reserves 64 GiB and, once used, makes one 2 MiB chunk per size class
 * usable, advised for huge pages, with a thread faulting the next ones in ahead. The unit tests'
 * base state touches 5 chunks: 10 MiB the kernel zeroes for every FSM, two FSMs per input (the
 * state and its restored copy). perf put 58% of fuzz_fsm_apply in clear_page_erms: 2.6 ms an
 * input, ~320 inputs/s. Through malloc the same input costs ~0.2 ms, and ASan puts a redzone
 * around each FSM object (in a slab chunk they sit side by side). The slab itself is left to its
 * unit tests (directory/fsm/test_fsm_slab.c) and to fuzz_fsm_restore, which keeps it. */
#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    /* Only the slab reserves this much inaccessible, unreserved address space (its smallest
     * attempt is 256 MiB + one chunk); libFuzzer and the sanitizers map through syscalls. */
    if (prot == PROT_NONE && (flags & MAP_NORESERVE) && len >= ((size_t)256 << 20))
        return MAP_FAILED;
    return __real_mmap(addr, len, prot, flags, fd, off);
}

/* fuzz_fsm_restore.c - libFuzzer target: any bytes as a snapshot, which a follower takes from
 * its leader and a restarting node from its disk. dir_fsm_restore must refuse it or restore a
 * state that itself survives a snapshot and restore. Run with FZ_WRITE_CORPUS=DIR once to write
 * a seed: the snapshot of the scripted session (directory/fsm/dir_fsm_fuzz.h). Build:
 * docs/fuzzing.md. */
#include "fz_util.h"
#include "dir_fsm_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_seed(const char *dir)
{
    fz_collect();
    uint8_t *snap = NULL;
    size_t len = 0;
    struct strata_err e;
    if (fz_session_snapshot(&snap, &len, &e) != 0) {
        fprintf(stderr, "fuzz_fsm_restore: %s\n", e.msg);
        exit(1);
    }
    fz_write_seed(dir, "snapshot", snap, len);
    free(snap);
    fz_seeds_free();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        write_seed(dir);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dir_fsm *f = dir_fsm_new();
    struct strata_err e;
    if (dir_fsm_restore(f, data, size, &e) == 0) {
        const char *bad = fz_check_roundtrip(f);
        if (bad != NULL) {
            fprintf(stderr, "%s\n", bad);
            abort();
        }
    }
    dir_fsm_free(f);
    return 0;
}

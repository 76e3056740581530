/* fuzz_fsm_apply.c - libFuzzer target: commands, each taken as strata-dird takes a client's
 * write (decoded, validated, applied when valid), after the FSM unit tests' base state; the state
 * must come back from a snapshot and restore unchanged. Input: a sequence of [length byte]
 * [Command bytes]. Run with FZ_WRITE_CORPUS=DIR once to write seed inputs made of the scripted
 * session's commands (directory/fsm/dir_fsm_fuzz.h). Build: docs/fuzzing.md. */
#include "dir_fsm_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Seed inputs: 64 files of 8 seed commands each. */
static void write_corpus(const char *dir)
{
    for (int f = 0; f < 64; f++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/seed-%02d", dir, f);
        FILE *o = fopen(p, "wb");
        if (o == NULL) {
            perror(p);
            exit(1);
        }
        for (int k = 0; k < 8; k++) {
            const struct fz_seed *s = &seeds[fz_next() % nseeds];
            uint8_t l = (uint8_t)(s->len > 255 ? 255 : s->len);
            fwrite(&l, 1, 1, o);
            fwrite(s->buf, 1, l, o);
        }
        fclose(o);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        fz_collect();
        write_corpus(dir);
        fz_seeds_free();
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct t_fsm *t = t_new();
    t_base(t);
    for (size_t off = 0; off < size;) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        fz_apply_bytes(t, data + off, len);
        off += len;
    }
    const char *bad = fz_check_roundtrip(t->f);
    if (bad != NULL) {
        fprintf(stderr, "%s\n", bad);
        abort();
    }
    t_free(t);
    return 0;
}

/* fuzz_fsm_apply.c - libFuzzer target: commands, each taken as strata-dird takes a client's
 * write (decoded, validated, applied when valid), after the FSM unit tests' base state; the state
 * must come back from a snapshot and restore unchanged. Input: a sequence of [length byte]
 * [Command bytes]. Run with FZ_WRITE_CORPUS=DIR once to write seed inputs made of the scripted
 * session's commands (directory/fsm/dir_fsm_fuzz.h). Build: docs/fuzzing.md.
 *
 * Speed (~190-320 inputs/s before, several thousand now), three choices:
 * - FSM objects come from malloc, not from the slab's huge-page chunks (fz_slab_malloc.c).
 * - The base state is built once, snapshotted, and each input starts from a restore of that
 *   snapshot: the state a node restarting from its snapshot holds (fz_check_roundtrip on the
 *   base itself, in LLVMFuzzerInitialize, guarantees it equals the applied one), at half the
 *   cost of applying the 11 base commands again.
 * - The snapshot round trip runs only when some command reached apply: otherwise the state is
 *   the base, already checked. A command that apply refuses still counts: a refused command
 *   must leave nothing half-done behind, and the round trip is what would show it.
 *
 * Each command goes through strata_msg_decode_req inside a write, as the API takes it
 * (apply_write below), not through dir_fsm_fuzz.h's fz_apply_bytes: that one keeps unknown
 * fields, which neither the API nor the Raft apply (dird_raft.c strips them) hands the FSM, and
 * one numbered 0 makes dir_obj_dup abort (docs/fuzzing.md, "What it found"). */
#include "fz_util.h"
#include "dir_fsm_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *base_snap;
static size_t base_len;
static uint64_t base_index;

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

/* One command's bytes (at most 255), as strata-dird takes a client's write: framed as
 * Envelope{write: WriteRequest{cmd}}, decoded by strata_msg_decode_req (wire check, decode,
 * unknown fields dropped, validation), applied when valid. Returns whether it reached apply. */
static bool apply_write(struct t_fsm *t, const uint8_t *b, size_t len)
{
    uint8_t cmd_head[4], buf[16 + 255];
    size_t ch = 0, n = 0;
    cmd_head[ch++] = 1 << 3 | 2; /* WriteRequest.cmd */
    ch += fz_put_varint(cmd_head + ch, len);
    buf[n++] = STRATA__V1__ENVELOPE__BODY_WRITE << 3 | 2;
    n += fz_put_varint(buf + n, ch + len);
    memcpy(buf + n, cmd_head, ch);
    n += ch;
    memcpy(buf + n, b, len);
    n += len;
    strata_env *env = NULL;
    struct strata_err e;
    if (strata_msg_decode_req(buf, n, STRATA_MSG_MAX, &env, &e) != 0)
        return false;
    bool ok = env->body_case == STRATA__V1__ENVELOPE__BODY_WRITE && env->write->cmd != NULL;
    if (ok)
        dir_fsm_apply_cmd(t->f, t->index++, env->write->cmd, &t->res);
    strata_msg_free(env);
    return ok;
}

static void free_base(void)
{
    free(base_snap);
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
    struct t_fsm *t = t_new();
    t_base(t);
    struct strata_err e;
    const char *bad = fz_check_roundtrip(t->f);
    if (bad != NULL || dir_fsm_snapshot(t->f, &base_snap, &base_len, &e) != 0) {
        fprintf(stderr, "base state: %s\n", bad ? bad : e.msg);
        abort();
    }
    base_index = t->index;
    t_free(t);
    atexit(free_base);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct t_fsm *t = t_new();
    struct strata_err e;
    if (dir_fsm_restore(t->f, base_snap, base_len, &e) != 0) {
        fprintf(stderr, "base snapshot refused: %s\n", e.msg);
        abort();
    }
    t->index = base_index;
    bool applied = false;
    for (size_t off = 0; off < size;) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        applied |= apply_write(t, data + off, len);
        off += len;
    }
    const char *bad = applied ? fz_check_roundtrip(t->f) : NULL;
    if (bad != NULL) {
        fprintf(stderr, "%s\n", bad);
        abort();
    }
    t_free(t);
    return 0;
}

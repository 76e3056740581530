/* fuzz_msg_req.c - libFuzzer target: one body of each type, as a server takes a request. The
 * first input byte picks the Envelope's body field (every oneof member, in descriptor order);
 * the rest are that body's bytes, which the target frames as the envelope's field. Checked:
 * - strata_msg_wire_check on the body alone (its own descriptor, the request budget), and
 *   strata_msg_decode_req and strata_msg_decode on the envelope: nothing crashes or leaks;
 * - what decode_req accepts, decode (the looser bound) accepts too, with the chosen body set,
 *   and the body's own wire check agrees;
 * - what decodes, re-encodes and decodes again (servers forward requests into Raft entries).
 * Run with FZ_WRITE_CORPUS=DIR once to write a seed per body type: the msg unit tests' valid
 * instance of it (lib/test_msg_fixture.h). Build: docs/fuzzing.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fz_util.h"
#include "test_msg_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_BODIES 64

static const ProtobufCFieldDescriptor *bodies[FZ_MAX_BODIES];
static size_t nbodies;

static void write_corpus(const char *dir)
{
    struct fx f;
    fx_init(&f);
    for (size_t i = 0; i < nbodies; i++) {
        strata_env env;
        if (!fx_body(&f, &env, (int)bodies[i]->id))
            continue;
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)((char *)&env + bodies[i]->offset);
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *b = malloc(n + 1);
        b[0] = (uint8_t)i;
        protobuf_c_message_pack(m, b + 1);
        fz_write_seed(dir, bodies[i]->name, b, n + 1);
        free(b);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const ProtobufCMessageDescriptor *d = &strata__v1__envelope__descriptor;
    for (unsigned i = 0; i < d->n_fields && nbodies < FZ_MAX_BODIES; i++)
        if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            bodies[nbodies++] = &d->fields[i];
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        write_corpus(dir);
        exit(0);
    }
    return 0;
}

static void fz_fail(const char *what, const ProtobufCFieldDescriptor *f, const struct strata_err *e)
{
    fprintf(stderr, "%s (body %s): %s\n", what, f->name, e->msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCFieldDescriptor *f = bodies[data[0] % nbodies];
    const uint8_t *body = data + 1;
    size_t blen = size - 1;
    uint8_t *env_buf = malloc(blen + 20);
    size_t n = fz_put_varint(env_buf, (uint64_t)f->id << 3 | 2);
    n += fz_put_varint(env_buf + n, blen);
    memcpy(env_buf + n, body, blen);
    n += blen;

    struct strata_err e = {0}, ebody = {0};
    int rc_body = strata_msg_wire_check(f->descriptor, body, blen, STRATA_MAX_REQ_ELEMS, &ebody);
    strata_env *req = NULL, *any = NULL;
    int rc_req = strata_msg_decode_req(env_buf, n, STRATA_MSG_MAX, &req, &e);
    int rc_any = strata_msg_decode(env_buf, n, STRATA_MSG_MAX, &any, &e);
    if (rc_req == 0) {
        if (rc_any != 0)
            fz_fail("decode_req accepted what decode refused", f, &e);
        if (rc_body != 0)
            fz_fail("the envelope passed, its body alone not", f, &ebody);
        if ((unsigned)req->body_case != f->id)
            fz_fail("decoded with another body", f, &e);
        uint8_t *again_buf = NULL;
        size_t again_len = 0;
        strata_env *again = NULL;
        if (strata_msg_encode(req, &again_buf, &again_len, &e) != 0 ||
            strata_msg_decode_req(again_buf, again_len, STRATA_MSG_MAX, &again, &e) != 0)
            fz_fail("decoded, but not once re-encoded", f, &e);
        strata_msg_free(again);
        free(again_buf);
    }
    strata_msg_free(req);
    strata_msg_free(any);
    free(env_buf);
    return 0;
}

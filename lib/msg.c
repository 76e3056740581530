/* msg.c - Envelope encode/decode with an input bound, error replies and body-case names.
 * Validation of decoded bodies lives in msg_validate.c. */
#include "msg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int strata_msg_encode_after(const strata_env *env, size_t head, uint8_t **buf, size_t *len,
                            struct strata_err *e)
{
    size_t n = protobuf_c_message_get_packed_size(&env->base);
    /* malloc(0) may return NULL: an empty envelope still gets a real buffer. */
    uint8_t *b = malloc(head + n > 0 ? head + n : 1);
    if (b == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "encoding a %zu-byte message: out of memory", n);
    size_t w = protobuf_c_message_pack(&env->base, b + head);
    if (w != n) {
        free(b);
        return strata_err_set(e, STRATA_EINTERNAL, "packed %zu bytes, expected %zu", w, n);
    }
    *buf = b;
    *len = n;
    return 0;
}

int strata_msg_encode(const strata_env *env, uint8_t **buf, size_t *len, struct strata_err *e)
{
    return strata_msg_encode_after(env, 0, buf, len, e);
}

static int msg_decode(const void *buf, size_t len, size_t max, size_t max_elems, strata_env **out,
                      struct strata_err *e)
{
    /* Check the size before unpacking: protobuf-c allocates per element with no bound, so a
     * small message of empty repeated fields can cost many times its size in memory. */
    if (len > max)
        return strata_err_set(e, STRATA_ETOOBIG, "message of %zu bytes exceeds the %zu-byte bound",
                              len, max);
    if (buf == NULL && len > 0)
        return strata_err_set(e, STRATA_EINVAL, "NULL buffer");
    int rc = strata_msg_wire_check(&strata__v1__envelope__descriptor, buf, len, max_elems, e);
    if (rc < 0)
        return rc;
    strata_env *env = strata__v1__envelope__unpack(NULL, len, buf);
    if (env == NULL)
        return strata_err_set(e, STRATA_EPROTO, "undecodable message (%zu bytes)", len);
    /* protobuf-c keeps what it does not know and packs it again: one 200 KB unknown field on an
     * endpoint went into the Raft log, the state, the snapshots and every resolve reply. */
    strata_msg_strip_unknown(&env->base, NULL);
    rc = strata_msg_validate(env, e);
    if (rc < 0) {
        strata__v1__envelope__free_unpacked(env, NULL);
        return rc;
    }
    *out = env;
    return 0;
}

int strata_msg_decode(const void *buf, size_t len, size_t max, strata_env **out,
                      struct strata_err *e)
{
    return msg_decode(buf, len, max, STRATA_MAX_ELEMS, out, e);
}

int strata_msg_decode_req(const void *buf, size_t len, size_t max, strata_env **out,
                          struct strata_err *e)
{
    return msg_decode(buf, len, max, STRATA_MAX_REQ_ELEMS, out, e);
}

void strata_msg_free(strata_env *env)
{
    if (env != NULL)
        strata__v1__envelope__free_unpacked(env, NULL);
}

const char *strata_msg_type_name(int body_case)
{
    if (body_case == STRATA__V1__ENVELOPE__BODY__NOT_SET)
        return "none";
    /* From the generated descriptor, so names follow strata.proto without a second table. */
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &strata__v1__envelope__descriptor, (unsigned)body_case);
    if (f == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        return "unknown";
    return f->name;
}

void strata_msg_set_error(strata_env *reply, const strata_env *req, int code, const char *msg)
{
    reply->req_id = req != NULL ? req->req_id : 0;
    reply->status = code;
    /* Always malloc'd (NULL only if out of memory, which packs as ""), so the caller can free()
     * it unconditionally. Truncated to the bound strata_msg_validate enforces, or the peer
     * would reject the whole reply instead of showing the error. */
    reply->message = strndup(msg != NULL ? msg : strata_strerror(code), STRATA_MAX_STR);
    /* A message may quote what a client sent, or be cut inside a character: the reply must
     * still be UTF-8, or strict decoders refuse all of it. */
    uint8_t *m = (uint8_t *)reply->message;
    if (m != NULL && !strata_utf8_valid(m, strlen(reply->message)))
        for (; *m != 0; m++)
            if (*m >= 0x80)
                *m = '?';
}

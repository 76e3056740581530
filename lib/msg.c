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

/* protobuf-c 1.4 takes a tag whose varint is not minimal (0x80 0x00) for field number 0, which
 * protobuf forbids, keeps it as an unknown field and writes it back as 0x00, which it refuses. A
 * write carrying one decoded and validated; the follower that forwarded it, or the Raft entry it
 * was batched into, then did not decode, failing every write sent with it. Such a message is
 * refused here, wherever the field sits in it. */
static bool msg_has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (v[k] != NULL && msg_has_field_zero(v[k]))
                    return true;
            continue;
        }
        /* the members of a oneof share one place: only the one set is there */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
        if (sub != NULL && msg_has_field_zero(sub))
            return true;
    }
    return false;
}

int strata_msg_decode(const void *buf, size_t len, size_t max, strata_env **out,
                      struct strata_err *e)
{
    /* Check the size before unpacking: protobuf-c allocates per element with no bound, so a
     * small message of empty repeated fields can cost many times its size in memory. */
    if (len > max)
        return strata_err_set(e, STRATA_ETOOBIG, "message of %zu bytes exceeds the %zu-byte bound",
                              len, max);
    if (buf == NULL && len > 0)
        return strata_err_set(e, STRATA_EINVAL, "NULL buffer");
    strata_env *env = strata__v1__envelope__unpack(NULL, len, buf);
    if (env == NULL)
        return strata_err_set(e, STRATA_EPROTO, "undecodable message (%zu bytes)", len);
    if (msg_has_field_zero(&env->base)) {
        strata__v1__envelope__free_unpacked(env, NULL);
        return strata_err_set(e, STRATA_EPROTO, "malformed message: a field numbered 0");
    }
    int rc = strata_msg_validate(env, e);
    if (rc < 0) {
        strata__v1__envelope__free_unpacked(env, NULL);
        return rc;
    }
    *out = env;
    return 0;
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
}

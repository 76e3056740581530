/* msg.h - the strata.v1 Envelope: encode, size-bounded decode, and validation of every body. */
#ifndef STRATA_MSG_H
#define STRATA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "strata.pb-c.h"

typedef Strata__V1__Envelope strata_env;

/* Default bound on an encoded message; every NNG socket sets NNG_OPT_RECVMAXSZ to this. */
#define STRATA_MSG_MAX (4u << 20)
/* Bounds checked after decoding (protobuf-c has none). */
#define STRATA_MAX_BATCH 1024   /* queries in a ResolveRequest, commands in a batch */
#define STRATA_MAX_IPS 16       /* IPs per endpoint */
#define STRATA_MAX_STR 255      /* any string field */
#define STRATA_MAX_LIST 1000000 /* objects in a list reply */
#define STRATA_MAX_VNIS 4096    /* VNs one gateway serves (any `vnis` field) */
/* Entries in one AuditReport (and keys in one repair): ~70 bytes each, so a piece stays well
 * under STRATA_MSG_MAX; a node sends a larger VN in several pieces. */
#define STRATA_AUDIT_ENTRIES_MAX 16384
/* Repeated elements and unknown fields in one message, all together: a request (the largest, a
 * write batch of STRATA_MAX_BATCH commands, has ~20k), and any message (a 4 MiB reply holds
 * fewer). */
#define STRATA_MAX_REQ_ELEMS 65536
#define STRATA_MAX_ELEMS (4u << 20)

/* Pack `env` into a malloc'd buffer (*buf, *len). Caller frees with free(). */
int strata_msg_encode(const strata_env *env, uint8_t **buf, size_t *len, struct strata_err *e);
/* The same with `head` free bytes before the message, for a transport's frame header: *buf holds
 * head + *len bytes, the message at *buf + head. */
int strata_msg_encode_after(const strata_env *env, size_t head, uint8_t **buf, size_t *len,
                            struct strata_err *e);

/* Decode `len` bytes: rejects len > max (STRATA_ETOOBIG), what strata_msg_wire_check refuses
 * (before decoding), undecodable input (STRATA_EPROTO) and anything strata_msg_validate refuses.
 * Unknown fields are dropped: a daemon stores, logs and serves only what it understands. On
 * success *out must be freed with strata_msg_free. */
int strata_msg_decode(const void *buf, size_t len, size_t max, strata_env **out,
                      struct strata_err *e);
/* The same for a request to a server: at most STRATA_MAX_REQ_ELEMS repeated elements. */
int strata_msg_decode_req(const void *buf, size_t len, size_t max, strata_env **out,
                          struct strata_err *e);

/* msg_wire.c: walks the wire bytes of a message of type d without decoding them, and refuses
 * malformed framing and a string (at any depth) holding a NUL or not UTF-8 (STRATA_EPROTO: the
 * whole message is malformed, "write.cmd.endpoint_add.host: a NUL byte inside the string"), a
 * repeated field past the bound strata_msg_validate applies to it, or more than max_elems
 * repeated elements in all (STRATA_ETOOBIG). Linear in len, allocates nothing. */
int strata_msg_wire_check(const ProtobufCMessageDescriptor *d, const void *buf, size_t len,
                          size_t max_elems, struct strata_err *e);
/* Drops the unknown fields of m and of every message inside it (a NULL allocator: malloc's). */
void strata_msg_strip_unknown(ProtobufCMessage *m, ProtobufCAllocator *a);
/* n bytes are UTF-8 without a NUL. */
bool strata_utf8_valid(const uint8_t *s, size_t n);
void strata_msg_free(strata_env *env);

/* Structural validation of a decoded envelope: a body is set (an error reply, status < 0, may
 * have none), VNIs in range, MACs 6 bytes (and unicast where an endpoint is created), IPs 4/16
 * bytes, prefix lengths in range, repeated fields and strings within the bounds above. Errors
 * name the field ("write.cmd.endpoint_add.mac: 5 bytes, want 6"). Semantic checks (unknown
 * VNI...) belong to the receiver. */
int strata_msg_validate(const strata_env *env, struct strata_err *e);

/* Name of the body case ("write", "resolve_reply", ...) for logs and errors. */
const char *strata_msg_type_name(int body_case);

/* Fill `reply` as an error reply to request `req` (NULL: req_id 0): same req_id, status `code`,
 * and a malloc'd copy of `msg` (truncated to STRATA_MAX_STR; NULL msg = strata_strerror(code))
 * in reply->message. The caller owns it: free(reply->message) after encoding the reply (it is
 * never the static protobuf_c_empty_string, so an unconditional free() is safe). Call it once
 * per reply, or free the previous message first. */
void strata_msg_set_error(strata_env *reply, const strata_env *req, int code, const char *msg);

#endif

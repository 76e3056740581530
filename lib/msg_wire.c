/* msg_wire.c - a walk over a message's wire bytes before protobuf-c decodes them: refuses, at a
 * fraction of the cost of decoding, what could never be valid, and what decoding would hide.
 *
 * - Repeated fields beyond their bound. protobuf-c allocates every element it decodes: a 4 MiB
 *   message of ~2 M empty entries cost ~0.6 s of the loop and ~36x its size in memory before
 *   strata_msg_validate could count them and refuse. Here each repeated field of each message is
 *   counted against the bound validation applies to it, and the whole message against a budget
 *   of elements.
 * - Strings with a NUL inside: decoded, "h1\0x" is the C string "h1", and the daemon acted on a
 *   name the client never sent ("operator\0junk" was taken for "operator").
 * - Strings that are not UTF-8: protobuf requires it of `string`, protobuf-c does not check, and a
 *   daemon echoing one into an error reply made that reply undecodable for strict clients.
 *   Either makes the whole message malformed (STRATA_EPROTO, naming the field), as a strict
 *   protobuf decoder would refuse it: no part of it is acted on.
 *
 * - A field numbered 0, which protobuf forbids: protobuf-c 1.4 takes a tag whose varint is not
 *   minimal (0x80 0x00) for one, keeps it as an unknown field and writes it back as 0x00, which
 *   it then refuses; a write carrying one was accepted, and the Raft entry it was batched into
 *   (or the follower's forward) did not decode, failing every write sent with it.
 *
 * Unknown fields count against the budget of elements (protobuf-c allocates each) and are dropped
 * after decoding (strata_msg_strip_unknown). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

#define WIRE_MAX_DEPTH 24
#define WIRE_MAX_FIELDS 64 /* fields of the largest message in strata.proto, with room */

struct wire_walk {
    size_t elems, max_elems;
    struct strata_err *e;
    char path[160]; /* the fields walked into, as strata_msg_validate names them */
    size_t path_len;
};

/* Appends ".name" (or "name" at the top) to the path; returns the length to restore. */
static size_t wire_push(struct wire_walk *w, const char *name)
{
    size_t old = w->path_len, n = strlen(name), at = old + (old > 0);
    if (at + n >= sizeof(w->path))
        return old; /* deeper than a path can say: the error names the outer field */
    if (old > 0)
        w->path[old] = '.';
    memcpy(w->path + at, name, n + 1);
    w->path_len = at + n;
    return old;
}

static void wire_pop(struct wire_walk *w, size_t old)
{
    w->path_len = old;
    w->path[old] = '\0';
}

static int wire_bad(struct wire_walk *w, const char *what)
{
    return strata_err_set(w->e, STRATA_EPROTO, "undecodable message: %s%s%s", what,
                          w->path_len ? " in " : "", w->path);
}

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Whether any of the 8 bytes of v is 0 or has its top bit set (not plain ASCII): the zero test
 * is exact for the word as a whole (Hacker's Delight, 6-1). */
static bool wire_word_not_ascii(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    return (((v - ones) & ~v) | v) & high;
}

bool strata_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Runs every request's strings: 8 ASCII bytes at a time (a 255-byte name in ~15 ns
         * instead of ~100). */
        uint64_t v;
        if (n - i >= 8 && (memcpy(&v, s + i, 8), !wire_word_not_ascii(v))) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += len;
    }
    return true;
}

/* The bound strata_msg_validate applies to a repeated field (msg_validate.c). */
static size_t wire_field_max(const ProtobufCFieldDescriptor *f)
{
    if (strcmp(f->name, "cmds") == 0 || strcmp(f->name, "queries") == 0 ||
        strcmp(f->name, "answers") == 0 || strcmp(f->name, "results") == 0)
        return STRATA_MAX_BATCH;
    if (strcmp(f->name, "ips") == 0)
        return STRATA_MAX_IPS;
    if (strcmp(f->name, "vnis") == 0) /* Gateway, HostRegister(Reply), Update */
        return STRATA_MAX_VNIS;
    return STRATA_MAX_LIST;
}

/* Elements of a packed repeated scalar field. */
static size_t wire_packed_count(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return n / 4;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return n / 8;
    default: { /* varints: one per byte without the continuation bit */
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += (p[i] & 0x80) == 0;
        return c;
    }
    }
}

static int wire_over_budget(struct wire_walk *w)
{
    return strata_err_set(w->e, STRATA_ETOOBIG,
                          "more than %zu repeated elements and unknown fields in one message",
                          w->max_elems);
}

static int wire_msg(struct wire_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                    size_t len, int depth);

/* One length-delimited field the descriptor knows: a string, a message or a packed run. */
static int wire_delimited(struct wire_walk *w, const ProtobufCFieldDescriptor *f, const uint8_t *p,
                          size_t n, int depth, size_t *count)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!strata_utf8_valid(p, n)) {
            size_t old = wire_push(w, f->name);
            strata_err_set(w->e, STRATA_EPROTO, "%s: %s", w->path,
                           memchr(p, 0, n) != NULL ? "a NUL byte inside the string" : "not UTF-8");
            wire_pop(w, old);
            return STRATA_EPROTO;
        }
        *count = 1;
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        *count = 1;
        size_t old = wire_push(w, f->name);
        int rc = wire_msg(w, f->descriptor, p, n, depth + 1);
        wire_pop(w, old);
        return rc;
    }
    case PROTOBUF_C_TYPE_BYTES:
        *count = 1;
        return 0;
    default:
        *count = f->label == PROTOBUF_C_LABEL_REPEATED ? wire_packed_count(f, p, n) : 1;
        return 0;
    }
}

static int wire_msg(struct wire_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                    size_t len, int depth)
{
    if (depth > WIRE_MAX_DEPTH)
        return wire_bad(w, "nested too deep");
    size_t counts[WIRE_MAX_FIELDS], maxes[WIRE_MAX_FIELDS];
    size_t nf = d->n_fields < WIRE_MAX_FIELDS ? d->n_fields : WIRE_MAX_FIELDS;
    memset(counts, 0, nf * sizeof(counts[0]));
    memset(maxes, 0, nf * sizeof(maxes[0]));
    int over = -1;
    const ProtobufCFieldDescriptor *f = NULL;
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n = 0;
        if (!wire_varint(&p, end, &tag) || (tag >> 3) > 0x1fffffff)
            return wire_bad(w, "malformed field tag");
        if ((tag >> 3) == 0)
            return wire_bad(w, "a field numbered 0");
        const uint8_t *val = p;
        switch (tag & 7) {
        case 0:
            if (!wire_varint(&p, end, &n))
                return wire_bad(w, "truncated varint");
            break;
        case 1:
        case 5:
            n = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < n)
                return wire_bad(w, "truncated field");
            p += n;
            break;
        case 2:
            if (!wire_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return wire_bad(w, "truncated field");
            val = p;
            p += n;
            break;
        default: /* groups (3, 4) are not in proto3; 6 and 7 do not exist */
            return wire_bad(w, "a group or an unknown wire type");
        }
        /* repeated elements come one after another: look the field up once per run */
        if (f == NULL || f->id != (unsigned)(tag >> 3))
            f = protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
        if (f == NULL) {
            /* dropped after decoding, but protobuf-c allocates each one first: 2 M two-byte
             * unknown fields are as costly as 2 M repeated elements */
            if (++w->elems > w->max_elems)
                return wire_over_budget(w);
            continue;
        }
        size_t count = 1;
        if ((tag & 7) == 2) {
            int rc = wire_delimited(w, f, val, (size_t)n, depth, &count);
            if (rc < 0)
                return rc;
        }
        if (f->label != PROTOBUF_C_LABEL_REPEATED)
            continue;
        size_t i = (size_t)(f - d->fields);
        if (i < nf) {
            if (maxes[i] == 0)
                maxes[i] = wire_field_max(f);
            if ((counts[i] += count) > maxes[i] && over < 0)
                over = (int)i; /* counted to the end of this message, to say how many */
        }
        if ((w->elems += count) > w->max_elems)
            return wire_over_budget(w);
    }
    if (over >= 0) {
        const ProtobufCFieldDescriptor *f = &d->fields[over];
        wire_push(w, f->name);
        return strata_err_set(w->e, STRATA_ETOOBIG, "%s: %zu entries, max %zu", w->path,
                              counts[over], wire_field_max(f));
    }
    return 0;
}

int strata_msg_wire_check(const ProtobufCMessageDescriptor *d, const void *buf, size_t len,
                          size_t max_elems, struct strata_err *e)
{
    struct wire_walk w = {.max_elems = max_elems, .e = e};
    return wire_msg(&w, d, buf, len, 0);
}

/* Drops the unknown fields of m and of every message in it. */
void strata_msg_strip_unknown(ProtobufCMessage *m, ProtobufCAllocator *a)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (a == NULL)
            free(m->unknown_fields[i].data);
        else
            a->free(a->allocator_data, m->unknown_fields[i].data);
    if (m->unknown_fields != NULL) {
        if (a == NULL)
            free(m->unknown_fields);
        else
            a->free(a->allocator_data, m->unknown_fields);
    }
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage **v = *(ProtobufCMessage ***)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                strata_msg_strip_unknown(v[k], a);
            continue;
        }
        /* the members of a oneof share one place: only the one set is there */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        strata_msg_strip_unknown(*(ProtobufCMessage **)(base + f->offset), a);
    }
}

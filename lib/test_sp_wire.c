/* test_sp_wire.c - the frame parser both ends of the tcp transport share (sp_frame_next,
 * sp_handshake_next): a stream of frames cut in two at every offset, and in one-byte reads,
 * comes out as the same frames; lengths out of bounds are refused wherever they are cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sp_wire.h"

static const size_t lens[] = {4, 5, 0, 100, 70000, 4, 8};
#define NFRAMES (sizeof(lens) / sizeof(lens[0]))

/* A handshake, then frames of lens[] bytes, each byte of frame i being i + its offset. */
static uint8_t *stream(size_t *total)
{
    size_t n = SP_HANDSHAKE_LEN;
    for (size_t i = 0; i < NFRAMES; i++)
        n += SP_LEN_BYTES + lens[i];
    uint8_t *b = malloc(n), *p = b;
    sp_handshake(p, SP_PROTO_REQ0);
    p += SP_HANDSHAKE_LEN;
    for (size_t i = 0; i < NFRAMES; i++) {
        sp_put_be64(p, lens[i]);
        p += SP_LEN_BYTES;
        for (size_t k = 0; k < lens[i]; k++)
            *p++ = (uint8_t)(i + k);
    }
    *total = n;
    return b;
}

struct reader {
    uint8_t *in;
    size_t len;
    bool up;
    size_t frames;
    bool bad;
};

/* Takes what arrived as both transports do: handshake, then every complete frame, keeping the
 * rest at the front. */
static void feed(struct reader *r, const uint8_t *data, size_t n, uint64_t max)
{
    memcpy(r->in + r->len, data, n);
    r->len += n;
    size_t off = 0;
    if (!r->up) {
        enum sp_frame h = sp_handshake_next(r->in, r->len, SP_PROTO_REQ0);
        if (h == SP_FRAME_MORE)
            return;
        assert_int_equal(h, SP_FRAME_OK);
        r->up = true;
        off = SP_HANDSHAKE_LEN;
    }
    for (;;) {
        size_t len;
        enum sp_frame f = sp_frame_next(r->in + off, r->len - off, 0, max, &len);
        if (f == SP_FRAME_BAD) {
            r->bad = true;
            return;
        }
        if (f == SP_FRAME_MORE)
            break;
        assert_true(r->frames < NFRAMES);
        assert_int_equal(len, lens[r->frames]);
        for (size_t k = 0; k < len; k++)
            if (r->in[off + SP_LEN_BYTES + k] != (uint8_t)(r->frames + k))
                fail_msg("frame %zu byte %zu differs", r->frames, k);
        r->frames++;
        off += SP_LEN_BYTES + len;
    }
    memmove(r->in, r->in + off, r->len - off);
    r->len -= off;
}

static void test_every_split_offset(void **state)
{
    (void)state;
    size_t total;
    uint8_t *s = stream(&total);
    struct reader r = {.in = malloc(total)};
    for (size_t cut = 0; cut <= total; cut++) {
        r.len = 0, r.up = false, r.frames = 0, r.bad = false;
        feed(&r, s, cut, 1u << 20);
        feed(&r, s + cut, total - cut, 1u << 20);
        assert_false(r.bad);
        assert_int_equal(r.frames, NFRAMES);
        assert_int_equal(r.len, 0);
    }
    /* one byte at a time: every frame is found once, at its last byte */
    r.len = 0, r.up = false, r.frames = 0;
    for (size_t i = 0; i < total; i++)
        feed(&r, s + i, 1, 1u << 20);
    assert_int_equal(r.frames, NFRAMES);
    free(r.in);
    free(s);
}

static void test_bounds_refused_wherever_cut(void **state)
{
    (void)state;
    size_t total;
    uint8_t *s = stream(&total);
    struct reader r = {.in = malloc(total)};
    /* max below the 70000-byte frame: refused once its length has arrived, not before */
    size_t big_at = SP_HANDSHAKE_LEN;
    for (size_t i = 0; lens[i] != 70000; i++)
        big_at += SP_LEN_BYTES + lens[i];
    for (size_t cut = 0; cut <= total; cut += 97) {
        r.len = 0, r.up = false, r.frames = 0, r.bad = false;
        feed(&r, s, cut, 65536);
        assert_int_equal(r.bad, cut >= big_at + SP_LEN_BYTES);
        if (!r.bad)
            feed(&r, s + cut, total - cut, 65536);
        assert_true(r.bad);
        assert_int_equal(r.frames, 4); /* the frames before it were taken */
    }
    size_t len;
    uint8_t hdr[SP_LEN_BYTES];
    sp_put_be64(hdr, 3);
    assert_int_equal(sp_frame_next(hdr, sizeof(hdr), 4, 100, &len), SP_FRAME_BAD); /* < min */
    sp_put_be64(hdr, UINT64_MAX);
    assert_int_equal(sp_frame_next(hdr, sizeof(hdr), 0, 100, &len), SP_FRAME_BAD);
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REP0);
    assert_int_equal(sp_handshake_next(hs, sizeof(hs), SP_PROTO_REQ0), SP_FRAME_BAD);
    assert_int_equal(sp_handshake_next(hs, 7, SP_PROTO_REQ0), SP_FRAME_MORE);
    free(r.in);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_offset),
        cmocka_unit_test(test_bounds_refused_wherever_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

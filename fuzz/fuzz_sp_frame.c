/* fuzz_sp_frame.c - libFuzzer target: a TCP byte stream as the tcp:// transport takes it, cut
 * into reads at arbitrary offsets, through the frame parser both ends share (lib/sp_wire.h:
 * sp_handshake_next, sp_frame_next), driven as their read callbacks drive it (uvs_parse in
 * lib/server_uv.c for requests, uvc_read_cb in lib/client_uv.c for replies, with their bounds),
 * then each frame's body through what the transport hands it to: sp_backtrace_len and
 * strata_msg_decode_req (srv_take, lib/server.c) on the server side, client_decode_reply
 * (lib/client.c) on the client side. The callbacks themselves need a connection and a loop:
 * fuzz_sp_server and fuzz_sp_client run them over loopback. Checked: however the stream is cut
 * into reads, the same frames come out, each within the bytes received, and the connection is
 * dropped at the same point; a frame the parser calls incomplete has the length it announced.
 *
 * Input: [side][3 bytes of read sizes][stream]. side & 1: 0 the server (a req0 peer's handshake,
 * requests), 1 the client (rep0, replies). Reads cycle through the sizes (1 + byte % 64). Run with
 * FZ_WRITE_CORPUS=DIR once to write seeds: a handshake and a few valid frames for each side.
 * Build: docs/fuzzing.md. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "msg.h"
#include "sp_wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_FRAMES 4096

/* One side of a connection, as server_uv.c's uvs_conn and client_uv.c's uvc_conn keep it. */
struct fz_conn {
    bool client;
    uint8_t *in;
    size_t in_len, in_cap;
    size_t consumed; /* bytes of the stream before in[0] */
    bool up, dropped;
    size_t drop_at; /* stream offset of what made it drop */
    size_t nframes;
    size_t frame_off[FZ_MAX_FRAMES], frame_len[FZ_MAX_FRAMES];
};

/* One complete frame: recorded, and decoded when `decode` (the first pass). */
static void fz_frame(struct fz_conn *c, const uint8_t *msg, size_t len, bool decode)
{
    if (c->nframes < FZ_MAX_FRAMES) {
        c->frame_off[c->nframes] = c->consumed + (size_t)(msg - c->in);
        c->frame_len[c->nframes] = len;
    }
    c->nframes++;
    if (!decode)
        return;
    strata_env *env = NULL;
    struct strata_err e = {0};
    if (c->client) {
        /* uvc_reply: the caller has checked len >= 4 */
        (void)sp_get_be32(msg);
        if (client_decode_reply(msg + 4, len - 4, &env, &e) == 0)
            strata_msg_free(env);
        return;
    }
    /* uvs_message, then srv_take */
    unsigned bt = sp_backtrace_len(msg, len);
    if (bt == 0)
        return;
    if (bt > SP_BACKTRACE_MAX || bt > len) {
        fprintf(stderr, "backtrace of %u bytes in a frame of %zu\n", bt, len);
        abort();
    }
    if (strata_msg_decode_req(msg + bt, len - bt, STRATA_MSG_MAX, &env, &e) == 0)
        strata_msg_free(env);
}

static void fz_drop(struct fz_conn *c, size_t at)
{
    c->dropped = true;
    c->drop_at = c->consumed + at;
}

/* `n` more bytes arrived: the read callbacks' loop. */
static void fz_read(struct fz_conn *c, const uint8_t *b, size_t n, bool decode)
{
    if (c->dropped)
        return;
    if (c->in_len + n > c->in_cap) {
        c->in_cap = c->in_len + n;
        c->in = realloc(c->in, c->in_cap ? c->in_cap : 1);
    }
    if (n > 0)
        memcpy(c->in + c->in_len, b, n);
    c->in_len += n;
    size_t off = 0;
    if (!c->up) {
        enum sp_frame h =
            sp_handshake_next(c->in, c->in_len, c->client ? SP_PROTO_REP0 : SP_PROTO_REQ0);
        if (h == SP_FRAME_MORE)
            return;
        if (h == SP_FRAME_BAD) {
            fz_drop(c, 0);
            return;
        }
        c->up = true;
        off = SP_HANDSHAKE_LEN;
    }
    /* server_uv.c: min 0, max frame_max (recv_max + SP_BACKTRACE_MAX, recv_max defaulting to
     * STRATA_MSG_MAX); client_uv.c: min 4 (the request id), the same max */
    const uint64_t min = c->client ? 4 : 0, max = STRATA_MSG_MAX + SP_BACKTRACE_MAX;
    for (;;) {
        size_t len;
        enum sp_frame f = sp_frame_next(c->in + off, c->in_len - off, min, max, &len);
        if (f == SP_FRAME_MORE) {
            if (c->in_len - off >= SP_LEN_BYTES && len != sp_get_be64(c->in + off)) {
                fprintf(stderr, "an incomplete frame of %zu bytes announced as %llu\n", len,
                        (unsigned long long)sp_get_be64(c->in + off));
                abort();
            }
            break;
        }
        if (f == SP_FRAME_BAD) {
            fz_drop(c, off);
            return;
        }
        if (SP_LEN_BYTES + len > c->in_len - off) {
            fprintf(stderr, "a frame of %zu bytes in %zu\n", len, c->in_len - off);
            abort();
        }
        fz_frame(c, c->in + off + SP_LEN_BYTES, len, decode);
        off += SP_LEN_BYTES + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    c->consumed += off;
}

static struct fz_conn one, cut;

static void fz_reset(struct fz_conn *c, bool client)
{
    free(c->in);
    memset(c, 0, sizeof(*c));
    c->client = client;
}

static void fz_same(const struct fz_conn *a, const struct fz_conn *b, size_t stream_len)
{
    bool same = a->nframes == b->nframes && a->dropped == b->dropped &&
                (!a->dropped || a->drop_at == b->drop_at);
    for (size_t i = 0; same && i < a->nframes && i < FZ_MAX_FRAMES; i++)
        same = a->frame_off[i] == b->frame_off[i] && a->frame_len[i] == b->frame_len[i];
    for (size_t i = 0; i < a->nframes && i < FZ_MAX_FRAMES; i++)
        if (a->frame_off[i] + a->frame_len[i] > stream_len) {
            fprintf(stderr, "frame %zu ends past the stream\n", i);
            abort();
        }
    if (!same) {
        fprintf(stderr,
                "cut into reads, the stream framed differently: %zu/%zu frames, dropped "
                "%d/%d\n",
                a->nframes, b->nframes, a->dropped, b->dropped);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    bool client = data[0] & 1;
    const uint8_t *sizes = data + 1, *s = data + 4;
    size_t n = size - 4;
    fz_reset(&one, client);
    fz_reset(&cut, client);
    fz_read(&one, s, n, true);
    for (size_t off = 0, k = 0; off < n; k++) {
        size_t r = 1 + sizes[k % 3] % 64;
        if (r > n - off)
            r = n - off;
        fz_read(&cut, s + off, r, false);
        off += r;
    }
    fz_same(&one, &cut, n);
    return 0;
}

static void fz_free(void)
{
    fz_reset(&one, false);
    fz_reset(&cut, false);
}

/* ---- seeds */

static void seed_frame(FILE *o, uint32_t id, const strata_env *env)
{
    uint8_t *body = NULL;
    size_t len = 0;
    struct strata_err e;
    if (strata_msg_encode(env, &body, &len, &e) != 0) {
        fprintf(stderr, "seed: %s\n", e.msg);
        exit(1);
    }
    uint8_t head[SP_REQ_HEAD_LEN];
    sp_req_head(head, id, len); /* a rep0 reply carries the request's id back the same way */
    fwrite(head, 1, sizeof(head), o);
    fwrite(body, 1, len, o);
    free(body);
}

static void write_seeds(const char *dir)
{
    for (int side = 0; side < 2; side++) {
        for (int v = 0; v < 3; v++) {
            char p[512];
            snprintf(p, sizeof(p), "%s/seed-%s-%d", dir, side ? "client" : "server", v);
            FILE *o = fopen(p, "wb");
            if (o == NULL) {
                perror(p);
                exit(1);
            }
            const uint8_t hdr[4] = {(uint8_t)side, (uint8_t)(7 * v + 1), 3, (uint8_t)(64 - v)};
            fwrite(hdr, 1, sizeof(hdr), o);
            uint8_t hs[SP_HANDSHAKE_LEN];
            sp_handshake(hs, side ? SP_PROTO_REP0 : SP_PROTO_REQ0);
            fwrite(hs, 1, sizeof(hs), o);
            strata_env env = STRATA__V1__ENVELOPE__INIT;
            Strata__V1__FeedRequest fr = STRATA__V1__FEED_REQUEST__INIT;
            Strata__V1__WriteReply wr = STRATA__V1__WRITE_REPLY__INIT;
            for (int k = 0; k <= v; k++) {
                env.req_id = (uint64_t)k + 1;
                if (side == 0) {
                    env.body_case = STRATA__V1__ENVELOPE__BODY_FEED;
                    fr.after_index = (uint64_t)k * 10;
                    env.feed = &fr;
                } else if (k == 1) {
                    env.body_case = STRATA__V1__ENVELOPE__BODY__NOT_SET;
                    env.status = STRATA_ENOTLEADER;
                    env.message = "not the leader";
                } else {
                    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_REPLY;
                    env.status = 0;
                    env.message = NULL;
                    env.write_reply = &wr;
                }
                seed_frame(o, (uint32_t)k + 1, &env);
            }
            fclose(o);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    atexit(fz_free);
    return 0;
}

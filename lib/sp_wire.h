/* sp_wire.h - NNG's SP (scalability protocols) framing over TCP, for the code that speaks it
 * without NNG: the daemons' loop transports (server_uv.c, client_uv.c) and the benchmarks' client.
 *
 * Each side first sends 8 bytes {0, 'S', 'P', 0, protocol id (16 bits, big-endian), 0, 0};
 * then every message is a 64-bit big-endian length and that many bytes. A req0 message starts
 * with its backtrace: 32-bit big-endian words, the last of which (the request id) has its top
 * bit set; a rep0 reply carries the same words back, then the body. */
#ifndef STRATA_SP_WIRE_H
#define STRATA_SP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

#define SP_PROTO_REQ0 0x30
#define SP_PROTO_REP0 0x31
#define SP_HANDSHAKE_LEN 8
#define SP_LEN_BYTES 8
/* NNG's maximum TTL: at most 8 backtrace words (devices in between add one each). */
#define SP_BACKTRACE_MAX 32

static inline void sp_handshake(uint8_t out[SP_HANDSHAKE_LEN], unsigned proto)
{
    const uint8_t h[SP_HANDSHAKE_LEN] = {0, 'S', 'P', 0, (uint8_t)(proto >> 8), (uint8_t)proto,
                                         0, 0};
    for (int i = 0; i < SP_HANDSHAKE_LEN; i++)
        out[i] = h[i];
}

/* Whether `in` is a handshake from a peer speaking `proto`. */
static inline bool sp_handshake_ok(const uint8_t in[SP_HANDSHAKE_LEN], unsigned proto)
{
    return in[0] == 0 && in[1] == 'S' && in[2] == 'P' && in[3] == 0 &&
           (unsigned)(in[4] << 8 | in[5]) == proto && in[6] == 0 && in[7] == 0;
}

static inline void sp_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t sp_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline uint32_t sp_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The one frame parser of both ends (server_uv.c, client_uv.c): what starts `len` bytes of input
 * after the handshake. SP_FRAME_OK: a frame of SP_LEN_BYTES + *msg_len bytes, its message right
 * after the length; SP_FRAME_MORE: not all of it has arrived (*msg_len says how long it is once
 * the length has); SP_FRAME_BAD: it announces fewer than min or more than max bytes. */
enum sp_frame { SP_FRAME_MORE, SP_FRAME_OK, SP_FRAME_BAD };
static inline enum sp_frame sp_frame_next(const uint8_t *in, size_t len, uint64_t min, uint64_t max,
                                          size_t *msg_len)
{
    *msg_len = 0;
    if (len < SP_LEN_BYTES)
        return SP_FRAME_MORE;
    uint64_t n = sp_get_be64(in);
    if (n < min || n > max)
        return SP_FRAME_BAD;
    *msg_len = (size_t)n;
    return len - SP_LEN_BYTES >= n ? SP_FRAME_OK : SP_FRAME_MORE;
}

/* The same for the handshake that starts a connection: SP_FRAME_OK when its 8 bytes are there
 * and name `proto`, SP_FRAME_BAD when they are there and do not. */
static inline enum sp_frame sp_handshake_next(const uint8_t *in, size_t len, unsigned proto)
{
    if (len < SP_HANDSHAKE_LEN)
        return SP_FRAME_MORE;
    return sp_handshake_ok(in, proto) ? SP_FRAME_OK : SP_FRAME_BAD;
}

/* The SP_REQ_HEAD_LEN bytes before a req0 request's body: the frame length, then request id
 * `id` with its top bit set. */
#define SP_REQ_HEAD_LEN (SP_LEN_BYTES + 4)
static inline void sp_req_head(uint8_t out[SP_REQ_HEAD_LEN], uint32_t id, size_t body_len)
{
    sp_put_be64(out, 4 + (uint64_t)body_len);
    id |= 0x80000000u;
    out[8] = (uint8_t)(id >> 24);
    out[9] = (uint8_t)(id >> 16);
    out[10] = (uint8_t)(id >> 8);
    out[11] = (uint8_t)id;
}

/* Length of the backtrace that starts `msg` (through the word with the top bit set), or 0 when
 * there is none within SP_BACKTRACE_MAX bytes (a malformed request). */
static inline unsigned sp_backtrace_len(const uint8_t *msg, uint64_t len)
{
    for (unsigned i = 0; i + 4 <= len && i < SP_BACKTRACE_MAX; i += 4)
        if (msg[i] & 0x80)
            return i + 4;
    return 0;
}

/* sp_tcp.c: a tcp://host:port, tcp://[v6]:port URL split into its parts ... */
struct sp_tcp_addr {
    char host[256];
    char port[16];
};
int sp_tcp_split(const char *url, struct sp_tcp_addr *a, struct strata_err *e);
/* ... and resolved for a listener, an IPv4 address preferred: an empty host or "*" is every
 * IPv4 address; a name is looked up (blocking: at startup only). */
int sp_tcp_resolve(const struct sp_tcp_addr *a, struct sockaddr_storage *ss, struct strata_err *e);
/* The same for a client, without any lookup: 0 when the host is a numeric address, else
 * STRATA_ENOTFOUND (a name: the caller looks it up without blocking its loop). */
int sp_tcp_numeric(const struct sp_tcp_addr *a, struct sockaddr_storage *ss);
/* The address to use of getaddrinfo's answer (an IPv4 one first). */
struct addrinfo;
void sp_tcp_pick(const struct addrinfo *res, struct sockaddr_storage *ss);

#endif

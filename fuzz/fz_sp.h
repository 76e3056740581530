/* fz_sp.h - what fuzz_sp_server and fuzz_sp_client share: a loop turn that drains what the
 * other end sent, a byte stream written in sized pieces with a loop turn after each, a reset
 * close, and seeds taken from fuzz_sp_frame's. Header-only: each target includes it once. */
#ifndef FZ_SP_H
#define FZ_SP_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* One loop turn without blocking, then whatever arrived on fd (if any) is read and dropped. */
static inline void fz_sp_pump(uv_loop_t *uv, int fd)
{
    uv_run(uv, UV_RUN_NOWAIT);
    uint8_t sink[4096];
    while (fd >= 0 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

/* Writes s[0..n) to fd in pieces cycling through the sizes (1 + byte % 64), a loop turn after
 * each, until done or the other end drops the connection. */
static inline void fz_sp_stream(uv_loop_t *uv, int fd, const uint8_t sizes[3], const uint8_t *s,
                                size_t n)
{
    /* Each piece leaves at once: with Nagle's algorithm, a piece sent while the previous one
     * waits for its (delayed) ACK would arrive only after the input is over. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fz_sp_pump(uv, fd);
    for (size_t off = 0, k = 0; off < n; k++) {
        size_t w = 1 + sizes[k % 3] % 64;
        if (w > n - off)
            w = n - off;
        ssize_t r = send(fd, s + off, w, MSG_NOSIGNAL);
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            break; /* the other end dropped us */
        if (r > 0)
            off += (size_t)r;
        fz_sp_pump(uv, fd);
    }
    for (int i = 0; i < 3; i++)
        fz_sp_pump(uv, fd);
}

/* A reset, not a FIN: no TIME_WAIT left behind by a million connections. */
static inline void fz_sp_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* The seeds of one side ("server" or "client"): fuzz_sp_frame's seed-SIDE-0..2 without their
 * first byte (which picks the side there), written into dir. */
static inline void fz_sp_write_seeds(const char *dir, const char *side)
{
    for (int i = 0; i < 3; i++) {
        char in[512], out[512];
        snprintf(in, sizeof(in), "fuzz/corpus/fuzz_sp_frame/seed-%s-%d", side, i);
        snprintf(out, sizeof(out), "%s/seed-%s-%d", dir, side, i);
        FILE *f = fopen(in, "rb"), *o = fopen(out, "wb");
        if (f == NULL || o == NULL) {
            perror(f == NULL ? in : out);
            exit(1);
        }
        uint8_t b[4096];
        size_t len = fread(b, 1, sizeof(b), f);
        if (len < 1 || fwrite(b + 1, 1, len - 1, o) != len - 1)
            exit(1);
        fclose(f);
        fclose(o);
    }
}

#endif

/* sp_uv.h - socket buffers for the loop transports (server_uv.c, client_uv.c). */
#ifndef STRATA_SP_UV_H
#define STRATA_SP_UV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Called on the loop when a queued write finished (status < 0: failed or cancelled). */
typedef void (*sp_uv_done)(void *data, int status);

/* Write `len` bytes of `buf` (malloc'd) on st. Returns 1 when the socket took them all at once
 * (buf is still the caller's); 0 when the rest was queued: buf then belongs to the write, is
 * freed when it ends, and done(data, status) runs; or a negative libuv error (nothing queued,
 * buf is the caller's). A failed socket is reported through done, never here, so a caller is
 * never re-entered from its own send. */
int sp_uv_write(uv_stream_t *st, uint8_t *buf, size_t len, sp_uv_done done, void *data);

/* Grow *buf (capacity *cap, `len` used) so that `more` bytes fit. 0, or -1 when out of memory. */
int sp_uv_reserve(uint8_t **buf, size_t *cap, size_t len, size_t more);

/* Where a TLS connection's ciphertext is read: one buffer per thread, for both ends of the loop
 * transports, handed to the session (strata_tls_conn_input) before the loop reads again. */
uv_buf_t sp_uv_tls_scratch(void);

/* For a libuv alloc callback: room for at least SP_UV_READ_CHUNK more bytes after the `len`
 * bytes of *buf, handed to libuv in *b (empty when out of memory: libuv then reports
 * UV_ENOBUFS to the read callback). The client's; the server sizes its input itself, within
 * limits untrusted clients cannot stretch (server_uv.c, uvs_alloc_cb). */
#define SP_UV_READ_CHUNK (64u << 10)
void sp_uv_input(uint8_t **buf, size_t *cap, size_t len, uv_buf_t *b);

#endif

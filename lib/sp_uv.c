/* sp_uv.c - socket buffers for the loop transports: a write that costs no copy and no
 * allocation when the socket takes it all, and growable input buffers. */
#include "sp_uv.h"

#include <stdlib.h>

struct sp_uv_write_req {
    uv_write_t w;
    uint8_t *buf;
    sp_uv_done done;
    void *data;
};

static void sp_uv_written(uv_write_t *w, int status)
{
    struct sp_uv_write_req *r = (struct sp_uv_write_req *)w;
    sp_uv_done done = r->done;
    void *data = r->data;
    free(r->buf);
    free(r);
    done(data, status);
}

int sp_uv_write(uv_stream_t *st, uint8_t *buf, size_t len, sp_uv_done done, void *data)
{
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int w = uv_try_write(st, &b, 1);
    if (w == (int)len)
        return 1;
    /* EAGAIN, a partial write, or an error: libuv's queue retries, or reports the error */
    size_t sent = w > 0 ? (size_t)w : 0;
    struct sp_uv_write_req *r = malloc(sizeof(*r));
    if (r == NULL)
        return UV_ENOMEM;
    r->buf = buf;
    r->done = done;
    r->data = data;
    b = uv_buf_init((char *)buf + sent, (unsigned)(len - sent));
    int rc = uv_write(&r->w, st, &b, 1, sp_uv_written);
    if (rc != 0) {
        free(r);
        return rc;
    }
    return 0;
}

void sp_uv_input(uint8_t **buf, size_t *cap, size_t len, uv_buf_t *b)
{
    if (sp_uv_reserve(buf, cap, len, SP_UV_READ_CHUNK) != 0)
        *b = uv_buf_init(NULL, 0);
    else
        *b = uv_buf_init((char *)*buf + len, (unsigned)(*cap - len));
}

int sp_uv_reserve(uint8_t **buf, size_t *cap, size_t len, size_t more)
{
    if (*cap - len >= more)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n - len < more)
        n *= 2;
    uint8_t *b = realloc(*buf, n);
    if (b == NULL)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

uv_buf_t sp_uv_tls_scratch(void)
{
    static _Thread_local uint8_t scratch[SP_UV_READ_CHUNK];
    return uv_buf_init((char *)scratch, sizeof(scratch));
}

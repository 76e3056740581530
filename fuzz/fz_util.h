/* fz_util.h - small helpers the fuzz targets share: a protobuf varint, and a seed file written
 * whole (or the process exits: seeds are written once, by hand or by a script). Header-only. */
#ifndef FZ_UTIL_H
#define FZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* v as a protobuf varint at p; returns its length (at most 10). */
static inline size_t fz_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t)(v | 0x80);
    p[n++] = (uint8_t)v;
    return n;
}

/* Writes dir/seed-NAME with the n bytes at b; exits on failure. */
static inline void fz_write_seed(const char *dir, const char *name, const void *b, size_t n)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/seed-%s", dir, name);
    FILE *o = fopen(p, "wb");
    if (o == NULL || fwrite(b, 1, n, o) != n) {
        perror(p);
        exit(1);
    }
    fclose(o);
}

#endif

/* backup.c - the directory backup file: encoding, and the checks made before anyone trusts one. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"

void strata_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 32;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32); /* never matches a real sum: the check then fails loudly */
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int strata_backup_encode(Strata__V1__BackupInfo *info, const uint8_t *state, size_t state_len,
                         uint8_t **out, size_t *out_len, struct strata_err *e)
{
    info->state_bytes = state_len;
    size_t ilen = strata__v1__backup_info__get_packed_size(info);
    if (ilen > STRATA_BACKUP_INFO_MAX)
        return strata_err_set(e, STRATA_EINVAL, "backup header too large (%zu bytes)", ilen);
    size_t total = STRATA_BACKUP_HDR + ilen + state_len + STRATA_BACKUP_SUM;
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "backup: cannot allocate %zu bytes", total);
    memcpy(buf, STRATA_BACKUP_MAGIC, 8);
    wr32(buf + 8, STRATA_BACKUP_VERSION);
    wr32(buf + 12, (uint32_t)ilen);
    strata__v1__backup_info__pack(info, buf + STRATA_BACKUP_HDR);
    if (state_len > 0)
        memcpy(buf + STRATA_BACKUP_HDR + ilen, state, state_len);
    strata_sha256(buf, total - STRATA_BACKUP_SUM, buf + total - STRATA_BACKUP_SUM);
    *out = buf;
    *out_len = total;
    return 0;
}

int strata_backup_decode(uint8_t *buf, size_t len, struct strata_backup *b, struct strata_err *e)
{
    memset(b, 0, sizeof(*b));
    if (len < STRATA_BACKUP_HDR || memcmp(buf, STRATA_BACKUP_MAGIC, 8) != 0)
        return strata_err_set(e, STRATA_EPROTO, "not a strata directory backup (no %s header)",
                              STRATA_BACKUP_MAGIC);
    uint32_t version = rd32(buf + 8), ilen = rd32(buf + 12);
    if (version != STRATA_BACKUP_VERSION)
        return strata_err_set(e, STRATA_EPROTO,
                              "backup format version %u, this build reads version %u", version,
                              STRATA_BACKUP_VERSION);
    if (ilen > STRATA_BACKUP_INFO_MAX || len < STRATA_BACKUP_HDR + (size_t)ilen + STRATA_BACKUP_SUM)
        return strata_err_set(e, STRATA_EPROTO, "truncated: %zu bytes, too short for its header",
                              len);
    Strata__V1__BackupInfo *info =
        strata__v1__backup_info__unpack(NULL, ilen, buf + STRATA_BACKUP_HDR);
    if (info == NULL)
        return strata_err_set(e, STRATA_EPROTO, "damaged: its header does not decode");
    size_t want = STRATA_BACKUP_HDR + (size_t)ilen + STRATA_BACKUP_SUM;
    if (info->state_bytes != len - want) {
        int rc = strata_err_set(e, STRATA_EPROTO, "%s: %zu bytes, the header says %llu",
                                info->state_bytes > len - want ? "truncated" : "damaged", len,
                                (unsigned long long)(want + info->state_bytes));
        strata__v1__backup_info__free_unpacked(info, NULL);
        return rc;
    }
    uint8_t sum[32];
    strata_sha256(buf, len - STRATA_BACKUP_SUM, sum);
    if (memcmp(sum, buf + len - STRATA_BACKUP_SUM, STRATA_BACKUP_SUM) != 0) {
        strata__v1__backup_info__free_unpacked(info, NULL);
        return strata_err_set(e, STRATA_EPROTO, "damaged: its SHA-256 checksum does not match");
    }
    b->info = info;
    b->state = buf + STRATA_BACKUP_HDR + ilen;
    b->state_len = (size_t)info->state_bytes;
    b->raw = buf;
    b->raw_len = len;
    return 0;
}

int strata_backup_read(const char *path, struct strata_backup *b, struct strata_err *e)
{
    memset(b, 0, sizeof(*b));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return strata_err_set(e, STRATA_EIO, "backup %s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return strata_err_set(e, STRATA_EINVAL, "backup %s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        close(fd);
        return strata_err_set(e, STRATA_ENOMEM, "backup %s: cannot allocate %zu bytes", path, len);
    }
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            free(buf);
            return strata_err_set(e, STRATA_EIO, "backup %s: read: %s", path, strerror(err));
        }
        got += (size_t)n;
    }
    close(fd);
    struct strata_err de;
    if (strata_backup_decode(buf, len, b, &de) != 0) {
        free(buf);
        return strata_err_set(e, de.code, "backup %s: %s", path, de.msg);
    }
    return 0;
}

void strata_backup_free(struct strata_backup *b)
{
    if (b->info != NULL)
        strata__v1__backup_info__free_unpacked(b->info, NULL);
    free(b->raw);
    memset(b, 0, sizeof(*b));
}

/* backup.h - the directory backup file `strata cluster backup` writes and `strata-dird --restore`
 * reads: a header, a BackupInfo, the state (a DirSnapshot encoding) and a SHA-256 of it all. */
#ifndef STRATA_BACKUP_H
#define STRATA_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "strata.pb-c.h"

/* Layout, integers little-endian:
 *   "STRATABK" (8 bytes) | u32 version | u32 info_len | BackupInfo (info_len bytes) |
 *   state (info.state_bytes bytes) | SHA-256 of every byte before it (32 bytes)
 * The version changes when the layout or the state's meaning does; a reader refuses others. */
#define STRATA_BACKUP_MAGIC "STRATABK"
#define STRATA_BACKUP_VERSION 1u
#define STRATA_BACKUP_HDR 16u
#define STRATA_BACKUP_SUM 32u
#define STRATA_BACKUP_INFO_MAX (1u << 20) /* a BackupInfo is a few hundred bytes */

/* A verified backup: info decoded, state pointing into the bytes read (owned here). */
struct strata_backup {
    Strata__V1__BackupInfo *info;
    const uint8_t *state;
    size_t state_len;
    uint8_t *raw; /* the whole file */
    size_t raw_len;
};

/* SHA-256 of len bytes into out[32]. */
void strata_sha256(const void *data, size_t len, uint8_t out[32]);

/* The file's bytes for info (info->state_bytes is set from state_len) and state, malloc'd. */
int strata_backup_encode(Strata__V1__BackupInfo *info, const uint8_t *state, size_t state_len,
                         uint8_t **out, size_t *out_len, struct strata_err *e);
/* Check buf (magic, version, lengths, checksum, a decodable BackupInfo) and, on success, take
 * it: b->raw = buf, freed by strata_backup_free. On error buf stays the caller's and the message
 * says what is wrong ("truncated: 120 bytes, the header says 4096"). */
int strata_backup_decode(uint8_t *buf, size_t len, struct strata_backup *b, struct strata_err *e);
/* Read and check the file at path (strata_backup_decode), naming it in errors. */
int strata_backup_read(const char *path, struct strata_backup *b, struct strata_err *e);
void strata_backup_free(struct strata_backup *b);

#endif

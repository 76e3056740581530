/* dird_disk.c - times libraft's log appends for the dird_raft_append_seconds histogram, stops the
 * node on a failed append, and watches the data dir's free space.
 *
 * Writes are bound by how fast each node's log append becomes durable: libraft's storage has one
 * write in flight per node (O_DIRECT, O_DSYNC) and queues the next appends behind it. An operator
 * who sees slow writes needs that figure first, as etcd's WAL fsync histogram gives it for etcd.
 * libraft keeps it to itself, so its io->append is wrapped: each append gets a request of ours
 * that records when it was submitted, and the time to its callback is observed.
 *
 * The wrapper is also where a failed append (a full disk, an I/O error) stops the node; see
 * disk_append_failed. A snapshot that cannot be written is only reported: libraft 0.15 drops
 * it without a word and keeps the log, which is safe. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dird.h"
#include "log.h"

/* Bytes free to this process in the data dir's file system; false when it cannot be read. */
static bool disk_free_bytes(const struct dird *d, uint64_t *bytes)
{
    struct statvfs fs;
    if (statvfs(d->cfg.data_dir, &fs) != 0)
        return false;
    *bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
    return true;
}

/* What the storage said went wrong: libraft's uv backend leaves the system error in
 * io->errmsg, often empty; a failed snapshot write is a bare RAFT_IOERR, and 0.15's
 * raft_strerror has no text for RAFT_NOSPACE. So "full" also means: under 1 MiB left. */
static const char *disk_why(const struct dird *d, int status, bool *full)
{
    const char *m = d->io.errmsg;
    uint64_t free_b;
    *full = status == RAFT_NOSPACE || strstr(m, "no space") != NULL ||
            (disk_free_bytes(d, &free_b) && free_b < (1u << 20));
    if (m[0] != '\0')
        return m;
    return status == RAFT_NOSPACE ? "no space left on device" : raft_strerror(status);
}

struct disk_append {
    struct raft_io_append req; /* what the storage sees; first, for the cast back */
    struct raft_io_append *orig;
    raft_io_append_cb cb;
    struct dird *d;
    uint64_t t0_ns;
};

/* libraft 0.15 cannot go on after a failed append. A leader truncates the entries from its
 * in-memory log but leaves its followers' progress pointing past the new end (they may hold
 * the entries already): its next heartbeat trips `p->next_index <= last_index + 1` in
 * progressShouldReplicate, and in Debian's build, without the assertion, reads freed memory and
 * dies of SIGSEGV (reproduced: dir-bench writing into a tmpfs kept full; libraft 0.17 turns the
 * leader into a follower instead). A follower keeps the entries in memory although they are not
 * on disk, and could later count them as stored. So the node stops at once, like a crash and as
 * etcd does when its WAL cannot be written: everything acknowledged is on a majority of disks,
 * the others elect a leader whose disk works, clients retry there with the same ids (their
 * writes are deduplicated), and the node rejoins when it is restarted with space again. */
static void disk_append_failed(struct dird *d, int status)
{
    bool full;
    const char *why = disk_why(d, status, &full);
    LOG_ERROR("%s: raft log append failed in %s (%s); stopping this node so that one whose "
              "disk works leads; restart it once the disk is fixed",
              full ? "DISK FULL" : "DISK ERROR", d->cfg.data_dir, why);
    fprintf(stderr, "strata-dird: raft log append failed in %s: %s\n", d->cfg.data_dir, why);
    _exit(DIRD_EXIT_DISK);
}

static void disk_append_cb(struct raft_io_append *req, int status)
{
    struct disk_append *a = (struct disk_append *)req;
    /* Appends still in flight when Raft closes (SIGTERM) end RAFT_CANCELED: the node is
     * stopping, its disk is fine (io->errmsg may still hold an old, unrelated message). */
    if (status != 0 && status != RAFT_CANCELED && !a->d->stopping)
        disk_append_failed(a->d, status);
    a->d->appends_out--;
    if (status == 0)
        strata_histo_observe(&a->d->h_append, uv_hrtime() - a->t0_ns);
    struct raft_io_append *orig = a->orig;
    raft_io_append_cb cb = a->cb;
    free(a);
    cb(orig, status);
}

static int disk_append(struct raft_io *io, struct raft_io_append *req,
                       const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct dird *d = (struct dird *)((char *)io - offsetof(struct dird, io));
    struct disk_append *a = malloc(sizeof(*a));
    if (a == NULL)
        return RAFT_NOMEM;
    a->req.data = req->data;
    a->orig = req;
    a->cb = cb;
    a->d = d;
    a->t0_ns = uv_hrtime();
    uint64_t bytes = 0;
    for (unsigned i = 0; i < n; i++)
        bytes += entries[i].buf.len;
    d->log_bytes_acc += bytes;
    d->m_log_bytes += bytes;
    d->log_entries_acc += n;
    int rv = d->io_append(io, &a->req, entries, n, disk_append_cb);
    if (rv != 0)
        free(a);
    else
        d->appends_out++;
    return rv;
}

struct disk_snapshot_put {
    struct raft_io_snapshot_put req; /* what the storage sees; first, for the cast back */
    struct raft_io_snapshot_put *orig;
    raft_io_snapshot_put_cb cb;
    struct dird *d;
    bool own; /* a snapshot of this node's state, not one being installed from the leader */
};

static void disk_snapshot_put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct disk_snapshot_put *p = (struct disk_snapshot_put *)req;
    struct dird *d = p->d;
    if (status != 0) {
        d->m_snapshot_failures++;
        bool full;
        const char *why = disk_why(d, status, &full);
        const char *what = full ? "DISK FULL" : "DISK ERROR";
        if (p->own) { /* libraft keeps the log and tries again later */
            d->snap_put_failed = true;
            LOG_ERROR("%s: snapshot not written in %s (%s); the log keeps its entries, the next "
                      "snapshot is tried after --snapshot-threshold more",
                      what, d->cfg.data_dir, why);
        } else { /* the leader sends it again */
            LOG_ERROR("%s: snapshot from the leader not installed in %s (%s); it will be resent",
                      what, d->cfg.data_dir, why);
        }
    }
    struct raft_io_snapshot_put *orig = p->orig;
    raft_io_snapshot_put_cb cb = p->cb;
    free(p);
    cb(orig, status);
}

static int disk_snapshot_put(struct raft_io *io, unsigned trailing,
                             struct raft_io_snapshot_put *req, const struct raft_snapshot *snapshot,
                             raft_io_snapshot_put_cb cb)
{
    struct dird *d = (struct dird *)((char *)io - offsetof(struct dird, io));
    struct disk_snapshot_put *p = malloc(sizeof(*p));
    if (p == NULL)
        return RAFT_NOMEM;
    p->req.data = req->data;
    p->orig = req;
    p->cb = cb;
    p->d = d;
    p->own = d->snap != NULL && snapshot->index == dir_snap_applied(d->snap);
    int rv = d->io_snapshot_put(io, trailing, &p->req, snapshot, disk_snapshot_put_cb);
    if (rv != 0)
        free(p);
    return rv;
}

/* libraft's uv backend preallocates its log in segments of this size (its default, which
 * strata-dird keeps): the next one must fit. */
#define DISK_SEGMENT_BYTES (8u << 20)
#define MIB(b) ((unsigned long long)((b) >> 20))

void dird_disk_snapshot_seen(struct dird *d, size_t bytes)
{
    if (bytes > d->snap_bytes_max)
        d->snap_bytes_max = bytes;
}

/* A node whose disk fills stops (disk_append_failed). The warning comes before: when the free
 * space is under a new log segment plus twice the largest snapshot seen here (the next snapshot
 * is written beside the last one before that is removed; the size is the uncompressed one, so
 * this errs on the safe side). A node restarted on a disk still too small says so at once, not
 * only when its catch-up has filled the disk. The gauge lets an operator alert earlier. */
/* Snapshots come every --snapshot-threshold entries, but entries range from ~100 bytes to a
 * 4 MiB write batch: at 16384 of those the log would hold 64 GiB before it is compacted. So once
 * a second the threshold is weighed against the entries' average size: it becomes the number of
 * entries that make --snapshot-bytes, rounded down to a power of two (nodes that see the same
 * entries then agree, and take their snapshots in turn as before), never above the flag; the
 * trailing entries shrink in proportion. */
static void disk_weigh_threshold(struct dird *d)
{
    if (d->log_entries_acc < 64 || !d->raft_started)
        return;
    uint64_t avg = d->log_bytes_acc / d->log_entries_acc;
    d->log_bytes_acc = d->log_entries_acc = 0;
    uint64_t t = d->cfg.snap_bytes / (avg > 0 ? avg : 1), p = 16;
    while (p * 2 <= t)
        p *= 2;
    t = p < d->cfg.snap_threshold ? p : d->cfg.snap_threshold;
    if (t == d->snap_threshold_eff)
        return;
    uint64_t trailing = d->cfg.snap_trailing * t / d->cfg.snap_threshold;
    raft_set_snapshot_threshold(&d->raft, (unsigned)t);
    raft_set_snapshot_trailing(&d->raft, (unsigned)trailing);
    LOG_INFO("snapshot threshold now %llu entries, trailing %llu (entries average %llu bytes; "
             "--snapshot-bytes %llu)",
             (unsigned long long)t, (unsigned long long)trailing, (unsigned long long)avg,
             (unsigned long long)d->cfg.snap_bytes);
    d->snap_threshold_eff = t;
}

void dird_disk_tick(struct dird *d, uint64_t now_ms)
{
    if (now_ms < d->disk_next_ms)
        return;
    d->disk_next_ms = now_ms + 1000;
    disk_weigh_threshold(d);
    uint64_t free_b;
    if (!disk_free_bytes(d, &free_b))
        return;
    uint64_t need = DISK_SEGMENT_BYTES + 2 * (uint64_t)d->snap_bytes_max;
    d->m_disk_free = free_b;
    d->m_disk_need = need;
    bool low = free_b < need;
    if (low && !d->disk_low)
        LOG_WARN("LOW DISK: %llu MiB free in %s, under the %llu MiB this node may need next "
                 "(one %u MiB log segment and twice its largest snapshot); it stops with DISK FULL "
                 "when a log append cannot be written",
                 MIB(free_b), d->cfg.data_dir, MIB(need), DISK_SEGMENT_BYTES >> 20);
    else if (!low && d->disk_low)
        LOG_INFO("disk space back: %llu MiB free in %s", MIB(free_b), d->cfg.data_dir);
    d->disk_low = low;
}

void dird_disk_wrap(struct dird *d)
{
    d->io_append = d->io.append;
    d->io.append = disk_append;
    d->io_snapshot_put = d->io.snapshot_put;
    d->io.snapshot_put = disk_snapshot_put;
}

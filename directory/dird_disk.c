/* dird_disk.c - times libraft's log appends for the dird_raft_append_seconds histogram.
 *
 * Writes are bound by how fast each node's log append becomes durable: libraft's storage has one
 * write in flight per node (O_DIRECT, O_DSYNC) and queues the next appends behind it. An operator
 * who sees slow writes needs that figure first, as etcd's WAL fsync histogram gives it for etcd.
 * libraft keeps it to itself, so its io->append is wrapped: each append gets a request of ours
 * that records when it was submitted, and the time to its callback is observed. */
#include <stddef.h>
#include <stdlib.h>

#include "dird.h"

struct disk_append {
    struct raft_io_append req; /* what the storage sees; first, for the cast back */
    struct raft_io_append *orig;
    raft_io_append_cb cb;
    struct dird *d;
    uint64_t t0_ns;
};

static void disk_append_cb(struct raft_io_append *req, int status)
{
    struct disk_append *a = (struct disk_append *)req;
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
    int rv = d->io_append(io, &a->req, entries, n, disk_append_cb);
    if (rv != 0)
        free(a);
    else
        d->appends_out++;
    return rv;
}

void dird_disk_wrap(struct dird *d)
{
    d->io_append = d->io.append;
    d->io.append = disk_append;
}

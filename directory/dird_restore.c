/* dird_restore.c - strata-dird --restore FILE: a new cluster founded on a backup. The file is read
 * and checked whole before anything is written (format, checksum, a state the FSM restores); the
 * data dir must hold no Raft state. The log then starts with a snapshot at the backup's index
 * whose configuration is the new cluster's (--cluster) and whose data is the backup's state less
 * the old member table, written through libraft's own storage (raft_io's snapshot_put, on a
 * private io and loop) before the daemon's Raft instance exists: raft_start loads it as it loads
 * a snapshot after a restart. Nodes started with the same FILE and --cluster get identical log
 * starts, so they agree from the first election. The index is the old cluster's, not 1: object
 * versions and the indexes clients saw stay meaningful, and the new log goes on after them. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "dird.h"
#include "log.h"

int dird_restore_load(struct dird *d, struct strata_err *e)
{
    struct strata_backup b;
    const char *path = d->cfg.restore;
    if (strata_backup_read(path, &b, e) != 0)
        return e->code;
    /* index 0 cannot come from a running cluster (its first entry is 1); Raft's first index is */
    uint64_t index = b.info->index > 0 ? b.info->index : 1;
    size_t objects = 0;
    struct strata_err fe = {0};
    int rc = dir_fsm_snapshot_rebase(b.state, b.state_len, index, &d->restore_state,
                                     &d->restore_len, &objects, &fe);
    if (rc != 0)
        rc = strata_err_set(e, fe.code, "backup %s: its state is refused: %s", path, fe.msg);
    else if (objects != b.info->objects)
        rc = strata_err_set(e, STRATA_EPROTO,
                            "backup %s: damaged: its state holds %zu objects, its header says %llu",
                            path, objects, (unsigned long long)b.info->objects);
    if (rc != 0) {
        free(d->restore_state);
        d->restore_state = NULL;
    } else {
        d->restore_index = index;
        LOG_INFO("backup %s checked: index=%llu objects=%zu state_bytes=%zu taken by node %llu "
                 "(term %llu)",
                 path, (unsigned long long)index, objects, b.state_len,
                 (unsigned long long)b.info->node_id, (unsigned long long)b.info->term);
    }
    strata_backup_free(&b);
    return rc;
}

int dird_restore_check_empty(struct dird *d, struct strata_err *e)
{
    DIR *dir = opendir(d->cfg.data_dir);
    if (dir == NULL)
        return strata_err_set(e, STRATA_EIO, "data dir %s: cannot list it", d->cfg.data_dir);
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(dir)) != NULL;) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "dird.lock") == 0 ||
            strcmp(n, "node.conf") == 0)
            continue;
        rc = strata_err_set(e, STRATA_EEXIST,
                            "data dir %s already holds state (%s): --restore founds a node on an "
                            "empty data dir; nothing was changed (docs/directory.md, Backup and "
                            "restore)",
                            d->cfg.data_dir, n);
    }
    closedir(dir);
    return rc;
}

struct restore_io {
    bool put_done, closed;
    int put_status;
};

static void restore_put_done(struct raft_io_snapshot_put *req, int status)
{
    struct restore_io *r = req->data;
    r->put_done = true;
    r->put_status = status;
}

static void restore_io_closed(struct raft_io *io)
{
    struct restore_io *r = io->data;
    r->closed = true;
}

/* The snapshot, then the term: a failed put leaves nothing behind (libraft removes its partial
 * files), and a data dir without a term is one raft_bootstrap would also take. */
static int restore_put(struct dird *d, uv_loop_t *loop, struct raft_io *io, struct restore_io *r,
                       const struct raft_configuration *conf, struct strata_err *e)
{
    raft_term term = 0;
    raft_id voted = 0;
    struct raft_snapshot *old = NULL;
    raft_index start = 0;
    struct raft_entry *entries = NULL;
    size_t n_entries = 0;
    int rv = io->load(io, &term, &voted, &old, &start, &entries, &n_entries);
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO, "restore: raft storage in %s: %s", d->cfg.data_dir,
                              io->errmsg);
    if (term != 0 || old != NULL || n_entries != 0) { /* the listing said empty: a race */
        if (old != NULL) {
            for (unsigned i = 0; i < old->n_bufs; i++)
                raft_free(old->bufs[i].base);
            raft_free(old->bufs);
            raft_configuration_close(&old->configuration);
            raft_free(old);
        }
        for (size_t i = 0; i < n_entries; i++)
            if (entries[i].batch != NULL && (i == 0 || entries[i].batch != entries[i - 1].batch))
                raft_free(entries[i].batch);
        raft_free(entries);
        return strata_err_set(e, STRATA_EEXIST, "restore: data dir %s holds Raft state",
                              d->cfg.data_dir);
    }
    struct raft_buffer buf = {.base = d->restore_state, .len = d->restore_len};
    struct raft_snapshot snap = {
        .index = d->restore_index,
        .term = 1,
        .configuration = *conf,
        .configuration_index = d->restore_index,
        .bufs = &buf,
        .n_bufs = 1,
    };
    struct raft_io_snapshot_put put = {.data = r};
    rv = io->snapshot_put(io, 0, &put, &snap, restore_put_done);
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO, "restore: writing the snapshot: %s", io->errmsg);
    while (!r->put_done)
        uv_run(loop, UV_RUN_ONCE);
    if (r->put_status != 0)
        return strata_err_set(e, STRATA_EIO, "restore: writing the snapshot: %s",
                              io->errmsg[0] ? io->errmsg : raft_strerror(r->put_status));
    rv = io->set_term(io, 1);
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO,
                              "restore: writing the term: %s; the data dir holds a partial "
                              "restore: empty it and start again",
                              io->errmsg);
    return 0;
}

int dird_restore_write(struct dird *d, const struct raft_configuration *conf, struct strata_err *e)
{
    uv_loop_t loop;
    struct raft_uv_transport tr = {0};
    struct raft_io io = {0};
    struct restore_io r = {0};
    if (uv_loop_init(&loop) != 0)
        return strata_err_set(e, STRATA_EIO, "restore: cannot make an event loop");
    int rc = 0, rv = raft_uv_tcp_init(&tr, &loop);
    if (rv != 0) {
        uv_loop_close(&loop);
        return strata_err_set(e, STRATA_EIO, "restore: raft transport: %s", raft_strerror(rv));
    }
    /* the transport is never started: nothing listens or dials, only the storage is used */
    rv = raft_uv_init(&io, &loop, d->cfg.data_dir, &tr);
    if (rv == 0)
        rv = io.init(&io, d->cfg.id, d->cfg.raft_addr);
    if (rv != 0) {
        rc = strata_err_set(e, STRATA_EIO, "restore: raft storage in %s: %s", d->cfg.data_dir,
                            io.errmsg);
        if (io.impl != NULL)
            raft_uv_close(&io);
        raft_uv_tcp_close(&tr);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return rc;
    }
    io.data = &r;
    rc = restore_put(d, &loop, &io, &r, conf, e);
    io.close(&io, restore_io_closed);
    while (!r.closed)
        uv_run(&loop, UV_RUN_ONCE);
    raft_uv_close(&io);
    raft_uv_tcp_close(&tr);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        LOG_WARN("restore: event loop closed with handles open");
    if (rc == 0)
        LOG_INFO("restored: log founded at index %llu on the backup's state (%zu bytes), "
                 "configuration of %u members",
                 (unsigned long long)d->restore_index, d->restore_len, conf->n);
    free(d->restore_state);
    d->restore_state = NULL;
    return rc;
}

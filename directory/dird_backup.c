/* dird_backup.c - BackupRequest (`strata cluster backup`): the leader confirms it leads (a Raft
 * barrier: every entry it acknowledged is applied; `local` skips it and any node answers with its
 * own applied state, for a cluster without quorum), takes a view of the state at its applied index
 * on the loop, encodes it on a pool thread like its own snapshots, and holds the bytes while the
 * client reads them in pieces of at most DIRD_BACKUP_CHUNK (a large directory's state is larger
 * than a message). One backup is held at a time, until DIRD_BACKUP_HOLD_MS after its last read. */
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "dird.h"
#include "log.h"

struct dird_backup {
    struct dird *d;
    /* taking one: the request waits for the barrier, then for the encoding */
    struct raft_barrier barrier;
    struct raft_io_async_work work;
    struct strata_req *req;
    uint64_t want_max;
    struct dir_snap *view;
    bool busy;
    int enc_rc;
    char enc_msg[256];
    double collect_ms, encode_ms; /* the view on the loop, the encoding on the pool */
    /* what is held, or being taken */
    uint64_t index, term, objects;
    uint8_t *buf;
    size_t len;
    uint8_t sha[32];
    Strata__V1__Member *members;
    size_t n_members;
    uint64_t expires_ms;
};

static void held_drop(struct dird_backup *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = 0;
    for (size_t i = 0; i < b->n_members; i++)
        free(b->members[i].raft);
    free(b->members);
    b->members = NULL;
    b->n_members = 0;
    b->index = 0;
}

/* Answer with state[offset, offset + max) of the held backup. */
static void serve(struct dird *d, struct dird_backup *b, struct strata_req *req, uint64_t offset,
                  uint64_t max)
{
    if (offset > b->len) {
        dird_reply_error(req, STRATA_EINVAL, "backup: offset %llu past the state's %zu bytes",
                         (unsigned long long)offset, b->len);
        return;
    }
    if (max == 0 || max > DIRD_BACKUP_CHUNK)
        max = DIRD_BACKUP_CHUNK;
    size_t n = b->len - (size_t)offset < max ? b->len - (size_t)offset : (size_t)max;
    Strata__V1__BackupReply br = STRATA__V1__BACKUP_REPLY__INIT;
    Strata__V1__Member **mp = calloc(b->n_members ? b->n_members : 1, sizeof(*mp));
    if (mp == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < b->n_members; i++)
        mp[i] = &b->members[i];
    br.index = b->index;
    br.term = b->term;
    br.node_id = d->cfg.id;
    br.total_bytes = b->len;
    br.offset = offset;
    br.data.data = b->buf + offset;
    br.data.len = n;
    br.state_sha256.data = b->sha;
    br.state_sha256.len = sizeof(b->sha);
    br.objects = b->objects;
    br.members = mp;
    br.n_members = b->n_members;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_BACKUP_REPLY;
    rep.backup_reply = &br;
    strata_req_reply(req, &rep);
    free(mp);
    b->expires_ms = strata_now_ms() + DIRD_BACKUP_HOLD_MS;
}

/* On a pool thread (libraft's async_work, which raft_close waits for): encode and sum. */
static int backup_encode(struct raft_io_async_work *w)
{
    struct dird_backup *b = w->data;
    struct strata_err e = {0};
    uint64_t t0 = strata_now_us();
    b->enc_rc = dir_snap_encode(b->view, NULL, &b->buf, &b->len, &e);
    if (b->enc_rc != 0)
        snprintf(b->enc_msg, sizeof(b->enc_msg), "%s", e.msg);
    else
        strata_sha256(b->buf, b->len, b->sha);
    b->encode_ms = (strata_now_us() - t0) / 1000.0;
    return 0;
}

static void backup_encoded(struct raft_io_async_work *w, int status)
{
    struct dird_backup *b = w->data;
    struct dird *d = b->d;
    struct strata_req *req = b->req;
    dir_snap_end(b->view);
    b->view = NULL;
    b->busy = false;
    b->req = NULL;
    if (status != 0 || b->enc_rc != 0 || d->stopping) {
        dird_reply_error(req, d->stopping ? STRATA_EUNAVAIL : STRATA_EINTERNAL, "backup: %s",
                         d->stopping ? "directory node shutting down"
                         : b->enc_rc ? b->enc_msg
                                     : "encoding failed");
        held_drop(b);
        return;
    }
    LOG_INFO("backup taken index=%llu objects=%llu bytes=%zu collect_ms=%.1f encode_ms=%.1f",
             (unsigned long long)b->index, (unsigned long long)b->objects, b->len, b->collect_ms,
             b->encode_ms);
    serve(d, b, req, 0, b->want_max);
}

/* The configuration as the backup names it (ids and Raft addresses: for the operator's eyes). */
static bool copy_members(struct dird_backup *b, const struct raft_configuration *c)
{
    b->members = calloc(c->n ? c->n : 1, sizeof(*b->members));
    if (b->members == NULL)
        return false;
    for (unsigned i = 0; i < c->n; i++) {
        strata__v1__member__init(&b->members[i]);
        b->members[i].id = c->servers[i].id;
        b->members[i].raft = strdup(c->servers[i].address);
        b->n_members++;
        if (b->members[i].raft == NULL)
            return false;
    }
    return true;
}

/* Take the view now, on the loop, so that it is the state at exactly the FSM's applied index,
 * and encode it on the pool; b->req is answered when that is done. */
static void backup_take(struct dird *d, struct dird_backup *b)
{
    uint64_t t0 = strata_now_us();
    b->view = dir_fsm_snap_begin(d->fsm);
    b->collect_ms = (strata_now_us() - t0) / 1000.0;
    if (b->view == NULL) { /* this node's own snapshot is being encoded: it holds the one view */
        b->busy = false;
        dird_reply_error(b->req, STRATA_EBUSY, "backup: a snapshot is being taken; retry");
        b->req = NULL;
        return;
    }
    /* The FSM's applied index, the last command entry's: what writes' replies and reads'
     * applied_index told clients, and what their min_index means. Raft's own may be ahead of it
     * by entries that change no state (the barrier, configurations). */
    b->index = dir_snap_applied(b->view);
    b->term = d->raft.current_term;
    b->objects = dir_fsm_objects(d->fsm);
    if (!copy_members(b, &d->raft.configuration)) {
        dir_snap_end(b->view);
        b->view = NULL;
        b->busy = false;
        held_drop(b);
        dird_reply_error(b->req, STRATA_ENOMEM, "out of memory");
        b->req = NULL;
        return;
    }
    b->work.data = b;
    b->work.work = backup_encode;
    if (d->io.async_work == NULL || d->io.async_work(&d->io, &b->work, backup_encoded) != 0) {
        backup_encode(&b->work); /* no pool to use: encode here */
        backup_encoded(&b->work, 0);
    }
}

/* The barrier committed: this node still leads and every entry it acknowledged is applied. */
static void backup_barrier_done(struct raft_barrier *br, int status)
{
    struct dird_backup *b = br->data;
    struct dird *d = b->d;
    if (status != 0 || d->stopping || d->raft_closing) {
        b->busy = false;
        dird_reply_error(b->req, STRATA_EUNAVAIL, "backup: %s",
                         status != 0 ? "leadership lost; retry" : "directory node shutting down");
        b->req = NULL;
        return;
    }
    backup_take(d, b);
}

static void backup_start(struct dird *d, struct dird_backup *b, struct strata_req *req,
                         uint64_t max, bool local)
{
    if (b->busy) {
        dird_reply_error(req, STRATA_EBUSY, "backup: another one is being taken; retry");
        return;
    }
    held_drop(b); /* one at a time: a new backup replaces the one held */
    b->busy = true;
    b->req = req;
    b->want_max = max;
    if (local) {
        LOG_INFO("backup of this node's own state asked (local: no leader, no barrier)");
        backup_take(d, b);
        return;
    }
    b->barrier.data = b;
    int rv = raft_barrier(&d->raft, &b->barrier, backup_barrier_done);
    if (rv != 0) {
        b->busy = false;
        b->req = NULL;
        dird_reply_error(req, STRATA_EUNAVAIL, "backup: %s; retry", raft_errmsg(&d->raft));
    }
}

void dird_backup_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    const Strata__V1__BackupRequest *r = env->backup;
    if (d->backup == NULL) {
        d->backup = calloc(1, sizeof(*d->backup));
        if (d->backup == NULL) {
            dird_reply_error(req, STRATA_ENOMEM, "out of memory");
            return;
        }
        d->backup->d = d;
    }
    struct dird_backup *b = d->backup;
    /* the pieces of a backup this node holds are served here, whoever leads now */
    if (r->index != 0 && !b->busy && b->buf != NULL && r->index == b->index) {
        serve(d, b, req, r->offset, r->max_bytes);
        return;
    }
    if (r->index == 0 && r->local) {
        backup_start(d, b, req, r->max_bytes, true);
        return;
    }
    if (!dird_is_leader(d)) {
        if (strcmp(env->identity ? env->identity : "", DIRD_FWD_IDENTITY) == 0)
            dird_reply_error(req, STRATA_ENOTLEADER, "node %llu is not the leader",
                             (unsigned long long)d->cfg.id);
        else if (!dird_forward(d, req, env))
            dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    if (r->index != 0) {
        dird_reply_error(req, STRATA_ENOTFOUND,
                         "backup at index %llu is not held here (the node that took it holds it "
                         "for %d s after its last read): start again",
                         (unsigned long long)r->index, DIRD_BACKUP_HOLD_MS / 1000);
        return;
    }
    backup_start(d, b, req, r->max_bytes, false);
}

void dird_backup_tick(struct dird *d, uint64_t now_ms)
{
    struct dird_backup *b = d->backup;
    if (b != NULL && !b->busy && b->buf != NULL && now_ms >= b->expires_ms) {
        LOG_DEBUG("backup index=%llu dropped: not read for %d s", (unsigned long long)b->index,
                  DIRD_BACKUP_HOLD_MS / 1000);
        held_drop(b);
    }
}

void dird_backup_free(struct dird *d)
{
    if (d->backup == NULL)
        return;
    /* raft is closed: its barrier and pool work have called back */
    held_drop(d->backup);
    free(d->backup);
    d->backup = NULL;
}

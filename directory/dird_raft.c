/* dird_raft.c - libraft glue: setup, the FSM callbacks (one entry = one CommandBatch) and the
 * write batcher that turns concurrent client writes into few pipelined raft_apply calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

/* ---------------------------------------------------------------- entry format */

/* A Raft entry is [u32 len][u32 magic][CommandBatch protobuf][zero padding to 8 bytes].
 * libraft 0.15 sends entries back to back in AppendEntries but decodes them as if each were
 * padded to 8 bytes: an unpadded entry corrupts every later entry of the message (measured: a
 * heap overflow on a follower catching up). The length header lets apply ignore the padding,
 * which protobuf would otherwise reject. */
#define DIRD_ENTRY_HDR 8u
#define DIRD_ENTRY_MAGIC 0x31424453u /* "SDB1" */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------- FSM callbacks */

/* Running out of memory while applying an entry stops the node, as the FSM does (dir_oom). The
 * alternatives are worse: skipping the entry as undecodable would leave this node's state behind
 * the others' for good, and an error returned to libraft 0.15 turns a follower RAFT_UNAVAILABLE
 * for good (recvCb), a process that neither serves nor exits. A restarted node replays the entry
 * from its log. */
static void apply_oom(void)
{
    LOG_ERROR("out of memory applying a raft entry: stopping (a restart replays it from the log)");
    abort();
}

static void *apply_alloc(void *arena, size_t n)
{
    void *p = strata_arena_alloc(arena, n);
    if (p == NULL)
        apply_oom();
    return p;
}

/* Apply one entry. Never fails deterministically: an undecodable entry (a bug or corruption) is
 * logged and skipped so every node skips it alike; validation errors go into the results. */
static int rfsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
    struct dird *d = rf->data;
    /* raft sets last_applied after this returns: this entry's index is the next one. */
    uint64_t index = raft_last_applied(&d->raft) + 1;
    Strata__V1__CommandBatch *b = NULL;
    const uint8_t *p = buf->base;
    /* Decoded into the arena: one reset instead of a free per submessage, bytes and string. */
    ProtobufCAllocator pb = strata_arena_pb(&d->decode);
    pb.alloc = apply_alloc;
    if (buf->len >= DIRD_ENTRY_HDR && rd32(p + 4) == DIRD_ENTRY_MAGIC &&
        rd32(p) <= buf->len - DIRD_ENTRY_HDR)
        b = strata__v1__command_batch__unpack(&pb, rd32(p), p + DIRD_ENTRY_HDR);
    if (b != NULL) /* entries logged before unknown fields were dropped at the API */
        strata_msg_strip_unknown(&b->base, &pb);
    d->results_n = 0;
    d->results_index = index;
    *result = NULL;
    if (b == NULL) {
        strata_arena_reset(&d->decode);
        LOG_ERROR("undecodable raft entry index=%llu len=%zu: skipped", (unsigned long long)index,
                  buf->len);
        dir_fsm_set_applied(d->fsm, index);
        return 0;
    }
    if (b->n_cmds > d->results_cap) {
        struct dir_result *r = realloc(d->results, b->n_cmds * sizeof(*r));
        if (r == NULL)
            apply_oom();
        d->results = r;
        d->results_cap = b->n_cmds;
    }
    for (size_t i = 0; i < b->n_cmds; i++) {
        memset(&d->results[i], 0, sizeof(d->results[i]));
        dir_fsm_apply_cmd(d->fsm, index, b->cmds[i], &d->results[i]);
    }
    if (b->n_cmds == 0)
        dir_fsm_set_applied(d->fsm, index);
    d->results_n = b->n_cmds;
    strata_arena_reset(&d->decode);
    /* The results stay in d->results: raft calls the leader's apply callback right after this
     * returns, before the next entry is applied; followers have no callback and nothing leaks. */
    *result = d;
    return 0;
}

static bool snapshot_my_turn(struct dird *d)
{
    const struct raft_configuration *c = &d->raft.configuration;
    unsigned n = 0, pos = 0;
    bool voter = false;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role != RAFT_VOTER)
            continue;
        n++;
        pos += c->servers[i].id < d->cfg.id;
        voter = voter || c->servers[i].id == d->cfg.id;
    }
    return !voter || dird_snapshot_turn(raft_last_applied(&d->raft), d->snap_threshold_eff, pos, n);
}

/* On a libuv pool thread (or, without one, on the loop): encode the view. Touches nothing of d but
 * the view and the figures the loop reads once libraft has called back (after the work, so after
 * these writes). */
static int rfsm_encode(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct dird *d = rf->data;
    struct strata_err e;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t t0 = strata_now_us();
    struct raft_buffer *arr = raft_malloc(sizeof(*arr));
    if (arr == NULL || dir_snap_encode(d->snap, raft_malloc, &buf, &len, &e) != 0) {
        LOG_ERROR("snapshot failed: %s", arr ? e.msg : "out of memory");
        raft_free(arr);
        return RAFT_NOMEM;
    }
    arr[0].base = buf;
    arr[0].len = len;
    *bufs = arr;
    *n_bufs = 1;
    d->snap_encode_ms = (strata_now_us() - t0) / 1000.0;
    return 0;
}

/* libraft's snapshot in three steps (fsm version 3), so that the loop does not stand still while
 * a large state is encoded: at ~100k endpoints that took 135-145 ms, and every write waited.
 * Here, on the loop: a view of the state at the applied index (pointers; the FSM holds back the
 * frees of what it references until the view ends). */
static int rfsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct dird *d = rf->data;
    if (!snapshot_my_turn(d) || d->snap)
        return RAFT_BUSY; /* libraft asks again after the next entry */
    uint64_t t0 = strata_now_us();
    d->snap = dir_fsm_snap_begin(d->fsm);
    if (!d->snap)
        return RAFT_BUSY;
    d->snap_collect_ms = (strata_now_us() - t0) / 1000.0;
    *bufs = NULL;
    *n_bufs = 0;
    if (d->rfsm.snapshot_async == NULL) { /* an io without async_work: encode here and now */
        int rv = rfsm_encode(rf, bufs, n_bufs);
        if (rv != 0) { /* libraft does not finalize a snapshot that failed here */
            dir_snap_end(d->snap);
            d->snap = NULL;
        }
        return rv;
    }
    return 0;
}

/* On the loop, when libraft has written the snapshot (or given up): free the buffers and end the
 * view, which frees what the FSM held back for it. */
static int rfsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct dird *d = rf->data;
    /* NULL bufs: the encoding failed; snap_put_failed: the disk refused it (both said so) */
    if (d->snap != NULL && *bufs != NULL && !d->snap_put_failed) {
        d->m_snapshots++;
        dird_disk_snapshot_seen(d, (*bufs)[0].len);
        LOG_INFO("snapshot taken applied=%llu bytes=%zu collect_ms=%.1f encode_ms=%.1f",
                 (unsigned long long)dir_snap_applied(d->snap), (*bufs)[0].len, d->snap_collect_ms,
                 d->snap_encode_ms);
    }
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++)
            raft_free((*bufs)[i].base);
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    dir_snap_end(d->snap); /* NULL-safe */
    d->snap = NULL;
    d->snap_put_failed = false;
    return 0;
}

/* On success the FSM owns buf->base (raft frees it only when restore fails). */
static int rfsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct dird *d = rf->data;
    struct strata_err e;
    if (dir_fsm_restore(d->fsm, buf->base, buf->len, &e) != 0) {
        LOG_ERROR("snapshot restore failed: %s", e.msg);
        return RAFT_CORRUPT;
    }
    dird_disk_snapshot_seen(d, buf->len);
    raft_free(buf->base);
    d->m_restores++;
    dird_feed_reset(d, dir_fsm_applied(d->fsm));
    /* before raft_start returns it is our own snapshot from disk; afterwards a leader's */
    LOG_INFO("snapshot %s applied=%llu bytes=%zu",
             d->raft_started ? "installed from the leader" : "loaded from disk",
             (unsigned long long)dir_fsm_applied(d->fsm), buf->len);
    return 0;
}

/* ---------------------------------------------------------------- raft state */

const char *dird_role_name(int state)
{
    switch (state) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    default:
        return "unreachable";
    }
}

bool dird_is_leader(struct dird *d)
{
    return d->raft_started && !d->raft_closing && raft_state(&d->raft) == RAFT_LEADER;
}

void dird_leader(struct dird *d, uint64_t *id, const char **api)
{
    raft_id lid = 0;
    const char *addr = NULL;
    *api = NULL;
    if (d->raft_started && !d->raft_closing)
        raft_leader(&d->raft, &lid, &addr);
    *id = lid;
    if (lid == d->cfg.id) {
        *api = d->cfg.api_url;
    } else if (lid != 0) {
        const Strata__V1__Member *m = dir_fsm_member(d->fsm, lid);
        if (m != NULL && m->api != NULL && m->api[0] != '\0')
            *api = m->api;
    }
}

uint64_t dird_applied(struct dird *d)
{
    return dir_fsm_applied(d->fsm);
}

/* ---------------------------------------------------------------- batcher */

struct dird_batch {
    struct raft_apply areq;
    struct dird *d;
    uint64_t t0_ns; /* submitted, for h_commit */
    unsigned n;
    struct dird_write *w[];
};

const Strata__V1__Endpoint *dird_write_endpoint(struct dird *d, const Strata__V1__Command *c)
{
    if (c->op_case == STRATA__V1__COMMAND__OP_ENDPOINT_ADD && c->endpoint_add->mac.len == 6)
        return dir_fsm_endpoint_by_mac(d->fsm, c->endpoint_add->vni, c->endpoint_add->mac.data);
    if (c->op_case == STRATA__V1__COMMAND__OP_ENDPOINT_MOVE && c->endpoint_move->mac.len == 6)
        return dir_fsm_endpoint_by_mac(d->fsm, c->endpoint_move->vni, c->endpoint_move->mac.data);
    return NULL;
}

static void write_finish(struct dird *d, struct dird_write *w, int code, const char *msg,
                         const struct dir_result *res)
{
    if (w->group != NULL) {
        int status = code != 0 ? code : res->status;
        if (status != 0)
            d->m_write_errors++;
        dird_wgroup_done(d, w->group, w->slot, status, code != 0 ? msg : res->msg,
                         res != NULL ? res->index : 0);
        free(w);
        return;
    }
    if (w->req == NULL) {
        if (w->done != NULL)
            w->done(d, code != 0 ? code : (res != NULL ? res->status : 0), w->done_arg);
        free(w);
        return;
    }
    dird_write_observe(d, w->req);
    if (code != 0) {
        d->m_write_errors++;
        strata_req_error(w->req, code, "%s", msg);
    } else if (res->status != 0) {
        d->m_write_errors++;
        strata_req_error(w->req, res->status, "%s", res->msg);
    } else {
        Strata__V1__WriteReply wr = STRATA__V1__WRITE_REPLY__INIT;
        strata_env rep = STRATA__V1__ENVELOPE__INIT;
        wr.index = res->index;
        if (res->msg[0] != '\0')
            wr.note = (char *)res->msg;
        wr.endpoint = (Strata__V1__Endpoint *)dird_write_endpoint(d, w->cmd);
        rep.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_REPLY;
        rep.write_reply = &wr;
        strata_req_reply(w->req, &rep);
    }
    free(w);
}

static void apply_fail_text(struct dird *d, int status, int *code, const char **msg)
{
    switch (status) {
    case RAFT_NOSPACE: /* not seen: libraft reports it to the append callback, which stops
                        * the node (dird_disk.c); kept so that a refusal says why */
        LOG_ERROR("DISK FULL: raft cannot append to %s", d->cfg.data_dir);
        *code = STRATA_ENOSPACE;
        *msg = "disk full";
        break;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        *code = STRATA_EUNAVAIL;
        *msg = "leadership lost; retry";
        break;
    case RAFT_SHUTDOWN:
        *code = STRATA_EUNAVAIL;
        *msg = "directory node shutting down";
        break;
    default:
        *code = STRATA_EUNAVAIL;
        *msg = "raft apply failed; retry";
        LOG_WARN("raft apply failed: %s", raft_strerror(status));
        break;
    }
}

static void apply_cb(struct raft_apply *areq, int status, void *result)
{
    struct dird_batch *b = areq->data;
    struct dird *d = b->d;
    d->applies_in_flight--;
    if (status != 0) {
        int code;
        const char *msg;
        apply_fail_text(d, status, &code, &msg);
        for (unsigned i = 0; i < b->n; i++)
            write_finish(d, b->w[i], code, msg, NULL);
    } else if (result != d || d->results_n != b->n) {
        LOG_ERROR("apply result mismatch index=%llu n=%zu want=%u", (unsigned long long)areq->index,
                  d->results_n, b->n);
        for (unsigned i = 0; i < b->n; i++)
            write_finish(d, b->w[i], STRATA_EINTERNAL, "apply result mismatch", NULL);
    } else {
        strata_histo_observe(&d->h_commit, uv_hrtime() - b->t0_ns);
        for (unsigned i = 0; i < b->n; i++)
            write_finish(d, b->w[i], 0, NULL, &d->results[i]);
    }
    free(b);
}

void dird_write_enqueue(struct dird *d, struct dird_write *w)
{
    w->next = NULL;
    *d->wq_tail = w;
    d->wq_tail = &w->next;
    d->wq_len++;
    d->m_writes++;
}

struct dird_write *dird_write_internal(struct dird *d)
{
    (void)d;
    struct dird_write *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    strata__v1__command__init(&w->own_cmd);
    strata__v1__member_set__init(&w->own_ms);
    strata__v1__member_del__init(&w->own_md);
    w->cmd = &w->own_cmd;
    return w;
}

/* Submit up to STRATA_MAX_BATCH queued writes as one entry. The writes of one write_batch
 * request are queued together and never split between entries, so that they all complete in the
 * same apply callback (dird_wbatch.c reads the endpoints they leave behind there). */
static void flush_one(struct dird *d)
{
    unsigned n = 0;
    for (struct dird_write *w = d->wq_head; w != NULL;) {
        unsigned take = w->group != NULL ? w->group->n - w->slot : 1;
        if (n > 0 && n + take > STRATA_MAX_BATCH)
            break;
        n += take;
        while (take-- > 0 && w != NULL)
            w = w->next;
    }
    struct dird_batch *b = malloc(sizeof(*b) + n * sizeof(b->w[0]));
    Strata__V1__Command **cmds = malloc(n * sizeof(*cmds));
    if (b == NULL || cmds == NULL) {
        free(b);
        free(cmds);
        dird_write_fail_all(d, STRATA_ENOMEM, "out of memory");
        return;
    }
    b->d = d;
    b->n = n;
    for (unsigned i = 0; i < n; i++) {
        struct dird_write *w = d->wq_head;
        d->wq_head = w->next;
        d->wq_len--;
        b->w[i] = w;
        cmds[i] = (Strata__V1__Command *)w->cmd;
    }
    if (d->wq_head == NULL)
        d->wq_tail = &d->wq_head;

    Strata__V1__CommandBatch cb = STRATA__V1__COMMAND_BATCH__INIT;
    cb.n_cmds = n;
    cb.cmds = cmds;
    size_t len = strata__v1__command_batch__get_packed_size(&cb);
    size_t total = (DIRD_ENTRY_HDR + len + 7) & ~(size_t)7;
    struct raft_buffer buf = {.base = raft_calloc(1, total), .len = total};
    if (buf.base == NULL) {
        free(cmds);
        for (unsigned i = 0; i < n; i++)
            write_finish(d, b->w[i], STRATA_ENOMEM, "out of memory", NULL);
        free(b);
        return;
    }
    wr32(buf.base, (uint32_t)len);
    wr32((uint8_t *)buf.base + 4, DIRD_ENTRY_MAGIC);
    strata__v1__command_batch__pack(&cb, (uint8_t *)buf.base + DIRD_ENTRY_HDR);
    free(cmds);
    b->areq.data = b;
    b->t0_ns = uv_hrtime();
    int rv = raft_apply(&d->raft, &b->areq, &buf, 1, apply_cb);
    if (rv != 0) {
        int code;
        const char *msg;
        raft_free(buf.base);
        apply_fail_text(d, rv, &code, &msg);
        for (unsigned i = 0; i < n; i++)
            write_finish(d, b->w[i], code, msg, NULL);
        free(b);
        return;
    }
    d->applies_in_flight++;
    d->m_batches++;
}

void dird_write_flush(struct dird *d)
{
    if (d->wq_len == 0)
        return;
    if (!dird_is_leader(d)) {
        /* Lost leadership while writes waited: the client retries (same ids) elsewhere. */
        dird_write_fail_all(d, STRATA_EUNAVAIL, "leadership lost; retry");
        return;
    }
    /* While the log's last append is not durable here and an entry is not yet committed, the
     * writes wait for the next turn instead of making an entry of their own: libraft would only
     * queue that entry's append behind the one in flight (one write at a time per node), so the
     * disk sees the same writes, but each entry also costs two AppendEntries, two results, an
     * apply on every node and a feed record. Under closed-loop load this doubles the writes per
     * entry and cuts the nodes' CPU per write by ~10 %. Once every entry is committed the writes
     * go at once even if the local append is still out: a leader whose disk is slower than its
     * followers' then keeps committing at the followers' pace. */
    if (d->appends_out > 0 && d->applies_in_flight > 0 && d->wq_len < STRATA_MAX_BATCH)
        return;
    while (d->wq_len > 0)
        flush_one(d);
}

void dird_write_fail_all(struct dird *d, int code, const char *msg)
{
    while (d->wq_head != NULL) {
        struct dird_write *w = d->wq_head;
        d->wq_head = w->next;
        write_finish(d, w, code, msg, NULL);
    }
    d->wq_tail = &d->wq_head;
    d->wq_len = 0;
}

/* ---------------------------------------------------------------- start / close */

/* Whether raft_start failed on damaged files in the data dir. libraft 0.15 says RAFT_CORRUPT for
 * most, but a damaged snapshot shows as LZ4F_decompress ERROR_contentChecksum_invalid, and a
 * flipped entry count that runs past the end of a segment as an RAFT_IOERR "short read" (seen:
 * test_dir_membership damages a segment at a random batch). Errors from the system itself
 * (permissions, descriptors) are not damage and get no advice to replace the node. */
static bool load_damaged(int rv, const char *msg)
{
    static const char *const marks[] = {"hecksum",        "short read",        "entries count",
                                        "format version", "entries (expected", "file has only",
                                        "file is empty"};
    if (rv == RAFT_CORRUPT)
        return true;
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (strstr(msg, marks[i]) != NULL)
            return true;
    return false;
}

int dird_cluster_parse(const struct dird_cfg *cfg, struct raft_configuration *conf,
                       struct strata_err *e)
{
    if (cfg->cluster == NULL || cfg->cluster[0] == '\0') {
        /* no list: a single-node cluster of this node */
        if (raft_configuration_add(conf, cfg->id, cfg->raft_addr, RAFT_VOTER) != 0)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
        return 0;
    }
    char *copy = strdup(cfg->cluster), *save = NULL;
    if (copy == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    bool self = false;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t id;
        char ip[16];
        uint16_t port;
        struct strata_err pe;
        if (eq == NULL) {
            rc = strata_err_set(e, STRATA_EINVAL, "--cluster: '%s' is not ID=HOST:PORT", tok);
            break;
        }
        *eq = '\0';
        if (strata_u64_parse(tok, 1, UINT64_MAX, &id, &pe) != 0 ||
            strata_hostport_parse(eq + 1, ip, &port, &pe) != 0) {
            rc = strata_err_set(e, STRATA_EINVAL, "--cluster: %s", pe.msg);
            break;
        }
        if (raft_configuration_add(conf, id, eq + 1, RAFT_VOTER) != 0) {
            rc = strata_err_set(e, STRATA_EINVAL, "--cluster: duplicate id or address %s=%s", tok,
                                eq + 1);
            break;
        }
        if (id == cfg->id) {
            self = true;
            if (strcmp(eq + 1, cfg->raft_addr) != 0) {
                rc = strata_err_set(e, STRATA_EINVAL,
                                    "--cluster gives id %llu address %s but --raft is %s",
                                    (unsigned long long)id, eq + 1, cfg->raft_addr);
                break;
            }
        }
    }
    free(copy);
    if (rc == 0 && !self)
        rc = strata_err_set(e, STRATA_EINVAL, "--cluster does not list this node's --id %llu",
                            (unsigned long long)cfg->id);
    return rc;
}

int dird_raft_start(struct dird *d, struct strata_err *e)
{
    /* With TLS, Raft runs over TLS between directory certificates bound to the node ids
     * (dird_tls_transport.h); without, over the wrapped stock TCP transport as always. */
    struct raft_uv_transport *transport = &d->transport.outer;
    int rv;
    /* Before the io below reads the data dir (its init loads the term): the restored log must
     * be what it finds. */
    if (d->restore_state != NULL) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        int rc = dird_cluster_parse(&d->cfg, &conf, e);
        if (rc == 0)
            rc = dird_restore_write(d, &conf, e);
        raft_configuration_close(&conf);
        if (rc != 0)
            return rc;
    }
    if (d->cfg.tls != NULL) {
        rv = dird_tls_transport_init(&d->tls_transport, d->uv, d->cfg.tls);
        transport = &d->tls_transport.raft;
    } else {
        rv = dird_transport_init(&d->transport, d->uv);
    }
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO, "raft transport: %s", raft_strerror(rv));
    rv = raft_uv_init(&d->io, d->uv, d->cfg.data_dir, transport);
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO, "raft storage in %s: %s", d->cfg.data_dir,
                              d->io.errmsg);
    /* With auto-recovery (libraft's default) a log segment that fails its checksum at startup
     * is renamed corrupt-* and the node starts without the entries in it and after it, saying
     * nothing (a trace line): it may then vote as if it had never acknowledged them, and a
     * one-node directory silently loses acknowledged writes. Seen: one flipped byte in a closed
     * segment, and the node came up at index 1. Without it, startup fails and names the
     * segment; the operator replaces the node (docs/directory.md). A torn tail of an open
     * segment (a crash mid-write) is still truncated as before: libraft handles that apart. */
    raft_uv_set_auto_recovery(&d->io, false);
    dird_disk_wrap(d);
    dird_recv_wrap(d);
    d->rfsm.version = 3;
    d->rfsm.data = d;
    d->rfsm.apply = rfsm_apply;
    d->rfsm.snapshot = rfsm_snapshot;
    d->rfsm.restore = rfsm_restore;
    d->rfsm.snapshot_finalize = rfsm_snapshot_finalize;
    /* libraft 0.15's raft_uv_init implements async_work but says io version 1, and raft_init
     * refuses an asynchronous snapshot on a version 1 io (upstream set it to 2 in 0.17.1, commit
     * 269e541). The method is there: say so. Without it, snapshots are encoded on the loop. */
    if (d->io.async_work != NULL) {
        d->io.version = 2;
        d->rfsm.snapshot_async = rfsm_encode;
    }
    rv = raft_init(&d->raft, &d->io, &d->rfsm, d->cfg.id, d->cfg.raft_addr);
    if (rv != 0)
        return strata_err_set(e, STRATA_EIO, "raft init: %s", raft_errmsg(&d->raft));
    d->raft.data = d;

    if (!d->cfg.join && d->cfg.restore == NULL) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        if (dird_cluster_parse(&d->cfg, &conf, e) != 0) {
            raft_configuration_close(&conf);
            return e->code;
        }
        rv = raft_bootstrap(&d->raft, &conf);
        raft_configuration_close(&conf);
        if (rv == RAFT_CANTBOOTSTRAP)
            LOG_INFO("data dir %s holds state: rejoining from disk (--cluster ignored)",
                     d->cfg.data_dir);
        else if (rv != 0)
            return strata_err_set(e, STRATA_EIO, "raft bootstrap: %s", raft_errmsg(&d->raft));
        else
            LOG_INFO("bootstrapped a new cluster in %s", d->cfg.data_dir);
    }
    raft_set_election_timeout(&d->raft, (unsigned)d->cfg.election_ms);
    raft_set_heartbeat_timeout(&d->raft, (unsigned)d->cfg.heartbeat_ms);
    d->snap_threshold_eff = d->cfg.snap_threshold;
    raft_set_snapshot_threshold(&d->raft, (unsigned)d->cfg.snap_threshold);
    raft_set_snapshot_trailing(&d->raft, (unsigned)d->cfg.snap_trailing);
    raft_set_install_snapshot_timeout(&d->raft, (unsigned)d->cfg.install_snap_ms);
    raft_set_pre_vote(&d->raft, d->cfg.pre_vote);
    rv = raft_start(&d->raft);
    if (rv != 0) {
        /* Some of libraft's load failures leave errmsg empty (a damaged open segment: RAFT_IOERR
         * and nothing else; the io's errmsg then holds an older, unrelated text): the code. */
        const char *why = raft_errmsg(&d->raft);
        if (load_damaged(rv, why))
            return strata_err_set(e, STRATA_EIO,
                                  "raft start: %s; data dir left as it is: replace this node "
                                  "(docs/directory.md, damaged data dir)",
                                  why[0] ? why : raft_strerror(rv));
        return strata_err_set(e, STRATA_EIO, "raft start: %s%s(%s, code %d)", why,
                              why[0] ? " " : "", raft_strerror(rv), rv);
    }
    d->raft_started = true;
    d->read_floor = raft_last_index(&d->raft);
    LOG_INFO("raft started id=%llu raft=%s transport=%s last_index=%llu applied=%llu",
             (unsigned long long)d->cfg.id, d->cfg.raft_addr, d->cfg.tls != NULL ? "tls" : "tcp",
             (unsigned long long)raft_last_index(&d->raft),
             (unsigned long long)raft_last_applied(&d->raft));
    return 0;
}

static void (*close_done)(struct dird *d);

static void dird_raft_closed(struct raft *r)
{
    struct dird *d = r->data;
    raft_uv_close(&d->io);
    if (d->cfg.tls == NULL)
        dird_transport_release(&d->transport);
    if (close_done != NULL)
        close_done(d);
}

void dird_raft_close(struct dird *d, void (*cb)(struct dird *d))
{
    close_done = cb;
    d->raft_closing = true;
    if (!d->raft_started) {
        cb(d);
        return;
    }
    raft_close(&d->raft, dird_raft_closed);
}

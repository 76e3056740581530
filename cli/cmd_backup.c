/* cmd_backup.c - `strata cluster backup FILE`: the leader's state at one index, read in pieces,
 * checked against the leader's SHA-256 and written atomically (lib/backup.h's file). */
#include "cmd_common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "fsutil.h"
#include "version.h"

/* A leader change drops the backup being read (the new leader does not hold it), and a node
 * busy with its own snapshot or another backup says EBUSY: start over, this many times in all. */
#define BACKUP_ATTEMPTS 4

struct backup_got {
    uint64_t index, term, node_id, objects;
    uint8_t *state;
    size_t len;
    Strata__V1__Member **members; /* from the first reply (kept) */
    size_t n_members;
    strata_env *first;
};

static void backup_got_free(struct backup_got *g)
{
    free(g->state);
    if (g->first != NULL)
        strata_msg_free(g->first);
    memset(g, 0, sizeof(*g));
}

/* How the pieces are asked for: their size, and whether from the first node only (--local). */
struct backup_how {
    uint64_t max;
    bool local;
};

static int backup_call(struct cli_ctx *ctx, const struct backup_how *how, uint64_t index,
                       uint64_t offset, strata_env **r, struct strata_err *e)
{
    Strata__V1__BackupRequest br = STRATA__V1__BACKUP_REQUEST__INIT;
    br.index = index;
    br.offset = offset;
    br.max_bytes = (uint32_t)how->max;
    br.local = how->local;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_BACKUP;
    req.backup = &br;
    /* a local backup is held by the node that took it: every piece from that node */
    if (how->local)
        return cli_dir_call_node(ctx, 0, &req, STRATA__V1__ENVELOPE__BODY_BACKUP_REPLY, r, e);
    return cli_dir_call(ctx, &req, STRATA__V1__ENVELOPE__BODY_BACKUP_REPLY, r, e);
}

/* One attempt: the first piece (which takes the backup) and the rest, checked whole. */
static int backup_fetch(struct cli_ctx *ctx, const struct backup_how *how, struct backup_got *g,
                        struct strata_err *e)
{
    strata_env *r = NULL;
    int rc = backup_call(ctx, how, 0, 0, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__BackupReply *b = r->backup_reply;
    g->first = r;
    g->index = b->index;
    g->term = b->term;
    g->node_id = b->node_id;
    g->objects = b->objects;
    g->members = b->members;
    g->n_members = b->n_members;
    g->len = (size_t)b->total_bytes;
    if (b->state_sha256.len != 32 || b->offset != 0)
        return strata_err_set(e, STRATA_EPROTO, "the directory's backup reply lacks its checksum");
    g->state = malloc(g->len ? g->len : 1);
    if (g->state == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "cannot hold a %zu-byte state", g->len);
    size_t have = b->data.len;
    memcpy(g->state, b->data.data, have);
    while (have < g->len) {
        strata_env *n = NULL;
        rc = backup_call(ctx, how, g->index, have, &n, e);
        if (rc != 0)
            return rc;
        const Strata__V1__BackupReply *p = n->backup_reply;
        if (p->index != g->index || p->total_bytes != g->len || p->offset != have ||
            p->data.len == 0) {
            strata_msg_free(n);
            return strata_err_set(e, STRATA_EPROTO,
                                  "the directory answered another piece than asked (index %llu "
                                  "offset %zu)",
                                  (unsigned long long)g->index, have);
        }
        memcpy(g->state + have, p->data.data, p->data.len);
        have += p->data.len;
        strata_msg_free(n);
    }
    uint8_t sum[32];
    strata_sha256(g->state, g->len, sum);
    if (memcmp(sum, b->state_sha256.data, 32) != 0)
        return strata_err_set(e, STRATA_EPROTO,
                              "the state read does not match the leader's SHA-256: not written");
    return 0;
}

static void backup_print(struct cli_ctx *ctx, const char *file, const struct backup_got *g,
                         size_t bytes, bool local)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "file", file);
        cli_json_u64(&j, "index", g->index);
        cli_json_u64(&j, "term", g->term);
        cli_json_u64(&j, "node", g->node_id);
        cli_json_bool(&j, "local", local);
        cli_json_u64(&j, "objects", g->objects);
        cli_json_u64(&j, "state_bytes", g->len);
        cli_json_u64(&j, "bytes", bytes);
        cli_json_obj_end(&j);
        fputc('\n', ctx->out);
        return;
    }
    fprintf(ctx->out,
            "backup written to %s: index %llu, %llu objects, %zu bytes (taken by %s %llu, term "
            "%llu)\n",
            file, (unsigned long long)g->index, (unsigned long long)g->objects, bytes,
            local ? "node" : "leader", (unsigned long long)g->node_id, (unsigned long long)g->term);
}

int cli_cluster_backup(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    const char *file = a->pos[0];
    /* refused before the directory does any work for nothing */
    struct strata_err fe;
    if (!a->force && strata_file_absent(file, &fe) != 0)
        return strata_err_set(e, fe.code, "%s (--force replaces it)", fe.msg);
    struct backup_got g = {0};
    const struct backup_how how = {.max = a->chunk_bytes, .local = a->local};
    int rc = STRATA_EUNAVAIL;
    for (int attempt = 0; attempt < BACKUP_ATTEMPTS; attempt++) {
        backup_got_free(&g);
        rc = backup_fetch(ctx, &how, &g, e);
        /* ENOTFOUND: the node that held it stopped leading or dropped it; EBUSY: a snapshot of
         * its own or another backup was under way */
        if (rc != STRATA_ENOTFOUND && rc != STRATA_EBUSY)
            break;
        /* a snapshot's encoding takes tens of milliseconds at 100k endpoints: let it end */
        if (rc == STRATA_EBUSY)
            nanosleep(&(struct timespec){0, 200000000L * (attempt + 1)}, NULL);
    }
    if (rc != 0) {
        backup_got_free(&g);
        return rc;
    }
    Strata__V1__BackupInfo info = STRATA__V1__BACKUP_INFO__INIT;
    info.index = g.index;
    info.term = g.term;
    info.node_id = g.node_id;
    info.objects = g.objects;
    info.members = g.members;
    info.n_members = g.n_members;
    info.created_unix = (uint64_t)time(NULL);
    info.cli_version = (char *)strata_version();
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = strata_backup_encode(&info, g.state, g.len, &buf, &len, e);
    if (rc == 0)
        rc = a->force ? strata_file_replace(file, 0600, buf, len, e)
                      : strata_file_create(file, 0600, buf, len, e);
    if (rc == 0)
        backup_print(ctx, file, &g, len, a->local);
    free(buf);
    backup_got_free(&g);
    return rc;
}

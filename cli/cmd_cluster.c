/* cmd_cluster.c - the directory cluster: status (asking every member for its own Raft state),
 * add, remove, leadership transfer; `strata version` (the CLI's, and every member's own). */
#include "cmd_common.h"
#include "view.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "version.h"

/* A member as shown: its addresses from the member table, its state from its own answer. */
struct cluster_view {
    uint64_t id;
    const char *raft, *api;
    char role[16];
    bool reachable;
    uint64_t term, commit, applied;
    char version[64], git[64]; /* as the member says; "unknown" when it does not */
    char error[256];
};

/* A member that does not answer within this is shown as unreachable: status must stay quick
 * while a node is down (that is when operators look). */
#define CLUSTER_PROBE_MS 800u

static void cluster_fill(struct cluster_view *v, const Strata__V1__Member *self)
{
    snprintf(v->role, sizeof(v->role), "%s", self->role[0] ? self->role : "unknown");
    v->reachable = true;
    v->term = self->term;
    v->commit = self->commit_index;
    v->applied = self->applied_index;
    snprintf(v->version, sizeof(v->version), "%s", self->version[0] ? self->version : "unknown");
    snprintf(v->git, sizeof(v->git), "%s", self->git[0] ? self->git : "unknown");
}

/* On its own thread (one per member, so that a down member costs one probe timeout in all, not
 * one each): ask the member for its own state. */
struct cluster_probe_arg {
    struct cluster_view *v;
    unsigned timeout_ms;
    pthread_t th;
    bool started;
};

static void *cluster_probe(void *arg)
{
    struct cluster_probe_arg *p = arg;
    struct cluster_view *v = p->v;
    snprintf(v->role, sizeof(v->role), "unreachable");
    if (v->api == NULL || v->api[0] == '\0') {
        snprintf(v->error, sizeof(v->error), "no api address recorded");
        return NULL;
    }
    Strata__V1__ClusterStatusRequest cs = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &cs;
    strata_env *r = NULL;
    struct strata_err pe = {0};
    if (cli_peer_call_nctx(v->api, &req, STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY,
                           p->timeout_ms, &r, &pe) != 0) {
        snprintf(v->error, sizeof(v->error), "%s", pe.msg);
        return NULL;
    }
    if (r->cluster_status_reply->self != NULL)
        cluster_fill(v, r->cluster_status_reply->self);
    strata_msg_free(r);
    return NULL;
}

/* Probe every member not yet filled, all at once. */
static int cluster_probe_all(struct cli_ctx *ctx, struct cluster_view *v, size_t n,
                             struct strata_err *e)
{
    struct cluster_probe_arg *p = calloc(n ? n : 1, sizeof(*p));
    if (p == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    /* each probe is a use of the network like any call (refused when offline): account for
     * them all before starting any */
    for (size_t i = 0; i < n; i++) {
        int rc = v[i].reachable ? 0 : cli_net_use(ctx, e);
        if (rc != 0) {
            free(p);
            return rc;
        }
    }
    unsigned t = ctx->timeout_ms < CLUSTER_PROBE_MS ? (unsigned)ctx->timeout_ms : CLUSTER_PROBE_MS;
    for (size_t i = 0; i < n; i++) {
        if (v[i].reachable)
            continue;
        p[i] = (struct cluster_probe_arg){.v = &v[i], .timeout_ms = t};
        p[i].started = pthread_create(&p[i].th, NULL, cluster_probe, &p[i]) == 0;
        if (!p[i].started)
            cluster_probe(&p[i]); /* no thread to spare: ask in turn */
    }
    for (size_t i = 0; i < n; i++)
        if (p[i].started)
            pthread_join(p[i].th, NULL);
    free(p);
    return 0;
}

static int cluster_cmp_id(const void *a, const void *b)
{
    const struct cluster_view *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A member as `cluster status` shows it; "error" says why an unreachable one did not answer. */
static const struct cli_col MEMBER_COLS[] = {{"ID", "id", CLI_COL_U64},
                                             {"RAFT", "raft", CLI_COL_STR},
                                             {"API", "api", CLI_COL_STR},
                                             {"ROLE", "role", CLI_COL_STR},
                                             {"TERM", "term", CLI_COL_U64},
                                             {"COMMIT", "commit_index", CLI_COL_U64},
                                             {"APPLIED", "applied_index", CLI_COL_U64},
                                             {"ERROR", "error", CLI_COL_STR | CLI_COL_OPTIONAL}};

static void cluster_print(struct cli_ctx *ctx, const struct cluster_view *v, size_t n,
                          const struct cluster_view *leader)
{
    static const struct cli_col top_cols[] = {{NULL, "leader", CLI_COL_U64},
                                              {NULL, "leader_api", CLI_COL_STR}};
    const struct cli_cell top_cells[] = {{.u = leader ? leader->id : 0, .null = leader == NULL},
                                         {.s = leader ? leader->api : NULL}};
    char title[320];
    if (leader != NULL)
        snprintf(title, sizeof(title), "leader: %llu (%s)", (unsigned long long)leader->id,
                 leader->api);
    else
        snprintf(title, sizeof(title), "leader: none");
    const struct cli_view_top top = {title, top_cols, CLI_NCOLS(top_cols), top_cells};
    struct cli_view view;
    cli_view_begin_top(&view, ctx, &top, MEMBER_COLS, CLI_NCOLS(MEMBER_COLS), "members");
    for (size_t i = 0; i < n; i++) {
        bool down = !v[i].reachable; /* then it told us nothing of its Raft state */
        cli_view_row(&view, (const struct cli_cell[]){{.u = v[i].id},
                                                      {.s = v[i].raft},
                                                      {.s = v[i].api},
                                                      {.s = v[i].role},
                                                      {.u = v[i].term, .null = down},
                                                      {.u = v[i].commit, .null = down},
                                                      {.u = v[i].applied, .null = down},
                                                      {.s = down ? v[i].error : NULL}});
    }
    cli_view_end(&view);
}

/* Every member as the directory knows it, each filled from its own answer (or marked
 * unreachable), sorted by id. On success the caller frees *out and *reply (which the views point
 * into). */
static int cluster_gather(struct cli_ctx *ctx, struct cluster_view **out, size_t *nout,
                          strata_env **reply, struct strata_err *e)
{
    Strata__V1__ClusterStatusRequest cs = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &cs;
    strata_env *r = NULL;
    int rc = cli_dir_call(ctx, &req, STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ClusterStatusReply *csr = r->cluster_status_reply;
    const Strata__V1__Member *self = csr->self;
    /* Members as the answering node knows them; if it knows none, at least itself. */
    size_t n = csr->n_members ? csr->n_members : (self != NULL ? 1 : 0);
    struct cluster_view *v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL) {
        strata_msg_free(r);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const Strata__V1__Member *m = csr->n_members ? csr->members[i] : self;
        v[i].id = m->id;
        v[i].raft = m->raft;
        v[i].api = m->api;
        if (self != NULL && self->id == m->id) {
            /* The node that answered already told us its own state. */
            if (v[i].api[0] == '\0')
                v[i].api = self->api;
            cluster_fill(&v[i], self);
        }
    }
    rc = cluster_probe_all(ctx, v, n, e);
    if (rc != 0) {
        free(v);
        strata_msg_free(r);
        return rc;
    }
    qsort(v, n, sizeof(*v), cluster_cmp_id);
    *out = v;
    *nout = n;
    *reply = r;
    return 0;
}

int cli_cluster_status(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    (void)a;
    struct cluster_view *v;
    size_t n;
    strata_env *r;
    int rc = cluster_gather(ctx, &v, &n, &r, e);
    if (rc != 0)
        return rc;
    /* The leader is whoever says so with the highest term: a deposed leader that has not yet
     * heard of the new term may still claim it. */
    const struct cluster_view *leader = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].reachable && strcmp(v[i].role, "leader") == 0 &&
            (leader == NULL || v[i].term > leader->term))
            leader = &v[i];
    cluster_print(ctx, v, n, leader);
    free(v);
    strata_msg_free(r);
    return 0;
}

/* A member's own version as `strata version` shows it. */
static const struct cli_col VERSION_COLS[] = {{"ID", "id", CLI_COL_U64},
                                              {"API", "api", CLI_COL_STR},
                                              {"VERSION", "version", CLI_COL_STR},
                                              {"GIT", "git", CLI_COL_STR},
                                              {"ERROR", "error", CLI_COL_STR | CLI_COL_OPTIONAL}};

static void version_print(struct cli_ctx *ctx, const struct cluster_view *v, size_t n,
                          const char *dir_error)
{
    char title[160];
    snprintf(title, sizeof(title), "strata %s (git %s)", strata_version(), strata_version_git());
    if (dir_error != NULL && !ctx->json) {
        /* no members to list: an empty table would only hide why */
        fprintf(ctx->out, "%s\ndirectory: %s\n", title, dir_error);
        return;
    }
    static const struct cli_col top_cols[] = {{NULL, "version", CLI_COL_STR},
                                              {NULL, "git", CLI_COL_STR},
                                              {NULL, "directory_error", CLI_COL_STR}};
    const struct cli_cell top_cells[] = {
        {.s = strata_version()}, {.s = strata_version_git()}, {.s = dir_error}};
    const struct cli_view_top top = {title, top_cols, CLI_NCOLS(top_cols), top_cells};
    struct cli_view view;
    cli_view_begin_top(&view, ctx, &top, VERSION_COLS, CLI_NCOLS(VERSION_COLS), "members");
    for (size_t i = 0; i < n; i++) {
        bool down = !v[i].reachable;
        cli_view_row(&view, (const struct cli_cell[]){{.u = v[i].id},
                                                      {.s = v[i].api},
                                                      {.s = down ? NULL : v[i].version},
                                                      {.s = down ? NULL : v[i].git},
                                                      {.s = down ? v[i].error : NULL}});
    }
    cli_view_end(&view);
}

int cli_version(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    (void)a;
    (void)e; /* never fails: a directory that does not answer is reported, not an error */
    struct cluster_view *v = NULL;
    size_t n = 0;
    strata_env *r = NULL;
    struct strata_err de = {0};
    int rc = cluster_gather(ctx, &v, &n, &r, &de);
    /* The CLI's own version stands without a directory: say why the members' are missing. */
    if (rc != 0 && de.msg[0] == '\0')
        snprintf(de.msg, sizeof(de.msg), "%s", strata_strerror(rc));
    version_print(ctx, v, n, rc != 0 ? de.msg : NULL);
    free(v);
    strata_msg_free(r);
    return 0;
}

/* Send a cluster command and report the index it took effect at. */
static int cluster_change(struct cli_ctx *ctx, strata_env *req, const char *op, uint64_t id,
                          const char *human, struct strata_err *e)
{
    strata_env *r = NULL;
    int rc = cli_dir_call(ctx, req, STRATA__V1__ENVELOPE__BODY_CLUSTER_REPLY, &r, e);
    if (rc != 0)
        return rc;
    uint64_t index = r->cluster_reply->index;
    strata_msg_free(r);
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, op, index);
        cli_json_u64(&j, "id", id);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "%s (index %llu)\n", human, (unsigned long long)index);
    }
    return 0;
}

int cli_cluster_add(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint64_t id;
    char ip[16];
    uint16_t port;
    int rc = cmd_parse_member_id(a->pos[0], &id, e);
    if (rc == 0)
        rc = strata_hostport_parse(a->pos[1], ip, &port, e);
    if (rc != 0)
        return rc;
    if (a->api != NULL && strata_url_check(a->api, "--api", e) != 0)
        return e->code;
    Strata__V1__ClusterAdd add = STRATA__V1__CLUSTER_ADD__INIT;
    add.id = id;
    add.raft = a->pos[1];
    if (a->api != NULL)
        add.api = (char *)a->api;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD;
    req.cluster_add = &add;
    char human[200];
    snprintf(human, sizeof(human), "added member %llu at %s", (unsigned long long)id, a->pos[1]);
    return cluster_change(ctx, &req, "cluster add", id, human, e);
}

int cli_cluster_remove(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint64_t id;
    int rc = cmd_parse_member_id(a->pos[0], &id, e);
    if (rc != 0)
        return rc;
    Strata__V1__ClusterRemove rm = STRATA__V1__CLUSTER_REMOVE__INIT;
    rm.id = id;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE;
    req.cluster_remove = &rm;
    char human[64];
    snprintf(human, sizeof(human), "removed member %llu", (unsigned long long)id);
    return cluster_change(ctx, &req, "cluster remove", id, human, e);
}

int cli_cluster_transfer(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint64_t id;
    int rc = cmd_parse_member_id(a->pos[0], &id, e);
    if (rc != 0)
        return rc;
    Strata__V1__ClusterTransfer tr = STRATA__V1__CLUSTER_TRANSFER__INIT;
    tr.id = id;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER;
    req.cluster_transfer = &tr;
    char human[64];
    snprintf(human, sizeof(human), "leadership transferred to member %llu", (unsigned long long)id);
    return cluster_change(ctx, &req, "cluster transfer", id, human, e);
}

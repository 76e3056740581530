/* cmd_cluster.c - the directory cluster: status (asking every member for its own Raft state),
 * add, remove, leadership transfer; `strata version` (the CLI's, and every member's own). */
#include "cmd_common.h"

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

static void cluster_print(struct cli_ctx *ctx, const struct cluster_view *v, size_t n,
                          const struct cluster_view *leader)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        if (leader != NULL) {
            cli_json_u64(&j, "leader", leader->id);
            cli_json_str(&j, "leader_api", leader->api);
        } else {
            cli_json_null(&j, "leader");
            cli_json_null(&j, "leader_api");
        }
        cli_json_arr_begin(&j, "members");
        for (size_t i = 0; i < n; i++) {
            cli_json_obj_begin(&j, NULL);
            cli_json_u64(&j, "id", v[i].id);
            cli_json_str(&j, "raft", v[i].raft);
            cli_json_str(&j, "api", v[i].api);
            cli_json_str(&j, "role", v[i].role);
            if (v[i].reachable) {
                cli_json_u64(&j, "term", v[i].term);
                cli_json_u64(&j, "commit_index", v[i].commit);
                cli_json_u64(&j, "applied_index", v[i].applied);
            } else {
                cli_json_null(&j, "term");
                cli_json_null(&j, "commit_index");
                cli_json_null(&j, "applied_index");
                cli_json_str(&j, "error", v[i].error);
            }
            cli_json_obj_end(&j);
        }
        cli_json_arr_end(&j);
        cmd_json_end(&j);
        return;
    }
    if (leader != NULL)
        fprintf(ctx->out, "leader: %llu (%s)\n", (unsigned long long)leader->id, leader->api);
    else
        fprintf(ctx->out, "leader: none\n");
    static const char *const hdr[] = {"ID", "RAFT", "API", "ROLE", "TERM", "COMMIT", "APPLIED"};
    struct cli_table *t = cli_table_new(7, hdr);
    for (size_t i = 0; i < n; i++) {
        char id[24], term[24], commit[24], applied[24];
        const char *row[] = {cmd_u64(v[i].id, id),
                             v[i].raft,
                             v[i].api,
                             v[i].role,
                             v[i].reachable ? cmd_u64(v[i].term, term) : "-",
                             v[i].reachable ? cmd_u64(v[i].commit, commit) : "-",
                             v[i].reachable ? cmd_u64(v[i].applied, applied) : "-"};
        cli_table_row(t, row);
    }
    cli_table_print(t, ctx->out);
    cli_table_free(t);
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

static void version_print(struct cli_ctx *ctx, const struct cluster_view *v, size_t n,
                          const char *dir_error)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "version", strata_version());
        cli_json_str(&j, "git", strata_version_git());
        if (dir_error != NULL)
            cli_json_str(&j, "directory_error", dir_error);
        else
            cli_json_null(&j, "directory_error");
        cli_json_arr_begin(&j, "members");
        for (size_t i = 0; i < n; i++) {
            cli_json_obj_begin(&j, NULL);
            cli_json_u64(&j, "id", v[i].id);
            cli_json_str(&j, "api", v[i].api);
            if (v[i].reachable) {
                cli_json_str(&j, "version", v[i].version);
                cli_json_str(&j, "git", v[i].git);
            } else {
                cli_json_null(&j, "version");
                cli_json_null(&j, "git");
                cli_json_str(&j, "error", v[i].error);
            }
            cli_json_obj_end(&j);
        }
        cli_json_arr_end(&j);
        cmd_json_end(&j);
        return;
    }
    strata_version_print(ctx->out, "strata");
    if (dir_error != NULL) {
        fprintf(ctx->out, "directory: %s\n", dir_error);
        return;
    }
    static const char *const hdr[] = {"ID", "API", "VERSION", "GIT"};
    struct cli_table *t = cli_table_new(4, hdr);
    for (size_t i = 0; i < n; i++) {
        char id[24];
        const char *row[] = {cmd_u64(v[i].id, id), v[i].api,
                             v[i].reachable ? v[i].version : "unreachable",
                             v[i].reachable ? v[i].git : "-"};
        cli_table_row(t, row);
    }
    cli_table_print(t, ctx->out);
    cli_table_free(t);
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

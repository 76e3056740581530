/* dird_cluster.c - cluster status, membership changes (add = raft_add then raft_assign voter,
 * remove, leadership transfer) and each node's self-registration in the FSM member table, which
 * gives every node the Raft id -> API address map used for forwarding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"
#include "version.h"

static const struct raft_server *config_server(struct dird *d, uint64_t id)
{
    for (unsigned i = 0; i < d->raft.configuration.n; i++)
        if (d->raft.configuration.servers[i].id == id)
            return &d->raft.configuration.servers[i];
    return NULL;
}

static void reply_cluster(struct strata_req *req, uint64_t index)
{
    Strata__V1__ClusterReply cr = STRATA__V1__CLUSTER_REPLY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    cr.index = index;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_REPLY;
    rep.cluster_reply = &cr;
    strata_req_reply(req, &rep);
}

/* ---------------------------------------------------------------- status */

static void handle_status(struct dird *d, struct strata_req *req)
{
    Strata__V1__ClusterStatusReply sr = STRATA__V1__CLUSTER_STATUS_REPLY__INIT;
    Strata__V1__Member self = STRATA__V1__MEMBER__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    uint64_t lid;
    const char *lapi;
    dird_leader(d, &lid, &lapi);
    int state = d->raft_started ? raft_state(&d->raft) : RAFT_UNAVAILABLE;
    uint64_t now = strata_now_ms();
    const struct raft_server *me = config_server(d, d->cfg.id);
    self.id = d->cfg.id;
    self.raft = (char *)d->cfg.raft_addr;
    self.api = (char *)d->cfg.api_url;
    self.role = (char *)dird_role_name(state);
    if (state == RAFT_FOLLOWER && (me == NULL || me->role != RAFT_VOTER))
        self.role = (char *)"spare";
    self.term = d->raft.current_term;
    self.commit_index = d->raft.commit_index;
    self.applied_index = dird_applied(d);
    self.version = (char *)strata_version();
    self.git = (char *)strata_version_git();

    unsigned n = d->raft.configuration.n;
    Strata__V1__Member *ms = calloc(n ? n : 1, sizeof(*ms));
    Strata__V1__Member **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (ms == NULL || ptrs == NULL) {
        free(ms);
        free(ptrs);
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct raft_server *s = &d->raft.configuration.servers[i];
        const Strata__V1__Member *fm = dir_fsm_member(d->fsm, s->id);
        strata__v1__member__init(&ms[i]);
        ms[i].id = s->id;
        ms[i].raft = s->address;
        ms[i].api = fm != NULL ? fm->api : (char *)"";
        if (s->role != RAFT_VOTER)
            ms[i].role = (char *)"spare";
        else if (s->id == lid)
            ms[i].role = (char *)"leader";
        else if (lid == d->cfg.id && dird_peer_unreachable(d, s->id, now))
            ms[i].role = (char *)"unreachable"; /* as this leader sees it */
        else
            ms[i].role = (char *)"follower";
        if (s->id == d->cfg.id) {
            ms[i].api = (char *)d->cfg.api_url;
            ms[i].role = self.role;
            ms[i].term = self.term;
            ms[i].commit_index = self.commit_index;
            ms[i].applied_index = self.applied_index;
        }
        ptrs[i] = &ms[i];
    }
    sr.leader_id = lid;
    sr.leader_api = (char *)(lapi != NULL ? lapi : "");
    sr.self = &self;
    sr.n_members = n;
    sr.members = ptrs;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY;
    rep.cluster_status_reply = &sr;
    strata_req_reply(req, &rep);
    free(ms);
    free(ptrs);
}

/* ---------------------------------------------------------------- add / remove / transfer */

struct cl_op {
    struct raft_change ch;
    struct raft_transfer tr;
    struct dird *d;
    struct strata_req *req;
    uint64_t id;
    char raft[64], api[256];
};

static int raft_to_strata(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return STRATA_EUNAVAIL;
    case RAFT_CANTCHANGE:
        return STRATA_EBUSY;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
        return STRATA_EEXIST;
    case RAFT_BADID:
        return STRATA_ENOTFOUND;
    case RAFT_NOSPACE:
        return STRATA_ENOSPACE;
    default:
        return STRATA_EINVAL;
    }
}

static void record_member(struct dird *d, uint64_t id, const char *raft, const char *api)
{
    struct dird_write *w = dird_write_internal(d);
    if (w == NULL)
        return;
    snprintf(w->own_raft, sizeof(w->own_raft), "%s", raft);
    snprintf(w->own_api, sizeof(w->own_api), "%s", api);
    w->own_ms.id = id;
    w->own_ms.raft = w->own_raft;
    w->own_ms.api = w->own_api;
    w->own_cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    w->own_cmd.member_set = &w->own_ms;
    dird_write_enqueue(d, w);
}

static void assign_cb(struct raft_change *ch, int status)
{
    struct cl_op *op = ch->data;
    struct dird *d = op->d;
    if (status != 0) {
        LOG_WARN("cluster add %llu: promotion to voter failed: %s", (unsigned long long)op->id,
                 raft_strerror(status));
        dird_reply_error(op->req, raft_to_strata(status),
                         "node %llu added but not promoted to voter: %s (is it running with "
                         "--join and reachable at %s?)",
                         (unsigned long long)op->id, raft_strerror(status), op->raft);
    } else {
        LOG_INFO("cluster add %llu at %s: now a voter", (unsigned long long)op->id, op->raft);
        reply_cluster(op->req, raft_last_index(&d->raft));
    }
    free(op);
}

static void do_assign(struct cl_op *op)
{
    struct dird *d = op->d;
    const struct raft_server *s = config_server(d, op->id);
    if (s != NULL && s->role == RAFT_VOTER) {
        reply_cluster(op->req, raft_last_index(&d->raft));
        free(op);
        return;
    }
    op->ch.data = op;
    int rv = raft_assign(&d->raft, &op->ch, op->id, RAFT_VOTER, assign_cb);
    if (rv != 0) {
        dird_reply_error(op->req, raft_to_strata(rv), "promote %llu: %s",
                         (unsigned long long)op->id, raft_errmsg(&d->raft));
        free(op);
    }
}

static void add_cb(struct raft_change *ch, int status)
{
    struct cl_op *op = ch->data;
    if (status != 0) {
        dird_reply_error(op->req, raft_to_strata(status), "add %llu: %s",
                         (unsigned long long)op->id, raft_strerror(status));
        free(op);
        return;
    }
    do_assign(op);
}

static void handle_add(struct dird *d, struct strata_req *req, const Strata__V1__ClusterAdd *ca)
{
    char ip[16];
    uint16_t port;
    struct strata_err e;
    if (ca->id == 0) {
        dird_reply_error(req, STRATA_EINVAL, "cluster add: id must be > 0");
        return;
    }
    if (strata_hostport_parse(ca->raft, ip, &port, &e) != 0) {
        dird_reply_error(req, STRATA_EINVAL, "cluster add: raft address: %s", e.msg);
        return;
    }
    struct cl_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    op->d = d;
    op->req = req;
    op->id = ca->id;
    snprintf(op->raft, sizeof(op->raft), "%s", ca->raft);
    if (ca->api != NULL && ca->api[0] != '\0')
        record_member(d, ca->id, ca->raft, ca->api);
    const struct raft_server *s = config_server(d, ca->id);
    if (s != NULL) {
        if (strcmp(s->address, ca->raft) != 0) {
            dird_reply_error(req, STRATA_EEXIST, "node %llu is already a member at %s",
                             (unsigned long long)ca->id, s->address);
            free(op);
            return;
        }
        do_assign(op); /* already added (e.g. a retry): just make sure it votes */
        return;
    }
    op->ch.data = op;
    int rv = raft_add(&d->raft, &op->ch, ca->id, ca->raft, add_cb);
    if (rv != 0) {
        dird_reply_error(req, raft_to_strata(rv), "add %llu: %s", (unsigned long long)ca->id,
                         raft_errmsg(&d->raft));
        free(op);
    }
}

static void remove_cb(struct raft_change *ch, int status)
{
    struct cl_op *op = ch->data;
    struct dird *d = op->d;
    if (status != 0) {
        dird_reply_error(op->req, raft_to_strata(status), "remove %llu: %s",
                         (unsigned long long)op->id, raft_strerror(status));
    } else {
        LOG_INFO("cluster remove %llu: done", (unsigned long long)op->id);
        if (dird_is_leader(d)) {
            struct dird_write *w = dird_write_internal(d);
            if (w != NULL) {
                w->own_md.id = op->id;
                w->own_cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_DEL;
                w->own_cmd.member_del = &w->own_md;
                dird_write_enqueue(d, w);
            }
        }
        reply_cluster(op->req, raft_last_index(&d->raft));
    }
    free(op);
}

static void handle_remove(struct dird *d, struct strata_req *req, uint64_t id)
{
    if (config_server(d, id) == NULL) {
        dird_reply_error(req, STRATA_ENOTFOUND, "node %llu is not a member",
                         (unsigned long long)id);
        return;
    }
    struct cl_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    op->d = d;
    op->req = req;
    op->id = id;
    op->ch.data = op;
    int rv = raft_remove(&d->raft, &op->ch, id, remove_cb);
    if (rv != 0) {
        dird_reply_error(req, raft_to_strata(rv), "remove %llu: %s", (unsigned long long)id,
                         raft_errmsg(&d->raft));
        free(op);
    }
}

static void transfer_cb(struct raft_transfer *tr)
{
    struct cl_op *op = tr->data;
    struct dird *d = op->d;
    raft_id lid = 0;
    const char *addr = NULL;
    if (!d->raft_closing)
        raft_leader(&d->raft, &lid, &addr);
    if (lid != 0 && lid != d->cfg.id && (op->id == 0 || lid == op->id)) {
        LOG_INFO("leadership transferred to %llu", (unsigned long long)lid);
        reply_cluster(op->req, raft_last_index(&d->raft));
    } else {
        dird_reply_error(op->req, STRATA_ETIMEDOUT, "leadership transfer to %llu did not happen",
                         (unsigned long long)op->id);
    }
    free(op);
}

static void handle_transfer(struct dird *d, struct strata_req *req, uint64_t id)
{
    if (id == d->cfg.id) {
        reply_cluster(req, raft_last_index(&d->raft)); /* already leads */
        return;
    }
    struct cl_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    op->d = d;
    op->req = req;
    op->id = id;
    op->tr.data = op;
    int rv = raft_transfer(&d->raft, &op->tr, id, transfer_cb);
    if (rv != 0) {
        dird_reply_error(req, raft_to_strata(rv), "transfer to %llu: %s", (unsigned long long)id,
                         raft_errmsg(&d->raft));
        free(op);
    }
}

void dird_cluster_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    if (env->body_case == STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS) {
        handle_status(d, req);
        return;
    }
    if (!dird_is_leader(d)) {
        bool forwarded = strcmp(env->identity ? env->identity : "", DIRD_FWD_IDENTITY) == 0;
        if (forwarded)
            dird_reply_error(req, STRATA_ENOTLEADER, "node %llu is not the leader",
                             (unsigned long long)d->cfg.id);
        else if (!dird_forward(d, req, env))
            dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD:
        handle_add(d, req, env->cluster_add);
        break;
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE:
        handle_remove(d, req, env->cluster_remove->id);
        break;
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER:
        handle_transfer(d, req, env->cluster_transfer->id);
        break;
    default:
        dird_reply_error(req, STRATA_EINTERNAL, "not a cluster command");
        break;
    }
}

/* ---------------------------------------------------------------- self-registration */

static void member_done(struct dird *d, int rc, void *arg)
{
    (void)arg;
    d->member_inflight = false;
    if (rc != 0) {
        LOG_DEBUG("member registration failed (%s): retrying", strata_strerror(rc));
        d->member_next_try_ms = strata_now_ms() + 300;
    }
}

void dird_cluster_tick(struct dird *d, uint64_t now_ms)
{
    if (d->member_inflight || now_ms < d->member_next_try_ms || d->stopping || !d->raft_started ||
        d->raft_closing)
        return;
    const struct raft_server *me = config_server(d, d->cfg.id);
    if (me == NULL)
        return; /* not (or no longer) a member: nothing to register */
    const Strata__V1__Member *m = dir_fsm_member(d->fsm, d->cfg.id);
    if (m != NULL && strcmp(m->raft, d->cfg.raft_addr) == 0 && strcmp(m->api, d->cfg.api_url) == 0)
        return;
    if (dird_is_leader(d)) {
        struct dird_write *w = dird_write_internal(d);
        if (w == NULL)
            return;
        snprintf(w->own_raft, sizeof(w->own_raft), "%s", d->cfg.raft_addr);
        snprintf(w->own_api, sizeof(w->own_api), "%s", d->cfg.api_url);
        w->own_ms.id = d->cfg.id;
        w->own_ms.raft = w->own_raft;
        w->own_ms.api = w->own_api;
        w->own_cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
        w->own_cmd.member_set = &w->own_ms;
        w->done = member_done;
        d->member_inflight = true;
        dird_write_enqueue(d, w);
        return;
    }
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__MemberSet ms = STRATA__V1__MEMBER_SET__INIT;
    ms.id = d->cfg.id;
    ms.raft = (char *)d->cfg.raft_addr;
    ms.api = (char *)d->cfg.api_url;
    cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    cmd.member_set = &ms;
    if (dird_forward_cmd(d, &cmd, member_done, NULL) == 0)
        d->member_inflight = true;
    else
        d->member_next_try_ms = now_ms + 200;
}

/* ---------------------------------------------------------------- peer contact */

static struct dird_peer_seen *peer_seen(struct dird *d, uint64_t id)
{
    for (unsigned i = 0; i < d->n_seen; i++)
        if (d->seen[i].id == id)
            return &d->seen[i];
    return NULL;
}

void dird_peers_tick(struct dird *d, uint64_t now_ms)
{
    if (!dird_is_leader(d)) {
        d->n_seen = 0;
        d->lead_since_ms = 0;
        return;
    }
    if (d->lead_since_ms == 0)
        d->lead_since_ms = now_ms;
    /* leader_state.progress runs parallel to configuration.servers (libraft rebuilds both on a
     * change). recent_recv says the peer answered since libraft last cleared it. */
    const struct raft_configuration *c = &d->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        uint64_t id = c->servers[i].id;
        if (id == d->cfg.id || !d->raft.leader_state.progress[i].recent_recv)
            continue;
        struct dird_peer_seen *p = peer_seen(d, id);
        if (p == NULL && d->n_seen < DIRD_MAX_PEERS)
            p = &d->seen[d->n_seen++];
        if (p == NULL) { /* full: a removed member's slot, or the stalest, makes room */
            p = &d->seen[0];
            for (unsigned k = 1; k < d->n_seen; k++)
                if (d->seen[k].ms < p->ms)
                    p = &d->seen[k];
        }
        p->id = id;
        p->ms = now_ms;
    }
}

bool dird_peer_reachable(const struct dird *d, uint64_t id, uint64_t now_ms)
{
    const struct dird_peer_seen *p = peer_seen((struct dird *)d, id);
    return p != NULL && now_ms - p->ms <= d->cfg.election_ms;
}

bool dird_peer_unreachable(const struct dird *d, uint64_t id, uint64_t now_ms)
{
    /* A leader elected a moment ago has not heard from anyone yet: that is no evidence. */
    return d->lead_since_ms != 0 && now_ms - d->lead_since_ms > d->cfg.election_ms &&
           !dird_peer_reachable(d, id, now_ms);
}

/* libraft's own choice (raft_transfer with id 0) is the first up-to-date voter in configuration
 * order, whether or not it still answers: a stopped follower that was up to date gets the
 * TimeoutNow, the transfer waits out its timeout and the cluster has no leader meanwhile. This
 * picks among the voters heard from within an election timeout the one with the most of the log
 * (libraft brings it up to date before it sends TimeoutNow). */
uint64_t dird_handoff_target(struct dird *d, uint64_t now_ms, unsigned *others)
{
    *others = 0;
    if (!dird_is_leader(d))
        return 0;
    dird_peers_tick(d, now_ms); /* what was heard since the last tick counts too */
    const struct raft_configuration *c = &d->raft.configuration;
    uint64_t best = 0;
    raft_index best_match = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        if (s->id == d->cfg.id || s->role != RAFT_VOTER)
            continue;
        (*others)++;
        if (!dird_peer_reachable(d, s->id, now_ms))
            continue;
        raft_index m = d->raft.leader_state.progress[i].match_index;
        if (best == 0 || m > best_match) {
            best = s->id;
            best_match = m;
        }
    }
    return best;
}

/* dird_reads.c - list, resolve and vn_info served from this node's applied state; a request with
 * min_index beyond the applied index is parked until it is reached or a bounded wait passes.
 * Linearizable reads first pass a read barrier (dird_linread.c). */
#include <stdlib.h>

#include "dird.h"
#include "log.h"

static uint64_t req_min_index(const strata_env *env)
{
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_LIST:
        return env->list->min_index;
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        return env->resolve->min_index;
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        return env->vn_info->min_index;
    default:
        return 0;
    }
}

static void serve_list(struct dird *d, struct strata_req *req, const strata_env *env)
{
    Strata__V1__ListReply out = STRATA__V1__LIST_REPLY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    int rc = dir_fsm_list(d->fsm, env->list->kind, env->list->vni, &out);
    if (rc != 0) {
        dird_reply_error(req, rc, "list failed: %s", strata_strerror(rc));
        return;
    }
    out.applied_index = dird_applied(d);
    rep.body_case = STRATA__V1__ENVELOPE__BODY_LIST_REPLY;
    rep.list_reply = &out;
    strata_req_reply(req, &rep);
    dir_fsm_list_release(&out);
}

static void serve_resolve(struct dird *d, struct strata_req *req, const strata_env *env,
                          uint64_t arrival_us)
{
    const Strata__V1__ResolveRequest *rq = env->resolve;
    size_t n = rq->n_queries;
    Strata__V1__ResolveAnswer *ans = calloc(n ? n : 1, sizeof(*ans));
    Strata__V1__ResolveAnswer **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (ans == NULL || ptrs == NULL) {
        free(ans);
        free(ptrs);
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        strata__v1__resolve_answer__init(&ans[i]);
        dir_fsm_resolve(d->fsm, rq->queries[i], &ans[i]);
        ptrs[i] = &ans[i];
    }
    Strata__V1__ResolveReply rr = STRATA__V1__RESOLVE_REPLY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    rr.n_answers = n;
    rr.answers = ptrs;
    rr.applied_index = dird_applied(d);
    rr.tier = (char *)"directory";
    rr.elapsed_us = strata_now_us() - arrival_us;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY;
    rep.resolve_reply = &rr;
    strata_req_reply(req, &rep);
    free(ans);
    free(ptrs);
}

static void serve_vn_info(struct dird *d, struct strata_req *req, const strata_env *env)
{
    Strata__V1__VnInfoReply out = STRATA__V1__VN_INFO_REPLY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    int rc = dir_fsm_vn_info(d->fsm, env->vn_info->vni, &out);
    if (rc != 0) {
        if (rc == STRATA_ENOTFOUND)
            dird_reply_error(req, rc, "unknown VNI %u", env->vn_info->vni);
        else
            dird_reply_error(req, rc, "vn_info failed: %s", strata_strerror(rc));
        return;
    }
    out.applied_index = dird_applied(d);
    rep.body_case = STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY;
    rep.vn_info_reply = &out;
    strata_req_reply(req, &rep);
    dir_fsm_vn_info_release(&out);
}

static void serve(struct dird *d, struct strata_req *req, const strata_env *env,
                  uint64_t arrival_us)
{
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_LIST:
        serve_list(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        serve_resolve(d, req, env, arrival_us);
        break;
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        serve_vn_info(d, req, env);
        break;
    default:
        dird_reply_error(req, STRATA_EINTERNAL, "not a read");
        break;
    }
}

void dird_reads_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    if (dird_read_is_linearizable(env))
        dird_linread_handle(d, req, env);
    else
        dird_reads_local(d, req, env);
}

uint64_t dird_read_floor(struct dird *d)
{
    if (d->read_floor == 0)
        return 0;
    /* Entries past the commit that a new leader truncated never get applied: the floor is what
     * is left of them (what was served is committed, so never truncated). */
    uint64_t last = raft_last_index(&d->raft), floor = d->read_floor < last ? d->read_floor : last;
    if (dird_applied(d) < floor)
        return floor;
    if (d->read_floor > 1)
        LOG_INFO("caught up to index %llu, where the log ended at start: serving reads",
                 (unsigned long long)floor);
    d->read_floor = 0;
    return 0;
}

void dird_reads_local(struct dird *d, struct strata_req *req, const strata_env *env)
{
    uint64_t want = req_min_index(env), floor = dird_read_floor(d);
    bool by_floor = floor > want;
    if (by_floor)
        want = floor;
    uint64_t arrival = strata_req_arrival_us(req);
    if (want <= dird_applied(d)) {
        serve(d, req, env, arrival);
        return;
    }
    struct dird_parked *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    p->req = req;
    p->env = env;
    p->want_index = want;
    p->floor = by_floor;
    p->arrival_us = arrival;
    p->deadline_ms = strata_now_ms() + DIRD_READ_WAIT_MS;
    p->next = d->reads;
    d->reads = p;
    d->m_read_waiters++;
}

void dird_reads_poll(struct dird *d, uint64_t now_ms)
{
    (void)dird_read_floor(d); /* cleared (and said) as soon as it is reached */
    uint64_t applied = dird_applied(d);
    struct dird_parked **pp = &d->reads;
    while (*pp != NULL) {
        struct dird_parked *p = *pp;
        if (p->want_index <= applied) {
            serve(d, p->req, p->env, p->arrival_us);
        } else if (now_ms >= p->deadline_ms && p->floor) {
            /* another node can answer: EUNAVAIL sends the client there */
            dird_reply_error(p->req, STRATA_EUNAVAIL,
                             "node %llu restarted and is catching up (applied %llu of %llu)",
                             (unsigned long long)d->cfg.id, (unsigned long long)applied,
                             (unsigned long long)p->want_index);
        } else if (now_ms >= p->deadline_ms) {
            dird_reply_error(p->req, STRATA_ETIMEDOUT,
                             "node %llu at index %llu behind requested %llu",
                             (unsigned long long)d->cfg.id, (unsigned long long)applied,
                             (unsigned long long)p->want_index);
        } else {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        free(p);
        d->m_read_waiters--;
    }
}

void dird_reads_fail_all(struct dird *d)
{
    while (d->reads != NULL) {
        struct dird_parked *p = d->reads;
        d->reads = p->next;
        dird_reply_error(p->req, STRATA_EUNAVAIL, "directory node shutting down");
        free(p);
    }
    d->m_read_waiters = 0;
}

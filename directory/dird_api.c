/* dird_api.c - dispatch of API requests: writes to the batcher (leader) or the forwarder
 * (follower), reads and the feed to local state, cluster commands to dird_cluster.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

void dird_reply_error(struct strata_req *req, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    strata_req_error(req, code, "%s", msg);
}

void dird_forward_write(struct dird *d, struct strata_req *req, const strata_env *env)
{
    if (strcmp(env->identity ? env->identity : "", DIRD_FWD_IDENTITY) == 0) {
        /* forwarded to us by a node that thought we lead: do not bounce it around */
        dird_reply_error(req, STRATA_ENOTLEADER, "node %llu is not the leader",
                         (unsigned long long)d->cfg.id);
        return;
    }
    if (!dird_forward(d, req, env))
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
}

static void handle_write(struct dird *d, struct strata_req *req, const strata_env *env)
{
    const Strata__V1__Command *cmd = env->write->cmd;
    if (cmd == NULL || cmd->op_case == STRATA__V1__COMMAND__OP__NOT_SET) {
        dird_reply_error(req, STRATA_EINVAL, "write carries no command");
        return;
    }
    /* member_set/member_del are the daemon's own bookkeeping; operators use cluster add. They
     * still arrive here when a follower forwards its own registration. */
    if (dird_is_leader(d)) {
        struct dird_write *w = calloc(1, sizeof(*w));
        if (w == NULL) {
            dird_reply_error(req, STRATA_ENOMEM, "out of memory");
            return;
        }
        w->req = req;
        w->cmd = cmd;
        dird_write_enqueue(d, w);
        return;
    }
    dird_forward_write(d, req, env);
}

void dird_api_handle(struct strata_req *req, const strata_env *env, void *arg)
{
    struct dird *d = arg;
    if (d->stopping) {
        dird_reply_error(req, STRATA_EUNAVAIL, "directory node shutting down");
        return;
    }
    struct strata_err e;
    if (dird_auth_request(strata_req_peer(req), env, &e) != 0) {
        d->m_denied++;
        dird_reply_error(req, e.code, "%s", e.msg);
        return;
    }
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_WRITE:
        handle_write(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH:
        dird_wbatch_handle(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_LIST:
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        d->m_reads++;
        dird_reads_handle(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_FEED:
        dird_feed_handle(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_BACKUP:
        dird_backup_handle(d, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER:
        dird_cluster_handle(d, req, env);
        break;
    default:
        dird_reply_error(req, STRATA_EPROTO, "the directory does not serve '%s' requests",
                         strata_msg_type_name(env->body_case));
        break;
    }
}

void dird_write_observe(struct dird *d, struct strata_req *req)
{
    const strata_env *env = strata_req_env(req);
    if (env == NULL || env->body_case != STRATA__V1__ENVELOPE__BODY_WRITE)
        return; /* write_batch (a follower's forward, a batching client) is not timed here */
    uint64_t now = strata_now_us(), t0 = strata_req_arrival_us(req);
    strata_histo_observe(&d->h_write, now > t0 ? (now - t0) * 1000 : 0);
}

/* dird_wbatch.c - write_batch requests: several writes in one message. The leader queues a
 * request's commands as consecutive writes of its batcher (so they share one Raft entry) and
 * answers with one result per command; a follower forwards the request as it is. Followers also
 * send the single writes they proxy to the leader this way (dird_forward.c), one request per
 * loop turn instead of one per write. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

void dird_wbatch_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    const Strata__V1__WriteBatchRequest *wb = env->write_batch;
    if (!dird_is_leader(d)) {
        dird_forward_write(d, req, env);
        return;
    }
    unsigned n = (unsigned)wb->n_cmds; /* 1..STRATA_MAX_BATCH: checked by strata_msg_validate */
    struct dird_wgroup *g = calloc(1, sizeof(*g) + n * sizeof(g->res[0]));
    struct dird_write **ws = calloc(n, sizeof(*ws));
    bool ok = g != NULL && ws != NULL;
    for (unsigned i = 0; ok && i < n; i++)
        ok = (ws[i] = calloc(1, sizeof(*ws[i]))) != NULL;
    if (!ok) {
        for (unsigned i = 0; ws != NULL && i < n; i++)
            free(ws[i]);
        free(ws);
        free(g);
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    g->req = req;
    g->n = g->left = n;
    g->cmds = (const Strata__V1__Command **)wb->cmds;
    /* All in one go: the batcher never splits a group between entries. */
    for (unsigned i = 0; i < n; i++) {
        ws[i]->cmd = wb->cmds[i];
        ws[i]->group = g;
        ws[i]->slot = i;
        dird_write_enqueue(d, ws[i]);
    }
    free(ws);
}

static void wgroup_reply(struct dird *d, struct dird_wgroup *g)
{
    Strata__V1__WriteResult *rs = calloc(g->n, sizeof(*rs));
    Strata__V1__WriteResult **rp = calloc(g->n, sizeof(*rp));
    Strata__V1__WriteReply *wr = calloc(g->n, sizeof(*wr));
    if (rs == NULL || rp == NULL || wr == NULL) {
        dird_reply_error(g->req, STRATA_ENOMEM, "out of memory (the writes were applied)");
    } else {
        for (unsigned i = 0; i < g->n; i++) {
            strata__v1__write_result__init(&rs[i]);
            strata__v1__write_reply__init(&wr[i]);
            rp[i] = &rs[i];
            rs[i].status = g->res[i].status;
            if (g->res[i].status != 0) {
                rs[i].message = g->res[i].msg != NULL ? g->res[i].msg : (char *)"";
                continue;
            }
            /* Every command of the group was applied in the entry that just completed, so the
             * FSM shows each endpoint as the entry left it, as for a single write. */
            wr[i].index = g->res[i].index;
            if (g->res[i].msg != NULL)
                wr[i].note = g->res[i].msg;
            wr[i].endpoint = (Strata__V1__Endpoint *)dird_write_endpoint(d, g->cmds[i]);
            rs[i].reply = &wr[i];
        }
        Strata__V1__WriteBatchReply br = STRATA__V1__WRITE_BATCH_REPLY__INIT;
        br.n_results = g->n;
        br.results = rp;
        strata_env rep = STRATA__V1__ENVELOPE__INIT;
        rep.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY;
        rep.write_batch_reply = &br;
        strata_req_reply(g->req, &rep);
    }
    free(rs);
    free(rp);
    free(wr);
}

void dird_wgroup_done(struct dird *d, struct dird_wgroup *g, unsigned slot, int status,
                      const char *msg, uint64_t index)
{
    g->res[slot].status = status;
    g->res[slot].index = index;
    if (status != 0)
        g->res[slot].msg = strdup(msg != NULL ? msg : strata_strerror(status));
    else if (msg != NULL && *msg != '\0')
        g->res[slot].msg = strdup(msg); /* the write's note */
    if (--g->left > 0)
        return;
    wgroup_reply(d, g);
    for (unsigned i = 0; i < g->n; i++)
        free(g->res[i].msg);
    free(g);
}

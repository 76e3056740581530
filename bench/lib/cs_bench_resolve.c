/* cs_bench_resolve.c - see cs_bench_resolve.h. */
#include "cs_bench_resolve.h"

#include <stdlib.h>
#include <string.h>

#include "dir_bench_events.h"
#include "msg.h"
#include "sp_req.h"

struct resolver {
    const struct cs_bench_resolve_opts *o;
    struct sp_req *sp;
    uint32_t pend_id;
    uint8_t *frame;
};

static int res_fd(void *ctx)
{
    return sp_req_fd(((struct resolver *)ctx)->sp);
}

static struct strata_tls_conn *res_tls(void *ctx)
{
    return sp_req_tls(((struct resolver *)ctx)->sp);
}

static int res_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    struct resolver *r = ctx;
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    q.vni = r->o->vni;
    q.ip.data = (uint8_t *)r->o->ip;
    q.ip.len = 4;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    rr.queries = &qp;
    rr.n_queries = 1;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.identity = (char *)"operator"; /* plaintext; over TLS the certificate says it */
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = &rr;
    free(r->frame);
    r->frame = NULL;
    int rc = sp_req_frame(r->sp, &env, &r->frame, len, &r->pend_id, e);
    *req = r->frame;
    return rc;
}

static int res_reply(void *ctx, const uint8_t *in, size_t len, size_t *used, struct strata_err *e)
{
    struct resolver *r = ctx;
    strata_env *reply = NULL;
    int rc = sp_req_parse(in, len, r->pend_id, used, &reply, e);
    if (rc == SP_REQ_MORE)
        return DIR_BENCH_MORE;
    if (rc == 0)
        rc = sp_req_status(&reply, "strata-csd", e);
    if (rc == 0 &&
        (reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
         reply->resolve_reply->n_answers != 1 || !reply->resolve_reply->answers[0]->found))
        rc = strata_err_set(e, STRATA_ENOTFOUND, "the key was not found");
    strata_msg_free(reply);
    return rc;
}

static const struct dir_bench_aop aop_resolve = {res_fd, res_tls, res_request, res_reply};

int cs_bench_resolve_run(const struct cs_bench_resolve_opts *o, struct dir_bench_result *out,
                         struct strata_err *e)
{
    struct resolver *rs = calloc(o->clients, sizeof(*rs));
    void **ctx = calloc(o->clients, sizeof(*ctx));
    int rc = rs && ctx ? 0 : strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (unsigned i = 0; rc == 0 && i < o->clients; i++) {
        rs[i].o = o;
        ctx[i] = &rs[i];
        rc = sp_req_open_tls("127.0.0.1", o->port, 5000, o->tls, &rs[i].sp, e);
    }
    double cpu0 = dir_bench_procs_cpu_s(&o->server, 1);
    if (rc == 0)
        rc = dir_bench_drive_events(o->clients, ctx, &aop_resolve, o->threads, o->seconds, 1000,
                                    out, e);
    double cpu1 = dir_bench_procs_cpu_s(&o->server, 1);
    if (rc == 0)
        out->server_cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    for (unsigned i = 0; rs && i < o->clients; i++) {
        sp_req_close(rs[i].sp);
        free(rs[i].frame);
    }
    free(rs);
    free(ctx);
    return rc;
}

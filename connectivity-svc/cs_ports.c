/* cs_ports.c - what agents register through the connectivity server: their host (HostRegister,
 * which also opens the session) and their ports (endpoint add / move / delete, written to the
 * directory on their behalf after cs_auth.c agreed), plus the check that a host has a port in a
 * VN, asked of the directory once per host and VN. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "log.h"

#define DENIED_MEMORY_MS 2000 /* how long "no port in VN v" is believed */

enum op_kind { OP_HOST, OP_PORT_ADD, OP_PORT_MOVE, OP_PORT_DEL_CHECK, OP_PORT_DEL };

/* One operation in flight. Pointers into the request's envelope stay valid until we reply. */
struct op {
    struct cs *cs;
    struct strata_req *req;
    const strata_env *renv;
    struct cs_ident id;
    uint32_t sid;
    enum op_kind kind;
    strata_env env;
    Strata__V1__WriteRequest w;
    Strata__V1__Command cmd;
    Strata__V1__Host host;
    Strata__V1__Gateway gw;
    Strata__V1__Endpoint ep;
    Strata__V1__ResolveRequest rr;
    Strata__V1__ResolveQuery q, *qp;
};

static struct op *op_new(struct cs *cs, struct strata_req *req, const strata_env *renv,
                         const struct cs_ident *id, struct cs_session *s, enum op_kind kind)
{
    struct op *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return NULL;
    }
    o->cs = cs;
    o->req = req;
    o->renv = renv;
    o->id = *id;
    o->sid = s ? s->id : UINT32_MAX;
    o->kind = kind;
    strata__v1__envelope__init(&o->env);
    strata__v1__write_request__init(&o->w);
    strata__v1__command__init(&o->cmd);
    o->env.identity = (char *)"operator";
    o->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    o->env.write = &o->w;
    o->w.cmd = &o->cmd;
    return o;
}

/* Pass a directory failure on: a transport error becomes EUNAVAIL with the reason. */
static void reply_failure(struct strata_req *req, int rc, const strata_env *reply)
{
    if (rc != 0)
        strata_req_error(req, STRATA_EUNAVAIL, "directory unreachable: %s", strata_strerror(rc));
    else
        strata_req_error(req, reply->status, "%s",
                         reply->message && *reply->message ? reply->message
                                                           : strata_strerror(reply->status));
}

static void session_add_vni(struct op *o, uint32_t vni)
{
    struct cs_session *s = o->sid == UINT32_MAX ? NULL : cs_agents_by_id(o->cs->agents, o->sid);
    if (s != NULL && o->id.kind == CS_ID_HOST)
        cs_iset_add(&s->vnis, vni);
}

static void write_done(int rc, strata_env *reply, void *arg)
{
    struct op *o = arg;
    if (rc != 0 || reply->status != 0) {
        if (rc == 0 && o->kind == OP_HOST && reply->status == STRATA_ECONFLICT)
            strata_req_error(o->req, STRATA_EDENIED, "%s", reply->message ? reply->message : "");
        else
            reply_failure(o->req, rc, reply);
        goto out;
    }
    switch (o->kind) {
    case OP_HOST: {
        const Strata__V1__HostRegister *hr = o->renv->host_register;
        struct cs_session *s = cs_agents_get(o->cs->agents, hr->host);
        if (s == NULL) {
            strata_req_error(o->req, STRATA_EUNAVAIL, "cannot open a session for %s", hr->host);
            goto out;
        }
        s->registered = true;
        s->gateway = hr->gateway;
        s->vtep_len = (uint8_t)hr->vtep.len;
        memcpy(s->vtep, hr->vtep.data, hr->vtep.len);
        for (size_t i = 0; hr->gateway && i < hr->n_vnis; i++)
            cs_iset_add(&s->vnis, hr->vnis[i]);
        Strata__V1__HostRegisterReply hrr = STRATA__V1__HOST_REGISTER_REPLY__INIT;
        strata_env env = STRATA__V1__ENVELOPE__INIT;
        hrr.session = s->epoch;
        env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY;
        env.host_register_reply = &hrr;
        LOG_INFO("agents: %s %s registered (session %llu)", hr->gateway ? "gateway" : "host",
                 hr->host, (unsigned long long)s->epoch);
        strata_req_reply(o->req, &env);
        goto out;
    }
    case OP_PORT_ADD:
        session_add_vni(o, o->ep.vni);
        break;
    case OP_PORT_MOVE:
        session_add_vni(o, o->renv->port_move->move->vni);
        break;
    default:
        break;
    }
    strata_req_reply(o->req, reply); /* the directory's WriteReply, as it said */
out:
    if (reply)
        strata_msg_free(reply);
    free(o);
}

void cs_ports_host_register(struct cs *cs, struct strata_req *req, const strata_env *env,
                            const struct cs_ident *id)
{
    const Strata__V1__HostRegister *hr = env->host_register;
    struct strata_err e;
    if (cs_auth_host_register(id, hr, &e) != 0) {
        cs->ctr.denied++;
        strata_req_error(req, e.code, "%s", e.msg);
        return;
    }
    if (strata_name_check(hr->host, hr->gateway ? "gateway" : "host", &e) != 0 ||
        (hr->vtep.len != 4 && hr->vtep.len != 16)) {
        strata_req_error(req, STRATA_EINVAL, "%s",
                         e.code ? e.msg : "HostRegister needs a VTEP address (4 or 16 bytes)");
        return;
    }
    struct cs_session *s = cs_agents_find(cs->agents, hr->host);
    struct op *o = op_new(cs, req, env, id, s, OP_HOST);
    if (o == NULL)
        return;
    if (hr->gateway) {
        strata__v1__gateway__init(&o->gw);
        o->gw.id = hr->host;
        o->gw.vtep = hr->vtep;
        o->gw.vnis = hr->vnis;
        o->gw.n_vnis = hr->n_vnis;
        o->cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
        o->cmd.gateway_add = &o->gw;
    } else {
        strata__v1__host__init(&o->host);
        o->host.id = hr->host;
        o->host.vtep = hr->vtep;
        o->host.pod = (char *)(hr->pod && *hr->pod ? hr->pod : cs->pod);
        o->cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
        o->cmd.host_add = &o->host;
    }
    cs_up_write(cs->up, &o->env, write_done, o);
}

/* PortUnregister, step 1: is the endpoint on the caller's host? */
static void del_checked(int rc, strata_env *reply, void *arg)
{
    struct op *o = arg;
    if (rc != 0 || reply->status != 0 ||
        reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
        reply->resolve_reply->n_answers != 1) {
        reply_failure(o->req, rc ? rc : reply->status ? 0 : STRATA_EPROTO, reply);
        goto fail;
    }
    const Strata__V1__ResolveAnswer *a = reply->resolve_reply->answers[0];
    if (a->status != 0) {
        strata_req_error(o->req, a->status, "%s", a->message ? a->message : "");
        goto fail;
    }
    if (!a->found || a->endpoint == NULL) {
        strata_req_error(o->req, STRATA_ENOTFOUND, "no such endpoint");
        goto fail;
    }
    struct strata_err e;
    struct cs_session *s = o->sid == UINT32_MAX ? NULL : cs_agents_by_id(o->cs->agents, o->sid);
    if (cs_auth_port_unregister(&o->id, s, a->endpoint->host, &e) != 0) {
        o->cs->ctr.denied++;
        strata_req_error(o->req, e.code, "%s", e.msg);
        goto fail;
    }
    strata_msg_free(reply);
    o->kind = OP_PORT_DEL;
    o->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    o->env.write = &o->w;
    o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    o->cmd.endpoint_delete = o->renv->port_unregister->del;
    cs_up_write(o->cs->up, &o->env, write_done, o);
    return;
fail:
    if (reply)
        strata_msg_free(reply);
    free(o);
}

void cs_ports_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                     const struct cs_ident *id, struct cs_session *s)
{
    struct strata_err e = {0};
    int rc = 0;
    struct op *o = NULL;
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_PORT_REGISTER: {
        const Strata__V1__Endpoint *ep = env->port_register->endpoint;
        if (ep == NULL) {
            strata_req_error(req, STRATA_EINVAL, "PortRegister carries no endpoint");
            return;
        }
        if ((rc = cs_auth_port_register(id, s, ep, &e)) != 0)
            break;
        if ((o = op_new(cs, req, env, id, s, OP_PORT_ADD)) == NULL)
            return;
        o->ep = *ep;
        o->ep.vtep.len = 0; /* the directory fills it from the host record */
        o->ep.vtep.data = NULL;
        o->ep.version = 0;
        o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
        o->cmd.endpoint_add = &o->ep;
        cs_up_write(cs->up, &o->env, write_done, o);
        return;
    }
    case STRATA__V1__ENVELOPE__BODY_PORT_MOVE: {
        const Strata__V1__EndpointMove *mv = env->port_move->move;
        if (mv == NULL) {
            strata_req_error(req, STRATA_EINVAL, "PortMove carries no move");
            return;
        }
        if ((rc = cs_auth_port_move(id, s, mv, &e)) != 0)
            break;
        if ((o = op_new(cs, req, env, id, s, OP_PORT_MOVE)) == NULL)
            return;
        o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
        o->cmd.endpoint_move = (Strata__V1__EndpointMove *)mv;
        cs_up_write(cs->up, &o->env, write_done, o);
        return;
    }
    case STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER: {
        const Strata__V1__EndpointDelete *del = env->port_unregister->del;
        if (del == NULL || del->mac.len != 6) {
            strata_req_error(req, STRATA_EINVAL, "PortUnregister needs a VNI and a MAC");
            return;
        }
        if ((o = op_new(cs, req, env, id, s, OP_PORT_DEL_CHECK)) == NULL)
            return;
        strata__v1__resolve_request__init(&o->rr);
        strata__v1__resolve_query__init(&o->q);
        o->q.vni = del->vni;
        o->q.mac = del->mac;
        o->qp = &o->q;
        o->rr.queries = &o->qp;
        o->rr.n_queries = 1;
        o->rr.min_index = cs->feed_index;
        o->env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        o->env.resolve = &o->rr;
        cs_up_call(cs->up, &o->env, 700, 5000, NULL, del_checked, o);
        return;
    }
    default:
        strata_req_error(req, STRATA_EINTERNAL, "not a port request");
        return;
    }
    cs->ctr.denied++;
    strata_req_error(req, rc, "%s", e.msg);
}

/* ---------------------------------------------------------------- VN membership */

struct vcheck {
    struct cs *cs;
    uint32_t sid, vni;
    void (*fn)(void *arg, int rc);
    void *arg;
    strata_env env;
    Strata__V1__ListRequest lr;
};

static void vcheck_done(int rc, strata_env *reply, void *arg)
{
    struct vcheck *v = arg;
    struct cs_session *s = cs_agents_by_id(v->cs->agents, v->sid);
    int out = rc;
    if (rc == 0 && reply->status == STRATA_ENOTFOUND) {
        out = STRATA_EDENIED; /* no such VN: certainly no port in it */
    } else if (rc == 0 && reply->status != 0) {
        out = reply->status;
    } else if (rc == 0 && reply->body_case != STRATA__V1__ENVELOPE__BODY_LIST_REPLY) {
        out = STRATA_EPROTO;
    } else if (rc == 0) {
        out = STRATA_EDENIED;
        const Strata__V1__ListReply *lr = reply->list_reply;
        for (size_t i = 0; i < lr->n_endpoints; i++) {
            const char *h = lr->endpoints[i]->host;
            if (h != NULL && s != NULL && strcmp(h, s->host) == 0) {
                out = 0;
                break;
            }
        }
    }
    if (s != NULL && out == 0)
        cs_iset_add(&s->vnis, v->vni);
    if (s != NULL && out == STRATA_EDENIED) {
        s->denied_vni = v->vni;
        s->denied_until_ms = strata_now_ms() + DENIED_MEMORY_MS;
    }
    if (reply)
        strata_msg_free(reply);
    v->fn(v->arg, out);
    free(v);
}

void cs_ports_check_vni(struct cs *cs, struct cs_session *s, uint32_t vni,
                        void (*fn)(void *arg, int rc), void *arg)
{
    struct vcheck *v = calloc(1, sizeof(*v));
    if (v == NULL || s == NULL) {
        free(v);
        fn(arg, s == NULL ? STRATA_EDENIED : STRATA_ENOMEM);
        return;
    }
    v->cs = cs;
    v->sid = s->id;
    v->vni = vni;
    v->fn = fn;
    v->arg = arg;
    strata__v1__envelope__init(&v->env);
    strata__v1__list_request__init(&v->lr);
    v->lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    v->lr.vni = vni;
    v->lr.min_index = cs->feed_index;
    v->env.identity = (char *)"operator";
    v->env.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    v->env.list = &v->lr;
    cs_up_call(cs->up, &v->env, 1000, 5000, NULL, vcheck_done, v);
}

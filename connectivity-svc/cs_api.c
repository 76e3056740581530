/* cs_api.c - dispatch of requests on --listen: identify the caller once (cs_auth.c), attach its
 * session, and hand the request to the module that serves it. */
#include "cs.h"
#include "log.h"

void cs_api_handle(struct strata_req *req, const strata_env *env, void *arg)
{
    struct cs *cs = arg;
    if (cs->stopping) {
        strata_req_error(req, STRATA_EUNAVAIL, "connectivity server %s shutting down", cs->id);
        return;
    }
    struct cs_ident id;
    struct strata_err e;
    const struct strata_peer *peer = strata_req_peer(req);
    if ((peer != NULL ? cs_auth_identify_peer(peer, &id, &e)
                      : cs_auth_identify(env->identity, &id, &e)) != 0) {
        cs->ctr.denied++;
        strata_req_error(req, e.code, "%s", e.msg);
        return;
    }
    struct cs_session *s = NULL;
    if (id.kind != CS_ID_OPERATOR) {
        /* refused when the server holds --session-max sessions (EBUSY) */
        if (cs_agents_open(cs->agents, id.name, &s, &e) != 0) {
            strata_req_error(req, e.code, "%s", e.msg);
            return;
        }
        if (s->gateway)
            cs_gw_activity(cs, s); /* renews its lease */
    }
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        cs_resolve_handle(cs, req, env, &id, s);
        break;
    case STRATA__V1__ENVELOPE__BODY_HOST_REGISTER:
        cs_ports_host_register(cs, req, env, &id);
        break;
    case STRATA__V1__ENVELOPE__BODY_PORT_REGISTER:
    case STRATA__V1__ENVELOPE__BODY_PORT_MOVE:
    case STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER:
        cs_ports_handle(cs, req, env, &id, s);
        break;
    case STRATA__V1__ENVELOPE__BODY_UPDATES:
        if (cs_auth_updates(&id, env->updates->host, &e) != 0) {
            cs->ctr.denied++;
            strata_req_error(req, e.code, "%s", e.msg);
            break;
        }
        cs_agents_handle_updates(cs, req, env, id.name);
        break;
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        cs_vninfo_handle(cs, req, env, &id, s);
        break;
    case STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED:
        if (cs_auth_operator(&id, "wait applied", &e) != 0) {
            cs->ctr.denied++;
            strata_req_error(req, e.code, "%s", e.msg);
            break;
        }
        cs_wait_handle(cs, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_AUDIT:
        if (cs_auth_operator(&id, "audit", &e) != 0) {
            cs->ctr.denied++;
            strata_req_error(req, e.code, "%s", e.msg);
            break;
        }
        cs_audit_handle(cs, req, env);
        break;
    case STRATA__V1__ENVELOPE__BODY_AUDIT_REPORT:
        if (s == NULL) {
            cs->ctr.denied++;
            strata_req_error(req, STRATA_EDENIED, "an audit report comes from a host or gateway");
            break;
        }
        cs_audit_report(cs, req, env, s);
        break;
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW:
        if (cs_auth_operator(&id, "cache show", &e) != 0) {
            cs->ctr.denied++;
            strata_req_error(req, e.code, "%s", e.msg);
            break;
        }
        cs_show_handle(cs, req, env->cache_show);
        break;
    default:
        strata_req_error(req, STRATA_EPROTO, "strata-csd does not serve '%s' requests",
                         strata_msg_type_name(env->body_case));
        break;
    }
}

/* cs_auth.c - the one place where strata-csd decides who may do what. Messages name the rule
 * that refused, since an agent's operator reads them in its log. */
#include "cs_auth.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "tls.h"

int cs_auth_identify(const char *identity, struct cs_ident *id, struct strata_err *e)
{
    memset(id, 0, sizeof(*id));
    if (identity == NULL || identity[0] == '\0')
        return strata_err_set(e, STRATA_EDENIED,
                              "no identity: requests must say operator, host:NAME or gw:NAME");
    if (strcmp(identity, "operator") == 0) {
        id->kind = CS_ID_OPERATOR;
        return 0;
    }
    const char *name = NULL;
    if (strncmp(identity, "host:", 5) == 0) {
        id->kind = CS_ID_HOST;
        name = identity + 5;
    } else if (strncmp(identity, "gw:", 3) == 0) {
        id->kind = CS_ID_GW;
        name = identity + 3;
    }
    if (name == NULL || strata_name_check(name, "identity name", NULL) != 0)
        return strata_err_set(e, STRATA_EDENIED, "unknown identity '%.64s'", identity);
    strcpy(id->name, name); /* name_check bounds it to 63 chars */
    return 0;
}

int cs_auth_identify_peer(const struct strata_peer *p, struct cs_ident *id, struct strata_err *e)
{
    memset(id, 0, sizeof(*id));
    switch (p->role) {
    case STRATA_ROLE_OPERATOR:
        id->kind = CS_ID_OPERATOR;
        return 0;
    case STRATA_ROLE_AGENT:
        id->kind = CS_ID_HOST;
        break;
    case STRATA_ROLE_GATEWAY:
        id->kind = CS_ID_GW;
        break;
    default:
        return strata_err_set(e, STRATA_EDENIED,
                              "%s %s: only agents, gateways and operators use a connectivity "
                              "server",
                              strata_role_name(p->role), p->name);
    }
    snprintf(id->name, sizeof(id->name), "%s", p->name); /* tls.c checked it as a name */
    return 0;
}

int cs_auth_host_register(const struct cs_ident *id, const Strata__V1__HostRegister *hr,
                          struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    bool gw = id->kind == CS_ID_GW;
    if (gw != hr->gateway)
        return strata_err_set(e, STRATA_EDENIED, "%s %s may not register as a %s",
                              gw ? "gateway" : "host", id->name, hr->gateway ? "gateway" : "host");
    if (hr->host == NULL || strcmp(hr->host, id->name) != 0)
        return strata_err_set(e, STRATA_EDENIED, "%s %s may only register itself, not '%.64s'",
                              gw ? "gateway" : "host", id->name, hr->host ? hr->host : "");
    return 0;
}

static int need_session(const struct cs_ident *id, const struct cs_session *s, const char *what,
                        struct strata_err *e)
{
    if (s == NULL || !s->registered)
        return strata_err_set(e, STRATA_EDENIED, "%s %s must send HostRegister before %s",
                              id->kind == CS_ID_GW ? "gateway" : "host", id->name, what);
    return 0;
}

int cs_auth_port_register(const struct cs_ident *id, const struct cs_session *s,
                          const Strata__V1__Endpoint *ep, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    int rc = need_session(id, s, "registering ports", e);
    if (rc != 0)
        return rc;
    bool own_host = ep->host != NULL && strcmp(ep->host, id->name) == 0;
    bool own_vtep = ep->vtep.len == 0 || (ep->vtep.len == s->vtep_len &&
                                          memcmp(ep->vtep.data, s->vtep, s->vtep_len) == 0);
    if (!own_host || !own_vtep)
        return strata_err_set(e, STRATA_EDENIED,
                              "host %s may only register endpoints on its own VTEP", id->name);
    return 0;
}

int cs_auth_port_move(const struct cs_ident *id, const struct cs_session *s,
                      const Strata__V1__EndpointMove *mv, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    int rc = need_session(id, s, "moving ports", e);
    if (rc != 0)
        return rc;
    if (mv->host == NULL || strcmp(mv->host, id->name) != 0)
        return strata_err_set(e, STRATA_EDENIED,
                              "host %s may only move endpoints onto itself, not to '%.64s'",
                              id->name, mv->host ? mv->host : "");
    return 0;
}

int cs_auth_port_unregister(const struct cs_ident *id, const struct cs_session *s,
                            const char *cur_host, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    int rc = need_session(id, s, "unregistering ports", e);
    if (rc != 0)
        return rc;
    if (cur_host == NULL || strcmp(cur_host, id->name) != 0)
        return strata_err_set(e, STRATA_EDENIED,
                              "host %s may only unregister its own endpoints (this one is on "
                              "'%.64s')",
                              id->name, cur_host ? cur_host : "");
    return 0;
}

int cs_auth_vni(const struct cs_ident *id, const struct cs_session *s, uint32_t vni,
                uint64_t now_ms, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    if (s != NULL && cs_iset_has(&s->vnis, vni))
        return 0;
    /* A gateway serves exactly the VNs its directory record names (kept current from the feed). */
    if (id->kind == CS_ID_GW)
        return strata_err_set(e, STRATA_EDENIED, "gateway %s does not serve VN %u", id->name, vni);
    if (s != NULL && s->denied_vni == vni && now_ms < s->denied_until_ms)
        return cs_auth_vni_refused(id, vni, e);
    return CS_AUTH_ASK;
}

int cs_auth_vni_refused(const struct cs_ident *id, uint32_t vni, struct strata_err *e)
{
    return strata_err_set(e, STRATA_EDENIED, "%s %s has no port in VN %u",
                          id->kind == CS_ID_GW ? "gateway" : "host", id->name, vni);
}

int cs_auth_updates(const struct cs_ident *id, const char *host, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return strata_err_set(e, STRATA_EDENIED, "updates are for agents: use host:NAME");
    if (host == NULL || strcmp(host, id->name) != 0)
        return strata_err_set(e, STRATA_EDENIED, "%s may only read its own updates, not '%.64s'",
                              id->name, host ? host : "");
    return 0;
}

int cs_auth_operator(const struct cs_ident *id, const char *what, struct strata_err *e)
{
    if (id->kind == CS_ID_OPERATOR)
        return 0;
    return strata_err_set(e, STRATA_EDENIED, "%s is for the operator only", what);
}

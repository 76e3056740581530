/* msg_validate.c - structural validation of every Envelope body after protobuf-c decoding.
 *
 * protobuf-c checks wire syntax only: lengths of bytes fields, counts of repeated fields and
 * ranges of numbers are ours to check. One function per message type; each takes the dotted
 * path of the object it checks so errors name the field ("write.cmd.endpoint_add.mac: 5 bytes,
 * want 6"). Codes: a missing body/op/required sub-message is STRATA_EPROTO, a bad value is
 * STRATA_EINVAL, a count or string over its bound is STRATA_ETOOBIG. This file has the directory's
 * messages and the envelope; msg_validate_nodes.c the connectivity servers' and nodes'. */
#include <stdbool.h>
#include <string.h>

#include "addr.h"
#include "msg_validate_int.h"

/* ------------------------------------------------------------------ objects
 * `write` is true when the object is being created (a Command or a registration): then key
 * fields are required and endpoint MACs must be unicast. Objects in replies are checked for
 * shape only. */

static int v_domain(struct strata_err *e, const char *path, const Strata__V1__Domain *d, bool write)
{
    return mv_str(e, path, "name", d->name, write);
}

static int v_vnet(struct strata_err *e, const char *path, const Strata__V1__Vnet *v, bool write)
{
    TRY(mv_vni(e, path, "vni", v->vni, false));
    TRY(mv_str(e, path, "domain", v->domain, write));
    return mv_str(e, path, "name", v->name, false);
}

static int v_subnet(struct strata_err *e, const char *path, const Strata__V1__Subnet *s)
{
    TRY(mv_vni(e, path, "vni", s->vni, false));
    TRY(mv_ip(e, path, "prefix", &s->prefix, true));
    struct strata_cidr c;
    struct strata_err pe;
    if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &c, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.prefix: %s", path, pe.msg);
    TRY(mv_ip(e, path, "gateway", &s->gateway, false));
    if (s->gateway.len == 0)
        return 0;
    struct strata_ip gw;
    strata_ip_from_bytes(s->gateway.data, s->gateway.len, &gw, NULL);
    if (!strata_cidr_contains(&c, &gw)) {
        char gbuf[STRATA_IP_STRLEN], cbuf[STRATA_IP_STRLEN + 4];
        return strata_err_set(e, STRATA_EINVAL, "%s.gateway: %s is outside %s", path,
                              strata_ip_format(&gw, gbuf), strata_cidr_format(&c, cbuf));
    }
    return 0;
}

static int v_host(struct strata_err *e, const char *path, const Strata__V1__Host *h, bool write)
{
    TRY(mv_str(e, path, "id", h->id, write));
    TRY(write ? mv_vtep(e, path, &h->vtep) : mv_ip(e, path, "vtep", &h->vtep, false));
    return mv_str(e, path, "pod", h->pod, false);
}

static int v_gateway(struct strata_err *e, const char *path, const Strata__V1__Gateway *g,
                     bool write)
{
    TRY(mv_str(e, path, "id", g->id, write));
    TRY(write ? mv_vtep(e, path, &g->vtep) : mv_ip(e, path, "vtep", &g->vtep, false));
    TRY(mv_str(e, path, "csd", g->csd, false));
    return mv_vnis(e, path, "vnis", g->n_vnis, g->vnis);
}

static int v_gateway_live(struct strata_err *e, const char *path, const Strata__V1__GatewayLive *g)
{
    TRY(mv_str(e, path, "id", g->id, true));
    return mv_str(e, path, "csd", g->csd, true);
}

int mv_endpoint(struct strata_err *e, const char *path, const Strata__V1__Endpoint *ep, bool write)
{
    /* In replies an endpoint may carry only the key it answers for (an INVALIDATE of an IP
     * key has no MAC): unset fields pass there, but set ones must still be well-formed. */
    TRY(mv_vni(e, path, "vni", ep->vni, !write));
    TRY(mv_mac(e, path, "mac", &ep->mac, write, write));
    TRY(mv_ips(e, path, "ips", ep->n_ips, ep->ips, STRATA_MAX_IPS));
    TRY(mv_str(e, path, "host", ep->host, write));
    return mv_ip(e, path, "vtep", &ep->vtep, false);
}

static int v_policy(struct strata_err *e, const char *path, const Strata__V1__Policy *p, bool write)
{
    TRY(mv_str(e, path, "domain", p->domain, write));
    TRY(mv_vni(e, path, "from_vni", p->from_vni, false));
    TRY(mv_vni(e, path, "to_vni", p->to_vni, false));
    return mv_verdict(e, path, "verdict", p->verdict, write);
}

static int v_policy_delete(struct strata_err *e, const char *path,
                           const Strata__V1__PolicyDelete *p)
{
    TRY(mv_str(e, path, "domain", p->domain, true));
    TRY(mv_vni(e, path, "from_vni", p->from_vni, false));
    return mv_vni(e, path, "to_vni", p->to_vni, false);
}

static int v_member(struct strata_err *e, const char *path, const Strata__V1__Member *m)
{
    TRY(mv_str(e, path, "raft", m->raft, false));
    TRY(mv_str(e, path, "api", m->api, false));
    TRY(mv_str(e, path, "version", m->version, false));
    TRY(mv_str(e, path, "git", m->git, false));
    return mv_str(e, path, "role", m->role, false);
}

static int v_endpoint_move(struct strata_err *e, const char *path,
                           const Strata__V1__EndpointMove *m)
{
    TRY(mv_vni(e, path, "vni", m->vni, false));
    TRY(mv_mac(e, path, "mac", &m->mac, true, false));
    return mv_str(e, path, "host", m->host, true);
}

static int v_endpoint_delete(struct strata_err *e, const char *path,
                             const Strata__V1__EndpointDelete *d)
{
    TRY(mv_vni(e, path, "vni", d->vni, false));
    return mv_mac(e, path, "mac", &d->mac, true, false);
}

/* ------------------------------------------------------------------ directory writes */

static int v_command(struct strata_err *e, const char *path, const Strata__V1__Command *c)
{
    char pbuf[PATH_MAX_LEN];
    switch (c->op_case) {
    case STRATA__V1__COMMAND__OP_DOMAIN_CREATE:
        TRY(mv_present(e, path, "domain_create", c->domain_create));
        return v_domain(e, SUB("domain_create", -1), c->domain_create, true);
    case STRATA__V1__COMMAND__OP_VNET_CREATE:
        TRY(mv_present(e, path, "vnet_create", c->vnet_create));
        return v_vnet(e, SUB("vnet_create", -1), c->vnet_create, true);
    case STRATA__V1__COMMAND__OP_VNET_DELETE:
        TRY(mv_present(e, path, "vnet_delete", c->vnet_delete));
        return mv_vni(e, SUB("vnet_delete", -1), "vni", c->vnet_delete->vni, false);
    case STRATA__V1__COMMAND__OP_SUBNET_CREATE:
        TRY(mv_present(e, path, "subnet_create", c->subnet_create));
        return v_subnet(e, SUB("subnet_create", -1), c->subnet_create);
    case STRATA__V1__COMMAND__OP_HOST_ADD:
        TRY(mv_present(e, path, "host_add", c->host_add));
        return v_host(e, SUB("host_add", -1), c->host_add, true);
    case STRATA__V1__COMMAND__OP_GATEWAY_ADD:
        TRY(mv_present(e, path, "gateway_add", c->gateway_add));
        return v_gateway(e, SUB("gateway_add", -1), c->gateway_add, true);
    case STRATA__V1__COMMAND__OP_ENDPOINT_ADD:
        TRY(mv_present(e, path, "endpoint_add", c->endpoint_add));
        return mv_endpoint(e, SUB("endpoint_add", -1), c->endpoint_add, true);
    case STRATA__V1__COMMAND__OP_ENDPOINT_MOVE:
        TRY(mv_present(e, path, "endpoint_move", c->endpoint_move));
        return v_endpoint_move(e, SUB("endpoint_move", -1), c->endpoint_move);
    case STRATA__V1__COMMAND__OP_ENDPOINT_DELETE:
        TRY(mv_present(e, path, "endpoint_delete", c->endpoint_delete));
        return v_endpoint_delete(e, SUB("endpoint_delete", -1), c->endpoint_delete);
    case STRATA__V1__COMMAND__OP_POLICY_SET:
        TRY(mv_present(e, path, "policy_set", c->policy_set));
        return v_policy(e, SUB("policy_set", -1), c->policy_set, true);
    case STRATA__V1__COMMAND__OP_MEMBER_SET:
        TRY(mv_present(e, path, "member_set", c->member_set));
        TRY(mv_id(e, SUB("member_set", -1), "id", c->member_set->id));
        TRY(mv_raft_addr(e, pbuf, "raft", c->member_set->raft));
        return mv_str(e, pbuf, "api", c->member_set->api, false);
    case STRATA__V1__COMMAND__OP_MEMBER_DEL:
        TRY(mv_present(e, path, "member_del", c->member_del));
        return mv_id(e, SUB("member_del", -1), "id", c->member_del->id);
    case STRATA__V1__COMMAND__OP_GATEWAY_LIVE:
        TRY(mv_present(e, path, "gateway_live", c->gateway_live));
        return v_gateway_live(e, SUB("gateway_live", -1), c->gateway_live);
    case STRATA__V1__COMMAND__OP_GATEWAY_DELETE:
        TRY(mv_present(e, path, "gateway_delete", c->gateway_delete));
        return mv_str(e, SUB("gateway_delete", -1), "id", c->gateway_delete->id, true);
    case STRATA__V1__COMMAND__OP_POLICY_DELETE:
        TRY(mv_present(e, path, "policy_delete", c->policy_delete));
        return v_policy_delete(e, SUB("policy_delete", -1), c->policy_delete);
    case STRATA__V1__COMMAND__OP_HOST_DELETE:
        TRY(mv_present(e, path, "host_delete", c->host_delete));
        return mv_str(e, SUB("host_delete", -1), "id", c->host_delete->id, true);
    case STRATA__V1__COMMAND__OP_SUBNET_DELETE: {
        TRY(mv_present(e, path, "subnet_delete", c->subnet_delete));
        const Strata__V1__Subnet *s = c->subnet_delete;
        TRY(mv_vni(e, SUB("subnet_delete", -1), "vni", s->vni, false));
        TRY(mv_ip(e, SUB("subnet_delete", -1), "prefix", &s->prefix, true));
        if (s->plen > (s->prefix.len == 4 ? 32u : 128u))
            return strata_err_set(e, STRATA_EINVAL, "%s.subnet_delete.plen: %u", path, s->plen);
        return 0;
    }
    case STRATA__V1__COMMAND__OP_DOMAIN_DELETE:
        TRY(mv_present(e, path, "domain_delete", c->domain_delete));
        return mv_str(e, SUB("domain_delete", -1), "name", c->domain_delete->name, true);
    case STRATA__V1__COMMAND__OP__NOT_SET:
    default:
        return strata_err_set(e, STRATA_EPROTO, "%s: command has no operation", path);
    }
}

static int v_write(struct strata_err *e, const char *path, const Strata__V1__WriteRequest *w)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_present(e, path, "cmd", w->cmd));
    return v_command(e, SUB("cmd", -1), w->cmd);
}

static int v_write_reply(struct strata_err *e, const char *path, const Strata__V1__WriteReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->endpoint != NULL)
        TRY(mv_endpoint(e, SUB("endpoint", -1), r->endpoint, false));
    return 0;
}

static int v_write_batch(struct strata_err *e, const char *path,
                         const Strata__V1__WriteBatchRequest *w)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_count(e, path, "cmds", w->n_cmds, STRATA_MAX_BATCH));
    if (w->n_cmds == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.cmds: empty", path);
    for (size_t i = 0; i < w->n_cmds; i++) {
        TRY(mv_present(e, path, "cmds", w->cmds[i]));
        TRY(v_command(e, SUB("cmds", i), w->cmds[i]));
    }
    return 0;
}

static int v_write_result(struct strata_err *e, const char *path, const Strata__V1__WriteResult *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_str(e, path, "message", r->message, false));
    if (r->reply != NULL)
        TRY(v_write_reply(e, SUB("reply", -1), r->reply));
    return 0;
}

/* ------------------------------------------------------------------ directory reads */

static int v_list(struct strata_err *e, const char *path, const Strata__V1__ListRequest *l)
{
    TRY(mv_kind(e, path, "kind", l->kind, true));
    return mv_vni(e, path, "vni", l->vni, true);
}

static int v_list_reply(struct strata_err *e, const char *path, const Strata__V1__ListReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_domains, r->domains, "domains", STRATA_MAX_LIST, v_domain, false);
    V_LIST(r->n_vnets, r->vnets, "vnets", STRATA_MAX_LIST, v_vnet, false);
    V_LIST(r->n_subnets, r->subnets, "subnets", STRATA_MAX_LIST, v_subnet);
    V_LIST(r->n_hosts, r->hosts, "hosts", STRATA_MAX_LIST, v_host, false);
    V_LIST(r->n_gateways, r->gateways, "gateways", STRATA_MAX_LIST, v_gateway, false);
    V_LIST(r->n_endpoints, r->endpoints, "endpoints", STRATA_MAX_LIST, mv_endpoint, false);
    V_LIST(r->n_policies, r->policies, "policies", STRATA_MAX_LIST, v_policy, false);
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_resolve_query(struct strata_err *e, const char *path,
                           const Strata__V1__ResolveQuery *q)
{
    TRY(mv_vni(e, path, "vni", q->vni, false));
    TRY(mv_vni(e, path, "from_vni", q->from_vni, true));
    if ((q->ip.len > 0) == (q->mac.len > 0))
        return strata_err_set(e, STRATA_EINVAL, "%s: exactly one of ip and mac must be set", path);
    TRY(mv_ip(e, path, "ip", &q->ip, false));
    return mv_mac(e, path, "mac", &q->mac, false, false);
}

static int v_resolve(struct strata_err *e, const char *path, const Strata__V1__ResolveRequest *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_queries, r->queries, "queries", STRATA_MAX_BATCH, v_resolve_query);
    return 0;
}

static int v_resolve_answer(struct strata_err *e, const char *path,
                            const Strata__V1__ResolveAnswer *a)
{
    char pbuf[PATH_MAX_LEN];
    if (a->endpoint != NULL)
        TRY(mv_endpoint(e, SUB("endpoint", -1), a->endpoint, false));
    TRY(mv_verdict(e, path, "verdict", a->verdict, false));
    return mv_str(e, path, "message", a->message, false);
}

static int v_resolve_reply(struct strata_err *e, const char *path,
                           const Strata__V1__ResolveReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_answers, r->answers, "answers", STRATA_MAX_BATCH, v_resolve_answer);
    return mv_str(e, path, "tier", r->tier, false);
}

static int v_vn_info_reply(struct strata_err *e, const char *path, const Strata__V1__VnInfoReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->vnet != NULL)
        TRY(v_vnet(e, SUB("vnet", -1), r->vnet, false));
    V_LIST(r->n_subnets, r->subnets, "subnets", STRATA_MAX_LIST, v_subnet);
    V_LIST(r->n_gateways, r->gateways, "gateways", STRATA_MAX_LIST, v_gateway, false);
    V_LIST(r->n_policies, r->policies, "policies", STRATA_MAX_LIST, v_policy, false);
    return mv_ips(e, path, "flood_vteps", r->n_flood_vteps, r->flood_vteps, STRATA_MAX_LIST);
}

/* ------------------------------------------------------------------ change feed */

static int v_change(struct strata_err *e, const char *path, const Strata__V1__Change *c)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_kind(e, path, "kind", c->kind, false));
    if (c->domain != NULL)
        TRY(v_domain(e, SUB("domain", -1), c->domain, false));
    if (c->vnet != NULL)
        TRY(v_vnet(e, SUB("vnet", -1), c->vnet, false));
    if (c->subnet != NULL)
        TRY(v_subnet(e, SUB("subnet", -1), c->subnet));
    if (c->host != NULL)
        TRY(v_host(e, SUB("host", -1), c->host, false));
    if (c->gateway != NULL)
        TRY(v_gateway(e, SUB("gateway", -1), c->gateway, false));
    if (c->endpoint != NULL)
        TRY(mv_endpoint(e, SUB("endpoint", -1), c->endpoint, false));
    if (c->policy != NULL)
        TRY(v_policy(e, SUB("policy", -1), c->policy, false));
    return mv_ips(e, path, "flood_vteps", c->n_flood_vteps, c->flood_vteps, STRATA_MAX_LIST);
}

static int v_feed_reply(struct strata_err *e, const char *path, const Strata__V1__FeedReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_changes, r->changes, "changes", STRATA_MAX_LIST, v_change);
    return 0;
}

/* ------------------------------------------------------------------ cluster membership */

static int v_cluster_status_reply(struct strata_err *e, const char *path,
                                  const Strata__V1__ClusterStatusReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_str(e, path, "leader_api", r->leader_api, false));
    if (r->self != NULL)
        TRY(v_member(e, SUB("self", -1), r->self));
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_backup_reply(struct strata_err *e, const char *path, const Strata__V1__BackupReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->state_sha256.len != 0 && r->state_sha256.len != 32)
        return strata_err_set(e, STRATA_EINVAL, "%s.state_sha256: %zu bytes, want 32", path,
                              r->state_sha256.len);
    if (r->offset > r->total_bytes || r->data.len > r->total_bytes - r->offset)
        return strata_err_set(
            e, STRATA_EINVAL, "%s.data: %zu bytes at offset %llu pass the state's end (%llu bytes)",
            path, r->data.len, (unsigned long long)r->offset, (unsigned long long)r->total_bytes);
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_cluster_add(struct strata_err *e, const char *path, const Strata__V1__ClusterAdd *a)
{
    TRY(mv_id(e, path, "id", a->id));
    TRY(mv_raft_addr(e, path, "raft", a->raft));
    return mv_str(e, path, "api", a->api, false);
}

/* ------------------------------------------------------------------ envelope */

static int v_body(struct strata_err *e, const strata_env *env)
{
    /* The path starts at the body's field name, which is also its type name. */
    const char *path = strata_msg_type_name(env->body_case);
    char pbuf[PATH_MAX_LEN];
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_WRITE:
        return v_write(e, path, env->write);
    case STRATA__V1__ENVELOPE__BODY_WRITE_REPLY:
        return v_write_reply(e, path, env->write_reply);
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH:
        return v_write_batch(e, path, env->write_batch);
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY:
        V_LIST(env->write_batch_reply->n_results, env->write_batch_reply->results, "results",
               STRATA_MAX_BATCH, v_write_result);
        return 0;
    case STRATA__V1__ENVELOPE__BODY_LIST:
        return v_list(e, path, env->list);
    case STRATA__V1__ENVELOPE__BODY_LIST_REPLY:
        return v_list_reply(e, path, env->list_reply);
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        return v_resolve(e, path, env->resolve);
    case STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY:
        return v_resolve_reply(e, path, env->resolve_reply);
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        return mv_vni(e, path, "vni", env->vn_info->vni, false);
    case STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY:
        return v_vn_info_reply(e, path, env->vn_info_reply);
    case STRATA__V1__ENVELOPE__BODY_FEED_REPLY:
        return v_feed_reply(e, path, env->feed_reply);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY:
        return v_cluster_status_reply(e, path, env->cluster_status_reply);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD:
        return v_cluster_add(e, path, env->cluster_add);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE:
        return mv_id(e, path, "id", env->cluster_remove->id);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER:
        return mv_id(e, path, "id", env->cluster_transfer->id);
    case STRATA__V1__ENVELOPE__BODY_BACKUP_REPLY:
        return v_backup_reply(e, path, env->backup_reply);
    case STRATA__V1__ENVELOPE__BODY_HOST_REGISTER:
        return mv_host_register(e, path, env->host_register);
    case STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY:
        return mv_vnis(e, path, "vnis", env->host_register_reply->n_vnis,
                       env->host_register_reply->vnis);
    case STRATA__V1__ENVELOPE__BODY_PORT_REGISTER:
        TRY(mv_present(e, path, "endpoint", env->port_register->endpoint));
        return mv_endpoint(e, SUB("endpoint", -1), env->port_register->endpoint, true);
    case STRATA__V1__ENVELOPE__BODY_PORT_MOVE:
        TRY(mv_present(e, path, "move", env->port_move->move));
        return v_endpoint_move(e, SUB("move", -1), env->port_move->move);
    case STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER:
        TRY(mv_present(e, path, "del", env->port_unregister->del));
        return v_endpoint_delete(e, SUB("del", -1), env->port_unregister->del);
    case STRATA__V1__ENVELOPE__BODY_UPDATES:
        return mv_str(e, path, "host", env->updates->host, false);
    case STRATA__V1__ENVELOPE__BODY_UPDATES_REPLY:
        return mv_updates_reply(e, path, env->updates_reply);
    case STRATA__V1__ENVELOPE__BODY_PORT_ATTACH:
        return mv_port_attach(e, path, env->port_attach);
    case STRATA__V1__ENVELOPE__BODY_PORT_DETACH:
        return mv_ifname(e, path, env->port_detach->ifname);
    case STRATA__V1__ENVELOPE__BODY_PORT_REPLY:
        return mv_str(e, path, "detail", env->port_reply->detail, false);
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY:
        return mv_cache_show_reply(e, path, env->cache_show_reply);
    case STRATA__V1__ENVELOPE__BODY_TRACE:
        return mv_trace(e, path, env->trace);
    case STRATA__V1__ENVELOPE__BODY_TRACE_REPLY:
        return mv_trace_reply(e, path, env->trace_reply);
    case STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED_REPLY:
        return mv_wait_applied_reply(e, path, env->wait_applied_reply);
    case STRATA__V1__ENVELOPE__BODY_AUDIT_REPORT:
        return mv_audit_report(e, path, env->audit_report);
    case STRATA__V1__ENVELOPE__BODY_AUDIT_REPLY:
        return mv_audit_reply(e, path, env->audit_reply);
    /* Bodies with nothing to bound: numbers of any value are acceptable. */
    case STRATA__V1__ENVELOPE__BODY_FEED:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REPLY:
    case STRATA__V1__ENVELOPE__BODY_BACKUP:
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW:
    case STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED:
    case STRATA__V1__ENVELOPE__BODY_AUDIT:
    case STRATA__V1__ENVELOPE__BODY_EMPTY:
        return 0;
    case STRATA__V1__ENVELOPE__BODY__NOT_SET:
        return strata_err_set(e, STRATA_EPROTO, "message has no body");
    default: /* only reachable for a hand-built envelope: decoding never sets unknown cases */
        return strata_err_set(e, STRATA_EPROTO, "unknown body case %d", (int)env->body_case);
    }
}

int strata_msg_validate(const strata_env *env, struct strata_err *e)
{
    if (env == NULL)
        return strata_err_set(e, STRATA_EPROTO, "no message");
    TRY(mv_str(e, "envelope", "message", env->message, false));
    TRY(mv_str(e, "envelope", "identity", env->identity, false));
    /* An error reply needs no body: refusing it would turn the peer's real error into ours. */
    if (env->body_case == STRATA__V1__ENVELOPE__BODY__NOT_SET && env->status < 0)
        return 0;
    if (env->body_case != STRATA__V1__ENVELOPE__BODY__NOT_SET && env->write == NULL)
        return strata_err_set(e, STRATA_EPROTO, "%s: body missing",
                              strata_msg_type_name(env->body_case));
    return v_body(e, env);
}

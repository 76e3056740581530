/* dir_fsm_query.c - read side of the FSM: lookups, verdicts, resolve, lists, VN info, counts. */
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"

#define DIR_FSM_NEGATIVE_TTL_MS 2000

const Strata__V1__Endpoint *dir_fsm_endpoint_by_mac(const struct dir_fsm *f, uint32_t vni,
                                                    const uint8_t mac[6])
{
    struct dir_key k;
    dir_key_mac(&k, vni, mac);
    return dir_map_get(&f->eps_mac, k.b, k.len);
}

const Strata__V1__Endpoint *dir_fsm_endpoint_by_ip(const struct dir_fsm *f, uint32_t vni,
                                                   const struct strata_ip *ip)
{
    struct dir_key k;
    dir_key_ip(&k, vni, ip);
    return dir_map_get(&f->eps_ip, k.b, k.len);
}

const Strata__V1__Vnet *dir_fsm_vnet(const struct dir_fsm *f, uint32_t vni)
{
    const struct dir_vn *vn = dir_vn_get(f, vni);
    return vn ? vn->obj : NULL;
}

const Strata__V1__Host *dir_fsm_host(const struct dir_fsm *f, const char *id)
{
    id = dir_str(id);
    const struct dir_holder *h = dir_map_get(&f->hosts, id, strlen(id));
    return h ? h->host : NULL;
}

const Strata__V1__Gateway *dir_fsm_gateway(const struct dir_fsm *f, const char *id)
{
    id = dir_str(id);
    const struct dir_holder *h = dir_map_get(&f->gateways, id, strlen(id));
    return h ? h->gw : NULL;
}

const Strata__V1__Member *dir_fsm_member(const struct dir_fsm *f, uint64_t id)
{
    struct dir_key k;
    dir_key_u64(&k, id, 0);
    return dir_map_get(&f->members, k.b, k.len);
}

Strata__V1__Verdict dir_fsm_verdict(const struct dir_fsm *f, uint32_t from_vni, uint32_t to_vni)
{
    if (from_vni == to_vni)
        return STRATA__V1__VERDICT__VERDICT_ALLOW;
    const struct dir_vn *from = dir_vn_get(f, from_vni), *to = dir_vn_get(f, to_vni);
    if (!from || !to)
        return STRATA__V1__VERDICT__VERDICT_UNKNOWN;
    if (strcmp(from->obj->domain, to->obj->domain) != 0)
        return STRATA__V1__VERDICT__VERDICT_DENY;
    struct dir_key k;
    dir_key_pair(&k, from_vni, to_vni);
    const Strata__V1__Policy *p = dir_map_get(&f->policies, k.b, k.len);
    return p ? p->verdict : STRATA__V1__VERDICT__VERDICT_DENY;
}

void dir_fsm_resolve(const struct dir_fsm *f, const Strata__V1__ResolveQuery *q,
                     Strata__V1__ResolveAnswer *ans)
{
    strata__v1__resolve_answer__init(ans);
    /* Messages are constants: the answer borrows them and the caller frees nothing. */
    if (!dir_vn_get(f, q->vni)) {
        ans->status = STRATA_ENOTFOUND;
        ans->message = "unknown VNI";
        return;
    }
    const Strata__V1__Endpoint *ep = NULL;
    if (q->ip.len) {
        struct strata_ip ip;
        if (strata_ip_from_bytes(q->ip.data, q->ip.len, &ip, NULL) != 0) {
            ans->status = STRATA_EINVAL;
            ans->message = "an IP address is 4 or 16 bytes";
            return;
        }
        ep = dir_fsm_endpoint_by_ip(f, q->vni, &ip);
    } else if (q->mac.len == 6) {
        ep = dir_fsm_endpoint_by_mac(f, q->vni, q->mac.data);
    } else {
        ans->status = STRATA_EINVAL;
        ans->message = "a query needs an IP address or a 6-byte MAC";
        return;
    }
    ans->verdict = dir_fsm_verdict(f, q->from_vni ? q->from_vni : q->vni, q->vni);
    if (ep) {
        ans->found = true;
        ans->endpoint = (Strata__V1__Endpoint *)ep;
        ans->version = ep->version;
    } else {
        ans->version = f->applied;
        ans->negative_ttl_ms = DIR_FSM_NEGATIVE_TTL_MS;
    }
}

int dir_fsm_list(const struct dir_fsm *f, Strata__V1__ObjKind kind, uint32_t vni,
                 Strata__V1__ListReply *out)
{
    strata__v1__list_reply__init(out);
    out->applied_index = f->applied;
    if (vni &&
        (kind == STRATA__V1__OBJ_KIND__OBJ_ENDPOINT || kind == STRATA__V1__OBJ_KIND__OBJ_SUBNET) &&
        !dir_vn_get(f, vni))
        return STRATA_ENOTFOUND;
    switch (kind) {
    case STRATA__V1__OBJ_KIND__OBJ_DOMAIN:
        out->domains = dir_sorted_domains(f, &out->n_domains);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_VNET:
        out->vnets = dir_sorted_vnets(f, &out->n_vnets);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_SUBNET:
        out->subnets = dir_sorted_subnets(f, vni, &out->n_subnets);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_HOST:
        out->hosts = dir_sorted_hosts(f, &out->n_hosts);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_GATEWAY:
        out->gateways = dir_sorted_gateways(f, 0, &out->n_gateways);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_ENDPOINT:
        out->endpoints = dir_sorted_endpoints(f, vni, &out->n_endpoints);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_POLICY:
        out->policies = dir_sorted_policies(f, &out->n_policies);
        return 0;
    case STRATA__V1__OBJ_KIND__OBJ_MEMBER:
        out->members = dir_sorted_members(f, &out->n_members);
        return 0;
    default:
        return STRATA_EINVAL;
    }
}

void dir_fsm_list_release(Strata__V1__ListReply *out)
{
    free(out->domains);
    free(out->vnets);
    free(out->subnets);
    free(out->hosts);
    free(out->gateways);
    free(out->endpoints);
    free(out->policies);
    free(out->members);
    strata__v1__list_reply__init(out);
}

int dir_fsm_vn_info(const struct dir_fsm *f, uint32_t vni, Strata__V1__VnInfoReply *out)
{
    strata__v1__vn_info_reply__init(out);
    out->applied_index = f->applied;
    const struct dir_vn *vn = dir_vn_get(f, vni);
    if (!vn)
        return STRATA_ENOTFOUND;
    out->vnet = vn->obj;
    out->n_subnets = vn->nsubnets;
    out->subnets = dir_xmalloc((vn->nsubnets + 1) * sizeof(*out->subnets));
    if (vn->nsubnets)
        memcpy(out->subnets, vn->subnets, vn->nsubnets * sizeof(*out->subnets));
    out->gateways = dir_sorted_gateways(f, vni, &out->n_gateways);
    /* the policies a gateway serving the VN enforces: those naming it at either end */
    out->policies = dir_xmalloc((f->policies.n + 1) * sizeof(*out->policies));
    struct dir_map_iter it = {0};
    Strata__V1__Policy *p;
    while ((p = dir_map_next(&f->policies, &it)))
        if (p->from_vni == vni || p->to_vni == vni)
            out->policies[out->n_policies++] = p;
    qsort(out->policies, out->n_policies, sizeof(*out->policies), dir_policy_qcmp);
    out->n_flood_vteps = vn->nflood;
    out->flood_vteps = dir_xmalloc((vn->nflood + 1) * sizeof(*out->flood_vteps));
    if (vn->nflood)
        memcpy(out->flood_vteps, vn->flood, vn->nflood * sizeof(*out->flood_vteps));
    return 0;
}

void dir_fsm_vn_info_release(Strata__V1__VnInfoReply *out)
{
    free(out->subnets);
    free(out->gateways);
    free(out->policies);
    free(out->flood_vteps);
    strata__v1__vn_info_reply__init(out);
}

size_t dir_fsm_count(const struct dir_fsm *f, Strata__V1__ObjKind kind)
{
    switch (kind) {
    case STRATA__V1__OBJ_KIND__OBJ_DOMAIN:
        return f->domains.n;
    case STRATA__V1__OBJ_KIND__OBJ_VNET:
        return f->vns.n;
    case STRATA__V1__OBJ_KIND__OBJ_SUBNET:
        return f->nsubnets;
    case STRATA__V1__OBJ_KIND__OBJ_HOST:
        return f->hosts.n;
    case STRATA__V1__OBJ_KIND__OBJ_GATEWAY:
        return f->gateways.n;
    case STRATA__V1__OBJ_KIND__OBJ_ENDPOINT:
        return f->eps_mac.n;
    case STRATA__V1__OBJ_KIND__OBJ_POLICY:
        return f->policies.n;
    case STRATA__V1__OBJ_KIND__OBJ_MEMBER:
        return f->members.n;
    default:
        return 0;
    }
}

size_t dir_fsm_gateways_live(const struct dir_fsm *f)
{
    size_t n = 0;
    struct dir_map_iter it = {0};
    const struct dir_holder *h;
    while ((h = dir_map_next(&f->gateways, &it)) != NULL)
        n += h->gw->live ? 1 : 0;
    return n;
}

size_t dir_fsm_objects(const struct dir_fsm *f)
{
    size_t n = 0;
    for (int k = STRATA__V1__OBJ_KIND__OBJ_DOMAIN; k <= STRATA__V1__OBJ_KIND__OBJ_POLICY; k++)
        n += dir_fsm_count(f, (Strata__V1__ObjKind)k);
    return n;
}

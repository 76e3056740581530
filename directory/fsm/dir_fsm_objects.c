/* dir_fsm_objects.c - commands on domains, VNs, subnets, hosts, gateways, policies, members. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"

static int name_check(const char *s, const char *what, struct dir_result *res)
{
    struct strata_err e = {0};
    if (strata_name_check(dir_str(s), what, &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "%s", e.msg);
    return 0;
}

/* ------------------------------------------------------------------------------- domains */

int dir_op_domain_create(struct dir_fsm *f, const Strata__V1__Domain *m, struct dir_result *res)
{
    if (name_check(m->name, "domain", res))
        return res->status;
    if (dir_map_get(&f->domains, m->name, strlen(m->name)))
        return dir_fail(res, STRATA_EEXIST, "domain %s already exists", m->name);
    Strata__V1__Domain t = *m;
    t.version = f->cur_index;
    Strata__V1__Domain *d = dir_obj_dup(f, &t);
    dir_map_put(&f->domains, d->name, strlen(d->name), d);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN, false, d);
    return 0;
}

int dir_op_domain_delete(struct dir_fsm *f, const Strata__V1__DomainDelete *m,
                         struct dir_result *res)
{
    Strata__V1__Domain *d = dir_map_get(&f->domains, m->name, strlen(m->name));
    if (!d)
        return dir_fail(res, STRATA_ENOTFOUND, "no domain %s", m->name);
    size_t n = 0;
    uint32_t first = 0;
    struct dir_map_iter it = {0};
    struct dir_vn *vn;
    while ((vn = dir_map_next(&f->vns, &it)))
        if (strcmp(vn->obj->domain, m->name) == 0 && (n++ == 0 || vn->obj->vni < first))
            first = vn->obj->vni;
    if (n)
        return dir_fail(res, STRATA_ECONFLICT,
                        "domain %s still has %zu VN%s (VNI %u%s): delete them first (vnet delete)",
                        m->name, n, n == 1 ? "" : "s", first, n > 1 ? ", ..." : "");
    dir_map_del(&f->domains, d->name, strlen(d->name));
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_DOMAIN, true, d);
    dir_obj_free(f, d);
    return 0;
}

/* ------------------------------------------------------------------------------- VNs */

int dir_op_vnet_create(struct dir_fsm *f, const Strata__V1__Vnet *m, struct dir_result *res)
{
    if (!strata_vni_valid(m->vni))
        return dir_fail(res, STRATA_EINVAL, "VNI %u is out of range [%u, %u]", m->vni,
                        STRATA_VNI_MIN, STRATA_VNI_MAX);
    if (name_check(m->domain, "domain", res))
        return res->status;
    if (!dir_map_get(&f->domains, m->domain, strlen(m->domain)))
        return dir_fail(res, STRATA_ENOTFOUND, "unknown domain %s", m->domain);
    if (m->name && *m->name && name_check(m->name, "VN name", res))
        return res->status;
    const struct dir_vn *other = dir_vn_get(f, m->vni);
    if (other)
        return dir_fail(res, STRATA_EEXIST, "VNI %u already exists (domain %s)", m->vni,
                        other->obj->domain);
    Strata__V1__Vnet t = *m;
    t.version = f->cur_index;
    struct dir_vn *vn = dir_xcalloc(1, sizeof(*vn));
    vn->obj = dir_obj_dup(f, &t);
    struct dir_key k;
    dir_key_vni(&k, m->vni);
    dir_map_put(&f->vns, k.b, k.len, vn);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_VNET, false, vn->obj);
    dir_touch(f, m->vni); /* gateways cannot serve it yet, but stay general */
    return 0;
}

/* What a VN's deletion took with it, for the operator (the write reply's note): names while
 * they fit in res->msg, counts otherwise. */
struct vn_gone {
    char names[4][160]; /* subnets, policies, gateways no longer serving it, gateway endpoint */
    size_t n[4];
    bool cut; /* a name did not fit: counts only */
};

static void vn_gone_add(struct vn_gone *g, int kind, const char *name)
{
    size_t len = strlen(g->names[kind]), room = sizeof(g->names[kind]) - len;
    if ((size_t)snprintf(g->names[kind] + len, room, "%s%s", g->n[kind] ? ", " : "", name) >= room)
        g->cut = true;
    g->n[kind]++;
}

/* One part of the note: "subnets 10.1.0.0/24, fd00:1::/64", "gw1 no longer serves it", or with
 * counts only, "2 subnets", "2 gateways no longer serve it". */
static size_t vn_gone_part(const struct vn_gone *g, int k, bool counts, char *buf, size_t cap)
{
    static const char *const what[3][2] = {
        {"subnet", "subnets"}, {"policy", "policies"}, {"gateway", "gateways"}};
    bool many = g->n[k] != 1;
    if (k == 3)
        return (size_t)snprintf(buf, cap, "the VN's gateway endpoint");
    if (k == 2 && !counts)
        return (size_t)snprintf(buf, cap, "%s no longer serve%s it", g->names[k], many ? "" : "s");
    if (k == 2)
        return (size_t)snprintf(buf, cap, "%zu %s no longer serve%s it", g->n[k], what[k][many],
                                many ? "" : "s");
    if (!counts)
        return (size_t)snprintf(buf, cap, "%s %s", what[k][many], g->names[k]);
    return (size_t)snprintf(buf, cap, "%zu %s", g->n[k], what[k][many]);
}

static void vn_gone_note(const struct vn_gone *g, struct dir_result *res)
{
    for (int counts = g->cut; counts < 2; counts++) {
        size_t len = (size_t)snprintf(res->msg, sizeof(res->msg), "with it:");
        for (int k = 0; k < 4 && len < sizeof(res->msg); k++) {
            if (!g->n[k])
                continue;
            if (len > strlen("with it:"))
                len += (size_t)snprintf(res->msg + len, sizeof(res->msg) - len, ";");
            if (len < sizeof(res->msg))
                len += (size_t)snprintf(res->msg + len, sizeof(res->msg) - len, " ");
            if (len < sizeof(res->msg))
                len += vn_gone_part(g, k, counts, res->msg + len, sizeof(res->msg) - len);
        }
        if (len == strlen("with it:"))
            snprintf(res->msg, sizeof(res->msg), "nothing else went with it");
        if (len < sizeof(res->msg))
            return;
    }
}

int dir_op_vnet_delete(struct dir_fsm *f, const Strata__V1__VnetDelete *m, struct dir_result *res)
{
    struct dir_vn *vn = dir_vn_get(f, m->vni);
    if (!vn)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    /* The gateway endpoint is the directory's own: it goes with the VN. */
    Strata__V1__Endpoint *gwep = (Strata__V1__Endpoint *)dir_gw_endpoint(f, m->vni);
    size_t neps = vn->nendpoints - (gwep != NULL);
    if (neps)
        return dir_fail(res, STRATA_ECONFLICT, "VNI %u still has %zu endpoint%s", m->vni, neps,
                        neps == 1 ? "" : "s");
    struct vn_gone gone = {0};
    if (gwep) {
        dir_ep_remove(f, gwep);
        vn_gone_add(&gone, 3, "");
    }
    /* Its subnets go with it. */
    for (size_t i = 0; i < vn->nsubnets; i++) {
        struct strata_cidr c;
        char cs[STRATA_IP_STRLEN + 4] = "?";
        const Strata__V1__Subnet *sn = vn->subnets[i];
        if (strata_cidr_from_bytes(sn->prefix.data, sn->prefix.len, sn->plen, &c, NULL) == 0)
            strata_cidr_format(&c, cs);
        vn_gone_add(&gone, 0, cs);
        dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_SUBNET, true, vn->subnets[i]);
    }
    f->nsubnets -= vn->nsubnets;
    /* Policies naming it, in key order. */
    size_t np = 0;
    Strata__V1__Policy **pv = dir_xmalloc((f->policies.n + 1) * sizeof(*pv));
    struct dir_map_iter it = {0};
    Strata__V1__Policy *p;
    while ((p = dir_map_next(&f->policies, &it)))
        if (p->from_vni == m->vni || p->to_vni == m->vni)
            pv[np++] = p;
    qsort(pv, np, sizeof(*pv), dir_policy_qcmp);
    for (size_t i = 0; i < np; i++) {
        struct dir_key k;
        dir_key_pair(&k, pv[i]->from_vni, pv[i]->to_vni);
        char name[32];
        snprintf(name, sizeof(name), "%u->%u", pv[i]->from_vni, pv[i]->to_vni);
        vn_gone_add(&gone, 1, name);
        dir_map_del(&f->policies, k.b, k.len);
        dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_POLICY, true, pv[i]);
        dir_obj_free(f, pv[i]);
    }
    free(pv);
    /* Gateways stop serving it. */
    size_t ng;
    Strata__V1__Gateway **gv = dir_sorted_gateways(f, m->vni, &ng);
    for (size_t i = 0; i < ng; i++) {
        struct dir_holder *h = dir_holder_get(f, gv[i]->id);
        vn_gone_add(&gone, 2, gv[i]->id);
        Strata__V1__Gateway t = *gv[i];
        uint32_t vnis[DIR_FSM_MAX_GW_VNIS];
        t.n_vnis = 0;
        t.vnis = vnis;
        for (size_t j = 0; j < gv[i]->n_vnis; j++)
            if (gv[i]->vnis[j] != m->vni)
                vnis[t.n_vnis++] = gv[i]->vnis[j];
        t.version = f->cur_index;
        h->gw = dir_obj_dup(f, &t);
        dir_obj_free(f, gv[i]);
        dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, false, h->gw);
    }
    free(gv);
    struct dir_key k;
    dir_key_vni(&k, m->vni);
    dir_map_del(&f->vns, k.b, k.len);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_VNET, true, vn->obj);
    dir_vn_free(f, vn);
    vn_gone_note(&gone, res);
    return 0;
}

/* ------------------------------------------------------------------------------- subnets */

static int cidr_cmp(const struct strata_cidr *a, const struct strata_cidr *b)
{
    int c = dir_ip_cmp(&a->ip, &b->ip);
    return c ? c : (a->plen > b->plen) - (a->plen < b->plen);
}

/* A subnet's gateway address must be one a host can answer for, and the directory's to give:
 * not the network address (IPv4, and IPv6's subnet-router anycast) nor the IPv4 broadcast
 * address, except on point-to-point prefixes (/31, /32, /127, /128) that have neither; not an
 * address an endpoint of the VN already holds; and one VN has at most STRATA_MAX_IPS of them
 * (they are one endpoint's addresses). */
static int subnet_gateway_check(const struct dir_fsm *f, const struct dir_vn *vn,
                                const struct strata_cidr *c, const struct strata_ip *gw,
                                struct dir_result *res)
{
    char a[STRATA_IP_STRLEN], b[STRATA_IP_STRLEN + 4], macs[STRATA_MAC_STRLEN];
    const char *reserved = strata_cidr_reserved(c, gw);
    if (reserved)
        return dir_fail(res, STRATA_EINVAL, "gateway %s is %s of %s: pick a host address",
                        strata_ip_format(gw, a), reserved, strata_cidr_format(c, b));
    const Strata__V1__Endpoint *owner = dir_fsm_endpoint_by_ip(f, vn->obj->vni, gw);
    if (owner)
        return dir_fail(res, STRATA_ECONFLICT,
                        "gateway %s already belongs to endpoint %s (host %s) in VNI %u",
                        strata_ip_format(gw, a), strata_mac_format(owner->mac.data, macs),
                        dir_str(owner->host), vn->obj->vni);
    if (dir_gw_naddrs(vn) >= (size_t)STRATA_MAX_IPS)
        return dir_fail(res, STRATA_EINVAL,
                        "VNI %u already has %d gateway addresses, the most one VN may have",
                        vn->obj->vni, STRATA_MAX_IPS);
    return 0;
}

int dir_op_subnet_create(struct dir_fsm *f, const Strata__V1__Subnet *m, struct dir_result *res)
{
    struct dir_vn *vn = dir_vn_get(f, m->vni);
    struct strata_cidr c, o;
    struct strata_err e = {0};
    char a[STRATA_IP_STRLEN + 4], b[STRATA_IP_STRLEN + 4];
    if (!vn)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    if (strata_cidr_from_bytes(m->prefix.data, m->prefix.len, m->plen, &c, &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "subnet: %s", e.msg);
    if (m->gateway.len) {
        struct strata_ip gw;
        if (strata_ip_from_bytes(m->gateway.data, m->gateway.len, &gw, &e) != 0)
            return dir_fail(res, STRATA_EINVAL, "subnet gateway: %s", e.msg);
        if (!strata_cidr_contains(&c, &gw))
            return dir_fail(res, STRATA_EINVAL, "gateway %s is outside %s",
                            strata_ip_format(&gw, a), strata_cidr_format(&c, b));
    }
    if (m->gateway.len && !f->restoring) {
        struct strata_ip gw;
        strata_ip_from_bytes(m->gateway.data, m->gateway.len, &gw, NULL);
        int rc = subnet_gateway_check(f, vn, &c, &gw, res);
        if (rc)
            return rc;
    }
    size_t pos = vn->nsubnets;
    for (size_t i = 0; i < vn->nsubnets; i++) {
        const Strata__V1__Subnet *s = vn->subnets[i];
        if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &o, NULL) != 0)
            continue;
        if (o.ip.family == c.ip.family &&
            (strata_cidr_contains(&o, &c.ip) || strata_cidr_contains(&c, &o.ip)))
            return dir_fail(res, STRATA_ECONFLICT, "%s overlaps %s in VNI %u",
                            strata_cidr_format(&c, a), strata_cidr_format(&o, b), m->vni);
        if (pos == vn->nsubnets && cidr_cmp(&c, &o) < 0)
            pos = i;
    }
    Strata__V1__Subnet t = *m;
    t.version = f->cur_index;
    vn->subnets = dir_xrealloc(vn->subnets, (vn->nsubnets + 1) * sizeof(*vn->subnets));
    memmove(&vn->subnets[pos + 1], &vn->subnets[pos], (vn->nsubnets - pos) * sizeof(*vn->subnets));
    vn->subnets[pos] = dir_obj_dup(f, &t);
    vn->nsubnets++;
    f->nsubnets++;
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_SUBNET, false, vn->subnets[pos]);
    if (m->gateway.len)
        dir_gw_touch(f, m->vni);
    return 0;
}

int dir_op_subnet_delete(struct dir_fsm *f, const Strata__V1__Subnet *m, struct dir_result *res)
{
    struct dir_vn *vn = dir_vn_get(f, m->vni);
    struct strata_cidr c, o;
    struct strata_err e = {0};
    char a[STRATA_IP_STRLEN + 4], b[STRATA_IP_STRLEN], macs[STRATA_MAC_STRLEN];
    if (!vn)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    if (strata_cidr_from_bytes(m->prefix.data, m->prefix.len, m->plen, &c, &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "subnet: %s", e.msg);
    size_t i = 0;
    for (; i < vn->nsubnets; i++) {
        const Strata__V1__Subnet *s = vn->subnets[i];
        if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &o, NULL) == 0 &&
            o.plen == c.plen && strata_ip_equal(&o.ip, &c.ip))
            break;
    }
    if (i == vn->nsubnets)
        return dir_fail(res, STRATA_ENOTFOUND, "VNI %u has no subnet %s", m->vni,
                        strata_cidr_format(&c, a));
    /* In use while an endpoint has an address in it; the gateway addresses are the
     * directory's own and follow (dir_gw_touch). */
    const Strata__V1__Endpoint *gwep = dir_gw_endpoint(f, m->vni);
    struct dir_map_iter it = {0};
    Strata__V1__Endpoint *ep;
    while ((ep = dir_map_next(&f->eps_mac, &it))) {
        if (ep->vni != m->vni || ep == gwep)
            continue;
        for (size_t k = 0; k < ep->n_ips; k++) {
            struct strata_ip ip;
            if (strata_ip_from_bytes(ep->ips[k].data, ep->ips[k].len, &ip, NULL) == 0 &&
                strata_cidr_contains(&c, &ip))
                return dir_fail(res, STRATA_ECONFLICT,
                                "subnet %s of VNI %u is in use: endpoint %s has %s",
                                strata_cidr_format(&c, a), m->vni,
                                strata_mac_format(ep->mac.data, macs), strata_ip_format(&ip, b));
        }
    }
    Strata__V1__Subnet *s = vn->subnets[i];
    memmove(&vn->subnets[i], &vn->subnets[i + 1], (vn->nsubnets - i - 1) * sizeof(*vn->subnets));
    vn->nsubnets--;
    f->nsubnets--;
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_SUBNET, true, s);
    if (s->gateway.len)
        dir_gw_touch(f, m->vni);
    dir_obj_free(f, s);
    return 0;
}

/* ------------------------------------------------------------------------------- hosts, gateways
 */

/* Checks shared by hosts and gateways: id, VTEP, and that neither clashes with the other kind. */
static int holder_check(const struct dir_fsm *f, const char *id, const ProtobufCBinaryData *vtep,
                        bool gateway, struct strata_ip *ip, struct dir_result *res)
{
    struct strata_err e = {0};
    char a[STRATA_IP_STRLEN];
    const char *what = gateway ? "gateway" : "host";
    if (name_check(id, gateway ? "gateway id" : "host id", res))
        return res->status;
    if (strata_ip_from_bytes(vtep->data, vtep->len, ip, &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "%s %s VTEP: %s", what, id, e.msg);
    static const uint8_t zero[16];
    if (memcmp(ip->a, zero, strata_ip_len(ip)) == 0)
        return dir_fail(res, STRATA_EINVAL, "%s %s VTEP %s is unspecified", what, id,
                        strata_ip_format(ip, a));
    const struct dir_map *others = gateway ? &f->hosts : &f->gateways;
    if (dir_map_get(others, id, strlen(id)))
        return dir_fail(res, STRATA_EEXIST, "%s is already a %s", id, gateway ? "host" : "gateway");
    struct dir_key k;
    dir_key_vtep(&k, ip);
    const struct dir_holder *owner = dir_map_get(&f->vteps, k.b, k.len);
    if (owner) {
        const char *oid = owner->host ? owner->host->id : owner->gw->id;
        if (strcmp(oid, id) != 0 || (owner->gw != NULL) != gateway)
            return dir_fail(res, STRATA_ECONFLICT, "VTEP %s already belongs to %s %s",
                            strata_ip_format(ip, a), owner->host ? "host" : "gateway", oid);
    }
    return 0;
}

/* Record the holder (new or updated) and its VTEP; re-point its endpoints on a re-IP. */
static void holder_store(struct dir_fsm *f, struct dir_map *m, const char *id, struct dir_holder *h,
                         const struct strata_ip *ip)
{
    struct dir_key k;
    bool moved = (h->host || h->gw) && dir_ip_cmp(&h->vtep, ip) != 0; /* not when new */
    if (moved) {
        dir_key_vtep(&k, &h->vtep);
        dir_map_del(&f->vteps, k.b, k.len);
    }
    h->vtep = *ip;
    dir_key_vtep(&k, ip);
    dir_map_put(&f->vteps, k.b, k.len, h);
    dir_map_put(m, id, strlen(id), h);
    if (moved)
        dir_ep_repoint(f, id, ip);
}

int dir_op_host_add(struct dir_fsm *f, const Strata__V1__Host *m, struct dir_result *res)
{
    struct strata_ip ip;
    if (holder_check(f, m->id, &m->vtep, false, &ip, res) || name_check(m->pod, "pod", res))
        return res->status;
    struct dir_holder *h = dir_map_get(&f->hosts, m->id, strlen(m->id));
    if (h && strata_ip_equal(&h->vtep, &ip) && strcmp(h->host->pod, m->pod) == 0)
        return 0; /* a re-registration that changes nothing */
    if (h && f->create_only) {
        char a[STRATA_IP_STRLEN];
        return dir_fail(res, STRATA_EEXIST,
                        "host %s exists (VTEP %s, pod %s): replacing it moves its endpoints; "
                        "say so with --replace",
                        m->id, strata_ip_format(&h->vtep, a), h->host->pod);
    }
    Strata__V1__Host t = *m;
    t.version = f->cur_index;
    Strata__V1__Host *obj = dir_obj_dup(f, &t);
    if (!h)
        h = dir_xcalloc(1, sizeof(*h));
    Strata__V1__Host *old = h->host;
    /* The host change goes out before the endpoint changes it causes. */
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_HOST, false, obj);
    holder_store(f, &f->hosts, obj->id, h, &ip);
    h->host = obj;
    dir_obj_free(f, old);
    return 0;
}

int dir_op_host_delete(struct dir_fsm *f, const Strata__V1__HostDelete *m, struct dir_result *res)
{
    struct dir_holder *h = dir_map_get(&f->hosts, m->id, strlen(m->id));
    if (!h)
        return dir_fail(res, STRATA_ENOTFOUND, "no host %s", m->id);
    if (h->nendpoints)
        return dir_fail(res, STRATA_ECONFLICT,
                        "host %s still holds %zu endpoint%s: move or delete them first", m->id,
                        h->nendpoints, h->nendpoints == 1 ? "" : "s");
    struct dir_key k;
    dir_key_vtep(&k, &h->vtep);
    dir_map_del(&f->vteps, k.b, k.len);
    dir_map_del(&f->hosts, h->host->id, strlen(h->host->id));
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_HOST, true, h->host);
    dir_obj_free(f, h->host);
    free(h);
    return 0;
}

int dir_op_gateway_add(struct dir_fsm *f, const Strata__V1__Gateway *m, struct dir_result *res)
{
    struct strata_ip ip;
    if (holder_check(f, m->id, &m->vtep, true, &ip, res))
        return res->status;
    if (m->n_vnis > DIR_FSM_MAX_GW_VNIS)
        return dir_fail(res, STRATA_EINVAL, "gateway %s serves too many VNs (%zu, at most %d)",
                        m->id, m->n_vnis, DIR_FSM_MAX_GW_VNIS);
    uint32_t vnis[DIR_FSM_MAX_GW_VNIS];
    size_t n = 0;
    for (size_t i = 0; i < m->n_vnis; i++) {
        if (!dir_vn_get(f, m->vnis[i]))
            return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vnis[i]);
        vnis[n++] = m->vnis[i];
    }
    /* Stored sorted and unique, so equal sets compare (and encode) equal. */
    qsort(vnis, n, sizeof(*vnis), dir_u32_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || vnis[u - 1] != vnis[i])
            vnis[u++] = vnis[i];
    /* Liveness is the connectivity servers' to declare (gateway_live); a snapshot carries it. */
    if (!f->restoring && (m->live || (m->csd && *m->csd)))
        return dir_fail(res, STRATA_EINVAL,
                        "gateway %s: live and csd are declared by connectivity servers "
                        "(gateway_live), not by gateway_add",
                        m->id);
    struct dir_holder *h = dir_map_get(&f->gateways, m->id, strlen(m->id));
    if (h && strata_ip_equal(&h->vtep, &ip) && h->gw->n_vnis == u &&
        (u == 0 || memcmp(h->gw->vnis, vnis, u * sizeof(*vnis)) == 0))
        return 0;
    if (h && f->create_only) {
        char a[STRATA_IP_STRLEN];
        return dir_fail(res, STRATA_EEXIST,
                        "gateway %s exists (VTEP %s, %zu VNs): say --replace to change it", m->id,
                        strata_ip_format(&h->vtep, a), h->gw->n_vnis);
    }
    Strata__V1__Gateway t = *m;
    t.vnis = vnis;
    t.n_vnis = u;
    t.version = f->cur_index;
    if (!f->restoring) {
        t.live = h && h->gw->live;
        t.csd = h ? h->gw->csd : (char *)"";
    }
    Strata__V1__Gateway *obj = dir_obj_dup(f, &t);
    if (!h)
        h = dir_xcalloc(1, sizeof(*h));
    Strata__V1__Gateway *old = h->gw;
    for (size_t i = 0; old && i < old->n_vnis; i++)
        dir_touch(f, old->vnis[i]);
    for (size_t i = 0; i < u; i++)
        dir_touch(f, vnis[i]);
    if (old)
        dir_gw_touch_all(f, old);
    dir_gw_touch_all(f, obj);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, false, obj);
    holder_store(f, &f->gateways, obj->id, h, &ip);
    h->gw = obj;
    dir_obj_free(f, old);
    return 0;
}

/* ------------------------------------------------------------------------------- policies */

int dir_op_policy_set(struct dir_fsm *f, const Strata__V1__Policy *m, struct dir_result *res)
{
    if (name_check(m->domain, "domain", res))
        return res->status;
    if (!dir_map_get(&f->domains, m->domain, strlen(m->domain)))
        return dir_fail(res, STRATA_ENOTFOUND, "unknown domain %s", m->domain);
    const uint32_t ends[2] = {m->from_vni, m->to_vni};
    for (int i = 0; i < 2; i++) {
        const struct dir_vn *vn = dir_vn_get(f, ends[i]);
        if (!vn)
            return dir_fail(res, STRATA_EINVAL, "unknown VNI %u", ends[i]);
        if (strcmp(vn->obj->domain, m->domain) != 0)
            return dir_fail(res, STRATA_EINVAL, "VNI %u is in domain %s, not %s", ends[i],
                            vn->obj->domain, m->domain);
    }
    if (m->from_vni == m->to_vni)
        return dir_fail(res, STRATA_EINVAL,
                        "a policy from VNI %u to itself: traffic inside a VN is always allowed",
                        m->from_vni);
    if (m->verdict != STRATA__V1__VERDICT__VERDICT_ALLOW &&
        m->verdict != STRATA__V1__VERDICT__VERDICT_DENY)
        return dir_fail(res, STRATA_EINVAL, "a policy verdict is allow or deny");
    struct dir_key k;
    dir_key_pair(&k, m->from_vni, m->to_vni);
    Strata__V1__Policy *old = dir_map_get(&f->policies, k.b, k.len);
    if (old && old->verdict == m->verdict)
        return 0;
    Strata__V1__Policy t = *m;
    t.version = f->cur_index;
    Strata__V1__Policy *p = dir_obj_dup(f, &t);
    dir_map_put(&f->policies, k.b, k.len, p);
    dir_obj_free(f, old);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_POLICY, false, p);
    return 0;
}

int dir_op_policy_delete(struct dir_fsm *f, const Strata__V1__PolicyDelete *m,
                         struct dir_result *res)
{
    if (name_check(m->domain, "domain", res))
        return res->status;
    if (!dir_map_get(&f->domains, m->domain, strlen(m->domain)))
        return dir_fail(res, STRATA_ENOTFOUND, "unknown domain %s", m->domain);
    struct dir_key k;
    dir_key_pair(&k, m->from_vni, m->to_vni);
    Strata__V1__Policy *p = dir_map_get(&f->policies, k.b, k.len);
    if (!p || strcmp(p->domain, m->domain) != 0)
        return dir_fail(res, STRATA_ENOTFOUND, "no policy from VNI %u to VNI %u in domain %s",
                        m->from_vni, m->to_vni, m->domain);
    dir_map_del(&f->policies, k.b, k.len);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_POLICY, true, p);
    dir_obj_free(f, p);
    return 0;
}

/* ------------------------------------------------------------------------------- members */

int dir_op_member_set(struct dir_fsm *f, const Strata__V1__MemberSet *m, struct dir_result *res)
{
    struct strata_err e = {0};
    char ip[16];
    uint16_t port;
    if (!m->id)
        return dir_fail(res, STRATA_EINVAL, "member id 0 is not valid");
    if (strata_hostport_parse(dir_str(m->raft), ip, &port, &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "member %" PRIu64 " raft address: %s", m->id, e.msg);
    if (strlen(dir_str(m->api)) > STRATA_MAX_STR)
        return dir_fail(res, STRATA_EINVAL, "member %" PRIu64 " API address is too long", m->id);
    struct dir_key k;
    dir_key_u64(&k, m->id, 0);
    Strata__V1__Member *old = dir_map_get(&f->members, k.b, k.len);
    if (old && strcmp(old->raft, m->raft) == 0 && strcmp(old->api, dir_str(m->api)) == 0)
        return 0;
    Strata__V1__Member t = STRATA__V1__MEMBER__INIT;
    t.id = m->id;
    t.raft = m->raft;
    t.api = (char *)dir_str(m->api);
    Strata__V1__Member *mem = dir_obj_dup(f, &t);
    dir_map_put(&f->members, k.b, k.len, mem);
    dir_obj_free(f, old);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_MEMBER, false, NULL);
    return 0;
}

int dir_op_member_del(struct dir_fsm *f, const Strata__V1__MemberDel *m, struct dir_result *res)
{
    struct dir_key k;
    dir_key_u64(&k, m->id, 0);
    Strata__V1__Member *old = dir_map_del(&f->members, k.b, k.len);
    if (!old)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown member %" PRIu64, m->id);
    dir_obj_free(f, old);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_MEMBER, true, NULL);
    return 0;
}

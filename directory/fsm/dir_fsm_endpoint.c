/* dir_fsm_endpoint.c - endpoints (add/move/delete), their indexes, and VN flood lists. */
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"

/* ------------------------------------------------------------------------------- VN VTEP counts */

static size_t vtep_find(const struct dir_vn *vn, const struct strata_ip *ip, bool *found)
{
    size_t lo = 0, hi = vn->nvteps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = dir_ip_cmp(&vn->vteps[mid].vtep, ip);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void vtep_ref(struct dir_vn *vn, const struct strata_ip *ip, int delta)
{
    bool found;
    size_t i = vtep_find(vn, ip, &found);
    if (delta > 0) {
        if (found) {
            vn->vteps[i].count++;
            return;
        }
        if (vn->nvteps == vn->capvteps) {
            vn->capvteps = vn->capvteps ? vn->capvteps * 2 : 4;
            vn->vteps = dir_xrealloc(vn->vteps, vn->capvteps * sizeof(*vn->vteps));
        }
        memmove(&vn->vteps[i + 1], &vn->vteps[i], (vn->nvteps - i) * sizeof(*vn->vteps));
        vn->vteps[i].vtep = *ip;
        vn->vteps[i].count = 1;
        vn->nvteps++;
    } else if (found && --vn->vteps[i].count == 0) {
        memmove(&vn->vteps[i], &vn->vteps[i + 1], (vn->nvteps - i - 1) * sizeof(*vn->vteps));
        vn->nvteps--;
    }
}

static void ep_vtep(const Strata__V1__Endpoint *ep, struct strata_ip *ip)
{
    if (strata_ip_from_bytes(ep->vtep.data, ep->vtep.len, ip, NULL) != 0)
        memset(ip, 0, sizeof(*ip)); /* cannot happen: the vtep came from a checked holder */
}

static bool ep_ip(const ProtobufCBinaryData *b, struct strata_ip *ip)
{
    return strata_ip_from_bytes(b->data, b->len, ip, NULL) == 0;
}

void dir_vn_free(struct dir_fsm *f, struct dir_vn *vn)
{
    if (!vn)
        return;
    dir_obj_free(f, vn->obj);
    for (size_t i = 0; i < vn->nsubnets; i++)
        dir_obj_free(f, vn->subnets[i]);
    free(vn->subnets);
    free(vn->vteps);
    free(vn->flood);
    free(vn->flood_ip);
    free(vn);
}

/* ------------------------------------------------------------------------------- indexes */

void dir_ep_link(struct dir_fsm *f, Strata__V1__Endpoint *ep)
{
    struct dir_vn *vn = dir_vn_get(f, ep->vni);
    struct dir_holder *h = dir_holder_get(f, ep->host);
    struct dir_key k;
    struct strata_ip ip;
    dir_key_mac(&k, ep->vni, ep->mac.data);
    dir_map_put(&f->eps_mac, k.b, k.len, ep);
    for (size_t i = 0; i < ep->n_ips; i++) {
        if (ep_ip(&ep->ips[i], &ip)) {
            dir_key_ip(&k, ep->vni, &ip);
            dir_map_put(&f->eps_ip, k.b, k.len, ep);
        }
    }
    ep_vtep(ep, &ip);
    vtep_ref(vn, &ip, +1);
    vn->nendpoints++;
    if (h)
        h->nendpoints++;
    dir_touch(f, ep->vni);
}

void dir_ep_unlink(struct dir_fsm *f, const Strata__V1__Endpoint *ep)
{
    struct dir_vn *vn = dir_vn_get(f, ep->vni);
    struct dir_holder *h = dir_holder_get(f, ep->host);
    struct dir_key k;
    struct strata_ip ip;
    dir_key_mac(&k, ep->vni, ep->mac.data);
    dir_map_del(&f->eps_mac, k.b, k.len);
    for (size_t i = 0; i < ep->n_ips; i++) {
        if (ep_ip(&ep->ips[i], &ip)) {
            dir_key_ip(&k, ep->vni, &ip);
            if (dir_map_get(&f->eps_ip, k.b, k.len) == ep)
                dir_map_del(&f->eps_ip, k.b, k.len);
        }
    }
    ep_vtep(ep, &ip);
    vtep_ref(vn, &ip, -1);
    vn->nendpoints--;
    if (h)
        h->nendpoints--;
    dir_touch(f, ep->vni);
}

Strata__V1__Endpoint *dir_ep_replace(struct dir_fsm *f, Strata__V1__Endpoint *old,
                                     Strata__V1__Endpoint *tmpl)
{
    tmpl->version = f->cur_index;
    Strata__V1__Endpoint *ep = dir_obj_dup(f, tmpl);
    if (old)
        dir_ep_unlink(f, old);
    dir_ep_link(f, ep);
    dir_obj_free(f, old);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, false, ep);
    return ep;
}

/* ------------------------------------------------------------------------------- flood lists */

static int ip_qcmp(const void *a, const void *b)
{
    return dir_ip_cmp(a, b);
}

bool dir_gw_serves(const Strata__V1__Gateway *g, uint32_t vni)
{
    for (size_t i = 0; i < g->n_vnis; i++)
        if (g->vnis[i] == vni)
            return true;
    return false;
}

bool dir_flood_update(struct dir_fsm *f, struct dir_vn *vn)
{
    size_t cap = vn->nvteps + f->gateways.n, n = 0;
    struct strata_ip *l = dir_xmalloc((cap ? cap : 1) * sizeof(*l));
    for (size_t i = 0; i < vn->nvteps; i++)
        l[n++] = vn->vteps[i].vtep;
    struct dir_map_iter it = {0};
    const struct dir_holder *h;
    while ((h = dir_map_next(&f->gateways, &it)))
        if (dir_gw_serves(h->gw, vn->obj->vni))
            l[n++] = h->vtep;
    qsort(l, n, sizeof(*l), ip_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || dir_ip_cmp(&l[u - 1], &l[i]) != 0)
            l[u++] = l[i];
    bool same = u == vn->nflood;
    for (size_t i = 0; same && i < u; i++)
        same = dir_ip_cmp(&l[i], &vn->flood_ip[i]) == 0;
    if (same) {
        free(l);
        return false;
    }
    free(vn->flood_ip);
    free(vn->flood);
    vn->flood_ip = l;
    vn->nflood = u;
    vn->flood = dir_xcalloc(u ? u : 1, sizeof(*vn->flood));
    for (size_t i = 0; i < u; i++) {
        vn->flood[i].data = l[i].a;
        vn->flood[i].len = strata_ip_len(&l[i]);
    }
    return true;
}

/* ------------------------------------------------------------------------------- re-point */

void dir_ep_repoint(struct dir_fsm *f, const char *holder_id, const struct strata_ip *vtep)
{
    const struct dir_holder *h = dir_holder_get(f, holder_id);
    if (!h || h->nendpoints == 0)
        return;
    /* Rare (a host re-IP): a scan is cheaper than a per-holder index kept on every write. */
    Strata__V1__Endpoint **v = dir_xmalloc(h->nendpoints * sizeof(*v));
    size_t n = 0;
    struct dir_map_iter it = {0};
    Strata__V1__Endpoint *ep;
    while ((ep = dir_map_next(&f->eps_mac, &it)))
        if (strcmp(ep->host, holder_id) == 0 && n < h->nendpoints)
            v[n++] = ep;
    qsort(v, n, sizeof(*v), dir_endpoint_qcmp);
    for (size_t i = 0; i < n; i++) {
        Strata__V1__Endpoint t = *v[i];
        t.vtep.data = (uint8_t *)vtep->a;
        t.vtep.len = strata_ip_len(vtep);
        dir_ep_replace(f, v[i], &t);
    }
    free(v);
}

/* ------------------------------------------------------------------------------- commands */

void dir_ep_remove(struct dir_fsm *f, Strata__V1__Endpoint *ep)
{
    dir_ep_unlink(f, ep);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, true, ep);
    dir_obj_free(f, ep);
}

Strata__V1__Endpoint *dir_ep_get(const struct dir_fsm *f, uint32_t vni, const uint8_t *mac)
{
    struct dir_key k;
    dir_key_mac(&k, vni, mac);
    return dir_map_get(&f->eps_mac, k.b, k.len);
}

/* The subnet of vn that holds ip, into *c; false when none does. */
static bool ip_in_vn(const struct dir_vn *vn, const struct strata_ip *ip, struct strata_cidr *c)
{
    for (size_t i = 0; i < vn->nsubnets; i++) {
        const Strata__V1__Subnet *s = vn->subnets[i];
        if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, c, NULL) == 0 &&
            strata_cidr_contains(c, ip))
            return true;
    }
    return false;
}

/* An endpoint cannot answer for its subnet's network or broadcast address: traffic to those is
 * the whole subnet's. Snapshots load what older rules accepted. */
static int check_host_addr(const struct dir_fsm *f, uint32_t vni, const struct strata_cidr *c,
                           const struct strata_ip *ip, struct dir_result *res)
{
    char a[STRATA_IP_STRLEN], b[STRATA_IP_STRLEN + 4];
    const char *reserved = strata_cidr_reserved(c, ip);
    if (f->restoring || !reserved)
        return 0;
    return dir_fail(res, STRATA_EINVAL, "%s is %s of %s in VNI %u: pick a host address",
                    strata_ip_format(ip, a), reserved, strata_cidr_format(c, b), vni);
}

static int check_mac(const ProtobufCBinaryData *mac, struct dir_result *res)
{
    if (mac->len != 6)
        return dir_fail(res, STRATA_EINVAL, "a MAC address is 6 bytes, not %zu", mac->len);
    if (!strata_mac_is_unicast(mac->data)) {
        char m[STRATA_MAC_STRLEN];
        return dir_fail(res, STRATA_EINVAL, "MAC %s is not a unicast address",
                        strata_mac_format(mac->data, m));
    }
    return 0;
}

/* The gateway MAC prefix belongs to the directory (dir_fsm_gateway.c): nobody else may add,
 * move or delete an endpoint with it. Snapshots load what the directory itself placed. */
static int check_not_gw_mac(const struct dir_fsm *f, uint32_t vni, const ProtobufCBinaryData *mac,
                            struct dir_result *res)
{
    char m[STRATA_MAC_STRLEN];
    if (f->restoring || mac->len != 6 || !strata_mac_is_gw(mac->data))
        return 0;
    return dir_fail(res, STRATA_EDENIED,
                    "MAC %s is in the range of VN gateway MACs (02:53:54:...): the directory "
                    "places VN %u's gateway endpoint itself",
                    strata_mac_format(mac->data, m), vni);
}

static int check_not_gw_addr(const struct dir_fsm *f, const struct dir_vn *vn,
                             const struct strata_ip *ip, struct dir_result *res)
{
    char a[STRATA_IP_STRLEN];
    if (f->restoring || !dir_gw_is_addr(vn, ip))
        return 0;
    return dir_fail(res, STRATA_EDENIED,
                    "%s is VN %u's gateway address: only a gateway serving VN %u holds it",
                    strata_ip_format(ip, a), vn->obj->vni, vn->obj->vni);
}

static int check_holder(const struct dir_fsm *f, const char *id, struct dir_holder **h,
                        struct dir_result *res)
{
    struct strata_err e = {0};
    if (strata_name_check(dir_str(id), "host", &e) != 0)
        return dir_fail(res, STRATA_EINVAL, "%s", e.msg);
    *h = dir_holder_get(f, id);
    if (!*h)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown host %s (neither a host nor a gateway)",
                        id);
    return 0;
}

int dir_op_endpoint_add(struct dir_fsm *f, const Strata__V1__Endpoint *m, struct dir_result *res)
{
    struct dir_vn *vn = dir_vn_get(f, m->vni);
    struct dir_holder *h;
    char a[STRATA_IP_STRLEN], macs[STRATA_MAC_STRLEN];
    if (!vn)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    if (check_mac(&m->mac, res) || check_not_gw_mac(f, m->vni, &m->mac, res) ||
        check_holder(f, m->host, &h, res))
        return res->status;
    if (m->n_ips > STRATA_MAX_IPS)
        return dir_fail(res, STRATA_EINVAL, "too many IPs for one endpoint (%zu, at most %d)",
                        m->n_ips, STRATA_MAX_IPS);
    Strata__V1__Endpoint *old = dir_ep_get(f, m->vni, m->mac.data);
    struct strata_ip ips[STRATA_MAX_IPS];
    for (size_t i = 0; i < m->n_ips; i++) {
        struct strata_err e = {0};
        if (strata_ip_from_bytes(m->ips[i].data, m->ips[i].len, &ips[i], &e) != 0)
            return dir_fail(res, STRATA_EINVAL, "endpoint IP: %s", e.msg);
        for (size_t j = 0; j < i; j++)
            if (strata_ip_equal(&ips[i], &ips[j]))
                return dir_fail(res, STRATA_EINVAL, "%s is listed twice",
                                strata_ip_format(&ips[i], a));
        struct strata_cidr c;
        if (!ip_in_vn(vn, &ips[i], &c))
            return dir_fail(res, STRATA_EINVAL, "%s is outside every subnet of VNI %u",
                            strata_ip_format(&ips[i], a), m->vni);
        if (check_host_addr(f, m->vni, &c, &ips[i], res) || check_not_gw_addr(f, vn, &ips[i], res))
            return res->status;
        struct dir_key k;
        dir_key_ip(&k, m->vni, &ips[i]);
        const Strata__V1__Endpoint *owner = dir_map_get(&f->eps_ip, k.b, k.len);
        if (owner && owner != old)
            return dir_fail(res, STRATA_ECONFLICT, "%s already belongs to %s in VNI %u",
                            strata_ip_format(&ips[i], a), strata_mac_format(owner->mac.data, macs),
                            m->vni);
    }
    if (old && strcmp(old->host, m->host) == 0 && old->n_ips == m->n_ips) {
        bool same = true;
        for (size_t i = 0; same && i < m->n_ips; i++)
            same = old->ips[i].len == m->ips[i].len &&
                   memcmp(old->ips[i].data, m->ips[i].data, m->ips[i].len) == 0;
        if (same)
            return 0; /* a re-registration that changes nothing */
    }
    if (old && f->create_only)
        return dir_fail(res, STRATA_EEXIST,
                        "endpoint %s exists in VNI %u (on host %s): say --replace to change it, "
                        "or use endpoint move",
                        strata_mac_format(m->mac.data, macs), m->vni, old->host);
    Strata__V1__Endpoint t = *m;
    t.vtep.data = h->vtep.a;
    t.vtep.len = strata_ip_len(&h->vtep);
    dir_ep_replace(f, old, &t);
    return 0;
}

int dir_op_endpoint_move(struct dir_fsm *f, const Strata__V1__EndpointMove *m,
                         struct dir_result *res)
{
    struct dir_holder *h;
    char macs[STRATA_MAC_STRLEN];
    const struct dir_vn *vn = dir_vn_get(f, m->vni);
    if (!vn)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    if (m->mac.len != 6)
        return dir_fail(res, STRATA_EINVAL, "a MAC address is 6 bytes, not %zu", m->mac.len);
    if (check_not_gw_mac(f, m->vni, &m->mac, res))
        return res->status;
    Strata__V1__Endpoint *old = dir_ep_get(f, m->vni, m->mac.data);
    if (!old)
        return dir_fail(res, STRATA_ENOTFOUND, "no endpoint %s in VNI %u",
                        strata_mac_format(m->mac.data, macs), m->vni);
    if (check_holder(f, m->host, &h, res))
        return res->status;
    /* only state from before gateway addresses were the directory's can hold one elsewhere */
    for (size_t i = 0; i < old->n_ips; i++) {
        struct strata_ip ip;
        if (ep_ip(&old->ips[i], &ip) && check_not_gw_addr(f, vn, &ip, res))
            return res->status;
    }
    if (strcmp(old->host, m->host) == 0)
        return 0;
    Strata__V1__Endpoint t = *old;
    t.host = m->host;
    t.vtep.data = h->vtep.a;
    t.vtep.len = strata_ip_len(&h->vtep);
    dir_ep_replace(f, old, &t);
    return 0;
}

int dir_op_endpoint_delete(struct dir_fsm *f, const Strata__V1__EndpointDelete *m,
                           struct dir_result *res)
{
    char macs[STRATA_MAC_STRLEN];
    if (!dir_vn_get(f, m->vni))
        return dir_fail(res, STRATA_ENOTFOUND, "unknown VNI %u", m->vni);
    if (m->mac.len != 6)
        return dir_fail(res, STRATA_EINVAL, "a MAC address is 6 bytes, not %zu", m->mac.len);
    if (check_not_gw_mac(f, m->vni, &m->mac, res))
        return res->status;
    Strata__V1__Endpoint *old = dir_ep_get(f, m->vni, m->mac.data);
    if (!old)
        return dir_fail(res, STRATA_ENOTFOUND, "no endpoint %s in VNI %u",
                        strata_mac_format(m->mac.data, macs), m->vni);
    dir_ep_remove(f, old);
    return 0;
}

/* dir_fsm_gateway.c - gateway addresses held by the directory on the gateways' behalf, gateway
 * liveness (gateway_live) and gateway_delete.
 *
 * For every VN with gateway addresses the FSM keeps one endpoint: MAC strata_gw_mac(vni), IPs =
 * the gateway addresses of the VN's subnets (in subnet order), held by a live gateway serving
 * the VN. The holder is sticky (kept while it stays live and serving, so a gateway coming back
 * moves nothing), else the live serving gateway with the smallest id; with none live, a holder
 * that still serves the VN keeps it (its kernel may still forward), and only with no holder
 * either is the endpoint deleted, so that hosts learn "no gateway". It is recomputed inside apply
 * whenever an input changes (liveness, a gateway's record or its deletion, subnets, the VN's
 * deletion), so every node agrees and one Raft entry moves all of a VN's addresses at once; each
 * change is an ordinary endpoint change in the feed, pushed by the connectivity servers to the
 * hosts holding it. */
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"

/* ------------------------------------------------------------------------------- addresses */

static bool subnet_gw(const Strata__V1__Subnet *s, struct strata_ip *ip)
{
    return s->gateway.len && strata_ip_from_bytes(s->gateway.data, s->gateway.len, ip, NULL) == 0;
}

bool dir_gw_is_addr(const struct dir_vn *vn, const struct strata_ip *ip)
{
    struct strata_ip gw;
    for (size_t i = 0; i < vn->nsubnets; i++)
        if (subnet_gw(vn->subnets[i], &gw) && strata_ip_equal(&gw, ip))
            return true;
    return false;
}

size_t dir_gw_naddrs(const struct dir_vn *vn)
{
    size_t n = 0;
    struct strata_ip gw;
    for (size_t i = 0; i < vn->nsubnets; i++)
        n += subnet_gw(vn->subnets[i], &gw);
    return n;
}

const Strata__V1__Endpoint *dir_gw_endpoint(const struct dir_fsm *f, uint32_t vni)
{
    uint8_t mac[6];
    strata_gw_mac(vni, mac);
    return dir_ep_get(f, vni, mac);
}

/* ------------------------------------------------------------------------------- touch */

void dir_gw_touch(struct dir_fsm *f, uint32_t vni)
{
    if (f->restoring)
        return; /* a restore checks every VN once at the end (dir_gw_check) */
    for (size_t i = 0; i < f->ngw_touched; i++)
        if (f->gw_touched[i] == vni)
            return;
    if (f->ngw_touched == f->capgw_touched) {
        f->capgw_touched = f->capgw_touched ? f->capgw_touched * 2 : 16;
        f->gw_touched = dir_xrealloc(f->gw_touched, f->capgw_touched * sizeof(*f->gw_touched));
    }
    f->gw_touched[f->ngw_touched++] = vni;
}

void dir_gw_touch_all(struct dir_fsm *f, const Strata__V1__Gateway *g)
{
    for (size_t i = 0; i < g->n_vnis; i++)
        dir_gw_touch(f, g->vnis[i]);
}

/* ------------------------------------------------------------------------------- holder */

static bool gw_holds_vn(const struct dir_holder *h, uint32_t vni)
{
    return h != NULL && h->gw != NULL && h->gw->live && dir_gw_serves(h->gw, vni);
}

/* Who should hold vni's gateway addresses: NULL for nobody. */
static const struct dir_holder *gw_choose(const struct dir_fsm *f, uint32_t vni,
                                          const Strata__V1__Endpoint *cur)
{
    if (cur != NULL) {
        const char *id = dir_str(cur->host);
        const struct dir_holder *h = dir_map_get(&f->gateways, id, strlen(id));
        if (gw_holds_vn(h, vni))
            return h; /* sticky: a gateway coming back does not take the addresses back */
    }
    const struct dir_holder *best = NULL, *h;
    struct dir_map_iter it = {0};
    while ((h = dir_map_next(&f->gateways, &it)))
        if (gw_holds_vn(h, vni) && (best == NULL || strcmp(h->gw->id, best->gw->id) < 0))
            best = h;
    if (best == NULL && cur != NULL) {
        /* Nobody live to take over: the holder keeps the addresses while it still serves the
         * VN. A gateway's kernel routes and filters without its daemon (a restart, a crash of
         * the process alone), so hosts keep the one path that may still work. */
        const char *id = dir_str(cur->host);
        h = dir_map_get(&f->gateways, id, strlen(id));
        if (h != NULL && h->gw != NULL && dir_gw_serves(h->gw, vni))
            return h;
    }
    return best;
}

struct gw_want {
    const struct dir_holder *holder; /* NULL: no endpoint */
    struct strata_ip ip[STRATA_MAX_IPS];
    ProtobufCBinaryData ips[STRATA_MAX_IPS];
    size_t n;
};

static void gw_wanted(const struct dir_fsm *f, const struct dir_vn *vn,
                      const Strata__V1__Endpoint *cur, struct gw_want *w)
{
    w->n = 0;
    for (size_t i = 0; i < vn->nsubnets && w->n < STRATA_MAX_IPS; i++) {
        if (!subnet_gw(vn->subnets[i], &w->ip[w->n]))
            continue;
        w->ips[w->n] = (ProtobufCBinaryData){strata_ip_len(&w->ip[w->n]), w->ip[w->n].a};
        w->n++;
    }
    w->holder = w->n ? gw_choose(f, vn->obj->vni, cur) : NULL;
}

static bool bytes_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Whether the endpoint cur is exactly what w asks for. */
static bool gw_same(const Strata__V1__Endpoint *cur, const struct gw_want *w)
{
    if (cur == NULL || w->holder == NULL)
        return cur == NULL && w->holder == NULL;
    ProtobufCBinaryData vtep = {strata_ip_len(&w->holder->vtep), (uint8_t *)w->holder->vtep.a};
    if (strcmp(dir_str(cur->host), w->holder->gw->id) != 0 || !bytes_eq(&cur->vtep, &vtep) ||
        cur->n_ips != w->n)
        return false;
    for (size_t i = 0; i < w->n; i++)
        if (!bytes_eq(&cur->ips[i], &w->ips[i]))
            return false;
    return true;
}

/* Make vn's gateway endpoint what the rule gives. */
static void gw_settle_vn(struct dir_fsm *f, struct dir_vn *vn)
{
    uint32_t vni = vn->obj->vni;
    uint8_t mac[6];
    strata_gw_mac(vni, mac);
    Strata__V1__Endpoint *cur = dir_ep_get(f, vni, mac);
    struct gw_want w;
    gw_wanted(f, vn, cur, &w);
    if (gw_same(cur, &w))
        return;
    if (w.holder == NULL) {
        dir_ep_remove(f, cur);
        return;
    }
    /* Only state from before the directory held gateway addresses can have another endpoint on
     * one: the address is the directory's, so that endpoint goes. */
    for (size_t i = 0; i < w.n; i++) {
        Strata__V1__Endpoint *other =
            (Strata__V1__Endpoint *)dir_fsm_endpoint_by_ip(f, vni, &w.ip[i]);
        if (other != NULL && other != cur)
            dir_ep_remove(f, other);
    }
    Strata__V1__Endpoint t = STRATA__V1__ENDPOINT__INIT;
    t.vni = vni;
    t.mac = (ProtobufCBinaryData){6, mac};
    t.ips = w.ips;
    t.n_ips = w.n;
    t.host = w.holder->gw->id;
    t.vtep = (ProtobufCBinaryData){strata_ip_len(&w.holder->vtep), (uint8_t *)w.holder->vtep.a};
    dir_ep_replace(f, cur, &t);
}

void dir_gw_settle(struct dir_fsm *f)
{
    if (f->ngw_touched > 1)
        qsort(f->gw_touched, f->ngw_touched, sizeof(*f->gw_touched), dir_u32_qcmp);
    for (size_t i = 0; i < f->ngw_touched; i++) {
        struct dir_vn *vn = dir_vn_get(f, f->gw_touched[i]);
        if (vn != NULL)
            gw_settle_vn(f, vn);
    }
    f->ngw_touched = 0;
}

int dir_gw_check(struct dir_fsm *f, struct strata_err *e)
{
    struct dir_map_iter it = {0};
    struct dir_vn *vn;
    while ((vn = dir_map_next(&f->vns, &it))) {
        const Strata__V1__Endpoint *cur = dir_gw_endpoint(f, vn->obj->vni);
        struct gw_want w;
        gw_wanted(f, vn, cur, &w);
        if (!gw_same(cur, &w))
            return strata_err_set(e, STRATA_EPROTO,
                                  "snapshot: VNI %u's gateway endpoint is not what its "
                                  "gateways and subnets give",
                                  vn->obj->vni);
    }
    return 0;
}

/* ------------------------------------------------------------------------------- commands */

int dir_op_gateway_live(struct dir_fsm *f, const Strata__V1__GatewayLive *m, struct dir_result *res)
{
    const char *id = dir_str(m->id), *csd = dir_str(m->csd);
    struct dir_holder *h = dir_map_get(&f->gateways, id, strlen(id));
    if (!h)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown gateway %s", id);
    if (!*csd)
        return dir_fail(res, STRATA_EINVAL, "gateway_live names no connectivity server");
    const Strata__V1__Gateway *g = h->gw;
    if (m->live && g->live && strcmp(dir_str(g->csd), csd) == 0)
        return 0;
    if (!m->live && !g->live)
        return 0;
    /* Only the server holding the session declares it dead: a late "dead" from a server the
     * gateway has left must not undo its registration at another. */
    if (!m->live && strcmp(dir_str(g->csd), csd) != 0)
        return dir_fail(res, STRATA_ECONFLICT,
                        "gateway %s was declared live by connectivity server %s, not %s: only "
                        "that server declares it dead",
                        id, dir_str(g->csd), csd);
    Strata__V1__Gateway t = *g;
    t.live = m->live;
    t.csd = (char *)csd;
    t.version = f->cur_index;
    Strata__V1__Gateway *obj = dir_obj_dup(f, &t);
    h->gw = obj;
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, false, obj);
    dir_obj_free(f, (void *)g);
    dir_gw_touch_all(f, obj);
    return 0;
}

int dir_op_gateway_delete(struct dir_fsm *f, const Strata__V1__GatewayDelete *m,
                          struct dir_result *res)
{
    const char *id = dir_str(m->id);
    struct dir_holder *h = dir_map_get(&f->gateways, id, strlen(id));
    if (!h)
        return dir_fail(res, STRATA_ENOTFOUND, "unknown gateway %s", id);
    Strata__V1__Gateway *g = h->gw;
    size_t held = 0; /* gateway endpoints: they move (or go) with it */
    for (size_t i = 0; i < g->n_vnis; i++) {
        const Strata__V1__Endpoint *ep = dir_gw_endpoint(f, g->vnis[i]);
        held += ep != NULL && strcmp(dir_str(ep->host), id) == 0;
    }
    if (h->nendpoints > held)
        return dir_fail(res, STRATA_ECONFLICT,
                        "gateway %s still holds %zu endpoint%s: move or delete them first", id,
                        h->nendpoints - held, h->nendpoints - held == 1 ? "" : "s");
    struct dir_key k;
    dir_key_vtep(&k, &h->vtep);
    dir_map_del(&f->vteps, k.b, k.len);
    dir_map_del(&f->gateways, id, strlen(id));
    /* The endpoints it held refer to it by name only: settling moves them (or deletes them)
     * after it is gone from the maps. */
    for (size_t i = 0; i < g->n_vnis; i++)
        dir_touch(f, g->vnis[i]);
    dir_gw_touch_all(f, g);
    dir_emit(f, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, true, g);
    dir_obj_free(f, g);
    free(h);
    return 0;
}

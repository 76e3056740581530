/* dir_fsm_sorted.c - the FSM's objects collected in key order (lists, dumps, snapshots). */
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"

/* Collect the map's values (through `pick`, which may skip one by returning NULL) and sort. */
static void **collect(const struct dir_map *m, void *(*pick)(void *, const void *), const void *arg,
                      int (*cmp)(const void *, const void *), size_t *n)
{
    void **v = dir_xmalloc((m->n + 1) * sizeof(*v));
    size_t k = 0;
    struct dir_map_iter it = {0};
    void *x;
    while ((x = dir_map_next(m, &it))) {
        void *o = pick ? pick(x, arg) : x;
        if (o)
            v[k++] = o;
    }
    qsort(v, k, sizeof(*v), cmp);
    *n = k;
    return v;
}

#define DEREF(T, a) (*(T *const *)(a))

static int u32cmp(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b;
}

static int domain_cmp(const void *a, const void *b)
{
    return strcmp(DEREF(Strata__V1__Domain, a)->name, DEREF(Strata__V1__Domain, b)->name);
}

Strata__V1__Domain **dir_sorted_domains(const struct dir_fsm *f, size_t *n)
{
    return (Strata__V1__Domain **)collect(&f->domains, NULL, NULL, domain_cmp, n);
}

static int vnet_cmp(const void *a, const void *b)
{
    return u32cmp(DEREF(Strata__V1__Vnet, a)->vni, DEREF(Strata__V1__Vnet, b)->vni);
}

static void *pick_vnet(void *x, const void *arg)
{
    (void)arg;
    return ((struct dir_vn *)x)->obj;
}

Strata__V1__Vnet **dir_sorted_vnets(const struct dir_fsm *f, size_t *n)
{
    return (Strata__V1__Vnet **)collect(&f->vns, pick_vnet, NULL, vnet_cmp, n);
}

/* Subnets are kept sorted inside their VN: walk the VNs in order. */
Strata__V1__Subnet **dir_sorted_subnets(const struct dir_fsm *f, uint32_t vni, size_t *n)
{
    Strata__V1__Subnet **v = dir_xmalloc((f->nsubnets + 1) * sizeof(*v));
    size_t k = 0, nv;
    Strata__V1__Vnet **vnets = dir_sorted_vnets(f, &nv);
    for (size_t i = 0; i < nv; i++) {
        if (vni && vnets[i]->vni != vni)
            continue;
        const struct dir_vn *vn = dir_vn_get(f, vnets[i]->vni);
        for (size_t j = 0; j < vn->nsubnets; j++)
            v[k++] = vn->subnets[j];
    }
    free(vnets);
    *n = k;
    return v;
}

static int host_cmp(const void *a, const void *b)
{
    return strcmp(DEREF(Strata__V1__Host, a)->id, DEREF(Strata__V1__Host, b)->id);
}

static void *pick_host(void *x, const void *arg)
{
    (void)arg;
    return ((struct dir_holder *)x)->host;
}

Strata__V1__Host **dir_sorted_hosts(const struct dir_fsm *f, size_t *n)
{
    return (Strata__V1__Host **)collect(&f->hosts, pick_host, NULL, host_cmp, n);
}

static int gw_cmp(const void *a, const void *b)
{
    return strcmp(DEREF(Strata__V1__Gateway, a)->id, DEREF(Strata__V1__Gateway, b)->id);
}

static void *pick_gw(void *x, const void *arg)
{
    const Strata__V1__Gateway *g = ((struct dir_holder *)x)->gw;
    uint32_t vni = *(const uint32_t *)arg;
    return !vni || dir_gw_serves(g, vni) ? (void *)g : NULL;
}

Strata__V1__Gateway **dir_sorted_gateways(const struct dir_fsm *f, uint32_t vni, size_t *n)
{
    return (Strata__V1__Gateway **)collect(&f->gateways, pick_gw, &vni, gw_cmp, n);
}

int dir_endpoint_qcmp(const void *a, const void *b)
{
    const Strata__V1__Endpoint *x = DEREF(Strata__V1__Endpoint, a);
    const Strata__V1__Endpoint *y = DEREF(Strata__V1__Endpoint, b);
    int c = u32cmp(x->vni, y->vni);
    return c ? c : memcmp(x->mac.data, y->mac.data, 6);
}

/* Endpoints are most of a large directory. They are sorted by keys copied out of the index's
 * nodes (dir_key_mac: the VNI in host order, then the MAC), so that a comparison touches no
 * endpoint: sorting pointers with dir_endpoint_qcmp, two cache misses per comparison, was 57 % of
 * serialising 100k endpoints. Same order. */
static int ep_key_cmp(const void *a, const void *b)
{
    const struct dir_ep_key *x = a, *y = b;
    if (x->vni != y->vni)
        return x->vni < y->vni ? -1 : 1;
    return x->mac < y->mac ? -1 : x->mac > y->mac;
}

struct dir_ep_key *dir_endpoint_keys(const struct dir_fsm *f, uint32_t vni, size_t *n)
{
    struct dir_ep_key *s = dir_xmalloc((f->eps_mac.n + 1) * sizeof(*s));
    size_t k = 0;
    struct dir_map_iter it = {0};
    Strata__V1__Endpoint *ep;
    while ((ep = dir_map_next(&f->eps_mac, &it))) {
        const uint8_t *key = it.node->key;
        uint32_t v;
        memcpy(&v, key, 4);
        if (vni && v != vni)
            continue;
        uint64_t mac = 0;
        for (int i = 4; i < 10; i++)
            mac = mac << 8 | key[i]; /* big-endian: numeric order is memcmp order */
        s[k++] = (struct dir_ep_key){v, mac, ep};
    }
    *n = k;
    return s;
}

Strata__V1__Endpoint **dir_endpoint_keys_sort(struct dir_ep_key *k, size_t n)
{
    qsort(k, n, sizeof(*k), ep_key_cmp);
    Strata__V1__Endpoint **out = dir_xmalloc((n + 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = k[i].ep;
    free(k);
    return out;
}

Strata__V1__Endpoint **dir_sorted_endpoints(const struct dir_fsm *f, uint32_t vni, size_t *n)
{
    struct dir_ep_key *k = dir_endpoint_keys(f, vni, n);
    return dir_endpoint_keys_sort(k, *n);
}

int dir_policy_qcmp(const void *a, const void *b)
{
    const Strata__V1__Policy *x = DEREF(Strata__V1__Policy, a);
    const Strata__V1__Policy *y = DEREF(Strata__V1__Policy, b);
    int c = strcmp(x->domain, y->domain);
    if (!c)
        c = u32cmp(x->from_vni, y->from_vni);
    return c ? c : u32cmp(x->to_vni, y->to_vni);
}

Strata__V1__Policy **dir_sorted_policies(const struct dir_fsm *f, size_t *n)
{
    return (Strata__V1__Policy **)collect(&f->policies, NULL, NULL, dir_policy_qcmp, n);
}

static int member_cmp(const void *a, const void *b)
{
    uint64_t x = DEREF(Strata__V1__Member, a)->id, y = DEREF(Strata__V1__Member, b)->id;
    return x < y ? -1 : x > y;
}

Strata__V1__Member **dir_sorted_members(const struct dir_fsm *f, size_t *n)
{
    return (Strata__V1__Member **)collect(&f->members, NULL, NULL, member_cmp, n);
}

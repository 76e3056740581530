/* node_audit.c - the audit's view of one node: each held key with what the kernel has for it,
 * the kernel's entries of Strata's that no held key explains, a digest per VN; and the repair of
 * one key. Pure over a core and a dump (the in-memory datapath tests it without root). */
#include <stdlib.h>
#include <string.h>

#include "node.h"

struct audit_ctx {
    struct node *a;
    struct node_dp_neigh *neigh; /* sorted copies of the dump's, with a used mark each */
    bool *neigh_used;
    size_t n_neigh;
    struct node_dp_fdb *fdb;
    bool *fdb_used;
    size_t n_fdb;
    struct node_audit *out;
    bool oom;
};

static int audit_cmp_neigh(const void *x, const void *y)
{
    const struct node_dp_neigh *p = x, *q = y;
    if (p->vni != q->vni)
        return p->vni < q->vni ? -1 : 1;
    if (p->ip.family != q->ip.family)
        return p->ip.family < q->ip.family ? -1 : 1;
    return memcmp(p->ip.a, q->ip.a, 16);
}

static int audit_cmp_fdb(const void *x, const void *y)
{
    const struct node_dp_fdb *p = x, *q = y;
    if (p->vni != q->vni)
        return p->vni < q->vni ? -1 : 1;
    return memcmp(p->mac, q->mac, 6);
}

static int audit_cmp_item(const void *x, const void *y)
{
    const struct node_audit_item *p = x, *q = y;
    if (p->key.vni != q->key.vni)
        return p->key.vni < q->key.vni ? -1 : 1;
    return p->bucket < q->bucket ? -1 : p->bucket > q->bucket;
}

/* The index of (vni, ip) in the sorted neighbours, or -1. */
static long audit_find_neigh(const struct audit_ctx *c, uint32_t vni, const struct strata_ip *ip)
{
    struct node_dp_neigh k = {.vni = vni, .ip = *ip};
    const struct node_dp_neigh *p = bsearch(&k, c->neigh, c->n_neigh, sizeof(k), audit_cmp_neigh);
    return p != NULL ? p - c->neigh : -1;
}

static long audit_find_fdb(const struct audit_ctx *c, uint32_t vni, const uint8_t mac[6])
{
    struct node_dp_fdb k = {.vni = vni};
    memcpy(k.mac, mac, 6);
    const struct node_dp_fdb *p = bsearch(&k, c->fdb, c->n_fdb, sizeof(k), audit_cmp_fdb);
    return p != NULL ? p - c->fdb : -1;
}

static struct node_audit_item *audit_push(struct audit_ctx *c)
{
    struct node_audit *o = c->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct node_audit_item *v = realloc(o->items, cap * sizeof(*v));
        if (v == NULL) {
            c->oom = true;
            return NULL;
        }
        o->items = v;
        o->cap = cap;
    }
    struct node_audit_item *it = &o->items[o->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

static bool audit_is_local(const struct node *a, const struct strata_ip *vtep)
{
    return vtep->family == 0 || strata_ip_equal(vtep, &a->self_vtep);
}

/* What the kernel does with MAC mac of a held key: its FDB destination; for a local endpoint
 * none is needed (the bridge delivers), so the node's own VTEP stands for "right here". */
static void audit_kernel_vtep(struct audit_ctx *c, struct node_audit_item *it, const uint8_t mac[6],
                              bool local)
{
    long f = audit_find_fdb(c, it->key.vni, mac);
    if (f >= 0) {
        c->fdb_used[f] = true;
        it->kernel_vtep = c->fdb[f].vtep;
        it->kernel_owned = it->kernel_owned && c->fdb[f].owned;
    } else if (local) {
        it->kernel_vtep = c->a->self_vtep;
    }
}

static void audit_visit_held(struct node_entry *ent, void *arg)
{
    struct audit_ctx *c = arg;
    if (ent->state != NODE_POSITIVE || ent->key.kind == NODE_KEY_FDB)
        return;
    struct node_audit_item *it = audit_push(c);
    if (it == NULL)
        return;
    it->key = ent->key;
    it->held = true;
    it->version = ent->version;
    memcpy(it->held_mac, ent->mac, 6);
    it->held_vtep = audit_is_local(c->a, &ent->vtep) ? c->a->self_vtep : ent->vtep;
    bool local = audit_is_local(c->a, &ent->vtep);
    if (ent->key.kind == NODE_KEY_IP) {
        long n = audit_find_neigh(c, ent->key.vni, &ent->key.ip);
        long f = audit_find_fdb(c, ent->key.vni, ent->mac);
        if (f >= 0)
            c->fdb_used[f] = true; /* the held MAC's entry is this key's, whatever the neighbour */
        if (n < 0)
            return;
        c->neigh_used[n] = true;
        it->in_kernel = true;
        it->kernel_owned = c->neigh[n].owned;
        memcpy(it->kernel_mac, c->neigh[n].mac, 6);
        audit_kernel_vtep(c, it, c->neigh[n].mac, local);
        return;
    }
    long f = audit_find_fdb(c, ent->key.vni, ent->key.mac);
    if (f < 0 && !local)
        return;
    it->in_kernel = true;
    it->kernel_owned = true;
    memcpy(it->kernel_mac, ent->key.mac, 6);
    audit_kernel_vtep(c, it, ent->key.mac, local);
}

/* Kernel entries of Strata's that no held key explains. */
static void audit_extras(struct audit_ctx *c)
{
    for (size_t i = 0; i < c->n_neigh && !c->oom; i++) {
        if (c->neigh_used[i] || !c->neigh[i].owned)
            continue;
        struct node_audit_item *it = audit_push(c);
        if (it == NULL)
            return;
        node_key_ip(&it->key, c->neigh[i].vni, &c->neigh[i].ip);
        it->in_kernel = true;
        it->kernel_owned = true;
        memcpy(it->kernel_mac, c->neigh[i].mac, 6);
        audit_kernel_vtep(c, it, c->neigh[i].mac, false);
    }
    for (size_t i = 0; i < c->n_fdb && !c->oom; i++) {
        if (c->fdb_used[i] || !c->fdb[i].owned)
            continue;
        struct node_audit_item *it = audit_push(c);
        if (it == NULL)
            return;
        node_key_mac(&it->key, c->fdb[i].vni, c->fdb[i].mac);
        it->in_kernel = true;
        it->kernel_owned = true;
        memcpy(it->kernel_mac, c->fdb[i].mac, 6);
        it->kernel_vtep = c->fdb[i].vtep;
    }
}

void node_audit_item_digest(const struct node_audit_item *it, struct strata_audit_item *out)
{
    memset(out, 0, sizeof(*out));
    out->vni = it->key.vni;
    if (it->key.kind == NODE_KEY_IP) {
        out->key_len = (uint8_t)strata_ip_len(&it->key.ip);
        memcpy(out->key, it->key.ip.a, out->key_len);
    } else {
        out->key_len = 6;
        memcpy(out->key, it->key.mac, 6);
    }
    if (it->in_kernel) {
        memcpy(out->mac, it->kernel_mac, 6);
        out->vtep_len = it->kernel_vtep.family != 0 ? (uint8_t)strata_ip_len(&it->kernel_vtep) : 0;
        memcpy(out->vtep, it->kernel_vtep.a, out->vtep_len);
    }
    out->version = it->held ? it->version : 0;
}

static struct node_audit_part *audit_part_push(struct node_audit *o, uint32_t vni, uint32_t bucket)
{
    if (o->n_parts == o->cap_parts) {
        size_t cap = o->cap_parts ? o->cap_parts * 2 : 8;
        struct node_audit_part *v = realloc(o->parts, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        o->parts = v;
        o->cap_parts = cap;
    }
    struct node_audit_part *p = &o->parts[o->n_parts++];
    *p = (struct node_audit_part){.vni = vni, .bucket = bucket};
    return p;
}

/* Items sorted by VN and bucket; the digests of each VN's items [i, j): one part for a small VN,
 * one per bucket for a large one. */
static int audit_digests(struct node_audit *o)
{
    for (size_t i = 0; i < o->n; i++) {
        struct strata_audit_item di;
        node_audit_item_digest(&o->items[i], &di);
        o->items[i].bucket = strata_audit_bucket(&di);
    }
    if (o->n > 0)
        qsort(o->items, o->n, sizeof(*o->items), audit_cmp_item);
    for (size_t i = 0, j; i < o->n; i = j) {
        for (j = i; j < o->n && o->items[j].key.vni == o->items[i].key.vni; j++)
            ;
        bool whole = j - i <= STRATA_AUDIT_BUCKETS;
        struct node_audit_part *p = NULL;
        for (size_t k = i; k < j; k++) {
            uint32_t b = whole ? STRATA_AUDIT_WHOLE : o->items[k].bucket;
            if (p == NULL || p->bucket != b)
                p = audit_part_push(o, o->items[k].key.vni, b);
            if (p == NULL)
                return STRATA_ENOMEM;
            struct strata_audit_item di;
            node_audit_item_digest(&o->items[k], &di);
            struct strata_audit_digest d = {p->keys, p->digest};
            strata_audit_add(&d, &di);
            p->keys = d.keys;
            p->digest = d.sum;
        }
    }
    return 0;
}

static int audit_cmp_part(const void *x, const void *y)
{
    const struct node_audit_part *p = x, *q = y;
    if (p->vni != q->vni)
        return p->vni < q->vni ? -1 : 1;
    return p->bucket < q->bucket ? -1 : p->bucket > q->bucket;
}

void node_audit_sort_parts(struct node_audit_part *parts, size_t n)
{
    if (n > 0)
        qsort(parts, n, sizeof(*parts), audit_cmp_part);
}

bool node_audit_wanted(const struct node_audit_item *it, const struct node_audit_part *wanted,
                       size_t n)
{
    if (n == 0)
        return false;
    struct node_audit_part k[2] = {{.vni = it->key.vni, .bucket = it->bucket},
                                   {.vni = it->key.vni, .bucket = STRATA_AUDIT_WHOLE}};
    return bsearch(&k[0], wanted, n, sizeof(k[0]), audit_cmp_part) != NULL ||
           bsearch(&k[1], wanted, n, sizeof(k[1]), audit_cmp_part) != NULL;
}

int node_audit_collect(struct node *a, const struct node_dp_dump *d, struct node_audit *out,
                       struct strata_err *e)
{
    memset(out, 0, sizeof(*out));
    struct audit_ctx c = {.a = a, .out = out, .n_neigh = d->n_neigh, .n_fdb = d->n_fdb};
    c.neigh = malloc((d->n_neigh + 1) * sizeof(*c.neigh));
    c.neigh_used = calloc(d->n_neigh + 1, sizeof(bool));
    c.fdb = malloc((d->n_fdb + 1) * sizeof(*c.fdb));
    c.fdb_used = calloc(d->n_fdb + 1, sizeof(bool));
    int rc = 0;
    if (c.neigh == NULL || c.neigh_used == NULL || c.fdb == NULL || c.fdb_used == NULL) {
        rc = STRATA_ENOMEM;
        goto out;
    }
    if (d->n_neigh > 0)
        memcpy(c.neigh, d->neigh, d->n_neigh * sizeof(*c.neigh));
    if (d->n_fdb > 0)
        memcpy(c.fdb, d->fdb, d->n_fdb * sizeof(*c.fdb));
    qsort(c.neigh, c.n_neigh, sizeof(*c.neigh), audit_cmp_neigh);
    qsort(c.fdb, c.n_fdb, sizeof(*c.fdb), audit_cmp_fdb);
    node_table_each(a, audit_visit_held, &c);
    audit_extras(&c);
    rc = c.oom ? STRATA_ENOMEM : audit_digests(out);
out:
    free(c.neigh);
    free(c.neigh_used);
    free(c.fdb);
    free(c.fdb_used);
    if (rc != 0) {
        node_audit_free(out);
        return strata_err_set(e, rc, "audit: out of memory");
    }
    return 0;
}

void node_audit_free(struct node_audit *au)
{
    free(au->items);
    free(au->parts);
    memset(au, 0, sizeof(*au));
}

/* Entries another program wrote over this key's: the kernel keeps an entry's marks when it is
 * replaced, so rewriting them would leave them not Strata's. Delete them; the answer to the
 * re-resolve installs Strata's own. */
static void audit_unowned_del(struct node *a, const struct node_dp_dump *d,
                              const struct node_entry *ent)
{
    struct strata_err e;
    const uint8_t *mac = ent->key.kind == NODE_KEY_IP ? ent->mac : ent->key.mac;
    for (size_t i = 0; ent->key.kind == NODE_KEY_IP && i < d->n_neigh; i++) {
        const struct node_dp_neigh *n = &d->neigh[i];
        if (n->vni != ent->key.vni || !strata_ip_equal(&n->ip, &ent->key.ip))
            continue;
        if (!n->owned)
            (void)a->dp.ops->neigh_del(a->dp.ctx, n->vni, &n->ip, &e);
        mac = n->mac; /* the MAC the kernel sends this IP to */
    }
    const struct node_dp_fdb *f = node_dp_dump_fdb(d, ent->key.vni, mac);
    if (f != NULL && !f->owned)
        (void)a->dp.ops->fdb_del(a->dp.ctx, f->vni, f->mac, &e);
    f = node_dp_dump_fdb(d, ent->key.vni, ent->mac);
    if (f != NULL && !f->owned)
        (void)a->dp.ops->fdb_del(a->dp.ctx, f->vni, f->mac, &e);
}

bool node_audit_repair(struct node *a, const struct node_dp_dump *d, const struct node_key *k)
{
    struct node_entry *ent = node_table_find(a, k);
    if (ent != NULL && ent->state == NODE_POSITIVE) {
        if (!ent->inflight)
            audit_unowned_del(a, d, ent);
        node_reask(a, ent);
        return ent->inflight;
    }
    /* Not held: adopt what the kernel has of Strata's for it; the answer keeps or removes it. */
    bool adopted = false;
    if (k->kind == NODE_KEY_IP) {
        for (size_t i = 0; i < d->n_neigh && !adopted; i++) {
            const struct node_dp_neigh *n = &d->neigh[i];
            if (n->vni != k->vni || !n->owned || !strata_ip_equal(&n->ip, &k->ip))
                continue;
            const struct node_dp_fdb *f = node_dp_dump_fdb(d, k->vni, n->mac);
            node_adopt(a, k, n->mac, f != NULL && f->owned ? &f->vtep : NULL);
            adopted = true;
        }
    } else if (k->kind == NODE_KEY_MAC) {
        const struct node_dp_fdb *f = node_dp_dump_fdb(d, k->vni, k->mac);
        if (f != NULL && f->owned) {
            node_adopt(a, k, k->mac, &f->vtep);
            adopted = true;
        }
    }
    if (!adopted || (ent = node_table_find(a, k)) == NULL)
        return false;
    node_reask(a, ent);
    return ent->inflight;
}

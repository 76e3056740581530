/* node_miss.c - kernel misses to resolutions to kernel entries: coalescing, negative caching,
 * and the install/remove rules shared by answers, pushed updates and reconcile. */
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "log.h"

static bool node_miss_is_self(const struct node *a, const struct strata_ip *vtep)
{
    return vtep->family == 0 || strata_ip_equal(vtep, &a->self_vtep);
}

/* An entry holds a reference on the FDB entry of its MAC iff it is installed, positive and its
 * endpoint is remote (local MACs are the bridge's business). */
static bool node_miss_holds_fdb(const struct node *a, const struct node_entry *ent)
{
    return ent->installed && ent->state == NODE_POSITIVE && !node_miss_is_self(a, &ent->vtep);
}

/* force: the kernel may lack the entry (a miss, or a resync's dump, said so): write it even
 * when another key already holds it with this VTEP. */
static void node_miss_fdb_ref(struct node *a, uint32_t vni, const uint8_t mac[6],
                              const struct strata_ip *vtep, bool force)
{
    struct node_key k = {.vni = vni, .kind = NODE_KEY_FDB};
    memcpy(k.mac, mac, 6);
    struct node_entry *f = node_table_get(a, &k);
    if (f == NULL)
        return;
    if (force || f->refs == 0 || !strata_ip_equal(&f->vtep, vtep)) {
        struct strata_err e;
        if (a->dp.ops->fdb_set(a->dp.ctx, vni, mac, vtep, &e) != 0) {
            a->c.install_errors++;
            LOG_WARN("fdb set vni=%u: %s", vni, e.msg);
        }
        f->vtep = *vtep;
        f->state = NODE_POSITIVE;
        f->installed = true;
    }
    f->refs++;
}

static void node_miss_fdb_unref(struct node *a, uint32_t vni, const uint8_t mac[6])
{
    struct node_key k = {.vni = vni, .kind = NODE_KEY_FDB};
    memcpy(k.mac, mac, 6);
    struct node_entry *f = node_table_find(a, &k);
    if (f == NULL)
        return;
    if (f->refs > 1) {
        f->refs--;
        return;
    }
    struct strata_err e;
    if (a->dp.ops->fdb_del(a->dp.ctx, vni, mac, &e) != 0)
        LOG_WARN("fdb del vni=%u: %s", vni, e.msg);
    node_table_remove(a, f);
}

static void node_miss_uninstall(struct node *a, struct node_entry *ent)
{
    if (!ent->installed)
        return;
    if (ent->key.kind == NODE_KEY_IP) {
        struct strata_err e;
        if (a->dp.ops->neigh_del(a->dp.ctx, ent->key.vni, &ent->key.ip, &e) != 0)
            LOG_WARN("neigh del vni=%u: %s", ent->key.vni, e.msg);
    }
    if (node_miss_holds_fdb(a, ent))
        node_miss_fdb_unref(a, ent->key.vni, ent->mac);
    ent->installed = false;
    a->c.removals++;
}

void node_entry_set(struct node *a, struct node_entry *ent, const struct node_answer *ans)
{
    uint64_t now = a->now_ms();
    if (!ent->force && ent->installed && ent->state == NODE_POSITIVE &&
        memcmp(ent->mac, ans->mac, 6) == 0 && strata_ip_equal(&ent->vtep, &ans->vtep)) {
        /* Same answer: the kernel is already right; touch nothing (restart without disruption). */
        if (ent->verifying)
            a->c.kept++;
        if (ans->version > ent->version)
            ent->version = ans->version;
        ent->updated_ms = now;
        return;
    }
    bool had_fdb = node_miss_holds_fdb(a, ent);
    bool force = ent->force;
    uint8_t old_mac[6];
    memcpy(old_mac, ent->mac, 6);

    ent->state = NODE_POSITIVE;
    memcpy(ent->mac, ans->mac, 6);
    ent->vtep = ans->vtep;
    ent->version = ans->version;
    ent->updated_ms = now;
    ent->force = false;
    if (ent->key.kind == NODE_KEY_IP) {
        struct strata_err e;
        if (a->dp.ops->neigh_set(a->dp.ctx, ent->key.vni, &ent->key.ip, ent->mac, &e) != 0) {
            a->c.install_errors++;
            LOG_WARN("neigh set vni=%u: %s", ent->key.vni, e.msg);
        }
    }
    /* Take the new FDB reference before dropping the old one: a move of the same MAC rewrites
     * the entry in place instead of deleting and re-adding it. */
    ent->installed = true;
    if (!node_miss_is_self(a, &ent->vtep))
        node_miss_fdb_ref(a, ent->key.vni, ent->mac, &ent->vtep, force);
    if (had_fdb)
        node_miss_fdb_unref(a, ent->key.vni, old_mac);
    a->c.installs++;
    /* Last, once the FDB entry is in: a VM whose ARP the VXLAN device consumed sends what it
     * queued as soon as it hears the answer. */
    if (ent->key.kind == NODE_KEY_IP && a->dp.ops->announce != NULL) {
        struct strata_err e;
        if (a->dp.ops->announce(a->dp.ctx, ent->key.vni, &ent->key.ip, ent->mac, &e) != 0)
            LOG_DEBUG("announce vni=%u: %s", ent->key.vni, e.msg);
    }
}

static void node_miss_set_negative(struct node *a, struct node_entry *ent,
                                   const struct node_answer *ans)
{
    node_miss_uninstall(a, ent);
    uint32_t ttl =
        ans != NULL && ans->negative_ttl_ms != 0 ? ans->negative_ttl_ms : a->negative_ttl_ms;
    ent->state = NODE_NEGATIVE;
    ent->version = ans != NULL ? ans->version : 0;
    ent->updated_ms = a->now_ms();
    ent->expires_ms = ent->updated_ms + ttl;
    ent->force = false;
}

static void node_miss_ask(struct node *a, struct node_entry *ent)
{
    ent->inflight = true;
    a->c.resolves++;
    if (a->res.resolve(a->res.ctx, &ent->key) != 0) {
        ent->inflight = false;
        if (ent->state == NODE_PENDING)
            node_table_remove(a, ent);
    }
}

void node_reask(struct node *a, struct node_entry *ent)
{
    if (ent->inflight || ent->key.kind == NODE_KEY_FDB)
        return;
    ent->force = true;
    ent->verifying = true;
    node_miss_ask(a, ent);
}

void node_miss_handle(struct node *a, const struct node_key *key, uint64_t miss_us)
{
    a->c.misses++;
    if (key->kind == NODE_KEY_IP)
        a->c.l3miss++;
    else
        a->c.l2miss++;
    struct node_entry *ent = node_table_find(a, key);
    if (ent != NULL && ent->inflight) {
        ent->force = true;
        /* A resolve that a resync (not a miss) started now answers a miss too: its install is
         * that miss's (latency, on_install). */
        if (ent->miss_us == 0)
            ent->miss_us = miss_us;
        a->c.coalesced++;
        return;
    }
    if (ent != NULL && ent->state == NODE_NEGATIVE && a->now_ms() < ent->expires_ms) {
        a->c.negative_cached++;
        return;
    }
    if (ent == NULL) {
        ent = node_table_get(a, key);
        if (ent == NULL)
            return;
    }
    /* A positive entry we hold but the kernel misses: someone removed it. Ask again rather
     * than trust a value that may be stale, and reinstall whatever the answer is. */
    ent->force = true;
    ent->miss_us = miss_us;
    node_miss_ask(a, ent);
}

void node_answer(struct node *a, const struct node_key *key, const struct node_answer *ans)
{
    struct node_entry *ent = node_table_find(a, key);
    if (ent == NULL || ent->key.kind == NODE_KEY_FDB)
        return; /* nobody asked (or it was dropped meanwhile) */
    ent->inflight = false;
    if (ans->status == 0 && ans->found && !ans->denied) {
        node_entry_set(a, ent, ans);
        ent->verifying = false;
        if (ent->miss_us != 0 && a->on_install != NULL)
            a->on_install(a->on_install_arg, ent);
        ent->miss_us = 0;
        return;
    }
    ent->verifying = false;
    ent->miss_us = 0;
    node_miss_set_negative(a, ent, ans);
}

void node_answer_failed(struct node *a, const struct node_key *key)
{
    struct node_entry *ent = node_table_find(a, key);
    if (ent == NULL)
        return;
    ent->inflight = false;
    ent->miss_us = 0;
    if (ent->state == NODE_PENDING && !ent->installed)
        node_table_remove(a, ent);
}

struct node_miss_list {
    struct node_entry **v;
    size_t n, cap;
    uint32_t vni; /* 0 = all */
    bool all_kinds;
};

static void node_miss_collect(struct node_entry *ent, void *arg)
{
    struct node_miss_list *l = arg;
    if (!l->all_kinds && ent->key.kind == NODE_KEY_FDB)
        return;
    if (l->vni != 0 && ent->key.vni != l->vni)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct node_entry **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ent;
}

void node_resync(struct node *a)
{
    a->c.resyncs++;
    struct node_miss_list l = {0};
    node_table_each(a, node_miss_collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct node_entry *ent = l.v[i];
        if (ent->inflight)
            continue;
        if (ent->state != NODE_POSITIVE) {
            /* Negative memories may be wrong now: forget them, the next miss asks. */
            node_table_remove(a, ent);
            continue;
        }
        ent->verifying = true;
        node_miss_ask(a, ent);
    }
    free(l.v);
}

void node_entry_drop(struct node *a, struct node_entry *ent)
{
    node_miss_uninstall(a, ent);
    node_table_remove(a, ent);
}

void node_drop_vn(struct node *a, uint32_t vni)
{
    struct node_miss_list l = {.vni = vni, .all_kinds = true};
    node_table_each(a, node_miss_collect, &l);
    for (size_t i = 0; i < l.n; i++)
        node_table_remove(a, l.v[i]); /* the devices and their entries are gone */
    free(l.v);
}

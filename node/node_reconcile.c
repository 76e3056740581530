/* node_reconcile.c - restart without disruption (the OVN way): dump what the kernel holds, keep
 * what is still right, repair what is not, and touch only entries Strata owns. */
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "log.h"

void node_dp_dump_free(struct node_dp_dump *d)
{
    free(d->vnis);
    free(d->neigh);
    free(d->fdb);
    free(d->flood);
    memset(d, 0, sizeof(*d));
}

static bool node_reconcile_has(const uint32_t *v, size_t n, uint32_t vni)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == vni)
            return true;
    return false;
}

const struct node_dp_fdb *node_dp_dump_fdb(const struct node_dp_dump *d, uint32_t vni,
                                           const uint8_t mac[6])
{
    for (size_t i = 0; i < d->n_fdb; i++)
        if (d->fdb[i].vni == vni && memcmp(d->fdb[i].mac, mac, 6) == 0)
            return &d->fdb[i];
    return NULL;
}

/* Record an entry the kernel already has, with the reference counts a live agent would hold, so
 * that a matching answer changes nothing and a different one repairs it. */
void node_adopt(struct node *a, const struct node_key *k, const uint8_t mac[6],
                const struct strata_ip *vtep)
{
    struct node_entry *ent = node_table_get(a, k);
    if (ent == NULL || ent->installed)
        return;
    ent->state = NODE_POSITIVE;
    memcpy(ent->mac, mac, 6);
    ent->vtep = vtep != NULL ? *vtep : a->self_vtep;
    ent->installed = true;
    ent->verifying = true;
    ent->updated_ms = a->now_ms();
    if (vtep != NULL && !strata_ip_equal(vtep, &a->self_vtep)) {
        struct node_key fk = {.vni = k->vni, .kind = NODE_KEY_FDB};
        memcpy(fk.mac, mac, 6);
        struct node_entry *f = node_table_get(a, &fk);
        if (f != NULL) {
            f->state = NODE_POSITIVE;
            f->installed = true;
            f->vtep = *vtep;
            f->refs++;
        }
    }
}

/* Held entries the agent believes installed: suspect until the dump shows them (a resync after
 * ENOBUFS must repair what the kernel lost meanwhile, not trust its own memory). */
static void node_reconcile_suspect(struct node_entry *ent, void *arg)
{
    (void)arg;
    if (ent->installed && !ent->inflight && ent->key.kind != NODE_KEY_FDB &&
        ent->state == NODE_POSITIVE)
        ent->force = true;
}

static void node_reconcile_seen(struct node *a, const struct node_key *k, const uint8_t mac[6],
                                const struct strata_ip *vtep)
{
    struct node_entry *ent = node_table_find(a, k);
    if (ent == NULL || ent->inflight || !ent->installed || memcmp(ent->mac, mac, 6) != 0)
        return;
    if (vtep != NULL && !strata_ip_equal(&ent->vtep, vtep))
        return;
    ent->force = false;
}

/* Which held entries the kernel still has: those it lacks are reinstalled by their answer even
 * when the value did not change (node_entry_set's force). */
static void node_reconcile_check_held(struct node *a, const struct node_dp_dump *d)
{
    node_table_each(a, node_reconcile_suspect, NULL);
    for (size_t i = 0; i < d->n_neigh; i++) {
        struct node_key k;
        node_key_ip(&k, d->neigh[i].vni, &d->neigh[i].ip);
        const struct node_dp_fdb *f = node_dp_dump_fdb(d, d->neigh[i].vni, d->neigh[i].mac);
        struct node_entry *ent = node_table_find(a, &k);
        /* A remote endpoint needs its FDB entry too; a local one has none. */
        if (ent != NULL && ent->vtep.family != 0 && !strata_ip_equal(&ent->vtep, &a->self_vtep) &&
            f == NULL)
            continue;
        node_reconcile_seen(a, &k, d->neigh[i].mac, NULL);
    }
    for (size_t i = 0; i < d->n_fdb; i++) {
        struct node_key k;
        node_key_mac(&k, d->fdb[i].vni, d->fdb[i].mac);
        node_reconcile_seen(a, &k, d->fdb[i].mac, &d->fdb[i].vtep);
    }
}

int node_reconcile(struct node *a, const uint32_t *keep_vnis, size_t n, struct strata_err *e)
{
    struct node_dp_dump d = {0};
    int rc = a->dp.ops->dump_owned(a->dp.ctx, &d, e);
    if (rc != 0)
        return rc;
    /* Devices of VNs that lost their last port while we were away. */
    for (size_t i = 0; i < d.n_vnis; i++) {
        if (node_reconcile_has(keep_vnis, n, d.vnis[i]))
            continue;
        struct strata_err e2;
        LOG_INFO("reconcile: removing devices of vni=%u (no ports left)", d.vnis[i]);
        if (a->dp.ops->vn_release(a->dp.ctx, d.vnis[i], &e2) != 0)
            LOG_WARN("reconcile: vni=%u: %s", d.vnis[i], e2.msg);
        node_drop_vn(a, d.vnis[i]);
    }
    node_reconcile_check_held(a, &d);
    size_t adopted = 0;
    for (size_t i = 0; i < d.n_neigh; i++) {
        const struct node_dp_neigh *ne = &d.neigh[i];
        if (!node_reconcile_has(keep_vnis, n, ne->vni))
            continue;
        const struct node_dp_fdb *f = node_dp_dump_fdb(&d, ne->vni, ne->mac);
        struct node_key k;
        node_key_ip(&k, ne->vni, &ne->ip);
        node_adopt(a, &k, ne->mac, f != NULL ? &f->vtep : NULL);
        adopted++;
    }
    for (size_t i = 0; i < d.n_fdb; i++) {
        const struct node_dp_fdb *f = &d.fdb[i];
        if (!node_reconcile_has(keep_vnis, n, f->vni))
            continue;
        struct node_key fk = {.vni = f->vni, .kind = NODE_KEY_FDB};
        memcpy(fk.mac, f->mac, 6);
        if (node_table_find(a, &fk) != NULL)
            continue; /* referenced by an adopted neighbour entry */
        struct node_key k;
        node_key_mac(&k, f->vni, f->mac);
        node_adopt(a, &k, f->mac, &f->vtep);
        adopted++;
    }
    /* Flood entries need no adoption: flood_set diffs against the kernel when the VN's list
     * is fetched again. */
    LOG_INFO("reconcile: %zu owned entries adopted, verifying", adopted);
    node_dp_dump_free(&d);
    /* Ask about everything adopted; a.c.resyncs counts this pass too. */
    node_resync(a);
    return 0;
}

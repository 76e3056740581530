/* node_update.c - pushed updates from the connectivity server: rewrite or remove exactly the
 * kernel entries of the affected key, and replace a VN's flood list. */
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "log.h"

void node_update_endpoint(struct node *a, const struct node_key *key, const struct node_answer *ans)
{
    if (ans->status != 0 || !ans->found || ans->denied) {
        node_update_invalidate(a, key);
        return;
    }
    struct node_entry *ent = node_table_find(a, key);
    if (ent == NULL || key->kind == NODE_KEY_FDB)
        return; /* never asked here: nothing in the kernel to fix */
    if (ent->state == NODE_POSITIVE && ans->version != 0 && ans->version < ent->version)
        return; /* older than what we hold: never go back in time */
    /* Also for a key remembered as negative (e.g. invalidated when its endpoint left one host):
     * the server still counts us as a holder, so its reappearance (a migration) is pushed here
     * and installed at once, without waiting for the VM's neighbour entry to go stale. */
    a->c.updates_applied++;
    node_entry_set(a, ent, ans);
    ent->verifying = false;
}

void node_update_invalidate(struct node *a, const struct node_key *key)
{
    struct node_entry *ent = node_table_find(a, key);
    if (ent == NULL || key->kind == NODE_KEY_FDB)
        return;
    a->c.invalidations++;
    /* Remove exactly this key's kernel entries and remember it as negative (agent TTL): the
     * VM's retries do not storm the server, and a later update for the key still applies. */
    struct node_answer none = {.found = false};
    bool inflight = ent->inflight;
    node_answer(a, key, &none);
    if (inflight) {
        ent->inflight = true; /* the answer on its way will say what is true by then */
        return;
    }
    /* Ask once more: the server drops its record of holders with the deleted key, and asking
     * again (negative answer) puts us back among the holders of the key, so the endpoint's
     * reappearance elsewhere (detach here, attach there: a migration) is pushed at once. */
    ent->inflight = true;
    a->c.resolves++;
    if (a->res.resolve(a->res.ctx, key) != 0)
        ent->inflight = false;
}

int node_update_flood(struct node *a, uint32_t vni, const struct strata_ip *vteps, size_t n,
                      struct strata_err *e)
{
    struct node_vn *v = node_vn_get(a, vni);
    if (v == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    struct strata_ip *list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (vteps[i].family == 0 || strata_ip_equal(&vteps[i], &a->self_vtep))
            continue; /* never flood to ourselves */
        bool dup = false;
        for (size_t j = 0; j < m; j++)
            dup = dup || strata_ip_equal(&list[j], &vteps[i]);
        if (!dup)
            list[m++] = vteps[i];
    }
    free(v->flood);
    v->flood = list;
    v->n_flood = m;
    if (v->ports == 0)
        return 0; /* no device for this VN here: nothing to program */
    a->c.updates_applied++;
    return a->dp.ops->flood_set(a->dp.ctx, vni, list, m, e);
}

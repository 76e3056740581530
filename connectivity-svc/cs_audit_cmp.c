/* cs_audit_cmp.c - an audit's comparisons and repairs: the cache against the directory, each
 * node's digests against what the server believes it holds, each node's details (what it holds,
 * what its kernel has) against the directory; the server's holder records corrected on the way;
 * with --repair, the cache fixed and each node's keys to resolve again collected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs_audit.h"
#include "log.h"

int cs_audit_add_div(struct cs_audit *au, const struct audit_div *d)
{
    if (au->n_divs >= AUDIT_DIVS_MAX) {
        au->divs_omitted++;
        return 0;
    }
    if (au->n_divs == au->cap_divs) {
        size_t cap = au->cap_divs ? au->cap_divs * 2 : 16;
        struct audit_div *v = realloc(au->divs, cap * sizeof(*v));
        if (v == NULL)
            return STRATA_ENOMEM;
        au->divs = v;
        au->cap_divs = cap;
    }
    au->divs[au->n_divs++] = *d;
    return 0;
}

static void audit_truth_text(const struct audit_truth *t, char *buf, size_t cap)
{
    cs_audit_value_text(buf, cap, t->found, t->mac, t->vtep, t->vtep_len, t->host);
}

static void audit_force(struct cs_audit *au, uint32_t sid, uint32_t vni)
{
    if (au->n_force == au->cap_force) {
        size_t cap = au->cap_force ? au->cap_force * 2 : 16;
        void *v = realloc(au->force, cap * sizeof(*au->force));
        if (v == NULL)
            return; /* its digest decides alone */
        au->force = v;
        au->cap_force = cap;
    }
    au->force[au->n_force].sid = sid;
    au->force[au->n_force].vni = vni;
    au->n_force++;
}

/* ---- the cache */

struct audit_cache_ctx {
    struct cs_audit *au;
    uint64_t now;
};

static void audit_cache_visit(struct cs_entry *e, void *arg)
{
    struct audit_cache_ctx *c = arg;
    struct cs_audit *au = c->au;
    struct cs_key k;
    cs_entry_key(e, &k);
    struct audit_truth *t = cs_audit_truth_find(au, &k);
    if (t == NULL || !t->answered || (!e->found && e->expire_ms <= c->now))
        return; /* cached after the audit began, or a negative no longer served */
    au->cache_checked++;
    bool same = e->found
                    ? t->found && e->version == t->version && memcmp(e->mac, t->mac, 6) == 0 &&
                          e->vtep_len == t->vtep_len && memcmp(e->vtep, t->vtep, t->vtep_len) == 0
                    : !t->found || t->version <= e->version;
    if (same)
        return;
    if ((t->found && t->version > au->start_index) || e->version > au->start_index) {
        au->in_flight++; /* the feed and the audit's read crossed a change */
        return;
    }
    struct audit_div d = {.vni = e->vni, .k = k, .node = UINT32_MAX, .tier = "cs-cache"};
    snprintf(d.host, sizeof(d.host), "%s", au->cs->id ? au->cs->id : "cs");
    cs_audit_key_text(&k, d.key, sizeof(d.key));
    d.kind = e->found && !t->found ? "extra" : "stale";
    if (e->found)
        cs_audit_value_text(d.holds, sizeof(d.holds), true, e->mac, e->vtep, e->vtep_len,
                            cs_cache_host_name(au->cs->cache, e->host));
    else
        snprintf(d.holds, sizeof(d.holds), "absent (as of index %llu)",
                 (unsigned long long)e->version);
    d.holds_version = e->version;
    audit_truth_text(t, d.directory, sizeof(d.directory));
    d.directory_version = t->version;
    (void)cs_audit_add_div(au, &d);
    /* Its holders got their value from here: see them in detail whatever their digests. */
    const uint32_t *ids = cs_iset_ids(&e->holders);
    for (uint32_t i = 0; i < cs_iset_count(&e->holders); i++)
        audit_force(au, ids[i], e->vni);
}

void cs_audit_check_cache(struct cs_audit *au)
{
    struct audit_cache_ctx c = {.au = au, .now = strata_now_ms()};
    cs_cache_foreach(au->cs->cache, audit_cache_visit, &c);
    au->checked += au->cache_checked;
}

/* ---- digests */

static int audit_u32_push(uint32_t **v, size_t *n, uint32_t x)
{
    if (*n > 0 && (*v)[*n - 1] == x)
        return 0;
    uint32_t *p = realloc(*v, (*n + 1) * sizeof(*p));
    if (p == NULL)
        return STRATA_ENOMEM;
    p[(*n)++] = x;
    *v = p;
    return 0;
}

static int audit_u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static const struct audit_vn *audit_reported(const struct audit_node *n, uint32_t vni)
{
    for (size_t i = 0; i < n->n_vns; i++)
        if (n->vns[i].vni == vni)
            return &n->vns[i];
    return NULL;
}

int cs_audit_differ(struct cs_audit *au, struct audit_node *n)
{
    uint32_t *cand = NULL;
    size_t nc = 0;
    int rc = 0;
    /* Every VN either side names, and the forced ones. */
    for (size_t i = 0; rc == 0 && i < n->n_vns; i++)
        rc = audit_u32_push(&cand, &nc, n->vns[i].vni);
    for (size_t i = 0; rc == 0 && i < au->n_exp; i++)
        if (au->exp[i].sid == n->sid)
            rc = audit_u32_push(&cand, &nc, au->exp[i].vni);
    if (rc != 0) {
        free(cand);
        return rc;
    }
    if (nc > 0)
        qsort(cand, nc, sizeof(*cand), audit_u32_cmp);
    for (size_t i = 0; rc == 0 && i < nc; i++) {
        if (i > 0 && cand[i] == cand[i - 1])
            continue;
        const struct audit_vn *r = audit_reported(n, cand[i]);
        const struct audit_exp *x = NULL;
        for (size_t j = 0; j < au->n_exp && x == NULL; j++)
            if (au->exp[j].sid == n->sid && au->exp[j].vni == cand[i])
                x = &au->exp[j];
        bool forced = au->all_details;
        for (size_t j = 0; j < au->n_force && !forced; j++)
            forced = au->force[j].sid == n->sid && au->force[j].vni == cand[i];
        bool same = r != NULL && x != NULL && r->keys == x->keys && r->digest == x->digest;
        if (!same || forced)
            rc = audit_u32_push(&n->differ, &n->n_differ, cand[i]);
    }
    free(cand);
    return rc;
}

/* ---- a node's details */

static bool audit_vtep_eq(const uint8_t *a, uint8_t alen, const uint8_t *b, uint8_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void audit_node_div(struct cs_audit *au, size_t ni, const struct audit_dent *x,
                           const struct audit_truth *t, const char *kind, const char *tier,
                           const char *holds)
{
    struct audit_node *n = &au->nodes[ni];
    struct audit_div d = {.vni = x->k.vni,
                          .k = x->k,
                          .node = (uint32_t)ni,
                          .kind = kind,
                          .tier = tier,
                          .holds_version = x->version};
    snprintf(d.host, sizeof(d.host), "%s", n->host);
    cs_audit_key_text(&x->k, d.key, sizeof(d.key));
    snprintf(d.holds, sizeof(d.holds), "%s", holds);
    audit_truth_text(t, d.directory, sizeof(d.directory));
    d.directory_version = t->version;
    (void)cs_audit_add_div(au, &d);
}

/* One key of node ni: the first tier that disagrees with the directory, as trace reports it. */
static void audit_check_dent(struct cs_audit *au, size_t ni, const struct audit_dent *x,
                             const struct audit_truth *t)
{
    const char *held_tier = au->nodes[ni].gateway ? "gateway" : "agent";
    char kv[120], text[200];
    cs_audit_value_text(kv, sizeof(kv), true, x->kernel_mac, x->kernel_vtep, x->kernel_vtep_len,
                        NULL);
    if (!x->held) {
        snprintf(text, sizeof(text), "kernel: %s, held by no answer", kv);
        audit_node_div(au, ni, x, t, "extra", "kernel", text);
        return;
    }
    bool held_ok = t->found && x->version == t->version && memcmp(x->held_mac, t->mac, 6) == 0 &&
                   audit_vtep_eq(x->held_vtep, x->held_vtep_len, t->vtep, t->vtep_len);
    if (!held_ok && t->found && t->version > au->start_index) {
        au->in_flight++;
        return;
    }
    if (!held_ok) {
        cs_audit_value_text(text, sizeof(text), true, x->held_mac, x->held_vtep, x->held_vtep_len,
                            NULL);
        audit_node_div(au, ni, x, t, t->found ? "stale" : "extra", held_tier, text);
        return;
    }
    if (!x->in_kernel) {
        audit_node_div(au, ni, x, t, "missing", "kernel", "nothing in the kernel");
        return;
    }
    if (memcmp(x->kernel_mac, t->mac, 6) != 0 ||
        !audit_vtep_eq(x->kernel_vtep, x->kernel_vtep_len, t->vtep, t->vtep_len)) {
        snprintf(text, sizeof(text), "kernel: %s%s", kv,
                 x->kernel_owned ? "" : " (not marked as Strata's)");
        audit_node_div(au, ni, x, t, "stale", "kernel", text);
    }
}

static int audit_dent_cmp(const void *x, const void *y)
{
    return cs_audit_key_cmp(&((const struct audit_dent *)x)->k, &((const struct audit_dent *)y)->k);
}

struct audit_prune_ctx {
    struct cs_audit *au;
    struct audit_node *n;
};

static bool audit_node_has_vn(const struct audit_node *n, uint32_t vni)
{
    return n->n_differ > 0 &&
           bsearch(&vni, n->differ, n->n_differ, sizeof(vni), audit_u32_cmp) != NULL;
}

/* A holder record of a key the node does not hold: it would get updates it ignores. */
static void audit_prune_visit(struct cs_entry *e, void *arg)
{
    struct audit_prune_ctx *c = arg;
    if (!cs_iset_has(&e->holders, c->n->sid) || !audit_node_has_vn(c->n, e->vni))
        return;
    struct audit_dent key = {0};
    cs_entry_key(e, &key.k);
    const struct audit_dent *x =
        c->n->n_ents > 0 ? bsearch(&key, c->n->ents, c->n->n_ents, sizeof(key), audit_dent_cmp)
                         : NULL;
    if (x != NULL && x->held)
        return;
    cs_cache_holder_del(c->au->cs->cache, e, c->n->sid);
    c->au->holders_fixed++;
}

/* A key the node holds that the server has no record of: it would never be told of a change. */
static void audit_record_holder(struct cs_audit *au, struct audit_node *n,
                                const struct audit_dent *x, const struct audit_truth *t)
{
    struct cs *cs = au->cs;
    struct cs_entry *e = cs_cache_find(cs->cache, &x->k);
    if (e == NULL && t->found) {
        struct cs_value v = {
            .found = true, .host = t->host, .version = t->version, .vtep_len = t->vtep_len};
        memcpy(v.mac, t->mac, 6);
        memcpy(v.vtep, t->vtep, t->vtep_len);
        if (cs_cache_put(cs->cache, &x->k, &v, strata_now_ms(), &e) < 0)
            e = NULL;
    }
    if (e != NULL && cs_cache_holder_add(cs->cache, e, n->sid) == 1)
        au->holders_fixed++;
}

void cs_audit_check_node(struct cs_audit *au, size_t ni)
{
    struct audit_node *n = &au->nodes[ni];
    if (n->n_ents > 0)
        qsort(n->ents, n->n_ents, sizeof(*n->ents), audit_dent_cmp);
    for (size_t i = 0; i < n->n_ents; i++) {
        const struct audit_dent *x = &n->ents[i];
        struct audit_truth *t = cs_audit_truth_find(au, &x->k);
        if (t == NULL || !t->answered)
            continue;
        audit_check_dent(au, ni, x, t);
        if (x->held)
            audit_record_holder(au, n, x, t);
    }
    /* Details cut short say nothing of what the node does not hold. */
    if (n->details_full) {
        struct audit_prune_ctx c = {au, n};
        cs_cache_foreach(au->cs->cache, audit_prune_visit, &c);
    }
}

/* ---- repair */

static int audit_repair_key(struct audit_node *n, const struct cs_key *k)
{
    struct cs_key *v = realloc(n->repair, (n->n_repair + 1) * sizeof(*v));
    if (v == NULL)
        return STRATA_ENOMEM;
    v[n->n_repair++] = *k;
    n->repair = v;
    return 0;
}

/* The cache takes the directory's answer, and its holders are told as the feed would have. */
static void audit_repair_entry(struct cs_audit *au, struct audit_div *d)
{
    struct cs *cs = au->cs;
    struct cs_entry *e = cs_cache_find(cs->cache, &d->k);
    struct audit_truth *t = cs_audit_truth_find(au, &d->k);
    if (e == NULL || t == NULL)
        return;
    uint64_t now = strata_wall_us();
    if (!t->found) {
        struct cs_payload *p = cs_payload_entry(cs, e, now);
        const uint32_t *ids = cs_iset_ids(&e->holders);
        for (uint32_t i = 0; p != NULL && i < cs_iset_count(&e->holders); i++)
            cs_agents_push(cs->agents, ids[i], CS_UPD_INVALIDATE, &d->k, p);
        cs_payload_unref(p);
        cs_cache_remove(cs->cache, e);
        d->repaired = true;
        return;
    }
    struct cs_value v = {
        .found = true, .host = t->host, .version = t->version, .vtep_len = t->vtep_len};
    memcpy(v.mac, t->mac, 6);
    memcpy(v.vtep, t->vtep, t->vtep_len);
    if (cs_cache_put(cs->cache, &d->k, &v, strata_now_ms(), &e) != CS_PUT_STORED)
        return;
    struct cs_payload *p = cs_payload_entry(cs, e, now);
    const uint32_t *ids = cs_iset_ids(&e->holders);
    for (uint32_t i = 0; p != NULL && i < cs_iset_count(&e->holders); i++)
        cs_agents_push(cs->agents, ids[i], CS_UPD_ENDPOINT, &d->k, p);
    cs_payload_unref(p);
    d->repaired = true;
}

void cs_audit_repair_cache(struct cs_audit *au)
{
    for (size_t i = 0; i < au->n_divs; i++) {
        struct audit_div *d = &au->divs[i];
        if (d->node == UINT32_MAX)
            audit_repair_entry(au, d);
        else if (audit_repair_key(&au->nodes[d->node], &d->k) != 0)
            LOG_WARN("audit: out of memory: %s %s not repaired", d->host, d->key);
    }
    LOG_INFO("audit %llu: repairing %zu divergences", (unsigned long long)au->id, au->n_divs);
}

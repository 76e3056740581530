/* cs_audit_cmp.c - an audit's comparisons and repairs: the cache against the directory, each
 * node's digests against what the server believes it holds, each node's details (what it holds,
 * what its kernel has) against the directory; the server's holder records corrected on the way;
 * with --repair, the cache fixed and each node's keys to resolve again collected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "audit.h"
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

/* Whether the directory's answer t is an endpoint at (mac, vtep). */
static bool audit_truth_at(const struct audit_truth *t, const uint8_t mac[6], const uint8_t *vtep,
                           uint8_t vtep_len)
{
    return t->found && memcmp(mac, t->mac, 6) == 0 && vtep_len == t->vtep_len &&
           memcmp(vtep, t->vtep, vtep_len) == 0;
}

/* ... and at that version: what a holder of the key must hold. */
static bool audit_truth_is(const struct audit_truth *t, uint64_t version, const uint8_t mac[6],
                           const uint8_t *vtep, uint8_t vtep_len)
{
    return audit_truth_at(t, mac, vtep, vtep_len) && version == t->version;
}

/* The directory's answer t as the cache stores one. */
static void audit_truth_value(const struct audit_truth *t, struct cs_value *v)
{
    *v = (struct cs_value){
        .found = true, .host = t->host, .version = t->version, .vtep_len = t->vtep_len};
    memcpy(v->mac, t->mac, 6);
    memcpy(v->vtep, t->vtep, t->vtep_len);
}

static void audit_truth_text(const struct audit_truth *t, char *buf, size_t cap)
{
    cs_audit_value_text(buf, cap, t->found, t->mac, t->vtep, t->vtep_len, t->host);
}

static void audit_force(struct cs_audit *au, uint32_t sid, uint32_t vni, uint32_t bucket)
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
    au->force[au->n_force].bucket = bucket;
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
    bool same = e->found ? audit_truth_is(t, e->version, e->mac, e->vtep, e->vtep_len)
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
    struct strata_audit_item it;
    cs_audit_entry_item(e, &it);
    const uint32_t *ids = cs_iset_ids(&e->holders);
    for (uint32_t i = 0; i < cs_iset_count(&e->holders); i++)
        audit_force(au, ids[i], e->vni, strata_audit_bucket(&it));
}

void cs_audit_check_cache(struct cs_audit *au)
{
    struct audit_cache_ctx c = {.au = au, .now = strata_now_ms()};
    cs_cache_foreach(au->cs->cache, audit_cache_visit, &c);
    au->checked += au->cache_checked;
}

/* ---- digests */

static int audit_u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static int audit_want(struct audit_node *n, uint32_t vni, uint32_t bucket)
{
    uint64_t part = AUDIT_PART(vni, bucket);
    if (n->n_differ > 0 && n->differ[n->n_differ - 1] == part)
        return 0;
    uint64_t *p = realloc(n->differ, (n->n_differ + 1) * sizeof(*p));
    if (p == NULL)
        return STRATA_ENOMEM;
    p[n->n_differ++] = part;
    n->differ = p;
    return 0;
}

static bool audit_same(const struct audit_vn *a, const struct audit_vn *b)
{
    return a->keys == b->keys && a->digest == b->digest;
}

static bool audit_forced(const struct cs_audit *au, uint32_t sid, uint32_t vni, uint32_t bucket)
{
    for (size_t j = 0; j < au->n_force; j++)
        if (au->force[j].sid == sid && au->force[j].vni == vni &&
            (bucket == STRATA_AUDIT_WHOLE || au->force[j].bucket == bucket))
            return true;
    return false;
}

/* The first expected digest at or after (sid, vni) (exp is sorted by sid, vni, bucket). */
static size_t audit_exp_lower(const struct cs_audit *au, uint32_t sid, uint32_t vni)
{
    size_t lo = 0, hi = au->n_exp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct audit_exp *e = &au->exp[mid];
        if (e->sid < sid || (e->sid == sid && e->vni < vni))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int audit_vn_cmp(const void *x, const void *y)
{
    const struct audit_vn *p = x, *q = y;
    if (p->vni != q->vni)
        return p->vni < q->vni ? -1 : 1;
    return p->bucket < q->bucket ? -1 : p->bucket > q->bucket;
}

/* One VN of node n, its reported parts n->vns[a, b) and the expected au->exp[c, d): the whole
 * VN when the node reported it whole (or nothing of it), else each bucket either side has. */
static int audit_differ_vn(struct cs_audit *au, struct audit_node *n, uint32_t vni, size_t a,
                           size_t b, size_t c, size_t d)
{
    struct audit_vn got[STRATA_AUDIT_BUCKETS + 1] = {0}, want[STRATA_AUDIT_BUCKETS + 1] = {0};
    for (size_t i = c; i < d; i++) {
        want[au->exp[i].bucket].keys += au->exp[i].keys;
        want[au->exp[i].bucket].digest += au->exp[i].digest;
        want[STRATA_AUDIT_WHOLE].keys += au->exp[i].keys;
        want[STRATA_AUDIT_WHOLE].digest += au->exp[i].digest;
    }
    for (size_t i = a; i < b; i++)
        got[n->vns[i].bucket] = n->vns[i];
    bool whole = b - a == 0 || (b - a == 1 && n->vns[a].bucket == STRATA_AUDIT_WHOLE);
    if (au->all_details || whole) {
        if (au->all_details || b == a ||
            !audit_same(&got[STRATA_AUDIT_WHOLE], &want[STRATA_AUDIT_WHOLE]) ||
            audit_forced(au, n->sid, vni, STRATA_AUDIT_WHOLE))
            return audit_want(n, vni, STRATA_AUDIT_WHOLE);
        return 0;
    }
    for (uint32_t k = 0; k < STRATA_AUDIT_BUCKETS; k++) {
        if (audit_same(&got[k], &want[k]) && !audit_forced(au, n->sid, vni, k))
            continue;
        int rc = audit_want(n, vni, k);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cs_audit_differ(struct cs_audit *au, struct audit_node *n)
{
    if (n->n_vns > 0)
        qsort(n->vns, n->n_vns, sizeof(*n->vns), audit_vn_cmp);
    /* Walk the node's reported VNs and the expected ones (both sorted by VN) together. */
    size_t a = 0, c = audit_exp_lower(au, n->sid, 0);
    for (;;) {
        bool more_r = a < n->n_vns;
        bool more_e = c < au->n_exp && au->exp[c].sid == n->sid;
        if (!more_r && !more_e)
            return 0;
        uint32_t vni = !more_e                                     ? n->vns[a].vni
                       : !more_r || au->exp[c].vni < n->vns[a].vni ? au->exp[c].vni
                                                                   : n->vns[a].vni;
        size_t b = a, d = c;
        while (b < n->n_vns && n->vns[b].vni == vni)
            b++;
        while (d < au->n_exp && au->exp[d].sid == n->sid && au->exp[d].vni == vni)
            d++;
        int rc = audit_differ_vn(au, n, vni, a, b, c, d);
        if (rc != 0)
            return rc;
        a = b;
        c = d;
    }
}

/* ---- a node's details */

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
    bool held_ok = audit_truth_is(t, x->version, x->held_mac, x->held_vtep, x->held_vtep_len);
    /* A change committed after the audit began: a newer version, or a deletion the server has
     * applied since (it held the answer then, and no longer does). */
    const struct cs_entry *now = cs_cache_find(au->cs->cache, &x->k);
    if (!held_ok && ((t->found && t->version > au->start_index) ||
                     (!t->found && t->cached_found && (now == NULL || !now->found)))) {
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
    if (!audit_truth_at(t, x->kernel_mac, x->kernel_vtep, x->kernel_vtep_len)) {
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

bool cs_audit_node_wants(const struct audit_node *n, const struct cs_key *k)
{
    struct strata_audit_item it = {.vni = k->vni, .key_len = (uint8_t)cs_key_len(k->kind)};
    memcpy(it.key, k->b, it.key_len);
    uint64_t parts[2] = {AUDIT_PART(k->vni, strata_audit_bucket(&it)),
                         AUDIT_PART(k->vni, STRATA_AUDIT_WHOLE)};
    for (int i = 0; i < 2; i++)
        if (n->n_differ > 0 &&
            bsearch(&parts[i], n->differ, n->n_differ, sizeof(parts[i]), audit_u64_cmp) != NULL)
            return true;
    return false;
}

/* A holder record of a key the node does not hold: it would get updates it ignores. */
static void audit_prune_visit(struct cs_entry *e, void *arg)
{
    struct audit_prune_ctx *c = arg;
    struct audit_dent key = {0};
    cs_entry_key(e, &key.k);
    if (!cs_iset_has(&e->holders, c->n->sid) || !cs_audit_node_wants(c->n, &key.k))
        return;
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
        struct cs_value v;
        audit_truth_value(t, &v);
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
    struct cs_value v;
    audit_truth_value(t, &v);
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

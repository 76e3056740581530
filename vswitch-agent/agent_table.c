/* agent_table.c - the agent's held entries (a chained hash keyed by VNI, kind and address) and
 * its per-VN records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define AGENT_TABLE_INITIAL 1024

int agent_init(struct agent *a, struct agent_dp dp, struct agent_resolver res,
               const struct strata_ip *self_vtep, uint32_t negative_ttl_ms,
               uint64_t (*now_ms)(void))
{
    memset(a, 0, sizeof(*a));
    a->dp = dp;
    a->res = res;
    a->self_vtep = *self_vtep;
    a->negative_ttl_ms = negative_ttl_ms;
    a->now_ms = now_ms;
    a->n_buckets = AGENT_TABLE_INITIAL;
    a->buckets = calloc(a->n_buckets, sizeof(*a->buckets));
    return a->buckets == NULL ? STRATA_ENOMEM : 0;
}

void agent_fini(struct agent *a)
{
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct agent_entry *e = a->buckets[i];
        while (e != NULL) {
            struct agent_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(a->buckets);
    a->buckets = NULL;
    while (a->vns != NULL) {
        struct agent_vn *v = a->vns;
        a->vns = v->next;
        free(v->flood);
        free(v);
    }
}

static uint64_t agent_table_hash(const struct agent_key *k)
{
    /* FNV-1a over the fields that make the key. */
    uint64_t h = 1469598103934665603ull;
    uint8_t buf[4 + 1 + 16 + 6];
    memcpy(buf, &k->vni, 4);
    buf[4] = k->kind;
    memcpy(buf + 5, k->ip.a, 16);
    memcpy(buf + 21, k->mac, 6);
    for (size_t i = 0; i < sizeof(buf); i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool agent_table_key_eq(const struct agent_key *x, const struct agent_key *y)
{
    if (x->vni != y->vni || x->kind != y->kind)
        return false;
    if (x->kind == AGENT_KEY_IP)
        return strata_ip_equal(&x->ip, &y->ip);
    return memcmp(x->mac, y->mac, 6) == 0;
}

struct agent_entry *agent_table_find(struct agent *a, const struct agent_key *k)
{
    size_t b = agent_table_hash(k) & (a->n_buckets - 1);
    for (struct agent_entry *e = a->buckets[b]; e != NULL; e = e->next)
        if (agent_table_key_eq(&e->key, k))
            return e;
    return NULL;
}

static void agent_table_grow(struct agent *a)
{
    size_t n = a->n_buckets * 2;
    struct agent_entry **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return; /* keep the longer chains */
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct agent_entry *e = a->buckets[i];
        while (e != NULL) {
            struct agent_entry *next = e->next;
            size_t b = agent_table_hash(&e->key) & (n - 1);
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(a->buckets);
    a->buckets = nb;
    a->n_buckets = n;
}

struct agent_entry *agent_table_get(struct agent *a, const struct agent_key *k)
{
    struct agent_entry *e = agent_table_find(a, k);
    if (e != NULL)
        return e;
    if (a->n_entries >= a->n_buckets)
        agent_table_grow(a);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    /* Normalise the key so unused fields never differ between equal keys. */
    e->key.vni = k->vni;
    e->key.kind = k->kind;
    if (k->kind == AGENT_KEY_IP)
        e->key.ip = k->ip;
    else
        memcpy(e->key.mac, k->mac, 6);
    size_t b = agent_table_hash(&e->key) & (a->n_buckets - 1);
    e->next = a->buckets[b];
    a->buckets[b] = e;
    a->n_entries++;
    return e;
}

void agent_table_remove(struct agent *a, struct agent_entry *ent)
{
    size_t b = agent_table_hash(&ent->key) & (a->n_buckets - 1);
    for (struct agent_entry **p = &a->buckets[b]; *p != NULL; p = &(*p)->next) {
        if (*p == ent) {
            *p = ent->next;
            a->n_entries--;
            free(ent);
            return;
        }
    }
}

void agent_table_each(struct agent *a, void (*fn)(struct agent_entry *, void *), void *arg)
{
    for (size_t i = 0; i < a->n_buckets; i++)
        for (struct agent_entry *e = a->buckets[i]; e != NULL; e = e->next)
            fn(e, arg);
}

void agent_key_format(const struct agent_key *k, char *buf, size_t cap)
{
    char s[STRATA_IP_STRLEN];
    if (k->kind == AGENT_KEY_IP) {
        snprintf(buf, cap, "ip %s", strata_ip_format(&k->ip, s));
    } else {
        char m[STRATA_MAC_STRLEN];
        snprintf(buf, cap, "%s %s", k->kind == AGENT_KEY_MAC ? "mac" : "fdb",
                 strata_mac_format(k->mac, m));
    }
}

void agent_key_ip(struct agent_key *k, uint32_t vni, const struct strata_ip *ip)
{
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = AGENT_KEY_IP;
    k->ip = *ip;
}

void agent_key_mac(struct agent_key *k, uint32_t vni, const uint8_t mac[6])
{
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = AGENT_KEY_MAC;
    memcpy(k->mac, mac, 6);
}

struct agent_vn *agent_vn_find(struct agent *a, uint32_t vni)
{
    for (struct agent_vn *v = a->vns; v != NULL; v = v->next)
        if (v->vni == vni)
            return v;
    return NULL;
}

struct agent_vn *agent_vn_get(struct agent *a, uint32_t vni)
{
    struct agent_vn *v = agent_vn_find(a, vni);
    if (v != NULL)
        return v;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->vni = vni;
    v->next = a->vns;
    a->vns = v;
    return v;
}

void agent_vn_remove(struct agent *a, uint32_t vni)
{
    for (struct agent_vn **p = &a->vns; *p != NULL; p = &(*p)->next) {
        if ((*p)->vni == vni) {
            struct agent_vn *v = *p;
            *p = v->next;
            free(v->flood);
            free(v);
            return;
        }
    }
}

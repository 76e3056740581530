/* node_table.c - a core's held entries (a chained hash keyed by VNI, kind and address) and
 * its per-VN records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define NODE_TABLE_INITIAL 1024

int node_init(struct node *a, struct node_dp dp, struct node_resolver res,
              const struct strata_ip *self_vtep, uint32_t negative_ttl_ms, uint64_t (*now_ms)(void))
{
    memset(a, 0, sizeof(*a));
    a->dp = dp;
    a->res = res;
    a->self_vtep = *self_vtep;
    a->negative_ttl_ms = negative_ttl_ms;
    a->now_ms = now_ms;
    a->n_buckets = NODE_TABLE_INITIAL;
    a->buckets = calloc(a->n_buckets, sizeof(*a->buckets));
    return a->buckets == NULL ? STRATA_ENOMEM : 0;
}

void node_fini(struct node *a)
{
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct node_entry *e = a->buckets[i];
        while (e != NULL) {
            struct node_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(a->buckets);
    a->buckets = NULL;
    while (a->vns != NULL) {
        struct node_vn *v = a->vns;
        a->vns = v->next;
        free(v->flood);
        free(v);
    }
}

static uint64_t node_table_hash(const struct node_key *k)
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

static bool node_table_key_eq(const struct node_key *x, const struct node_key *y)
{
    if (x->vni != y->vni || x->kind != y->kind)
        return false;
    if (x->kind == NODE_KEY_IP)
        return strata_ip_equal(&x->ip, &y->ip);
    return memcmp(x->mac, y->mac, 6) == 0;
}

struct node_entry *node_table_find(struct node *a, const struct node_key *k)
{
    size_t b = node_table_hash(k) & (a->n_buckets - 1);
    for (struct node_entry *e = a->buckets[b]; e != NULL; e = e->next)
        if (node_table_key_eq(&e->key, k))
            return e;
    return NULL;
}

static void node_table_grow(struct node *a)
{
    size_t n = a->n_buckets * 2;
    struct node_entry **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return; /* keep the longer chains */
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct node_entry *e = a->buckets[i];
        while (e != NULL) {
            struct node_entry *next = e->next;
            size_t b = node_table_hash(&e->key) & (n - 1);
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(a->buckets);
    a->buckets = nb;
    a->n_buckets = n;
}

struct node_entry *node_table_get(struct node *a, const struct node_key *k)
{
    struct node_entry *e = node_table_find(a, k);
    if (e != NULL)
        return e;
    if (a->n_entries >= a->n_buckets)
        node_table_grow(a);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    /* Normalise the key so unused fields never differ between equal keys. */
    e->key.vni = k->vni;
    e->key.kind = k->kind;
    if (k->kind == NODE_KEY_IP)
        e->key.ip = k->ip;
    else
        memcpy(e->key.mac, k->mac, 6);
    size_t b = node_table_hash(&e->key) & (a->n_buckets - 1);
    e->next = a->buckets[b];
    a->buckets[b] = e;
    a->n_entries++;
    return e;
}

void node_table_remove(struct node *a, struct node_entry *ent)
{
    size_t b = node_table_hash(&ent->key) & (a->n_buckets - 1);
    for (struct node_entry **p = &a->buckets[b]; *p != NULL; p = &(*p)->next) {
        if (*p == ent) {
            *p = ent->next;
            a->n_entries--;
            free(ent);
            return;
        }
    }
}

void node_table_each(struct node *a, void (*fn)(struct node_entry *, void *), void *arg)
{
    for (size_t i = 0; i < a->n_buckets; i++)
        for (struct node_entry *e = a->buckets[i]; e != NULL; e = e->next)
            fn(e, arg);
}

void node_key_format(const struct node_key *k, char *buf, size_t cap)
{
    char s[STRATA_IP_STRLEN];
    if (k->kind == NODE_KEY_IP) {
        snprintf(buf, cap, "ip %s", strata_ip_format(&k->ip, s));
    } else {
        char m[STRATA_MAC_STRLEN];
        snprintf(buf, cap, "%s %s", k->kind == NODE_KEY_MAC ? "mac" : "fdb",
                 strata_mac_format(k->mac, m));
    }
}

void node_key_ip(struct node_key *k, uint32_t vni, const struct strata_ip *ip)
{
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = NODE_KEY_IP;
    k->ip = *ip;
}

void node_key_mac(struct node_key *k, uint32_t vni, const uint8_t mac[6])
{
    memset(k, 0, sizeof(*k));
    k->vni = vni;
    k->kind = NODE_KEY_MAC;
    memcpy(k->mac, mac, 6);
}

struct node_vn *node_vn_find(struct node *a, uint32_t vni)
{
    for (struct node_vn *v = a->vns; v != NULL; v = v->next)
        if (v->vni == vni)
            return v;
    return NULL;
}

struct node_vn *node_vn_get(struct node *a, uint32_t vni)
{
    struct node_vn *v = node_vn_find(a, vni);
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

void node_vn_remove(struct node *a, uint32_t vni)
{
    for (struct node_vn **p = &a->vns; *p != NULL; p = &(*p)->next) {
        if ((*p)->vni == vni) {
            struct node_vn *v = *p;
            *p = v->next;
            free(v->flood);
            free(v);
            return;
        }
    }
}

/* node.h - the node core shared by host agent and gateway: held resolutions, misses, answers,
 * pushed updates, reconcile. No sockets and no clock of its own: the datapath and the resolver
 * are tables of function pointers (node_dp.h, node_csd.h). */
#ifndef NODE_H
#define NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "audit.h"
#include "node_dp.h"
#include "err.h"

enum node_key_kind {
    NODE_KEY_IP = 1,  /* l3miss: IP -> MAC (+ MAC -> VTEP) */
    NODE_KEY_MAC = 2, /* l2miss: MAC -> VTEP */
    NODE_KEY_FDB = 3, /* internal: an FDB entry installed for one or more held keys */
};

struct node_key {
    uint32_t vni;
    uint8_t kind;
    struct strata_ip ip; /* NODE_KEY_IP */
    uint8_t mac[6];      /* NODE_KEY_MAC, NODE_KEY_FDB */
};

enum node_entry_state { NODE_PENDING = 0, NODE_POSITIVE, NODE_NEGATIVE };

struct node_entry {
    struct node_key key;
    uint8_t state;
    bool inflight;  /* a resolve is outstanding */
    bool verifying; /* adopted from the kernel (or being re-resolved): keep until answered */
    bool installed; /* the kernel has this key's entries */
    bool force;     /* a miss proved the kernel lacks them: install even if unchanged */
    uint8_t mac[6];
    struct strata_ip vtep;
    uint64_t version;
    uint64_t updated_ms; /* value last set */
    uint64_t expires_ms; /* negative answers */
    uint64_t miss_us;    /* first miss of the outstanding resolve (latency) */
    uint32_t refs;       /* NODE_KEY_FDB: held keys using it */
    struct node_entry *next;
};

/* A resolution answer as the core needs it (node_csd.c converts ResolveAnswer / Update). */
struct node_answer {
    int status; /* 0, or the csd's per-query error: treated as negative */
    bool found;
    bool denied;
    uint8_t mac[6];
    struct strata_ip vtep;
    uint64_t version;
    uint32_t negative_ttl_ms;
};

/* Asynchronous resolution: resolve() queues a question; the answer comes back through
 * node_answer() (or node_answer_failed() on a transport error). */
struct node_resolver {
    int (*resolve)(void *ctx, const struct node_key *key);
    void *ctx;
};

struct node_counters {
    uint64_t misses, l2miss, l3miss, resolves, coalesced, negative_cached, updates_applied,
        invalidations, installs, resyncs, removals, kept, install_errors, overruns;
};

struct node_vn {
    uint32_t vni;
    uint32_t ports; /* local users of the VN's devices (VM ports; the gateway itself): 0 = none */
    struct strata_ip *flood; /* remote VTEPs (never our own) */
    size_t n_flood;
    struct node_vn *next;
};

struct node {
    struct node_dp dp;
    struct node_resolver res;
    struct strata_ip self_vtep;
    uint32_t negative_ttl_ms;
    uint64_t (*now_ms)(void);
    struct node_entry **buckets;
    size_t n_buckets, n_entries;
    struct node_vn *vns;
    struct node_counters c;
    /* Called after a miss's answer is installed (bench, tests). */
    void (*on_install)(void *arg, const struct node_entry *ent);
    void *on_install_arg;
};

int node_init(struct node *a, struct node_dp dp, struct node_resolver res,
              const struct strata_ip *self_vtep, uint32_t negative_ttl_ms,
              uint64_t (*now_ms)(void));
void node_fini(struct node *a);

/* ---- held entries (node_table.c) */
struct node_entry *node_table_find(struct node *a, const struct node_key *k);
struct node_entry *node_table_get(struct node *a, const struct node_key *k); /* find/create */
void node_table_remove(struct node *a, struct node_entry *ent);
/* Visit every entry (fn may not remove entries: collect first). */
void node_table_each(struct node *a, void (*fn)(struct node_entry *, void *), void *arg);
/* "ip 10.1.0.7" / "mac 02:00:..." */
void node_key_format(const struct node_key *k, char *buf, size_t cap);
void node_key_ip(struct node_key *k, uint32_t vni, const struct strata_ip *ip);
void node_key_mac(struct node_key *k, uint32_t vni, const uint8_t mac[6]);

/* ---- VNs (node_table.c) */
struct node_vn *node_vn_find(struct node *a, uint32_t vni);
struct node_vn *node_vn_get(struct node *a, uint32_t vni);
void node_vn_remove(struct node *a, uint32_t vni);

/* ---- misses and answers (node_miss.c) */
/* A kernel miss for `key` at time miss_us: coalesces with an in-flight resolve, is dropped while
 * a negative answer is remembered, reinstalls a held positive answer, or asks the resolver. */
void node_miss_handle(struct node *a, const struct node_key *key, uint64_t miss_us);
/* The answer to a resolve of `key`: install (positive), or remove and remember (negative). */
void node_answer(struct node *a, const struct node_key *key, const struct node_answer *ans);
/* The resolve could not be done (server unreachable): forget the in-flight mark only. */
void node_answer_failed(struct node *a, const struct node_key *key);
/* Ask again for every held key (resync after a lost update stream or ENOBUFS). */
void node_resync(struct node *a);
/* Remove `ent`'s kernel entries and forget it. */
void node_entry_drop(struct node *a, struct node_entry *ent);
/* Drop everything held for a VN (its devices are going away). */
void node_drop_vn(struct node *a, uint32_t vni);

/* Ask again about a held key and rewrite its kernel entries from the answer even if unchanged
 * (an audit's repair); no-op while a resolve is outstanding. */
void node_reask(struct node *a, struct node_entry *ent);

/* Set a positive value and make the kernel match it (only what changed, unless ent->force). */
void node_entry_set(struct node *a, struct node_entry *ent, const struct node_answer *ans);

/* ---- pushed updates (node_update.c) */
/* New value of a held key; endpoint moved (mac/vtep) or changed version. */
void node_update_endpoint(struct node *a, const struct node_key *key,
                          const struct node_answer *ans);
/* The key is gone: remove exactly its kernel entries. */
void node_update_invalidate(struct node *a, const struct node_key *key);
/* The VN's flood list: our own VTEP is filtered out. */
int node_update_flood(struct node *a, uint32_t vni, const struct strata_ip *vteps, size_t n,
                      struct strata_err *e);

/* ---- restart (node_reconcile.c) */
/* Dump the datapath, delete owned devices of VNs not in `keep_vnis`, adopt the owned entries of
 * the others as held keys being verified, and re-resolve them: answers that match keep the
 * kernel entries untouched, others rewrite or remove them. Un-owned entries are never touched. */
int node_reconcile(struct node *a, const uint32_t *keep_vnis, size_t n, struct strata_err *e);
/* Hold an entry the kernel has (mac, at vtep; NULL: local, no FDB entry) as a key being
 * verified, with the FDB reference a live node would hold: the next answer keeps, rewrites or
 * removes it. No-op when k is already installed. */
void node_adopt(struct node *a, const struct node_key *k, const uint8_t mac[6],
                const struct strata_ip *vtep);

/* ---- audit (node_audit.c): what this node holds against what its kernel has */
struct node_audit_item {
    struct node_key key; /* NODE_KEY_IP or NODE_KEY_MAC */
    bool held;           /* a positive answer */
    uint64_t version;
    uint8_t held_mac[6];
    struct strata_ip held_vtep;
    bool in_kernel, kernel_owned;
    uint8_t kernel_mac[6];
    struct strata_ip kernel_vtep; /* family 0: no FDB entry (and not local) */
    uint32_t bucket;              /* strata_audit_bucket of the key */
};
/* A VN's digest, or one bucket's (STRATA_AUDIT_WHOLE: the whole VN's). */
struct node_audit_part {
    uint32_t vni, bucket, keys;
    uint64_t digest;
};
struct node_audit {
    struct node_audit_item *items; /* sorted by VN and bucket */
    size_t n, cap;
    struct node_audit_part *parts;
    size_t n_parts, cap_parts;
};
/* Every held positive key with what the kernel (dump `d`, from dump_all) has for it, then every
 * kernel entry of Strata's that no held key explains; and their digests (lib/audit.h): one per
 * VN, or per bucket for a VN of more than STRATA_AUDIT_BUCKETS keys. */
int node_audit_collect(struct node *a, const struct node_dp_dump *d, struct node_audit *out,
                       struct strata_err *e);
void node_audit_free(struct node_audit *au);
/* Sort parts for node_audit_wanted. */
void node_audit_sort_parts(struct node_audit_part *parts, size_t n);
/* Whether item `it` is in one of the parts wanted[0..n), sorted (a whole VN, or a bucket). */
bool node_audit_wanted(const struct node_audit_item *it, const struct node_audit_part *wanted,
                       size_t n);
/* The digest item of one collected key (what its connectivity server computes from its cache). */
void node_audit_item_digest(const struct node_audit_item *it, struct strata_audit_item *out);
/* Repair key k: re-resolve a held key and rewrite its kernel entries; adopt an entry of
 * Strata's that no key holds so that its answer removes (or keeps) it. Returns true when a
 * resolve was asked. An entry that is not Strata's and that no key holds is left alone. */
bool node_audit_repair(struct node *a, const struct node_dp_dump *d, const struct node_key *k);

#endif

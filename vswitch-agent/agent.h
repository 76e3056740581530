/* agent.h - the agent core: held resolutions, miss handling, pushed updates, reconcile. No
 * sockets and no clock of its own: the datapath and the resolver are tables of function pointers.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "agent_dp.h"
#include "err.h"

enum agent_key_kind {
    AGENT_KEY_IP = 1,  /* l3miss: IP -> MAC (+ MAC -> VTEP) */
    AGENT_KEY_MAC = 2, /* l2miss: MAC -> VTEP */
    AGENT_KEY_FDB = 3, /* internal: an FDB entry installed for one or more held keys */
};

struct agent_key {
    uint32_t vni;
    uint8_t kind;
    struct strata_ip ip; /* AGENT_KEY_IP */
    uint8_t mac[6];      /* AGENT_KEY_MAC, AGENT_KEY_FDB */
};

enum agent_entry_state { AGENT_PENDING = 0, AGENT_POSITIVE, AGENT_NEGATIVE };

struct agent_entry {
    struct agent_key key;
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
    uint32_t refs;       /* AGENT_KEY_FDB: held keys using it */
    struct agent_entry *next;
};

/* A resolution answer as the core needs it (agent_csd.c converts ResolveAnswer / Update). */
struct agent_answer {
    int status; /* 0, or the csd's per-query error: treated as negative */
    bool found;
    bool denied;
    uint8_t mac[6];
    struct strata_ip vtep;
    uint64_t version;
    uint32_t negative_ttl_ms;
};

/* Asynchronous resolution: resolve() queues a question; the answer comes back through
 * agent_answer() (or agent_answer_failed() on a transport error). */
struct agent_resolver {
    int (*resolve)(void *ctx, const struct agent_key *key);
    void *ctx;
};

struct agent_counters {
    uint64_t misses, l2miss, l3miss, resolves, coalesced, negative_cached, updates_applied,
        invalidations, installs, resyncs, removals, kept, install_errors, overruns;
};

struct agent_vn {
    uint32_t vni;
    uint32_t ports;
    struct strata_ip *flood; /* remote VTEPs (never our own) */
    size_t n_flood;
    struct agent_vn *next;
};

struct agent {
    struct agent_dp dp;
    struct agent_resolver res;
    struct strata_ip self_vtep;
    uint32_t negative_ttl_ms;
    uint64_t (*now_ms)(void);
    struct agent_entry **buckets;
    size_t n_buckets, n_entries;
    struct agent_vn *vns;
    struct agent_counters c;
    /* Called after a miss's answer is installed (bench, tests). */
    void (*on_install)(void *arg, const struct agent_entry *ent);
    void *on_install_arg;
};

int agent_init(struct agent *a, struct agent_dp dp, struct agent_resolver res,
               const struct strata_ip *self_vtep, uint32_t negative_ttl_ms,
               uint64_t (*now_ms)(void));
void agent_fini(struct agent *a);

/* ---- held entries (agent_table.c) */
struct agent_entry *agent_table_find(struct agent *a, const struct agent_key *k);
struct agent_entry *agent_table_get(struct agent *a, const struct agent_key *k); /* find/create */
void agent_table_remove(struct agent *a, struct agent_entry *ent);
/* Visit every entry (fn may not remove entries: collect first). */
void agent_table_each(struct agent *a, void (*fn)(struct agent_entry *, void *), void *arg);
/* "ip 10.1.0.7" / "mac 02:00:..." */
void agent_key_format(const struct agent_key *k, char *buf, size_t cap);
void agent_key_ip(struct agent_key *k, uint32_t vni, const struct strata_ip *ip);
void agent_key_mac(struct agent_key *k, uint32_t vni, const uint8_t mac[6]);

/* ---- VNs (agent_table.c) */
struct agent_vn *agent_vn_find(struct agent *a, uint32_t vni);
struct agent_vn *agent_vn_get(struct agent *a, uint32_t vni);
void agent_vn_remove(struct agent *a, uint32_t vni);

/* ---- misses and answers (agent_miss.c) */
/* A kernel miss for `key` at time miss_us: coalesces with an in-flight resolve, is dropped while
 * a negative answer is remembered, reinstalls a held positive answer, or asks the resolver. */
void agent_miss_handle(struct agent *a, const struct agent_key *key, uint64_t miss_us);
/* The answer to a resolve of `key`: install (positive), or remove and remember (negative). */
void agent_answer(struct agent *a, const struct agent_key *key, const struct agent_answer *ans);
/* The resolve could not be done (server unreachable): forget the in-flight mark only. */
void agent_answer_failed(struct agent *a, const struct agent_key *key);
/* Ask again for every held key (resync after a lost update stream or ENOBUFS). */
void agent_resync(struct agent *a);
/* Remove `ent`'s kernel entries and forget it. */
void agent_entry_drop(struct agent *a, struct agent_entry *ent);
/* Drop everything held for a VN (its devices are going away). */
void agent_drop_vn(struct agent *a, uint32_t vni);

/* Set a positive value and make the kernel match it (only what changed, unless ent->force). */
void agent_entry_set(struct agent *a, struct agent_entry *ent, const struct agent_answer *ans);

/* ---- pushed updates (agent_update.c) */
/* New value of a held key; endpoint moved (mac/vtep) or changed version. */
void agent_update_endpoint(struct agent *a, const struct agent_key *key,
                           const struct agent_answer *ans);
/* The key is gone: remove exactly its kernel entries. */
void agent_update_invalidate(struct agent *a, const struct agent_key *key);
/* The VN's flood list: our own VTEP is filtered out. */
int agent_update_flood(struct agent *a, uint32_t vni, const struct strata_ip *vteps, size_t n,
                       struct strata_err *e);

/* ---- restart (agent_reconcile.c) */
/* Dump the datapath, delete owned devices of VNs not in `keep_vnis`, adopt the owned entries of
 * the others as held keys being verified, and re-resolve them: answers that match keep the
 * kernel entries untouched, others rewrite or remove them. Un-owned entries are never touched. */
int agent_reconcile(struct agent *a, const uint32_t *keep_vnis, size_t n, struct strata_err *e);

#endif

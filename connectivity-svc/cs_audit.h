/* cs_audit.h - strata-csd's side of `strata audit`, shared by its two files: the run (cs_audit.c:
 * asking the nodes, collecting their reports, the reply) and the checks (cs_audit_check.c: the
 * directory's answers, the comparisons, the repairs). docs/protocol.md, Audit. */
#ifndef CS_AUDIT_H
#define CS_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cs.h"

/* The directory's answer for one key (or the key waiting for it). */
struct audit_truth {
    struct cs_key k;
    bool answered, found;
    bool cached_found; /* the cache held a positive answer for it when the audit began */
    uint8_t mac[6];
    uint8_t vtep_len;
    uint8_t vtep[16];
    uint64_t version;
    char host[64];
};

/* One key as a node reported it in detail. */
struct audit_dent {
    struct cs_key k;
    bool held, in_kernel, kernel_owned;
    uint64_t version;
    uint8_t held_mac[6], kernel_mac[6];
    uint8_t held_vtep_len, kernel_vtep_len;
    uint8_t held_vtep[16], kernel_vtep[16];
};

/* A part of a VN as a node reported its digest (bucket STRATA_AUDIT_WHOLE: the whole VN). */
struct audit_vn {
    uint32_t vni, bucket, keys;
    uint64_t digest;
};
/* A part as one number, for sorting and searching: vni << 8 | bucket. */
#define AUDIT_PART(vni, bucket) (((uint64_t)(vni) << 8) | (bucket))
#define AUDIT_PART_VNI(p) ((uint32_t)((p) >> 8))
#define AUDIT_PART_BUCKET(p) ((uint32_t)((p)&0xff))

/* One node (session) being audited. */
struct audit_node {
    uint32_t sid;
    uint64_t epoch;
    char host[64];
    bool gateway;
    bool answered, details_done, repair_done;
    bool details_full;    /* every piece of its details arrived */
    unsigned owed;        /* answers (last pieces) still owed for the UPD_AUDITs of this phase */
    struct audit_vn *vns; /* its digests */
    size_t n_vns, cap_vns;
    uint64_t *differ; /* parts (AUDIT_PART) whose details were asked, sorted */
    size_t n_differ;
    struct audit_dent *ents; /* its details, sorted by key once complete */
    size_t n_ents, cap_ents;
    struct cs_key *repair; /* keys it is asked to repair */
    size_t n_repair;
    uint64_t keys, report_bytes;
    uint32_t repaired;
    char note[128];
};

/* An expected digest: what the server believes node sid holds in a bucket of vni. */
struct audit_exp {
    uint32_t sid, vni, bucket, keys;
    uint64_t digest;
};

struct audit_div {
    char host[64];
    uint32_t vni;
    char key[64];
    const char *kind, *tier;
    char holds[200], directory[160];
    uint64_t holds_version, directory_version;
    bool repaired;
    uint32_t node; /* index in nodes, or UINT32_MAX for the server's cache */
    struct cs_key k;
};

enum audit_phase { AUDIT_DIGESTS = 1, AUDIT_DETAILS, AUDIT_TRUTH, AUDIT_REPAIR, AUDIT_DONE };

struct cs_audit {
    struct cs *cs;
    struct strata_req *req;
    uint64_t id, t0_us, start_index;
    unsigned timeout_ms;
    bool repair, all_details;
    enum audit_phase phase;
    uv_timer_t timer;
    unsigned pending; /* directory requests in flight */
    struct audit_node *nodes;
    size_t n_nodes;
    struct audit_exp *exp;
    size_t n_exp;
    struct audit_truth *truth; /* sorted by key */
    size_t n_truth, cap_truth;
    size_t truth_next; /* next key to ask the directory about */
    size_t cache_keys; /* the first keys of truth[] before sorting came from the cache */
    char **idle;       /* sessions not audited (see CS_AUDIT_IDLE_MS) */
    size_t n_idle;
    struct audit_div *divs;
    size_t n_divs, cap_divs;
    uint64_t checked, cache_checked, report_bytes;
    uint32_t in_flight, holders_fixed, dir_requests, dir_keys, divs_omitted;
    struct {
        uint32_t sid, vni, bucket;
    } * force; /* (node, VN, bucket) seen in detail whatever their digests: a stale cache entry */
    size_t n_force, cap_force;
    bool failed; /* the directory could not be asked: the reply says so */
    bool closed; /* the timer handle is closed: free once no directory request is pending */
    char fail_msg[200];
};

/* A registered session without a parked poll nor a request for this long is not audited (its
 * node is gone, or uses another server now): listed as idle instead. Agents poll far more often. */
#define CS_AUDIT_IDLE_MS 5000
#define AUDIT_DIVS_MAX 10000
/* What one node may report (a node is not trusted to be sane): parts of its digests, and entries
 * of its details (only those of the parts asked for are kept). ~100 bytes per entry kept. */
#define AUDIT_NODE_PARTS_MAX (STRATA_MAX_VNIS * (STRATA_AUDIT_BUCKETS + 1))
#define AUDIT_NODE_ENTRIES_MAX                                                                     \
    (1u << 20) /* listed in one reply (~150 bytes each); the rest counted */

/* ---- cs_audit.c */
/* Move the run on when what its phase waits for arrived (or its deadline passed). */
void cs_audit_step(struct cs_audit *au);
struct audit_node *cs_audit_node_of(struct cs_audit *au, const struct cs_session *s);
/* Free a finished run once no directory request of its is in flight. */
void cs_audit_release(struct cs_audit *au);

/* ---- cs_audit_check.c */
/* The expected digests from the cache (one pass, every audited node at once). */
int cs_audit_expect(struct cs_audit *au);
/* Every cache entry to check (positive, or a negative still served) as a key for the directory. */
int cs_audit_cache_keys(struct cs_audit *au);
/* Add a key to ask the directory about (no-op when present). */
int cs_audit_truth_add(struct cs_audit *au, const struct cs_key *k);
/* Sort the keys and ask the directory about those not answered yet, in batches. */
void cs_audit_ask_directory(struct cs_audit *au);
struct audit_truth *cs_audit_truth_find(struct cs_audit *au, const struct cs_key *k);
/* Compare the cache with the directory: divergences of tier cs-cache; the VNs of their holders
 * must then be seen in detail (marks them in `force`). */
void cs_audit_check_cache(struct cs_audit *au);
/* The parts of node n whose digests differ (or that a stale cache entry it holds forces). */
int cs_audit_differ(struct cs_audit *au, struct audit_node *n);
/* Whether node n was asked for the details of the part key k belongs to (its bucket, or its
 * whole VN; n->differ is sorted). */
bool cs_audit_node_wants(const struct audit_node *n, const struct cs_key *k);
/* Compare node n's details with the directory; fix the server's record of what it holds. */
void cs_audit_check_node(struct cs_audit *au, size_t ni);
/* --repair: fix the cache's divergences now; returns the nodes' keys to repair (set in each
 * node's `repair`). */
void cs_audit_repair_cache(struct cs_audit *au);
int cs_audit_add_div(struct cs_audit *au, const struct audit_div *d);
/* The digest item of a cache entry: what a node holding it should have in its kernel. */
struct strata_audit_item;
void cs_audit_entry_item(const struct cs_entry *e, struct strata_audit_item *it);
/* Text of a value: "mac M vtep V" (+ host), "no such endpoint". */
void cs_audit_value_text(char *buf, size_t cap, bool found, const uint8_t mac[6],
                         const uint8_t *vtep, uint8_t vtep_len, const char *host);
void cs_audit_key_text(const struct cs_key *k, char *buf, size_t cap);
int cs_audit_key_cmp(const struct cs_key *a, const struct cs_key *b);

#endif

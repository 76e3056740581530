/* cs_audit_check.c - what an audit compares: the digests the server expects of each node (from
 * its cache's holder records), the directory's answer for every key in question (read at least
 * at the feed index the audit started from), the cache and each node's details against those
 * answers, and the repairs. A difference explained by a change committed after the audit began
 * is counted as in flight, not reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "audit.h"
#include "cs_audit.h"
#include "log.h"

#define AUDIT_BATCHES_IN_FLIGHT 4
#define AUDIT_TRY_MS 2000

int cs_audit_key_cmp(const struct cs_key *a, const struct cs_key *b)
{
    if (a->vni != b->vni)
        return a->vni < b->vni ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return memcmp(a->b, b->b, 16);
}

static int audit_truth_cmp(const void *x, const void *y)
{
    return cs_audit_key_cmp(&((const struct audit_truth *)x)->k,
                            &((const struct audit_truth *)y)->k);
}

void cs_audit_key_text(const struct cs_key *k, char *buf, size_t cap)
{
    char s[STRATA_IP_STRLEN + STRATA_MAC_STRLEN];
    struct strata_ip ip;
    if (k->kind == CS_KEY_MAC)
        snprintf(buf, cap, "mac %s", strata_mac_format(k->b, s));
    else if (strata_ip_from_bytes(k->b, cs_key_len(k->kind), &ip, NULL) == 0)
        snprintf(buf, cap, "ip %s", strata_ip_format(&ip, s));
    else
        snprintf(buf, cap, "?");
}

void cs_audit_value_text(char *buf, size_t cap, bool found, const uint8_t mac[6],
                         const uint8_t *vtep, uint8_t vtep_len, const char *host)
{
    char m[STRATA_MAC_STRLEN], v[STRATA_IP_STRLEN] = "none";
    struct strata_ip ip;
    if (!found) {
        snprintf(buf, cap, "no such endpoint");
        return;
    }
    if (vtep_len != 0 && strata_ip_from_bytes(vtep, vtep_len, &ip, NULL) == 0)
        strata_ip_format(&ip, v);
    snprintf(buf, cap, "mac %s vtep %s%s%s", strata_mac_format(mac, m), v,
             host != NULL && *host ? " host " : "", host != NULL ? host : "");
}

/* ---- expected digests */

struct audit_expect_ctx {
    struct cs_audit *au;
    const bool *audited; /* by session id */
    uint32_t n_ids;
    struct audit_exp *v;
    size_t n, cap;
    bool oom;
};

static int audit_exp_cmp(const void *x, const void *y)
{
    const struct audit_exp *p = x, *q = y;
    if (p->sid != q->sid)
        return p->sid < q->sid ? -1 : 1;
    if (p->vni != q->vni)
        return p->vni < q->vni ? -1 : 1;
    return p->bucket < q->bucket ? -1 : p->bucket > q->bucket;
}

/* The digest item of a cache entry: what a node holding it should have in its kernel. */
void cs_audit_entry_item(const struct cs_entry *e, struct strata_audit_item *it)
{
    memset(it, 0, sizeof(*it));
    it->vni = e->vni;
    it->key_len = (uint8_t)cs_key_len(e->kind);
    memcpy(it->key, e->key, it->key_len);
    memcpy(it->mac, e->mac, 6);
    it->vtep_len = e->vtep_len;
    memcpy(it->vtep, e->vtep, e->vtep_len);
    it->version = e->version;
}

static void audit_expect_visit(struct cs_entry *e, void *arg)
{
    struct audit_expect_ctx *c = arg;
    if (!e->found || c->oom)
        return;
    struct strata_audit_item it;
    cs_audit_entry_item(e, &it);
    uint64_t h = strata_audit_hash(&it);
    uint32_t bucket = strata_audit_bucket(&it);
    const uint32_t *ids = cs_iset_ids(&e->holders);
    for (uint32_t i = 0; i < cs_iset_count(&e->holders); i++) {
        if (ids[i] >= c->n_ids || !c->audited[ids[i]])
            continue;
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 256;
            struct audit_exp *v = realloc(c->v, cap * sizeof(*v));
            if (v == NULL) {
                c->oom = true;
                return;
            }
            c->v = v;
            c->cap = cap;
        }
        c->v[c->n++] = (struct audit_exp){ids[i], e->vni, bucket, 1, h};
    }
}

int cs_audit_expect(struct cs_audit *au)
{
    uint32_t n_ids = 0;
    for (size_t i = 0; i < au->n_nodes; i++)
        if (au->nodes[i].sid + 1 > n_ids)
            n_ids = au->nodes[i].sid + 1;
    bool *audited = calloc(n_ids + 1, sizeof(bool));
    if (audited == NULL)
        return STRATA_ENOMEM;
    for (size_t i = 0; i < au->n_nodes; i++)
        audited[au->nodes[i].sid] = true;
    struct audit_expect_ctx c = {.au = au, .audited = audited, .n_ids = n_ids};
    cs_cache_foreach(au->cs->cache, audit_expect_visit, &c);
    free(audited);
    if (c.oom) {
        free(c.v);
        return STRATA_ENOMEM;
    }
    /* One (node, VN, bucket) per run of equal ones: the sum of their hashes. */
    if (c.n > 0)
        qsort(c.v, c.n, sizeof(*c.v), audit_exp_cmp);
    size_t m = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (m > 0 && c.v[m - 1].sid == c.v[i].sid && c.v[m - 1].vni == c.v[i].vni &&
            c.v[m - 1].bucket == c.v[i].bucket) {
            c.v[m - 1].keys++;
            c.v[m - 1].digest += c.v[i].digest;
        } else {
            c.v[m++] = c.v[i];
        }
    }
    au->exp = c.v;
    au->n_exp = m;
    return 0;
}

/* ---- the directory's answers */

int cs_audit_truth_add(struct cs_audit *au, const struct cs_key *k)
{
    if (au->n_truth == au->cap_truth) {
        size_t cap = au->cap_truth ? au->cap_truth * 2 : 256;
        struct audit_truth *v = realloc(au->truth, cap * sizeof(*v));
        if (v == NULL)
            return STRATA_ENOMEM;
        au->truth = v;
        au->cap_truth = cap;
    }
    struct audit_truth *t = &au->truth[au->n_truth++];
    memset(t, 0, sizeof(*t));
    t->k = *k;
    return 0;
}

struct audit_cache_keys_ctx {
    struct cs_audit *au;
    uint64_t now;
    bool oom;
};

static bool audit_served(const struct cs_entry *e, uint64_t now_ms)
{
    return e->found || e->expire_ms > now_ms;
}

static void audit_cache_key_visit(struct cs_entry *e, void *arg)
{
    struct audit_cache_keys_ctx *c = arg;
    struct cs_key k;
    if (!audit_served(e, c->now))
        return;
    cs_entry_key(e, &k);
    if (cs_audit_truth_add(c->au, &k) != 0)
        c->oom = true;
    else
        c->au->truth[c->au->n_truth - 1].cached_found = e->found;
}

int cs_audit_cache_keys(struct cs_audit *au)
{
    struct audit_cache_keys_ctx c = {.au = au, .now = strata_now_ms()};
    cs_cache_foreach(au->cs->cache, audit_cache_key_visit, &c);
    return c.oom ? STRATA_ENOMEM : 0;
}

struct audit_truth *cs_audit_truth_find(struct cs_audit *au, const struct cs_key *k)
{
    struct audit_truth key = {.k = *k};
    if (au->n_truth == 0)
        return NULL;
    return bsearch(&key, au->truth, au->n_truth, sizeof(key), audit_truth_cmp);
}

struct audit_batch {
    struct cs_audit *au;
    strata_env env;
    Strata__V1__ResolveRequest rq;
    Strata__V1__ResolveQuery q[STRATA_MAX_BATCH];
    Strata__V1__ResolveQuery *qp[STRATA_MAX_BATCH];
    struct cs_key k[STRATA_MAX_BATCH];
    int cursor;
};

static void audit_truth_set(struct audit_truth *t, const Strata__V1__ResolveAnswer *an)
{
    struct cs_value v;
    t->answered = true;
    t->found = cs_value_of_answer(an, &v);
    t->version = t->found ? v.version : an->version;
    if (!t->found)
        return;
    memcpy(t->mac, v.mac, 6);
    t->vtep_len = v.vtep_len;
    memcpy(t->vtep, v.vtep, v.vtep_len);
    snprintf(t->host, sizeof(t->host), "%s", v.host ? v.host : "");
}

static void audit_send_batches(struct cs_audit *au);

static void audit_batch_done(int rc, strata_env *reply, void *arg)
{
    struct audit_batch *b = arg;
    struct cs_audit *au = b->au;
    au->pending--;
    const Strata__V1__ResolveReply *rr =
        rc == 0 && reply->status == 0 &&
                reply->body_case == STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY &&
                reply->resolve_reply->n_answers == b->rq.n_queries
            ? reply->resolve_reply
            : NULL;
    if (rr == NULL && !au->failed && au->phase != AUDIT_DONE) {
        au->failed = true;
        snprintf(au->fail_msg, sizeof(au->fail_msg), "the directory could not be read: %s",
                 rc != 0                             ? strata_strerror(rc)
                 : reply->message && *reply->message ? reply->message
                                                     : strata_strerror(reply->status));
    }
    for (size_t i = 0; rr != NULL && au->phase != AUDIT_DONE && i < rr->n_answers; i++) {
        struct audit_truth *t = cs_audit_truth_find(au, &b->k[i]);
        if (t != NULL)
            audit_truth_set(t, rr->answers[i]);
    }
    if (reply != NULL)
        strata_msg_free(reply);
    free(b);
    if (au->phase == AUDIT_DONE) {
        cs_audit_release(au);
        return;
    }
    audit_send_batches(au);
    cs_audit_step(au);
}

static void audit_send_batches(struct cs_audit *au)
{
    while (au->pending < AUDIT_BATCHES_IN_FLIGHT && au->truth_next < au->n_truth && !au->failed) {
        struct audit_batch *b = calloc(1, sizeof(*b));
        if (b == NULL) {
            au->failed = true;
            snprintf(au->fail_msg, sizeof(au->fail_msg), "out of memory");
            return;
        }
        b->au = au;
        strata__v1__resolve_request__init(&b->rq);
        size_t n = 0;
        for (; au->truth_next < au->n_truth && n < STRATA_MAX_BATCH; au->truth_next++) {
            struct audit_truth *t = &au->truth[au->truth_next];
            if (t->answered)
                continue;
            Strata__V1__ResolveQuery *q = &b->q[n];
            strata__v1__resolve_query__init(q);
            b->k[n] = t->k;
            q->vni = t->k.vni;
            q->from_vni = t->k.vni;
            ProtobufCBinaryData *f = t->k.kind == CS_KEY_MAC ? &q->mac : &q->ip;
            f->data = b->k[n].b;
            f->len = cs_key_len(t->k.kind);
            b->qp[n] = q;
            n++;
        }
        if (n == 0) {
            free(b);
            return;
        }
        b->rq.queries = b->qp;
        b->rq.n_queries = n;
        b->rq.min_index = au->start_index;
        strata__v1__envelope__init(&b->env);
        b->env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        b->env.resolve = &b->rq;
        b->cursor = cs_feed_node(au->cs) >= 0 ? cs_feed_node(au->cs) : 0;
        au->pending++;
        au->dir_requests++;
        au->dir_keys += (uint32_t)n;
        cs_up_call(au->cs->up, &b->env, AUDIT_TRY_MS, au->timeout_ms, &b->cursor, audit_batch_done,
                   b);
    }
}

void cs_audit_ask_directory(struct cs_audit *au)
{
    /* Sort, and merge duplicates (keeping an answer already had). */
    if (au->n_truth > 0)
        qsort(au->truth, au->n_truth, sizeof(*au->truth), audit_truth_cmp);
    size_t m = 0;
    for (size_t i = 0; i < au->n_truth; i++) {
        if (m > 0 && cs_audit_key_cmp(&au->truth[m - 1].k, &au->truth[i].k) == 0) {
            if (au->truth[i].answered)
                au->truth[m - 1] = au->truth[i];
            continue;
        }
        au->truth[m++] = au->truth[i];
    }
    au->n_truth = m;
    au->truth_next = 0;
    audit_send_batches(au);
}

/* cs_audit.c - one `strata audit` run at a time: every registered node is asked (UPD_AUDIT) for
 * its digests while the cache is checked with the directory; nodes whose digests differ from
 * what the server believes they hold are asked for those VNs' details; those keys are checked
 * with the directory; with --repair the cache is fixed and the nodes told which keys to
 * resolve again. Each phase ends when everything it waits for arrived or at its deadline (a
 * share of the request's timeout), so one silent node costs time, not the answer.
 * docs/protocol.md, Audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cs_audit.h"
#include "log.h"

#define AUDIT_TIMEOUT_MS 10000
#define AUDIT_TIMEOUT_MIN_MS 500
#define AUDIT_TIMEOUT_MAX_MS 120000

/* Phase deadlines in thousandths of the timeout. */
static unsigned audit_deadline_ms(const struct cs_audit *au)
{
    static const unsigned share[] = {[AUDIT_DIGESTS] = 400,
                                     [AUDIT_DETAILS] = 700,
                                     [AUDIT_TRUTH] = 850,
                                     [AUDIT_REPAIR] = 1000,
                                     [AUDIT_DONE] = 1000};
    return (unsigned)((uint64_t)au->timeout_ms * share[au->phase] / 1000);
}

static uint64_t audit_elapsed_ms(const struct cs_audit *au)
{
    return (strata_now_us() - au->t0_us) / 1000;
}

static void audit_timer_cb(uv_timer_t *t)
{
    cs_audit_step(t->data);
}

static void audit_arm(struct cs_audit *au)
{
    uint64_t el = audit_elapsed_ms(au), dl = audit_deadline_ms(au);
    uv_timer_start(&au->timer, audit_timer_cb, dl > el ? dl - el : 0, 0);
}

static void audit_free(struct cs_audit *au)
{
    for (size_t i = 0; i < au->n_nodes; i++) {
        free(au->nodes[i].vns);
        free(au->nodes[i].differ);
        free(au->nodes[i].ents);
        free(au->nodes[i].repair);
    }
    free(au->nodes);
    for (size_t i = 0; i < au->n_idle; i++)
        free(au->idle[i]);
    free(au->idle);
    free(au->exp);
    free(au->truth);
    free(au->divs);
    free(au->force);
    free(au);
}

static void audit_closed(uv_handle_t *h)
{
    struct cs_audit *au = h->data;
    au->closed = true;
    if (au->pending == 0)
        audit_free(au);
}

/* The directory's answers may still be in flight: the run frees itself when they are back. */
void cs_audit_release(struct cs_audit *au)
{
    if (au->phase == AUDIT_DONE && au->closed && au->pending == 0)
        audit_free(au);
}

static void audit_add_node(struct cs_session *s, void *arg)
{
    struct cs_audit *au = arg;
    if (!s->registered)
        return;
    if (!cs_agents_polling(au->cs->agents, s, strata_now_ms(), CS_AUDIT_IDLE_MS) ||
        (s->gateway && !cs_gw_alive(au->cs, s->host))) {
        char *name = strdup(s->host);
        if (name != NULL)
            au->idle[au->n_idle++] = name;
        return;
    }
    struct audit_node *n = &au->nodes[au->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->sid = s->id;
    n->epoch = s->epoch;
    n->gateway = s->gateway;
    snprintf(n->host, sizeof(n->host), "%s", s->host);
}

struct audit_node *cs_audit_node_of(struct cs_audit *au, const struct cs_session *s)
{
    for (size_t i = 0; s != NULL && i < au->n_nodes; i++)
        if (au->nodes[i].sid == s->id && au->nodes[i].epoch == s->epoch)
            return &au->nodes[i];
    return NULL;
}

/* Queue UPD_AUDITs for node n: digests (no parts, no keys), details of parts (AUDIT_PART), or a
 * repair; at most STRATA_AUDIT_ENTRIES_MAX parts or keys in each (a node refuses more). Sets how
 * many answers (a last piece each) n then owes. */
static void audit_push(struct cs_audit *au, struct audit_node *n, const uint64_t *parts, size_t np,
                       const struct cs_key *keys, size_t nk)
{
    n->owed = 0;
    size_t i = 0;
    do {
        size_t cp = np - i < STRATA_AUDIT_ENTRIES_MAX ? np - i : STRATA_AUDIT_ENTRIES_MAX;
        size_t ck = nk - i < STRATA_AUDIT_ENTRIES_MAX ? nk - i : STRATA_AUDIT_ENTRIES_MAX;
        struct cs_payload *p = cs_payload_audit(au->id, np > 0 ? parts + i : NULL, np > 0 ? cp : 0,
                                                nk > 0 ? keys + i : NULL, nk > 0 ? ck : 0);
        if (p == NULL) {
            snprintf(n->note, sizeof(n->note), "out of memory asking it");
            return;
        }
        cs_agents_push(au->cs->agents, n->sid, CS_UPD_AUDIT, NULL, p);
        cs_payload_unref(p);
        n->owed++;
        i += STRATA_AUDIT_ENTRIES_MAX;
    } while (i < np || i < nk);
}

/* ---- the reply */

static void audit_reply_nodes(struct cs_audit *au, Strata__V1__AuditNode *ns,
                              Strata__V1__AuditNode **nps)
{
    for (size_t i = 0; i < au->n_nodes; i++) {
        struct audit_node *n = &au->nodes[i];
        strata__v1__audit_node__init(&ns[i]);
        ns[i].host = n->host;
        ns[i].gateway = n->gateway;
        ns[i].answered = n->answered;
        ns[i].parts = (uint32_t)n->n_vns;
        ns[i].parts_differ = (uint32_t)n->n_differ;
        ns[i].keys = n->keys;
        ns[i].report_bytes = n->report_bytes;
        ns[i].note = n->note;
        nps[i] = &ns[i];
    }
}

static void audit_reply_divs(struct cs_audit *au, Strata__V1__AuditDivergence *ds,
                             Strata__V1__AuditDivergence **dps)
{
    for (size_t i = 0; i < au->n_divs; i++) {
        struct audit_div *d = &au->divs[i];
        strata__v1__audit_divergence__init(&ds[i]);
        ds[i].host = d->host;
        ds[i].vni = d->vni;
        ds[i].key = d->key;
        ds[i].kind = (char *)d->kind;
        ds[i].tier = (char *)d->tier;
        ds[i].holds = d->holds;
        ds[i].holds_version = d->holds_version;
        ds[i].directory = d->directory;
        ds[i].directory_version = d->directory_version;
        ds[i].repaired = d->repaired;
        dps[i] = &ds[i];
    }
}

static void audit_finish(struct cs_audit *au)
{
    struct cs *cs = au->cs;
    au->phase = AUDIT_DONE;
    cs->audit = NULL;
    cs->ctr.audits++;
    if (!au->failed)
        cs->ctr.audit_divergences = au->n_divs + au->divs_omitted;
    uv_timer_stop(&au->timer);
    Strata__V1__AuditNode *ns = calloc(au->n_nodes + 1, sizeof(*ns));
    Strata__V1__AuditNode **nps = calloc(au->n_nodes + 1, sizeof(*nps));
    Strata__V1__AuditDivergence *ds = calloc(au->n_divs + 1, sizeof(*ds));
    Strata__V1__AuditDivergence **dps = calloc(au->n_divs + 1, sizeof(*dps));
    if (au->req == NULL) {
        /* shutting down: already answered */
    } else if (ns == NULL || nps == NULL || ds == NULL || dps == NULL) {
        strata_req_error(au->req, STRATA_ENOMEM, "out of memory");
    } else if (au->failed) {
        strata_req_error(au->req, STRATA_EUNAVAIL, "%s", au->fail_msg);
    } else {
        audit_reply_nodes(au, ns, nps);
        audit_reply_divs(au, ds, dps);
        Strata__V1__AuditReply r = STRATA__V1__AUDIT_REPLY__INIT;
        r.server = (char *)(cs->id ? cs->id : "");
        r.feed_index = cs->feed_index;
        r.nodes = nps;
        r.n_nodes = au->n_nodes;
        r.divergences = dps;
        r.n_divergences = au->n_divs;
        r.checked = au->checked;
        r.cache_checked = au->cache_checked;
        r.in_flight = au->in_flight;
        r.holders_fixed = au->holders_fixed;
        r.elapsed_us = strata_now_us() - au->t0_us;
        r.report_bytes = au->report_bytes;
        r.directory_requests = au->dir_requests;
        r.directory_keys = au->dir_keys;
        r.divergences_omitted = au->divs_omitted;
        r.idle = au->idle;
        r.n_idle = au->n_idle;
        strata_env env = STRATA__V1__ENVELOPE__INIT;
        env.body_case = STRATA__V1__ENVELOPE__BODY_AUDIT_REPLY;
        env.audit_reply = &r;
        strata_req_reply(au->req, &env);
    }
    LOG_INFO("audit %llu: %zu nodes, %llu keys checked, %zu divergences, %llu ms",
             (unsigned long long)au->id, au->n_nodes, (unsigned long long)au->checked, au->n_divs,
             (unsigned long long)audit_elapsed_ms(au));
    au->req = NULL;
    free(ns);
    free(nps);
    free(ds);
    free(dps);
    uv_close((uv_handle_t *)&au->timer, audit_closed);
}

/* ---- phases */

static bool audit_truth_done(const struct cs_audit *au)
{
    return au->pending == 0 && au->truth_next == au->n_truth;
}

/* Digests (and the cache's check) are in: ask for the details of what differs. */
static void audit_to_details(struct cs_audit *au)
{
    cs_audit_check_cache(au);
    for (size_t i = 0; i < au->n_nodes; i++) {
        struct audit_node *n = &au->nodes[i];
        n->details_done = true;
        if (!n->answered) {
            if (n->note[0] == 0)
                snprintf(n->note, sizeof(n->note), "no report within %u ms", audit_deadline_ms(au));
            continue;
        }
        au->checked += n->keys;
        if (cs_audit_differ(au, n) != 0) {
            snprintf(n->note, sizeof(n->note), "out of memory comparing digests");
            continue;
        }
        if (n->n_differ > 0) {
            n->details_done = false;
            audit_push(au, n, n->differ, n->n_differ, NULL, 0);
        }
    }
    au->phase = AUDIT_DETAILS;
}

static void audit_to_truth(struct cs_audit *au)
{
    for (size_t i = 0; i < au->n_nodes; i++) {
        struct audit_node *n = &au->nodes[i];
        if (!n->details_done) {
            snprintf(n->note, sizeof(n->note), "details incomplete after %u ms",
                     audit_deadline_ms(au));
            n->details_done = true;
        }
        for (size_t j = 0; j < n->n_ents; j++)
            if (cs_audit_truth_add(au, &n->ents[j].k) != 0)
                snprintf(n->note, sizeof(n->note), "out of memory");
    }
    au->phase = AUDIT_TRUTH;
    cs_audit_ask_directory(au);
}

/* The details are checked: repair, or answer. */
static void audit_to_repair(struct cs_audit *au)
{
    for (size_t i = 0; i < au->n_nodes; i++)
        cs_audit_check_node(au, i);
    if (!au->repair) {
        audit_finish(au);
        return;
    }
    cs_audit_repair_cache(au);
    for (size_t i = 0; i < au->n_nodes; i++) {
        struct audit_node *n = &au->nodes[i];
        n->repair_done = n->n_repair == 0;
        if (n->n_repair > 0)
            audit_push(au, n, NULL, 0, n->repair, n->n_repair);
    }
    au->phase = AUDIT_REPAIR;
}

static bool audit_all(const struct cs_audit *au, size_t off)
{
    for (size_t i = 0; i < au->n_nodes; i++)
        if (!*(const bool *)((const char *)&au->nodes[i] + off))
            return false;
    return true;
}

void cs_audit_step(struct cs_audit *au)
{
    enum audit_phase before;
    do {
        before = au->phase;
        bool late = audit_elapsed_ms(au) >= audit_deadline_ms(au);
        bool over = audit_elapsed_ms(au) >= au->timeout_ms;
        if (au->failed) {
            audit_finish(au);
            return;
        }
        if ((au->phase == AUDIT_DIGESTS || au->phase == AUDIT_TRUTH) && !audit_truth_done(au) &&
            over) {
            au->failed = true;
            snprintf(au->fail_msg, sizeof(au->fail_msg),
                     "the directory did not answer the audit's reads within %u ms", au->timeout_ms);
            audit_finish(au);
            return;
        }
        switch (au->phase) {
        case AUDIT_DIGESTS:
            if (audit_truth_done(au) &&
                (late || audit_all(au, offsetof(struct audit_node, answered))))
                audit_to_details(au);
            break;
        case AUDIT_DETAILS:
            if (late || audit_all(au, offsetof(struct audit_node, details_done)))
                audit_to_truth(au);
            break;
        case AUDIT_TRUTH:
            if (audit_truth_done(au))
                audit_to_repair(au);
            break;
        case AUDIT_REPAIR:
            if (late || audit_all(au, offsetof(struct audit_node, repair_done))) {
                for (size_t i = 0; i < au->n_divs; i++) {
                    struct audit_div *d = &au->divs[i];
                    if (d->node != UINT32_MAX && au->nodes[d->node].repair_done)
                        d->repaired = true;
                }
                audit_finish(au);
            }
            break;
        case AUDIT_DONE:
            return;
        }
        if (au->phase == AUDIT_DONE)
            return;
    } while (au->phase != before);
    audit_arm(au);
}

/* ---- requests */

void cs_audit_handle(struct cs *cs, struct strata_req *req, const strata_env *env)
{
    static uint64_t last_id;
    const Strata__V1__AuditRequest *q = env->audit;
    if (cs->audit != NULL) {
        strata_req_error(req, STRATA_EBUSY, "an audit is running at %s (started %llu ms ago)",
                         cs->id ? cs->id : "this server",
                         (unsigned long long)audit_elapsed_ms(cs->audit));
        return;
    }
    struct cs_audit *au = calloc(1, sizeof(*au));
    uint32_t live = cs_agents_count(cs->agents);
    if (au == NULL || (au->nodes = calloc(live + 1, sizeof(*au->nodes))) == NULL ||
        (au->idle = calloc(live + 1, sizeof(*au->idle))) == NULL) {
        if (au != NULL)
            free(au->nodes);
        free(au);
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    au->cs = cs;
    au->req = req;
    au->id = ++last_id;
    au->t0_us = strata_now_us();
    au->start_index = cs->feed_index;
    au->repair = q->repair;
    au->all_details = q->details;
    au->timeout_ms = q->timeout_ms == 0 ? AUDIT_TIMEOUT_MS : q->timeout_ms;
    if (au->timeout_ms < AUDIT_TIMEOUT_MIN_MS)
        au->timeout_ms = AUDIT_TIMEOUT_MIN_MS;
    if (au->timeout_ms > AUDIT_TIMEOUT_MAX_MS)
        au->timeout_ms = AUDIT_TIMEOUT_MAX_MS;
    au->phase = AUDIT_DIGESTS;
    cs_agents_visit(cs->agents, audit_add_node, au);
    if (cs_audit_expect(au) != 0 || cs_audit_cache_keys(au) != 0) {
        audit_free(au);
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    uv_timer_init(cs->uv, &au->timer);
    au->timer.data = au;
    cs->audit = au;
    LOG_INFO("audit %llu: %zu nodes, %zu cached keys, feed at %llu", (unsigned long long)au->id,
             au->n_nodes, au->n_truth, (unsigned long long)au->start_index);
    for (size_t i = 0; i < au->n_nodes; i++)
        audit_push(au, &au->nodes[i], NULL, 0, NULL, 0);
    cs_audit_ask_directory(au);
    cs_audit_step(au);
}

static int audit_copy_vns(struct audit_node *n, const Strata__V1__AuditReport *r)
{
    if (n->n_vns + r->n_vns > AUDIT_NODE_PARTS_MAX)
        return STRATA_ETOOBIG;
    if (n->n_vns + r->n_vns > n->cap_vns) {
        size_t cap = n->n_vns + r->n_vns + 16;
        struct audit_vn *v = realloc(n->vns, cap * sizeof(*v));
        if (v == NULL)
            return STRATA_ENOMEM;
        n->vns = v;
        n->cap_vns = cap;
    }
    for (size_t i = 0; i < r->n_vns; i++) {
        const Strata__V1__AuditVn *x = r->vns[i];
        n->vns[n->n_vns++] = (struct audit_vn){x->vni, x->bucket, x->keys, x->digest};
        n->keys += x->keys;
    }
    return 0;
}

static void audit_bin(uint8_t *dst, uint8_t *len, const ProtobufCBinaryData *b, size_t max)
{
    *len = (uint8_t)(b->len <= max ? b->len : 0);
    if (*len > 0)
        memcpy(dst, b->data, *len);
}

static int audit_copy_entries(struct audit_node *n, const Strata__V1__AuditReport *r)
{
    for (size_t i = 0; i < r->n_entries; i++) {
        const Strata__V1__AuditEntry *x = r->entries[i];
        struct audit_dent d = {.held = x->held,
                               .in_kernel = x->in_kernel,
                               .kernel_owned = x->kernel_owned,
                               .version = x->version};
        uint8_t l;
        if (x->key->mac.len == 6)
            cs_key_mac(x->key->vni, x->key->mac.data, &d.k);
        else if (cs_key_ip(x->key->vni, x->key->ip.data, x->key->ip.len, &d.k) != 0)
            continue;
        if (!cs_audit_node_wants(n, &d.k))
            continue; /* not asked for: not the node's to add */
        if (n->n_ents >= AUDIT_NODE_ENTRIES_MAX)
            return STRATA_ETOOBIG;
        audit_bin(d.held_mac, &l, &x->held_mac, 6);
        audit_bin(d.kernel_mac, &l, &x->kernel_mac, 6);
        audit_bin(d.held_vtep, &d.held_vtep_len, &x->held_vtep, 16);
        audit_bin(d.kernel_vtep, &d.kernel_vtep_len, &x->kernel_vtep, 16);
        if (n->n_ents == n->cap_ents) {
            size_t cap = n->cap_ents ? n->cap_ents * 2 : 64;
            struct audit_dent *v = realloc(n->ents, cap * sizeof(*v));
            if (v == NULL)
                return STRATA_ENOMEM;
            n->ents = v;
            n->cap_ents = cap;
        }
        n->ents[n->n_ents++] = d;
    }
    return 0;
}

void cs_audit_report(struct cs *cs, struct strata_req *req, const strata_env *env,
                     struct cs_session *s)
{
    const Strata__V1__AuditReport *r = env->audit_report;
    struct cs_audit *au = cs->audit;
    struct audit_node *n = au != NULL && au->id == r->audit_id ? cs_audit_node_of(au, s) : NULL;
    if (n == NULL) {
        strata_req_error(req, STRATA_ENOTFOUND, "no audit %llu of this node is running",
                         (unsigned long long)r->audit_id);
        return;
    }
    size_t bytes = strata__v1__audit_report__get_packed_size(r);
    n->report_bytes += bytes;
    au->report_bytes += bytes;
    if (r->error != NULL && *r->error) {
        snprintf(n->note, sizeof(n->note), "%s", r->error);
        n->answered = n->details_done = n->repair_done = true;
    } else if (r->details) {
        if (au->phase == AUDIT_DETAILS && !n->details_done) {
            int rc = audit_copy_entries(n, r);
            if (rc != 0)
                snprintf(n->note, sizeof(n->note), "details: %s", strata_strerror(rc));
            if (r->last && n->owed > 0)
                n->owed--;
            n->details_done = n->details_full = n->owed == 0;
        }
    } else if (au->phase == AUDIT_REPAIR && !n->repair_done) {
        n->repaired += r->repaired;
        if (n->owed > 0)
            n->owed--;
        n->repair_done = n->owed == 0;
    } else if (au->phase == AUDIT_DIGESTS && !n->answered) {
        int rc = audit_copy_vns(n, r);
        if (rc != 0) {
            snprintf(n->note, sizeof(n->note), "digests: %s", strata_strerror(rc));
            n->n_vns = 0;
            n->answered = true;
        }
        n->answered = r->last;
    }
    Strata__V1__Empty em = STRATA__V1__EMPTY__INIT;
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    rep.empty = &em;
    strata_req_reply(req, &rep);
    cs_audit_step(au);
}

void cs_audit_close(struct cs *cs)
{
    struct cs_audit *au = cs->audit;
    if (au == NULL)
        return;
    strata_req_error(au->req, STRATA_EUNAVAIL, "connectivity server %s shutting down", cs->id);
    au->req = NULL;
    audit_finish(au);
}

/* node_audit_report.c - a node daemon's answer to its connectivity server's UPD_AUDIT: digests
 * per VN (or bucket), the details of the parts asked for (in pieces), or the repair of named
 * keys; every
 * domain's kernel is dumped once per request. docs/protocol.md, Audit. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_daemon.h"

#define AUDIT_CALL_MS 5000

struct audit_dom {
    struct node_domain *dom;
    struct node_dp_dump dump;
    struct node_audit au;
};

static void audit_sent(int rc, strata_env *reply, void *arg)
{
    (void)arg;
    if (rc != 0 || (reply != NULL && reply->status != 0))
        LOG_WARN("audit: report not taken: %s", rc != 0 ? strata_strerror(rc)
                                                : reply->message != NULL && *reply->message
                                                    ? reply->message
                                                    : strata_strerror(reply->status));
    if (reply != NULL)
        strata_msg_free(reply);
}

static void audit_send(struct node_daemon *d, Strata__V1__AuditReport *r)
{
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_AUDIT_REPORT;
    env.audit_report = r;
    int rc = node_csd_call(d->csd, &env, AUDIT_CALL_MS, audit_sent, NULL);
    if (rc != 0)
        LOG_WARN("audit: cannot send the report: %s", strata_strerror(rc));
}

/* Storage behind one AuditEntry (the message points into it). */
struct audit_pb {
    Strata__V1__AuditEntry e;
    Strata__V1__AuditKey k;
    struct strata_ip held_vtep, kernel_vtep;
    uint8_t key_ip[16], key_mac[6], held_mac[6], kernel_mac[6];
};

static void audit_bytes(ProtobufCBinaryData *b, uint8_t *dst, const uint8_t *src, size_t n)
{
    memcpy(dst, src, n);
    b->data = dst;
    b->len = n;
}

static void audit_entry_pb(struct audit_pb *p, const struct node_audit_item *it)
{
    strata__v1__audit_entry__init(&p->e);
    strata__v1__audit_key__init(&p->k);
    p->k.vni = it->key.vni;
    if (it->key.kind == NODE_KEY_IP)
        audit_bytes(&p->k.ip, p->key_ip, it->key.ip.a, strata_ip_len(&it->key.ip));
    else
        audit_bytes(&p->k.mac, p->key_mac, it->key.mac, 6);
    p->e.key = &p->k;
    p->e.held = it->held;
    p->e.version = it->version;
    if (it->held) {
        audit_bytes(&p->e.held_mac, p->held_mac, it->held_mac, 6);
        p->held_vtep = it->held_vtep;
        if (p->held_vtep.family != 0)
            audit_bytes(&p->e.held_vtep, p->held_vtep.a, it->held_vtep.a,
                        strata_ip_len(&it->held_vtep));
    }
    p->e.in_kernel = it->in_kernel;
    p->e.kernel_owned = it->kernel_owned;
    if (it->in_kernel) {
        audit_bytes(&p->e.kernel_mac, p->kernel_mac, it->kernel_mac, 6);
        p->kernel_vtep = it->kernel_vtep;
        if (p->kernel_vtep.family != 0)
            audit_bytes(&p->e.kernel_vtep, p->kernel_vtep.a, it->kernel_vtep.a,
                        strata_ip_len(&it->kernel_vtep));
    }
}

/* The parts the server wants in detail, as the core compares them. */
static struct node_audit_part *audit_parts_of(const Strata__V1__Update *u)
{
    struct node_audit_part *w = calloc(u->n_parts + 1, sizeof(*w));
    for (size_t i = 0; w != NULL && i < u->n_parts; i++)
        w[i] = (struct node_audit_part){.vni = u->parts[i]->vni, .bucket = u->parts[i]->bucket};
    if (w != NULL)
        node_audit_sort_parts(w, u->n_parts);
    return w;
}

/* The details of the parts asked for, STRATA_AUDIT_ENTRIES_MAX entries per report. */
static void audit_details(struct node_daemon *d, const Strata__V1__Update *u, struct audit_dom *ds,
                          size_t n)
{
    struct audit_pb *pb = calloc(STRATA_AUDIT_ENTRIES_MAX, sizeof(*pb));
    Strata__V1__AuditEntry **pe = calloc(STRATA_AUDIT_ENTRIES_MAX, sizeof(*pe));
    struct node_audit_part *want = audit_parts_of(u);
    Strata__V1__AuditReport r = STRATA__V1__AUDIT_REPORT__INIT;
    r.audit_id = u->audit_id;
    r.details = true;
    if (pb == NULL || pe == NULL || want == NULL) {
        r.error = "out of memory";
        r.last = true;
        audit_send(d, &r);
        goto out;
    }
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < ds[j].au.n; i++) {
            if (!node_audit_wanted(&ds[j].au.items[i], want, u->n_parts))
                continue;
            audit_entry_pb(&pb[k], &ds[j].au.items[i]);
            pe[k] = &pb[k].e;
            if (++k == STRATA_AUDIT_ENTRIES_MAX) {
                r.entries = pe;
                r.n_entries = k;
                audit_send(d, &r);
                k = 0;
            }
        }
    }
    r.entries = pe;
    r.n_entries = k;
    r.last = true;
    audit_send(d, &r);
out:
    free(pb);
    free(pe);
    free(want);
}

/* The digests of every part, STRATA_AUDIT_ENTRIES_MAX per report. */
static void audit_digests(struct node_daemon *d, const Strata__V1__Update *u, struct audit_dom *ds,
                          size_t n)
{
    Strata__V1__AuditVn *v = calloc(STRATA_AUDIT_ENTRIES_MAX, sizeof(*v));
    Strata__V1__AuditVn **pv = calloc(STRATA_AUDIT_ENTRIES_MAX, sizeof(*pv));
    Strata__V1__AuditReport r = STRATA__V1__AUDIT_REPORT__INIT;
    r.audit_id = u->audit_id;
    if (v == NULL || pv == NULL) {
        r.error = "out of memory";
        r.last = true;
        audit_send(d, &r);
        goto out;
    }
    r.vns = pv;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < ds[j].au.n_parts; i++) {
            const struct node_audit_part *p = &ds[j].au.parts[i];
            Strata__V1__AuditVn *x = &v[r.n_vns];
            strata__v1__audit_vn__init(x);
            x->vni = p->vni;
            x->bucket = p->bucket;
            x->keys = p->keys;
            x->digest = p->digest;
            pv[r.n_vns++] = x;
            if (r.n_vns == STRATA_AUDIT_ENTRIES_MAX) {
                audit_send(d, &r);
                r.n_vns = 0;
            }
        }
    }
    r.last = true;
    audit_send(d, &r);
out:
    free(v);
    free(pv);
}

static void audit_repair(struct node_daemon *d, const Strata__V1__Update *u, struct audit_dom *ds,
                         size_t n)
{
    Strata__V1__AuditReport r = STRATA__V1__AUDIT_REPORT__INIT;
    r.audit_id = u->audit_id;
    r.last = true;
    for (size_t i = 0; i < u->n_repair; i++) {
        const Strata__V1__AuditKey *ak = u->repair[i];
        struct node_key k;
        struct strata_ip ip;
        if (ak->ip.len != 0 && strata_ip_from_bytes(ak->ip.data, ak->ip.len, &ip, NULL) == 0)
            node_key_ip(&k, ak->vni, &ip);
        else if (ak->mac.len == 6)
            node_key_mac(&k, ak->vni, ak->mac.data);
        else
            continue;
        for (size_t j = 0; j < n; j++) {
            if (node_audit_repair(&ds[j].dom->core, &ds[j].dump, &k)) {
                r.repaired++;
                break;
            }
        }
    }
    LOG_INFO("audit: repair of %zu keys asked, %u resolving again", u->n_repair, r.repaired);
    audit_send(d, &r);
}

void node_audit_update(struct node_daemon *d, const Strata__V1__Update *u)
{
    struct audit_dom *ds = calloc(d->n_doms + 1, sizeof(*ds));
    char err[sizeof(((struct strata_err *)0)->msg)] = "";
    size_t n = 0;
    for (size_t j = 0; ds != NULL && j < d->n_doms && err[0] == 0; j++) {
        struct strata_err e;
        struct node *core = &d->doms[j]->core;
        ds[j].dom = d->doms[j];
        n = j + 1;
        if (core->dp.ops->dump_all(core->dp.ctx, &ds[j].dump, &e) != 0 ||
            (u->n_repair == 0 && node_audit_collect(core, &ds[j].dump, &ds[j].au, &e) != 0))
            snprintf(err, sizeof(err), "%s", e.msg);
    }
    if (ds == NULL || err[0] != 0) {
        Strata__V1__AuditReport r = STRATA__V1__AUDIT_REPORT__INIT;
        r.audit_id = u->audit_id;
        r.last = true;
        r.error = ds == NULL ? "out of memory" : err;
        LOG_WARN("audit: %s", r.error);
        audit_send(d, &r);
    } else if (u->n_repair > 0) {
        audit_repair(d, u, ds, n);
    } else if (u->n_parts > 0) {
        audit_details(d, u, ds, n);
    } else {
        audit_digests(d, u, ds, n);
    }
    for (size_t j = 0; ds != NULL && j < n; j++) {
        node_dp_dump_free(&ds[j].dump);
        node_audit_free(&ds[j].au);
    }
    free(ds);
}

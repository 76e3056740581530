/* msg_validate_nodes.c - validation of the messages of connectivity servers and nodes: agent
 * registration and updates, the audit, the control sockets (see msg_validate.c). */
#include <string.h>

#include "addr.h"
#include "audit.h"
#include "msg_validate_int.h"

/* ------------------------------------------------------------------ connectivity server */

int mv_host_register(struct strata_err *e, const char *path, const Strata__V1__HostRegister *h)
{
    TRY(mv_str(e, path, "host", h->host, true));
    TRY(mv_vtep(e, path, &h->vtep));
    TRY(mv_str(e, path, "pod", h->pod, false));
    return mv_vnis(e, path, "vnis", h->n_vnis, h->vnis);
}

/* ------------------------------------------------------------------ audit */

static int v_audit_key(struct strata_err *e, const char *path, const Strata__V1__AuditKey *k)
{
    TRY(mv_vni(e, path, "vni", k->vni, false));
    if ((k->ip.len == 0) == (k->mac.len == 0))
        return strata_err_set(e, STRATA_EINVAL, "%s: exactly one of ip and mac", path);
    TRY(mv_ip(e, path, "ip", &k->ip, false));
    return mv_mac(e, path, "mac", &k->mac, false, false);
}

static int v_audit_entry(struct strata_err *e, const char *path, const Strata__V1__AuditEntry *a)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_present(e, path, "key", a->key));
    TRY(v_audit_key(e, SUB("key", -1), a->key));
    TRY(mv_mac(e, path, "held_mac", &a->held_mac, false, false));
    TRY(mv_ip(e, path, "held_vtep", &a->held_vtep, false));
    TRY(mv_mac(e, path, "kernel_mac", &a->kernel_mac, false, false));
    return mv_ip(e, path, "kernel_vtep", &a->kernel_vtep, false);
}

static int v_audit_vn(struct strata_err *e, const char *path, const Strata__V1__AuditVn *v)
{
    if (v->bucket > STRATA_AUDIT_BUCKETS)
        return strata_err_set(e, STRATA_EINVAL, "%s.bucket: %u out of range 0..%u", path, v->bucket,
                              STRATA_AUDIT_BUCKETS);
    return mv_vni(e, path, "vni", v->vni, false);
}

int mv_audit_report(struct strata_err *e, const char *path, const Strata__V1__AuditReport *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_str(e, path, "error", r->error, false));
    V_LIST(r->n_vns, r->vns, "vns", STRATA_AUDIT_ENTRIES_MAX, v_audit_vn);
    V_LIST(r->n_entries, r->entries, "entries", STRATA_AUDIT_ENTRIES_MAX, v_audit_entry);
    return 0;
}

static int v_audit_divergence(struct strata_err *e, const char *path,
                              const Strata__V1__AuditDivergence *d)
{
    TRY(mv_str(e, path, "host", d->host, false));
    TRY(mv_str(e, path, "key", d->key, false));
    TRY(mv_str(e, path, "kind", d->kind, false));
    TRY(mv_str(e, path, "tier", d->tier, false));
    TRY(mv_str(e, path, "holds", d->holds, false));
    return mv_str(e, path, "directory", d->directory, false);
}

static int v_audit_node(struct strata_err *e, const char *path, const Strata__V1__AuditNode *n)
{
    TRY(mv_str(e, path, "host", n->host, false));
    return mv_str(e, path, "note", n->note, false);
}

int mv_audit_reply(struct strata_err *e, const char *path, const Strata__V1__AuditReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_str(e, path, "server", r->server, false));
    V_LIST(r->n_nodes, r->nodes, "nodes", STRATA_MAX_LIST, v_audit_node);
    TRY(mv_count(e, path, "idle", r->n_idle, STRATA_MAX_LIST));
    for (size_t i = 0; i < r->n_idle; i++)
        TRY(mv_str(e, path, "idle", r->idle[i], false));
    V_LIST(r->n_divergences, r->divergences, "divergences", STRATA_MAX_LIST, v_audit_divergence);
    return 0;
}

static int v_update(struct strata_err *e, const char *path, const Strata__V1__Update *u)
{
    char pbuf[PATH_MAX_LEN];
    if (u->kind < STRATA__V1__UPDATE_KIND__UPD_NONE || u->kind > STRATA__V1__UPDATE_KIND__UPD_AUDIT)
        return strata_err_set(e, STRATA_EINVAL, "%s.kind: unknown update kind %d", path, u->kind);
    /* A RESYNC concerns no VN, nor a VNINFO that carries the gateway's new set of VNs; every
     * other kind names one. */
    TRY(mv_vni(e, path, "vni", u->vni,
               u->kind == STRATA__V1__UPDATE_KIND__UPD_RESYNC ||
                   u->kind == STRATA__V1__UPDATE_KIND__UPD_VNINFO ||
                   u->kind == STRATA__V1__UPDATE_KIND__UPD_AUDIT));
    V_LIST(u->n_repair, u->repair, "repair", STRATA_AUDIT_ENTRIES_MAX, v_audit_key);
    V_LIST(u->n_parts, u->parts, "parts", STRATA_AUDIT_ENTRIES_MAX, v_audit_vn);
    TRY(mv_vnis(e, path, "vnis", u->n_vnis, u->vnis));
    if (u->endpoint != NULL)
        TRY(mv_endpoint(e, SUB("endpoint", -1), u->endpoint, false));
    TRY(mv_ips(e, path, "flood_vteps", u->n_flood_vteps, u->flood_vteps, STRATA_MAX_LIST));
    TRY(mv_verdict(e, path, "verdict", u->verdict, false));
    TRY(mv_ip(e, path, "ip", &u->ip, false));
    return mv_mac(e, path, "mac", &u->mac, false, false);
}

int mv_updates_reply(struct strata_err *e, const char *path, const Strata__V1__UpdatesReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_updates, r->updates, "updates", STRATA_MAX_LIST, v_update);
    return 0;
}

/* ------------------------------------------------------------------ control sockets */

int mv_ifname(struct strata_err *e, const char *path, const char *s)
{
    size_t n = s != NULL ? strnlen(s, IFNAME_MAX + 1) : 0;
    if (n == 0 || n > IFNAME_MAX)
        return strata_err_set(e, STRATA_EINVAL, "%s.ifname: want 1..%d characters", path,
                              IFNAME_MAX);
    return 0;
}

int mv_port_attach(struct strata_err *e, const char *path, const Strata__V1__PortAttach *a)
{
    TRY(mv_vni(e, path, "vni", a->vni, false));
    TRY(mv_mac(e, path, "mac", &a->mac, true, true));
    TRY(mv_ip(e, path, "ip", &a->ip, false));
    unsigned max = a->ip.len == 16 ? 128 : 32;
    if (a->plen > max)
        return strata_err_set(e, STRATA_EINVAL, "%s.plen: %u out of range 0..%u", path, a->plen,
                              max);
    return mv_ifname(e, path, a->ifname);
}

static int v_cache_entry(struct strata_err *e, const char *path, const Strata__V1__CacheEntry *c)
{
    TRY(mv_vni(e, path, "vni", c->vni, true));
    TRY(mv_str(e, path, "key", c->key, false));
    TRY(mv_str(e, path, "value", c->value, false));
    TRY(mv_count(e, path, "holders", c->n_holders, STRATA_MAX_LIST));
    for (size_t i = 0; i < c->n_holders; i++)
        if (c->holders[i] != NULL && strnlen(c->holders[i], STRATA_MAX_STR + 1) > STRATA_MAX_STR)
            return strata_err_set(e, STRATA_ETOOBIG, "%s.holders[%zu]: longer than %d bytes", path,
                                  i, STRATA_MAX_STR);
    return 0;
}

static int v_counter(struct strata_err *e, const char *path, const Strata__V1__Counter *c)
{
    return mv_str(e, path, "name", c->name, false);
}

int mv_cache_show_reply(struct strata_err *e, const char *path, const Strata__V1__CacheShowReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_entries, r->entries, "entries", STRATA_MAX_LIST, v_cache_entry);
    V_LIST(r->n_counters, r->counters, "counters", STRATA_MAX_LIST, v_counter);
    return 0;
}

int mv_trace(struct strata_err *e, const char *path, const Strata__V1__TraceRequest *t)
{
    TRY(mv_vni(e, path, "vni", t->vni, false));
    TRY(mv_ip(e, path, "src_ip", &t->src_ip, true));
    return mv_ip(e, path, "dst_ip", &t->dst_ip, true);
}

static int v_trace_hop(struct strata_err *e, const char *path, const Strata__V1__TraceHop *h)
{
    TRY(mv_str(e, path, "tier", h->tier, false));
    TRY(mv_str(e, path, "node", h->node, false));
    TRY(mv_str(e, path, "action", h->action, false));
    return mv_str(e, path, "result", h->result, false);
}

int mv_trace_reply(struct strata_err *e, const char *path, const Strata__V1__TraceReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_hops, r->hops, "hops", STRATA_MAX_BATCH, v_trace_hop);
    return 0;
}

static int v_wait_holder(struct strata_err *e, const char *path, const Strata__V1__WaitHolder *h)
{
    TRY(mv_str(e, path, "host", h->host, false));
    return mv_str(e, path, "note", h->note, false);
}

/* A server answers for every session it holds (CS_SESSION_MAX). */
int mv_wait_applied_reply(struct strata_err *e, const char *path,
                          const Strata__V1__WaitAppliedReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(mv_str(e, path, "server", r->server, false));
    V_LIST(r->n_holders, r->holders, "holders", 65536, v_wait_holder);
    return 0;
}

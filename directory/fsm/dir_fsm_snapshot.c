/* dir_fsm_snapshot.c - the whole FSM state to a deterministic DirSnapshot encoding and back. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"
#include "msg.h"

#define DIR_SNAPSHOT_MAGIC 0x53444952u /* "SDIR" */

/* A view of the state at one index: borrowed pointers, collected on the FSM's thread. The small
 * kinds are sorted there too; the endpoints, most of a large directory, only have their keys
 * copied, and are sorted by whoever encodes. */
struct dir_snap {
    struct dir_fsm *fsm; /* holding this FSM's frees; NULL for a one-shot view or once cut */
    pthread_mutex_t mu;  /* guards encoding and cut, between the encoder and dir_snap_detach */
    pthread_cond_t cv;
    bool encoding, cut, encoded;
    uint64_t applied;
    Strata__V1__Domain **domains;
    Strata__V1__Vnet **vnets;
    Strata__V1__Subnet **subnets;
    Strata__V1__Host **hosts;
    Strata__V1__Gateway **gateways;
    Strata__V1__Policy **policies;
    Strata__V1__Member **members;
    size_t n_domains, n_vnets, n_subnets, n_hosts, n_gateways, n_policies, n_members;
    struct dir_ep_key *eps;
    size_t n_eps;
    const struct dir_dedup **dedup; /* oldest first */
    size_t n_dedup;
};

static struct dir_snap *snap_collect(const struct dir_fsm *f)
{
    struct dir_snap *s = dir_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->applied = f->applied;
    s->domains = dir_sorted_domains(f, &s->n_domains);
    s->vnets = dir_sorted_vnets(f, &s->n_vnets);
    s->subnets = dir_sorted_subnets(f, 0, &s->n_subnets);
    s->hosts = dir_sorted_hosts(f, &s->n_hosts);
    s->gateways = dir_sorted_gateways(f, 0, &s->n_gateways);
    s->policies = dir_sorted_policies(f, &s->n_policies);
    s->members = dir_sorted_members(f, &s->n_members);
    s->eps = dir_endpoint_keys(f, 0, &s->n_eps);
    s->dedup = dir_xmalloc((f->fifo_len + 1) * sizeof(*s->dedup));
    s->n_dedup = f->fifo_len;
    for (size_t i = 0; i < f->fifo_len; i++)
        s->dedup[i] = f->fifo[(f->fifo_head + i) % f->fifo_cap];
    return s;
}

static void snap_free(struct dir_snap *s)
{
    free(s->domains);
    free(s->vnets);
    free(s->subnets);
    free(s->hosts);
    free(s->gateways);
    free(s->policies);
    free(s->members);
    free(s->eps);
    free(s->dedup);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int snap_pack(struct dir_snap *s, void *(*alloc)(size_t), uint8_t **buf, size_t *len,
                     struct strata_err *e)
{
    Strata__V1__DirSnapshot m = STRATA__V1__DIR_SNAPSHOT__INIT;
    m.magic = DIR_SNAPSHOT_MAGIC;
    m.applied_index = s->applied;
    m.domains = s->domains, m.n_domains = s->n_domains;
    m.vnets = s->vnets, m.n_vnets = s->n_vnets;
    m.subnets = s->subnets, m.n_subnets = s->n_subnets;
    m.hosts = s->hosts, m.n_hosts = s->n_hosts;
    m.gateways = s->gateways, m.n_gateways = s->n_gateways;
    m.policies = s->policies, m.n_policies = s->n_policies;
    m.members = s->members, m.n_members = s->n_members;
    m.endpoints = dir_endpoint_keys_sort(s->eps, s->n_eps);
    m.n_endpoints = s->n_eps;
    s->eps = NULL;
    Strata__V1__DedupEntry *de = dir_xcalloc(s->n_dedup + 1, sizeof(*de));
    m.dedup = dir_xmalloc((s->n_dedup + 1) * sizeof(*m.dedup));
    m.n_dedup = s->n_dedup;
    for (size_t i = 0; i < s->n_dedup; i++) {
        const struct dir_dedup *d = s->dedup[i];
        strata__v1__dedup_entry__init(&de[i]);
        de[i].client_id = d->client_id;
        de[i].req_id = d->req_id;
        de[i].status = d->status;
        de[i].message = d->msg ? d->msg : "";
        de[i].index = d->index;
        m.dedup[i] = &de[i];
    }
    size_t n = strata__v1__dir_snapshot__get_packed_size(&m);
    uint8_t *out = (alloc ? alloc : malloc)(n ? n : 1);
    int rc = 0;
    if (out) {
        strata__v1__dir_snapshot__pack(&m, out);
        *buf = out;
        *len = n;
    } else {
        rc = strata_err_set(e, STRATA_ENOMEM, "snapshot: cannot allocate %zu bytes", n);
    }
    free(m.endpoints);
    free(m.dedup);
    free(de);
    return rc;
}

int dir_fsm_snapshot(const struct dir_fsm *f, uint8_t **buf, size_t *len, struct strata_err *e)
{
    struct dir_snap *s = snap_collect(f);
    int rc = snap_pack(s, NULL, buf, len, e);
    snap_free(s);
    return rc;
}

struct dir_snap *dir_fsm_snap_begin(struct dir_fsm *f)
{
    if (f->snap)
        return NULL;
    struct dir_snap *s = snap_collect(f);
    s->fsm = f;
    f->snap = s; /* from now on dir_obj_free and dir_raw_free hold what they are given */
    return s;
}

uint64_t dir_snap_applied(const struct dir_snap *s)
{
    return s->applied;
}

int dir_snap_encode(struct dir_snap *s, void *(*alloc)(size_t), uint8_t **buf, size_t *len,
                    struct strata_err *e)
{
    pthread_mutex_lock(&s->mu);
    bool go = !s->cut && !s->encoded;
    s->encoding = go;
    s->encoded = true;
    pthread_mutex_unlock(&s->mu);
    if (!go)
        return strata_err_set(e, STRATA_EUNAVAIL,
                              "snapshot: the state was replaced (or encoded) already");
    int rc = snap_pack(s, alloc, buf, len, e);
    pthread_mutex_lock(&s->mu);
    s->encoding = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void dir_snap_detach(struct dir_fsm *f)
{
    struct dir_snap *s = f->snap;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    while (s->encoding)
        pthread_cond_wait(&s->cv, &s->mu);
    s->cut = true;
    s->fsm = NULL;
    pthread_mutex_unlock(&s->mu);
    f->snap = NULL;
    dir_held_release(f);
}

void dir_snap_end(struct dir_snap *s)
{
    if (!s)
        return;
    struct dir_fsm *f = s->fsm; /* only the FSM's thread changes it: no lock needed here */
    if (f) {
        f->snap = NULL;
        dir_held_release(f);
    }
    snap_free(s);
}

/* ------------------------------------------------------------------------------- restore */

/* Each object goes through the same checks as the command that created it, with its version
 * kept: a snapshot holding what no sequence of commands could have produced is refused. */
static int load_version(struct dir_fsm *n, const char *what, uint64_t version, struct strata_err *e)
{
    if (version == 0 || version > n->applied)
        return strata_err_set(e, STRATA_EPROTO,
                              "snapshot: %s has version %" PRIu64 " outside [1, %" PRIu64 "]", what,
                              version, n->applied);
    n->cur_index = version;
    return 0;
}

static int load_check(int rc, const char *what, const struct dir_result *res, struct strata_err *e)
{
    return rc ? strata_err_set(e, STRATA_EPROTO, "snapshot: bad %s: %s", what, res->msg) : 0;
}

#define LOAD(what, arr, count, op)                                                                 \
    for (size_t i = 0; i < (count); i++) {                                                         \
        struct dir_result res = {0};                                                               \
        if (!(arr)[i] || load_version(n, what, (arr)[i]->version, e) ||                            \
            load_check(op(n, (arr)[i], &res), what, &res, e))                                      \
            return e && e->code ? e->code : STRATA_EPROTO;                                         \
    }

static int load_objects(struct dir_fsm *n, const Strata__V1__DirSnapshot *s, struct strata_err *e)
{
    LOAD("domain", s->domains, s->n_domains, dir_op_domain_create);
    LOAD("VN", s->vnets, s->n_vnets, dir_op_vnet_create);
    LOAD("subnet", s->subnets, s->n_subnets, dir_op_subnet_create);
    LOAD("host", s->hosts, s->n_hosts, dir_op_host_add);
    LOAD("gateway", s->gateways, s->n_gateways, dir_op_gateway_add);
    LOAD("endpoint", s->endpoints, s->n_endpoints, dir_op_endpoint_add);
    LOAD("policy", s->policies, s->n_policies, dir_op_policy_set);
    for (size_t i = 0; i < s->n_endpoints; i++) {
        const Strata__V1__Endpoint *x = s->endpoints[i];
        const Strata__V1__Endpoint *ep = dir_fsm_endpoint_by_mac(n, x->vni, x->mac.data);
        if (!ep || ep->vtep.len != x->vtep.len || memcmp(ep->vtep.data, x->vtep.data, x->vtep.len))
            return strata_err_set(e, STRATA_EPROTO,
                                  "snapshot: endpoint VTEP differs from its host's");
    }
    for (size_t i = 0; i < s->n_members; i++) {
        const Strata__V1__Member *m = s->members[i];
        Strata__V1__MemberSet ms = STRATA__V1__MEMBER_SET__INIT;
        struct dir_result res = {0};
        if (!m)
            return strata_err_set(e, STRATA_EPROTO, "snapshot: empty member");
        ms.id = m->id;
        ms.raft = m->raft;
        ms.api = m->api;
        if (load_check(dir_op_member_set(n, &ms, &res), "member", &res, e))
            return e->code;
    }
    for (size_t i = 0; i < s->n_dedup; i++) {
        const Strata__V1__DedupEntry *d = s->dedup[i];
        struct dir_key k;
        if (!d || !d->client_id || d->index > n->applied || s->n_dedup > DIR_FSM_DEDUP_MAX)
            return strata_err_set(e, STRATA_EPROTO, "snapshot: bad dedup entry");
        dir_key_u64(&k, d->client_id, d->req_id);
        if (dir_map_get(&n->dedup, k.b, k.len))
            return strata_err_set(e, STRATA_EPROTO, "snapshot: duplicate dedup entry");
        dir_dedup_record(n, d->client_id, d->req_id, d->status, d->message, d->index);
    }
    /* An object listed twice with the same value was absorbed as a no-op: catch it by count. */
    if (n->domains.n != s->n_domains || n->vns.n != s->n_vnets || n->nsubnets != s->n_subnets ||
        n->hosts.n != s->n_hosts || n->gateways.n != s->n_gateways ||
        n->eps_mac.n != s->n_endpoints || n->policies.n != s->n_policies ||
        n->members.n != s->n_members)
        return strata_err_set(e, STRATA_EPROTO, "snapshot: duplicate objects");
    return 0;
}

int dir_fsm_restore(struct dir_fsm *f, const uint8_t *buf, size_t len, struct strata_err *e)
{
    if (!buf && len)
        return strata_err_set(e, STRATA_EINVAL, "snapshot: no buffer");
    Strata__V1__DirSnapshot *s = strata__v1__dir_snapshot__unpack(NULL, len, buf);
    if (!s)
        return strata_err_set(e, STRATA_EPROTO, "snapshot: undecodable (%zu bytes)", len);
    strata_msg_strip_unknown(&s->base, NULL); /* a snapshot taken before they were dropped */
    if (s->magic != DIR_SNAPSHOT_MAGIC) {
        strata__v1__dir_snapshot__free_unpacked(s, NULL);
        return strata_err_set(e, STRATA_EPROTO, "snapshot: truncated or not a directory snapshot");
    }
    struct dir_fsm *n = dir_fsm_new();
    n->restoring = true;
    n->applied = s->applied_index;
    struct strata_err local = {0};
    int rc = load_objects(n, s, e ? e : &local);
    if (rc == 0)
        rc = dir_gw_check(n, e ? e : &local);
    strata__v1__dir_snapshot__free_unpacked(s, NULL);
    if (rc) {
        dir_fsm_free(n);
        return rc;
    }
    struct dir_map_iter it = {0};
    struct dir_vn *vn;
    while ((vn = dir_map_next(&n->vns, &it)))
        dir_flood_update(n, vn);
    n->restoring = false;
    n->cur_index = 0;
    n->hook = f->hook;
    n->hook_arg = f->hook_arg;
    dir_fsm_free_state(f);
    *f = *n;
    free(n);
    return 0;
}

/* ------------------------------------------------------------------ restore into a new cluster */

int dir_fsm_snapshot_rebase(const uint8_t *buf, size_t len, uint64_t index, uint8_t **out,
                            size_t *out_len, size_t *objects, struct strata_err *e)
{
    Strata__V1__DirSnapshot *s = strata__v1__dir_snapshot__unpack(NULL, len, buf);
    if (!s)
        return strata_err_set(e, STRATA_EPROTO, "snapshot: undecodable (%zu bytes)", len);
    strata_msg_strip_unknown(&s->base, NULL);
    int rc = 0;
    if (s->magic != DIR_SNAPSHOT_MAGIC)
        rc = strata_err_set(e, STRATA_EPROTO, "snapshot: truncated or not a directory snapshot");
    else if (index < s->applied_index)
        rc = strata_err_set(e, STRATA_EINVAL,
                            "snapshot: index %" PRIu64 " is below its applied index %" PRIu64,
                            index, s->applied_index);
    if (rc) {
        strata__v1__dir_snapshot__free_unpacked(s, NULL);
        return rc;
    }
    /* The old members' addresses name nodes of another cluster: the new nodes record their own
     * once they run. Taken out for the packing only, so that free_unpacked still frees them. */
    Strata__V1__Member **members = s->members;
    size_t n_members = s->n_members;
    s->members = NULL;
    s->n_members = 0;
    s->applied_index = index;
    size_t n = strata__v1__dir_snapshot__get_packed_size(s);
    uint8_t *o = malloc(n ? n : 1);
    if (o)
        strata__v1__dir_snapshot__pack(s, o);
    s->members = members;
    s->n_members = n_members;
    strata__v1__dir_snapshot__free_unpacked(s, NULL);
    if (!o)
        return strata_err_set(e, STRATA_ENOMEM, "snapshot: cannot allocate %zu bytes", n);
    /* What the new cluster's nodes will load at start: refused here, it is refused before any of
     * them writes a thing. */
    struct dir_fsm *chk = dir_fsm_new();
    rc = dir_fsm_restore(chk, o, n, e);
    if (rc == 0 && objects)
        *objects = dir_fsm_objects(chk);
    dir_fsm_free(chk);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    *out_len = n;
    return 0;
}

/* dir_fsm.c - the directory FSM's core: state lifetime, command dispatch, dedup, change hook. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_fsm_int.h"
#include "msg.h"
#include "dir_fsm_slab.h"

/* ------------------------------------------------------------------------------- memory */

static void dir_oom(void)
{
    fprintf(stderr, "dir_fsm: out of memory\n");
    abort();
}

void *dir_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        dir_oom();
    return p;
}

void *dir_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        dir_oom();
    return p;
}

void *dir_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        dir_oom();
    return p;
}

char *dir_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(dir_xmalloc(n), s, n);
}

void *dir_obj_dup(struct dir_fsm *f, const void *msg)
{
    const ProtobufCMessage *m = msg;
    ProtobufCAllocator a = dir_slab_pb(f->slab);
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t stackbuf[512];
    uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : dir_xmalloc(len);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, &a, len, buf);
    if (buf != stackbuf)
        free(buf);
    /* Our own encoding decodes: commands reach the FSM checked on the wire and without unknown
     * fields (msg_wire.c, dird_raft.c), so only allocation can fail. */
    if (!copy)
        dir_oom();
    /* only what the directory understands is stored (entries logged before this existed may
     * carry unknown fields) */
    strata_msg_strip_unknown(copy, &a);
    return copy;
}

static void hold(void ***v, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *v = dir_xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = p;
}

void dir_obj_free(struct dir_fsm *f, void *msg)
{
    if (!msg)
        return;
    if (f->snap) {
        hold(&f->held_obj, &f->nheld_obj, &f->capheld_obj, msg);
        return;
    }
    ProtobufCAllocator a = dir_slab_pb(f->slab);
    protobuf_c_message_free_unpacked(msg, &a);
}

void dir_raw_free(struct dir_fsm *f, void *p)
{
    if (p && f->snap)
        hold(&f->held_raw, &f->nheld_raw, &f->capheld_raw, p);
    else
        dir_slab_free(f->slab, p);
}

void dir_held_release(struct dir_fsm *f)
{
    ProtobufCAllocator a = dir_slab_pb(f->slab);
    for (size_t i = 0; i < f->nheld_obj; i++)
        protobuf_c_message_free_unpacked(f->held_obj[i], &a);
    for (size_t i = 0; i < f->nheld_raw; i++)
        dir_slab_free(f->slab, f->held_raw[i]);
    free(f->held_obj);
    free(f->held_raw);
    f->held_obj = f->held_raw = NULL;
    f->nheld_obj = f->capheld_obj = f->nheld_raw = f->capheld_raw = 0;
}

/* ------------------------------------------------------------------------------- keys */

void dir_key_vni(struct dir_key *k, uint32_t vni)
{
    memcpy(k->b, &vni, 4);
    k->len = 4;
}

void dir_key_mac(struct dir_key *k, uint32_t vni, const uint8_t mac[6])
{
    memcpy(k->b, &vni, 4);
    memcpy(k->b + 4, mac, 6);
    k->len = 10;
}

void dir_key_ip(struct dir_key *k, uint32_t vni, const struct strata_ip *ip)
{
    memcpy(k->b, &vni, 4);
    k->b[4] = ip->family;
    memset(k->b + 5, 0, 16);
    memcpy(k->b + 5, ip->a, strata_ip_len(ip));
    k->len = 21;
}

void dir_key_vtep(struct dir_key *k, const struct strata_ip *ip)
{
    k->b[0] = ip->family;
    memset(k->b + 1, 0, 16);
    memcpy(k->b + 1, ip->a, strata_ip_len(ip));
    k->len = 17;
}

void dir_key_pair(struct dir_key *k, uint32_t a, uint32_t b)
{
    memcpy(k->b, &a, 4);
    memcpy(k->b + 4, &b, 4);
    k->len = 8;
}

void dir_key_u64(struct dir_key *k, uint64_t a, uint64_t b)
{
    memcpy(k->b, &a, 8);
    memcpy(k->b + 8, &b, 8);
    k->len = 16;
}

/* ------------------------------------------------------------------------------- helpers */

const char *dir_str(const char *s)
{
    return s ? s : "";
}

int dir_fail(struct dir_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
    va_end(ap);
    res->status = code;
    return code;
}

const char *dir_ip_text(const ProtobufCBinaryData *b, char *buf)
{
    struct strata_ip ip;
    if (strata_ip_from_bytes(b->data, b->len, &ip, NULL) != 0)
        return strcpy(buf, "?");
    return strata_ip_format(&ip, buf);
}

int dir_ip_cmp(const struct strata_ip *a, const struct strata_ip *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->a, b->a, strata_ip_len(a));
}

struct dir_vn *dir_vn_get(const struct dir_fsm *f, uint32_t vni)
{
    struct dir_key k;
    dir_key_vni(&k, vni);
    return dir_map_get(&f->vns, k.b, k.len);
}

struct dir_holder *dir_holder_get(const struct dir_fsm *f, const char *id)
{
    id = dir_str(id);
    struct dir_holder *h = dir_map_get(&f->hosts, id, strlen(id));
    return h ? h : dir_map_get(&f->gateways, id, strlen(id));
}

/* ------------------------------------------------------------------------------- state */

void dir_fsm_init_state(struct dir_fsm *f)
{
    memset(f, 0, sizeof(*f));
    f->slab = dir_slab_new();
    struct dir_map *maps[] = {&f->domains, &f->vns,    &f->hosts,    &f->gateways, &f->vteps,
                              &f->eps_mac, &f->eps_ip, &f->policies, &f->members,  &f->dedup};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        dir_map_init(maps[i], f->slab);
}

static void free_all(struct dir_fsm *f, struct dir_map *m, void (*fn)(struct dir_fsm *, void *))
{
    struct dir_map_iter it = {0};
    void *v;
    while ((v = dir_map_next(m, &it)))
        fn(f, v);
    dir_map_fini(m);
}

static void holder_free(struct dir_fsm *f, void *p)
{
    struct dir_holder *h = p;
    dir_obj_free(f, h->host);
    dir_obj_free(f, h->gw);
    free(h);
}

static void vn_free_cb(struct dir_fsm *f, void *p)
{
    dir_vn_free(f, p);
}

void dir_fsm_free_state(struct dir_fsm *f)
{
    /* A view still being encoded reads these objects: wait for it, then cut it loose. */
    dir_snap_detach(f);
    free_all(f, &f->domains, dir_obj_free);
    free_all(f, &f->vns, vn_free_cb);
    free_all(f, &f->hosts, holder_free);
    free_all(f, &f->gateways, holder_free);
    dir_map_fini(&f->vteps);
    free_all(f, &f->eps_mac, dir_obj_free);
    dir_map_fini(&f->eps_ip);
    free_all(f, &f->policies, dir_obj_free);
    free_all(f, &f->members, dir_obj_free);
    dir_map_fini(&f->dedup);
    for (size_t i = 0; i < f->fifo_len; i++) {
        struct dir_dedup *d = f->fifo[(f->fifo_head + i) % f->fifo_cap];
        dir_slab_free(f->slab, d->msg);
        dir_slab_free(f->slab, d);
    }
    free(f->fifo);
    free(f->touched);
    free(f->gw_touched);
    f->fifo = NULL;
    f->touched = NULL;
    f->gw_touched = NULL;
    /* Last: every map and object above lived in it. */
    dir_slab_destroy(f->slab);
    f->slab = NULL;
}

struct dir_fsm *dir_fsm_new(void)
{
    struct dir_fsm *f = dir_xmalloc(sizeof(*f));
    dir_fsm_init_state(f);
    return f;
}

void dir_fsm_free(struct dir_fsm *f)
{
    if (!f)
        return;
    dir_fsm_free_state(f);
    free(f);
}

void dir_fsm_set_change_hook(struct dir_fsm *f, dir_fsm_change_fn fn, void *arg)
{
    f->hook = fn;
    f->hook_arg = arg;
}

void dir_fsm_set_applied(struct dir_fsm *f, uint64_t index)
{
    if (index > f->applied)
        f->applied = index;
}

uint64_t dir_fsm_applied(const struct dir_fsm *f)
{
    return f->applied;
}

/* ------------------------------------------------------------------------------- changes */

void dir_emit(struct dir_fsm *f, Strata__V1__ObjKind kind, bool deleted, const void *obj)
{
    if (f->restoring || !f->hook)
        return;
    Strata__V1__Change c = STRATA__V1__CHANGE__INIT;
    c.index = f->cur_index;
    c.kind = kind;
    c.deleted = deleted;
    void *o = (void *)obj; /* the Change borrows; the hook must not modify it */
    switch (kind) {
    case STRATA__V1__OBJ_KIND__OBJ_DOMAIN:
        c.domain = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_VNET:
        c.vnet = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_SUBNET:
        c.subnet = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_HOST:
        c.host = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_GATEWAY:
        c.gateway = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_ENDPOINT:
        c.endpoint = o;
        break;
    case STRATA__V1__OBJ_KIND__OBJ_POLICY:
        c.policy = o;
        break;
    default:
        break; /* members: the Change has no field for them; kind says what changed */
    }
    f->hook(f->hook_arg, &c);
}

void dir_touch(struct dir_fsm *f, uint32_t vni)
{
    if (f->restoring)
        return; /* restore recomputes every flood list once at the end */
    for (size_t i = 0; i < f->ntouched; i++)
        if (f->touched[i] == vni)
            return;
    if (f->ntouched == f->captouched) {
        f->captouched = f->captouched ? f->captouched * 2 : 16;
        f->touched = dir_xrealloc(f->touched, f->captouched * sizeof(*f->touched));
    }
    f->touched[f->ntouched++] = vni;
}

int dir_u32_qcmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void dir_flood_settle(struct dir_fsm *f)
{
    if (f->ntouched > 1)
        qsort(f->touched, f->ntouched, sizeof(*f->touched), dir_u32_qcmp);
    for (size_t i = 0; i < f->ntouched; i++) {
        struct dir_vn *vn = dir_vn_get(f, f->touched[i]);
        if (!vn || !dir_flood_update(f, vn) || f->restoring || !f->hook)
            continue;
        Strata__V1__Change c = STRATA__V1__CHANGE__INIT;
        c.index = f->cur_index;
        c.kind = STRATA__V1__OBJ_KIND__OBJ_VNET;
        c.vnet = vn->obj;
        c.n_flood_vteps = vn->nflood;
        c.flood_vteps = vn->flood;
        f->hook(f->hook_arg, &c);
    }
    f->ntouched = 0;
}

/* ------------------------------------------------------------------------------- dedup */

void dir_dedup_record(struct dir_fsm *f, uint64_t client_id, uint64_t req_id, int status,
                      const char *msg, uint64_t index)
{
    struct dir_key k;
    dir_key_u64(&k, client_id, req_id);
    if (dir_map_get(&f->dedup, k.b, k.len))
        return;
    if (f->fifo_len == DIR_FSM_DEDUP_MAX) { /* forget the oldest */
        struct dir_dedup *old = f->fifo[f->fifo_head];
        struct dir_key ok;
        dir_key_u64(&ok, old->client_id, old->req_id);
        dir_map_del(&f->dedup, ok.b, ok.len);
        dir_raw_free(f, old->msg);
        dir_raw_free(f, old);
        f->fifo_head = (f->fifo_head + 1) % f->fifo_cap;
        f->fifo_len--;
    }
    if (f->fifo_len == f->fifo_cap) { /* grow and straighten the ring */
        size_t cap = f->fifo_cap ? f->fifo_cap * 2 : 64;
        struct dir_dedup **r = dir_xmalloc(cap * sizeof(*r));
        for (size_t i = 0; i < f->fifo_len; i++)
            r[i] = f->fifo[(f->fifo_head + i) % f->fifo_cap];
        free(f->fifo);
        f->fifo = r;
        f->fifo_cap = cap;
        f->fifo_head = 0;
    }
    struct dir_dedup *d = dir_slab_alloc(f->slab, sizeof(*d));
    d->client_id = client_id;
    d->req_id = req_id;
    d->status = status;
    d->index = index;
    d->msg = NULL;
    if (msg && *msg) {
        size_t n = strlen(msg) + 1;
        d->msg = memcpy(dir_slab_alloc(f->slab, n), msg, n);
    }
    f->fifo[(f->fifo_head + f->fifo_len) % f->fifo_cap] = d;
    f->fifo_len++;
    dir_map_put(&f->dedup, k.b, k.len, d);
}

/* ------------------------------------------------------------------------------- apply */

static int dispatch_op(struct dir_fsm *f, const Strata__V1__Command *cmd, struct dir_result *res);

/* Every command applies with its create_only flag visible to the ops that honour it. */
static int dispatch(struct dir_fsm *f, const Strata__V1__Command *cmd, struct dir_result *res)
{
    f->create_only = cmd->create_only;
    int rc = dispatch_op(f, cmd, res);
    f->create_only = false;
    return rc;
}

static int dispatch_op(struct dir_fsm *f, const Strata__V1__Command *cmd, struct dir_result *res)
{
#define NEED(p)                                                                                    \
    do {                                                                                           \
        if (!(p))                                                                                  \
            return dir_fail(res, STRATA_EINVAL, "command has an empty body");                      \
    } while (0)
    switch (cmd->op_case) {
    case STRATA__V1__COMMAND__OP_DOMAIN_CREATE:
        NEED(cmd->domain_create);
        return dir_op_domain_create(f, cmd->domain_create, res);
    case STRATA__V1__COMMAND__OP_VNET_CREATE:
        NEED(cmd->vnet_create);
        return dir_op_vnet_create(f, cmd->vnet_create, res);
    case STRATA__V1__COMMAND__OP_VNET_DELETE:
        NEED(cmd->vnet_delete);
        return dir_op_vnet_delete(f, cmd->vnet_delete, res);
    case STRATA__V1__COMMAND__OP_SUBNET_CREATE:
        NEED(cmd->subnet_create);
        return dir_op_subnet_create(f, cmd->subnet_create, res);
    case STRATA__V1__COMMAND__OP_HOST_ADD:
        NEED(cmd->host_add);
        return dir_op_host_add(f, cmd->host_add, res);
    case STRATA__V1__COMMAND__OP_GATEWAY_ADD:
        NEED(cmd->gateway_add);
        return dir_op_gateway_add(f, cmd->gateway_add, res);
    case STRATA__V1__COMMAND__OP_ENDPOINT_ADD:
        NEED(cmd->endpoint_add);
        return dir_op_endpoint_add(f, cmd->endpoint_add, res);
    case STRATA__V1__COMMAND__OP_ENDPOINT_MOVE:
        NEED(cmd->endpoint_move);
        return dir_op_endpoint_move(f, cmd->endpoint_move, res);
    case STRATA__V1__COMMAND__OP_ENDPOINT_DELETE:
        NEED(cmd->endpoint_delete);
        return dir_op_endpoint_delete(f, cmd->endpoint_delete, res);
    case STRATA__V1__COMMAND__OP_POLICY_SET:
        NEED(cmd->policy_set);
        return dir_op_policy_set(f, cmd->policy_set, res);
    case STRATA__V1__COMMAND__OP_MEMBER_SET:
        NEED(cmd->member_set);
        return dir_op_member_set(f, cmd->member_set, res);
    case STRATA__V1__COMMAND__OP_MEMBER_DEL:
        NEED(cmd->member_del);
        return dir_op_member_del(f, cmd->member_del, res);
    case STRATA__V1__COMMAND__OP_GATEWAY_LIVE:
        NEED(cmd->gateway_live);
        return dir_op_gateway_live(f, cmd->gateway_live, res);
    case STRATA__V1__COMMAND__OP_GATEWAY_DELETE:
        NEED(cmd->gateway_delete);
        return dir_op_gateway_delete(f, cmd->gateway_delete, res);
    case STRATA__V1__COMMAND__OP_POLICY_DELETE:
        NEED(cmd->policy_delete);
        return dir_op_policy_delete(f, cmd->policy_delete, res);
    case STRATA__V1__COMMAND__OP_HOST_DELETE:
        NEED(cmd->host_delete);
        return dir_op_host_delete(f, cmd->host_delete, res);
    case STRATA__V1__COMMAND__OP_SUBNET_DELETE:
        NEED(cmd->subnet_delete);
        return dir_op_subnet_delete(f, cmd->subnet_delete, res);
    case STRATA__V1__COMMAND__OP_DOMAIN_DELETE:
        NEED(cmd->domain_delete);
        return dir_op_domain_delete(f, cmd->domain_delete, res);
    default:
        return dir_fail(res, STRATA_EINVAL, "command has no operation");
    }
#undef NEED
}

void dir_fsm_apply_cmd(struct dir_fsm *f, uint64_t index, const Strata__V1__Command *cmd,
                       struct dir_result *res)
{
    memset(res, 0, sizeof(*res));
    res->index = index;
    if (index < f->applied) {
        dir_fail(res, STRATA_EINTERNAL,
                 "index %" PRIu64 " is older than the applied index %" PRIu64, index, f->applied);
        return;
    }
    f->applied = index; /* several commands of one batch share an index */
    if (!cmd) {
        dir_fail(res, STRATA_EINVAL, "no command");
        return;
    }
    if (cmd->client_id) {
        struct dir_key k;
        dir_key_u64(&k, cmd->client_id, cmd->req_id);
        const struct dir_dedup *d = dir_map_get(&f->dedup, k.b, k.len);
        if (d) {
            res->status = d->status;
            res->index = d->index;
            res->duplicate = true;
            snprintf(res->msg, sizeof(res->msg), "%s", d->msg ? d->msg : "");
            return;
        }
    }
    f->cur_index = index;
    f->ntouched = 0;
    f->ngw_touched = 0;
    if (dispatch(f, cmd, res) == 0) {
        /* gateway endpoints first: placing one changes flood lists */
        dir_gw_settle(f);
        dir_flood_settle(f);
    }
    f->ntouched = 0;
    f->ngw_touched = 0;
    if (cmd->client_id)
        dir_dedup_record(f, cmd->client_id, cmd->req_id, res->status, res->msg, res->index);
}

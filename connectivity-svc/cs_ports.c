/* cs_ports.c - what agents register through the connectivity server: their host (HostRegister,
 * which also opens the session) and their ports (endpoint add / move / delete, written to the
 * directory on their behalf after cs_auth.c agreed), plus the check that a host has a port in a
 * VN, asked of the directory once per host and VN. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "log.h"

#define DENIED_MEMORY_MS 2000 /* how long "no port in VN v" is believed */

enum op_kind { OP_HOST, OP_PORT_ADD, OP_PORT_MOVE, OP_PORT_DEL_CHECK, OP_PORT_DEL };

/* One operation in flight. Pointers into the request's envelope stay valid until we reply. */
struct op {
    struct cs *cs;
    struct strata_req *req;
    const strata_env *renv;
    struct cs_ident id;
    uint32_t sid;    /* the caller's session (UINT32_MAX: none) ... */
    uint64_t sepoch; /* ... and its epoch: it may end while the directory answers */
    enum op_kind kind;
    strata_env env;
    Strata__V1__WriteRequest w;
    Strata__V1__Command cmd;
    Strata__V1__Host host;
    Strata__V1__Endpoint ep;
    Strata__V1__ResolveRequest rr;
    Strata__V1__ResolveQuery q, *qp;
};

static struct op *op_new(struct cs *cs, struct strata_req *req, const strata_env *renv,
                         const struct cs_ident *id, struct cs_session *s, enum op_kind kind)
{
    struct op *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return NULL;
    }
    o->cs = cs;
    o->req = req;
    o->renv = renv;
    o->id = *id;
    o->sid = s ? s->id : UINT32_MAX;
    o->sepoch = s ? s->epoch : 0;
    o->kind = kind;
    strata__v1__envelope__init(&o->env);
    strata__v1__write_request__init(&o->w);
    strata__v1__command__init(&o->cmd);
    o->env.identity = (char *)"operator";
    o->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    o->env.write = &o->w;
    o->w.cmd = &o->cmd;
    return o;
}

/* Pass a directory failure on: a transport error becomes EUNAVAIL with the reason. */
static void reply_failure(struct strata_req *req, int rc, const strata_env *reply)
{
    if (rc != 0)
        strata_req_error(req, STRATA_EUNAVAIL, "directory unreachable: %s", strata_strerror(rc));
    else
        strata_req_error(req, reply->status, "%s",
                         reply->message && *reply->message ? reply->message
                                                           : strata_strerror(reply->status));
}

static void session_add_vni(struct op *o, uint32_t vni)
{
    struct cs_session *s =
        o->sid == UINT32_MAX ? NULL : cs_agents_lookup(o->cs->agents, o->sid, o->sepoch);
    if (s != NULL && o->id.kind == CS_ID_HOST)
        cs_iset_add(&s->vnis, vni);
}

static void write_done(int rc, strata_env *reply, void *arg)
{
    struct op *o = arg;
    if (rc != 0 || reply->status != 0) {
        if (rc == 0 && o->kind == OP_HOST && reply->status == STRATA_ECONFLICT)
            strata_req_error(o->req, STRATA_EDENIED, "%s", reply->message ? reply->message : "");
        else
            reply_failure(o->req, rc, reply);
        goto out;
    }
    switch (o->kind) {
    case OP_HOST: {
        const Strata__V1__HostRegister *hr = o->renv->host_register;
        struct cs_session *s;
        struct strata_err e;
        if (cs_agents_open(o->cs->agents, hr->host, &s, &e) != 0) {
            strata_req_error(o->req, e.code, "%s", e.msg);
            goto out;
        }
        s->registered = true;
        s->gateway = false; /* gateways register in cs_gateways.c */
        s->vtep_len = (uint8_t)hr->vtep.len;
        memcpy(s->vtep, hr->vtep.data, hr->vtep.len);
        Strata__V1__HostRegisterReply hrr = STRATA__V1__HOST_REGISTER_REPLY__INIT;
        strata_env env = STRATA__V1__ENVELOPE__INIT;
        hrr.session = s->epoch;
        env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY;
        env.host_register_reply = &hrr;
        LOG_INFO("agents: host %s registered (session %llu)", hr->host,
                 (unsigned long long)s->epoch);
        strata_req_reply(o->req, &env);
        goto out;
    }
    case OP_PORT_ADD:
        session_add_vni(o, o->ep.vni);
        break;
    case OP_PORT_MOVE:
        session_add_vni(o, o->renv->port_move->move->vni);
        break;
    default:
        break;
    }
    strata_req_reply(o->req, reply); /* the directory's WriteReply, as it said */
out:
    if (reply)
        strata_msg_free(reply);
    free(o);
}

void cs_ports_host_register(struct cs *cs, struct strata_req *req, const strata_env *env,
                            const struct cs_ident *id)
{
    const Strata__V1__HostRegister *hr = env->host_register;
    struct strata_err e;
    if (cs_auth_host_register(id, hr, &e) != 0) {
        cs->ctr.denied++;
        strata_req_error(req, e.code, "%s", e.msg);
        return;
    }
    if (strata_name_check(hr->host, hr->gateway ? "gateway" : "host", &e) != 0 ||
        (hr->vtep.len != 4 && hr->vtep.len != 16)) {
        strata_req_error(req, STRATA_EINVAL, "%s",
                         e.code ? e.msg : "HostRegister needs a VTEP address (4 or 16 bytes)");
        return;
    }
    if (hr->gateway) {
        /* A gateway's VNs are the operator's to decide: it registers against its record. */
        cs_gw_register(cs, req, env, id);
        return;
    }
    struct cs_session *s = cs_agents_find(cs->agents, hr->host);
    struct op *o = op_new(cs, req, env, id, s, OP_HOST);
    if (o == NULL)
        return;
    strata__v1__host__init(&o->host);
    o->host.id = hr->host;
    o->host.vtep = hr->vtep;
    o->host.pod = (char *)(hr->pod && *hr->pod ? hr->pod : cs->pod);
    o->cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    o->cmd.host_add = &o->host;
    cs_up_write(cs->up, &o->env, write_done, o);
}

/* PortUnregister, step 1: is the endpoint on the caller's host? */
static void del_checked(int rc, strata_env *reply, void *arg)
{
    struct op *o = arg;
    if (rc != 0 || reply->status != 0 ||
        reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
        reply->resolve_reply->n_answers != 1) {
        reply_failure(o->req, rc ? rc : reply->status ? 0 : STRATA_EPROTO, reply);
        goto fail;
    }
    const Strata__V1__ResolveAnswer *a = reply->resolve_reply->answers[0];
    if (a->status != 0) {
        strata_req_error(o->req, a->status, "%s", a->message ? a->message : "");
        goto fail;
    }
    if (!a->found || a->endpoint == NULL) {
        strata_req_error(o->req, STRATA_ENOTFOUND, "no such endpoint");
        goto fail;
    }
    struct strata_err e;
    struct cs_session *s =
        o->sid == UINT32_MAX ? NULL : cs_agents_lookup(o->cs->agents, o->sid, o->sepoch);
    if (cs_auth_port_unregister(&o->id, s, a->endpoint->host, &e) != 0) {
        o->cs->ctr.denied++;
        strata_req_error(o->req, e.code, "%s", e.msg);
        goto fail;
    }
    strata_msg_free(reply);
    o->kind = OP_PORT_DEL;
    o->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    o->env.write = &o->w;
    o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    o->cmd.endpoint_delete = o->renv->port_unregister->del;
    cs_up_write(o->cs->up, &o->env, write_done, o);
    return;
fail:
    if (reply)
        strata_msg_free(reply);
    free(o);
}

void cs_ports_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                     const struct cs_ident *id, struct cs_session *s)
{
    struct strata_err e = {0};
    int rc = 0;
    struct op *o = NULL;
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_PORT_REGISTER: {
        const Strata__V1__Endpoint *ep = env->port_register->endpoint;
        if (ep == NULL) {
            strata_req_error(req, STRATA_EINVAL, "PortRegister carries no endpoint");
            return;
        }
        if ((rc = cs_auth_port_register(id, s, ep, &e)) != 0)
            break;
        if ((o = op_new(cs, req, env, id, s, OP_PORT_ADD)) == NULL)
            return;
        o->ep = *ep;
        o->ep.vtep.len = 0; /* the directory fills it from the host record */
        o->ep.vtep.data = NULL;
        o->ep.version = 0;
        o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
        o->cmd.endpoint_add = &o->ep;
        cs_up_write(cs->up, &o->env, write_done, o);
        return;
    }
    case STRATA__V1__ENVELOPE__BODY_PORT_MOVE: {
        const Strata__V1__EndpointMove *mv = env->port_move->move;
        if (mv == NULL) {
            strata_req_error(req, STRATA_EINVAL, "PortMove carries no move");
            return;
        }
        if ((rc = cs_auth_port_move(id, s, mv, &e)) != 0)
            break;
        if ((o = op_new(cs, req, env, id, s, OP_PORT_MOVE)) == NULL)
            return;
        o->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
        o->cmd.endpoint_move = (Strata__V1__EndpointMove *)mv;
        cs_up_write(cs->up, &o->env, write_done, o);
        return;
    }
    case STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER: {
        const Strata__V1__EndpointDelete *del = env->port_unregister->del;
        if (del == NULL || del->mac.len != 6) {
            strata_req_error(req, STRATA_EINVAL, "PortUnregister needs a VNI and a MAC");
            return;
        }
        if ((o = op_new(cs, req, env, id, s, OP_PORT_DEL_CHECK)) == NULL)
            return;
        strata__v1__resolve_request__init(&o->rr);
        strata__v1__resolve_query__init(&o->q);
        o->q.vni = del->vni;
        o->q.mac = del->mac;
        o->qp = &o->q;
        o->rr.queries = &o->qp;
        o->rr.n_queries = 1;
        o->rr.min_index = cs->feed_index;
        o->env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        o->env.resolve = &o->rr;
        cs_up_call(cs->up, &o->env, 700, 5000, NULL, del_checked, o);
        return;
    }
    default:
        strata_req_error(req, STRATA_EINTERNAL, "not a port request");
        return;
    }
    cs->ctr.denied++;
    strata_req_error(req, rc, "%s", e.msg);
}

/* ---------------------------------------------------------------- VN membership */

/* Whether a host has a port in a VN is read from the directory's whole endpoint list of that VN
 * (ListRequest has no host filter). One list per VN is shared by every session that asks within
 * MEMBERS_TTL_MS, and concurrent asks wait for the one fetch in flight: otherwise a host
 * alternating between two VNs it has no port in (or many names asking once each) made every
 * request fetch and decode a whole VN. A session still remembers what it learnt (its VNs, its
 * last refusal), as before. */
#define MEMBERS_TTL_MS DENIED_MEMORY_MS /* the staleness a "no" already had */
#define MEMBERS_MAX 256                 /* VNs remembered; also the most lists in flight */

struct vwait {
    uint32_t sid;
    uint64_t sepoch; /* the session may end (and its id be reused) while the directory answers */
    void (*fn)(void *arg, int rc);
    void *arg;
    int out;
    struct vwait *next;
};

/* One VN's hosts with a port, as one ListReply said. */
struct members {
    uint32_t vni;
    bool fetching;
    int status;        /* 0: hosts is the answer; STRATA_EDENIED: no such VN */
    uint64_t until_ms; /* answer usable before this */
    char **hosts;      /* sorted, distinct */
    size_t nhosts;
    struct vwait *waiters; /* while fetching */
    struct cs *cs;
    strata_env env;
    Strata__V1__ListRequest lr;
};

struct cs_vnmembers {
    struct members m[MEMBERS_MAX];
    size_t n;
};

static void members_clear(struct members *m)
{
    for (size_t i = 0; i < m->nhosts; i++)
        free(m->hosts[i]);
    free(m->hosts);
    m->hosts = NULL;
    m->nhosts = 0;
}

void cs_ports_free(struct cs *cs)
{
    struct cs_vnmembers *vm = cs->vnmembers;
    if (vm == NULL)
        return;
    for (size_t i = 0; i < vm->n; i++)
        members_clear(&vm->m[i]);
    free(vm);
    cs->vnmembers = NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the distinct host names of a ListReply, sorted. */
static int members_store(struct members *m, const Strata__V1__ListReply *lr)
{
    members_clear(m);
    if (lr->n_endpoints == 0)
        return 0;
    char **h = malloc(lr->n_endpoints * sizeof(*h));
    if (h == NULL)
        return STRATA_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < lr->n_endpoints; i++)
        if (lr->endpoints[i]->host != NULL && lr->endpoints[i]->host[0] != '\0')
            h[n++] = lr->endpoints[i]->host;
    qsort(h, n, sizeof(*h), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(h[k - 1], h[i]) == 0)
            continue;
        h[k++] = h[i];
    }
    for (size_t i = 0; i < k; i++) {
        if ((h[i] = strdup(h[i])) == NULL) {
            m->hosts = h;
            m->nhosts = i;
            members_clear(m);
            return STRATA_ENOMEM;
        }
    }
    m->hosts = h;
    m->nhosts = k;
    return 0;
}

/* 0: host has a port in m's VN; STRATA_EDENIED: it has not. */
static int members_answer(const struct members *m, const char *host)
{
    if (m->status != 0)
        return m->status;
    if (m->nhosts == 0)
        return STRATA_EDENIED; /* an empty VN (and bsearch must not see a NULL array) */
    const char *key = host;
    return bsearch(&key, m->hosts, m->nhosts, sizeof(char *), cmp_str) ? 0 : STRATA_EDENIED;
}

/* Record the outcome in the session (if it still exists) as the single-VN check did. */
static int session_learn(struct cs *cs, uint32_t sid, uint64_t sepoch, uint32_t vni, int out)
{
    struct cs_session *s = cs_agents_lookup(cs->agents, sid, sepoch);
    if (s == NULL)
        return out == 0 ? STRATA_EDENIED : out; /* ended meanwhile: nothing to allow */
    if (out == 0 && cs_iset_add(&s->vnis, vni) < 0)
        return STRATA_ENOMEM;
    if (out == STRATA_EDENIED) {
        s->denied_vni = vni;
        s->denied_until_ms = strata_now_ms() + DENIED_MEMORY_MS;
    }
    return out;
}

static void members_fetched(int rc, strata_env *reply, void *arg)
{
    struct members *m = arg;
    struct cs *cs = m->cs;
    int st = rc;
    if (rc == 0 && reply->status == STRATA_ENOTFOUND)
        st = STRATA_EDENIED; /* no such VN: certainly no port in it */
    else if (rc == 0 && reply->status != 0)
        st = reply->status;
    else if (rc == 0 && reply->body_case != STRATA__V1__ENVELOPE__BODY_LIST_REPLY)
        st = STRATA_EPROTO;
    else if (rc == 0)
        st = members_store(m, reply->list_reply);
    if (reply)
        strata_msg_free(reply);
    m->fetching = false;
    m->status = st;
    bool usable = st == 0 || st == STRATA_EDENIED;
    m->until_ms = usable ? strata_now_ms() + MEMBERS_TTL_MS : 0;
    /* Decide every waiter before calling any: a callback may ask again and reuse this slot. */
    struct vwait *w = m->waiters;
    m->waiters = NULL;
    for (struct vwait *x = w; x != NULL; x = x->next) {
        struct cs_session *s = cs_agents_lookup(cs->agents, x->sid, x->sepoch);
        int out = !usable ? st : s != NULL ? members_answer(m, s->host) : STRATA_EDENIED;
        x->out = session_learn(cs, x->sid, x->sepoch, m->vni, out);
    }
    while (w != NULL) {
        struct vwait *next = w->next;
        w->fn(w->arg, w->out);
        free(w);
        w = next;
    }
}

/* The slot for vni: its own, else an unused one, else the one that expired first (never one
 * being fetched). NULL when MEMBERS_MAX lists are in flight. */
static struct members *members_slot(struct cs_vnmembers *vm, uint32_t vni)
{
    struct members *oldest = NULL;
    for (size_t i = 0; i < vm->n; i++) {
        struct members *m = &vm->m[i];
        if (m->vni == vni)
            return m;
        if (!m->fetching && (oldest == NULL || m->until_ms < oldest->until_ms))
            oldest = m;
    }
    if (vm->n < MEMBERS_MAX)
        return &vm->m[vm->n++];
    return oldest;
}

static void members_fetch(struct cs *cs, struct members *m, uint32_t vni)
{
    members_clear(m);
    m->vni = vni;
    m->cs = cs;
    m->fetching = true;
    m->until_ms = 0;
    strata__v1__envelope__init(&m->env);
    strata__v1__list_request__init(&m->lr);
    m->lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    m->lr.vni = vni;
    m->lr.min_index = cs->feed_index;
    m->env.identity = (char *)"operator";
    m->env.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    m->env.list = &m->lr;
    cs_up_call(cs->up, &m->env, 1000, 5000, NULL, members_fetched, m);
}

void cs_ports_check_vni(struct cs *cs, struct cs_session *s, uint32_t vni,
                        void (*fn)(void *arg, int rc), void *arg)
{
    if (s == NULL) {
        fn(arg, STRATA_EDENIED);
        return;
    }
    if (cs->vnmembers == NULL && (cs->vnmembers = calloc(1, sizeof(*cs->vnmembers))) == NULL) {
        fn(arg, STRATA_ENOMEM);
        return;
    }
    struct members *m = members_slot(cs->vnmembers, vni);
    if (m == NULL) {
        fn(arg, STRATA_EBUSY);
        return;
    }
    if (m->vni == vni && !m->fetching && strata_now_ms() < m->until_ms) {
        int out = members_answer(m, s->host);
        fn(arg, session_learn(cs, s->id, s->epoch, vni, out));
        return;
    }
    struct vwait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        fn(arg, STRATA_ENOMEM);
        return;
    }
    *w = (struct vwait){.sid = s->id, .sepoch = s->epoch, .fn = fn, .arg = arg};
    bool start = !(m->vni == vni && m->fetching);
    w->next = m->waiters;
    m->waiters = w;
    if (start)
        members_fetch(cs, m, vni);
}

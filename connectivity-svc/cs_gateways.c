/* cs_gateways.c - gateway sessions at a connectivity server: registration against the
 * directory's record, liveness declared with gateway_live (on registration; dead when the
 * connection of the gateway's parked poll closes or its lease runs out), and the UPD_VNINFO
 * pushes that tell gateways to refetch what they enforce. See cs.h for the rules.
 *
 * What this server believes of each gateway registered here is one small record (struct gw),
 * made only once the directory confirmed the gateway exists, so their number is bounded by the
 * directory's gateways. Its gateway_live writes go one at a time: `want_live` is the latest
 * wish, `dirty` says it is not written yet; a write's completion starts the next if needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "log.h"

#define GW_RETRY_MS 500 /* a failed "dead" write is tried again after this */

struct reg; /* a gateway's HostRegister in progress */

struct gw {
    struct cs *cs;
    char name[64];
    bool want_live;      /* what this server wants the directory to say */
    bool dirty;          /* want_live is not written yet */
    bool inflight;       /* a gateway_live write is under way (of `gl.live`) */
    bool live_here;      /* the directory says live, by this server's last write */
    uint64_t live_index; /* the index of that write: older feed changes do not undo it */
    uv_timer_t lease, retry;
    struct reg *waiters; /* registrations answered once a live write succeeds */
    strata_env env;
    Strata__V1__WriteRequest w;
    Strata__V1__Command cmd;
    Strata__V1__GatewayLive gl;
};

struct cs_gws {
    struct gw **v;
    size_t n;
};

struct reg {
    struct cs *cs;
    struct strata_req *req;
    const Strata__V1__HostRegister *hr; /* in req's envelope: valid until the reply */
    strata_env env;
    Strata__V1__ListRequest lr;
    uint32_t *vnis; /* the directory's record */
    size_t nvnis;
    struct reg *next;
};

/* ---------------------------------------------------------------- the records */

static struct gw *gw_find(struct cs *cs, const char *name)
{
    for (size_t i = 0; cs->gws != NULL && i < cs->gws->n; i++)
        if (strcmp(cs->gws->v[i]->name, name) == 0)
            return cs->gws->v[i];
    return NULL;
}

static void gw_kick(struct gw *g);

static void lease_cb(uv_timer_t *t);

static void retry_cb(uv_timer_t *t)
{
    gw_kick(t->data);
}

static struct gw *gw_get(struct cs *cs, const char *name)
{
    struct gw *g = gw_find(cs, name);
    if (g != NULL)
        return g;
    if (cs->gws == NULL && (cs->gws = calloc(1, sizeof(*cs->gws))) == NULL)
        return NULL;
    struct gw **v = realloc(cs->gws->v, (cs->gws->n + 1) * sizeof(*v));
    if (v == NULL || (g = calloc(1, sizeof(*g))) == NULL) {
        if (v != NULL)
            cs->gws->v = v;
        return NULL;
    }
    cs->gws->v = v;
    cs->gws->v[cs->gws->n++] = g;
    g->cs = cs;
    snprintf(g->name, sizeof(g->name), "%s", name);
    uv_timer_init(cs->uv, &g->lease);
    uv_timer_init(cs->uv, &g->retry);
    g->lease.data = g->retry.data = g;
    strata__v1__envelope__init(&g->env);
    strata__v1__write_request__init(&g->w);
    strata__v1__command__init(&g->cmd);
    strata__v1__gateway_live__init(&g->gl);
    g->env.identity = (char *)"operator";
    g->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    g->env.write = &g->w;
    g->w.cmd = &g->cmd;
    g->cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_LIVE;
    g->cmd.gateway_live = &g->gl;
    g->gl.id = g->name;
    return g;
}

static void gauge(struct cs *cs)
{
    uint64_t n = 0;
    for (size_t i = 0; cs->gws != NULL && i < cs->gws->n; i++)
        n += cs->gws->v[i]->live_here;
    cs->ctr.gw_live = n;
}

/* ---------------------------------------------------------------- registration */

static void reg_free(struct reg *r)
{
    free(r->vnis);
    free(r);
}

/* The directory said live: open the session with the record's VNs and answer. */
static void reg_finish(struct reg *r)
{
    struct cs *cs = r->cs;
    const Strata__V1__HostRegister *hr = r->hr;
    struct cs_session *s;
    struct strata_err e;
    if (cs_agents_open(cs->agents, hr->host, &s, &e) != 0) {
        strata_req_error(r->req, e.code, "%s", e.msg);
        return;
    }
    s->registered = true;
    s->gateway = true;
    s->vtep_len = (uint8_t)hr->vtep.len;
    memcpy(s->vtep, hr->vtep.data, hr->vtep.len);
    cs_iset_clear(&s->vnis);
    for (size_t i = 0; i < r->nvnis; i++)
        if (cs_iset_add(&s->vnis, r->vnis[i]) < 0) {
            strata_req_error(r->req, STRATA_ENOMEM, "out of memory");
            return;
        }
    Strata__V1__HostRegisterReply hrr = STRATA__V1__HOST_REGISTER_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    hrr.session = s->epoch;
    hrr.vnis = r->vnis;
    hrr.n_vnis = r->nvnis;
    env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY;
    env.host_register_reply = &hrr;
    cs->ctr.gw_registered++;
    LOG_INFO("agents: gateway %s registered, live (session %llu, %zu VNs)", hr->host,
             (unsigned long long)s->epoch, r->nvnis);
    strata_req_reply(r->req, &env);
    cs_gw_activity(cs, s);
}

static const Strata__V1__Gateway *record_of(const Strata__V1__ListReply *l, const char *id)
{
    for (size_t i = 0; i < l->n_gateways; i++)
        if (l->gateways[i]->id != NULL && strcmp(l->gateways[i]->id, id) == 0)
            return l->gateways[i];
    return NULL;
}

static void reg_listed(int rc, strata_env *reply, void *arg)
{
    struct reg *r = arg;
    struct cs *cs = r->cs;
    const Strata__V1__HostRegister *hr = r->hr;
    char want[STRATA_IP_STRLEN] = "?", have[STRATA_IP_STRLEN] = "?";
    struct strata_ip ip;
    if (rc != 0 || reply->status != 0 ||
        reply->body_case != STRATA__V1__ENVELOPE__BODY_LIST_REPLY) {
        cs->ctr.gw_refused++;
        if (rc != 0)
            strata_req_error(r->req, STRATA_EUNAVAIL, "directory unreachable: %s",
                             strata_strerror(rc));
        else
            strata_req_error(r->req, reply->status ? reply->status : STRATA_EPROTO, "%s",
                             reply->message && *reply->message ? reply->message : "bad reply");
        reg_free(r);
        goto out;
    }
    const Strata__V1__Gateway *g = record_of(reply->list_reply, hr->host);
    if (strata_ip_from_bytes(hr->vtep.data, hr->vtep.len, &ip, NULL) == 0)
        strata_ip_format(&ip, want);
    if (g == NULL) {
        cs->ctr.gw_refused++;
        strata_req_error(r->req, STRATA_ENOTFOUND,
                         "gateway %s is not in the directory: strata gateway add --id %s --vtep "
                         "%s --vni N[,N...] first",
                         hr->host, hr->host, want);
        reg_free(r);
        goto out;
    }
    if (strata_ip_from_bytes(g->vtep.data, g->vtep.len, &ip, NULL) == 0)
        strata_ip_format(&ip, have);
    if (g->vtep.len != hr->vtep.len || memcmp(g->vtep.data, hr->vtep.data, g->vtep.len) != 0) {
        cs->ctr.gw_refused++;
        strata_req_error(r->req, STRATA_EDENIED,
                         "gateway %s registers VTEP %s but the directory has %s for it "
                         "(strata gateway add --id %s --vtep ... changes it)",
                         hr->host, want, have, hr->host);
        reg_free(r);
        goto out;
    }
    if (g->n_vnis > 0) {
        if ((r->vnis = malloc(g->n_vnis * sizeof(*r->vnis))) == NULL) {
            strata_req_error(r->req, STRATA_ENOMEM, "out of memory");
            reg_free(r);
            goto out;
        }
        memcpy(r->vnis, g->vnis, g->n_vnis * sizeof(*r->vnis));
    }
    r->nvnis = g->n_vnis;
    struct gw *w = gw_get(cs, hr->host);
    if (w == NULL) {
        strata_req_error(r->req, STRATA_ENOMEM, "out of memory");
        reg_free(r);
        goto out;
    }
    w->want_live = true;
    w->dirty = true; /* written even when we think it is: the directory may say otherwise */
    r->next = w->waiters;
    w->waiters = r;
    gw_kick(w);
out:
    if (reply != NULL)
        strata_msg_free(reply);
}

void cs_gw_register(struct cs *cs, struct strata_req *req, const strata_env *env,
                    const struct cs_ident *id)
{
    (void)id; /* cs_auth_host_register checked it names itself */
    struct reg *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    r->cs = cs;
    r->req = req;
    r->hr = env->host_register;
    strata__v1__envelope__init(&r->env);
    strata__v1__list_request__init(&r->lr);
    r->lr.kind = STRATA__V1__OBJ_KIND__OBJ_GATEWAY;
    r->lr.min_index = cs->feed_index;
    r->env.identity = (char *)"operator";
    r->env.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    r->env.list = &r->lr;
    cs_up_call(cs->up, &r->env, 1000, 5000, NULL, reg_listed, r);
}

/* ---------------------------------------------------------------- liveness writes */

static void gw_written(int rc, strata_env *reply, void *arg)
{
    struct gw *g = arg;
    struct cs *cs = g->cs;
    bool wrote = g->gl.live;
    int st = rc != 0 ? STRATA_EUNAVAIL : reply->status;
    g->inflight = false;
    if (st == 0) {
        g->live_here = wrote;
        if (reply->body_case == STRATA__V1__ENVELOPE__BODY_WRITE_REPLY)
            g->live_index = reply->write_reply->index;
    } else if (st == STRATA_ECONFLICT && !wrote) {
        g->live_here = false; /* another server holds it now: its word stands */
    } else {
        cs->ctr.gw_live_errors++;
        LOG_WARN("gateways: cannot declare %s %s: %s", g->name, wrote ? "live" : "dead",
                 rc != 0                             ? strata_strerror(rc)
                 : reply->message && *reply->message ? reply->message
                                                     : strata_strerror(st));
    }
    struct reg *w = wrote ? g->waiters : NULL;
    if (wrote)
        g->waiters = NULL;
    while (w != NULL) {
        struct reg *next = w->next;
        if (st == 0)
            reg_finish(w);
        else
            strata_req_error(w->req, st, "cannot declare gateway %s live: %s", g->name,
                             rc != 0                             ? strata_strerror(rc)
                             : reply->message && *reply->message ? reply->message
                                                                 : strata_strerror(st));
        reg_free(w);
        w = next;
    }
    if (reply != NULL)
        strata_msg_free(reply);
    gauge(cs);
    if (st != 0 && st != STRATA_ECONFLICT && !wrote && !g->want_live && !cs->stopping) {
        g->dirty = true; /* a death must reach the directory: try again soon */
        uv_timer_start(&g->retry, retry_cb, GW_RETRY_MS, 0);
        return;
    }
    gw_kick(g);
}

static void gw_kick(struct gw *g)
{
    struct cs *cs = g->cs;
    if (g->inflight || !g->dirty || cs->stopping)
        return;
    g->dirty = false;
    g->inflight = true;
    g->gl.live = g->want_live;
    g->gl.csd = (char *)cs->id;
    cs->ctr.gw_live_writes++;
    cs_up_write(cs->up, &g->env, gw_written, g);
}

static void declare_dead(struct gw *g, const char *why)
{
    struct cs *cs = g->cs;
    if (!g->want_live)
        return;
    LOG_WARN("gateways: %s declared dead (%s)", g->name, why);
    g->want_live = false;
    g->dirty = true;
    uv_timer_stop(&g->lease);
    /* if it still runs, its next poll is told to resynchronise, and it registers again */
    struct cs_session *s = cs_agents_find(cs->agents, g->name);
    if (s != NULL)
        cs_agents_resync(cs->agents, s);
    gw_kick(g);
}

static void lease_cb(uv_timer_t *t)
{
    struct gw *g = t->data;
    if (!g->want_live)
        return;
    char why[64];
    snprintf(why, sizeof(why), "no request for %d ms", CS_GW_LEASE_MS);
    g->cs->ctr.gw_dead_lease++;
    declare_dead(g, why);
}

void cs_gw_activity(struct cs *cs, struct cs_session *s)
{
    struct gw *g = gw_find(cs, s->host);
    if (g != NULL && g->want_live && !cs->stopping)
        uv_timer_start(&g->lease, lease_cb, CS_GW_LEASE_MS, 0);
}

bool cs_gw_alive(struct cs *cs, const char *host)
{
    struct gw *g = gw_find(cs, host);
    return g != NULL && g->want_live;
}

void cs_gw_conn_closed(struct cs *cs, const char *host)
{
    struct gw *g = gw_find(cs, host);
    if (g == NULL || !g->want_live || cs->stopping)
        return;
    cs->ctr.gw_dead_closed++;
    declare_dead(g, "the connection of its poll closed");
}

/* ---------------------------------------------------------------- feed */

struct vi_push {
    struct cs *cs;
    uint32_t vni;
    struct cs_payload *p;
};

static void vi_visit(struct cs_session *s, void *arg)
{
    struct vi_push *v = arg;
    if (s->gateway && s->registered && cs_iset_has(&s->vnis, v->vni))
        cs_agents_push(v->cs->agents, s->id, CS_UPD_VNINFO, NULL, v->p);
}

void cs_gw_push_vninfo(struct cs *cs, uint32_t vni, uint64_t now_us)
{
    cs_vninfo_forget(cs, vni); /* the gateway's refetch must reach the directory */
    struct vi_push v = {cs, vni, cs_payload_vninfo(vni, NULL, 0, now_us)};
    if (v.p == NULL)
        return;
    cs_agents_visit(cs->agents, vi_visit, &v);
    cs_payload_unref(v.p);
}

static bool same_vnis(const struct cs_iset *have, const uint32_t *v, size_t n)
{
    if (cs_iset_count(have) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cs_iset_has(have, v[i]))
            return false;
    return true;
}

void cs_gw_record_changed(struct cs *cs, const Strata__V1__Gateway *rec, bool deleted,
                          uint64_t index, uint64_t now_us)
{
    if (rec->id == NULL)
        return;
    struct gw *g = gw_find(cs, rec->id);
    /* Declared live elsewhere (it moved to another server), or gone: nothing to keep alive. Not
     * when the change is older than a registration here (written, or about to be). */
    bool elsewhere =
        rec->live && rec->csd != NULL && (cs->id == NULL || strcmp(rec->csd, cs->id) != 0);
    bool ours_newer =
        g != NULL && (g->dirty || (g->inflight && g->gl.live) || index <= g->live_index);
    if (g != NULL && g->want_live && (deleted || (elsewhere && !ours_newer))) {
        g->want_live = false;
        g->live_here = false;
        uv_timer_stop(&g->lease);
        gauge(cs);
    }
    struct cs_session *s = cs_agents_find(cs->agents, rec->id);
    if (s == NULL || !s->gateway || !s->registered)
        return;
    size_t n = deleted ? 0 : rec->n_vnis;
    if (same_vnis(&s->vnis, rec->vnis, n))
        return;
    cs_iset_clear(&s->vnis);
    for (size_t i = 0; i < n; i++)
        cs_iset_add(&s->vnis, rec->vnis[i]);
    struct cs_payload *p = cs_payload_vninfo(0, rec->vnis, n, now_us);
    cs_agents_push(cs->agents, s->id, CS_UPD_VNINFO, NULL, p);
    cs_payload_unref(p);
}

/* ---------------------------------------------------------------- teardown */

void cs_gw_close(struct cs *cs)
{
    for (size_t i = 0; cs->gws != NULL && i < cs->gws->n; i++) {
        struct gw *g = cs->gws->v[i];
        uv_close((uv_handle_t *)&g->lease, NULL);
        uv_close((uv_handle_t *)&g->retry, NULL);
    }
}

void cs_gw_free(struct cs *cs)
{
    if (cs->gws == NULL)
        return;
    for (size_t i = 0; i < cs->gws->n; i++) {
        struct reg *w = cs->gws->v[i]->waiters;
        while (w != NULL) { /* their requests went with the server */
            struct reg *next = w->next;
            reg_free(w);
            w = next;
        }
        free(cs->gws->v[i]);
    }
    free(cs->gws->v);
    free(cs->gws);
    cs->gws = NULL;
}

/* cs_agents.c - one session per agent (host or gateway): an epoch, a bounded queue of updates
 * numbered by seq, and at most one parked UpdatesRequest (the agent's long-poll). Updates share
 * one refcounted payload per change, so pushing a move to a thousand holders costs a thousand
 * small queue slots, not a thousand endpoint copies.
 *
 * Any caller can name itself, so sessions are bounded (CS_SESSION_MAX) and end when idle
 * (CS_SESSION_IDLE_S): a sweep timer frees them, first removing their ids from every interest
 * set so that a reused id never receives another session's updates. Work that outlives a loop
 * turn keeps (id, epoch) and looks the session up again (cs_agents_lookup). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_payload.h"
#include "log.h"

#define QUEUE_MAX 4096    /* per session; beyond it the agent is told to resynchronise */
#define REPLY_MAX 512     /* updates per UpdatesReply */
#define WAIT_MAX_MS 30000 /* longest long-poll */
#define SESS_BUCKETS 4096
#define SWEEP_MIN_MS 100   /* the sweep runs every idle/4 within these bounds: an idle session */
#define SWEEP_MAX_MS 10000 /* ends at most idle + SWEEP_MAX_MS after its last request */

struct upd {
    uint64_t seq;
    uint8_t kind;
    uint8_t key_kind;
    uint8_t key[16];
    uint32_t vni;
    struct cs_payload *p;
};

struct sess {
    struct cs_session pub; /* first: a cs_session * is a struct sess * */
    struct cs_agents *a;
    struct upd *q; /* ring */
    uint32_t qhead, qlen, qcap;
    uint64_t last_seq;
    uint64_t sent_upto; /* highest seq put in a reply: those may not be rewritten */
    uint64_t acked;     /* highest after_seq the agent sent in this epoch: what it applied */
    bool resync;
    struct strata_req *parked;
    uint64_t parked_after;
    bool ready;
    bool ending;        /* chosen by the running sweep */
    uint64_t active_ms; /* last request naming this session */
    uv_timer_t timer;
    struct sess *hnext, *rnext;
};

struct cs_agents {
    struct cs *cs;
    struct sess **byid; /* by id; NULL: a free id */
    uint32_t *free_ids; /* ids of ended sessions, reused first */
    uint32_t n, cap;    /* ids handed out so far (all < n); room in byid and free_ids */
    uint32_t live, nfree;
    uint32_t max;     /* sessions at once */
    uint64_t idle_ms; /* idle time after which a session ends */
    bool full_warned; /* the refusal at `max` was logged (once per episode) */
    struct sess *buckets[SESS_BUCKETS];
    struct sess *ready;
    uv_check_t check;
    uv_timer_t sweep;
    bool check_on, closing;
};

/* ---------------------------------------------------------------- sessions */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h % SESS_BUCKETS;
}

static void check_cb(uv_check_t *h);
static void sweep_cb(uv_timer_t *t);

int cs_agents_new(struct cs *cs, struct cs_agents **out)
{
    struct cs_agents *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return STRATA_ENOMEM;
    a->cs = cs;
    uint64_t idle_s = cs->session_idle_s ? cs->session_idle_s : CS_SESSION_IDLE_S;
    a->idle_ms = idle_s * 1000;
    a->max = cs->session_max ? (uint32_t)cs->session_max : CS_SESSION_MAX;
    uv_check_init(cs->uv, &a->check);
    a->check.data = a;
    uv_timer_init(cs->uv, &a->sweep);
    a->sweep.data = a;
    uint64_t every = a->idle_ms / 4;
    every = every < SWEEP_MIN_MS ? SWEEP_MIN_MS : every > SWEEP_MAX_MS ? SWEEP_MAX_MS : every;
    uv_timer_start(&a->sweep, sweep_cb, every, every);
    *out = a;
    return 0;
}

static struct sess *sess_find(struct cs_agents *a, const char *host)
{
    for (struct sess *s = a->buckets[name_hash(host)]; s != NULL; s = s->hnext)
        if (strcmp(s->pub.host, host) == 0)
            return s;
    return NULL;
}

struct cs_session *cs_agents_find(struct cs_agents *a, const char *host)
{
    struct sess *s = sess_find(a, host);
    return s ? &s->pub : NULL;
}

/* A free id: an ended session's, or the next one (growing the tables). */
static int id_alloc(struct cs_agents *a, uint32_t *id)
{
    if (a->nfree > 0) {
        *id = a->free_ids[--a->nfree];
        return 0;
    }
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 64;
        struct sess **v = realloc(a->byid, cap * sizeof(*v));
        if (v == NULL)
            return STRATA_ENOMEM;
        a->byid = v;
        uint32_t *f = realloc(a->free_ids, cap * sizeof(*f));
        if (f == NULL)
            return STRATA_ENOMEM;
        a->free_ids = f;
        a->cap = cap;
    }
    *id = a->n++;
    return 0;
}

static struct sess *sess_new(struct cs_agents *a, const char *host)
{
    struct sess *s = calloc(1, sizeof(*s));
    uint32_t id;
    if (s == NULL || id_alloc(a, &id) != 0) {
        free(s);
        return NULL;
    }
    s->a = a;
    s->pub.id = id;
    snprintf(s->pub.host, sizeof(s->pub.host), "%s", host);
    /* The wall clock makes a restarted server's epochs differ from the ones agents remember;
     * strictly increasing, an epoch also tells a session from an ended one that had its id. */
    static uint64_t last_epoch;
    uint64_t ep = strata_wall_us();
    s->pub.epoch = ep > last_epoch ? ep : last_epoch + 1;
    last_epoch = s->pub.epoch;
    s->active_ms = strata_now_ms();
    uv_timer_init(a->cs->uv, &s->timer);
    s->timer.data = s;
    a->byid[id] = s;
    uint32_t b = name_hash(host);
    s->hnext = a->buckets[b];
    a->buckets[b] = s;
    a->live++;
    a->cs->ctr.sessions = a->live;
    return s;
}

/* The refusal at the cap: counted, logged once until sessions end again. */
static int refuse_full(struct cs_agents *a, const char *host, struct strata_err *e)
{
    a->cs->ctr.sessions_refused++;
    if (!a->full_warned) {
        a->full_warned = true;
        LOG_WARN("agents: %u sessions, the most allowed (--session-max): refusing new names "
                 "such as %s until idle ones end",
                 a->live, host);
    }
    return strata_err_set(e, STRATA_EBUSY,
                          "connectivity server %s holds its maximum of %u agent sessions: no "
                          "session for %s (try another server, or later)",
                          a->cs->id ? a->cs->id : "", a->max, host);
}

int cs_agents_open(struct cs_agents *a, const char *host, struct cs_session **out,
                   struct strata_err *e)
{
    *out = NULL;
    struct sess *s = sess_find(a, host);
    if (s == NULL) {
        if (a->closing)
            return strata_err_set(e, STRATA_EUNAVAIL, "connectivity server shutting down");
        if (a->live >= a->max)
            return refuse_full(a, host, e);
        if ((s = sess_new(a, host)) == NULL)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory: no session for %s", host);
    }
    s->active_ms = strata_now_ms();
    *out = &s->pub;
    return 0;
}

struct cs_session *cs_agents_get(struct cs_agents *a, const char *host)
{
    struct cs_session *s;
    struct strata_err e;
    return cs_agents_open(a, host, &s, &e) == 0 ? s : NULL;
}

struct cs_session *cs_agents_by_id(struct cs_agents *a, uint32_t id)
{
    return id < a->n && a->byid[id] != NULL ? &a->byid[id]->pub : NULL;
}

struct cs_session *cs_agents_lookup(struct cs_agents *a, uint32_t id, uint64_t epoch)
{
    struct cs_session *s = cs_agents_by_id(a, id);
    return s != NULL && s->epoch == epoch ? s : NULL;
}

int cs_agents_acked(struct cs_agents *a, uint32_t id, uint64_t epoch, uint64_t *acked,
                    const char **host)
{
    struct cs_session *ps = cs_agents_lookup(a, id, epoch);
    if (ps == NULL)
        return STRATA_ENOTFOUND;
    *acked = ((struct sess *)ps)->acked;
    *host = ps->host;
    return 0;
}

bool cs_agents_polling(struct cs_agents *a, const struct cs_session *ps, uint64_t now_ms,
                       uint64_t within_ms)
{
    (void)a;
    const struct sess *s = (const struct sess *)ps;
    return s->parked != NULL || s->active_ms + within_ms >= now_ms;
}

uint32_t cs_agents_count(const struct cs_agents *a)
{
    return a->live;
}

void cs_agents_visit(struct cs_agents *a, void (*fn)(struct cs_session *s, void *arg), void *arg)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->byid[i] != NULL)
            fn(&a->byid[i]->pub, arg);
}

static struct upd *q_at(struct sess *s, uint32_t i)
{
    return &s->q[(s->qhead + i) % s->qcap];
}

static void q_clear(struct sess *s)
{
    for (uint32_t i = 0; i < s->qlen; i++) {
        q_at(s, i)->p->lost = true;
        cs_payload_unref(q_at(s, i)->p);
    }
    s->qhead = s->qlen = 0;
}

/* Drop what the agent has acknowledged (seq <= after). */
static void q_trim(struct sess *s, uint64_t after)
{
    while (s->qlen > 0 && q_at(s, 0)->seq <= after) {
        cs_payload_unref(q_at(s, 0)->p);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
}

static int q_push(struct sess *s, const struct upd *u)
{
    if (s->qlen == s->qcap) {
        uint32_t cap = s->qcap ? s->qcap * 2 : 8;
        struct upd *q = malloc(cap * sizeof(*q));
        if (q == NULL)
            return STRATA_ENOMEM;
        for (uint32_t i = 0; i < s->qlen; i++)
            q[i] = *q_at(s, i);
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    *q_at(s, s->qlen) = *u;
    s->qlen++;
    return 0;
}

static void mark_ready(struct sess *s)
{
    struct cs_agents *a = s->a;
    if (s->parked == NULL || s->ready)
        return;
    s->ready = true;
    s->rnext = a->ready;
    a->ready = s;
    if (!a->check_on && !a->closing) {
        a->check_on = true;
        uv_check_start(&a->check, check_cb);
    }
}

static void set_resync(struct sess *s)
{
    q_clear(s);
    s->resync = true;
    s->a->cs->ctr.resyncs_pushed++;
    mark_ready(s);
}

static void converge_set(struct cs *cs, enum cs_upd_kind kind, struct cs_payload *p)
{
    if (kind == CS_UPD_AUDIT)
        return; /* a question, not a change */
    if (p->converge == NULL)
        p->converge = &cs->ctr.converge[kind == CS_UPD_FLOOD    ? CS_CONVERGE_FLOOD
                                        : kind == CS_UPD_VNINFO ? CS_CONVERGE_VNINFO
                                                                : CS_CONVERGE_ENDPOINT];
}

void cs_agents_push(struct cs_agents *a, uint32_t id, enum cs_upd_kind kind, const struct cs_key *k,
                    struct cs_payload *p)
{
    if (id >= a->n || a->byid[id] == NULL || p == NULL)
        return;
    struct sess *s = a->byid[id];
    if (s->resync)
        return; /* it will re-resolve everything anyway */
    if (s->qlen >= QUEUE_MAX) {
        LOG_WARN("agents: %s fell %u updates behind: asking it to resynchronise", s->pub.host,
                 s->qlen);
        set_resync(s);
        return;
    }
    if (kind == CS_UPD_FLOOD || kind == CS_UPD_VNINFO) {
        /* A flood list (or a VN-info notice) not sent yet is simply replaced: only the newest
         * matters, and a VN filling up with N hosts would otherwise queue N lists at each. */
        for (uint32_t i = s->qlen; i-- > 0;) {
            struct upd *q = q_at(s, i);
            if (q->seq <= s->sent_upto)
                break;
            if (q->kind == kind && q->vni == p->ep.vni) {
                q->p->lost = true; /* superseded: this one's convergence is measured instead */
                cs_payload_unref(q->p);
                converge_set(a->cs, kind, p);
                cs_wait_pushed(a->cs, s->pub.id, s->pub.epoch, q->seq);
                q->p = p;
                p->refs++;
                if (kind == CS_UPD_FLOOD)
                    a->cs->ctr.floods_pushed++;
                else
                    a->cs->ctr.vninfo_pushed++;
                mark_ready(s);
                return;
            }
        }
    }
    struct upd u = {.seq = s->last_seq + 1, .kind = (uint8_t)kind, .p = p};
    if (k != NULL) {
        u.key_kind = k->kind;
        memcpy(u.key, k->b, 16);
        u.vni = k->vni;
    } else {
        u.vni = p->ep.vni;
    }
    if (q_push(s, &u) != 0) {
        set_resync(s);
        return;
    }
    s->last_seq++;
    p->refs++;
    converge_set(a->cs, kind, p);
    cs_wait_pushed(a->cs, s->pub.id, s->pub.epoch, u.seq);
    struct cs_counters *c = &a->cs->ctr;
    if (kind == CS_UPD_ENDPOINT)
        c->updates_pushed++;
    else if (kind == CS_UPD_INVALIDATE)
        c->invalidations_pushed++;
    else if (kind == CS_UPD_VNINFO)
        c->vninfo_pushed++;
    else if (kind == CS_UPD_FLOOD)
        c->floods_pushed++;
    mark_ready(s);
}

void cs_agents_resync(struct cs_agents *a, struct cs_session *ps)
{
    (void)a;
    set_resync((struct sess *)ps);
}

void cs_agents_resync_all(struct cs_agents *a)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->byid[i] != NULL)
            set_resync(a->byid[i]);
}

/* ---------------------------------------------------------------- long-poll */

static void reply_updates(struct sess *s, struct strata_req *req, uint64_t after, bool resync)
{
    Strata__V1__UpdatesReply ur = STRATA__V1__UPDATES_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Update *u = NULL;
    Strata__V1__Update **up = NULL;
    ur.session = s->pub.epoch;
    ur.resync = resync;
    size_t n = 0;
    if (!resync) {
        q_trim(s, after);
        n = s->qlen < REPLY_MAX ? s->qlen : REPLY_MAX;
    }
    if (n > 0) {
        u = calloc(n, sizeof(*u));
        up = calloc(n, sizeof(*up));
        if (u == NULL || up == NULL) {
            free(u);
            free(up);
            strata_req_error(req, STRATA_ENOMEM, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const struct upd *q = q_at(s, (uint32_t)i);
            strata__v1__update__init(&u[i]);
            up[i] = &u[i];
            u[i].seq = q->seq;
            u[i].vni = q->vni;
            u[i].committed_us = q->p->committed_us;
            switch (q->kind) {
            case CS_UPD_ENDPOINT:
                u[i].kind = STRATA__V1__UPDATE_KIND__UPD_ENDPOINT;
                u[i].verdict = STRATA__V1__VERDICT__VERDICT_ALLOW;
                break;
            case CS_UPD_INVALIDATE:
                u[i].kind = STRATA__V1__UPDATE_KIND__UPD_INVALIDATE;
                break;
            case CS_UPD_VNINFO:
                u[i].kind = STRATA__V1__UPDATE_KIND__UPD_VNINFO;
                u[i].vnis = q->p->vnis;
                u[i].n_vnis = q->p->nvnis;
                break;
            case CS_UPD_AUDIT:
                u[i].kind = STRATA__V1__UPDATE_KIND__UPD_AUDIT;
                u[i].audit_id = q->p->audit_id;
                u[i].parts = q->p->partsp;
                u[i].n_parts = q->p->nparts;
                u[i].repair = q->p->repairp;
                u[i].n_repair = q->p->nrepair;
                break;
            default:
                u[i].kind = STRATA__V1__UPDATE_KIND__UPD_FLOOD;
                break;
            }
            if (q->p->has_ep)
                u[i].endpoint = &q->p->ep;
            if (q->kind == CS_UPD_FLOOD) {
                u[i].flood_vteps = q->p->flood;
                u[i].n_flood_vteps = q->p->nflood;
            }
            if (q->key_kind == CS_KEY_MAC) {
                u[i].mac.data = (uint8_t *)q->key;
                u[i].mac.len = 6;
            } else if (q->key_kind != 0) {
                u[i].ip.data = (uint8_t *)q->key;
                u[i].ip.len = cs_key_len(q->key_kind);
            }
        }
        ur.updates = up;
        ur.n_updates = n;
        if (u[n - 1].seq > s->sent_upto)
            s->sent_upto = u[n - 1].seq;
    }
    env.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES_REPLY;
    env.updates_reply = &ur;
    strata_req_reply(req, &env);
    free(u);
    free(up);
}

/* Answer the parked poll of s if there is anything (or everything, when `force`). */
static void answer_parked(struct sess *s, bool force)
{
    if (s->parked == NULL)
        return;
    bool has = s->resync || (s->qlen > 0 && q_at(s, s->qlen - 1)->seq > s->parked_after);
    if (!has && !force)
        return;
    struct strata_req *req = s->parked;
    s->parked = NULL;
    s->a->cs->ctr.parked--;
    uv_timer_stop(&s->timer);
    bool resync = s->resync;
    s->resync = false;
    reply_updates(s, req, s->parked_after, resync);
}

void cs_agents_flush(struct cs_agents *a)
{
    while (a->ready != NULL) {
        struct sess *s = a->ready;
        a->ready = s->rnext;
        s->ready = false;
        answer_parked(s, false);
    }
}

static void check_cb(uv_check_t *h)
{
    struct cs_agents *a = h->data;
    uv_check_stop(h);
    a->check_on = false;
    cs_agents_flush(a);
}

static void park_timeout(uv_timer_t *t)
{
    answer_parked(t->data, true);
}

/* The connection of a gateway's parked poll closed: its process died (or dropped the socket).
 * The poll is answered into the void, and the session asked to resynchronise: a gateway that
 * still runs re-registers, which declares it live again. */
static void parked_closed(struct strata_req *req, void *arg)
{
    struct sess *s = arg;
    struct cs *cs = s->a->cs;
    if (s->parked == req)
        answer_parked(s, true);
    else
        strata_req_error(req, STRATA_EUNAVAIL, "connection closed"); /* cannot happen */
    set_resync(s);
    cs_gw_conn_closed(cs, s->pub.host);
}

void cs_agents_ack(struct cs_agents *a, struct cs_session *ps, uint64_t after_seq)
{
    struct sess *s = (struct sess *)ps;
    q_trim(s, after_seq);
    if (after_seq > s->acked) {
        /* The agent asks for what follows only once it applied what came before (to the
         * kernel): this is its acknowledgement, which convergence waits look for. */
        s->acked = after_seq;
        cs_wait_kick(a->cs);
    }
}

void cs_agents_handle_updates(struct cs *cs, struct strata_req *req, const strata_env *env,
                              const char *host)
{
    struct cs_agents *a = cs->agents;
    const Strata__V1__UpdatesRequest *ur = env->updates;
    struct cs_session *ps;
    struct strata_err e;
    if (cs_agents_open(a, host, &ps, &e) != 0) {
        strata_req_error(req, e.code, "%s", e.msg);
        return;
    }
    struct sess *s = (struct sess *)ps;
    if (s->parked != NULL)
        answer_parked(s, true); /* a newer poll replaces the old one */
    /* An agent can never be ahead of the stream: keep numbering above what it has seen. */
    if (ur->after_seq > s->last_seq)
        s->last_seq = ur->after_seq;
    if (ur->session != s->pub.epoch) {
        /* restarted server or an agent new to this server: it must re-resolve what it holds */
        q_clear(s);
        s->resync = false;
        reply_updates(s, req, ur->after_seq, true);
        return;
    }
    if (s->resync) {
        s->resync = false;
        reply_updates(s, req, ur->after_seq, true);
        return;
    }
    cs_agents_ack(a, ps, ur->after_seq);
    if (s->qlen > 0 || ur->wait_ms == 0 || a->closing) {
        reply_updates(s, req, ur->after_seq, false);
        return;
    }
    s->parked = req;
    s->parked_after = ur->after_seq;
    cs->ctr.parked++;
    uint32_t wait = ur->wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : ur->wait_ms;
    if (s->pub.gateway && s->pub.registered) {
        /* A gateway polls again within CS_GW_POLL_MAX_MS, or its lease runs out; and its death
         * shows as its poll's connection closing (tcp:// only: elsewhere the lease alone). */
        if (wait > CS_GW_POLL_MAX_MS)
            wait = CS_GW_POLL_MAX_MS;
        if (strata_req_on_close(req, parked_closed, s) == STRATA_EUNAVAIL) {
            parked_closed(req, s);
            return;
        }
    }
    uv_timer_start(&s->timer, park_timeout, wait, 0);
}

/* ---------------------------------------------------------------- expiry */

static bool sess_idle(const struct cs_agents *a, const struct sess *s, uint64_t now_ms)
{
    /* a parked poll is a live agent; `ready` means a reply is due this loop turn */
    return s->parked == NULL && !s->ready && now_ms >= s->active_ms &&
           now_ms - s->active_ms >= a->idle_ms;
}

/* Remove the ending sessions' ids from one cache entry's holders. Walks down from the end:
 * a removal moves the last id into the hole, one already looked at. */
static void forget_holders(struct cs_entry *e, void *arg)
{
    struct cs_agents *a = arg;
    for (uint32_t i = cs_iset_count(&e->holders); i-- > 0;) {
        uint32_t id = cs_iset_ids(&e->holders)[i];
        if (id < a->n && a->byid[id] != NULL && a->byid[id]->ending)
            cs_cache_holder_del(a->cs->cache, e, id);
    }
}

static void sess_closed(uv_handle_t *h)
{
    free(h->data);
}

static void hash_unlink(struct cs_agents *a, struct sess *s)
{
    for (struct sess **p = &a->buckets[name_hash(s->pub.host)]; *p != NULL; p = &(*p)->hnext) {
        if (*p == s) {
            *p = s->hnext;
            return;
        }
    }
}

/* Free an ending session: its id becomes reusable (no interest set holds it any more). */
static void sess_end(struct cs_agents *a, struct sess *s)
{
    hash_unlink(a, s);
    q_clear(s);
    free(s->q);
    cs_iset_clear(&s->pub.vnis);
    a->byid[s->pub.id] = NULL;
    a->free_ids[a->nfree++] = s->pub.id;
    a->live--;
    uv_close((uv_handle_t *)&s->timer, sess_closed); /* frees s */
}

uint32_t cs_agents_expire(struct cs_agents *a, uint64_t now_ms)
{
    if (a->closing)
        return 0;
    uint32_t ending = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        struct sess *s = a->byid[i];
        if (s != NULL && sess_idle(a, s, now_ms)) {
            s->ending = true;
            ending++;
        }
    }
    if (ending == 0)
        return 0;
    /* One pass over the cache for all of them: the sweep's cost does not grow with how many
     * names an attacker made idle at once. */
    if (a->cs->cache != NULL)
        cs_cache_foreach(a->cs->cache, forget_holders, a);
    for (uint32_t i = 0; i < a->n; i++)
        if (a->byid[i] != NULL && a->byid[i]->ending)
            sess_end(a, a->byid[i]);
    struct cs_counters *c = &a->cs->ctr;
    c->sessions_expired += ending;
    c->sessions = a->live;
    if (a->live < a->max)
        a->full_warned = false;
    LOG_INFO("agents: %u sessions idle for %llu s ended (%u left)", ending,
             (unsigned long long)(a->idle_ms / 1000), a->live);
    return ending;
}

static void sweep_cb(uv_timer_t *t)
{
    cs_agents_expire(t->data, strata_now_ms());
}

/* ---------------------------------------------------------------- teardown */

void cs_agents_close(struct cs_agents *a)
{
    a->closing = true;
    uv_check_stop(&a->check);
    uv_timer_stop(&a->sweep);
    uv_close((uv_handle_t *)&a->sweep, NULL);
    a->ready = NULL;
    for (uint32_t i = 0; i < a->n; i++) {
        struct sess *s = a->byid[i];
        if (s == NULL)
            continue;
        s->ready = false;
        answer_parked(s, true);
        uv_close((uv_handle_t *)&s->timer, NULL);
    }
    uv_close((uv_handle_t *)&a->check, NULL);
}

void cs_agents_free(struct cs_agents *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->n; i++) {
        struct sess *s = a->byid[i];
        if (s == NULL)
            continue;
        q_clear(s);
        free(s->q);
        cs_iset_clear(&s->pub.vnis);
        free(s);
    }
    free(a->byid);
    free(a->free_ids);
    free(a);
}

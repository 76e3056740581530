/* cs_agents.c - one session per agent (host or gateway): an epoch, a bounded queue of updates
 * numbered by seq, and at most one parked UpdatesRequest (the agent's long-poll). Updates share
 * one refcounted payload per change, so pushing a move to a thousand holders costs a thousand
 * small queue slots, not a thousand endpoint copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "log.h"

#define QUEUE_MAX 4096    /* per session; beyond it the agent is told to resynchronise */
#define REPLY_MAX 512     /* updates per UpdatesReply */
#define WAIT_MAX_MS 30000 /* longest long-poll */
#define SESS_BUCKETS 4096

struct cs_payload {
    uint32_t refs;
    uint64_t committed_us;
    bool has_ep;
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ips[STRATA_MAX_IPS];
    uint8_t ipbuf[STRATA_MAX_IPS][16];
    uint8_t mac[6], vtep[16];
    char host[64];
    ProtobufCBinaryData *flood;
    size_t nflood;
};

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
    bool resync;
    struct strata_req *parked;
    uint64_t parked_after;
    bool ready;
    uv_timer_t timer;
    struct sess *hnext, *rnext;
};

struct cs_agents {
    struct cs *cs;
    struct sess **byid;
    uint32_t n, cap;
    struct sess *buckets[SESS_BUCKETS];
    struct sess *ready;
    uv_check_t check;
    bool check_on, closing;
};

/* ---------------------------------------------------------------- payloads */

static struct cs_payload *payload_new(uint64_t committed_us)
{
    struct cs_payload *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->refs = 1;
        p->committed_us = committed_us;
    }
    return p;
}

struct cs_payload *cs_payload_endpoint(const Strata__V1__Endpoint *ep, uint64_t committed_us)
{
    struct cs_payload *p = payload_new(committed_us);
    if (p == NULL)
        return NULL;
    p->has_ep = true;
    strata__v1__endpoint__init(&p->ep);
    p->ep.vni = ep->vni;
    p->ep.version = ep->version;
    if (ep->mac.len == 6) {
        memcpy(p->mac, ep->mac.data, 6);
        p->ep.mac.data = p->mac;
        p->ep.mac.len = 6;
    }
    if (ep->vtep.len == 4 || ep->vtep.len == 16) {
        memcpy(p->vtep, ep->vtep.data, ep->vtep.len);
        p->ep.vtep.data = p->vtep;
        p->ep.vtep.len = ep->vtep.len;
    }
    snprintf(p->host, sizeof(p->host), "%s", ep->host ? ep->host : "");
    p->ep.host = p->host;
    size_t n = 0;
    for (size_t i = 0; i < ep->n_ips && n < STRATA_MAX_IPS; i++) {
        if (ep->ips[i].len != 4 && ep->ips[i].len != 16)
            continue;
        memcpy(p->ipbuf[n], ep->ips[i].data, ep->ips[i].len);
        p->ips[n].data = p->ipbuf[n];
        p->ips[n].len = ep->ips[i].len;
        n++;
    }
    p->ep.ips = p->ips;
    p->ep.n_ips = n;
    return p;
}

struct cs_payload *cs_payload_entry(struct cs *cs, const struct cs_entry *e, uint64_t committed_us)
{
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ProtobufCBinaryData ip;
    ep.vni = e->vni;
    ep.version = e->version;
    if (e->found) {
        ep.mac.data = (uint8_t *)e->mac;
        ep.mac.len = 6;
        ep.vtep.data = (uint8_t *)e->vtep;
        ep.vtep.len = e->vtep_len;
        ep.host = (char *)cs_cache_host_name(cs->cache, e->host);
    } else if (e->kind == CS_KEY_MAC) {
        ep.mac.data = (uint8_t *)e->key;
        ep.mac.len = 6;
    }
    if (e->kind != CS_KEY_MAC) {
        ip.data = (uint8_t *)e->key;
        ip.len = cs_key_len(e->kind);
        ep.ips = &ip;
        ep.n_ips = 1;
    }
    return cs_payload_endpoint(&ep, committed_us);
}

struct cs_payload *cs_payload_flood(uint32_t vni, ProtobufCBinaryData *vteps, size_t n,
                                    uint64_t committed_us)
{
    struct cs_payload *p = payload_new(committed_us);
    if (p == NULL)
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += vteps[i].len;
    /* one block: the array of n descriptors followed by the addresses */
    p->flood = malloc(n * sizeof(*p->flood) + bytes + 1);
    if (p->flood == NULL) {
        free(p);
        return NULL;
    }
    uint8_t *data = (uint8_t *)(p->flood + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(data, vteps[i].data, vteps[i].len);
        p->flood[i].data = data;
        p->flood[i].len = vteps[i].len;
        data += vteps[i].len;
    }
    p->nflood = n;
    p->ep.vni = vni;
    return p;
}

void cs_payload_unref(struct cs_payload *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    free(p->flood);
    free(p);
}

/* ---------------------------------------------------------------- sessions */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h % SESS_BUCKETS;
}

static void check_cb(uv_check_t *h);

int cs_agents_new(struct cs *cs, struct cs_agents **out)
{
    struct cs_agents *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return STRATA_ENOMEM;
    a->cs = cs;
    uv_check_init(cs->uv, &a->check);
    a->check.data = a;
    *out = a;
    return 0;
}

struct cs_session *cs_agents_find(struct cs_agents *a, const char *host)
{
    for (struct sess *s = a->buckets[name_hash(host)]; s != NULL; s = s->hnext)
        if (strcmp(s->pub.host, host) == 0)
            return &s->pub;
    return NULL;
}

struct cs_session *cs_agents_get(struct cs_agents *a, const char *host)
{
    struct cs_session *found = cs_agents_find(a, host);
    if (found != NULL || a->closing)
        return found;
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 64;
        struct sess **v = realloc(a->byid, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        a->byid = v;
        a->cap = cap;
    }
    struct sess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->a = a;
    s->pub.id = a->n;
    snprintf(s->pub.host, sizeof(s->pub.host), "%s", host);
    /* The wall clock makes a restarted server's epochs differ from the ones agents remember. */
    static uint64_t last_epoch;
    uint64_t ep = strata_wall_us();
    s->pub.epoch = ep > last_epoch ? ep : last_epoch + 1;
    last_epoch = s->pub.epoch;
    uv_timer_init(a->cs->uv, &s->timer);
    s->timer.data = s;
    a->byid[a->n++] = s;
    uint32_t b = name_hash(host);
    s->hnext = a->buckets[b];
    a->buckets[b] = s;
    a->cs->ctr.sessions = a->n;
    return &s->pub;
}

struct cs_session *cs_agents_by_id(struct cs_agents *a, uint32_t id)
{
    return id < a->n ? &a->byid[id]->pub : NULL;
}

uint32_t cs_agents_count(const struct cs_agents *a)
{
    return a->n;
}

void cs_agents_visit(struct cs_agents *a, void (*fn)(struct cs_session *s, void *arg), void *arg)
{
    for (uint32_t i = 0; i < a->n; i++)
        fn(&a->byid[i]->pub, arg);
}

static struct upd *q_at(struct sess *s, uint32_t i)
{
    return &s->q[(s->qhead + i) % s->qcap];
}

static void q_clear(struct sess *s)
{
    for (uint32_t i = 0; i < s->qlen; i++)
        cs_payload_unref(q_at(s, i)->p);
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

void cs_agents_push(struct cs_agents *a, uint32_t id, enum cs_upd_kind kind, const struct cs_key *k,
                    struct cs_payload *p)
{
    if (id >= a->n || p == NULL)
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
    if (kind == CS_UPD_FLOOD) {
        /* A flood list not sent yet is simply replaced: only the newest list matters, and a VN
         * filling up with N hosts would otherwise queue N lists at each of them. */
        for (uint32_t i = s->qlen; i-- > 0;) {
            struct upd *q = q_at(s, i);
            if (q->seq <= s->sent_upto)
                break;
            if (q->kind == CS_UPD_FLOOD && q->vni == p->ep.vni) {
                cs_payload_unref(q->p);
                q->p = p;
                p->refs++;
                a->cs->ctr.floods_pushed++;
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
    struct cs_counters *c = &a->cs->ctr;
    if (kind == CS_UPD_ENDPOINT)
        c->updates_pushed++;
    else if (kind == CS_UPD_INVALIDATE)
        c->invalidations_pushed++;
    else
        c->floods_pushed++;
    mark_ready(s);
}

void cs_agents_resync_all(struct cs_agents *a)
{
    for (uint32_t i = 0; i < a->n; i++)
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

void cs_agents_handle_updates(struct cs *cs, struct strata_req *req, const strata_env *env,
                              const char *host)
{
    struct cs_agents *a = cs->agents;
    const Strata__V1__UpdatesRequest *ur = env->updates;
    struct cs_session *ps = cs_agents_get(a, host);
    if (ps == NULL) {
        strata_req_error(req, a->closing ? STRATA_EUNAVAIL : STRATA_ENOMEM,
                         "cannot create a session for %s", host);
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
    q_trim(s, ur->after_seq);
    if (s->qlen > 0 || ur->wait_ms == 0 || a->closing) {
        reply_updates(s, req, ur->after_seq, false);
        return;
    }
    s->parked = req;
    s->parked_after = ur->after_seq;
    cs->ctr.parked++;
    uv_timer_start(&s->timer, park_timeout, ur->wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : ur->wait_ms,
                   0);
}

/* ---------------------------------------------------------------- teardown */

void cs_agents_close(struct cs_agents *a)
{
    a->closing = true;
    uv_check_stop(&a->check);
    a->ready = NULL;
    for (uint32_t i = 0; i < a->n; i++) {
        struct sess *s = a->byid[i];
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
        q_clear(s);
        free(s->q);
        cs_iset_clear(&s->pub.vnis);
        free(s);
    }
    free(a->byid);
    free(a);
}

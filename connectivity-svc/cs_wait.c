/* cs_wait.c - convergence waits: which sessions each recent change was pushed to (as which
 * update seq), and WaitAppliedRequests answered once every one of them acknowledged it. An
 * agent acknowledges by asking for the updates after a seq, which it does only once it wrote
 * what came before to its kernel; so "acknowledged" here means "in the holder's kernel". */
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "log.h"

/* Recent changes remembered: a wait for an older one is answered "too old to tell". At a few
 * holders each this is well under a megabyte; a wait is made right after its write. */
#define WAIT_RING 4096
#define WAIT_MAX_MS 60000 /* longest wait a request may ask */
#define WAIT_PENDING_MAX 4096

struct holder {
    uint32_t id;
    uint64_t epoch, seq;
};

struct change {
    uint64_t index;
    uint64_t seen_us; /* wall clock when the feed applied it */
    struct holder *h;
    uint32_t n, cap;
    bool lost; /* holders could not all be recorded (out of memory): unknown */
};

struct waiter {
    struct cs_waits *w;
    struct strata_req *req;
    uint64_t index;
    uint64_t start_us;
    uv_timer_t timer;
    struct waiter *next, *prev;
};

struct cs_waits {
    struct cs *cs;
    struct change ring[WAIT_RING];
    uint32_t head, len;   /* oldest at head */
    uint64_t forgotten;   /* highest index pushed out of the ring (0: none) */
    struct change *cur;   /* the change the feed is applying, between begin and end */
    struct waiter *waits; /* pending */
    uint32_t npending;
    bool closing;
};

int cs_wait_new(struct cs *cs)
{
    struct cs_waits *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return STRATA_ENOMEM;
    w->cs = cs;
    cs->waits = w;
    return 0;
}

void cs_wait_change_begin(struct cs *cs, uint64_t index, uint64_t now_us)
{
    struct cs_waits *w = cs->waits;
    if (w == NULL)
        return;
    if (w->len == WAIT_RING) {
        struct change *old = &w->ring[w->head];
        if (old->index > w->forgotten)
            w->forgotten = old->index;
        free(old->h);
        w->head = (w->head + 1) % WAIT_RING;
        w->len--;
    }
    struct change *c = &w->ring[(w->head + w->len) % WAIT_RING];
    *c = (struct change){.index = index, .seen_us = now_us};
    w->len++;
    w->cur = c;
}

void cs_wait_change_end(struct cs *cs)
{
    if (cs->waits != NULL)
        cs->waits->cur = NULL;
}

void cs_wait_pushed(struct cs *cs, uint32_t id, uint64_t epoch, uint64_t seq)
{
    struct cs_waits *w = cs->waits;
    struct change *c = w != NULL ? w->cur : NULL;
    if (c == NULL)
        return; /* not a feed change (an eviction, a resolve's own bookkeeping) */
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->h[i].id == id && c->h[i].epoch == epoch) {
            if (seq > c->h[i].seq)
                c->h[i].seq = seq;
            return;
        }
    }
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 4;
        struct holder *h = realloc(c->h, cap * sizeof(*h));
        if (h == NULL) {
            /* Forget the change rather than under-report its holders: a wait on it says so. */
            if (!c->lost)
                LOG_WARN("wait: out of memory recording holders of index %llu",
                         (unsigned long long)c->index);
            c->lost = true;
            return;
        }
        c->h = h;
        c->cap = cap;
    }
    c->h[c->n++] = (struct holder){id, epoch, seq};
}

/* The ring position of the first change with index >= `index` (w->len when none): the feed
 * applies changes in increasing index order, so the ring is sorted. */
static uint32_t ring_first(const struct cs_waits *w, uint64_t index)
{
    uint32_t lo = 0, hi = w->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->ring[(w->head + mid) % WAIT_RING].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Build the reply for a wait on `index`: whether every holder applied it. The holder array is
 * allocated in *hs and *hps (caller frees). */
static bool wait_status(struct cs_waits *w, const struct waiter *wt, bool final,
                        Strata__V1__WaitAppliedReply *r, Strata__V1__WaitHolder **hs,
                        Strata__V1__WaitHolder ***hps)
{
    struct cs *cs = w->cs;
    /* final: answered whatever the state (the deadline); a refused allocation then answers
     * without holders rather than not at all. */
    uint64_t now = strata_wall_us();
    *hs = NULL;
    *hps = NULL;
    r->feed_index = cs->feed_index;
    r->server = (char *)(cs->id ? cs->id : "");
    r->seen = cs->feed_index >= wt->index;
    r->known = true;
    if (!r->seen)
        return false;
    uint32_t total = 0, first = ring_first(w, wt->index), end = first;
    bool lost = false;
    for (; end < w->len && w->ring[(w->head + end) % WAIT_RING].index == wt->index; end++) {
        total += w->ring[(w->head + end) % WAIT_RING].n;
        lost = lost || w->ring[(w->head + end) % WAIT_RING].lost;
    }
    if ((end == first && wt->index <= w->forgotten) || lost) {
        r->known = false;
        return true; /* nothing to wait for that could ever be told */
    }
    if (total > 0 && ((*hs = calloc(total, sizeof(**hs))) == NULL ||
                      (*hps = calloc(total, sizeof(**hps))) == NULL)) {
        free(*hs);
        *hs = NULL;
        return false; /* try again on the next kick or at the deadline */
    }
    bool all = true;
    size_t n = 0;
    for (uint32_t i = first; i < end; i++) {
        const struct change *c = &w->ring[(w->head + i) % WAIT_RING];
        for (uint32_t j = 0; j < c->n; j++) {
            /* Changes of one index (an endpoint and the flood list it changed) often reach the
             * same session: one line per session, waiting for the highest seq. */
            const char *host = "?";
            uint64_t acked = 0;
            bool dup = false;
            if (cs_agents_acked(cs->agents, c->h[j].id, c->h[j].epoch, &acked, &host) == 0) {
                for (size_t k = 0; k < n && !dup; k++) {
                    if (strcmp((*hs)[k].host, host) != 0)
                        continue;
                    dup = true;
                    if (c->h[j].seq > (*hs)[k].seq) {
                        (*hs)[k].seq = c->h[j].seq;
                        (*hs)[k].applied = acked >= c->h[j].seq;
                        all = all && (*hs)[k].applied;
                    }
                }
            }
            if (dup)
                continue;
            Strata__V1__WaitHolder *h = &(*hs)[n];
            strata__v1__wait_holder__init(h);
            (*hps)[n++] = h;
            h->seq = c->h[j].seq;
            h->elapsed_us = now > c->seen_us ? now - c->seen_us : 0;
            if (cs_agents_acked(cs->agents, c->h[j].id, c->h[j].epoch, &acked, &host) != 0) {
                /* Ended (idle, or the agent restarted): whether it applied is unknown. */
                h->note = "session ended";
                all = false;
            } else {
                h->applied = acked >= c->h[j].seq;
                all = all && h->applied;
            }
            h->host = (char *)host;
            h->acked_seq = acked;
        }
    }
    r->holders = *hps;
    r->n_holders = n;
    return all || final;
}

bool cs_wait_status(struct cs *cs, uint64_t index, Strata__V1__WaitAppliedReply *r,
                    Strata__V1__WaitHolder **hs, Strata__V1__WaitHolder ***hps)
{
    struct waiter wt = {.w = cs->waits, .index = index};
    return wait_status(cs->waits, &wt, false, r, hs, hps);
}

static void waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Answer wt (done or out of time) and free it. */
static void waiter_answer(struct waiter *wt, const Strata__V1__WaitAppliedReply *r)
{
    struct cs_waits *w = wt->w;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED_REPLY;
    env.wait_applied_reply = (Strata__V1__WaitAppliedReply *)r;
    strata_req_reply(wt->req, &env);
    if (wt->prev != NULL)
        wt->prev->next = wt->next;
    else
        w->waits = wt->next;
    if (wt->next != NULL)
        wt->next->prev = wt->prev;
    w->npending--;
    uv_timer_stop(&wt->timer);
    uv_close((uv_handle_t *)&wt->timer, waiter_closed);
}

/* Answer wt if it is met (or `final`: its time is up). Returns whether it was answered. */
static bool waiter_check(struct waiter *wt, bool final)
{
    Strata__V1__WaitAppliedReply r = STRATA__V1__WAIT_APPLIED_REPLY__INIT;
    Strata__V1__WaitHolder *hs, **hps;
    bool done = wait_status(wt->w, wt, final, &r, &hs, &hps);
    if (done || final)
        waiter_answer(wt, &r);
    free(hs);
    free(hps);
    return done || final;
}

static void waiter_timeout(uv_timer_t *t)
{
    waiter_check(t->data, true);
}

void cs_wait_kick(struct cs *cs)
{
    struct cs_waits *w = cs->waits;
    if (w == NULL)
        return;
    for (struct waiter *wt = w->waits, *next; wt != NULL; wt = next) {
        next = wt->next;
        waiter_check(wt, false);
    }
}

void cs_wait_handle(struct cs *cs, struct strata_req *req, const strata_env *env)
{
    struct cs_waits *w = cs->waits;
    const Strata__V1__WaitAppliedRequest *rq = env->wait_applied;
    if (rq->index == 0) {
        strata_req_error(req, STRATA_EINVAL, "wait applied: index 0 names no change");
        return;
    }
    if (w == NULL || w->closing) {
        strata_req_error(req, STRATA_EUNAVAIL, "connectivity server shutting down");
        return;
    }
    if (w->npending >= WAIT_PENDING_MAX) {
        strata_req_error(req, STRATA_EBUSY, "connectivity server %s: %u waits pending already",
                         cs->id ? cs->id : "", w->npending);
        return;
    }
    struct waiter *wt = calloc(1, sizeof(*wt));
    if (wt == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    *wt = (struct waiter){.w = w, .req = req, .index = rq->index, .start_us = strata_wall_us()};
    uv_timer_init(cs->uv, &wt->timer);
    wt->timer.data = wt;
    wt->next = w->waits;
    if (w->waits != NULL)
        w->waits->prev = wt;
    w->waits = wt;
    w->npending++;
    if (waiter_check(wt, rq->timeout_ms == 0))
        return;
    uint32_t ms = rq->timeout_ms > WAIT_MAX_MS ? WAIT_MAX_MS : rq->timeout_ms;
    uv_timer_start(&wt->timer, waiter_timeout, ms, 0);
}

void cs_wait_close(struct cs *cs)
{
    struct cs_waits *w = cs->waits;
    if (w == NULL)
        return;
    w->closing = true;
    while (w->waits != NULL)
        waiter_check(w->waits, true);
}

void cs_wait_free(struct cs *cs)
{
    struct cs_waits *w = cs->waits;
    if (w == NULL)
        return;
    for (uint32_t i = 0; i < w->len; i++)
        free(w->ring[(w->head + i) % WAIT_RING].h);
    free(w);
    cs->waits = NULL;
}

/* dird_feed.c - the change feed: an in-memory ring of the FSM's changes in index order, served
 * by long-poll. `horizon` is the index after which this node holds every change: 0 at a fresh
 * start, the snapshot index after a restore, the evicted index once the ring overflows. A
 * consumer asking for changes at or before the horizon gets gap=true and resynchronises. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

int dird_feed_init(struct dird *d)
{
    d->ring = calloc(DIRD_FEED_RING, sizeof(*d->ring));
    d->ring_head = d->ring_len = 0;
    d->horizon = 0;
    return d->ring != NULL ? 0 : STRATA_ENOMEM;
}

static struct dird_feed_entry *ring_at(struct dird *d, size_t i)
{
    return &d->ring[(d->ring_head + i) % DIRD_FEED_RING];
}

static void ring_pop(struct dird *d)
{
    struct dird_feed_entry *e = ring_at(d, 0);
    if (e->index > d->horizon)
        d->horizon = e->index;
    if (e->chg != NULL)
        strata__v1__change__free_unpacked(e->chg, NULL);
    free(e->packed);
    e->chg = NULL;
    e->packed = NULL;
    d->ring_head = (d->ring_head + 1) % DIRD_FEED_RING;
    d->ring_len--;
}

/* Keep the change (valid only during the call) packed: one allocation, and no unpacking on
 * every node for every write when no consumer may ever read it (it was 8 % of the CPU of the
 * three nodes under dir-bench's writes). feed_change unpacks it when a consumer does. */
void dird_feed_hook(void *arg, const Strata__V1__Change *chg)
{
    struct dird *d = arg;
    if (d->ring == NULL)
        return;
    size_t len = strata__v1__change__get_packed_size(chg);
    uint8_t *packed = malloc(len ? len : 1);
    if (packed == NULL) {
        /* Cannot keep it: forget everything up to here so consumers resynchronise. */
        LOG_ERROR("feed: cannot keep change index=%llu: consumers will resynchronise",
                  (unsigned long long)chg->index);
        dird_feed_reset(d, chg->index);
        return;
    }
    strata__v1__change__pack(chg, packed);
    if (d->ring_len == DIRD_FEED_RING)
        ring_pop(d);
    struct dird_feed_entry *e = ring_at(d, d->ring_len);
    e->index = chg->index;
    e->packed = packed;
    e->len = len;
    e->chg = NULL;
    d->ring_len++;
}

/* The ring's i-th change, unpacked; NULL when memory runs out. */
static Strata__V1__Change *feed_change(struct dird *d, size_t i)
{
    struct dird_feed_entry *e = ring_at(d, i);
    if (e->chg == NULL) {
        e->chg = strata__v1__change__unpack(NULL, e->len, e->packed);
        if (e->chg == NULL)
            return NULL; /* our own encoding: only allocation can fail */
        free(e->packed);
        e->packed = NULL;
    }
    return e->chg;
}

void dird_feed_reset(struct dird *d, uint64_t horizon)
{
    while (d->ring_len > 0)
        ring_pop(d);
    d->horizon = horizon;
}

/* First ring position holding an index > after. */
static size_t ring_find(struct dird *d, uint64_t after)
{
    size_t lo = 0, hi = d->ring_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(d, mid)->index <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Reply now: a gap, the available changes, or (timeout) nothing. */
static void feed_reply(struct dird *d, struct strata_req *req, const Strata__V1__FeedRequest *fr)
{
    Strata__V1__FeedReply rep = STRATA__V1__FEED_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Change **chgs = NULL;
    rep.oldest_index = d->horizon;
    rep.applied_index = dird_applied(d);
    rep.node_id = d->cfg.id;
    if (fr->after_index < d->horizon) {
        rep.gap = true;
    } else {
        size_t max = fr->max ? fr->max : 1024;
        if (max > STRATA_MAX_BATCH * 16)
            max = STRATA_MAX_BATCH * 16;
        size_t start = ring_find(d, fr->after_index), n = 0;
        /* never cut one index's changes in two: the consumer resumes after the last index */
        while (start + n < d->ring_len &&
               (n < max || ring_at(d, start + n)->index == ring_at(d, start + n - 1)->index))
            n++;
        if (n > 0) {
            chgs = malloc(n * sizeof(*chgs));
            if (chgs == NULL) {
                dird_reply_error(req, STRATA_ENOMEM, "out of memory");
                return;
            }
            for (size_t i = 0; i < n; i++) {
                chgs[i] = feed_change(d, start + i);
                if (chgs[i] == NULL) {
                    free(chgs);
                    dird_reply_error(req, STRATA_ENOMEM, "out of memory");
                    return;
                }
            }
            rep.n_changes = n;
            rep.changes = chgs;
        }
    }
    env.body_case = STRATA__V1__ENVELOPE__BODY_FEED_REPLY;
    env.feed_reply = &rep;
    strata_req_reply(req, &env);
    free(chgs);
}

static bool feed_ready(struct dird *d, const Strata__V1__FeedRequest *fr)
{
    if (fr->after_index < d->horizon)
        return true;
    return d->ring_len > 0 && ring_at(d, d->ring_len - 1)->index > fr->after_index;
}

void dird_feed_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    const Strata__V1__FeedRequest *fr = env->feed;
    if (fr->wait_ms == 0 || feed_ready(d, fr)) {
        feed_reply(d, req, fr);
        return;
    }
    struct dird_parked *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    uint32_t wait = fr->wait_ms > DIRD_FEED_WAIT_MAX_MS ? DIRD_FEED_WAIT_MAX_MS : fr->wait_ms;
    p->req = req;
    p->env = env;
    p->want_index = fr->after_index;
    p->deadline_ms = strata_now_ms() + wait;
    p->next = d->feeds;
    d->feeds = p;
    d->m_feed_waiters++;
}

void dird_feed_poll(struct dird *d, uint64_t now_ms)
{
    struct dird_parked **pp = &d->feeds;
    while (*pp != NULL) {
        struct dird_parked *p = *pp;
        const Strata__V1__FeedRequest *fr = p->env->feed;
        if (!feed_ready(d, fr) && now_ms < p->deadline_ms && !d->stopping) {
            pp = &p->next;
            continue;
        }
        if (d->stopping)
            dird_reply_error(p->req, STRATA_EUNAVAIL, "directory node shutting down");
        else
            feed_reply(d, p->req, fr);
        *pp = p->next;
        free(p);
        d->m_feed_waiters--;
    }
}

void dird_feed_free(struct dird *d)
{
    if (d->ring == NULL)
        return;
    while (d->ring_len > 0)
        ring_pop(d);
    free(d->ring);
    d->ring = NULL;
}

/* dird_feed.c - the change feed: an in-memory ring of the FSM's changes in index order, served
 * by long-poll. `horizon` is the index after which this node holds every change: 0 at a fresh
 * start, the snapshot index after a restore, the evicted index once the ring overflows. A
 * consumer asking for changes at or before the horizon gets gap=true and resynchronises.
 *
 * Replies are pages bounded by count and by bytes: an index's changes are never split (the
 * consumer resumes after the last index it got), a cut page's applied_index is the last index
 * it holds (so that a consumer trusting applied_index skips nothing), and an index whose
 * changes alone cannot fit in a message (a host re-IP re-points every endpoint of the host in
 * one index) is answered with gap=true: the consumer resynchronises past it instead of asking
 * for a reply that can never be sent. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

/* A page stops before an index that would take its changes past this many bytes: well under
 * STRATA_MSG_MAX, so that a reply never nears the frame limit and one consumer's page costs
 * the loop little to encode. The first index of a page may exceed it, up to FEED_HARD_BYTES. */
#define FEED_PAGE_BYTES (1u << 20)
/* Largest changes of one index a reply may carry: the frame limit less room for the envelope
 * and the reply's own fields. */
#define FEED_HARD_BYTES (STRATA_MSG_MAX - (64u << 10))
/* Bytes a change adds to a FeedReply beyond its packed length: tag and length prefix. */
#define FEED_CHANGE_OVERHEAD 6

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

/* What one reply holds: ring positions [start, start + n). */
struct feed_page {
    size_t start, n;
    size_t bytes; /* packed size of those changes in the reply */
    bool cut;     /* the ring holds changes after the page */
    bool too_big; /* the first pending index alone exceeds FEED_HARD_BYTES */
    size_t big_n; /* then: its changes and their bytes, for the log */
    size_t big_bytes;
};

/* Changes of the index at ring position pos: how many (*n) and their bytes in a reply. */
static void feed_index_span(struct dird *d, size_t pos, size_t *n, size_t *bytes)
{
    uint64_t index = ring_at(d, pos)->index;
    *n = 0;
    *bytes = 0;
    while (pos + *n < d->ring_len && ring_at(d, pos + *n)->index == index) {
        *bytes += ring_at(d, pos + *n)->len + FEED_CHANGE_OVERHEAD;
        (*n)++;
    }
}

/* Choose the changes after `after`: whole indexes while fewer than max changes and
 * FEED_PAGE_BYTES are taken; the first index alone up to FEED_HARD_BYTES. */
static void feed_page_plan(struct dird *d, uint64_t after, size_t max, struct feed_page *pg)
{
    memset(pg, 0, sizeof(*pg));
    pg->start = ring_find(d, after);
    while (pg->start + pg->n < d->ring_len && pg->n < max) {
        size_t n, bytes;
        feed_index_span(d, pg->start + pg->n, &n, &bytes);
        if (pg->n == 0 && bytes > FEED_HARD_BYTES) {
            pg->too_big = true;
            pg->big_n = n;
            pg->big_bytes = bytes;
            return;
        }
        if (pg->n > 0 && pg->bytes + bytes > FEED_PAGE_BYTES)
            break;
        pg->n += n;
        pg->bytes += bytes;
    }
    pg->cut = pg->start + pg->n < d->ring_len;
}

/* The page's changes, unpacked, into rep (which then borrows them; *chgs is the caller's to
 * free). Returns 0 or STRATA_ENOMEM. */
static int feed_page_fill(struct dird *d, const struct feed_page *pg, Strata__V1__FeedReply *rep,
                          Strata__V1__Change ***chgs)
{
    *chgs = malloc(pg->n * sizeof(**chgs));
    if (*chgs == NULL)
        return STRATA_ENOMEM;
    for (size_t i = 0; i < pg->n; i++)
        if (((*chgs)[i] = feed_change(d, pg->start + i)) == NULL)
            return STRATA_ENOMEM;
    rep->n_changes = pg->n;
    rep->changes = *chgs;
    /* Consumers advance to applied_index when a reply has fewer changes than they asked for;
     * a page cut by bytes can, and still have changes after it. */
    if (pg->cut)
        rep->applied_index = (*chgs)[pg->n - 1]->index;
    return 0;
}

/* Reply now: a gap, a page of the available changes, or (timeout) nothing. */
static void feed_reply(struct dird *d, struct strata_req *req, const Strata__V1__FeedRequest *fr)
{
    Strata__V1__FeedReply rep = STRATA__V1__FEED_REPLY__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Change **chgs = NULL;
    rep.oldest_index = d->horizon;
    rep.applied_index = dird_applied(d);
    rep.node_id = d->cfg.id;
    uint64_t lid;
    const char *lapi;
    dird_leader(d, &lid, &lapi);
    rep.leader_api = (char *)(lapi != NULL ? lapi : "");
    struct feed_page pg = {0};
    if (fr->after_index < d->horizon) {
        rep.gap = true;
    } else {
        size_t max = fr->max ? fr->max : 1024;
        if (max > STRATA_MAX_BATCH * 16)
            max = STRATA_MAX_BATCH * 16;
        feed_page_plan(d, fr->after_index, max, &pg);
    }
    if (pg.too_big) {
        LOG_WARN("feed: index %llu holds %zu changes (%zu bytes), more than one reply can carry: "
                 "answering after_index %llu with a gap",
                 (unsigned long long)ring_at(d, pg.start)->index, pg.big_n, pg.big_bytes,
                 (unsigned long long)fr->after_index);
        rep.gap = true;
    } else if (pg.n > 0 && feed_page_fill(d, &pg, &rep, &chgs) != 0) {
        free(chgs);
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
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

/* cs_upstream.c - strata-csd's client of the directory. Every call moves on to the next node
 * when one fails or is slow (bounded per attempt, so a dead node costs at most one attempt), and
 * resolves are coalesced per key and batched per loop turn: N agents missing on one key cost one
 * query, and the misses of one turn cost one round trip. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs.h"
#include "log.h"

#define PEND_BUCKETS 4096
#define BATCH_MAX 256
#define RESOLVE_TRY_MS 700
#define RESOLVE_TOTAL_MS 5000
#define RESOLVE_ATTEMPTS 3 /* re-asks when the answer is older than the feed */
#define WRITE_TRY_MS 1000  /* a resend is deduplicated by the FSM: moving on early is safe */
#define WRITE_TOTAL_MS 10000

struct cs_call {
    struct cs_upstream *up;
    strata_env *req;
    unsigned try_ms;
    uint64_t deadline_ms;
    int *cursor;
    int node;
    int tries;
    bool waiting; /* on the retry timer (not at a node) */
    cs_up_cb cb;
    void *arg;
    uv_timer_t timer;
    struct cs_call *prev, *next;
};

struct cs_waiter {
    cs_up_resolve_fn fn;
    void *arg;
    uint32_t idx;
    struct cs_waiter *next;
};

struct cs_pending {
    struct cs_key key;
    uint32_t from_vni;
    uint8_t attempts;
    struct cs_waiter *waiters;
    struct cs_pending *hnext, *qnext;
};

struct cs_batch {
    struct cs_upstream *up;
    strata_env env;
    Strata__V1__ResolveRequest rr;
    Strata__V1__ResolveQuery q[BATCH_MAX];
    Strata__V1__ResolveQuery *qp[BATCH_MAX];
    struct cs_pending *p[BATCH_MAX];
    size_t n;
    uint64_t start_us;
};

struct cs_upstream {
    struct cs *cs;
    int n;
    struct strata_aclient **cl;
    int cur;
    uint64_t client_id, next_req_id;
    struct cs_call *calls;
    struct cs_pending *pend[PEND_BUCKETS];
    struct cs_pending *q_head, *q_tail;
    uv_check_t check;
    bool check_on, closing;
};

static void call_try(struct cs_call *c);
static void check_cb(uv_check_t *h);

int cs_up_nodes(const struct cs_upstream *up)
{
    return up->n;
}

int cs_up_find(const struct cs_upstream *up, const char *url)
{
    for (int i = 0; !up->closing && url != NULL && *url != '\0' && i < up->n; i++)
        if (strcmp(strata_aclient_url(up->cl[i]), url) == 0)
            return i;
    return -1;
}

int cs_up_new(struct cs *cs, struct cs_upstream **out, struct strata_err *e)
{
    struct cs_upstream *up = calloc(1, sizeof(*up));
    char *urls = strdup(cs->directory);
    if (up == NULL || urls == NULL) {
        free(up);
        free(urls);
        return strata_err_set(e, STRATA_ENOMEM, "upstream: out of memory");
    }
    up->cs = cs;
    int rc = 0;
    char *save = NULL;
    for (char *u = strtok_r(urls, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
        if (*u == '\0')
            continue;
        struct strata_aclient **cl = realloc(up->cl, (up->n + 1) * sizeof(*cl));
        if (cl == NULL) {
            rc = strata_err_set(e, STRATA_ENOMEM, "upstream: out of memory");
            break;
        }
        up->cl = cl;
        struct strata_aclient_opts ao = {.server_roles = STRATA_ROLE_DIRECTORY};
        rc = strata_aclient_open_opts(cs->loop, u, &ao, &up->cl[up->n], e);
        if (rc != 0)
            break;
        up->n++;
    }
    free(urls);
    if (rc == 0 && up->n == 0)
        rc = strata_err_set(e, STRATA_EINVAL, "--directory names no URL");
    if (rc != 0) {
        for (int i = 0; i < up->n; i++)
            strata_aclient_close(up->cl[i]);
        free(up->cl);
        free(up);
        return rc;
    }
    /* (client_id, req_id) must be unique cluster-wide: mix the clock and the pid. */
    up->client_id = (strata_wall_us() * 6364136223846793005ULL) ^ ((uint64_t)getpid() << 32);
    if (up->client_id == 0)
        up->client_id = 1;
    uv_check_init(cs->uv, &up->check);
    up->check.data = up;
    *out = up;
    return 0;
}

/* ---------------------------------------------------------------- calls with rotation */

static void call_closed(uv_handle_t *h)
{
    free(h->data);
}

static void call_finish(struct cs_call *c, int rc, strata_env *reply)
{
    struct cs_upstream *up = c->up;
    if (c->prev)
        c->prev->next = c->next;
    else
        up->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->timer, call_closed);
    c->cb(rc, reply, c->arg);
}

static bool retryable(int rc, const strata_env *reply)
{
    if (rc != 0)
        return true;
    switch (reply->status) {
    case STRATA_EUNAVAIL:
    case STRATA_ENOTLEADER:
    case STRATA_ETIMEDOUT:
    case STRATA_EBUSY:
        return true;
    default:
        return false;
    }
}

static void call_retry_cb(uv_timer_t *t)
{
    struct cs_call *c = t->data;
    c->waiting = false;
    call_try(c);
}

static void call_reply(int rc, strata_env *reply, void *arg)
{
    struct cs_call *c = arg;
    struct cs_upstream *up = c->up;
    if (up->closing) {
        if (reply)
            strata_msg_free(reply);
        call_finish(c, STRATA_EUNAVAIL, NULL);
        return;
    }
    if (!retryable(rc, reply)) {
        call_finish(c, 0, reply);
        return;
    }
    if (strata_now_ms() >= c->deadline_ms) {
        if (reply != NULL)
            call_finish(c, 0, reply); /* the node's own error is the most precise */
        else
            call_finish(c, rc, NULL);
        return;
    }
    if (reply)
        LOG_DEBUG("upstream: %s answered %s: trying the next node",
                  strata_aclient_url(up->cl[c->node]), strata_errname(reply->status));
    else
        LOG_DEBUG("upstream: %s failed (%s): trying the next node",
                  strata_aclient_url(up->cl[c->node]), strata_errname(rc));
    if (reply)
        strata_msg_free(reply);
    if (*c->cursor == c->node)
        *c->cursor = (c->node + 1) % up->n;
    c->tries++;
    /* After a full round of refusals (no leader yet), pause instead of spinning. */
    c->waiting = true;
    uv_timer_start(&c->timer, call_retry_cb, c->tries % up->n == 0 ? 100 : 0, 0);
}

static void call_try(struct cs_call *c)
{
    struct cs_upstream *up = c->up;
    c->node = *c->cursor % up->n;
    int rc = strata_aclient_call(up->cl[c->node], c->req, c->try_ms, call_reply, c);
    if (rc != 0) {
        /* could not even queue: treat like a failed attempt, on the next turn */
        c->waiting = true;
        c->tries++;
        if (*c->cursor == c->node)
            *c->cursor = (c->node + 1) % up->n;
        if (strata_now_ms() >= c->deadline_ms || up->closing) {
            call_finish(c, rc, NULL);
            return;
        }
        uv_timer_start(&c->timer, call_retry_cb, 50, 0);
    }
}

void cs_up_call(struct cs_upstream *up, strata_env *req, unsigned try_ms, unsigned total_ms,
                int *cursor, cs_up_cb cb, void *arg)
{
    if (up->closing) {
        cb(STRATA_EUNAVAIL, NULL, arg);
        return;
    }
    struct cs_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cb(STRATA_ENOMEM, NULL, arg);
        return;
    }
    c->up = up;
    c->req = req;
    c->try_ms = try_ms;
    c->deadline_ms = strata_now_ms() + total_ms;
    c->cursor = cursor ? cursor : &up->cur;
    c->cb = cb;
    c->arg = arg;
    uv_timer_init(up->cs->uv, &c->timer);
    c->timer.data = c;
    c->next = up->calls;
    if (up->calls)
        up->calls->prev = c;
    up->calls = c;
    call_try(c);
}

void cs_up_write(struct cs_upstream *up, strata_env *req, cs_up_cb cb, void *arg)
{
    Strata__V1__Command *cmd = req->write->cmd;
    cmd->client_id = up->client_id;
    cmd->req_id = ++up->next_req_id;
    cs_up_call(up, req, WRITE_TRY_MS, WRITE_TOTAL_MS, NULL, cb, arg);
}

/* ---------------------------------------------------------------- coalesced, batched resolves */

static uint32_t pend_hash(const struct cs_key *k, uint32_t from_vni)
{
    uint32_t h = 2166136261u;
    h = (h ^ k->vni) * 16777619u;
    h = (h ^ k->kind) * 16777619u;
    for (size_t i = 0; i < sizeof(k->b); i++)
        h = (h ^ k->b[i]) * 16777619u;
    h = (h ^ from_vni) * 16777619u;
    return h % PEND_BUCKETS;
}

static struct cs_pending **pend_find(struct cs_upstream *up, const struct cs_key *k,
                                     uint32_t from_vni)
{
    struct cs_pending **pp = &up->pend[pend_hash(k, from_vni)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        struct cs_pending *p = *pp;
        if (p->from_vni == from_vni && p->key.vni == k->vni && p->key.kind == k->kind &&
            memcmp(p->key.b, k->b, sizeof(k->b)) == 0)
            return pp;
    }
    return pp;
}

static void pend_enqueue(struct cs_upstream *up, struct cs_pending *p)
{
    p->qnext = NULL;
    if (up->q_tail)
        up->q_tail->qnext = p;
    else
        up->q_head = p;
    up->q_tail = p;
    if (!up->check_on && !up->closing) {
        up->check_on = true;
        uv_check_start(&up->check, check_cb);
    }
}

/* Unhash p and give its outcome to every waiter. */
static void pend_complete(struct cs_upstream *up, struct cs_pending *p, int status, const char *msg,
                          struct cs_entry *e, const Strata__V1__ResolveAnswer *ans)
{
    struct cs_pending **pp = pend_find(up, &p->key, p->from_vni);
    if (*pp == p)
        *pp = p->hnext;
    struct cs_waiter *w = p->waiters;
    free(p);
    while (w != NULL) {
        struct cs_waiter *next = w->next;
        w->fn(w->arg, w->idx, status, msg, e, ans);
        free(w);
        w = next;
    }
}

static void batch_reply(int rc, strata_env *reply, void *arg)
{
    struct cs_batch *b = arg;
    struct cs_upstream *up = b->up;
    struct cs *cs = up->cs;
    strata_histo_observe(&cs->ctr.upstream_latency, (strata_now_us() - b->start_us) * 1000);
    int status = rc;
    const char *msg = rc ? strata_strerror(rc) : NULL;
    if (rc == 0 && reply->status != 0) {
        status = reply->status;
        msg = reply->message;
    } else if (rc == 0 && (reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
                           reply->resolve_reply->n_answers != b->n)) {
        status = STRATA_EPROTO;
        msg = "directory answered a resolve with the wrong reply";
    }
    if (status != 0) {
        cs->ctr.upstream_errors++;
        LOG_WARN("upstream: resolve of %zu keys failed: %s", b->n, msg ? msg : "?");
        for (size_t i = 0; i < b->n; i++)
            pend_complete(up, b->p[i], status, msg, NULL, NULL);
    } else {
        const Strata__V1__ResolveReply *rr = reply->resolve_reply;
        for (size_t i = 0; i < b->n; i++) {
            struct cs_pending *p = b->p[i];
            /* The feed moved past this answer while it travelled: a change to this key may have
             * gone by unnoticed (the key was not cached yet). Ask again, no older than the feed. */
            if (rr->applied_index < cs->feed_index && p->attempts < RESOLVE_ATTEMPTS &&
                !up->closing) {
                p->attempts++;
                pend_enqueue(up, p);
                continue;
            }
            const Strata__V1__ResolveAnswer *ans = rr->answers[i];
            struct cs_entry *e = cs_resolve_learn(cs, &p->key, p->from_vni, ans);
            pend_complete(up, p, ans->status, ans->message, e, ans);
        }
    }
    if (reply)
        strata_msg_free(reply);
    free(b);
}

static void batch_send(struct cs_upstream *up)
{
    struct cs_batch *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        while (up->q_head) {
            struct cs_pending *p = up->q_head;
            up->q_head = p->qnext;
            if (up->q_head == NULL)
                up->q_tail = NULL;
            pend_complete(up, p, STRATA_ENOMEM, "out of memory", NULL, NULL);
        }
        return;
    }
    b->up = up;
    while (up->q_head && b->n < BATCH_MAX) {
        struct cs_pending *p = up->q_head;
        up->q_head = p->qnext;
        if (up->q_head == NULL)
            up->q_tail = NULL;
        Strata__V1__ResolveQuery *q = &b->q[b->n];
        strata__v1__resolve_query__init(q);
        q->vni = p->key.vni;
        q->from_vni = p->from_vni;
        if (p->key.kind == CS_KEY_MAC) {
            q->mac.data = p->key.b;
            q->mac.len = 6;
        } else {
            q->ip.data = p->key.b;
            q->ip.len = cs_key_len(p->key.kind);
        }
        b->qp[b->n] = q;
        b->p[b->n] = p;
        b->n++;
    }
    strata__v1__envelope__init(&b->env);
    strata__v1__resolve_request__init(&b->rr);
    b->rr.queries = b->qp;
    b->rr.n_queries = b->n;
    b->rr.min_index = up->cs->feed_index;
    b->env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    b->env.resolve = &b->rr;
    b->env.identity = (char *)"operator";
    b->start_us = strata_now_us();
    up->cs->ctr.upstream_requests++;
    cs_up_call(up, &b->env, RESOLVE_TRY_MS, RESOLVE_TOTAL_MS, NULL, batch_reply, b);
}

/* End of a loop turn: send what the turn's misses queued. */
static void check_cb(uv_check_t *h)
{
    struct cs_upstream *up = h->data;
    uv_check_stop(h);
    up->check_on = false;
    while (up->q_head != NULL)
        batch_send(up);
}

int cs_up_resolve(struct cs_upstream *up, const struct cs_key *k, uint32_t from_vni,
                  cs_up_resolve_fn fn, void *arg, uint32_t idx)
{
    if (up->closing)
        return STRATA_EUNAVAIL;
    struct cs_waiter *w = malloc(sizeof(*w));
    if (w == NULL)
        return STRATA_ENOMEM;
    w->fn = fn;
    w->arg = arg;
    w->idx = idx;
    struct cs_pending **pp = pend_find(up, k, from_vni);
    struct cs_pending *p = *pp;
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL) {
            free(w);
            return STRATA_ENOMEM;
        }
        p->key = *k;
        p->from_vni = from_vni;
        *pp = p;
        pend_enqueue(up, p);
    }
    w->next = p->waiters;
    p->waiters = w;
    return 0;
}

/* ---------------------------------------------------------------- teardown */

void cs_up_close(struct cs_upstream *up)
{
    if (up->closing)
        return;
    up->closing = true;
    uv_check_stop(&up->check);
    up->check_on = false;
    while (up->q_head != NULL) {
        struct cs_pending *p = up->q_head;
        up->q_head = p->qnext;
        if (up->q_head == NULL)
            up->q_tail = NULL;
        pend_complete(up, p, STRATA_EUNAVAIL, "connectivity server shutting down", NULL, NULL);
    }
    /* calls sleeping between attempts finish now; calls at a node finish through the aclient */
    for (struct cs_call *c = up->calls, *next; c != NULL; c = next) {
        next = c->next;
        if (c->waiting) {
            uv_timer_stop(&c->timer);
            call_finish(c, STRATA_EUNAVAIL, NULL);
        }
    }
    for (int i = 0; i < up->n; i++)
        strata_aclient_close(up->cl[i]);
    uv_close((uv_handle_t *)&up->check, NULL);
}

void cs_up_free(struct cs_upstream *up)
{
    if (up == NULL)
        return;
    free(up->cl);
    free(up);
}
